"""The field builder: a schema's fields as rows of form inputs, and back.

The collection editor builds a collection schema's fields with it, and the forms editor a
form's fields. What an editor offers is its ``Builder``: the types (each form field type,
for a form) and which parts a row has (a collection field's ``indexed`` and ``sortable``
flags and its referenced collections; whether a schema's ``required`` list may say a field
is required, where a form only has each field's own ``"required": true``). Every other rule
below is the same for both.

Each field is one row of inputs named ``field-<n>.<part>``: its name, type (chosen by a human
label, ``TYPE_GROUPS``; the value posted is the type's name), label, whether it is required,
indexed or sortable, the choices of a select, the collection(s) a reference points to, the
common settings (``min``/``max``, ``minLength``/``maxLength``, ``placeholder``, ``helpText``:
``SETTINGS``), and every other setting of the field as a JSON object (an array's ``items`` or
``blocks``, a ``pattern``...), so any field the schema supports can be built without a control
per option. Each setting input says which types it fits (``SETTING_TYPES``): the page's script
shows only those, the page without script shows them all.
A row's number ``<n>`` keeps it tied to the stored field it was shown as; a number past
``ROW_NUMBER_DIGITS`` digits is a new row given a free number (``_row_indexes``), never
dropped. Rows are saved in the order of their ``position`` (the browser's script keeps it in step with
the order on screen; without script it is typed); a row marked ``remove`` is dropped. A post
carrying more fields than the builder's ``max_rows`` is refused whole (``row_limit_problem``),
never cut short; one of more rows than any page posts (``MAX_ROWS_POSTED_FACTOR``) is refused
as too large (413), as each row would be shown again.

A row posted back as it was shown keeps the field's stored entry as it is, so a save changes
only the fields that were edited; in an edited row, each input posted back as it was shown
keeps its key's stored value (``1.0`` stays ``1.0``, a list of one collection stays a list).
The rows only assemble the raw schema: whether it is valid is decided by the collections API's
own validation (a form's fields: the forms service's), so the editor shows exactly the API's
messages. The form adds only what the API cannot know: a row without a name, a name two
rows use, other settings that are no JSON object, a number input holding no number, and a
reference to a collection that does not exist, by name or id (a target the field already had is
kept, existing or not).

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

import itertools
import json
import math
import re
from dataclasses import dataclass, field

from app.admin.blocks import input_text, typed_position
from app.admin.choices import option_texts
from app.admin.pages import FormTooLarge
from app.services.collection_schema import FIELD_TYPES
from app.services.content.validation import listed_required, schema_properties

# Settings with an input of their own besides the type, label, flags, choices and collection:
# key -> how its text is read ("number", "count": a whole number of 0 or more, "text").
SETTINGS = {"min": "number", "max": "number", "minLength": "count", "maxLength": "count",
            "placeholder": "text", "helpText": "text"}
FLAGS = ("indexed", "sortable")
# Digits are ASCII ones: ``\d`` would take other scripts' digits, which int() and float() read.
DECIMAL = re.compile(r"-?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][-+]?[0-9]+)?")
# The most fields an editor saves (a ``Builder``'s ``max_rows`` by default): a post with more
# is refused whole, every row shown again, rather than cut short.
MAX_ROWS = 200
# A post carrying more rows than this many times ``MAX_ROWS`` (or the fields its editor
# saves or was shown, when more), blank and removed ones included, is no page's (the script
# adds rows one at a time): every row posted is shown again on a refusal, so it is refused as
# a form too large before one is built.
MAX_ROWS_POSTED_FACTOR = 2
# A row keeps the number its inputs are posted with up to this many digits; a longer one (a
# script counting on past a forged number) is given a free one (``_row_indexes``).
ROW_NUMBER_DIGITS = 4

# The type choice, grouped, each type with the label people know it by.
TYPE_GROUPS = (
    ("Text", (("string", "Text"), ("textarea", "Long text"), ("text", "Text (plain, as SonicJS's text)"),
              ("slug", "Slug"), ("email", "Email"), ("url", "URL"), ("color", "Colour"))),
    ("Rich text", (("markdown", "Rich text (Markdown)"), ("easymde", "Rich text (Markdown, EasyMDE)"),
                   ("mdxeditor", "Rich text (Markdown, MDXEditor)"), ("richtext", "Rich text (HTML)"),
                   ("quill", "Rich text (WYSIWYG, HTML: Quill)"),
                   ("tinymce", "Rich text (WYSIWYG, HTML: TinyMCE)"))),
    ("Numbers and dates", (("number", "Number"), ("integer", "Whole number"), ("date", "Date"),
                           ("datetime", "Date and time"))),
    ("Choices", (("boolean", "Yes/No"), ("checkbox", "Yes/No (checkbox)"), ("select", "Choice (dropdown)"),
                 ("radio", "Choice (radio)"), ("multiselect", "Several choices"))),
    ("Links and files", (("reference", "Reference"), ("media", "Media"), ("file", "File"))),
    ("Structured", (("json", "JSON"), ("object", "Object"), ("array", "List (array)"))),
)
# A type the schema takes that has no label here yet is still offered, as itself.
_UNLABELLED = sorted(FIELD_TYPES - {name for _, types in TYPE_GROUPS for name, _ in types})
TYPE_GROUPS += (("Other", tuple((name, name) for name in _UNLABELLED)),) if _UNLABELLED else ()
_TEXTS = ("string", "textarea", "text", "slug", "email", "url", "color", "markdown", "easymde", "mdxeditor",
          "richtext", "quill", "tinymce")
# Which types each input fits; an input not listed fits every type.
SETTING_TYPES = {
    "enum": ("select", "radio", "multiselect"),
    "collection": ("reference",),
    "min": ("number", "integer"), "max": ("number", "integer"),
    "minLength": _TEXTS, "maxLength": _TEXTS,
    "placeholder": (*_TEXTS, "number", "integer"),
}


class Builder:
    """What one editor's rows offer.

    Args:
        type_groups: the type choice, as ``TYPE_GROUPS``; a row whose type is none of them
            shows it as itself (a type set through the API, or one posted by hand).
        flags: the ``FLAGS`` a row has a box for (a form has none: they are for collections).
        references: whether a row has the referenced collections' select.
        required_list: whether the schema's ``required`` list may say a field is required
            (a form's fields say it only as ``"required": true``).
        max_rows: the most fields a save may carry (``row_limit_problem``).

    A key a row has no input for (a form's ``indexed``, ``collection``) is one of its
    other settings, in the options' JSON.
    """

    def __init__(self, type_groups, flags=FLAGS, references=True, required_list=True, max_rows=MAX_ROWS):
        self.max_rows = max_rows
        self.type_groups = tuple((group, types) for group, types in type_groups if types)
        self.type_labels = {name: label for _, types in self.type_groups for name, label in types}
        self.flags = tuple(flags)
        self.references = references
        self.required_list = required_list
        # Each setting's types, among the ones offered (the page's script shows a setting
        # for those only); a part the rows do not have is left out.
        parts = {part: types for part, types in SETTING_TYPES.items() if part != "collection" or references}
        self.setting_types = {part: tuple(name for name in types if name in self.type_labels)
                              for part, types in parts.items()}
        # Keys with an input of their own; everything else a field says goes into its options.
        self.own_inputs = ("type", "title", "required", "enum", *(("collection",) if references else ()),
                           *SETTINGS, *self.flags)
        self.row_part = re.compile(r"^field-([0-9]+)\.(name|options|position|remove|"
                                   + "|".join(self.own_inputs) + ")$")

    def limited_to(self, types, **parts):
        """A builder offering only ``types`` of this one's (in its groups and labels), with
        ``parts`` (``flags``, ``references``, ``required_list``, ``max_rows``) in place of its own."""
        groups = tuple((group, tuple((name, label) for name, label in labelled if name in types))
                       for group, labelled in self.type_groups)
        settings = {"flags": self.flags, "references": self.references, "required_list": self.required_list,
                    "max_rows": self.max_rows}
        return Builder(groups, **{**settings, **parts})


COLLECTION_FIELDS = Builder(TYPE_GROUPS)


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
        collection: the referenced collection(s), in order.
        settings: the text of each ``SETTINGS`` input (``{"min": "1.5"}``); a key is
            missing when it was not set, or is set to a value its input cannot show (then the
            options hold it).
        flags: the ``FLAGS`` ticked.
        options: the field's other settings as a JSON object ("" when none).
        position: where the row goes (1-based).
        errors: messages about this field from the last save.
        stored: the schema entry the row was shown from, kept as it is when the row is
            posted back unchanged (``rows_from_form``).
        listed: whether the schema's ``required`` list names the field (with ``stored``:
            an unchanged row is listed there as it was).
        shown: in a posted row, the row it was shown as (None for a new one): an input posted
            back as shown keeps its key's stored value.
        builder: the ``Builder`` whose inputs the row has.
    """

    index: int
    name: str = ""
    type: str = "string"
    title: str = ""
    required: bool = False
    enum: str = ""
    shown_enum: list = field(default_factory=list)
    collection: list = field(default_factory=list)
    settings: dict = field(default_factory=dict)
    flags: frozenset = frozenset()
    options: str = ""
    position: int = 0
    errors: list = field(default_factory=list)
    stored: dict | None = None
    listed: bool = False
    shown: "FieldRow | None" = None
    builder: Builder = COLLECTION_FIELDS

    @property
    def typed_choices(self):
        """Whether a stored choice is shown as other than its text: a number, a boolean, or a
        text written as JSON (the page says a typed line is text)."""
        return any(not isinstance(value, str) or value != line
                   for value, line in zip(self.shown_enum, choice_lines(self.shown_enum)))

    def errors_on(self, part):
        """The row's messages about its input ``part`` (``name``, one of its builder's ``own_inputs`` or
        ``options``). A message names what it is about (``name: required``, ``maxLength: ...``,
        ``enum[2]: ...``), by its path's first key: a key without an input of its own is
        written in the options' JSON, so it is theirs."""
        return [error for error in self.errors if self._input_of(error) == part]

    def _input_of(self, error):
        """The input a message is about; a key set only in the options (its own input empty)
        is theirs, since that is where it was typed."""
        own_inputs = self.builder.own_inputs
        key = _input_of(error, own_inputs)
        if key in own_inputs and key != "type" and not self._holds(key) and key in _option_keys(self.options):
            return "options"
        return key

    def _holds(self, key):
        """Whether the row's own input for ``key`` holds a value."""
        if key in SETTINGS:
            return bool(str(self.settings.get(key) or "").strip())
        if key in self.builder.flags:
            return key in self.flags
        return bool({"title": self.title, "required": self.required, "enum": self.enum.strip(),
                     "collection": self.collection}.get(key))

    def is_blank(self):
        """True for a row nothing was typed or chosen in (the empty row the page offers, its
        type left at ``string``): a type chosen or the required box ticked makes a field whose
        name is missing, never one dropped without a word."""
        return not (self.name or self.title or self.enum.strip() or self.collection or self.options
                    or any(self.settings.values()) or self.flags or self.required or self.type != "string")


def _input_of(error, own_inputs):
    """The input a row's message is about: the first key of its path (``enum`` of
    ``enum[2]``, ``items`` of ``items.type``), the options when it has none of its own
    among ``own_inputs``."""
    key = re.match(r"[^.\[:]*", error).group(0)
    return key if key in ("name", *own_inputs) else "options"


def _option_keys(options):
    """The keys of a row's options JSON (none when it is no JSON object)."""
    try:
        config = json.loads(options) if options else {}
    except (ValueError, RecursionError):
        return set()
    return set(config) if isinstance(config, dict) else set()


def _setting_text(kind, value):
    """The text a ``SETTINGS`` input shows for ``value``; None when it cannot show it."""
    if kind == "text":
        return value if isinstance(value, str) else None
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return json.dumps(value)


def _setting_value(key, kind, text):
    """``(value, problem)`` of a typed ``SETTINGS`` input."""
    if kind == "text":
        return text, None
    if kind == "count":
        if re.fullmatch(r"[0-9]{1,15}", text):
            return int(text), None
        return None, f"{key}: must be a whole number, 0 or more (got {text!r})"
    # Any whole number is read as one: a float would round one of 16 digits or more.
    if re.fullmatch(r"-?[0-9]{1,40}", text):
        return int(text), None
    # A decimal as JSON writes one: ``float`` alone would also take "1_0", "inf" and "nan".
    if len(text) <= 40 and DECIMAL.fullmatch(text) and math.isfinite(float(text)):
        return float(text), None
    return None, f"{key}: must be a number such as 0, 10 or 2.5 (got {text!r})"


def rows_from_schema(schema, builder=COLLECTION_FIELDS):
    """The ``builder`` rows of ``schema``'s fields, in their order."""
    schema = schema if isinstance(schema, dict) else {}
    # A schema written by SQL past the API's check may hold a required list or properties
    # of other shapes: names that are no text require nothing, properties that are no object none.
    required = listed_required(schema) if builder.required_list else set()
    own_inputs, flag_names = builder.own_inputs, builder.flags
    rows = []
    for index, (name, config) in enumerate((schema_properties(schema) or {}).items()):
        config = config if isinstance(config, dict) else {}
        collection = (config.get("collection") or []) if builder.references else []
        settings = {key: _setting_text(kind, config[key]) for key, kind in SETTINGS.items() if key in config}
        settings = {key: text for key, text in settings.items() if text is not None}
        flags = frozenset(flag for flag in flag_names if config.get(flag) is True)
        # A setting its input cannot show (a label that is no text, a flag that is no true)
        # stays in the options, as it is: left out of the row, an edit would drop it.
        others = {key: value for key, value in config.items()
                  if key not in own_inputs or (key in SETTINGS and key not in settings)
                  or (key in flag_names and config[key] is not True) or not _shown_as_input(key, value)}
        enum = config.get("enum") if isinstance(config.get("enum"), list) else []
        title, kind = config.get("title"), config.get("type")
        rows.append(FieldRow(
            # No type (or one that is no text) is shown as none: shown as the first type, the
            # field chosen as that type would be posted back as shown, its stored entry kept.
            index=index, name=name, type=kind if isinstance(kind, str) else "",
            title=title if isinstance(title, str) else "",
            required=config.get("required") is True or name in required,
            enum="\n".join(choice_lines(enum)), shown_enum=enum,
            collection=[str(name) for name in collection] if isinstance(collection, list) else [str(collection)],
            settings=settings, flags=flags,
            options=json.dumps(others, ensure_ascii=False) if others else "", position=index + 1,
            stored=config, listed=name in required, builder=builder,
        ))
    return rows


def _shown_as_input(key, value):
    """Whether the input of the type, label, ``required`` or choices can show ``value``: a
    text, a boolean, a list (any other key's is decided by its own rule)."""
    kinds = {"type": str, "title": str, "required": bool, "enum": list}
    return key not in kinds or isinstance(value, kinds[key])


def blank_row(rows, builder=COLLECTION_FIELDS, stored=()):
    """An empty ``builder`` row numbered after ``rows`` and the ``stored`` fields' rows, for a
    new field.

    A row posted is read against the stored row of its number: the empty row shown after a
    refusal must not take the number of a stored field removed from the page, or what is
    typed into it would be that field edited (its choices' types, its kept values).
    """
    index = max((row.index for row in (*rows, *stored)), default=-1) + 1
    return FieldRow(index=index, position=len(rows) + 1, builder=builder)


def rows_to_show(rows, builder=COLLECTION_FIELDS, stored=()):
    """``rows`` and, unless one of them is empty already, an empty row after them for a new
    field (``blank_row``): a refused save posts the empty row back, and another each time
    would pile them up."""
    if any(row.is_blank() for row in rows):
        return list(rows)
    return [*rows, blank_row(rows, builder, stored)]


def _text(value):
    if isinstance(value, list):
        value = value[-1] if value else ""
    return value if isinstance(value, str) else ""


def rows_from_form(form, stored=(), builder=COLLECTION_FIELDS):
    """The rows of a posted builder form, in their chosen order, removed ones left out.

    Every row posted is read: past the builder's ``max_rows`` the save is refused
    (``row_limit_problem``), with each of them shown again, never a row cut off. Past
    ``MAX_ROWS_POSTED_FACTOR`` times ``MAX_ROWS`` (or the ``stored`` rows, when more), the
    post is no page's and is refused whole as too large: showing each row again would
    make a page of hundreds of megabytes.

    Raises:
        FormTooLarge: more rows posted than that (413).

    Args:
        builder: the ``Builder`` the rows were shown with: an input it has not is ignored.
        stored: the rows the form was filled with (``rows_from_schema``): a label posted
            back unchanged keeps its stored text, spaces and line breaks (which an input
            cannot hold) and all; a typed one is trimmed. A row posted back unchanged keeps
            its stored schema entry as it is.
    """
    shown = {row.index: row for row in stored}
    parts = {}
    for key, value in form.items():
        matched = builder.row_part.match(key)
        if matched:
            # The number's digits, never read as an int before their length is checked.
            number, part = matched.group(1).lstrip("0") or "0", matched.group(2)
            # The collection select may post several names; every other input posts one text.
            parts.setdefault(number, {})[part] = _names(value) if part == "collection" else _text(value)
    if len(parts) > MAX_ROWS_POSTED_FACTOR * max(MAX_ROWS, builder.max_rows, len(shown)):
        raise FormTooLarge()
    indexes, unplaced = _row_indexes(parts, shown)
    rows = []
    for number, values in sorted(parts.items(), key=lambda item: (len(item[0]), item[0])):
        if values.get("remove"):
            continue
        index = indexes[number]
        position = values.get("position", "").strip()
        before = shown.get(index)
        row = FieldRow(
            index=index, name=values.get("name", "").strip(), type=values.get("type", "string").strip(),
            title=input_text(values.get("title", ""), before.title if before else None),
            required=bool(values.get("required")), enum=values.get("enum", ""),
            shown_enum=before.shown_enum if before else [],
            collection=values.get("collection", []),
            settings={key: input_text(values.get(key, ""), before.settings.get(key) if before else None)
                      for key in SETTINGS if values.get(key, "").strip() or (before and key in before.settings)},
            flags=frozenset(flag for flag in builder.flags if values.get(flag)),
            options=values.get("options", "").strip(),
            position=typed_position(position, unplaced[number]), shown=before, builder=builder,
        )
        if before is not None and set(row.collection) == set(before.collection):
            # The browser posts the selected targets in page order: the same targets are the
            # stored list, in its order.
            row.collection = list(before.collection)
        if before is not None and _settings(row) == _settings(before):
            row.stored, row.listed = before.stored, before.listed
        rows.append(row)
    # On a tie the later row wins the place: typing a row's new position moves it there,
    # before the row that held it when moving up, after it when moving down.
    rows.sort(key=lambda row: (row.position, -row.index))
    for place, row in enumerate(rows, start=1):
        row.position = place
    return rows


def renamed_fields(rows):
    """``{name shown: name posted}`` of the posted ``rows`` whose field was renamed."""
    return {row.shown.name: row.name for row in rows
            if row.shown is not None and row.shown.name and row.name and row.name != row.shown.name}


def row_limit_problem(rows, builder=COLLECTION_FIELDS, where="schema.properties", stored=0):
    """The ``{field, message}`` refusing ``rows`` that carry more fields than ``builder``
    saves (``max_rows``; the empty rows count for nothing), None when they carry no more.

    Args:
        where: the path of the fields, as the problem list names it (``fields`` for a form's).
        stored: how many fields the edited schema holds: one given more elsewhere (the
            collections API has no such limit) saves with as many, never refused untouched.
    """
    fields = sum(not row.is_blank() for row in rows)
    limit = max(builder.max_rows, stored)
    if fields <= limit:
        return None
    return {"field": where, "message": f"this editor saves at most {limit} fields, and {fields} were "
                                      f"sent: remove {fields - limit} and save again (nothing was saved)"}


def _row_indexes(numbers, stored):
    """``(index, unplaced position)`` by row number, of the posted row ``numbers`` (digits).

    A number of up to ``ROW_NUMBER_DIGITS`` digits is the row's index. A longer one is given
    the first number no posted row and no ``stored`` row has (a stored field removed from the
    page included: its number would make the row that field edited), in their order: a page
    holding a forged ``field-9999`` has its script add ``field-10000``, which is a new row,
    not one dropped. Without a position typed, rows keep the order of their numbers.
    """
    indexes = {number: int(number) for number in numbers if len(number) <= ROW_NUMBER_DIGITS}
    taken = {*indexes.values(), *stored}
    free = (index for index in itertools.count() if index not in taken)
    unplaced = {number: 10**6 + index for number, index in indexes.items()}
    longer = sorted((number for number in numbers if number not in indexes), key=lambda number: (len(number), number))
    for place, number in enumerate(longer):
        indexes[number] = next(free)
        unplaced[number] = 10**6 + 10**ROW_NUMBER_DIGITS + place
    return indexes, unplaced


def _names(value):
    """The collection names a select posted (one, several or none), blank ones left out."""
    values = value if isinstance(value, list) else [value]
    return [name.strip() for name in values if isinstance(name, str) and name.strip()]


def _settings(row):
    """What a row says of its field, as its inputs post it (the position aside)."""
    settings = {key: text for key, text in row.settings.items() if text}
    return (row.name, row.type, row.title, row.required, _choices(row), row.collection, settings, row.flags,
            row.options)


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


def _row_config(row, known_collections=None):
    """``(schema entry, problems)`` of one row; the entry is None when a problem is the form's
    own (options that are not a JSON object, a number that is none).

    A row posted back as it was shown keeps its stored entry as it is: the inputs would
    rebuild it in another shape (a list of one collection as its name, an empty label left
    out). In an edited row, each input posted back as shown keeps its key's stored value, and
    each choice still listed its stored type (``_enum``).
    """
    if row.stored is not None:
        return dict(row.stored), []
    config = {}
    if row.options:
        try:
            config = json.loads(row.options)
        except ValueError as ex:
            return None, [f"options: not valid JSON ({ex.msg})"]
        if not isinstance(config, dict):
            return None, ['options: must be a JSON object such as {"maxLength": 80}']
    before = row.shown
    kept = before.stored if before is not None and isinstance(before.stored, dict) else {}
    config["type"] = row.type
    if before is not None and row.title == before.title and isinstance(kept.get("title"), str):
        config["title"] = kept["title"]  # an empty label posted back as shown stays
    elif row.title:
        config["title"] = row.title
    if before is not None and row.required == before.required:
        # Unchanged: said where it was said (the field's own flag, the schema's list, or both).
        if kept.get("required") is True:
            config["required"] = True
    elif row.required:
        config["required"] = True
    problems = []
    for key, kind in SETTINGS.items():
        text = row.settings.get(key, "")
        if before is not None and key in before.settings and text == before.settings[key] and key in kept:
            config[key] = kept[key]
        elif text:
            config[key], problem = _setting_value(key, kind, text)
            problems += [problem] if problem else []
    for flag in row.builder.flags:
        if flag in row.flags:
            config[flag] = True
    choices = _enum(row)
    if choices:
        config["enum"] = choices
    shown_names = before.collection if before is not None else []
    if row.collection and set(row.collection) == set(shown_names) and "collection" in kept:
        config["collection"] = kept["collection"]
    elif row.collection:
        config["collection"] = row.collection[0] if len(row.collection) == 1 else list(row.collection)
    if known_collections is not None:
        # The targets as saved: chosen in the select or typed in the options' JSON.
        targets = config.get("collection")
        targets = targets if isinstance(targets, list) else [targets]
        problems += [f"collection: there is no collection named {name!r}" for name in targets
                     if isinstance(name, str) and name not in known_collections and name not in shown_names]
    return (None if problems else config), problems


def _is_listed(row):
    """Whether the schema's ``required`` list names the row's field."""
    if not row.builder.required_list:
        return False
    if row.stored is not None:
        return row.listed
    if row.shown is not None and row.required == row.shown.required:
        return row.shown.listed
    return row.required


def schema_from_rows(rows, known_collections=None, required_order=()):
    """``(raw schema, problems)`` of the non-blank ``rows``; each problem is ``(row, message)``.

    The schema's ``required`` list keeps the order of ``required_order`` (the stored list)
    for the names it still holds, newly required fields after them in the rows' order: a
    save must not rewrite a list nobody changed.

    Problems here are the ones only the form can have (a row without a name, a name used
    twice, options that are not a JSON object, a number input holding no number, a reference
    to a collection not in ``known_collections`` (names and ids) when given); the schema's own
    rules are the API's. A target the field already had is kept whether or not it exists: the API takes
    one, and a save must not refuse what nobody changed.
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
        config, messages = _row_config(row, known_collections)
        problems += [(row, message) for message in messages]
        if config is None:
            continue
        properties[row.name] = config
        if _is_listed(row):
            required.append(row.name)
    schema = {"type": "object", "properties": properties}
    if required:
        stored_place = {name: place for place, name in reversed(list(enumerate(required_order)))}
        schema["required"] = sorted(required, key=lambda name: stored_place.get(name, len(stored_place)))
    return schema, problems


def listed_problems(problems, prefix="schema.properties."):
    """The ``{field, message}`` each of ``schema_from_rows``'s ``(row, message)`` problems is
    listed as above the form: by its full path, then the message, as the API's own problems
    are (``schema.properties.price.min: must be a number...``).

    Args:
        prefix: what the path of a field starts with, before its name (``fields.`` for a form's).

    A problem with the name or with the options (the field's other settings as a whole) is the
    field's, at its own path; a row without a name has no path, and is called by its place,
    as its legend says (``Field 2``).
    """
    details = []
    for row, message in problems:
        key, _, text = message.partition(": ")
        if not row.name:
            details.append({"field": f"Field {row.position}", "message": message})
        elif key == "name":
            details.append({"field": prefix + row.name, "message": text})
        elif key == "options":
            details.append({"field": prefix + row.name, "message": f"options {text}"})
        else:
            details.append({"field": f"{prefix}{row.name}.{key}", "message": text})
    return details


def attach_errors(rows, details, prefix="schema.properties."):
    """Put each ``{field, message}`` of the API's details also on the row of the field it names.

    Args:
        prefix: what the path of a message about a field starts with, before the field's
            name (``fields.`` for a form's).

    Returns:
        The details that name no row (a collection-level one, or a field's name).
    """
    by_name = {row.name: row for row in rows if row.name}
    # The longest name first: a name holding a dot ("a.b", refused by the API) is its own
    # row's path, not a key "b" of the row "a".
    names = sorted(by_name, key=len, reverse=True)
    unplaced = []
    for detail in details:
        path = detail.get("field") or ""
        within = path[len(prefix):] if path.startswith(prefix) else None
        name = next((name for name in names if within == name or (within or "").startswith(name + ".")), None)
        if name is None:
            unplaced.append(detail)
        else:
            by_name[name].errors.append(f"{within[len(name) + 1:] or 'name'}: {detail.get('message')}")
    return unplaced
