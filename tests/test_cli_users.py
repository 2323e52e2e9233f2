"""``python worker.py users create-admin`` and the ``dev`` bootstrap helper."""

import json

import pytest
from click.testing import CliRunner

from app.cli import cli
from app.cli.common import Runtime
from app.cli.users import bootstrap_admin
from app.db.models import User, bind_models
from tests.fixtures.app import client_for, env_with_copy, make_env
from tests.fixtures.auth import accounts_for_tests, login
from tests.fixtures.users import bearer, token_for

PASSWORD = "an admin password"


@pytest.fixture
def project(tmp_path, migrated_template):
    """A folder with bindings.toml and a migrated database; yields (env, CLI options)."""
    env = env_with_copy(tmp_path / "project", migrated_template)
    options = ["--config", str(tmp_path / "project" / "bindings.toml"), "--persist-to", str(tmp_path / "project" / "state")]
    yield env, options
    env.DB.db.close()


def create_admin(options, *args, env=None, input=None):
    return CliRunner().invoke(
        cli, ["users", "create-admin", *args, *options], env=env or {}, input=input, catch_exceptions=False
    )


def stored(env, email):
    bind_models(env.DB.db)
    return User.get_or_none(User.email == email)


def test_creates_an_admin_who_can_sign_in(project):
    env, options = project
    result = create_admin(options, "--email", "Boss@Example.com", env={"SONICPY_ADMIN_PASSWORD": PASSWORD})
    assert result.exit_code == 0, result.output
    assert "boss@example.com" in result.output and "/auth/login" in result.output and PASSWORD not in result.output
    user = stored(env, "boss@example.com")
    assert user.role == "admin" and user.is_active and user.password_hash.startswith("scrypt$32768$8$3$")
    response = login(client_for(env), "boss@example.com", PASSWORD)
    assert response.json["user"]["role"] == "admin"


def test_password_from_a_named_variable_or_the_prompt(project):
    env, options = project
    result = create_admin(options, "--email", "a@example.com", "--password-env", "MY_SECRET", env={"MY_SECRET": PASSWORD})
    assert result.exit_code == 0, result.output
    result = create_admin(options, "--email", "b@example.com", input=f"{PASSWORD}\n{PASSWORD}\n")
    assert result.exit_code == 0, result.output
    assert stored(env, "a@example.com").role == stored(env, "b@example.com").role == "admin"
    accounts = accounts_for_tests()
    assert accounts.hasher.verify(PASSWORD, stored(env, "b@example.com").password_hash)


@pytest.mark.parametrize("username", ["Zoë", "ab", "a" * 51, "two words", "name\n"])
def test_a_username_other_routes_would_refuse_is_refused(project, username):
    env, options = project
    result = create_admin(options, "--email", "a@example.com", "--password", PASSWORD, "--username", username)
    assert result.exit_code == 2 and "--username" in result.output and "is not a username" in result.output
    assert stored(env, "a@example.com") is None


def test_an_existing_account_is_left_alone_unless_asked(project):
    env, options = project
    assert create_admin(options, "--email", "a@example.com", "--password", PASSWORD).exit_code == 0
    old_session = bearer(token_for(stored(env, "a@example.com")))
    # Said before any password prompt, with the flag that would do it.
    result = create_admin(options, "--email", "A@example.com")
    assert result.exit_code == 1 and "Password" not in result.output
    assert result.output == ("Error: a user with email a@example.com already exists (role admin); "
                             "pass --update-existing to make it an active admin with the new password\n")
    result = create_admin(options, "--email", "a@example.com", "--password", "another password", "--update-existing")
    assert result.exit_code == 0, result.output
    client = client_for(env)
    client.get("/auth/me", headers=old_session, status=401)
    login(client, "a@example.com", "another password")


