"""Settings and binding values an operator can mistype: each stops every command with one line
naming the file, the environment and the key, never a traceback or a value taken at random."""

import json
import os
import subprocess
import sys
import textwrap

import pytest
from click.testing import CliRunner

from app.cli import cli
from app.entrypoint import StartupError, check_startup, default_worker, served_app
from app.runtime.config import load_config
from app.settings import settings_from_env
from tests.fixtures.app import MIGRATIONS, TEST_JWT_SECRET, client_for, env_with_copy


def project(tmp_path, d1="", extra=""):
    """A bindings.toml with local backends (``d1`` lines added to its D1 table, ``extra`` at the end)."""
    path = tmp_path / "bindings.toml"
    path.write_text(textwrap.dedent(f"""\
        name = "refusals"

        [[d1_databases]]
        binding = "DB"
        database_name = "refusals"
        migrations_dir = "{MIGRATIONS}"
        {d1}

        [[kv_namespaces]]
        binding = "CACHE_KV"
        id = "refusals-kv"
        """) + textwrap.dedent(extra))
    return path


def run(path, *args, env=None):
    return CliRunner().invoke(cli, [*args, "--config", str(path), "--persist-to", str(path.parent / "state")],
                              env={"JWT_SECRET": TEST_JWT_SECRET, **(env or {})})


def refusal(result):
    """The one error line of a refused command (and that it was refused, without a traceback)."""
    assert result.exit_code == 1, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exc_info
    [line] = result.output.strip().splitlines()
    return line


@pytest.mark.parametrize("query, message", [
    ("timeot=10", "database_url option 'timeot' is not one SQLite takes (it takes: timeout)"),
    ("foo=bar", "database_url option 'foo' is not one SQLite takes (it takes: timeout)"),
    ("timeout=abc", "database_url option timeout must be a number of seconds, at least 0, not 'abc'"),
    ("timeout=-5", "database_url option timeout must be a number of seconds, at least 0, not '-5'"),
])
def test_a_bad_sqlite_url_option_is_named(tmp_path, query, message):
    path = project(tmp_path, d1=f'database_url = "sqlite:///{tmp_path}/db.sqlite?{query}"')
    line = refusal(run(path, "d1", "migrations", "list", "DB"))
    assert line == f"Error: {path} (environment default): d1_databases (DB): {message}"


def test_a_good_sqlite_timeout_is_taken(tmp_path):
    path = project(tmp_path, d1=f'database_url = "sqlite:///{tmp_path}/db.sqlite?timeout=2.5"')
    result = run(path, "d1", "migrations", "list", "DB")
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize("query, message", [
    ("max_connections=abc", "database_url option max_connections must be a whole number, at least 1, not 'abc'"),
    ("max_connections=0", "database_url option max_connections must be a whole number, at least 1, not 0"),
    ("connect_timeout=2.5", "database_url option connect_timeout must be a whole number, at least 0, not 2.5"),
])
def test_a_bad_postgres_pool_option_is_named_without_the_password(tmp_path, query, message):
    path = project(tmp_path, d1='database_url_env = "REFUSALS_DATABASE_URL"')
    url = f"postgresql://user:hunter2secret@127.0.0.1:1/db?{query}"
    line = refusal(run(path, "d1", "migrations", "list", "DB", env={"REFUSALS_DATABASE_URL": url}))
    assert line == f"Error: {path} (environment default): d1_databases (DB): {message}"
    assert "hunter2secret" not in line


@pytest.mark.parametrize("setting, message", [
    ("max_attempts = 0", "max_attempts must be a whole number of attempts in all, at least 1, not 0"),
    ('max_attempts = "x"', "max_attempts must be a whole number of attempts in all, at least 1, not 'x'"),
    ("connect_timeout = -1", "connect_timeout must be a number of seconds, above 0, not -1"),
    ("connect_timeout = 0", "connect_timeout must be a number of seconds, above 0, not 0"),
    ('read_timeout = "abc"', "read_timeout must be a number of seconds, above 0, not 'abc'"),
    # Was taken: every call then failed in the HTTP client ("timestamp out of range").
    ("connect_timeout = inf", "connect_timeout must be a number of seconds, above 0, not inf"),
])
def test_a_bad_r2_tuning_value_is_named(tmp_path, setting, message):
    # max_attempts = 0 was a botocore traceback; a timeout of 0 or less started, then /health
    # reported the bucket down; a string was refused without naming its key.
    path = project(tmp_path, extra=f"""
        [[r2_buckets]]
        binding = "MEDIA_BUCKET"
        bucket_name = "media"
        endpoint_url = "http://127.0.0.1:1"
        {setting}
        """)
    line = refusal(run(path, "r2", "object", "get", "MEDIA_BUCKET/x", "--file", str(tmp_path / "x")))
    assert line == f"Error: {path} (environment default): r2_buckets (MEDIA_BUCKET): {message}"


