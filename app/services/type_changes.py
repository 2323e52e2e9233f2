"""A schema save that changes a field's type while items still hold values of the old one: refused.

Items keep their ``data`` when their collection's schema changes. A top-level field whose
type changes so that its stored values no longer fit (``string`` -> ``number``, ``select``
-> ``multiselect``, a reference gaining ``multiple``...) would leave those values behind:
filters and the field's indexes compare with the new type and miss them, and the next edit
of such an item is refused by validation even when the editor did not touch the field. So
every save of a schema (the collections API, the admin's field builder, ``collections
sync``) checks the fields whose accepted JSON types narrow, and refuses the whole save with
a 409 (``FieldTypeConflict``) when an item holds a value the new type does not accept.

What each field type accepts is what content validation accepts
(``app.services.content.validation``), by JSON type:

* a string: the text types, ``slug``, ``date``, ``datetime``, ``email``, ``url``,
  ``reference``, ``media``, ``file``;
* a number: ``number``; an integer: ``integer`` (SQLite tells ``2`` from ``2.0``, and
  PostgreSQL's text of the number does; validation refuses ``2.0`` for an integer). One
  difference is left: PostgreSQL reads a float stored in exponent notation (``1e16``,
  as floats from 1e16 up are written) as the integer it equals;
* ``select`` and ``radio``: the kinds their ``enum`` lists (strings, numbers, booleans),
  and validation takes those as listed: a boolean option takes a boolean, a
  string one a string, an integer one that integer and the same number written as a real
  (``2.0`` is one of ``[1, 2, 3]``), a real one a real (and the integer it may equal).
  Without an enum list, any string or number;
* ``true``/``false``: ``boolean``, ``checkbox``;
* a list: ``multiselect``, ``array``, and reference, media, file and select with
  ``multiple: true``;
* an object: ``object``;
* anything: ``json`` and the types validation does not check (unknown types).

A value conflicts when it is present, not null, and of a JSON type the new definition does
not accept; ``""`` and ``[]`` do not, since validation treats them as no value. Every item
of the collection counts, drafts, archived and trashed ones too (a trashed item can be
restored); data that is not JSON counts as having no values, as filters read it.

A field the old schema does not have counts as accepting anything: items keep the values of
a field a save removed, and may hold keys the schema never named. So adding a field is
checked as a change from that, and refused the same way (``cannot be added as number``)
while items hold values its type does not accept; otherwise removing the field and adding
it back with another type, in two saves, would slip past the check. Removing a field is
never refused, nor is a change to a type that accepts at least what the old one did
(``integer`` -> ``number``, anything -> ``json``), nor adding a ``json`` field.

The check is one query per narrowed or added field whose type does not accept everything:
a count and a few example ids, read by the database (``json_type`` on SQLite,
``jsonb_typeof`` on PostgreSQL), never by loading items.

Concurrency: the check and the schema's update are one transaction, and no content write
commits between them. On SQLite every write transaction holds the database's write lock
from its start (``BEGIN IMMEDIATE``). On PostgreSQL (READ COMMITTED: each statement sees
what committed before it) every transaction that changes schemas or field indexes first
waits for its turn (``app.db.schema_turns.take_schema_turn``, an advisory lock held to its
end), so saves run one after the other and each compares with the schema the last one
left; the save also reads the collection row ``FOR NO KEY UPDATE``, against a schema
rewritten by hand (``d1 execute``) and against the content writes that validated data
(below). When a field narrows (an added one included), the save locks ``content`` in SHARE
mode before counting, as ``app.db.derived.track_declared`` does for the same reason: the
writers in flight commit first and are counted, the others wait until the save commits.
SHARE lets reads go on. (A save that will also drop a field index locks ``content`` in ACCESS EXCLUSIVE mode
before this instead, ``field_indexes.lock_for_drops``: holding SHARE while it waits to drop,
it would deadlock with a write that locked an item and waits for SHARE to go.) It does not
keep two saves apart (SHARE is compatible with itself, and the same
transaction may then drop a field index, which waits for every other lock on
``content``: two saves holding SHARE at once would each wait for the other); the turn
does. The row lock is not ``FOR UPDATE``, since the foreign-key check of a row inserted
into ``content`` waits for that: an insert that did not lock the row first (SQL sent
through ``d1 execute`` or the D1 binding) holding its lock on ``content`` would wait for
the save while the save waits for it.

A content create or update validates its data before its own transaction. Inside it,
before writing, it confirms that the collection's schema is still the one it validated
against, and validates again against the new one otherwise
(``app.services.content.locks``); on PostgreSQL its first statement locks the collection
row ``FOR SHARE``, which conflicts with the save's row lock. A write holding the row makes
the save wait there, before the save locks ``content``, and commits first; a write that
comes after the save took the row waits for its commit and then sees the new schema. So
no value of the old type is stored once the save committed, and none is stored between
its count and its commit. ``collections sync``, which changes several rows, locks them
all before any ``content`` lock (``lock_every_schema``).
"""

