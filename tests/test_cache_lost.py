"""Cache invalidations CACHE_KV could not take: made outside a request (the CLI, a scheduled
publication), or in a request whose worker may exit before KV answers again. Recorded in the
database, written by the next scheduled run that reaches KV.

The memcached here restarts warm (its items kept in a memory file): a server that was down
for a while and comes back with its entries and generations, so a bump it missed would
leave them stale for their whole TTL. (A server restarted empty has forgotten the
generations too, and nothing it serves is stale.)
"""

import logging
import time

import peewee
import pytest

from app.db.models import CacheInvalidation, Content, bind_models, now_ms
from app.runtime.context import ScheduledEvent
from app.runtime.kv import open_kv
from app.scheduled import run_scheduled
from app.services.cache import ALL_NAMESPACES, ThreeTierCache
from app.services.cache_lost import invalidate_or_record, record_lost_bump, recorded, replay
from app.services.log_buffer import flush_process_buffer
from tests.fixtures.app import client_for, env_with_copy, record_statements, run_env_cli
from tests.fixtures.cache import past_generation_bound
from tests.fixtures.content import create_collection, insert_items
from tests.fixtures.users import bearer, create_user, token_for
from tests.fixtures.workflow import insert_content, insert_schedule

pytestmark = pytest.mark.backends


@pytest.fixture
def warm_app(tmp_path, migrated_template, memcached_factory):
    """``(server, env, client)``: an app on SQLite and a memcached that restarts with its items."""
    server = memcached_factory(warm=True)
    env = env_with_copy(tmp_path / "app", migrated_template, kv_servers=[server.address])
    bind_models(env.DB.db)
    insert_items(create_collection("news"), create_user("editor"), 2)
    yield server, env, client_for(env)
    env.DB.db.close()


@pytest.fixture
def warm_stack_app(tmp_path, stack, memcached_factory):
    """``(server, env, item ids, editor's headers)``: an app on the test's stack (SQLite or
    PostgreSQL) over a memcached of its own that restarts with its items."""
    server = memcached_factory(warm=True)
    env = stack.env(tmp_path / "app", kv_servers=[server.address])
    bind_models(env.DB.db)
    editor = create_user("editor")
    ids = insert_items(create_collection("news"), editor, 2)
    yield server, env, ids, bearer(token_for(editor))
    flush_process_buffer()


def cache_source(response):
    return response.headers["X-Cache-Status"], response.headers["X-Cache-Source"]


def once_kv_answers(client):
    """The first answer of ``/api/content`` not loaded for want of KV.

    A worker's connection to the stopped server fails once; its breaker then keeps KV away
    for a second. Polled: no assertion on time.
    """
    deadline = time.monotonic() + 15
    while True:
        response = client.get("/api/content")
        if cache_source(response) != ("MISS", "database") or time.monotonic() > deadline:
            return response
        time.sleep(0.1)


def titles(response):
    return sorted(item["title"] for item in response.json["data"])


def cron(env):
    return run_scheduled(ScheduledEvent("* * * * *", now_ms()), env)


def test_a_cli_write_kv_missed_is_written_by_the_next_scheduled_run(warm_app):
    server, env, client = warm_app
    client.get("/api/content")
    before = titles(client.get("/api/content"))

    server.stop_saving()
    result = run_env_cli(env, "d1", "execute", "DB", "--command", "UPDATE content SET title = 'While KV was down'")
    assert result.exit_code == 0, result.output
    lost = recorded()
    server.start()

    # KV is back with the generations the write could not replace: the worker's copy still answers.
    stale = once_kv_answers(client)
    assert cache_source(stale) == ("HIT", "memory") and titles(stale) == before
    written = cron(env).get("write_lost_cache_invalidations")
    past_generation_bound()
    fresh = client.get("/api/content")
    assert cache_source(fresh) == ("MISS", "database") and titles(fresh) == ["While KV was down"] * 2
    assert titles(client_for(env).get("/api/content")) == ["While KV was down"] * 2
    assert "CACHE_KV unreachable" in result.stderr and "until the next scheduled run reaches it" in result.stderr
    assert lost == {str(name): 1 for name in ALL_NAMESPACES}
    assert written == {"cache_invalidations_written": len(ALL_NAMESPACES)} and recorded() == {}


def test_a_scheduled_publication_kv_missed_is_written_by_the_next_run(warm_app):
    server, env, client = warm_app
    editor = create_user("editor")
    draft = insert_content(editor, create_collection("blog"), "draft", title="Due later")
    insert_schedule(draft, editor)
    client.get("/api/content")
    assert client.get("/api/content").json["meta"]["total"] == 2

    server.stop_saving()
    report = cron(env)["run_scheduled_content"]
    server.start()
    assert report["completed"] == 1 and report["cache_invalidated"] is False
    assert Content.get_by_id(draft.id).status == "published"
    stale = once_kv_answers(client)
    assert cache_source(stale) == ("HIT", "memory") and stale.json["meta"]["total"] == 2  # until the next run

    written = cron(env).get("write_lost_cache_invalidations")
    past_generation_bound()
    response = client.get("/api/content")
    assert cache_source(response) == ("MISS", "database") and response.json["meta"]["total"] == 3
    assert written == {"cache_invalidations_written": 1}


