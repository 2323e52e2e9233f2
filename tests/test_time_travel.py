"""`d1 time-travel info|restore` through the CLI, on a SQLite file and on a real PostgreSQL database.

Every test runs on both backends. Changes are made with `d1 execute` (the triggers log
them whoever writes) and read back with `d1 execute --json`.
"""

import json
import re
import shutil
import sqlite3
import time

import pytest
from click.testing import CliRunner

from app.cli import cli
from app.db.models import bind_models
from app.db.time_travel import triggers
from app.runtime.config import load_config
from app.runtime.context import ScheduledEvent
from app.runtime.env import build_env
from app.scheduled import run_scheduled
from app.services.field_indexes import existing_indexes
from app.services.log_buffer import flush_process_buffer
from tests.fixtures.app import MIGRATIONS, CliProject, client_for, env_with_copy, make_env
from tests.fixtures.cache import past_generation_bound
from tests.fixtures.content import insert_items

DAY_MS = 24 * 3600 * 1000
BOOKMARK = re.compile(r"[0-9a-f]{16}-[0-9a-f]{12}-[0-9a-f]{32}")


class Project(CliProject):
    """A migrated project whose migrations folder is its own copy (a test may add one)."""

    def __init__(self, folder, env, dialect):
        super().__init__(folder, env)
        self.dialect = dialect
        self.migrations = folder / "migrations"
        shutil.copytree(MIGRATIONS, self.migrations)
        self.config.write_text(self.config.read_text().replace(str(MIGRATIONS), str(self.migrations)))

    def cli(self, *args, input=None):
        return CliRunner().invoke(
            cli, [*map(str, args), "--config", str(self.config), "--persist-to", str(self.state)],
            input=input, catch_exceptions=False)

    def sql(self, statement):
        result = self.cli("d1", "execute", "DB", "--command", statement)
        assert result.exit_code == 0, result.output

    def rows(self, query):
        result = self.cli("d1", "execute", "DB", "--json", "--command", query)
        assert result.exit_code == 0, result.output
        return json.loads(result.output)[0]["results"]

    def content(self):
        return {row["id"]: row["title"] for row in self.rows("SELECT id, title FROM content ORDER BY id")}

    def bookmark(self, *args):
        result = self.cli("d1", "time-travel", "info", "DB", "--json", *args)
        assert result.exit_code == 0, result.output
        return json.loads(result.output)["bookmark"]

    def restore(self, *args):
        return self.cli("d1", "time-travel", "restore", "DB", "--yes", *args)

    def env(self):
        return build_env(load_config(self.config, persist_to=self.state))


@pytest.fixture(params=["sqlite", "postgres"])
def project(request, tmp_path, migrated_template):
    folder = tmp_path / "app"
    if request.param == "sqlite":
        env = env_with_copy(folder, migrated_template)
    else:
        env = make_env(folder, database_url=request.getfixturevalue("migrated_postgres_url"))
    project = Project(folder, env, request.param)
    project.sql("INSERT INTO users (id, email, username, first_name, last_name, role, created_at, updated_at)"
                " VALUES ('u1', 'a@example.com', 'a', 'A', 'B', 'admin', 1, 1)")
    project.sql("INSERT INTO collections (id, name, display_name, schema, created_at, updated_at)"
                " VALUES ('c1', 'blog', 'Blog', '{}', 1, 1)")
    for n in (1, 2):
        project.sql("INSERT INTO content (id, collection_id, slug, title, data, author_id, created_at, updated_at)"
                    f" VALUES ('p{n}', 'c1', 'post-{n}', 'Post {n}', '{{\"n\": {n}}}', 'u1', 1, 1)")
    return project


def now_seconds_between_writes():
    """A time strictly after the writes made so far and before the next ones."""
    time.sleep(0.02)
    moment = time.time()
    time.sleep(0.02)
    return f"{moment:.3f}"


def edit_delete_add(project):
    project.sql("UPDATE content SET title = 'Edited' WHERE id = 'p1'")
    project.sql("DELETE FROM content WHERE id = 'p2'")
    project.sql("INSERT INTO content (id, collection_id, slug, title, data, author_id, created_at, updated_at)"
                " VALUES ('p3', 'c1', 'post-3', 'Added', '{}', 'u1', 2, 2)")


def test_restore_to_a_timestamp_brings_back_edited_and_deleted_content(project):
    before = {"p1": "Post 1", "p2": "Post 2"}
    assert project.content() == before
    moment = now_seconds_between_writes()
    edit_delete_add(project)
    after = {"p1": "Edited", "p3": "Added"}
    assert project.content() == after

    result = project.restore("--timestamp", moment)
    assert result.exit_code == 0, result.output
    assert "(3 change(s) undone)" in result.output
    assert project.content() == before
    assert project.rows("SELECT data FROM content WHERE id = 'p2'") == [{"data": '{"n": 2}'}]

    undo = re.search(r"restore to the previous bookmark: (\S+)", result.output).group(1)
    assert BOOKMARK.fullmatch(undo)
    again = project.restore("--bookmark", undo)
    assert again.exit_code == 0, again.output
    assert project.content() == after


def test_a_restore_brings_back_the_field_indexes_the_restored_schemas_declare(project):
    declaring = json.dumps({"type": "object", "properties": {"n": {"type": "number", "indexed": True}}})
    project.sql(f"UPDATE collections SET schema = '{declaring}' WHERE id = 'c1'")

    def indexes():
        env = project.env()
        try:
            return existing_indexes(env.DB.db)
        finally:
            env.DB.db.close()

    assert indexes() == {"idx_content_field_n"}
    bookmark = project.bookmark()
    project.sql("UPDATE collections SET schema = '{}' WHERE id = 'c1'")
    assert indexes() == set()
    result = project.restore("--bookmark", bookmark)
    assert result.exit_code == 0, result.output
    assert indexes() == {"idx_content_field_n"}


