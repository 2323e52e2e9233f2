"""The DB binding: Cloudflare D1's client API (``env.DB``) over a Peewee database.

``D1Database.prepare(sql).bind(...).all()`` and friends behave like D1 (reference:
cloudflare-runtime.md section 1), synchronously, on the database ``app.db.database`` opens:
a SQLite file (the default, like D1 itself) or a pooled PostgreSQL server. Peewee models can
share the database through ``D1Database.db``.

Choices where Python and JS differ, or where SQLite/PostgreSQL cannot tell us what D1 would:

* BLOBs read back as ``bytes`` (D1 in JS returns an array of numbers); bind accepts
  ``bytes``/``bytearray``/``memoryview`` and, as D1 does, a list of ints 0..255.
* ``None`` binds as NULL (what the Python Workers SDK does), booleans as 1/0.
* ``meta.rows_read`` is rows returned plus rows changed and ``meta.rows_written`` is rows
  changed: SQLite does not expose D1's counters (which also count scanned rows and index
  writes), so these are lower bounds that agree with D1 for simple statements.
* PostgreSQL: ``?``/``?NNN`` become ``%s`` (reordered); ``last_row_id`` is ``lastval()``
  after an INSERT (the last sequence value of the session, so use ``RETURNING id`` with
  tables whose ids are not from a sequence) and 0 otherwise; ``size_after`` may be up to
  a second old (measuring it costs more than a query); values read back are made
  D1-like (bytea -> bytes, boolean -> 1/0, numeric -> int/float, dates -> ISO strings,
  json -> text).
* Errors keep D1's ``PREFIX: message: SQLITE_<CODE>`` shape; PostgreSQL SQLSTATE classes
  map to the nearest SQLite code so callers can test one suffix on both databases.
"""

import datetime
import decimal
import functools
import json
import pathlib
import sqlite3
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field

import peewee

from app.db.database import is_postgres, open_database, open_sqlite
from app.db.splitter import split_tokens

try:  # psycopg2 is only needed for database_url = "postgresql://..."
    import psycopg2
    import psycopg2.extensions
except ImportError:  # pragma: no cover - exercised only without the driver installed
    psycopg2 = None

INT64_MAX = 2**63 - 1

DRIVER_ERRORS = (sqlite3.Error, peewee.PeeweeException) + ((psycopg2.Error,) if psycopg2 else ())


class D1Error(Exception):
    """A failed D1 call; ``str(error)`` is ``"<prefix>: <detail>"`` as in JS.

    Attributes:
        prefix: ``D1_ERROR`` here; subclasses carry the other D1 prefixes.
        detail: the message without the prefix (JS keeps it in ``error.cause.message``).
    """

    prefix = "D1_ERROR"

    def __init__(self, detail):
        self.detail = detail
        super().__init__(f"{self.prefix}: {detail}")


class D1TypeError(D1Error):
    """``bind()`` got a value D1 cannot store."""

    prefix = "D1_TYPE_ERROR"


class D1ColumnNotFoundError(D1Error):
    """``first(column)`` named a column the row does not have."""

    prefix = "D1_COLUMN_NOTFOUND"


class D1ExecError(D1Error):
    """A line of ``exec()`` failed; the detail names the line."""

    prefix = "D1_EXEC_ERROR"


# --- bind values ------------------------------------------------------------------------


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
    elif isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    elif isinstance(value, list) and all(_is_byte(item) for item in value):
        return bytes(value)
    raise D1TypeError(f"Type '{type(value).__name__}' not supported for value '{value}'")


def _is_byte(item):
    return isinstance(item, int) and not isinstance(item, bool) and 0 <= item <= 255


# --- SQL analysis ---------------------------------------------------------------------

MAX_SQL_BYTES = 100_000
MAX_PARAMS = 100
# Statements that open or close transactions (ABORT and START TRANSACTION: PostgreSQL's).
TRANSACTION_WORDS = {"BEGIN", "COMMIT", "END", "ROLLBACK", "SAVEPOINT", "RELEASE", "ABORT"}
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
            raise D1Error("No SQL statements detected.")
        if bound > MAX_PARAMS:
            raise D1Error(f"too many SQL variables: at most {MAX_PARAMS} bound parameters (got {bound}): SQLITE_RANGE")
        expected = self.parts[-1].param_count
        if bound != expected:
            raise D1Error(
                f"Wrong number of parameter bindings for SQL query (expected {expected}, got {bound}): SQLITE_RANGE"
            )
        return self.parts


