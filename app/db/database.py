"""Open the Peewee database behind a DB binding.

SQLite is the embedded default (a file under the local state folder); ``database_url``
selects a server database (``postgresql://...``) or another SQLite file (``sqlite:///path``).
URLs are read by ``playhouse.db_url``: user and password are percent-decoded (``p%40ss`` is
``p@ss``) and query-string options become connection arguments (``?sslmode=require`` reaches
psycopg2; ``?max_connections=20`` tunes the pool), overriding the defaults below.

What was measured on this stack shapes the defaults:

* SQLite: WAL, foreign keys on (as D1), ``synchronous=NORMAL``, a 5 s busy timeout, and
  ``lock_type='IMMEDIATE'`` so every transaction takes the write lock up front; a deferred
  ``BEGIN`` that later upgrades fails at once with ``database is locked`` under several
  gunicorn workers. Connections stay open per thread (opening one costs more than a query).
* SQLite's memory: each connection keeps the parsed schema (about 1.5 MB for this one),
  its prepared statements and a page cache, and a worker holds one connection per thread.
  The page cache is bounded per connection (``cache_kib``, default 1 MiB rather than
  SQLite's 2 MB: the operating system caches the file too) and SQLite's heap in the whole
  process softly (``memory_limit_mib``: past it, the page caches of every connection of
  the process, KV's and the media index's included, give pages back before taking new
  ones). Temporary storage is memory: an INSERT into ``content`` fires triggers (counts,
  search, time travel), which makes SQLite open a statement journal, and on disk that is
  a temporary file created and deleted for every such statement (it tripled the INSERT's
  time, inside the write lock). Sorts without an index stay in memory too: the app's sort
  orders have indexes, and lists are bounded by their LIMIT.
* PostgreSQL: a connection pool; a request returns its connection to the pool when done.
  Short pool and connect timeouts, so an unreachable server fails a request in seconds
  instead of holding a worker. A connection taken from the pool is checked without a round
  trip (``PostgresPool``), and its cursors run the app's fixed SQL as server-side prepared
  statements (``app.db.prepared``).
"""

import contextlib
import select
import weakref
from urllib.parse import urlparse

import peewee
from playhouse import db_url
from playhouse.pool import PooledPostgresqlDatabase

from app.db import tx_marks
from app.db.prepared import PreparingConnection, psycopg2
from app.runtime.binding_values import seconds, shown, whole_number

SQLITE_PRAGMAS = (
    ("journal_mode", "wal"),
    ("foreign_keys", 1),
    ("synchronous", "normal"),
)

BUSY_TIMEOUT_SECONDS = 5
# Per connection: SQLite's default is 2,000 KiB; a worker has one connection per thread.
DEFAULT_SQLITE_CACHE_KIB = 1024
# The soft limit on SQLite's heap in the process (all connections, all files); 0: none.
DEFAULT_SQLITE_MEMORY_LIMIT_MIB = 16
MIB = 1024 * 1024

POSTGRES_DEFAULTS = {
    "port": 5432,
    "max_connections": 8,  # per worker process
    "stale_timeout": 300,  # seconds before an idle pooled connection is recycled
    "timeout": 10,  # seconds to wait for a free pooled connection
    "connect_timeout": 5,  # seconds for the server to accept a new connection
    "autoconnect": True,
}


def open_sqlite(path, cache_kib=DEFAULT_SQLITE_CACHE_KIB, memory_limit_mib=DEFAULT_SQLITE_MEMORY_LIMIT_MIB,
                **options):
    """A SQLite database with the D1-like pragmas; one connection per thread, kept open.

    Args:
        path: the database file.
        cache_kib: each connection's page cache, in KiB.
        memory_limit_mib: the soft limit on SQLite's heap in this process (0: none).
        **options: ``peewee.SqliteDatabase`` arguments overriding the defaults; ``timeout``
            (seconds) is the busy timeout.
    """
    timeout = options.pop("timeout", BUSY_TIMEOUT_SECONDS)
    memory = (("cache_size", -int(cache_kib)), ("temp_store", "memory"),
              ("soft_heap_limit", int(memory_limit_mib) * MIB))
    return SqliteDatabase(str(path), **{
        "pragmas": (*SQLITE_PRAGMAS, *memory, ("busy_timeout", int(timeout * 1000))),
        "timeout": timeout,
        "lock_type": "IMMEDIATE",
        "autoconnect": True,
        **options,
    })


