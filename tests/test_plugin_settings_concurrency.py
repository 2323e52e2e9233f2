"""Two saves of one plugin's settings at the same time both take, on SQLite and PostgreSQL:
each merges its keys into the settings as the other left them, not into the settings both
started from."""

import json
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
import webtest

from app.db.models import Plugin, bind_models
from app.services.plugins.registry import PluginRegistry
from tests.fixtures.app import client_for
from tests.fixtures.users import bearer, create_user, token_for
from tests.plugins import sample_plugin

pytestmark = pytest.mark.backends

SAMPLE = "tests.plugins.sample_plugin"
# How long the first save waits for the second to reach its transaction: only a hang ends it.
WAIT_SECONDS = 30


@pytest.fixture
def plugin_client(env):
    bind_models(env.DB.db)
    return client_for(env, plugins=(SAMPLE,))


def patching(changes, headers):
    return webtest.TestRequest.blank("/admin/api/plugins/sample", method="PATCH", content_type="application/json",
                                     headers=headers, body=json.dumps({"settings": changes}).encode())


def when_a_thread_begins(db, monkeypatch, idents, event):
    """Set ``event`` as soon as one of the threads ``idents`` begins a transaction on ``db``."""
    begin = db.begin

    def begin_watched(*args, **kwargs):
        if threading.get_ident() in idents:
            event.set()
        return begin(*args, **kwargs)

    monkeypatch.setattr(db, "begin", begin_watched)


def test_two_saves_at_once_keep_both_changes(plugin_client, env, monkeypatch):
    headers = bearer(token_for(create_user("admin")))
    plugin_client.get("/admin/api/plugins/sample", headers=headers, status=200)  # the plugin's row exists
    db = env.DB.db
    second_idents, second_going, seconds = [], threading.Event(), []
    when_a_thread_begins(db, monkeypatch, second_idents, second_going)

    def second_save():
        second_idents.append(threading.get_ident())
        try:
            return patching({"shout": True}, headers).get_response(plugin_client.app)
        finally:
            db.close()

    def hold_the_first(settings):
        # The first save, having read and merged, lets the second run until it begins its
        # write's transaction (it then waits for the first's lock, if the first holds one)
        # or answers.
        if settings.greeting != "bonjour" or seconds:
            return
        seconds.append(pool.submit(second_save))
        seconds[0].add_done_callback(lambda _: second_going.set())
        assert second_going.wait(WAIT_SECONDS)

    monkeypatch.setattr(sample_plugin, "VALIDATING", [hold_the_first])
    first_ident, changed = threading.get_ident(), PluginRegistry._changed

    def answer_after_the_second(registry):
        # The first, committed, answers only once the second has committed too: its answer
        # must still be what it wrote.
        changed(registry)
        if threading.get_ident() == first_ident:
            seconds[0].result(WAIT_SECONDS)

    monkeypatch.setattr(PluginRegistry, "_changed", answer_after_the_second)
    with ThreadPoolExecutor(1) as pool:
        first = plugin_client.patch_json("/admin/api/plugins/sample", {"settings": {"greeting": "bonjour"}},
                                         headers=headers, status=200)
        second = seconds[0].result(WAIT_SECONDS)

    assert second.status_int == 200, second.text
    assert Plugin.get(Plugin.name == "sample").settings == {"greeting": "bonjour", "shout": True}
    # The first committed first: the second merged into what it wrote.
    assert first.json["data"]["settings"] == {"greeting": "bonjour", "shout": False}
    assert second.json["data"]["settings"] == {"greeting": "bonjour", "shout": True}