def test_a_restore_that_brings_a_file_back_finds_the_content_naming_it(project):
    project.sql("INSERT INTO media (id, filename, original_name, mime_type, size, r2_key, public_url, uploaded_by,"
                " uploaded_at) VALUES ('m1', 'a.png', 'a.png', 'image/png', 1, 'uploads/m1.png',"
                " '/files/uploads/m1.png', 'u1', 1)")
    project.sql("""UPDATE content SET data = '{"body": "<img src=\\"/files/uploads/m1.png\\">"}' WHERE id = 'p1'""")
    named = "SELECT content_id, media_id FROM content_media"
    assert project.rows(named) == [{"content_id": "p1", "media_id": "m1"}]
    bookmark = project.bookmark()
    project.sql("DELETE FROM media WHERE id = 'm1'")  # as a purge leaves it, references gone with the file
    assert project.rows(named) == []

    result = project.restore("--bookmark", bookmark)

    assert result.exit_code == 0, result.output
    # The content was not changed by the restore: its triggers did not run, the restore recomputed.
    assert project.rows(named) == [{"content_id": "p1", "media_id": "m1"}]


def test_info_prints_the_bookmark_to_restore_to(project):
    result = project.cli("d1", "time-travel", "info", "DB")
    assert result.exit_code == 0, result.output
    bookmark = re.search(r"The current bookmark is '(\S+)'", result.output).group(1)
    assert f"time-travel restore DB --bookmark={bookmark}" in result.output
    edit_delete_add(project)
    restored = project.cli("d1", "time-travel", "restore", "DB", "--json", "--bookmark", bookmark)
    assert restored.exit_code == 0, restored.output
    payload = json.loads(restored.output)
    assert payload["bookmark"] == bookmark and payload["changes_undone"] == 3
    assert BOOKMARK.fullmatch(payload["previous_bookmark"]) and payload["previous_bookmark"] > bookmark
    assert project.content() == {"p1": "Post 1", "p2": "Post 2"}


def test_bookmarks_of_times_sort_and_name_the_state_then(project):
    first = now_seconds_between_writes()
    project.sql("UPDATE content SET title = 'One' WHERE id = 'p1'")
    second = now_seconds_between_writes()
    project.sql("UPDATE content SET title = 'Two' WHERE id = 'p1'")
    at_first, at_second, now = project.bookmark("--timestamp", first), project.bookmark("--timestamp", second), \
        project.bookmark()
    assert at_first < at_second < now
    assert project.restore("--bookmark", at_second).exit_code == 0
    assert project.content()["p1"] == "One"


def test_restore_asks_first(project):
    bookmark = project.bookmark()
    edit_delete_add(project)
    declined = project.cli("d1", "time-travel", "restore", "DB", "--bookmark", bookmark, input="n\n")
    assert declined.exit_code == 0 and "OK to proceed (y/N)" in declined.output and "Not restoring." in declined.output
    assert project.content() == {"p1": "Edited", "p3": "Added"}


def test_a_point_before_a_migration_is_refused(project):
    bookmark = project.bookmark()
    moment = now_seconds_between_writes()
    (project.migrations / "0999_add_subtitle.sql").write_text("ALTER TABLE content ADD COLUMN subtitle TEXT;\n")
    assert project.cli("d1", "migrations", "apply", "DB").exit_code == 0
    project.sql("UPDATE content SET title = 'After', subtitle = 'x' WHERE id = 'p1'")

    for args in (("--bookmark", bookmark), ("--timestamp", moment)):
        refused = project.restore(*args)
        assert refused.exit_code == 1
        assert "before the schema changed" in refused.output and "migration 0999_add_subtitle.sql" in refused.output
    assert project.content()["p1"] == "After"
    # A point after the migration is fine, new column included.
    after_migration = project.bookmark()
    project.sql("UPDATE content SET title = 'Later', subtitle = 'y' WHERE id = 'p1'")
    assert project.restore("--bookmark", after_migration).exit_code == 0
    assert project.rows("SELECT title, subtitle FROM content WHERE id = 'p1'") == [{"title": "After", "subtitle": "x"}]


def test_a_bookmark_from_before_a_migration_is_refused_whatever_time_it_carries(project):
    bookmark = project.bookmark()
    project.sql("UPDATE content SET title = 'Between' WHERE id = 'p1'")
    (project.migrations / "0999_add_subtitle.sql").write_text("ALTER TABLE content ADD COLUMN subtitle TEXT;\n")
    assert project.cli("d1", "migrations", "apply", "DB").exit_code == 0
    seq, _, log_id = bookmark.split("-")
    later = f"{seq}-{int(time.time() * 1000) + 1000:012x}-{log_id}"  # its change number, a later time
    refused = project.restore("--bookmark", later)
    assert refused.exit_code == 1, refused.output
    assert "that bookmark is from before the schema changed" in refused.output
    assert project.content()["p1"] == "Between"


def test_a_bookmark_from_before_an_index_trigger_and_view_migration_stays_restorable(project):
    trigger = ("CREATE TRIGGER content_kept BEFORE UPDATE ON content FOR EACH ROW"
               " EXECUTE FUNCTION suppress_redundant_updates_trigger();\nDROP TRIGGER content_kept ON content;\n"
               if project.dialect == "postgres" else
               "CREATE TRIGGER content_kept AFTER UPDATE ON content BEGIN SELECT 1; END;\n"
               "DROP TRIGGER content_kept;\n")
    bookmark = project.bookmark()
    project.sql("UPDATE content SET title = 'Before' WHERE id = 'p1'")
    (project.migrations / "0999_lookups.sql").write_text(
        "-- Lookups only: no table or row changes.\n"
        "CREATE INDEX idx_content_title ON content (title);\n"
        f"CREATE VIEW content_titles AS SELECT id, title FROM content;\n{trigger}")
    applied = project.cli("d1", "migrations", "apply", "DB")
    assert applied.exit_code == 0 and "0999_lookups.sql" in applied.output, applied.output
    project.sql("DELETE FROM content WHERE id = 'p2'")

    result = project.restore("--bookmark", bookmark)

    assert result.exit_code == 0, result.output
    assert "(2 change(s) undone)" in result.output
    assert project.content() == {"p1": "Post 1", "p2": "Post 2"}
    assert project.rows("SELECT title FROM content_titles WHERE id = 'p2'") == [{"title": "Post 2"}]


