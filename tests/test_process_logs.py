"""Process logs: JSON lines outside the default env, text in it; one access line per request."""

import io
import json
import logging
import os
import re
import subprocess
import sys
import time

import pytest

from app.runtime.logs import configure_logging
from tests.fixtures.app import PROJECT_ROOT, bindings_text, client_for
from tests.fixtures.process import free_port, stop_process, wait_for_port


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


def test_lines_wait_for_their_batch_and_a_warning_writes_them_in_order():
    stream = io.StringIO()
    handler = configure_logging(FakeConfig(None), stream)
    handler.interval = 3600  # only a flush, a warning or a full batch writes
    log = logging.getLogger("sonicpy.test")
    try:
        log.info("first")
        log.info("second")
        assert stream.getvalue() == ""
        log.warning("third")
        assert [line.split(": ", 1)[1] for line in stream.getvalue().splitlines()] == ["first", "second", "third"]
        log.info("fourth")
        handler.max_bytes = 1  # the next line fills a batch
        log.info("fifth")
        assert stream.getvalue().splitlines()[-1].endswith("sonicpy.test: fifth")
    finally:
        logging.getLogger("sonicpy").removeHandler(handler)


def test_the_writer_thread_writes_a_waiting_line_and_a_replaced_handler_writes_what_it_held():
    stream = io.StringIO()
    handler = configure_logging(FakeConfig(None), stream)
    handler.interval = 0.05
    logging.getLogger("sonicpy.test").info("by the thread")
    deadline = time.monotonic() + 30
    while "by the thread" not in stream.getvalue():
        assert time.monotonic() < deadline, "the line was never written"
        time.sleep(0.01)
    handler.interval = 3600
    logging.getLogger("sonicpy.test").info("held")
    replacement = configure_logging(FakeConfig(None), io.StringIO())  # closes the first handler
    logging.getLogger("sonicpy").removeHandler(replacement)
    assert stream.getvalue().splitlines()[-1].endswith("sonicpy.test: held")


def test_lines_a_forked_process_inherits_are_written_by_its_parent_only():
    stream = io.StringIO()
    handler = configure_logging(FakeConfig(None), stream)
    handler.interval = 3600
    try:
        logging.getLogger("sonicpy.test").info("parent's")
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child: its first line comes without the parent's
            handler.stream = os.fdopen(write, "w")
            logging.getLogger("sonicpy.test").warning("child's")
            os._exit(0)
        os.close(write)
        os.waitpid(pid, 0)
        with os.fdopen(read) as child:
            assert [line.split(": ", 1)[1] for line in child.read().splitlines()] == ["child's"]
        handler.flush()
        assert [line.split(": ", 1)[1] for line in stream.getvalue().splitlines()] == ["parent's"]
    finally:
        logging.getLogger("sonicpy").removeHandler(handler)


@pytest.mark.parametrize("env_name", [None, "production"])
def test_the_access_line_is_the_same_without_a_log_record(env, env_name):
    """A served app's handler gets the access line's parts (no LogRecord): the line is the record's."""
    from app.runtime.logs import sole_handler

    access = logging.getLogger("sonicpy.access")
    lines = {}
    for direct in (True, False):
        stream = io.StringIO()
        handler = configure_logging(FakeConfig(env_name), stream)
        # pytest's capture handlers sit on the root logger: as served, the line meets ours only.
        saved, logging.root.handlers[:] = logging.root.handlers[:], []
        if not direct:
            access.addHandler(logging.NullHandler())  # another handler: the record is made
        try:
            assert (sole_handler(access) is handler) is direct
            response = client_for(env).get("/api/content/nope", status=404)
            handler.flush()
        finally:
            logging.root.handlers[:] = saved
            logging.getLogger("sonicpy").removeHandler(handler)
            access.handlers.clear()
        [line] = [line for line in stream.getvalue().splitlines() if "sonicpy.access" in line]
        lines[direct] = line.replace(response.headers["X-Request-ID"], "ID")
    # The time and the duration differ between the two requests; everything else is the same.
    shape = re.compile(r"\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d[,.]\d{3}Z?|\d+ms|\"duration_ms\": \d+")
    assert shape.sub("_", lines[True]) == shape.sub("_", lines[False])
    assert "GET /api/content/nope 404" in lines[True]


