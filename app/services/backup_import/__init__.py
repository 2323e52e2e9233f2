"""``import_backup``: a JSON backup (see ``app.services.backup``) read back into the database.

All or nothing, in ONE transaction, in foreign-key order (users, collections, media,
content), and idempotent.

Refused before anything is written (``BackupError``, naming the rows):

* a reference or unique key that is not text or null: it names no row;
* a text value with a NUL character or an integer beyond 64 bits: PostgreSQL stores no
  NUL in text, SQLite no larger integer, and both databases refuse them alike;
* an id held twice in one table, or a collection name twice: a database holds each once,
  so the file was edited or pieced together, and which row is meant cannot be told;
* a required reference (author, uploader, collection) to a row in neither the backup nor
  the database: it would fail its foreign key mid-import.

Skipped, so importing twice changes nothing; a row already there by id is only counted
(a second import of a large backup would otherwise print every row), each of the others
is given with its reason (``ImportReport.reasons``):

* a row whose unique key (user email or username in any case, collection name, media
  file key, content collection and slug) is already there;
* a user whose username breaks ``USERNAME_PATTERN`` (written before the rule, or by hand);
* a collection whose name breaks the collection name rule or is reserved (``new``): the
  admin's and the API's routes could not tell it from their own words, so its content is
  skipped too;
* a row whose author or uploader was not imported (a user skipped or refused);
* a content row whose slug an earlier row of the backup holds in its collection (no row
  names content, so nothing else follows);
* a row the database refused (see below), content included.

References follow what was skipped:

* content of a collection skipped for its name goes to the existing collection of that
  name; content and media of a user skipped for its email go to that email's user;
  content showing a media file skipped for its file key shows the row holding that key
  (the same key is the same stored file);
* an optional reference (inviter, reviewer, featured image) to a row not imported is
  cleared; one to a row in neither the backup nor the database is imported as NULL and
  counted per kind (``ImportReport.cleared_counts``).

Inserts use ``ON CONFLICT DO NOTHING`` on both databases (SQLite's ``INSERT OR IGNORE``
would also swallow NOT NULL and CHECK failures). The rows that went in are read back:
the database compares unique keys its own way (``lower()`` folds letters differently on
SQLite, PostgreSQL and Python), and a rule of its own (a trigger) may drop a row. A
refused row is skipped with what needs it, the reason saying which.
Inviters are linked once both sides are in.
"""

from dataclasses import dataclass, field
from typing import Any

import msgspec
import peewee

from app.db import content_media, derived
from app.db.database import is_postgres, refresh_statistics
from app.db.schema_turns import take_schema_turn
from app.runtime.d1.errors import INT64_MAX, pg_message
from app.services.accounts import USERNAME_RULE, is_username, normalize_email
from app.services.backup import BACKUP_VERSION, JSON_MARKER, TEXT_MARKER, BackupError, is_marker_shaped, json_columns
from app.services.collection_schema import collection_name_problem

IMPORT_ORDER = ("users", "collections", "media", "content")
# Content columns that mirror pending rows of scheduled_content, which backups do not hold.
SCHEDULE_MIRRORS = ("scheduled_publish_at", "scheduled_unpublish_at")
_IN_CHUNK = 500  # values per IN (...) lookup, well under every database's parameter limit
_MAX_PARAMS = 900  # parameters per INSERT (SQLite builds before 3.32 allow 999)
_SINGULAR = {"users": "user", "collections": "collection", "media": "media", "content": "content"}
# The references the imported rows hold: (table, column, the table it names, whether it may be NULL).
REFERENCES = (
    ("users", "invited_by", "users", True),
    ("media", "uploaded_by", "users", False),
    ("content", "collection_id", "collections", False),
    ("content", "author_id", "users", False),
    ("content", "reviewer_id", "users", True),
    ("content", "featured_image_id", "media", True),
)
# The columns rows are matched by, text or null in a backup: references and unique keys.
_TEXT_COLUMNS = {
    "users": ("email", "username", "invited_by"),
    "collections": ("name",),
    "media": ("r2_key", "uploaded_by"),
    "content": ("collection_id", "slug", "author_id", "reviewer_id", "featured_image_id"),
}
_LISTED = 10  # rows a refusal names before it says how many more there are
# Each table's unique keys: {column: the expression the database compares}. Usernames are
# unique ignoring case; the rule keeps them ASCII, so Python's lower() folds them alike.
_UNIQUE_KEYS = {
    "users": {"email": '"email"', "username": 'lower("username")'},
    "collections": {"name": '"name"'},
    "media": {"r2_key": '"r2_key"'},
}
_FOLDED = {"username"}  # key columns compared in lower case