CACHED_SQL_CHARS = 4096  # bounds the cache's memory: long SQL is rare and not repeated


def analyse(sql):
    """Split and check ``sql``; short texts are cached (hot paths prepare the same SQL)."""
    return _analyse_cached(sql) if len(sql) <= CACHED_SQL_CHARS else _analyse(sql)


def _analyse(sql):
    parts, errors = [], []
    for tokens in split_tokens(sql):
        part, error = _analyse_part(tokens)
        parts.append(part)
        errors.append(error)
    if len(sql.encode("utf-8", "surrogatepass")) > MAX_SQL_BYTES:
        errors.insert(0, f"statement too long: SQL is limited to {MAX_SQL_BYTES} bytes: SQLITE_TOOBIG")
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


# --- statements -------------------------------------------------------------------------


class D1PreparedStatement:
    """SQL text plus bound values; immutable, so one statement can be re-bound many times."""

    __slots__ = ("_database", "_sql", "_values")

    def __init__(self, database, sql, values=()):
        self._database = database
        self._sql = sql
        self._values = values

    @property
    def sql(self):
        """The SQL text given to ``prepare()``."""
        return self._sql

    @property
    def values(self):
        """The converted bound values, as a tuple."""
        return self._values

    def bind(self, *values):
        """Return a new statement with ``values`` bound; raise D1TypeError on a bad type."""
        return D1PreparedStatement(self._database, self._sql, tuple(map(convert_value, values)))

    def all(self):
        """Run the statement; return ``{"success": True, "meta": {...}, "results": [rows]}``."""
        return self._database._execute(self, with_meta=True).as_result()

    def run(self):
        """Same as ``all()`` (D1 documents ``run`` as an alias; rows are returned too)."""
        return self.all()

    def first(self, column=None):
        """Return the first row as a dict (or None); with ``column``, that column's value.

        Raises:
            D1ColumnNotFoundError: there is a row but it has no ``column``.
        """
        outcome = self._database._execute(self, with_meta=False)
        if not outcome.rows:
            return None
        row = dict(zip(outcome.columns, outcome.rows[0]))
        if column is None:
            return row
        if column not in row:
            raise D1ColumnNotFoundError(f"Column not found ({column})")
        return row[column]

    def raw(self, column_names=False):
        """Return rows as lists; with ``column_names`` the first list holds the column names.

        Duplicate names are kept; with no rows and ``column_names`` only the header remains.
        """
        outcome = self._database._execute(self, with_meta=False)
        rows = [list(row) for row in outcome.rows]
        return [list(outcome.columns)] + rows if column_names else rows

    def __repr__(self):
        return f"D1PreparedStatement({self._sql!r}, values={self._values!r})"


@dataclass
class _Outcome:
    """What running one prepared statement produced: the last SQL statement's rows."""

    columns: tuple = ()
    rows: list = field(default_factory=list)
    rows_returned: int = 0  # over all its SQL statements
    changes: int = 0
    commands: list = field(default_factory=list)  # PostgreSQL command tags (INSERT, ...)
    duration: float = 0.0
    meta: dict = None

    def row_dicts(self):
        # dict(zip()) keeps the last of duplicate names, as a JS object built column by column.
        return [dict(zip(self.columns, row)) for row in self.rows]

    def as_result(self):
        return {"success": True, "meta": self.meta, "results": self.row_dicts()}


# --- the database -----------------------------------------------------------------------


