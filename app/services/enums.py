"""JSON values compared as JSON sees them, for every check of a value against an ``enum`` and
of a list's items against each other.

Python's ``True == 1`` (and ``False == 0``) would let ``1`` pass for ``true``, and ``[1]``
for ``[true]``: a boolean equals only a boolean, at any depth of a list or an object.
``1`` and ``1.0`` are one value, as in JSON (and JSON Schema's ``enum`` and
``uniqueItems``); an object's keys are unordered.
"""

import json


def json_key(value):
    """A hashable stand-in for the JSON value ``value``: two values share it exactly when they
    are the same JSON value (``same_value``).

    Built with a stack of its own rather than by recursion, so a value nested as deep as the
    JSON decoder allows never exhausts Python's stack.
    """
    tokens, pending = [], [value]
    while pending:
        part = pending.pop()
        if isinstance(part, bool) or part is None or isinstance(part, str):
            tokens.append((type(part).__name__, part))
        elif isinstance(part, int | float):
            tokens.append(("number", part))  # 2 == 2.0 and hash(2) == hash(2.0)
        elif isinstance(part, list):
            tokens.append(("list", len(part)))
            pending.extend(reversed(part))
        elif isinstance(part, dict):
            tokens.append(("object", len(part)))
            for key in sorted(part, reverse=True):
                pending.append(part[key])
                pending.append(key)
        else:
            tokens.append(("other", repr(part)))
    return tuple(tokens)


def same_value(one, other):
    """Whether ``one`` and ``other`` are the same JSON value (a boolean is no number, in a
    list or an object too)."""
    if isinstance(one, list | dict) or isinstance(other, list | dict):
        return json_key(one) == json_key(other)
    return one == other and isinstance(one, bool) == isinstance(other, bool)


def in_enum(value, enum):
    """Whether ``value`` is one of ``enum``'s values (``same_value``)."""
    return any(same_value(value, option) for option in enum)


def option_text(option):
    """An enum value as a message names it: booleans, null, lists and objects as JSON writes
    them (``true``, ``null``, ``[true]``)."""
    if option is None:
        return "null"
    if isinstance(option, list | dict):
        return json.dumps(option, ensure_ascii=False)
    return ("true" if option else "false") if isinstance(option, bool) else str(option)


def has_duplicates(values):
    """Whether the JSON values ``values`` list one value twice (``same_value``: ``1`` and
    ``1.0`` are one value, ``1`` and ``true`` two)."""
    keys = [json_key(value) for value in values]
    return len(set(keys)) != len(keys)
