"""`d1 import` of a backup whose rows do not fit together (edited by hand, or pieced together
from several): references to rows that are nowhere, ids and collection names held twice, a
user the database will not take. On SQLite and on PostgreSQL, through the real CLI."""

import json
import sqlite3
import traceback

import peewee
import pytest

from app.services.backup import BackupError, is_text_marker
from app.services.backup_import import import_backup
from app.services.backup_import.transaction import failure_message
from app.services.field_indexes import existing_indexes, index_statements
from tests.fixtures.app import CliProject, env_with_copy, make_env
from tests.test_backup import TABLES, Project, _parsed, _seed


class PostgresProject(CliProject):
    """The project on a migrated PostgreSQL database of its own (``migrated_postgres_url``),
    read and written as ``Project``."""

    def __init__(self, folder, url):
        self.url = url
        super().__init__(folder, make_env(folder, database_url=url))

    def _query(self, sql, params=()):
        env = make_env(self.folder, database_url=self.url)
        try:
            with env.DB.db.atomic():
                cursor = env.DB.db.execute_sql(sql.replace("?", "%s"), params)
                names = [column[0] for column in cursor.description or ()]
                return [dict(zip(names, row)) for row in (cursor.fetchall() if names else ())]
        finally:
            env.DB.db.close()

    def execute(self, sql, params=()):
        self._query(sql, params)

    def snapshot(self):
        return {table: [_parsed(table, row) for row in self._query(f"SELECT * FROM {table} ORDER BY id")]
                for table in TABLES}


@pytest.fixture(params=["sqlite", "postgres"])
def target(request, tmp_path, migrated_template):
    """An empty migrated project to import into, on each database."""
    if request.param == "postgres":
        return PostgresProject(tmp_path / "target", request.getfixturevalue("migrated_postgres_url"))
    return Project(tmp_path / "target", env_with_copy(tmp_path / "target", migrated_template))


@pytest.fixture
def backup(tmp_path, migrated_template):
    """The seeded source's backup, as a dict to edit: users u-admin, u-early (invited by
    u-late), u-late; collections c-pages and c-news; media m1; content p0, p1 (reviewed by
    u-admin), p2."""
    folder = tmp_path / "source"
    project = Project(folder, env_with_copy(folder, migrated_template))
    _seed(project)
    path = tmp_path / "backup.json"
    assert project.cli("d1", "backup", "DB", "--output", path).exit_code == 0
    return json.loads(path.read_text())


def _import(target, backup, tmp_path):
    path = tmp_path / "edited.json"
    path.write_text(json.dumps(backup))
    return target.cli("d1", "import", "DB", path)


@pytest.fixture
def statements(monkeypatch):
    """The SQL texts any database runs from now on (the CLI opens its own)."""
    run, original = [], peewee.Database.execute_sql

    def execute_sql(db, sql, params=None, *args, **kwargs):
        run.append(sql)
        return original(db, sql, params, *args, **kwargs)

    monkeypatch.setattr(peewee.Database, "execute_sql", execute_sql)
    return run


def _lookups(statements, column):
    """The SELECTs that name ``column``."""
    return [sql for sql in statements if sql.lstrip().upper().startswith("SELECT") and f'"{column}"' in sql]


def _row(backup, table, row_id):
    return next(row for row in backup["data"][table] if row["id"] == row_id)


def _refused(target, backup, tmp_path, message):
    """The import is refused with ``message``, exit status 1, and nothing is written."""
    before = target.snapshot()
    result = _import(target, backup, tmp_path)
    assert result.exit_code == 1, result.output
    assert message in result.output
    assert target.snapshot() == before
    return result


def test_a_row_the_database_refuses_late_rolls_back_every_table(target, backup, tmp_path):
    """Users, collections and media went in before the last content row failed: one
    transaction, so none of them stays."""
    del _row(backup, "content", "p2")["title"]  # NOT NULL, and no default
    result = _refused(target, backup, tmp_path, "rolled back, nothing was written")
    assert "   media: 1 inserted, 0 skipped" in result.stderr  # written, then rolled back


def test_a_row_the_database_refuses_is_not_printed_with_its_password_hash(target, backup, tmp_path):
    """PostgreSQL's full error repeats the refused row, every column of it: the message names
    the constraint, never the row's values."""
    user = _row(backup, "users", "u-admin")
    user["password_hash"] = "SECRET$2b$hash"
    del user["first_name"]  # NOT NULL, and no default
    result = _refused(target, backup, tmp_path, "rolled back, nothing was written")
    assert "first_name" in result.output
    assert "SECRET" not in result.output
    assert "Failing row" not in result.output


def test_a_foreign_key_failure_names_the_missing_key(tmp_path, backup, migrated_postgres_url):
    """PostgreSQL's DETAIL for a foreign key names the key, not the row: it is kept."""
    target = PostgresProject(tmp_path / "target", migrated_postgres_url)
    target.execute("CREATE FUNCTION misdirect() RETURNS trigger LANGUAGE plpgsql AS"
                   " $$ BEGIN NEW.reviewer_id := 'ghost'; RETURN NEW; END $$")
    target.execute("CREATE TRIGGER misdirect BEFORE INSERT ON content FOR EACH ROW EXECUTE FUNCTION misdirect()")
    result = _refused(target, backup, tmp_path, "rolled back, nothing was written")
    assert '(Key (reviewer_id)=(ghost) is not present in table "users".)' in result.output


