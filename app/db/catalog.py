"""Where a DB binding's database lives; creating, inspecting and deleting databases.

What ``d1 create|list|info|delete|studio`` need, without opening the binding (opening a
SQLite binding creates its file, and listing must create nothing):

* ``locate(binding, state_dir, environ)``: a ``Location``, a SQLite file or a database on
  a PostgreSQL server;
* ``create_sqlite`` / ``create_postgres`` make an empty database; ``drop`` deletes one;
* ``inspect(location)`` reads size, tables and creation time; ``open_readonly`` gives a
  Peewee database that cannot write, for the migration status.

Neither SQLite nor PostgreSQL records when a database was created, so ``d1 create`` does:
in ``<state>/d1/databases.json`` for SQLite files, as the database's COMMENT on
PostgreSQL. A database made another way reports its creation time as unknown.
"""

import json
import os
import re
import sqlite3
import tempfile
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlparse, urlunparse

import peewee
import psycopg2
from playhouse import db_url
from psycopg2 import errors as pg_errors
from psycopg2 import sql as pg_sql

from app.db.database import POSTGRES_DEFAULTS, sqlite_url_path
from app.runtime.d1.database import database_url, local_file
from app.runtime.d1.errors import pg_message
from app.runtime.private import private_folder, private_sqlite_file

SQLITE = "sqlite"
POSTGRES = "postgresql"

REGISTRY_FILE = "databases.json"
MAINTENANCE_DATABASE = "postgres"
# What ``d1 create`` writes into a PostgreSQL database's COMMENT.
COMMENT_MARK = "sonicpy d1 create"

# A database name usable as a file name and, quoted, as a PostgreSQL identifier (63 bytes).
DATABASE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,62}")

# Options of a URL's query string that tune Peewee's pool, not the libpq connection.
_POOL_OPTIONS = set(POSTGRES_DEFAULTS) - {"port", "connect_timeout"}
_SIDE_FILES = ("-wal", "-shm", "-journal")


class CatalogError(Exception):
    """A database cannot be located, created, inspected or deleted; the message says why."""


@dataclass(frozen=True)
class Location:
    """Where one database lives: a SQLite ``path``, or a PostgreSQL ``url``."""

    backend: str
    path: Path | None = None
    url: str | None = None

    @property
    def label(self):
        """The file, or the URL with its password masked: safe to print."""
        return str(self.path) if self.backend == SQLITE else mask_password(self.url)

    @property
    def name(self):
        """The file's stem, or the database name on the server."""
        return self.path.stem if self.backend == SQLITE else _connect_args(self.url)["database"]

    def key(self):
        """What two locations share when they are the same database."""
        if self.backend == SQLITE:
            return (SQLITE, str(self.path.resolve()))
        args = _connect_args(self.url)
        return (POSTGRES, args.get("host") or "", int(args.get("port") or 5432), args["database"])


@dataclass
class DatabaseInfo:
    """What ``inspect`` reads. ``exists`` False means nothing else was read."""

    exists: bool
    size: int | None = None
    tables: list = field(default_factory=list)
    created_at: str | None = None


def locate(binding, state_dir, environ):
    """The ``Location`` of the database of a ``[[d1_databases]]`` table (nothing is opened).

    Raises:
        CatalogError: an unset URL variable, an unsupported scheme or an unusable id.
    """
    try:
        url = database_url(binding, environ)
        if not url:
            return Location(SQLITE, path=local_file(binding, state_dir))
        scheme = urlparse(url).scheme
        if scheme == "sqlite":
            return Location(SQLITE, path=Path(sqlite_url_path(url)))
        if scheme in ("postgres", "postgresql"):
            return Location(POSTGRES, url=url)
    except ValueError as ex:
        raise CatalogError(str(ex)) from None
    raise CatalogError(f"unsupported database_url scheme {scheme!r} (use sqlite:/// or postgresql://)")


def mask_password(url):
    """``url`` with its password replaced by ``***``."""
    parts = urlparse(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)[1]
    user = parts.netloc.rsplit("@", 1)[0].split(":", 1)[0]
    return urlunparse(parts._replace(netloc=f"{user}:***@{netloc}"))


