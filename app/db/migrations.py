"""The migration runner behind ``d1 migrations create|list|apply``.

It follows wrangler's model: numbered ``*.sql`` files in a migrations folder, a tracking
table (``d1_migrations`` by default) with one row per applied file, pending files applied in
order of their leading number. Where SonicJS's own runner goes wrong (it runs files outside transactions and
hides failures) this one is strict:

* each file's statements and its tracking row commit in ONE transaction (never
  ``executescript``, which commits first), so a failing file leaves no trace;
* it stops at the first failure and names the file, the statement and the database error;
* a checksum (sha256) is stored per file: a file edited after it was applied stops
  ``apply`` before anything runs, instead of being silently skipped. The escape hatch is
  explicit: ``apply(accept_changed=True)`` records the new checksums (use it after a
  harmless edit such as a comment, never to "re-run" a migration);
* two files with the same number are an error naming both (SonicJS reused 029 silently);
* ``list()`` is read-only: it never creates the tracking table;
* a file that manages its own transaction (BEGIN/COMMIT ...) is refused with wrangler's
  message, because the runner already wraps every file in one;
* a file with a check in ``app.db.migration_checks`` (what it needs of the data, a unique
  index no two rows break) runs only when the check passes, inside its transaction: a
  refusal says which rows stand in the way and what to do, nothing changed;
* the time-travel triggers (``app.db.time_travel``) are removed before pending files run
  and installed again afterwards for the schema as it then is, so a migration never trips
  over them and history never spans a schema change. Files that only create or drop
  indexes, triggers and views (``leaves_tables_alone``) run with the triggers in place:
  they change no table and write no row, so the history goes on across them and a restore
  can still reach the points before them.

The tracking table is compatible with wrangler's (``id``, ``name``, ``applied_at``) plus a
``checksum`` column, added to an existing wrangler table on the first ``apply``. Rows
without a checksum (written by wrangler) are trusted and get the file's checksum recorded.
"""

import hashlib
import re
import sys
import textwrap
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import peewee

from app.db import derived, time_travel
from app.db.migration_checks import CHECKS
from app.db.schema_turns import take_schema_turn
from app.db.splitter import SeveralTransactions, split_tokens, tokenize, without_transaction_pair

DEFAULT_TABLE = "d1_migrations"

APPLIED = "applied"
PENDING = "pending"
CHANGED = "changed"
MISSING = "missing"

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*\Z")
_LEADING_NUMBER = re.compile(r"^(\d+)")
_STATEMENT_PREVIEW = 200
# Statements (by their first words) that change no table's columns and write no row: a
# migration made only of them runs with the time-travel triggers in place. Anything else
# (a new table, a column, a row written, even an UPDATE that changes nothing) re-arms.
_TABLES_LEFT_ALONE = (
    ("CREATE", "INDEX"), ("CREATE", "UNIQUE", "INDEX"), ("DROP", "INDEX"),
    ("CREATE", "TRIGGER"), ("CREATE", "OR", "REPLACE", "TRIGGER"), ("DROP", "TRIGGER"),
    ("CREATE", "VIEW"), ("CREATE", "OR", "REPLACE", "VIEW"), ("DROP", "VIEW"),
)


class MigrationError(Exception):
    """A migration problem worth stopping for; the message says what and where.

    Attributes:
        migration: the file name concerned, when there is one.
        statement: the failing statement's text, when a statement failed.
        cause: the database error, when the database refused something.
    """

    def __init__(self, message, migration=None, statement=None, cause=None):
        super().__init__(message)
        self.migration = migration
        self.statement = statement
        self.cause = cause


@dataclass(frozen=True)
class MigrationStatus:
    """One migration as ``list()`` sees it.

    ``status`` is ``applied``, ``pending``, ``changed`` (applied, but the file differs from
    what was applied) or ``missing`` (recorded as applied, but the file is gone).
    """

    name: str
    status: str
    applied_at: str | None = None
    checksum: str | None = None
    stored_checksum: str | None = None


