"""The content edit form, generated from a collection's schema.

Each field of the schema's ``properties`` becomes one form control by its type: text
inputs for strings (email, url and slug too; a colour also gets a colour picker the script
keeps in step with its text), a textarea for long text, a Markdown editor for rich text (a
textarea with a toolbar and a server-rendered preview), an HTML editor for the types whose
editor writes HTML (``quill``, ``tinymce``: Quill over a textarea that stays the value), a
number input, a checkbox, a date input, a ``datetime-local`` input in UTC
(``datetime_input``), a select for choices (radio buttons for a ``radio``, checkboxes for a
multiselect), a media picker and a
reference picker (an id input the picker fills), a repeatable list for an array of simple
items and repeatable blocks for an array of ``blocks`` (whose HTML, datetime, colour and radio
properties get those same controls, ``blocks.SHARED_CONTROLS``), and a textarea of pretty-printed JSON for an
object or a JSON field, whose text must be JSON (``blocks.UnparsedJson``; an object's
properties are then the service's to check). Field types the form cannot edit (multiple
media or references, arrays of objects...) are shown read-only and keep their stored
value. A field's ``placeholder`` is shown in the controls a person types text into
(``blocks.placeholder_of``). A posted form becomes the API's ``data`` object: the stored data with the form's
fields replaced, so validation, messages and writes are the service's. What nobody edited
is stored again as it was (``blocks.posted_value``): text posted back as the form showed it
keeps its spaces and line breaks, a box left unticked whose value was never set stays
unset, and a stored null (or ``""``, ``[]``), shown as an empty control, stays as it is while
the control is left empty, in blocks too.

A new item's form starts from the defaults the schema declares (``defaults.with_defaults``
of empty data): they are shown filled in, and what the user leaves of them is saved. One
the user emptied is saved as ``null`` (``defaults_emptied``): left out, the service would
fill the default back in.

Without script every control still works: ids are typed, an empty item or block row adds
one, positions order them and a checkbox removes one.
"""

import json
import re
from dataclasses import dataclass, field

from app.admin.assets import QUILL_CSS, QUILL_JS
from app.admin.blocks import (
    CHOICE_CONTROLS,
    LIST_ITEM_CONTROLS,
    RICH_TEXT_TYPES,
    SHARED_CONTROLS,
    UnparsedJson,
    block_numbering,
    block_rows_from_form,
    blocks_shown,
    declared_type,
    form_values,
    has_html_property,
    kept_empty,
    list_from_form,
    one_value,
    placeholder_of,
    posted_value,
    shown_control,
    shown_empty,
    text_setting,
    typed_null,
)
from app.admin.choices import (
    choices_of,
    chosen_values,
    multiselect_choices,
    select_choices,
    shown_choices,
    shown_select,
)
from app.services.content.defaults import declared_defaults
from app.services.content.validation import listed_required, schema_properties

TEXT_TYPES = frozenset({"string", "text", "email", "url", "slug", "color"})
INPUT_TYPES = {"email": "email", "url": "url", "color": "text"}
# The vendored files the HTML editor needs, linked only by a form that has one.
HTML_EDITOR_ASSETS = (QUILL_CSS, QUILL_JS)
CONTROLS = {
    **dict.fromkeys(TEXT_TYPES, "text"),
    "textarea": "textarea",
    **dict.fromkeys(RICH_TEXT_TYPES, "richtext"),
    # The HTML editor, datetime, colour and radio controls, which blocks' properties share.
    **SHARED_CONTROLS,
    "number": "number",
    "integer": "number",
    "boolean": "checkbox",
    "checkbox": "checkbox",
    "date": "date",
    "select": "select",
    "multiselect": "multiselect",
    "media": "media",
    "file": "media",
    "reference": "reference",
    # Edited as JSON text: the service validates what it parses to (an object's properties too).
    "object": "json",
    "json": "json",
}
# Item columns the form edits itself; a schema field of the same name mirrors the column.
COLUMN_FIELDS = ("title", "slug")
# Controls showing their value as ``items``, one control each (``_repeated``).
REPEATED_CONTROLS = frozenset({"list", "multiselect", "blocks"})
DROP_FIELD = "drop"  # the boxes of leftover values to remove (``leftover_fields``)
FIELD_PREFIX = "data."


