"""Checks of the tuning values a binding's table in bindings.toml may carry.

A value of the wrong kind or out of range is refused when the binding opens, naming its
key, rather than reaching the client library, which refuses it only at the first call (a
traceback, or an outage ``/health`` reports) or not at all.

A refused value is echoed as ``shown`` words it, here and wherever else a configuration
value is refused.
"""

# Characters of a refused value's repr an error message shows: a mistyped value is short,
# a pasted blob or a list of hundreds would bury the line that names the key.
SHOWN_CHARS = 40


def shown(value):
    """``value`` as an error message echoes it: its repr, cut to ``SHOWN_CHARS`` ending in ``...``."""
    text = repr(value)
    return text if len(text) <= SHOWN_CHARS else text[:SHOWN_CHARS - 3] + "..."


def positive_seconds(binding, key, default):
    """``binding[key]`` (``default`` when absent) as a positive number of seconds, or ValueError naming it."""
    value = binding.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        raise ValueError(f"{key} must be a positive number of seconds, not {shown(value)}")
    return float(value)
