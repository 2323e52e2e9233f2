"""What `dev` prints: the banner (each binding's backend, never a credential, the API docs when
the app has them) and the access log lines of `dev` and `serve`."""

import datetime
import json

import app.app as composition_root
from app.cli.common import Runtime
from app.cli.startup import banner_lines
from app.runtime.access_log import access_entry, dev_line, json_line
from tests.fixtures.app import bindings_text

URL = "http://127.0.0.1:8787"


def runtime_for(tmp_path, text):
    (tmp_path / "bindings.toml").write_text(text)
    return Runtime(tmp_path / "bindings.toml", None, tmp_path / "state")


def test_banner_names_each_backend_relative_to_the_working_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    lines = banner_lines(runtime_for(tmp_path, bindings_text()), URL)
    assert lines == [
        f"⎔ Serving sonicpy-test (default environment) at {URL}",
        "   DB            D1  SQLite state/v3/d1/DB.sqlite",
        "   MEDIA_BUCKET  R2  folder state/v3/r2/test-media",
        "   CACHE_KV      KV  SQLite state/v3/kv/test-kv.sqlite",
        f"   Admin: {URL}/admin",
        f"   API docs: {URL}/docs",
        f"   Health: {URL}/health",
        "   Ctrl-C to stop",
    ]


def test_banner_shows_servers_but_never_credentials(tmp_path, monkeypatch):
    text = bindings_text(database_url="postgresql://cms:s3cr%40t@db.internal:6543/cms", s3="http://s3.internal:9000",
                         kv_servers=["cache1:11211", "cache2:11211"])
    monkeypatch.setenv("TEST_S3_KEY", "AKIAEXAMPLEKEY")
    monkeypatch.setenv("TEST_S3_SECRET", "example-secret")
    lines = banner_lines(runtime_for(tmp_path, text), URL)
    assert lines[1:4] == [
        "   DB            D1  PostgreSQL db.internal:6543/cms",
        "   MEDIA_BUCKET  R2  S3 bucket test-media at http://s3.internal:9000",
        "   CACHE_KV      KV  memcached cache1:11211, cache2:11211",
    ]
    shown = "\n".join(lines)
    for secret in ("s3cr", "AKIAEXAMPLEKEY", "example-secret"):
        assert secret not in shown


def test_banner_leaves_out_a_page_the_app_does_not_serve(tmp_path, monkeypatch):
    # The app without its docs module: the banner must not point at a page that answers 404.
    without_docs = [module for module in composition_root.ROUTE_MODULES if module.__name__ != "app.api.explorer"]
    monkeypatch.setattr(composition_root, "ROUTE_MODULES", without_docs)
    lines = banner_lines(runtime_for(tmp_path, bindings_text()), URL)
    assert not any("API docs" in line for line in lines)
    assert lines[-3:] == [f"   Admin: {URL}/admin", f"   Health: {URL}/health", "   Ctrl-C to stop"]


class Response:
    """What gunicorn hands its logger: status, headers as pairs, bytes sent."""

    def __init__(self, status, headers, sent):
        self.status, self.headers, self.sent = status, headers, sent


def entry(path="/api/content", status="200 OK", query="token=abc123"):
    environ = {"REQUEST_METHOD": "GET", "PATH_INFO": path, "QUERY_STRING": query, "REMOTE_ADDR": "127.0.0.1"}
    resp = Response(status, [("Content-Type", "application/json"), ("X-Request-ID", "9f2c")], 512)
    return access_entry(resp, environ, datetime.timedelta(milliseconds=3, microseconds=140))


def test_dev_line_is_short():
    assert dev_line(entry(), "12:03:04") == "12:03:04 GET /api/content 200 3.1 ms 9f2c"


def test_dev_line_colours_the_status_by_class():
    assert "\033[32m200\033[0m" in dev_line(entry(), "12:03:04", colour=True)
    assert "\033[33m404\033[0m" in dev_line(entry(status="404 Not Found"), "12:03:04", colour=True)
    assert "\033[31m503\033[0m" in dev_line(entry(status="503 Service Unavailable"), "12:03:04", colour=True)


def test_a_path_cannot_send_escape_sequences_to_the_terminal():
    assert dev_line(entry(path="/x\x1b[2J"), "12:03:04").split()[2] == "/x\\x1b[2J"


def test_json_line_has_the_fields_and_no_query_string():
    line = json_line(entry())
    parsed = json.loads(line)
    assert {k: parsed[k] for k in ("method", "path", "status", "duration_ms", "bytes", "request_id")} == {
        "method": "GET", "path": "/api/content", "status": 200, "duration_ms": 3.1, "bytes": 512, "request_id": "9f2c",
    }
    assert parsed["time"].endswith("+00:00") and "abc123" not in line
