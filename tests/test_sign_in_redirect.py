"""A browser navigating to a route it must sign in for is sent to the sign-in page; every
other client keeps the JSON 401 (``app.api.sign_in_redirect``)."""

import time
from urllib.parse import quote

import pytest

from app.services.identity import issue_jwt
from app.services.users import deactivate_user
from tests.fixtures.admin import BROWSER, browser_for, csrf_token
from tests.fixtures.app import settings_for_tests
from tests.fixtures.auth import hashed
from tests.fixtures.users import bearer, create_user

pytestmark = pytest.mark.backends

NAVIGATION = BROWSER["HTTP_ACCEPT"]
REQUIRED = {"error": "Authentication required"}
REJECTED = {"error": "Invalid or expired token"}


def expired_token():
    user = create_user("admin", password_hash=hashed())
    return issue_jwt(user, settings_for_tests(), now=int(time.time()) - 10 * 24 * 3600)


@pytest.mark.parametrize("path", ["/admin/api/stats", "/admin/users", "/admin/api/stats?x=1&y=%C3%A9"])
def test_a_browser_is_sent_to_sign_in_and_back(browser, path):
    response = browser.get(path, status=303)
    assert response.location == "/admin/login?next=" + quote(path, safe="") + "&reason=required"
    assert response.headers["Cache-Control"] == "no-store"
    page = response.follow(status=200)
    assert "Sign in to continue." in page.text
    assert page.forms[0]["next"].value == path


@pytest.mark.parametrize("path", ["/admin/api/stats", "/admin/users", "/api/content?status=draft"])
def test_the_redirect_is_a_small_html_page_linking_to_sign_in(browser, path):
    """As servers answer a redirect: the page a browser would show if it did not follow it,
    never an empty body labelled JSON."""
    response = browser.get(path, status=303)
    assert response.content_type == "text/html" and response.charset == "utf-8"
    link = response.html.find("a")
    assert link["href"] == response.location and link.text == response.location
    head = browser.head(path, status=303)
    assert head.body == b"" and head.content_type == "text/html"


def test_the_redirect_page_escapes_the_location(browser):
    path = "/admin/api/stats?a=1&b=%22%3E%3Cscript%3E"
    response = browser.get(path, status=303)
    assert "<script>" not in response.text and "&amp;reason=required" in response.text
    assert response.html.find("a")["href"] == response.location


def test_a_head_navigation_is_sent_to_sign_in_too(browser):
    assert browser.head("/admin/api/stats", status=303).location.startswith("/admin/login?next=")


def test_a_page_outside_the_admin_gets_sign_in_without_a_next(browser):
    """The sign-in page leads on to admin pages only: a next elsewhere would be dropped there."""
    assert browser.get("/auth/me", status=303).location == "/admin/login?reason=required"


def test_an_expired_cookie_is_sent_to_sign_in_with_the_reason(browser):
    browser.set_cookie("auth_token", expired_token())
    response = browser.get("/admin/api/stats", status=303)
    assert response.location == "/admin/login?next=%2Fadmin%2Fapi%2Fstats&reason=expired"
    assert "Your session has ended or is no longer valid" in response.follow(status=200).text
    browser.set_cookie("auth_token", "not-a-jwt")
    assert browser.get("/admin", status=303).location == "/admin/login?next=%2Fadmin&reason=expired"


@pytest.mark.parametrize("accept", ["application/json", "*/*", "application/json, text/html",
                                    "text/html;q=0.5, application/json", "image/png"])
def test_a_client_not_preferring_html_keeps_the_json_401(browser, accept):
    response = browser.get("/admin/api/stats", headers={"Accept": accept}, status=401)
    assert response.json == REQUIRED and response.headers["WWW-Authenticate"] == "Bearer"


def test_no_accept_header_keeps_the_json_401(browser):
    response = browser.get("/admin/api/stats", extra_environ={"HTTP_ACCEPT": ""}, status=401)
    assert response.json == REQUIRED


def test_a_json_client_with_an_expired_cookie_keeps_the_json_401(browser):
    browser.set_cookie("auth_token", expired_token())
    assert browser.get("/admin/api/stats", headers={"Accept": "application/json"}, status=401).json == REJECTED