def check_name(name):
    """Refuse a name that is not usable as a file name and a PostgreSQL database name."""
    if not DATABASE_NAME.fullmatch(name or ""):
        raise CatalogError(f"invalid database name {name!r}: use letters, digits, - and _ "
                           "(at most 63, starting with a letter or digit)")


def now_iso():
    """Now in UTC, ISO-8601 with milliseconds, as wrangler prints created_at."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


# ----------------------------------------------------------------------------- SQLite

def registry(state_dir):
    """``{database_id: {"name", "created_at"}}`` of the SQLite databases ``d1 create`` made."""
    path = Path(state_dir) / "d1" / REGISTRY_FILE
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (ValueError, OSError) as ex:
        raise CatalogError(f"{path}: unreadable ({ex})") from None


def _write_registry(state_dir, entries):
    """Replace the registry file at once (written beside, then renamed)."""
    folder = private_folder(Path(state_dir) / "d1")
    fd, tmp = tempfile.mkstemp(prefix=f".{REGISTRY_FILE}.", dir=folder)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(entries, handle, indent=2, sort_keys=True)
        os.replace(tmp, folder / REGISTRY_FILE)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def create_sqlite(state_dir, name):
    """Create an empty SQLite database for ``name``; return ``(database_id, path)``.

    The id is a new UUID, as wrangler's database ids are, and the file is the one a
    binding with that ``database_id`` opens.
    """
    check_name(name)
    entries = registry(state_dir)
    if any(entry.get("name") == name for entry in entries.values()):
        raise CatalogError(f"A database with that name already exists: {name}")
    database_id = str(uuid.uuid4())
    # 0600 in a 0700 folder, as every database file of the state folder.
    path = private_sqlite_file(local_file({"database_id": database_id}, state_dir))
    conn = sqlite3.connect(path)
    try:
        conn.execute("PRAGMA journal_mode=wal")  # as the binding opens it: the mode sticks to the file
    finally:
        conn.close()
    entries[database_id] = {"name": name, "created_at": now_iso()}
    _write_registry(state_dir, entries)
    return database_id, path


def _inspect_sqlite(path):
    if not path.is_file():
        return DatabaseInfo(exists=False)
    conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    try:
        tables = [name for (name,) in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table'"
            " AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' AND name NOT LIKE '\\_cf\\_%' ESCAPE '\\'"
            " ORDER BY name")]
        size = conn.execute("SELECT page_count * page_size FROM pragma_page_count(), pragma_page_size()").fetchone()[0]
    except sqlite3.DatabaseError as ex:
        raise CatalogError(f"{path}: {ex}") from None
    finally:
        conn.close()
    return DatabaseInfo(True, size, tables, _registered(path).get("created_at"))


def _registered(path):
    """The registry entry of a file in a state folder's ``d1`` folder (``{}`` for any other)."""
    if path.parent.name != "d1":
        return {}
    return registry(path.parent.parent).get(path.stem, {})


def _drop_sqlite(path):
    for suffix in ("", *_SIDE_FILES):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    if _registered(path):
        state_dir = path.parent.parent
        entries = registry(state_dir)
        entries.pop(path.stem)
        _write_registry(state_dir, entries)


# ------------------------------------------------------------------------- PostgreSQL

def _connect_args(url, database=None):
    """psycopg2 keyword arguments for ``url`` (credentials decoded, pool options left out)."""
    args = {k: v for k, v in db_url.parse(url, unquote_password=True, unquote_user=True).items()
            if k not in _POOL_OPTIONS}
    if database is not None:
        args["database"] = database
    if not args.get("database"):
        raise CatalogError(f"{mask_password(url)} names no database")
    args.setdefault("connect_timeout", POSTGRES_DEFAULTS["connect_timeout"])
    return args


def _connect(url, database=None):
    """An autocommit connection (CREATE/DROP DATABASE cannot run in a transaction)."""
    try:
        conn = psycopg2.connect(**_connect_args(url, database))
    except psycopg2.Error as ex:
        raise CatalogError(pg_message(ex)) from None
    conn.autocommit = True
    return conn


