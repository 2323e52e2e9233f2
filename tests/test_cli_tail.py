"""`tail`: the request log of the selected environment, streamed from system_logs.

The app under test is the real Worker (WebTest) writing through the request-logs plugin;
`tail` reads the same database, as a real subprocess (it must see a request made after it
started, and stop cleanly on SIGTERM and Ctrl-C) or through click's runner with `--once`.
"""

import json
import signal
import subprocess
import sys

import pytest
from click.testing import CliRunner

from app.cli import cli
from app.cli.tail import LATE_ROW_MS, LogCursor, TailFilters
from app.db.models import SystemLog, bind_models, now_ms
from app.services.log_buffer import flush_process_buffer
from app.services.logs import RequestRecord, write_request_log
from tests.fixtures.app import PROJECT_ROOT, bindings_text, client_for

pytestmark = pytest.mark.backends


@pytest.fixture
def web(env):
    bind_models(env.DB.db)
    return client_for(env)


def project_args(env):
    folder = env.config.path.parent
    return ["--config", str(folder / "bindings.toml"), "--persist-to", str(folder / "state")]


def start_tail(env, *args):
    """``worker.py tail`` in a subprocess, returned once it has said it is tailing."""
    process = subprocess.Popen(
        [sys.executable, "worker.py", "tail", *args, "--interval", "0.2", *project_args(env)],
        cwd=PROJECT_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    started = process.stderr.readline()
    assert started.startswith("Tailing the request log of DB"), started + process.stderr.read()
    return process


def tail_once(env, *args):
    """``tail --once --since 1h`` in process: the rows written so far that pass ``args``."""
    flush_process_buffer()  # the requests' rows wait in this process's buffer until a flush
    result = CliRunner().invoke(cli, ["tail", "--once", "--since", "1h", *args, *project_args(env)],
                                catch_exceptions=False)
    bind_models(env.DB.db)  # the command bound the models to its own connection
    return result


def urls(result):
    """The URLs printed, sorted (two requests may share a millisecond, and then either comes first)."""
    assert result.exit_code == 0, result.output
    return sorted(json.loads(line)["url"] for line in result.stdout.splitlines())


def test_tail_prints_a_request_made_after_it_started(env, web):
    web.get("/api/content/made-before", status=404)
    process = start_tail(env, "--format", "json", "--max-lines", "1")
    try:
        response = web.get("/api/content/made-after", status=404)
        out, err = process.communicate(timeout=60)
    finally:
        process.kill()
    assert process.returncode == 0, err
    [line] = out.splitlines()
    row = json.loads(line)
    assert (row["method"], row["url"], row["status_code"]) == ("GET", "/api/content/made-after", 404)
    assert row["request_id"] == response.headers["X-Request-ID"]


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_tail_stops_cleanly_on_sigterm_and_ctrl_c(env, signum):
    process = start_tail(env)
    process.send_signal(signum)
    out, err = process.communicate(timeout=60)
    assert process.returncode == 0, err
    assert "Traceback" not in err


def test_a_failing_read_is_retried(env, web):
    """The log table goes away for a while (as when the server restarts): tail warns and goes on."""
    db = env.DB.db
    process = start_tail(env, "--format", "json", "--max-lines", "1")
    try:
        db.execute_sql("ALTER TABLE system_logs RENAME TO system_logs_away")
        assert "reading the request log failed, retrying" in process.stderr.readline()
        db.execute_sql("ALTER TABLE system_logs_away RENAME TO system_logs")
        web.get("/api/content/after-the-outage", status=404)
        out, err = process.communicate(timeout=60)
    finally:
        process.kill()
    assert process.returncode == 0, err
    assert json.loads(out)["url"] == "/api/content/after-the-outage"


def test_tail_stops_quietly_when_its_reader_goes_away(env, web):
    """`sonicpy tail | head -1`: the pipe closes, the next line ends the command without a traceback."""
    process = start_tail(env, "--format", "json")
    try:
        web.get("/api/content/first", status=404)
        assert "/api/content/first" in process.stdout.readline()
        process.stdout.close()
        web.get("/api/content/second", status=404)
        err = process.stderr.read()
        process.wait(timeout=60)
    finally:
        process.kill()
    assert process.returncode == 0 and "Traceback" not in err, err


def test_pretty_lines_name_method_url_status_and_request(env, web):
    response = web.get("/api/content/pretty", status=404)
    result = tail_once(env)
    assert result.exit_code == 0, result.output
    [line] = [text for text in result.stdout.splitlines() if "/api/content/pretty" in text]
    assert "GET /api/content/pretty 404" in line and f"id={response.headers['X-Request-ID']}" in line


def test_filters_pick_the_requests(env, web):
    web.get("/api/collections", status=200)
    web.get("/api/content/missing", status=404)
    web.post_json("/api/content", {}, status=401)
    web.get("/api/content?search=needle", extra_environ={"REMOTE_ADDR": "10.0.0.7"}, status=200)
    write_request_log(RequestRecord("GET", "/api/broken", "", 503, 5, None, "127.0.0.1", None, "r-503"))

    assert urls(tail_once(env, "--format", "json")) == [
        "/api/broken", "/api/collections", "/api/content", "/api/content/missing", "/api/content?search=needle"]
    assert urls(tail_once(env, "--format", "json", "--status", "error")) == ["/api/broken"]
    assert urls(tail_once(env, "--format", "json", "--status", "5xx")) == ["/api/broken"]
    assert urls(tail_once(env, "--format", "json", "--status", "4xx")) == ["/api/content", "/api/content/missing"]
    assert urls(tail_once(env, "--format", "json", "--status", "404", "--status", "503")) == [
        "/api/broken", "/api/content/missing"]
    assert "/api/broken" not in urls(tail_once(env, "--format", "json", "--status", "ok"))
    assert urls(tail_once(env, "--format", "json", "--method", "post")) == ["/api/content"]
    assert urls(tail_once(env, "--format", "json", "--path", "/api/content/")) == ["/api/content/missing"]
    assert urls(tail_once(env, "--format", "json", "--path", "/API/content")) == []  # paths are case-sensitive
    assert urls(tail_once(env, "--format", "json", "--search", "needle")) == ["/api/content?search=needle"]
    assert urls(tail_once(env, "--format", "json", "--ip", "10.0.0.7")) == ["/api/content?search=needle"]
    assert urls(tail_once(env, "--format", "json", "--sampling-rate", "0")) == []


def test_since_starts_at_the_point_given(env, web):
    web.get("/api/content/old", status=404)
    assert urls(tail_once(env, "--format", "json", "--since", "2001-01-01T00:00:00Z")) == ["/api/content/old"]
    future = CliRunner().invoke(cli, ["tail", "--once", "--since", "4102444800", "--format", "json",
                                      *project_args(env)], catch_exceptions=False)
    bind_models(env.DB.db)
    assert urls(future) == []


@pytest.mark.parametrize(("args", "message"), [
    (("--status", "teapot"), "use ok, error, a class such as 5xx"),
    (("--since", "yesterday"), "neither Unix seconds nor an RFC 3339 time"),
    (("--sampling-rate", "2"), "--sampling-rate"),
    (("--interval", "0"), "--interval"),
])
def test_bad_options_are_usage_errors(env, args, message):
    result = tail_once(env, *args)
    assert result.exit_code == 2 and message in result.output, result.output


def test_a_row_committed_late_is_printed_once(env):
    """A row whose created_at is older than rows already printed (its transaction committed later)."""
    bind_models(env.DB.db)
    start = now_ms()
    cursor = LogCursor(start - 1000)
    SystemLog.create(level="info", category="api", message="GET /a 200", url="/a", created_at=start)
    assert [row.url for row in cursor.unseen(TailFilters())] == ["/a"]
    SystemLog.create(level="info", category="api", message="GET /late 200", url="/late", created_at=start - 500)
    SystemLog.create(level="info", category="api", message="GET /old 200", url="/old", created_at=start - 5000)
    assert [row.url for row in cursor.unseen(TailFilters())] == ["/late"]
    assert cursor.unseen(TailFilters()) == []


def test_the_next_read_starts_shortly_before_the_newest_request_of_any_kind(env):
    """However rarely the filters match, a read covers only the last few seconds of rows."""
    bind_models(env.DB.db)
    start = now_ms()
    cursor = LogCursor(start - 1000)
    SystemLog.create(level="info", category="api", message="GET /a 200", method="GET", url="/a",
                     created_at=start + 60_000)
    assert cursor.unseen(TailFilters(methods=("POST",))) == []
    assert cursor.floor_ms == start + 60_000 - LATE_ROW_MS


def test_a_database_without_the_log_is_a_clean_error(tmp_path):
    config = tmp_path / "bindings.toml"
    config.write_text(bindings_text())
    result = CliRunner().invoke(cli, ["tail", "--once", "--config", str(config)], catch_exceptions=False)
    assert result.exit_code == 1 and "cannot read the request log" in result.output, result.output