@dataclass
class FormField:
    """One control of the form.

    Attributes:
        name: the data key.
        label: what the label says.
        control: text, color, textarea, richtext, html, number, checkbox, date, datetime,
            select, radio, multiselect, media, reference, list, blocks, json or readonly.
        input_type: the ``type`` of a text input (text, email, url).
        value: the value shown (a string; for a checkbox, a bool; for a select or radio, its
            option's value; for a datetime, in UTC as a ``datetime-local`` input takes it).
        editor_html: what an HTML field's editor starts from: its HTML without style and event
            attributes or script (``html_clean.clean_editor_html``), which the page's
            Content-Security-Policy would refuse, and with what Quill's formats are made of;
            the textarea keeps the stored HTML, saved unchanged while nobody edits it.
        assets: the vendored files its control needs (``HTML_EDITOR_ASSETS``, for an HTML field
            or blocks with an HTML property), linked by the page.
        placeholder: the schema's ``placeholder``, for a control a person types text into.
        local: whether a datetime's value fits a ``datetime-local`` input (else a text input shows it).
        required: whether the schema requires it.
        choices: ``[(option value, label)]`` of a select, a radio group or a multiselect (``choices.select_choices``,
            ``choices.multiselect_choices``, ``choices.choices_of``).
        help: the schema's help text.
        error: the validation message of the last save.
        items: a list's values, a multiselect's ticked option values or a blocks field's ``BlockRow``s
            (with ``item_control`` the control of a list's items, ``block_types`` ``[(name, label, fields)]``).
        picked: what a picker's value points at (a media record or a content item), if found.
    """

    name: str
    label: str
    control: str
    input_type: str = "text"
    value: object = ""
    required: bool = False
    choices: tuple = ()
    help: str | None = None
    error: str | None = None
    items: list = field(default_factory=list)
    item_control: str = "text"
    block_types: tuple = ()
    next_block: int = 0
    picked: dict | None = None
    local: bool = True
    assets: tuple = ()
    editor_html: str = ""
    placeholder: str = ""


def control_of(config):
    """The control of a field's schema entry (read-only for a type that is no text, which a
    hand-written schema may hold: ``blocks.declared_type``)."""
    field_type = declared_type(config)
    if config.get("multiple") is True and field_type in ("media", "file", "reference", "select"):
        return "readonly"
    if field_type == "array":
        if isinstance(config.get("blocks"), dict):
            return "blocks"
        items = config.get("items")
        if items is None or (isinstance(items, dict) and declared_type(items) in LIST_ITEM_CONTROLS):
            return "list"
        return "readonly"
    return CONTROLS.get(field_type, "readonly")


def required_names(schema):
    """Names the schema requires, by either spelling (``required: true`` or the ``required`` list)."""
    names = listed_required(schema)
    for name, config in (schema_properties(schema) or {}).items():
        if isinstance(config, dict) and config.get("required") is True:
            names.add(name)
    return names


_PLAIN_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def is_plain_date(value):
    """Whether a date input can show ``value`` (empty, or ``YYYY-MM-DD``).

    A browser empties a date input holding anything else (a date-time the API stored), and
    the form would then save the field as removed: such a value is shown in a text input.
    """
    return value in ("", None) or (isinstance(value, str) and _PLAIN_DATE.fullmatch(value) is not None)


def _shown(control, value, was_set=False):
    if control == "checkbox":
        return bool(value)
    if isinstance(value, UnparsedJson):
        return value.text  # refused, shown again as typed
    if control == "json":
        # A stored null is shown as JSON writes it: posted back, it stays (``blocks.typed_null``).
        return "" if value is None and not was_set else _json_text(value)
    if value is None or control in REPEATED_CONTROLS:
        return ""  # a list, a multiselect or blocks shows its ``items``
    if control == "readonly":
        return json.dumps(value, ensure_ascii=False, indent=1)
    # A number, boolean or object in a text control is shown as JSON, as the API returns it
    # (``true``, ``{"a": 1}``), never in Python's spelling; on one line, as an input holds it.
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


# Past this many characters a JSON field is shown compact: indented, a large value (the API
# takes 2 MiB) would be several times its size once the form URL-encodes its line breaks
# and indentation, past what the form may send, and its item could no longer be saved.
PRETTY_JSON_LIMIT = 64 * 1024


