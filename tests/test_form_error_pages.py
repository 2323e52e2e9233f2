"""A browser's form post to a route taking HTML forms (a mailed link's confirm page, SonicJS's
sign-in forms), refused by the rate limit or the cross-origin check before the route answers,
gets the app's error page with the same status; a script or an API client keeps the JSON
envelope (``app.api.form_error_pages``). Every answer is checked against the OpenAPI document
(``client_for``'s conformance)."""

import pytest

from app.db.models import bind_models
from tests.fixtures.admin import NAVIGATION_ACCEPT
from tests.fixtures.auth import fast_client
from tests.fixtures.users import bearer, create_user, token_for

pytestmark = pytest.mark.backends

BASE = "https://cms.example.org"
VERIFY = "/auth/magic-link/verify"
# What a browser sends with a form's POST: it navigates, and asks for HTML.
BROWSER_FORM = {"Accept": NAVIGATION_ACCEPT, "Sec-Fetch-Mode": "navigate", "Sec-Fetch-Dest": "document"}
CROSS_SITE = {"Sec-Fetch-Site": "cross-site"}


@pytest.fixture
def web(env, outbox):
    """A client with the magic-link plugin active; one failed link per window from an address."""
    bind_models(env.DB.db)
    client = fast_client(env, outbox, public_base_url=BASE, rate_limit_attempts=1)
    admin = bearer(token_for(create_user("admin")))
    client.post("/admin/api/plugins/magic-link-auth/activate", headers=admin, status=200)
    return client


def assert_error_page(response, status, text):
    assert response.status_int == status and response.content_type == "text/html"
    assert response.html.find("h1") is not None and text in response.html.find("main").text
    assert response.headers["Content-Security-Policy"].startswith("default-src 'none'")
    assert response.headers["Cache-Control"] == "no-store"


def assert_envelope(response, status, error):
    assert response.content_type == "application/json" and response.json["error"] == error


@pytest.mark.parametrize("headers", [
    BROWSER_FORM,
    # A browser too old to send Sec-Fetch-Mode: its Accept, naming XHTML as every browser's does.
    {"Accept": NAVIGATION_ACCEPT},
])
def test_a_link_confirm_form_from_another_site_gets_a_page(web, headers):
    refused = web.post(VERIFY, {"token": "t"}, headers={**headers, **CROSS_SITE}, status=403)
    assert_error_page(refused, 403, "did not come from this site")


@pytest.mark.parametrize("headers", [
    {},  # no Accept: a tie, JSON's
    {"Accept": "application/json"},
    {"Accept": "text/html", "Sec-Fetch-Mode": "cors"},  # a script's fetch of a form body
    {"Accept": "text/html", "X-Requested-With": "XMLHttpRequest"},
    {"Accept": "text/html, image/gif, image/jpeg, *; q=.2, */*; q=.2"},  # Java's HttpURLConnection
])
def test_a_scripts_cross_origin_form_keeps_the_envelope(web, headers):
    refused = web.post(VERIFY, {"token": "t"}, headers={**headers, **CROSS_SITE}, status=403)
    assert_envelope(refused, 403, "Cross-origin request refused")


def test_a_rate_limited_link_confirm_form_gets_a_page_with_retry_after(web):
    headers = {**BROWSER_FORM, "Sec-Fetch-Site": "same-origin"}
    spent = web.post(VERIFY, {"token": "wrong"}, headers=headers, status=303)
    assert spent.location.endswith("/admin/login?link=invalid")
    refused = web.post(VERIFY, {"token": "wrong"}, headers=headers, status=429)
    wait = refused.headers["Retry-After"]
    assert_error_page(refused, 429, f"Try again in {'1 second' if wait == '1' else wait + ' seconds'}.")
    assert int(refused.headers["Retry-After"]) >= 1 and refused.headers["X-RateLimit-Remaining"] == "0"
    as_json = web.post_json(VERIFY, {"token": "wrong"}, status=429)
    assert_envelope(as_json, 429, "Too many attempts, try again later")
    assert as_json.headers["Retry-After"] == refused.headers["Retry-After"]


@pytest.mark.parametrize("path", ["/auth/login/form", "/auth/register/form"])
def test_sonicjs_sign_in_forms_from_another_site_with_the_cookie_get_a_page(web, path):
    web.set_cookie("auth_token", "a-session")
    refused = web.post(path, {"email": "a@example.com", "password": "x"}, headers={**BROWSER_FORM, **CROSS_SITE},
                       status=403)
    assert_error_page(refused, 403, "did not come from this site")
    as_json = web.post(path, {"email": "a@example.com"}, headers=CROSS_SITE, status=403)
    assert_envelope(as_json, 403, "Cross-origin request refused")


def test_other_refusals_of_such_a_route_stay_what_they_were(web):
    """Only the refusals made before the route answers become pages: the route's own answers
    (a JSON body it cannot read) keep the envelope."""
    refused = web.post(VERIFY, "token=t", headers={**BROWSER_FORM, "Sec-Fetch-Site": "same-origin",
                                                   "Content-Type": "text/plain"}, status=415)
    assert refused.content_type == "application/json"