def test_the_error_raised_holds_no_driver_error_that_repeats_the_row(target, backup):
    """The driver's error is neither the BackupError's cause nor its context: a traceback of
    it (``logging.exception``) would print PostgreSQL's full text, the row with its hash."""
    user = _row(backup, "users", "u-admin")
    user["password_hash"] = "SECRET$2b$hash"
    del user["first_name"]  # NOT NULL, and no default
    db = make_env(target.folder, database_url=getattr(target, "url", None)).DB.db
    try:
        with pytest.raises(BackupError, match="rolled back, nothing was written") as info:
            import_backup(db, json.dumps(backup))
    finally:
        db.close()
    assert info.value.__cause__ is None and info.value.__context__ is None
    assert "SECRET" not in "".join(traceback.format_exception(info.value))


# What a server whose lc_messages is German says for a NOT NULL violation: the DETAIL that
# repeats the row, every column of it, in words no English prefix matches.
GERMAN_NOT_NULL = ("RAISE EXCEPTION USING ERRCODE = 'not_null_violation',"
                   " MESSAGE = 'NULL-Wert in Spalte »first_name« verletzt Not-Null-Constraint',"
                   " DETAIL = 'Fehlgeschlagene Zeile enthält (' || {row} || ').'")


def test_a_translated_detail_repeating_the_row_is_not_printed(tmp_path, backup, migrated_postgres_url):
    """Whether PostgreSQL's DETAIL repeats the row is told by the error's SQLSTATE, not by its
    text, which the server translates: only a foreign key's DETAIL is shown."""
    target = PostgresProject(tmp_path / "target", migrated_postgres_url)
    target.execute("CREATE FUNCTION refuse_german() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
                   + GERMAN_NOT_NULL.format(row="NEW.id || ', ' || NEW.email || ', ' || NEW.password_hash")
                   + "; END $$")
    target.execute("CREATE TRIGGER refuse_german BEFORE INSERT ON users FOR EACH ROW EXECUTE FUNCTION refuse_german()")
    _row(backup, "users", "u-admin")["password_hash"] = "SECRET$2b$hash"
    result = _refused(target, backup, tmp_path, "rolled back, nothing was written")
    assert "NULL-Wert in Spalte »first_name« verletzt Not-Null-Constraint" in result.output
    assert "SECRET" not in result.output
    assert "admin@example.com" not in result.output


def test_a_detail_is_kept_for_a_foreign_key_violation_only(tmp_path, fresh_postgres_url):
    """``failure_message`` on the driver's own errors: a NOT NULL violation's DETAIL, in English or
    translated, is dropped; a foreign key's is kept."""
    db = make_env(tmp_path / "pg", database_url=fresh_postgres_url).DB.db
    db.execute_sql("CREATE TABLE parent (id TEXT PRIMARY KEY)")
    db.execute_sql("CREATE TABLE child (id TEXT PRIMARY KEY, secret TEXT NOT NULL, parent_id TEXT REFERENCES parent)")
    statements = {
        "not null": "INSERT INTO child (id, secret) VALUES ('row-1', NULL)",
        "translated": "DO $$ BEGIN " + GERMAN_NOT_NULL.format(row="'row-1, SECRET'") + "; END $$",
        "foreign key": "INSERT INTO child (id, secret, parent_id) VALUES ('row-1', 'SECRET', 'ghost')",
    }
    failures = {}
    try:
        for name, sql in statements.items():
            with pytest.raises(peewee.DatabaseError) as info, db.atomic():
                db.execute_sql(sql)
            failures[name] = failure_message(info.value)
    finally:
        db.close()
    assert "row-1" not in failures["not null"] and "SECRET" not in failures["not null"]
    assert failures["translated"] == "NULL-Wert in Spalte »first_name« verletzt Not-Null-Constraint"
    assert failures["foreign key"].endswith('(Key (parent_id)=(ghost) is not present in table "parent".)')


# -- values rows are matched by ------------------------------------------------------------------


@pytest.mark.parametrize("table, row_id, column, value, where", [
    ("content", "p1", "author_id", ["u-admin"], "data.content[1].author_id"),
    ("content", "p2", "reviewer_id", 7, "data.content[2].reviewer_id"),
    ("content", "p0", "slug", 1.5, "data.content[0].slug"),
    ("collections", "c-news", "name", 5, "data.collections[0].name"),
    ("users", "u-late", "email", {"a": 1}, "data.users[2].email"),
    ("users", "u-admin", "invited_by", True, "data.users[0].invited_by"),
    ("media", "m1", "r2_key", ["uploads/a.png"], "data.media[0].r2_key"),
])
def test_a_reference_or_key_that_is_not_text_is_refused(target, backup, tmp_path, table, row_id, column, value,
                                                        where):
    """References and unique keys match rows by their text: anything else names no row."""
    _row(backup, table, row_id)[column] = value
    _refused(target, backup, tmp_path, f"Error: {where}: must be a string or null")