def database_url_on(server_url, name):
    """The URL of database ``name`` on the server of ``server_url`` (its query string kept)."""
    return urlunparse(urlparse(server_url)._replace(path=f"/{name}"))


def create_postgres(server_url, name):
    """Create database ``name`` on the server of ``server_url``; return the new database's URL.

    Connects to the server's maintenance database (``postgres``) to run CREATE DATABASE.
    """
    check_name(name)
    conn = _connect(server_url, MAINTENANCE_DATABASE)
    comment = json.dumps({"created_by": COMMENT_MARK, "created_at": now_iso()})
    try:
        with conn.cursor() as cursor:
            cursor.execute(pg_sql.SQL("CREATE DATABASE {}").format(pg_sql.Identifier(name)))
            cursor.execute(pg_sql.SQL("COMMENT ON DATABASE {} IS %s").format(pg_sql.Identifier(name)), (comment,))
    except pg_errors.DuplicateDatabase:
        raise CatalogError(f"A database with that name already exists: {name}") from None
    except psycopg2.Error as ex:
        raise CatalogError(pg_message(ex)) from None
    finally:
        conn.close()
    return database_url_on(server_url, name)


def _inspect_postgres(url):
    name = _connect_args(url)["database"]
    try:
        conn = _connect(url)
    except CatalogError as ex:
        if f'database "{name}" does not exist' in str(ex):
            return DatabaseInfo(exists=False)
        raise
    try:
        with conn.cursor() as cursor:
            cursor.execute(
                "SELECT table_name FROM information_schema.tables"
                " WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' ORDER BY table_name")
            tables = [row[0] for row in cursor.fetchall()]
            cursor.execute("SELECT pg_database_size(current_database()),"
                           " shobj_description(oid, 'pg_database') FROM pg_database"
                           " WHERE datname = current_database()")
            size, comment = cursor.fetchone()
    except psycopg2.Error as ex:
        raise CatalogError(pg_message(ex)) from None
    finally:
        conn.close()
    return DatabaseInfo(True, size, tables, _created_at(comment))


def _created_at(comment):
    try:
        data = json.loads(comment or "")
    except ValueError:
        return None
    return data.get("created_at") if isinstance(data, dict) and data.get("created_by") == COMMENT_MARK else None


def _drop_postgres(url, force):
    name = _connect_args(url)["database"]
    conn = _connect(url, MAINTENANCE_DATABASE)
    statement = "DROP DATABASE {} WITH (FORCE)" if force else "DROP DATABASE {}"
    try:
        with conn.cursor() as cursor:
            cursor.execute(pg_sql.SQL(statement).format(pg_sql.Identifier(name)))
    except pg_errors.ObjectInUse:
        raise CatalogError(f"database {name} has open connections: stop what uses it "
                           "(or pass --force to end them)") from None
    except psycopg2.Error as ex:
        raise CatalogError(pg_message(ex)) from None
    finally:
        conn.close()


# ----------------------------------------------------------------------------- both

def inspect(location):
    """Size, tables and creation time of ``location``'s database, read-only.

    Raises:
        CatalogError: the database cannot be read (unreachable server, not a database).
    """
    if location.backend == SQLITE:
        return _inspect_sqlite(location.path)
    return _inspect_postgres(location.url)


def drop(location, force=False):
    """Delete ``location``'s database (a SQLite file and its WAL, or DROP DATABASE).

    Args:
        force: on PostgreSQL, end the connections still open to it.
    """
    if location.backend == SQLITE:
        _drop_sqlite(location.path)
    else:
        _drop_postgres(location.url, force)


def open_readonly(location):
    """A Peewee database on ``location`` that refuses writes (for read-only inspection)."""
    if location.backend == SQLITE:
        return peewee.SqliteDatabase(f"{location.path.resolve().as_uri()}?mode=ro", uri=True)
    args = _connect_args(location.url)
    return peewee.PostgresqlDatabase(
        args.pop("database"), options="-c default_transaction_read_only=on", **args)
