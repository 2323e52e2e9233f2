"""The admin's permission matrix, plugins and logs pages, per role, on each backend."""

import json

import pytest
import webtest

from app.admin import plugins as admin_plugins
from app.db.models import Permission, Plugin, RolePermission, SystemLog, bind_models
from app.services import role_permissions
from app.services.cache import GENERATION_TTL_SECONDS, ThreeTierCache
from app.services.identity import RolePermissions
from app.services.logs import emails_of
from tests.fixtures.admin import BROWSER, browser_for, csrf_token, sign_in
from tests.fixtures.auth import hashed
from tests.fixtures.users import bearer, create_user, token_for

pytestmark = pytest.mark.backends

JSON = {"Accept": "application/json"}


def granted(role):
    query = Permission.select(Permission.name).join(RolePermission).where(RolePermission.role == role)
    return {row.name for row in query}


def matrix_form(page):
    return page.forms["permissions-form"]


# ---------------------------------------------------------------- permissions


def test_editors_see_the_matrix_read_only(browser, signed_in_as):
    signed_in_as("editor")
    page = browser.get("/admin/permissions")
    boxes = page.html.select("#permissions-form input[type=checkbox]")
    assert boxes and all(box.has_attr("disabled") for box in boxes)
    assert page.html.select_one("#p-editor-logs-read").has_attr("checked")
    assert not page.html.select_one("#p-viewer-logs-read").has_attr("checked")
    assert not page.html.select("#save-permissions")
    browser.post("/admin/permissions", {"csrf_token": csrf_token(browser), "viewer:logs.read": "on"}, status=403)
    assert "logs.read" not in granted("viewer")


def test_authors_cannot_open_the_matrix(browser, signed_in_as):
    signed_in_as("author")
    assert "/admin/permissions" not in browser.get("/admin").text
    browser.get("/admin/permissions", status=403)


def test_admins_save_the_matrix_and_it_applies_at_once(browser, signed_in_as):
    signed_in_as("admin")
    viewer = create_user("viewer", password_hash=hashed())
    other = webtest.TestApp(browser.app, extra_environ=dict(BROWSER))  # the same app, another browser
    sign_in(other, viewer)
    other.get("/admin/logs", status=403)  # the viewer's permissions are cached now
    before = {role: granted(role) for role in ("admin", "editor", "author")}
    form = matrix_form(browser.get("/admin/permissions"))
    form["viewer:logs.read"] = True
    form["author:content.read"] = False
    response = form.submit()
    assert response.status_int == 303 and response.location.endswith("/admin/permissions?done=1")
    assert "logs.read" in granted("viewer")
    assert granted("author") == before["author"] - {"content.read"}
    assert granted("admin") == before["admin"] and granted("editor") == before["editor"]
    assert other.get("/admin/logs").status_int == 200
    assert "Permissions saved." in response.follow().text


def test_the_admins_own_management_rights_are_locked(browser, signed_in_as):
    signed_in_as("admin")
    page = browser.get("/admin/permissions")
    for box in ("#p-admin-users-roles", "#p-admin-users-read"):
        assert page.html.select_one(box).has_attr("disabled") and page.html.select_one(box).has_attr("checked")
    assert not page.html.select_one("#p-editor-users-roles").has_attr("disabled")
    # A form without the locked boxes (disabled boxes are never posted) keeps them.
    form = matrix_form(page)
    form.submit()
    assert {"users.roles", "users.read"} <= granted("admin")


def test_the_service_refuses_a_matrix_that_drops_a_protected_grant(browser):
    before = {role: granted(role) for role in ("admin", "editor")}
    cache = RolePermissions()
    with pytest.raises(role_permissions.InvalidMatrix) as caught:
        role_permissions.replace({"admin": before["admin"] - {"users.roles"}, "editor": set()}, "admin", cache)
    assert {"field": "admin.users.roles", "message": "cannot be removed: it keeps the matrix manageable"} in (
        caught.value.details)
    assert granted("admin") == before["admin"] and granted("editor") == before["editor"]