@pytest.mark.parametrize("table, row_id, column, value, message", [
    ("users", "u-admin", "first_name", "a\x00b", "data.users[0].first_name: contains a NUL character"),
    ("collections", "c-news", "schema", {"$text": "a\x00b"}, "data.collections[0].schema: contains a NUL character"),
    ("users", "u-admin", "last_login_at", 2**63, "data.users[0].last_login_at: integer out of range"),
    ("content", "p2", "published_at", -2**63 - 1, "data.content[2].published_at: integer out of range"),
    ("users", "u-late", "first_name", 2**64, "data.users[2].first_name: integer out of range"),
    ("users", "u-admin", "first_name", ["a"], "data.users[0].first_name: must be a single value, not a list"),
    ("content", "p2", "published_at", {"at": 1}, "data.content[2].published_at: must be a single value, not an object"),
], ids=["nul", "nul in $text", "too large", "too small", "in a text column", "list", "object"])
def test_a_value_one_database_cannot_store_is_refused_on_both(target, backup, tmp_path, table, row_id, column, value,
                                                             message):
    """PostgreSQL stores no NUL in text, SQLite no integer beyond 64 bits: the driver's error
    would escape as a traceback, so both databases refuse the backup up front, alike."""
    _row(backup, table, row_id)[column] = value
    _refused(target, backup, tmp_path, f"Error: {message}")


def test_a_slug_held_twice_in_a_collection_keeps_the_first_row(target, backup, tmp_path):
    """The second row is skipped with its reason, as one whose slug the database holds; what
    would have been cleared on it is neither printed nor counted, since it did not go in."""
    backup["data"]["content"].append({**_row(backup, "content", "p0"), "id": "p9", "reviewer_id": "gone"})
    result = _import(target, backup, tmp_path)
    assert result.exit_code == 0, result.output
    assert result.stdout.strip().endswith("content: 3 inserted, 1 skipped")  # no reference counted
    assert "skipped content p9: slug 'post-0' is taken in its collection" in result.stderr
    assert "   cleared " not in result.stderr
    assert [row["id"] for row in target.snapshot()["content"]] == ["p0", "p1", "p2"]


# -- the same id or collection name twice ------------------------------------------------------


def test_two_collections_of_one_name_are_refused(target, backup, tmp_path):
    backup["data"]["collections"].append({**_row(backup, "collections", "c-news"), "id": "c-news-2"})
    backup["data"]["content"].append({**_row(backup, "content", "p2"), "id": "p3", "collection_id": "c-news-2"})
    _refused(target, backup, tmp_path, "Error: data.collections[0] and data.collections[2] have the same name 'news':"
                                       " a backup holds each collection name once")


@pytest.mark.parametrize("table, row_id, message", [
    ("users", "u-late", "data.users[2] and data.users[3] have the same id 'u-late': a backup holds each user id once"),
    ("collections", "c-news", "data.collections[0] and data.collections[2] have the same id 'c-news'"),
    ("content", "p1", "data.content[1] and data.content[3] have the same id 'p1': a backup holds each content id"
                      " once"),
    ("media", "m1", "data.media[0] and data.media[1] have the same id 'm1': a backup holds each media id once"),
])
def test_an_id_held_twice_is_refused(target, backup, tmp_path, table, row_id, message):
    twin = {**_row(backup, table, row_id)}
    # Unique keys of its own, so only the id is shared.
    twin.update({"users": {"email": "twin@example.com", "username": "twin"}, "collections": {"name": "twin"},
                 "content": {"slug": "twin"}, "media": {"r2_key": "uploads/twin.png"}}[table])
    backup["data"][table].append(twin)
    _refused(target, backup, tmp_path, message)


# -- references to rows in neither the backup nor the database --------------------------------


def test_optional_references_to_rows_that_are_nowhere_are_imported_as_null(target, backup, tmp_path):
    target.execute("INSERT INTO users (id, email, username, first_name, last_name, created_at, updated_at)"
                   " VALUES ('here', 'here@example.com', 'here', '', '', 1, 1)")
    _row(backup, "users", "u-admin")["invited_by"] = "gone-1"
    _row(backup, "users", "u-late")["invited_by"] = "here"  # not in the backup, but in the database
    _row(backup, "content", "p0").update(reviewer_id="gone-2", featured_image_id="m-gone")
    _row(backup, "content", "p2")["reviewer_id"] = "gone-2"
    result = _import(target, backup, tmp_path)
    assert result.exit_code == 0, result.output
    assert ("users: 3 inserted, 0 skipped; collections: 2 inserted, 0 skipped; media: 1 inserted, 0 skipped; "
            "content: 3 inserted, 0 skipped; references to rows in neither the backup nor the database, imported"
            " as NULL: 1 users.invited_by, 2 content.reviewer_id, 1 content.featured_image_id") in result.stdout
    assert ("cleared users u-admin: invited_by 'gone-1' is in neither the backup nor the database: imported as NULL"
            in result.stderr)
    assert "cleared content p0: featured_image_id 'm-gone' is in neither" in result.stderr
    rows = target.snapshot()
    assert {user["id"]: user["invited_by"] for user in rows["users"]} == {
        "here": None, "u-admin": None, "u-early": "u-late", "u-late": "here"}
    assert {row["id"]: (row["reviewer_id"], row["featured_image_id"]) for row in rows["content"]} == {
        "p0": (None, None), "p1": ("u-admin", None), "p2": (None, None)}


