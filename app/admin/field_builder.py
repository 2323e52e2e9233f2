"""The collection editor's field builder: a schema's fields as rows of form inputs, and back.

Each field is one row of inputs named ``field-<n>.<part>``: its name, type, label, whether it
is required, the choices of a select, the collection(s) a reference points to, and every
other setting of the field as a JSON object (``{"maxLength": 80}``, an array's ``items`` or
``blocks``...), so any field the schema supports can be built without a control per option.
Rows are saved in the order of their ``position`` (the browser's script keeps it in step with
the order on screen; without script it is typed); a row marked ``remove`` is dropped.

A row posted back as it was shown keeps the field's stored entry as it is, so a save changes
only the fields that were edited. The rows only assemble the raw schema: whether it is valid
is decided by the collections API's own validation, so the editor shows exactly the API's
messages.

Choices are shown one per line as the content form's options show them (``news``, ``2``,
``true``; as JSON where two would read alike, ``"1"`` and ``1``), and as JSON an option no
line shows as it is: an empty one or one of spaces only (``""``, ``" "``), one holding a
line break, and one reading as the JSON of such a text. In an edited row, a line still
showing one of the stored options is that option, its JSON type kept: an enum of ``[1, 2]``
whose label is edited stays ``[1, 2]``, one of ``["", "a"]`` keeps its ``""`` while its line
does. A blank line is no option: a textarea's empty lines are spacing, not choices; the
empty text is typed as it is shown, ``""`` (as is any text shown as JSON for want of a
line). Any other line is text, as typed (``3`` added to ``[1, 2]`` makes ``[1, 2, "3"]``): a
line typed into a form is text unless it names an option already there, and an option of
another type is written through the collections API.
"""

import json
import re
from dataclasses import dataclass, field

from app.admin.blocks import input_text, typed_position
from app.admin.choices import option_texts
from app.services.collection_schema import FIELD_TYPES

ROW_PART = re.compile(r"^field-(\d{1,4})\.(name|type|title|required|enum|collection|options|position|remove)$")
# Keys with an input of their own; everything else a field says goes into its options.
OWN_INPUTS = ("type", "title", "required", "enum", "collection")
TYPES = tuple(sorted(FIELD_TYPES))
MAX_ROWS = 200


@dataclass
class FieldRow:
    """One field of the builder, as its inputs show it.

    Attributes:
        index: the row's number in the input names (stable while the page is open).
        name: the field name (its key in ``properties``).
        type: the field type.
        title: the label forms show.
        required: whether content must have it.
        enum: the choices, one per line.
        shown_enum: the stored ``enum`` the choices were shown from: a line still showing
            one of its options is that option (``_enum``).
        collection: the referenced collection(s), separated by commas.
        options: the field's other settings as a JSON object ("" when none).
        position: where the row goes (1-based).
        errors: messages about this field from the last save.
        stored: the schema entry the row was shown from, kept as it is when the row is
            posted back unchanged (``rows_from_form``).
        listed: whether the schema's ``required`` list names the field (with ``stored``:
            an unchanged row is listed there as it was).
    """

    index: int
    name: str = ""
    type: str = "string"
    title: str = ""
    required: bool = False
    enum: str = ""
    shown_enum: list = field(default_factory=list)
    collection: str = ""
    options: str = ""
    position: int = 0
    errors: list = field(default_factory=list)
    stored: dict | None = None
    listed: bool = False

    @property
    def typed_choices(self):
        """Whether a stored choice is shown as other than its text: a number, a boolean, or a
        text written as JSON (the page says a typed line is text)."""
        return any(not isinstance(value, str) or value != line
                   for value, line in zip(self.shown_enum, choice_lines(self.shown_enum)))

    def errors_on(self, part):
        """The row's messages about its input ``part`` (``name``, one of ``OWN_INPUTS`` or
        ``options``). A message names what it is about (``name: required``, ``maxLength: ...``):
        a key without an input of its own is written in the options' JSON, so it is theirs."""
        own = ("name", *OWN_INPUTS)
        return [error for error in self.errors
                if (error.partition(":")[0] if error.partition(":")[0] in own else "options") == part]

    def is_blank(self):
        """True for a row nothing was typed into (the empty row the page offers)."""
        return not (self.name or self.title or self.enum.strip() or self.collection or self.options)