def test_lost_bumps_are_counted_and_written_with_the_next_ones(env, tmp_path, memcached_factory):
    bind_models(env.DB.db)
    server = memcached_factory()
    server.stop()
    down = open_kv({"binding": "CACHE_KV", "id": "lost", "servers": [server.address]}, tmp_path)
    assert invalidate_or_record(down, ["content"]) == ["content"]
    assert invalidate_or_record(down, ["content", "users"]) == ["content", "users"]
    assert invalidate_or_record(None, ["plugins"]) == ["plugins"]  # a KV binding that cannot be opened
    assert recorded() == {"content": 2, "users": 1, "plugins": 1}
    assert replay(down) == [] and len(recorded()) == 3

    generations = ["gen:content", "gen:users", "gen:plugins", "gen:media"]
    before = env.CACHE_KV.get(generations, type="text")
    assert invalidate_or_record(env.CACHE_KV, ["media"]) == []
    assert recorded() == {}
    after = env.CACHE_KV.get(generations, type="text")
    assert all(after[key] and after[key] != before[key] for key in generations)
    assert replay(env.CACHE_KV) == []


class BumpingThen:
    """``kv`` that runs ``meanwhile`` once, right after the first bump it writes: another
    process acting between a replay's bump and its mark."""

    def __init__(self, kv, meanwhile):
        self._kv, self._meanwhile, self.clock = kv, meanwhile, kv.clock

    def get(self, *args, **kwargs):
        return self._kv.get(*args, **kwargs)

    def put(self, *args, **kwargs):
        self._kv.put(*args, **kwargs)
        meanwhile, self._meanwhile = self._meanwhile, None
        if meanwhile:
            meanwhile()


def test_a_bump_recorded_during_a_replay_stays_pending(env, tmp_path, memcached_factory):
    bind_models(env.DB.db)
    server = memcached_factory()
    server.stop()
    down = open_kv({"binding": "CACHE_KV", "id": "lost", "servers": [server.address]}, tmp_path)
    assert invalidate_or_record(down, ["content"]) == ["content"]

    def a_write_committed_after_the_bump():
        assert invalidate_or_record(down, ["content"]) == ["content"]

    assert replay(BumpingThen(env.CACHE_KV, a_write_committed_after_the_bump)) == ["content"]
    assert recorded() == {"content": 1}  # the later write's bump is still to be written
    assert replay(env.CACHE_KV) == ["content"] and recorded() == {}


def test_a_scheduled_publication_bumps_kv_before_its_table_exists(env):
    bind_models(env.DB.db)
    editor = create_user("editor")
    draft = insert_content(editor, create_collection("blog"), "draft", title="Due")
    insert_schedule(draft, editor)
    before = env.CACHE_KV.get("gen:content", type="text")
    # The code deployed, its migration not applied yet (renamed back after: on PostgreSQL the
    # suite's next test empties this same database, table by table).
    env.DB.db.execute_sql("ALTER TABLE cache_invalidations RENAME TO cache_invalidations_later")
    try:
        report = cron(env)["run_scheduled_content"]
    finally:
        env.DB.db.execute_sql("ALTER TABLE cache_invalidations_later RENAME TO cache_invalidations")
    assert report["completed"] == 1 and report["cache_invalidated"] is True
    assert Content.get_by_id(draft.id).status == "published"
    assert env.CACHE_KV.get("gen:content", type="text") != before


def test_a_recorded_namespace_this_version_lacks_is_left_alone(env):
    bind_models(env.DB.db)
    CacheInvalidation.insert(namespace="retired", bumps=1, written=0, recorded_at=now_ms()).execute()
    assert invalidate_or_record(None, ["content"]) == ["content"]
    assert recorded() == {"content": 1}
    assert replay(env.CACHE_KV) == ["content"] and recorded() == {}


