"""Checks of the tuning values a binding's table in bindings.toml may carry.

A value of the wrong kind or out of range is refused when the binding opens, naming its
key, rather than reaching the client library, which refuses it only at the first call (a
traceback, or an outage ``/health`` reports) or not at all.
"""


def positive_seconds(binding, key, default):
    """``binding[key]`` (``default`` when absent) as a positive number of seconds, or ValueError naming it."""
    value = binding.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        raise ValueError(f"{key} must be a positive number of seconds, not {value!r:.40}")
    return float(value)