def _json_text(value):
    """``value`` as a JSON textarea shows it: indented while small, else compact (also when
    nested deeper than the indenting encoder can go)."""
    try:
        text = json.dumps(value, ensure_ascii=False, indent=2)
    except RecursionError:
        text = None
    if text is None or len(text) > PRETTY_JSON_LIMIT:
        text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return text


def form_fields(schema, data, errors=None, picked=None, numbering=None):
    """The controls for ``data`` under ``schema`` (title and slug are the item's own inputs).

    Args:
        picked: ``{field name: media record or content item}`` of picker values found.
        numbering: ``{field name: Numbering}`` of a refused form's blocks (``numbering_of``).
    """
    required = required_names(schema)
    errors = errors or {}
    fields = []
    for name, config in (schema_properties(schema) or {}).items():
        if name in COLUMN_FIELDS or not isinstance(config, dict):
            continue
        control = control_of(config)
        value = (data or {}).get(name)
        shown = (shown_select(config, value) if control in CHOICE_CONTROLS
                 else _shown(control, value, name in (data or {})))
        fields.append(FormField(
            name=name,
            label=text_setting(config, "title") or name.replace("_", " ").capitalize(),
            control=control,
            input_type=INPUT_TYPES.get(declared_type(config), "text"),
            **shown_control(control, shown),
            assets=_assets(control, config),
            placeholder=placeholder_of(control, config),
            required=name in required and control != "checkbox",
            choices=_choices(control, config, value),
            help=text_setting(config, "helpText") or text_setting(config, "description"),
            error=_error_of(errors, name),
            **_repeated(control, config, value, (numbering or {}).get(name)),
            picked=(picked or {}).get(name),
        ))
    return fields


def _assets(control, config):
    """The vendored files a control needs: the HTML editor's for an HTML field, and for blocks
    whose types have an HTML property (a block added on the page starts its editor too)."""
    if control == "html" or (control == "blocks" and has_html_property(config)):
        return HTML_EDITOR_ASSETS
    return ()


def _choices(control, config, value):
    """The ``[(option value, label)]`` of a select, radio or multiselect showing ``value``."""
    if control in CHOICE_CONTROLS:
        return select_choices(config, value)
    if control == "multiselect":
        return multiselect_choices(config, value)
    return choices_of(config)


def _error_of(errors, name):
    """The message about field ``name`` or, for lists and blocks, the first about one of its items."""
    for key in (FIELD_PREFIX + name, name):
        if key in errors:
            return errors[key]
    for key, message in errors.items():
        # An item of a list or block, or a property of an object field.
        if key.startswith((f"{FIELD_PREFIX}{name}[", f"{name}[", f"{FIELD_PREFIX}{name}.", f"{name}.")):
            return f"{key.removeprefix(FIELD_PREFIX)}: {message}"
    return None


def _repeated(control, config, value, numbering):
    """The extra FormField values of a list, blocks or multiselect control."""
    if control == "list":
        items = config.get("items") or {}
        return {"items": [_shown("text", item) for item in value] if isinstance(value, list) else [],
                "item_control": LIST_ITEM_CONTROLS.get(declared_type(items), "text")}
    if control == "blocks":
        rows, types, next_block = blocks_shown(config, value, numbering)
        return {"items": rows, "block_types": types, "next_block": next_block}
    if control == "multiselect":
        return {"items": shown_choices(config, value)}
    return {}


def leftover_fields(schema, data):
    """``[(name, value as JSON)]`` of ``data``'s values for fields ``schema`` no longer has
    (renamed or removed since): the form has no control for them, and the service refuses
    an item holding them, so the edit page lists them with a box to remove each."""
    declared = schema_properties(schema) or {}
    return [(name, json.dumps(value, ensure_ascii=False, indent=2)) for name, value in (data or {}).items()
            if name not in declared and name not in COLUMN_FIELDS]