@pytest.mark.parametrize("keys, message", [
    ('endpoint_url = "http://127.0.0.1:1"', "bucket_name is required with endpoint_url"),
    ('bucket_name = "media"\nendpoint_url = "http://127.0.0.1:1"\n'
     'access_key_id_env = "UNSET_REFUSALS_KEY"\nsecret_access_key_env = "UNSET_REFUSALS_SECRET"',
     "environment variable UNSET_REFUSALS_KEY is not set"),
])
def test_an_unusable_s3_bucket_is_refused_naming_its_binding_once(tmp_path, keys, message):
    # Was "r2_buckets (MEDIA_BUCKET): MEDIA_BUCKET: ...": the bucket named itself as well.
    path = project(tmp_path, extra=f'[[r2_buckets]]\nbinding = "MEDIA_BUCKET"\n{keys}\n')
    line = refusal(run(path, "r2", "object", "get", "MEDIA_BUCKET/x", "--file", str(tmp_path / "x")))
    assert line == f"Error: {path} (environment default): r2_buckets (MEDIA_BUCKET): {message}"


UNSET_URL = "database_url_env names UNSET_REFUSALS_URL, which is not set"


@pytest.mark.parametrize("command, said", [
    (("d1", "migrations", "list", "DB"), "{path} (environment default): d1_databases (DB): " + UNSET_URL),
    # These find the database without opening the binding; they name it themselves.
    (("d1", "info", "DB"), f"DB (default): {UNSET_URL}"),
    (("d1", "delete", "DB", "--yes"), f"DB (default): {UNSET_URL}"),
    (("d1", "studio", "DB"), f"DB (default): {UNSET_URL}"),
])
def test_a_database_url_variable_left_unset_names_the_binding_once(tmp_path, command, said):
    # Was "... (DB): D1 binding 'DB': database_url_env ...", opened or only located.
    path = project(tmp_path, d1='database_url_env = "UNSET_REFUSALS_URL"')
    line = refusal(run(path, *command))
    assert line == "Error: " + said.format(path=path)


def test_d1_list_shows_an_unset_url_variable_in_its_binding_row(tmp_path):
    path = project(tmp_path, d1='database_url_env = "UNSET_REFUSALS_URL"')
    result = run(path, "d1", "list", "--json")
    assert result.exit_code == 0, result.output
    [row] = json.loads(result.output)
    assert (row["binding"], row["status"]) == ("DB", f"error: {UNSET_URL}")


LONG = "x" * 100  # a pasted blob where a number goes
LONG_SHOWN = "'" + "x" * 36 + "..."  # its repr cut to 40 characters, the cut said


@pytest.mark.parametrize("d1, extra, command, message", [
    # Was cut to 40 characters with no sign of the cut.
    ("", f'[[r2_buckets]]\nbinding = "MEDIA_BUCKET"\nbucket_name = "media"\nendpoint_url = "http://127.0.0.1:1"\n'
         f'connect_timeout = "{LONG}"\n', ("r2", "object", "get", "MEDIA_BUCKET/x", "--file", "x"),
     f"r2_buckets (MEDIA_BUCKET): connect_timeout must be a number of seconds, above 0, not {LONG_SHOWN}"),
    # Was shown whole.
    (f'sqlite_cache_kib = "{LONG}"', "", ("d1", "migrations", "list", "DB"),
     f"d1_databases (DB): sqlite_cache_kib must be a whole number, at least 64, not {LONG_SHOWN}"),
    (f'database_id = "{LONG}/"', "", ("d1", "migrations", "list", "DB"),
     f"d1_databases (DB): database id {LONG_SHOWN} cannot be used as a local file name"),
    ("", f'[[r2_buckets]]\nbinding = "MEDIA_BUCKET"\nbucket_name = "{LONG}/"\n',
     ("r2", "object", "get", "MEDIA_BUCKET/x", "--file", "x"),
     f"r2_buckets (MEDIA_BUCKET): bucket name {LONG_SHOWN} must be letters, digits, '.', '_' or '-'"),
])
def test_a_long_bad_binding_value_is_shown_cut_as_every_refusal_cuts_it(tmp_path, d1, extra, command, message):
    path = project(tmp_path, d1=d1, extra=extra)
    line = refusal(run(path, *command))
    assert line == f"Error: {path} (environment default): {message}"


