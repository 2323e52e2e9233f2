"""The request hooks, the sign-out hook and the plugin lifecycle hooks, with uninstalling,
on SQLite and PostgreSQL.

The lifecycle plugin (``tests/plugins/lifecycle_plugin.py``) records what its hooks see; it
starts inactive, as every plugin that is not active by default.
"""

import logging

import pytest

from app.db.models import Plugin, PluginActivity, PluginHook, PluginRoute, bind_models
from app.services.plugins import hookimpl, hookspecs
from app.services.plugins.hooks import HookRunner, PluginManager
from tests.fixtures.admin import browser_for, sign_in
from tests.fixtures.app import client_for
from tests.fixtures.auth import PASSWORD, hashed
from tests.fixtures.users import bearer, create_user, token_for
from tests.plugins import lifecycle_plugin, sample_plugin

pytestmark = pytest.mark.backends

LIFECYCLE = "tests.plugins.lifecycle_plugin"
SAMPLE = "tests.plugins.sample_plugin"


@pytest.fixture
def client(env):
    bind_models(env.DB.db)
    lifecycle_plugin.CALLS.clear()
    sample_plugin.CALLS.clear()
    return client_for(env, plugins=(LIFECYCLE, SAMPLE))


@pytest.fixture
def admin(env):
    return bearer(token_for(create_user("admin")))


def calls(hook):
    return [about for name, about in lifecycle_plugin.CALLS if name == hook]


def switch(client, admin, name, action, status=200):
    return client.post(f"/admin/api/plugins/{name}/{action}", headers=admin, status=status)


# -- before_request --------------------------------------------------------------------------


def test_before_request_sees_each_request_before_routing_with_secrets_filtered(client, admin):
    switch(client, admin, "lifecycle", "activate")
    response = client.get("/no/such/route?page=2&token=abc", status=404)
    assert calls("before_request")[-1] == ("GET", "/no/such/route", "page=2&token=[FILTERED]",
                                           response.headers["X-Request-ID"])


def test_before_request_veto_answers_its_status_and_nothing_else_runs(client, admin):
    switch(client, admin, "lifecycle", "activate")
    response = client.get(lifecycle_plugin.REFUSED_PATH, status=403)  # a 404 without the veto
    assert response.json == {"error": "The lifecycle plugin refuses this path",
                              "details": {"path": lifecycle_plugin.REFUSED_PATH}}
    # Refused before authentication: even an admin's request goes no further.
    client.get(lifecycle_plugin.REFUSED_PATH, headers=admin, status=403)


def test_a_plugin_vetoing_every_request_cannot_lock_the_admins_out(env):
    bind_models(env.DB.db)
    web = browser_for(env, plugins=("tests.plugins.veto_plugin",))
    user = create_user("admin", password_hash=hashed())
    admin = {**bearer(token_for(user)), "Accept": "application/json"}
    web.post("/admin/api/plugins/veto-all/activate", headers=admin, status=200)
    for path in ("/api/content", "/admin", "/admin/api/users", "/authentic", "/admin/pluginsx", "/no/such/route"):
        assert web.get(path, headers=admin, status=403).json["error"] == "The veto-all plugin refuses every request"
    for path in ("/health", "/api/health", "/api/system/health", "/api/system/ping", "/admin/api/plugins",
                 "/admin/api/plugins/veto-all"):
        web.get(path, headers=admin, status=200)
    preflight = {"Origin": "https://example.com", "Access-Control-Request-Method": "GET"}
    assert web.options("/api/content", headers=preflight, status="*").status_int != 403
    web.post_json("/auth/login", {"email": user.email, "password": PASSWORD}, headers={"Accept": "application/json"},
                  status=200)
    browser = browser_for(env, plugins=("tests.plugins.veto_plugin",))
    assert sign_in(browser, user).status_int == 303
    page = browser.get("/admin/plugins/veto-all", status=200)
    switch_form = next(form for form in page.forms.values() if form.action.endswith("/veto-all/deactivate"))
    switch_form.submit(status=303)
    browser.get("/api/content", headers={"Accept": "application/json"}, status=200)  # its worker sees it at once


def test_before_request_of_an_inactive_plugin_does_not_run(client, admin):
    client.get(lifecycle_plugin.REFUSED_PATH, status=404)
    switch(client, admin, "lifecycle", "activate")
    client.get(lifecycle_plugin.REFUSED_PATH, status=403)
    switch(client, admin, "lifecycle", "deactivate")
    lifecycle_plugin.CALLS.clear()
    client.get(lifecycle_plugin.REFUSED_PATH, status=404)
    assert calls("before_request") == []


class _Requests:
    """A plugin implementing the request hook, for ``HookRunner.running``."""

    @hookimpl
    def before_request(self, req_info):
        pass