def data_from_form(schema, form, current):
    """The ``data`` to save: ``current`` with every editable field of ``schema`` taken from ``form``.

    An emptied input removes the field (so "not set" stays distinguishable from ``""``, and
    a required field left empty gets the service's "is required"); one that showed a stored
    null, ``""`` or ``[]`` and was left empty keeps it (``blocks.kept_empty``). Leftover
    values of fields the schema no longer has are removed when their ``drop`` box is ticked.
    """
    data = dict(current or {})
    dropped = form_values(form.get(DROP_FIELD))
    for name, _ in leftover_fields(schema, data):
        if name in dropped:
            data.pop(name)
    for name, config in (schema_properties(schema) or {}).items():
        if name in COLUMN_FIELDS:
            if name in data:
                # Emptied, the service fills it from the item's title or slug, in its place:
                # the data's keys keep their stored order.
                data[name] = None
            continue
        if not isinstance(config, dict):
            continue
        control = control_of(config)
        if control == "readonly":
            continue
        if control == "multiselect":
            _put(data, name, chosen_values(config, form_values(form.get(FIELD_PREFIX + name)), data.get(name)))
            continue
        if control in ("list", "blocks"):
            read = list_from_form if control == "list" else block_rows_from_form
            _put(data, name, read(form, FIELD_PREFIX + name, config, data.get(name)))
            continue
        # What was typed is trimmed; a stored value posted back unchanged is kept as it is (a
        # null or "" left empty too), and a box left unticked whose value was never set stays unset.
        raw = one_value(form.get(FIELD_PREFIX + name))
        if kept_empty(control, raw, data.get(name), name in data, config):
            continue
        if control == "json" and raw is None:
            continue  # no textarea posted (a form made by hand): the stored value stays
        value = posted_value(control, raw, data.get(name), name in data, config)
        if value is not None or typed_null(control, raw):
            data[name] = value
        else:
            data.pop(name, None)
    return data


def numbering_of(schema, form, current):
    """``{field name: Numbering}`` of the blocks ``data_from_form`` read from ``form``, for the
    form shown again after a refused save: each block keeps its number and its place."""
    numbering = {}
    for name, config in (schema_properties(schema) or {}).items():
        if name not in COLUMN_FIELDS and isinstance(config, dict) and control_of(config) == "blocks":
            numbering[name] = block_numbering(form, FIELD_PREFIX + name, config, (current or {}).get(name))
    return numbering


def defaults_emptied(schema, data):
    """A new item's posted ``data`` with ``None`` for each field with a declared default that
    the form left out: the user emptied the filled-in default, and the service keeps a
    ``None`` where it would fill a field left out. The item's own title and slug are left
    to the service, which copies them into their data fields."""
    emptied = {name: None for name in declared_defaults(schema) if name not in data and name not in COLUMN_FIELDS}
    return {**data, **emptied}


def _put(data, name, values):
    """Set ``data[name]`` to ``values``; none removes it (not set), unless the form showed none
    either: a stored null, ``""`` or ``[]`` (``blocks.shown_empty``) posted back so stays as it is.
    A value that is no list (a multiselect's stored ``0`` or ``false`` kept as it is) is set."""
    if values or not isinstance(values, list):
        data[name] = values
    elif not (name in data and shown_empty(data[name])):
        data.pop(name, None)


def unparsed_json(data):
    """``[{"field", "message"}]`` of the JSON textareas in ``data`` whose text is no JSON and
    the number inputs past a double's range (``blocks.UnparsedJson``), worded as the service
    words its problems, fields included.

    Such an input is a field (``data.<field>``), a list's item (``data.<field>[<n>]``) or a
    block's property (``data.<field>[<n>].<property>``): only there is one looked for, never
    inside the values themselves, which may nest deeper than a walk of them could go."""
    problems = []
    for name, blocks in (data or {}).items():
        if isinstance(blocks, UnparsedJson):
            problems.append({"field": f"data.{name}", "message": blocks.reason})
            continue
        for place, block in enumerate(blocks if isinstance(blocks, list) else ()):
            if isinstance(block, UnparsedJson):  # a list of numbers' item
                problems.append({"field": f"data.{name}[{place}]", "message": block.reason})
            for key, value in (block.items() if isinstance(block, dict) else ()):
                if isinstance(value, UnparsedJson):
                    problems.append({"field": f"data.{name}[{place}].{key}", "message": value.reason})
    return problems


def errors_by_field(details):
    """``{field: message}`` of a ContentInvalid's ``[{"field", "message"}]`` details."""
    found = {}
    for problem in details or []:
        if isinstance(problem, dict) and problem.get("field"):
            found.setdefault(problem["field"], problem.get("message", "is invalid"))
    return found
