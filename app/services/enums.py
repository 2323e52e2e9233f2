"""Enum values as JSON sees them, for every check of a value against an ``enum``.

Python's ``True == 1`` (and ``False == 0``) would let ``1`` pass for ``true``: a boolean is
one of an enum's values only as a boolean. ``1`` and ``1.0`` are one value, as in JSON.
"""


def same_value(one, other):
    """Whether ``one`` and ``other`` are the same JSON value (a boolean is no number)."""
    return one == other and isinstance(one, bool) == isinstance(other, bool)


def in_enum(value, enum):
    """Whether ``value`` is one of ``enum``'s values (``same_value``)."""
    return any(same_value(value, option) for option in enum)


def option_text(option):
    """An enum value as a message names it: booleans and null as JSON writes them (``true``, ``null``)."""
    if option is None:
        return "null"
    return ("true" if option else "false") if isinstance(option, bool) else str(option)


def has_duplicates(values):
    """Whether the JSON scalars ``values`` list one value twice (``same_value``: ``1`` and
    ``1.0`` are one value, ``1`` and ``true`` two)."""
    keys = [(isinstance(value, bool), value) for value in values]
    return len(set(keys)) != len(keys)