def test_update_existing_deletes_the_accounts_api_tokens(project):
    env, options = project
    assert create_admin(options, "--email", "a@example.com", "--password", PASSWORD).exit_code == 0
    client = client_for(env)
    session = bearer(login(client, "a@example.com", PASSWORD).json["token"])
    body = {"name": "ci", "permissions": ["collections.read"]}
    token = bearer(client.post_json("/api/tokens", body, headers=session, status=201).json["data"]["token"])
    result = create_admin(options, "--email", "a@example.com", "--password", "another password", "--update-existing")
    assert result.exit_code == 0, result.output
    client.get("/auth/me", headers=token, status=401)


def test_a_mixed_script_email_is_a_clean_error(project):
    _, options = project
    result = create_admin(options, "--email", "\u0430dmin@example.com", "--password", PASSWORD)
    assert result.exit_code == 1 and "mixes letters of different scripts" in result.output


@pytest.mark.parametrize("args, code, message", [
    (["--email", "a@example.com", "--password", "short"], 1, "at least 8"),
    (["--email", "not-an-email", "--password", PASSWORD], 2, "not an email"),
    (["--password", PASSWORD], 2, "--email"),
])
def test_bad_input_is_a_clean_error(project, args, code, message):
    env, options = project
    result = create_admin(options, *args)
    assert result.exit_code == code and message in result.output
    assert "Traceback" not in result.output
    assert stored(env, "a@example.com") is None


def test_an_unmigrated_database_says_what_to_do(tmp_path):
    env = make_env(tmp_path / "fresh")
    options = ["--config", str(tmp_path / "fresh" / "bindings.toml"), "--persist-to", str(tmp_path / "fresh" / "state")]
    result = create_admin(options, "--email", "a@example.com", "--password", PASSWORD)
    assert result.exit_code == 1 and "migrations apply" in result.output
    env.DB.db.close()


def set_email(options, *args):
    return CliRunner().invoke(cli, ["users", "set-email", *args, *options], catch_exceptions=False)


def test_set_email_moves_an_account_and_ends_its_sessions(project):
    """A site's only admin cannot change their own email in the API or the admin: here they can."""
    env, options = project
    assert create_admin(options, "--email", "a@example.com", "--password", PASSWORD).exit_code == 0
    client = client_for(env)
    session = bearer(login(client, "a@example.com", PASSWORD).json["token"])
    result = set_email(options, "A@example.com", "New@Example.com")
    assert result.exit_code == 0, result.output
    assert result.output == "✅ a@example.com is now new@example.com; its sessions have ended.\n"
    client.get("/auth/me", headers=session, status=401)
    login(client, "a@example.com", PASSWORD, status=401)
    assert login(client, "new@example.com", PASSWORD).json["user"]["email"] == "new@example.com"
    assert stored(env, "new@example.com").email_verified is False
    result = set_email(options, "new@example.com", "NEW@example.com")
    assert result.exit_code == 0 and "nothing changed" in result.output


def test_an_email_stored_with_capitals_is_found_in_any_case(project):
    # Stored before emails were lower-cased, or brought by a backup: the same address.
    env, options = project
    assert create_admin(options, "--email", "boss@example.com", "--password", PASSWORD).exit_code == 0
    db = env.DB.db
    db.execute_sql(f'UPDATE "users" SET "email" = {db.param}', ("Boss@Example.com",))
    result = create_admin(options, "--email", "boss@example.com", "--password", PASSWORD)
    assert result.exit_code == 1 and "a user with email Boss@Example.com already exists" in result.output
    result = set_email(options, "boss@example.com", "new@example.com")
    assert result.output == "✅ Boss@Example.com is now new@example.com; its sessions have ended.\n"
    assert User.select().count() == 1


@pytest.mark.parametrize("args, message", [
    (["nobody@example.com", "x@example.com"], "no user has the email nobody@example.com"),
    (["a@example.com", "b@example.com"], "A user with this email already exists"),
    (["a@example.com", "not-an-email"], "must be an email address"),
    (["a@example.com", "\u0430dmin@example.com"], "mixes letters of different scripts"),
])
def test_set_email_refusals_are_clean_errors(project, args, message):
    env, options = project
    for email in ("a@example.com", "b@example.com"):
        assert create_admin(options, "--email", email, "--password", PASSWORD).exit_code == 0
    result = set_email(options, *args)
    assert result.exit_code == 1 and message in result.output and "Traceback" not in result.output
    assert stored(env, "a@example.com") is not None


