"""The migration runner and the migrations themselves, on real SQLite files and a real PostgreSQL.

Tests marked with the ``db`` fixture run twice: once on a fresh SQLite file (the embedded
default, opened exactly as the DB binding opens it) and once on a fresh PostgreSQL database.
"""

import json
import re
import shlex
import shutil
from pathlib import Path

import peewee
import pytest

from app.db.database import open_postgres, open_sqlite
from app.db.migration_checks import usernames_differing_in_case
from app.db.migrations import (
    APPLIED,
    CHANGED,
    MISSING,
    PENDING,
    MigrationError,
    MigrationRunner,
    checksum_of,
    leaves_tables_alone,
    statements_of,
)
from app.db.splitter import SEVERAL_TRANSACTIONS, split_statements

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"
SHIPPED = sorted(path.name for path in MIGRATIONS_DIR.glob("*.sql"))
LAST_MIGRATION = SHIPPED[-1]
# The number a test migration takes: after every shipped file, whatever later issues add.
NEXT = f"{int(LAST_MIGRATION[:4]) + 1:04d}"

SEED_TABLES = {
    "users", "collections", "content", "content_versions", "media", "workflow_states",
    "workflows", "workflow_transitions", "workflow_history", "scheduled_content", "plugins",
    "plugin_hooks", "plugin_routes", "plugin_assets", "plugin_activity_log", "permissions",
    "role_permissions", "api_tokens", "system_logs", "log_config", "faqs",
}

ALL_PERMISSIONS = {
    "content.create", "content.read", "content.update", "content.delete", "content.publish",
    "content.review", "collections.create", "collections.read", "collections.update",
    "collections.delete", "media.upload", "media.read", "media.update", "media.delete",
    "users.create", "users.read", "users.update", "users.delete", "users.roles",
    "settings.read", "settings.update", "plugins.manage", "logs.read", "api_tokens.manage",
    # 0012 and 0013: hard deletes, for admins only.
    "content.purge", "media.purge",
    # 0036: forms and their submissions.
    "forms.read", "forms.manage",
}
ROLE_PERMISSIONS = {
    "admin": ALL_PERMISSIONS,
    "editor": {"content.create", "content.read", "content.update", "content.delete",
               "content.publish", "content.review", "collections.read", "media.upload",
               "media.read", "media.update", "media.delete", "users.read", "logs.read",
               "forms.read", "forms.manage"},  # 0036
    "author": {"content.create", "content.read", "content.update", "content.delete", "media.upload",
               "media.read", "media.update", "collections.read"},  # content.delete: 0015
    "viewer": {"content.read", "collections.read", "media.read"},
}
DEFAULT_TRANSITIONS = {
    ("draft", "pending-review", "content.update"),
    ("pending-review", "approved", "content.review"),
    ("pending-review", "rejected", "content.review"),
    ("approved", "published", "content.publish"),
    ("draft", "published", "content.publish"),
    ("published", "archived", "content.publish"),
    ("rejected", "draft", "content.update"),
    ("archived", "draft", "content.publish"),
    ("published", "draft", "content.publish"),
}


# ------------------------------------------------------------------ fixtures and helpers

@pytest.fixture
def sqlite_db(tmp_path):
    """A fresh SQLite file opened with the DB binding's settings."""
    db = open_sqlite(tmp_path / "d1.sqlite")
    yield db
    db.close()


@pytest.fixture
def postgres_db(fresh_postgres_url):
    """A fresh PostgreSQL database, through the same pooled driver the binding uses."""
    db = open_postgres(fresh_postgres_url)
    yield db
    db.close_all()


@pytest.fixture(params=["sqlite", "postgres"])
def db(request):
    """Each test using this runs once per supported database."""
    return request.getfixturevalue(f"{request.param}_db")


@pytest.fixture
def migrations_copy(tmp_path):
    """A private copy of the repository's migrations that a test may add to or edit."""
    target = tmp_path / "migrations"
    shutil.copytree(MIGRATIONS_DIR, target)
    return target


def rows(db, sql, params=None):
    """All rows of a query, as a list of tuples."""
    return list(db.execute_sql(sql, params).fetchall())


def execute(db, sql, params=None):
    """Run ``sql`` written with ``?`` placeholders on either database."""
    return db.execute_sql(sql.replace("?", db.param), params)


def tracked_names(db, table="d1_migrations"):
    return [name for (name,) in rows(db, f'SELECT name FROM "{table}" ORDER BY id')]


