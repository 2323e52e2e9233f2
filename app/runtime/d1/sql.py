"""Bound values and SQL checks: what D1 accepts and refuses before anything runs."""

import functools
from dataclasses import dataclass

from app.db.splitter import split_tokens
from app.runtime.d1.errors import INT64_MAX, D1Error, D1TypeError


def convert_value(value):
    """Convert one ``bind()`` argument to what the database stores, or raise D1TypeError.

    Booleans become 1/0 (checked before int: ``bool`` is an ``int``); integers must fit in
    SQLite's signed 64 bits; bytes-like values and lists of ints 0..255 become BLOBs.
    """
    if value is None or type(value) in (str, float):
        return value
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        if -INT64_MAX - 1 <= value <= INT64_MAX:
            return int(value)
    elif isinstance(value, float):
        return float(value)
    elif isinstance(value, str):
        return str(value)
    elif isinstance(value, (bytes, bytearray, memoryview)) or (
        isinstance(value, list) and all(_is_byte(item) for item in value)
    ):
        return bytes(value)
    raise D1TypeError(f"Type '{type(value).__name__}' not supported for value '{value}'")


def _is_byte(item):
    return isinstance(item, int) and not isinstance(item, bool) and 0 <= item <= 255


MAX_SQL_BYTES = 100_000
MAX_PARAMS = 100
# Statements that open or close transactions (ABORT and START TRANSACTION: PostgreSQL's).
TRANSACTION_WORDS = {"BEGIN", "COMMIT", "END", "ROLLBACK", "SAVEPOINT", "RELEASE", "ABORT"}
NO_STATEMENTS = "No SQL statements detected."
MULTI_PARAMS_ERROR = (
    "When executing multiple SQL statements in a single call, only the last statement can have parameters."
)


@dataclass(frozen=True)
class _Part:
    """One SQL statement of a prepared statement, ready for either database."""

    text: str  # for SQLite, which understands ?/?NNN itself
    param_count: int  # values it needs: the highest ?N index used
    pg_text: str  # for psycopg2: placeholders as %s, literal % doubled
    pg_order: tuple  # 1-based value index for each %s, in order


@dataclass(frozen=True)
class _Analysis:
    """A prepared statement's SQL split and checked once; errors wait until it runs."""

    parts: tuple
    error: str = None

    @property
    def blank(self):
        """True for whitespace and comments only: nothing to run and nothing wrong."""
        return not self.parts and not self.error

    def checked(self, bound):
        """The parts to run with ``bound`` values; raise D1Error when they cannot run."""
        if self.error:
            raise D1Error(self.error)
        if not self.parts:
            raise D1Error(NO_STATEMENTS)
        if bound > MAX_PARAMS:
            raise D1Error(f"too many SQL variables: at most {MAX_PARAMS} bound parameters (got {bound}): SQLITE_RANGE")
        expected = self.parts[-1].param_count
        if bound != expected:
            raise D1Error(
                f"Wrong number of parameter bindings for SQL query (expected {expected}, got {bound}): SQLITE_RANGE"
            )
        return self.parts


CACHED_SQL_CHARS = 4096  # bounds the cache's memory: long SQL is rare and not repeated


def too_long(sql, limit=MAX_SQL_BYTES):
    """The D1 error text when ``sql`` is over ``limit`` bytes of UTF-8 (None: no limit), else None."""
    if limit is None or len(sql) * 4 <= limit or len(sql.encode("utf-8", "surrogatepass")) <= limit:
        return None
    return f"statement too long: SQL is limited to {limit} bytes: SQLITE_TOOBIG"


def analyse(sql):
    """Split and check ``sql``; short texts are cached (hot paths prepare the same SQL)."""
    return _analyse_cached(sql) if len(sql) <= CACHED_SQL_CHARS else _analyse(sql)


def _analyse(sql):
    parts, errors = [], []
    for tokens in split_tokens(sql):
        part, error = _analyse_part(tokens)
        parts.append(part)
        errors.append(error)
    if any(part.param_count for part in parts[:-1]):
        errors.append(MULTI_PARAMS_ERROR)
    return _Analysis(tuple(parts), next((error for error in errors if error), None))


_analyse_cached = functools.lru_cache(maxsize=1024)(_analyse)


def _transaction_control(tokens):
    """The statement's first word(s) when it is transaction control, else None."""
    words = [text.upper() for kind, text in tokens if kind == "word"][:2]
    if words[:1] and words[0] in TRANSACTION_WORDS:
        return words[0]
    if words == ["START", "TRANSACTION"]:
        return "START TRANSACTION"
    return None


def _analyse_part(tokens):
    """Number the placeholders of one statement as SQLite does; return (part, error or None)."""
    order, pg_tokens, error, highest = [], [], None, 0
    refused = _transaction_control(tokens)
    if refused:
        error = (
            f"{refused} is not supported: D1 runs each query in its own transaction;"
            " use DB.batch([...]) to run statements in one transaction: SQLITE_AUTH"
        )
    for kind, text in tokens:
        if kind != "param":
            pg_tokens.append(text.replace("%", "%%"))
            continue
        if text[0] != "?":
            error = error or f"named parameters are not supported ({text}); use ? or ?NNN: SQLITE_ERROR"
            index = 0
        elif len(text) > 1:
            index = int(text[1:])
            if not 1 <= index <= MAX_PARAMS:
                error = error or f"variable number must be between ?1 and ?{MAX_PARAMS}: SQLITE_RANGE"
        else:
            index = highest + 1  # a bare ? takes the number after the highest so far
        highest = max(highest, index)
        order.append(index)
        pg_tokens.append("%s")
    if highest > MAX_PARAMS:
        error = error or f"too many SQL variables: at most {MAX_PARAMS} parameters: SQLITE_RANGE"
    text = "".join(text for _, text in tokens).strip()
    return _Part(text, highest, "".join(pg_tokens).strip(), tuple(order)), error
