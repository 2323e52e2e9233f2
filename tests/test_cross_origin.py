"""Cross-origin protection: a page on another origin cannot act with the visitor's session cookie.

A sibling subdomain is the same *site*, so ``SameSite=Strict`` sends the cookie along, and an
HTML form needs no CORS preflight: these tests post such forms (URL-encoded, multipart, no
body at all) to routes that take no JSON body, with the cookie a real sign-in set, and check
both the refusal and that nothing changed.
"""

import shutil

import pytest

from app.db.migrations import MigrationRunner
from app.db.models import ContentVersion, Media
from tests.fixtures.admin import browser_for, csrf_token, sign_in
from tests.fixtures.app import MIGRATIONS
from tests.fixtures.auth import PASSWORD, fast_client, login
from tests.fixtures.content import content_row

pytestmark = pytest.mark.backends

SELF = "http://localhost"  # WebTest's own origin: http, Host localhost:80
EVIL = "https://evil.example.com"
FRONT = "https://front.example.com"
FORM = {"Content-Type": "application/x-www-form-urlencoded"}
# What a browser sends with a form a page on a sibling subdomain submits.
SIBLING = {"Sec-Fetch-Site": "same-site", "Origin": EVIL}
SAME_ORIGIN = {"Sec-Fetch-Site": "same-origin", "Origin": SELF}


def signed_in(client, user_with_password, role):
    """A user of ``role`` signed in on ``client`` by ``POST /auth/login`` (the cookie is in its jar);
    returns ``(user, bearer headers)``."""
    user, headers = user_with_password(role)
    login(client, user.email, PASSWORD)
    assert client.cookies.get("auth_token")
    return user, headers


def assert_refused(response, why):
    assert response.status_int == 403
    assert response.json["error"] == "Cross-origin request refused"
    assert why in response.json["details"]
    assert "Set-Cookie" not in response.headers


@pytest.fixture
def own_migrations(env, tmp_path):
    """The env's DB reads its migrations from a copy of the real folder, with one more file pending."""
    folder = tmp_path / "migrations"
    shutil.copytree(MIGRATIONS, folder)
    # A statement that changes nothing: run or not, the migration's tracking row tells.
    (folder / "9001_noop.sql").write_text("UPDATE users SET first_name = first_name WHERE 1 = 0;\n")
    env.DB.config["migrations_dir"] = str(folder)
    return folder


def pending(env, folder):
    return [status.name for status in MigrationRunner(env.DB.db, folder).pending()]


@pytest.fixture
def edited(app_client, blog_collection, user_with_password):
    """An author signed in by cookie, and their item with two versions: ``(item id, headers)``."""
    _, headers = signed_in(app_client, user_with_password, "author")
    item = app_client.post_json("/api/content", {"collectionId": "blog", "title": "One"}, headers=headers,
                                status=201).json["data"]
    app_client.put_json(f"/api/content/{item['id']}", {"title": "Two"}, headers=headers)
    return item["id"], headers


def versions(item_id):
    return [row.version for row in ContentVersion.select().where(ContentVersion.content == item_id)]


def test_a_sibling_cannot_sign_the_visitor_out(app_client, user_with_password):
    signed_in(app_client, user_with_password, "viewer")
    refused = app_client.post("/auth/logout", "x=1", headers={**FORM, **SIBLING}, status=403)
    assert_refused(refused, "Sec-Fetch-Site: same-site")
    # The session was not ended: the same cookie still signs the visitor in.
    assert app_client.get("/auth/me").json["user"]["role"] == "viewer"
    app_client.post("/auth/logout", headers=SAME_ORIGIN)
    app_client.get("/auth/me", status=401)


def test_a_sibling_cannot_restore_a_version(app_client, edited):
    item_id, _ = edited
    refused = app_client.post(f"/api/content/{item_id}/versions/1/restore", headers=SIBLING, status=403)
    assert_refused(refused, "Sec-Fetch-Site")
    assert sorted(versions(item_id)) == [1, 2] and content_row(item_id).title == "Two"
    restored = app_client.post(f"/api/content/{item_id}/versions/1/restore", headers=SAME_ORIGIN)
    assert restored.json["data"]["version_number"] == 3 and content_row(item_id).title == "One"