def _runner(plugins, current):
    """A HookRunner over ``plugins`` whose plugin state is ``current[0]`` (``{name: active}``)."""
    manager = PluginManager("sonicpy")
    manager.add_hookspecs(hookspecs)
    for name, plugin in plugins.items():
        manager.register(plugin, name=name)
    reads = []

    def state():
        reads.append(1)
        return current[0]

    return HookRunner(manager, lambda name: current[0].get(name, False), state), reads


def test_running_reads_no_state_when_no_plugin_implements_the_hook():
    runner, reads = _runner({}, [{}])
    assert runner.running("before_request") is False
    assert reads == []  # nothing read: the request start costs a kept lookup only


def test_running_is_worked_out_again_only_for_a_new_state():
    current = [{"requests": False}]
    runner, _reads = _runner({"requests": _Requests()}, current)
    assert runner.running("before_request") is False
    current[0]["requests"] = True  # the same state object: the kept answer stands...
    assert runner.running("before_request") is False
    current[0] = {"requests": True}  # ...until the state is a new one, as after an activation
    assert runner.running("before_request") is True
    current[0] = {"requests": False}
    assert runner.running("before_request") is False


# -- on_request_error ------------------------------------------------------------------------


def test_on_request_error_hears_of_an_unhandled_error_after_the_response(client, admin, caplog):
    switch(client, admin, "lifecycle", "activate")
    with caplog.at_level(logging.ERROR, logger="sonicpy.plugins"):
        response = client.get("/plugins/lifecycle/boom", status=500)
    # The hook raised as well: logged, and the response is the app's own.
    assert response.json["error"] == "Internal Server Error"
    assert response.json["details"]["request_id"] == response.headers["X-Request-ID"]
    assert calls("on_request_error") == [("/plugins/lifecycle/boom", 500, "RuntimeError")]
    assert "on_request_error failed" in caplog.text


def test_on_request_error_for_a_5xx_answered_on_purpose_has_no_error(client, admin):
    switch(client, admin, "lifecycle", "activate")
    client.get("/plugins/lifecycle/unavailable", status=503)
    client.get("/no/such/route", status=404)
    client.get(lifecycle_plugin.REFUSED_PATH, status=403)
    assert calls("on_request_error") == [("/plugins/lifecycle/unavailable", 503, None)]


# -- after_auth_logout -----------------------------------------------------------------------


def test_after_auth_logout_hears_of_a_session_ended(client, admin):
    switch(client, admin, "lifecycle", "activate")
    user = create_user("editor")
    client.post("/auth/logout", headers=bearer(token_for(user)), status=200)
    client.post("/auth/logout", status=200)  # nobody signed in: nothing ended, nothing heard
    assert calls("after_auth_logout") == [user.id]


def test_after_auth_logout_from_the_admin(env, client, admin):
    switch(client, admin, "lifecycle", "activate")
    browser = browser_for(env, plugins=(LIFECYCLE, SAMPLE))
    user = create_user("editor", password_hash=hashed())
    assert sign_in(browser, user).status_int == 303
    form = browser.get("/admin/logout").forms[0]
    assert form.submit().location.endswith("/admin/login?signed_out=1")
    assert calls("after_auth_logout") == [user.id]


# -- activation ------------------------------------------------------------------------------


def test_a_plugin_hears_of_its_own_activation_and_deactivation_once(client, admin):
    switch(client, admin, "lifecycle", "activate")
    switch(client, admin, "lifecycle", "activate")  # already active: nothing happens to it
    switch(client, admin, "lifecycle", "deactivate")  # heard although it is inactive now
    switch(client, admin, "lifecycle", "deactivate")
    assert [(n, a) for n, a in lifecycle_plugin.CALLS if n.endswith("activate")] == [
        ("on_plugin_activate", "lifecycle"), ("on_plugin_deactivate", "lifecycle")]


def test_active_plugins_hear_of_other_plugins_changes_inactive_ones_do_not(client, admin):
    switch(client, admin, "sample", "activate")
    switch(client, admin, "lifecycle", "activate")
    switch(client, admin, "sample", "deactivate")
    switch(client, admin, "lifecycle", "deactivate")
    switch(client, admin, "sample", "activate")
    assert calls("on_plugin_deactivate") == ["sample", "lifecycle"]
    assert calls("on_plugin_activate") == ["lifecycle"]


# -- install and uninstall -------------------------------------------------------------------


def test_a_plugin_is_installed_once_when_first_loaded(env, client, admin):
    client.get("/admin/api/plugins", headers=admin, status=200)
    # Its own install, heard although inactive; not the sample plugin's, heard by active plugins only.
    assert calls("on_plugin_install") == ["lifecycle"]
    other = client_for(env, plugins=(LIFECYCLE, SAMPLE))  # another worker: the rows exist
    other.get("/admin/api/plugins", headers=admin, status=200)
    assert calls("on_plugin_install") == ["lifecycle"]


