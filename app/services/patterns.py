"""Field patterns (a schema's ``pattern``), run by RE2: linear time whatever the pattern or
the text, so no schema and no content can make a check take exponential time."""

from functools import lru_cache


class PatternError(ValueError):
    """A field's ``pattern`` is not a regular expression RE2 can run."""


@lru_cache(maxsize=256)
def compile_pattern(pattern):
    """``pattern`` compiled by RE2; use ``.search(value)`` (a match anywhere unless anchored).

    Raises:
        PatternError: invalid syntax, or a construct RE2 does not run (backreferences,
            lookaround), with RE2's reason.
    """
    import re2  # here: RE2's library (about 2.5 MB) is loaded by the first schema with a pattern

    options = re2.Options()
    # RE2 would print every refused pattern to stderr; the caller reports it instead.
    options.log_errors = False
    try:
        return re2.compile(pattern, options)
    except re2.error as ex:
        reason = ex.args[0].decode("utf-8", "replace") if ex.args and isinstance(ex.args[0], bytes) else str(ex)
        raise PatternError(
            f"not a valid regular expression ({reason}); patterns are RE2 syntax, which has no "
            "backreferences, lookahead or lookbehind") from None
