"""Repeatable values of the content form: lists of simple items and arrays of blocks.

A list (``type: array`` whose ``items`` are text, numbers or dates) is one input per item,
all named ``data.<field>``: the posted order is the order on screen, an emptied input
drops its item, and the form always offers one empty input to add an item.

A block array (``type: array`` with ``blocks``) is one fieldset per block, its inputs named
``data.<field>.<n>.<property>`` beside ``-type`` (the block type, the discriminator's
value), ``-position`` and ``-remove``: no property's name starts with ``-``, so none can
take one of the block's own inputs. Without script a block is added by choosing its type
in ``data.<field>._add`` and saving; the browser's script adds, removes and reorders blocks
in place and keeps the positions in step. A block's properties get the top-level field's
control for the types in ``SHARED_CONTROLS`` (the HTML editor, a ``datetime-local`` input in
UTC, a colour's text box and picker, radio buttons), shown and read by the same rules
(``shown_control``, ``posted_value``). A block's inputs are numbered by its place among
the stored blocks (one added on the page takes a number after them), so each posted block
is read against the stored one it shows: what was not edited keeps its stored value. A
refused save shows the blocks as posted, in their chosen order and under their numbers
(``block_numbering``), so saving again reads each against the same stored block. A property
without a control of its own is a JSON textarea, whose text must be JSON (``UnparsedJson``).
"""

import json
import math
import unicodedata
from dataclasses import dataclass, field

from app.admin.choices import choices_of, chosen_value, kept_current, offered, select_choices, shown_select
from app.admin.datetime_input import local_value, posted_datetime
from app.admin.html_clean import clean_editor_html
from app.api.request_guard import refused_value
from app.services.content.validation import MULTIPLE_TYPES, listed_required
from app.services.enums import same_value
from app.services.numbers import NUMBER_MESSAGE, out_of_range, posted_number

LIST_ITEM_CONTROLS = {
    "string": "text", "text": "text", "email": "text", "url": "text", "slug": "text", "color": "text",
    "number": "number", "integer": "number", "date": "date",
}
# The editor types whose editor writes HTML: edited in the HTML editor, not as Markdown.
HTML_TYPES = frozenset({"quill", "tinymce"})
# Rich text and the other editor types: text, edited in the content form's Markdown editor and
# in a plain textarea inside a block.
RICH_TEXT_TYPES = frozenset({"richtext", "markdown", "mdxeditor", "easymde"})
# Types whose control is the same at the top level and inside a block: the HTML editor (Quill
# over a textarea), a datetime-local input in UTC, a colour's text box with a picker beside
# it, and radio buttons.
SHARED_CONTROLS = {**dict.fromkeys(HTML_TYPES, "html"), "datetime": "datetime", "color": "color", "radio": "radio"}
# Controls of one option of ``choices``: a radio posts what a select would (its "No value"
# button the select's empty option), so both are read alike.
CHOICE_CONTROLS = frozenset({"select", "radio"})
PROPERTY_CONTROLS = {
    **LIST_ITEM_CONTROLS, "textarea": "textarea", **dict.fromkeys(RICH_TEXT_TYPES, "textarea"),
    "boolean": "checkbox", "checkbox": "checkbox", "select": "select", **SHARED_CONTROLS,
}
# Controls showing their value as text a person types into: the field's ``placeholder`` is theirs.
PLACEHOLDER_CONTROLS = frozenset({"text", "textarea", "richtext", "html", "number", "color", "datetime",
                                  "json", "list", "media", "reference"})
# Controls filled with multi-line text (a textarea): their line breaks come back as CRLF.
TEXTAREA_CONTROLS = frozenset({"textarea", "richtext", "html"})
# Property types a block edits as JSON (the form has no control of their own for them) whose
# values are text: text typed there without quotes is taken as that text, as an editor types
# an id. Any other JSON textarea refuses text that is no JSON.
TEXT_VALUED_JSON_TYPES = frozenset({"media", "file", "reference"})
DEFAULT_DISCRIMINATOR = "blockType"
MAX_BLOCKS = 200


