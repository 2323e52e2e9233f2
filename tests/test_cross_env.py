"""One process serving several envs: every answer comes from its own env's database.

``Worker.fetch(environ, start_response, env=...)`` serves another env in the same process.
The models reach their database through a context-local proxy, so requests of two envs
served at once from several threads never read each other's rows; the apps built for other
envs are kept in a bounded, locked map.
"""

import sqlite3
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest
import webtest

from app.api.access import access
from app.app import create_app
from app.db.models import User, bind_models, database
from app.runtime.entry import Worker
from tests.fixtures.app import env_with_copy, make_env, settings_for_tests
from tests.fixtures.users import bearer, create_user, token_for

THREADS = 4
REQUESTS_PER_THREAD = 300  # 1,200 in all
ADMIN_ID = "cross-env-admin"


def seeded(env, extra_users):
    """``env`` with one admin (the same id in every env, so one token opens both) and
    ``extra_users`` viewers; returns the admin."""
    with database.bound(env.DB.db):
        admin = create_user("admin", id=ADMIN_ID, email="admin@example.com", username="admin")
        for _ in range(extra_users):
            create_user("viewer")
    return admin


def active_users(env):
    """The count ``/admin/api/stats`` reports as ``users`` for ``env``."""
    with database.bound(env.DB.db):
        return User.select().where(User.is_active == 1).count()


def serving(worker, env):
    """A WSGI app that serves every request through ``worker.fetch(..., env=env)``."""

    def app(environ, start_response):
        return worker.fetch(environ, start_response, env=env)

    return app


@pytest.fixture(params=["sqlite", "postgresql"])
def two_envs(request, tmp_path, migrated_template):
    """Two envs whose databases hold different numbers of users, on either backend."""
    if request.param == "sqlite":
        envs = [env_with_copy(tmp_path / name, migrated_template) for name in ("one", "two")]
    else:
        server = request.getfixturevalue("postgres_server")
        template = request.getfixturevalue("migrated_postgres_template")
        envs = []
        for name in ("one", "two"):
            url = server.create_database(f"cross_env_{name}", template=template)
            envs.append(make_env(tmp_path / name, database_url=url))
            request.addfinalizer(lambda name=name: server.drop_database(f"cross_env_{name}"))
    admin = seeded(envs[0], extra_users=2)
    seeded(envs[1], extra_users=7)
    yield envs, bearer(token_for(admin))
    for env in envs:
        env.DB.db.close()


def test_two_envs_served_from_threads_never_cross(two_envs):
    envs, headers = two_envs
    expected = {id(env): active_users(env) for env in envs}
    assert len(set(expected.values())) == 2  # the answers tell the databases apart
    worker = Worker(lambda: envs[0], lambda e: create_app(e, settings_for_tests()))
    barrier = threading.Barrier(THREADS)

    def client_thread(number):
        # One TestApp per env and thread: a TestApp's cookie jar is not thread-safe.
        clients = [webtest.TestApp(serving(worker, env)) for env in envs]
        barrier.wait()
        wrong = []
        for i in range(REQUESTS_PER_THREAD):
            which = (number + i) % 2
            response = clients[which].get("/admin/api/stats", headers=headers, expect_errors=True)
            want = expected[id(envs[which])]
            got = response.json.get("users") if response.status_int == 200 else response.status
            if got != want:
                wrong.append((number, i, which, want, got))
        return wrong

    with ThreadPoolExecutor(THREADS) as pool:
        results = list(pool.map(client_thread, range(THREADS)))
    crossed = [answer for wrong in results for answer in wrong]
    assert crossed == [], f"{len(crossed)} of {THREADS * REQUESTS_PER_THREAD} answers crossed, e.g. {crossed[:5]}"


class SeenAfterResponse:
    """A resource that counts users in the responder and again in ``ctx.wait_until`` work."""

    def __init__(self, seen):
        self.seen = seen

    @access(public=True)
    def on_get(self, req, resp):
        self.seen.append(("responder", User.select().count()))
        req.context.ctx.wait_until(lambda: self.seen.append(("after", User.select().count())))
        resp.media = {}


def test_wait_until_work_sees_the_database_of_its_request(tmp_path, migrated_template):
    own = env_with_copy(tmp_path / "own", migrated_template)
    other = env_with_copy(tmp_path / "other", migrated_template)
    seeded(own, extra_users=1)
    seeded(other, extra_users=4)
    counts = {"own": active_users(own), "other": active_users(other)}
    assert counts["own"] != counts["other"]
    seen = []

    def make_app(env):
        app = create_app(env, settings_for_tests())
        app.add_route("/seen", SeenAfterResponse(seen))
        return app

    worker = Worker(lambda: own, make_app)
    client = webtest.TestApp(serving(worker, other))
    client.get("/seen", status=200)  # builds the other env's app
    bind_models(own.DB.db)  # code outside requests reads the Worker's own env
    seen.clear()
    client.get("/seen", status=200)  # WebTest closes the body: the wait_until work has run
    assert seen == [("responder", counts["other"]), ("after", counts["other"])]
    assert User.select().count() == counts["own"]  # the request's binding ended with it


