"""One error envelope for every error the app produces, and hostile input never gives a 5xx.

Every error body is ``{"error": str, "details"?: ...}`` as JSON, without stack traces, SQL
or secrets; a 500 carries the request id its log line has.
"""

import json
import logging
import shutil
from pathlib import Path
from urllib.parse import quote

import pytest
import webtest

from app.db.models import Collection, User, now_ms
from app.runtime.config import ConfigError
from app.runtime.entry import Worker
from app.services import webhooks
from tests.fixtures.app import TEST_JWT_SECRET
from tests.fixtures.auth import PASSWORD, fast_client, login

pytestmark = pytest.mark.backends

LEAKS = ("Traceback", "SELECT", "INSERT", "sqlite", "no such table", "peewee", TEST_JWT_SECRET, "scrypt$")
# Hostile input may be echoed in a 422 detail ("Unknown permission '... SELECT ...'"): there
# only what the server itself could leak is looked for.
SERVER_LEAKS = ("Traceback", "sqlite3", "no such table", "peewee", TEST_JWT_SECRET, "scrypt$")


def assert_envelope(response, status, leaks=LEAKS):
    assert response.status_int == status, response.text
    assert response.content_type == "application/json"
    body = response.json
    assert set(body) <= {"error", "details"}, body
    assert isinstance(body["error"], str) and body["error"]
    for leak in leaks:
        assert leak not in response.text, leak
    return body


def make_collection(name="blog"):
    now = now_ms()
    return Collection.create(
        id=f"col-{name}", name=name, display_name=name, schema={"type": "object", "properties": {}},
        created_at=now, updated_at=now,
    )


def unstartable(env):
    """A Worker whose app cannot be built (as with a bad config found only at the first request)."""

    def make_env():
        raise ConfigError(f"bindings.toml: secret JWT_SECRET is not set ({TEST_JWT_SECRET})")

    return webtest.TestApp(Worker(make_env, lambda e: None))


@pytest.mark.parametrize("db_backend", ["sqlite"], indirect=True)  # breaks the SQLite file on purpose
def test_every_status_the_api_uses_has_the_envelope(env, app_client, make_user, user_with_password, caplog):
    _, admin = make_user("admin")
    _, viewer = make_user("viewer")
    user_with_password(email="limited@example.com")
    make_collection("blog")
    c = app_client
    seen = {}

    seen[400] = c.post("/auth/login", "{not json", content_type="application/json", status=400)
    assert_envelope(c.get("/admin/api/users?page=-1", headers=admin, status=400), 400)
    assert_envelope(c.post("/auth/login", "", content_type="application/json", status=400), 400)
    seen[401] = c.get("/auth/me", status=401)
    assert seen[401].headers["WWW-Authenticate"] == "Bearer"
    seen[403] = c.get("/admin/api/users", headers=viewer, status=403)
    seen[404] = c.get("/no/such/route", status=404)
    assert_envelope(c.get("/admin/api/users/missing", headers=admin, status=404), 404)
    seen[405] = c.delete("/auth/login", status=405)
    assert "POST" in seen[405].headers["Allow"]
    seen[409] = c.post_json("/admin/api/collections", {"name": "blog", "displayName": "B"}, headers=admin, status=409)
    big = json.dumps({"email": "a@example.com", "password": "x" * 1024 * 1024})
    seen[413] = c.post("/auth/login", big, content_type="application/json", status=413)
    seen[415] = c.post("/auth/login", "email=x", content_type="text/plain", status=415)
    seen[422] = c.post_json("/auth/login", {"email": "a@example.com", "password": "x", "admin": True}, status=422)
    assert seen[422].json["details"] == [{"field": "admin", "message": "Object contains unknown field `admin`"}]

    limited = fast_client(env, rate_limit_attempts=1)
    login(limited, "limited@example.com", "wrong", status=401)
    seen[429] = login(limited, "limited@example.com", status=429)
    assert int(seen[429].headers["Retry-After"]) > 0

    # The server's own failures, last since each one breaks the env: a bug (500), a
    # database that went away (503), an app that cannot even be built (503).
    caplog.set_level(logging.ERROR)
    env.DB.db.execute_sql("DROP TABLE api_tokens")
    seen[500] = c.get("/api/tokens", headers=admin, status=500)
    database = Path(env.DB.db.database)
    env.DB.db.close()
    shutil.move(database.parent, database.parent.with_name("moved-away"))
    seen[503] = c.get("/auth/me", headers=admin, status=503)
    broken = unstartable(env).get("/auth/me", status=503)
    assert_envelope(broken, 503)
    # Both say when to come back, alike: what keeps an app from starting is mostly a database it cannot reach.
    assert broken.json == seen[503].json | {"details": {**seen[503].json["details"],
                                                        "request_id": broken.headers["X-Request-ID"]}}
    assert broken.headers["Retry-After"] == seen[503].headers["Retry-After"] == "5"
    assert any(broken.headers["X-Request-ID"] in r.getMessage() for r in caplog.records)

    for status, response in seen.items():
        assert_envelope(response, status)
    for status in (500, 503):
        request_id = seen[status].json["details"]["request_id"]
        assert request_id == seen[status].headers["X-Request-ID"]
        assert any(request_id in r.getMessage() for r in caplog.records)
    assert set(seen) == {400, 401, 403, 404, 405, 409, 413, 415, 422, 429, 500, 503}
    assert seen[404].json == {"error": "Not Found"}
    assert seen[405].json["error"] == "Method Not Allowed"


