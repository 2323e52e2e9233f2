"""`dev` and `serve` as processes: a port in use, the banner, collection files synced while
serving, the access log, stopping cleanly, unusable bindings refused before workers start."""

import json
import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request

import pytest

from tests.fixtures.app import MIGRATIONS, PROJECT_ROOT, bindings_text
from tests.fixtures.process import free_port, stop_process, wait_for_port


def port_closed(port, timeout=10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
        except OSError:
            return True
        time.sleep(0.1)
    return False


def test_dev_stops_its_server_on_sigterm(tmp_path):
    path = tmp_path / "bindings.toml"
    path.write_text(bindings_text())
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("SONICPY_ENV", "JWT_SECRET")}
    proc = subprocess.Popen(
        [sys.executable, "worker.py", "dev", "--config", str(path), "--persist-to", str(tmp_path / "state"),
         "--port", str(port), "--no-reload", "--no-crons"],
        cwd=PROJECT_ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_port(port, timeout=60, proc=proc)
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=20)
        assert port_closed(port), "dev exited but its gunicorn still serves"
    finally:
        stop_process(proc)


def test_serve_refuses_a_binding_it_cannot_open(tmp_path):
    path = tmp_path / "bindings.toml"
    text = bindings_text().replace(
        f'migrations_dir = "{MIGRATIONS}"', f'migrations_dir = "{MIGRATIONS}"\ndatabase_url_env = "UNSET_DATABASE_URL"')
    path.write_text(text)
    env = {k: v for k, v in os.environ.items() if k != "UNSET_DATABASE_URL"}
    result = subprocess.run(
        [sys.executable, "worker.py", "serve", "--config", str(path), "--bind", f"127.0.0.1:{free_port()}"],
        cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 1
    assert "UNSET_DATABASE_URL" in result.stderr and "(environment default)" in result.stderr
    assert "Traceback" not in result.stderr


def dev_env():
    return {k: v for k, v in os.environ.items() if k not in ("SONICPY_ENV", "JWT_SECRET", "NO_COLOR")}


def test_dev_on_a_port_in_use_says_so_in_one_line(tmp_path):
    path = tmp_path / "bindings.toml"
    path.write_text(bindings_text())
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        port = held.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "worker.py", "dev", "--config", str(path), "--persist-to", str(tmp_path / "state"),
             "--port", str(port), "--no-crons"],
            cwd=PROJECT_ROOT, env=dev_env(), capture_output=True, text=True, timeout=60,
        )
    assert result.returncode == 1
    assert result.stdout == ""  # nothing migrated, no banner, no gunicorn
    [line] = result.stderr.splitlines()
    found = re.fullmatch(rf"Error: port {port} is in use; try --port (\d+)", line)
    assert found, line
    suggested = int(found.group(1))
    assert suggested > port
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind(("127.0.0.1", suggested))  # the port it names is one that was free


@pytest.mark.parametrize("options, message", [
    (["dev", "--port", "99999"], "Invalid value for '--port': 99999 is not in the range 1<=x<=65535."),
    (["serve", "--bind", "127.0.0.1:99999"], "Invalid value for '--bind' / '-b': port 99999 is not in the range"),
    (["serve", "--bind", "127.0.0.1:http"], "Invalid value for '--bind' / '-b': 'http' is not a valid port number."),
    # No worker would ever boot: the master would listen and never answer.
    (["serve", "--workers", "0"], "Invalid value for '--workers' / '-w': 0 is not in the range x>=1."),
])
def test_dev_and_serve_refuse_an_unusable_option_in_one_line(tmp_path, options, message):
    path = tmp_path / "bindings.toml"
    path.write_text(bindings_text())
    port = free_port()
    bind = [] if "--bind" in options else (["--bind", f"127.0.0.1:{port}"] if options[0] == "serve" else [])
    result = subprocess.run(
        [sys.executable, "worker.py", *options, *bind, "--config", str(path), "--persist-to", str(tmp_path / "state")],
        cwd=PROJECT_ROOT, env={**dev_env(), "JWT_SECRET": "x" * 32}, capture_output=True, text=True, timeout=30,
    )
    assert result.returncode == 2, result.stderr
    assert message in result.stderr and "Traceback" not in result.stderr
    assert result.stdout == "" and not (tmp_path / "state").exists()  # nothing migrated or started


class Output:
    """A process's merged stdout/stderr, read line by line by a thread so tests can wait on it."""

    def __init__(self, proc):
        self.lines = []
        self._new = queue.Queue()
        self._reader = threading.Thread(target=self._read, args=(proc.stdout,), daemon=True)
        self._reader.start()

    def until_closed(self, timeout=60):
        """Every line, once the process closed its output (stopped)."""
        self._reader.join(timeout)
        return self.lines

    def _read(self, stream):
        for line in stream:
            self.lines.append(line.rstrip("\n"))
            self._new.put(line)

    def wait_for(self, predicate, timeout=60):
        """The first line (seen so far or to come) for which ``predicate`` holds."""
        deadline = time.monotonic() + timeout
        seen = 0
        while True:
            for line in self.lines[seen:]:
                if predicate(line):
                    return line
            seen = len(self.lines)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError("no such line in:\n" + "\n".join(self.lines))
            try:
                self._new.get(timeout=remaining)
            except queue.Empty:
                pass