def test_a_request_write_kv_refused_is_written_by_the_next_scheduled_run(warm_stack_app, monkeypatch):
    server, env, ids, headers = warm_stack_app
    writer, reader = client_for(env), client_for(env)  # two workers
    writer.get("/api/content")
    before = titles(reader.get("/api/content"))
    assert cache_source(reader.get("/api/content")) == ("HIT", "memory")

    server.stop_saving()
    writer.put_json(f"/api/content/{ids[0]}", {"title": "While KV was down"}, headers=headers, status=200)
    lost = recorded()
    # The writer's worker exits with its pending bump; KV comes back with the old generations.
    server.start()
    newcomer = client_for(env)
    stale = newcomer.get("/api/content")
    assert cache_source(stale) == ("HIT", "kv") and titles(stale) == before
    past_generation_bound()
    assert titles(reader.get("/api/content")) == before  # its memory, under the old generations

    written = cron(env).get("write_lost_cache_invalidations")
    past_generation_bound()
    clients = (newcomer, reader, client_for(env))
    fresh = [client.get("/api/content") for client in clients]
    assert [cache_source(response) for response in fresh] == [("MISS", "database"), ("HIT", "kv"), ("HIT", "kv")]
    assert all(titles(response) == sorted(["While KV was down", before[1]]) for response in fresh)
    statements = record_statements(env.DB.db, monkeypatch)
    assert all(cache_source(client.get("/api/content")) == ("HIT", "memory") for client in clients)
    assert statements == []  # a hit reads no database, records or else
    assert lost == {"content": 1}
    assert written == {"cache_invalidations_written": 1} and recorded() == {}


def test_a_request_write_whose_bump_cannot_be_recorded_still_succeeds(warm_stack_app, caplog):
    server, env, ids, headers = warm_stack_app
    client = client_for(env)
    client.get("/api/content")
    server.stop_saving()
    # The code deployed, its migration not applied yet (renamed back after: on PostgreSQL the
    # suite's next test empties this same database, table by table).
    env.DB.db.execute_sql("ALTER TABLE cache_invalidations RENAME TO cache_invalidations_later")
    try:
        with caplog.at_level(logging.WARNING, logger="sonicpy.cache"):
            response = client.put_json(f"/api/content/{ids[0]}", {"title": "Unrecorded"}, headers=headers)
            created = client.post_json("/api/content", {"collectionId": "news", "title": "Also unrecorded",
                                                        "status": "published"}, headers=headers, status=201)
    finally:
        env.DB.db.execute_sql("ALTER TABLE cache_invalidations_later RENAME TO cache_invalidations")
    assert response.status_int == 200 and response.json["data"]["title"] == "Unrecorded"
    assert Content.get_by_id(ids[0]).title == "Unrecorded"
    assert Content.get_by_id(created.json["data"]["id"]).title == "Also unrecorded"
    assert recorded() == {}
    warnings = [r.getMessage() for r in caplog.records if "not recorded" in r.getMessage()]
    assert len(warnings) == 2 and all("cache invalidation of content" in text for text in warnings)
    # The worker still holds the bump, and writes it once KV answers again.
    server.start()
    answer = once_kv_answers(client)
    assert "Unrecorded" in titles(answer) and "Also unrecorded" in titles(answer)


def test_a_cache_records_each_bump_kv_refused_and_none_it_took(env, tmp_path, memcached_factory):
    bind_models(env.DB.db)
    server = memcached_factory()
    table = {"binding": "CACHE_KV", "id": "lost", "servers": [server.address]}
    cache = ThreeTierCache(open_kv(table, tmp_path), record_lost=record_lost_bump)
    assert cache.invalidate("content") is True
    assert recorded() == {}
    server.stop()
    assert cache.invalidate("content") is False  # refused by KV
    assert cache.invalidate("content") is False  # kept from KV by the open breaker
    assert cache.invalidate("users") is False
    assert recorded() == {"content": 2, "users": 1}
    assert cache.pending_bumps == {"content", "users"}  # the worker still writes them itself


def test_a_recorder_that_fails_is_logged_and_the_bump_stays_pending(tmp_path, memcached_factory, caplog):
    server = memcached_factory()
    server.stop()

    def broken(namespace):
        raise RuntimeError(f"no record of {namespace}")

    cache = ThreeTierCache(open_kv({"binding": "CACHE_KV", "id": "lost", "servers": [server.address]}, tmp_path),
                           record_lost=broken)
    with caplog.at_level(logging.ERROR, logger="sonicpy.cache"):
        assert cache.invalidate("media") is False
    assert cache.pending_bumps == {"media"}
    assert [record.getMessage() for record in caplog.records if record.levelno == logging.ERROR] == [
        "cache invalidation of media not recorded; only this process will write it"]
    assert "no record of media" in caplog.text


def test_bumps_recorded_together_are_recorded_all_or_none(env, stack, tmp_path, memcached_factory):
    bind_models(env.DB.db)
    server = memcached_factory()
    server.stop()
    down = open_kv({"binding": "CACHE_KV", "id": "lost", "servers": [server.address]}, tmp_path)
    stack.refuse_inserts(env, "cache_invalidations", when="NEW.namespace = 'users'")
    with pytest.raises(peewee.PeeweeException, match="refused"):
        invalidate_or_record(down, ["content", "users"])
    assert recorded() == {}  # not content alone: the CLI's warning says none was recorded