def test_a_bookmark_from_before_migration_0034_stays_restorable_after_the_upgrade(project):
    # The database as 0033 left it: the index of transactions over every change.
    project.sql("DELETE FROM d1_migrations WHERE name = '0034_time_travel_tx_index_partial.sql'")
    project.sql("DROP INDEX idx_d1_changes_tx")
    project.sql("CREATE INDEX idx_d1_changes_tx ON d1_changes (tx, seq)")
    bookmark = project.bookmark()
    edit_delete_add(project)
    applied = project.cli("d1", "migrations", "apply", "DB")
    assert applied.exit_code == 0 and "0034_time_travel_tx_index_partial.sql" in applied.output, applied.output
    project.sql("UPDATE content SET title = 'After' WHERE id = 'p1'")

    result = project.restore("--bookmark", bookmark)

    assert result.exit_code == 0, result.output
    assert project.content() == {"p1": "Post 1", "p2": "Post 2"}


def test_a_migration_that_writes_rows_is_not_crossed_even_with_no_column_changed(project):
    bookmark = project.bookmark()
    (project.migrations / "0999_titles.sql").write_text(
        "CREATE INDEX idx_content_title ON content (title);\n"
        "UPDATE content SET title = upper(title);\n")
    assert project.cli("d1", "migrations", "apply", "DB").exit_code == 0
    project.sql("UPDATE content SET title = 'After' WHERE id = 'p1'")

    refused = project.restore("--bookmark", bookmark)

    assert refused.exit_code == 1, refused.output
    assert "before the schema changed" in refused.output and "migration 0999_titles.sql" in refused.output
    assert project.content() == {"p1": "After", "p2": "POST 2"}


def test_a_history_the_database_cannot_read_is_refused_before_the_user_is_asked(project):
    bookmark = project.bookmark()
    edit_delete_add(project)
    project.sql("ALTER TABLE d1_changes RENAME COLUMN tx TO tx_renamed")

    refused = project.cli("d1", "time-travel", "restore", "DB", "--bookmark", bookmark, input="y\n")

    assert refused.exit_code == 1, refused.output
    assert "the history could not be read, so nothing was restored" in refused.output
    assert "tx" in refused.output.split("nothing was restored")[1]
    assert "OK to proceed" not in refused.output and "Restoring database" not in refused.output
    assert project.content() == {"p1": "Edited", "p3": "Added"}


def test_a_schema_changed_outside_migrations_is_refused_until_re_armed(project):
    bookmark = project.bookmark()
    project.sql("ALTER TABLE content ADD COLUMN subtitle TEXT")
    refused = project.restore("--bookmark", bookmark)
    assert refused.exit_code == 1 and "the schema changed outside `d1 migrations apply`" in refused.output
    assert project.cli("d1", "migrations", "apply", "DB").exit_code == 0  # re-arms
    later = project.bookmark()
    project.sql("DELETE FROM content WHERE id = 'p1'")
    assert project.restore("--bookmark", later).exit_code == 0
    assert set(project.content()) == {"p1", "p2"}


def test_bad_bookmarks_and_timestamps_are_refused_clearly(project):
    cases = {
        ("--bookmark", "nonsense"): "is not a bookmark",
        ("--bookmark", "0" * 16 + "-" + "0" * 12 + "-" + "f" * 32): "belongs to another database",
        ("--timestamp", "yesterday"): "neither Unix seconds nor an RFC 3339 time",
        ("--timestamp", str(int(time.time()) + 3600)): "is in the future",
        ("--timestamp", "2001-01-01T00:00:00Z"): "before the schema changed",
    }
    for args, message in cases.items():
        result = project.restore(*args)
        assert result.exit_code != 0 and message in result.output, (args, result.output)
    both = project.restore("--bookmark", project.bookmark(), "--timestamp", "1")
    assert both.exit_code == 2 and "not both" in both.output


def test_retention_purge_drops_old_history_and_refuses_points_before_it(project):
    project.config.write_text(project.config.read_text().replace(
        'database_name = "test-db"', 'database_name = "test-db"\ntime_travel_retention_days = 2'))
    old = now_seconds_between_writes()
    project.sql("UPDATE content SET title = 'Old edit' WHERE id = 'p1'")
    cutoff = now_seconds_between_writes()
    project.sql("UPDATE content SET title = 'New edit' WHERE id = 'p2'")

    env = project.env()
    try:
        event = ScheduledEvent("manual", round(float(cutoff) * 1000) + 2 * DAY_MS)
        report = run_scheduled(event, env)["purge_expired_history"]
    finally:
        env.DB.db.close()
    assert report["changes_purged"] >= 1

    refused = project.restore("--timestamp", old)
    assert refused.exit_code == 1 and "older than the history kept" in refused.output
    kept = project.restore("--timestamp", cutoff)
    assert kept.exit_code == 0, kept.output
    assert project.content() == {"p1": "Old edit", "p2": "Post 2"}
    # Numbering goes on after the purge: the restore's own changes can be undone.
    undo = re.search(r"previous bookmark: (\S+)", kept.output).group(1)
    assert project.restore("--bookmark", undo).exit_code == 0
    assert project.content() == {"p1": "Old edit", "p2": "New edit"}


def test_a_bad_retention_setting_is_a_clean_error(project):
    project.config.write_text(project.config.read_text().replace(
        'database_name = "test-db"', 'database_name = "test-db"\ntime_travel_retention_days = 0'))
    result = project.cli("d1", "time-travel", "info", "DB")
    assert result.exit_code == 1 and "time_travel_retention_days must be a whole number of days" in result.output


def test_a_failing_restore_leaves_the_database_as_it_was(project):
    bookmark = project.bookmark()
    edit_delete_add(project)
    # A row deleted behind the triggers' back: the oldest change to undo names a missing row.
    env = project.env()
    db = env.DB.db
    try:
        with db.atomic():
            triggers.drop_triggers(db)
            db.execute_sql("DELETE FROM content WHERE id = 'p1'")
            triggers.create_triggers(db, triggers.table_specs(db, {"d1_migrations"}))
    finally:
        db.close()
    failed = project.restore("--bookmark", bookmark)
    assert failed.exit_code == 1, failed.output
    assert "cannot be undone" in failed.output and "nothing was restored" in failed.output
    # The two newer changes were undone first, then rolled back with the rest.
    assert project.content() == {"p3": "Added"}


