"""The wrangler-shaped CLI (R7): every command takes --env/--config/--help; d1, kv, r2, scheduled."""

import contextlib
import json
import os
import pty
import subprocess
import sys

import click
import pytest
from click.testing import CliRunner

from app.cli import cli
from tests.fixtures.app import PROJECT_ROOT, bindings_text


@pytest.fixture
def project(tmp_path):
    """A folder with a bindings.toml on embedded backends; returns the config path."""
    path = tmp_path / "bindings.toml"
    path.write_text(bindings_text() + '\n[env.staging]\n[[env.staging.d1_databases]]\nbinding = "DB"\n')
    return path


def run(*args, input=None):
    result = CliRunner().invoke(cli, [str(a) for a in args], input=input, catch_exceptions=False)
    return result


def leaf_commands(group, prefix=()):
    for name, command in group.commands.items():
        if isinstance(command, click.Group):
            yield from leaf_commands(command, prefix + (name,))
        else:
            yield prefix + (name,), command


def test_every_command_takes_env_config_and_help():
    commands = list(leaf_commands(cli))
    assert len(commands) >= 12
    for path, command in commands:
        options = {opt for param in command.params for opt in getattr(param, "opts", [])}
        assert {"--env", "--config", "--persist-to"} <= options, path
        assert command.help, f"{' '.join(path)} has no help text"
        assert run(*path, "--help").exit_code == 0


def test_d1_execute_json_shape(project):
    result = run("d1", "execute", "DB", "--config", project, "--json", "--command",
                 "CREATE TABLE t (a INTEGER, b BLOB); INSERT INTO t VALUES (1, x'0102'); SELECT a, b FROM t")
    assert result.exit_code == 0, result.output
    payload = json.loads(result.output)
    assert len(payload) == 3
    assert all(item["success"] is True and "duration" in item["meta"] for item in payload)
    assert payload[2]["results"] == [{"a": 1, "b": "[1, 2]"}]


def test_d1_execute_by_database_name_and_file(project, tmp_path):
    sql = tmp_path / "seed.sql"
    sql.write_text("CREATE TABLE notes (body TEXT);\nINSERT INTO notes VALUES ('a;b');\n")
    result = run("d1", "execute", "test-db", "--config", project, "--file", sql)
    assert result.exit_code == 0, result.output
    assert "2 command(s) executed successfully" in result.output
    result = run("d1", "execute", "DB", "--config", project, "--json", "--command", "SELECT body FROM notes")
    assert json.loads(result.output)[0]["results"] == [{"body": "a;b"}]


def test_d1_execute_is_one_transaction(project):
    result = run("d1", "execute", "DB", "--config", project, "--command",
                 "CREATE TABLE t (a INTEGER PRIMARY KEY); INSERT INTO t VALUES (1); INSERT INTO t VALUES (1)")
    assert result.exit_code == 1
    assert "UNIQUE constraint failed" in result.output
    missing = run("d1", "execute", "DB", "--config", project, "--json", "--command", "SELECT * FROM t")
    assert missing.exit_code == 1
    assert "no such table: t" in json.loads(missing.output)["error"]["text"]


def test_d1_execute_drops_one_begin_commit_pair_as_wrangler(project):
    result = run("d1", "execute", "DB", "--config", project, "--command",
                 "BEGIN TRANSACTION; CREATE TABLE wrapped (a INTEGER); INSERT INTO wrapped VALUES (1); COMMIT;")
    assert result.exit_code == 0, result.output
    assert "2 command(s) executed successfully" in result.output
    again = run("d1", "execute", "DB", "--config", project, "--command",
                "BEGIN; INSERT INTO wrapped VALUES (2); COMMIT; BEGIN; INSERT INTO wrapped VALUES (3); COMMIT;")
    assert again.exit_code == 1 and "it contains several transactions" in again.output
    count = run("d1", "execute", "DB", "--config", project, "--json", "--command", "SELECT count(*) AS n FROM wrapped")
    assert json.loads(count.output)[0]["results"] == [{"n": 1}]  # the refused run wrote nothing
    commented = run("d1", "execute", "DB", "--config", project, "--command",
                    "-- dumped\nBEGIN TRANSACTION;\nINSERT INTO wrapped VALUES (4);\n/* end */ COMMIT;")
    assert commented.exit_code == 0, commented.output  # comments around the pair do not count