from dataclasses import dataclass

from app.db.database import is_postgres
from app.db.pg_json import PG_JSON_FUNCTION
from app.services.content.validation import MULTIPLE_TYPES, schema_properties
from app.services.content.values import STRING_FIELD_TYPES
from app.services.errors import CONFLICT, ServiceError

STRING, INTEGER, REAL, BOOLEAN, ARRAY, OBJECT = "string", "integer", "real", "boolean", "array", "object"
ANY = frozenset({STRING, INTEGER, REAL, BOOLEAN, ARRAY, OBJECT})
NUMBER = frozenset({INTEGER, REAL})
# How many ids of conflicting items an answer names.
EXAMPLES = 5

# Single choices: what their enum lists (``choice_kinds``), strings only when it lists strings.
SINGLE_CHOICE_TYPES = frozenset({"select", "radio"})
_ACCEPTS = {
    **{name: frozenset({STRING}) for name in STRING_FIELD_TYPES - SINGLE_CHOICE_TYPES},
    "number": NUMBER,
    "integer": frozenset({INTEGER}),
    "boolean": frozenset({BOOLEAN}),
    "checkbox": frozenset({BOOLEAN}),
    "multiselect": frozenset({ARRAY}),
    "array": frozenset({ARRAY}),
    "object": frozenset({OBJECT}),
}

# A value of the refused kind, reading ``kind`` (json_type) and ``value`` (json_extract);
# an empty string or list is no value.
_SQLITE_IS = {
    STRING: "(kind = 'text' AND value <> '')",
    INTEGER: "kind = 'integer'",
    REAL: "kind = 'real'",
    BOOLEAN: "kind IN ('true', 'false')",
    ARRAY: "(kind = 'array' AND value <> '[]')",
    OBJECT: "kind = 'object'",
}
# The same on PostgreSQL, reading ``value`` (jsonb): a number's text without a point or an
# exponent is an integer's.
_INTEGER_TEXT = "value::text ~ '^-?[0-9]+$'"
_PG_IS = {
    STRING: "(jsonb_typeof(value) = 'string' AND value <> '\"\"'::jsonb)",
    INTEGER: f"(jsonb_typeof(value) = 'number' AND {_INTEGER_TEXT})",
    REAL: f"(jsonb_typeof(value) = 'number' AND NOT {_INTEGER_TEXT})",
    BOOLEAN: "jsonb_typeof(value) = 'boolean'",
    ARRAY: "(jsonb_typeof(value) = 'array' AND value <> '[]'::jsonb)",
    OBJECT: "jsonb_typeof(value) = 'object'",
}
_PG_NUMBER = "jsonb_typeof(value) = 'number'"


@dataclass(frozen=True)
class TypeChange:
    """A top-level field whose new type accepts less than its old one did, or a field added
    (``before`` None) whose type does not accept everything."""

    field: str
    before: str | None  # the old type, as ``type_label`` shows it; None: the field is new to the schema
    after: str
    accepts: frozenset  # the JSON kinds the new type accepts
    key: str = "type"  # the field's schema key whose change narrowed it (``changed_key``)