class _Savepoint(peewee._savepoint):
    """A savepoint whose rollback also drops the after-commit callbacks queued inside it.

    Peewee forgets the queued callbacks only when the outermost transaction rolls back. A
    write undone by its savepoint (a scheduled action that failed while the run's other
    actions commit) would still run what it queued: a plugin's hooks and webhooks would
    announce a publication that never happened.
    """

    def _begin(self):
        super()._begin()
        self._queued = len(self.db._state.commit_callbacks)

    def rollback(self, begin=True):
        super().rollback(begin=False)
        del self.db._state.commit_callbacks[self._queued:]
        if begin:
            self._begin()


class _SavepointCallbacks:
    """Savepoints (``atomic()`` inside a transaction) that forget their rolled-back callbacks."""

    def savepoint(self):
        return _Savepoint(self)


class SqliteDatabase(_SavepointCallbacks, peewee.SqliteDatabase):
    """Peewee's SQLite database, each of whose transactions reads the schema as it begins.

    A thread keeps its connection open between requests, with the schema it last read. When
    another connection has changed the schema since (a collection save creating or dropping
    a field index), SQLite 3.40 fails the first ``INSERT INTO content`` on this connection
    with "no such table: content": it reads the schema again while it prepares the search
    index's triggers. A statement over ``sqlite_master`` run first reads it before anything
    is written, and the write lock ``BEGIN IMMEDIATE`` took keeps it so to the end.

    Its transactions also mark where they start and end in time travel's change log
    (``app.db.tx_marks``), so a restore never keeps half of one.
    """

    def begin(self, lock_type=None):
        super().begin(lock_type)
        conn = self.connection()
        try:
            # Straight on the connection: a check of the driver's, not a query of the request's.
            with peewee.__exception_wrapper__:
                conn.execute(SCHEMA_READ).fetchall()
                if (lock_type or self._lock_type or "").upper() in WRITE_LOCKS:  # a deferred one may only read
                    tx_marks.mark(conn)
        except BaseException:
            # Peewee's transaction never saw this one begin, so it would not roll it back:
            # the connection, kept for the thread's next request, would stay inside it.
            # The read's own error is the one to raise, whatever the rollback meets.
            with contextlib.suppress(peewee.PeeweeException):
                self.rollback()
            raise
        self._state.changes_at_begin = conn.total_changes

    def commit(self):
        conn = self.connection()
        if conn.total_changes != getattr(self._state, "changes_at_begin", None):  # it wrote
            with peewee.__exception_wrapper__:
                tx_marks.mark(conn)
        super().commit()

    def execute_sql(self, sql, params=None):
        """Run ``sql``. A write run outside a transaction gets one of its own, so that the
        marks that frame it commit with it (no other writer's change can come between)."""
        if self.is_closed() and self.autoconnect:
            self.connect()  # as Peewee would, so the count below is taken before the statement
        conn = None if self.is_closed() else self._state.conn
        if conn is None or conn.in_transaction:
            return super().execute_sql(sql, params)
        if tx_marks.may_write(sql) and self._may_open_transaction(sql):
            with self.atomic():
                return super().execute_sql(sql, params)
        before = conn.total_changes
        cursor = super().execute_sql(sql, params)
        if conn.total_changes != before:  # wrote, though its first word did not say so, or on its own
            tx_marks.mark_after(conn)
        return cursor

    def _may_open_transaction(self, sql):
        """Whether a write run on its own may take a transaction of its own: not in manual
        commit mode (the caller commits), and not when it returns rows (``RETURNING``), which
        the caller reads after this returns, so after a commit SQLite refuses while they are
        unread."""
        return not isinstance(self.top_transaction(), peewee._manual) and "RETURNING" not in sql.upper()

    def rollback(self):
        """Roll back, when there is a transaction left to roll back: SQLite ends one itself on
        some errors (a full disk, an I/O error), and a ROLLBACK sent then would fail and hide
        the error that caused it."""
        if self.is_closed() or self._state.conn.in_transaction:
            super().rollback()


SCHEMA_READ = "SELECT 1 FROM sqlite_master LIMIT 0"
# The BEGINs that take the write lock at once.
WRITE_LOCKS = ("IMMEDIATE", "EXCLUSIVE")