def test_d1_execute_follows_a_schema_changed_by_hand(project):
    run("d1", "migrations", "apply", "DB", "--config", project)
    schema = json.dumps({"type": "object", "properties": {"category": {"type": "string", "indexed": True}}})
    sql = ("INSERT INTO collections (id, name, display_name, schema, is_active, created_at, updated_at)"
           f" VALUES ('col-shop', 'shop', 'Shop', '{schema}', 1, 1, 1);"
           "INSERT INTO users (id, email, username, first_name, last_name, password_hash, role, created_at, updated_at)"
           " VALUES ('u1', 'a@example.com', 'a', 'A', 'B', 'x', 'admin', 1, 1);"
           "INSERT INTO content (id, collection_id, slug, title, data, status, author_id, created_at, updated_at)"
           """ VALUES ('c1', 'col-shop', 'one', 'One', '{"category": "red"}', 'published', 'u1', 1, 1)""")
    assert run("d1", "execute", "DB", "--config", project, "--command", sql).exit_code == 0
    result = run("d1", "execute", "DB", "--config", project, "--json", "--command",
                 "SELECT field, value, n FROM content_counts_values;"
                 " SELECT name FROM sqlite_master WHERE name LIKE 'idx_content_field_%'")
    counted, indexes = (item["results"] for item in json.loads(result.output))
    assert counted == [{"field": "category", "value": "red", "n": 1}]
    assert indexes == [{"name": "idx_content_field_category"}]


def test_d1_execute_usage_errors(project, tmp_path):
    assert run("d1", "execute", "DB", "--config", project).exit_code == 2
    assert "Couldn't find a D1 DB" in run("d1", "execute", "nope", "--config", project, "--command", "SELECT 1").output
    binary = tmp_path / "db.sqlite"
    binary.write_bytes(b"SQLite format 3\x00" + b"\x00" * 100)
    result = run("d1", "execute", "DB", "--config", project, "--file", binary)
    assert result.exit_code == 1 and "binary SQLite database" in result.output


def test_kv_key_round_trip(project, tmp_path):
    base = ("--config", project)
    assert run("kv", "key", "put", "greeting", "hello", *base, "--metadata", '{"v": 1}').exit_code == 0
    assert run("kv", "key", "get", "greeting", "--text", *base).output == "hello\n"
    keys = json.loads(run("kv", "key", "list", *base, "--prefix", "gre").output)
    assert keys == [{"name": "greeting", "metadata": {"v": 1}}]
    result = run("kv", "key", "put", "short", "x", "--ttl", "30", *base)
    assert result.exit_code == 1 and "Expiration TTL must be at least 60" in result.output
    assert run("kv", "key", "delete", "greeting", *base).exit_code == 0
    missing = run("kv", "key", "get", "greeting", *base)
    assert (missing.exit_code, missing.output) == (0, "Value not found\n")  # wrangler's message and exit code
    assert "no KV binding named 'OTHER'" in run("kv", "key", "get", "x", "--binding", "OTHER", *base).output


def test_r2_object_round_trip(project, tmp_path):
    source = tmp_path / "hello.txt"
    source.write_bytes(b"hello bucket")
    base = ("--config", project)
    result = run("r2", "object", "put", "test-media/docs/hello.txt", "--file", source, *base)
    assert result.exit_code == 0, result.output
    target = tmp_path / "out.txt"
    assert run("r2", "object", "get", "MEDIA_BUCKET/docs/hello.txt", "--file", target, *base).exit_code == 0
    assert target.read_bytes() == b"hello bucket"
    assert run("r2", "object", "get", "MEDIA_BUCKET/docs/hello.txt", "--pipe", *base).output == "hello bucket"
    assert run("r2", "object", "delete", "MEDIA_BUCKET/docs/hello.txt", *base).exit_code == 0
    assert run("r2", "object", "get", "MEDIA_BUCKET/docs/hello.txt", "--pipe", *base).exit_code == 1


def get_on_a_terminal(project, *flags):
    """Run ``r2 object get`` with standard output on a pseudo-terminal: (exit code, terminal text, stderr)."""
    controller, terminal = pty.openpty()
    try:
        result = subprocess.run(
            [sys.executable, "worker.py", "r2", "object", "get", "MEDIA_BUCKET/docs/hello.txt", *flags,
             "--config", str(project)],
            cwd=PROJECT_ROOT, stdout=terminal, stderr=subprocess.PIPE, text=True, timeout=60,
        )
        os.close(terminal)
        terminal = None
        shown = b""
        with contextlib.suppress(OSError):  # EIO once everything written was read
            while chunk := os.read(controller, 4096):
                shown += chunk
        return result.returncode, shown, result.stderr
    finally:
        os.close(controller)
        if terminal is not None:
            os.close(terminal)


def test_r2_object_get_refuses_to_write_to_a_terminal(project, tmp_path):
    source = tmp_path / "hello.txt"
    source.write_bytes(b"hello bucket")
    assert run("r2", "object", "put", "MEDIA_BUCKET/docs/hello.txt", "--file", source, "--config", project).exit_code == 0
    code, shown, err = get_on_a_terminal(project)
    assert code == 2 and shown == b""
    assert "the object would be written to your terminal: pass --file PATH" in err and "Traceback" not in err
    code, shown, err = get_on_a_terminal(project, "--pipe")
    assert code == 0 and shown == b"hello bucket", err
    # Not a terminal: the bytes go to standard output, as before.
    assert run("r2", "object", "get", "MEDIA_BUCKET/docs/hello.txt", "--config", project).output == "hello bucket"


def test_scheduled_runs_the_jobs_once(project):
    run("d1", "migrations", "apply", "DB", "--config", project)
    result = run("scheduled", "--config", project)
    assert result.exit_code == 0, result.output
    assert "purge_expired_logs" in json.loads(result.output)


