"""Plugins: the registry API, activation seen by every worker, hooks and their isolation.

The sample plugin (``tests/plugins/sample_plugin.py``) is named in the test project's
bindings.toml (``[vars] PLUGINS``); two apps built over one env play two workers sharing
the database and CACHE_KV.
"""

import logging

import pytest

from app.app import build_services, create_app
from app.db.models import Content, Plugin, PluginActivity, PluginHook, PluginRoute, bind_models, database
from app.runtime.entry import Worker
from app.services.plugins import HookVeto, PluginInfo, SettingError, hookimpl
from app.services.plugins.hooks import HookRunner
from app.services.plugins.registry import load_manager
from app.settings import settings_from_env
from tests.fixtures.app import TEST_JWT_SECRET, env_with_copy, make_env
from tests.fixtures.cache import past_generation_bound
from tests.fixtures.conformance import ConformingTestApp
from tests.fixtures.content import create_collection
from tests.fixtures.users import bearer, create_user, token_for
from tests.plugins import sample_plugin

SAMPLE = "tests.plugins.sample_plugin"
HELLO = "/plugins/sample/hello"


@pytest.fixture
def plugin_env(tmp_path, migrated_template):
    """An env whose bindings.toml names the sample plugin."""
    env = env_with_copy(tmp_path / "app", migrated_template, vars={"PLUGINS": SAMPLE})
    bind_models(env.DB.db)
    sample_plugin.CALLS.clear()
    yield env
    env.DB.db.close()


def worker_client(env):
    """A WebTest client over an app of its own (one worker), settings read from bindings.toml."""
    settings = settings_from_env(env, jwt_secret=TEST_JWT_SECRET, cookie_secure=False)
    return ConformingTestApp(Worker(lambda: env, lambda e: create_app(e, settings)))


@pytest.fixture
def workers(plugin_env):
    return worker_client(plugin_env), worker_client(plugin_env)


@pytest.fixture
def admin(plugin_env):
    return bearer(token_for(create_user("admin")))


def activate(client, admin, name="sample"):
    return client.post(f"/admin/api/plugins/{name}/activate", headers=admin, status=200).json["data"]


# -- the registry API ------------------------------------------------------------------------


def test_list_shows_loaded_and_stored_plugins(workers, admin):
    body = workers[0].get("/admin/api/plugins", headers=admin, status=200).json
    by_name = {plugin["name"]: plugin for plugin in body["data"]}
    assert by_name["sample"]["loaded"] is True and by_name["sample"]["status"] == "inactive"
    assert by_name["sample"]["version"] == "1.2.3" and by_name["sample"]["settings"] == {"greeting": "hello", "shout": False}
    assert by_name["core-auth"]["is_core"] is True and by_name["core-auth"]["loaded"] is True
    # SonicJS's core-workflow row stands for the app's own workflow: loaded, and required.
    assert by_name["core-workflow"]["is_core"] is True and by_name["core-workflow"]["loaded"] is True
    assert by_name["core-workflow"]["can_deactivate"] is False
    # SonicJS's FAQ row has no code here: listed, not loaded.
    assert by_name["faq-plugin"]["loaded"] is False
    assert body["meta"]["total"] == len(body["data"]) and body["meta"]["page"] == 1


@pytest.mark.parametrize("method, path", [
    ("GET", "/admin/api/plugins"), ("GET", "/admin/api/plugins/sample"), ("PATCH", "/admin/api/plugins/sample"),
    ("POST", "/admin/api/plugins/sample/activate"), ("POST", "/admin/api/plugins/sample/deactivate"),
    ("POST", "/admin/plugins/sample/settings"),
])
def test_plugin_routes_are_for_admins_only(workers, plugin_env, method, path):
    client = workers[0]
    editor = bearer(token_for(create_user("editor")))
    kwargs = {"body": b"{}", "content_type": "application/json"} if method != "GET" else {}
    assert client.request(path, method=method, status=401, **kwargs).json["error"]
    assert client.request(path, method=method, headers=editor, status=403, **kwargs).json["error"]


def test_unknown_plugin_is_404(workers, admin):
    assert workers[0].get("/admin/api/plugins/nope", headers=admin, status=404).json["error"] == "Plugin not found"
    workers[0].post("/admin/api/plugins/nope/activate", headers=admin, status=404)


def test_activation_is_recorded(workers, admin):
    data = activate(workers[0], admin)
    assert data["status"] == "active" and data["activated_at"]
    row = Plugin.get(Plugin.name == "sample")
    assert row.status == "active"
    assert [a.action for a in PluginActivity.select().where(PluginActivity.plugin == row.id)] == ["activate"]


