"""Admin pages and nav items from plugins (``register_admin_pages``), on SQLite and PostgreSQL."""

import pytest

from app.app import build_services, create_app
from app.db.models import Permission, bind_models
from app.services.identity import PERMISSIONS
from tests.fixtures.admin import browser_for, sign_in
from tests.fixtures.app import settings_for_tests
from tests.fixtures.auth import hashed
from tests.fixtures.users import bearer, create_user, token_for

pytestmark = pytest.mark.backends

PAGES = "tests.plugins.pages_plugin"
REPORT = "/admin/plugins/pages/pages/report"
HELP = "/admin/plugins/pages/pages/settings-help"
HIDDEN = "/admin/plugins/pages/pages/hidden"


@pytest.fixture
def browser(env):
    bind_models(env.DB.db)
    return browser_for(env, plugins=(PAGES,))


def signed_in(browser, role):
    user = create_user(role, password_hash=hashed())
    assert sign_in(browser, user).status_int == 303
    return user


def activate(browser):
    admin = bearer(token_for(create_user("admin")))
    browser.post("/admin/api/plugins/pages/activate", headers=admin, status=200)


def test_an_inactive_plugins_pages_answer_404_and_are_not_in_the_nav(browser):
    signed_in(browser, "admin")
    assert REPORT not in browser.get("/admin").text
    browser.get(REPORT, status=404)


def test_an_active_plugins_page_is_served_inside_the_admin_layout(browser):
    user = signed_in(browser, "admin")
    activate(browser)
    page = browser.get(REPORT)
    assert page.content_type == "text/html"
    assert page.html.find("h1").text == "Weekly report"
    assert page.html.find(id="plugin-report").text == f"Report for {user.email}"
    nav = {a["href"]: a.get("aria-current") for a in page.html.find("nav").find_all("a")}
    assert nav[REPORT] == "page" and HELP in nav and HIDDEN not in nav
    assert "Content-Security-Policy" in page.headers  # the admin's headers, as on its own pages
    assert browser.get(HIDDEN).html.find("h1").text == "Hidden page"  # served, though not listed


def test_a_page_needs_the_permission_it_declares(browser):
    signed_in(browser, "editor")
    activate(browser)
    page = browser.get(REPORT)
    nav = [a["href"] for a in page.html.find("nav").find_all("a")]
    assert REPORT in nav and HELP not in nav
    browser.get(HELP, status=403)


def test_a_signed_out_browser_is_sent_to_sign_in(browser):
    activate(browser)
    response = browser.get(REPORT, status=(302, 303, 401))
    assert "/admin/login" in (response.location or response.text)


def test_deactivating_the_plugin_takes_its_pages_away(browser):
    signed_in(browser, "admin")
    activate(browser)
    browser.get(REPORT, status=200)
    admin = bearer(token_for(create_user("admin")))
    browser.post("/admin/api/plugins/pages/deactivate", headers=admin, status=200)
    browser.get(REPORT, status=404)
    assert REPORT not in browser.get("/admin").text


def test_unknown_plugin_or_page_is_404(browser):
    signed_in(browser, "admin")
    activate(browser)
    browser.get("/admin/plugins/pages/pages/nope", status=404)
    browser.get("/admin/plugins/nope/pages/report", status=404)


def test_a_page_with_a_bad_slug_stops_the_app_from_starting(env):
    settings = settings_for_tests(plugins=("tests.plugins.bad_pages_plugin",))
    with pytest.raises(ValueError, match="plugin bad-pages: register_admin_pages: slug '../escape'"):
        create_app(env, settings, build_services(env, settings))


def test_a_page_with_an_unknown_permission_stops_the_app_from_starting(env):
    settings = settings_for_tests(plugins=("tests.plugins.unknown_permission_plugin",))
    with pytest.raises(ValueError, match="plugin unknown-permission: register_admin_pages: page 'report': "
                                         "unknown permission 'plugins.manages'"):
        create_app(env, settings, build_services(env, settings))


def test_the_known_permissions_are_those_the_migrations_seed(env):
    bind_models(env.DB.db)
    assert {row.name for row in Permission.select(Permission.name)} == PERMISSIONS
