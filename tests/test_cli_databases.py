"""`d1 create|list|info|delete` through the CLI, on SQLite files and on a real PostgreSQL server."""

import itertools
import json
import re

import psycopg2
import pytest
from click.testing import CliRunner

from app.cli import cli
from tests.fixtures.app import MIGRATIONS, bindings_text

STAGING = f"""
[env.staging]
[[env.staging.d1_databases]]
binding = "DB"
database_name = "staging-db"
database_id = "staging-db"
migrations_dir = "{MIGRATIONS}"
[[env.staging.r2_buckets]]
binding = "MEDIA_BUCKET"
bucket_name = "staging-media"
[[env.staging.kv_namespaces]]
binding = "CACHE_KV"
id = "staging-kv"
"""
BLOCK = re.compile(r"^\[\[(?:env\.\w+\.)?d1_databases\]\]\n(?:.+ = .+\n?)+", re.MULTILINE)


class Project:
    """A bindings.toml with a default and a staging environment, state under ``folder/state``."""

    def __init__(self, folder, database_url=None):
        self.folder = folder
        self.config = folder / "bindings.toml"
        self.state = folder / "state"
        self.config.write_text(bindings_text(database_url=database_url) + STAGING)

    def cli(self, *args, input=None):
        return CliRunner().invoke(
            cli, [*map(str, args), "--config", str(self.config), "--persist-to", str(self.state)],
            input=input, catch_exceptions=False)

    def json(self, *args):
        result = self.cli(*args, "--json")
        assert result.exit_code == 0, result.output
        return json.loads(result.output)

    def paste(self, output, binding):
        """Add the table ``d1 create`` printed to the top level, under another binding name."""
        block = BLOCK.search(output).group(0).replace('binding = "DB"', f'binding = "{binding}"')
        block += f'\nmigrations_dir = "{MIGRATIONS}"\n'
        text = self.config.read_text()
        top, staging = text.split("\n[env.staging]", 1)
        self.config.write_text(f"{top}\n{block}\n[env.staging]{staging}")


@pytest.fixture
def project(tmp_path):
    return Project(tmp_path)


# ------------------------------------------------------------------------------ SQLite

def test_create_makes_a_sqlite_file_and_prints_the_table_to_paste(project):
    result = project.cli("d1", "create", "blog-db")
    assert result.exit_code == 0, result.output
    assert "✅ Successfully created DB 'blog-db'" in result.output
    block = BLOCK.search(result.output).group(0)
    database_id = re.search(r'database_id = "([0-9a-f-]{36})"', block).group(1)
    assert block.startswith('[[d1_databases]]\nbinding = "DB"\ndatabase_name = "blog-db"\n')
    assert (project.state / "v3" / "d1" / f"{database_id}.sqlite").is_file()
    # As wrangler's, info finds it by name before it is in bindings.toml.
    fresh = project.json("d1", "info", "blog-db")
    assert (fresh["uuid"], fresh["name"], fresh["num_tables"]) == (database_id, "blog-db", 0)
    assert fresh["created_at"] != "unknown"
    missing = project.cli("d1", "info", "no-such-db")
    assert missing.exit_code == 1 and "no-such-db" in missing.output

    project.paste(result.output, "BLOG")
    assert project.cli("d1", "migrations", "apply", "blog-db").exit_code == 0
    info = project.json("d1", "info", "BLOG")
    assert info["uuid"] == database_id and info["name"] == "blog-db"
    assert info["created_at"] != "unknown" and info["num_tables"] > 20
    assert info["migrations"] == f"{len(list(MIGRATIONS.glob('*.sql')))} applied"


def test_info_on_a_database_never_created_says_where_it_would_be_and_how_to_make_it(project):
    result = project.cli("d1", "info", "DB")
    assert result.exit_code == 1
    where = project.state / "v3" / "d1" / "DB.sqlite"
    assert result.output == f"Error: DB (default): not created ({where}); `d1 migrations apply` creates and migrates it\n"


def test_create_in_an_environment_prints_that_environments_table(project):
    result = project.cli("d1", "create", "staging-two", "--env", "staging", "--binding", "OTHER")
    assert result.exit_code == 0, result.output
    assert '[[env.staging.d1_databases]]\nbinding = "OTHER"\ndatabase_name = "staging-two"' in result.output