# -- routes appear and disappear in every worker --------------------------------------------


def test_plugin_route_follows_activation_in_every_worker(workers, admin):
    first, second = workers
    for client in workers:
        client.get(HELLO, status=404)
    activate(first, admin)
    assert first.get(HELLO, status=200).json == {"greeting": "hello"}
    past_generation_bound()
    assert second.get(HELLO, status=200).json == {"greeting": "hello"}
    second.post("/admin/api/plugins/sample/deactivate", headers=admin, status=200)
    past_generation_bound()
    for client in workers:
        client.get(HELLO, status=404)


def test_settings_change_reaches_every_worker(workers, admin):
    first, second = workers
    activate(first, admin)
    assert second.get(HELLO).json == {"greeting": "hello"}  # cached in the second worker
    patched = first.patch_json("/admin/api/plugins/sample", {"settings": {"greeting": "bonjour"}}, headers=admin, status=200)
    assert patched.json["data"]["settings"] == {"greeting": "bonjour", "shout": False}
    past_generation_bound()
    assert second.get(HELLO).json == {"greeting": "bonjour"}
    second.post_json("/admin/plugins/sample/settings", {"shout": True}, headers=admin, status=200)
    past_generation_bound()
    assert first.get(HELLO).json == {"greeting": "BONJOUR"}


def test_plugin_state_is_decoded_once_per_cache_entry(plugin_env, admin):
    services = build_services(plugin_env, settings_from_env(plugin_env, jwt_secret=TEST_JWT_SECRET))
    registry = services.plugins
    first = registry.states()
    # Every hook call asks: while the entry stands they all share one decoded answer.
    assert registry.states() is first
    assert registry.is_active("sample") is False
    registry.set_active("sample", True)
    assert registry.states() is not first
    assert registry.is_active("sample") is True


def test_a_request_reads_the_plugin_state_once(plugin_env, admin):
    settings = settings_from_env(plugin_env, jwt_secret=TEST_JWT_SECRET, cookie_secure=False)
    services = build_services(plugin_env, settings)
    client = ConformingTestApp(Worker(lambda: plugin_env, lambda e: create_app(e, settings, services)))
    activate(client, admin)
    create_collection("pages")
    reads = []
    read = services.plugins._read_states
    services.plugins._read_states = lambda: reads.append(1) or read()
    # before_content_create, after_content_create and after_request: one read.
    post_content(client, admin, "fine")
    assert len(reads) == 1
    assert [call[0] for call in sample_plugin.CALLS] == ["after_content_create"]
    # The memo ends with the request: the next one (a plugin route: its owner checked) reads again.
    client.get(HELLO, status=200)
    assert len(reads) == 2


@pytest.mark.parametrize("settings, field", [({"greeting": 5}, "settings.greeting"), ({"volume": 11}, "settings.volume")])
def test_settings_are_validated_against_the_plugin_schema(workers, admin, settings, field):
    response = workers[0].patch_json("/admin/api/plugins/sample", {"settings": settings}, headers=admin, status=422)
    assert response.json["details"][0]["field"] == field
    assert Plugin.get(Plugin.name == "sample").settings == {"greeting": "hello", "shout": False}


@pytest.mark.parametrize(("plugin", "settings", "field", "message"), [
    ("core-media", {"max_upload_bytes": 0}, "settings.max_upload_bytes", "max_upload_bytes must be at least 1"),
    ("core-media", {"allowed_types": ["foo/bar"]}, "settings.allowed_types", "'foo/bar' is not a type"),
    ("core-cache", {"ttl": {"content": 1}}, "settings.ttl.content", "ttl.content must be between 60"),
    ("core-cache", {"ttl": {"nope": 600}}, "settings.ttl.nope", "unknown cache namespace 'nope'"),
    ("core-cache", {"defaultTTL": 5}, "settings.defaultTTL", "defaultTTL must be between 60"),
    ("ai-search", {"results_limit": 5}, "settings.results_limit", "results_limit must be between 10 and 100"),
    ("request-logs", {"sample_rate": 2}, "settings.sample_rate", "sample_rate must be between 0 and 1"),
    ("email", {"from_address": "nobody"}, "settings.from_address", "from_address must be an email address"),
])
def test_a_plugin_check_refusing_a_value_names_its_key(workers, admin, plugin, settings, field, message):
    """A value the plugin's own check refuses is named as a wrong type is: ``settings.<key>``."""
    path = f"/admin/api/plugins/{plugin}"
    before = workers[0].get(path, headers=admin, status=200).json["data"]["settings"]
    response = workers[0].patch_json(path, {"settings": settings}, headers=admin, status=422)
    [problem] = response.json["details"]
    assert problem["field"] == field and message in problem["message"]
    assert Plugin.get(Plugin.name == plugin).settings == before


