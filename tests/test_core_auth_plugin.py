"""core-auth: registration switched at run time through the plugin routes in every worker;
REGISTRATION_ENABLED wins; the plugin cannot be deactivated and its settings are validated."""

import pytest

from app.db.models import User, bind_models
from tests.fixtures.app import client_for
from tests.fixtures.cache import past_generation_bound
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


def test_registration_switch_reaches_another_worker(env, admin):
    first, second = client_for(env), client_for(env)  # two apps: two workers sharing the cache
    register(second, "e@example.com", 201)
    first.patch_json("/admin/api/plugins/core-auth", {"settings": {"registration": {"enabled": False}}},
                     headers=admin, status=200)
    past_generation_bound()
    register(second, "f@example.com", 403)


def test_core_auth_cannot_be_deactivated(web, admin):
    web.post("/admin/api/plugins/core-auth/deactivate", headers=admin, status=409)
    plugin = web.get("/admin/api/plugins/core-auth", headers=admin).json["data"]
    assert plugin["status"] == "active" and plugin["loaded"] is True and plugin["can_deactivate"] is False
    register(web, "g@example.com", 201)


@pytest.mark.parametrize("settings", [
    {"registration": {"enabled": "no"}},
    {"registration": {"defaultRole": "owner"}},
    {"registration": {"enabled": True, "verifyEmail": True}},
    {"signup": True},
])
def test_core_auth_settings_are_validated(web, admin, settings):
    before = web.get("/admin/api/plugins/core-auth", headers=admin).json["data"]["settings"]
    web.patch_json("/admin/api/plugins/core-auth", {"settings": settings}, headers=admin, status=422)
    assert web.get("/admin/api/plugins/core-auth", headers=admin).json["data"]["settings"] == before