@dataclass
class BlockInput:
    """One property of a block: its name, label, control, the value shown and why it was refused,
    with what ``shown_control`` adds (``local``, ``editor_html``), whether the block type
    requires it (radio buttons then offer no "No value") and its ``placeholder``."""

    name: str
    label: str
    control: str
    value: object = ""
    choices: tuple = ()
    error: str | None = None
    required: bool = False
    placeholder: str = ""
    local: bool = True
    editor_html: str = ""


@dataclass(frozen=True)
class UnparsedJson:
    """Text typed into a JSON textarea that is no JSON: the save is refused with ``reason``
    (``forms.unparsed_json``) and the form shows ``text`` again as it was typed. It is no
    JSON value, so it can never be stored by mistake."""

    text: str
    reason: str


@dataclass(frozen=True)
class UnrangedNumber(UnparsedJson):
    """A number typed into a number input past a double's range: refused as UnparsedJson is,
    with the API's message for such a number in a JSON body, and shown again as typed."""


@dataclass
class BlockRow:
    """One block as the form shows it (``index`` numbers its inputs)."""

    index: int | str
    type: str
    label: str
    position: int | str
    inputs: list = field(default_factory=list)


@dataclass(frozen=True)
class Numbering:
    """The numbers of a block array's blocks on the form.

    Attributes:
        numbers: each block's number, in the blocks' order.
        first_free: the first number after every stored block's (removed on the page or not)
            and every shown one's: a block added on the page takes it or a later one.
    """

    numbers: tuple
    first_free: int


def _lf(text):
    """``text`` with every line break as LF, as a textarea holds it (CRLF and lone CR alike)."""
    return text.replace("\r\n", "\n").replace("\r", "\n")


def textarea_text(raw, stored=None):
    """A posted textarea's text with LF line breaks: browsers send every break as CRLF, so
    an unchanged save would otherwise turn each LF into CRLF. ``stored`` (the text the
    textarea was filled with) is kept as it is when the posted text differs from it only by
    its line breaks: posted back unchanged, its own CRLFs or CRs must not become LFs."""
    text = _lf(raw)
    return stored if isinstance(stored, str) and _lf(stored) == text else text


def posted_back(raw, stored):
    """Whether an ``<input>`` filled with ``stored`` posted ``raw``: the text itself, or the
    text without its line breaks, which an input cannot hold (a browser drops them)."""
    return isinstance(stored, str) and raw in (stored, stored.replace("\r", "").replace("\n", ""))


def input_text(raw, stored=None):
    """A posted ``<input>``'s text, trimmed, or ``stored`` (the text the input was filled with)
    when it was posted back unchanged: its spaces and line breaks are kept."""
    return stored if posted_back(raw, stored) else raw.strip()


def checkbox_value(raw, was_set):
    """A posted checkbox's value: ticked or not; None (leave it unset) for a box left
    unticked whose value was never set, so an unchanged save adds no ``false``."""
    if raw is None and not was_set:
        return None
    return raw is not None


def parse_number(text):
    """``text`` as a number, read as JSON writes one (``numbers.posted_number``); the text
    itself when it writes none (the service says why, and a refused form shows it as typed);
    an UnrangedNumber for one past a double's range, which the API refuses in any body."""
    number = posted_number(text)
    if number is None:
        return text
    return UnrangedNumber(text, NUMBER_MESSAGE) if out_of_range(number) else number


def discriminator_of(config):
    """The key naming a block's type (``blockType`` unless the field names another as text)."""
    key = config.get("discriminator")
    return key if isinstance(key, str) and key else DEFAULT_DISCRIMINATOR


def declared_type(config):
    """The ``type`` a field's or property's schema entry names: ``"string"`` when it names
    none, None when it is no text. The API's schema check refuses any other, but a schema
    written to the database by hand may hold a list (``["string", "null"]``) or an object
    there, which names no control and could not even be looked up (it is unhashable)."""
    kind = config.get("type", "string")
    return kind if isinstance(kind, str) else None


