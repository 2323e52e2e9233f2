"""Process logs: JSON lines outside the default env, text in it; one access line per request."""

import io
import json
import logging

import pytest

from app.runtime.logs import configure_logging
from tests.fixtures.app import client_for


class FakeConfig:
    def __init__(self, env_name, **vars):
        self.env_name = env_name
        self.vars = vars

    def setting(self, key, default=None):
        return self.vars.get(key, default)


def emit(env_name, **extra):
    stream = io.StringIO()
    handler = configure_logging(FakeConfig(env_name), stream)
    try:
        logging.getLogger("sonicpy.test").warning("hello %s", "there", extra=extra)
    finally:
        logging.getLogger("sonicpy").removeHandler(handler)
    return stream.getvalue()


def test_production_logs_are_one_json_object_a_line():
    [line] = emit("production", request_id="r1", method="GET", path="/x", status=200, duration_ms=3).splitlines()
    entry = json.loads(line)
    assert {k: entry[k] for k in ("level", "logger", "message", "request_id", "method", "path", "status", "duration_ms")} == {
        "level": "warning", "logger": "sonicpy.test", "message": "hello there", "request_id": "r1",
        "method": "GET", "path": "/x", "status": 200, "duration_ms": 3}
    assert entry["time"].endswith("Z")


def test_the_default_env_logs_readable_text():
    text = emit(None)
    assert "WARNING sonicpy.test: hello there" in text and not text.startswith("{")


def test_each_request_has_an_access_line(env, caplog):
    client = client_for(env)
    with caplog.at_level(logging.INFO, logger="sonicpy.access"):
        response = client.get("/api/content/nope", status=404)
    [record] = [r for r in caplog.records if r.name == "sonicpy.access"]
    assert (record.method, record.path, record.status, record.request_id) == (
        "GET", "/api/content/nope", 404, response.headers["X-Request-ID"])
    assert record.duration_ms >= 0


@pytest.mark.parametrize("value, logged", [(None, True), ("true", True), ("false", False), ("off", False)])
def test_access_log_var_turns_the_request_line_off(env, value, logged):
    stream = io.StringIO()
    handler = configure_logging(FakeConfig(None, **({"ACCESS_LOG": value} if value else {})), stream)
    try:
        client_for(env).get("/api/content/nope", status=404)
        logging.getLogger("sonicpy.test").warning("still logged")
    finally:
        logging.getLogger("sonicpy").removeHandler(handler)
        logging.getLogger("sonicpy.access").setLevel(logging.NOTSET)
    text = stream.getvalue()
    assert ("sonicpy.access: GET /api/content/nope 404" in text) is logged
    assert "still logged" in text