def write(folder, name, sql):
    path = Path(folder) / name
    path.write_text(sql, encoding="utf-8")
    return path


# ------------------------------------------------------------------ the real migrations

def test_fresh_database_reaches_the_last_migration_in_one_apply(db):
    runner = MigrationRunner(db, MIGRATIONS_DIR)
    applied = runner.apply()

    assert applied[0] == "0001_initial_schema.sql"
    assert [name[:4] for name in applied[:11]] == [f"{n:04d}" for n in range(1, 12)]
    assert applied[10] == "0011_config_managed_collections.sql"
    assert applied == SHIPPED
    assert tracked_names(db) == applied
    assert runner.pending() == []
    assert {status.status for status in runner.list()} == {APPLIED}


def test_applying_again_does_nothing(db):
    runner = MigrationRunner(db, MIGRATIONS_DIR)
    runner.apply()
    before = rows(db, 'SELECT id, name, applied_at, checksum FROM "d1_migrations" ORDER BY id')

    assert runner.apply() == []
    assert rows(db, 'SELECT id, name, applied_at, checksum FROM "d1_migrations" ORDER BY id') == before


def test_every_seed_table_exists_after_apply(db):
    MigrationRunner(db, MIGRATIONS_DIR).apply()

    assert set(db.get_tables()) >= SEED_TABLES


def test_tracking_table_has_wrangler_columns_plus_checksum(db):
    MigrationRunner(db, MIGRATIONS_DIR).apply()

    columns = [column.name for column in db.get_columns("d1_migrations")]
    assert columns == ["id", "name", "applied_at", "checksum"]
    ids, checksums = zip(*rows(db, 'SELECT id, checksum FROM "d1_migrations" ORDER BY id'))
    assert list(ids) == list(range(1, len(SHIPPED) + 1))
    first = (MIGRATIONS_DIR / "0001_initial_schema.sql").read_text(encoding="utf-8")
    assert checksums[0] == checksum_of(first)


def test_every_role_has_its_permissions(db):
    MigrationRunner(db, MIGRATIONS_DIR).apply()

    assert {name for (name,) in rows(db, "SELECT name FROM permissions")} == ALL_PERMISSIONS
    granted = rows(db, "SELECT rp.role, p.name FROM role_permissions rp "
                       "JOIN permissions p ON p.id = rp.permission_id")
    by_role = {}
    for role, name in granted:
        by_role.setdefault(role, set()).add(name)
    assert by_role == ROLE_PERMISSIONS


def test_default_workflow_transitions_name_existing_states_and_permissions(db):
    MigrationRunner(db, MIGRATIONS_DIR).apply()

    states = {state for (state,) in rows(db, "SELECT id FROM workflow_states")}
    assert states == {"draft", "pending-review", "approved", "published", "rejected", "archived"}
    transitions = set(rows(db, "SELECT from_state_id, to_state_id, required_permission "
                               "FROM workflow_transitions WHERE workflow_id = 'default-workflow'"))
    assert transitions == DEFAULT_TRANSITIONS
    assert {permission for _, _, permission in transitions} <= ALL_PERMISSIONS


def test_seed_rows_for_plugins_and_log_config(db):
    MigrationRunner(db, MIGRATIONS_DIR).apply()

    plugins = dict(rows(db, "SELECT id, status FROM plugins"))
    assert plugins == {
        "core-auth": "active", "core-media": "active", "core-workflow": "active",
        "core-cache": "active", "faq-plugin": "inactive", "demo-login-plugin": "inactive",
    }
    categories = {category for (category,) in rows(db, "SELECT category FROM log_config")}
    assert categories == {"auth", "api", "workflow", "plugin", "media", "system", "security", "error"}