class PostgresPool(_SavepointCallbacks, PooledPostgresqlDatabase):
    """Peewee's PostgreSQL pool, checking an idle connection it hands out without a round trip.

    Peewee's pool sends ``SELECT 1`` over each connection it takes from the pool, holding
    the pool's lock meanwhile: a round trip per request (two when the request queues work
    for after its response), every thread waiting behind it. A connection resting in the
    pool has nothing to read; when the server ends it (a restart, ``pg_terminate_backend``,
    an idle timeout) the server's goodbye or the socket's end makes it readable. So a
    readable idle connection is closed and another one taken, as after a failed
    ``SELECT 1``, and the check costs one ``select()`` call instead of a round trip. (A
    network that drops packets silently goes unnoticed either way until the query's own
    timeout.)
    """

    def _is_closed(self, conn):
        if conn.closed or conn.get_transaction_status() != psycopg2.extensions.TRANSACTION_STATUS_IDLE:
            return super()._is_closed(conn)  # unknown status: closed; in a transaction: rolled back
        try:
            readable, _, _ = select.select([conn], [], [], 0)
        except (OSError, ValueError):
            return True
        return bool(readable)


def open_postgres(url, max_connections=None):
    """A pooled PostgreSQL database from a ``postgresql://user:pass@host:port/name?option=value`` URL.

    Args:
        url: the server URL; its query-string options override ``POSTGRES_DEFAULTS``.
        max_connections: the pool size, when the caller (not the URL) decides it.
    """
    options = {**POSTGRES_DEFAULTS, **_url_options(url)}
    for name in ("stale_timeout", "timeout"):
        seconds(options, name, None, URL_OPTION, zero=True)
    whole_number(options, "max_connections", None, URL_OPTION, least=1)
    whole_number(options, "connect_timeout", None, URL_OPTION, least=0)  # libpq takes whole seconds
    if max_connections is not None:
        options["max_connections"] = max_connections
    # ``?prepared_statements=false`` for a pooler that moves a session's statements between
    # server connections (PgBouncer's transaction mode): a prepared name lives on one.
    if options.pop("prepared_statements", True) and psycopg2 is not None:
        options.setdefault("connection_factory", PreparingConnection)
    return PostgresPool(**options)


def _url_options(url):
    """``database``, credentials, host, port and query-string options of ``url``, decoded."""
    return db_url.parse(url, unquote_password=True, unquote_user=True)


# What playhouse reads from the parts of a SQLite URL before the query string: the file
# path is taken whole instead, the rest means nothing to a file.
SQLITE_URL_PARTS = {"database", "user", "password", "host", "port"}


def sqlite_url_path(url):
    """The file a ``sqlite://`` URL names.

    Raises:
        ValueError: the URL names no file.
    """
    parts = urlparse(url)
    # ``sqlite:///relative`` and ``sqlite:////absolute`` name a file by their path; the
    # two-slash ``sqlite://name`` has always meant the file ``name`` too (playhouse would
    # read it as an in-memory database and lose every write).
    path = parts.netloc + parts.path if parts.netloc else parts.path[1:]
    if not path:
        raise ValueError(f"database_url {shown(url)} names no file (use sqlite:///path/to/file.sqlite)")
    return path


# The query-string options a SQLite URL may carry (README): anything else would reach
# sqlite3.connect and fail at the first connection, as a traceback from every command.
SQLITE_URL_OPTIONS = {"timeout"}
# How a refusal of an option's value (as playhouse parsed it) begins.
URL_OPTION = "database_url option "


def _open_sqlite_url(url, **memory):
    path = sqlite_url_path(url)
    options = {key: value for key, value in _url_options(url).items() if key not in SQLITE_URL_PARTS}
    unknown = sorted(set(options) - SQLITE_URL_OPTIONS)
    if unknown:
        raise ValueError(f"database_url option {shown(unknown[0])} is not one SQLite takes "
                         f"(it takes: {', '.join(sorted(SQLITE_URL_OPTIONS))})")
    if "timeout" in options:
        options["timeout"] = seconds(options, "timeout", None, URL_OPTION, zero=True)
    return open_sqlite(path, **memory, **options)


def _open_postgres_url(url, **_memory):
    return open_postgres(url)


