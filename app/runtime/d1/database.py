"""``D1Database`` (``env.DB``) and ``open_d1``, which picks the database a binding names."""

import pathlib
import re
import time
from contextlib import contextmanager

from app.db.database import (
    DEFAULT_SQLITE_CACHE_KIB,
    DEFAULT_SQLITE_MEMORY_LIMIT_MIB,
    is_postgres,
    open_database,
    open_sqlite,
)
from app.runtime.binding_values import shown, whole_number
from app.runtime.d1.backends import PostgresBackend, SqliteBackend
from app.runtime.d1.errors import DRIVER_ERRORS, D1DumpError, D1Error, D1ExecError, original_error
from app.runtime.d1.guard import MAX_VALUE_BYTES
from app.runtime.d1.replicas import Replica
from app.runtime.d1.sql import MAX_SQL_BYTES, NO_STATEMENTS, analyse, too_long
from app.runtime.d1.statement import D1PreparedStatement, Outcome
from app.runtime.private import private_sqlite_file


class D1Database:
    """The ``env.DB`` binding: ``prepare``, ``batch``, ``exec`` (and ``ping`` for health).

    Connections are Peewee's: one per thread, opened on first use, so a D1Database may be
    shared by all threads of a worker.

    Attributes:
        db: the Peewee database; bind models to it to share connections and transactions.
        config: the binding's table from bindings.toml (migrations_dir, ...), if given.
        replicas: the read replicas (``app.runtime.d1.replicas.Replica``) sessions may
            read from; empty without ``read_replica_urls``.
    """

    # What one query may hold, as D1 limits it. ``d1 execute --file`` lifts it: a file is an
    # import, whose statements (a dump's row, written as one INSERT) may be longer.
    statement_limit = MAX_SQL_BYTES

    def __init__(self, db, config=None, replicas=()):
        self.db = db
        self.config = dict(config or {})
        self.replicas = list(replicas)
        self._backend = PostgresBackend() if is_postgres(db) else SqliteBackend()

    def prepare(self, sql):
        """Return a statement for ``sql``; no I/O and no validation happen until it runs."""
        if not isinstance(sql, str):
            raise TypeError(f"prepare() takes SQL text, not {type(sql).__name__}")
        return D1PreparedStatement(self, sql)

    def batch(self, statements):
        """Run ``statements`` in order in ONE transaction and return their results.

        All or nothing: when a statement fails the transaction is rolled back and its
        D1Error is raised; no partial results are returned. An empty list is an error, as
        in D1 (``No SQL statements detected.``).
        """
        statements = list(statements)
        if not statements:
            raise D1Error(NO_STATEMENTS)
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
            D1Error: ``No SQL statements detected.`` when no line holds a statement.
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
            if not count:
                raise D1Error(NO_STATEMENTS)
        return {"count": count, "duration": duration}

    def dump(self):
        """The whole SQLite database as the bytes of a database file (D1's deprecated ``dump()``).

        Raises:
            D1DumpError: the binding is on PostgreSQL, which has no such file
                (``sonicpy d1 export`` writes SQL for either database).
        """
        if is_postgres(self.db):
            raise D1DumpError("dump() needs a SQLite database; use `d1 export` for PostgreSQL")
        with self._translated_errors():
            # serialize() reads through SQLite's pager: committed WAL pages are included.
            return self._connection().serialize()

    def with_session(self, constraint_or_bookmark=None):
        """A session (``prepare``, ``batch``, ``get_bookmark``) as D1's ``withSession``.

        Args:
            constraint_or_bookmark: ``"first-unconstrained"`` (the default),
                ``"first-primary"`` or a bookmark from an earlier session's
                ``get_bookmark()``. Reads go to a read replica that has replayed the
                bookmark, when the binding has replicas; see ``app.runtime.d1.session``.

        Raises:
            D1SessionError: ``D1_SESSION_ERROR: invalid bookmark or constraint``.
        """
        from app.runtime.d1.session import D1DatabaseSession

        return D1DatabaseSession(self, constraint_or_bookmark)

    def describe(self):
        """The backend in a few words, credentials left out: ``SQLite /path`` or ``PostgreSQL host:port/name``."""
        if is_postgres(self.db):
            params = self.db.connect_params
            return f"PostgreSQL {params.get('host') or 'localhost'}:{params.get('port') or 5432}/{self.db.database}"
        return f"SQLite {self.db.database}"

    def ping(self):
        """Run ``SELECT 1`` and return the round trip in ms; raise D1Error when unreachable."""
        started = time.perf_counter()
        self.prepare("SELECT 1").first()
        return (time.perf_counter() - started) * 1000

    def discard_connection(self):
        """Drop this thread's connection without returning it to the pool (it may be broken)."""
        if is_postgres(self.db) and not self.db.is_closed():
            self.db.manual_close()

    def close(self):
        """Close this thread's connection, and every connection of the replicas."""
        if not self.db.is_closed():
            self.db.close()
        for replica in self.replicas:
            replica.close()

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
            raise D1Error(self._backend.describe(original_error(ex))) from ex

    def _execute(self, statement, with_meta):
        """Run a prepared statement: all its SQL statements, the last one's rows kept."""
        refused = too_long(statement.sql, self.statement_limit)
        if refused:
            raise D1Error(refused)
        parts = analyse(statement.sql).checked(len(statement.values))
        _check_value_sizes(statement.values)
        with self._translated_errors():
            conn = self._connection()
            before = self._backend.snapshot(conn) if with_meta else None
            if len(parts) == 1 and not self._backend.needs_transaction(conn, parts[0]):
                outcome = self._run_parts(conn, parts, statement.values)
            else:
                # Several statements in one call are all or nothing, like one D1 query (and a
                # write of its own on SQLite is framed by time travel's marks).
                with self._transaction():
                    outcome = self._run_parts(conn, parts, statement.values)
            if with_meta:
                outcome.meta = self._backend.meta(conn, before, outcome)
        return outcome

    def _run_parts(self, conn, parts, values):
        started = time.perf_counter()
        outcome = Outcome()
        for index, part in enumerate(parts):
            # Only the last statement may carry parameters (analyse() checked the others).
            part_values = values if index == len(parts) - 1 else ()
            outcome.columns, outcome.rows, command, changes = self._backend.run(conn, part, part_values)
            outcome.rows_returned += len(outcome.rows)
            outcome.changes += changes
            outcome.commands.append(command)
        outcome.duration = (time.perf_counter() - started) * 1000
        return outcome


