"""Indexes that follow the collection schemas: ``"indexed": true`` and ``"sortable": true``.

A top-level field of a collection schema may be declared

* ``"indexed": true``: filters on ``data.<field>`` are answered from an index on
  ``(collection_id, status, <the field's value>, published_at DESC, id DESC)`` over live
  rows, so an equality filter returns the newest matches first without reading the rest;
* ``"sortable": true``: ``sort=data.<field>`` (either direction) reads an index on
  ``(collection_id, status, <type rank>, <number>, <text>, id)`` over live rows in order,
  and cursor pages seek into it.

The indexes are per field NAME, shared by every collection that declares it (the
collection is the index's first column, so each collection's rows form their own run);
they are named ``idx_content_field_<field>`` and ``idx_content_sort_<field>`` (``index_name``:
a field name with capitals, or too long for PostgreSQL's 63-byte names, gets a digest
instead, since SQLite compares index names without case and PostgreSQL cuts long ones,
so ``Price`` and ``price`` would share a name). Their
expressions are rendered from the query builder itself (``SqlBuilder`` with the field
declared), so a list writes exactly the expression the index holds and the planner uses it.

``sync_field_indexes`` creates the indexes some schema declares and drops those none does
any more, and has the values of each collection's indexed fields counted
(``app.db.derived.track_declared``: an equality filter on one reads its exact total);
``collections sync`` and every write of the collections API run it in their transaction,
which took its schema turn first (``app.db.schema_turns``): ``DROP INDEX`` waits for every
other lock on ``content``, so two such transactions holding one each would deadlock.
On a large table, creating an index (or counting a new field's values) takes as long as
reading the table once.

An index reads every live row's ``data`` as JSON (SQLite's ``json_extract``, PostgreSQL's
``CAST(data AS jsonb)``), whichever collection the row is in, and the database raises on
text that is not JSON; PostgreSQL's jsonb also refuses a NUL character (``\\u0000``),
which SQLite reads. Such data can only have been written by hand (``d1 execute``, ``psql``)
or restored so. Before creating an index, ``sync_field_indexes`` asks the database for the
live rows it cannot read (``unreadable_rows``) and refuses (``UnreadableData``, 409, naming
a few) while there are any, so the write that declared the field rolls back with a reason
instead of the database's error; a NUL is refused on SQLite too, so a database that takes
an index on one takes it on the other. ``d1 import`` refuses a backup's rows by the same
rule, decided here (``stored_data_problem``; ``app.services.backup_import.indexable``).
"""

import hashlib
import json
import re
import sqlite3

import msgspec
import peewee

from app.db.database import is_postgres
from app.db.derived import declared_fields, track_declared
from app.db.models import Collection
from app.db.pg_json import PG_JSON_FUNCTION
from app.services.content.cursors import DATA_PARTS, Term
from app.services.content.fields import resolve_field
from app.services.content.sql import SqlBuilder
from app.services.content.values import holds_nul
from app.services.errors import CONFLICT, ServiceError
from app.services.type_changes import EXAMPLES

FILTER_PREFIX = "idx_content_field_"
SORT_PREFIX = "idx_content_sort_"
NAME_BYTES = 63  # PostgreSQL's longest identifier
DIGEST_CHARS = 10
_ALIAS = re.compile(r'"t\d+"\.')
NOT_JSON = "text that is not JSON"
HOLDS_NUL = "JSON holding a NUL character (PostgreSQL's jsonb holds none)"
# A NUL written in JSON text: the escape \u0000, its backslash not itself escaped (after an
# even number of backslashes, each pair one escaped backslash).
_ESCAPED_NUL = re.compile(r"(?<!\\)(?:\\\\)*\\u0000")
# Live rows read per query when looking for data an index cannot read in Python.
_SCAN_PAGE = 1000
# SQLite's json_valid(X) reads JSON5 from 3.42 (its RFC 8259 test, json_valid(X, 1), came in 3.45).
_SQLITE_JSON5 = (3, 42, 0)
_SQLITE_STRICT_FLAG = (3, 45, 0)
_LIVE_DATA = "FROM content WHERE deleted_at IS NULL AND data IS NOT NULL"


def index_name(prefix, field):
    """The name of ``field``'s index: ``prefix + field`` when that is lower case and fits
    PostgreSQL's names; else the field lower-cased and cut, and a digest of its exact name."""
    plain = prefix + field
    if field == field.lower() and len(plain) <= NAME_BYTES:
        return plain
    digest = hashlib.sha256(field.encode()).hexdigest()[:DIGEST_CHARS]
    head = field.lower()[: NAME_BYTES - len(prefix) - DIGEST_CHARS - 1]
    return f"{prefix}{head}_{digest}"