def test_a_plugin_check_names_its_key_with_setting_error_else_the_settings(workers, admin):
    """``SettingError(key, message)`` names the key; a plain ValueError, the settings as a whole."""
    def refuse_a_greeting(settings):
        if settings.greeting == "key":
            raise SettingError("greeting", "greeting may not be 'key'")
        if settings.greeting == "whole":
            raise ValueError("greeting and shout disagree")

    activate(workers[0], admin)
    sample_plugin.VALIDATING.append(refuse_a_greeting)
    try:
        keyed = workers[0].patch_json("/admin/api/plugins/sample", {"settings": {"greeting": "key"}},
                                      headers=admin, status=422)
        whole = workers[0].patch_json("/admin/api/plugins/sample", {"settings": {"greeting": "whole"}},
                                      headers=admin, status=422)
    finally:
        sample_plugin.VALIDATING.remove(refuse_a_greeting)
    assert keyed.json["details"] == [{"field": "settings.greeting", "message": "greeting may not be 'key'"}]
    assert whole.json["details"] == [{"field": "settings", "message": "greeting and shout disagree"}]


def test_settings_body_must_be_an_object(workers, admin):
    workers[0].patch_json("/admin/api/plugins/sample", {"settings": [1]}, headers=admin, status=422)
    workers[0].post_json("/admin/plugins/sample/settings", [1], headers=admin, status=422)


def test_json_schema_dict_settings(plugin_env):
    from app.services.plugins.settings_schema import InvalidSettings, validate_settings

    schema = {"type": "object", "properties": {"n": {"type": "integer", "minimum": 1}, "mode": {"enum": ["a", "b"]}},
              "required": ["n"]}
    assert validate_settings(schema, {"n": 2, "mode": "a"}) == {"n": 2, "mode": "a"}
    with pytest.raises(InvalidSettings) as caught:
        validate_settings(schema, {"n": True, "mode": "c", "x": 1})
    assert {d["field"] for d in caught.value.details} == {"settings.n", "settings.mode", "settings.x"}
    with pytest.raises(InvalidSettings):
        validate_settings(schema, {})


def test_dict_settings_enums_take_a_boolean_only_as_a_boolean(plugin_env):
    """``true`` is not ``1`` (Python compares them equal), and the message names JSON's values."""
    from app.services.plugins.settings_schema import InvalidSettings, validate_settings

    schema = {"type": "object", "properties": {"level": {"enum": [1, 2, None]}, "on": {"enum": [True, "auto"]}}}
    assert validate_settings(schema, {"level": 1, "on": True}) == {"level": 1, "on": True}
    with pytest.raises(InvalidSettings) as caught:
        validate_settings(schema, {"level": True, "on": 1})
    assert caught.value.details == [
        {"field": "settings.level", "message": "expected one of 1, 2, null"},
        {"field": "settings.on", "message": "expected one of true, auto"},
    ]


# -- hooks -----------------------------------------------------------------------------------


def post_content(client, headers, title, status=201):
    return client.post_json("/api/content", {"collectionId": "pages", "title": title}, headers=headers, status=status)


@pytest.fixture
def pages(plugin_env):
    return create_collection("pages")


def test_hooks_run_only_while_the_plugin_is_active(workers, admin, pages):
    client = workers[0]
    post_content(client, admin, "quiet")
    assert sample_plugin.CALLS == []
    activate(client, admin)
    response = post_content(client, admin, "heard")
    item_id = response.json["data"]["id"]
    assert [("after_content_create", item_id, response.headers["X-Request-ID"])] == sample_plugin.CALLS


def test_before_hook_vetoes_with_a_clean_4xx_and_writes_nothing(workers, admin, pages):
    activate(workers[0], admin)
    response = post_content(workers[0], admin, "vetoed", status=422)
    assert response.json == {"error": "The sample plugin refuses this title",
                             "details": [{"field": "title", "message": "is reserved"}]}
    assert Content.select().where(Content.title == "vetoed").count() == 0


def test_after_hook_that_raises_does_not_fail_the_write(workers, admin, pages, caplog):
    client = workers[0]
    activate(client, admin)
    item_id = post_content(client, admin, "fine").json["data"]["id"]
    with caplog.at_level(logging.ERROR, logger="sonicpy.plugins"):
        response = client.put_json(f"/api/content/{item_id}", {"title": "boom"}, headers=admin, status=200)
    assert response.json["data"]["title"] == "boom"
    assert Content.get_by_id(item_id).title == "boom"
    assert ("after_content_update", item_id, "boom") in sample_plugin.CALLS
    failure = [r for r in caplog.records if "after_content_update failed" in r.getMessage()]
    assert failure and response.headers["X-Request-ID"] in failure[0].getMessage()


