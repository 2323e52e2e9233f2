"""Collection definitions: SonicJS's config format as msgspec Structs, plus the rules Structs can't say.

A collection file (``app/collections/<name>.json``) holds one ``CollectionConfig``; its
``schema`` (a ``CollectionSchema``) is what ``collections.schema`` stores and what content
``data`` is validated against. Field types and options are SonicJS's
(``types/collection-config.ts``); JSON keys keep SonicJS's camelCase spelling.

Decisions where SonicJS is loose:

* Unknown keys are refused at every level (a typo such as ``requird`` would otherwise be
  silently ignored and never enforced). UI-only extras belong in ``metadata`` (collection)
  whose content is free.
* Field names must be identifiers (``^[A-Za-z_][A-Za-z0-9_]*$``): they become JSON paths
  (``data.<field>``) in filters and indexes.
* A choice field's ``enum`` lists JSON scalars: strings, numbers and booleans, each kept as
  its own JSON type (content validation, the admin's forms and filters take ``2`` and
  ``true`` as themselves, not as text). Two options are one value when JSON says so (``1``
  and ``1.0``), never a boolean and a number (``true`` and ``1``); ``null`` is no option
  (validation takes it as no value), nor is a list or an object.
* Besides SonicJS's ``FieldType`` union, the editor types used in practice (``quill``,
  ``mdxeditor``, ``tinymce``, ``easymde``) and the admin renderer's ``text`` are accepted.
* A field's ``pattern`` is RE2 syntax, run by RE2 (``compile_pattern``): matching takes time
  linear in the value whatever the pattern, so a pattern such as ``^(a+)+$`` cannot stall a
  worker the way a backtracking engine does on a long non-matching value. What RE2 cannot
  run (backreferences, lookahead and lookbehind) is refused with the field's path. As in
  JSON Schema, a pattern matches anywhere in the value unless anchored; ``$`` is the end of
  the value (not before a final newline) and ``\\d``, ``\\w`` and ``\\b`` are ASCII-only.

Errors are ``"<path>: <message>"`` strings whose path names the field, e.g.
``schema.properties.hero.type: unknown field type 'picture'``; parsing collects every
error it can instead of stopping at the first.

Use ``parse_collection_config`` for a whole file, ``parse_schema`` for a schema alone (the
collections API, stored rows) and ``schema_to_builtins`` for the canonical form to store.
"""

import re
from typing import Annotated, Any, Literal

import msgspec

from app.services.content.validation import validate_data
from app.services.enums import has_duplicates
from app.services.patterns import PatternError, compile_pattern

FIELD_TYPES = frozenset({
    "string", "number", "integer", "boolean", "date", "datetime", "email", "url", "richtext", "markdown",
    "json", "array", "object", "reference", "media", "select", "multiselect", "checkbox", "radio",
    "textarea", "slug", "color", "file",
    # Editor types SonicJS apps use although its union omits some, and the renderer's "text".
    "quill", "mdxeditor", "tinymce", "easymde", "text",
})
CHOICE_TYPES = frozenset({"select", "multiselect", "radio"})
MAX_PATTERN_LENGTH = 256
# A collection's name (and a form's), in every route and file: every refusal says
# ``NAME_RULE`` rather than the expression (``collection_name_problem``).
NAME_PATTERN = re.compile(r"^[a-z0-9_-]{1,64}$")  # fullmatch: no final newline passes either
NAME_RULE = "use lower-case letters, digits, - and _, up to 64 characters"
# Names the admin's own pages take: /admin/collections/new creates a collection, so a
# collection named "new" could never be opened or edited there.
RESERVED_NAMES = frozenset({"new"})
FIELD_NAME_PATTERN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
MAX_INDEXED_NAME = 64
# Content columns a collection may sort, list or search by besides its own fields.
CONTENT_COLUMNS = frozenset({"title", "slug", "status", "created_at", "updated_at", "published_at"})
# What ``listFields`` may name besides the schema's top-level fields: the content columns and
# the item's author. Such a name always means the item's own column, even where the schema
# has a field of that name too (a ``title`` or ``slug`` field mirrors the item's own).
LIST_COLUMNS = CONTENT_COLUMNS | {"author"}