@pytest.mark.parametrize("db_backend", ["sqlite"], indirect=True)  # breaks the SQLite file on purpose
def test_a_real_500_is_logged_with_the_request_id_the_body_carries(env, app_client, make_user, caplog):
    _, headers = make_user("admin")
    env.DB.db.execute_sql("DROP TABLE api_tokens")
    caplog.set_level(logging.ERROR, logger="sonicpy.errors")
    response = app_client.get("/api/tokens", headers=headers, status=500)
    body = assert_envelope(response, 500)
    assert body["error"] == "Internal Server Error"
    request_id = body["details"]["request_id"]
    assert request_id and response.headers["X-Request-ID"] == request_id
    [record] = [r for r in caplog.records if request_id in r.getMessage()]
    assert record.exc_info is not None and "no such table" in str(record.exc_info[1])


@pytest.mark.parametrize("db_backend", ["sqlite"], indirect=True)  # breaks the SQLite file on purpose
def test_an_unreachable_database_is_a_503(env, app_client, make_user, caplog):
    _, headers = make_user("admin")
    app_client.get("/auth/me", headers=headers, status=200)
    database = Path(env.DB.db.database)
    env.DB.db.close()
    shutil.move(database.parent, database.parent.with_name("moved-away"))
    caplog.set_level(logging.ERROR, logger="sonicpy.errors")
    response = app_client.get("/auth/me", headers=headers, status=503)
    body = assert_envelope(response, 503)
    assert body["error"] == "Service temporarily unavailable" and body["details"]["request_id"]
    assert any(body["details"]["request_id"] in r.getMessage() for r in caplog.records)
    # A file that cannot be opened is a database unreachable: come back in a few seconds.
    assert body["details"]["retry_after"] == 5 and response.headers["Retry-After"] == "5"


def test_json_routes_refuse_form_bodies(app_client, make_user, outbox):
    """A cross-site HTML form (no preflight, the visitor's cookie sent) must not write through the API."""
    _, admin = make_user("admin")
    writes = [
        ("/admin/api/users/invite", {"email": "form@example.com", "role": "viewer"}),
        ("/admin/api/collections", {"name": "formcol", "displayName": "Form"}),
        ("/api/content", {"collection": "formcol", "title": "Form"}),
    ]
    for path, fields in writes:
        response = app_client.post(path, fields, headers=admin, status=415)
        assert response.json == {"error": "Unsupported media type",
                                 "details": "this route takes a JSON body (application/json)"}
        app_client.post(path, json.dumps(fields), headers=admin, content_type="text/plain", status=415)
        # A fetch of an untyped Blob crosses origins without a preflight too.
        untyped = webtest.TestRequest.blank(path, method="POST", body=json.dumps(fields).encode(), headers=admin)
        assert "CONTENT_TYPE" not in untyped.environ
        assert app_client.do_request(untyped, status=415).status_int == 415
    assert User.select().where(User.email == "form@example.com").count() == 0
    assert Collection.select().where(Collection.name == "formcol").count() == 0
    app_client.post_json("/admin/api/collections", {"name": "formcol", "displayName": "Form"}, headers=admin,
                         status=201)
    app_client.post_json("/admin/api/users/invite", {"email": "form@example.com", "role": "viewer"}, headers=admin,
                         status=201)
    # SonicJS's reset page posts a form, and asking for a reset mail harms no visitor.
    app_client.post("/auth/request-password-reset", {"email": "form@example.com"}, status=202)


