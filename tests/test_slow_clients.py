"""Slow clients against the production shape: a real nginx with deploy/nginx.conf in front of `serve`.

gunicorn's threaded workers read a request in the thread that serves it, with no time limit:
clients that trickle their header or body take every thread of a worker, and `/health` waits
behind them. Through nginx they are held by nginx, and a normal request still gets its answer.
The failure signal is the client's generous timeout, not a measure of speed. The headers
nginx passes on are checked through the app's cross-origin check: the Host with its port,
and no X-Forwarded-Host or Forwarded of the client's.
"""

import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import urllib.error
import urllib.request

import pytest

from app.cli.server import serve
from tests.fixtures.app import PROJECT_ROOT, copy_migrated_for
from tests.fixtures.process import free_port, require_binary, stop_process, wait_for_port
from tests.test_serve import default_env_config, start, wait_healthy

NGINX_CONF = PROJECT_ROOT / "deploy" / "nginx.conf"
SLOW_HEADERS, SLOW_BODIES = 4, 2  # twice the threads `serve` gets below
TRICKLE_EVERY = 0.5  # seconds between two bytes of a slow client
TRICKLE_AT_MOST = 60  # seconds: the slow clients stop by then whatever happens

MAIN_CONF = """\
daemon off;
master_process off;
pid {folder}/nginx.pid;
error_log {folder}/error.log warn;
events {{ worker_connections 64; }}
http {{
    access_log off;
    client_body_temp_path {folder}/client_body;
    proxy_temp_path {folder}/proxy;
    fastcgi_temp_path {folder}/fastcgi;
    uwsgi_temp_path {folder}/uwsgi;
    scgi_temp_path {folder}/scgi;
    include {folder}/sonicpy.conf;
}}
"""


def nginx_binary():
    """Debian's nginx lives in /usr/sbin, which a developer's PATH may not hold."""
    if not shutil.which("nginx") and os.access("/usr/sbin/nginx", os.X_OK):
        return "/usr/sbin/nginx"
    return require_binary("nginx")


def shipped_config(listen_port, upstream_port):
    """deploy/nginx.conf as shipped, with only its listen port and upstream address changed."""
    text = NGINX_CONF.read_text()
    for shipped, here in (("listen 80;", f"listen 127.0.0.1:{listen_port};"),
                          ("server 127.0.0.1:8000;", f"server 127.0.0.1:{upstream_port};")):
        assert text.count(shipped) == 1, f"deploy/nginx.conf no longer says {shipped!r}"
        text = text.replace(shipped, here)
    return text


@contextlib.contextmanager
def running_nginx(folder, upstream_port):
    """A real nginx on a free loopback port in front of ``upstream_port``; yields its port."""
    folder.mkdir()
    port = free_port()
    (folder / "sonicpy.conf").write_text(shipped_config(port, upstream_port))
    (folder / "nginx.conf").write_text(MAIN_CONF.format(folder=folder))
    command = [nginx_binary(), "-p", str(folder), "-c", str(folder / "nginx.conf"), "-e", str(folder / "error.log")]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        wait_for_port(port, timeout=30, proc=proc)
    except BaseException:
        stop_process(proc)
        print(proc.stdout.read(), (folder / "error.log").read_text())
        raise
    try:
        yield port
    finally:
        stop_process(proc)


class SlowClients:
    """Sockets that each send one byte (or header line) every ``TRICKLE_EVERY`` seconds."""

    def __init__(self, port):
        self.sockets = []
        self.stop = threading.Event()
        for _ in range(SLOW_HEADERS):
            self._open(port, b"GET /health HTTP/1.1\r\nHost: localhost\r\n")
        for _ in range(SLOW_BODIES):
            self._open(port, b"POST /auth/login HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
                             b"Content-Length: 4096\r\n\r\n{")
        self.thread = threading.Thread(target=self._trickle, daemon=True)
        self.thread.start()

    def _open(self, port, start):
        sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        sock.settimeout(None)  # blocking, so that a MSG_DONTWAIT peek answers at once
        sock.sendall(start)
        self.sockets.append(sock)

    def _trickle(self):
        for _ in range(int(TRICKLE_AT_MOST / TRICKLE_EVERY)):
            if self.stop.wait(TRICKLE_EVERY):
                return
            for i, sock in enumerate(self.sockets):
                with contextlib.suppress(OSError):
                    sock.sendall(b"X-Slow: 1\r\n" if i < SLOW_HEADERS else b" ")

    def still_connected(self):
        """How many sockets the server has neither answered nor closed."""
        return sum(1 for sock in self.sockets if _nothing_received(sock))

    def close(self):
        self.stop.set()
        self.thread.join()
        for sock in self.sockets:
            sock.close()


def _nothing_received(sock):
    try:
        sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT)
    except BlockingIOError:
        return True  # open, and nothing to read: the server is still waiting for this client
    except OSError:
        return False
    return False  # an answer (408, 400) or the end of the connection