def test_restore_makes_the_running_apps_cache_stale(env, client, blog_collection, as_author):
    author, _ = as_author
    (item,) = insert_items(blog_collection, author, 1)
    folder = env.config.path.parent

    def run(*args):
        result = CliRunner().invoke(cli, [*args, "--config", str(folder / "bindings.toml"),
                                          "--persist-to", str(folder / "state")], catch_exceptions=False)
        bind_models(env.DB.db)  # the command bound the models to its own connection
        assert result.exit_code == 0, result.output
        return result.output

    bookmark = json.loads(run("d1", "time-travel", "info", "DB", "--json"))["bookmark"]
    run("d1", "execute", "DB", "--command", f"UPDATE content SET title = 'Changed' WHERE id = '{item}'")
    assert client.get("/api/content").json["data"][0]["title"] == "Changed"
    assert client.get("/api/content").headers["X-Cache-Status"] == "HIT"

    run("d1", "time-travel", "restore", "DB", "--bookmark", bookmark, "--yes")
    past_generation_bound()  # the write went through another cache
    response = client.get("/api/content")
    assert response.headers["X-Cache-Status"] == "MISS"
    assert response.json["data"][0]["title"] == "Item 0"


def notes(project):
    return sorted((row["body"], row["n"]) for row in project.rows("SELECT body, n FROM notes"))


def test_a_table_without_a_primary_key_comes_back_as_it_was(project):
    (project.migrations / "0999_notes.sql").write_text("CREATE TABLE notes (body TEXT, n INTEGER);\n")
    assert project.cli("d1", "migrations", "apply", "DB").exit_code == 0
    project.sql("INSERT INTO notes VALUES ('a', 1), ('a', 1), ('b', NULL), ('c', 3)")
    before = notes(project)
    bookmark = project.bookmark()
    project.sql("INSERT INTO notes VALUES ('d', 4), ('a', 1)")
    project.sql("UPDATE notes SET n = 2 WHERE body = 'b'")
    project.sql("UPDATE notes SET body = 'z' WHERE body = 'a'")
    project.sql("DELETE FROM notes WHERE body = 'c'")
    project.sql("DELETE FROM content WHERE id = 'p1'")
    after = notes(project)
    assert after == [("b", 2), ("d", 4), ("z", 1), ("z", 1), ("z", 1)]

    result = project.restore("--bookmark", bookmark)
    assert result.exit_code == 0, result.output
    assert notes(project) == before == [("a", 1), ("a", 1), ("b", None), ("c", 3)]
    assert set(project.content()) == {"p1", "p2"}  # in the same restore
    undo = re.search(r"previous bookmark: (\S+)", result.output).group(1)
    assert project.restore("--bookmark", undo).exit_code == 0
    assert notes(project) == after


def test_a_table_without_a_primary_key_that_does_not_match_its_log_restores_nothing(project):
    (project.migrations / "0999_notes.sql").write_text("CREATE TABLE notes (body TEXT, n INTEGER);\n")
    assert project.cli("d1", "migrations", "apply", "DB").exit_code == 0
    bookmark = project.bookmark()
    project.sql("DELETE FROM content WHERE id = 'p1'")
    project.sql("INSERT INTO notes VALUES ('a', 1)")
    env = project.env()
    db = env.DB.db
    try:
        with db.atomic():  # the row changes behind the triggers' back
            triggers.drop_triggers(db)
            db.execute_sql("UPDATE notes SET n = 5")
            triggers.create_triggers(db, triggers.table_specs(db, {"d1_migrations"}))
    finally:
        db.close()
    failed = project.restore("--bookmark", bookmark)
    assert failed.exit_code == 1 and "nothing was restored" in failed.output, failed.output
    assert notes(project) == [("a", 5)] and set(project.content()) == {"p2"}


def test_a_cascading_delete_comes_back_parent_and_children(project):
    project.sql("INSERT INTO plugin_hooks (id, plugin_id, hook_name, handler_name, created_at) VALUES"
                " ('h1', 'faq-plugin', 'content:save', 'a', 1), ('h2', 'faq-plugin', 'content:read', 'b', 1)")
    bookmark = project.bookmark()
    project.sql("DELETE FROM plugins WHERE id = 'faq-plugin'")
    assert project.rows("SELECT COUNT(*) AS n FROM plugin_hooks") == [{"n": 0}]
    result = project.restore("--bookmark", bookmark)
    assert result.exit_code == 0, result.output
    assert project.rows("SELECT id FROM plugin_hooks ORDER BY id") == [{"id": "h1"}, {"id": "h2"}]
    assert project.rows("SELECT name FROM plugins WHERE id = 'faq-plugin'") == [{"name": "faq-plugin"}]
    if project.dialect == "postgres":  # the foreign keys were deferrable for the restore only
        assert project.rows("SELECT COUNT(*) AS n FROM pg_constraint WHERE contype = 'f' AND condeferrable") \
            == [{"n": 0}]


def test_values_come_back_exactly(project):
    postgres = project.dialect == "postgres"
    blob, real = ("BYTEA", "DOUBLE PRECISION") if postgres else ("BLOB", "REAL")
    blob_value = "decode('00ff10', 'hex')" if postgres else "x'00ff10'"
    real_value = "0.1::float8 + 0.2::float8" if postgres else "0.1 + 0.2"
    (project.migrations / "0999_samples.sql").write_text(
        f"CREATE TABLE samples (id INTEGER PRIMARY KEY, b {blob}, r {real}, n BIGINT, t TEXT);\n")
    assert project.cli("d1", "migrations", "apply", "DB").exit_code == 0
    project.sql(f"INSERT INTO samples VALUES (1, {blob_value}, {real_value}, 9007199254740993, 'line break ''q'' é')")
    project.sql("INSERT INTO samples VALUES (2, NULL, 1e300, -1, NULL)")
    before = project.rows("SELECT id, b, r, n, t FROM samples ORDER BY id")
    bookmark = project.bookmark()
    project.sql("UPDATE samples SET b = NULL, r = 0, n = 0, t = 'x'")
    project.sql("DELETE FROM samples WHERE id = 2")
    assert project.restore("--bookmark", bookmark).exit_code == 0
    after = project.rows("SELECT id, b, r, n, t FROM samples ORDER BY id")
    assert after == before
    assert after[0]["r"] == 0.1 + 0.2 and after[0]["n"] == 9007199254740993