def test_schema_constraints_hold_on_both_databases(db):
    """token_version defaults to 0, slugs are unique per collection, roles are checked,
    and epoch milliseconds fit."""
    MigrationRunner(db, MIGRATIONS_DIR).apply()
    now_ms = 1_767_225_600_000  # larger than a 32-bit INTEGER can hold
    execute(db, "INSERT INTO users (id, email, username, first_name, last_name, created_at, updated_at) "
                "VALUES ('u1', 'a@example.com', 'a', 'A', 'B', ?, ?)", (now_ms, now_ms))
    execute(db, "INSERT INTO collections (id, name, display_name, schema, created_at, updated_at) "
                "VALUES ('c1', 'posts', 'Posts', '{}', ?, ?)", (now_ms, now_ms))
    insert_content = ("INSERT INTO content (id, collection_id, slug, title, data, author_id, created_at, updated_at) "
                      "VALUES (?, 'c1', 'hello', 'Hello', '{}', 'u1', ?, ?)")
    execute(db, insert_content, ("p1", now_ms, now_ms))

    assert rows(db, "SELECT token_version, role, created_at FROM users") == [(0, "viewer", now_ms)]
    assert rows(db, "SELECT managed, is_active FROM collections") == [(0, 1)]
    with pytest.raises(peewee.IntegrityError), db.atomic():
        execute(db, insert_content, ("p2", now_ms, now_ms))
    with pytest.raises(peewee.IntegrityError), db.atomic():
        execute(db, "UPDATE users SET role = 'superuser' WHERE id = 'u1'")


USERNAMES_FILE = "0038_usernames_unique_ignoring_case.sql"


def add_users(db, *usernames, start=0):
    for number, username in enumerate(usernames, start=start):
        execute(db, "INSERT INTO users (id, email, username, first_name, last_name, created_at, updated_at) "
                    "VALUES (?, ?, ?, '', '', 0, 0)", (f"u{number}", f"u{number}@example.com", username))


def test_usernames_are_unique_ignoring_case(db):
    MigrationRunner(db, MIGRATIONS_DIR).apply()
    add_users(db, "admin", "Ed")
    for variant in ("ADMIN", "Admin", "ed"):
        with pytest.raises(peewee.IntegrityError), db.atomic():
            add_users(db, variant, start=9)
    add_users(db, "admin2", start=9)


def applied_but(db, migrations_copy, name):
    """A runner that applied every migration but ``name``, and a function giving ``name`` back."""
    held = migrations_copy / name
    text = held.read_text(encoding="utf-8")
    held.unlink()
    runner = MigrationRunner(db, migrations_copy)
    runner.apply()
    return runner, lambda: held.write_text(text, encoding="utf-8")


def test_usernames_differing_only_in_case_hold_the_index_back_naming_them(db, migrations_copy):
    runner, give_back = applied_but(db, migrations_copy, USERNAMES_FILE)
    add_users(db, "admin", "ADMIN", "Ed", "eD", "ed", "bob")
    give_back()
    with pytest.raises(MigrationError) as caught:
        runner.apply()
    assert str(caught.value) == (
        f"Migration {USERNAMES_FILE} refused: usernames that differ only in case: ADMIN (id u1) and admin (id u0); "
        "Ed (id u2), eD (id u3) and ed (id u4). Usernames become unique ignoring case: give all but one of each a "
        "new username, then apply again. From the command line (dev applies the migrations before it serves, so "
        "its admin is not there yet), e.g. sonicpy d1 execute DB --command \"UPDATE users SET username = 'NEW-NAME' "
        "WHERE id = 'u0'\"; or, where an app already serves, the admin's user page or PATCH /admin/api/users/{id} "
        "with a username.\n"
        "Nothing was changed; earlier migrations stay applied.")
    assert caught.value.migration == USERNAMES_FILE
    assert [s.name for s in runner.pending()] == [USERNAMES_FILE]
    add_users(db, "BOB", start=9)  # no index yet
    execute(db, "UPDATE users SET username = 'admin-old' WHERE username = 'ADMIN'")
    execute(db, "DELETE FROM users WHERE username IN ('eD', 'BOB')")
    with pytest.raises(MigrationError, match=r"differ only in case: Ed \(id u2\) and ed \(id u4\)\. .* WHERE id = 'u4'"):
        runner.apply()
    execute(db, "UPDATE users SET username = 'ed2' WHERE username = 'ed'")
    assert runner.apply() == [USERNAMES_FILE]
    with pytest.raises(peewee.IntegrityError), db.atomic():
        add_users(db, "BOB", start=9)


def test_the_rename_it_suggests_is_quoted_for_the_shell_whatever_the_id(db, migrations_copy):
    (migrations_copy / USERNAMES_FILE).unlink()
    MigrationRunner(db, migrations_copy).apply()
    odd_id = "u'1\"$(touch x)`"
    for user_id, username in (("u0", "SAM"), (odd_id, "sam")):  # the last of the two is named
        execute(db, "INSERT INTO users (id, email, username, first_name, last_name, created_at, updated_at) "
                    "VALUES (?, ?, ?, '', '', 0, 0)", (user_id, f"{username}@example.com", username))
    message = usernames_differing_in_case(db)
    command = message[message.index("sonicpy d1 execute"):message.index("; or, where")]
    # What a shell would pass on: the SQL itself, its id quoted for SQL, nothing expanded.
    assert shlex.split(command) == ["sonicpy", "d1", "execute", "DB", "--command",
                                    "UPDATE users SET username = 'NEW-NAME' WHERE id = 'u''1\"$(touch x)`'"]