@pytest.fixture(params=["sqlite", "postgres"])
def plugin_env_on(request, tmp_path, migrated_template):
    """``plugin_env`` on SQLite, and on a PostgreSQL database of its own."""
    if request.param == "sqlite":
        env = env_with_copy(tmp_path / "app", migrated_template, vars={"PLUGINS": SAMPLE})
    else:
        env = make_env(tmp_path / "app", database_url=request.getfixturevalue("migrated_postgres_url"),
                       vars={"PLUGINS": SAMPLE})
    bind_models(env.DB.db)
    sample_plugin.CALLS.clear()
    yield env
    env.DB.db.close()


def test_a_before_hook_whose_sql_fails_is_logged_and_the_write_goes_on(plugin_env_on, caplog):
    """On PostgreSQL a failed statement aborts the transaction: the hook runs in a savepoint."""
    client = worker_client(plugin_env_on)
    admin = bearer(token_for(create_user("admin")))
    create_collection("pages")
    activate(client, admin)
    item_id = post_content(client, admin, "fine").json["data"]["id"]
    with caplog.at_level(logging.ERROR, logger="sonicpy.plugins"):
        response = client.put_json(f"/api/content/{item_id}", {"title": "broken sql"}, headers=admin, status=200)
    assert response.json["data"]["title"] == "broken sql" and Content.get_by_id(item_id).title == "broken sql"
    assert any("before_content_update failed" in r.getMessage() for r in caplog.records)


def test_publish_hook_fires_for_a_workflow_move(workers, admin, pages):
    client = workers[0]
    activate(client, admin)
    item_id = post_content(client, admin, "to publish").json["data"]["id"]
    client.post_json(f"/api/content/{item_id}/workflow", {"action": "publish"}, headers=admin, status=200)
    assert ("after_content_publish", item_id, None) in sample_plugin.CALLS


# -- the hook runner -------------------------------------------------------------------------


class Recorder:
    plugin_info = PluginInfo(name="recorder")

    def __init__(self):
        self.seen = []

    @hookimpl
    def after_content_delete(self, content):
        self.seen.append(content)

    @hookimpl
    def before_content_delete(self, content):
        if content == "veto":
            raise HookVeto(409, "no")
        if content == "crash":
            raise RuntimeError("crash")


def runner_with(plugin, active=True):
    manager, _ = load_manager([plugin])
    return HookRunner(manager, lambda name: active)


def test_after_hooks_wait_for_the_commit_and_skip_a_rollback(plugin_env):
    recorder = Recorder()
    runner = runner_with(recorder)
    with database.atomic():
        with database.atomic():
            runner.after("content_delete", content="kept")
        assert recorder.seen == []
    assert recorder.seen == ["kept"]
    with pytest.raises(KeyError), database.atomic():
        runner.after("content_delete", content="undone")
        raise KeyError
    assert recorder.seen == ["kept"]


def test_before_hooks_veto_or_are_ignored(plugin_env):
    runner = runner_with(Recorder())
    with pytest.raises(HookVeto):
        runner.before("content_delete", content="veto")
    runner.before("content_delete", content="crash")  # logged, not raised


def test_inactive_plugins_hooks_do_not_run(plugin_env):
    recorder = Recorder()
    runner_with(recorder, active=False).after("content_delete", content="x")
    assert recorder.seen == []


def test_a_plugin_registered_later_gets_its_hooks_called(plugin_env):
    early, late = Recorder(), Recorder()
    runner = runner_with(early)
    runner.after("content_delete", content="first")
    assert len(runner.implementations("after_content_delete")) == 1  # kept per hook name
    runner.manager.register(late, name="late")
    runner.after("content_delete", content="second")
    assert (early.seen, late.seen) == (["first", "second"], ["second"])
    runner.manager.unregister(name="late")
    runner.after("content_delete", content="third")
    assert late.seen == ["second"]


def test_a_hook_nobody_implements_is_a_no_op_and_an_unknown_one_an_error(plugin_env):
    runner = runner_with(Recorder())
    runner.after("content_publish", content="x")
    with pytest.raises(AttributeError):
        runner.after("no_such_hook", content="x")


def test_hook_veto_takes_4xx_only():
    with pytest.raises(ValueError):
        HookVeto(500, "no")


# -- plugin_hooks and plugin_routes ---------------------------------------------------------


