"""`dev` and `serve` stop cleanly and refuse unusable bindings before starting workers."""

import os
import signal
import socket
import subprocess
import sys
import time

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
    text = bindings_text().replace(f'migrations_dir = "{MIGRATIONS}"', f'migrations_dir = "{MIGRATIONS}"\ndatabase_url_env = "UNSET_DATABASE_URL"')
    path.write_text(text)
    env = {k: v for k, v in os.environ.items() if k != "UNSET_DATABASE_URL"}
    result = subprocess.run(
        [sys.executable, "worker.py", "serve", "--config", str(path), "--bind", f"127.0.0.1:{free_port()}"],
        cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 1
    assert "UNSET_DATABASE_URL" in result.stderr and "(environment default)" in result.stderr
    assert "Traceback" not in result.stderr