@pytest.mark.parametrize("setting, message", [
    ("timeout = 0", "timeout must be a number of seconds, above 0, not 0"),
    ('connect_timeout = "1"', "connect_timeout must be a number of seconds, above 0, not '1'"),
    # Was taken: every command then ended in a traceback ("timestamp out of range").
    ("connect_timeout = inf", "connect_timeout must be a number of seconds, above 0, not inf"),
])
def test_a_bad_kv_tuning_value_is_named(tmp_path, setting, message):
    path = project(tmp_path, extra=f'servers = ["127.0.0.1:1"]\n{setting}\n')  # keys of the KV table
    line = refusal(run(path, "kv", "key", "get", "x"))
    assert line == f"Error: {path} (environment default): kv_namespaces (CACHE_KV): {message}"


@pytest.mark.parametrize("d1, message", [
    ("time_travel_retention_days = 0", "time_travel_retention_days must be a whole number of days, at least 1, not 0"),
    ('time_travel_retention_days = "30"',
     "time_travel_retention_days must be a whole number of days, at least 1, not '30'"),
    ("time_travel_retention_days = 1.5", "time_travel_retention_days must be a whole number of days, at least 1, "
                                         "not 1.5"),
])
def test_a_bad_time_travel_setting_is_named(tmp_path, d1, message):
    path = project(tmp_path, d1=d1)
    line = refusal(run(path, "d1", "time-travel", "info", "DB"))
    assert line == f"Error: DB: {message}"


def test_good_r2_tuning_values_are_taken(tmp_path):
    path = project(tmp_path, extra="""
        [[r2_buckets]]
        binding = "MEDIA_BUCKET"
        bucket_name = "media"
        endpoint_url = "http://127.0.0.1:1"
        connect_timeout = 0.5
        read_timeout = 1
        max_attempts = 1
        """)
    result = run(path, "r2", "object", "get", "MEDIA_BUCKET/x", "--file", str(tmp_path / "x"))
    # Taken: the command goes on to ask the store (which is not there).
    assert result.output.startswith("Error: get: The object store did not answer"), result.output


def boot(path, monkeypatch, **variables):
    """Load the served app as ``gunicorn worker:app`` does, over ``path`` (StartupError if refused)."""
    monkeypatch.setenv("SONICPY_CONFIG", str(path))
    monkeypatch.setenv("SONICPY_PERSIST_TO", str(path.parent / "state"))
    monkeypatch.delenv("SONICPY_ENV", raising=False)
    monkeypatch.setenv("JWT_SECRET", TEST_JWT_SECRET)
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    return served_app(default_worker())


@pytest.mark.parametrize("name, value", [
    ("ACCESS_LOG", "maybe"),  # was read as on
    ("REGISTRATION_ENABLED", "ture"),  # was read as off: registration closed
    ("WEBHOOKS_ALLOW_PRIVATE_TARGETS", "yess"),
    ("REGISTRATION_ENABLED", ""),  # was read as off, then as the default (open): a blank is no choice
])
def test_a_mistyped_on_off_setting_stops_start_up_naming_it(tmp_path, monkeypatch, name, value):
    path = project(tmp_path, extra=f'\n[vars]\n{name} = "{value}"\n')
    with pytest.raises(StartupError) as refused:
        boot(path, monkeypatch)
    assert str(refused.value) == (f"sonicpy cannot start: {path} (environment default): {name} must be true or "
                                  f"false (or 1/0, yes/no, on/off), not '{value}'")


AI_TABLE = """
    [ai]
    binding = "AI"
    url = "http://127.0.0.1:1/v1"
    model = "m"
    """


@pytest.mark.parametrize("setting, message", [
    ("timeout = 0", "timeout must be a number of seconds, above 0 and at most 600, not 0"),
    ("connect_timeout = 601", "connect_timeout must be a number of seconds, above 0 and at most 600, not 601"),
    ("batch_size = 1000", "batch_size must be a whole number, at least 1 and at most 256, not 1000"),
    ('dimensions = "768"', "dimensions must be a whole number, at least 1 and at most 16384, not '768'"),
])
def test_a_bad_ai_setting_is_named(tmp_path, setting, message):
    path = project(tmp_path, extra=AI_TABLE + setting + "\n")
    line = refusal(run(path, "search", "status"))
    assert line == f"Error: {path} (environment default): ai (AI): {message}"