@dataclass(frozen=True)
class Conflict:
    """A type change and the items holding values the new type does not accept."""

    change: TypeChange
    items: int
    example_ids: tuple

    def detail(self):
        """This conflict as an item of the error's ``details``: the problem of the field's
        ``type`` (or of the key that narrowed it) in the request's ``schema``, as a 422 names
        a field, and what the items hold."""
        return {"field": f"schema.properties.{self.change.field}.{self.change.key}", "message": self.message(),
                "from": self.change.before, "to": self.change.after, "items": self.items,
                "example_ids": list(self.example_ids), "accepts": kind_names(self.change.accepts)}

    def message(self):
        """One sentence: the field, its old (if any) and new type, and the number of items."""
        items, verb = (f"{self.items} items", "hold") if self.items != 1 else ("1 item", "holds")
        change = self.change
        refused = (f"cannot be added as {change.after}" if change.before is None
                   else f"cannot change from {change.before} to {change.after}")
        return f"field '{change.field}' {refused}: {items} (trashed ones counted) {verb} a value it does not accept"


class FieldTypeConflict(ServiceError):
    """A schema save refused: items hold values a field's new type does not accept (409).

    ``details`` lists ``{field, message, from, to, items, example_ids, accepts}``, one per
    field, ``field`` being the path in the request of the key that narrowed it
    (``schema.properties.<name>.type``, or ``.multiple`` or ``.enum`` when the type stayed);
    ``from`` is None for a field the old schema did not have.
    """

    kind = CONFLICT

    def __init__(self, conflicts):
        self.conflicts = list(conflicts)
        message = "; ".join(conflict.message() for conflict in self.conflicts)
        message = message[0].upper() + message[1:] + "; change or clear those values, then save again"
        super().__init__(message, [conflict.detail() for conflict in self.conflicts])


def accepted_kinds(config):
    """The JSON kinds (``STRING``, ``INTEGER``...) a field of ``config`` (stored form) accepts."""
    if not isinstance(config, dict):
        return ANY  # validation skips a field that is not an object
    kind = config.get("type")
    if config.get("multiple") is True and kind in MULTIPLE_TYPES:
        return frozenset({ARRAY})
    if kind in SINGLE_CHOICE_TYPES:
        return choice_kinds(config.get("enum"))
    return _ACCEPTS.get(kind, ANY)


def choice_kinds(enum):
    """The JSON kinds a select or radio whose ``enum`` is this takes, as validation compares."""
    if not isinstance(enum, list):
        return NUMBER | {STRING}  # validation checks the kind only: any string or number
    kinds = set()
    for option in enum:
        if isinstance(option, bool):
            kinds.add(BOOLEAN)
        elif isinstance(option, str):
            kinds.add(STRING)
        elif isinstance(option, int) or (isinstance(option, float) and option.is_integer()):
            kinds |= NUMBER  # 2 == 2.0: either spelling of the number is the option
        elif isinstance(option, float):
            kinds.add(REAL)
    return frozenset(kinds)  # other options (null, lists, objects) match no value


def type_label(config):
    """A field's type as messages show it: ``number``, ``reference (multiple)``, and for a
    single choice whose options are not strings, their kinds: ``select (number)``."""
    if not isinstance(config, dict):
        return "untyped"
    kind = str(config.get("type"))
    if config.get("multiple") is True and kind in MULTIPLE_TYPES:
        return f"{kind} (multiple)"
    if kind in SINGLE_CHOICE_TYPES and (kinds := choice_kinds(config.get("enum"))) != {STRING}:
        return f"{kind} ({', '.join(kind_names(kinds)) or 'no option'})"
    return kind


def kind_names(kinds):
    """JSON type names for ``kinds``: ``integer`` for integers alone, else ``number`` for
    reals (a choice may list reals only), with or without integers."""
    names = [name for name in (STRING, BOOLEAN, ARRAY, OBJECT) if name in kinds]
    if REAL in kinds:
        names.append("number")
    elif INTEGER in kinds:
        names.append("integer")
    return sorted(names)


def type_changes(old_schema, new_schema):
    """The fields of ``new_schema`` that accept less than they did under ``old_schema``, in
    the new order: a field of both whose new type accepts less than the old one, and a field
    the old schema lacks whose type does not accept everything."""
    before, after = schema_properties(old_schema) or {}, schema_properties(new_schema) or {}
    changes = (_narrowed(before, name, config) for name, config in after.items())
    return [change for change in changes if change is not None]


