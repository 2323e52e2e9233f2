"""NUL and control characters are refused once, at the request boundary (app/api/request_guard.py):
400 in a path or query string, 422 naming the field in a decoded body, on SQLite and PostgreSQL."""

import pytest

from app.db.models import bind_models
from tests.fixtures.app import client_for
from tests.fixtures.users import bearer, create_user, token_for

# Each test runs on SQLite and on PostgreSQL (tests/fixtures/backends.py).
pytestmark = pytest.mark.backends

QUERIES = [
    ("/admin/api/users", {"search": "a\x00b"}),
    ("/admin/api/collections", {"search": "a\x00b"}),
    ("/api/media", {"search": "a\x00b"}),
    ("/api/schedules", {"content_id": "a\x00b"}),
    ("/api/content", {"search": "a\x00b"}),
    ("/api/tokens", {"user_id": "a\x00b"}),
    ("/api/collections", {"a\x00b": "1"}),
]
PATHS = [
    "/admin/api/users/a%00b",
    "/admin/api/collections/a%00b",
    "/api/tokens/a%00b",
    "/api/content/a%00b",
    "/api/content/a%00b/workflow",
    "/api/content/a%00b/history",
    "/api/content/a%00b/versions",
    "/api/collections/a%00b/content",
    "/api/collections/blog/content/a%00b",
    "/api/media/a%00b",
    "/api/schedules/a%00b",
    "/files/uploads/a%00b.png",
    "/no/such/route%00",
]


@pytest.fixture
def admin_client(env):
    """``(client, admin headers)`` over the test's backend stack."""
    bind_models(env.DB.db)
    return client_for(env), bearer(token_for(create_user("admin")))


def assert_refused(response, status, error):
    assert response.status_int == status, response.text
    assert set(response.json) <= {"error", "details"} and response.json["error"] == error
    assert response.headers["X-Request-ID"]


def test_nul_in_a_query_or_a_path_is_a_400_on_both_databases(admin_client):
    client, admin = admin_client
    for url, params in QUERIES:
        response = client.get(url, params, headers=admin, expect_errors=True)
        assert_refused(response, 400, "Invalid query parameters")
        assert [p["parameter"] for p in response.json["details"]] == [next(iter(params))]
    for path in PATHS:
        assert_refused(client.get(path, headers=admin, expect_errors=True), 400, "Invalid path")
    assert_refused(client.delete("/api/media/a%00b", headers=admin, expect_errors=True), 400, "Invalid path")


def test_nul_in_a_decoded_body_is_a_422_naming_the_field_on_both_databases(admin_client):
    client, admin = admin_client
    body = {"name": "guarded", "displayName": "G", "schema": {"type": "object", "properties": {"t\x00": {}}}}
    response = client.post_json("/admin/api/collections", body, headers=admin, expect_errors=True)
    assert_refused(response, 422, "Validation failed")
    assert response.json["details"] == [
        {"field": "schema.properties.t\x00", "message": "NUL characters are not allowed"},
    ]
    assert client.get("/admin/api/collections", {"search": "guarded"}, headers=admin).json["count"] == 0


def test_an_integer_past_a_doubles_range_is_a_422_naming_the_field(admin_client):
    """SQLite would read it back as infinity (PostgreSQL exactly): sorts and pages would differ."""
    client, admin = admin_client
    schema = {"type": "object", "properties": {"n": {"type": "number"}}}
    client.post_json("/admin/api/collections", {"name": "numbers", "displayName": "N", "schema": schema},
                     headers=admin, status=201)
    for number in (10**400, -(10**309)):
        body = {"collectionId": "numbers", "title": "Huge", "data": {"n": [1, number]}}
        response = client.post_json("/api/content", body, headers=admin, expect_errors=True)
        assert_refused(response, 422, "Validation failed")
        assert response.json["details"] == [{"field": "data.n[1]", "message": "the number is out of range"}]
    assert client.get("/api/content?collection=numbers", headers=admin).json["meta"]["total"] == 0
    big = {"collectionId": "numbers", "title": "Big", "data": {"n": 10**300}}  # a double still reads it
    assert client.post_json("/api/content", big, headers=admin, status=201).json["data"]["data"]["n"] == 10**300


def test_other_control_characters_are_refused_in_urls_but_tabs_and_newlines_pass(client, make_user):
    _, admin = make_user("admin")
    assert_refused(client.get("/admin/api/users", {"search": "a\x01b"}, headers=admin, status=400), 400,
                   "Invalid query parameters")
    assert_refused(client.get("/api/content/a%7Fb", headers=admin, status=400), 400, "Invalid path")
    assert client.get("/admin/api/users", {"search": "a\tb\nc"}, headers=admin).json["data"] == []


@pytest.mark.parametrize("query", ["search=a%01b", "search=a%1Fb", "search=a%1fb", "search=%7F", "search=%0b",
                                   "s%0Bearch=x", "search=ok&limit=%00"])
def test_percent_escaped_control_characters_are_refused_in_either_case(client, make_user, query):
    _, admin = make_user("admin")
    assert_refused(client.get(f"/admin/api/users?{query}", headers=admin, status=400), 400, "Invalid query parameters")


def test_escaped_tabs_and_newlines_and_other_escapes_pass(client, make_user):
    _, admin = make_user("admin")
    for query in ("search=a%09b%0Ac%0dd", "search=%20%2F%41%C3%A9", "search=%E2%80%8B"):
        assert client.get(f"/admin/api/users?{query}", headers=admin, status=200).json["data"] == []


def test_a_json_escape_is_checked_once_decoded_and_so_are_forms(client, make_user):
    _, admin = make_user("admin")
    escaped = b'{"name": "x", "displayName": "X", "description": "a\\u0000b"}'
    response = client.post("/admin/api/collections", escaped, content_type="application/json", headers=admin,
                           status=422)
    assert response.json["details"] == [{"field": "description", "message": "NUL characters are not allowed"}]
    form = client.post("/auth/request-password-reset", {"email": "a\x00@example.com"}, status=422)
    assert form.json["details"] == [{"field": "email", "message": "NUL characters are not allowed"}]


def test_bodies_are_checked_when_read_so_access_rules_come_first(client):
    # The body is decoded by the responder, after the route's access rule: anonymous is 401.
    body = {"name": "x", "displayName": "X", "description": "a\x00b"}
    assert client.post_json("/admin/api/collections", body, status=401).json == {"error": "Authentication required"}


def test_urls_are_checked_before_anything_else(client):
    # A malformed URL is refused before authentication or routing.
    assert_refused(client.get("/admin/api/users", {"search": "\x00"}, status=400), 400, "Invalid query parameters")
