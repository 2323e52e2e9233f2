"""The options of a choice control (select, radio, multiselect) and the values they post.

A form posts text, but an ``enum`` may list numbers and booleans as well as text. Each
option's value is the text of its enum value (``news``, ``2``, ``2.5``, ``true``) and a
posted option is saved as the enum value it stands for, so a number stays a number. Where
two enum values share a text (the string ``"1"`` and the number ``1``), each of those
options is written as JSON (``"1"`` and ``1``) to tell them apart. The empty text is the
value of a select's empty option ("no value"), so the option of ``""`` is written as JSON
too (``""``): an enum's empty text is a choice of its own, shown chosen where it is stored
and saved where it is chosen, while the empty option leaves the field unset.

A stored value the enum does not list (the number ``1`` where the enum lists the text
``"1"``, or the other way round, or any other) is no option either: a select shows it as an
extra choice of its own (``CURRENT_OPTION``), labelled with its JSON and marked as no option,
so a save that leaves it chosen keeps it as stored (``kept_current``) instead of taking an
option whose text reads alike, and a type the editor never picked is never saved.

A multiselect does the same for each item of its stored list the enum does not list: an
extra box of its own, ticked, labelled with the item's JSON and marked as no option, whose
value is ``CURRENT_OPTION`` followed by that JSON (``current_item_options``); a save that
leaves it ticked keeps the item as stored. Stored items are matched to the enum's options
by their JSON value, never by text: the number ``1`` never ticks the box of the text ``"1"``,
nor ``[true]`` the box of ``[1]`` (a boolean is no number at any depth). An item stored again
(``"x"`` twice, or ``2`` then ``2.0``, one JSON value) gets an extra box for each repeat,
marked "repeated", and a stored value that is no list one for itself, marked "not a list":
left ticked, an unchanged save keeps the stored value as it is, for validation to refuse on
its field, rather than dropping what the form could not show.

A ``null`` in the enum is no option of a select: validation takes null as "no value", which
the select's empty option already is (a required select refuses both), so a stored null is
shown as that empty option and kept by a save that leaves it so (``blocks.kept_empty``). In
a multiselect a null is a value its list may hold, offered as the option ``null``.
"""

import json
from collections import Counter

from app.services.enums import in_enum, json_key, same_value

# The value of a select's extra option showing a stored value its enum does not list, and
# the start of a multiselect's (followed by the item's JSON). An enum's own string starting
# so is written as JSON (``option_texts``), as ``""`` is, so no option of the enum's values
# has such a value.
CURRENT_OPTION = "(current value)"
CURRENT_LABEL = "{} (current value, not an option)"
REPEAT_LABEL = "{} (current value, repeated)"
NOT_A_LIST_LABEL = "{} (current value, not a list)"


def enum_of(config, single=False):
    """A choice field's ``enum`` (empty when it declares none, or none that is a list);
    ``single``: the values a select offers, without null."""
    enum = config.get("enum")
    if not isinstance(enum, list):
        return []
    return [value for value in enum if value is not None] if single else enum


def _text(value):
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


# Characters that end a line (``str.splitlines``) which JSON leaves unescaped when it keeps
# non-ASCII text as it is.
_LINE_ENDS = {"\x85": "\\u0085", "\u2028": "\\u2028", "\u2029": "\\u2029"}


def _json(value):
    """``value`` as JSON on one line."""
    text = json.dumps(value, ensure_ascii=False)
    for end, escaped in _LINE_ENDS.items():
        text = text.replace(end, escaped)
    return text


def option_texts(enum, spelled_out=None):
    """The ``value`` of each enum value's option, in the enum's order: its text, or its JSON
    where two would read alike, and for ``""`` (the empty text is the select's empty option)
    and texts starting with ``CURRENT_OPTION``.

    Args:
        spelled_out: ``(text) -> bool``: the texts also written as JSON (the field builder's
            options that no line of their own could show as they are).
    """
    texts = [_json(value) if isinstance(value, str) and (value == "" or value.startswith(CURRENT_OPTION)
                                                         or spelled_out and spelled_out(value))
             else _text(value) for value in enum]
    while True:
        # A text written as JSON may read as another's text in turn: each round writes more of
        # them as JSON, which no two different values share.
        shared = {text for text, count in Counter(texts).items() if count > 1}
        written = [_json(value) if text in shared else text for value, text in zip(enum, texts)]
        if written == texts:
            return texts
        texts = written


def enum_labels(config):
    """The labels a choice field's ``enumLabels`` gives, as text: none where it is no list,
    and a label that is no text as JSON (a schema written by SQL past the API's check; the
    API returns such values as JSON, so that is how people see them)."""
    labels = config.get("enumLabels")
    return [label if isinstance(label, str) else _json(label) for label in labels] if isinstance(labels, list) else []


def choices_of(config, single=True):
    """``[(option value, label)]`` of a choice field: its ``enumLabels``, else each value's text
    (``single``: a select's, without null; else a multiselect's).

    A value past the last label (a schema written to the database with too few labels,
    which saving a collection refuses) is labelled with its text rather than left out:
    an option the form does not offer would be lost by an unchanged save. Such a schema's
    ``enumLabels`` that is no list is no labels at all, and a label that is no text is
    shown as JSON, as a stored value that is no text is.
    """
    enum = enum_of(config)
    labels = enum_labels(config)
    offered = [place for place, value in enumerate(enum) if not (single and value is None)]
    texts = option_texts([enum[place] for place in offered])
    return tuple((text, labels[place] if place < len(labels) else text) for place, text in zip(offered, texts))


