"""The admin UI at /admin: sign-in, CSRF, security headers, dashboard and content pages, per role.

Requests go through the real app (WebTest over the Worker) with a browser's Accept header;
writes are checked in the database and through the API's cached reads.
"""

import hashlib
import hmac
import json
import re
import time

import jwt
import pytest
import webtest

from app.admin import csrf
from app.admin.assets import HTMX, LONG_CACHE, PICO
from app.admin.pages import MAX_FORM_BYTES
from app.db.models import ApiToken, Content, Media, ScheduledContent, User, bind_models, new_id, now_ms
from app.services import forms
from app.services.api_tokens import ApiTokens
from app.services.identity import Principal, RolePermissions, issue_jwt
from app.services.secret_keys import derived_key
from tests.fixtures.admin import as_a_browser_sends, browser_for, csrf_headers, csrf_token, sign_in
from tests.fixtures.app import TEST_JWT_SECRET, settings_for_tests
from tests.fixtures.auth import PASSWORD, hashed
from tests.fixtures.content import create_collection
from tests.fixtures.users import bearer, create_user, token_for
from tests.fixtures.workflow import insert_content

pytestmark = pytest.mark.backends

SCHEMA = {
    "type": "object",
    "properties": {
        "title": {"type": "string", "required": True},
        "subtitle": {"type": "string"},
        "body": {"type": "richtext"},
        "excerpt": {"type": "textarea", "maxLength": 20},
        "views": {"type": "number", "min": 0},
        "featured": {"type": "boolean"},
        "day": {"type": "date"},
        "category": {"type": "select", "enum": ["news", "tech"]},
        "tags": {"type": "array", "items": {"type": "string"}},
    },
    "required": ["title"],
}


@pytest.fixture
def posts(browser):
    return create_collection("posts", SCHEMA, display_name="Posts")


def edit_url(item):
    return f"/admin/content/posts/{item.id}"


def test_root_redirects_to_the_admin_and_the_admin_to_sign_in(browser):
    assert browser.get("/", status=302).location.endswith("/admin")
    response = browser.get("/admin", status=303)
    assert response.location.endswith("/admin/login?next=%2Fadmin&reason=required")


def test_api_clients_keep_the_json_refusal(browser):
    response = browser.get("/admin", headers={"Accept": "application/json"}, status=401)
    assert response.json == {"error": "Authentication required"}


def test_every_page_has_the_security_headers(browser, signed_in_as, posts):
    anonymous = browser.get("/admin/login")
    signed_in_as("admin")
    for response in (anonymous, browser.get("/admin"), browser.get("/admin/content/posts"),
                     browser.get("/admin/nothing-here", status=404)):
        csp = response.headers["Content-Security-Policy"]
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "frame-ancestors 'none'" in csp
        assert response.headers["X-Frame-Options"] == "DENY"
        assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert not re.search(r"<script(?![^>]*\bsrc=)", browser.get("/admin").text), "inline script"
    assert " style=" not in browser.get("/admin").text


def csp_directives(response):
    """``{directive: its sources}`` of the response's Content-Security-Policy."""
    policy = response.headers["Content-Security-Policy"]
    return {name: rest.strip() for name, _, rest in (part.strip().partition(" ") for part in policy.split(";"))}


def test_the_pages_showing_content_take_https_images_and_no_other_page_does(browser, signed_in_as, posts):
    """Stored rich text embeds images by https URL: the content form (its HTML editor) and the
    preview show them. Nothing else of the policy changes, and no page sends its URL away."""
    editor = signed_in_as("editor")
    item = insert_content(editor, posts, title="Draft", data={"title": "Draft", "body": '<img src="https://a.example/x.png">'})
    form = browser.get(edit_url(item))
    assert form.html.find(id="f-data-body").text.strip() == '<img src="https://a.example/x.png">'
    preview = browser.post("/admin/preview/markdown?field=data.body", {"data.body": "![x](https://a.example/x.png)"},
                           headers={**csrf_headers(browser), "HX-Request": "true"})
    assert 'src="https://a.example/x.png"' in preview.text
    content_pages = {
        "edit": form,
        "new": browser.get("/admin/content/posts/new"),
        "refused save": browser.post(edit_url(item), {"csrf_token": csrf_token(browser), "version_number": "1",
                                                      "data.title": ""}, status=422),
        "refused move": browser.post(f"{edit_url(item)}/workflow", {"action": "archive"},
                                     headers=csrf_headers(browser), status=409),
        "preview": preview,
    }
    other_pages = {
        "dashboard": browser.get("/admin"), "content list": browser.get("/admin/content/posts"),
        "versions": browser.get(f"{edit_url(item)}/versions"), "account": browser.get("/admin/account"),
        "missing item": browser.get("/admin/content/posts/nothing-here", status=404),
    }
    default = csp_directives(other_pages["dashboard"])
    assert default["img-src"] == "'self' data:"
    for name, response in content_pages.items():
        assert csp_directives(response) == {**default, "img-src": "'self' data: https:"}, name
    for name, response in {**content_pages, **other_pages}.items():
        assert response.headers["Referrer-Policy"] == "same-origin", name
    for name, response in other_pages.items():
        assert csp_directives(response) == default, name


def test_a_signed_in_users_404_page_has_the_admin_layout(browser, signed_in_as):
    anonymous = browser.get("/admin/settings", status=404)
    assert anonymous.html.select_one("nav") is None and anonymous.html.select_one("a[href='/admin/login']")
    user = signed_in_as("editor")
    for path in ("/admin/settings", "/admin/settings/general", "/admin/no/such/page"):
        page = browser.get(path, status=404)
        assert page.html.select_one("nav a[href='/admin/content']"), path
        sign_out = page.html.select_one("form[action='/admin/logout'] button")
        assert sign_out["title"] == f"Signed in as {user.email} (editor)"
        assert page.html.select_one("main a[href='/admin']").get_text() == "Back to the dashboard"
        assert page.html.select_one("main a[href='/admin/login']") is None
    # An expired or forged cookie is nobody: the signed-out page.
    browser.reset()
    browser.set_cookie("auth_token", "not-a-token")
    assert browser.get("/admin/settings", status=404).html.select_one("nav") is None


def test_a_404_whose_visitor_cannot_be_told_is_still_the_page(browser, signed_in_as, monkeypatch):
    # Telling who is signed in reads the database (the user row); down, the 404 is still a
    # page, the signed-out one, never the JSON envelope.
    import peewee

    from app.api import authentication

    signed_in_as("editor")

    def database_down(*args, **kwargs):
        raise peewee.OperationalError("unable to open database file")

    monkeypatch.setattr(authentication, "principal_from_jwt", database_down)
    page = browser.get("/admin/settings", status=404)
    assert page.content_type == "text/html" and page.html.select_one("a[href='/admin/login']")


def test_vendored_assets_are_served_with_long_caching(browser):
    page = browser.get("/admin/login").text
    for name in (HTMX, PICO):
        assert f"/admin/static/{name}" in page
        response = browser.get(f"/admin/static/{name}")
        assert response.headers["Cache-Control"] == LONG_CACHE
        assert len(response.body) > 10_000
    own = re.search(r'href="(/admin/static/admin\.css\?v=[0-9a-f]{12})"', page).group(1)
    assert browser.get(own).content_type == "text/css"
    browser.get("/admin/static/../../app.py", status=404)
    browser.get("/admin/static/vendor/README.md", status=404)


# ---------------------------------------------------------------- sign-in


def test_sign_in_sets_the_api_session_cookie(browser):
    user = create_user("editor", password_hash=hashed())
    response = sign_in(browser, user)
    assert response.status_int == 303 and response.location.endswith("/admin")
    cookie = next(value for name, value in response.headerlist if name.lower() == "set-cookie" and "auth_token=" in value)
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
    assert browser.get("/auth/me", headers={"Accept": "application/json"}).json["user"]["id"] == user.id
    assert "Dashboard" in browser.get("/admin").text


def test_the_cookie_is_secure_when_the_settings_say_so(env, browser):  # browser: models bound to env
    user = create_user("editor", password_hash=hashed())
    browser = browser_for(env, cookie_secure=True)
    browser.extra_environ["wsgi.url_scheme"] = "https"
    response = sign_in(browser, user)
    cookies = [value for name, value in response.headerlist if name.lower() == "set-cookie"]
    assert cookies and all("Secure" in value for value in cookies)


def test_a_csrf_token_is_signed_with_a_key_derived_for_it_alone(browser):
    nonce, _, signature = csrf_token(browser).partition(".")
    key = derived_key(TEST_JWT_SECRET, csrf.KEY_PURPOSE)
    assert signature == hmac.new(key, nonce.encode(), hashlib.sha256).hexdigest()
    assert signature != hmac.new(TEST_JWT_SECRET.encode(), nonce.encode(), hashlib.sha256).hexdigest()


def test_over_https_the_csrf_cookie_is_one_only_this_host_can_set(env, browser):
    user = create_user("editor", password_hash=hashed())
    secure = browser_for(env, cookie_secure=True)
    secure.extra_environ["wsgi.url_scheme"] = "https"
    page = secure.get("/admin/login")
    [cookie] = [value for name, value in page.headerlist if name.lower() == "set-cookie"]
    assert cookie.startswith("__Host-admin_csrf=") and "Path=/;" in cookie and "Domain" not in cookie
    assert "Secure" in cookie
    # A nonce planted under the plain name (as a sibling subdomain could) is not the one read.
    planted = browser_for(env, cookie_secure=True)
    planted.extra_environ["wsgi.url_scheme"] = "https"
    token = csrf_token(planted)  # signed for the attacker's own nonce
    nonce = token.split(".")[0]
    victim = browser_for(env, cookie_secure=True)
    victim.extra_environ["wsgi.url_scheme"] = "https"
    victim.set_cookie("admin_csrf", nonce)
    form = {"email": user.email, "password": PASSWORD, "csrf_token": token}
    assert victim.post("/admin/login", form, status=403).status_int == 403
    assert sign_in(secure, user).status_int == 303  # the host's own cookie still works


def test_a_wrong_password_is_shown_on_the_page(browser):
    user = create_user("editor", password_hash=hashed())
    response = sign_in(browser, user, password="wrong password!", status=401)
    assert response.status_int == 401
    assert "Invalid email or password." in response.text
    assert "auth_token=" not in response.headers.get("Set-Cookie", "")