ASSIGNMENTS_FILE = "0043_end_assignments_of_items_done_with.sql"
# An assignee id as a backup may bring it: the history row's JSON must escape it.
ODD_ASSIGNEE = 'u"\\odd'


def add_users_with_ids(db, *user_ids):
    """A user of each id (which a backup may bring as any text), with names of their own."""
    for number, user_id in enumerate(user_ids):
        execute(db, "INSERT INTO users (id, email, username, first_name, last_name, created_at, updated_at) "
                    "VALUES (?, ?, ?, '', '', 0, 0)", (user_id, f"user{number}@example.com", f"user{number}"))


def add_item(db, item_id, status, state, collection="posts", deleted_at=None, assignee="u1", assigned_at=5000,
             history=()):
    """An item with an assignment made by u0, and history rows at the times ``history``."""
    execute(db, "INSERT INTO content (id, collection_id, slug, title, data, status, workflow_state_id, author_id, "
                "deleted_at, created_at, updated_at) VALUES (?, ?, ?, ?, '{}', ?, ?, 'u0', ?, 0, 0)",
            (item_id, collection, item_id, item_id, status, state, deleted_at))
    for number, created_at in enumerate(history):
        execute(db, "INSERT INTO workflow_history (id, content_id, workflow_id, from_state_id, to_state_id, user_id, "
                    "metadata, created_at) VALUES (?, ?, 'default-workflow', NULL, 'draft', 'u0', '{}', ?)",
                (f"h-{item_id}-{number}", item_id, created_at))
    execute(db, "INSERT INTO content_assignments (content_id, assignee_id, assigned_by, due_at, note, assigned_at) "
                "VALUES (?, ?, 'u0', NULL, 'do it', ?)", (item_id, assignee, assigned_at))


def test_assignments_of_items_done_with_end_recorded_and_the_others_stay(db, migrations_copy):
    runner, give_back = applied_but(db, migrations_copy, ASSIGNMENTS_FILE)
    add_users_with_ids(db, "u0", "u1", ODD_ASSIGNEE)
    for name in ("posts", "pages"):
        execute(db, "INSERT INTO collections (id, name, display_name, schema, created_at, updated_at) "
                    "VALUES (?, ?, ?, '{}', 0, 0)", (name, name, name))
    execute(db, "INSERT INTO workflows (id, name, collection_id, is_active, created_at, updated_at) "
                "VALUES ('pages-flow', 'Pages', 'pages', 1, 0, 0)")
    add_item(db, "published", "published", "published", history=(1000, 7000), assignee=ODD_ASSIGNEE)
    add_item(db, "archived", "archived", "archived", collection="pages", history=(1000,))
    add_item(db, "status-published", "published", "draft", history=(9000,))  # published by a status write
    add_item(db, "trashed", "draft", "pending-review", deleted_at=8000, history=(1000,))
    add_item(db, "legacy-deleted", "deleted", "draft")  # SonicJS's soft delete; no history at all
    add_item(db, "in-review", "draft", "pending-review", history=(1000,))
    add_item(db, "draft", "draft", "draft")
    add_item(db, "status-unpublished", "draft", "published", history=(1000,))  # unpublished by a status write
    before = rows(db, "SELECT content_id FROM content_assignments ORDER BY content_id")
    assert len(before) == 8

    give_back()
    assert runner.apply() == [ASSIGNMENTS_FILE]

    assert rows(db, "SELECT content_id, assignee_id, note FROM content_assignments ORDER BY content_id") == [
        ("draft", "u1", "do it"), ("in-review", "u1", "do it"), ("status-unpublished", "u1", "do it")]
    recorded = rows(db, "SELECT content_id, id, workflow_id, from_state_id, to_state_id, user_id, comment, metadata, "
                        "created_at FROM workflow_history WHERE id = 'ended-0043-' || content_id ORDER BY content_id")
    expected_states = {"archived": "archived", "legacy-deleted": "draft", "published": "published",
                       "status-published": "published", "trashed": "pending-review"}
    expected_times = {"archived": 1001, "legacy-deleted": 5001, "published": 7001, "status-published": 9001,
                      "trashed": 1001}
    assert [row[0] for row in recorded] == sorted(expected_states)
    for content_id, history_id, workflow_id, from_state, to_state, user_id, comment, metadata, created_at in recorded:
        assert history_id == f"ended-0043-{content_id}"
        assert workflow_id == ("pages-flow" if content_id == "archived" else "default-workflow")
        assert (from_state, to_state) == (expected_states[content_id],) * 2
        assert (user_id, comment, created_at) == ("u0", None, expected_times[content_id])
        assert json.loads(metadata) == {
            "action": "unassigned", "assignee_id": None, "due_at": None,
            "previous_assignee_id": ODD_ASSIGNEE if content_id == "published" else "u1", "ended_by": "migration"}
    # The others' history is untouched.
    assert rows(db, "SELECT COUNT(*) FROM workflow_history WHERE id <> 'ended-0043-' || content_id") == [(7,)]