class D1Database:
    """The ``env.DB`` binding: ``prepare``, ``batch``, ``exec`` (and ``ping`` for health).

    Connections are Peewee's: one per thread, opened on first use, so a D1Database may be
    shared by all threads of a worker.

    Attributes:
        db: the Peewee database; bind models to it to share connections and transactions.
        config: the binding's table from bindings.toml (migrations_dir, ...), if given.
    """

    def __init__(self, db, config=None):
        self.db = db
        self.config = dict(config or {})
        self._backend = _PostgresBackend() if is_postgres(db) else _SqliteBackend()

    def prepare(self, sql):
        """Return a statement for ``sql``; no I/O and no validation happen until it runs."""
        if not isinstance(sql, str):
            raise TypeError(f"prepare() takes SQL text, not {type(sql).__name__}")
        return D1PreparedStatement(self, sql)

    def batch(self, statements):
        """Run ``statements`` in order in ONE transaction and return their results.

        All or nothing: when a statement fails the transaction is rolled back and its
        D1Error is raised; no partial results are returned.
        """
        statements = list(statements)
        for statement in statements:
            if not isinstance(statement, D1PreparedStatement):
                raise TypeError(f"batch() takes prepared statements, not {type(statement).__name__}")
        with self._translated_errors(), self._transaction():
            return [self._execute(statement, with_meta=True).as_result() for statement in statements]

    def exec(self, sql):
        """Run maintenance SQL, one line at a time, in one transaction; no parameters.

        As D1 does, the text is trimmed and split on newlines (a statement must not span
        lines); blank and comment-only lines are skipped.

        Returns:
            ``{"count": <lines run>, "duration": <ms>}``.

        Raises:
            D1ExecError: ``Error in line <n>: <line>: <message>``; nothing of it remains.
        """
        count, duration = 0, 0.0
        with self._translated_errors(), self._transaction():
            for number, line in enumerate(sql.strip().split("\n"), start=1):
                if analyse(line).blank:
                    continue
                try:
                    duration += self._execute(self.prepare(line), with_meta=False).duration
                except D1Error as ex:
                    raise D1ExecError(f"Error in line {number}: {line.strip()}: {ex.detail}") from ex
                count += 1
        return {"count": count, "duration": duration}

    def ping(self):
        """Run ``SELECT 1`` and return the round trip in ms; raise D1Error when unreachable."""
        started = time.perf_counter()
        self.prepare("SELECT 1").first()
        return (time.perf_counter() - started) * 1000

    # -- internals ----------------------------------------------------------------------

    def _connection(self):
        self.db.connect(reuse_if_open=True)
        return self.db.connection()

    def _transaction(self):
        # Peewee's atomic(): BEGIN (IMMEDIATE on our SQLite, so writers queue on the busy
        # timeout instead of failing), or a savepoint inside the caller's own transaction.
        return self.db.atomic()

    @contextmanager
    def _translated_errors(self):
        try:
            yield
        except DRIVER_ERRORS as ex:
            raise D1Error(self._backend.describe(_original(ex))) from ex

    def _execute(self, statement, with_meta):
        """Run a prepared statement: all its SQL statements, the last one's rows kept."""
        parts = analyse(statement.sql).checked(len(statement.values))
        with self._translated_errors():
            conn = self._connection()
            before = self._backend.snapshot(conn) if with_meta else None
            if len(parts) == 1:
                outcome = self._run_parts(conn, parts, statement.values)
            else:
                # Several statements in one call are all or nothing, like one D1 query.
                with self._transaction():
                    outcome = self._run_parts(conn, parts, statement.values)
            if with_meta:
                outcome.meta = self._backend.meta(conn, before, outcome)
        return outcome

    def _run_parts(self, conn, parts, values):
        started = time.perf_counter()
        outcome = _Outcome()
        for index, part in enumerate(parts):
            # Only the last statement may carry parameters (analyse() checked the others).
            part_values = values if index == len(parts) - 1 else ()
            outcome.columns, outcome.rows, command, changes = self._backend.run(conn, part, part_values)
            outcome.rows_returned += len(outcome.rows)
            outcome.changes += changes
            outcome.commands.append(command)
        outcome.duration = (time.perf_counter() - started) * 1000
        return outcome


def _original(ex):
    """The driver's exception behind ``ex`` (or ``ex`` itself when there is none).

    Peewee re-raises driver errors as its own, keeping the original as the first argument
    or, when connecting, as the exception's context.
    """
    candidates = [ex, *(ex.args[:1]), ex.__cause__, ex.__context__]
    for candidate in candidates:
        if isinstance(candidate, DRIVER_ERRORS) and not isinstance(candidate, peewee.PeeweeException):
            return candidate
    return ex


