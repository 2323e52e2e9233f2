"""`d1 migrations create|list|apply` through the CLI itself: output, exit codes, the database.

Every test works on its own copy of the shipped migrations (the binding's migrations_dir
points at it), so a test may add a broken file or edit an applied one.
"""

import re
import shutil
import sqlite3
import subprocess
import sys

import pytest
from click.testing import CliRunner

from app.cli import cli
from tests.fixtures.app import MIGRATIONS, PROJECT_ROOT, bindings_text
from tests.fixtures.postgres import leave_recount_owed

SHIPPED = sorted(path.name for path in MIGRATIONS.glob("*.sql"))
NEXT = int(SHIPPED[-1][:4]) + 1  # the number a test migration takes, after every shipped file


class Project:
    """A bindings.toml whose DB binding migrates from ``folder/migrations``."""

    def __init__(self, folder, database_url=None):
        self.migrations = folder / "migrations"
        shutil.copytree(MIGRATIONS, self.migrations)
        self.config = folder / "bindings.toml"
        self.config.write_text(bindings_text(database_url=database_url).replace(f'migrations_dir = "{MIGRATIONS}"',
                                                       f'migrations_dir = "{self.migrations}"'))
        self.state = folder / "state"

    def cli(self, *args):
        """Run ``d1 migrations ARGS`` (no exception escapes: a traceback fails the test)."""
        return CliRunner().invoke(
            cli, ["d1", "migrations", *map(str, args), "--config", str(self.config), "--persist-to", str(self.state)],
            catch_exceptions=False)

    def database_files(self):
        """The SQLite files of the project's databases (the local KV's file, which commands that
        write make to tell running apps, is not one)."""
        return [path for path in self.state.rglob("*.sqlite") if path.parent.name != "kv"]

    def query(self, sql):
        """Rows of ``sql`` on the binding's SQLite file, read without the CLI."""
        (path,) = self.database_files()
        conn = sqlite3.connect(path)
        try:
            return conn.execute(sql).fetchall()
        finally:
            conn.close()

    def tables(self):
        """Table names of the binding's database (none while no file was created)."""
        if not self.database_files():
            return set()
        return {name for (name,) in self.query("SELECT name FROM sqlite_master WHERE type = 'table'")}


@pytest.fixture
def project(tmp_path):
    assert "migrations_dir" in bindings_text()
    return Project(tmp_path)


def test_fresh_database_lists_everything_pending_and_exits_0_as_wrangler(project):
    result = project.cli("list", "DB")
    assert result.exit_code == 0
    assert project.cli("list", "DB", "--check").exit_code == 1  # release gating
    for name in SHIPPED:
        assert re.search(rf"^{re.escape(name)}\s+🕒 pending$", result.stdout, re.MULTILINE), name
    assert f"{len(SHIPPED)} migration(s) to apply, 0 changed since applied." in result.stdout
    assert "d1_migrations" not in project.tables()  # list is read-only


def test_apply_reports_each_file_then_list_passes_and_apply_again_does_nothing(project):
    result = project.cli("apply", "DB")
    assert result.exit_code == 0, result.output
    progress = re.findall(r"^Applying (\S+) \.\.\. ok \((\d+) statements\)$", result.stdout, re.MULTILINE)
    assert [name for name, _ in progress] == SHIPPED  # one line per file, in order
    assert all(int(count) > 0 for _, count in progress)
    assert f"✅ Applied {len(SHIPPED)} migration(s)." in result.stdout
    assert [name for (name,) in project.query("SELECT name FROM d1_migrations ORDER BY id")] == SHIPPED
    assert {"users", "content", "media", "system_logs"} <= project.tables()

    listed = project.cli("list", "DB")
    assert listed.exit_code == 0, listed.output
    assert listed.stdout.count("✅ applied") == len(SHIPPED)
    assert listed.stdout.rstrip().endswith("✅ No migrations to apply!")

    again = project.cli("apply", "DB")
    assert again.exit_code == 0
    assert again.stdout == "✅ No migrations to apply!\n"
    assert len(project.query("SELECT id FROM d1_migrations")) == len(SHIPPED)


def test_a_failing_migration_names_file_statement_and_error_and_leaves_no_trace(project):
    assert project.cli("apply", "DB").exit_code == 0
    broken = project.migrations / f"{NEXT:04d}_broken.sql"
    broken.write_text("CREATE TABLE half_done (id TEXT PRIMARY KEY);\n"
                      "INSERT INTO half_done (id) VALUES ('a');\n"
                      "INSERT INTO no_such_table (id) VALUES ('b');\n")
    result = project.cli("apply", "DB")
    assert result.exit_code == 1
    assert f"Applying {broken.name} ... failed" in result.stdout
    assert f"Migration {broken.name} failed at statement 3 of 3: INSERT INTO no_such_table" in result.stderr
    assert "no such table: no_such_table" in result.stderr
    assert "rolled back; earlier migrations stay applied" in result.stderr
    assert "Traceback" not in result.output
    assert "half_done" not in project.tables()  # statements 1 and 2 were rolled back with it
    assert len(project.query("SELECT id FROM d1_migrations")) == len(SHIPPED)
    assert project.cli("list", "DB", "--check").exit_code == 1

    broken.write_text("CREATE TABLE half_done (id TEXT PRIMARY KEY);\nINSERT INTO half_done (id) VALUES ('a');\n")
    fixed = project.cli("apply", "DB")
    assert fixed.exit_code == 0, fixed.output
    assert f"Applying {broken.name} ... ok (2 statements)" in fixed.stdout
    assert project.query("SELECT id FROM half_done") == [("a",)]