def test_sign_in_goes_on_to_an_admin_page_only(browser, posts):
    user = create_user("editor", password_hash=hashed())
    form = browser.get("/admin/login?next=/admin/content/posts").forms[0]
    form["email"], form["password"] = user.email, PASSWORD
    assert form.submit().location.endswith("/admin/content/posts")
    browser.reset()
    form = browser.get("/admin/login?next=//evil.example/admin").forms[0]
    form["email"], form["password"] = user.email, PASSWORD
    assert form.submit().location.endswith("/admin")


@pytest.mark.parametrize("target", ["/admin\r\nSet-Cookie: planted=1", "/admin/\t/evil.example", "/admin/\\evil.example",
                                    "/admin#\t/evil.example", "/admin#\\evil.example"])
def test_sign_in_never_goes_on_to_a_next_with_control_characters(browser, target):
    """Browsers drop tabs and newlines from a URL, so ``/admin/\t/host`` would be ``//host``.

    Refusing a CR or LF is hardening: Falcon percent-encodes them in ``resp.location``, so they
    could not split the Location header, and refusing them means it never relies on that escaping.
    """
    user = create_user("editor", password_hash=hashed())
    assert browser.get("/admin/login", {"next": target}).forms[0]["next"].value == "/admin"
    form = {"email": user.email, "password": PASSWORD, "next": target, "csrf_token": csrf_token(browser)}
    assert browser.post("/admin/login", form, status=303).location == "/admin"
    assert browser.get("/admin/login", {"next": target}, status=303).location == "/admin"  # signed in now


@pytest.mark.parametrize("target", ["/adminx", "/admin.evil.example", "/admin/../auth/x", "/admin/%2e%2E/auth/x",
                                    "/admin/content/./posts", "/admin/" + "x" * 3000, "/admin%23x", "/adminx#x",
                                    "/admin#" + "x" * 3000])
def test_sign_in_never_goes_on_to_a_next_outside_the_admin_or_too_long(browser, target):
    """A look-alike prefix, a ``.`` or ``..`` segment, plain or percent-encoded (the browser
    resolves them, and ``..`` climbs out of ``/admin``), and an overlong path all go to the
    dashboard instead."""
    user = create_user("editor", password_hash=hashed())
    assert browser.get("/admin/login", {"next": target}).forms[0]["next"].value == "/admin"
    form = {"email": user.email, "password": PASSWORD, "next": target, "csrf_token": csrf_token(browser)}
    assert browser.post("/admin/login", form, status=303).location == "/admin"


@pytest.mark.parametrize("target", ["/admin/content?page=2", "/admin?tab=2", "/admin/", "/admin#recent", "/admin#",
                                    "/admin/#x", "/admin?tab=2#x"])
def test_sign_in_goes_on_to_an_admin_next_with_its_query_and_fragment(browser, target):
    user = create_user("editor", password_hash=hashed())
    assert browser.get("/admin/login", {"next": target}).forms[0]["next"].value == target
    form = {"email": user.email, "password": PASSWORD, "next": target, "csrf_token": csrf_token(browser)}
    assert browser.post("/admin/login", form, status=303).location == target


def test_sign_out_ends_the_session(browser, signed_in_as):
    user = signed_in_as("editor")
    old_session = browser.cookies["auth_token"]
    response = browser.get("/admin").forms[0].submit()  # the sign-out form in the header
    assert response.status_int == 303 and response.location.endswith("/admin/login?signed_out=1")
    assert browser.get("/admin", status=303)
    browser.set_cookie("auth_token", old_session)
    assert browser.get("/admin", status=303), "the old session must be over"
    assert user.id


def test_an_admin_session_ends_with_its_lifetime(env, outbox):
    """The admin's cookie session lasts SESSION_MAX_AGE_SECONDS from its sign-in: its cookie
    expires then, and a cookie still unexpired past it (issued before the lifetime was
    lowered) sends every page to the sign-in form at once."""
    bind_models(env.DB.db)
    browser = browser_for(env, outbox, session_max_age_seconds=3600)
    user = create_user("editor", password_hash=hashed())
    response = sign_in(browser, user, status=303)
    cookie = next(h for h in response.headers.getall("Set-Cookie") if h.startswith("auth_token="))
    claims = jwt.decode(browser.cookies["auth_token"], TEST_JWT_SECRET, algorithms=["HS256"])
    assert "Max-Age=3600" in cookie and claims["exp"] == claims["auth_time"] + 3600
    assert browser.get("/admin").status_int == 200
    # The cookie now holds a session from a sign-in two hours ago, unexpired (issued under a
    # longer lifetime); in place, so the jar keeps one auth_token.
    (jar_cookie,) = (c for c in browser.cookiejar if c.name == "auth_token")
    jar_cookie.value = issue_jwt(user, settings_for_tests(), now=int(time.time()) - 7200)
    assert browser.get("/admin", status=303).location.endswith("/admin/login?next=%2Fadmin&reason=expired")
    assert browser.post("/auth/refresh", status=401).json == {"error": "Invalid or expired token"}


def test_change_password(browser, signed_in_as):
    user = signed_in_as("author")
    form = browser.get("/admin/account/password").forms["password-form"]
    form["current_password"], form["new_password"], form["confirm_password"] = PASSWORD, "a new secret 123", "other"
    response = form.submit(status=422)
    assert "Passwords do not match." in response.text
    form = response.forms["password-form"]
    form["current_password"], form["new_password"], form["confirm_password"] = "wrong", "a new secret 123", "a new secret 123"
    response = form.submit(status=422)
    assert 'aria-invalid="true"' in response.text and "current_password-error" in response.text
    form = response.forms["password-form"]
    form["current_password"] = PASSWORD
    form["new_password"] = form["confirm_password"] = "a new secret 123"
    response = form.submit(status=303).follow()
    assert "Your password was changed" in response.text
    assert browser.get("/admin").status_int == 200  # this browser got a fresh session
    browser.reset()
    assert sign_in(browser, user, "a new secret 123").status_int == 303


# ---------------------------------------------------------------- CSRF


def test_a_sign_out_link_asks_first_and_its_button_signs_out(browser, signed_in_as):
    """SonicJS's sign-out link (``GET /auth/logout``) leads to a page whose button signs out:
    a GET any other page can trigger ends no session."""
    signed_in_as("editor")
    page = browser.get("/auth/logout", status=303).follow(status=200)
    assert page.request.path == "/admin/logout" and page.content_type == "text/html"
    assert browser.get("/admin").status_int == 200, "the GETs signed nobody out"
    page.forms["logout-form"].submit(status=303)
    assert browser.get("/admin", status=303).location.endswith("/admin/login?next=%2Fadmin&reason=required")
    assert browser.get("/admin/logout", status=303).location.endswith("/admin/login")


def test_forms_without_a_csrf_token_are_refused(browser, signed_in_as, posts):
    editor = signed_in_as("editor")
    item = insert_content(editor, posts, title="Before")
    browser.post(edit_url(item), {"title": "After", "version_number": "1"}, status=403)
    browser.post("/admin/logout", status=403)
    forged = browser.post(edit_url(item), {"title": "After", "version_number": "1", "csrf_token": "x.y"}, status=403)
    assert "did not come from this site" in forged.text
    assert Content.get_by_id(item.id).title == "Before"
    assert browser.get("/admin").status_int == 200, "still signed in"


@pytest.mark.parametrize("position", ["nonce", "signature"])
def test_a_token_with_non_ascii_text_is_refused_not_a_server_error(browser, position):
    user = create_user("editor", password_hash=hashed())
    nonce, _, signature = csrf_token(browser).partition(".")
    token = f"é.{signature}" if position == "nonce" else f"{nonce}.é{signature[1:]}"
    form = {"email": user.email, "password": PASSWORD, "csrf_token": token}
    assert "did not come from this site" in browser.post("/admin/login", form, status=403).text
    assert "auth_token" not in browser.cookies


def test_failing_sign_ins_limit_the_address_and_never_lock_the_owner_out(env, outbox):
    """The sign-in form limits as the API's sign-in does: the failing address, not the account."""
    bind_models(env.DB.db)
    owner = create_user("editor", password_hash=hashed())
    attacker = browser_for(env, outbox, rate_limit_attempts=3)
    attacker.extra_environ["REMOTE_ADDR"] = "203.0.113.66"
    attacker.post_json("/auth/login", {"email": owner.email, "password": "wrong"}, status=401)
    for _ in range(2):
        assert sign_in(attacker, owner, password="wrong", status=401)
    refused = sign_in(attacker, owner, status=429)  # the right password, from the limited address
    assert "Too many attempts" in refused.text and "auth_token" not in attacker.cookies
    elsewhere = browser_for(env, outbox, rate_limit_attempts=3)
    elsewhere.extra_environ["REMOTE_ADDR"] = "198.51.100.10"
    assert sign_in(elsewhere, owner, status=303).location.endswith("/admin")
    assert elsewhere.get("/admin/account/password").status_int == 200


def test_a_token_from_another_browser_is_refused(env, browser):
    other = browser_for(env)
    token = csrf_headers(other)["X-CSRF-Token"]
    form = browser.get("/admin/login").forms[0]
    user = create_user("editor", password_hash=hashed())
    form["email"], form["password"], form["csrf_token"] = user.email, PASSWORD, token
    assert form.submit(status=403)
    assert "auth_token" not in browser.cookies


def test_htmx_requests_carry_the_token_in_a_header(browser, signed_in_as, posts):
    editor = signed_in_as("editor")
    item = insert_content(editor, posts, title="Before")
    body = browser.get("/admin").html.body
    token = re.search(r'"X-CSRF-Token": "([^"]+)"', body["hx-headers"]).group(1)
    browser.post(edit_url(item), {"title": "Via htmx", "version_number": "1"}, headers={"X-CSRF-Token": token},
                 status=303)
    assert Content.get_by_id(item.id).title == "Via htmx"


def test_an_oversized_form_is_a_413_whoever_reads_it(browser, signed_in_as, posts):
    editor = signed_in_as("editor")
    item = insert_content(editor, posts, title="Before")
    huge = {"title": "x" * (MAX_FORM_BYTES + 1), "version_number": "1"}
    # The token in a header (htmx): the edit page itself reads, and sizes, the form.
    browser.post(edit_url(item), huge, headers=csrf_headers(browser), status=413)
    # The token in the form: the CSRF check reads it first.
    browser.post(edit_url(item), huge, status=413)
    assert Content.get_by_id(item.id).title == "Before"


