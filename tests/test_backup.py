"""JSON backup (D7): `d1 backup` writes users, collections, content and media; `d1 import`
reads them back in one transaction, skipping what is already there."""

import json
import re
import sqlite3
import stat

import msgspec
import pytest

from app.services.backup import BackupError, export_backup
from app.services.backup_import import import_backup
from app.services.field_indexes import existing_indexes
from tests.fixtures.app import CliProject, env_with_copy, make_env

TABLES = ("users", "collections", "media", "content")
JSON_COLUMNS = {"collections": {"schema", "list_fields"}, "content": {"data"}, "media": {"tags"}}


class Project(CliProject):
    """The migrated project a backup is taken from or imported into."""

    def execute(self, sql, params=()):
        conn = sqlite3.connect(self.db_path)
        try:
            with conn:
                conn.execute("PRAGMA foreign_keys = ON")
                conn.execute(sql, params)
        finally:
            conn.close()

    def snapshot(self):
        """Every row of the four tables, JSON columns parsed (their text may be re-encoded)."""
        conn = sqlite3.connect(self.db_path)
        conn.row_factory = sqlite3.Row
        try:
            return {table: [_parsed(table, dict(row)) for row in conn.execute(f"SELECT * FROM {table} ORDER BY id")]
                    for table in TABLES}
        finally:
            conn.close()


def _parsed(table, row):
    for column in JSON_COLUMNS.get(table, ()):
        if row[column] is not None:
            row[column] = json.loads(row[column])
    return row


def _user(project, uid, email, username, invited_by=None, password_hash="scrypt$16384$8$1$salt$hash"):
    project.execute(
        "INSERT INTO users (id, email, username, first_name, last_name, password_hash, role, bio, invited_by,"
        " created_at, updated_at) VALUES (?, ?, ?, 'Zoë', 'O''Brien', ?, 'editor', ?, ?, 10, 20)",
        (uid, email, username, password_hash, "line\nbreak ☃", invited_by))


def _seed(project):
    """Users (one invited by a later one), two collections, media and content that use them."""
    _user(project, "u-admin", "admin@example.com", "admin")
    _user(project, "u-early", "early@example.com", "early")
    _user(project, "u-late", "late@example.com", "late", invited_by="u-admin")
    # Invited by a user whose id sorts after it: the import must put inviters first.
    project.execute("UPDATE users SET invited_by = 'u-late' WHERE id = 'u-early'")
    for cid, name in (("c-pages", "pages"), ("c-news", "news")):
        project.execute(
            "INSERT INTO collections (id, name, display_name, description, schema, is_active, managed, created_at,"
            " updated_at) VALUES (?, ?, ?, NULL, ?, 1, 1, 1, 2)",
            (cid, name, name.title(), '{ "type": "object",  "properties": {"body": {"type": "richtext"}} }'))
    project.execute("""UPDATE collections SET list_fields = '[ "body", "updated_at"]' WHERE id = 'c-news'""")
    project.execute(
        "INSERT INTO media (id, filename, original_name, mime_type, size, width, height, r2_key, public_url, tags,"
        " uploaded_by, uploaded_at) VALUES ('m1', 'a.png', 'A \"photo\".png', 'image/png', 1234, 10, 20,"
        " 'uploads/a.png', '/files/uploads/a.png', '[\"hero\", \"été\"]', 'u-early', 5)")
    for n, (collection, author) in enumerate([("c-pages", "u-admin"), ("c-pages", "u-early"), ("c-news", "u-late")]):
        project.execute(
            "INSERT INTO content (id, collection_id, slug, title, data, status, author_id, created_at, updated_at,"
            " featured_image_id, reviewer_id, meta_title) VALUES (?, ?, ?, ?, ?, 'published', ?, 1, 2, ?, ?, NULL)",
            (f"p{n}", collection, f"post-{n}", f"Post {n}", json.dumps({"body": f"<p>{n}\n</p>", "n": n, "x": None}),
             author, "m1" if n == 0 else None, "u-admin" if n == 1 else None))


@pytest.fixture
def source(tmp_path, migrated_template):
    project = Project(tmp_path / "source", env_with_copy(tmp_path / "source", migrated_template))
    _seed(project)
    return project


