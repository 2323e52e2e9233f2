"""Open the Peewee database behind a DB binding.

SQLite is the embedded default (a file under the local state folder); ``database_url``
selects a server database (``postgresql://...``) or another SQLite file (``sqlite:///path``).

What was measured on this stack (see reference/pitfalls.md) shapes the settings:

* SQLite: WAL, foreign keys on (as D1), ``synchronous=NORMAL``, a 5 s busy timeout, and
  ``lock_type='IMMEDIATE'`` so every transaction takes the write lock up front; a deferred
  ``BEGIN`` that later upgrades fails at once with ``database is locked`` under several
  gunicorn workers. Connections stay open per thread (opening one costs more than a query).
* PostgreSQL: a connection pool; a request returns its connection to the pool when done.
"""

from urllib.parse import urlparse

import peewee
from playhouse.pool import PooledPostgresqlDatabase

SQLITE_PRAGMAS = (
    ("journal_mode", "wal"),
    ("foreign_keys", 1),
    ("synchronous", "normal"),
    ("busy_timeout", 5000),
)

BUSY_TIMEOUT_SECONDS = 5


def open_sqlite(path):
    """A SQLite database with the D1-like pragmas; one connection per thread, kept open."""
    return peewee.SqliteDatabase(
        str(path),
        pragmas=SQLITE_PRAGMAS,
        timeout=BUSY_TIMEOUT_SECONDS,
        lock_type="IMMEDIATE",
        autoconnect=True,
    )


def open_postgres(url, max_connections=8):
    """A pooled PostgreSQL database from a ``postgresql://user:pass@host:port/name`` URL."""
    parts = urlparse(url)
    return PooledPostgresqlDatabase(
        parts.path.lstrip("/"),
        user=parts.username,
        password=parts.password,
        host=parts.hostname,
        port=parts.port or 5432,
        max_connections=max_connections,
        stale_timeout=300,
        timeout=10,
        connect_timeout=5,
        autoconnect=True,
    )


def open_database(url):
    """Open the database named by ``url``: ``sqlite:///path`` or ``postgresql://...``."""
    scheme = urlparse(url).scheme
    if scheme == "sqlite":
        return open_sqlite(url[len("sqlite:///"):] if url.startswith("sqlite:///") else url[len("sqlite://"):])
    if scheme in ("postgres", "postgresql"):
        return open_postgres(url)
    raise ValueError(f"unsupported database_url scheme {scheme!r} (use sqlite:/// or postgresql://)")


def is_postgres(db):
    """True when ``db`` is a PostgreSQL database (SQL dialect differences are few but real)."""
    return isinstance(db, peewee.PostgresqlDatabase)


def release_connection(db):
    """End-of-request hook: pooled server connections go back to the pool; SQLite stays open."""
    if is_postgres(db) and not db.is_closed():
        db.close()