def test_an_assignee_id_json_cannot_hold_unescaped_refuses_until_unassigned(db, migrations_copy):
    runner, give_back = applied_but(db, migrations_copy, ASSIGNMENTS_FILE)
    add_users_with_ids(db, "u0", "u\t1", "u\n2")
    execute(db, "INSERT INTO collections (id, name, display_name, schema, created_at, updated_at) "
                "VALUES ('posts', 'posts', 'posts', '{}', 0, 0)")
    add_item(db, "live", "published", "published", assignee="u\t1")
    add_item(db, "in-review", "draft", "pending-review", assignee="u\n2")  # not ended: its id stays as it is
    add_item(db, "unpublished", "draft", "published", assignee="u\n2")  # a draft, whatever its state says
    give_back()

    with pytest.raises(MigrationError) as caught:
        runner.apply()
    assert str(caught.value).startswith(
        f"Migration {ASSIGNMENTS_FILE} refused: assignments whose assignee id holds a control character: "
        "item 'live' (assignee 'u\\t1'). Unassign them")
    assert [s.name for s in runner.pending()] == [ASSIGNMENTS_FILE]
    assert len(rows(db, "SELECT content_id FROM content_assignments")) == 3

    execute(db, "DELETE FROM content_assignments WHERE content_id = 'live'")
    assert runner.apply() == [ASSIGNMENTS_FILE]
    assert rows(db, "SELECT content_id, assignee_id FROM content_assignments ORDER BY content_id") == [
        ("in-review", "u\n2"), ("unpublished", "u\n2")]


# ------------------------------------------------------------------ failures and safety

LIST_FIELDS_FILE = "0044_collection_list_fields.sql"


def test_collections_get_list_fields_null_for_the_default_columns(db, migrations_copy):
    runner, give_back = applied_but(db, migrations_copy, LIST_FIELDS_FILE)
    execute(db, "INSERT INTO collections (id, name, display_name, schema, created_at, updated_at) "
                "VALUES ('c1', 'posts', 'Posts', '{}', 0, 0)")
    assert "list_fields" not in [column.name for column in db.get_columns("collections")]

    give_back()
    assert runner.apply() == [LIST_FIELDS_FILE]

    assert rows(db, "SELECT id, list_fields FROM collections") == [("c1", None)]
    execute(db, "UPDATE collections SET list_fields = ? WHERE id = 'c1'", ('["title","author"]',))
    assert rows(db, "SELECT list_fields FROM collections") == [('["title","author"]',)]


def test_failing_migration_leaves_no_trace_and_can_be_fixed(db, migrations_copy):
    broken = write(migrations_copy, f"{NEXT}_widgets.sql",
                   "CREATE TABLE widgets (id TEXT PRIMARY KEY, label TEXT);\n"
                   "INSERT INTO widgets (id, label) VALUES ('w1', '50%; off');\n"
                   "INSERT INTO no_such_table (id) VALUES ('x');\n")
    runner = MigrationRunner(db, migrations_copy)
    stages = []

    with pytest.raises(MigrationError) as caught:
        runner.apply(on_progress=lambda event: stages.append((event.name, event.stage)))

    message = str(caught.value)
    assert f"{NEXT}_widgets.sql" in message
    assert "statement 3 of 3" in message
    assert "no_such_table" in message
    assert caught.value.cause is not None
    assert str(caught.value.cause).splitlines()[0] in message  # the database's own words
    assert (f"{NEXT}_widgets.sql", "failed") in stages
    assert "widgets" not in db.get_tables()
    assert tracked_names(db)[-1] == LAST_MIGRATION  # earlier files kept, the failing one not recorded
    assert [s.name for s in runner.pending()] == [f"{NEXT}_widgets.sql"]

    broken.write_text("CREATE TABLE widgets (id TEXT PRIMARY KEY, label TEXT);\n"
                      "INSERT INTO widgets (id, label) VALUES ('w1', '50%; off');\n", encoding="utf-8")
    assert runner.apply() == [f"{NEXT}_widgets.sql"]
    assert rows(db, "SELECT id, label FROM widgets") == [("w1", "50%; off")]
    assert runner.pending() == []