@pytest.fixture
def target(tmp_path, migrated_template):
    return Project(tmp_path / "target", env_with_copy(tmp_path / "target", migrated_template))


@pytest.fixture
def backup_file(source, tmp_path):
    path = tmp_path / "backup.json"
    result = source.cli("d1", "backup", "DB", "--output", path)
    assert result.exit_code == 0, result.output
    return path


def test_backup_file_shape(source, backup_file):
    backup = json.loads(backup_file.read_text())
    assert set(backup) == {"version", "timestamp", "data"}
    assert backup["version"] == "1"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", backup["timestamp"])
    assert list(backup["data"]) == ["users", "collections", "content", "media"]
    users = {u["id"]: u for u in backup["data"]["users"]}
    assert set(users) == {"u-admin", "u-early", "u-late"}
    assert users["u-early"]["password_hash"] == "scrypt$16384$8$1$salt$hash"  # a restore must not lock users out
    assert users["u-early"]["invited_by"] == "u-late"
    assert users["u-early"]["bio"] == "line\nbreak ☃"
    assert users["u-early"]["token_version"] == 0  # columns from the database, not only the models'
    content = {c["id"]: c for c in backup["data"]["content"]}
    assert content["p0"]["data"] == {"body": "<p>0\n</p>", "n": 0, "x": None}  # JSON columns parsed
    assert content["p0"]["featured_image_id"] == "m1"
    assert backup["data"]["media"][0]["tags"] == ["hero", "été"]
    assert backup["data"]["collections"][0]["schema"]["properties"]["body"]["type"] == "richtext"
    # The list's columns, parsed as the schema is; NULL (the default columns) stays null.
    assert {c["id"]: c["list_fields"] for c in backup["data"]["collections"]} == {
        "c-news": ["body", "updated_at"], "c-pages": None}
    assert stat.S_IMODE(backup_file.stat().st_mode) == 0o600  # it holds password hashes


def test_import_into_a_fresh_database_reproduces_the_rows(source, target, backup_file):
    result = target.cli("d1", "import", "DB", backup_file)
    assert result.exit_code == 0, result.output
    assert ("users: 3 inserted, 0 skipped; collections: 2 inserted, 0 skipped; media: 1 inserted, 0 skipped; "
            "content: 3 inserted, 0 skipped") in result.stdout
    assert "content: 3 inserted, 0 skipped" in result.stderr  # progress per table
    assert target.snapshot() == source.snapshot()


def test_an_import_leaves_no_schedule_mirrored_without_its_schedule(source, target, tmp_path):
    source.execute("UPDATE content SET scheduled_publish_at = 4102444800000, scheduled_unpublish_at = 4102444900000"
                   " WHERE id = 'p0'")
    path = tmp_path / "scheduled.json"
    assert source.cli("d1", "backup", "DB", "--output", path).exit_code == 0
    assert json.loads(path.read_text())["data"]["content"][0]["scheduled_publish_at"] == 4102444800000
    assert target.cli("d1", "import", "DB", path).exit_code == 0
    content = {row["id"]: row for row in target.snapshot()["content"]}
    assert (content["p0"]["scheduled_publish_at"], content["p0"]["scheduled_unpublish_at"]) == (None, None)


def test_importing_twice_changes_nothing(source, target, backup_file):
    assert target.cli("d1", "import", "DB", backup_file).exit_code == 0
    before = target.snapshot()
    result = target.cli("d1", "import", "DB", backup_file)
    assert result.exit_code == 0, result.output
    assert ("users: 0 inserted, 3 skipped; collections: 0 inserted, 2 skipped; media: 0 inserted, 1 skipped; "
            "content: 0 inserted, 3 skipped") in result.stdout
    assert "   skipped " not in result.stderr  # rows already there by id are only counted
    assert target.snapshot() == before
    # Into the database it came from, too.
    again = source.cli("d1", "import", "DB", backup_file)
    assert "users: 0 inserted, 3 skipped" in again.stdout