@pytest.mark.parametrize("project", ["sqlite"], indirect=True)  # PostgreSQL has no virtual tables
def test_virtual_tables_are_named_as_not_restored(project):
    """An FTS5 table and its shadow tables keep no history (a trigger on a shadow table crashes SQLite)."""
    (project.migrations / "0999_search.sql").write_text("CREATE VIRTUAL TABLE search USING fts5(body);\n")
    applied = project.cli("d1", "migrations", "apply", "DB")
    assert applied.exit_code == 0, applied.output
    result = project.cli("d1", "time-travel", "info", "DB")
    assert result.exit_code == 0, result.output
    assert "Not restored (virtual tables, no history): search" in result.output
    assert ("Left as they are (logs): cache_invalidations, magic_links, otp_codes, plugin_activity_log, "
            "search_history, system_logs, webhook_deliveries"
            in result.output)
    bookmark = project.bookmark()
    project.sql("INSERT INTO search VALUES ('kept'); DELETE FROM content WHERE id = 'p1'")
    restored = project.restore("--bookmark", bookmark)
    assert restored.exit_code == 0, restored.output
    assert set(project.content()) == {"p1", "p2"}
    assert project.rows("SELECT body FROM search") == [{"body": "kept"}]


def binding_option(project, line):
    project.config.write_text(project.config.read_text().replace(
        'database_name = "test-db"', f'database_name = "test-db"\n{line}'))


def test_time_travel_false_removes_the_triggers_and_logs_nothing(project):
    binding_option(project, "time_travel = false")
    assert project.cli("d1", "migrations", "apply", "DB").exit_code == 0
    assert triggers.armed_tables(project.env().DB.db) == set()
    logged = project.rows("SELECT COUNT(*) AS n FROM d1_changes")[0]["n"]
    edit_delete_add(project)
    assert project.rows("SELECT COUNT(*) AS n FROM d1_changes")[0]["n"] == logged
    result = project.cli("d1", "time-travel", "info", "DB")
    assert result.exit_code == 1 and "time travel is off for this binding (time_travel = false)" in result.output


def test_turning_time_travel_on_again_arms_from_then_on(project):
    binding_option(project, "time_travel = false")
    assert project.cli("d1", "migrations", "apply", "DB").exit_code == 0
    project.config.write_text(project.config.read_text().replace("time_travel = false", "time_travel = true"))
    assert project.cli("d1", "migrations", "apply", "DB").exit_code == 0
    bookmark = project.bookmark()
    edit_delete_add(project)
    assert project.restore("--bookmark", bookmark).exit_code == 0
    assert project.content() == {"p1": "Post 1", "p2": "Post 2"}


def test_a_bad_time_travel_setting_is_a_clean_error(project):
    binding_option(project, 'time_travel = "no"')
    result = project.cli("d1", "migrations", "apply", "DB")
    assert result.exit_code == 1 and "time_travel must be true or false" in result.output


LOG_ROW = ("INSERT INTO system_logs (id, level, category, message, user_id, created_at)"
           " VALUES ('{id}', 'info', 'api', 'GET /x 200', '{user}', 5)")


def changes_of(project, table):
    return project.rows(f"SELECT COUNT(*) AS n FROM d1_changes WHERE table_name = '{table}'")[0]["n"]


def test_logs_keep_no_history_and_a_restore_leaves_them(project):
    armed = triggers.armed_tables(project.env().DB.db)
    assert "content" in armed and not armed & triggers.LOG_TABLES
    bookmark = project.bookmark()
    project.sql("INSERT INTO users (id, email, username, first_name, last_name, role, created_at, updated_at)"
                " VALUES ('u2', 'b@example.com', 'b', 'B', 'C', 'author', 2, 2)")
    project.sql(LOG_ROW.format(id="l1", user="u1"))
    project.sql(LOG_ROW.format(id="l2", user="u2"))
    project.sql("DELETE FROM content WHERE id = 'p1'")
    assert changes_of(project, "system_logs") == 0

    restored = project.restore("--bookmark", bookmark)
    assert restored.exit_code == 0, restored.output
    assert set(project.content()) == {"p1", "p2"}
    assert project.rows("SELECT id FROM users WHERE id = 'u2'") == []
    # The logs stay; the one naming a user the restore removed is now anonymous.
    assert project.rows("SELECT id, user_id FROM system_logs WHERE id IN ('l1', 'l2') ORDER BY id") == [
        {"id": "l1", "user_id": "u1"}, {"id": "l2", "user_id": None}]


WEBHOOK_ROW = ("INSERT INTO webhooks (id, url, events, secret, created_at, updated_at)"
               " VALUES ('{id}', 'https://example.com/hook', '[]', 's', 1, 1)")
DELIVERY_ROW = ("INSERT INTO webhook_deliveries (id, webhook_id, event, payload, created_at, updated_at)"
                " VALUES ('{id}', '{webhook}', 'content.created', '{{}}', 1, 1)")


def test_a_restore_removing_a_webhook_takes_its_deliveries_and_leaves_the_others(project):
    project.sql(WEBHOOK_ROW.format(id="w1"))
    bookmark = project.bookmark()
    project.sql(WEBHOOK_ROW.format(id="w2"))
    project.sql(DELIVERY_ROW.format(id="d1", webhook="w1"))
    project.sql(DELIVERY_ROW.format(id="d2", webhook="w2"))
    project.sql("DELETE FROM content WHERE id = 'p1'")
    assert changes_of(project, "webhook_deliveries") == 0

    restored = project.restore("--bookmark", bookmark)
    assert restored.exit_code == 0, restored.output
    assert project.rows("SELECT id FROM webhooks") == [{"id": "w1"}]
    # The delivery of the webhook that stays is kept; the removed webhook's went with it.
    assert project.rows("SELECT id FROM webhook_deliveries") == [{"id": "d1"}]