def test_usernames_differing_only_in_case_stop_apply_with_their_names(project):
    index_file = project.migrations / "0038_usernames_unique_ignoring_case.sql"
    held_back = index_file.read_text()
    index_file.unlink()
    assert project.cli("apply", "DB").exit_code == 0
    (path,) = project.database_files()
    with sqlite3.connect(path) as conn:
        conn.executemany("INSERT INTO users (id, email, username, first_name, last_name, created_at, updated_at) "
                         "VALUES (?, ?, ?, '', '', 0, 0)", [("u1", "a@example.com", "admin"),
                                                             ("u2", "b@example.com", "ADMIN")])
    conn.close()
    index_file.write_text(held_back)
    result = project.cli("apply", "DB")
    assert result.exit_code == 1
    assert ("Error: Migration 0038_usernames_unique_ignoring_case.sql refused: usernames that differ only in "
            "case: ADMIN (id u2) and admin (id u1). Usernames become unique ignoring case") in result.stderr
    assert "Traceback" not in result.output
    assert project.cli("list", "DB", "--check").exit_code == 1
    # The command it suggests, as printed, renames the user.
    [(command, sql)] = re.findall(r'sonicpy (d1 execute DB --command) "([^"]+)"', " ".join(result.stderr.split()))
    renamed = CliRunner().invoke(cli, [*command.split(), sql.replace("NEW-NAME", "admin2"), "--config",
                                       str(project.config), "--persist-to", str(project.state)])
    assert renamed.exit_code == 0, renamed.output
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT username FROM users WHERE id = 'u1'").fetchall() == [("admin2",)]
    conn.close()
    assert project.cli("apply", "DB").exit_code == 0


def test_a_failing_apply_prints_no_traceback_from_the_real_entry_point(project):
    # The worker.py process, not CliRunner: what a release step's log actually shows.
    (project.migrations / f"{NEXT:04d}_broken.sql").write_text("CREATE TABLE x (a INTEGER, a TEXT);\n")
    result = subprocess.run(
        [sys.executable, "worker.py", "d1", "migrations", "apply", "DB", "--config", str(project.config),
         "--persist-to", str(project.state)],
        cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=60, check=False,
    )
    assert result.returncode == 1
    assert f"Error: Migration {NEXT:04d}_broken.sql failed at statement 1 of 1: CREATE TABLE x (a" in result.stderr
    assert "duplicate column name: a" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


def test_an_edited_applied_file_stops_list_and_apply_until_accepted(project):
    assert project.cli("apply", "DB").exit_code == 0
    edited = project.migrations / SHIPPED[1]
    edited.write_text(edited.read_text() + "\n-- a comment added after the fact\n")
    (project.migrations / f"{NEXT:04d}_later.sql").write_text("CREATE TABLE later (id TEXT);\n")

    listed = project.cli("list", "DB", "--check")
    assert listed.exit_code == 1
    assert re.search(rf"^{re.escape(edited.name)}\s+❌ changed since applied", listed.stdout, re.MULTILINE)
    assert "1 migration(s) to apply, 1 changed since applied." in listed.stdout

    refused = project.cli("apply", "DB")
    assert refused.exit_code == 1
    assert f"changed since they were applied: {edited.name}" in refused.stderr
    assert "--accept-changed" in refused.stderr
    assert "later" not in project.tables()  # refused before anything ran

    accepted = project.cli("apply", "DB", "--accept-changed")
    assert accepted.exit_code == 0, accepted.output
    assert f"Applying {NEXT:04d}_later.sql ... ok (1 statements)" in accepted.stdout
    assert "later" in project.tables()
    assert project.cli("list", "DB").exit_code == 0  # the new checksum is recorded


def test_create_numbers_the_next_file_with_wranglers_header(project):
    result = project.cli("create", "DB", "a b")
    assert result.exit_code == 0, result.output
    path = project.migrations / f"{NEXT:04d}_a_b.sql"
    assert f"✅ Successfully created Migration '{path.name}'!" in result.stdout
    assert str(path) in result.stdout
    assert re.fullmatch(rf"-- Migration number: {NEXT:04d} \t \d{{4}}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{{3}}Z\n",
                        path.read_text())
    assert project.cli("create", "DB", "second").exit_code == 0
    assert (project.migrations / f"{NEXT + 1:04d}_second.sql").exists()


def test_database_named_by_database_name_and_unknown_one(project):
    assert project.cli("apply", "test-db").exit_code == 0
    assert project.cli("list", "test-db").exit_code == 0
    unknown = project.cli("list", "nope")
    assert unknown.exit_code == 1 and "Couldn't find a D1 DB" in unknown.stderr


@pytest.mark.postgres
def test_list_tells_of_a_recount_owed_and_apply_pays_it(tmp_path, postgres_server):
    """On PostgreSQL an apply recounts the derived tables in a transaction after its install,
    writing down what it owes first: one killed in between leaves it owed. ``list`` says so
    (``--check`` exits 1), and the next ``apply`` pays it."""
    url = postgres_server.create_database("owed_recount")
    try:
        project = Project(tmp_path, database_url=url)
        assert project.cli("apply", "DB").exit_code == 0
        assert "recount" not in project.cli("list", "DB").stdout
        leave_recount_owed(url)
        listed = project.cli("list", "DB")
        assert listed.exit_code == 0 and "✅ No migrations to apply!" in listed.stdout
        assert "The derived tables owe a recount (all)" in listed.stdout
        assert project.cli("list", "DB", "--check").exit_code == 1
        assert project.cli("apply", "DB").exit_code == 0
        assert "recount" not in project.cli("list", "DB").stdout
        assert project.cli("list", "DB", "--check").exit_code == 0
    finally:
        postgres_server.drop_database("owed_recount")