def get_json(url, timeout=20):
    """``(status, JSON body)`` of a GET; a server that does not answer in ``timeout`` s fails the test."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as ex:
        return ex.code, json.loads(ex.read() or b"null")


@pytest.fixture(scope="module")
def proxied(tmp_path_factory, migrated_template):
    """The port of a real nginx (deploy/nginx.conf) in front of `serve` (1 worker, 2 threads),
    which trusts one proxy's headers as the shipped production env does."""
    folder = tmp_path_factory.mktemp("served")
    path, env = default_env_config(folder, "[vars]\nTRUSTED_PROXY_COUNT = 1\n")
    copy_migrated_for(path, env, migrated_template)
    app_port = free_port()
    # `serve` as in production, with one worker of two threads: fewer than the slow clients.
    server = start([sys.executable, "worker.py", "serve", "--bind", f"127.0.0.1:{app_port}",
                    "--workers", "1", "--threads", "2"], env, app_port)
    try:
        assert wait_healthy(f"http://127.0.0.1:{app_port}")[0] == 200
        with running_nginx(folder / "nginx", app_port) as port:
            yield port
    finally:
        stop_process(server)


def test_slow_clients_do_not_block_a_normal_request_through_nginx(proxied):
    slow = SlowClients(proxied)
    try:
        slow.stop.wait(2 * TRICKLE_EVERY)  # every slow client has trickled at least once
        for _ in range(3):
            status, body = get_json(f"http://127.0.0.1:{proxied}/health")
            assert status == 200, body
            assert body["status"] == "running"
        # nginx was holding them all the while: the requests above did not get through
        # because the slow clients had been dropped.
        assert slow.still_connected() == SLOW_HEADERS + SLOW_BODIES
    finally:
        slow.close()


def test_a_request_line_nginx_passes_is_one_gunicorn_accepts(proxied):
    # nginx passes request lines up to 8 KiB; gunicorn's default limit (4094) would answer a
    # shorter one with its own 400 page, outside the app and its error envelope.
    status, body = get_json(f"http://127.0.0.1:{proxied}/health?pad={'x' * 6000}")
    assert status == 200, body


def test_the_shipped_config_passes_nginx_syntax_check(tmp_path):
    folder = tmp_path / "nginx"
    folder.mkdir()
    (folder / "sonicpy.conf").write_text(shipped_config(free_port(), free_port()))
    (folder / "nginx.conf").write_text(MAIN_CONF.format(folder=folder))
    result = subprocess.run([nginx_binary(), "-t", "-p", str(folder), "-c", str(folder / "nginx.conf"),
                             "-e", str(folder / "error.log")], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    assert "[warn]" not in result.stderr, result.stderr


def test_serve_listens_on_loopback_by_default():
    # Only the proxy in front should reach gunicorn; a public address is a deliberate --bind.
    defaults = {param.name: param.default for param in serve.params}
    assert defaults["bind"] == "127.0.0.1:8000"


def post_status(url, headers, timeout=20):
    """The status of a POST without a body."""
    request = urllib.request.Request(url, data=b"", method="POST", headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status
    except urllib.error.HTTPError as ex:
        return ex.code


def test_the_port_reaches_the_app_in_the_host_header(proxied):
    # nginx listens on a port that is not 80 here: an older browser (Origin, no Sec-Fetch-Site)
    # names it in its Origin, and the cross-origin check compares that with the Host the app
    # sees. A session cookie (any value) makes the sign-out one the check covers.
    url = f"http://127.0.0.1:{proxied}/auth/logout"
    cookie = {"Cookie": "auth_token=x"}
    assert post_status(url, {**cookie, "Origin": f"http://127.0.0.1:{proxied}"}) == 200
    assert post_status(url, {**cookie, "Origin": "http://127.0.0.1"}) == 403


@pytest.mark.parametrize("forged", [
    {"X-Forwarded-Host": "evil.example"},
    {"Forwarded": "host=evil.example;proto=http"},
    {"X-Forwarded-Host": "evil.example", "Forwarded": "host=evil.example;proto=http"},
])
def test_a_client_cannot_name_its_own_origin_as_the_apps(proxied, forged):
    # With TRUSTED_PROXY_COUNT = 1 the app reads the proxy's X-Forwarded-Host and Forwarded
    # as naming its own origin: nginx must set them, never pass on what the client sent, or
    # a page on evil.example could pass the cross-origin check by sending them.
    url = f"http://127.0.0.1:{proxied}/auth/logout"
    cookie = {"Cookie": "auth_token=x"}
    assert post_status(url, {**cookie, **forged, "Origin": "http://evil.example"}) == 403
    assert post_status(url, {**cookie, **forged, "Origin": f"http://127.0.0.1:{proxied}"}) == 200


def raw_answer(port, request):
    """What the server at ``port`` answers to ``request`` (bytes, sent as is) before it closes."""
    with socket.create_connection(("127.0.0.1", port), timeout=20) as sock:
        sock.sendall(request)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    return answer


def test_a_request_without_host_is_still_answered(proxied):
    # HTTP/1.0 needs no Host; nginx then passes on the address it was reached at.
    answer = raw_answer(proxied, b"GET /health HTTP/1.0\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 200 "), answer[:200]


@pytest.mark.parametrize("origin, status", [("http://127.0.0.1:{nginx}", 200), ("http://127.0.0.1", 403)])
def test_a_request_without_host_has_the_address_it_reached_for_its_host(proxied, origin, status):
    # Without a Host the app would take gunicorn's own address for its origin, which no
    # client can reach: the cross-origin check shows the one it sees instead.
    origin = origin.format(nginx=proxied).encode()
    answer = raw_answer(proxied, b"POST /auth/logout HTTP/1.0\r\nCookie: auth_token=x\r\nOrigin: " + origin
                        + b"\r\nContent-Length: 0\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 %d " % status), answer[:400]
