"""Validation of content ``data`` against its collection's schema (SonicJS never does this).

A collection schema is SonicJS's ``{type: "object", properties: {name: FieldConfig},
required: [...]}``. ``validate_data`` checks every field and
returns EVERY problem as ``{"field": "data.<path>", "message"}``, so a client fixes a form
in one round trip:

* required (``required: true`` or listed in ``required``; ``null``, ``""`` and ``[]`` are
  missing, but for a field whose ``enum`` lists ``""`` as one of its values, where ``""`` is
  that option: ``_no_value``);
* types: string/text/textarea/richtext/markdown/color (and the editor types quill,
  mdxeditor, tinymce, easymde) are strings; slug a slug; number (and integer); boolean/checkbox;
  date/datetime ISO 8601; email; url (http/https); select/radio one of ``enum``;
  multiselect a list of distinct ``enum`` values; array (``items``, ``blocks``,
  ``minItems``/``maxItems``); object (``properties``); json anything;
  reference the id of live content (in ``collection``, a name or id or a list of them);
  media/file the id of a live media file. ``multiple: true`` makes reference, media and
  select fields lists;
* rules: ``min``/``max`` (numbers), ``minLength``/``maxLength``, ``pattern`` (an RE2 regular
  expression searched in the value, in time linear in its length), ``enum``, ``format``
  (email, url/uri, date, date-time);
* unknown fields are rejected: ``data`` holds what the schema declares, nothing else
  (a typo must not be stored silently). A collection whose schema has no ``properties``
  at all is free-form. Unknown field types accept any value (editor widgets come and go);
* a schema written to the database by hand, past the collections API's schema check, may
  hold shapes that check refuses. A value is refused at its path where its declaration is
  such a shape, saying the schema needs fixing (``SCHEMA_TO_FIX``): a ``type`` that is no
  text (a list such as ``["string", "null"]``, an object), a block type whose ``properties``
  is no mapping, a ``discriminator`` that is no text, a ``collection`` list holding
  something other than text. Which check such a declaration means is unknown, so no value
  under it is stored unchecked; a field left without a value is no concern of it. A
  ``required`` name or a ``format`` that is no text names nothing, and is ignored.

References are checked after the structure, in one query per kind whatever their number.
A reference value the item already holds (in its stored data, ``held_references``) is no
new reference: it is not refused for naming content or a file that is gone since (deleted,
moved to the trash, purged), so an item read and sent back unchanged saves whatever became
of what it names; only new values must name live rows.
"""

import functools
import math
import re
from datetime import date, datetime
from urllib.parse import urlsplit

from app.db.models import Collection, Content, Media
from app.services.enums import in_enum, json_key, option_text
from app.services.patterns import PatternError, compile_pattern

# The text types: a string, with minLength/maxLength/pattern/format. The editor types
# (quill, mdxeditor, tinymce, easymde) store the text their editor writes.
STRING_TYPES = frozenset(
    {"string", "text", "textarea", "richtext", "markdown", "color", "quill", "mdxeditor", "tinymce", "easymde"}
)
# The types ``multiple: true`` turns into a list of values (other types ignore it).
MULTIPLE_TYPES = frozenset({"reference", "media", "file", "select"})
# Matched whole (``fullmatch``): ``$`` would also match before a final newline.
EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
SLUG = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
MAX_DEPTH = 16
SCHEMA_TO_FIX = "the collection's schema {} (fix it with the collections API)"


def schema_properties(schema):
    """The ``properties`` mapping of a collection schema, or None for a free-form schema."""
    if not isinstance(schema, dict):
        return None
    properties = schema.get("properties")
    return properties if isinstance(properties, dict) else None


def schema_field_config(schema, path):
    """The declaration (``{"type", "enum", ...}``) of the (dotted) data field ``path``, or None when unknown."""
    properties = schema_properties(schema)
    config = None
    for part in path.split("."):
        if not isinstance(properties, dict) or not isinstance(properties.get(part), dict):
            return None
        config = properties[part]
        properties = config.get("properties")
    return config or None


def schema_field_type(schema, path):
    """The declared type of the (dotted) data field ``path``, or None when unknown."""
    config = schema_field_config(schema, path)
    return config.get("type") if config else None