def test_other_workers_follow_a_saved_matrix_within_the_generation_ttl(env):
    """Two workers' caches over one CACHE_KV: the worker that saves sees the new grants at
    once, the other once the generations it trusts expire, not after ROLE_CACHE_SECONDS."""
    bind_models(env.DB.db)
    now = [1000.0]
    mine, other = (RolePermissions(cache=ThreeTierCache(env.CACHE_KV, clock=lambda: now[0])) for _ in range(2))
    matrix = role_permissions.load()
    assert "logs.read" not in mine.of("viewer") and "logs.read" not in other.of("viewer")
    role_permissions.replace({**matrix, "viewer": matrix["viewer"] | {"logs.read"}}, "admin", other)
    assert "logs.read" in other.of("viewer")
    assert "logs.read" not in mine.of("viewer")  # its generations are still trusted
    now[0] += GENERATION_TTL_SECONDS
    assert "logs.read" in mine.of("viewer")
    assert mine.of("viewer") is mine.of("viewer")  # one set while the entry holds
    role_permissions.replace(matrix, "admin", mine)
    now[0] += GENERATION_TTL_SECONDS
    assert "logs.read" not in other.of("viewer") and other.of("viewer") == matrix["viewer"]


def test_unknown_permissions_are_refused_and_nothing_is_written(browser, signed_in_as):
    signed_in_as("admin")
    before = granted("viewer")
    form = {"csrf_token": csrf_token(browser), "viewer:logs.read": "on", "viewer:bogus.thing": "on"}
    response = browser.post("/admin/permissions", form, status=422)
    assert "viewer.bogus.thing: unknown permission" in response.text
    assert granted("viewer") == before


def test_the_matrix_form_needs_the_token(browser, signed_in_as):
    signed_in_as("admin")
    browser.post("/admin/permissions", {"viewer:logs.read": "on"}, status=403)
    assert "logs.read" not in granted("viewer")


# ---------------------------------------------------------------- plugins


def test_plugins_are_for_admins(browser, signed_in_as):
    signed_in_as("editor")
    assert "/admin/plugins" not in browser.get("/admin").text
    browser.get("/admin/plugins", status=403)
    browser.post("/admin/plugins/request-logs/deactivate", {"csrf_token": csrf_token(browser)}, status=403)


def test_deactivate_and_activate_through_the_registry(browser, signed_in_as):
    signed_in_as("admin")
    page = browser.get("/admin/plugins")
    assert "Request Logs" in page.text
    switch = next(f for f in page.forms.values() if f.action == "/admin/plugins/request-logs/deactivate")
    assert switch.submit().location.endswith("/admin/plugins?done=deactivated")
    assert Plugin.get(Plugin.name == "request-logs").status == "inactive"
    api = browser.get("/admin/api/plugins/request-logs", headers=JSON).json["data"]
    assert api["status"] == "inactive"
    page = browser.get("/admin/plugins?done=deactivated")
    assert "Plugin deactivated." in page.text
    switch = next(f for f in page.forms.values() if f.action == "/admin/plugins/request-logs/activate")
    switch.submit()
    assert browser.get("/admin/api/plugins/request-logs", headers=JSON).json["data"]["status"] == "active"


def test_required_plugins_say_required_instead_of_offering_deactivate(browser, signed_in_as):
    signed_in_as("admin")
    page = browser.get("/admin/plugins")
    for name in ("core-auth", "core-media", "core-workflow", "email"):
        row = page.html.select_one(f"#plugin-{name}")
        assert row.select_one(f"form[action='/admin/plugins/{name}/deactivate']") is None, name
        assert "Required" in row.get_text(), name
        single = browser.get(f"/admin/plugins/{name}").html
        assert single.select_one(f"form[action='/admin/plugins/{name}/deactivate']") is None, name
        assert single.select_one("#plugin-required"), name
    row = page.html.select_one("#plugin-request-logs")
    assert row.select_one("form[action='/admin/plugins/request-logs/deactivate']") and "Required" not in row.get_text()
    # Workflow is the app's own: its row is loaded, and it declares no settings.
    assert "code not loaded" not in page.html.select_one("#plugin-core-workflow").get_text()
    assert "code not loaded" in page.html.select_one("#plugin-faq-plugin").get_text()
    workflow = browser.get("/admin/plugins/core-workflow").html
    assert workflow.select_one("#plugin-settings") is None
    assert workflow.select_one("#no-settings").get_text() == "This plugin has no settings."
    browser.post("/admin/plugins/core-workflow/deactivate", {"csrf_token": csrf_token(browser)}, status=409)
    assert Plugin.get(Plugin.name == "core-workflow").status == "active"