def property_control(config):
    """The control of a block's property: its type's, else a JSON textarea."""
    return PROPERTY_CONTROLS.get(declared_type(config), "json")


def text_setting(config, key):
    """A schema entry's text setting (``title``, ``label``, ``helpText``), None when it holds
    no text: a hand-written schema's number or object would be shown in Python's spelling."""
    value = config.get(key)
    return value if isinstance(value, str) else None


def block_properties(block):
    """A block type's ``properties``: {} where the type or its ``properties`` is no mapping
    (a hand-written schema's list), whose properties the form then cannot know."""
    properties = block.get("properties") if isinstance(block, dict) else None
    return properties if isinstance(properties, dict) else {}


def unknown_properties(block):
    """Whether a block type's ``properties`` is set but no mapping (a hand-written schema's
    list): the form cannot know which of a stored block's values are its properties."""
    properties = block.get("properties") if isinstance(block, dict) else None
    return properties is not None and not isinstance(properties, dict)


def form_values(raw):
    """Every value of a form field as read (None, one string or a list of them): a list."""
    if raw is None:
        return []
    return raw if isinstance(raw, list) else [raw]


def list_from_form(form, key, config, stored=None):
    """The items posted under ``key``, in order, empty inputs left out.

    Args:
        stored: the list the inputs were filled with. A posted item that is one of its
            items posted back unchanged keeps that item's text as stored (spaces, line
            breaks), wherever it was moved; each stored item is claimed once.
    """
    items = config.get("items") if isinstance(config.get("items"), dict) else {}
    numeric = declared_type(items) in ("number", "integer")
    unclaimed = [item for item in stored if isinstance(item, str)] if isinstance(stored, list) else []
    values = []
    for raw in form_values(form.get(key)):
        if isinstance(raw, str):
            claimed = next((place for place, item in enumerate(unclaimed) if posted_back(raw, item)), None)
            text = raw.strip() if claimed is None else unclaimed.pop(claimed)
            if text or claimed is not None:
                values.append(text)
    return [parse_number(value) for value in values] if numeric else values


def _shown(control, value):
    if control == "checkbox":
        return bool(value)
    if value is None:
        return ""
    if isinstance(value, UnparsedJson):
        return value.text
    # Any value but text is shown as JSON, as the API returns it: ``true``, not Python's "True".
    if control == "json" or not isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    return value


def shown_control(control, shown):
    """``{"value", "local", "editor_html"}`` of a control showing the text ``shown``, at the top
    level or in a block: a datetime's value as a ``datetime-local`` input takes it, in UTC
    (``local``: whether it can; else a text input shows it as stored), and where an HTML
    editor starts from (its HTML cleaned of what the page's Content-Security-Policy refuses;
    the textarea, the posted value, keeps ``shown`` itself)."""
    local = local_value(shown) if control == "datetime" else None
    return {"value": shown if local is None else local, "local": shown == "" or local is not None,
            "editor_html": clean_editor_html(shown) if control == "html" and shown else ""}


def placeholder_of(control, config):
    """The ``placeholder`` a field's schema entry sets, for a control a person types text into; else ""."""
    placeholder = config.get("placeholder")
    return placeholder if control in PLACEHOLDER_CONTROLS and isinstance(placeholder, str) else ""


def _required_properties(block):
    """Names a block type requires, by either spelling (``required: true`` or its ``required`` list)."""
    return listed_required(block) | {name for name, config in block_properties(block).items()
                    if isinstance(config, dict) and config.get("required") is True}