def test_edited_applied_file_is_reported_and_stops_apply(db, migrations_copy):
    runner = MigrationRunner(db, migrations_copy)
    runner.apply()
    edited = migrations_copy / "0003_stage5_enhancements.sql"
    edited.write_text(edited.read_text(encoding="utf-8") + "\n-- edited after release\n", encoding="utf-8")
    write(migrations_copy, f"{NEXT}_later.sql", "CREATE TABLE later (id TEXT PRIMARY KEY);")

    statuses = {s.name: s.status for s in runner.list()}
    assert statuses["0003_stage5_enhancements.sql"] == CHANGED
    assert statuses[f"{NEXT}_later.sql"] == PENDING
    with pytest.raises(MigrationError) as caught:
        runner.apply()
    assert "0003_stage5_enhancements.sql" in str(caught.value)
    assert "later" not in db.get_tables()  # refused before applying anything

    assert runner.apply(accept_changed=True) == [f"{NEXT}_later.sql"]
    assert {s.status for s in runner.list()} == {APPLIED}


def test_applied_file_gone_from_disk_is_listed_as_missing(sqlite_db, migrations_copy):
    runner = MigrationRunner(sqlite_db, migrations_copy)
    runner.apply()
    (migrations_copy / "0007_demo_login_plugin.sql").unlink()

    statuses = {s.name: s.status for s in runner.list()}
    assert statuses["0007_demo_login_plugin.sql"] == MISSING
    assert runner.apply() == []


def test_list_is_read_only_on_a_fresh_database(sqlite_db):
    statuses = MigrationRunner(sqlite_db, MIGRATIONS_DIR).list()

    assert {s.status for s in statuses} == {PENDING}
    assert len(statuses) == len(SHIPPED)
    assert rows(sqlite_db, "SELECT name FROM sqlite_master") == []


def test_list_is_read_only_on_postgres(postgres_db):
    runner = MigrationRunner(postgres_db, MIGRATIONS_DIR)

    assert len(runner.pending()) == len(SHIPPED)
    assert postgres_db.get_tables() == []


def test_reused_number_names_both_files(sqlite_db, tmp_path):
    write(tmp_path, "0001_first.sql", "CREATE TABLE a (id TEXT);")
    write(tmp_path, "0002_users.sql", "CREATE TABLE b (id TEXT);")
    write(tmp_path, "2_other.sql", "CREATE TABLE c (id TEXT);")
    runner = MigrationRunner(sqlite_db, tmp_path)

    for action in (runner.list, runner.apply):
        with pytest.raises(MigrationError) as caught:
            action()
        assert "0002_users.sql" in str(caught.value) and "2_other.sql" in str(caught.value)
    assert sqlite_db.get_tables() == []  # refused before even the tracking table


def test_file_with_several_transactions_is_refused_before_anything_runs(sqlite_db, tmp_path):
    write(tmp_path, "0001_ok.sql", "CREATE TABLE ok (id TEXT);")
    write(tmp_path, "0002_tx.sql", "BEGIN TRANSACTION;\nCREATE TABLE tx (id TEXT);\nCOMMIT;\nBEGIN;\nCOMMIT;\n")

    with pytest.raises(MigrationError) as caught:
        MigrationRunner(sqlite_db, tmp_path).apply()

    assert SEVERAL_TRANSACTIONS in str(caught.value)
    assert "0002_tx.sql" in str(caught.value)
    assert "ok" not in sqlite_db.get_tables()