NonNegative = Annotated[int, msgspec.Meta(ge=0)]
# msgspec tells a boolean from an integer, so ``true`` stays a boolean and ``1`` an integer.
EnumValue = str | int | float | bool


class _Base(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True, rename="camel"):
    """Strict, camelCase on the wire, defaults left out when encoded (the canonical form)."""


class FieldConfig(_Base):
    """One field of a collection schema (SonicJS ``FieldConfig``)."""

    type: str
    title: str | None = None
    description: str | None = None
    required: bool = False
    default: Any = None  # filled into a new item's data when left out (app.services.content.defaults)
    placeholder: str | None = None
    help_text: str | None = None
    min: int | float | None = None
    max: int | float | None = None
    min_length: NonNegative | None = None
    max_length: NonNegative | None = None
    min_items: NonNegative | None = None  # arrays: how many items at least / at most
    max_items: NonNegative | None = None
    pattern: str | None = None
    enum: list[EnumValue] | None = None
    enum_labels: list[str] | None = None
    collection: str | list[str] | None = None
    multiple: bool | None = None  # reference, media, file, select: a list of them
    items: "FieldConfig | None" = None
    item_title: str | None = None
    properties: "dict[str, FieldConfig] | None" = None
    blocks: "dict[str, BlockDefinition] | None" = None
    discriminator: str | None = None
    collapsed: bool | None = None
    object_layout: Literal["nested", "flat"] | None = None
    format: str | None = None
    widget: str | None = None
    depends_on: str | None = None
    show_when: Any = None
    # Top-level fields only: an index on data.<field> for filters, and one for sorts
    # (app.services.field_indexes).
    indexed: bool = False
    sortable: bool = False


class BlockDefinition(_Base):
    """One block type of a block array (``type: array`` with ``blocks``)."""

    properties: dict[str, FieldConfig]
    label: str | None = None
    description: str | None = None


class CollectionSchema(_Base):
    """What ``collections.schema`` stores: ``{type: "object", properties, required?}``."""

    type: Literal["object"]
    properties: dict[str, FieldConfig]
    required: list[str] | None = None


class CollectionConfig(_Base):
    """A collection definition file (SonicJS ``CollectionConfig``)."""

    name: str
    display_name: str
    schema: CollectionSchema
    description: str | None = None
    managed: bool = True
    is_active: bool = True
    icon: str | None = None
    color: str | None = None
    default_sort: str | None = None
    default_sort_order: Literal["asc", "desc"] | None = None
    list_fields: list[str] | None = None
    search_fields: list[str] | None = None
    metadata: dict[str, Any] | None = None


class CollectionConfigError(ValueError):
    """A definition is invalid; ``errors`` lists every ``"<path>: <message>"`` found."""

    def __init__(self, errors):
        self.errors = list(errors)
        super().__init__("; ".join(self.errors))


# --- parsing with field-level paths --------------------------------------------------------
# msgspec reports dict keys as "[...]", which would hide the field's name, so nested parts
# are converted one level at a time with the path carried along.

_PLACEHOLDERS = {"schema": {"type": "object", "properties": {}}, "properties": {}, "items": None, "blocks": None}


def _join(path, key):
    return f"{path}.{key}" if path else key


_ENUM_ITEM = re.compile(r"\.enum\[\d+\]$")


def _describe(ex, path, cls=None):
    """Turn a msgspec.ValidationError into ``"<path>: <message>"`` (an unknown key lists ``cls``'s)."""
    message, _, where = str(ex).partition(" - at `$")
    where = where.rstrip("`")
    unknown = re.match(r"Object contains unknown field `(.*)`$", message)
    if unknown:
        known = ", ".join(sorted(f.encode_name for f in msgspec.structs.fields(cls))) if cls and not where else ""
        return f"{_join(path, unknown.group(1))}: unknown key" + (f"; valid keys: {known}" if known else "")
    missing = re.match(r"Object missing required field `(.*)`$", message)
    if missing:
        return f"{_join(path, missing.group(1))}: required"
    full = path + where if path else where.lstrip(".")
    if message.endswith("got `null`") and _ENUM_ITEM.search(full):
        message += "; null is no option (an item's null already means no value)"
    return f"{full or '$'}: {message}"