def test_help_texts():
    runner = CliRunner()
    assert "Manage user accounts" in runner.invoke(cli, ["users", "--help"]).output
    output = runner.invoke(cli, ["users", "create-admin", "--help"]).output
    for option in ("--email", "--password-env", "--update-existing", "--env", "--config"):
        assert option in output
    output = runner.invoke(cli, ["users", "set-email", "--help"]).output
    assert "EMAIL NEW_EMAIL" in output and "sessions end" in output and "--database" in output


def test_dev_bootstrap_creates_one_admin_only(env):
    bind_models(env.DB.db)
    accounts = accounts_for_tests()
    user, password = accounts.create_dev_admin()
    assert user.role == "admin" and len(password) >= 12
    assert accounts.authenticate(user.email, password).id == user.id
    assert accounts.create_dev_admin() is None


def curl_body(line):
    """The JSON a printed ``curl ... -d '{...}'`` line sends."""
    return json.loads(line.split(" -d '", 1)[1].rstrip("'"))


def test_dev_bootstrap_prints_working_credentials_once(project):
    env, options = project
    runtime = Runtime(options[1], None, options[3])
    lines = []
    user = bootstrap_admin(runtime, lines.append, url="http://127.0.0.1:9999")
    assert user.role == "admin" and "admin@example.com" in lines[0]
    password = lines[0].rsplit(" / ", 1)[1]
    assert "http://127.0.0.1:9999/auth/login" in lines[1] and password in lines[1]
    client = client_for(env)
    token = client.post_json("/auth/login", curl_body(lines[1])).json["token"]
    # The change-password command, as printed, with the new password filled in, works.
    change = next(line for line in lines if "/auth/change-password" in line)
    assert "http://127.0.0.1:9999/auth/change-password" in change and "Authorization: Bearer TOKEN" in change
    body = curl_body(change)
    assert body == {"current_password": password, "new_password": "NEW PASSWORD"}
    client.post_json("/auth/change-password", {**body, "new_password": "a new admin password"},
                     headers=bearer(token), status=200)
    login(client, "admin@example.com", "a new admin password")

    later = []
    assert bootstrap_admin(runtime, later.append, url="http://127.0.0.1:9999") is None
    assert later == [("👤 Admin: admin@example.com (sign in with POST http://127.0.0.1:9999/auth/login; "
                      "a forgotten password: `users create-admin --email ... --update-existing`)")]


def test_dev_names_the_admins_that_exist(project):
    env, options = project
    runtime = Runtime(options[1], None, options[3])
    bind_models(env.DB.db)
    accounts = accounts_for_tests()
    for n in range(5):
        accounts.create_admin(f"admin{n}@example.com", PASSWORD)
    lines = []
    bootstrap_admin(runtime, lines.append)
    assert lines[0].startswith("👤 Admin: admin0@example.com, admin1@example.com, admin2@example.com and 2 more (")
    bind_models(env.DB.db)
    User.update(is_active=False).execute()
    lines = []
    bootstrap_admin(runtime, lines.append)
    assert lines[0].startswith("⚠ Every admin account is deactivated (admin0@example.com, ")
    assert "--update-existing" in lines[0]


def test_dev_bootstrap_never_takes_over_a_registered_account(project):
    env, options = project
    bind_models(env.DB.db)
    accounts_for_tests().create_user("admin@example.com", PASSWORD)
    lines = []
    assert bootstrap_admin(Runtime(options[1], None, options[3]), lines.append) is None
    assert "users create-admin" in lines[0] and stored(env, "admin@example.com").role == "viewer"