def test_every_patch_route_answers_an_empty_body_alike(app_client, make_user):
    admin_user, admin = make_user("admin")
    collection = app_client.post_json("/admin/api/collections", {"name": "patched", "displayName": "P"},
                                      headers=admin, status=201).json
    hook = webhooks.create_webhook("http://127.0.0.1:9/hook", ["*"], True, None, True, None, admin_user.id)
    media = app_client.post("/api/media/upload", upload_files=[("file", "a.txt", b"text")], headers=admin,
                            status=201).json["file"]
    for path in (f"/admin/api/users/{admin_user.id}", f"/admin/api/collections/{collection['id']}",
                 f"/api/media/{media['id']}", f"/admin/api/webhooks/{hook.id}"):
        response = app_client.patch_json(path, {}, headers=admin, status=400)
        assert response.json == {"error": "No fields to update"}, path


def test_a_body_nested_too_deeply_is_a_400_not_a_500(app_client, make_user):
    _, headers = make_user("admin")
    deep = "[" * 100_000 + "]" * 100_000
    for url in ("/auth/login", "/admin/api/collections"):
        response = app_client.post(url, deep, content_type="application/json", headers=headers, expect_errors=True)
        assert response.status_int == 400
        assert_envelope(response, 400)


# -- hostile input ------------------------------------------------------------------------------

PAYLOADS = [
    "' OR '1'='1",
    "'; DROP TABLE users; --",
    "1) UNION SELECT password_hash FROM users --",
    "<script>alert(1)</script>",
    "\"><img src=x onerror=alert(1)>",
    "{{7*7}}${7*7}",
    "../../etc/passwd",
    "%00%27",
    "\u0000",
    "😀" * 50,
    "x" * 5000,
]


def statuses_ok(response):
    assert response.status_int < 500, response.text
    if response.status_int >= 400:
        assert_envelope(response, response.status_int, SERVER_LEAKS)


@pytest.mark.parametrize("payload", PAYLOADS)
def test_injection_payloads_never_give_5xx_and_are_stored_inert(app_client, make_user, payload):
    admin_user, admin = make_user("admin")
    target, _ = make_user("viewer")
    c = app_client
    calls = [
        c.post_json("/auth/register", {"email": payload, "password": PASSWORD}, expect_errors=True),
        c.post_json("/auth/register", {"email": "a@example.com", "password": PASSWORD, "username": payload}, expect_errors=True),
        c.post_json("/auth/login", {"email": payload, "password": payload}, expect_errors=True),
        c.post_json("/auth/login", {"email": "a@example.com", "password": payload}, expect_errors=True),
        c.post_json("/auth/request-password-reset", {"email": payload}, expect_errors=True),
        c.post_json("/auth/reset-password", {"token": payload, "password": PASSWORD}, expect_errors=True),
        c.post_json("/auth/accept-invitation", {"token": payload, "username": "abc", "password": PASSWORD}, expect_errors=True),
        c.get("/admin/api/users", {"search": payload}, headers=admin, expect_errors=True),
        c.get("/admin/api/users", {"role": payload, "page": payload}, headers=admin, expect_errors=True),
        c.get("/admin/api/collections", {"search": payload}, headers=admin, expect_errors=True),
        c.get(f"/admin/api/users/{quote(payload[:200], safe='')}", headers=admin, expect_errors=True),
        c.delete(f"/api/tokens/{quote(payload[:200], safe='')}", headers=admin, expect_errors=True),
        c.get("/api/tokens", {"user_id": payload}, headers=admin, expect_errors=True),
        c.post_json("/admin/api/users/invite", {"email": payload}, headers=admin, expect_errors=True),
        c.post_json("/admin/api/collections", {"name": payload, "displayName": "X"}, headers=admin, expect_errors=True),
        c.post_json("/api/tokens", {"name": "t", "permissions": [payload]}, headers=admin, expect_errors=True),
        c.get("/auth/me", headers={"Authorization": f"Bearer {payload}"}, expect_errors=True),
    ]
    for response in calls:
        statuses_ok(response)

    # Free-text fields accept the payload when it is short enough, and give it back verbatim.
    patched = c.patch_json(f"/admin/api/users/{target.id}", {"first_name": payload}, headers=admin, expect_errors=True)
    statuses_ok(patched)
    if patched.status_int == 200:
        assert patched.json["data"]["first_name"] == payload == User.get_by_id(target.id).first_name
    created = c.post_json(
        "/admin/api/collections", {"name": "inert", "displayName": payload[:200], "description": payload}, headers=admin,
        expect_errors=True,
    )
    statuses_ok(created)
    if created.status_int == 201:
        assert c.get("/api/collections").json["data"][0]["description"] == payload
    token = c.post_json("/api/tokens", {"name": payload, "permissions": ["content.read"]}, headers=admin,
                       expect_errors=True)
    statuses_ok(token)
    if token.status_int == 201:
        assert token.json["data"]["name"] == payload
    if "\u0000" in payload:
        assert patched.status_int == created.status_int == token.status_int == 422
    assert User.select().count() >= 2  # the users table is still there