# ---------------------------------------------------------------- dashboard


def test_dashboard_for_editors_counts_and_lists(browser, signed_in_as, posts):
    editor = signed_in_as("editor")
    insert_content(editor, posts, state="published", title="Live one")
    draft = insert_content(editor, posts, title="Draft one")
    insert_content(editor, posts, title="Gone", deleted_at=now_ms())
    ScheduledContent.create(id=new_id(), content=draft.id, action="publish", scheduled_at=now_ms() + 3_600_000,
                            status="pending", user=editor.id, created_at=now_ms(), updated_at=now_ms())
    page = browser.get("/admin")
    stat = {node["data-status"]: node.text for node in page.html.select("[data-status]")}
    assert stat == {"draft": "1", "published": "1", "archived": "0"}
    assert "Draft one" in page.text and "Live one" in page.text and "Gone" not in page.text
    assert "Scheduled" in page.text and "publish" in page.text
    assert "/admin/content/posts" in page.text


@pytest.mark.parametrize("role", ["editor", "admin"])
def test_dashboard_leaves_deactivated_collections_out_as_all_content_does(browser, signed_in_as, posts, role):
    user = signed_in_as(role)
    archive = create_collection("archive", SCHEMA, display_name="Archive", is_active=False)
    insert_content(user, posts, title="Live one", updated_at=1_000)
    withdrawn = insert_content(user, archive, title="Withdrawn", updated_at=2_000)
    page = browser.get("/admin")
    assert "Live one" in page.text and "Withdrawn" not in page.text
    assert "Withdrawn" not in browser.get("/admin/content").text
    # Its row would lead nowhere: the item's edit page is not found, for its managers too.
    browser.get(f"/admin/content/archive/{withdrawn.id}", status=404)


@pytest.mark.parametrize("role", ["editor", "admin"])
def test_dashboard_marks_a_deactivated_collection_and_links_its_settings(browser, signed_in_as, posts, role):
    user = signed_in_as(role)
    archive = create_collection("archive", SCHEMA, display_name="Archive", is_active=False)
    insert_content(user, archive, title="Withdrawn")
    page = browser.get("/admin")
    [row] = page.html.select("main tr[data-inactive]")
    assert row.select_one("td").get_text(" ", strip=True) == "Archive inactive"
    assert row.select("td")[1].get_text() == "1"
    # Its content list is not found while it is inactive; its settings page reactivates it.
    assert [a["href"] for a in row.select("a")] == ["/admin/collections/archive"]
    browser.get("/admin/content/archive", status=404)
    browser.get("/admin/collections/archive", status=200)
    assert page.html.select_one("main a[href='/admin/content/posts']") is not None


def test_dashboard_for_authors_shows_no_totals(browser, signed_in_as, posts):
    author = signed_in_as("author")
    other = create_user("author")
    insert_content(author, posts, title="Mine")
    insert_content(other, posts, title="Someone else's draft")
    page = browser.get("/admin")
    assert "Mine" in page.text and "Someone else" not in page.text
    assert not page.html.select("[data-status]")


# ---------------------------------------------------------------- content list


def test_content_list_searches_filters_and_pages(browser, signed_in_as, posts):
    editor = signed_in_as("editor")
    for n in range(25):
        insert_content(editor, posts, state="published" if n % 2 else "draft", title=f"Post {n:02d}")
    insert_content(editor, posts, title="Needle")
    page = browser.get("/admin/content/posts")
    assert "26 items" in page.text and "Page 1 of 2" in page.text
    assert len(page.html.select("tbody tr")) == 20
    assert "Page 2 of 2" in browser.get("/admin/content/posts?page=2").text
    past = browser.get("/admin/content/posts?page=99")
    assert "Page 99 of" not in past.text and "past the last page (2)" in past.text
    assert past.html.select_one(".pager a[rel=prev]")["href"].endswith("&page=2")
    found = browser.get("/admin/content/posts?search=Needle")
    assert "1 item" in found.text and len(found.html.select("tbody tr")) == 1
    typing = browser.get("/admin/content/posts?search=Need")  # searched as the editor types
    assert "1 item" in typing.text and "Needle" in typing.text
    drafts = browser.get("/admin/content/posts?status=draft")
    chips = {chip.text for chip in drafts.html.select("tbody .chip")}
    assert chips == {"draft"} and "14 items" in drafts.text
    titles = [a.text for a in browser.get("/admin/content/posts?sort=title&status=published").html.select("tbody td.col-title a")]
    assert titles == sorted(titles)
    bogus = browser.get("/admin/content/posts?status=bogus%3Cb%3E", status=400)  # said, and shown unfiltered
    alert = bogus.html.select_one("#results p.message.error").text
    assert "status filter is unknown" in alert and "draft, published, archived, trash" in alert
    assert "bogus" not in bogus.text and "26 items" in bogus.text


def test_viewers_see_published_items_read_only(browser, signed_in_as, posts):
    viewer = signed_in_as("viewer")
    editor = create_user("editor")
    live = insert_content(editor, posts, state="published", title="Live")
    insert_content(editor, posts, title="Secret draft")
    page = browser.get("/admin/content/posts?status=draft")
    assert "Live" in page.text and "Secret draft" not in page.text
    assert "New item" not in page.text
    item = browser.get(edit_url(live))
    assert item.html.select_one("#content-form fieldset").has_attr("disabled")
    assert not item.html.select("#save") and not item.html.select("#workflow-form")
    browser.get("/admin/content/posts/new", status=403)
    browser.post(edit_url(live), {"title": "Defaced", "version_number": "1"}, headers=csrf_headers(browser),
                 status=403)
    assert Content.get_by_id(live.id).title == "Live"
    assert viewer.role == "viewer"


def test_unknown_collection_and_item_are_404_pages(browser, signed_in_as, posts):
    signed_in_as("editor")
    assert "No active collection has this name" in browser.get("/admin/content/nope", status=404).text
    browser.get("/admin/content/posts/no-such-id", status=404)


# ---------------------------------------------------------------- create and edit


def test_create_through_the_form(browser, signed_in_as, posts):
    author = signed_in_as("author")
    form = browser.get("/admin/content/posts/new").forms["content-form"]
    form["title"] = "Fresh <b>post</b>"
    form["data.views"] = "7"
    form["data.category"] = "tech"
    form["data.featured"] = True
    response = form.submit(status=303)
    item = Content.get(Content.title == "Fresh <b>post</b>")
    assert response.location.endswith(edit_url(item))
    assert item.author_id == author.id and item.status == "draft"
    assert item.data == {"title": "Fresh <b>post</b>", "views": 7, "category": "tech", "featured": True}
    page = response.follow()
    assert "Fresh &lt;b&gt;post&lt;/b&gt;" in page.text and "<b>post</b>" not in page.text


def test_edit_saves_through_the_service_and_the_cache_sees_it(browser, signed_in_as, posts):
    editor = signed_in_as("editor")
    item = insert_content(editor, posts, state="published", title="Old title",
                          data={"title": "Old title", "tags": ["kept"]}, published_at=now_ms())
    api = f"/api/content/{item.id}"
    assert browser.get(api, headers={"Accept": "application/json"}).json["data"]["title"] == "Old title"
    form = browser.get(edit_url(item)).forms["content-form"]
    form["title"] = "New title"
    form["data.body"] = "Some **rich** text"
    form["data.day"] = "2026-12-24"
    response = form.submit(status=303)
    assert response.location.endswith(edit_url(item) + "?saved=1")
    assert "Saved." in response.follow().text
    saved = Content.get_by_id(item.id)
    assert saved.title == "New title" and saved.version_number == 2
    assert saved.data == {"title": "New title", "tags": ["kept"], "body": "Some **rich** text", "day": "2026-12-24"}
    browser.reset()  # an anonymous, cached read
    assert browser.get(api, headers={"Accept": "application/json"}).json["data"]["title"] == "New title"


def test_validation_errors_are_rendered_next_to_their_fields(browser, signed_in_as, posts):
    editor = signed_in_as("editor")
    item = insert_content(editor, posts, title="Valid")
    form = browser.get(edit_url(item)).forms["content-form"]
    form["title"] = ""
    form["data.views"] = "many"
    form["data.excerpt"] = "x" * 30
    response = form.submit(status=422)
    errors = {node["id"]: node.text for node in response.html.select(".field-error")}
    assert set(errors) == {"f-title-error", "f-data-views-error", "f-data-excerpt-error"}
    assert "required" in errors["f-title-error"]
    # As a browser reads the textarea (its first newline is the markup's, not the value's).
    assert response.forms["content-form"]["data.excerpt"].value == "x" * 30, "what was typed stays"
    assert Content.get_by_id(item.id).title == "Valid"


def test_a_taken_slug_is_rendered_next_to_the_slug_field(browser, signed_in_as, posts):
    # The service's 409 names the field (``[{field: "slug", message, slug}]``): the page
    # says why beside the input, as it does for a 422, not only at the top.
    editor = signed_in_as("editor")
    insert_content(editor, posts, title="Holder", slug="taken")
    item = insert_content(editor, posts, title="Mover", slug="free")
    form = browser.get(edit_url(item)).forms["content-form"]
    form["slug"] = "taken"
    response = form.submit(status=409)
    assert response.html.select_one("#f-slug-error").text == "another item of this collection has this slug"
    assert response.html.select_one("#f-slug")["value"] == "taken"
    assert Content.get_by_id(item.id).slug == "free"


def test_a_new_item_s_taken_slug_is_said_in_the_refusal_s_words(browser, signed_in_as, posts):
    # The new-item form leaves a 409 to the error page, which lists the envelope's details.
    editor = signed_in_as("editor")
    insert_content(editor, posts, title="Holder", slug="taken")
    form = browser.get("/admin/content/posts/new").forms["content-form"]
    form["title"] = "Another"
    form["slug"] = "taken"
    page = form.submit(status=409)
    assert [line.text for line in page.html.select(".refusal li")] == [
        "A content item with this slug already exists in this collection",
        "slug: another item of this collection has this slug"]
    assert not Content.select().where(Content.title == "Another").exists()


