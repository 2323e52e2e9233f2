"""core-auth: registration switched at run time through the plugin routes; REGISTRATION_ENABLED wins."""

import pytest

from app.db.models import User, bind_models
from tests.fixtures.app import client_for
from tests.fixtures.users import bearer, create_user, token_for


@pytest.fixture
def web(env):
    bind_models(env.DB.db)
    return client_for(env)


@pytest.fixture
def admin(env):
    bind_models(env.DB.db)
    return bearer(token_for(create_user("admin")))


def register(client, email, status):
    body = {"email": email, "password": "correct horse battery", "username": "user_" + email.split("@")[0]}
    return client.post_json("/auth/register", body, status=status)


def test_registration_toggled_through_the_api(web, admin):
    register(web, "a@example.com", 201)
    closed = {"settings": {"registration": {"enabled": False, "defaultRole": "viewer"}}}
    web.patch_json("/admin/api/plugins/core-auth", closed, headers=admin, status=200)
    assert register(web, "b@example.com", 403).json["error"] == "Registration is currently disabled"
    opened = {"registration": {"enabled": True, "defaultRole": "admin"}}
    web.post_json("/admin/plugins/core-auth/settings", opened, headers=admin, status=200)
    assert register(web, "c@example.com", 201).json["user"]["role"] == "viewer"  # never above viewer


def test_registration_enabled_false_overrides_the_stored_setting(env, admin):
    web = client_for(env, registration_enabled=False)
    web.post_json("/admin/plugins/core-auth/settings", {"registration": {"enabled": True}}, headers=admin, status=200)
    register(web, "d@example.com", 403)
    assert User.get_or_none(User.email == "d@example.com") is None
