"""Every redirect of the app answers as servers answer a redirect: its status and Location, and
a small HTML page linking there, its link escaped; never an empty body labelled JSON
(``app.api.redirects.redirect``). One test per family of redirects; the sign-in redirect's
own are in tests/test_sign_in_redirect.py. The OpenAPI document declares them so."""

import pytest

from app.services.passwordless import LinkPolicy, SignInLinks
from tests.fixtures.admin import sign_in
from tests.fixtures.auth import hashed
from tests.fixtures.users import create_user
from tests.test_forms import CONTACT, GOOD, make_form

pytestmark = pytest.mark.backends

# A location whose query holds what HTML must escape in an attribute and in text.
AWKWARD_QUERY = "next=%2Fadmin&x=%22%3E%3Cb%3E'"


def assert_redirect_page(response, status):
    """``response`` is a ``status`` redirect whose body is an HTML page linking to its Location."""
    location = response.headers["Location"]
    assert response.status_int == status and location
    assert response.content_type == "text/html" and response.charset == "utf-8"
    links = response.html.find_all("a")
    assert [(link["href"], link.text) for link in links] == [(location, location)]
    # Parsed back, the link is the Location: nothing in it was read as markup.
    assert response.html.find("b") is None and "<b>" not in response.text
    if "&" in location:
        assert "&amp;" in response.text


def test_the_admins_303_after_a_post_is_a_page(browser):
    user = create_user("editor", password_hash=hashed())
    assert_redirect_page(sign_in(browser, user, status=303), 303)
    # Signed in, the sign-in page sends the browser on to its next.
    assert_redirect_page(browser.get("/admin/login?next=/admin/content%3Fa%3D1%26b%3D2", status=303), 303)


def test_the_root_302_is_a_page(browser):
    response = browser.get("/", status=302)
    assert_redirect_page(response, 302)
    assert response.headers["Location"] == "/admin"


def test_sonicjs_admin_paths_308_is_a_page(browser):
    response = browser.get("/admin/dashboard?" + AWKWARD_QUERY, status=308)
    assert_redirect_page(response, 308)
    assert response.headers["Location"] == "/admin?" + AWKWARD_QUERY
    assert response.headers["Cache-Control"] == "private, max-age=3600"


@pytest.mark.parametrize("path", ["/auth/login", "/auth/register", "/auth/reset-password", "/auth/accept-invitation"])
def test_sonicjs_auth_pages_303_is_a_page_keeping_the_query(client, path):
    response = client.get(f"{path}?{AWKWARD_QUERY}", headers={"Accept": "text/html"}, status=303)
    assert_redirect_page(response, 303)
    assert response.headers["Location"].endswith("?" + AWKWARD_QUERY)
    assert response.headers["Cache-Control"] == "no-store"


@pytest.mark.parametrize("path", ["/auth/login/form", "/auth/register/form"])
def test_sonicjs_sign_in_form_posts_303_is_a_page(client, path):
    response = client.post(path, {"email": "a@example.com", "password": "x"}, headers={"Accept": "text/html"},
                           status=303)
    assert_redirect_page(response, 303)
    assert response.headers["Location"] == "/admin/login"


def test_the_sign_out_links_303_is_a_page(client):
    response = client.get("/auth/logout", status=303)
    assert_redirect_page(response, 303)
    assert response.headers["Location"] == "/admin/logout"


def test_a_mailed_links_303s_are_pages(client, make_user):
    _, admin = make_user("admin")
    client.post("/admin/api/plugins/magic-link-auth/activate", headers=admin, status=200)
    create_user("editor", email="person@example.com")
    invalid = client.get("/auth/magic-link/verify?token=nothing", headers={"Accept": "text/html"}, status=303)
    assert_redirect_page(invalid, 303)
    assert invalid.headers["Location"] == "/admin/login?link=invalid"
    link = SignInLinks("http://localhost", "/auth/magic-link/verify").issue("person@example.com", LinkPolicy())
    token = link.link.split("token=", 1)[1]
    signed_in = client.post("/auth/magic-link/verify", {"token": token, "next": "/admin/content?a=1&b=2"},
                            headers={"Accept": "text/html"}, status=303)
    assert_redirect_page(signed_in, 303)
    assert signed_in.headers["Location"] == "/admin/content?a=1&b=2"


def test_a_forms_303s_are_pages(client, make_user):
    _, admin = make_user("admin")
    make_form(client, admin, settings={**CONTACT["settings"], "redirect_url": "/thanks?a=1&b=2"})
    for path in ("/forms/contact/submit", "/api/forms/contact/submit", "/forms/contact"):
        response = client.post(path, GOOD, headers={"Accept": "text/html"}, status=303)
        assert_redirect_page(response, 303)
        assert response.headers["Location"] == "/thanks?a=1&b=2"


def test_the_document_declares_every_redirect_as_its_page(client, make_user):
    _, admin = make_user("admin")
    client.post("/admin/api/plugins/magic-link-auth/activate", headers=admin, status=200)
    doc = client.get("/api/openapi.json").json
    redirects = []
    for path, item in doc["paths"].items():
        for method, operation in item.items():
            for code, response in operation["responses"].items():
                if code.startswith("3") and code != "304":
                    redirects.append((method, path, code))
                    assert response["headers"]["Location"]["required"], (method, path, code)
                    if method != "head":
                        assert response["content"] == {"text/html": {"schema": {"type": "string"}}}, (method, path)
    # The sign-in redirect's and the others: SonicJS's pages, forms, the sign-out link, a mailed link.
    assert {("get", "/auth/logout", "303"), ("post", "/forms/{name}/submit", "303"),
            ("get", "/auth/login", "303"), ("post", "/auth/login/form", "303"),
            ("get", "/auth/magic-link/verify", "303"), ("post", "/auth/magic-link/verify", "303")} <= set(redirects)
    logout = doc["paths"]["/auth/logout"]["get"]["responses"]["303"]
    assert "short HTML page linking there" in logout["description"]