def test_a_sibling_cannot_run_migrations(app_client, env, user_with_password, own_migrations):
    signed_in(app_client, user_with_password, "admin")
    app_client.post("/admin/api/migrations/run", "", headers={**FORM, "Sec-Fetch-Site": "cross-site", "Origin": EVIL},
                    status=403)
    assert pending(env, own_migrations) == ["9001_noop.sql"]
    ran = app_client.post("/admin/api/migrations/run", headers=SAME_ORIGIN).json
    assert ran["applied"] == ["9001"] and pending(env, own_migrations) == []


def test_a_sibling_cannot_upload_a_multipart_form(app_client, user_with_password):
    signed_in(app_client, user_with_password, "editor")
    before = Media.select().count()
    app_client.post("/api/media/upload", upload_files=[("file", "a.txt", b"hello")], headers=SIBLING, status=403)
    assert Media.select().count() == before
    app_client.post("/api/media/upload", upload_files=[("file", "a.txt", b"hello")], headers=SAME_ORIGIN,
                    status=201)
    assert Media.select().count() == before + 1


def test_a_sibling_cannot_restore_from_the_trash(app_client, edited):
    item_id, _ = edited
    app_client.delete(f"/api/content/{item_id}", headers=SAME_ORIGIN)
    app_client.post(f"/api/content/{item_id}/restore", headers=SIBLING, status=403)
    assert content_row(item_id).deleted_at is not None
    app_client.post(f"/api/content/{item_id}/restore", headers=SAME_ORIGIN)
    assert content_row(item_id).deleted_at is None


def test_an_old_browser_s_origin_alone_is_checked(app_client, edited):
    item_id, _ = edited
    path = f"/api/content/{item_id}/versions/1/restore"
    refused = app_client.post(path, headers={"Origin": EVIL}, status=403)
    assert_refused(refused, f"Origin {EVIL} is neither this site")
    app_client.post(path, headers={"Origin": "null"}, status=403)  # a sandboxed frame, a privacy redirect
    app_client.post(path, headers={"Origin": "https://localhost"}, status=403)  # the scheme counts
    assert sorted(versions(item_id)) == [1, 2]
    app_client.post(path, headers={"Origin": SELF})
    app_client.post(path, headers={"Origin": "http://LOCALHOST:80"})  # the same origin, spelt otherwise
    assert sorted(versions(item_id)) == [1, 2, 3, 4]


def test_the_user_s_own_navigation_and_non_browsers_pass(app_client, edited):
    item_id, _ = edited
    path = f"/api/content/{item_id}/versions/1/restore"
    app_client.post(path, headers={"Sec-Fetch-Site": "none"})  # the address bar, a bookmark
    app_client.post(path)  # neither header: curl, a server, a very old browser
    assert sorted(versions(item_id)) == [1, 2, 3, 4]


def test_a_credential_in_a_header_is_not_the_cookie_and_passes(app_client, edited):
    item_id, headers = edited
    path = f"/api/content/{item_id}/versions/1/restore"
    app_client.post(path, headers={**headers, **SIBLING})
    token = app_client.post_json("/api/tokens", {"name": "ci", "permissions": ["content.update"]},
                                 headers=headers, status=201).json["data"]["token"]
    app_client.post(path, headers={"X-API-Key": token, "Sec-Fetch-Site": "cross-site", "Origin": EVIL})
    assert sorted(versions(item_id)) == [1, 2, 3, 4]


def test_a_blank_bearer_leaves_the_cookie_acting_and_checked(app_client, edited):
    item_id, _ = edited
    app_client.post(f"/api/content/{item_id}/versions/1/restore", headers={"Authorization": "Bearer ", **SIBLING},
                    status=403)
    assert sorted(versions(item_id)) == [1, 2]


def test_an_api_request_without_a_credential_is_not_checked(app_client, user_with_password):
    # Under CORS_ALLOW_ORIGINS = * a page on any origin may sign in for a token of its own.
    user, _ = user_with_password("viewer")
    response = app_client.post_json("/auth/login", {"email": user.email, "password": PASSWORD},
                                    headers={"Sec-Fetch-Site": "cross-site", "Origin": FRONT})
    assert response.json["token"]