def test_create_refuses_a_taken_or_unusable_name(project):
    assert project.cli("d1", "create", "blog-db").exit_code == 0
    again = project.cli("d1", "create", "blog-db")
    assert again.exit_code == 1 and "A database with that name already exists" in again.output
    bad = project.cli("d1", "create", "../escape")
    assert bad.exit_code == 1 and "invalid database name" in bad.output
    assert len(list((project.state / "v3" / "d1").glob("*.sqlite"))) == 1


def test_list_reports_every_environment_without_creating_anything(project):
    rows = project.json("d1", "list")
    assert [(r["environment"], r["binding"], r["database_name"], r["status"]) for r in rows] == [
        ("default", "DB", "test-db", "not created"), ("staging", "DB", "staging-db", "not created")]
    assert not list(project.state.rglob("*.sqlite"))

    assert project.cli("d1", "migrations", "apply", "DB").exit_code == 0
    default, staging = project.json("d1", "list")
    shipped = len(list(MIGRATIONS.glob("*.sql")))
    assert default["backend"] == "sqlite" and default["status"] == "ok"
    assert default["migrations"] == {"applied": shipped} and default["size"] > 0 and default["num_tables"] > 20
    assert staging["status"] == "not created" and staging["size"] is None
    table = project.cli("d1", "list")
    assert re.search(rf"default\s+DB\s+test-db\s+sqlite\s+[\d.]+ [kM]B\s+\d+\s+{shipped} applied", table.output)
    assert re.search(r"staging\s+DB\s+staging-db\s+sqlite\s+not created", table.output)


def test_list_reports_pending_migrations(project):
    assert project.cli("d1", "execute", "DB", "--command", "CREATE TABLE t (a INTEGER)").exit_code == 0
    (row, _) = project.json("d1", "list")
    assert row["migrations"] == {"pending": len(list(MIGRATIONS.glob("*.sql")))} and row["num_tables"] == 1


def test_info_prints_wranglers_fields(project):
    assert project.cli("d1", "migrations", "apply", "DB").exit_code == 0
    info = project.json("d1", "info", "test-db")
    assert info["num_tables"] > 20 and info["database_size"] > 0
    assert info["created_at"] == "unknown"  # made by the binding itself, not by d1 create
    for key in ("read_queries_24h", "write_queries_24h", "rows_read_24h"):
        assert info[key] == "unknown"
    assert info["rows_written_24h"] == 0  # counted by the time-travel log, armed after the migrations
    assert project.cli("d1", "execute", "DB", "--command",
                       "INSERT INTO collections (id, name, display_name, schema, created_at, updated_at)"
                       " VALUES ('c1', 'a', 'A', '{}', 1, 1); UPDATE collections SET name = 'b'").exit_code == 0
    assert project.json("d1", "info", "test-db")["rows_written_24h"] == 2
    table = project.cli("d1", "info", "DB")
    assert re.search(r"num_tables\s+\d+", table.output) and re.search(r"database_size\s+[\d.]+ [kM]B", table.output)


def test_info_of_a_database_not_created_yet_says_how_to_create_it(project):
    result = project.cli("d1", "info", "DB")
    assert result.exit_code == 1 and "not created" in result.output and "d1 migrations apply" in result.output
    assert not list(project.state.rglob("*.sqlite"))


def test_delete_asks_first_and_does_nothing_without_a_yes(project):
    result = project.cli("d1", "create", "scratch")
    path = next((project.state / "v3" / "d1").glob("*.sqlite"))
    answer = project.cli("d1", "delete", "scratch", input="n\n")
    assert answer.exit_code == 0 and "Ok to proceed?" in answer.output and "Not deleting." in answer.output
    assert path.is_file()
    answer = project.cli("d1", "delete", "scratch", input="y\n")
    assert answer.exit_code == 0 and "Deleted 'scratch' successfully." in answer.output, result.output
    assert not path.exists()
    assert project.cli("d1", "create", "scratch").exit_code == 0  # the name is free again


def test_delete_yes_skips_the_question(project):
    project.cli("d1", "create", "scratch")
    result = project.cli("d1", "delete", "scratch", "--yes")
    assert result.exit_code == 0 and "Ok to proceed?" not in result.output
    assert not list(project.state.rglob("*.sqlite"))
    missing = project.cli("d1", "delete", "scratch", "--yes")
    assert missing.exit_code == 1 and "Couldn't find a D1 DB named 'scratch'" in missing.output