def validate_data(schema, data, look_up_references=True, held=None):
    """Every problem of ``data`` against ``schema``, as ``[{"field", "message"}]`` (empty: valid).

    Args:
        schema: the collection schema.
        data: the item's ``data``.
        look_up_references: whether reference, media and file values must name live rows
            (one query per kind); False checks only their shape (an id, or a list of ids
            for ``multiple``) and reads nothing.
        held: the stored data ``data`` replaces (None: none): the reference values it holds
            need not name live rows (a held content reference that does must still be of
            the collections its field allows). Read only when a value names nothing live.
    """
    if not isinstance(data, dict):
        return [{"field": "data", "message": "must be an object"}]
    properties = schema_properties(schema)
    if properties is None:
        return []
    checker = _Checker()
    checker.object(properties, listed_required(schema), data, "data", 0)
    if look_up_references:
        checker.check_references(lambda: held_references(schema, held))
    return checker.errors


def held_references(schema, data):
    """The reference values ``data`` (stored data, read as ``schema`` declares it) holds, as
    ``{("content" or "media", id)}``: what ``validate_data(..., held=...)`` does not look up.

    Read by the same walk as validation, so a value counts where the schema makes it a
    reference, media or file value, whatever the problems of the rest of ``data``."""
    checker = _walked(schema, data)
    if checker is None:
        return frozenset()
    return frozenset([("content", ref) for _, ref, _ in checker.content_refs]
                     + [("media", ref) for _, ref in checker.media_refs])


def media_references(schema, data):
    """``[(path, id)]`` of the media and file values of ``data`` read as ``schema`` declares it:
    the values ``validate_data`` looks up in ``media``, found by the same walk."""
    checker = _walked(schema, data)
    return [] if checker is None else checker.media_refs


def _walked(schema, data):
    """The ``_Checker`` that walked ``data`` as ``schema`` declares it (no required field
    asked for, nothing looked up); None when there is nothing to walk."""
    properties = schema_properties(schema)
    if not isinstance(data, dict) or properties is None:
        return None
    checker = _Checker()
    checker.object(properties, set(), data, "data", 0)
    return checker


def missing_media(ref):
    """The problem of a media or file value ``ref`` naming no live file."""
    return f"references media {ref!r}, which does not exist"


def listed_required(schema):
    """The names ``schema``'s (or a block type's) ``required`` list gives."""
    names = schema.get("required") if isinstance(schema, dict) else None
    # A field's name is text: a name that is not (a list, an object) requires nothing.
    return {name for name in names if isinstance(name, str)} if isinstance(names, list) else set()


