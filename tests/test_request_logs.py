"""The request-logs core plugin and GET /admin/api/logs."""

import logging
import os
import subprocess
import sys
import threading

import msgspec
import pytest
import webtest

from app.db.models import LogConfig, SystemLog, bind_models, database, now_ms
from app.runtime.context import ScheduledEvent
from app.scheduled import run_scheduled
from app.services.log_buffer import LogBuffer, flush_process_buffer, process_buffer
from app.services.logs import REDACTED, RequestRecord, insert_request_records, log_json, redact_query, request_log_row
from app.services.plugins.request_logs import write_batch
from tests.fixtures.app import PROJECT_ROOT, client_for
from tests.fixtures.users import bearer, create_user, token_for

DAY_MS = 24 * 3600 * 1000


@pytest.fixture
def web(env):
    """A client whose request rows this process's buffer holds until ``api_logs`` flushes it
    (its thread would otherwise flush whenever a second passed, and a test could not see a row
    waiting)."""
    bind_models(env.DB.db)
    buffer = process_buffer(write_batch)
    saved = buffer.max_rows, buffer.max_age_ms
    buffer.max_rows, buffer.max_age_ms = 1_000_000, 3_600_000
    try:
        yield client_for(env)
    finally:
        buffer.max_rows, buffer.max_age_ms = saved
        buffer.flush()  # into this test's database, while it is open


@pytest.fixture
def admin(env):
    user = create_user("admin")
    return user, bearer(token_for(user))


def api_logs(**where):
    """The ``api`` rows written, after writing what this process has queued."""
    flush_process_buffer()
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


def test_a_forwarded_address_is_logged_without_the_port_a_proxy_wrote(env):
    bind_models(env.DB.db)
    behind_proxy = client_for(env, trusted_proxy_count=1)
    response = behind_proxy.get("/api/content", headers={"X-Forwarded-For": "[2001:db8::7]:443"}, status=200)
    [row] = api_logs(request_id=response.headers["X-Request-ID"])
    assert row.ip_address == "2001:db8::7"


def test_a_token_in_a_mailed_link_is_not_logged(web):
    """Whoever reads the logs (editors may) must not be able to use a reset or invitation link."""
    secret = "reset-token-0123456789abcdef"
    for path in ("/admin/reset-password", "/admin/accept-invitation"):
        response = web.get(f"{path}?token={secret}&lang=en", status=200)
        [row] = api_logs(request_id=response.headers["X-Request-ID"])
        assert row.url == f"{path}?token={REDACTED}&lang=en"
    assert SystemLog.select().where(SystemLog.url.contains(secret) | SystemLog.message.contains(secret)).count() == 0


@pytest.mark.backends
def test_a_request_refused_for_a_nul_is_logged_without_failing_the_others(web):
    """PostgreSQL stores no NUL: the row keeps U+FFFD in its place, and its batch is written."""
    ids = [web.get("/api/collections", status=200).headers["X-Request-ID"]]
    ids.append(web.get("/api/content/a%00b?x=%00", status=400).headers["X-Request-ID"])
    ids.append(web.get("/api/collections", status=200).headers["X-Request-ID"])
    rows = {row.request_id: row for row in api_logs()}
    assert set(ids) <= set(rows)
    assert rows[ids[1]].url == "/api/content/a\ufffdb?x=%00" and rows[ids[1]].status_code == 400


