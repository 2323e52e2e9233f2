"""Repeatable values of the content form: lists of simple items and arrays of blocks.

A list (``type: array`` whose ``items`` are text, numbers or dates) is one input per item,
all named ``data.<field>``: the posted order is the order on screen, an emptied input
drops its item, and the form always offers one empty input to add an item.

A block array (``type: array`` with ``blocks``) is one fieldset per block, its inputs named
``data.<field>.<n>.<property>`` beside ``_type`` (the block type, the discriminator's
value), ``_position`` and ``_remove``. Without script a block is added by choosing its type
in ``data.<field>._add`` and saving; the browser's script adds, removes and reorders blocks
in place and keeps the positions in step.
"""

import json
from dataclasses import dataclass, field

LIST_ITEM_CONTROLS = {
    "string": "text", "text": "text", "email": "text", "url": "text", "slug": "text", "color": "text",
    "number": "number", "integer": "number", "date": "date",
}
PROPERTY_CONTROLS = {
    **LIST_ITEM_CONTROLS, "textarea": "textarea", "richtext": "textarea", "markdown": "textarea",
    "boolean": "checkbox", "checkbox": "checkbox", "select": "select", "radio": "select",
}
DEFAULT_DISCRIMINATOR = "blockType"
MAX_BLOCKS = 200


@dataclass
class BlockInput:
    """One property of a block: its name, label, control and the value shown."""

    name: str
    label: str
    control: str
    value: object = ""
    choices: tuple = ()


@dataclass
class BlockRow:
    """One block as the form shows it (``index`` numbers its inputs)."""

    index: int | str
    type: str
    label: str
    position: int | str
    inputs: list = field(default_factory=list)


def textarea_text(raw, stored=None):
    """A posted textarea's text with the line breaks it had: browsers send every one as
    CRLF, so an unchanged save would otherwise turn each LF into CRLF. Text equal to
    ``stored`` (posted back unchanged, whatever its breaks) is kept as it is."""
    return raw if raw == stored else raw.replace("\r\n", "\n")


def parse_number(text):
    """``text`` as an int or float; the text itself when it is neither (the service says why)."""
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def discriminator_of(config):
    """The key naming a block's type (``blockType`` unless the field says otherwise)."""
    return config.get("discriminator") or DEFAULT_DISCRIMINATOR


def form_values(raw):
    """Every value of a form field as read (None, one string or a list of them): a list."""
    if raw is None:
        return []
    return raw if isinstance(raw, list) else [raw]


def list_from_form(form, key, config):
    """The items posted under ``key``, in order, empty inputs left out."""
    items = config.get("items") if isinstance(config.get("items"), dict) else {}
    numeric = items.get("type") in ("number", "integer")
    values = [value.strip() for value in form_values(form.get(key)) if isinstance(value, str) and value.strip()]
    return [parse_number(value) for value in values] if numeric else values


def _shown(control, value):
    if control == "checkbox":
        return bool(value)
    if value is None:
        return ""
    if control == "json" or not isinstance(value, str | int | float):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def _inputs(block, item):
    """The BlockInputs of ``block``'s properties, filled from ``item``."""
    inputs = []
    for name, config in (block.get("properties") or {}).items():
        config = config if isinstance(config, dict) else {}
        control = PROPERTY_CONTROLS.get(config.get("type", "string"), "json")
        choices = tuple(zip(config.get("enum") or [], config.get("enumLabels") or config.get("enum") or []))
        inputs.append(BlockInput(name, config.get("title") or name.replace("_", " ").capitalize(), control,
                                 _shown(control, item.get(name)), choices))
    return inputs


def block_types(config):
    """``[(type, label)]`` of a block array's block types."""
    blocks = config.get("blocks") if isinstance(config.get("blocks"), dict) else {}
    return [(name, (block or {}).get("label") or name) for name, block in blocks.items()]


def blocks_shown(config, value):
    """``(BlockRows of the stored blocks, [(type, label, empty BlockRow)] to add one of each type)``."""
    blocks = config.get("blocks") if isinstance(config.get("blocks"), dict) else {}
    key = discriminator_of(config)
    rows = []
    for index, item in enumerate(value if isinstance(value, list) else []):
        item = item if isinstance(item, dict) else {}
        kind = str(item.get(key) or "")
        block = blocks.get(kind) if isinstance(blocks.get(kind), dict) else {}
        rows.append(BlockRow(index, kind, block.get("label") or kind or "?", index + 1, _inputs(block, item)))
    # The blocks the script adds are numbered by it: "__n__" is the number it puts in.
    types = tuple(
        (name, label, BlockRow("__n__", name, label, "", _inputs(blocks.get(name) or {}, {})))
        for name, label in block_types(config)
    )
    return rows, types


def _one(value):
    values = form_values(value)
    return values[-1] if values else None


def _posted_blocks(form, key):
    """``{block number: {input: value}}`` of the inputs named ``key.<n>.<input>``."""
    prefix = key + "."
    found = {}
    for name, value in form.items():
        if not name.startswith(prefix):
            continue
        number, _, part = name[len(prefix):].partition(".")
        if number.isdecimal() and len(number) < 5 and part:
            found.setdefault(int(number), {})[part] = _one(value)
    return dict(sorted(found.items())[:MAX_BLOCKS])


def _property(control, raw):
    """The stored value of one posted block input (None: leave it out)."""
    if control == "checkbox":
        return raw is not None
    text = textarea_text(raw or "") if control == "textarea" else (raw or "").strip()
    if text == "":
        return None
    if control == "number":
        return parse_number(text)
    if control == "json":
        try:
            return json.loads(text)
        except ValueError:
            return text  # kept as typed: the service says what it must be
    return text


def block_rows_from_form(form, key, config):
    """The blocks posted under ``key``, in their chosen order, removed ones left out, plus
    an empty block of the type chosen in ``key._add``."""
    blocks = config.get("blocks") if isinstance(config.get("blocks"), dict) else {}
    discriminator = discriminator_of(config)
    placed = []
    for number, values in _posted_blocks(form, key).items():
        if values.get("_remove"):
            continue
        kind = values.get("_type") or ""
        item = {discriminator: kind}
        for name, prop in ((blocks.get(kind) or {}).get("properties") or {}).items():
            control = PROPERTY_CONTROLS.get((prop or {}).get("type", "string"), "json")
            value = _property(control, values.get(name))
            if value is not None:
                item[name] = value
        position = (values.get("_position") or "").strip()
        placed.append((int(position) if position.isdecimal() else 10**6 + number, -number, item))
    items = [item for _, _, item in sorted(placed, key=lambda entry: entry[:2])]
    added = _one(form.get(key + "._add"))
    if added in blocks:
        items.append({discriminator: added})
    return items
