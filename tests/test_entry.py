"""The Worker entry: env injected per request, ctx.wait_until after the body, health per binding (R6)."""

import logging
import re
import time

import pytest
import webtest

from app.api.access import access
from app.app import create_app
from app.entrypoint import StartupError
from app.runtime.config import ConfigError
from app.runtime.entry import Worker
from tests.fixtures.app import env_with_copy, settings_for_tests


class Probe:
    """A test resource that records what a request saw and queues background work."""

    def __init__(self, events):
        self.events = events

    @access(public=True)
    def on_get(self, req, resp):
        self.events.append(("responder", req.context.env))
        req.context.ctx.wait_until(self.events.append, ("after", None))
        req.context.ctx.wait_until(self._fail)
        req.context.ctx.wait_until(self.events.append, ("after-failure", None))
        resp.media = {"ok": True}

    def _fail(self):
        raise RuntimeError("background boom")


def probe_worker(env, events):
    def make_app(e):
        app = create_app(e, settings_for_tests())
        app.add_route("/probe", Probe(events))
        return app

    return Worker(lambda: env, make_app)


def test_env_injected_and_wait_until_runs_after_the_body(env, caplog):
    events = []
    worker = probe_worker(env, events)
    captured = {}

    def start_response(status, headers, exc_info=None):
        captured["status"] = status

    environ = webtest.TestRequest.blank("/probe").environ
    body = worker(environ, start_response)
    assert b"".join(body) == b'{"ok":true}'
    # The body is out but the server has not closed the response yet: nothing ran.
    assert events == [("responder", env)]
    with caplog.at_level(logging.ERROR, logger="sonicpy.wait_until"):
        body.close()
    # Every task ran, the failing one did not stop the next, and its error was logged.
    assert [e[0] for e in events] == ["responder", "after", "after-failure"]
    assert "background boom" in caplog.text and "Probe._fail" in caplog.text
    assert captured["status"] == "200 OK"


def test_env_is_built_once_per_process(tmp_path, migrated_template):
    built = []
    env = env_with_copy(tmp_path / "a", migrated_template)

    def make_env():
        built.append(1)
        return env

    worker = Worker(make_env, lambda e: create_app(e, settings_for_tests()))
    client = webtest.TestApp(worker)
    for _ in range(3):
        client.get("/health", status=200)
    assert built == [1]


def test_request_id_header_on_every_response(client):
    first = client.get("/health").headers["X-Request-ID"]
    second = client.get("/nope", status=404).headers["X-Request-ID"]
    assert len(first) == 32 and first != second


def test_health_reports_each_binding(client):
    body = client.get("/health", status=200).json
    assert body["name"] == "sonicpy" and body["env"] == "default" and body["worker"] == "sonicpy-test"
    assert {name: check["status"] for name, check in body["bindings"].items()} == {
        "DB": "ok", "MEDIA_BUCKET": "ok", "CACHE_KV": "ok",
    }
    assert client.get("/api/health", status=200).json["status"] == "healthy"


def test_health_has_sonicjs_shape(client):
    body = client.get("/health", status=200).json
    assert body["status"] == "running" and body["version"]
    # ISO 8601 in UTC with milliseconds, as JavaScript's toISOString writes it.
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", body["timestamp"])
    assert "error" not in body


def test_health_is_503_when_memcached_is_down(tmp_path, migrated_template, memcached_factory):
    server = memcached_factory()
    env = env_with_copy(tmp_path / "mc", migrated_template, kv_servers=[server.address])
    client = webtest.TestApp(Worker(lambda: env, lambda e: create_app(e, settings_for_tests())))
    assert client.get("/health", status=200).json["bindings"]["CACHE_KV"]["status"] == "ok"
    server.stop()
    body = client.get("/health", status=503).json
    assert body["status"] == "degraded"
    assert body["error"] == "Binding(s) down: CACHE_KV"
    assert body["details"] == {"down": ["CACHE_KV"]}
    assert body["bindings"]["CACHE_KV"]["status"] == "down"
    assert body["bindings"]["DB"]["status"] == "ok"


