"""A restore rewinds the data, never a credential spent or revoked since its bookmark.

A password reset link used since stays used, an API token revoked since stays revoked, a
session a password change ended stays ended, and a user the restore brings back (deleted
since) comes back with no pending link and no session (app/db/time_travel/credentials.py).
"""

import json

import pytest
from click.testing import CliRunner

from app.cli import cli
from app.db.models import ApiToken, User, bind_models
from tests.fixtures.auth import PASSWORD
from tests.fixtures.cache import past_generation_bound
from tests.fixtures.users import bearer

pytestmark = pytest.mark.backends


def run(env, *args):
    """A CLI command on the ``env`` fixture's project; the models bound to it again after."""
    folder = env.config.path.parent
    result = CliRunner().invoke(cli, [*args, "--config", str(folder / "bindings.toml"),
                                      "--persist-to", str(folder / "state")], catch_exceptions=False)
    bind_models(env.DB.db)  # the command bound the models to its own connection
    assert result.exit_code == 0, result.output
    return result.output


def bookmark(env):
    return json.loads(run(env, "d1", "time-travel", "info", "DB", "--json"))["bookmark"]


def restore(env, to):
    run(env, "d1", "time-travel", "restore", "DB", "--bookmark", to, "--yes")
    past_generation_bound()  # the restore bumped the cache's generations through another cache


def test_a_reset_link_used_since_the_bookmark_stays_used(env, app_client, user_with_password, outbox):
    user, _ = user_with_password(role="editor", email="known@example.com")
    app_client.post_json("/auth/request-password-reset", {"email": "known@example.com"}, status=202)
    [link] = outbox.tokens("password_reset")
    before_use = bookmark(env)
    app_client.post_json("/auth/reset-password", {"token": link, "password": "NewPassw0rd!x"}, status=200)

    restore(env, before_use)

    app_client.post_json("/auth/reset-password", {"token": link, "password": "Third0Passw0rd!"}, status=400)
    # The rest of the row is rewound: the password is the one the bookmark saw.
    app_client.post_json("/auth/login", {"email": "known@example.com", "password": PASSWORD}, status=200)


def test_an_api_token_revoked_since_the_bookmark_stays_revoked(env, app_client, user_with_password):
    user, headers = user_with_password(role="admin", email="boss@example.com")
    body = {"name": "ci", "permissions": ["content.read", "content.publish"]}
    created = app_client.post_json("/api/tokens", body, headers=headers, status=201).json["data"]
    kept = app_client.post_json("/api/tokens", {**body, "name": "kept"}, headers=headers, status=201).json["data"]
    before_revoke = bookmark(env)
    app_client.delete(f"/api/tokens/{created['id']}", headers=headers, status=200)

    restore(env, before_revoke)

    assert app_client.get("/api/content/stats", headers=bearer(created["token"]), status=401).json["error"] == \
        "Invalid or expired token"
    app_client.get("/api/content/stats", headers=bearer(kept["token"]), status=200)
    assert [row.id for row in ApiToken.select()] == [kept["id"]]


def test_a_session_a_password_change_ended_stays_ended(env, app_client, user_with_password):
    user_with_password(role="editor", email="known@example.com")
    old_session = bearer(app_client.post_json("/auth/login", {"email": "known@example.com", "password": PASSWORD},
                                              status=200).json["token"])
    before_change = bookmark(env)
    app_client.post_json("/auth/change-password", {"currentPassword": PASSWORD, "newPassword": "NewPassw0rd!x"},
                         headers=old_session, status=200)

    restore(env, before_change)

    app_client.get("/auth/me", headers=old_session, status=401)


def test_a_user_brought_back_has_no_pending_link_and_no_session(env, app_client, user_with_password, outbox):
    user, _ = user_with_password(role="editor", email="gone@example.com")
    session = bearer(app_client.post_json("/auth/login", {"email": "gone@example.com", "password": PASSWORD},
                                          status=200).json["token"])
    app_client.post_json("/auth/request-password-reset", {"email": "gone@example.com"}, status=202)
    [link] = outbox.tokens("password_reset")
    before_delete = bookmark(env)
    User.delete().where(User.id == user.id).execute()

    restore(env, before_delete)

    back = User.get_by_id(user.id)
    assert (back.email, back.password_reset_token, back.password_reset_expires) == ("gone@example.com", None, None)
    app_client.get("/auth/me", headers=session, status=401)
    app_client.post_json("/auth/reset-password", {"token": link, "password": "Third0Passw0rd!"}, status=400)