def test_one_begin_commit_pair_is_dropped_as_wrangler_drops_it(sqlite_db, tmp_path):
    # sqlite3's .dump wraps its output in one; comments around it do not matter.
    write(tmp_path, "0001_dump.sql", "-- dumped\nBEGIN TRANSACTION;\nCREATE TABLE d (x TEXT);\n-- end\nCOMMIT;\n")

    assert MigrationRunner(sqlite_db, tmp_path).apply() == ["0001_dump.sql"]
    assert "d" in sqlite_db.get_tables()


def test_files_sort_by_number_numerically_then_by_name(sqlite_db, tmp_path):
    for name in ("10_ten.sql", "9_nine.sql", "0100_hundred.sql", "zeta.sql", "alpha.sql", "notes.txt"):
        write(tmp_path, name, "SELECT 1;")

    names = [s.name for s in MigrationRunner(sqlite_db, tmp_path).list()]

    assert names == ["9_nine.sql", "10_ten.sql", "0100_hundred.sql", "alpha.sql", "zeta.sql"]


def test_missing_folder_is_a_clear_error(sqlite_db, tmp_path):
    with pytest.raises(MigrationError, match="No migrations present at"):
        MigrationRunner(sqlite_db, tmp_path / "nowhere").list()


def test_table_name_must_be_an_identifier(sqlite_db):
    with pytest.raises(MigrationError):
        MigrationRunner(sqlite_db, MIGRATIONS_DIR, table='d1"; DROP TABLE users; --')


def test_custom_tracking_table(sqlite_db, tmp_path):
    write(tmp_path, "0001_a.sql", "CREATE TABLE a (id TEXT);")

    MigrationRunner(sqlite_db, tmp_path, table="schema_history").apply()

    assert tracked_names(sqlite_db, "schema_history") == ["0001_a.sql"]
    assert "d1_migrations" not in sqlite_db.get_tables()


def test_adopts_a_table_written_by_wrangler(sqlite_db, tmp_path):
    """wrangler's d1_migrations has no checksum column: apply adds it and trusts old rows."""
    write(tmp_path, "0001_a.sql", "CREATE TABLE a (id TEXT);")
    write(tmp_path, "0002_b.sql", "CREATE TABLE b (id TEXT);")
    sqlite_db.execute_sql("CREATE TABLE d1_migrations (id INTEGER PRIMARY KEY AUTOINCREMENT, "
                          "name TEXT UNIQUE, applied_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP NOT NULL)")
    sqlite_db.execute_sql("CREATE TABLE a (id TEXT)")
    sqlite_db.execute_sql("INSERT INTO d1_migrations (name) VALUES ('0001_a.sql')")
    runner = MigrationRunner(sqlite_db, tmp_path)

    assert [(s.name, s.status) for s in runner.list()] == [("0001_a.sql", APPLIED), ("0002_b.sql", PENDING)]
    assert runner.apply() == ["0002_b.sql"]
    recorded = rows(sqlite_db, "SELECT name, checksum FROM d1_migrations ORDER BY id")
    assert [name for name, _ in recorded] == ["0001_a.sql", "0002_b.sql"]
    assert all(checksum for _, checksum in recorded)


def test_trigger_migration_runs_whole_on_sqlite(sqlite_db, tmp_path):
    write(tmp_path, "0001_trigger.sql", """
        CREATE TABLE notes (id TEXT PRIMARY KEY, body TEXT, edits INTEGER NOT NULL DEFAULT 0);
        -- the body holds two statements; neither ';' may end the CREATE TRIGGER
        CREATE TRIGGER notes_edit AFTER UPDATE OF body ON notes
        BEGIN
          UPDATE notes SET edits = edits + 1 WHERE id = NEW.id;
          SELECT CASE WHEN NEW.body = 'x;y' THEN 1 END;
        END;
        INSERT INTO notes (id, body) VALUES ('n1', 'first; draft');
        UPDATE notes SET body = 'second' WHERE id = 'n1';
    """)

    MigrationRunner(sqlite_db, tmp_path).apply()

    assert rows(sqlite_db, "SELECT body, edits FROM notes") == [("second", 1)]


# ------------------------------------------------------------------ create

def test_create_numbers_files_like_wrangler(sqlite_db, tmp_path):
    runner = MigrationRunner(sqlite_db, tmp_path / "migrations")

    first = runner.create("add widgets")
    second = runner.create("more")

    assert first.name == "0001_add_widgets.sql"
    assert second.name == "0002_more.sql"
    assert re.fullmatch(r"-- Migration number: 0001 \t \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z\n",
                        first.read_text(encoding="utf-8"))