def test_unrouted_and_wrong_method_use_the_envelope(client):
    assert client.get("/no/such/route", status=404).json == {"error": "Not Found"}
    response = client.delete("/health", status=405)
    assert response.json == {"error": "Method Not Allowed"}
    assert "GET" in response.headers["Allow"]


def test_responder_without_access_rule_is_refused_at_startup(env):
    class Careless:
        def on_get(self, req, resp):
            resp.media = {}

    from app.api import routes as routes_module

    class Module:
        @staticmethod
        def register(routes):
            routes.add("/careless", Careless())

    routes_module.ROUTE_MODULES.append(Module)
    try:
        with pytest.raises(RuntimeError, match="GET /careless"):
            create_app(env, settings_for_tests())
    finally:
        routes_module.ROUTE_MODULES.remove(Module)


def test_an_app_that_cannot_start_answers_the_envelope_and_retries(env, caplog):
    attempts = []

    def make_env():
        attempts.append(1)
        if len(attempts) == 1:
            raise ConfigError("bindings.toml (environment staging): secret JWT_SECRET is not set")
        return env

    client = webtest.TestApp(Worker(make_env, lambda e: create_app(e, settings_for_tests())))
    with caplog.at_level(logging.ERROR, logger="sonicpy.entry"):
        response = client.get("/health", status=503)
    assert response.content_type == "application/json"
    request_id = response.headers["X-Request-ID"]
    assert response.json == {"error": "Service temporarily unavailable",
                             "details": {"request_id": request_id, "retry_after": 5}}
    assert response.headers["Retry-After"] == "5"
    assert "JWT_SECRET" not in response.text
    [record] = caplog.records
    assert request_id in record.getMessage() and "JWT_SECRET is not set" in str(record.exc_info[1])
    # Nothing was kept from the failed build: the next request builds the app and is served.
    client.get("/health", status=200)
    assert len(attempts) == 2


def test_importing_worker_reads_nothing_and_loading_app_checks_the_config(tmp_path, monkeypatch):
    # `python worker.py <command>` imports the module: no config may be read then. Loading
    # `worker:app` (what gunicorn does) checks it and fails with the reason.
    import importlib

    monkeypatch.setenv("SONICPY_CONFIG", str(tmp_path / "missing.toml"))
    monkeypatch.delenv("SONICPY_ENV", raising=False)
    module = importlib.reload(importlib.import_module("worker"))
    with pytest.raises(StartupError, match="sonicpy cannot start: .*missing.toml"):
        module.app
    assert "app" not in vars(module)


def test_two_apps_in_one_process_each_read_their_own_database(tmp_path, migrated_template):
    from app.db.models import bind_models
    from tests.fixtures.users import bearer, create_user, token_for

    first = env_with_copy(tmp_path / "one", migrated_template)
    second = env_with_copy(tmp_path / "two", migrated_template)
    bind_models(first.DB.db)
    headers = bearer(token_for(create_user("editor")))  # a user of the first database only
    one = webtest.TestApp(Worker(lambda: first, lambda e: create_app(e, settings_for_tests())))
    two = webtest.TestApp(Worker(lambda: second, lambda e: create_app(e, settings_for_tests())))
    one.get("/auth/me", headers=headers, status=200)
    two.get("/auth/me", headers=headers, status=401)
    one.get("/auth/me", headers=headers, status=200)  # the models follow the app serving the request


def test_wait_until_work_past_its_budget_is_dropped_and_logged(monkeypatch, caplog):
    from app.runtime import context

    monkeypatch.setattr(context, "WAIT_UNTIL_BUDGET_SECONDS", 0.0)
    ctx = context.ExecutionContext(request_id="r-budget")
    ran = []
    ctx.wait_until(lambda: (ran.append(1), time.sleep(0.01)))  # the first always runs: the budget starts with it
    ctx.wait_until(ran.append, 2)
    with caplog.at_level(logging.ERROR, logger="sonicpy.wait_until"):
        assert ctx.run_pending() == 1
    assert ran == [1]
    assert any("budget exhausted" in record.getMessage() and "r-budget" in record.getMessage()
               for record in caplog.records)