def test_delete_refuses_a_database_the_selected_environment_uses_unless_forced(project):
    project.cli("d1", "migrations", "apply", "DB")
    project.cli("d1", "migrations", "apply", "DB", "--env", "staging")
    refused = project.cli("d1", "delete", "test-db", "--yes")
    assert refused.exit_code == 1 and "still used by binding DB of environment default" in refused.output
    assert len([path for path in project.state.rglob("*.sqlite") if path.parent.name != "kv"]) == 2
    # staging's database is not used by the default environment: it may go (after the question).
    other = project.cli("d1", "delete", "staging-db", "--yes")
    assert other.exit_code == 0, other.output
    assert project.json("d1", "list")[1]["status"] == "not created"
    forced = project.cli("d1", "delete", "test-db", "--yes", "--force")
    assert forced.exit_code == 0, forced.output
    # Only the environments' caches are left (apply told them to forget what they held).
    assert {path.parent.name for path in project.state.rglob("*.sqlite")} == {"kv"}


def test_catalog_commands_read_a_url_variable_from_the_process_environment(project, tmp_path, monkeypatch):
    # The variable database_url_env names is the binding's own credential: read from the
    # process environment like d1 migrations and serve read it, without declaring it a secret.
    project.config.write_text(project.config.read_text().replace(
        'database_id = "staging-db"', 'database_url_env = "STAGING_DB_URL"'))
    monkeypatch.setenv("STAGING_DB_URL", f"sqlite:///{tmp_path / 'staging.sqlite'}")
    assert project.cli("d1", "migrations", "apply", "DB", "--env", "staging").exit_code == 0
    staging = project.json("d1", "list")[1]
    assert (staging["status"], staging["location"]) == ("ok", str(tmp_path / "staging.sqlite"))
    info = project.json("d1", "info", "DB", "--env", "staging")
    assert info["num_tables"] > 20 and info["location"] == str(tmp_path / "staging.sqlite")
    refused = project.cli("d1", "delete", "staging-db", "--yes", "--env", "staging")
    assert refused.exit_code == 1 and "still used by binding DB of environment staging" in refused.output
    deleted = project.cli("d1", "delete", "staging-db", "--yes")
    assert deleted.exit_code == 0, deleted.output
    assert not (tmp_path / "staging.sqlite").exists()


def test_url_must_name_a_postgres_server(project, tmp_path):
    for command in (("create", "blog-db"), ("delete", "blog-db", "--yes")):
        for url in (f"sqlite:///{tmp_path / 'x.sqlite'}", "mysql://127.0.0.1:1/", "notaurl"):
            result = project.cli("d1", *command, "--url", url)
            assert result.exit_code == 2, result.output
            assert "Invalid value for '--url': unsupported scheme" in result.output
            assert "use postgresql://" in result.output and "Connection refused" not in result.output
    assert not (tmp_path / "x.sqlite").exists() and not project.state.exists()


def test_import_into_a_database_never_migrated_says_to_migrate_it(project, tmp_path):
    assert project.cli("d1", "migrations", "apply", "DB").exit_code == 0
    assert project.cli("d1", "backup", "DB", "--output", tmp_path / "backup.json").exit_code == 0
    result = project.cli("d1", "import", "DB", tmp_path / "backup.json", "--env", "staging")
    assert result.exit_code == 1
    assert result.output == ("Error: DB (staging) has no tables yet, no migration having been applied: "
                             "run `d1 migrations apply DB --env staging` first\n")


def test_new_commands_need_a_config(tmp_path):
    result = CliRunner().invoke(cli, ["d1", "list", "--config", str(tmp_path / "none.toml")])
    assert result.exit_code == 1 and "file not found" in result.output


# -------------------------------------------------------------------------- PostgreSQL

_names = itertools.count(1)


@pytest.fixture
def server(postgres_server):
    """The server URL (no database) and a fresh database name, dropped afterwards."""
    name = f"created_{next(_names)}"
    yield f"postgresql://postgres@127.0.0.1:{postgres_server.port}/", name
    postgres_server.drop_database(name)


def _exists(postgres_server, name):
    conn = psycopg2.connect(host="127.0.0.1", port=postgres_server.port, user="postgres", dbname="postgres")
    try:
        with conn.cursor() as cursor:
            cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
            return cursor.fetchone() is not None
    finally:
        conn.close()