def test_a_restore_revives_no_used_sign_in_link_or_code(project):
    project.sql("INSERT INTO magic_links (id, user_id, token_hash, expires_at, token_version, created_at)"
                " VALUES ('m1', 'u1', 'h1', 9999999999999, 0, 1)")
    project.sql("INSERT INTO otp_codes (id, user_id, code_hash, expires_at, token_version, created_at)"
                " VALUES ('o1', 'u1', 'h2', 9999999999999, 0, 1)")
    bookmark = project.bookmark()
    project.sql("UPDATE magic_links SET used_at = 7")
    project.sql("UPDATE otp_codes SET attempts = 3")
    project.sql("DELETE FROM content WHERE id = 'p1'")
    assert changes_of(project, "magic_links") == changes_of(project, "otp_codes") == 0

    restored = project.restore("--bookmark", bookmark)
    assert restored.exit_code == 0, restored.output
    assert "p1" in project.content()
    assert project.rows("SELECT used_at FROM magic_links") == [{"used_at": 7}]
    assert project.rows("SELECT attempts FROM otp_codes") == [{"attempts": 3}]


def test_log_triggers_of_an_earlier_arming_go_at_the_next_migrations_apply(project, monkeypatch):
    """A database armed while logs were tracked: the next apply re-arms without them."""
    with monkeypatch.context() as earlier:
        earlier.setattr(triggers, "LOG_TABLES", frozenset())
        assert project.cli("d1", "migrations", "apply", "DB").exit_code == 0
        assert "system_logs" in triggers.armed_tables(project.env().DB.db)
    refused = project.restore("--bookmark", project.bookmark())
    assert refused.exit_code == 1 and "run `d1 migrations apply`" in refused.output
    assert project.cli("d1", "migrations", "apply", "DB").exit_code == 0
    assert not triggers.armed_tables(project.env().DB.db) & triggers.LOG_TABLES
    logged = changes_of(project, "system_logs")
    project.sql(LOG_ROW.format(id="l1", user="u1"))
    assert changes_of(project, "system_logs") == logged
    later = project.bookmark()
    project.sql("DELETE FROM content WHERE id = 'p1'")
    assert project.restore("--bookmark", later).exit_code == 0
    assert set(project.content()) == {"p1", "p2"}


# A transaction's changes are stamped as they run, its commit comes with its last one: a
# point between them must land before the transaction, never inside it. Each test writes
# its transactions for real, then restamps their changes (the log is ours to read) a few
# milliseconds after the last change before them, so the point between two changes is
# exact whatever the machine's speed, and in the past.

ADD_P3_EDIT_P1 = ("INSERT INTO content (id, collection_id, slug, title, data, author_id, created_at, updated_at)"
                  " VALUES ('p3', 'c1', 'post-3', 'Added', '{}', 'u1', 2, 2);"
                  " UPDATE content SET title = 'Edited' WHERE id = 'p1'")


def last_seq(project):
    return project.rows("SELECT MAX(seq) AS n FROM d1_changes")[0]["n"]


def changes_after(project, seq):
    return project.rows(f"SELECT seq, changed_at, tx FROM d1_changes WHERE seq > {seq} ORDER BY seq")


def stamp(project, seq, at_ms):
    """Give logged change ``seq`` the time ``at_ms``, as if it had been written then."""
    project.sql(f"UPDATE d1_changes SET changed_at = {at_ms} WHERE seq = {seq}")


def unix_seconds(at_ms):
    return f"{at_ms / 1000:.3f}"


def room_before(project, through_seq, until_ms, room=10):
    """The time of the last change up to ``through_seq``, at least ``room`` ms before ``until_ms``.

    When less than that passed between them, the history up to that change is moved back
    to make the room (its arming too, when it comes later then): as if written earlier.
    Stamps derived from it up to ``until_ms``, a time the log holds, are then in the past.
    """
    base = project.rows(f"SELECT MAX(changed_at) AS t FROM d1_changes WHERE seq <= {through_seq}")[0]["t"]
    shift = max(0, base + room - until_ms)
    if shift:
        base -= shift
        project.sql(f"UPDATE d1_changes SET changed_at = changed_at - {shift} WHERE seq <= {through_seq}")
        project.sql(f"UPDATE d1_time_travel SET armed_at = CASE WHEN armed_at > {base} THEN {base} ELSE armed_at"
                    f" END, purged_at = CASE WHEN purged_at > {base} THEN {base} ELSE purged_at END WHERE id = 1")
    return base


def straddling_transaction(project):
    """Add p3 and edit p1 in ONE transaction, its commit stamped 9 ms after its first change.

    The first change is stamped 1 ms after the last change before it, the commit 10 ms
    after, never later than the commit was really logged (``room_before``): every point up
    to it is in the past, however little time the writes took.

    Returns ``(its changes, the point between them as epoch ms)``: the first change is at
    the point, the last (the commit) after it.
    """
    start = last_seq(project)
    project.sql(ADD_P3_EDIT_P1)  # one `d1 execute`: one transaction
    changes = changes_after(project, start)
    assert len(changes) == 2 and changes[0]["tx"] == changes[1]["tx"] == changes[0]["seq"], changes
    base = room_before(project, start, changes[1]["changed_at"])
    stamp(project, changes[0]["seq"], base + 1)
    stamp(project, changes[1]["seq"], base + 10)
    return changes, base + 1


def seq_of(bookmark):
    return int(bookmark.split("-")[0], 16)


def test_a_timestamp_inside_a_transaction_names_the_state_before_it(project):
    before = project.bookmark()
    _, point = straddling_transaction(project)

    at_point = project.bookmark("--timestamp", unix_seconds(point))
    assert seq_of(at_point) == seq_of(before) and at_point.split("-")[2] == before.split("-")[2]

    result = project.restore("--timestamp", unix_seconds(point))
    assert result.exit_code == 0, result.output
    assert "(2 change(s) undone)" in result.output
    assert project.content() == {"p1": "Post 1", "p2": "Post 2"}  # neither p3 nor the edit