def test_a_stale_edit_shows_a_conflict_and_overwrites_nothing(browser, signed_in_as, posts):
    editor = signed_in_as("editor")
    item = insert_content(editor, posts, title="Original")
    form = browser.get(edit_url(item)).forms["content-form"]
    browser.put_json(f"/api/content/{item.id}", {"title": "Changed elsewhere"},
                     headers={**bearer(token_for(editor)), "Accept": "application/json"})
    form["title"] = "My late change"
    response = form.submit(status=409)
    assert "Someone changed this item after you opened it" in response.text
    assert response.html.select_one("#f-title")["value"] == "My late change"
    assert Content.get_by_id(item.id).title == "Changed elsewhere"
    # The typed change is stored nowhere: leaving the page warns from the start (admin.js).
    assert response.html.select_one("form#content-form")["data-warn-unsaved"] == "changed"
    # Saving the conflict page again is refused again: the other change is never overwritten unseen.
    assert "Someone changed this item" in response.forms["content-form"].submit(status=409).text
    assert Content.get_by_id(item.id).title == "Changed elsewhere"


@pytest.mark.parametrize("opened_at", ["9" * 5000, str(2**63)])
def test_a_version_no_item_can_have_is_a_conflict(browser, signed_in_as, posts, opened_at):
    """More digits than Python converts, or past the 64-bit column: no item's version, so the
    save is stale, as for any other version the item is not at."""
    editor = signed_in_as("editor")
    item = insert_content(editor, posts, title="Original")
    browser.post(edit_url(item), {"title": "Late", "version_number": opened_at}, headers=csrf_headers(browser),
                 status=409)
    assert Content.get_by_id(item.id).title == "Original"


def test_an_item_without_a_version_number_is_saved_and_numbered(browser, signed_in_as, posts):
    """An item whose version_number is NULL (a row written by hand with SQL) is opened at no
    version: its form posts none, and the save goes through while the column is still NULL,
    numbering it 2 as an API edit does (NULL counts as version 1). Once it is numbered, a
    form opened at no version is stale, as any other."""
    editor = signed_in_as("editor")
    item = insert_content(editor, posts, title="By hand")
    Content.update(version_number=None).where(Content.id == item.id).execute()
    page = browser.get(edit_url(item))
    assert "no version" in page.html.select_one("p.meta").text
    form, stale = page.forms["content-form"], browser.get(edit_url(item)).forms["content-form"]
    assert form["version_number"].value == ""
    form["title"] = "Saved"
    form.submit(status=303)
    saved = Content.get_by_id(item.id)
    assert (saved.title, saved.version_number) == ("Saved", 2)
    stale["title"] = "Late"
    response = stale.submit(status=409)
    assert "Someone changed this item" in response.text
    assert response.forms["content-form"]["version_number"].value == ""
    assert "Someone changed this item" in response.forms["content-form"].submit(status=409).text
    assert Content.get_by_id(item.id).title == "Saved"
    # The API's edit of such an item numbers it the same way.
    other = insert_content(editor, posts, title="Also by hand")
    Content.update(version_number=None).where(Content.id == other.id).execute()
    browser.put_json(f"/api/content/{other.id}", {"title": "Via the API"},
                     headers={**bearer(token_for(editor)), "Accept": "application/json"})
    assert Content.get_by_id(other.id).version_number == 2



def test_an_item_without_a_version_number_is_numbered_past_the_versions_it_has(browser, signed_in_as, posts):
    """An item whose version_number was emptied by hand after it stored versions 1 to 3 is
    saved, and a version of it restored, each numbered past the highest stored version."""
    signed_in_as("editor")
    form = browser.get("/admin/content/posts/new").forms["content-form"]
    form["title"] = "One"
    form.submit(status=303)
    item = Content.get(Content.title == "One")
    for title in ("Two", "Three"):
        form = browser.get(edit_url(item)).forms["content-form"]
        form["title"] = title
        form.submit(status=303)
    Content.update(version_number=None).where(Content.id == item.id).execute()
    form = browser.get(edit_url(item)).forms["content-form"]
    form["title"] = "Four"
    form.submit(status=303)
    assert (Content.get_by_id(item.id).title, Content.get_by_id(item.id).version_number) == ("Four", 4)
    Content.update(version_number=None).where(Content.id == item.id).execute()
    restore = browser.get(f"{edit_url(item)}/versions/1").forms["restore-version-form"]
    assert "restored as a new version" in restore.submit(status=303).follow().text
    restored = Content.get_by_id(item.id)
    assert (restored.title, restored.version_number) == ("One", 5)

DRAFTS_SCHEMA = {
    "type": "object",
    "properties": {
        "title": {"type": "string"},
        "subtitle": {"type": "string"},
        "extra": {"type": "json"},
        "parts": {"type": "array", "blocks": {"part": {"properties": {
            "heading": {"type": "string"}, "boxed": {"type": "boolean"}}}}},
    },
}


def test_a_conflict_reads_the_form_against_the_version_it_was_opened_at(browser, signed_in_as):
    """The form posts the version it was filled from: after a conflict its values are read
    against that version, not the newer one, so what the editor left untouched is shown again
    as they saw it (spaces kept, each block read against the block it showed), every time."""
    create_collection("drafts", DRAFTS_SCHEMA, display_name="Drafts")
    editor = signed_in_as("editor")
    api = {**bearer(token_for(editor)), "Accept": "application/json"}
    opened = {"subtitle": " Spaced ", "extra": {"k": 1}, "parts": [{"blockType": "part", "heading": " x "}]}
    item_id = browser.post_json("/api/content", {"collectionId": "drafts", "title": "Opened", "data": opened},
                                headers=api).json["data"]["id"]
    form = browser.get(f"/admin/content/drafts/{item_id}").forms["content-form"]
    elsewhere = {"subtitle": "Other", "extra": {"k": 2}, "parts": [
        {"blockType": "part", "heading": "y", "boxed": True}, {"blockType": "part", "heading": " x "}]}
    browser.put_json(f"/api/content/{item_id}", {"title": "Changed elsewhere", "data": elsewhere}, headers=api)
    form["title"] = "Mine"
    response = form.submit(status=409)
    for _ in range(2):  # shown again, and again after saving the shown page
        form = response.forms["content-form"]
        assert form["version_number"].value == "1"
        assert (form["title"].value, form["data.subtitle"].value) == ("Mine", " Spaced ")
        assert form["data.parts.0.heading"].value == " x " and not form["data.parts.0.boxed"].checked
        assert "data.parts.1.heading" not in form.fields
        assert json.loads(form["data.extra"].value) == {"k": 1}
        response = form.submit(status=409)
    after = Content.get_by_id(item_id)
    assert (after.title, after.data) == ("Changed elsewhere", {"title": "Changed elsewhere", **elsewhere})


def test_a_refused_save_shows_the_seo_fields_as_typed(browser, signed_in_as, posts):
    editor = signed_in_as("editor")
    item = insert_content(editor, posts, title="Valid", meta_title="Stored title")
    form = browser.get(edit_url(item)).forms["content-form"]
    form["title"], form["meta_title"], form["meta_description"] = "", "Typed title", "Typed description"
    form = form.submit(status=422).forms["content-form"]
    assert (form["meta_title"].value, form["meta_description"].value) == ("Typed title", "Typed description")
    form = browser.get("/admin/content/posts/new").forms["content-form"]
    form["meta_title"], form["meta_description"] = "New title", "New description"
    form = form.submit(status=422).forms["content-form"]
    assert (form["meta_title"].value, form["meta_description"].value) == ("New title", "New description")


def test_authors_cannot_edit_others_items(browser, signed_in_as, posts):
    signed_in_as("author")
    item = insert_content(create_user("author"), posts, state="published", title="Theirs", published_at=now_ms())
    page = browser.get(edit_url(item))
    assert page.html.select_one("#content-form fieldset").has_attr("disabled")
    browser.post(edit_url(item), {"title": "Mine now", "version_number": "1"}, headers=csrf_headers(browser),
                 status=403)
    assert Content.get_by_id(item.id).title == "Theirs"


# ---------------------------------------------------------------- workflow


def buttons(page):
    return sorted(button["value"] for button in page.html.select("#workflow-form button[name=action]"))


def test_workflow_buttons_are_exactly_the_allowed_moves(browser, signed_in_as, posts):
    author = signed_in_as("author")
    item = insert_content(author, posts, title="Mine")
    assert buttons(browser.get(edit_url(item))) == ["submit"]
    browser.post(f"{edit_url(item)}/workflow", {"action": "publish"}, headers=csrf_headers(browser), status=403)
    assert Content.get_by_id(item.id).status == "draft"
    browser.reset()
    signed_in_as("editor")
    assert buttons(browser.get(edit_url(item))) == ["publish", "submit"]


def test_publishing_from_the_edit_page(browser, signed_in_as, posts):
    editor = signed_in_as("editor")
    item = insert_content(editor, posts, title="Ready")
    form = browser.get(edit_url(item)).forms["workflow-form"]
    form["comment"] = "Looks good"
    response = form.submit("action", value="publish", status=303)
    assert response.location.endswith("?moved=publish")
    page = response.follow()
    assert page.html.select_one("#item-status").text == "published"
    assert page.html.select_one("p.message.ok").text == "Published."
    assert buttons(page) == ["archive", "unpublish"]
    saved = Content.get_by_id(item.id)
    assert saved.status == "published" and saved.published_at is not None


def test_a_move_is_said_in_words_and_the_state_chip_stands_apart(browser, signed_in_as, posts):
    author = signed_in_as("author")
    item = insert_content(author, posts, title="Mine")
    page = browser.get(edit_url(item)).forms["workflow-form"].submit("action", value="submit", status=303).follow()
    assert page.html.select_one("p.message.ok").text == "Submitted for review."
    meta = page.html.select_one("p.meta").get_text()
    assert "draft pending-review version" in " ".join(meta.split())  # chips and link apart
    assert re.search(r"pending-review</span>\s+<a ", page.text)
    assert browser.get(f"{edit_url(item)}?moved=explode").html.select_one("p.message.ok") is None


def test_a_move_the_workflow_lacks_is_shown_as_a_conflict(browser, signed_in_as, posts):
    editor = signed_in_as("editor")
    item = insert_content(editor, posts, title="Draft")
    response = browser.post(f"{edit_url(item)}/workflow", {"action": "archive"}, headers=csrf_headers(browser),
                            status=409)
    assert "Cannot archive content in state draft" in response.text
    assert response.html.select_one("form#content-form")["data-warn-unsaved"] == ""  # the stored values
    assert browser.post(f"{edit_url(item)}/workflow", {"action": "explode"}, headers=csrf_headers(browser),
                        status=422)