def test_required_references_to_rows_that_are_nowhere_refuse_the_backup(target, backup, tmp_path):
    _row(backup, "users", "u-admin")["invited_by"] = "gone-1"  # optional: no reason to refuse on its own
    backup["data"]["media"].append({**_row(backup, "media", "m1"), "id": "m2", "r2_key": "uploads/b.png",
                                    "uploaded_by": "gone-2"})
    backup["data"]["content"] += [{**_row(backup, "content", "p2"), "id": "p8", "slug": "p8", "author_id": "gone-3"},
                                  {**_row(backup, "content", "p2"), "id": "p9", "slug": "p9",
                                   "collection_id": "c-gone"}]
    _refused(target, backup, tmp_path, "Error: 3 row(s) name a row in neither the backup nor the database and cannot"
                                       " be imported without it: data.media[1] (id 'm2'): uploaded_by 'gone-2' is no"
                                       " user; data.content[4] (id 'p9'): collection_id 'c-gone' is no collection;"
                                       " data.content[3] (id 'p8'): author_id 'gone-3' is no user")


def test_a_row_already_imported_is_skipped_whatever_it_names(target, backup, tmp_path):
    """A row the database holds is skipped, as on any second import: what it names is not asked."""
    assert _import(target, backup, tmp_path).exit_code == 0
    _row(backup, "content", "p1")["author_id"] = "gone"
    result = _import(target, backup, tmp_path)
    assert result.exit_code == 0, result.output
    assert "content: 0 inserted, 3 skipped" in result.stdout


# -- a user the database does not take ---------------------------------------------------------

REFUSE_EARLY = {
    # A rule of the database's own that the import cannot know: the row is dropped, no error.
    "sqlite": ["CREATE TRIGGER refuse_early BEFORE INSERT ON users WHEN NEW.id = 'u-early'"
               " BEGIN SELECT RAISE(IGNORE); END"],
    "postgres": ["CREATE FUNCTION refuse_early() RETURNS trigger LANGUAGE plpgsql AS"
                 " $$ BEGIN IF NEW.id = 'u-early' THEN RETURN NULL; END IF; RETURN NEW; END $$",
                 "CREATE TRIGGER refuse_early BEFORE INSERT ON users FOR EACH ROW EXECUTE FUNCTION refuse_early()"],
}


def test_a_user_the_database_does_not_take_is_skipped_with_what_needs_it(target, backup, tmp_path):
    """u-early, refused by a trigger, uploaded m1 (p0's featured image), wrote p1 and reviews
    p0 here; the import reads back which users went in, so what needs u-early follows it."""
    for sql in REFUSE_EARLY["postgres" if isinstance(target, PostgresProject) else "sqlite"]:
        target.execute(sql)
    _row(backup, "content", "p0")["reviewer_id"] = "u-early"
    result = _import(target, backup, tmp_path)
    assert result.exit_code == 0, result.output
    assert ("users: 2 inserted, 1 skipped; collections: 2 inserted, 0 skipped; media: 0 inserted, 1 skipped; "
            "content: 2 inserted, 1 skipped") in result.stdout
    assert ("skipped users u-early: the database did not take it, though no user holds its email or username: a"
            " rule of the database's own (a trigger or constraint) refused the row") in result.stderr
    assert "skipped media m1: its uploader was not imported" in result.stderr
    assert "skipped content p1: its author was not imported" in result.stderr
    rows = target.snapshot()
    assert {user["id"]: user["invited_by"] for user in rows["users"]} == {"u-admin": None, "u-late": "u-admin"}
    assert rows["media"] == []
    assert {row["id"]: (row["reviewer_id"], row["featured_image_id"]) for row in rows["content"]} == {
        "p0": (None, None), "p2": (None, None)}


def test_a_reference_cleared_on_a_user_the_database_does_not_take_is_not_reported(target, backup, tmp_path):
    """u-early names an inviter that is nowhere, but a trigger refuses u-early itself: its
    cleared inviter is neither printed nor counted, since the row did not go in."""
    for sql in REFUSE_EARLY["postgres" if isinstance(target, PostgresProject) else "sqlite"]:
        target.execute(sql)
    _row(backup, "users", "u-early")["invited_by"] = "gone"
    result = _import(target, backup, tmp_path)
    assert result.exit_code == 0, result.output
    assert "skipped users u-early: the database did not take it" in result.stderr
    assert "   cleared " not in result.stderr
    assert "imported as NULL" not in result.stdout
    assert "users.invited_by" not in result.stdout


def test_an_email_stored_before_emails_were_normalised_is_the_same_user(target, backup, tmp_path):
    """The database holds Admin@Example.com under another id, as written before emails were
    stored lower-cased: the backup's admin@example.com is that user, and its rows go there."""
    for user_id, email in (("legacy", "Admin@Example.com"), ("legacy-2", "ADMIN@example.com")):
        target.execute("INSERT INTO users (id, email, username, first_name, last_name, created_at, updated_at)"
                       " VALUES (?, ?, ?, '', '', 1, 1)", (user_id, email, user_id))
    result = _import(target, backup, tmp_path)
    assert result.exit_code == 0, result.output
    assert "users: 2 inserted, 1 skipped" in result.stdout
    # The reason names the user and how its email is written, which the backup's does not show.
    assert ("skipped users u-admin: email 'admin@example.com' belongs to user legacy, stored as 'Admin@Example.com':"
            " its rows go to that user") in result.stderr
    rows = target.snapshot()
    assert sorted(user["email"] for user in rows["users"]) == [
        "ADMIN@example.com", "Admin@Example.com", "early@example.com", "late@example.com"]
    users = {user["id"]: user["invited_by"] for user in rows["users"]}
    assert users["u-late"] == "legacy"  # of the two, the first by id
    assert {row["id"]: (row["author_id"], row["reviewer_id"]) for row in rows["content"]} == {
        "p0": ("legacy", None), "p1": ("u-early", "legacy"), "p2": ("u-late", None)}