def test_conflicting_email_is_skipped_and_its_rows_follow_the_existing_user(target, backup_file):
    _user(target, "someone-else", "early@example.com", "early-here", password_hash="keep-me")
    result = target.cli("d1", "import", "DB", backup_file)
    assert result.exit_code == 0, result.output
    assert "users: 2 inserted, 1 skipped" in result.stdout
    assert ("skipped users u-early: email 'early@example.com' belongs to user someone-else: its rows go to that user"
            in result.stderr)
    rows = target.snapshot()
    users = {u["id"]: u for u in rows["users"]}
    assert "u-early" not in users
    assert users["someone-else"]["password_hash"] == "keep-me"  # the existing user is untouched
    content = {c["id"]: c for c in rows["content"]}
    assert content["p1"]["author_id"] == "someone-else"
    assert {m["id"]: m for m in rows["media"]}["m1"]["uploaded_by"] == "someone-else"


def test_an_email_in_another_case_is_the_same_user(source, target, tmp_path):
    """Emails are stored lower-cased; a backup from elsewhere may not be."""
    source.execute("UPDATE users SET email = 'Early@Example.COM' WHERE id = 'u-early'")
    path = tmp_path / "cased.json"
    assert source.cli("d1", "backup", "DB", "--output", path).exit_code == 0
    _user(target, "someone-else", "early@example.com", "early-here")
    result = target.cli("d1", "import", "DB", path)
    assert result.exit_code == 0, result.output
    assert "skipped users u-early: email 'early@example.com' belongs to user someone-else:" in result.stderr
    late = target.cli("d1", "import", "DB", path)
    assert "users: 0 inserted" in late.stdout
    emails = {u["id"]: u["email"] for u in target.snapshot()["users"]}
    assert "u-early" not in emails and emails["u-late"] == "late@example.com"


def test_username_taken_by_another_user_skips_the_user_and_what_needs_it(target, backup_file):
    _user(target, "other", "other@example.com", "early")  # same username, different person
    result = target.cli("d1", "import", "DB", backup_file)
    assert result.exit_code == 0, result.output
    assert "users: 2 inserted, 1 skipped" in result.stdout
    assert "media: 0 inserted, 1 skipped" in result.stdout
    assert "content: 2 inserted, 1 skipped" in result.stdout
    rows = target.snapshot()
    content = {c["id"]: c for c in rows["content"]}
    assert set(content) == {"p0", "p2"}
    assert content["p0"]["featured_image_id"] is None  # its image was not imported
    assert {u["id"] for u in rows["users"]} == {"u-admin", "u-late", "other"}
    assert "skipped content p1: its author was not imported" in result.stderr


def test_a_username_held_in_another_case_skips_the_user_as_the_same_one_does(target, backup_file):
    _user(target, "other", "other@example.com", "EARLY")  # usernames are unique ignoring case
    result = target.cli("d1", "import", "DB", backup_file)
    assert result.exit_code == 0, result.output
    assert "users: 2 inserted, 1 skipped" in result.stdout and "content: 2 inserted, 1 skipped" in result.stdout
    assert "skipped users u-early: username 'early' belongs to another user" in result.stderr
    assert {u["id"] for u in target.snapshot()["users"]} == {"u-admin", "u-late", "other"}


def test_a_backup_holding_one_username_in_two_cases_imports_the_first(target, tmp_path):
    users = [{"id": f"u{n}", "email": f"u{n}@example.com", "username": name, "first_name": "", "last_name": "",
              "created_at": 1, "updated_at": 1} for n, name in enumerate(("Sam", "SAM"))]
    path = tmp_path / "two-cases.json"
    path.write_text(json.dumps({"version": "1", "timestamp": "2026-01-01T00:00:00.000Z",
                                "data": {"users": users, "collections": [], "content": [], "media": []}}))
    result = target.cli("d1", "import", "DB", path)
    assert result.exit_code == 0, result.output
    assert "users: 1 inserted, 1 skipped" in result.stdout
    assert "skipped users u1: username 'SAM' belongs to another user" in result.stderr
    assert [u["username"] for u in target.snapshot()["users"]] == ["Sam"]


def _written(tmp_path, backup):
    path = tmp_path / "edited.json"
    path.write_text(json.dumps(backup))
    return path


def _edited(backup_file, **usernames):
    """The backup with users renamed (``{id: username}``)."""
    backup = json.loads(backup_file.read_text())
    for user in backup["data"]["users"]:
        user["username"] = usernames.get(user["id"], user["username"])
    return backup