@pytest.mark.parametrize(("query", "logged"), [
    ("limit=2&sort=-created_at", "limit=2&sort=-created_at"),
    ("token=abc", f"token={REDACTED}"),
    ("a=1&X-Amz-Signature=ff&X-Amz-Credential=k%2F2026&b=2", f"a=1&X-Amz-Signature={REDACTED}&X-Amz-Credential={REDACTED}&b=2"),
    ("api_key=k&Password=p&client_secret=s", f"api_key={REDACTED}&Password={REDACTED}&client_secret={REDACTED}"),
    ("%74oken=abc&search=keys", f"%74oken={REDACTED}&search=keys"),  # a name percent-encoded; a value is no name
    # A word of the name, not a part of a word: ordinary filters stay readable.
    ("filter[author_id]=u&filter[data.zipcode]=1&keyword=x&filter[data.apiKey]=k",
     f"filter[author_id]=u&filter[data.zipcode]=1&keyword=x&filter[data.apiKey]={REDACTED}"),
    # Plurals too ("passes" is one of "pass"); a longer word that starts with one is not one
    # (tokenized, pinned, passed, pines).
    ("user_tokens=a&apiKeys=b&passwords=c&pins=d&passes=e&tokenized=1&pinned=1&passed=2&pines=3",
     f"user_tokens={REDACTED}&apiKeys={REDACTED}&passwords={REDACTED}&pins={REDACTED}&passes={REDACTED}"
     "&tokenized=1&pinned=1&passed=2&pines=3"),
    ("token&x=1", "token&x=1"),  # no value to hide
    ("", ""),
])
def test_secret_query_parameters_are_filtered(query, logged):
    assert redact_query(query) == logged


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
    assert written("/api/collections") == 0  # queued, not written: the flush thread batches rows
    assert len(api_logs(url="/api/collections")) == 1


def written(url):
    """Rows in ``system_logs`` for ``url`` now, without flushing."""
    return SystemLog.select().where(SystemLog.url == url).count()


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
    for probe in ("/health", "/api/health", "/api/system/health", "/api/system/ping"):
        web.get(probe)
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
    with caplog.at_level(logging.ERROR, logger="sonicpy.request_logs"):
        response = web.get("/api/collections", status=200)
        assert flush_process_buffer() == 1  # logged, never raised
    assert response.json["data"] is not None
    assert any("request-logs: writing 1 rows failed" in record.getMessage()
               and response.headers["X-Request-ID"] in record.getMessage() for record in caplog.records)
    database.execute_sql("ALTER TABLE system_logs_gone RENAME TO system_logs")
    assert api_logs() == []  # the failed batch was dropped, not retried forever


def test_a_deleted_caller_is_logged_anonymously(web):
    from app.services.logs import write_request_log

    record = RequestRecord("GET", "/api/x", "", 200, 1, "no-such-user", "127.0.0.1", None, "r1")
    assert write_request_log(record) is True
    [row] = api_logs(request_id="r1")
    assert row.user_id is None


# -- GET /admin/api/logs ----------------------------------------------------------------------


def test_logs_api_filters_and_pages(web, admin):
    user, headers = admin
    web.get("/api/content/missing", status=404)
    web.get("/api/collections", headers=headers, status=200)
    flush_process_buffer()
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


def test_request_logs_on_postgres(tmp_path, migrated_postgres_url):
    from tests.fixtures.app import make_env

    env = make_env(tmp_path / "pg", database_url=migrated_postgres_url)
    bind_models(env.DB.db)
    client = client_for(env)
    user = create_user("admin")
    headers = bearer(token_for(user))
    response = client.get("/api/content/missing", headers=headers, status=404)
    [row] = api_logs(request_id=response.headers["X-Request-ID"])
    assert (row.status_code, row.user_id, row.level) == (404, user.id, "warn")
    found = client.get("/admin/api/logs?status=404&search=missing", headers=headers).json
    assert found["meta"]["total"] == 1 and found["data"][0]["request_id"] == response.headers["X-Request-ID"]
    flush_process_buffer()  # the last request's row, while its database exists
    env.DB.db.close()


# -- batching: app.services.log_buffer -----------------------------------------------------