def test_create_on_postgres_then_migrate_inspect_and_delete(project, server, postgres_server):
    server_url, name = server
    original = project.config.read_text()
    result = project.cli("d1", "create", name, "--url", server_url)
    assert result.exit_code == 0, result.output
    assert _exists(postgres_server, name)
    assert f'database_url = "{server_url}{name}"' in result.output
    project.paste(result.output, "PG")
    assert project.cli("d1", "migrations", "apply", "PG").exit_code == 0

    info = project.json("d1", "info", name)
    assert info["backend"] == "postgresql" and info["num_tables"] > 20 and info["database_size"] > 0
    assert info["created_at"] != "unknown"
    row = next(r for r in project.json("d1", "list") if r["binding"] == "PG")
    assert row["migrations"] == {"applied": len(list(MIGRATIONS.glob("*.sql")))}

    refused = project.cli("d1", "delete", name, "--yes")
    assert refused.exit_code == 1 and "still used by binding PG" in refused.output
    project.config.write_text(original)  # the binding is removed: now it may go, after the question
    kept = project.cli("d1", "delete", name, "--url", server_url, input="n\n")
    assert kept.exit_code == 0 and kept.output.endswith("Not deleting.\n")
    assert _exists(postgres_server, name)
    deleted = project.cli("d1", "delete", name, "--url", server_url, input="y\n")
    assert deleted.exit_code == 0 and f"Deleted '{name}' successfully." in deleted.output, deleted.output
    assert not _exists(postgres_server, name)
    gone = project.cli("d1", "delete", name, "--url", server_url, "--yes")
    assert gone.exit_code == 1 and "does not exist" in gone.output


def test_create_on_postgres_refuses_a_taken_name(project, server):
    server_url, name = server
    assert project.cli("d1", "create", name, "--url", server_url).exit_code == 0
    again = project.cli("d1", "create", name, "--url", server_url)
    assert again.exit_code == 1 and "already exists" in again.output


def test_a_password_never_reaches_the_output(project, server):
    server_url, name = server
    with_password = server_url.replace("postgres@", "postgres:s3cret@")
    result = project.cli("d1", "create", name, "--url", with_password)
    assert result.exit_code == 0, result.output
    assert "s3cret" not in result.output
    assert 'database_url_env = "DATABASE_URL"' in result.output and "postgres:***@" in result.output


def test_list_and_info_on_a_postgres_binding(tmp_path, fresh_postgres_url):
    project = Project(tmp_path, database_url=fresh_postgres_url)
    (row, _) = project.json("d1", "list")
    assert row["backend"] == "postgresql" and row["num_tables"] == 0
    assert row["migrations"] == {"pending": len(list(MIGRATIONS.glob("*.sql")))}
    assert project.cli("d1", "migrations", "apply", "DB").exit_code == 0
    info = project.json("d1", "info", "DB")
    assert info["num_tables"] > 20 and info["created_at"] == "unknown" and info["rows_written_24h"] == 0


def test_execute_on_postgres_prints_the_servers_error_without_an_sqlite_code(tmp_path, fresh_postgres_url):
    project = Project(tmp_path, database_url=fresh_postgres_url)
    result = project.cli("d1", "execute", "DB", "--command",
                         "CREATE TABLE t (a INTEGER UNIQUE); INSERT INTO t VALUES (1); INSERT INTO t VALUES (1)")
    assert result.exit_code == 1
    assert result.output.startswith("Error: D1_ERROR: duplicate key value violates unique constraint")
    assert "SQLITE" not in result.output
    as_json = project.cli("d1", "execute", "DB", "--command", "SELECT nope", "--json")
    assert as_json.exit_code == 1 and "SQLITE" not in as_json.output
    assert json.loads(as_json.output)["error"]["text"] == 'D1_ERROR: column "nope" does not exist'
    # Nor when the server cannot be reached (nothing listens on port 1).
    down = Project(tmp_path, database_url="postgresql://u:pw@127.0.0.1:1/db")
    unreachable = down.cli("d1", "execute", "DB", "--command", "SELECT 1")
    assert unreachable.exit_code == 1 and "Connection refused" in unreachable.output
    assert "SQLITE" not in unreachable.output and "pw" not in unreachable.output


def test_execute_on_sqlite_keeps_d1s_result_code(project):
    result = project.cli("d1", "execute", "DB", "--command", "SELECT nope")
    assert result.exit_code == 1 and result.output.rstrip().endswith(": SQLITE_ERROR")
