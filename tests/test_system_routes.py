"""``/api/system/*``: SonicJS's system routes in its shapes, stats behind ``content.publish``."""

import re

import pytest

from app.db.models import bind_models
from tests.fixtures.app import client_for, env_with_copy, make_env
from tests.fixtures.content import create_collection, insert_items
from tests.fixtures.process import free_port
from tests.test_content_stats import add_media

pytestmark = pytest.mark.backends

ISO = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")


def test_health_reports_database_cache_and_storage(client):
    body = client.get("/api/system/health", status=200).json
    assert body["status"] == "healthy" and ISO.fullmatch(body["timestamp"])
    assert set(body["checks"]) == {"database", "cache", "storage"}
    for check in body["checks"].values():
        assert check["status"] == "healthy" and check["latency"] >= 0
    assert body["uptime"] >= max(check["latency"] for check in body["checks"].values())
    assert body["environment"] == client.get("/health").json["env"]
    assert "error" not in body


def test_health_is_degraded_not_down_when_the_cache_is(tmp_path, migrated_template, memcached_factory):
    server = memcached_factory()
    client = client_for(env_with_copy(tmp_path / "mc", migrated_template, kv_servers=[server.address]))
    assert client.get("/api/system/health").json["checks"]["cache"]["status"] == "healthy"
    server.stop()
    body = client.get("/api/system/health", status=200).json
    assert body["status"] == "degraded"
    assert body["checks"]["cache"]["status"] == "unhealthy"
    assert body["checks"]["database"]["status"] == "healthy"


def test_health_and_ping_are_503_when_the_database_is_unreachable(tmp_path):
    # A PostgreSQL URL where nothing listens: the app starts (it connects per request) and
    # every round trip to the database fails.
    env = make_env(tmp_path / "down", database_url=f"postgresql://sonicpy@127.0.0.1:{free_port()}/gone")
    client = client_for(env)
    body = client.get("/api/system/health", status=503).json
    assert body["status"] == "unhealthy" and body["error"] == "Database unreachable"
    assert body["details"] == {"down": ["database"]}
    assert body["checks"]["database"]["status"] == "unhealthy"
    ping = client.get("/api/system/ping", status=503)
    assert ping.json == {"error": "Database unreachable",
                         "details": {"request_id": ping.headers["X-Request-ID"], "retry_after": 5}}
    assert ping.headers["Retry-After"] == "5"


def test_api_health_has_sonicjs_shape_and_names_the_active_collections(client, env):
    # SonicJS's website reads it as `const { status, schemas } = await response.json()`.
    bind_models(env.DB.db)
    create_collection("pages")
    create_collection("blog")
    create_collection("old", is_active=False)
    body = client.get("/api/health", status=200).json
    assert body["status"] == "healthy" and ISO.fullmatch(body["timestamp"])
    assert body["schemas"] == ["blog", "pages"]
    # /health's extras come along; /health itself keeps SonicJS's /health shape.
    assert body["name"] == "sonicpy" and body["bindings"]["DB"]["status"] == "ok" and "error" not in body
    assert client.get("/health", status=200).json["status"] == "running"


def test_api_health_is_a_degraded_503_when_the_cache_is_down(tmp_path, migrated_template, memcached_factory):
    server = memcached_factory()
    client = client_for(env_with_copy(tmp_path / "mc", migrated_template, kv_servers=[server.address]))
    server.stop()
    body = client.get("/api/health", status=503).json
    assert body["status"] == "degraded" and body["schemas"] == []
    assert body["error"] == "Binding(s) down: CACHE_KV" and body["details"] == {"down": ["CACHE_KV"]}


def test_api_health_is_an_unhealthy_503_when_the_database_is_unreachable(tmp_path):
    env = make_env(tmp_path / "down", database_url=f"postgresql://sonicpy@127.0.0.1:{free_port()}/gone")
    body = client_for(env).get("/api/health", status=503).json
    assert body["status"] == "unhealthy" and body["schemas"] == [] and ISO.fullmatch(body["timestamp"])
    assert body["details"] == {"down": ["DB"]} and body["bindings"]["DB"]["status"] == "down"


def test_ping_answers_a_round_trip(client):
    body = client.get("/api/system/ping", status=200).json
    assert body["pong"] is True and body["latency"] >= 0 and ISO.fullmatch(body["timestamp"])


def test_info_names_the_server_and_its_entry_points(client):
    body = client.get("/api/system/info", status=200).json
    health = client.get("/health").json
    assert (body["name"], body["version"]) == (health["name"], health["version"])
    assert body["endpoints"]["openapi"] == "/api/openapi.json"
    client.get(body["endpoints"]["openapi"], status=200)
    assert all(body["features"].values()) and ISO.fullmatch(body["timestamp"])


def test_env_flags_the_bindings_this_env_declares(client):
    body = client.get("/api/system/env", status=200).json
    assert body["features"] == {"database": True, "cache": True, "media_bucket": True, "email_queue": False,
                                "sendgrid": False, "cloudflare_images": False}
    assert body["environment"] == client.get("/health").json["env"]


def test_stats_count_live_items_media_and_active_users(client, blog_collection, as_author, as_editor):
    author, author_headers = as_author
    _, headers = as_editor
    insert_items(blog_collection, author, 3)
    insert_items(blog_collection, author, 1, slug_prefix="gone", deleted_at=1)
    add_media(author, 3 * 1024 * 1024)
    add_media(author, 512 * 1024)
    add_media(author, 100, deleted=True)
    response = client.get("/api/system/stats", headers=headers, status=200)
    body = response.json
    assert body["content"] == {"total": 3}
    assert body["media"] == {"total_files": 2, "total_size_bytes": 3.5 * 1024 * 1024, "total_size_mb": 3.5}
    assert body["users"] == {"total": 2}
    assert ISO.fullmatch(body["timestamp"]) and response.headers["Cache-Control"] == "private, no-store"
    assert client.get("/api/system/stats", status=401).json == {"error": "Authentication required"}
    client.get("/api/system/stats", headers=author_headers, status=403)