def test_a_post_keeps_the_json_401(browser):
    headers = {"X-CSRF-Token": csrf_token(browser)}
    response = browser.post_json("/auth/refresh", {}, headers=headers, status=401)
    assert response.json == REQUIRED


def test_a_form_post_a_browser_navigates_with_keeps_the_401(browser):
    """Browsers send ``Sec-Fetch-Mode: navigate`` on a form's POST too: only GET and HEAD are sent on."""
    headers = {"X-CSRF-Token": csrf_token(browser), "Sec-Fetch-Mode": "navigate", "Accept": "text/html"}
    response = browser.post_json("/api/content", {"collectionId": "posts", "title": "x"}, headers=headers,
                                 status=401)
    assert response.json == REQUIRED and "Location" not in response.headers


@pytest.mark.parametrize("path", ["/admin/api/stats", "/admin/users"])
@pytest.mark.parametrize("headers", [{"X-Requested-With": "XMLHttpRequest"}, {"X-Requested-With": "xmlhttprequest"},
                                     {"Authorization": "Bearer nope"}, {"X-API-Key": "nope"},
                                     {"Sec-Fetch-Mode": "cors"}, {"Sec-Fetch-Mode": "no-cors"},
                                     {"Sec-Fetch-Mode": "same-origin"}])
def test_scripts_and_api_clients_keep_the_401(browser, path, headers):
    """The JSON route's envelope; a page's 401 is the admin's page saying so (it asked for HTML)."""
    response = browser.get(path, headers=headers, status=401)
    assert "Location" not in response.headers
    if path.startswith("/admin/api"):
        assert response.json in (REQUIRED, REJECTED)


@pytest.mark.parametrize("path", ["/admin/api/stats", "/admin/users"])
@pytest.mark.parametrize("headers", [
    {"Authorization": "Basic eDp5"},  # a proxy's basic auth in front of a staging admin: not our credential
    {"X-Requested-With": "com.example.cms"},  # Android's WebView names its app on navigations
    {"Sec-Fetch-Mode": "navigate", "Accept": "*/*"},  # the browser says so: Accept does not matter
])
def test_a_navigation_with_headers_that_are_not_a_scripts_is_sent_to_sign_in(browser, path, headers):
    response = browser.get(path, headers=headers, status=303)
    assert response.location == "/admin/login?next=" + quote(path, safe="") + "&reason=required"


@pytest.mark.parametrize("accept", ["application/json, text/html", "text/html;q=0.5, application/json"])
def test_a_page_accepting_html_at_all_is_sent_to_sign_in(browser, accept):
    """A page answers HTML to whoever accepts it, as its other refusals do: a tie, or HTML
    after JSON, is a browser's there (a JSON route keeps the 401, above)."""
    response = browser.get("/admin/users", headers={"Accept": accept}, status=303)
    assert response.location == "/admin/login?next=%2Fadmin%2Fusers&reason=required"


@pytest.mark.parametrize("accept", ["*/*", "application/json", "text/html;q=0, application/json"])
def test_a_page_not_accepting_html_by_name_keeps_the_401(browser, accept):
    assert "Location" not in browser.get("/admin/users", headers={"Accept": accept}, status=401).headers


def test_a_bearer_token_that_expired_keeps_the_json_401(browser):
    assert browser.get("/admin/api/stats", headers=bearer(expired_token()), status=401).json == REJECTED


def test_htmx_keeps_what_the_admin_does(browser):
    """A page's fragment: 401 with HX-Redirect (the whole page goes to sign in); an htmx call
    of a JSON route: the JSON 401."""
    fragment = browser.get("/admin/pickers/media", headers={"HX-Request": "true",
                                                            "HX-Current-URL": "http://localhost/admin/content"},
                           status=401)
    assert fragment.headers["HX-Redirect"] == "/admin/login?next=%2Fadmin%2Fcontent&reason=required"
    assert browser.get("/admin/api/stats", headers={"HX-Request": "true"}, status=401).json == REQUIRED