class BackupData(msgspec.Struct, forbid_unknown_fields=True):
    """The file's ``data``: each table's rows, as column dicts."""

    users: list[dict[str, Any]] = []
    collections: list[dict[str, Any]] = []
    content: list[dict[str, Any]] = []
    media: list[dict[str, Any]] = []


class BackupFile(msgspec.Struct, forbid_unknown_fields=True):
    """The JSON backup file."""

    version: str
    timestamp: str
    data: BackupData


@dataclass
class ImportReport:
    """What one import did.

    Attributes:
        inserted: rows inserted per table, in import order.
        skipped: rows skipped per table.
        reasons: why each skipped row was skipped (``users u-1: ...``), but for rows
            already there by id, which are only counted.
        cleared_counts: references to rows in neither the backup nor the database, imported
            as NULL, per ``table.column``.
        cleared: one line per such reference.
    """

    inserted: dict = field(default_factory=dict)
    skipped: dict = field(default_factory=dict)
    reasons: list = field(default_factory=list)
    cleared_counts: dict = field(default_factory=dict)
    cleared: list = field(default_factory=list)

    def summary(self):
        """``users: 2 inserted, 1 skipped; ...``, then the references cleared, if any."""
        counts = "; ".join(f"{t}: {self.inserted[t]} inserted, {self.skipped[t]} skipped" for t in self.inserted)
        if not self.cleared_counts:
            return counts
        cleared = ", ".join(f"{n} {kind}" for kind, n in self.cleared_counts.items())
        return f"{counts}; references to rows in neither the backup nor the database, imported as NULL: {cleared}"


def parse_backup(source):
    """Decode and check a backup file's bytes; raise BackupError saying what is wrong."""
    text = source if isinstance(source, (bytes, str)) else bytes(source)
    head = (text[:200].decode("utf-8", "replace") if isinstance(text, bytes) else text[:200]).lstrip().upper()
    if head.startswith(("PRAGMA", "CREATE", "INSERT", "BEGIN", "--")):
        raise BackupError("this looks like an SQL dump, not a JSON backup: restore it with d1 execute DB --file FILE")
    try:
        backup = msgspec.json.decode(text, type=BackupFile)
    except msgspec.ValidationError as ex:
        raise BackupError(f"not a sonicpy JSON backup: {ex}") from None
    except msgspec.DecodeError as ex:
        raise BackupError(f"not valid JSON: {ex}") from None
    if backup.version != BACKUP_VERSION:
        raise BackupError(f"unsupported backup version {backup.version!r} (this version reads {BACKUP_VERSION!r})")
    return backup


def _check_rows(db, backup):
    """Every row's columns must exist in the database, its id must be text, its references
    and unique keys text or null, its ``$text`` markers must hold text, and its values must
    be storable (no NUL character, no integer beyond 64 bits, no list or object outside a
    JSON column).

    The import matches rows by those values, in sets and lookups: a list there cannot be
    hashed, a number is not sorted with text, and neither names a row, so the backup is
    refused before anything is written rather than failing halfway or on a foreign key.
    """
    columns, json_names = {}, json_columns()
    for table in IMPORT_ORDER:
        columns[table] = [column.name for column in db.get_columns(table)]
        for index, row in enumerate(getattr(backup.data, table)):
            _check_row(f"data.{table}[{index}]", table, row, columns[table], json_names.get(table, ()))
    return columns


def _check_row(where, table, row, known, json_names):
    """``_check_rows`` for one row of ``table``, named ``where`` in the error."""
    unknown = sorted(set(row) - set(known))
    if unknown:
        raise BackupError(f"{where}: unknown column {unknown[0]!r} for table {table}")
    if not isinstance(row.get("id"), str) or not row["id"]:
        raise BackupError(f"{where}: id must be a non-empty string")
    for name in _TEXT_COLUMNS[table]:
        if row.get(name) is not None and not isinstance(row[name], str):
            raise BackupError(f"{where}.{name}: must be a string or null")
    for name in json_names:
        value = row.get(name)
        if is_marker_shaped(value) and TEXT_MARKER in value and not isinstance(value[TEXT_MARKER], str):
            raise BackupError(f"{where}.{name}: {TEXT_MARKER} must hold a string")
    for name, value in row.items():
        if name in json_names:  # written as JSON text, escaped, unless a marker holds the text itself
            value = value[TEXT_MARKER] if is_marker_shaped(value) and TEXT_MARKER in value else None
        _check_storable(f"{where}.{name}", value)