def _check_value_sizes(values):
    """Refuse bound strings and BLOBs over D1's size limit, on either database."""
    for value in values:
        # A str of n characters is at most 4n UTF-8 bytes: short ones need no encoding.
        if isinstance(value, (str, bytes)) and len(value) > MAX_VALUE_BYTES // 4 \
                and _byte_length(value) > MAX_VALUE_BYTES:
            raise D1Error("string or blob too big: SQLITE_TOOBIG")


def _byte_length(value):
    return len(value) if isinstance(value, bytes) else len(value.encode("utf-8", "surrogatepass"))


SAFE_FILE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")


def open_d1(binding, state_dir, environ):
    """Open the database of one ``[[d1_databases]]`` table of bindings.toml.

    The URL comes from the variable named by ``database_url_env`` (so passwords stay out
    of the file), else ``database_url``; without either, the SQLite file
    ``<state_dir>/d1/<preview_database_id or database_id or binding>.sqlite``. A SQLite
    database's memory is bounded by ``sqlite_cache_kib`` and ``sqlite_memory_limit_mib``
    (``sqlite_memory``).

    Raises:
        ValueError: ``database_url_env`` names an unset variable and there is no fallback,
            or a memory bound is not a whole number.
    """
    url = database_url(binding, environ)
    memory = sqlite_memory(binding)
    if url:
        db = open_database(url, **memory)
    else:
        # The whole database: only the server's user may read it (app.runtime.private).
        db = open_sqlite(private_sqlite_file(local_file(binding, state_dir)), **memory)
    replica_urls = read_replica_urls(binding, environ)
    if replica_urls and not is_postgres(db):
        raise ValueError("read replicas need a PostgreSQL database_url")
    replicas = [Replica(D1Database(open_database(replica_url))) for replica_url in replica_urls]
    return D1Database(db, config=binding, replicas=replicas)


# Binding keys bounding a SQLite database's memory: (open_sqlite argument, default, least value).
SQLITE_MEMORY_KEYS = {
    "sqlite_cache_kib": ("cache_kib", DEFAULT_SQLITE_CACHE_KIB, 64),
    "sqlite_memory_limit_mib": ("memory_limit_mib", DEFAULT_SQLITE_MEMORY_LIMIT_MIB, 0),
}


def sqlite_memory(binding):
    """``open_sqlite``'s memory arguments from the binding's ``sqlite_cache_kib`` (each
    connection's page cache) and ``sqlite_memory_limit_mib`` (SQLite's soft heap limit in
    the process, 0 for none).

    Raises:
        ValueError: a value is not a whole number, or below its least value.
    """
    options = {}
    for key, (argument, default, least) in SQLITE_MEMORY_KEYS.items():
        options[argument] = whole_number(binding, key, default, least=least)
    return options


def read_replica_urls(binding, environ):
    """The binding's replica URLs: ``read_replica_urls_env`` (comma-separated) first, then ``read_replica_urls``.

    Raises:
        ValueError: a URL is not PostgreSQL's.
    """
    variable = binding.get("read_replica_urls_env")
    if variable and environ.get(variable):
        urls = [url.strip() for url in environ[variable].split(",") if url.strip()]
    else:
        urls = list(binding.get("read_replica_urls") or [])
    for url in urls:
        if not isinstance(url, str) or not url.startswith(("postgresql://", "postgres://")):
            raise ValueError("read replicas must be postgresql:// URLs")
    return urls


def local_file(binding, state_dir):
    """The SQLite file of a binding without a URL: ``<state_dir>/d1/<id>.sqlite``.

    Raises:
        ValueError: the id cannot be used as a file name.
    """
    name = binding.get("preview_database_id") or binding.get("database_id") or binding.get("binding", "DB")
    if not SAFE_FILE_NAME.fullmatch(name):
        # The id becomes a file name: "../x" must not write outside the state folder.
        raise ValueError(f"database id {shown(name)} cannot be used as a local file name")
    return pathlib.Path(state_dir) / "d1" / f"{name}.sqlite"


def database_url(binding, environ):
    """The binding's URL (from ``database_url_env`` first, then ``database_url``), or None.

    Raises:
        ValueError: ``database_url_env`` names an unset variable and there is no fallback.
    """
    variable = binding.get("database_url_env")
    if variable and environ.get(variable):
        return environ[variable]
    if binding.get("database_url"):
        return binding["database_url"]
    if variable:
        raise ValueError(
            f"database_url_env names {variable}, which is not set"
        )
    return None