def get_json(url):
    with urllib.request.urlopen(url, timeout=10) as response:
        return response.headers["X-Request-ID"], json.loads(response.read())


def display_names(base):
    return {c["name"]: c["display_name"] for c in get_json(f"{base}/api/collections")[1]["data"]}


def wait_until(condition, timeout=30):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "the condition never held"
        time.sleep(0.2)


NOTES = {"name": "notes", "displayName": "Notes",
         "schema": {"type": "object", "properties": {"title": {"type": "string", "title": "Title"}}}}


def test_dev_banner_collection_edits_and_access_log(tmp_path):
    folder = tmp_path / "app" / "collections"  # app/collections beside bindings.toml
    folder.mkdir(parents=True)
    notes = folder / "notes.json"
    notes.write_text(json.dumps(NOTES, indent=2))
    path = tmp_path / "bindings.toml"
    path.write_text(bindings_text())
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    proc = subprocess.Popen(
        [sys.executable, "worker.py", "dev", "--config", str(path), "--persist-to", str(tmp_path / "state"),
         "--port", str(port), "--no-crons"],
        cwd=PROJECT_ROOT, env=dev_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    output = Output(proc)
    try:
        # The banner comes once gunicorn listens, and says where everything is.
        output.wait_for(lambda line: line == "   Ctrl-C to stop")  # the banner's last line
        banner = output.lines.index(output.wait_for(lambda line: line.startswith("⎔ Serving")))
        listening = output.lines.index(output.wait_for(lambda line: "Listening at" in line))
        assert listening < banner
        assert output.lines[banner] == f"⎔ Serving sonicpy-test (default environment) at {base}"
        block = output.lines[banner + 1:banner + 8]
        assert re.fullmatch(r"   DB {12}D1  SQLite .*/state/v3/d1/DB\.sqlite", block[0]), block
        assert re.fullmatch(r"   MEDIA_BUCKET  R2  folder .*/state/v3/r2/test-media", block[1]), block
        assert re.fullmatch(r"   CACHE_KV {6}KV  SQLite .*/state/v3/kv/test-kv\.sqlite", block[2]), block
        assert block[3:] == [
            f"   Admin: {base}/admin", f"   API docs: {base}/docs", f"   Health: {base}/health", "   Ctrl-C to stop",
        ]
        assert display_names(base) == {"notes": "Notes"}

        # An edited file is synced while dev runs, and the API answers with it.
        notes.write_text(json.dumps({**NOTES, "displayName": "Field notes"}, indent=2))
        wait_until(lambda: display_names(base) == {"notes": "Field notes"})
        assert output.wait_for(lambda line: line.startswith("🔄 Collection files changed in "))
        output.wait_for(lambda line: line.startswith("updated     notes") and "changed: displayName" in line)

        # A broken file is reported with its line and column; what was synced stays.
        (folder / "broken.json").write_text('{\n  "name": "broken",\n  "displayName": ,\n}\n')
        output.wait_for(lambda line: "broken.json: line 3, column 18: invalid JSON: invalid character" in line)
        assert display_names(base) == {"notes": "Field notes"}

        # One short line per request: time, method, path, status, duration, request id.
        request_id, _ = get_json(f"{base}/api/collections?search=field")
        line = output.wait_for(lambda line: line.endswith(request_id))
        assert re.fullmatch(rf"\d\d:\d\d:\d\d GET /api/collections 200 \d+\.\d ms {request_id}", line), line
    finally:
        stop_process(proc)
    # Only that one: the app's own access line stays off (a clean stop writes what it held).
    assert [line for line in output.until_closed() if request_id in line] == [line]


def test_serve_logs_each_request_as_json(tmp_path):
    path = tmp_path / "bindings.toml"
    path.write_text(bindings_text())
    port = free_port()
    env = {**dev_env(), "SONICPY_PERSIST_TO": str(tmp_path / "state")}
    proc = subprocess.Popen(
        [sys.executable, "worker.py", "serve", "--config", str(path), "--bind", f"127.0.0.1:{port}", "--workers", "1"],
        cwd=PROJECT_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )
    output = Output(proc)
    try:
        wait_for_port(port, timeout=60, proc=proc)
        request_id, _ = get_json(f"http://127.0.0.1:{port}/health?token=secret-value")
        line = output.wait_for(lambda line: request_id in line)
    finally:
        stop_process(proc)
    entry = json.loads(line)
    assert entry["method"] == "GET" and entry["path"] == "/health" and entry["status"] == 200
    assert entry["request_id"] == request_id and entry["duration_ms"] >= 0 and entry["bytes"] > 0
    assert "secret-value" not in line  # query strings carry tokens: never logged