def test_htmx_of_a_deactivated_user_is_sent_to_sign_in_with_the_reason(browser, signed_in_as):
    """The session's cookie no longer names an active user: the whole page goes to the
    sign-in page, which says the session ended, as the 303 of a navigation does."""
    user = signed_in_as("editor")
    deactivate_user(user.id)
    fragment = browser.get("/admin/pickers/media", headers={"HX-Request": "true",
                                                            "HX-Current-URL": "http://localhost/admin/users?page=2"},
                           status=401)
    assert fragment.headers["HX-Redirect"] == "/admin/login?next=%2Fadmin%2Fusers%3Fpage%3D2&reason=expired"
    assert "Your session has ended" in browser.get(fragment.headers["HX-Redirect"], status=200).text


def test_the_sign_in_page_says_only_its_own_reasons(browser):
    assert "Sign in to continue." not in browser.get("/admin/login?reason=Call+0800").text
    assert "Call 0800" not in browser.get("/admin/login?reason=Call+0800").text


DECIDED_BY = {"accept", "sec-fetch-mode", "hx-request", "x-requested-with", "authorization", "x-api-key"}


def varies_on(response):
    return {name.strip().lower() for name in response.headers.get("Vary", "").split(",")}


def test_both_answers_say_what_they_depend_on_and_are_not_stored(browser):
    """The same URL is a 303 for a browser, a 401 for a script: a cache must tell them apart,
    and keeps neither (the cookie decides too)."""
    redirect = browser.get("/admin/api/stats", status=303)
    refusal = browser.get("/admin/api/stats", headers={"Accept": "application/json"}, status=401)
    page_refusal = browser.get("/admin/users", headers={"X-Requested-With": "XMLHttpRequest"}, status=401)
    for response in (redirect, refusal, page_refusal):
        assert varies_on(response) >= DECIDED_BY
        assert response.headers["Cache-Control"] == "no-store"


def test_vary_keeps_the_origin_cors_adds(env):
    origin = "https://front.example"
    client = browser_for(env, cors_allow_origins=(origin,))
    refusal = client.get("/admin/api/stats", headers={"Origin": origin, "Accept": "application/json"},
                         status=401)
    assert DECIDED_BY | {"origin"} <= varies_on(refusal)
    redirect = client.get("/admin/api/stats", headers={"Origin": origin}, status=303)
    assert DECIDED_BY | {"origin"} <= varies_on(redirect)


def test_a_browser_asking_the_api_for_drafts_is_sent_to_sign_in(browser):
    """Drafts are for signed-in readers: the refusal of an anonymous caller is one of want of
    a session, so it follows the rule of every other (the JSON 401 for scripts)."""
    assert browser.get("/api/content?status=draft", status=303).location == "/admin/login?reason=required"
    refusal = browser.get("/api/content?status=draft", headers={"Accept": "application/json"}, status=401)
    assert refusal.json["error"].startswith("Only published content is public")
    assert refusal.headers["WWW-Authenticate"] == "Bearer" and refusal.headers["Cache-Control"] == "no-store"
    browser.set_cookie("auth_token", expired_token())
    assert browser.get("/api/content?status=draft", status=303).location == "/admin/login?reason=expired"
    # A credential sent and refused is said to be so, as every other route's check says it.
    stale = browser.get("/api/content?status=draft", headers={"Accept": "application/json"}, status=401)
    assert stale.json["error"] == "Invalid or expired token" and stale.headers["WWW-Authenticate"] == "Bearer"


def test_a_browser_asking_a_collections_list_for_drafts_is_sent_to_sign_in(browser, blog_collection):
    response = browser.get("/api/collections/blog/content?status=draft", status=303)
    assert response.location == "/admin/login?reason=required" and response.content_type == "text/html"
    assert browser.get("/api/collections/blog/content?status=draft", headers={"Accept": "application/json"},
                       status=401).json["error"].startswith("Only published content is public")


def test_a_public_answer_says_nothing_of_sign_in(browser):
    """The Vary and no-store of a sign-in refusal stay on it: a public list stays cacheable."""
    for _ in range(2):
        listed = browser.get("/api/content?status=published", headers={"Accept": "text/html"}, status=200)
        assert "Vary" not in listed.headers and "Cache-Control" not in listed.headers
    assert listed.headers["X-Cache-Status"] == "HIT"