class _Checker:
    """Walks data and schema together, collecting errors and references to resolve."""

    def __init__(self):
        self.errors = []
        self.content_refs = []  # (path, id, allowed collections or None)
        self.media_refs = []  # (path, id)

    def fail(self, path, message):
        self.errors.append({"field": path, "message": message})

    def object(self, properties, required, data, path, depth):
        for name in data:
            if name not in properties:
                self.fail(f"{path}.{name}", "unknown field (not in the collection schema)")
        for name, config in properties.items():
            if not isinstance(config, dict):
                continue
            value = data.get(name)
            field_path = f"{path}.{name}"
            if _no_value(config, value):
                if config.get("required") is True or name in required:
                    self.fail(field_path, "is required")
                continue
            if value == "":
                # The enum's own empty option (``_no_value``): the field's type and format
                # (a date, an email, a minimum length) are for the other options.
                continue
            self.value(config, value, field_path, depth + 1)

    def value(self, config, value, path, depth):
        if depth > MAX_DEPTH:
            self.fail(path, "is nested too deeply")
            return
        kind = config.get("type")
        if kind is not None and not isinstance(kind, str):
            self.fail(path, SCHEMA_TO_FIX.format("gives this field a type that is not text"))
            return
        multiple = config.get("multiple") is True and kind in MULTIPLE_TYPES
        if multiple:
            if not isinstance(value, list):
                self.fail(path, "must be a list")
                return
            for i, item in enumerate(value):
                self.single(config, item, f"{path}[{i}]", depth)
            return
        self.single(config, value, path, depth)

    def single(self, config, value, path, depth):
        kind = config.get("type")
        check = _CHECKS.get(kind)
        if kind in STRING_TYPES:
            check = _Checker.string
        if check is not None and check(self, config, value, path, depth) is False:
            return
        enum = config.get("enum")
        if isinstance(enum, list) and kind != "multiselect" and not in_enum(value, enum):
            self.fail(path, "must be one of: " + ", ".join(map(option_text, enum)))

    def string(self, config, value, path, depth):
        if not isinstance(value, str):
            self.fail(path, "must be a string")
            return False
        low, high = config.get("minLength"), config.get("maxLength")
        if isinstance(low, int) and len(value) < low:
            self.fail(path, f"must be at least {low} characters long")
        if isinstance(high, int) and len(value) > high:
            self.fail(path, f"must be at most {high} characters long")
        pattern = config.get("pattern")
        if isinstance(pattern, str):
            try:
                if not compile_pattern(pattern).search(value):
                    self.fail(path, f"must match the pattern {pattern}")
            except PatternError:
                self.fail(path, "the collection schema's pattern for this field is invalid")
        fmt = config.get("format")
        if isinstance(fmt, str) and fmt in _FORMATS and not _FORMATS[fmt](value):
            self.fail(path, f"must be a valid {fmt}")
        return None

    def slug(self, config, value, path, depth):
        if not isinstance(value, str) or not SLUG.fullmatch(value):
            self.fail(path, "must be a slug (lowercase letters, digits and single dashes)")
            return False
        return self.string(config, value, path, depth)

    def number(self, config, value, path, depth):
        integer = config.get("type") == "integer"
        if isinstance(value, bool) or not isinstance(value, int if integer else (int, float)):
            self.fail(path, "must be an integer" if integer else "must be a number")
            return False
        if isinstance(value, float) and not math.isfinite(value):
            self.fail(path, "must be a finite number")
            return False
        low, high = config.get("min"), config.get("max")
        if _is_number(low) and value < low:
            self.fail(path, f"must be at least {low}")
        if _is_number(high) and value > high:
            self.fail(path, f"must be at most {high}")
        return None

    def boolean(self, config, value, path, depth):
        if not isinstance(value, bool):
            self.fail(path, "must be true or false")
            return False
        return None

    def date(self, config, value, path, depth):
        if not isinstance(value, str) or not _is_date(value):
            self.fail(path, "must be an ISO 8601 date (YYYY-MM-DD)")
            return False
        return None

    def datetime(self, config, value, path, depth):
        if not isinstance(value, str) or not _is_datetime(value):
            self.fail(path, "must be an ISO 8601 date-time")
            return False
        return None

    def email(self, config, value, path, depth):
        if not isinstance(value, str) or not EMAIL.fullmatch(value):
            self.fail(path, "must be an email address")
            return False
        return self.string(config, value, path, depth)

    def url(self, config, value, path, depth):
        if not isinstance(value, str) or not _is_url(value):
            self.fail(path, "must be an http(s) URL")
            return False
        return self.string(config, value, path, depth)

    def select(self, config, value, path, depth):
        enum = config.get("enum")
        listed_boolean = isinstance(value, bool) and isinstance(enum, list) and in_enum(value, enum)
        if not isinstance(value, (str, int, float)) or (isinstance(value, bool) and not listed_boolean):
            self.fail(path, "must be one of the listed options")
            return False
        return None

    def multiselect(self, config, value, path, depth):
        if not isinstance(value, list):
            self.fail(path, "must be a list of options")
            return False
        enum = config.get("enum")
        for i, item in enumerate(value):
            if isinstance(enum, list) and not in_enum(item, enum):
                self.fail(f"{path}[{i}]", "must be one of: " + ", ".join(map(option_text, enum)))
        # Repeats as JSON sees them: ``2`` and ``2.0`` are one option, ``[1]`` and ``[true]`` two.
        if len({json_key(item) for item in value}) != len(value):
            self.fail(path, "must not repeat an option")
        return False

    def array(self, config, value, path, depth):
        if not isinstance(value, list):
            self.fail(path, "must be a list")
            return False
        low, high = config.get("minItems"), config.get("maxItems")
        if isinstance(low, int) and len(value) < low:
            self.fail(path, f"must have at least {low} items")
        if isinstance(high, int) and len(value) > high:
            self.fail(path, f"must have at most {high} items")
        items, blocks = config.get("items"), config.get("blocks")
        if isinstance(blocks, dict) and not isinstance(config.get("discriminator") or "", str):
            self.fail(path, SCHEMA_TO_FIX.format("names the key of the block type with something other than text"))
            return False
        for i, item in enumerate(value):
            if isinstance(blocks, dict):
                self.block(config, blocks, item, f"{path}[{i}]", depth)
            elif isinstance(items, dict) and item is not None:
                self.value(items, item, f"{path}[{i}]", depth + 1)
        return False

    def block(self, config, blocks, item, path, depth):
        key = config.get("discriminator") or "blockType"
        if not isinstance(item, dict) or item.get(key) not in blocks:
            self.fail(path, f"must be an object whose {key} is one of: " + ", ".join(blocks))
            return
        block = blocks[item[key]] if isinstance(blocks[item[key]], dict) else {}
        declared = block.get("properties") or {}
        if not isinstance(declared, dict):
            self.fail(path, SCHEMA_TO_FIX.format(f"gives the block type {item[key]} properties that are not an object"))
            return
        properties = {**declared, key: {"type": "string"}}
        self.object(properties, listed_required(block), item, path, depth + 1)

    def object_field(self, config, value, path, depth):
        if not isinstance(value, dict):
            self.fail(path, "must be an object")
            return False
        properties = config.get("properties")
        if isinstance(properties, dict):
            self.object(properties, listed_required(config), value, path, depth + 1)
        return False

    def reference(self, config, value, path, depth):
        if not isinstance(value, str) or not value:
            self.fail(path, "must be the id of a content item")
            return False
        allowed = config.get("collection")
        if isinstance(allowed, str):
            allowed = [allowed]
        if isinstance(allowed, list) and not all(isinstance(name, str) for name in allowed):
            self.fail(path, SCHEMA_TO_FIX.format("names its collections with something other than text"))
            return False
        self.content_refs.append((path, value, tuple(allowed) if isinstance(allowed, list) else None))
        return None

    def media(self, config, value, path, depth):
        if not isinstance(value, str) or not value:
            self.fail(path, "must be the id of a media file")
            return False
        self.media_refs.append((path, value))
        return None

    def check_references(self, held=frozenset):
        """Resolve collected references: one query for content, one for media; a value in
        ``held()`` (``held_references``, asked once, only when a value names nothing live)
        is no problem."""
        held = functools.cache(held)
        if self.content_refs:
            ids = {ref for _, ref, _ in self.content_refs}
            found = {
                row[0]: (row[1], row[2])
                for row in Content.select(Content.id, Collection.id, Collection.name)
                .join(Collection, on=(Content.collection == Collection.id))
                .where(Content.id.in_(list(ids)) & Content.deleted_at.is_null())
                .tuples()
            }
            for path, ref, allowed in self.content_refs:
                if ref not in found:
                    if ("content", ref) not in held():
                        self.fail(path, f"references content {ref!r}, which does not exist")
                elif allowed and not set(found[ref]) & set(allowed):
                    self.fail(path, "must reference content of: " + ", ".join(allowed))
        if self.media_refs:
            ids = {ref for _, ref in self.media_refs}
            live = {
                row[0]
                for row in Media.select(Media.id)
                .where(Media.id.in_(list(ids)) & Media.deleted_at.is_null())
                .tuples()
            }
            for path, ref in self.media_refs:
                if ref not in live and ("media", ref) not in held():
                    self.fail(path, missing_media(ref))