def test_scheduled_on_a_database_never_migrated_is_one_line(project):
    env = {**os.environ, "JWT_SECRET": "x" * 40}
    result = subprocess.run([sys.executable, "worker.py", "scheduled", "--config", str(project)],
                            cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr == ("Error: DB (default) has no tables yet, no migration having been applied: "
                             "run `d1 migrations apply DB` first\n")


def test_scheduled_validates_the_cron_expression(project):
    run("d1", "migrations", "apply", "DB", "--config", project)
    for bad in ("not a cron", "0 0 * * * *", "61 * * * *"):
        result = run("scheduled", "--cron", bad, "--config", project)
        assert result.exit_code == 2
        assert f"Invalid value for '--cron': {bad!r} is not a cron expression" in result.output
    for good in ("*/5 * * * *", "manual"):
        assert run("scheduled", "--cron", good, "--config", project).exit_code == 0


@pytest.mark.parametrize(
    "args, expected",
    [
        (["--env", "nope"], 'no environment found with name "nope"'),
        (["--env", "staging"], 'binding "MEDIA_BUCKET" (r2_buckets) is declared at the top level but not in [env.staging]'),
    ],
)
def test_config_errors_exit_cleanly_without_traceback(project, args, expected):
    result = subprocess.run(
        [sys.executable, "worker.py", "d1", "execute", "DB", "--command", "SELECT 1", "--config", str(project), *args],
        cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 1
    assert expected in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


def test_malformed_toml_exits_cleanly(tmp_path):
    path = tmp_path / "bindings.toml"
    path.write_text('name = "x"\n[[kv_namespaces]\n')
    result = subprocess.run(
        [sys.executable, "worker.py", "kv", "key", "list", "--config", str(path)],
        cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 1 and "line 2" in result.stderr and "Traceback" not in result.stderr


def test_a_command_opens_only_the_binding_it_uses(tmp_path):
    # A release step runs `d1 migrations apply` without the bucket's credentials.
    path = tmp_path / "bindings.toml"
    path.write_text(bindings_text(s3="http://127.0.0.1:1").replace("TEST_S3_KEY", "UNSET_S3_KEY"))
    assert run("d1", "migrations", "apply", "DB", "--config", path).exit_code == 0
    assert run("d1", "migrations", "list", "DB", "--config", path).exit_code == 0
    result = subprocess.run(
        [sys.executable, "worker.py", "r2", "object", "get", "MEDIA_BUCKET/x", "--pipe", "--config", str(path)],
        cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 1
    assert "UNSET_S3_KEY is not set" in result.stderr and "Traceback" not in result.stderr


def test_kv_put_refuses_metadata_that_is_not_json(project):
    result = run("kv", "key", "put", "k", "v", "--metadata", "{bad", "--config", project)
    assert result.exit_code == 2 and "not JSON" in result.output


def test_what_a_user_got_wrong_is_one_line_and_exit_1(project, tmp_path):
    """A database not migrated, a file that is not UTF-8 or cannot be written, a time past
    what RFC 3339 can name: a one-line error, never a traceback."""
    latin = tmp_path / "latin.sql"
    latin.write_bytes("INSERT INTO t VALUES ('caf\xe9');".encode("latin-1"))
    cases = [
        (("d1", "backup", "DB", "--output", tmp_path / "b.json"), "no such table: users"),
        (("d1", "execute", "DB", "--file", latin), "not UTF-8 text"),
        (("d1", "time-travel", "info", "DB", "--timestamp", "1764900000000"), "past the year 9999"),
        (("tail", "--once", "--since", "99999999999999999999"), "past the year 9999"),
        (("d1", "time-travel", "restore", "DB", "--bookmark", "0000000000000001-ffffffffffff-" + "0" * 32),
         "past the year 9999"),
    ]
    for args, words in cases:
        result = CliRunner().invoke(cli, [*map(str, args), "--config", str(project)])
        assert result.exit_code in (1, 2), (args, result.output)
        assert words in result.output and "Traceback" not in result.output, (args, result.output)
        assert not isinstance(result.exception, Exception) or isinstance(result.exception, SystemExit), args
    run("r2", "object", "put", "MEDIA_BUCKET/k", "--file", latin, "--config", project)
    unwritable = CliRunner().invoke(cli, ["r2", "object", "get", "MEDIA_BUCKET/k", "--file",
                                          str(tmp_path / "no-folder" / "out"), "--config", str(project)])
    assert unwritable.exit_code == 1 and "No such file or directory" in unwritable.output


def test_d1_execute_json_answers_every_failure_in_wranglers_shape(project):
    for database, sql in (("NOPE", "SELECT 1"), ("DB", "-- only a comment"), ("DB", "BEGIN; BEGIN; SELECT 1")):
        result = run("d1", "execute", database, "--config", project, "--json", "--command", sql)
        assert result.exit_code == 1, result.output
        assert json.loads(result.stdout)["error"]["text"], (database, sql)