def _with_a_second_early(backup_file):
    """The backup plus u-copy, whose email normalises to u-early's, with a post, a post it
    reviews and a user it invited; and u-other, whose username is u-copy's in another case."""
    backup = json.loads(backup_file.read_text())
    data = backup["data"]
    early = next(user for user in data["users"] if user["id"] == "u-early")
    data["users"] += [{**early, "id": "u-copy", "email": "EARLY@example.com", "username": "early-copy"},
                      {**early, "id": "u-guest", "email": "guest@example.com", "username": "guest",
                       "invited_by": "u-copy"},
                      {**early, "id": "u-other", "email": "other@example.com", "username": "EARLY-COPY"}]
    post = next(row for row in data["content"] if row["id"] == "p2")
    data["content"].append({**post, "id": "p9", "slug": "post-9", "author_id": "u-copy"})
    next(row for row in data["content"] if row["id"] == "p0")["reviewer_id"] = "u-copy"
    return backup


SECOND_EARLY_USERS = {"u-admin": None, "u-early": "u-late", "u-late": "u-admin", "u-guest": "u-early", "u-other": "u-late"}


def test_a_second_user_of_the_backup_with_an_email_is_the_first(target, backup_file, tmp_path):
    """Two users of one backup whose emails normalise alike are one user, as a user whose
    email the database holds already is: the second's rows go to the first, and its
    username, never held, stays free for another."""
    result = target.cli("d1", "import", "DB", _written(tmp_path, _with_a_second_early(backup_file)))
    assert result.exit_code == 0, result.output
    assert "users: 5 inserted, 1 skipped" in result.stdout and "content: 4 inserted, 0 skipped" in result.stdout
    assert "skipped users u-copy: email 'early@example.com' belongs to user u-early: its rows go to that user" \
        in result.stderr
    rows = target.snapshot()
    assert {user["id"]: user["invited_by"] for user in rows["users"]} == SECOND_EARLY_USERS
    content = {row["id"]: row for row in rows["content"]}
    assert content["p9"]["author_id"] == "u-early" and content["p0"]["reviewer_id"] == "u-early"


def test_postgresql_takes_a_second_user_with_an_email_as_the_first(backup_file, tmp_path, migrated_postgres_url):
    env = make_env(tmp_path / "pg", database_url=migrated_postgres_url)
    try:
        report = import_backup(env.DB.db, json.dumps(_with_a_second_early(backup_file)))
        invited = dict(env.DB.db.execute_sql("SELECT id, invited_by FROM users").fetchall())
        reviewers = dict(env.DB.db.execute_sql("SELECT id, reviewer_id FROM content").fetchall())
    finally:
        env.DB.db.close()
    assert report.inserted == {"users": 5, "collections": 2, "media": 1, "content": 4}
    assert invited == SECOND_EARLY_USERS
    assert reviewers == {"p0": "u-early", "p1": "u-admin", "p2": None, "p9": None}


def test_a_username_sqlite_folds_onto_a_held_one_skips_the_user(target, backup_file, tmp_path):
    """SQLite's lower() folds A-Z only: 'ÄDMIN' is 'Ädmin' to its unique index, where
    Python's lower() says 'ädmin'. Such names predate the rule that usernames are ASCII."""
    _user(target, "other", "other@example.com", "Ädmin")  # written directly, as an old database holds it
    result = target.cli("d1", "import", "DB", _written(tmp_path, _edited(backup_file, **{"u-admin": "ÄDMIN"})))
    assert result.exit_code == 0, result.output
    assert "users: 2 inserted, 1 skipped" in result.stdout and "content: 2 inserted, 1 skipped" in result.stdout
    assert "skipped users u-admin: " in result.stderr and "skipped content p0: its author was not imported" in result.stderr
    rows = target.snapshot()
    assert {user["id"]: user["invited_by"] for user in rows["users"]} == {
        "other": None, "u-early": "u-late", "u-late": None}  # its inviter was not imported
    assert {row["id"]: row["reviewer_id"] for row in rows["content"]} == {"p1": None, "p2": None}