def test_api_clients_switch_plugins_at_sonicjs_paths_without_a_form(browser, signed_in_as):
    """A credential in a header is the caller's own (no other site can send one), so no CSRF
    token is asked for, and the answer is SonicJS's JSON; a cookie session still needs the token."""
    signed_in_as("admin")
    browser.post("/admin/plugins/request-logs/deactivate", status=403)  # the session cookie alone
    assert Plugin.get(Plugin.name == "request-logs").status == "active"
    admin = bearer(token_for(create_user("admin")))
    response = browser.post("/admin/plugins/request-logs/deactivate", headers=admin)
    assert response.json["success"] is True and response.json["data"]["status"] == "inactive"
    assert Plugin.get(Plugin.name == "request-logs").status == "inactive"
    assert browser.post("/admin/plugins/request-logs/activate", headers=admin).json["data"]["status"] == "active"
    editor = bearer(token_for(create_user("editor")))
    refused = browser.post("/admin/plugins/request-logs/deactivate", headers={**editor, **JSON}, status=403)
    assert refused.json["error"]
    assert Plugin.get(Plugin.name == "request-logs").status == "active"


def test_the_settings_form_follows_the_schema_and_saves(browser, signed_in_as):
    signed_in_as("admin")
    page = browser.get("/admin/plugins/request-logs")
    form = page.forms["plugin-settings"]
    assert form["settings.exclude_paths"].value.splitlines() == ["/health", "/api/health", "/api/system/health", "/api/system/ping",
                                                                "/files/"]
    assert form["settings.sample_rate"].value == "1.0"
    form["settings.exclude_paths"] = "/health\n/admin/static/\n"
    form["settings.sample_rate"] = "0.25"
    assert form.submit().status_int == 303
    stored = Plugin.get(Plugin.name == "request-logs").settings
    assert stored == {"exclude_paths": ["/health", "/admin/static/"], "sample_rate": 0.25}
    assert browser.get("/admin/api/plugins/request-logs", headers=JSON).json["data"]["settings"] == stored


def test_a_nested_setting_is_edited_as_json(browser, signed_in_as):
    """core-auth's ``registration`` is a nested object: shown as JSON, saved unchanged, changed as JSON."""
    signed_in_as("admin")
    form = browser.get("/admin/plugins/core-auth").forms["plugin-settings"]
    assert json.loads(form["settings.registration"].value) == {"enabled": True, "defaultRole": "viewer"}
    assert form.submit().status_int == 303
    form = browser.get("/admin/plugins/core-auth").forms["plugin-settings"]
    form["settings.registration"] = '{"enabled": false, "defaultRole": "viewer"}'
    assert form.submit().status_int == 303
    stored = Plugin.get(Plugin.name == "core-auth").settings["registration"]
    assert stored == {"enabled": False, "defaultRole": "viewer"}


def test_a_json_setting_nested_too_deeply_is_shown_as_invalid(browser, signed_in_as):
    """Past the parser's recursion limit the text is passed on as text, as broken JSON is."""
    signed_in_as("admin")
    before = Plugin.get(Plugin.name == "core-auth").settings
    form = browser.get("/admin/plugins/core-auth").forms["plugin-settings"]
    form["settings.registration"] = "[" * 1100
    response = form.submit(status=422)
    assert "The settings were not saved" in response.text
    assert response.forms["plugin-settings"]["settings.registration"].value == "[" * 1100
    assert Plugin.get(Plugin.name == "core-auth").settings == before


def test_an_emptied_setting_goes_back_to_not_set(browser, signed_in_as):
    """Clearing a field is how an admin undoes a limit: null where the schema allows it."""
    signed_in_as("admin")
    form = browser.get("/admin/plugins/core-media").forms["plugin-settings"]
    form["settings.max_upload_bytes"], form["settings.allowed_types"] = "1000", "image/png"
    assert form.submit().status_int == 303
    assert Plugin.get(Plugin.name == "core-media").settings == {"max_upload_bytes": 1000,
                                                                 "allowed_types": ["image/png"]}
    form = browser.get("/admin/plugins/core-media").forms["plugin-settings"]
    form["settings.max_upload_bytes"], form["settings.allowed_types"] = "", ""
    assert form.submit().status_int == 303
    assert Plugin.get(Plugin.name == "core-media").settings == {"max_upload_bytes": None, "allowed_types": None}
    form = browser.get("/admin/plugins/email").forms["plugin-settings"]
    form["settings.from_address"] = ""
    assert form.submit().status_int == 303  # not "" (which is no email address): not set
    assert Plugin.get(Plugin.name == "email").settings.get("from_address") is None


@pytest.mark.parametrize(("rate", "message"), [("2", "sample_rate must be between 0 and 1"),
                                               ("lots", "Expected `float`")])