@dataclass(frozen=True)
class MigrationProgress:
    """What ``apply(on_progress=...)`` reports: ``stage`` is ``start``, ``done``,
    ``skipped`` (another process applied it meanwhile) or ``failed``."""

    name: str
    stage: str
    index: int
    total: int
    statements: int

    def __str__(self):
        """One readable line per event, so ``on_progress=print`` (or click.echo) just works."""
        return {
            "start": f"Applying {self.name} ({self.index}/{self.total}) ...",
            "done": f"Applied {self.name}: ok ({self.statements} statements)",
            "skipped": f"Skipped {self.name}: already applied by another process",
            "failed": f"Failed {self.name}",
        }.get(self.stage, f"{self.name}: {self.stage}")


@dataclass(frozen=True)
class _Migration:
    """A migration file read from disk."""

    name: str
    path: Path
    sql: str
    checksum: str


def checksum_of(text):
    """sha256 of a migration's text, with CRLF read as LF so a checkout's line endings don't count."""
    return hashlib.sha256(text.replace("\r\n", "\n").encode("utf-8")).hexdigest()


def sort_key(name):
    """Wrangler's order: by leading number (numeric), numbered before unnumbered, ties by name."""
    match = _LEADING_NUMBER.match(name)
    return (0, int(match.group(1)), name) if match else (1, 0, name)


def statements_of(migration_name, sql):
    """Split a migration into statements; one BEGIN/COMMIT pair is dropped as wrangler drops it,
    any other transaction control refused (the runner owns the transaction)."""
    statements = ["".join(text for _, text in tokens).strip() for tokens in split_tokens(sql)]
    try:
        return without_transaction_pair(statements)
    except SeveralTransactions as ex:
        raise MigrationError(f"{migration_name}: {ex}", migration=migration_name) from None


def leaves_tables_alone(statement):
    """True when ``statement`` only creates or drops an index, a trigger or a view.

    Such a statement neither trips over the time-travel triggers nor changes what the
    change log describes (the tracked tables' columns and rows), so the history can run on
    through it. Judged by its first words, comments aside; a TEMP object, a materialized
    view (it is filled when made) or anything unknown does not qualify.
    """
    words = [text.upper() for kind, text in tokenize(statement) if kind not in ("ws", "comment")]
    return any(tuple(words[:len(head)]) == head for head in _TABLES_LEFT_ALONE)


def _preview(statement):
    """A statement on one line, cut to a readable length for error messages."""
    flat = " ".join(statement.split())
    return flat if len(flat) <= _STATEMENT_PREVIEW else flat[: _STATEMENT_PREVIEW - 3] + "..."