# --- backends ---------------------------------------------------------------------------


class _SqliteBackend:
    """Runs statements on a sqlite3 connection and reads D1's meta from SQLite itself."""

    served_by = "sonicpy.sqlite"

    def run(self, conn, part, values):
        """Execute one statement; return (columns, rows, command tag, rows changed)."""
        changes_before = conn.total_changes  # counts trigger and cascade changes, as Miniflare
        cursor = conn.cursor()
        try:
            cursor.execute(part.text, values)
            rows = cursor.fetchall()
        except ValueError as ex:  # e.g. a lone surrogate in a str cannot be encoded
            raise D1Error(f"{ex}: SQLITE_MISMATCH") from ex
        columns = tuple(column[0] for column in cursor.description or ())
        return columns, rows, None, conn.total_changes - changes_before

    def snapshot(self, conn):
        """State compared after the statement to tell whether the database changed."""
        # One round trip for both: the connection's last rowid and the database size.
        return conn.execute(
            "SELECT last_insert_rowid(),"
            " (SELECT page_count FROM pragma_page_count()) * (SELECT page_size FROM pragma_page_size())"
        ).fetchone()

    def meta(self, conn, before, outcome):
        """D1's meta dict, computed as Miniflare computes it from SQLite."""
        after = self.snapshot(conn)
        return {
            "served_by": self.served_by,
            "duration": outcome.duration,
            "changes": outcome.changes,
            "last_row_id": after[0],
            # As Miniflare: rows changed, or the last rowid moved, or the size did (DDL).
            "changed_db": outcome.changes != 0 or after != before,
            "size_after": after[1],
            "rows_read": outcome.rows_returned + outcome.changes,
            "rows_written": outcome.changes,
        }

    @staticmethod
    def describe(ex):
        """``<sqlite message>: SQLITE_<PRIMARY CODE>`` (extended codes cut to the primary)."""
        name = getattr(ex, "sqlite_errorname", None) or "SQLITE_ERROR"
        return f"{ex}: {'_'.join(name.split('_')[:2])}"


# SQLSTATE class (or full code) -> nearest SQLite primary result code.
_PG_CODES = {
    "23": "SQLITE_CONSTRAINT",
    "22": "SQLITE_MISMATCH",
    "40": "SQLITE_BUSY",
    "55P03": "SQLITE_BUSY",
    "53": "SQLITE_FULL",
    "57": "SQLITE_INTERRUPT",
    "08": "SQLITE_CANTOPEN",
    "42501": "SQLITE_AUTH",
}

SIZE_TTL = 1.0

_PG_WRITE_COMMANDS = {"INSERT", "UPDATE", "DELETE", "MERGE"}
_PG_READ_COMMANDS = {"SELECT", "SHOW", "EXPLAIN", "VALUES", "TABLE", "FETCH"}


