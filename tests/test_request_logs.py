"""The request-logs core plugin and GET /admin/api/logs."""

import logging

import pytest
import webtest

from app.db.models import LogConfig, SystemLog, bind_models, database, now_ms
from app.runtime.context import ScheduledEvent
from app.scheduled import run_scheduled
from tests.fixtures.app import client_for
from tests.fixtures.users import bearer, create_user, token_for

DAY_MS = 24 * 3600 * 1000


@pytest.fixture
def web(env):
    bind_models(env.DB.db)
    return client_for(env)


@pytest.fixture
def admin(env):
    user = create_user("admin")
    return user, bearer(token_for(user))


def api_logs(**where):
    query = SystemLog.select().where(SystemLog.category == "api")
    for name, value in where.items():
        query = query.where(getattr(SystemLog, name) == value)
    return list(query.order_by(SystemLog.created_at))


def test_a_request_is_logged_with_who_what_and_how_long(web, admin):
    user, headers = admin
    response = web.get("/api/content?limit=2", headers={**headers, "User-Agent": "probe/1"}, status=200)
    [row] = api_logs(request_id=response.headers["X-Request-ID"])
    assert (row.method, row.url, row.status_code, row.level) == ("GET", "/api/content?limit=2", 200, "info")
    assert row.user_id == user.id and row.ip_address == "127.0.0.1" and row.user_agent == "probe/1"
    assert row.duration >= 0 and row.message == "GET /api/content 200" and row.source == "request-logs"


def test_the_row_is_written_after_the_response_body(env, web):
    """The Worker runs ``ctx.wait_until`` work when the server closes the response."""
    worker = web.app
    statuses = []
    environ = webtest.TestRequest.blank("/api/collections").environ
    body = worker(environ, lambda status, headers, exc_info=None: statuses.append(status))
    chunks = list(body)
    assert statuses == ["200 OK"] and chunks
    assert api_logs(url="/api/collections") == []
    body.close()
    assert len(api_logs(url="/api/collections")) == 1


def test_levels_follow_the_status(web):
    web.get("/api/content/nope", status=404)
    [row] = api_logs(url="/api/content/nope")
    assert (row.level, row.status_code, row.user_id) == ("warn", 404, None)


def test_log_config_turns_the_category_off_or_raises_its_level(web):
    LogConfig.update(level="warn").where(LogConfig.category == "api").execute()
    web.get("/api/collections", status=200)
    web.get("/api/content/missing", status=404)
    assert [row.status_code for row in api_logs()] == [404]
    LogConfig.update(enabled=False).where(LogConfig.category == "api").execute()
    web.get("/api/content/missing", status=404)
    assert len(api_logs()) == 1


def test_excluded_paths_and_sampling(web, admin):
    _, headers = admin
    web.get("/health")
    assert api_logs() == []
    web.patch_json("/admin/api/plugins/request-logs", {"settings": {"sample_rate": 0.0}}, headers=headers, status=200)
    web.get("/api/collections", status=200)
    web.get("/api/content/missing", status=404)
    assert [row.status_code for row in api_logs() if row.url != "/admin/api/plugins/request-logs"] == [404]
    web.patch_json("/admin/api/plugins/request-logs", {"settings": {"sample_rate": 2}}, headers=headers, status=422)


def test_deactivated_plugin_logs_nothing(web, admin):
    _, headers = admin
    web.post("/admin/api/plugins/request-logs/deactivate", headers=headers, status=200)
    web.get("/api/collections", status=200)
    assert api_logs(url="/api/collections") == []


def test_a_failing_log_write_never_fails_the_request(env, web, caplog):
    database.execute_sql("ALTER TABLE system_logs RENAME TO system_logs_gone")
    with caplog.at_level(logging.ERROR, logger="sonicpy.plugins"):
        response = web.get("/api/collections", status=200)
    assert response.json["data"] is not None
    assert any("request-logs: hook after_request failed" in record.getMessage()
               and response.headers["X-Request-ID"] in record.getMessage() for record in caplog.records)


def test_a_deleted_caller_is_logged_anonymously(web):
    from app.services.logs import RequestRecord, write_request_log

    record = RequestRecord("GET", "/api/x", "", 200, 1, "no-such-user", "127.0.0.1", None, "r1")
    assert write_request_log(record) is True
    [row] = api_logs(request_id="r1")
    assert row.user_id is None


# -- GET /admin/api/logs ----------------------------------------------------------------------


def test_logs_api_filters_and_pages(web, admin):
    user, headers = admin
    web.get("/api/content/missing", status=404)
    web.get("/api/collections", headers=headers, status=200)
    body = web.get("/admin/api/logs?category=api&status=404", headers=headers).json
    assert [row["url"] for row in body["data"]] == ["/api/content/missing"]
    assert body["meta"] == {"page": 1, "limit": 50, "total": 1, "pages": 1, "hasNext": False, "hasPrev": False}
    mine = web.get(f"/admin/api/logs?user={user.id}&search=collections", headers=headers).json["data"]
    assert [row["url"] for row in mine] == ["/api/collections"]
    assert web.get("/admin/api/logs?level=warn", headers=headers).json["data"][0]["status_code"] == 404
    later = now_ms() + DAY_MS
    assert web.get(f"/admin/api/logs?since={later}", headers=headers).json["data"] == []
    assert web.get(f"/admin/api/logs?until={later}&limit=1", headers=headers).json["meta"]["hasNext"] is True


@pytest.mark.parametrize("query", ["level=loud", "category=misc", "status=abc", "status=700", "since=-1", "limit=101", "page=0"])
def test_logs_api_refuses_bad_filters(web, admin, query):
    _, headers = admin
    assert web.get(f"/admin/api/logs?{query}", headers=headers, status=400).json["error"]


def test_logs_api_needs_logs_read(web):
    web.get("/admin/api/logs", status=401)
    web.get("/admin/api/logs", headers=bearer(token_for(create_user("author"))), status=403)
    web.get("/admin/api/logs", headers=bearer(token_for(create_user("editor"))), status=200)


def test_retention_is_purged_by_the_cron_handler(env, web):
    web.get("/api/collections", status=200)
    old = SystemLog.create(level="info", category="api", message="old", created_at=now_ms() - 31 * DAY_MS)
    run_scheduled(ScheduledEvent("0 3 * * *", now_ms()), env)
    assert SystemLog.get_or_none(SystemLog.id == old.id) is None
    assert len(api_logs(url="/api/collections")) == 1


def test_request_logs_on_postgres(tmp_path, fresh_postgres_url):
    from tests.fixtures.app import make_env, migrate

    env = make_env(tmp_path / "pg", database_url=fresh_postgres_url)
    migrate(env)
    bind_models(env.DB.db)
    client = client_for(env)
    user = create_user("admin")
    headers = bearer(token_for(user))
    response = client.get("/api/content/missing", headers=headers, status=404)
    [row] = api_logs(request_id=response.headers["X-Request-ID"])
    assert (row.status_code, row.user_id, row.level) == (404, user.id, "warn")
    found = client.get("/admin/api/logs?status=404&search=missing", headers=headers).json
    assert found["meta"]["total"] == 1 and found["data"][0]["request_id"] == response.headers["X-Request-ID"]
    env.DB.db.close()