def _inputs(block, item):
    """The BlockInputs of ``block``'s properties, filled from ``item``."""
    inputs = []
    required = _required_properties(block)
    for name, config in block_properties(block).items():
        config = config if isinstance(config, dict) else {}
        control = property_control(config)
        value = item.get(name)
        select = control in CHOICE_CONTROLS
        shown = shown_select(config, value) if select else _shown(control, value)
        if control == "json" and value is None and name in item:
            shown = "null"  # a stored null, as JSON writes it: posted back, it stays (``typed_null``)
        inputs.append(BlockInput(name, text_setting(config, "title") or name.replace("_", " ").capitalize(), control,
                                 choices=select_choices(config, value) if select else choices_of(config),
                                 error=value.reason if isinstance(value, UnparsedJson) else None,
                                 required=name in required, placeholder=placeholder_of(control, config),
                                 **shown_control(control, shown)))
    return inputs


def has_html_property(config):
    """Whether a block array's block types have a property edited in the HTML editor."""
    blocks = config.get("blocks") if isinstance(config.get("blocks"), dict) else {}
    return any(isinstance(prop, dict) and property_control(prop) == "html"
               for block in blocks.values() for prop in block_properties(block).values())


def block_types(config):
    """``[(type, label)]`` of a block array's block types."""
    blocks = config.get("blocks") if isinstance(config.get("blocks"), dict) else {}
    return [(name, (text_setting(block, "label") if isinstance(block, dict) else None) or name)
            for name, block in blocks.items()]


def blocks_shown(config, value, numbering=None):
    """``(BlockRows of the blocks, [(type, label, empty BlockRow)] to add one of each type, the
    first number free for a block added on the page)``.

    Args:
        numbering: how a refused form numbered these blocks (``block_numbering``): they are
            shown under the same numbers, each read again against the stored block it was
            read against; by default the blocks are the stored ones, numbered in order.
    """
    blocks = config.get("blocks") if isinstance(config.get("blocks"), dict) else {}
    key = discriminator_of(config)
    value = value if isinstance(value, list) else []
    if numbering is None or len(numbering.numbers) != len(value):
        numbering = Numbering(tuple(range(len(value))), len(value))
    rows = []
    for place, (number, item) in enumerate(zip(numbering.numbers, value)):
        item = item if isinstance(item, dict) else {}
        kind = str(item.get(key) or "")
        block = blocks.get(kind) if isinstance(blocks.get(kind), dict) else {}
        label = text_setting(block, "label") or kind or "?"
        rows.append(BlockRow(number, kind, label, place + 1, _inputs(block, item)))
    # The blocks the script adds are numbered by it: "__n__" is the number it puts in.
    types = tuple(
        (name, label, BlockRow("__n__", name, label, "", _inputs(blocks.get(name), {})))
        for name, label in block_types(config)
    )
    return rows, types, numbering.first_free


def whole_number(text, limit):
    """``text`` as a whole number when it is written in decimal digits alone and is below
    ``limit``, else None.

    Its digits are counted before they are read: Python refuses to convert a string of more
    than 4,300 digits, which would otherwise answer 500.
    """
    if text.isdecimal() and len(text) <= len(str(limit)):
        number = int(text)
        return number if number < limit else None
    return None


def capped_number(text, cap):
    """``text`` as a positive whole number, ``cap`` when it is that or more however many digits
    it has (more than Python converts are not read); None when it is zero or not written in
    decimal digits alone.

    Leading zeros are dropped before the digits are counted: ``007`` is 7. Other scripts'
    digits, which int() reads, are read as their ASCII ones first, so their zeros are zeros
    too: ``٠`` (an Arabic-Indic zero) is zero, not a number past ``cap``.
    """
    if not text.isdecimal():
        return None
    digits = "".join(str(unicodedata.decimal(digit)) for digit in text).lstrip("0")
    return (whole_number(digits, cap) or cap) if digits else None


# A position typed past this is as if none were typed: the item keeps its place after those placed.
MAX_POSITION = 10**18


def typed_position(text, unplaced):
    """The position typed (``text``) for an item of a list the form reorders (blocks, the
    field builder's rows), else ``unplaced``."""
    number = whole_number(text, MAX_POSITION)
    return unplaced if number is None else number


