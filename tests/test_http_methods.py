"""HEAD wherever GET is, and an ``Allow`` naming every method (``app.api.methods``).

RFC 9110: a resource that answers GET answers HEAD with the same status and headers and no
content; OPTIONS and a 405 name the methods the resource takes in ``Allow``.
"""

import re

import pytest

from app.api.access import access
from app.runtime.entry import Worker
from tests.fixtures.app import app_for
from tests.fixtures.conformance import ConformingTestApp

pytestmark = pytest.mark.backends

VOLATILE = {"x-request-id", "x-response-time", "set-cookie", "date"}  # differ between any two requests


def same_headers(get, head, volatile=VOLATILE):
    """Assert ``head`` carries ``get``'s headers (the per-request ones aside) and no body."""
    assert head.status == get.status
    assert head.body == b""
    assert {k.lower(): v for k, v in head.headers.items() if k.lower() not in volatile} == {
        k.lower(): v for k, v in get.headers.items() if k.lower() not in volatile
    }


@pytest.mark.parametrize("path", ["/api/collections", "/api/content", "/api/openapi.json", "/admin/login"])
def test_head_answers_what_get_does_without_the_body(client, path):
    client.get(path, status=200)  # fills the read cache, whose state the answer's headers tell
    get = client.get(path, status=200)
    head = client.head(path, status=200)
    timed = b'"timing":' in get.body  # meta.timing's digits, and so the length, vary per request
    same_headers(get, head, VOLATILE | {"content-length"} if timed else VOLATILE)
    if timed:
        assert abs(int(head.headers["Content-Length"]) - len(get.body)) < 10 and len(get.body) > 0
    else:
        assert int(head.headers["Content-Length"]) == len(get.body) > 0


def test_head_runs_the_access_check_of_get(client, make_user):
    _, viewer = make_user("viewer")
    _, admin = make_user("admin")
    anonymous = client.head("/admin/api/users", status=401)
    assert anonymous.headers["WWW-Authenticate"] == "Bearer" and anonymous.body == b""
    same_headers(client.get("/admin/api/users", headers=viewer, status=403),
                 client.head("/admin/api/users", headers=viewer, status=403))
    same_headers(client.get("/admin/api/users", headers=admin, status=200),
                 client.head("/admin/api/users", headers=admin, status=200))


def test_every_documented_get_answers_head_with_the_same_status(client, make_user):
    _, admin = make_user("admin")
    doc = client.get("/api/openapi.json").json
    paths = [path for path, item in doc["paths"].items() if "get" in item]
    assert len(paths) > 30
    for path in paths:
        concrete = re.sub(r"\{[^}]+\}", "missing", path)
        get = client.get(concrete, headers=admin, expect_errors=True)
        head = client.head(concrete, headers=admin, expect_errors=True)
        assert (path, head.status_int) == (path, get.status_int)
        assert head.headers.get("Content-Type") == get.headers.get("Content-Type")
        assert head.body == b""


def test_the_document_lists_head_wherever_get_is(client):
    doc = client.get("/api/openapi.json").json
    heads = [path for path, item in doc["paths"].items() if "head" in item]
    assert heads == [path for path, item in doc["paths"].items() if "get" in item]
    assert {"/api/content", "/api/content/{id}", "/api/collections", "/files/{key}"} <= set(heads)
    # /files declares its own HEAD; the others are their GET's, told as such.
    assert doc["paths"]["/files/{key}"]["head"]["summary"] == "A media file's headers"
    assert doc["paths"]["/api/collections"]["head"]["description"].startswith("The GET's answer without its body")


def test_head_of_a_route_without_get_is_405(client):
    response = client.head("/auth/refresh", status=405)
    assert response.headers["Allow"] == "OPTIONS, POST"


@pytest.mark.parametrize("path, allowed", [
    ("/api/content", "GET, HEAD, OPTIONS, POST"),
    ("/api/content/abc", "DELETE, GET, HEAD, OPTIONS, PUT"),
    ("/auth/refresh", "OPTIONS, POST"),
    ("/auth/login", "GET, HEAD, OPTIONS, POST"),  # GET: SonicJS's sign-in page, on to the admin's
    ("/admin/login", "GET, HEAD, OPTIONS, POST"),
    ("/files/some/key.png", "GET, HEAD, OPTIONS"),
])
def test_options_allow_names_every_method_of_the_route(client, path, allowed):
    response = client.options(path)
    assert response.headers["Allow"] == allowed
    assert response.body == b""


def test_a_405_names_head_and_options_in_allow(client):
    assert client.delete("/api/collections", status=405).headers["Allow"] == "GET, HEAD, OPTIONS"


class StreamResource:
    """A GET that answers a stream, as a plugin's route may: a HEAD must close it unread."""

    def __init__(self):
        self.streams = []

    @access(public=True)
    def on_get(self, req, resp):
        stream = Stream(b"twelve bytes")
        self.streams.append(stream)
        resp.content_type = "application/octet-stream"
        resp.content_length = len(stream.data)
        resp.stream = stream


class Stream:
    """A file-like body that remembers whether it was read and closed."""

    def __init__(self, data):
        self.data, self.read_from, self.closed = data, False, False

    def read(self, size=-1):
        self.read_from = True
        data, self.data = self.data, b""
        return data

    def close(self):
        self.closed = True


def test_head_closes_a_stream_the_get_opened_and_keeps_its_length(env):
    resource = StreamResource()

    def build(e):
        app = app_for(e)
        app.add_route("/api/test-stream", resource)  # after create_app: the app's own router maps it
        return app

    client = ConformingTestApp(Worker(lambda: env, build))
    response = client.head("/api/test-stream", status=200)
    assert response.headers["Content-Length"] == "12" and response.body == b""
    [stream] = resource.streams
    assert stream.closed and not stream.read_from