def test_a_username_postgresql_folds_onto_a_held_one_skips_the_user(backup_file, tmp_path, migrated_postgres_url):
    """PostgreSQL's lower('ADMİN') is 'admin'; Python's is 'admi̇n', with a combining dot."""
    env = make_env(tmp_path / "pg", database_url=migrated_postgres_url)
    try:
        env.DB.db.execute_sql("INSERT INTO users (id, email, username, first_name, last_name, created_at, updated_at)"
                              " VALUES ('other', 'other@example.com', 'admin', '', '', 1, 1)")
        report = import_backup(env.DB.db, json.dumps(_edited(backup_file, **{"u-admin": "ADMİN"})))
        invited = dict(env.DB.db.execute_sql("SELECT id, invited_by FROM users").fetchall())
    finally:
        env.DB.db.close()
    assert report.inserted == {"users": 2, "collections": 2, "media": 1, "content": 2}
    assert any(reason.startswith("users u-admin: ") for reason in report.reasons)
    assert invited == {"other": None, "u-early": "u-late", "u-late": None}


def test_a_username_breaking_the_rule_skips_the_user_and_what_needs_it(target, backup_file, tmp_path):
    """An older database may hold 'Zoë': usernames are ASCII now, the letters SQLite's lower()
    folds, so the case-blind index means the same on both databases."""
    result = target.cli("d1", "import", "DB", _written(tmp_path, _edited(backup_file, **{"u-early": "Zoë"})))
    assert result.exit_code == 0, result.output
    assert ("skipped users u-early: username 'Zoë' breaks the rule for usernames (3 to 50 of A-Z, a-z, 0-9, "
            "'_', '.', '-')") in result.stderr
    assert "users: 2 inserted, 1 skipped" in result.stdout
    assert "media: 0 inserted, 1 skipped" in result.stdout and "content: 2 inserted, 1 skipped" in result.stdout
    assert {user["id"] for user in target.snapshot()["users"]} == {"u-admin", "u-late"}


def test_a_username_breaking_the_rule_skips_the_user_on_postgresql(backup_file, tmp_path, migrated_postgres_url):
    env = make_env(tmp_path / "pg", database_url=migrated_postgres_url)
    try:
        report = import_backup(env.DB.db, json.dumps(_edited(backup_file, **{"u-late": "Late Comer"})))
        invited = dict(env.DB.db.execute_sql("SELECT id, invited_by FROM users").fetchall())
    finally:
        env.DB.db.close()
    assert report.inserted == {"users": 2, "collections": 2, "media": 1, "content": 2}
    assert ("users u-late: username 'Late Comer' breaks the rule for usernames (3 to 50 of A-Z, a-z, 0-9, '_', "
            "'.', '-')") in report.reasons
    assert invited == {"u-admin": None, "u-early": None}  # its inviter was not imported


@pytest.mark.parametrize("name, problem", [
    ("new", "is reserved"),
    ("Bad Pages", "A collection name must use lower-case letters, digits, - and _, up to 64 characters"),
])
def test_a_collection_name_breaking_the_rule_skips_the_collection_and_its_content(target, backup_file, tmp_path,
                                                                                  name, problem):
    """A backup edited by hand (or written by another tool) may name a collection as the app
    never would: ``new`` is the admin's own address, and other names its routes cannot hold."""
    backup = json.loads(backup_file.read_text())
    renamed = next(row for row in backup["data"]["collections"] if row["name"] == "pages")
    renamed["name"] = name
    result = target.cli("d1", "import", "DB", _written(tmp_path, backup))
    assert result.exit_code == 0, result.output
    assert f"skipped collections {renamed['id']}: name {name!r}: " in result.stderr
    assert problem in result.stderr
    assert "collections: 1 inserted, 1 skipped" in result.stdout
    snapshot = target.snapshot()
    assert name not in {row["name"] for row in snapshot["collections"]}
    assert not [row for row in snapshot["content"] if row["collection_id"] == renamed["id"]]