def test_a_timestamp_after_a_transaction_commits_keeps_all_of_it(project):
    changes, point = straddling_transaction(project)
    committed = unix_seconds(point + 9)
    assert seq_of(project.bookmark("--timestamp", committed)) == changes[-1]["seq"]
    assert project.restore("--timestamp", committed).exit_code == 0
    assert project.content() == {"p1": "Edited", "p2": "Post 2", "p3": "Added"}


def test_a_bookmark_inside_a_transaction_is_refused_with_the_points_around_it(project):
    before = project.bookmark()
    changes, _ = straddling_transaction(project)
    first, last = changes
    inside = f"{first['seq']:016x}-{first['changed_at']:012x}-{before.split('-')[2]}"

    refused = project.restore("--bookmark", inside)

    assert refused.exit_code == 1, refused.output
    assert "that bookmark is inside a transaction" in refused.output
    around = re.findall(BOOKMARK.pattern, refused.output.split("inside a transaction")[1])
    assert [seq_of(bookmark) for bookmark in around] == [seq_of(before), last["seq"]]
    assert project.content() == {"p1": "Edited", "p2": "Post 2", "p3": "Added"}  # nothing restored
    assert project.restore("--bookmark", around[0]).exit_code == 0
    assert project.content() == {"p1": "Post 1", "p2": "Post 2"}


def test_a_bookmark_inside_a_transaction_is_refused_before_the_user_is_asked(project):
    before = project.bookmark()
    first, _ = straddling_transaction(project)[0]
    inside = f"{first['seq']:016x}-{first['changed_at']:012x}-{before.split('-')[2]}"

    refused = project.cli("d1", "time-travel", "restore", "DB", "--bookmark", inside, input="y\n")

    assert refused.exit_code == 1, refused.output
    assert "that bookmark is inside a transaction" in refused.output
    assert "OK to proceed" not in refused.output and "Restoring database" not in refused.output
    assert project.content() == {"p1": "Edited", "p2": "Post 2", "p3": "Added"}


def overlapping_transactions(project):
    """PostgreSQL: A adds p3, then B edits p2 and commits, then A edits p1 and commits.

    Returns ``(A's first change, B's, A's last, B's commit time)``, stamped 1, 2 and 10 ms
    after the last change before them, A's commit no later than it was logged (``room_before``).
    """
    start = last_seq(project)
    a, b = project.env().DB.db, project.env().DB.db  # two pools: two sessions
    try:
        with a.atomic():
            a.execute_sql("INSERT INTO content (id, collection_id, slug, title, data, author_id, created_at,"
                          " updated_at) VALUES ('p3', 'c1', 'post-3', 'By A', '{}', 'u1', 2, 2)")
            with b.atomic():
                b.execute_sql("UPDATE content SET title = 'By B' WHERE id = 'p2'")
            a.execute_sql("UPDATE content SET title = 'By A' WHERE id = 'p1'")
    finally:
        a.close()
        b.close()
    a_first, by_b, a_last = changes_after(project, start)
    assert a_first["tx"] == a_last["tx"] != by_b["tx"]
    base = room_before(project, start, a_last["changed_at"])
    for change, at_ms in ((a_first, base + 1), (by_b, base + 2), (a_last, base + 10)):
        stamp(project, change["seq"], at_ms)
    return a_first, by_b, a_last, base + 2


@pytest.mark.parametrize("project", ["postgres"], indirect=True)  # SQLite lets one writer in at a time
def test_a_timestamp_between_overlapping_transactions_keeps_the_one_committed_by_then(project):
    """A began first and committed last; B ran inside it. At B's commit, B is in and A is out."""
    _, by_b, _, point = overlapping_transactions(project)

    assert seq_of(project.bookmark("--timestamp", unix_seconds(point))) == by_b["seq"]
    result = project.restore("--timestamp", unix_seconds(point))
    assert result.exit_code == 0, result.output
    assert project.content() == {"p1": "Post 1", "p2": "By B"}  # all of B, none of A


@pytest.mark.parametrize("project", ["sqlite"], indirect=True)  # PostgreSQL numbers its transactions itself
def test_sqlite_statements_run_outside_a_transaction_are_each_a_transaction(project):
    """sonicpy marks after each (the binding's statements, Peewee's), so a point falls between them."""
    start = last_seq(project)
    env = project.env()
    try:
        env.DB.prepare("UPDATE content SET title = 'One' WHERE id = 'p1'").run()
        env.DB.db.execute_sql("UPDATE content SET title = 'Two' WHERE id = 'p2'")
        env.DB.prepare("UPDATE content SET title = 'Three' WHERE id = 'p1'").run()
    finally:
        env.DB.db.close()
    one, two, three = changes_after(project, start)
    assert len({one["tx"], two["tx"], three["tx"]}) == 3
    for offset, change in enumerate((one, two, three)):  # a millisecond apart, in order
        stamp(project, change["seq"], one["changed_at"] + offset)

    assert project.restore("--timestamp", unix_seconds(one["changed_at"] + 1)).exit_code == 0
    assert project.content() == {"p1": "One", "p2": "Two"}
    assert project.restore("--timestamp", unix_seconds(one["changed_at"])).exit_code == 0
    assert project.content() == {"p1": "One", "p2": "Post 2"}


def write_as_another_program(project, statement):
    """Write to the SQLite file as the sqlite3 shell would: sonicpy's marks do not run."""
    conn = sqlite3.connect(project.db_path)
    try:
        with conn:
            conn.execute(statement)
    finally:
        conn.close()


@pytest.mark.parametrize("project", ["sqlite"], indirect=True)
def test_sqlite_transactions_of_sonicpy_are_numbered_apart_from_another_programs_writes(project):
    """sonicpy marks as its transactions begin and before they commit; others' writes between are grouped."""
    start = last_seq(project)
    db = project.env().DB.db

    def in_a_transaction_of_ours(statement):
        with db.atomic():
            db.execute_sql(statement)

    try:
        in_a_transaction_of_ours("UPDATE content SET title = 'Ours' WHERE id = 'p1'")
        write_as_another_program(project, "UPDATE content SET title = 'Theirs' WHERE id = 'p2'")
        write_as_another_program(project, "UPDATE content SET title = 'Theirs too' WHERE id = 'p2'")
        in_a_transaction_of_ours("UPDATE content SET title = 'Ours again' WHERE id = 'p1'")
    finally:
        db.close()
    ours, theirs, theirs_too, ours_again = changes_after(project, start)
    assert theirs["tx"] == theirs_too["tx"]  # whole transactions grouped, never one split
    assert len({ours["tx"], theirs["tx"], ours_again["tx"]}) == 3
    for offset, change in enumerate((ours, theirs, theirs_too, ours_again)):
        stamp(project, change["seq"], ours["changed_at"] + offset)

    assert project.restore("--timestamp", unix_seconds(ours["changed_at"] + 2)).exit_code == 0
    assert project.content() == {"p1": "Ours", "p2": "Theirs too"}


