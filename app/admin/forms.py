"""The content edit form, generated from a collection's schema.

Each field of the schema's ``properties`` becomes one form control by its type: text
inputs for strings (email, url, slug, color too), a textarea for long and rich text, a
number input, a checkbox, a date or datetime input, a select for choices. Field types the
form cannot edit yet (media, references, arrays, objects, JSON...) are shown read-only and
keep their stored value. A posted form becomes the API's ``data`` object: the stored data
with the form's fields replaced, so validation, messages and writes are the service's.
"""

import json
from dataclasses import dataclass

from app.services.content.validation import schema_properties

TEXT_TYPES = frozenset({"string", "text", "email", "url", "slug", "color"})
LONG_TEXT_TYPES = frozenset({"textarea", "richtext", "markdown", "quill", "mdxeditor", "tinymce", "easymde"})
INPUT_TYPES = {"email": "email", "url": "url", "color": "text"}
CONTROLS = {
    **dict.fromkeys(TEXT_TYPES, "text"),
    **dict.fromkeys(LONG_TEXT_TYPES, "textarea"),
    "number": "number",
    "boolean": "checkbox",
    "checkbox": "checkbox",
    "date": "date",
    "datetime": "datetime",
    "select": "select",
    "radio": "select",
}
# Item columns the form edits itself; a schema field of the same name mirrors the column.
COLUMN_FIELDS = ("title", "slug")
FIELD_PREFIX = "data."


@dataclass
class FormField:
    """One control of the form.

    Attributes:
        name: the data key.
        label: what the label says.
        control: text, textarea, number, checkbox, date, datetime, select or readonly.
        input_type: the ``type`` of a text input (text, email, url).
        value: the value shown (a string; for a checkbox, a bool).
        required: whether the schema requires it.
        choices: ``[(value, label)]`` of a select.
        help: the schema's help text.
        error: the validation message of the last save.
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


def required_names(schema):
    """Names the schema requires, by either spelling (``required: true`` or the ``required`` list)."""
    names = set(schema.get("required") or []) if isinstance(schema, dict) else set()
    for name, config in (schema_properties(schema) or {}).items():
        if isinstance(config, dict) and config.get("required") is True:
            names.add(name)
    return names


def _shown(control, value):
    if control == "checkbox":
        return bool(value)
    if value is None:
        return ""
    if control == "readonly" or not isinstance(value, str | int | float):
        return json.dumps(value, ensure_ascii=False, indent=1)
    return str(value)


def form_fields(schema, data, errors=None):
    """The controls for ``data`` under ``schema`` (title and slug are the item's own inputs)."""
    required = required_names(schema)
    errors = errors or {}
    fields = []
    for name, config in (schema_properties(schema) or {}).items():
        if name in COLUMN_FIELDS or not isinstance(config, dict):
            continue
        field_type = config.get("type", "string")
        control = CONTROLS.get(field_type, "readonly")
        enum = config.get("enum") or []
        labels = config.get("enumLabels") or enum
        fields.append(FormField(
            name=name,
            label=config.get("title") or name.replace("_", " ").capitalize(),
            control=control,
            input_type=INPUT_TYPES.get(field_type, "text"),
            value=_shown(control, (data or {}).get(name)),
            required=name in required and control != "checkbox",
            choices=tuple(zip(enum, labels)),
            help=config.get("helpText") or config.get("description"),
            error=errors.get(FIELD_PREFIX + name) or errors.get(name),
        ))
    return fields


def _number(text):
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        return text  # the service answers "must be a number", the API's message


def data_from_form(schema, form, current):
    """The ``data`` to save: ``current`` with every editable field of ``schema`` taken from ``form``.

    Empty inputs remove the field (so "not set" stays distinguishable from ``""``, and a
    required field left empty gets the service's "is required").
    """
    data = dict(current or {})
    for name, config in (schema_properties(schema) or {}).items():
        if name in COLUMN_FIELDS:
            data.pop(name, None)  # the service fills them from the item's title and slug
            continue
        if not isinstance(config, dict):
            continue
        control = CONTROLS.get(config.get("type", "string"), "readonly")
        raw = form.get(FIELD_PREFIX + name)
        if isinstance(raw, list):
            raw = raw[-1] if raw else None
        if control == "readonly":
            continue
        if control == "checkbox":
            data[name] = raw is not None
            continue
        text = (raw or "").strip() if control != "textarea" else (raw or "")
        if text == "":
            data.pop(name, None)
        elif control == "number":
            data[name] = _number(text)
        else:
            data[name] = text
    return data


def errors_by_field(details):
    """``{field: message}`` of a ContentInvalid's ``[{"field", "message"}]`` details."""
    found = {}
    for problem in details or []:
        if isinstance(problem, dict) and problem.get("field"):
            found.setdefault(problem["field"], problem.get("message", "is invalid"))
    return found