def _convert(raw, cls, path, errors, nested):
    """Convert ``raw`` to ``cls`` with the ``nested`` keys converted separately (with paths)."""
    if not isinstance(raw, dict):
        errors.append(f"{path or '$'}: expected an object, got {type(raw).__name__}")
        return None
    flat = {key: (_PLACEHOLDERS[key] if key in nested else value) for key, value in raw.items()}
    try:
        obj = msgspec.convert(flat, cls)
    except msgspec.ValidationError as ex:
        errors.append(_describe(ex, path, cls))
        obj = None
    parts = {}
    for key, converter in nested.items():
        if raw.get(key) is not None:
            parts[key] = converter(raw[key], _join(path, key), errors)
    if obj is None or None in parts.values():
        return None
    return msgspec.structs.replace(obj, **parts)


def _properties(raw, path, errors):
    if not isinstance(raw, dict):
        errors.append(f"{path}: expected an object of fields, got {type(raw).__name__}")
        return None
    fields, ok = {}, True
    for name, value in raw.items():
        if not FIELD_NAME_PATTERN.fullmatch(name):
            errors.append(f"{_join(path, name)}: invalid field name (use letters, digits and _, "
                          "not starting with a digit)")
            ok = False
        field = _field(value, _join(path, name), errors)
        ok = ok and field is not None
        fields[name] = field
    return fields if ok else None


def _blocks(raw, path, errors):
    if not isinstance(raw, dict):
        errors.append(f"{path}: expected an object of block definitions, got {type(raw).__name__}")
        return None
    blocks = {name: _convert(value, BlockDefinition, _join(path, name), errors, {"properties": _properties})
              for name, value in raw.items()}
    return None if None in blocks.values() else blocks


def _field(raw, path, errors):
    nested = {"items": _field, "properties": _properties, "blocks": _blocks}
    field = _convert(raw, FieldConfig, path, errors, nested)
    if field is not None:
        errors.extend(check_field(field, path))
    return field


def _schema(raw, path, errors):
    schema = _convert(raw, CollectionSchema, path, errors, {"properties": _properties})
    if schema is not None:
        errors.extend(check_schema(schema, path))
    return schema


def parse_schema(raw, path="schema"):
    """Validate a schema (``{type: "object", properties, required?}``) and return it.

    Raises:
        CollectionConfigError: with every problem found, each naming its field.
    """
    errors = []
    schema = _schema(raw, path, errors)
    if errors:
        raise CollectionConfigError(errors)
    return schema


def parse_collection_config(raw):
    """Validate a whole collection definition (a decoded JSON object) and return it.

    Raises:
        CollectionConfigError: with every problem found, each naming its key or field.
    """
    errors = []
    config = _convert(raw, CollectionConfig, "", errors, {"schema": _schema})
    if config is not None:
        errors.extend(check_config(config))
    if errors:
        raise CollectionConfigError(errors)
    return config


# --- rules beyond types --------------------------------------------------------------------


def reserved_name_message(name):
    """Why the collection name ``name`` (one of ``RESERVED_NAMES``) is refused."""
    return f"{name!r} is reserved: /admin/collections/{name} is the admin's page for a new collection"


def collection_name_problem(name):
    """Why ``name`` cannot name a collection, in the words a refusal shows, or None when it can."""
    if not NAME_PATTERN.fullmatch(name):
        return f"A collection name must {NAME_RULE}"
    if name in RESERVED_NAMES:
        return reserved_name_message(name)
    return None


def check_config(config):
    """Collection-level rules: the name, the display name, fields named by list/search/sort."""
    errors = []
    if not NAME_PATTERN.fullmatch(config.name):
        errors.append(f"name: invalid collection name {config.name!r}: {NAME_RULE}")
    elif config.name in RESERVED_NAMES:
        errors.append(f"name: {reserved_name_message(config.name)}")
    if not config.display_name.strip():
        errors.append("displayName: must not be empty")
    errors += check_list_fields(config.list_fields, config.schema.properties)
    known = set(config.schema.properties) | CONTENT_COLUMNS
    for key, names in (("searchFields", config.search_fields),
                       ("defaultSort", [config.default_sort] if config.default_sort else None)):
        for name in names or ():
            if name not in known:
                errors.append(f"{key}: unknown field {name!r}")
    return errors