@pytest.mark.parametrize("project", ["sqlite"], indirect=True)
@pytest.mark.parametrize("through", ["peewee", "binding"])
def test_sqlite_a_write_on_its_own_is_marked_before_another_writer_gets_in(project, through):
    """The mark that ends a write's number commits with the write: another writer trying to
    get in as sonicpy marks (here, another program the moment the mark starts) cannot share it."""
    start = last_seq(project)
    env = project.env()
    db, landed = env.DB.db, []

    def as_the_mark_starts(statement):
        if "SET current_tx" in statement and not landed:
            other = sqlite3.connect(project.db_path, timeout=0)
            try:
                with other:
                    other.execute("UPDATE content SET title = 'Theirs' WHERE id = 'p2'")
                landed.append(True)
            except sqlite3.OperationalError:  # locked: sonicpy's transaction holds the write lock
                landed.append(False)
            finally:
                other.close()

    try:
        db.connection().set_trace_callback(as_the_mark_starts)
        if through == "peewee":
            db.execute_sql("UPDATE content SET title = 'Ours' WHERE id = 'p1'")
        else:
            env.DB.prepare("UPDATE content SET title = 'Ours' WHERE id = 'p1'").run()
        db.connection().set_trace_callback(None)
    finally:
        db.close()
    if landed == [False]:
        write_as_another_program(project, "UPDATE content SET title = 'Theirs' WHERE id = 'p2'")
    ours, theirs = changes_after(project, start)
    assert ours["tx"] != theirs["tx"]


@pytest.mark.parametrize("project", ["sqlite"], indirect=True)
def test_sqlite_the_bookmark_info_prints_is_never_inside_another_programs_writes(project):
    """``info`` marks before it reads: the other program's next write gets a number of its own."""
    write_as_another_program(project, "UPDATE content SET title = 'Theirs' WHERE id = 'p2'")
    printed = project.bookmark()
    write_as_another_program(project, "UPDATE content SET title = 'Theirs too' WHERE id = 'p2'")

    result = project.restore("--bookmark", printed)

    assert result.exit_code == 0, result.output
    assert project.content() == {"p1": "Post 1", "p2": "Theirs"}


def test_the_retention_purge_never_keeps_half_a_transaction(project):
    before = project.bookmark()
    _, point = straddling_transaction(project)
    env = project.env()
    try:  # the cutoff falls between the transaction's changes
        run_scheduled(ScheduledEvent("manual", point + 1 + 30 * DAY_MS), env)
    finally:
        env.DB.db.close()

    earliest = project.bookmark("--timestamp", unix_seconds(point + 1))
    assert seq_of(earliest) == seq_of(before)
    result = project.restore("--timestamp", unix_seconds(point + 1))
    assert result.exit_code == 0, result.output
    assert project.content() == {"p1": "Post 1", "p2": "Post 2"}


@pytest.mark.parametrize("project", ["postgres"], indirect=True)
def test_the_retention_purge_keeps_the_changes_of_a_transaction_still_writing_at_its_cutoff(project):
    a_first, by_b, _, point = overlapping_transactions(project)
    env = project.env()
    try:  # the cutoff falls after B's commit, inside A
        run_scheduled(ScheduledEvent("manual", point + 1 + 30 * DAY_MS), env)
    finally:
        env.DB.db.close()
    assert project.rows(f"SELECT seq FROM d1_changes WHERE seq <= {by_b['seq']}") == [{"seq": a_first["seq"]}]

    result = project.restore("--timestamp", unix_seconds(point + 1))  # the earliest point
    assert result.exit_code == 0, result.output
    assert project.content() == {"p1": "Post 1", "p2": "By B"}


def test_changes_logged_before_transactions_were_numbered_are_each_their_own(project):
    """A log written before migration 0033 (tx NULL) still reads: each change a transaction."""
    start = last_seq(project)
    project.sql("UPDATE content SET title = 'Old' WHERE id = 'p1'")
    project.sql("UPDATE content SET title = 'Older' WHERE id = 'p2'")
    first, second = changes_after(project, start)
    project.sql(f"UPDATE d1_changes SET tx = NULL WHERE seq > {start}")
    stamp(project, second["seq"], first["changed_at"] + 10)

    assert seq_of(project.bookmark("--timestamp", unix_seconds(first["changed_at"]))) == first["seq"]
    assert project.restore("--timestamp", unix_seconds(first["changed_at"])).exit_code == 0
    assert project.content() == {"p1": "Old", "p2": "Post 2"}


def test_a_restore_switching_a_required_plugin_off_leaves_it_active_in_a_running_app(project):
    """A required plugin is always active: a restore to a moment it was stored inactive is
    followed, in a running app, by its activation once the app reads its plugins again."""
    env = project.env()
    client = client_for(env)
    status = "SELECT status FROM plugins WHERE name = 'core-workflow'"
    try:
        client.get("/api/content", status=200)  # the app has read its plugins' rows
        project.sql("UPDATE plugins SET status = 'inactive' WHERE name = 'core-workflow'")
        moment = now_seconds_between_writes()
        project.sql("UPDATE plugins SET status = 'active' WHERE name = 'core-workflow'")
        result = project.restore("--timestamp", moment)
        assert result.exit_code == 0, result.output
        assert project.rows(status) == [{"status": "inactive"}]
        past_generation_bound()
        client.get("/api/content", status=200)
        assert project.rows(status) == [{"status": "active"}]
    finally:
        flush_process_buffer()  # the app's request log rows, to this test's database
        env.DB.db.close()