def test_an_email_stored_as_given_wins_over_one_in_another_case(target, backup, tmp_path):
    target.execute("INSERT INTO users (id, email, username, first_name, last_name, created_at, updated_at)"
                   " VALUES ('a-legacy', 'Admin@Example.com', 'legacy', '', '', 1, 1),"
                   " ('z-here', 'admin@example.com', 'here', '', '', 1, 1)")
    result = _import(target, backup, tmp_path)
    assert result.exit_code == 0, result.output
    content = {row["id"]: row["author_id"] for row in target.snapshot()["content"]}
    assert content["p0"] == "z-here"


def test_media_whose_file_key_another_holds_is_skipped_and_its_image_points_there(target, backup, tmp_path):
    """The database's unique file key refuses m1 (another row names the same object): the
    content showing it as its featured image shows the row holding that key, the same file."""
    target.execute("INSERT INTO users (id, email, username, first_name, last_name, created_at, updated_at)"
                   " VALUES ('here', 'here@example.com', 'here', '', '', 1, 1)")
    target.execute("INSERT INTO media (id, filename, original_name, mime_type, size, r2_key, public_url, uploaded_by,"
                   " uploaded_at) VALUES ('mine', 'a.png', 'a.png', 'image/png', 1, 'uploads/a.png', '/f', 'here', 1)")
    result = _import(target, backup, tmp_path)
    assert result.exit_code == 0, result.output
    assert "media: 0 inserted, 1 skipped; content: 3 inserted, 0 skipped" in result.stdout
    assert ("skipped media m1: r2_key 'uploads/a.png' belongs to media 'mine': content showing it shows that one"
            in result.stderr)
    rows = target.snapshot()
    assert [media["id"] for media in rows["media"]] == ["mine"]
    assert {row["id"]: row["featured_image_id"] for row in rows["content"]} == {"p0": "mine", "p1": None, "p2": None}


def test_media_whose_file_key_an_earlier_row_holds_points_there(target, backup, tmp_path):
    backup["data"]["media"].append({**_row(backup, "media", "m1"), "id": "m2"})  # the same stored file
    _row(backup, "content", "p1")["featured_image_id"] = "m2"
    result = _import(target, backup, tmp_path)
    assert result.exit_code == 0, result.output
    assert "media: 1 inserted, 1 skipped" in result.stdout
    assert "skipped media m2: r2_key 'uploads/a.png' belongs to media 'm1': content showing it shows" in result.stderr
    rows = target.snapshot()
    assert [media["id"] for media in rows["media"]] == ["m1"]
    assert {row["id"]: row["featured_image_id"] for row in rows["content"]} == {"p0": "m1", "p1": "m1", "p2": None}


def test_media_pointing_at_an_earlier_row_the_database_refuses_is_cleared(target, backup, tmp_path):
    for sql in REFUSE_MEDIA["postgres" if isinstance(target, PostgresProject) else "sqlite"]:
        target.execute(sql)
    backup["data"]["media"].append({**_row(backup, "media", "m1"), "id": "m2"})
    _row(backup, "content", "p1")["featured_image_id"] = "m2"
    result = _import(target, backup, tmp_path)
    assert result.exit_code == 0, result.output
    assert "media: 0 inserted, 2 skipped; content: 3 inserted, 0 skipped" in result.stdout
    assert {row["id"]: row["featured_image_id"] for row in target.snapshot()["content"]} == {
        "p0": None, "p1": None, "p2": None}


REFUSE_NEWS = {
    "sqlite": ["CREATE TRIGGER refuse_news BEFORE INSERT ON collections WHEN NEW.name = 'news'"
               " BEGIN SELECT RAISE(IGNORE); END"],
    "postgres": ["CREATE FUNCTION refuse_news() RETURNS trigger LANGUAGE plpgsql AS"
                 " $$ BEGIN IF NEW.name = 'news' THEN RETURN NULL; END IF; RETURN NEW; END $$",
                 "CREATE TRIGGER refuse_news BEFORE INSERT ON collections FOR EACH ROW EXECUTE FUNCTION"
                 " refuse_news()"],
}


def test_a_collection_the_database_does_not_take_is_skipped_with_its_content(target, backup, tmp_path):
    for sql in REFUSE_NEWS["postgres" if isinstance(target, PostgresProject) else "sqlite"]:
        target.execute(sql)
    result = _import(target, backup, tmp_path)
    assert result.exit_code == 0, result.output
    assert "collections: 1 inserted, 1 skipped; media: 1 inserted, 0 skipped; content: 2 inserted, 1 skipped" in (
        result.stdout)
    assert ("skipped collections c-news: the database did not take it, though no collection holds its name: a rule"
            " of the database's own (a trigger or constraint) refused the row") in result.stderr
    assert "skipped content p2: its collection was not imported" in result.stderr
    rows = target.snapshot()
    assert [row["id"] for row in rows["collections"]] == ["c-pages"]
    assert [row["id"] for row in rows["content"]] == ["p0", "p1"]