def _render(db, expression):
    sql, params = db.get_sql_context().sql(expression).query()
    if params:  # every literal of a declared field's expression is inline
        raise AssertionError(f"index expression with parameters: {sql} {params}")
    return _ALIAS.sub("", sql)


def index_statements(db, indexed, sortable):
    """``{index name: CREATE INDEX statement}`` for the declared field names."""
    postgres = is_postgres(db)
    descending_last = " NULLS LAST" if postgres else ""
    ascending_first = " NULLS FIRST" if postgres else ""
    statements = {}
    for name in sorted(indexed):
        builder = SqlBuilder(postgres, declared={name})
        value = _render(db, builder.value_expression(resolve_field(f"data.{name}", "index")))
        index = index_name(FILTER_PREFIX, name)
        statements[index] = (
            f'CREATE INDEX "{index}" ON content (collection_id, status, ({value}),'
            f" published_at DESC{descending_last}, id DESC{descending_last}) WHERE deleted_at IS NULL")
    for name in sorted(sortable):
        builder = SqlBuilder(postgres, declared={name})
        field = resolve_field(f"data.{name}", "index")
        terms = [_render(db, builder.term(Term(field, part, False))) for part in DATA_PARTS]
        columns = ", ".join(f"({term}){ascending_first}" for term in terms)
        index = index_name(SORT_PREFIX, name)
        statements[index] = (
            f'CREATE INDEX "{index}" ON content (collection_id, status, {columns},'
            f" id{ascending_first}) WHERE deleted_at IS NULL")
    return statements


def existing_indexes(db):
    """The names of the field indexes the database has now."""
    if is_postgres(db):
        rows = db.execute_sql("SELECT indexname FROM pg_indexes WHERE tablename = 'content'"
                              " AND schemaname = current_schema()").fetchall()
    else:
        rows = db.execute_sql("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'content'").fetchall()
    return {name for (name,) in rows if name.startswith((FILTER_PREFIX, SORT_PREFIX))}


def _statements_for(db, declared):
    """``{index name: CREATE INDEX statement}`` of the indexes the ``(indexed, sortable)``
    field sets of ``declared`` (one pair per collection) call for."""
    indexed, sortable = set(), set()
    for fields in declared:
        indexed |= fields[0]
        sortable |= fields[1]
    return index_statements(db, indexed, sortable)


def wanted_indexes(db, schemas):
    """``{index name: CREATE INDEX statement}`` of the field indexes ``schemas`` (stored form) declare."""
    return _statements_for(db, (declared_fields(schema) for schema in schemas))


def lock_for_drops(db, changed):
    """Lock ``content`` in ACCESS EXCLUSIVE mode now when the index sync after saving
    ``changed`` (``{collection id: its new schema}``, stored form) may drop an index
    (PostgreSQL).

    Call in the save's transaction after its schema turn and its collection rows, before
    anything else locks ``content``. ``DROP INDEX`` waits for every lock on ``content``:
    a save holding a weaker one by then (SHARE, to count a narrowed field's values) would
    wait for a content write of any collection that locked an item, while that write's
    UPDATE waits for the save's SHARE, a deadlock PostgreSQL ends by failing one of them.
    Taken first, the lock waits for such writes to end and holds nothing they want.
    """
    if not is_postgres(db):
        return

    def surely_declared(collection_id, schema):
        fields = declared_fields(schema)
        if collection_id not in changed:
            return fields
        # Its save may yet be refused (collections sync goes on with the others) and keep
        # the old schema: only what both declare is sure to stay wanted.
        new = declared_fields(changed[collection_id])
        return fields[0] & new[0], fields[1] & new[1]

    rows = Collection.select(Collection.id, Collection.schema).tuples()
    if existing_indexes(db) - _statements_for(db, (surely_declared(*row) for row in rows)).keys():
        db.execute_sql("LOCK TABLE content IN ACCESS EXCLUSIVE MODE")


class UnreadableData(ServiceError):
    """A field index cannot be created: live content rows hold data it cannot read (409).

    ``details`` is ``[{field: "schema", message, items, example_ids}]``: how many rows, and
    the first ``EXAMPLES`` ids.
    """

    kind = CONFLICT

    def __init__(self, fields, items, example_ids):
        self.problem = unreadable_message(fields, items, example_ids)
        message = f"{self.problem}; fix or delete them (or their data), then save again"
        super().__init__(message, [{"field": "schema", "message": message, "items": items,
                                    "example_ids": list(example_ids)}])