def one_value(value):
    """The single value of a form field as read (the last one when repeated; None when absent)."""
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
            found.setdefault(int(number), {})[part] = one_value(value)
    return dict(sorted(found.items())[:MAX_BLOCKS])


def shown_empty(value):
    """Whether the form shows ``value`` as nothing: null, ``""`` or ``[]`` fill no input, select
    the empty option, tick no box and list no item."""
    return value is None or (isinstance(value, str | list) and not value)


def kept_empty(control, raw, stored, was_set, config=None):
    """Whether a control posted back empty keeps the value it was filled with: a stored null,
    ``""`` or ``[]`` (``shown_empty``) left as the form showed it stays as it is, so an
    unchanged save turns no null into a missing value. A JSON textarea shows such a value as
    JSON (``null``, ``""``), and a select whose enum lists ``""`` shows it as that option
    (``choices.offered``), so the one emptied or set to its empty option was cleared: what
    it posted is read as any other value.

    Args:
        raw: the posted string; None when nothing was posted (a box left unticked).
        was_set: whether ``stored`` was set at all: a value never set stays unset anyway.
        config: the field's schema entry (a select's or radio group's enum).
    """
    if control == "json" or (control in CHOICE_CONTROLS and config is not None and offered(config, stored)):
        return False
    return was_set and shown_empty(stored) and not raw


def typed_null(control, raw):
    """Whether ``raw`` is a null to store that ``posted_value`` gives as None (which would leave
    the value out): ``null`` typed into a JSON textarea (a stored null is shown so)."""
    return control == "json" and (raw or "").strip() == "null"


def posted_value(control, raw, stored=None, was_set=False, config=None):
    """The value to store of one posted control of the content form or of a block (None:
    leave it out), so that what nobody edited is stored again as it was.

    Args:
        control: the control's kind (``CONTROLS``, ``PROPERTY_CONTROLS``).
        raw: the posted string; None when nothing was posted (a box left unticked).
        stored: the value the control was filled with: text posted back unchanged is kept
            as stored (``textarea_text``, ``input_text``).
        was_set: whether the value was set before: a box left unticked stays unset if not.
        config: the field's schema entry: a select's or radio group's option is saved as its ``enum`` value,
            its option of a value the enum does not list as that value (``choices.kept_current``);
            a JSON textarea's text is parsed as its type says (``_json_value``).
    """
    if control == "checkbox":
        return checkbox_value(raw, was_set)
    if control in CHOICE_CONTROLS and config is not None:
        if kept_current(config, raw, stored):
            return stored
        value = chosen_value(config, raw)
        if value is not None:
            return stored if same_value(value, stored) else value
    if control in TEXTAREA_CONTROLS:
        text = textarea_text(raw or "", stored)
    elif control == "json":
        text = (raw or "").strip()
    else:
        text = input_text(raw or "", stored)
    if text == "":
        return None
    if control == "number":
        return parse_number(text)
    if control == "datetime":
        return posted_datetime(text, stored)
    if control == "json":
        return _json_value(text, raw, config or {})
    return text


def _finite(text):
    number = float(text)
    if not math.isfinite(number):
        raise ValueError(f"number out of range: {text}")
    return number


def _no_constant(name):
    raise ValueError(f"{name} is not a JSON value")