# ---------------------------------------------------------------- media, users, collections


def media_row(owner, name, mime, deleted_at=None):
    return Media.create(filename=name, original_name=name, mime_type=mime, size=2048, r2_key=f"uploads/{name}",
                        public_url=f"/files/uploads/{name}", uploaded_by=owner.id, deleted_at=deleted_at)


def test_media_library_lists_live_files_and_never_inlines_svg(browser, signed_in_as):
    editor = signed_in_as("editor")
    media_row(editor, "photo.png", "image/png")
    media_row(editor, "drawing.svg", "image/svg+xml")
    media_row(editor, "notes.pdf", "application/pdf")
    media_row(editor, "trashed.png", "image/png", deleted_at=now_ms())
    page = browser.get("/admin/media")
    assert "3 files" in page.text and "trashed.png" not in page.text
    assert [img["src"] for img in page.html.select(".media-grid img")] == ["/files/uploads/photo.png"]
    assert "<svg" not in page.text
    only_docs = browser.get("/admin/media?type=document&search=notes")
    assert "1 file" in only_docs.text and "notes.pdf" in only_docs.text


def test_users_page_is_for_holders_of_users_read(browser, signed_in_as):
    signed_in_as("admin")
    create_user("author", email="findme@example.com")
    create_user("viewer", email="dormant@example.com", is_active=False)
    page = browser.get("/admin/users?search=findme")
    assert "findme@example.com" in page.text and "1 user" in page.text
    create_user("viewer", email="Élodie@example.com")
    # Every letter's case folds, on SQLite too. Sent escaped, as a browser does: WebTest hands a
    # raw "é" over as the one Latin-1 byte E9, no UTF-8, which the request guard refuses.
    page = browser.get("/admin/users?search=%C3%A9lodie")
    assert "Élodie@example.com" in page.text and "1 user" in page.text
    assert "dormant@example.com" in browser.get("/admin/users?status=inactive").text
    assert "dormant@example.com" not in browser.get("/admin/users?status=active").text
    browser.reset()
    signed_in_as("author")
    assert "/admin/users" not in browser.get("/admin").text, "no link to a page the role may not open"
    browser.get("/admin/users", status=403)


def test_collections_page_marks_config_managed_collections(browser, signed_in_as, posts):
    signed_in_as("admin")
    create_collection("from_file", SCHEMA, managed=True)
    create_collection("retired", is_active=False)
    page = browser.get("/admin/collections")
    rows = {row.select_one("small").text: row.text for row in page.html.select("tbody tr")}
    assert "config (read-only)" in rows["from_file"] and "database" in rows["posts"]
    assert "inactive" in rows["retired"]
    assert "9" in rows["posts"], "field count"


# ---------------------------------------------------------------- reset and invitation pages


def test_forgot_and_reset_password_pages(browser, outbox):
    user = create_user("author", password_hash=hashed())
    assert "Forgot your password?" in browser.get("/admin/login").text
    form = browser.get("/admin/forgot-password").forms["forgot-form"]
    form["email"] = "nobody@example.com"
    assert "If an account exists" in form.submit().text and not outbox.sent
    form = browser.get("/admin/forgot-password").forms["forgot-form"]
    form["email"] = user.email
    assert "If an account exists" in form.submit().text
    token = outbox.tokens("password_reset")[0]
    form = browser.get(f"/admin/reset-password?token={token}").forms["reset-form"]
    form["password"], form["confirm_password"] = "short", "short"
    assert "password" in form.submit(status=422).text.lower()
    form = browser.get("/admin/reset-password?token=not-a-real-token").forms["reset-form"]
    form["password"] = form["confirm_password"] = "a brand new password"
    assert "Invalid or expired reset token" in form.submit(status=400).text
    form = browser.get(f"/admin/reset-password?token={token}").forms["reset-form"]
    form["password"] = form["confirm_password"] = "a brand new password"
    response = form.submit(status=303)
    assert response.location.endswith("/admin/login?reset=1")
    assert "Your password was reset" in response.follow().text
    assert sign_in(browser, user, "a brand new password").status_int == 303


def test_accept_invitation_page_signs_the_new_user_in(browser, outbox):
    admin = create_user("admin")
    browser.post_json("/admin/api/users/invite", {"email": "newbie@example.com", "role": "author"},
                      headers={**bearer(token_for(admin)), "Accept": "application/json"}, status=201)
    token = outbox.tokens("invitation")[0]
    form = browser.get(f"/admin/accept-invitation?token={token}").forms["invitation-form"]
    form["username"] = "newbie"
    form["password"], form["confirm_password"] = "a good long password", "different"
    response = form.submit(status=422)
    assert "Passwords do not match." in response.text
    form = response.forms["invitation-form"]
    form["password"] = form["confirm_password"] = "a good long password"
    assert form.submit(status=303).location.endswith("/admin")
    page = browser.get("/admin")
    assert "newbie@example.com" in page.text  # the header's sign-out button names the user


def test_sonicjs_sign_in_links_lead_to_the_admin_pages_with_their_query(browser, outbox):
    """SonicJS's pages live at /auth/*; its links and bookmarks land on the admin's pages."""
    login = browser.get("/auth/login?next=/admin/content", status=303)
    assert login.location.endswith("/admin/login?next=/admin/content") and login.headers["Cache-Control"] == "no-store"
    assert login.follow().forms[0]["next"].value == "/admin/content"
    assert browser.get("/auth/register", status=303).location.endswith("/admin/login")
    user = create_user("author", password_hash=hashed())
    browser.post_json("/auth/request-password-reset", {"email": user.email}, status=202)
    token = outbox.tokens("password_reset")[0]
    page = browser.get(f"/auth/reset-password?token={token}", status=303).follow(status=200)
    assert page.request.path == "/admin/reset-password"
    form = page.forms["reset-form"]
    form["password"] = form["confirm_password"] = "a brand new password"
    assert form.submit(status=303).location.endswith("/admin/login?reset=1")
    invited = browser.get("/auth/accept-invitation?token=abc", status=303)
    assert invited.location.endswith("/admin/accept-invitation?token=abc")
    assert invited.follow().forms["invitation-form"]["token"].value == "abc"


def test_sonicjs_sign_in_links_keep_an_escaped_query_as_sent(browser):
    """The query reaches the admin's page as the client sent it: an escape is not escaped
    again, and a raw UTF-8 byte is escaped once (as that byte)."""
    escaped = browser.get("/auth/login?next=%2Fadmin%2Fcontent%3Fq%3Dcaf%C3%A9", status=303)
    assert escaped.location.endswith("/admin/login?next=%2Fadmin%2Fcontent%3Fq%3Dcaf%C3%A9")
    assert escaped.follow().forms[0]["next"].value == "/admin/content?q=café"
    sent_raw = webtest.TestRequest.blank("/auth/reset-password")
    sent_raw.environ["QUERY_STRING"] = "token=café x".encode().decode("latin-1")  # as a WSGI server passes it
    raw = browser.do_request(sent_raw, status=303)
    assert raw.location.endswith("/admin/reset-password?token=caf%C3%A9%20x")


@pytest.mark.parametrize("path", ["/auth/login/form", "/auth/register/form"])
def test_sonicjs_form_posts_land_on_the_sign_in_page_and_sign_nobody_in(browser, path):
    user = create_user("author", password_hash=hashed())
    response = browser.post(path, {"email": user.email, "password": PASSWORD}, status=303)
    assert response.location.endswith("/admin/login") and "Set-Cookie" not in response.headers
    assert response.follow().request.path == "/admin/login"
    assert browser.get("/admin", status=303).location.endswith("/admin/login?next=%2Fadmin&reason=required")


# ---------------------------------------------------------------- trash, purge, scheduling


def test_trash_restore_and_purge(browser, signed_in_as, posts):
    editor = signed_in_as("editor")
    item = insert_content(editor, posts, title="Doomed")
    page = browser.get(edit_url(item))
    assert page.html.select("#delete-form") and not page.html.select("#purge-form"), "purge is for admins"
    response = page.forms["delete-form"].submit(status=303).follow()
    assert "This item is in the trash." in response.text and Content.get_by_id(item.id).deleted_at is not None
    assert not response.html.select("#save") and not response.html.select("#workflow-form")
    assert "Doomed" not in browser.get("/admin/content/posts").text
    trash = browser.get("/admin/content/posts?status=trash")  # where a trashed item is found again
    assert [a.text.strip() for a in trash.html.select("tbody td a")][:1] == ["Doomed"]
    assert trash.html.select_one("a.chip-trash") is not None
    response = response.forms["restore-form"].submit(status=303).follow()
    assert "Restored from the trash." in response.text and Content.get_by_id(item.id).deleted_at is None
    browser.post(f"{edit_url(item)}/purge", headers=csrf_headers(browser), status=403)
    browser.reset()
    signed_in_as("admin")
    browser.get(edit_url(item)).forms["delete-form"].submit(status=303)
    form = browser.get(edit_url(item)).forms["purge-form"]
    assert "cannot be undone" in form.html.form["data-confirm"]  # the page's script asks first
    response = form.submit(status=303)
    assert response.location.endswith("/admin/content/posts?status=trash&purged=1")
    assert response.follow().html.select_one("#bulk-done").text == "The item was deleted permanently."
    assert Content.get_or_none(Content.id == item.id) is None


def test_purge_is_offered_and_taken_for_trashed_items_only(browser, signed_in_as, posts):
    signed_in_as("admin")
    item = insert_content(create_user("editor"), posts, title="Live", state="published", published_at=now_ms())
    assert not browser.get(edit_url(item)).html.select("#purge-form")
    page = browser.post(f"{edit_url(item)}/purge", headers=csrf_headers(browser), status=409)
    assert page.content_type == "text/html" and "move it to the trash first" in page.text
    assert Content.get_by_id(item.id).deleted_at is None
    assert "deleted permanently" not in browser.get("/admin/content/posts?purged=2").text


def test_authors_trash_only_their_own_items(browser, signed_in_as, posts):
    signed_in_as("author")
    theirs = insert_content(create_user("author"), posts, state="published", title="Theirs", published_at=now_ms())
    assert not browser.get(edit_url(theirs)).html.select("#delete-form")
    browser.post(f"{edit_url(theirs)}/delete", headers=csrf_headers(browser), status=403)
    assert Content.get_by_id(theirs.id).deleted_at is None