def check_list_fields(names, properties, key="listFields"):
    """Errors of a ``listFields`` list: each name a top-level field of ``properties`` (a
    schema's) or one of ``LIST_COLUMNS``, each once."""
    errors = []
    known = set(properties) | LIST_COLUMNS
    columns = ", ".join(sorted(LIST_COLUMNS))
    for name in names or ():
        if name not in known:
            errors.append(f"{key}: unknown field {name!r}; list the schema's fields or {columns}")
    if names and has_duplicates(names):
        errors.append(f"{key}: lists a field more than once")
    return errors


def known_list_fields(names, properties):
    """The names of ``names`` that a schema of ``properties`` still knows, in order; None
    when none is left (the default columns).

    A stored list may name a field a later schema change removed, or be what a hand-written
    row or an import holds (not even a list of names): what no longer means anything is
    dropped, never an error.
    """
    if not isinstance(names, list):
        return None
    known = set(properties) | LIST_COLUMNS
    kept = [name for name in names if isinstance(name, str) and name in known]
    return list(dict.fromkeys(kept)) or None


def check_schema(schema, path="schema"):
    """Schema-level rules: ``required`` names existing fields, each once."""
    errors = []
    required = schema.required or []
    for name in required:
        if name not in schema.properties:
            errors.append(f"{path}.required: unknown field {name!r}")
    if len(set(required)) != len(required):
        errors.append(f"{path}.required: lists a field more than once")
    for name, field in schema.properties.items():
        errors += _nested_index_flags(field, f"{path}.properties.{name}")
        if (field.indexed or field.sortable) and len(name) > MAX_INDEXED_NAME:
            errors.append(f"{path}.properties.{name}: an indexed or sortable field's name takes at most "
                          f"{MAX_INDEXED_NAME} characters (the longest a filter or sort can name)")
    return errors


def _nested_index_flags(field, path):
    """Errors for ``indexed``/``sortable`` below the top level (indexes cover top-level fields)."""
    errors = []
    children = [(f"{path}.items", field.items)] if field.items is not None else []
    children += [(f"{path}.properties.{name}", child) for name, child in (field.properties or {}).items()]
    for block, definition in (field.blocks or {}).items():
        children += [(f"{path}.blocks.{block}.properties.{name}", child)
                     for name, child in definition.properties.items()]
    for child_path, child in children:
        for flag in ("indexed", "sortable"):
            if getattr(child, flag):
                errors.append(f"{child_path}.{flag}: only a top-level field can be {flag}")
        errors += _nested_index_flags(child, child_path)
    return errors


def check_field(field, path):
    """Field-level rules of one field (nested fields are checked as they are parsed)."""
    errors = []
    if field.type not in FIELD_TYPES:
        errors.append(f"{path}.type: unknown field type {field.type!r}; valid types: {', '.join(sorted(FIELD_TYPES))}")
    if field.type == "reference" and not _names(field.collection):
        errors.append(f"{path}.collection: a reference field needs the collection(s) it points to")
    if field.type in CHOICE_TYPES and not field.enum:
        errors.append(f"{path}.enum: a {field.type} field needs a non-empty enum")
    errors += _check_enum(field, path)
    if field.pattern is not None and len(field.pattern) > MAX_PATTERN_LENGTH:
        # RE2's automaton grows with the pattern: the cap bounds its compile time and memory.
        errors.append(f"{path}.pattern: a pattern may be at most {MAX_PATTERN_LENGTH} characters")
    elif field.pattern is not None:
        try:
            compile_pattern(field.pattern)
        except PatternError as ex:
            errors.append(f"{path}.pattern: {ex}")
    if field.min is not None and field.max is not None and field.min > field.max:
        errors.append(f"{path}.min: must not be greater than max ({field.min} > {field.max})")
    if field.min_length is not None and field.max_length is not None and field.min_length > field.max_length:
        errors.append(f"{path}.minLength: must not be greater than maxLength "
                      f"({field.min_length} > {field.max_length})")
    if field.blocks is not None and field.type != "array":
        errors.append(f"{path}.blocks: only an array field can have blocks")
    if field.discriminator is not None and field.blocks is None:
        errors.append(f"{path}.discriminator: only meaningful with blocks")
    errors += _check_default(field, path)
    return errors