def _json_value(text, raw, config):
    """The value of a JSON textarea's trimmed ``text``: strict JSON (no NaN, no number out of
    a float's range); text that is no JSON is that text for a property whose values are text
    (``TEXT_VALUED_JSON_TYPES``), else an UnparsedJson holding ``raw`` as it was typed."""
    try:
        value = json.loads(text, parse_constant=_no_constant, parse_float=_finite)
        # A \u escape may name half a character (a lone surrogate), which no UTF-8 text holds.
        json.dumps(value, ensure_ascii=False).encode()
    except (ValueError, RecursionError) as ex:
        kind = declared_type(config)
        if kind in TEXT_VALUED_JSON_TYPES and not (kind in MULTIPLE_TYPES and config.get("multiple") is True):
            return text
        reason = ("nested too deeply" if isinstance(ex, RecursionError)
                  else "a \\u escape names half a character" if isinstance(ex, UnicodeEncodeError) else str(ex))
        return UnparsedJson(_lf(raw), f"not valid JSON: {reason}")
    # A \u0000 escape makes a NUL, and a long enough integer a number past a double's range,
    # which the API refuses in any body: refused here alike, with its message.
    refused = refused_value(value)
    if refused is not None:
        return UnparsedJson(_lf(raw), refused[1])
    return value


def _stored_block(stored, number, discriminator, kind):
    """The stored block the form numbered ``number`` (the form numbers the stored blocks
    in order), if it is one of type ``kind``; else ``{}`` (a block added on the page)."""
    block = stored[number] if isinstance(stored, list) and number < len(stored) else None
    return block if isinstance(block, dict) and str(block.get(discriminator) or "") == kind else {}


def _block_from_form(blocks, discriminator, kind, values, before):
    """One posted block of type ``kind`` from its inputs' ``values``; ``before`` is the block
    as stored (``{}`` for a new one): what was not edited keeps its stored value, and its
    keys keep their stored order. A block whose type declares no mapping of properties (a
    hand-written schema's list) showed no input: it keeps every stored value."""
    block = blocks.get(kind)
    if unknown_properties(block):
        return {**before, discriminator: kind}
    item = {discriminator: kind}
    for name, prop in block_properties(block).items():
        prop = prop if isinstance(prop, dict) else {}
        control = property_control(prop)
        raw = values.get(name)
        if kept_empty(control, raw, before.get(name), name in before, prop):
            item[name] = before[name]
            continue
        value = posted_value(control, raw, before.get(name), name in before, prop)
        if value is not None or typed_null(control, raw):
            item[name] = value
    return {**{name: item[name] for name in before if name in item}, **item}


def numbered_blocks(form, key, config, stored=None):
    """``[(number, block)]`` of the blocks posted under ``key``, in their chosen order, removed
    ones left out, then an empty block of the type chosen in ``key._add``, numbered after every
    stored and posted block.

    Args:
        stored: the blocks the form was filled with (``blocks_shown`` numbers them in order).
    """
    blocks = config.get("blocks") if isinstance(config.get("blocks"), dict) else {}
    discriminator = discriminator_of(config)
    posted = _posted_blocks(form, key)
    placed = []
    for number, values in posted.items():
        if values.get("-remove"):
            continue
        kind = values.get("-type") or ""
        before = _stored_block(stored, number, discriminator, kind)
        item = _block_from_form(blocks, discriminator, kind, values, before)
        position = (values.get("-position") or "").strip()
        placed.append((typed_position(position, 10**6 + number), -number, item))
    numbered = [(-negated, item) for _, negated, item in sorted(placed, key=lambda entry: entry[:2])]
    added = one_value(form.get(key + "._add"))
    if added in blocks:
        numbered.append((_first_free(stored, posted), {discriminator: added}))
    return numbered


def _first_free(stored, posted):
    """The first block number after every stored block (removed on the page or not) and every posted one."""
    return max([len(stored) if isinstance(stored, list) else 0, *(number + 1 for number in posted)])


def block_rows_from_form(form, key, config, stored=None):
    """The blocks of ``numbered_blocks``, without their numbers."""
    return [item for _, item in numbered_blocks(form, key, config, stored)]


def block_numbering(form, key, config, stored=None):
    """How the form posted under ``key`` numbered the blocks ``block_rows_from_form`` reads
    from it, for ``blocks_shown`` to show them again under the same numbers."""
    numbers = tuple(number for number, _ in numbered_blocks(form, key, config, stored))
    return Numbering(numbers, max([_first_free(stored, _posted_blocks(form, key)), *(n + 1 for n in numbers)]))