def _check_storable(where, value):
    """Refuse a value one of the databases cannot store, named ``where``: PostgreSQL's text
    holds no NUL character, SQLite's integers are 64-bit. Either would escape the insert as
    the driver's ValueError or OverflowError; refused here, both databases say the same."""
    if isinstance(value, str) and "\x00" in value:
        raise BackupError(f"{where}: contains a NUL character, which PostgreSQL cannot store")
    if isinstance(value, int) and not -INT64_MAX - 1 <= value <= INT64_MAX:
        raise BackupError(f"{where}: integer out of range (the databases hold 64-bit integers)")
    if isinstance(value, (list, dict)):
        # SQLite's driver refuses one, psycopg writes a list as an array literal ('{a}'):
        # refused here, neither database stores one outside a JSON column.
        kind = "a list" if isinstance(value, list) else "an object"
        raise BackupError(f"{where}: must be a single value, not {kind} (only JSON columns hold them)")


def _check_duplicates(backup):
    """Each id at most once per table, and each collection name once: a database holds them
    once, so a backup holding one twice was edited or pieced together, and which row is meant
    cannot be told (content would follow neither collection, or the wrong one)."""
    keys = [(table, "id") for table in IMPORT_ORDER] + [("collections", "name")]
    for table, column in keys:
        first = {}
        for index, row in enumerate(getattr(backup.data, table)):
            value = row.get(column)
            if value is None:
                continue  # ids and names are checked to be text or null; a missing name is the database's to refuse
            if value in first:
                raise BackupError(f"data.{table}[{first[value]}] and data.{table}[{index}] have the same {column}"
                                  f" {value!r}: a backup holds each {_SINGULAR[table]} {column} once")
            first[value] = index


def import_backup(db, source, on_progress=None):
    """Import a JSON backup (bytes, str or a parsed ``BackupFile``) in one transaction.

    Args:
        db: the DB binding's Peewee database.
        source: the file's content.
        on_progress: called as ``on_progress(table, inserted, skipped)`` after each table.

    Returns:
        An ``ImportReport``.

    Raises:
        BackupError: the file is invalid, a row needs one that is nowhere, or the database
            refused a row; nothing was written.
    """
    backup = source if isinstance(source, BackupFile) else parse_backup(source)
    columns = _check_rows(db, backup)
    _check_duplicates(backup)
    importer = _Importer(db, columns)
    failure = None
    try:
        with db.atomic():
            take_schema_turn(db)  # collections come in too
            if is_postgres(db):
                # Counting the imported fields' values and recomputing content_media lock
                # content in SHARE mode: taken now, before the import's own rows, a content
                # write waiting for one of them (a slug the import took) cannot hold it off.
                db.execute_sql("LOCK TABLE content IN SHARE MODE")
            importer.check_references(backup.data)  # before the first row is written
            for table in IMPORT_ORDER:
                getattr(importer, f"import_{table}")(getattr(backup.data, table))
                if on_progress:
                    on_progress(table, importer.report.inserted[table], importer.report.skipped[table])
            derived.track_declared(db)  # the imported collections' indexed fields are counted too
            if importer.report.inserted["media"]:
                # Content already here may name the files that came in: its triggers ran before them.
                content_media.rebuild(db)
    except peewee.DatabaseError as ex:
        failure = _failure(ex)
    if failure is not None:
        # Raised outside the except block, so the driver's error is neither its cause nor its
        # context: its full text may repeat the row, password hash included, and a traceback
        # (logging.exception) would print it.
        raise BackupError(f"import failed and was rolled back, nothing was written: {failure}")
    if any(importer.report.inserted.values()):
        refresh_statistics(db)
    return importer.report