class _PostgresBackend:
    """Runs statements on a psycopg2 connection, translating placeholders and values."""

    served_by = "sonicpy.postgres"

    def __init__(self):
        self._size_cache = (0, float("-inf"))

    def run(self, conn, part, values):
        """Execute one statement; return (columns, rows, command tag, rows changed)."""
        cursor = conn.cursor()
        try:
            cursor.execute(part.pg_text, tuple(values[index - 1] for index in part.pg_order))
        except ValueError as ex:  # psycopg2 refuses NUL characters in strings
            raise D1Error(f"{ex}: SQLITE_MISMATCH") from ex
        command = (cursor.statusmessage or "").split(" ", 1)[0].upper()
        rows = [tuple(map(_pg_value, row)) for row in cursor.fetchall()] if cursor.description else []
        columns = tuple(column[0] for column in cursor.description or ())
        changes = cursor.rowcount if command in _PG_WRITE_COMMANDS and cursor.rowcount > 0 else 0
        return columns, rows, command, changes

    def snapshot(self, conn):
        """Nothing to compare: the command tags tell whether the database changed."""
        return None

    def meta(self, conn, before, outcome):
        """D1's meta dict; size is pg_database_size, last_row_id is lastval() after INSERT."""
        inserted = "INSERT" in outcome.commands and outcome.changes > 0
        return {
            "served_by": self.served_by,
            "duration": outcome.duration,
            "changes": outcome.changes,
            "last_row_id": (self._lastval(conn) if inserted else None) or 0,
            "changed_db": outcome.changes > 0 or any(c not in _PG_READ_COMMANDS for c in outcome.commands),
            "size_after": self._size(conn),
            "rows_read": outcome.rows_returned + outcome.changes,
            "rows_written": outcome.changes,
        }

    def _size(self, conn):
        # pg_database_size() walks the database's files (about 0.5 ms, more than a simple
        # query), so a value up to SIZE_TTL seconds old is reported instead.
        size, measured_at = self._size_cache
        if time.monotonic() - measured_at > SIZE_TTL:
            with conn.cursor() as cursor:
                cursor.execute("SELECT pg_database_size(current_database())")
                size = cursor.fetchone()[0]
            self._size_cache = (size, time.monotonic())  # one tuple: atomic for other threads
        return size

    @staticmethod
    def _lastval(conn):
        # lastval() fails when no sequence was used in this session; inside a transaction a
        # failure would abort it, so ask inside a savepoint there.
        in_transaction = conn.get_transaction_status() != psycopg2.extensions.TRANSACTION_STATUS_IDLE
        with conn.cursor() as cursor:
            if in_transaction:
                cursor.execute("SAVEPOINT d1_lastval")
            try:
                cursor.execute("SELECT lastval()")
                value = cursor.fetchone()[0]
            except psycopg2.Error:
                value = None
                if in_transaction:
                    cursor.execute("ROLLBACK TO SAVEPOINT d1_lastval")
            if in_transaction:
                cursor.execute("RELEASE SAVEPOINT d1_lastval")
        return value

    @staticmethod
    def describe(ex):
        """``<primary message>: SQLITE_<CODE>`` from a psycopg2 (or Peewee) error."""
        code = getattr(ex, "pgcode", None)
        diag = getattr(ex, "diag", None)
        message = (diag and diag.message_primary) or (str(ex).strip().splitlines() or [type(ex).__name__])[0]
        if code is not None:
            sqlite_code = _PG_CODES.get(code, _PG_CODES.get(code[:2], "SQLITE_ERROR"))
        elif psycopg2 and isinstance(ex, psycopg2.OperationalError):
            sqlite_code = "SQLITE_CANTOPEN"  # no SQLSTATE: the server could not be reached
        else:
            sqlite_code = "SQLITE_ERROR"
        return f"{message}: {sqlite_code}"


def _pg_value(value):
    """Make a PostgreSQL value look like what D1 (SQLite) would return."""
    if value is None or type(value) in (int, float, str):
        return value
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, memoryview):
        return value.tobytes()
    if isinstance(value, decimal.Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, (datetime.date, datetime.time)):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    return value


# --- opening ----------------------------------------------------------------------------


def open_d1(binding, state_dir, environ):
    """Open the database of one ``[[d1_databases]]`` table of bindings.toml.

    The URL comes from the variable named by ``database_url_env`` (so passwords stay out
    of the file), else ``database_url``; without either, the SQLite file
    ``<state_dir>/d1/<preview_database_id or database_id or binding>.sqlite``.

    Raises:
        ValueError: ``database_url_env`` names an unset variable and there is no fallback.
    """
    url = _database_url(binding, environ)
    if url:
        db = open_database(url)
    else:
        name = binding.get("preview_database_id") or binding.get("database_id") or binding.get("binding", "DB")
        folder = pathlib.Path(state_dir) / "d1"
        folder.mkdir(parents=True, exist_ok=True)
        db = open_sqlite(folder / f"{name}.sqlite")
    return D1Database(db, config=binding)


def _database_url(binding, environ):
    variable = binding.get("database_url_env")
    if variable and environ.get(variable):
        return environ[variable]
    if binding.get("database_url"):
        return binding["database_url"]
    if variable:
        raise ValueError(
            f"D1 binding {binding.get('binding', 'DB')!r}: database_url_env names {variable}, which is not set"
        )
    return None


__all__ = [
    "D1ColumnNotFoundError",
    "D1Database",
    "D1Error",
    "D1ExecError",
    "D1PreparedStatement",
    "D1TypeError",
    "convert_value",
    "open_d1",
]
