"""``X-Response-Time`` on every response and ``meta.timing`` on the public reads, as SonicJS
sends them: how long the request took, and how much of it the database did."""

import re
import threading

import msgspec
import pytest
import webtest

from app.api.access import access
from app.api.timing import timing_json
from app.app import create_app
from app.runtime.entry import Worker
from tests.fixtures.app import settings_for_tests
from tests.fixtures.content import insert_items

pytestmark = pytest.mark.backends

RESPONSE_TIME = re.compile(r"^(\d+\.\d\d)ms$")


def header_ms(response):
    match = RESPONSE_TIME.match(response.headers["X-Response-Time"])
    assert match, response.headers["X-Response-Time"]
    return float(match.group(1))


def check_timing(response):
    """The body's ``meta.timing``, checked against the header measured after it."""
    timing = response.json["meta"]["timing"]
    assert set(timing) == {"total", "execution", "unit"} and timing["unit"] == "ms"
    assert 0 <= timing["execution"] <= timing["total"] <= header_ms(response)
    return timing


@pytest.mark.parametrize("path", ["/api/content?limit=5", "/api/collections/blog/content/item-1"])
def test_a_miss_counts_its_queries_and_a_memory_hit_none(client, blog_collection, as_author, path):
    author, _ = as_author
    insert_items(blog_collection, author, 3)
    miss = client.get(path)
    assert miss.headers["X-Cache-Source"] == "database"
    assert check_timing(miss)["execution"] > 0  # the page (and its count) were read
    hit = client.get(path)
    assert hit.headers["X-Cache-Source"] == "memory"
    assert check_timing(hit)["execution"] == 0


def test_editors_answers_carry_timing_too(client, blog_collection, as_author):
    author, headers = as_author
    insert_items(blog_collection, author, 2, status="draft")
    response = client.get("/api/content?status=draft", headers=headers)
    assert response.headers["Cache-Control"] == "private, no-store"
    assert check_timing(response)["execution"] > 0


def test_public_collections_carry_timing(client, blog_collection):
    miss = client.get("/api/collections")
    assert check_timing(miss)["execution"] > 0
    assert check_timing(client.get("/api/collections"))["execution"] == 0


def test_every_response_says_its_time(client):
    for response in (
        client.get("/health"),
        client.get("/api/content/nope", status=404),
        client.post_json("/auth/login", {"email": "x@example.com", "password": "wrong"}, status=401),
        client.get("/admin/login"),
    ):
        header_ms(response)


def test_browsers_on_other_origins_may_read_it(client):
    response = client.get("/api/content", headers={"Origin": "https://app.example.com"})
    exposed = [name.strip() for name in response.headers["Access-Control-Expose-Headers"].split(",")]
    assert "X-Response-Time" in exposed


class Waiting:
    """A test route that answers its own ``meta.timing`` once told to go on."""

    def __init__(self):
        self.started, self.go = threading.Event(), threading.Event()

    @access(public=True)
    def on_get(self, req, resp):
        self.started.set()
        self.go.wait(10)
        resp.media = msgspec.Raw(timing_json(req.context))


def test_served_requests_count_only_their_own_queries(env, blog_collection, as_author):
    """Through the Worker each request has a context of its own: the queries another request
    runs meanwhile, on another thread, are not counted in this one's ``execution``."""
    author, headers = as_author
    insert_items(blog_collection, author, 3)
    waiting = Waiting()

    def make_app(e):
        app = create_app(e, settings_for_tests())
        app.add_route("/waiting", waiting)
        return app

    app = webtest.TestApp(Worker(lambda: env, make_app))
    answered = []
    first = threading.Thread(target=lambda: answered.append(app.get("/waiting").json))
    first.start()
    try:
        assert waiting.started.wait(10)
        assert check_timing(app.get("/api/content?status=all", headers=headers))["execution"] > 0
    finally:
        waiting.go.set()
        first.join()
    assert answered[0]["execution"] == 0