def test_collection_name_conflict_sends_content_to_the_existing_collection(target, backup_file):
    target.execute(
        "INSERT INTO collections (id, name, display_name, schema, is_active, managed, created_at, updated_at)"
        " VALUES ('mine', 'pages', 'My Pages', '{}', 1, 0, 1, 1)")
    target.execute(
        "INSERT INTO users (id, email, username, first_name, last_name, role, created_at, updated_at)"
        " VALUES ('me', 'me@example.com', 'me', 'M', 'E', 'admin', 1, 1)")
    target.execute(
        "INSERT INTO content (id, collection_id, slug, title, data, author_id, created_at, updated_at)"
        " VALUES ('mine-1', 'mine', 'post-1', 'Mine', '{}', 'me', 1, 1)")
    result = target.cli("d1", "import", "DB", backup_file)
    assert result.exit_code == 0, result.output
    assert "collections: 1 inserted, 1 skipped" in result.stdout
    assert "content: 2 inserted, 1 skipped" in result.stdout  # p1's slug is taken in "pages"
    assert "skipped content p1: slug 'post-1' is taken in its collection" in result.stderr
    content = {c["id"]: c for c in target.snapshot()["content"]}
    assert content["p0"]["collection_id"] == "mine"
    assert "p1" not in content and content["mine-1"]["title"] == "Mine"


@pytest.mark.parametrize("payload, message", [
    (b"{not json", "not valid JSON"),
    (b"[]", "not a sonicpy JSON backup"),
    (b'{"version": "2.0.0", "timestamp": "x", "data": {}}', "unsupported backup version '2.0.0'"),
    (b'{"version": "1", "timestamp": "x", "data": {"comments": []}}', "unknown field `comments`"),
    (b'{"version": "1", "timestamp": "x", "data": {"users": [{"id": "u", "rank": 1}]}}',
     "data.users[0]: unknown column 'rank' for table users"),
    (b'{"version": "1", "timestamp": "x", "data": {"media": [{"filename": "f"}]}}',
     "data.media[0]: id must be a non-empty string"),
    (b"PRAGMA defer_foreign_keys=TRUE;\nCREATE TABLE t (a);", "restore it with d1 execute DB --file FILE"),
    (b'{"version": "1", "timestamp": "x", "data": {"media": [{"id": "m", "tags": {"$text": ["a"]}}]}}',
     "data.media[0].tags: $text must hold a string"),
])
def test_invalid_files_are_refused(target, tmp_path, payload, message):
    path = tmp_path / "bad.json"
    path.write_bytes(payload)
    before = target.snapshot()
    result = target.cli("d1", "import", "DB", path)
    assert result.exit_code == 1
    assert message in result.output
    assert target.snapshot() == before


def test_a_row_the_database_refuses_rolls_back_everything(target, backup_file, tmp_path):
    backup = json.loads(backup_file.read_text())
    del backup["data"]["content"][2]["title"]  # NOT NULL column: the last table fails
    path = tmp_path / "broken.json"
    path.write_text(json.dumps(backup))
    before = target.snapshot()
    result = target.cli("d1", "import", "DB", path)
    assert result.exit_code == 1
    assert "rolled back, nothing was written" in result.output
    assert "content.title" in result.output
    assert target.snapshot() == before  # users, collections and media were undone too


# Text a JSON column holds as stored, and how the backup must carry it.
ODD_JSON_TEXT = {
    ("media", "m1", "tags"): ("hero,blue", {"$text": "hero,blue"}),  # plain text, written by hand
    ("media", "m2", "tags"): ("null", {"$json": None}),  # the JSON text null, not SQL NULL
    ("content", "p0", "data"): ('{"body": unclosed', {"$text": '{"body": unclosed'}),
    ("content", "p1", "data"): ('{"$text":"x"}', {"$json": {"$text": "x"}}),  # JSON shaped like a marker
    ("content", "p2", "data"): ('{"$json":1}', {"$json": {"$json": 1}}),
    ("collections", "c-news", "schema"): ("", {"$text": ""}),
}


def _store_odd_json_text(project):
    project.execute(
        "INSERT INTO media (id, filename, original_name, mime_type, size, r2_key, public_url, uploaded_by,"
        " uploaded_at) VALUES ('m2', 'b.png', 'b.png', 'image/png', 1, 'uploads/b.png', '/files/uploads/b.png',"
        " 'u-admin', 6)")
    for (table, row_id, column), (text, _) in ODD_JSON_TEXT.items():
        project.execute(f"UPDATE {table} SET {column} = ? WHERE id = ?", (text, row_id))