@pytest.mark.parametrize("value, open_", [("false", False), ("No", False), ("0", False), ("off", False),
                                          ("true", True), ("YES", True), ("1", True)])
def test_each_documented_spelling_of_registration_enabled_is_taken(tmp_path, migrated_template, value, open_):
    env = env_with_copy(tmp_path / "app", migrated_template, vars={"REGISTRATION_ENABLED": value})
    read = settings_from_env(env, jwt_secret=TEST_JWT_SECRET)
    client = client_for(env, registration_enabled=read.registration_enabled)
    body = {"email": "new@example.com", "password": "correct horse battery", "username": "new"}
    client.post_json("/auth/register", body, status=201 if open_ else 403)


STAGING_WITHOUT_SECRETS = """
    [env.staging]
    [env.staging.vars]
    MAILER = "log"

    [[env.staging.d1_databases]]
    binding = "DB"
    database_name = "refusals-staging"

    [[env.staging.kv_namespaces]]
    binding = "CACHE_KV"
    id = "refusals-kv-staging"
    """


def test_a_jwt_secret_set_but_not_declared_is_told_to_be_declared(tmp_path, monkeypatch):
    # "set it in the process environment" was the advice, and it was set there already.
    path = project(tmp_path, extra=STAGING_WITHOUT_SECRETS)
    with pytest.raises(StartupError) as refused:
        boot(path, monkeypatch, SONICPY_ENV="staging")
    assert str(refused.value) == (
        f"sonicpy cannot start: {path} (environment staging): secret JWT_SECRET is set in the process "
        "environment but [env.staging.secrets] does not declare it, and only declared names reach the app: "
        'add required = ["JWT_SECRET"] there (secrets are not inherited from the top level), '
        "or set it in .dev.vars.staging")
    path.write_text(path.read_text() + '\n[env.staging.secrets]\nrequired = ["JWT_SECRET"]\n')
    check_startup()  # declared: the same process environment is good enough to start


def test_a_bindings_toml_that_is_not_utf8_is_named(tmp_path):
    path = project(tmp_path)
    path.write_bytes(path.read_bytes() + b'\n[vars]\nGREETING = "caf\xe9"\n')
    line = refusal(run(path, "d1", "migrations", "list", "DB"))
    assert line.startswith(f"Error: {path}: not UTF-8 text (line ")


@pytest.mark.parametrize("content, message", [
    (b"GREETING=caf\xe9\n", "not UTF-8 text (line 2: invalid continuation byte at byte "),
    (b"garbage line\n", "line 2 is not NAME=value (nor a # comment)"),  # was dropped with a warning
    (b"# a comment\n\n=novalue\n", "line 4 is not NAME=value (nor a # comment)"),
])
def test_a_dev_vars_file_that_cannot_be_read_is_named_with_the_line(tmp_path, content, message):
    path = project(tmp_path)
    (tmp_path / ".dev.vars").write_bytes(b"MAILER=log\n" + content)
    line = refusal(run(path, "d1", "migrations", "list", "DB"))
    assert line.startswith(f"Error: {tmp_path / '.dev.vars'}: {message}"), line


def test_comments_blank_lines_and_export_in_dev_vars_are_read(tmp_path):
    path = project(tmp_path)
    (tmp_path / ".dev.vars").write_text('# local\n\nexport MAILER=log\nQUOTED="two\nlines"\n')
    config = load_config(path, environ={})
    assert (config.secrets["MAILER"], config.secrets["QUOTED"]) == ("log", "two\nlines")


def test_a_plugin_beside_the_project_is_found_by_the_sonicpy_command_as_by_the_served_app(tmp_path):
    # The console script's import path holds neither the current folder nor the project's
    # (``tests`` stands for a plugin module kept in the project, which needs no packaging):
    # the check at start-up looks where the served app's workers do.
    path = project(tmp_path, extra='\n[vars]\nPLUGINS = "tests.plugins.lifecycle_plugin"\n')
    environ = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    command = [sys.executable, "-c", "import sys; sys.path.remove(''); from app.cli import main; main()",
               "d1", "list", "--config", str(path), "--persist-to", str(tmp_path / "state")]
    result = subprocess.run(command, cwd=tmp_path, env={**environ, "JWT_SECRET": TEST_JWT_SECRET},
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "refusals" in result.stdout
