"""CORS on the JSON API: ``*`` without credentials by default, a list of origins with credentials."""

import pytest

from app.api.cors import route_methods
from app.runtime.config import ConfigError
from app.settings import settings_from_config
from tests.fixtures.app import client_for, make_env, settings_for_tests

ORIGIN = "https://front.example"

# One route of each class: public read, signed-in write, admin JSON API, auth.
ROUTE_CLASSES = [
    ("/api/content", "GET", "GET, HEAD, OPTIONS, POST"),
    ("/api/content/abc", "PUT", "DELETE, GET, HEAD, OPTIONS, PUT"),
    ("/admin/api/collections/blog", "PATCH", "DELETE, GET, HEAD, OPTIONS, PATCH"),
    ("/auth/login", "POST", "GET, HEAD, OPTIONS, POST"),  # GET: SonicJS's sign-in page, on to the admin's
    ("/api/media/upload", "POST", "OPTIONS, POST"),
]


def preflight(client, path, method, origin=ORIGIN, status=204):
    return client.options(path, headers={
        "Origin": origin, "Access-Control-Request-Method": method,
        "Access-Control-Request-Headers": "authorization, content-type",
    }, status=status)


@pytest.mark.parametrize("path, method, allowed", ROUTE_CLASSES)
def test_preflight_names_the_methods_of_the_route(client, path, method, allowed):
    response = preflight(client, path, method)
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert response.headers["Access-Control-Allow-Methods"] == allowed
    assert "Authorization" in response.headers["Access-Control-Allow-Headers"]
    assert "X-API-Key" in response.headers["Access-Control-Allow-Headers"]
    assert "Access-Control-Allow-Credentials" not in response.headers
    assert response.body == b""


def test_conditional_reads_may_be_sent_and_their_etag_read(client):
    # A page revalidating a read sends If-None-Match itself and reads the ETag it got.
    allowed = preflight(client, "/api/content", "GET").headers["Access-Control-Allow-Headers"]
    assert "If-None-Match" in allowed.split(", ")
    exposed = client.get("/api/content", headers={"Origin": ORIGIN}).headers["Access-Control-Expose-Headers"]
    assert "ETag" in exposed.split(", ")


@pytest.mark.parametrize("path, method, allowed", ROUTE_CLASSES)
def test_preflight_names_what_allow_names(client, path, method, allowed):
    # A GET route answers HEAD too (app.api.methods): both lists say so.
    assert preflight(client, path, method).headers["Access-Control-Allow-Methods"] == \
        client.options(path).headers["Allow"] == allowed


def test_a_preflight_needs_no_credentials_even_for_protected_routes(client):
    # Without the preflight short-cut the access check would answer 401.
    preflight(client, "/admin/api/users", "GET")


def test_preflight_of_an_unknown_route_is_404(client):
    preflight(client, "/api/nothing/here/at/all", "GET", status=404)


@pytest.mark.parametrize("path", ["/api/content", "/api/collections", "/api/health"])
def test_simple_public_reads_allow_any_origin(client, path):
    response = client.get(path, headers={"Origin": ORIGIN})
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert "X-Request-ID" in response.headers["Access-Control-Expose-Headers"]
    assert "Access-Control-Allow-Credentials" not in response.headers


def test_errors_carry_the_headers_so_the_page_can_read_them(client):
    response = client.post_json("/api/content", {}, headers={"Origin": ORIGIN}, status=401)
    assert response.headers["Access-Control-Allow-Origin"] == "*"


def test_no_cors_outside_the_api(client):
    assert "Access-Control-Allow-Origin" not in client.get("/health", headers={"Origin": ORIGIN}).headers
    assert "Access-Control-Allow-Origin" not in client.get("/docs", headers={"Origin": ORIGIN}).headers


def test_requests_without_origin_get_no_cors_headers(client):
    assert "Access-Control-Allow-Origin" not in client.get("/api/content").headers


@pytest.fixture
def listed(env):
    return client_for(env, cors_allow_origins=(ORIGIN, "http://localhost:5173"))


def test_a_listed_origin_gets_credentials_and_its_own_name(listed):
    response = listed.get("/api/content", headers={"Origin": ORIGIN})
    assert response.headers["Access-Control-Allow-Origin"] == ORIGIN
    assert response.headers["Access-Control-Allow-Credentials"] == "true"
    assert "Origin" in response.headers["Vary"]
    flight = preflight(listed, "/auth/login", "POST")
    assert flight.headers["Access-Control-Allow-Origin"] == ORIGIN
    assert flight.headers["Access-Control-Allow-Credentials"] == "true"


def test_an_origin_not_listed_gets_nothing(listed):
    response = listed.get("/api/content", headers={"Origin": "https://evil.example"})
    assert "Access-Control-Allow-Origin" not in response.headers
    assert "Access-Control-Allow-Credentials" not in response.headers
    assert "Origin" in response.headers["Vary"]
    flight = preflight(listed, "/api/content", "POST", origin="https://evil.example")
    assert "Access-Control-Allow-Methods" not in flight.headers


def _settings(tmp_path, value):
    env = make_env(tmp_path, vars={"CORS_ALLOW_ORIGINS": value})
    return settings_from_config(env.config, jwt_secret="x" * 40)


def test_the_setting_is_star_by_default_or_a_list(tmp_path):
    assert settings_for_tests().cors_allow_origins == ("*",)
    assert _settings(tmp_path / "a", "https://a.example, http://localhost:5173").cors_allow_origins == (
        "https://a.example", "http://localhost:5173",
    )


@pytest.mark.parametrize("value", ["*, https://a.example", "https://a.example/", "a.example", "https://a.example/path"])
def test_star_never_mixes_with_origins_and_origins_are_checked(tmp_path, value):
    with pytest.raises(ConfigError, match="CORS_ALLOW_ORIGINS"):
        _settings(tmp_path, value)


def test_route_methods_lists_the_responders_head_and_options():
    assert route_methods([("/x", type("R", (), {"on_get": lambda s: 0, "on_delete": lambda s: 0})(), None)]) == {
        "/x": "DELETE, GET, HEAD, OPTIONS"
    }