def test_invalid_settings_are_shown_and_not_saved(browser, signed_in_as, rate, message):
    signed_in_as("admin")
    before = Plugin.get(Plugin.name == "request-logs").settings
    form = browser.get("/admin/plugins/request-logs").forms["plugin-settings"]
    form["settings.sample_rate"] = rate
    response = form.submit(status=422)
    assert message in response.text and "The settings were not saved" in response.text
    assert response.forms["plugin-settings"]["settings.sample_rate"].value == rate
    assert Plugin.get(Plugin.name == "request-logs").settings == before


@pytest.mark.parametrize(("plugin", "control", "value", "marked", "message"), [
    ("core-media", "max_upload_bytes", "0", "max_upload_bytes", "max_upload_bytes must be at least 1"),
    ("core-cache", "ttl", '{"content": 1}', "ttl", "ttl.content must be between 60"),
    ("core-cache", "ttl", '{"content": "soon"}', "ttl", "Expected `int`"),
])
def test_a_refused_setting_marks_its_own_field_only(browser, signed_in_as, plugin, control, value, marked, message):
    """The message sits by the field holding the refused value (a value inside an object: the
    object's field), and no other field is marked invalid."""
    signed_in_as("admin")
    form = browser.get(f"/admin/plugins/{plugin}").forms["plugin-settings"]
    form[f"settings.{control}"] = value
    page = form.submit(status=422).html
    invalid = [node["name"] for node in page.select("#plugin-settings [aria-invalid]")]
    assert invalid == [f"settings.{marked}"]
    assert message in page.select_one(f"#s-{marked}-error").text


TYPED_PLUGINS = ("tests.plugins.typed_choices", "tests.plugins.typed_choices_dict", "tests.plugins.blank_choice")


@pytest.fixture
def typed_admin(env, outbox):
    """A browser signed in as an admin, over an app with the typed-choices test plugins."""
    bind_models(env.DB.db)
    client = browser_for(env, outbox, plugins=TYPED_PLUGINS)
    assert sign_in(client, create_user("admin", password_hash=hashed())).status_int == 303
    return client


def options(select):
    return [(value, selected) for value, selected, _ in select.options]


def test_settings_chosen_from_numbers_keep_their_type(typed_admin):
    """A choice among numbers (a Struct's ``Literal``) shows the stored number selected and
    saves the number chosen, not its text; an unchanged save keeps what is stored."""
    form = typed_admin.get("/admin/plugins/typed-choices").forms["plugin-settings"]
    assert options(form["settings.size"]) == [("", False), ("1", False), ("2", True), ("3", False)]
    assert form["settings.mode"].value == "auto" and form["settings.limit"].value == ""
    assert form.submit().status_int == 303
    assert Plugin.get(Plugin.name == "typed-choices").settings == {"size": 2, "mode": "auto", "limit": None}
    form = typed_admin.get("/admin/plugins/typed-choices").forms["plugin-settings"]
    form["settings.size"], form["settings.mode"], form["settings.limit"] = "3", "0", "20"
    assert form.submit().status_int == 303
    assert Plugin.get(Plugin.name == "typed-choices").settings == {"size": 3, "mode": 0, "limit": 20}
    form = typed_admin.get("/admin/plugins/typed-choices").forms["plugin-settings"]
    assert (form["settings.size"].value, form["settings.mode"].value, form["settings.limit"].value) == ("3", "0", "20")
    form["settings.limit"] = ""  # emptied: back to not set
    assert form.submit().status_int == 303
    assert Plugin.get(Plugin.name == "typed-choices").settings == {"size": 3, "mode": 0, "limit": None}


def test_settings_chosen_from_numbers_and_booleans_in_a_dict_schema(typed_admin):
    """The same with a dict schema: a number, a boolean, and the text "1" beside the number 1."""
    form = typed_admin.get("/admin/plugins/typed-choices-dict").forms["plugin-settings"]
    assert options(form["settings.ratio"]) == [("", False), ("0.5", False), ("1", False), ("1.5", True)]
    assert options(form["settings.strict"]) == [("", False), ("true", False), ("false", True)]
    assert options(form["settings.code"]) == [("", False), ('"1"', False), ("1", True)]
    assert form.submit().status_int == 303
    stored = Plugin.get(Plugin.name == "typed-choices-dict").settings
    assert json.dumps(stored) == json.dumps({"ratio": 1.5, "strict": False, "code": 1})
    form["settings.ratio"], form["settings.strict"], form["settings.code"] = "0.5", "true", '"1"'
    assert form.submit().status_int == 303
    stored = Plugin.get(Plugin.name == "typed-choices-dict").settings
    assert json.dumps(stored) == json.dumps({"ratio": 0.5, "strict": True, "code": "1"})