OPENERS = {
    "sqlite": _open_sqlite_url,
    "postgres": _open_postgres_url,
    "postgresql": _open_postgres_url,
}


def open_database(url, **sqlite_memory):
    """Open the database named by ``url``: ``sqlite:///path`` or ``postgresql://...``.

    Args:
        url: the database URL.
        **sqlite_memory: ``cache_kib`` and ``memory_limit_mib`` of a SQLite database
            (``open_sqlite``); a PostgreSQL one ignores them.

    Raises:
        ValueError: the URL's scheme is neither SQLite nor PostgreSQL, or it names no file.
    """
    scheme = urlparse(url).scheme
    opener = OPENERS.get(scheme)
    if opener is None:
        raise ValueError(f"unsupported database_url scheme {scheme!r} (use sqlite:/// or postgresql://)")
    return opener(url, **sqlite_memory)


def is_postgres(db):
    """True when ``db`` is a PostgreSQL database, or the models' proxy bound to one (SQL
    dialect differences are few but real)."""
    return isinstance(getattr(db, "obj", db), peewee.PostgresqlDatabase)


# PostgreSQL's ICU root collation: ``lower()`` under it folds every letter, whatever the
# database's own locale (under a libc "C" locale ``lower``, ``ILIKE`` and ``to_tsvector``
# fold ASCII letters only). Only servers built with ICU have it.
PG_FOLD_COLLATION = "und-x-icu"
_fold_collations = weakref.WeakKeyDictionary()


def pg_fold_collation(db):
    """The ``COLLATE`` clause that makes PostgreSQL fold the case of every letter, or ""
    when the server lacks ICU (case then follows the database's locale). Asked once per
    database object: a server does not gain or lose ICU while it runs."""
    db = getattr(db, "obj", db)
    if db not in _fold_collations:
        found = db.execute_sql("SELECT 1 FROM pg_collation WHERE collname = %s AND collprovider = 'i'",
                               (PG_FOLD_COLLATION,)).fetchone()
        _fold_collations[db] = f'COLLATE "{PG_FOLD_COLLATION}"' if found else ""
    return _fold_collations[db]


def locked(query, of=None):
    """``query`` (a SELECT inside a write's transaction) locking the rows it reads (of the
    model ``of`` only, when given) until the transaction ends, on PostgreSQL. SQLite needs
    nothing: its write transactions begin IMMEDIATE, holding the whole database."""
    return query.for_update(of=of) if is_postgres(query.model._meta.database) else query


class NestedSnapshot(RuntimeError):
    """``read_snapshot`` was entered inside a transaction already open."""


@contextlib.contextmanager
def read_snapshot(db):
    """A read transaction whose statements all see one consistent state of the database:
    ``BEGIN DEFERRED`` on SQLite (its first read fixes the snapshot, no write lock taken),
    ``REPEATABLE READ`` on PostgreSQL.

    It must be the outermost transaction. Inside one already, PostgreSQL could only open a
    savepoint, which runs at the enclosing transaction's level (read committed: each
    statement sees the commits made since the one before) and, having read already, could
    not wait for a lock before its snapshot either. SQLite's enclosing transaction would
    see one state, but a caller must not work on one database and not the other: both
    refuse.

    Raises:
        NestedSnapshot: a transaction is open on ``db``'s connection.
    """
    if db.in_transaction():
        raise NestedSnapshot("read_snapshot must begin its own transaction, and one is open already: "
                             "call it outside any atomic()/transaction block")
    if not is_postgres(db):
        with db.atomic("DEFERRED"):
            yield db
        return
    with db.atomic():
        # The level can be set only before the transaction's first query.
        db.execute_sql("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        yield db


def refresh_statistics(db):
    """After a bulk load: have PostgreSQL sample its tables again (``ANALYZE``).

    PostgreSQL plans from statistics that autovacuum refreshes within about a minute of a
    large write; until then it plans for the tables as they were (nearly empty, after a
    load into a fresh database), and a page may sort a whole table. ANALYZE also makes it
    plan anew the statements whose plans it kept. SQLite is left alone: it keeps no
    statistics unless asked, and once asked its plans follow them for good.
    """
    if is_postgres(db):
        db.execute_sql("ANALYZE")


def release_connection(db):
    """End-of-request hook: pooled server connections go back to the pool; SQLite stays open."""
    if is_postgres(db) and not db.is_closed():
        db.close()