def unreadable_message(fields, items, example_ids):
    """What refuses the indexes of ``fields`` (names): ``items`` live rows hold data they
    cannot read, ``example_ids`` named (the others counted)."""
    names = ", ".join(repr(name) for name in sorted(fields))
    whose = f"the index of the field {names}" if len(fields) == 1 else f"the indexes of the fields {names}"
    named = ", ".join(repr(item) for item in example_ids)
    if items > len(example_ids):
        named += f" and {items - len(example_ids)} more"
    return (f"Cannot create {whose}: {items} live content item(s) hold data no field index can read"
            f" (text that is not JSON, or a NUL character): {named}")


def data_problem(document):
    """Why the field indexes cannot read ``data`` decoded from JSON, or None when they can:
    a NUL character anywhere (PostgreSQL's jsonb holds none). A document that is not an
    object has no fields, which the indexes read as absent."""
    return HOLDS_NUL if holds_nul(document) else None


def stored_data_problem(text, db):
    """Why the field indexes cannot read a row's stored ``data`` text, or None when they can.

    The NUL is looked for in the text (``\\u0000`` whose backslash is not itself escaped),
    which in JSON text is exactly a NUL in a key or a string, so a document too deep to
    decode here is judged all the same. Whether the text is JSON is decided here, except
    for a document too deep to decode here, which ``db`` is asked about.
    """
    if text is None:
        return None  # no data: every field absent
    if not _reads_as_json(text, db):
        return NOT_JSON
    return HOLDS_NUL if _ESCAPED_NUL.search(text) else None


def _reads_as_json(text, db):
    """Whether the databases read ``text`` as JSON (``db`` is asked about a deep document).

    msgspec decides most texts fast. It refuses a few kinds the databases read: a number
    past a double's range (``1e400``), which the standard library's parser reads as
    infinity, an integer of more digits than Python converts (read here as its digits),
    and nesting deeper than its own limit. A document deeper than the standard library's
    recursion limit too is neither taken nor refused here: ``db`` is asked, since each
    database reads JSON only so deep (SQLite to a fixed depth, PostgreSQL as far as its
    stack goes), and neither reads a deep document that is not JSON.
    """
    try:
        msgspec.json.decode(text)
        return True
    except (msgspec.DecodeError, RecursionError):
        pass
    try:
        json.loads(text, parse_constant=_refuse_constant, parse_int=str)
    except RecursionError:
        return _database_reads_json(db, text)
    except ValueError:
        return False
    return True


def _refuse_constant(name):
    """``NaN`` and ``Infinity``, which Python's parser reads and no database's JSON does."""
    raise ValueError(f"{name} is not JSON")


def _database_reads_json(db, text):
    """Whether ``db`` reads ``text`` as JSON, as its field indexes do (asked of it)."""
    if "\x00" in text:  # a control character, JSON nowhere (and no parameter PostgreSQL takes)
        return False
    if is_postgres(db):
        try:
            with db.atomic():  # a savepoint: the cast's failure ends only it
                db.execute_sql("SELECT CAST(%s AS jsonb)", (text,))
        except peewee.DatabaseError:
            return False
        return True
    (valid,) = db.execute_sql(f"SELECT {_sqlite_json_valid('?') or 'json_valid(?)'}", (text,)).fetchone()
    return bool(valid)


def _sqlite_json_valid(expression):
    """SQL for whether SQLite reads ``expression`` as JSON (RFC 8259, no JSON5), or None
    on the SQLite versions whose ``json_valid`` takes JSON5 and has no stricter test."""
    if sqlite3.sqlite_version_info >= _SQLITE_STRICT_FLAG:
        return f"json_valid({expression}, 1)"
    if sqlite3.sqlite_version_info >= _SQLITE_JSON5:
        return None
    return f"json_valid({expression})"


def unreadable_rows(db):
    """``(count, the first EXAMPLES ids)`` of the live content rows whose ``data`` the field
    indexes cannot read (``stored_data_problem``), in id order.

    The database answers, reading every live row once as creating an index does, and
    sends back only the rows it finds; Python reads each row only where the database
    cannot answer exactly (``_scanned_rows``). SQLite is asked for what ``json_valid`` and
    ``instr`` find (a NUL character in the text, or the escape ``\\u0000``, whose
    backslash Python then checks is not itself escaped); PostgreSQL casts every live row
    to jsonb, as its indexes do, which fails on the first row it cannot read, and only
    then names them (``sonicpy_json_or_null``), as its jsonb refuses a NUL itself.
    """
    if is_postgres(db):
        return _postgres_rows(db)
    valid = _sqlite_json_valid("data")
    return _scanned_rows(db) if valid is None else _sqlite_rows(db, valid)


