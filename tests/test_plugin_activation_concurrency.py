"""Two activations of one plugin at the same time, on SQLite and PostgreSQL: the second reads
the row as the first left it, so ``on_plugin_activate`` runs once."""

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
import webtest

from app.db.database import is_postgres
from app.db.models import bind_models
from tests.fixtures.app import client_for
from tests.fixtures.users import bearer, create_user, token_for
from tests.plugins import lifecycle_plugin

pytestmark = pytest.mark.backends

LIFECYCLE = "tests.plugins.lifecycle_plugin"
ACTIVATE = "/admin/api/plugins/lifecycle/activate"
# How long the first activation waits for the second: only a hang ends it.
WAIT_SECONDS = 30


def held_or_done(db, begun, done):
    """Wait until the second activation has answered or waits on a lock (PostgreSQL: a backend
    waiting on a row lock; SQLite: it has begun its transaction, which waits for the write lock)."""
    if not is_postgres(db):
        return begun.wait(WAIT_SECONDS) or done.is_set()
    try:
        for _ in range(WAIT_SECONDS * 100):
            waiting = db.execute_sql("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
                                     " AND datname = current_database()").fetchone()[0]
            if waiting or done.wait(0.01):
                return True
        return False
    finally:
        db.close()


def test_two_activations_at_once_run_the_hook_once(env, monkeypatch):
    bind_models(env.DB.db)
    lifecycle_plugin.CALLS.clear()
    client = client_for(env, plugins=(LIFECYCLE,))
    headers = bearer(token_for(create_user("admin")))
    client.get("/admin/api/plugins/lifecycle", headers=headers, status=200)  # the plugin's row exists
    db = env.DB.db
    execute_sql, begin = db.execute_sql, db.begin
    first, second_idents, begun, done, seconds = threading.get_ident(), [], threading.Event(), threading.Event(), []

    def second_activation():
        second_idents.append(threading.get_ident())
        try:
            return webtest.TestRequest.blank(ACTIVATE, method="POST", headers=headers).get_response(client.app)
        finally:
            done.set()
            db.close()

    def begin_watched(*args, **kwargs):
        if threading.get_ident() in second_idents:
            begun.set()
        return begin(*args, **kwargs)

    def execute_watched(sql, *args, **kwargs):
        # The first activation, having read the row, lets the second run before it writes.
        if threading.get_ident() == first and sql.startswith('UPDATE "plugins"') and not seconds:
            seconds.append(pool.submit(second_activation))
            assert pool.submit(held_or_done, db, begun, done).result(WAIT_SECONDS + 5)
        return execute_sql(sql, *args, **kwargs)

    monkeypatch.setattr(db, "begin", begin_watched)
    monkeypatch.setattr(db, "execute_sql", execute_watched)
    with ThreadPoolExecutor(2) as pool:
        client.post(ACTIVATE, headers=headers, status=200)
        second = seconds[0].result(WAIT_SECONDS)

    assert second.status_int == 200, second.text
    assert [about for name, about in lifecycle_plugin.CALLS if name == "on_plugin_activate"] == ["lifecycle"]