def _stored_text(db_path):
    conn = sqlite3.connect(db_path)
    try:
        return {key: conn.execute(f"SELECT {key[2]}, typeof({key[2]}) FROM {key[0]} WHERE id = ?", (key[1],)).fetchone()
                for key in ODD_JSON_TEXT}
    finally:
        conn.close()


def test_text_in_json_columns_round_trips_exactly(source, target, tmp_path):
    _store_odd_json_text(source)
    path = tmp_path / "odd.json"
    assert source.cli("d1", "backup", "DB", "--output", path).exit_code == 0
    backup = json.loads(path.read_text())["data"]
    for (table, row_id, column), (_, exported) in ODD_JSON_TEXT.items():
        assert {r["id"]: r for r in backup[table]}[row_id][column] == exported, (table, row_id)

    result = target.cli("d1", "import", "DB", path)
    assert result.exit_code == 0, result.output
    assert target.cli("d1", "import", "DB", path).exit_code == 0  # idempotent with markers too
    restored = _stored_text(target.db_path)
    assert restored == _stored_text(source.db_path)
    assert restored[("media", "m1", "tags")] == ("hero,blue", "text")
    assert restored[("media", "m2", "tags")] == ("null", "text")
    # Valid JSON keeps its value (the text becomes compact JSON, as the app writes it).
    conn = sqlite3.connect(target.db_path)
    try:
        (tags,) = conn.execute("SELECT tags FROM media WHERE id = 'm1'").fetchone()
        (schema,) = conn.execute("SELECT schema FROM collections WHERE id = 'c-pages'").fetchone()
    finally:
        conn.close()
    assert tags == "hero,blue"
    assert json.loads(schema) == {"type": "object", "properties": {"body": {"type": "richtext"}}}


def test_text_in_json_columns_round_trips_through_postgres(source, tmp_path, migrated_postgres_url):
    _store_odd_json_text(source)
    path = tmp_path / "odd.json"
    assert source.cli("d1", "backup", "DB", "--output", path).exit_code == 0
    env = make_env(tmp_path / "pg", database_url=migrated_postgres_url)
    try:
        import_backup(env.DB.db, path.read_bytes())
        stored = {key: env.DB.db.execute_sql(f"SELECT {key[2]} FROM {key[0]} WHERE id = %s", (key[1],)).fetchone()[0]
                  for key in ODD_JSON_TEXT}
        exported = export_backup(env.DB.db)["data"]
    finally:
        env.DB.db.close()
    assert stored == {key: text for key, (text, _) in ODD_JSON_TEXT.items()}
    assert exported == json.loads(path.read_text())["data"]


def test_an_import_into_postgresql_refreshes_the_planners_statistics(backup_file, tmp_path, migrated_postgres_url):
    """PostgreSQL plans from statistics that autovacuum takes a minute after a large write;
    the import takes them at once, so the imported tables are planned as they now are."""
    env = make_env(tmp_path / "pg", database_url=migrated_postgres_url)
    try:
        def counted():
            return env.DB.db.execute_sql("SELECT reltuples FROM pg_class WHERE relname = 'content'").fetchone()[0]

        assert counted() <= 0  # never analyzed
        import_backup(env.DB.db, backup_file.read_bytes())
        assert counted() == 3
    finally:
        env.DB.db.close()


DECLARING = {"type": "object", "properties": {"body": {"type": "richtext"},
                                              "n": {"type": "number", "indexed": True, "sortable": True}}}
DECLARED_INDEXES = {"idx_content_field_n", "idx_content_sort_n"}