def _narrowed(before, name, config):
    """The TypeChange of field ``name``, now defined by ``config``, or None when it accepts
    at least what it did. A field ``before`` (the old properties) lacks accepted anything:
    items keep the values of a field a save removed (adding it back must not slip a type
    change past the check), and may hold any key the schema never named."""
    accepts = accepted_kinds(config)
    if name not in before:
        return None if accepts == ANY else TypeChange(name, None, type_label(config), accepts)
    if accepted_kinds(before[name]) <= accepts:
        return None
    return TypeChange(name, type_label(before[name]), type_label(config), accepts, changed_key(before[name], config))


def changed_key(before, after):
    """The key of a narrowed field's definition that a client changed to narrow it: ``type``,
    or, when the type stayed, ``multiple`` (a choice or reference made a list, or a list made
    single) or ``enum`` (a choice whose options are of other kinds now)."""
    if not (isinstance(before, dict) and isinstance(after, dict)) or before.get("type") != after.get("type"):
        return "type"
    if (before.get("multiple") is True) != (after.get("multiple") is True):
        return "multiple"
    return "enum" if before.get("enum") != after.get("enum") else "type"


def for_schema_change(query):
    """``query`` (collections rows, inside the save's transaction) locked against other schema
    saves until it ends, on PostgreSQL; SQLite's write transactions already take turns."""
    return query.for_update("FOR NO KEY UPDATE") if is_postgres(query.model._meta.database) else query


def lock_every_schema(db):
    """Lock every collection row as ``for_schema_change`` does, for a transaction that may
    change several (``collections sync``); call it right after the schema turn.

    Such a transaction locks ``content`` for one collection (``check_type_changes``)
    before it reaches the next row: a content write holding that row (``FOR SHARE``, its
    first lock: ``app.services.content.locks``) and then waiting for ``content`` would wait
    for it while it waits for the write. Taken all at once first, the rows wait for the
    writes holding them instead, before the transaction locks ``content``.
    """
    if is_postgres(db):
        db.execute_sql('SELECT "id" FROM "collections" ORDER BY "id" FOR NO KEY UPDATE')


def check_type_changes(db, collection_id, old_schema, new_schema):
    """Refuse a save of ``new_schema`` over ``old_schema`` that items do not fit.

    Call inside the save's transaction, which took its schema turn first
    (``app.db.schema_turns``), before its update, with ``old_schema`` read there
    (``for_schema_change``). One query per narrowed field (``type_changes``: added ones
    included); none when no field narrows.

    Raises:
        FieldTypeConflict: some item holds a value a narrowed field no longer accepts.
    """
    changes = type_changes(old_schema, new_schema)
    if not changes:
        return
    if is_postgres(db):
        db.execute_sql("LOCK TABLE content IN SHARE MODE")
    conflicts = [found for found in (_conflict(db, collection_id, change) for change in changes) if found]
    if conflicts:
        raise FieldTypeConflict(conflicts)


def _conflict(db, collection_id, change):
    """The items of ``collection_id`` whose value of the changed field is refused, or None."""
    refused = ANY - change.accepts
    if is_postgres(db):
        # REAL and INTEGER both refused is any number: one test instead of two.
        tests = [_PG_IS[kind] for kind in sorted(refused - NUMBER)]
        tests += [_PG_NUMBER] if refused >= NUMBER else [_PG_IS[kind] for kind in sorted(refused & NUMBER)]
        # OFFSET 0: the document is parsed once per row, not once per test.
        sql = (f"SELECT id, count(*) OVER () FROM (SELECT id, {PG_JSON_FUNCTION}(data) -> %s AS value"
               f" FROM content WHERE collection_id = %s OFFSET 0) v WHERE {' OR '.join(tests)} ORDER BY id LIMIT %s")
        params = (change.field, collection_id, EXAMPLES)
    else:
        tests = [_SQLITE_IS[kind] for kind in sorted(refused)]
        sql = ("SELECT id, count(*) OVER () FROM (SELECT id, json_type(d, ?) AS kind, json_extract(d, ?) AS value"
               " FROM (SELECT id, CASE WHEN json_valid(data) THEN data ELSE '{}' END AS d FROM content"
               f" WHERE collection_id = ?)) WHERE {' OR '.join(tests)} ORDER BY id LIMIT ?")
        path = f"$.{change.field}"  # a field name is an identifier: a plain JSON path
        params = (path, path, collection_id, EXAMPLES)
    rows = db.execute_sql(sql, params).fetchall()
    if not rows:
        return None
    return Conflict(change, rows[0][1], tuple(row[0] for row in rows))