class _Importer:
    """One import: the id maps from backup rows to target rows, filled table by table."""

    def __init__(self, db, columns):
        self.db = db
        self.columns = columns
        self.json = json_columns()
        self.report = ImportReport()
        self.users = {}  # backup user id -> target user id, or None when it has no counterpart
        self.collections = {}
        self.media = {}
        # Ids the backup's rows name that are in neither the backup nor the database, per table.
        self.dangling = {"users": set(), "collections": set(), "media": set()}
        self.cleared_refs = []  # (table, row id, column, value) of optional references imported as NULL

    # lookups -----------------------------------------------------------------------------

    def _rows_in(self, select_where, values, params=()):
        """The rows of ``<select_where> IN (values)``, asked ``_IN_CHUNK`` values at a time;
        ``params`` fill the placeholders ``select_where`` holds."""
        p = self.db.param
        for start in range(0, len(values), _IN_CHUNK):
            chunk = values[start:start + _IN_CHUNK]
            yield from self.db.execute_sql(f'{select_where} IN ({", ".join([p] * len(chunk))})',
                                           (*params, *chunk)).fetchall()

    def _existing(self, table, column, values, key="id"):
        """``{value: key}`` for rows of ``table`` whose ``column`` is among ``values``."""
        values = sorted({v for v in values if v is not None})
        return dict(self._rows_in(f'SELECT "{column}", "{key}" FROM "{table}" WHERE "{column}"', values))

    def _users_by_email(self, emails):
        """``{email: (user id, the email as stored)}`` for the users holding ``emails`` (normalised), in this form or
        in another case: an email stored before emails were normalised (``Admin@Example.com``)
        is the same address. SQL's ``lower()`` stands in for the normalisation, which neither
        database can do in full (SQLite has no NFKC; its ``lower()`` folds A-Z only, so a
        stored non-ASCII capital is matched on PostgreSQL alone). Of two users one address
        folds onto, the one holding it as given wins, then the first by id."""
        emails = sorted({email for email in emails if email is not None})
        found = self._rows_in('SELECT lower("email"), "email", "id" FROM "users" WHERE lower("email")', emails)
        users = {}
        for folded, stored, user_id in sorted(found, key=lambda row: (row[1] != row[0], row[2])):
            users.setdefault(folded, (user_id, stored))
        return users

    def _held_usernames(self, usernames):
        """The ``usernames`` users hold in any case, lowercased (usernames are unique ignoring case)."""
        folded = sorted({name.lower() for name in usernames if isinstance(name, str)})
        return {name for (name,) in self._rows_in('SELECT lower("username") FROM "users" WHERE lower("username")',
                                                  folded)}

    def _insert(self, table, rows):
        """Insert ``rows`` (dicts) with ON CONFLICT DO NOTHING; return how many went in."""
        if not rows:
            return 0
        names = self.columns[table]
        json_names = self.json.get(table, set())
        target = peewee.Table(table, names).bind(self.db)
        per_chunk = max(1, _MAX_PARAMS // len(names))
        inserted = 0
        for start in range(0, len(rows), per_chunk):
            chunk = [
                tuple(_encode(row.get(n), n in json_names) if n in row else _MISSING for n in names)
                for row in rows[start:start + per_chunk]
            ]
            inserted += self._insert_chunk(target, names, chunk)
        return inserted

    def _insert_chunk(self, target, names, chunk):
        # Columns a row leaves out take the column's DEFAULT: insert such rows one shape at a time.
        inserted = 0
        for shape in {tuple(v is _MISSING for v in row) for row in chunk}:
            used = [n for n, missing in zip(names, shape) if not missing]
            rows = [tuple(v for v in row if v is not _MISSING) for row in chunk
                    if tuple(v is _MISSING for v in row) == shape]
            query = target.insert(rows, columns=[peewee.Column(target, n) for n in used])
            inserted += query.on_conflict(action="NOTHING").as_rowcount().execute()
        return inserted

    def _finish(self, table, total, candidates):
        """Insert ``table``'s ``candidates`` and count its rows: those that went in, and the
        rest of its ``total`` rows as skipped (before the insert, or refused by it)."""
        inserted = self._insert(table, candidates)
        self.report.inserted[table] = inserted
        self.report.skipped[table] = total - inserted

    def _skip(self, table, row, why):
        """Record why ``row`` of ``table`` was not imported."""
        self.report.reasons.append(f"{table} {row['id']}: {why}")

    # references --------------------------------------------------------------------------

    def check_references(self, data):
        """Find the ids the backup's rows name that are in neither the backup nor the
        database; raise BackupError naming the rows that need one and cannot do without it.

        A backup the app wrote holds every row its rows name; one edited or pieced together
        may not. An optional reference to such a row is imported as NULL (``_clear_dangling``); a
        required one (author, uploader, collection) would fail the foreign key, so the
        backup is refused before anything is written, rather than mid-import.
        """
        held = {table: {row["id"] for row in getattr(data, table)} for table in self.dangling}
        for table, column, target, _ in REFERENCES:
            named = {row.get(column) for row in getattr(data, table)}
            self.dangling[target].update(named - held[target] - {None})
        for target, ids in self.dangling.items():
            ids.difference_update(self._existing(target, "id", ids))
        missing = self._required_missing(data)
        if missing:
            raise BackupError(f"{len(missing)} row(s) name a row in neither the backup nor the database and cannot"
                              f" be imported without it: {_listing(missing)}")

    def _required_missing(self, data):
        """``_missing``'s lines for every required reference, in ``REFERENCES`` order."""
        missing = []
        for table, column, target, optional in REFERENCES:
            if not optional:
                missing += self._missing(table, column, target, getattr(data, table))
        return missing

    def _missing(self, table, column, target, rows):
        """``data.content[3] (id 'p9'): author_id 'ghost' is no user`` for each row of ``rows``
        to be imported whose ``column`` names a dangling row of ``target``."""
        needing = [(index, row) for index, row in enumerate(rows) if row.get(column) in self.dangling[target]]
        here = self._existing(table, "id", [row["id"] for _, row in needing])  # skipped anyway
        return [f"data.{table}[{index}] (id {row['id']!r}): {column} {row[column]!r} is no {_SINGULAR[target]}"
                for index, row in needing if row["id"] not in here]

    def _clear_dangling(self, table, row, column, target):
        """Clear ``row[column]`` if it names a row in neither the backup nor the database."""
        value = row.get(column)
        if value is not None and value in self.dangling[target]:
            row[column] = None
            self.cleared_refs.append((table, row["id"], column, value))

    def _report_cleared(self, table, refused=()):
        """Count the references of ``table``'s imported rows that ``_clear_dangling`` cleared."""
        for row_table, row_id, column, value in self.cleared_refs:
            if row_table == table and row_id not in refused:
                kind = f"{table}.{column}"
                self.report.cleared_counts[kind] = self.report.cleared_counts.get(kind, 0) + 1
                self.report.cleared.append(f"{table} {row_id}: {column} {value!r} is in neither the backup nor"
                                           f" the database: imported as NULL")

    # tables ------------------------------------------------------------------------------

    def import_users(self, rows):
        """Insert the users not already here, mapping each backup user to its target user
        (itself, the user holding its email, or None when it has no counterpart)."""
        # Emails are stored and looked up in one form; a backup from elsewhere may hold another.
        rows = [{**r, "email": normalize_email(r["email"])} if isinstance(r.get("email"), str) else r for r in rows]
        by_id = self._existing("users", "id", [r["id"] for r in rows])
        by_email = self._users_by_email([r.get("email") for r in rows])
        held = self._held_usernames([r.get("username") for r in rows])
        candidates = []
        for row in rows:
            username = row.get("username")
            if row["id"] in by_id:
                self.users[row["id"]] = row["id"]
            elif row.get("email") in by_email:
                holder, stored = by_email[row["email"]]
                self.users[row["id"]] = holder
                self._skip("users", row, _email_taken(row["email"], holder, stored))
            elif isinstance(username, str) and not is_username(username):
                # Written before the rule, or by hand: other letters than A-Z fold one way in
                # SQLite's lower() and another in PostgreSQL's, so the index would differ.
                self.users[row["id"]] = None
                self._skip("users", row, f"username {username!r} breaks the rule for usernames ({USERNAME_RULE})")
            elif isinstance(username, str) and username.lower() in held:
                # Held by another user, in this case or another (or by a row of this backup).
                self.users[row["id"]] = None
                self._skip("users", row, f"username {username!r} belongs to another user")
            else:
                self.users[row["id"]] = row["id"]
                candidates.append(row)
                if isinstance(username, str):
                    held.add(username.lower())
                if row.get("email") is not None:  # a later row of this backup with it is this user
                    by_email[row["email"]] = (row["id"], row["email"])
        invited = self._unlink_inviters(candidates)
        self._finish("users", len(rows), candidates)
        refused = self._forget_refused("users", candidates, self.users)
        self._link_inviters(invited)
        self._report_cleared("users", refused)

    def _unlink_inviters(self, candidates):
        """Point each candidate's ``invited_by`` at its target user; ``{id: inviter}`` of those
        invited by another candidate, inserted without it until both are known to be in."""
        incoming, invited = {row["id"] for row in candidates}, {}
        for row in candidates:
            self._clear_dangling("users", row, "invited_by", "users")
            if row.get("invited_by") not in self.users:
                continue  # none, or a user the database holds, kept as it is
            inviter = self.users[row["invited_by"]]
            if inviter in incoming:
                invited[row["id"]], inviter = inviter, None
            row["invited_by"] = inviter
        return invited

    def _forget_refused(self, table, candidates, mapping):
        """Candidates the database refused are not imported, and what needs them follows.

        The checks above ask what the database holds, but ``ON CONFLICT DO NOTHING`` answers
        for the unique keys as the database compares them, and a concurrent write may take
        one between the checks and the insert; a rule of the database's own (a trigger
        dropping the row) may refuse it too. Such a row went nowhere; mapped to itself, the
        rows naming it would fail their foreign key. Returns the ids of the refused rows.
        """
        landed = self._existing(table, "id", [row["id"] for row in candidates])
        refused = {row["id"] for row in candidates} - set(landed)
        for source_id, target_id in mapping.items():
            if target_id in refused:  # the refused row itself, and the rows of this backup sent to it
                mapping[source_id] = None
        refused_rows = [row for row in candidates if row["id"] in refused]
        held = self._held_keys(table, refused_rows)
        for row in refused_rows:
            self._skip(table, row, _why_refused(table, row, held))
        return refused

    def _held_keys(self, table, rows):
        """``{column: {value, ...}}``: the unique keys of ``rows`` that rows of ``table`` hold,
        as the database compares them (lower case for ``_FOLDED`` columns). One query per
        chunk of rows, not one per row: a restore may see thousands refused."""
        keys = _UNIQUE_KEYS[table]
        held = {column: set() for column in keys}
        p, per_chunk = self.db.param, max(1, _IN_CHUNK // len(keys))
        for start in range(0, len(rows), per_chunk):
            wanted = {column: sorted({value for row in rows[start:start + per_chunk]
                                      if (value := _key_value(column, row)) is not None}) for column in keys}
            asked = [column for column in keys if wanted[column]]
            if not asked:
                continue
            where = " OR ".join(f'{keys[c]} IN ({", ".join([p] * len(wanted[c]))})' for c in asked)
            cursor = self.db.execute_sql(f'SELECT {", ".join(keys[c] for c in asked)} FROM "{table}" WHERE {where}',
                                         [value for c in asked for value in wanted[c]])
            for found in cursor.fetchall():
                for column, value in zip(asked, found):
                    held[column].add(value)
        return held

    def _link_inviters(self, invited):
        """Set ``invited_by`` of the users imported with their inviter (``{id: inviter}``): one
        UPDATE per inviter. An inviter the database refused stays cleared, as one skipped is."""
        by_inviter = {}
        for user_id, inviter in invited.items():
            if self.users[user_id] is not None and self.users[inviter] is not None:
                by_inviter.setdefault(inviter, []).append(user_id)
        p = self.db.param
        for inviter, user_ids in by_inviter.items():
            for start in range(0, len(user_ids), _IN_CHUNK):
                chunk = user_ids[start:start + _IN_CHUNK]
                marks = ", ".join([p] * len(chunk))
                self.db.execute_sql(f'UPDATE "users" SET "invited_by" = {p} WHERE "id" IN ({marks})', [inviter, *chunk])

    def import_collections(self, rows):
        """Insert the collections not already here; one whose name is taken maps to the
        collection holding it, so its content goes there."""
        by_id = self._existing("collections", "id", [r["id"] for r in rows])
        by_name = self._existing("collections", "name", [r.get("name") for r in rows])
        candidates = []
        for row in rows:
            name_problem = isinstance(row.get("name"), str) and collection_name_problem(row["name"])
            if row["id"] in by_id:
                self.collections[row["id"]] = row["id"]
            elif name_problem:
                self.collections[row["id"]] = None
                self._skip("collections", row, f"name {row['name']!r}: {name_problem}")
            elif row.get("name") in by_name:
                self.collections[row["id"]] = by_name[row["name"]]
                self._skip("collections", row, f"name {row['name']!r} exists: its content goes there")
            else:
                self.collections[row["id"]] = row["id"]
                candidates.append(row)
        self._finish("collections", len(rows), candidates)
        self._forget_refused("collections", candidates, self.collections)

    def import_media(self, rows):
        """Insert the media files not already here. One whose file key another row holds is
        skipped and maps to that row (the same key is the same stored file); one whose
        uploader was not imported is skipped and maps to None."""
        by_id = self._existing("media", "id", [r["id"] for r in rows])
        by_key = self._existing("media", "r2_key", [r.get("r2_key") for r in rows])
        candidates = []
        for row in rows:
            if row["id"] in by_id:
                self.media[row["id"]] = row["id"]
                continue
            if row.get("r2_key") in by_key:
                # Another row names the same stored file: two rows deleting one object would break
                # each other. Content showing it shows the holder's, which is that file.
                holder = self.media[row["id"]] = by_key[row["r2_key"]]
                self._skip("media", row, f"r2_key {row['r2_key']!r} belongs to media {holder!r}: content showing"
                                         " it shows that one")
                continue
            uploader = self._user(row.get("uploaded_by"))
            if uploader is None:
                self.media[row["id"]] = None
                self._skip("media", row, "its uploader was not imported")
                continue
            self.media[row["id"]] = row["id"]
            candidates.append({**row, "uploaded_by": uploader})
            if row.get("r2_key") is not None:
                by_key[row["r2_key"]] = row["id"]  # a later row of this backup with it is refused the same way
        self._finish("media", len(rows), candidates)
        self._forget_refused("media", candidates, self.media)

    def import_content(self, rows):
        """Insert the content not already here, its references mapped to the rows imported
        or found; one whose collection or author was not imported, or whose slug is taken in
        its collection, is skipped."""
        by_id = self._existing("content", "id", [r["id"] for r in rows])
        candidates, taken = [], self._taken_slugs(rows)
        for row in rows:
            if row["id"] in by_id:
                continue
            collection = row.get("collection_id")
            if collection in self.collections and self.collections[collection] is None:
                self._skip("content", row, "its collection was not imported")
                continue
            row = {**row, "collection_id": self.collections.get(collection, collection)}
            author = self._user(row.get("author_id"))
            if author is None:
                self._skip("content", row, "its author was not imported")
                continue
            if (row["collection_id"], row.get("slug")) in taken:
                self._skip("content", row, f"slug {row.get('slug')!r} is taken in its collection")
                continue
            row["author_id"] = author
            for column in SCHEDULE_MIRRORS:
                if column in row:  # a backup holds no schedules: nothing pending is left to mirror
                    row[column] = None
            for column, target, mapping in (("reviewer_id", "users", self.users),
                                            ("featured_image_id", "media", self.media)):
                self._clear_dangling("content", row, column, target)
                if row.get(column) in mapping:
                    row[column] = mapping[row[column]]
            candidates.append(row)
            if row.get("slug") is not None:
                # A later row of this backup with the same slug would collide on the insert, unexplained.
                taken.add((row["collection_id"], row["slug"]))
        self._finish("content", len(rows), candidates)
        self._report_cleared("content", self._skip_refused_content(candidates))

    def _skip_refused_content(self, candidates):
        """Skip, with its reason, each content candidate the database did not take, as
        ``_forget_refused`` does for the other tables (no row names content, so nothing
        follows it); return the ids of those rows."""
        landed = self._existing("content", "id", [row["id"] for row in candidates])
        refused = [row for row in candidates if row["id"] not in landed]
        held = self._held_slugs({(row["collection_id"], row["slug"]) for row in refused if row.get("slug") is not None})
        for row in refused:
            if (row["collection_id"], row.get("slug")) in held:
                why = f"the database refused it as a duplicate: its slug {row['slug']!r} is taken in its collection"
            else:
                why = ("the database did not take it, though no content holds its slug in its collection: a rule of"
                       " the database's own (a trigger or constraint) refused the row")
            self._skip("content", row, why)
        return {row["id"] for row in refused}

    def _user(self, user_id):
        """The target user for a backup user id (ids outside the backup are kept as they are)."""
        return self.users.get(user_id, user_id)

    def _taken_slugs(self, rows):
        """``{(collection_id, slug)}`` already in the target among those ``rows`` bring,
        their collections mapped to the target's."""
        pairs = set()
        for row in rows:
            collection_id = self.collections.get(row.get("collection_id"), row.get("collection_id"))
            if collection_id is not None and row.get("slug") is not None:
                pairs.add((collection_id, row["slug"]))
        return self._held_slugs(pairs)

    def _held_slugs(self, pairs):
        """Those of the target ``{(collection_id, slug)}`` ``pairs`` some content holds, asked
        per collection by equality, which the unique index on the two serves (reading a
        collection's every slug would cost as much as it is large)."""
        slugs_by_collection = {}
        for collection_id, slug in pairs:
            slugs_by_collection.setdefault(collection_id, set()).add(slug)
        select = f'SELECT "slug" FROM "content" WHERE "collection_id" = {self.db.param} AND "slug"'
        return {(collection_id, slug) for collection_id, slugs in slugs_by_collection.items()
                for (slug,) in self._rows_in(select, sorted(slugs), (collection_id,))}


_MISSING = object()


def _email_taken(email, holder, stored):
    """Why a backup user whose ``email`` the user ``holder`` holds (written ``stored``) was skipped."""
    written = "" if stored == email else f", stored as {stored!r}"
    return f"email {email!r} belongs to user {holder}{written}: its rows go to that user"


def _listing(lines):
    """The first ``_LISTED`` of ``lines``, then how many more there are."""
    more = f"; and {len(lines) - _LISTED} more" if len(lines) > _LISTED else ""
    return "; ".join(lines[:_LISTED]) + more


def _key_value(column, row):
    """``row``'s unique key ``column`` as the database compares it (see ``_FOLDED``)."""
    value = row.get(column)
    return value.lower() if column in _FOLDED and isinstance(value, str) else value


def _why_refused(table, row, held):
    """Why the database did not take ``row``: another row holds one of its unique keys
    (``held``, from ``_held_keys``), or, with none, a rule of the database's own."""
    taken = [column for column in _UNIQUE_KEYS[table] if _key_value(column, row) in held[column]]
    if taken:
        keys = " and ".join(f"{column} {row.get(column)!r}" for column in taken)
        verb = "is" if len(taken) == 1 else "are"
        return f"the database refused it as a duplicate: its {keys} {verb} taken as it compares them"
    return (f"the database did not take it, though no {_SINGULAR[table]} holds its {' or '.join(_UNIQUE_KEYS[table])}:"
            " a rule of the database's own (a trigger or constraint) refused the row")


# The SQLSTATE of a foreign-key violation, whose DETAIL names the key, not the row.
_FOREIGN_KEY_VIOLATION = "23503"


def _failure(ex):
    """The database's message for the error ``ex`` without the row it failed on.

    PostgreSQL's DETAIL may repeat the whole row (a NOT NULL or CHECK violation's
    ``Failing row contains (...)``), a user's password hash too, which must not reach a
    terminal or a log. Its text cannot tell which DETAIL does: the server translates it
    (``lc_messages``). So it is chosen by the error's SQLSTATE: only a foreign key's DETAIL
    (``Key (author_id)=(...) is not present``), which says which row is missing, is kept.
    """
    cause = getattr(ex, "orig", ex)  # Peewee wraps the driver's error
    message = pg_message(cause)
    detail = getattr(getattr(cause, "diag", None), "message_detail", None)
    if detail and getattr(cause, "pgcode", None) == _FOREIGN_KEY_VIOLATION:
        message = f"{message} ({detail})"
    return message


def _encode(value, is_json):
    """The column value to insert; a JSON column's markers undone (they are described in
    ``app.services.backup``'s docstring)."""
    if not is_json or value is None:
        return value
    if is_marker_shaped(value):
        if TEXT_MARKER in value:
            return value[TEXT_MARKER]
        value = value[JSON_MARKER]
    return msgspec.json.encode(value).decode()