def test_an_import_creates_the_declared_field_indexes(source, target, tmp_path, migrated_postgres_url):
    source.execute("UPDATE collections SET schema = ? WHERE id = 'c-news'", (json.dumps(DECLARING),))
    path = tmp_path / "declaring.json"
    assert source.cli("d1", "backup", "DB", "--output", path).exit_code == 0
    result = target.cli("d1", "import", "DB", path)
    assert result.exit_code == 0, result.output
    conn = sqlite3.connect(target.db_path)
    try:
        names = {name for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
    finally:
        conn.close()
    assert names >= DECLARED_INDEXES
    # PostgreSQL creates them after the import's commit: not in a transaction with pending triggers.
    env = _imported_on_postgres(tmp_path, migrated_postgres_url, path)
    try:
        assert existing_indexes(env.DB.db) == DECLARED_INDEXES
    finally:
        env.DB.db.close()


def _imported_on_postgres(tmp_path, database_url, path):
    """Import the backup at ``path`` into the PostgreSQL database at ``database_url`` (exit 0
    asserted); a fresh env on it, to read what the import left."""
    env = make_env(tmp_path / "pg", database_url=database_url)
    result = CliProject(tmp_path / "pg", env).cli("d1", "import", "DB", path)
    assert result.exit_code == 0, result.output
    return make_env(tmp_path / "pg", database_url=database_url)


UNNAMEABLE = {"type": "object", "properties": {"a-b": {"type": "string", "indexed": True, "sortable": True},
                                               "n": {"type": "number", "indexed": True}}}


def _indexes_of(project):
    conn = sqlite3.connect(project.db_path)
    try:
        return {name for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'index'"
                                                 " AND name LIKE 'idx_content_%'")}
    finally:
        conn.close()


def test_a_flag_on_a_name_no_filter_can_write_is_imported_and_ignored(target, backup_file, tmp_path,
                                                                      migrated_postgres_url):
    """A backup's schema (edited by hand, or written by another tool) may flag a field whose
    name is no ``data.<field>`` path: the collection comes in, the field gets no index, and
    what follows the schemas afterwards (``d1 execute``) goes on."""
    backup = json.loads(backup_file.read_text())
    backup["data"]["collections"].append({**backup["data"]["collections"][0], "id": "col-bad", "name": "bad",
                                          "schema": UNNAMEABLE})
    path = _written(tmp_path, backup)
    result = target.cli("d1", "import", "DB", path)
    assert result.exit_code == 0, result.output
    assert "collections: 3 inserted" in result.stdout
    assert "bad" in {row["name"] for row in target.snapshot()["collections"]}
    assert {name for name in _indexes_of(target) if "_field_" in name or "_sort_" in name} == {"idx_content_field_n"}
    result = target.cli("d1", "execute", "DB", "--command", "UPDATE collections SET updated_at = 3")
    assert result.exit_code == 0, result.output
    env = _imported_on_postgres(tmp_path, migrated_postgres_url, path)
    try:
        assert existing_indexes(env.DB.db) == {"idx_content_field_n"}
        assert env.DB.db.execute_sql("SELECT name FROM collections WHERE id = 'col-bad'").fetchall() == [("bad",)]
    finally:
        env.DB.db.close()


def test_backup_to_stdout_is_pure_json(source):
    result = source.cli("d1", "backup", "DB", "--output", "-")
    assert result.exit_code == 0
    assert json.loads(result.stdout)["version"] == "1"
    assert "users: 3 row(s)" in result.stderr


def test_output_must_not_be_a_directory(source, tmp_path):
    result = source.cli("d1", "backup", "DB", "--output", tmp_path)
    assert result.exit_code == 2 and "is a directory" in result.output


def test_sqlite_to_postgres_and_back(source, backup_file, tmp_path, migrated_postgres_url):
    env = make_env(tmp_path / "pg", database_url=migrated_postgres_url)
    try:
        report = import_backup(env.DB.db, backup_file.read_bytes())
        assert report.inserted == {"users": 3, "collections": 2, "media": 1, "content": 3}
        again = import_backup(env.DB.db, backup_file.read_bytes())
        assert again.inserted == {"users": 0, "collections": 0, "media": 0, "content": 0}
        assert again.skipped == {"users": 3, "collections": 2, "media": 1, "content": 3}
        exported = export_backup(env.DB.db)
    finally:
        env.DB.db.close()
    original = json.loads(backup_file.read_text())["data"]
    assert exported["data"] == original


def test_function_api_refuses_before_touching_the_database():
    # No database at all: the file is checked first.
    with pytest.raises(BackupError, match="not valid JSON"):
        import_backup(None, b"nope")
    with pytest.raises(BackupError, match="unsupported backup version '9'"):
        import_backup(None, msgspec.json.encode({"version": "9", "timestamp": "", "data": {}}))