def test_requests_are_written_together_in_one_flush(env, web):
    for _ in range(3):
        web.get("/api/collections", status=200)
    assert written("/api/collections") == 0
    database.obj.connect(reuse_if_open=True)
    with QueryLog(database.obj) as statements:
        assert flush_process_buffer() == 3
    inserts = [sql for sql in statements if sql.startswith('INSERT INTO "system_logs"')]
    assert len(inserts) == 1 and len(api_logs(url="/api/collections")) == 3
    assert sum('"log_config"' in sql for sql in statements) == 1  # read once per flush, not per row


class QueryLog:
    """The SQL ``db`` runs inside the block (peewee's ``execute_sql`` wrapped)."""

    def __init__(self, db):
        self._db, self._statements = db, []

    def __enter__(self):
        original = self._original = self._db.execute_sql

        def recording(sql, params=None, *args, **kwargs):
            self._statements.append(sql)
            return original(sql, params, *args, **kwargs)

        self._db.execute_sql = recording
        return self._statements

    def __exit__(self, *exc):
        del self._db.execute_sql


class Recorder:
    """A writer that keeps what it was given and signals each call."""

    def __init__(self):
        self.calls = []
        self.called = threading.Event()

    def __call__(self, db, rows):
        self.calls.append((db, [row["n"] for row in rows]))
        self.called.set()


def test_the_thread_writes_when_max_rows_are_waiting():
    recorder = Recorder()
    buffer = LogBuffer(recorder, max_rows=2, max_age_ms=3_600_000)
    buffer.add("db", {"n": 1})
    buffer.add("db", {"n": 2})
    assert recorder.called.wait(30)
    assert recorder.calls == [("db", [1, 2])] and buffer.pending() == 0


def test_the_thread_writes_a_lone_row_once_it_is_max_age_old():
    recorder = Recorder()
    buffer = LogBuffer(recorder, max_rows=100, max_age_ms=0)
    buffer.add("db", {"n": 1})
    assert recorder.called.wait(30)
    assert recorder.calls == [("db", [1])]


def test_rows_go_to_the_database_their_request_used():
    recorder = Recorder()
    buffer = LogBuffer(recorder, max_age_ms=3_600_000)
    for db, n in (("one", 1), ("two", 2), ("one", 3)):
        buffer.add(db, {"n": n})
    assert buffer.flush() == 3
    assert recorder.calls == [("one", [1, 3]), ("two", [2])]


def test_a_full_buffer_drops_the_oldest_and_says_so_once(caplog):
    recorder = Recorder()
    buffer = LogBuffer(recorder, max_age_ms=3_600_000, capacity=2)
    with caplog.at_level(logging.WARNING, logger="sonicpy.request_logs"):
        for n in range(1, 6):
            buffer.add("db", {"n": n})
        assert buffer.pending() == 2
        buffer.flush()
    assert recorder.calls == [("db", [4, 5])]
    messages = [record.getMessage() for record in caplog.records]
    assert len([m for m in messages if "dropping the oldest" in m]) == 1
    assert any("3 rows were dropped" in m for m in messages)


def test_a_failing_writer_is_logged_and_never_raises(caplog):
    def broken(db, rows):
        raise RuntimeError("log store down")

    buffer = LogBuffer(broken, max_age_ms=3_600_000)
    buffer.add("db", {"request_id": "r-1"})
    with caplog.at_level(logging.ERROR, logger="sonicpy.request_logs"):
        assert buffer.flush() == 1
    assert any("writing 1 rows failed (requests r-1)" in record.getMessage() for record in caplog.records)
    assert buffer.pending() == 0