def test_a_listed_cors_origin_may_use_the_cookie(env, outbox, user_with_password, blog_collection):
    client = fast_client(env, outbox, cors_allow_origins=(FRONT,))
    _, headers = signed_in(client, user_with_password, "author")
    item_id = client.post_json("/api/content", {"collectionId": "blog", "title": "One"}, headers=headers,
                               status=201).json["data"]["id"]
    client.put_json(f"/api/content/{item_id}", {"title": "Two"}, headers=headers)
    path = f"/api/content/{item_id}/versions/1/restore"
    response = client.post(path, headers={"Sec-Fetch-Site": "cross-site", "Origin": FRONT})
    assert response.headers["Access-Control-Allow-Credentials"] == "true"
    client.post(path, headers={"Origin": FRONT})
    client.post(path, headers={"Sec-Fetch-Site": "same-site", "Origin": EVIL}, status=403)
    assert sorted(versions(item_id)) == [1, 2, 3, 4]


def test_the_star_setting_lists_no_origin(app_client, edited):
    item_id, _ = edited
    app_client.post(f"/api/content/{item_id}/versions/1/restore",
                    headers={"Sec-Fetch-Site": "cross-site", "Origin": FRONT}, status=403)


def test_behind_a_proxy_the_public_origin_is_the_request_s_own(env, outbox, user_with_password):
    # gunicorn sets wsgi.url_scheme from a loopback proxy's X-Forwarded-Proto; with
    # TRUSTED_PROXY_COUNT the proxy's forwarded scheme and host are read as well.
    public = "https://cms.example.com"
    for proxies, forwarded_status in ((1, 200), (0, 403)):
        client = fast_client(env, outbox, trusted_proxy_count=proxies)
        client.extra_environ["HTTP_HOST"] = "cms.example.com"  # what nginx passes on
        signed_in(client, user_with_password, "viewer")
        client.post("/auth/refresh", headers={"X-Forwarded-Proto": "https", "Origin": public},
                    status=forwarded_status)
        client.post("/auth/refresh", headers={"Origin": public}, extra_environ={"wsgi.url_scheme": "https"})
        client.post("/auth/refresh", headers={"Origin": "http://cms.example.com"})


# The admin's HTML forms: checked too, even before anyone signs in.

def test_a_sibling_cannot_post_the_admin_sign_in_form(browser, user_with_password):
    user, _ = user_with_password("editor")
    token = csrf_token(browser)
    page = browser.post("/admin/login", {"email": user.email, "password": PASSWORD, "csrf_token": token},
                        headers=SIBLING, status=403)
    assert "did not come from this site" in page.text
    assert "auth_token" not in browser.cookies
    assert sign_in(browser, user).status_int == 303


def test_a_sibling_cannot_sign_out_through_the_admin_even_with_a_token(browser, user_with_password):
    # Defence in depth: were a sibling ever to hold a valid CSRF pair, the origin still stops it.
    user, _ = user_with_password("editor")
    sign_in(browser, user)
    token = csrf_token(browser)
    browser.post("/admin/logout", {"csrf_token": token}, headers=SIBLING, status=403)
    assert browser.get("/admin").status_int == 200
    browser.post("/admin/logout", {"csrf_token": token}, headers=SAME_ORIGIN, status=303)
    assert browser.get("/admin").status_int == 303


def test_admin_pages_answer_json_refusals_to_api_clients(env, user_with_password):
    client = browser_for(env)
    client.extra_environ.pop("HTTP_ACCEPT")
    response = client.post("/admin/login", {"email": "a@example.com", "password": "x"}, headers=SIBLING, status=403)
    assert response.json["error"] == "Cross-origin request refused"


def test_a_sibling_cannot_send_a_webhook_test(env, outbox, user_with_password):
    client = fast_client(env, outbox, webhooks_allow_private_targets=True)
    _, headers = signed_in(client, user_with_password, "admin")
    # Nothing listens on port 9: a delivery, once sent, is a failed attempt, at once.
    hook = client.post_json("/admin/api/webhooks", {"url": "http://127.0.0.1:9/in", "events": ["*"]},
                            headers=headers, status=201).json["data"]
    deliveries = f"/admin/api/webhooks/{hook['id']}/deliveries"
    client.post(f"/admin/api/webhooks/{hook['id']}/test", headers=SIBLING, status=403)
    assert client.get(deliveries, headers=headers).json["data"] == []
    client.post(f"/admin/api/webhooks/{hook['id']}/test", headers=SAME_ORIGIN, status=202)
    assert [d["event"] for d in client.get(deliveries, headers=headers).json["data"]] == ["webhook.test"]