def test_scheduling_from_the_edit_page(browser, signed_in_as, posts):
    editor = signed_in_as("editor")
    item = insert_content(editor, posts, title="Later")
    form = browser.get(edit_url(item)).forms["schedule-form"]
    form["action"], form["scheduled_at"], form["timezone"] = "publish", "2000-01-01T09:00", "Europe/Paris"
    past = form.submit(status=422)
    assert past.html.select_one("p.message.error").text == "The time must be in the future."
    assert "scheduled_at" not in past.html.select_one("p.message.error").text
    form["scheduled_at"], form["timezone"] = "2099-06-01T09:00", "Mars/Olympus"
    assert "Unknown time zone" in form.submit(status=422).text
    form["timezone"] = "Europe/Paris"
    page = form.submit(status=303).follow()
    assert "Scheduled." in page.text and "publish at 2099-06-01 07:00 UTC" in page.text
    row = ScheduledContent.get(ScheduledContent.content == item.id)
    assert row.action == "publish" and row.timezone == "Europe/Paris" and row.status == "pending"
    live = insert_content(editor, posts, state="published", title="Live", published_at=now_ms())
    browser.reset()
    signed_in_as("author")
    assert not browser.get(edit_url(live)).html.select("#schedule-form")


def test_unpublishing_is_scheduled_only_for_what_will_be_published_by_then(browser, signed_in_as, posts):
    editor = signed_in_as("editor")
    draft = insert_content(editor, posts, title="Unfinished")
    form = browser.get(edit_url(draft)).forms["schedule-form"]
    form["action"], form["scheduled_at"], form["timezone"] = "unpublish", "2099-06-01T09:00", "UTC"
    refused = form.submit(status=409)
    assert "Only a published item can be unpublished" in refused.html.select_one("p.message.error").text
    assert ScheduledContent.select().where(ScheduledContent.content == draft.id).count() == 0
    form["scheduled_at"] = "2000-06-01T09:00"  # past: that is what is said, as for any action
    past = form.submit(status=422)
    assert past.html.select_one("p.message.error").text.startswith("The time must be in the future")
    form["action"], form["scheduled_at"] = "publish", "2099-05-01T09:00"
    form.submit(status=303)
    form["action"], form["scheduled_at"] = "unpublish", "2099-04-01T09:00"  # before that publish
    form.submit(status=409)
    form["scheduled_at"] = "2099-06-01T09:00"  # after it: an embargo's end
    form.submit(status=303)
    assert sorted(row.action for row in ScheduledContent.select().where(ScheduledContent.content == draft.id)) == [
        "publish", "unpublish"]
    live = insert_content(editor, posts, title="Live", state="published", published_at=now_ms())
    form = browser.get(edit_url(live)).forms["schedule-form"]
    form["action"], form["scheduled_at"], form["timezone"] = "unpublish", "2099-06-01T09:00", "UTC"
    form.submit(status=303)


def test_a_refused_schedule_keeps_what_was_typed_and_a_pending_one_can_be_cancelled(browser, signed_in_as, posts):
    editor = signed_in_as("editor")
    item = insert_content(editor, posts, title="Later")
    form = browser.get(edit_url(item)).forms["schedule-form"]
    form["action"], form["scheduled_at"], form["timezone"] = "archive", "2000-01-01T09:00", "Europe/Paris"
    refused = form.submit(status=422).forms["schedule-form"]  # in the past
    assert (refused["action"].value, refused["scheduled_at"].value, refused["timezone"].value) == (
        "archive", "2000-01-01T09:00", "Europe/Paris")
    refused["action"], refused["scheduled_at"] = "publish", "2099-06-01T09:00"
    page = refused.submit(status=303).follow()
    cancel = next(f for f in page.forms.values() if f.action.endswith("/cancel"))
    assert "Cancel the publish at 2099-06-01 07:00 UTC" in page.text
    assert "The schedule was cancelled." in cancel.submit(status=303).follow().text
    assert ScheduledContent.get(ScheduledContent.content == item.id).status == "cancelled"
    assert not next((f for f in browser.get(edit_url(item)).forms.values() if f.action.endswith("/cancel")), None)
    cancel.submit(status=404)  # no longer pending
    other = insert_content(editor, posts, title="Other")
    browser.post(f"{edit_url(other)}/schedules/{cancel.action.split('/')[-2]}/cancel", headers=csrf_headers(browser),
                 status=404)  # not that item's schedule


# ---------------------------------------------------------------- versions


def save(browser, item, **fields):
    form = browser.get(edit_url(item)).forms["content-form"]
    for name, value in fields.items():
        form[name] = value
    return form.submit(status=303)


def test_an_unchanged_save_keeps_what_the_api_stored(browser, signed_in_as, posts):
    """A date input empties a value that is not a plain date, and HTML parsers drop a
    textarea's first newline: the form shows such values so that saving keeps them. Text
    typed is trimmed, but a stored value posted back as it was is kept, spaces and all."""
    editor = signed_in_as("editor")
    data = {"title": "Kept", "subtitle": "  spaced  ", "day": "2026-01-31T10:00:00Z", "excerpt": "\nfirst line",
            "body": "\n# Heading"}
    item = insert_content(editor, posts, title="Kept", data=data)
    page = browser.get(edit_url(item))
    assert page.html.select_one('input[name="data.day"]')["type"] == "text"
    save(browser, item)
    assert Content.get_by_id(item.id).data == data  # an unticked box that was never set stays not set
    save(browser, item, **{"data.featured": True})
    save(browser, item, **{"data.featured": False})
    assert Content.get_by_id(item.id).data["featured"] is False  # unticked once set: false
    save(browser, item, **{"data.subtitle": "  typed  "})
    assert Content.get_by_id(item.id).data["subtitle"] == "typed"
    plain = insert_content(editor, posts, title="Plain", data={"title": "Plain", "day": "2026-01-31"})
    assert browser.get(edit_url(plain)).html.select_one('input[name="data.day"]')["type"] == "date"


def test_an_unchanged_save_keeps_the_datas_keys_in_their_stored_order(browser, signed_in_as, posts):
    """The data's ``title`` (filled from the item's title by the service) keeps its place."""
    editor = signed_in_as("editor")
    item = insert_content(editor, posts, title="Kept", data={"subtitle": "Sub", "title": "Kept", "views": 2})
    stored = json.dumps(Content.get_by_id(item.id).data)
    save(browser, item)
    assert json.dumps(Content.get_by_id(item.id).data) == stored
    save(browser, item, title="Renamed")
    assert json.dumps(Content.get_by_id(item.id).data) == stored.replace("Kept", "Renamed")


def test_an_unchanged_save_keeps_the_line_breaks_of_single_line_text(browser, signed_in_as, posts):
    """An input cannot hold a line break: a text field or a title the API stored with one is
    posted back without it, and is kept as stored; typed text is saved as typed."""
    editor = signed_in_as("editor")
    data = {"title": "Two\nlines", "subtitle": "Sub\r\ntitle\n", "tags": ["tag\none"]}
    item = insert_content(editor, posts, title="Two\nlines", data=data)
    stored = Content.get_by_id(item.id)
    form = browser.get(edit_url(item)).forms["content-form"]
    as_a_browser_sends(form, "title", "data.subtitle", "data.tags")
    assert (form["title"].value, form["data.subtitle"].value) == ("Twolines", "Subtitle")
    form.submit(status=303)
    saved = Content.get_by_id(item.id)
    assert (saved.title, json.dumps(saved.data)) == (stored.title, json.dumps(stored.data))
    assert saved.version_number == stored.version_number  # nothing changed in it: nothing written
    save(browser, item, **{"data.subtitle": "Typed"})
    assert Content.get_by_id(item.id).data["subtitle"] == "Typed"


def test_a_textareas_line_breaks_survive_the_browsers_crlf(browser, signed_in_as, posts):
    editor = signed_in_as("editor")
    data = {"title": "Lines", "excerpt": "one\ntwo", "body": "# H\n\npara\n"}
    item = insert_content(editor, posts, title="Lines", data=data)
    form = browser.get(edit_url(item)).forms["content-form"]
    as_a_browser_sends(form, "data.excerpt", "data.body")
    form.submit(status=303)
    stored = Content.get_by_id(item.id)
    assert (stored.data["excerpt"], stored.data["body"]) == ("one\ntwo", "# H\n\npara\n")
    assert stored.version_number == item.version_number  # nothing changed in it: nothing written
    form = browser.get(edit_url(item)).forms["content-form"]
    form["data.excerpt"] = "three\r\nfour"
    form.submit(status=303)
    assert Content.get_by_id(item.id).data["excerpt"] == "three\nfour"


def test_values_of_fields_the_schema_lost_are_shown_and_can_be_removed(browser, signed_in_as, posts):
    editor = signed_in_as("editor")
    item = insert_content(editor, posts, title="Old", data={"title": "Old", "line": "from before", "views": 3})
    page = browser.get(edit_url(item))
    assert "from before" in page.html.select_one("#leftovers").text
    refused = page.forms["content-form"].submit(status=422)  # kept: the service refuses the unknown field
    assert "not in the collection schema" in refused.html.select_one("#leftovers").text
    form = refused.forms["content-form"]
    form["drop"] = "line"
    form.submit(status=303)
    assert Content.get_by_id(item.id).data == {"title": "Old", "views": 3}
    assert browser.get(edit_url(item)).html.select_one("#leftovers") is None


def test_an_item_as_large_as_the_api_takes_can_be_saved_in_the_admin(browser, signed_in_as, posts):
    """URL-encoded, 800 KB of Cyrillic text is 2.4 MB of form: the API takes the item, so must the admin."""
    editor = signed_in_as("editor")
    body = "Жизнь " * 140_000
    item = insert_content(editor, posts, title="Long", data={"title": "Long", "body": body})
    form = browser.get(edit_url(item)).forms["content-form"]
    form["title"] = "Long, edited"
    form.submit(status=303)
    assert Content.get_by_id(item.id).data["body"] == body


