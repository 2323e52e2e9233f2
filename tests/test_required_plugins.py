"""Required plugins are always active: a database holding one inactive (deactivated before
it became required) gets it active again when the app reads its plugins, and deactivating
one is refused with a 409 saying it is required. A required plugin without settings keeps
whatever a database stored for it without that blocking a save."""

import pytest

from app.db.models import Plugin, PluginActivity
from tests.fixtures.admin import browser_for, csrf_token, sign_in
from tests.fixtures.app import client_for, record_statements, run_env_cli
from tests.fixtures.auth import hashed
from tests.fixtures.cache import past_generation_bound
from tests.fixtures.users import create_user

pytestmark = pytest.mark.backends

REQUIRED = ("core-auth", "core-media", "core-workflow", "email")


@pytest.fixture
def admin(make_user):
    return make_user("admin")[1]


def stored_inactive(env, *names):
    """Rows of ``names`` as a database deactivated them before they became required (the
    rows made by a first app, then switched off behind its back)."""
    client_for(env).get("/health")  # any app run inserts the loaded plugins' rows
    Plugin.update(status="inactive", activated_at=None).where(Plugin.name.in_(names)).execute()


@pytest.mark.parametrize("name", REQUIRED)
def test_a_required_plugin_stored_inactive_is_active_again(env, admin, name):
    stored_inactive(env, name, "request-logs")
    client = client_for(env)  # a new app: its registry reads the rows afresh
    listed = {p["name"]: p for p in client.get("/admin/api/plugins", headers=admin).json["data"]}
    assert (listed[name]["status"], listed[name]["can_deactivate"]) == ("active", False)
    assert listed["request-logs"]["status"] == "inactive", "a plugin not required stays as it was stored"
    row = Plugin.get(Plugin.name == name)
    assert row.status == "active" and row.activated_at is not None
    (activity,) = PluginActivity.select().where(PluginActivity.plugin == row.id, PluginActivity.action == "activate")
    assert activity.details == {"reason": "required"} and activity.user_id is None
    body = client.post(f"/admin/api/plugins/{name}/deactivate", headers=admin, status=409).json
    assert body["error"] == f"The plugin {name} is required and cannot be deactivated"
    assert Plugin.get(Plugin.name == name).status == "active"


def test_the_reactivation_is_done_once(env, admin):
    stored_inactive(env, "core-workflow")
    for _ in range(2):
        client_for(env).get("/admin/api/plugins", headers=admin)
    row = Plugin.get(Plugin.name == "core-workflow")
    assert PluginActivity.select().where(PluginActivity.plugin == row.id).count() == 1


def statuses(client, admin):
    return {p["name"]: p["status"] for p in client.get("/admin/api/plugins", headers=admin).json["data"]}


def test_a_required_plugin_switched_off_behind_a_running_app_is_active_again(env, admin):
    """`d1 execute` writes around the plugins service: the running app, which read its rows
    already, sees the change when the cache generation moves and makes the plugin active."""
    client = client_for(env)
    assert statuses(client, admin)["core-workflow"] == "active"
    result = run_env_cli(env, "d1", "execute", "DB", "--command",
                         "UPDATE plugins SET status = 'inactive' WHERE name IN ('core-workflow', 'core-cache')")
    assert result.exit_code == 0, result.output
    past_generation_bound()
    listed = statuses(client, admin)
    assert listed["core-workflow"] == "active"
    assert listed["core-cache"] == "inactive", "a plugin not required stays as it was written"
    row = Plugin.get(Plugin.name == "core-workflow")
    assert row.status == "active"
    (activity,) = PluginActivity.select().where(PluginActivity.plugin == row.id, PluginActivity.action == "activate")
    assert activity.details == {"reason": "required"} and activity.user_id is None


def plugin_writes(statements):
    """The statements of ``statements`` writing a plugin table."""
    return [sql for sql, _ in statements
            if sql.lstrip().upper().startswith(("INSERT", "UPDATE", "DELETE")) and '"plugin' in sql]