def test_the_empty_text_is_a_setting_of_its_own(typed_admin):
    """An enum's "" is an option distinct from the empty option (not set): a stored "" shows
    it chosen and an unchanged save keeps it; the empty option sets null, shown so again."""
    url = "/admin/plugins/blank-choice"
    form = typed_admin.get(url).forms["plugin-settings"]
    assert options(form["settings.tone"]) == [("", False), ('""', True), (" ", False), ("loud", False)]
    assert form.submit().status_int == 303
    assert Plugin.get(Plugin.name == "blank-choice").settings == {"tone": ""}
    form["settings.tone"] = ""
    assert form.submit().status_int == 303
    assert Plugin.get(Plugin.name == "blank-choice").settings == {"tone": None}
    form = typed_admin.get(url).forms["plugin-settings"]
    assert options(form["settings.tone"]) == [("", False), ('""', False), (" ", False), ("loud", False)]
    form["settings.tone"] = '""'
    assert form.submit().status_int == 303
    assert Plugin.get(Plugin.name == "blank-choice").settings == {"tone": ""}
    form["settings.tone"] = " "  # an option, though blank: not the empty option
    assert form.submit().status_int == 303
    assert Plugin.get(Plugin.name == "blank-choice").settings == {"tone": " "}
    form = typed_admin.get(url).forms["plugin-settings"]
    assert options(form["settings.tone"]) == [("", False), ('""', False), (" ", True), ("loud", False)]


def test_a_choice_that_is_no_option_is_refused_by_the_schema(typed_admin):
    """Text that is no option (a stale page, a forged post) goes to the schema, which says why."""
    form = typed_admin.get("/admin/plugins/typed-choices").forms["plugin-settings"]
    fields = [(name, "7" if name == "settings.size" else value) for name, value in form.submit_fields()]
    page = typed_admin.post("/admin/plugins/typed-choices", fields, status=422)
    assert "The settings were not saved" in page.text and page.html.select_one("#s-size-error")
    assert Plugin.get(Plugin.name == "typed-choices").settings["size"] == 2


def test_an_unknown_plugin_is_a_404_page(browser, signed_in_as):
    signed_in_as("admin")
    assert "Not found" in browser.get("/admin/plugins/nope", status=404).text


# ---------------------------------------------------------------- logs


def add_log(level, category, message, created_at, user=None, status=None, url=None):
    return SystemLog.create(level=level, category=category, message=message, created_at=created_at,
                            user=user.id if user else None, status_code=status, url=url)


T0 = 1_767_225_600_000  # 2026-01-01 00:00 UTC


def messages(page):
    return [row.select("td")[3].contents[0].strip() for row in page.html.select("table.logs tbody tr")]


def test_logs_filter_by_every_field(browser, signed_in_as):
    editor = signed_in_as("editor")
    add_log("info", "api", "GET /api/content 200", T0, status=200, url="/api/content")
    add_log("warn", "api", "GET /api/nope 404", T0 + 60_000, user=editor, status=404, url="/api/nope")
    add_log("error", "auth", "login failed", T0 + 3_600_000)

    def shown(query):  # up to a day after T0: the request logs of this test's own visits are later
        return messages(browser.get(f"/admin/logs?until=2026-01-02T00:00&{query}"))

    assert shown("search=api&category=api") == ["GET /api/nope 404", "GET /api/content 200"]
    assert shown("level=error") == ["login failed"]
    assert shown("status=404") == ["GET /api/nope 404"]
    assert shown(f"user={editor.email}") == ["GET /api/nope 404"]
    assert shown("user=nobody@example.com") == []
    assert shown("since=2026-01-01T00:01&until=2026-01-01T00:01") == ["GET /api/nope 404"]
    page = browser.get("/admin/logs?until=2026-01-02T00:00&since=yesterday&level=loud&category=api")
    assert "left out of the filter: level, start_date" in page.text  # since: the older name of start_date
    assert messages(page) == ["GET /api/nope 404", "GET /api/content 200"]