def test_the_seo_fields_are_edited_in_the_form(browser, signed_in_as, posts):
    editor = signed_in_as("editor")
    item = insert_content(editor, posts, title="Seen")
    save(browser, item, meta_title="  Found by search ", meta_description="Line one\r\nline two")
    stored = Content.get_by_id(item.id)
    assert (stored.meta_title, stored.meta_description) == ("Found by search", "Line one\nline two")
    form = browser.get(edit_url(item)).forms["content-form"]
    assert form["meta_title"].value == "Found by search"
    save(browser, item, meta_title="")
    assert Content.get_by_id(item.id).meta_title is None and Content.get_by_id(item.id).meta_description
    Content.update(meta_title="Two\nlines").where(Content.id == item.id).execute()  # as the API may store it
    save(browser, item, meta_title="Twolines")  # what a browser's input posts back for it
    assert Content.get_by_id(item.id).meta_title == "Two\nlines"


def test_versions_diff_and_restore(browser, signed_in_as, posts):
    editor = signed_in_as("editor")
    form = browser.get("/admin/content/posts/new").forms["content-form"]
    form["title"], form["data.views"] = "First", "1"
    form.submit(status=303)
    item = Content.get(Content.title == "First")
    save(browser, item, title="Second", **{"data.views": "2", "data.category": "news"})
    listing = browser.get(f"{edit_url(item)}/versions")
    assert "2 versions" in listing.text and "2 (current)" in listing.text
    diff = browser.get(f"{edit_url(item)}/versions/1")
    changed = {row.th.contents[0].strip() for row in diff.html.select("tr.changed")}
    assert changed == {"title", "data.title", "data.views", "data.category"}
    assert diff.html.select_one("#restore-version-form")["data-confirm"].startswith("Restore version 1?")
    response = diff.forms["restore-version-form"].submit(status=303).follow()
    assert "restored as a new version" in response.text
    restored = Content.get_by_id(item.id)
    assert restored.title == "First" and restored.version_number == 3 and restored.data["views"] == 1
    assert restored.author_id == editor.id


def test_a_version_the_schema_no_longer_allows_says_why_it_is_not_restored(browser, signed_in_as, posts):
    signed_in_as("editor")
    form = browser.get("/admin/content/posts/new").forms["content-form"]
    form["title"], form["data.excerpt"] = "One", "twelve chars"
    form.submit(status=303)
    item = Content.get(Content.title == "One")
    save(browser, item, **{"data.excerpt": "short"})
    posts.schema = {**SCHEMA, "properties": {**SCHEMA["properties"], "excerpt": {"type": "textarea", "maxLength": 6}}}
    posts.save()
    refused = browser.get(f"{edit_url(item)}/versions/1").forms["restore-version-form"].submit(status=422)
    assert "does not fit the collection" in refused.text
    lines = [line.get_text() for line in refused.html.select("#restore-refusal li")]
    assert len(lines) == 1 and lines[0].startswith("data.excerpt: "), "a line per field, as a taken slug's"
    assert Content.get_by_id(item.id).version_number == 2


def test_a_stale_version_restore_is_a_conflict(browser, signed_in_as, posts):
    editor = signed_in_as("editor")
    form = browser.get("/admin/content/posts/new").forms["content-form"]
    form["title"] = "One"
    form.submit(status=303)
    item = Content.get(Content.title == "One")
    save(browser, item, title="Two")
    restore = browser.get(f"{edit_url(item)}/versions/1").forms["restore-version-form"]
    save(browser, item, title="Three")
    response = restore.submit(status=409)
    assert "The item changed since this page was opened" in response.text
    assert Content.get_by_id(item.id).title == "Three" and Content.get_by_id(item.id).author_id == editor.id


def test_a_version_whose_slug_is_taken_now_says_by_what_and_what_to_do(browser, signed_in_as, posts):
    """The service's 409 names the slug in its details: the page says the slug's problem with
    the slug under the refusal's message, whether another item holds it or one in the trash
    (which the editor must restore or purge first)."""
    editor = signed_in_as("editor")
    form = browser.get("/admin/content/posts/new").forms["content-form"]
    form["title"], form["slug"] = "Launch", "launch"
    form.submit(status=303)
    item = Content.get(Content.title == "Launch")
    save(browser, item, slug="launch-day")
    holder = insert_content(editor, posts, title="Holder", slug="launch")
    refused = browser.get(f"{edit_url(item)}/versions/1").forms["restore-version-form"].submit(status=409)
    alert = refused.html.select_one("#restore-refusal")
    assert alert.p.text == "A content item with this slug already exists in this collection"
    assert [line.text for line in alert.select("li")] == ['slug "launch": another item of this collection has this slug']
    browser.get(edit_url(holder)).forms["delete-form"].submit(status=303)
    refused = browser.get(f"{edit_url(item)}/versions/1").forms["restore-version-form"].submit(status=409)
    assert [line.text for line in refused.html.select("#restore-refusal li")] == [
        'slug "launch": a deleted item holds this slug: restore or purge it first']
    assert refused.forms["restore-version-form"], "the restore can be tried again once the slug is free"
    kept = Content.get_by_id(item.id)
    assert (kept.slug, kept.version_number) == ("launch-day", 2)


def test_the_versions_of_an_item_without_a_version_number_are_compared_and_restored(browser, signed_in_as, posts):
    """An item whose version_number is NULL (set by hand with SQL) lists the versions it has,
    none current; a version is compared with the item as stored and restored into it, numbering
    it 2 as a save does; a restore page opened before that is stale once it is numbered."""
    signed_in_as("editor")
    form = browser.get("/admin/content/posts/new").forms["content-form"]
    form["title"], form["data.views"] = "First", "1"
    form.submit(status=303)
    item = Content.get(Content.title == "First")
    Content.update(version_number=None, title="By hand", data={"title": "By hand", "views": 5}).where(
        Content.id == item.id).execute()
    listing = browser.get(f"{edit_url(item)}/versions")
    assert "1 version" in listing.text and "(current)" not in listing.text
    assert listing.html.select_one("#unversioned") is not None
    diff = browser.get(f"{edit_url(item)}/versions/1")
    assert "no version number" in diff.html.h1.text
    changed = {row.th.contents[0].strip(): row.select("td")[1].text for row in diff.html.select("tr.changed")}
    assert changed == {"title": "By hand", "data.title": "By hand", "data.views": "5"}
    restore, stale = diff.forms["restore-version-form"], browser.get(f"{edit_url(item)}/versions/1").forms[
        "restore-version-form"]
    assert restore["version_number"].value == ""
    assert "restored as a new version" in restore.submit(status=303).follow().text
    restored = Content.get_by_id(item.id)
    assert (restored.title, restored.data["views"], restored.version_number) == ("First", 1, 2)
    assert "The item changed since this page was opened" in stale.submit(status=409).text
    assert "2 (current)" in browser.get(f"{edit_url(item)}/versions").text


def test_versions_are_for_the_items_editors(browser, signed_in_as, posts):
    signed_in_as("author")
    item = insert_content(create_user("author"), posts, state="published", title="Theirs", published_at=now_ms())
    browser.get(f"{edit_url(item)}/versions", status=403)
    browser.get(f"{edit_url(item)}/versions/1", status=403)
    browser.get("/admin/content/posts/no-such/versions", status=404)


def test_a_version_number_past_the_columns_range_is_no_version(browser, signed_in_as, posts):
    signed_in_as("editor")
    form = browser.get("/admin/content/posts/new").forms["content-form"]
    form["title"] = "One"
    form.submit(status=303)
    item = Content.get(Content.title == "One")
    browser.get(f"{edit_url(item)}/versions/99999999999999999999999", status=404)
    browser.post(f"{edit_url(item)}/versions/99999999999999999999/restore", headers=csrf_headers(browser), status=404)
    assert Content.get_by_id(item.id).version_number == 1


def test_other_refusals_are_pages_for_browsers(browser, signed_in_as):
    signed_in_as("editor")
    page = browser.get("/admin/account/tokens/some-token/revoke", status=405)
    assert page.content_type == "text/html" and "Not allowed" in page.text


def test_the_users_page_answers_sonicjs_json_to_api_clients(browser, signed_in_as):
    admin = signed_in_as("admin")
    for n in range(3):
        create_user("author", email=f"writer{n}@example.com")
    json_accept = {"Accept": "application/json"}
    body = browser.get("/admin/users?role=author&limit=2&page=2", headers=json_accept).json
    assert body["pagination"] == {"page": 2, "limit": 2, "total": 3, "pages": 2, "hasNext": False, "hasPrev": True}
    assert [user["role"] for user in body["users"]] == ["author"]
    api = browser.get("/admin/api/users?role=author&limit=2&page=2").json
    assert (api["data"], api["meta"]) == (body["users"], body["pagination"])
    assert admin.email in {user["email"] for user in browser.get("/admin/users", headers=json_accept).json["users"]}
    bad = browser.get("/admin/users?role=king", headers=json_accept, status=400).json
    assert bad["details"][0]["parameter"] == "role"
    assert browser.get("/admin/users").content_type == "text/html"


def test_admins_invite_change_roles_and_deactivate(browser, signed_in_as, outbox):
    admin = signed_in_as("admin")
    page = browser.get("/admin/users")
    form = page.forms["invite-form"]
    form["email"], form["role"] = "not-an-email", "author"
    assert "Enter a valid email address." in form.submit(status=422).text
    form["email"] = admin.email
    assert form.submit(status=409)
    form["email"] = "joiner@example.com"
    assert "Invitation sent." in form.submit(status=303).follow().text
    joiner = User.get(User.email == "joiner@example.com")
    assert joiner.role == "author" and not joiner.is_active and outbox.tokens("invitation")
    row = browser.get("/admin/users").html.select_one(f"#user-{joiner.id}")
    assert "invited" in row.text and not row.select("form[action$='/reactivate']")  # it activates by accepting
    browser.post(f"/admin/users/{joiner.id}/reactivate", headers=csrf_headers(browser), status=409)
    member = create_user("viewer", email="member@example.com")
    page = browser.get("/admin/users")
    assert not page.html.select(f"#user-{admin.id} form"), "no actions on oneself"
    role_form = next(f for f in page.forms.values() if f.action == f"/admin/users/{member.id}/role")
    role_form["role"] = "editor"
    role_form.submit(status=303)
    assert User.get_by_id(member.id).role == "editor"
    browser.post(f"/admin/users/{admin.id}/deactivate", headers=csrf_headers(browser), status=403)
    page = browser.get("/admin/users")
    # The role select is labelled; Deactivate and Cancel invitation ask the browser's confirm() first.
    label = page.html.select_one(f"label[for='role-{member.id}']")
    assert label.get_text() == "Role of member@example.com" and page.html.select_one(f"select#role-{member.id}")
    deactivate = next(f for f in page.forms.values() if f.action == f"/admin/users/{member.id}/deactivate")
    assert deactivate.html.form["data-confirm"].startswith(f"Deactivate {member.first_name} {member.last_name}?")
    cancel = page.html.select_one(f"form[action='/admin/users/{joiner.id}/cancel']")
    assert cancel["data-confirm"] == ("Cancel the invitation of joiner@example.com? The invited account is deleted"
                                      " (or kept inactive, when other records name it).")
    deactivate.submit(status=303)
    assert not User.get_by_id(member.id).is_active
    page = browser.get("/admin/users")
    next(f for f in page.forms.values() if f.action == f"/admin/users/{member.id}/reactivate").submit(status=303)
    assert User.get_by_id(member.id).is_active