def test_a_transaction_ends_on_the_database_it_began_on(tmp_path, migrated_template):
    first = env_with_copy(tmp_path / "first", migrated_template)
    second = env_with_copy(tmp_path / "second", migrated_template)
    bind_models(first.DB.db)
    with database.atomic():
        create_user("viewer", email="kept@example.com")
        # The models move on to another database; the open transaction must still commit
        # where it began (resolving the proxy at COMMIT would reach the other database).
        bind_models(second.DB.db)
    with sqlite3.connect(first.DB.db.database) as conn:
        assert conn.execute("SELECT count(*) FROM users WHERE email = 'kept@example.com'").fetchone() == (1,)
    assert User.select().where(User.email == "kept@example.com").count() == 0


@database.atomic()
def _insert_user(email):
    create_user("viewer", email=email)


def test_a_decorated_transaction_uses_the_database_of_each_caller(tmp_path, migrated_template):
    envs = [env_with_copy(tmp_path / name, migrated_template) for name in ("a", "b")]
    barrier = threading.Barrier(2)

    def insert(env, email):
        with database.bound(env.DB.db):
            barrier.wait()
            _insert_user(email)

    with ThreadPoolExecutor(2) as pool:
        list(pool.map(insert, envs, ["a@example.com", "b@example.com"]))
    for env, email in zip(envs, ["a@example.com", "b@example.com"]):
        with database.bound(env.DB.db):
            assert [u.email for u in User.select().where(User.role == "viewer")] == [email]


# --- the apps of other envs ---------------------------------------------------------------


class Site:
    """A stand-in env: the Worker keys apps by env and passes it to ``make_app``."""

    def __init__(self, name):
        self.name = name


class CountingBuilder:
    """``make_app`` that counts builds per env; each app answers with its env's name.

    Args:
        build_seconds: how long a build takes; a build in progress is the window in which
            concurrent first requests could each start their own.
    """

    def __init__(self, build_seconds=0):
        self.builds = Counter()
        self._build_seconds = build_seconds
        self._lock = threading.Lock()

    def __call__(self, env):
        with self._lock:
            self.builds[env.name] += 1
        time.sleep(self._build_seconds)

        def app(environ, start_response):
            start_response("200 OK", [("Content-Type", "text/plain")])
            return [env.name.encode()]

        return app


def fetch_text(worker, env):
    return webtest.TestApp(serving(worker, env)).get("/").text


def test_apps_of_other_envs_are_bounded_least_recently_used_first():
    builder = CountingBuilder()
    worker = Worker(lambda: Site("own"), builder, other_apps_kept=2)
    a, b, c = Site("a"), Site("b"), Site("c")
    assert [fetch_text(worker, site) for site in (a, b, a, c)] == ["a", "b", "a", "c"]
    assert builder.builds == {"a": 1, "b": 1, "c": 1}
    assert fetch_text(worker, a) == "a"  # kept: used after b
    assert builder.builds == {"a": 1, "b": 1, "c": 1}
    assert fetch_text(worker, b) == "b"  # dropped when c came, so built again; c goes out
    assert fetch_text(worker, c) == "c"
    assert builder.builds == {"a": 1, "b": 2, "c": 2}


def test_concurrent_first_requests_build_one_app_per_env():
    callers = 8
    builder = CountingBuilder(build_seconds=0.2)
    worker = Worker(lambda: Site("own"), builder)
    sites = [Site("a"), Site("b")]
    barrier = threading.Barrier(callers)

    def first_request(number):
        barrier.wait()
        return fetch_text(worker, sites[number % 2])

    with ThreadPoolExecutor(callers) as pool:
        answers = list(pool.map(first_request, range(callers)))
    assert answers == ["a", "b"] * (callers // 2)
    assert builder.builds == {"a": 1, "b": 1}


def test_the_workers_own_env_is_served_by_its_own_app():
    builder = CountingBuilder()
    own = Site("own")
    worker = Worker(lambda: own, builder)
    assert webtest.TestApp(worker).get("/").text == "own"
    assert fetch_text(worker, own) == "own"  # the env it built: no second app
    assert builder.builds == {"own": 1}


def test_a_worker_keeps_at_least_one_other_app():
    with pytest.raises(ValueError, match="at least one"):
        Worker(lambda: Site("own"), CountingBuilder(), other_apps_kept=0)
