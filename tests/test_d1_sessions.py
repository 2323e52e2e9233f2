"""``x-d1-bookmark``: every request has a D1 session that continues the client's (request level).

The probe route stands for a Worker's own code: it reads through ``req.context.db_session``
and writes through ``env.DB`` (as the Peewee models do, on the primary).
"""

import pytest
import webtest

from app.db.database import open_database
from app.runtime.d1.database import D1Database
from app.runtime.d1.replicas import Replica, parse_bookmark
from tests.fixtures.app import app_for

pytestmark = pytest.mark.backends

COUNT = "SELECT count(*) AS n FROM replica_probe"


class Probe:
    """GET counts rows through the request's session; POST inserts one outside it."""

    def on_get(self, req, resp):
        result = req.context.db_session.prepare(COUNT).all()
        resp.media = {"n": result["results"][0]["n"], "primary": result["meta"]["served_by_primary"]}

    def on_post(self, req, resp):
        req.context.env.DB.prepare("INSERT INTO replica_probe (note) VALUES ('x')").run()
        resp.status = "201 Created"


def client_with_probe(env):
    app = app_for(env)
    app.add_route("/probe", Probe())
    return webtest.TestApp(app)


@pytest.fixture
def probe_table(env):
    env.DB.exec("CREATE TABLE replica_probe (note TEXT)")
    yield
    env.DB.exec("DROP TABLE replica_probe")


def test_a_write_answers_with_a_bookmark_and_a_read_continues_it(env, probe_table):
    client = client_with_probe(env)
    written = client.post("/probe", status=201).headers["x-d1-bookmark"]
    assert parse_bookmark(written) is not None  # D1's shape
    read = client.get("/probe", headers={"x-d1-bookmark": written}, status=200)
    assert read.json == {"n": 1, "primary": True}
    assert read.headers["x-d1-bookmark"] >= written


def test_a_request_that_touches_no_session_sends_no_bookmark(env):
    assert "x-d1-bookmark" not in client_with_probe(env).get("/health").headers


def test_the_bookmark_header_is_exposed_to_browsers(env):
    response = client_with_probe(env).get("/api/content", headers={"Origin": "https://app.example"})
    assert "x-d1-bookmark" in response.headers.get("Access-Control-Expose-Headers", "")


@pytest.fixture
def replicated_env(env, postgres_replica, probe_table):
    """``env`` whose DB reads sessions from the suite's streaming replica."""
    name = env.DB.db.database
    replica = Replica(D1Database(open_database(postgres_replica.url(name))))
    primary = env.DB
    env.bindings["DB"] = D1Database(primary.db, primary.config, replicas=[replica])
    postgres_replica.wait_for_replay()  # the probe table is on the replica too
    yield env
    postgres_replica.resume_replay()
    replica.close()
    env.bindings["DB"] = primary


@pytest.mark.parametrize("db_backend", ["postgres"], indirect=True)
def test_read_your_writes_across_requests_through_a_lagging_replica(replicated_env, postgres_replica):
    client = client_with_probe(replicated_env)
    postgres_replica.pause_replay()
    bookmark = client.post("/probe", status=201).headers["x-d1-bookmark"]
    # Without the bookmark the read may be served by the replica, which has not the row yet.
    plain = client.get("/probe", status=200)
    assert plain.json == {"n": 0, "primary": False}
    assert plain.headers["x-d1-bookmark"] < bookmark
    # With it, the client reads its write (on the primary while the replica lags).
    assert client.get("/probe", headers={"x-d1-bookmark": bookmark}, status=200).json == {"n": 1, "primary": True}
    postgres_replica.resume_replay()
    postgres_replica.wait_for_replay()
    # Once the replica has replayed it, the replica serves the same read.
    assert client.get("/probe", headers={"x-d1-bookmark": bookmark}, status=200).json == {"n": 1, "primary": False}


@pytest.mark.parametrize("db_backend", ["postgres"], indirect=True)
def test_a_malformed_bookmark_is_a_400_on_a_replicated_database(replicated_env):
    response = client_with_probe(replicated_env).get("/probe", headers={"x-d1-bookmark": "yesterday"}, status=400)
    assert response.json == {
        "error": "Invalid bookmark",
        "details": [{"field": "x-d1-bookmark", "message": "not a bookmark from an x-d1-bookmark response"}],
    }