def test_editors_read_users_but_cannot_manage_them(browser, signed_in_as):
    signed_in_as("editor")
    member = create_user("viewer")
    page = browser.get("/admin/users")
    assert member.email in page.text and not page.html.select(f"#user-{member.id} form")
    for action, data in (("role", {"role": "admin"}), ("deactivate", {})):
        browser.post(f"/admin/users/{member.id}/{action}", data, headers=csrf_headers(browser), status=403)
    assert User.get_by_id(member.id).role == "viewer" and User.get_by_id(member.id).is_active


# ---------------------------------------------------------------- API tokens


def test_api_tokens_are_shown_once_scoped_and_revocable(browser, signed_in_as, posts):
    author = signed_in_as("author")
    page = browser.get("/admin/account/tokens")
    offered = [box["value"] for box in page.html.select("input[name=permissions]")]
    assert "content.create" in offered and "users.delete" not in offered
    form = page.forms["token-form"]
    form["name"] = "ci"
    form.set("permissions", True, index=offered.index("content.read"))
    created = form.submit(status=201)
    token = created.html.select_one("#new-token")["value"]
    assert token.startswith("sp_")
    assert token not in browser.get("/admin/account/tokens").text, "shown once"
    api = {**bearer(token), "Accept": "application/json"}
    assert browser.get("/auth/me", headers=api).json["user"]["id"] == author.id
    browser.post("/admin/account/tokens", {"name": "x", "permissions": "users.delete"},
                 headers=csrf_headers(browser), status=422)
    row_form = next(f for f in browser.get("/admin/account/tokens").forms.values() if f.action.endswith("/revoke"))
    row_form.submit(status=303)
    browser.get("/auth/me", headers=api, status=401)


def test_a_token_without_permissions_is_refused_on_the_form(browser, signed_in_as):
    signed_in_as("author")
    page = browser.get("/admin/account/tokens")
    form = page.forms["token-form"]
    form["name"] = "no boxes ticked"
    refused = form.submit(status=422)
    assert [p.get_text() for p in refused.html.select("p.message.error")] == [
        "Choose at least one permission for the token."]
    assert refused.forms["token-form"]["name"].value == "no boxes ticked"
    assert ApiToken.select().count() == 0
    # Each permission is offered with what it allows.
    labels = {box["value"]: box.parent.get_text(" ", strip=True) for box in page.html.select("input[name=permissions]")}
    assert labels["content.read"] == "content.read View content"
    # A name may be reused: the Created column tells the tokens apart.
    for _ in range(2):
        form = browser.get("/admin/account/tokens").forms["token-form"]
        form["name"] = "ci"
        form.set("permissions", True, index=0)
        form.submit(status=201)
    rows = browser.get("/admin/account/tokens").html.select("tr[id^=token-]")
    assert [row.select("td")[0].get_text() for row in rows] == ["ci", "ci"]
    assert all(row.select("td")[2].get_text().endswith(" UTC") for row in rows)


def test_an_old_sign_in_confirms_the_password_to_create_a_token(browser, signed_in_as):
    """The token form asks for the current password once the sign-in is no longer recent,
    says why it refused, and counts a wrong password as a failed sign-in."""
    author = signed_in_as("author")
    page = browser.get("/admin/account/tokens")
    assert "not needed: you signed in recently" in page.text
    assert not page.html.select_one("#current_password").has_attr("required")
    (jar_cookie,) = (c for c in browser.cookiejar if c.name == "auth_token")
    jar_cookie.value = issue_jwt(author, settings_for_tests(), now=int(time.time()) - 3600)
    page = browser.get("/admin/account/tokens")
    assert page.html.select_one("#current_password").has_attr("required")
    form = page.forms["token-form"]
    form["name"] = "ci"
    form.set("permissions", True, index=0)
    refused = form.submit(status=403)
    assert "enter your current password, or sign in again: your sign-in is more than 10 minutes old" in refused.text
    assert refused.html.select_one("#current_password")["aria-invalid"] == "true"
    form = refused.forms["token-form"]
    form["current_password"] = "not the password"
    wrong = form.submit(status=422)
    assert "Current password is incorrect" in wrong.text and wrong.forms["token-form"]["name"].value == "ci"
    form = wrong.forms["token-form"]
    form["current_password"] = PASSWORD
    created = form.submit(status=201)
    assert created.html.select_one("#new-token")["value"].startswith("sp_")
    assert ApiToken.select().where(ApiToken.user == author.id).count() == 1


def test_wrong_passwords_on_the_token_form_reach_the_sign_in_limit(env, outbox):
    bind_models(env.DB.db)
    browser = browser_for(env, outbox, rate_limit_attempts=1)
    author = create_user("author", password_hash=hashed())
    sign_in(browser, author, status=303)
    data = {"name": "ci", "permissions": "content.read", "current_password": "not the password"}
    browser.post("/admin/account/tokens", data, headers=csrf_headers(browser), status=422)
    limited = browser.post("/admin/account/tokens", {**data, "current_password": PASSWORD},
                           headers=csrf_headers(browser), status=429)
    assert "Too many attempts; try again in" in limited.text
    assert ApiToken.select().count() == 0


def test_the_token_page_is_paged(browser, signed_in_as):
    author = signed_in_as("author")
    now = now_ms()
    ApiToken.insert_many([
        {"name": f"t{n:03d}", "token": f"{n:064x}", "user": author.id, "permissions": [],
         "expires_at": now + 86_400_000, "created_at": now + n}
        for n in range(53)
    ]).execute()
    first = browser.get("/admin/account/tokens")
    assert len(first.html.select("tbody tr")) == 50 and "Page 1 of 2" in first.text
    second = browser.get("/admin/account/tokens?page=2")
    assert [row.td.text for row in second.html.select("tbody tr")] == ["t002", "t001", "t000"]
    past = browser.get("/admin/account/tokens?page=5")
    assert "No tokens on this page" in past.text and "past the last page (2)" in past.text


def test_a_refused_token_form_keeps_the_ticked_permissions(browser, signed_in_as, posts):
    signed_in_as("author")
    page = browser.get("/admin/account/tokens")
    offered = [box["value"] for box in page.html.select("input[name=permissions]")]
    form = page.forms["token-form"]
    for name in ("content.read", "content.create"):
        form.set("permissions", True, index=offered.index(name))
    refused = form.submit(status=422)  # no name
    ticked = {box["value"] for box in refused.html.select("input[name=permissions][checked]")}
    assert ticked == {"content.read", "content.create"}


def test_others_tokens_cannot_be_revoked_from_the_page(browser, signed_in_as):
    signed_in_as("editor")
    roles = RolePermissions()
    other = create_user("editor")
    owner = Principal(id=other.id, email=other.email, role=other.role, permissions=frozenset(roles.of("editor")))
    row, _ = ApiTokens(roles).create(owner, "theirs", ["content.read"])
    browser.post(f"/admin/account/tokens/{row.id}/revoke", headers=csrf_headers(browser), status=404)
    assert ApiTokens(roles).get(row.id) is not None


@pytest.mark.parametrize("url", ["/admin/users?page=%C2%B2", "/admin/logs?page=%C2%B2", "/admin/logs?status=%C2%B2",
                                 "/admin/media?page=%C2%B2"])
def test_a_number_written_with_a_digit_int_refuses_is_no_number(browser, signed_in_as, url):
    """"²" is a digit to str.isdigit, not to int(): such a page number means the first page."""
    signed_in_as("admin")
    assert browser.get(url).status_int == 200


# A page asked for past the last one the lists number (999999), written however long.
PAST_NUMBERED_PAGES = ("1000000", "0" * 30 + "1000000", "9" * 5000)


@pytest.mark.parametrize("path", ["/admin/users", "/admin/logs", "/admin/account/tokens", "/admin/forms",
                                  "/admin/forms/contact/submissions", "/admin/media", "/admin/workflow/assignments"])
def test_a_page_past_those_numbered_is_past_the_last_not_the_first(browser, signed_in_as, path):
    signed_in_as("admin")
    forms.create_form({"name": "contact", "display_name": "Contact"}, turnstile_ready=False)
    for page in PAST_NUMBERED_PAGES:
        past = browser.get(f"{path}?page={page}")
        assert "The page asked for is past the last page (1)" in past.text and "999999" not in past.text
        assert past.html.select_one(".pager a[rel=prev]")["href"].endswith("page=1")
    for not_a_page in ("x", "-3", "1e9", "0"):
        assert "past the last page" not in browser.get(f"{path}?page={not_a_page}").text


# Other scripts' digits are digits (int() reads them), their zeros too: "٠" (Arabic-Indic
# zero) is no page, as "0" is, and leading ones count for nothing, as leading "0"s do.
ZERO_WRITTEN_OTHERWISE = ("%D9%A0", "%EF%BC%90%EF%BC%90")  # ٠, ００
SEVEN_AFTER_ZEROS = ("%D9%A0" * 8 + "%D9%A7", "%EF%BC%90" * 9 + "7")  # ٠٠٠٠٠٠٠٠٧, ０００００００００7


@pytest.mark.parametrize("path", ["/admin/users", "/admin/content"])
def test_a_page_written_in_another_scripts_digits_reads_as_in_ascii_ones(browser, signed_in_as, path):
    signed_in_as("admin")
    for zero in ZERO_WRITTEN_OTHERWISE:
        assert "past the last page" not in browser.get(f"{path}?page={zero}").text
    for seven in SEVEN_AFTER_ZEROS:
        assert "Page 7 is past the last page (1)" in browser.get(f"{path}?page={seven}").text