def check_registrations(env):
    """The sample plugin's hooks and route reach their tables and the API, and follow its status."""
    admin = bearer(token_for(create_user("admin", email="registrations@example.com")))
    first = worker_client(env)
    plugin = first.get("/admin/api/plugins/sample", headers=admin, status=200).json["data"]
    hooks = {hook["hook_name"]: hook for hook in plugin["hooks"]}
    assert set(hooks) == {"before_content_create", "before_content_update", "before_content_delete",
                          "after_content_create", "after_content_update", "after_content_delete",
                          "after_content_publish", "after_media_delete", "register_routes"}
    assert hooks["after_content_create"] == {"hook_name": "after_content_create", "priority": 10, "is_active": False,
                                             "handler_name": "tests.plugins.sample_plugin.after_content_create"}
    assert plugin["routes"] == [{"path": HELLO, "method": "GET", "access": "public", "is_active": False,
                                 "handler_name": "tests.plugins.sample_plugin.HelloResource.on_get"}]
    stale = PluginHook.create(plugin="sample", hook_name="after_auth_login", handler_name="gone.handler")
    counts = (PluginHook.select().count(), PluginRoute.select().count())
    second = worker_client(env)  # another worker: its first read removes what the code no longer has
    activate(second, admin)
    assert PluginHook.get_or_none(PluginHook.id == stale.id) is None
    assert (PluginHook.select().count(), PluginRoute.select().count()) == (counts[0] - 1, counts[1])
    plugin = first.get("/admin/api/plugins/sample", headers=admin).json["data"]
    assert all(hook["is_active"] for hook in plugin["hooks"]) and plugin["routes"][0]["is_active"] is True
    webhooks = first.get("/admin/api/plugins/webhooks", headers=admin).json["data"]
    assert {(r["path"], r["method"], r["access"]) for r in webhooks["routes"]} >= {
        ("/admin/api/webhooks", "GET", "plugins.manage"), ("/admin/api/webhooks/{webhook_id}", "DELETE", "plugins.manage")}
    first.post("/admin/api/plugins/sample/deactivate", headers=admin, status=200)
    assert not PluginHook.select().where(PluginHook.plugin == "sample", PluginHook.is_active == 1).exists()
    assert not PluginRoute.select().where(PluginRoute.plugin == "sample", PluginRoute.is_active == 1).exists()
    core = first.get("/admin/api/plugins/core-workflow", headers=admin).json["data"]
    assert (core["loaded"], core["hooks"], core["routes"]) == (True, [], [])
    faq = first.get("/admin/api/plugins/faq-plugin", headers=admin).json["data"]
    assert (faq["loaded"], faq["hooks"], faq["routes"]) == (False, [], [])


def test_hooks_and_routes_are_recorded_and_follow_activation(plugin_env):
    check_registrations(plugin_env)


def test_hooks_and_routes_are_recorded_on_postgres(tmp_path, migrated_postgres_url):
    env = make_env(tmp_path / "pg", database_url=migrated_postgres_url, vars={"PLUGINS": SAMPLE})
    bind_models(env.DB.db)
    check_registrations(env)
    env.DB.db.close()


# -- PostgreSQL ------------------------------------------------------------------------------


def test_registry_and_hooks_on_postgres(tmp_path, migrated_postgres_url):
    env = make_env(tmp_path / "pg", database_url=migrated_postgres_url, vars={"PLUGINS": SAMPLE})
    bind_models(env.DB.db)
    sample_plugin.CALLS.clear()
    first, second = worker_client(env), worker_client(env)
    admin = bearer(token_for(create_user("admin")))
    create_collection("pages")
    assert {p["name"] for p in first.get("/admin/api/plugins", headers=admin).json["data"]} >= {"sample", "core-auth"}
    second.get("/admin/api/plugins", headers=admin)  # the second worker's registry inserts nothing twice
    activate(first, admin)
    past_generation_bound()
    assert second.get(HELLO, status=200).json == {"greeting": "hello"}
    post_content(second, admin, "vetoed", status=422)
    item_id = post_content(second, admin, "fine").json["data"]["id"]
    second.put_json(f"/api/content/{item_id}", {"title": "boom"}, headers=admin, status=200)
    assert [call[0] for call in sample_plugin.CALLS] == ["after_content_create", "after_content_update"]
    first.patch_json("/admin/api/plugins/sample", {"settings": {"greeting": "hej"}}, headers=admin, status=200)
    past_generation_bound()
    assert second.get(HELLO).json == {"greeting": "hej"}
    second.post("/admin/api/plugins/sample/deactivate", headers=admin, status=200)
    past_generation_bound()
    first.get(HELLO, status=404)
    env.DB.db.close()