def test_logs_search_folds_every_letters_case(browser, signed_in_as):
    signed_in_as("editor")
    add_log("info", "system", "Écriture refusée", T0)
    add_log("info", "system", "other", T0 + 1, url="/api/collections/CAFÉ")
    # Given as parameters: WebTest sends them UTF-8 escaped, as a browser does.
    assert messages(browser.get("/admin/logs", {"until": "2026-01-02T00:00", "search": "écriture"})) == [
        "Écriture refusée"]
    assert messages(browser.get("/admin/logs", {"until": "2026-01-02T00:00", "search": "café"})) == ["other"]


def test_logs_name_their_users_by_email_with_a_filter_link(browser, signed_in_as):
    admin = signed_in_as("admin")
    add_log("warn", "api", "GET /api/nope 404", T0, user=admin, status=404, url="/api/nope")
    add_log("info", "system", "no user", T0 + 1)

    page = browser.get("/admin/logs?until=2026-01-02T00:00")

    links = {row.select("td")[3].contents[0].strip(): row.select_one(".log-user a")
             for row in page.html.select("table.logs tbody tr")}
    assert links["no user"] is None
    named = links["GET /api/nope 404"]
    assert named.get_text() == admin.email and named["title"] == admin.id
    filtered = browser.get(named["href"] + "&until=2026-01-02T00:00")
    assert messages(filtered) == ["GET /api/nope 404"]


def test_emails_of_names_the_users_that_exist(signed_in_as):
    admin = signed_in_as("admin")
    assert emails_of([admin.id, None, "u-deleted-since", admin.id]) == {admin.id: admin.email}
    assert emails_of([None, ""]) == {}


def test_logs_are_paged(browser, signed_in_as):
    signed_in_as("admin")
    for number in range(55):
        add_log("info", "system", f"entry {number:02}", T0 + number)
    first = browser.get("/admin/logs?category=system")
    assert "55 entries" in first.text and len(messages(first)) == 50 and messages(first)[0] == "entry 54"
    second = browser.get("/admin/logs" + first.html.select_one(".pager a[rel=next]")["href"])
    assert messages(second) == ["entry 04", "entry 03", "entry 02", "entry 01", "entry 00"]


def test_logs_need_logs_read(browser, signed_in_as):
    signed_in_as("author")
    assert "/admin/logs" not in browser.get("/admin").text
    browser.get("/admin/logs", status=403)


DICT_SCHEMA = {
    "type": "object",
    "properties": {
        "greeting": {"type": "string", "maxLength": 20, "description": "Shown on every page"},
        "level": {"type": "string", "enum": ["low", "high"]},
        "retries": {"type": "integer", "minimum": 0},
        "enabled": {"type": "boolean"},
        "tags": {"type": "array", "items": {"type": "string"}},
        "extra": {"type": "object"},
    },
    "required": ["greeting"],
}


def test_a_dict_schema_becomes_one_control_per_property():
    plugin = {"name": "hello", "settings": {"greeting": "Hi", "level": "high", "tags": ["a", "b"]}}
    fields = {field["name"]: field for field in admin_plugins.form_fields(plugin, DICT_SCHEMA)}
    assert {name: field["control"] for name, field in fields.items()} == {
        "greeting": "text", "level": "select", "retries": "number", "enabled": "checkbox", "tags": "lines",
        "extra": "json"}
    assert fields["greeting"]["required"] and fields["greeting"]["help"] == "Shown on every page"
    assert fields["level"]["choices"] == (("low", "low"), ("high", "high")) and fields["tags"]["value"] == "a\nb"
    form = {"settings.greeting": "Hello", "settings.level": "low", "settings.retries": "3",
            "settings.tags": "x\n\ny\n", "settings.extra": '{"k": 1}', "settings.enabled": "on"}
    settings, _ = admin_plugins.settings_from_form(DICT_SCHEMA, form)
    assert settings == {"greeting": "Hello", "level": "low", "retries": 3, "enabled": True, "tags": ["x", "y"],
                        "extra": {"k": 1}}
    settings, posted = admin_plugins.settings_from_form(DICT_SCHEMA, {"settings.retries": "many"})
    assert settings == {"retries": "many", "enabled": False} and posted["retries"] == "many"


def test_a_plugin_without_a_schema_gets_one_json_field():
    [field] = admin_plugins.form_fields({"name": "free", "settings": {"a": 1}}, None)
    assert (field["input"], field["control"], field["value"]) == ("settings", "json", '{\n  "a": 1\n}')
    assert admin_plugins.settings_from_form(None, {"settings": '{"b": 2}'})[0] == {"b": 2}