def rows_from_schema(schema):
    """The builder rows of ``schema``'s fields, in their order."""
    schema = schema if isinstance(schema, dict) else {}
    required = set(schema.get("required") or [])
    rows = []
    for index, (name, config) in enumerate((schema.get("properties") or {}).items()):
        config = config if isinstance(config, dict) else {}
        collection = config.get("collection") or ""
        others = {key: value for key, value in config.items() if key not in OWN_INPUTS}
        enum = config.get("enum") if isinstance(config.get("enum"), list) else []
        rows.append(FieldRow(
            index=index, name=name, type=str(config.get("type") or "string"), title=config.get("title") or "",
            required=config.get("required") is True or name in required,
            enum="\n".join(choice_lines(enum)), shown_enum=enum,
            collection=", ".join(collection) if isinstance(collection, list) else str(collection),
            options=json.dumps(others, ensure_ascii=False) if others else "", position=index + 1,
            stored=config, listed=name in required,
        ))
    return rows


def blank_row(rows):
    """An empty row numbered after ``rows``, for a new field."""
    index = max((row.index for row in rows), default=-1) + 1
    return FieldRow(index=index, position=len(rows) + 1)


def _text(value):
    if isinstance(value, list):
        value = value[-1] if value else ""
    return value if isinstance(value, str) else ""


def rows_from_form(form, stored=()):
    """The rows of a posted builder form, in their chosen order, removed ones left out.

    Args:
        stored: the rows the form was filled with (``rows_from_schema``): a label posted
            back unchanged keeps its stored text, spaces and line breaks (which an input
            cannot hold) and all; a typed one is trimmed. A row posted back unchanged keeps
            its stored schema entry as it is.
    """
    shown = {row.index: row for row in stored}
    parts = {}
    for key, value in form.items():
        matched = ROW_PART.match(key)
        if matched:
            parts.setdefault(int(matched.group(1)), {})[matched.group(2)] = _text(value)
    rows = []
    for index, values in sorted(parts.items())[:MAX_ROWS]:
        if values.get("remove"):
            continue
        position = values.get("position", "").strip()
        before = shown.get(index)
        row = FieldRow(
            index=index, name=values.get("name", "").strip(), type=values.get("type", "string").strip(),
            title=input_text(values.get("title", ""), before.title if before else None),
            required=bool(values.get("required")), enum=values.get("enum", ""),
            shown_enum=before.shown_enum if before else [],
            collection=values.get("collection", "").strip(), options=values.get("options", "").strip(),
            position=typed_position(position, 10**6 + index),
        )
        if before is not None and _settings(row) == _settings(before):
            row.stored, row.listed = before.stored, before.listed
        rows.append(row)
    # On a tie the later row wins the place: typing a row's new position moves it there,
    # before the row that held it when moving up, after it when moving down.
    rows.sort(key=lambda row: (row.position, -row.index))
    for place, row in enumerate(rows, start=1):
        row.position = place
    return rows


def _settings(row):
    """What a row says of its field, as its inputs post it (the position aside)."""
    return (row.name, row.type, row.title, row.required, _choices(row), _collections(row), row.options)


def _spelled(line):
    """The text ``line`` writes as JSON when it is the JSON of a text ``_no_line`` spells out
    (``""``, ``"two\\nlines"``); else None."""
    try:
        text = json.loads(line)
    except (ValueError, RecursionError):  # no JSON, or nested past what the parser takes
        return None
    return text if isinstance(text, str) and _no_line(text) else None