REFUSE_P1 = {
    "sqlite": ["CREATE TRIGGER refuse_p1 BEFORE INSERT ON content WHEN NEW.id = 'p1' BEGIN SELECT RAISE(IGNORE); END"],
    "postgres": ["CREATE FUNCTION refuse_p1() RETURNS trigger LANGUAGE plpgsql AS"
                 " $$ BEGIN IF NEW.id = 'p1' THEN RETURN NULL; END IF; RETURN NEW; END $$",
                 "CREATE TRIGGER refuse_p1 BEFORE INSERT ON content FOR EACH ROW EXECUTE FUNCTION refuse_p1()"],
}
# A write that takes p1's slug just before p1 goes in, as a concurrent one may.
TAKE_P1_SLUG = {
    "sqlite": ["CREATE TRIGGER take_p1_slug BEFORE INSERT ON content WHEN NEW.id = 'p1' BEGIN"
               " INSERT INTO content (id, collection_id, slug, title, data, author_id, created_at, updated_at)"
               " VALUES ('other', NEW.collection_id, NEW.slug, 'Other', '{}', NEW.author_id, 1, 1); END"],
    "postgres": ["CREATE FUNCTION take_p1_slug() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN IF NEW.id = 'p1' THEN"
                 " INSERT INTO content (id, collection_id, slug, title, data, author_id, created_at, updated_at)"
                 " VALUES ('other', NEW.collection_id, NEW.slug, 'Other', '{}', NEW.author_id, 1, 1); END IF;"
                 " RETURN NEW; END $$",
                 "CREATE TRIGGER take_p1_slug BEFORE INSERT ON content FOR EACH ROW EXECUTE FUNCTION"
                 " take_p1_slug()"],
}


@pytest.mark.parametrize("rule, reason", [
    (REFUSE_P1, "the database did not take it, though no content holds its slug in its collection: a rule of the"
                " database's own (a trigger or constraint) refused the row"),
    (TAKE_P1_SLUG, "the database refused it as a duplicate: its slug 'post-1' is taken in its collection"),
], ids=["rule of its own", "slug taken"])
def test_content_the_database_does_not_take_is_skipped_with_its_reason(target, backup, tmp_path, rule, reason):
    """The content that went in is read back, as users, collections and media are: a row
    refused is skipped with its reason, and a reference cleared on it is not counted."""
    for sql in rule["postgres" if isinstance(target, PostgresProject) else "sqlite"]:
        target.execute(sql)
    _row(backup, "content", "p1")["reviewer_id"] = "gone"
    result = _import(target, backup, tmp_path)
    assert result.exit_code == 0, result.output
    assert result.stdout.strip().endswith("content: 2 inserted, 1 skipped")  # no reference counted
    assert f"skipped content p1: {reason}" in result.stderr
    assert "   cleared " not in result.stderr
    assert "p1" not in [row["id"] for row in target.snapshot()["content"]]


def _more_media(backup, count):
    """``count`` more files m2, m3, ... uploaded by u-early, none of them shown by content."""
    backup["data"]["media"] += [{**_row(backup, "media", "m1"), "id": f"m{n}", "r2_key": f"uploads/{n}.png"}
                                for n in range(2, count + 2)]


def test_media_whose_file_keys_are_taken_are_found_in_one_query(target, backup, tmp_path, statements):
    """A restore into a database that holds its files under other ids: every media row is
    skipped up front, its key looked up with the others, not one by one."""
    _more_media(backup, 5)
    target.execute("INSERT INTO users (id, email, username, first_name, last_name, created_at, updated_at)"
                   " VALUES ('here', 'here@example.com', 'here', '', '', 1, 1)")
    for media in backup["data"]["media"]:
        target.execute("INSERT INTO media (id, filename, original_name, mime_type, size, r2_key, public_url,"
                       " uploaded_by, uploaded_at) VALUES (?, 'a.png', 'a.png', 'image/png', 1, ?, '/f', 'here', 1)",
                       ("mine-" + media["id"], media["r2_key"]))
    statements.clear()
    result = _import(target, backup, tmp_path)
    assert result.exit_code == 0, result.output
    assert "media: 0 inserted, 6 skipped" in result.stdout
    assert "skipped media m6: r2_key 'uploads/6.png' belongs to media 'mine-m6'" in result.stderr
    assert len(_lookups(statements, "r2_key")) == 1


REFUSE_MEDIA = {
    "sqlite": ["CREATE TRIGGER refuse_media BEFORE INSERT ON media BEGIN SELECT RAISE(IGNORE); END"],
    "postgres": ["CREATE FUNCTION refuse_media() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NULL; END $$",
                 "CREATE TRIGGER refuse_media BEFORE INSERT ON media FOR EACH ROW EXECUTE FUNCTION refuse_media()"],
}