def test_a_required_plugin_whose_row_cannot_be_made_active_costs_no_write_per_request(env, admin, monkeypatch):
    """A row renamed behind the app (`d1 execute`) leaves a required plugin without a row of
    its name, and one cannot be inserted for it (its id is taken): the registry tries once,
    not on every request; once the row is put right, it is made active on the next read."""
    client = client_for(env)
    client.get("/api/collections", status=200)
    result = run_env_cli(env, "d1", "execute", "DB", "--command", "UPDATE plugins SET name = 'core-workflow-old', "
                         "status = 'inactive' WHERE name = 'core-workflow'")
    assert result.exit_code == 0, result.output
    past_generation_bound()
    client.get("/api/collections", status=200)  # the state read anew: the one try
    statements = record_statements(env.DB.db, monkeypatch)
    for _ in range(3):
        client.get("/api/collections", status=200)
    assert plugin_writes(statements) == []
    result = run_env_cli(env, "d1", "execute", "DB", "--command",
                         "UPDATE plugins SET name = 'core-workflow' WHERE name = 'core-workflow-old'")
    assert result.exit_code == 0, result.output
    past_generation_bound()
    assert statuses(client, admin)["core-workflow"] == "active"
    assert Plugin.get(Plugin.name == "core-workflow").status == "active"


def test_the_admin_refuses_to_deactivate_a_required_plugin_saying_why(env):
    stored_inactive(env, "core-workflow")
    browser = browser_for(env)
    assert sign_in(browser, create_user("admin", password_hash=hashed())).status_int == 303
    page = browser.get("/admin/plugins/core-workflow")
    assert page.html.select_one("#plugin-required"), "shown active and required, with no switch"
    assert page.html.select_one("form[action='/admin/plugins/core-workflow/deactivate']") is None
    refused = browser.post("/admin/plugins/core-workflow/deactivate", {"csrf_token": csrf_token(browser)},
                           status=409)
    assert "The plugin core-workflow is required and cannot be deactivated" in refused.text


def test_stored_settings_of_a_plugin_without_settings_do_not_block_a_save(env, admin):
    client = client_for(env)
    client.get("/admin/api/plugins", headers=admin)
    legacy = {"enableApprovalChains": True, "defaultWorkflow": "simple"}  # SonicJS's, say
    Plugin.update(settings=legacy).where(Plugin.name == "core-workflow").execute()
    client = client_for(env)
    saved = client.patch_json("/admin/api/plugins/core-workflow", {"settings": {}}, headers=admin, status=200).json
    assert saved["data"]["settings"] == legacy
    # It still takes no setting of its own.
    refused = client.patch_json("/admin/api/plugins/core-workflow", {"settings": {"anything": 1}},
                                headers=admin, status=422).json
    assert refused["details"][0]["field"].startswith("settings")
    assert Plugin.get(Plugin.name == "core-workflow").settings == legacy


def test_stored_settings_sent_back_unchanged_are_no_change(env, admin):
    """A settings form sends the whole object it read: the stored keys in it change nothing."""
    client = client_for(env)
    client.get("/admin/api/plugins", headers=admin)
    legacy = {"enableApprovalChains": True, "defaultWorkflow": "simple"}
    Plugin.update(settings=legacy).where(Plugin.name == "core-workflow").execute()
    client = client_for(env)
    read = client.get("/admin/api/plugins/core-workflow", headers=admin).json["data"]["settings"]
    saved = client.patch_json("/admin/api/plugins/core-workflow", {"settings": read}, headers=admin, status=200)
    assert saved.json["data"]["settings"] == legacy
    # A stored key sent with another value is a change, and this plugin takes none: another
    # JSON type too, though Python's == takes 1 for true.
    for changed in ({**read, "defaultWorkflow": "advanced"}, {**read, "enableApprovalChains": 1}):
        client.patch_json("/admin/api/plugins/core-workflow", {"settings": changed}, headers=admin, status=422)
    assert Plugin.get(Plugin.name == "core-workflow").settings == legacy