def test_the_access_line_goes_through_logging_when_more_than_our_handler_could_see_it():
    from app.runtime.logs import sole_handler

    access = logging.getLogger("sonicpy.access")
    handler = configure_logging(FakeConfig(None), io.StringIO())
    saved, logging.root.handlers[:] = logging.root.handlers[:], []
    try:
        assert sole_handler(access) is handler
        access.disabled = True
        assert sole_handler(access) is None
        access.disabled = False
        access.addFilter(lambda record: True)
        assert sole_handler(access) is None
        access.filters.clear()
        logging.root.addHandler(logging.NullHandler())
        assert sole_handler(access) is None
    finally:
        logging.root.handlers[:] = saved
        access.disabled = False
        access.filters.clear()
        logging.getLogger("sonicpy").removeHandler(handler)


EXIT_SCRIPT = """
import logging, sys
from app.runtime.logs import configure_logging

class Config:
    env_name = None
    def setting(self, key, default=None):
        return default

handler = configure_logging(Config())
handler.interval = 3600  # only the exit can write it
logging.getLogger("sonicpy.test").info("written at exit")
"""


def test_lines_still_waiting_are_written_when_the_process_exits():
    """A clean exit (a gunicorn worker's graceful stop ends the same way) writes the batch."""
    result = subprocess.run([sys.executable, "-c", EXIT_SCRIPT], cwd=PROJECT_ROOT, capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stderr.rstrip().endswith("INFO sonicpy.test: written at exit")


def test_a_served_worker_writes_its_access_lines(tmp_path):
    """Under ``serve`` the access line reaches stderr within its batch's interval (polled, not slept).

    ``serve`` prints gunicorn's line instead of the app's unless ``ACCESS_LOG`` asks for it.
    """
    from tests.test_dev import dev_env, get_json

    path = tmp_path / "bindings.toml"
    path.write_text(bindings_text(vars={"ACCESS_LOG": True}))
    port = free_port()
    errors = tmp_path / "stderr.log"
    with open(errors, "w") as sink:
        proc = subprocess.Popen(
            [sys.executable, "worker.py", "serve", "--config", str(path), "--bind", f"127.0.0.1:{port}",
             "--workers", "1"],
            cwd=PROJECT_ROOT, env={**dev_env(), "SONICPY_PERSIST_TO": str(tmp_path / "state")},
            stdout=subprocess.DEVNULL, stderr=sink, text=True,
        )
    try:
        wait_for_port(port, timeout=60, proc=proc)
        request_id, _ = get_json(f"http://127.0.0.1:{port}/health")
        deadline = time.monotonic() + 30
        while not [line for line in errors.read_text().splitlines() if "sonicpy.access" in line and request_id in line]:
            assert time.monotonic() < deadline, "the access line never came"
            time.sleep(0.05)
    finally:
        stop_process(proc)


def test_a_line_is_written_at_once_when_no_thread_can_start(monkeypatch):
    """At interpreter shutdown no thread starts: a line logged then (an exit flush's error) is not lost."""
    import threading

    from app.runtime.logs import BatchedStreamHandler, TextFormatter

    def refuse(thread):
        raise RuntimeError("can't create new thread at interpreter shutdown")

    stream = io.StringIO()
    handler = BatchedStreamHandler(stream, interval=3600)
    handler.setFormatter(TextFormatter())
    monkeypatch.setattr(threading.Thread, "start", refuse)
    handler.handle(logging.makeLogRecord({"name": "sonicpy.test", "msg": "late", "levelno": logging.INFO,
                                          "levelname": "INFO"}))
    assert stream.getvalue().endswith("INFO sonicpy.test: late\n")