def test_rows_the_database_refuses_are_explained_in_one_query(target, backup, tmp_path, statements):
    """Who holds the refused rows' keys is asked once for them all, not once per row."""
    _more_media(backup, 5)
    for sql in REFUSE_MEDIA["postgres" if isinstance(target, PostgresProject) else "sqlite"]:
        target.execute(sql)
    statements.clear()
    result = _import(target, backup, tmp_path)
    assert result.exit_code == 0, result.output
    assert "media: 0 inserted, 6 skipped" in result.stdout
    assert ("skipped media m6: the database did not take it, though no media holds its r2_key: a rule of the"
            " database's own") in result.stderr
    assert len(_lookups(statements, "r2_key")) == 2  # the keys taken before the insert, and after it


# -- content data the declared field indexes cannot read ---------------------------------------

DECLARING = {"type": "object", "properties": {"body": {"type": "richtext"}, "n": {"type": "number", "indexed": True}}}


def _field_indexes(target):
    """The names of the target's declared field indexes."""
    if isinstance(target, PostgresProject):
        env = make_env(target.folder, database_url=target.url)
    else:
        env = make_env(target.folder)
    try:
        return existing_indexes(env.DB.db)
    finally:
        env.DB.db.close()


@pytest.mark.parametrize("data, problem", [
    ({"$text": "{not json"}, "text that is not JSON"),
    ({"$text": "plain words"}, "text that is not JSON"),
    ({"body": ["a\x00b"]}, "JSON holding a NUL character (PostgreSQL's jsonb holds none)"),
    ({"$text": '{"a\\u0000": 1}'}, "JSON holding a NUL character"),
    ({"$text": '{"a": ' + "[" * 1200}, "text that is not JSON"),
    ({"$text": "[" * 100_000 + "]" * 100_000}, "text that is not JSON"),
], ids=["malformed", "words", "nul", "nul in a key of $text", "deep, never closed", "deeper than the databases read"])
def test_content_data_the_indexes_cannot_read_is_refused_beside_a_declared_field(target, backup, tmp_path, data,
                                                                               problem):
    """The index of an ``indexed`` field reads every live row's ``data`` as JSON, and is
    created after the import's commit: such a row would leave the import half done, so the
    backup is refused before anything is written, the row named, on both databases alike."""
    _row(backup, "collections", "c-news")["schema"] = DECLARING
    _row(backup, "content", "p2")["data"] = data
    _refused(target, backup, tmp_path, f"Error: data.content[2].data: {problem}")
    _refused(target, backup, tmp_path, "which the index of the declared field 'n' cannot read")
    assert _field_indexes(target) == set()


def test_content_data_that_is_not_json_is_refused_beside_a_field_the_database_declares(target, backup, tmp_path):
    """The database's own collections declare the field: its index is already there and
    would refuse the row mid-import; the backup is refused up front, the row named."""
    target.execute("INSERT INTO collections (id, name, display_name, schema, created_at, updated_at)"
                   " VALUES ('c-shop', 'shop', 'Shop', ?, 5, 5)", (json.dumps(DECLARING),))
    assert target.cli("d1", "execute", "DB", "--command", "UPDATE collections SET updated_at = 6").exit_code == 0
    assert _field_indexes(target) == {"idx_content_field_n"}
    _row(backup, "content", "p0")["data"] = {"$text": "{not json"}
    _refused(target, backup, tmp_path, "Error: data.content[0].data: text that is not JSON, which the index of"
                                       " the declared field 'n' cannot read")


@pytest.mark.parametrize("data", [{"$text": "{not json"}, 5, "words", [1, 2], {"$json": None}],
                         ids=["not json, trashed", "number", "string", "list", "null"])
def test_content_data_the_indexes_can_read_is_imported_beside_a_declared_field(target, backup, tmp_path, data):
    """A JSON document that is not an object (the API writes objects; ``d1 execute`` may
    write anything) has no fields, which the indexes read as absent; a trashed row is in no
    index. Either is imported, and the indexes are created."""
    _row(backup, "collections", "c-news")["schema"] = DECLARING
    row = _row(backup, "content", "p2")
    row["data"] = data
    if is_text_marker(data):
        row["deleted_at"] = 9
    result = _import(target, backup, tmp_path)
    assert result.exit_code == 0, result.output
    assert "content: 3 inserted, 0 skipped" in result.stderr
    assert _field_indexes(target) == {"idx_content_field_n"}


def test_a_new_declared_field_is_refused_while_the_databases_own_content_holds_data_its_index_cannot_read(
        target, backup, tmp_path):
    """A row of the database, written by hand, that the index of a field the backup brings
    cannot read: the index is created after the commit and would fail on it, so the backup
    is refused before anything is written, the database's rows named."""
    assert _import(target, backup, tmp_path).exit_code == 0
    target.execute("UPDATE content SET data = 'not json {' WHERE id = 'p2'")
    target.execute("UPDATE content SET data = '{\"body\": \"a\\u0000b\"}' WHERE id = 'p0'")
    target.execute("UPDATE content SET data = 'not json {', deleted_at = 9 WHERE id = 'p1'")  # in no index
    backup["data"]["collections"].append({**_row(backup, "collections", "c-news"), "id": "c-shop", "name": "shop",
                                          "schema": DECLARING})
    result = _import(target, backup, tmp_path)
    assert result.exit_code == 1, result.output
    assert ("Error: Cannot create the index of the field 'n': 2 live content item(s) hold data no field index can"
            " read (text that is not JSON, or a NUL character): 'p0', 'p2'; the database holds them, nothing was"
            " written") in result.output
    assert _ids(target, "collections") == ["c-news", "c-pages"]
    assert _field_indexes(target) == set()