def _lock_key(table):
    """A stable 64-bit advisory-lock key per tracking table (PostgreSQL)."""
    digest = hashlib.sha256(f"sonicpy-migrations:{table}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


class MigrationRunner:
    """Apply and inspect the ``*.sql`` migrations of one folder against one database.

    Args:
        db: the Peewee database (SQLite or PostgreSQL) of the DB binding.
        migrations_dir: the folder holding ``NNNN_name.sql`` files.
        table: the tracking table (wrangler's ``migrations_table``); it is interpolated into
            SQL, so it must be a plain identifier.
        keep_history: arm time travel's triggers after applying (the binding's
            ``time_travel``, default true); False removes them instead.
        checks: ``{file name: check(db) -> refusal or None}`` run before those files
            (default ``app.db.migration_checks.CHECKS``).
    """

    def __init__(self, db, migrations_dir, table=DEFAULT_TABLE, keep_history=True, checks=None):
        if not _IDENTIFIER.match(table or ""):
            raise MigrationError(f"invalid migrations table name {table!r}: use letters, digits and _")
        self.db = db
        self.checks = CHECKS if checks is None else checks
        self.keep_history = keep_history
        self.migrations_dir = Path(migrations_dir)
        self.table = table
        self._quoted = f'"{table}"'

    # ----------------------------------------------------------------- files

    def _files(self):
        """The migration files, in apply order; duplicate numbers are an error."""
        folder = self.migrations_dir
        if not folder.is_dir():
            raise MigrationError(f"No migrations present at {folder.resolve()}.")
        paths = sorted((p for p in folder.iterdir() if p.is_file() and p.suffix == ".sql"),
                       key=lambda p: sort_key(p.name))
        self._check_unique_numbers([p.name for p in paths])
        return paths

    @staticmethod
    def _check_unique_numbers(names):
        by_number = {}
        for name in names:
            match = _LEADING_NUMBER.match(name)
            if match:
                by_number.setdefault(int(match.group(1)), []).append(name)
        clashes = [group for group in by_number.values() if len(group) > 1]
        if clashes:
            details = "; ".join(" and ".join(group) for group in clashes)
            raise MigrationError(f"migration number used by more than one file: {details}. "
                                 "Give each file its own number.")

    def _read(self, path):
        sql = path.read_text(encoding="utf-8")
        return _Migration(path.name, path, sql, checksum_of(sql))

    def _migrations(self):
        return [self._read(path) for path in self._files()]

    # ------------------------------------------------------ tracking table

    def _table_exists(self):
        return self.db.table_exists(self.table)

    def _has_checksum_column(self):
        return any(column.name == "checksum" for column in self.db.get_columns(self.table))

    def _applied_rows(self):
        """``{name: (applied_at, checksum)}`` from the tracking table (empty if it is absent)."""
        if not self._table_exists():
            return {}
        checksum = "checksum" if self._has_checksum_column() else "NULL"
        cursor = self.db.execute_sql(f"SELECT name, applied_at, {checksum} FROM {self._quoted} ORDER BY id")
        return {name: (None if at is None else str(at), stored) for name, at, stored in cursor.fetchall()}

    def _ensure_table(self):
        """Create the tracking table (wrangler's columns + checksum) or add checksum to wrangler's."""
        with self._transaction():
            self.db.execute_sql(
                f"CREATE TABLE IF NOT EXISTS {self._quoted} ("
                " id INTEGER PRIMARY KEY,"
                " name TEXT UNIQUE,"
                " applied_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP NOT NULL,"
                " checksum TEXT)"
            )
            if not self._has_checksum_column():
                self.db.execute_sql(f"ALTER TABLE {self._quoted} ADD COLUMN checksum TEXT")

    def _transaction(self):
        """A transaction that serialises migrators: BEGIN IMMEDIATE on SQLite (take the write
        lock up front), a transaction-scoped advisory lock on PostgreSQL, and then the schema
        turn (``app.db.schema_turns``): a file may drop indexes of ``content`` or rewrite
        schemas, and the triggers and counts installed afterwards lock ``content`` too."""
        if isinstance(self.db, peewee.SqliteDatabase):
            return self.db.atomic("IMMEDIATE")
        if isinstance(self.db, peewee.PostgresqlDatabase):
            return _LockedTransaction(self.db, _lock_key(self.table))
        return self.db.atomic()

    def _param(self):
        return self.db.param

    def _record(self, migration):
        """Insert the tracking row; id = max(id) + 1 (no AUTOINCREMENT/serial: portable)."""
        p = self._param()
        self.db.execute_sql(
            f"INSERT INTO {self._quoted} (id, name, applied_at, checksum)"
            f" SELECT COALESCE(MAX(id), 0) + 1, {p}, {p}, {p} FROM {self._quoted}",
            (migration.name, _utc_timestamp(), migration.checksum),
        )

    def _is_recorded(self, name):
        p = self._param()
        cursor = self.db.execute_sql(f"SELECT 1 FROM {self._quoted} WHERE name = {p}", (name,))
        return cursor.fetchone() is not None

    def _store_checksums(self, migrations):
        p = self._param()
        with self._transaction():
            for migration in migrations:
                self.db.execute_sql(f"UPDATE {self._quoted} SET checksum = {p} WHERE name = {p}",
                                    (migration.checksum, migration.name))

    # ------------------------------------------------------------ public API

    def list(self):
        """Every migration with its status, in apply order. Read-only: creates nothing.

        Files recorded as applied but no longer on disk are reported as ``missing``.
        """
        migrations = self._migrations()
        applied = self._applied_rows()
        statuses = [self._status(m, applied.get(m.name)) for m in migrations]
        on_disk = {m.name for m in migrations}
        statuses += [MigrationStatus(name, MISSING, applied_at=at, stored_checksum=stored)
                     for name, (at, stored) in applied.items() if name not in on_disk]
        return sorted(statuses, key=lambda s: sort_key(s.name))

    @staticmethod
    def _status(migration, row):
        if row is None:
            return MigrationStatus(migration.name, PENDING, checksum=migration.checksum)
        applied_at, stored = row
        status = CHANGED if stored is not None and stored != migration.checksum else APPLIED
        return MigrationStatus(migration.name, status, applied_at, migration.checksum, stored)

    def owed_refill(self):
        """The recount of the derived tables an apply wrote down and never paid (a process
        killed between the install and its recount), or None (``derived.owed_refill``)."""
        return derived.owed_refill(self.db)

    def outdated_objects(self):
        """The derived objects (search index, triggers on content) an apply would create or
        replace: missing, as after loading an SQL dump, or an earlier version's
        (``derived.outdated_objects``). Read-only."""
        return derived.outdated_objects(self.db)

    def pending(self):
        """The migrations not applied yet, in apply order (read-only)."""
        return [status for status in self.list() if status.status == PENDING]

    def apply(self, on_progress=None, accept_changed=False):
        """Apply every pending migration, in order, each in its own transaction.

        Args:
            on_progress: called with a ``MigrationProgress`` before and after each file.
            accept_changed: the explicit escape hatch for applied files whose content changed:
                record their new checksum instead of refusing. Their SQL is NOT run again.

        Returns:
            The names of the files applied by this call.

        Raises:
            MigrationError: a changed applied file (before anything runs), a duplicate
                number, a file with its own transaction, or the first failing statement
                (that file is rolled back; files applied before it stay applied).
        """
        migrations = self._migrations()
        self._ensure_table()
        applied = self._applied_rows()
        self._reconcile_checksums(migrations, applied, accept_changed)
        pending = [m for m in migrations if m.name not in applied]
        # Split every pending file first: a file that cannot run stops the run before any does.
        plans = [(m, statements_of(m.name, m.sql)) for m in pending]
        done = []
        if plans and not all(leaves_tables_alone(s) for _, statements in plans for s in statements):
            # A schema change must not trip over the history triggers. Taken off, they log
            # nothing (the files' own writes, other connections' writes until they are back),
            # so arming afterwards starts the history anew. Left on, every write is logged
            # and arming finds them current: the history goes on.
            with self._transaction():
                time_travel.disarm(self.db)
        try:
            for index, (migration, statements) in enumerate(plans, start=1):
                if self._apply_one(migration, statements, index, len(plans), on_progress):
                    done.append(migration.name)
        finally:
            self._arm_time_travel(done)
        return done

    def _arm_time_travel(self, done):
        """(Re)install the history triggers for the schema as it now is, when it changed;
        remove them instead when the binding turned time travel off."""
        armed_by = f"migration {done[-1]}" if done else "d1 migrations apply"
        with self._transaction():
            # Counts, search index, media references: dialect-specific, so not in the files.
            refill = derived.install_objects(self.db)
            if self.keep_history:
                time_travel.arm(self.db, armed_by, excluded=(self.table,))
            else:
                time_travel.disarm(self.db)
        if refill:
            with self._transaction():  # once the locks the install took are released
                derived.refill(self.db, refill)

    def _reconcile_checksums(self, migrations, applied, accept_changed):
        """Refuse (or, with accept_changed, record) applied files whose content changed;
        record checksums missing from rows wrangler wrote."""
        changed, unrecorded = [], []
        for migration in migrations:
            if migration.name not in applied:
                continue
            stored = applied[migration.name][1]
            if stored is None:
                unrecorded.append(migration)
            elif stored != migration.checksum:
                changed.append(migration)
        if changed and not accept_changed:
            names = ", ".join(m.name for m in changed)
            raise MigrationError(
                f"applied migration file(s) changed since they were applied: {names}. "
                "Restore the original content and put the change in a new migration, or, if the "
                "edit is harmless, run apply with --accept-changed to record the new checksum.",
                migration=changed[0].name,
            )
        if changed or unrecorded:
            self._store_checksums(changed + unrecorded)

    def _apply_one(self, migration, statements, index, total, on_progress):
        """Run one file and its tracking row in one transaction; False if already applied."""
        report = _reporter(on_progress, migration.name, index, total, len(statements))
        report("start")
        try:
            with self._transaction():
                if self._is_recorded(migration.name):
                    report("skipped")
                    return False
                self._check(migration)
                for number, statement in enumerate(statements, start=1):
                    self._execute(migration, statement, number, len(statements))
                self._record(migration)
        except MigrationError:
            report("failed")
            raise
        except peewee.DatabaseError as ex:
            # Outside any statement: the tracking row or the COMMIT itself (a deferred
            # foreign key, say). The transaction was rolled back all the same.
            report("failed")
            raise MigrationError(f"Migration {migration.name} failed: {str(ex).strip()}\n"
                                 "It was rolled back; earlier migrations stay applied.",
                                 migration=migration.name, cause=ex) from ex
        report("done")
        return True

    def _check(self, migration):
        """Refuse ``migration`` when its check (``checks``) finds the data it needs is not there."""
        check = self.checks.get(migration.name)
        refusal = check(self.db) if check is not None else None
        if refusal:
            raise MigrationError(f"Migration {migration.name} refused: {refusal}.\n"
                                 "Nothing was changed; earlier migrations stay applied.", migration=migration.name)

    def _execute(self, migration, statement, number, count):
        """Run one statement, raising a MigrationError that names file, statement and error."""
        try:
            with peewee.__exception_wrapper__:
                # A bare cursor.execute(sql): no parameters, so psycopg2 leaves '%' alone.
                self.db.cursor().execute(statement)
        except peewee.DatabaseError as ex:
            raise MigrationError(
                f"Migration {migration.name} failed at statement {number} of {count}: "
                f"{_preview(statement)}\n{textwrap.indent(str(ex).strip(), '  ')}\n"
                "It was rolled back; earlier migrations stay applied.",
                migration=migration.name, statement=statement, cause=ex,
            ) from ex

    def create(self, name):
        """Create the next migration file, ``NNNN_<name>.sql``, as ``wrangler d1 migrations create``.

        The number is the highest leading number in the folder plus one, four digits; spaces
        in ``name`` become underscores; ``/`` and ``\\`` are refused. Returns the new path.
        """
        if not name or not name.strip():
            raise MigrationError("a migration needs a name")
        if "/" in name or "\\" in name:
            raise MigrationError(f"migration name {name!r} must not contain / or \\")
        self.migrations_dir.mkdir(parents=True, exist_ok=True)
        number = f"{self._next_number():04d}"
        path = self.migrations_dir / f"{number}_{name.strip().replace(' ', '_')}.sql"
        with path.open("x", encoding="utf-8") as handle:
            handle.write(f"-- Migration number: {number} \t {_iso_now()}\n")
        return path

    def _next_number(self):
        numbers = [int(m.group(1)) for p in self.migrations_dir.glob("*.sql")
                   if (m := _LEADING_NUMBER.match(p.name))]
        return max(numbers, default=0) + 1


class _LockedTransaction:
    """``db.atomic()`` plus ``pg_advisory_xact_lock``: concurrent migrators (several hosts
    running the release phase) take turns, and then with the app's schema saves
    (``take_schema_turn``, always second, so the two locks are taken in one order); the
    locks end with the transaction."""

    def __init__(self, db, key):
        self.db = db
        self.key = key
        self._atomic = db.atomic()

    def __enter__(self):
        self._atomic.__enter__()
        try:
            self.db.execute_sql(f"SELECT pg_advisory_xact_lock({self.db.param})", (self.key,))
            take_schema_turn(self.db)
        except BaseException:
            self._atomic.__exit__(*sys.exc_info())  # roll back, then re-raise
            raise
        return self

    def __exit__(self, exc_type, exc, tb):
        return self._atomic.__exit__(exc_type, exc, tb)


def _reporter(on_progress, name, index, total, statements):
    """A ``report(stage)`` function that forwards to ``on_progress`` when one is given."""
    def report(stage):
        if on_progress is not None:
            on_progress(MigrationProgress(name, stage, index, total, statements))
    return report


def _utc_timestamp():
    """``YYYY-MM-DD HH:MM:SS`` in UTC: what SQLite's CURRENT_TIMESTAMP writes in wrangler's table."""
    return datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S")


def _iso_now():
    """An ISO-8601 UTC timestamp with milliseconds, like JavaScript's ``toISOString()``."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
