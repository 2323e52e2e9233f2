"""Checks of the tuning values a binding's table in bindings.toml may carry.

A value of the wrong kind or out of range is refused when the binding opens, naming its
key, rather than reaching the client library, which refuses it only at the first call (a
traceback, or an outage ``/health`` reports) or not at all.

Each check takes the start of its message (``prefix``: what names the value where the
binding's own name is not said around it, e.g. ``"database_url option "``) and the exception
its callers' callers turn into one line, so a module keeps raising its own error while the
rule and its wording are the same everywhere. A refused value is echoed as ``shown`` words it, here and
wherever else a configuration value is refused.
"""

import math

# Characters of a refused value's repr an error message shows: a mistyped value is short,
# a pasted blob or a list of hundreds would bury the line that names the key.
SHOWN_CHARS = 40


def shown(value):
    """``value`` as an error message echoes it: its repr, cut to ``SHOWN_CHARS`` ending in ``...``."""
    text = repr(value)
    return text if len(text) <= SHOWN_CHARS else text[:SHOWN_CHARS - 3] + "..."


def seconds(binding, key, default, prefix="", *, zero=False, most=None, error=ValueError):
    """``binding[key]`` (``default`` when absent) as a finite number of seconds above 0 (0
    or more with ``zero``, at most ``most`` when given), or ``error`` naming it.

    Infinity is refused as a string is: a timeout of infinity fails at the first call (the HTTP
    client's and memcached's sockets cannot hold it), and the AI binding refused it already.
    """
    value = binding.get(key, default)
    if (isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value)
            or not (value >= 0 if zero else value > 0) or (most is not None and value > most)):
        bounds = ("at least 0" if zero else "above 0") + (f" and at most {most}" if most is not None else "")
        raise error(f"{prefix}{key} must be a number of seconds, {bounds}, not {shown(value)}")
    return float(value)


def whole_number(binding, key, default, prefix="", *, least=1, most=None, unit=None, error=ValueError):
    """``binding[key]`` (``default`` when absent) as a whole number from ``least`` (to
    ``most`` when given), or ``error`` naming it; ``unit`` (``"days"``) is said in the message."""
    value = binding.get(key, default)
    if (isinstance(value, bool) or not isinstance(value, int) or value < least
            or (most is not None and value > most)):
        bounds = f"at least {least}" + (f" and at most {most}" if most is not None else "")
        kind = f"a whole number of {unit}" if unit else "a whole number"
        raise error(f"{prefix}{key} must be {kind}, {bounds}, not {shown(value)}")
    return value