@pytest.mark.parametrize("taken", ["id", "name"])
def test_a_declared_field_of_a_backup_collection_the_import_skips_refuses_nothing(target, backup, tmp_path, taken):
    """A backup collection whose id or name the database already holds is skipped, its
    schema not written: the field it declares gets no index, so neither the database's
    rows nor the backup's that such an index could not read refuse the import."""
    assert _import(target, backup, tmp_path).exit_code == 0
    target.execute("UPDATE content SET data = 'not json {' WHERE id = 'p2'")
    if taken == "id":
        _row(backup, "collections", "c-news")["schema"] = DECLARING
    else:
        target.execute("INSERT INTO collections (id, name, display_name, schema, created_at, updated_at)"
                       " VALUES ('c-mine', 'shop', 'Shop', '{}', 5, 5)")
        backup["data"]["collections"].append({**_row(backup, "collections", "c-news"), "id": "c-shop", "name": "shop",
                                              "schema": DECLARING})
    result = _import(target, backup, tmp_path)  # the database's own row
    assert result.exit_code == 0, result.output
    backup["data"]["content"].append({**_row(backup, "content", "p0"), "id": "p9", "slug": "p9",
                                      "data": {"$text": "{not json"}})
    result = _import(target, backup, tmp_path)  # and a row of the backup
    assert result.exit_code == 0, result.output
    assert "content: 1 inserted, 3 skipped" in result.stderr
    assert _ids(target, "collections") == (["c-news", "c-pages"] if taken == "id" else ["c-mine", "c-news", "c-pages"])
    assert _field_indexes(target) == set()


def _ids(target, table):
    """The ids of ``table``'s rows, read without parsing anything (``snapshot`` parses data)."""
    sql = f"SELECT id FROM {table} ORDER BY id"
    if isinstance(target, PostgresProject):
        return [row["id"] for row in target._query(sql)]
    conn = sqlite3.connect(target.db_path)
    try:
        return [row_id for (row_id,) in conn.execute(sql)]
    finally:
        conn.close()


def _on_the_next_begin(monkeypatch, action):
    """Run ``action`` once, just before the next transaction of either database begins."""
    pending = [action]
    for kind in (peewee.SqliteDatabase, peewee.PostgresqlDatabase):
        def begin(db, *args, _begin=kind.begin, **kwargs):
            if pending:
                pending.pop()()
            return _begin(db, *args, **kwargs)
        monkeypatch.setattr(kind, "begin", begin)


def _save_a_declaring_collection(target):
    """What a collection save declaring ``DECLARING``'s field commits: its row and the field's index."""
    target.execute("INSERT INTO collections (id, name, display_name, schema, created_at, updated_at)"
                   " VALUES ('c-shop', 'shop', 'Shop', ?, 5, 5)", (json.dumps(DECLARING),))
    env = make_env(target.folder, database_url=target.url) if isinstance(target, PostgresProject) else make_env(
        target.folder)
    try:
        (statement,) = index_statements(env.DB.db, {"n"}, set()).values()
    finally:
        env.DB.db.close()
    target.execute(statement)


def test_a_field_declared_as_the_import_begins_refuses_the_rows_its_index_cannot_read(target, backup, tmp_path,
                                                                                  monkeypatch):
    """A collection save that commits a declared field (and its index) after the import read
    the database but before its transaction: the import reads the schemas in its transaction,
    so the refusal is the one naming the row, not the database's error on the insert."""
    _row(backup, "content", "p2")["data"] = {"$text": "{not json"}
    _on_the_next_begin(monkeypatch, lambda: _save_a_declaring_collection(target))
    result = _import(target, backup, tmp_path)
    assert result.exit_code == 1, result.output
    assert ("Error: data.content[2].data: text that is not JSON, which the index of the declared field 'n' cannot"
            " read") in result.output
    assert [row["id"] for row in target.snapshot()["content"]] == []


def test_d1_execute_declaring_a_field_keeps_its_sql_and_says_why_the_index_is_not_created(target, backup, tmp_path):
    """``d1 execute`` commits its SQL before following the schemas: a declared field whose index
    cannot read a live row's data is reported with the rows named, its index not created."""
    assert _import(target, backup, tmp_path).exit_code == 0
    target.execute("UPDATE content SET data = 'not json {' WHERE id = 'p2'")
    result = target.cli("d1", "execute", "DB", "--command",
                        "INSERT INTO collections (id, name, display_name, schema, created_at, updated_at)"
                        f" VALUES ('c-shop', 'shop', 'Shop', '{json.dumps(DECLARING)}', 5, 5)")
    assert result.exit_code == 1, result.output
    assert ("Error: Cannot create the index of the field 'n': 1 live content item(s) hold data no field index can"
            " read (text that is not JSON, or a NUL character): 'p2'; the field indexes were not changed") in result.output
    assert _ids(target, "collections") == ["c-news", "c-pages", "c-shop"]
    assert _field_indexes(target) == set()