def shown_choice(config, stored, single=True):
    """The option value a choice control shows selected for ``stored``: its enum value's option,
    else the stored value's own text (``"2"`` stored as text selects the option of ``2``);
    a select shows a null as its empty option."""
    enum = enum_of(config, single)
    for value, text in zip(enum, option_texts(enum)):
        if same_value(value, stored):
            return text
    return "" if stored is None else _text(stored)


def unlisted(config, stored):
    """Whether a select shows ``stored`` as its extra ``CURRENT_OPTION``: a value its enum does
    not list, other than the nothing its empty option shows (null, ``""``, ``[]``)."""
    empty = stored is None or (isinstance(stored, str | list) and not stored)
    return not empty and not in_enum(stored, enum_of(config, single=True))


def select_choices(config, stored):
    """``choices_of`` a select showing ``stored``: with its ``CURRENT_OPTION`` first when the
    enum does not list it."""
    choices = choices_of(config)
    if unlisted(config, stored):
        return ((CURRENT_OPTION, CURRENT_LABEL.format(_json(stored))), *choices)
    return choices


def shown_select(config, stored):
    """The option value a select shows selected for ``stored`` (``shown_choice``, or its
    ``CURRENT_OPTION``)."""
    return CURRENT_OPTION if unlisted(config, stored) else shown_choice(config, stored)


def kept_current(config, text, stored):
    """Whether a select posting ``text`` kept the stored value it showed as its ``CURRENT_OPTION``."""
    return text == CURRENT_OPTION and unlisted(config, stored)


def offered(config, value):
    """Whether a select offers ``value`` as an option of its own (``""`` included), so that
    its empty option shows no such stored value."""
    return in_enum(value, enum_of(config, single=True))


def current_item_options(config, stored):
    """``[(option value, item, label)]`` of a multiselect's extra boxes showing ``stored``, in
    stored order, each ``CURRENT_OPTION`` and its item's JSON: one for each item of the list its
    enum does not list and one for each repeat of an item shown already, so every stored
    occurrence has a box of its own; one for the whole value where it is no list (nor the
    nothing a null or ``""`` is). Items are matched as JSON values (``json_key``): ``[1]``
    and ``[true]`` are two items, ``2`` and ``2.0`` one, repeated."""
    if not isinstance(stored, list):
        if stored is None or stored == "":
            return []
        return [(f"{CURRENT_OPTION} {_json(stored)}", stored, NOT_A_LIST_LABEL.format(_json(stored)))]
    listed = {json_key(value) for value in enum_of(config)}
    seen, boxes = set(), []
    for item in stored:
        key = json_key(item)
        if key in seen or key not in listed:
            label = REPEAT_LABEL if key in seen else CURRENT_LABEL
            boxes.append((f"{CURRENT_OPTION} {_json(item)}", item, label.format(_json(item))))
        seen.add(key)
    return boxes


def multiselect_choices(config, stored):
    """``choices_of`` a multiselect showing ``stored``: with its extra boxes after the enum's
    own (``current_item_options``)."""
    extra = tuple((option, label) for option, _, label in current_item_options(config, stored))
    return choices_of(config, single=False) + extra


def shown_choices(config, stored):
    """The option values a multiselect shows ticked for ``stored``: the option of each enum
    value its list holds (matched by JSON value, not text) and every extra box's."""
    enum = enum_of(config)
    held = {json_key(item) for item in stored} if isinstance(stored, list) else set()
    ticked = [text for value, text in zip(enum, option_texts(enum)) if json_key(value) in held]
    return ticked + [option for option, _, _ in current_item_options(config, stored)]


def chosen_value(config, text):
    """The enum value of the select's option posted as ``text``; None when it is no option."""
    enum = enum_of(config, single=True)
    for value, option in zip(enum, option_texts(enum)):
        if option == text:
            return value
    return None


def chosen_values(config, texts, stored):
    """A multiselect's ticked options as enum values, in the enum's order, then the items of
    its ticked extra boxes, as stored; ``stored`` as it is when its items are exactly what is
    ticked (the API keeps them in any order, an unchanged save must), repeats included, and
    when it is no list and its box is left ticked: validation then refuses what an unchanged
    save would otherwise change unseen."""
    ticked = Counter(texts)
    extra = current_item_options(config, stored)
    if not isinstance(stored, list) and extra and ticked[extra[0][0]]:
        return stored
    enum = enum_of(config)
    chosen = [value for value, text in zip(enum, option_texts(enum)) if ticked[text]]
    for option, item, _ in extra:
        # Boxes of one JSON text (a repeated item's) post one value each: each posted keeps one.
        if ticked[option]:
            ticked[option] -= 1
            chosen.append(item)
    if isinstance(stored, list) and Counter(map(json_key, stored)) == Counter(map(json_key, chosen)):
        return stored
    return chosen