def _no_value(config, value):
    """Whether ``value`` leaves the field ``config`` without a value: null, ``[]`` and ``""``.

    ``""`` is a value where the field's ``enum`` lists it as an option of its own (a select or
    radio whose options include the empty text), so a required one may be given it; in a
    field of lists (multiselect, ``multiple``) the enum's ``""`` is an item, not the field's value.
    """
    if isinstance(value, str):
        return value == "" and not _empty_text_is_an_option(config)
    return value is None or value == []


def _empty_text_is_an_option(config):
    kind = config.get("type")
    enum = config.get("enum")
    listed = isinstance(enum, list) and in_enum("", enum)
    if kind is not None and not isinstance(kind, str):
        return False  # a type that is no text says nothing of its values: ``""`` is none
    multiple = config.get("multiple") is True and kind in MULTIPLE_TYPES
    return listed and kind != "multiselect" and not multiple


def _is_number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _is_date(text):
    try:
        date.fromisoformat(text)
    except ValueError:
        return _is_datetime(text)
    return True


def _is_datetime(text):
    try:
        datetime.fromisoformat(text)
    except ValueError:
        return False
    return True


def _is_url(text):
    try:
        parts = urlsplit(text)
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.netloc)


_FORMATS = {
    "email": lambda v: bool(EMAIL.fullmatch(v)),
    "url": _is_url,
    "uri": _is_url,
    "date": _is_date,
    "date-time": _is_datetime,
}

_CHECKS = {
    "slug": _Checker.slug,
    "number": _Checker.number,
    "integer": _Checker.number,
    "boolean": _Checker.boolean,
    "checkbox": _Checker.boolean,
    "date": _Checker.date,
    "datetime": _Checker.datetime,
    "email": _Checker.email,
    "url": _Checker.url,
    "select": _Checker.select,
    "radio": _Checker.select,
    "multiselect": _Checker.multiselect,
    "array": _Checker.array,
    "object": _Checker.object_field,
    "reference": _Checker.reference,
    "media": _Checker.media,
    "file": _Checker.media,
}