def test_create_continues_after_the_highest_number(sqlite_db, migrations_copy):
    assert MigrationRunner(sqlite_db, migrations_copy).create("next").name == f"{NEXT}_next.sql"


@pytest.mark.parametrize("name", ["a/b", "a\\b", "", "   "])
def test_create_rejects_bad_names(sqlite_db, tmp_path, name):
    with pytest.raises(MigrationError):
        MigrationRunner(sqlite_db, tmp_path).create(name)


# ------------------------------------------------------------------ splitter

@pytest.mark.parametrize("statement", [
    "-- a comment first\nCREATE INDEX idx_a ON content (title)",
    "create unique index if not exists idx_a on content (slug)",
    "DROP INDEX IF EXISTS idx_a",
    "CREATE TRIGGER t AFTER UPDATE ON content BEGIN UPDATE users SET updated_at = 1; END",
    "CREATE OR REPLACE TRIGGER t BEFORE UPDATE ON content FOR EACH ROW EXECUTE FUNCTION f()",
    "DROP TRIGGER t ON content",
    "/* lookups */ CREATE OR REPLACE VIEW v AS SELECT id FROM content",
    "DROP VIEW v",
])
def test_statements_that_leave_the_tables_alone(statement):
    assert leaves_tables_alone(statement)


@pytest.mark.parametrize("statement", [
    "CREATE TABLE t (id TEXT PRIMARY KEY)",
    "ALTER TABLE content ADD COLUMN subtitle TEXT",
    "UPDATE content SET title = title",
    "INSERT INTO users (id) VALUES ('u')",
    "DELETE FROM content",
    "CREATE TEMP TRIGGER t AFTER UPDATE ON content BEGIN SELECT 1; END",
    "CREATE MATERIALIZED VIEW v AS SELECT id FROM content",
    "WITH x AS (SELECT 1) DELETE FROM content",
    "SELECT refresh_everything()",
    "-- only a comment",
])
def test_statements_that_may_change_tables_or_rows(statement):
    assert not leaves_tables_alone(statement)


def test_splitter_keeps_trigger_bodies_whole():
    sql = """
    CREATE TABLE t (id TEXT, n INTEGER);
    CREATE TEMP TRIGGER IF NOT EXISTS bump AFTER INSERT ON t
    BEGIN
      UPDATE t SET n = CASE WHEN n IS NULL THEN 1 ELSE n + 1 END WHERE id = NEW.id;
      DELETE FROM t WHERE id = 'gone;';
    END;
    SELECT 1;
    """
    statements = split_statements(sql)

    assert len(statements) == 3
    assert statements[1].startswith("CREATE TEMP TRIGGER") and statements[1].endswith("END")
    assert statements[2] == "SELECT 1"


def test_splitter_ignores_semicolons_in_strings_and_identifiers():
    sql = """INSERT INTO t VALUES ('a;b', 'it''s; fine');SELECT "odd;""name" FROM t;SELECT 2"""

    assert split_statements(sql) == [
        "INSERT INTO t VALUES ('a;b', 'it''s; fine')",
        'SELECT "odd;""name" FROM t',
        "SELECT 2",
    ]


def test_splitter_reads_backslash_escapes_in_postgresql_e_strings_only():
    sql = r"""SELECT E'it\'s; fine';SELECT 'plain\';SELECT 2"""

    assert split_statements(sql) == [r"SELECT E'it\'s; fine'", r"SELECT 'plain\'", "SELECT 2"]


def test_splitter_ignores_semicolons_in_comments_and_drops_empty_statements():
    sql = """
    -- a comment; with a semicolon
    SELECT 1; /* block; comment
    over lines; */ SELECT 2;
    ;;
    -- trailing comment only;
    """
    statements = split_statements(sql)

    assert len(statements) == 2
    assert statements[0].endswith("SELECT 1")
    assert statements[1].endswith("SELECT 2")
    assert all(not s.endswith(";") for s in statements)


@pytest.mark.parametrize("sql", ["BEGIN;", "BEGIN TRANSACTION;", "COMMIT;", "END TRANSACTION;",
                                 "ROLLBACK;", "SAVEPOINT s;", "START TRANSACTION;"])
def test_transaction_control_is_refused(sql):
    with pytest.raises(MigrationError, match="contains several transactions"):
        statements_of("0001_x.sql", f"CREATE TABLE x (id TEXT);\n{sql}\n")