def _no_line(text):
    """Whether no line of the choices shows the option ``text`` as it is: a blank line is no
    option, a line break would split it in two, and a line reading as the JSON of such a text
    (``""``) is that text."""
    return not text.strip() or text.splitlines() != [text] or _spelled(text) is not None


def choice_lines(enum):
    """The line showing each option of ``enum``: as the content form's option shows it, or as
    JSON where no line shows it as it is (``""``, ``" "``, ``"two\\nlines"``)."""
    return option_texts(enum, spelled_out=_no_line)


def _choices(row):
    """The choices a row lists."""
    # Each line as typed, blank ones dropped (a stored blank option is shown as JSON): trimming
    # would rewrite a choice the API stored with spaces on every save, and the content holding
    # it would then fail validation.
    return [line for line in row.enum.splitlines() if line.strip()]


def _enum(row):
    """The ``enum`` of a row's choices: a line showing a stored option as it was shown is that
    option, as stored (``2`` a number, ``true`` a boolean); a line spelling out a text as JSON
    (``""``) is that text; any other line is text, as typed."""
    stored = {}
    for text, value in zip(choice_lines(row.shown_enum), row.shown_enum):
        stored.setdefault(text, value)
    return [stored[line] if line in stored else _read(line) for line in _choices(row)]


def _read(line):
    """A typed line's option: the text it spells out as JSON, else the line as it is."""
    spelled = _spelled(line)
    return line if spelled is None else spelled


def _collections(row):
    """The referenced collections a row names, in order."""
    return [name.strip() for name in row.collection.split(",") if name.strip()]


def _row_config(row):
    """The schema entry of one row; a message instead when its options are not a JSON object.

    A row posted back as it was shown keeps its stored entry as it is: the inputs would
    rebuild it in another shape (a list of one collection as its name, an empty label left
    out). An edited row keeps the stored type of each choice it still lists (``_enum``).
    """
    if row.stored is not None:
        return dict(row.stored), None
    config = {}
    if row.options:
        try:
            config = json.loads(row.options)
        except ValueError as ex:
            return None, f"options: not valid JSON ({ex.msg})"
        if not isinstance(config, dict):
            return None, 'options: must be a JSON object such as {"maxLength": 80}'
    config["type"] = row.type
    if row.title:
        config["title"] = row.title
    if row.required:
        config["required"] = True
    choices = _enum(row)
    if choices:
        config["enum"] = choices
    names = _collections(row)
    if names:
        config["collection"] = names[0] if len(names) == 1 else names
    return config, None


def schema_from_rows(rows):
    """``(raw schema, problems)`` of the non-blank ``rows``; each problem is ``(row, message)``.

    Problems here are the ones only the form can have (a row without a name, a name used
    twice, options that are not a JSON object); the schema's own rules are the API's.
    """
    properties, required, problems = {}, [], []
    for row in rows:
        if row.is_blank():
            continue
        if not row.name:
            problems.append((row, "name: required"))
            continue
        if row.name in properties:
            problems.append((row, f"name: {row.name!r} is used by another field"))
            continue
        config, problem = _row_config(row)
        if problem:
            problems.append((row, problem))
            continue
        properties[row.name] = config
        if row.listed if row.stored is not None else row.required:
            required.append(row.name)
    schema = {"type": "object", "properties": properties}
    if required:
        schema["required"] = required
    return schema, problems


def attach_errors(rows, details, where="schema"):
    """Put each ``{field, message}`` of the API's details also on the row of the field it names.

    Returns:
        The details that name no row (a collection-level one, or a field's name).
    """
    by_name = {row.name: row for row in rows if row.name}
    unplaced = []
    prefix = f"{where}.properties."
    for detail in details:
        path = detail.get("field") or ""
        name, _, rest = path[len(prefix):].partition(".") if path.startswith(prefix) else ("", "", "")
        row = by_name.get(name)
        if row is None:
            unplaced.append(detail)
        else:
            row.errors.append(f"{rest or 'name'}: {detail.get('message')}")
    return unplaced