# The one field of the schema a default is checked under, as the data of an item.
_DEFAULT_KEY = "value"


def _check_default(field, path):
    """A ``default`` must be a value the field takes, by the rules content is checked with, so
    a create filling it in is never refused for it (each problem names where in the default).

    A reference, media or file default is checked for its shape only (an id; a list of
    ids with ``multiple``): the item or file it names is not looked up. The create looks it
    up anyway, since it may be deleted after the save, and a definition file must be valid
    whatever database it is synced into (a new one holds none of the ids a live one does).
    """
    if field.default is None:
        return []
    schema = {"type": "object", "properties": {_DEFAULT_KEY: msgspec.to_builtins(field)}}
    problems = validate_data(schema, {_DEFAULT_KEY: field.default}, look_up_references=False)
    where = f"data.{_DEFAULT_KEY}"
    return [f"{path}.default{problem['field'].removeprefix(where)}: {problem['message']}" for problem in problems]


def _names(collection):
    if isinstance(collection, str):
        return [collection] if collection else []
    return [name for name in collection or () if name]


def _check_enum(field, path):
    errors = []
    if field.enum is None:
        return errors
    if has_duplicates(field.enum):
        errors.append(f"{path}.enum: lists a value more than once")
    if field.enum_labels is not None and len(field.enum_labels) != len(field.enum):
        errors.append(f"{path}.enumLabels: needs one label per enum value "
                      f"({len(field.enum_labels)} labels, {len(field.enum)} values)")
    return errors


# --- referenced collections ----------------------------------------------------------------


def reference_targets(schema, path="schema"):
    """``(path, name)`` of each collection a reference field of ``schema`` names, at any depth
    (in an array's items, an object's properties, a block's), ``path`` ending in
    ``.collection``: ``("schema.properties.author.collection", "authors")``.

    ``schema`` is in its canonical form (``schema_to_builtins``), as saved and as stored.
    """
    found = []
    for name, field in _mapping(schema.get("properties")).items():
        found += _field_targets(field, f"{path}.properties.{name}")
    return found


def _field_targets(field, path):
    if not isinstance(field, dict):
        return []
    targets = field.get("collection") if field.get("type") == "reference" else None
    targets = [targets] if isinstance(targets, str) else targets if isinstance(targets, list) else []
    found = [(f"{path}.collection", name) for name in targets if isinstance(name, str) and name]
    if field.get("items") is not None:
        found += _field_targets(field["items"], f"{path}.items")
    for name, child in _mapping(field.get("properties")).items():
        found += _field_targets(child, f"{path}.properties.{name}")
    for block, definition in _mapping(field.get("blocks")).items():
        for name, child in _mapping(_mapping(definition).get("properties")).items():
            found += _field_targets(child, f"{path}.blocks.{block}.properties.{name}")
    return found


def _mapping(value):
    """``value`` when it is an object, else none: a stored schema written by hand may hold
    anything where a valid one holds an object."""
    return value if isinstance(value, dict) else {}


def unknown_reference_targets(schema, known, stored=None):
    """``(path, name)`` of each collection a reference field of ``schema`` names that is not
    in ``known`` (the names and ids of the collections there are), but for a target the same
    field of the ``stored`` schema (the one saved before) had already: a referenced
    collection deleted since is no reason to refuse a save that does not change the field.
    Both schemas are in canonical form."""
    kept = set(reference_targets(stored)) if isinstance(stored, dict) else set()
    return [(path, name) for path, name in reference_targets(schema)
            if name not in known and (path, name) not in kept]


def unknown_reference_message(name):
    """What a refusal says of a reference field naming ``name``, which no collection has."""
    return f"there is no collection named {name!r}; a reference names an existing collection or its own"


# --- patterns ------------------------------------------------------------------------------


# --- canonical form ------------------------------------------------------------------------


def schema_to_builtins(schema):
    """The canonical JSON-ready form of a schema: camelCase keys, defaults left out.

    Keys inside a field come out in one fixed order whatever the file's order; the order of
    the fields themselves is kept (it is the order forms show them in).
    """
    return msgspec.to_builtins(schema)


def canonical_json(value):
    """Bytes that are equal exactly when two canonical values are equal (1 and true differ)."""
    return msgspec.json.encode(value)