@pytest.mark.parametrize("name, status, message", [
    ("core-auth", 409, "The plugin core-auth is a core plugin and cannot be uninstalled"),
    ("core-workflow", 409, "The plugin core-workflow is a core plugin and cannot be uninstalled"),
    ("nope", 404, "Plugin not found"),
])
def test_uninstall_refuses_core_and_unknown_plugins(client, admin, name, status, message):
    assert switch(client, admin, name, "uninstall", status=status).json["error"] == message
    assert (Plugin.get_or_none(Plugin.name == name) is None) == (status == 404)


def test_uninstall_refuses_an_active_plugin(client, admin):
    switch(client, admin, "lifecycle", "activate")
    body = switch(client, admin, "lifecycle", "uninstall", status=409).json
    assert body["error"] == "Deactivate the plugin lifecycle before uninstalling it"
    assert Plugin.get(Plugin.name == "lifecycle").status == "active"
    assert calls("on_plugin_uninstall") == []


def test_uninstall_is_for_admins_only(client):
    client.post("/admin/api/plugins/sample/uninstall", status=401)
    client.post("/admin/api/plugins/sample/uninstall", headers=bearer(token_for(create_user("editor"))), status=403)
    assert Plugin.get_or_none(Plugin.name == "sample") is not None


def test_uninstalling_a_loaded_plugin_starts_it_over(client, admin):
    client.patch_json("/admin/api/plugins/sample", {"settings": {"greeting": "hi"}}, headers=admin, status=200)
    switch(client, admin, "sample", "activate")
    switch(client, admin, "sample", "deactivate")
    switch(client, admin, "lifecycle", "activate")
    lifecycle_plugin.CALLS.clear()
    data = switch(client, admin, "sample", "uninstall").json["data"]
    assert data["name"] == "sample"
    fresh = data["reinstalled"]
    assert fresh["status"] == "inactive" and fresh["settings"] == {"greeting": "hello", "shout": False}
    assert fresh["activated_at"] is None
    assert {hook["hook_name"] for hook in fresh["hooks"]} >= {"before_content_create", "register_routes"}
    assert [route["path"] for route in fresh["routes"]] == ["/plugins/sample/hello"]
    assert PluginActivity.select().where(PluginActivity.plugin == "sample").count() == 0
    assert [(n, a) for n, a in lifecycle_plugin.CALLS if n.startswith("on_plugin_")] == [
        ("on_plugin_uninstall", "sample"), ("on_plugin_install", "sample")]
    client.get("/plugins/sample/hello", status=404)


def test_uninstalling_a_plugin_without_loaded_code_deletes_it_for_good(env, client, admin):
    switch(client, admin, "lifecycle", "activate")
    switch(client, admin, "lifecycle", "deactivate")
    assert PluginHook.select().where(PluginHook.plugin == "lifecycle").count()
    without = client_for(env, plugins=(SAMPLE,))  # the lifecycle plugin's code is gone
    assert without.get("/admin/api/plugins/lifecycle", headers=admin).json["data"]["loaded"] is False
    body = switch(without, admin, "lifecycle", "uninstall").json
    assert body == {"data": {"name": "lifecycle", "reinstalled": None}}
    assert Plugin.get_or_none(Plugin.name == "lifecycle") is None
    for model in (PluginHook, PluginRoute, PluginActivity):
        assert model.select().where(model.plugin == "lifecycle").count() == 0
    without.get("/admin/api/plugins/lifecycle", headers=admin, status=404)
    assert Plugin.get(Plugin.name == "sample").status == "inactive"  # others untouched


def test_the_admin_uninstalls_with_its_button(env, client, admin):
    browser = browser_for(env, plugins=(LIFECYCLE, SAMPLE))
    assert sign_in(browser, create_user("admin", password_hash=hashed())).status_int == 303
    page = browser.get("/admin/plugins")
    actions = {form.action for form in page.forms.values()}
    assert "/admin/plugins/faq-plugin/uninstall" in actions
    assert "/admin/plugins/core-auth/uninstall" not in actions  # core
    assert "/admin/plugins/request-logs/uninstall" not in actions  # core, and active
    button = next(f for f in page.forms.values() if f.action == "/admin/plugins/faq-plugin/uninstall")
    assert button.submit().location.endswith("/admin/plugins?done=uninstalled")
    assert Plugin.get_or_none(Plugin.name == "faq-plugin") is None
    assert "Plugin uninstalled." in browser.get("/admin/plugins?done=uninstalled").text
    browser.post("/admin/plugins/sample/uninstall", status=403)  # the session cookie without its token


def test_an_api_client_uninstalls_at_sonicjs_path(client, admin):
    body = client.post("/admin/plugins/sample/uninstall", headers=admin, status=200).json
    assert body["success"] is True and body["data"]["name"] == "sample" and body["data"]["status"] == "inactive"
    client.post("/admin/plugins/core-auth/uninstall", headers=admin, status=409)