def test_a_forked_process_gets_a_buffer_of_its_own(web):
    web.get("/api/collections", status=200)
    parent = process_buffer(write_batch)
    assert parent.pending() == 1
    pid = os.fork()
    if pid == 0:  # the child: a fresh, empty buffer, not the parent's rows (nor its locks or thread)
        child = process_buffer(write_batch)
        os._exit(0 if child is not parent and child.pending() == 0 else 1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert len(api_logs(url="/api/collections")) == 1  # written once, by the parent


@pytest.mark.backends
def test_rows_are_stored_as_the_model_would_store_them(web):
    """Request log rows go through an INSERT written once per row count, not the model's."""
    user = create_user("author")
    record = RequestRecord("POST", "/api/y", "a=1", 503, 7, user.id, "10.0.0.1", "ua/1", "r-fast")
    assert insert_request_records([(record, 1234)]) == 1
    SystemLog.insert(**request_log_row(record._replace(request_id="r-model"), 1234)).execute()
    stored = {row.request_id: log_json(row) for row in api_logs(url="/api/y?a=1")}
    assert stored["r-fast"]["id"] != stored["r-model"]["id"]
    assert {**stored["r-fast"], "id": None, "request_id": None} == {**stored["r-model"], "id": None, "request_id": None}
    assert stored["r-fast"] | {"id": None} == {
        "id": None, "level": "error", "category": "api", "message": "POST /api/y 503", "user_id": user.id,
        "data": {"status": 503, "duration_ms": 7}, "request_id": "r-fast", "ip_address": "10.0.0.1",
        "user_agent": "ua/1", "method": "POST", "url": "/api/y?a=1", "status_code": 503, "duration": 7,
        "source": "request-logs", "created_at": 1234}


S3_KEYS = {"TEST_S3_KEY": "testing", "TEST_S3_SECRET": "testing"}  # the names tests' bindings.toml gives
EXIT_SCRIPT = """
import sys
from app.db.models import bind_models
from app.runtime.config import load_config
from app.runtime.env import build_env
from app.services.logs import RequestRecord, request_log_row
from app.services.plugins.request_logs import RequestLogs

env = build_env(load_config(sys.argv[1], persist_to=sys.argv[2]))
bind_models(env.DB.db)
plugin = RequestLogs()
for n in range(3):
    plugin.after_request(RequestRecord("GET", "/api/at-exit", "", 200, 1, None, None, None, f"exit-{n}"))
"""


@pytest.mark.backends
def test_rows_still_waiting_are_written_when_the_process_exits(env, tmp_path):
    """A clean exit (a gunicorn worker's graceful stop ends the same way) flushes the buffer."""
    config = tmp_path / "app" / "bindings.toml"
    result = subprocess.run([sys.executable, "-c", EXIT_SCRIPT, str(config), str(tmp_path / "app" / "state")],
                            cwd=PROJECT_ROOT, env={**os.environ, **S3_KEYS}, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    bind_models(env.DB.db)
    assert sorted(row.request_id for row in api_logs(url="/api/at-exit")) == ["exit-0", "exit-1", "exit-2"]


@pytest.mark.parametrize("record", [
    RequestRecord("POST", "/api/y", "a=1", 503, 7, "u1", "10.0.0.1", "ua/1", "r1"),
    RequestRecord("GET", "/api/x", "", 200, 0, None, None, None, None),
    RequestRecord("GET", "/api/x", "", 404, 12.5, None, None, None, "r2"),  # not an int: encoded by msgspec
])
def test_a_records_values_are_its_rows(record):
    """The writer thread binds a record's values directly: those of its ``request_log_row``."""
    from app.services.logs import REQUEST_LOG_FIELDS, request_log_values

    row = request_log_row(record, 1234)
    expected = [msgspec.json.encode(row[name]).decode() if name == "data" else row[name] for name in REQUEST_LOG_FIELDS]
    assert list(request_log_values(record, 1234)[1:]) == expected


@pytest.mark.backends
def test_records_with_a_deleted_caller_are_logged_anonymously(web):
    user = create_user("author")
    records = [(RequestRecord("GET", "/api/z", "", 200, 1, uid, None, None, rid), now_ms())
               for uid, rid in ((user.id, "r-kept"), ("no-such-user", "r-gone"))]
    assert insert_request_records(records) == 2
    logged = sorted((row.request_id, row.user_id) for row in api_logs(url="/api/z"))
    assert logged == [("r-gone", None), ("r-kept", user.id)]