def _sqlite_rows(db, valid):
    """``unreadable_rows`` on SQLite, ``valid`` the SQL of whether ``data`` is JSON: the
    rows whose text is no JSON or holds a NUL character come back without their data, the
    ones holding ``\\u0000`` with it, for Python to tell an escaped NUL from an escaped
    backslash followed by ``u0000``."""
    rows = db.execute_sql(
        f"SELECT id, CASE WHEN {valid} AND instr(data, char(0)) = 0 THEN data END {_LIVE_DATA}"
        f" AND (NOT {valid} OR instr(data, char(0)) > 0 OR instr(data, '\\u0000') > 0) ORDER BY id")
    return _counted(row_id for row_id, readable in rows if readable is None or _ESCAPED_NUL.search(readable))


def _postgres_rows(db):
    """``unreadable_rows`` on PostgreSQL: nothing when every live row casts to jsonb, else
    the rows ``sonicpy_json_or_null`` cannot read (or, without it, those Python finds)."""
    try:
        with db.atomic():  # a savepoint: the cast's failure ends only it
            db.execute_sql(f"SELECT count(CAST(data AS jsonb)) {_LIVE_DATA}").fetchone()
        return 0, []
    except peewee.DatabaseError:
        pass
    (function,) = db.execute_sql(f"SELECT to_regprocedure('{PG_JSON_FUNCTION}(text)')").fetchone()
    if function is None:  # a database loaded from a dump without the migrations' objects
        return _scanned_rows(db)
    rows = db.execute_sql(f"SELECT id {_LIVE_DATA} AND {PG_JSON_FUNCTION}(data) IS NULL ORDER BY id")
    return _counted(row_id for (row_id,) in rows)


def _scanned_rows(db):
    """``unreadable_rows`` decided in Python: every live row read, a page at a time."""
    return _counted(_scanned_ids(db))


def _scanned_ids(db):
    """The ids of the live rows ``stored_data_problem`` refuses, in id order."""
    after = ""
    sql = f"SELECT id, data {_LIVE_DATA} AND id > {db.param} ORDER BY id LIMIT {_SCAN_PAGE}"
    while True:
        rows = db.execute_sql(sql, (after,)).fetchall()
        yield from (row_id for row_id, data in rows if stored_data_problem(data, db))
        if len(rows) < _SCAN_PAGE:
            return
        after = rows[-1][0]


def _counted(ids):
    """``(count, the first EXAMPLES)`` of ``ids``."""
    count, examples = 0, []
    for row_id in ids:
        count += 1
        if len(examples) < EXAMPLES:
            examples.append(row_id)
    return count, examples


def refuse_unreadable_data(db, fields):
    """Raise ``UnreadableData`` when a live content row holds data the indexes of ``fields``
    (names about to get an index) could not read."""
    if not fields:
        return
    items, examples = unreadable_rows(db)
    if items:
        raise UnreadableData(fields, items, examples)


def fields_lacking_index(schemas, present):
    """The field names ``schemas`` (stored form) declare whose index is not among ``present``
    (index names): the fields a sync would create an index for."""
    fields = set()
    for schema in schemas:
        indexed, sortable = declared_fields(schema)
        fields |= {name for name in indexed if index_name(FILTER_PREFIX, name) not in present}
        fields |= {name for name in sortable if index_name(SORT_PREFIX, name) not in present}
    return fields


def sync_field_indexes(db):
    """Create the field indexes the collections declare, drop the others.

    Call inside a transaction that took its schema turn (``app.db.schema_turns``) before any
    lock on ``content``; when it raises, roll that transaction back.

    Returns:
        ``(created, dropped)``: sorted index names.

    Raises:
        UnreadableData: an index to create could not read a live row's data (nothing done).
    """
    schemas = [schema for (schema,) in Collection.select(Collection.schema).tuples()]
    wanted = wanted_indexes(db, schemas)
    present = existing_indexes(db)
    refuse_unreadable_data(db, fields_lacking_index(schemas, present))
    with db.atomic():
        for name in sorted(present - wanted.keys()):
            db.execute_sql(f'DROP INDEX IF EXISTS "{name}"')
        for name in sorted(wanted.keys() - present):
            db.execute_sql(wanted[name])
        track_declared(db)
    return sorted(wanted.keys() - present), sorted(present - wanted.keys())
