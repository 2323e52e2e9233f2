"""``POST /api/search`` in ``ai`` mode end to end, and the items indexed as they change.

The env's ``[ai]`` binding is the test's embeddings server (tests/fixtures/embeddings.py),
whose vectors are hashed bags of words: a text sharing words with the query is near it, and
the expected similarity of an item is computed from the same vectors.
"""

import logging
import time

import pytest

from app.db.models import Collection, Content, SystemLog
from app.runtime import context
from app.services.ai_search.semantic import semantic_index_for
from app.services.ai_search.service import AI_OFF, MAX_RANKED, MODEL_FAILED
from app.services.content import statements
from app.services.log_buffer import flush_process_buffer
from tests.fixtures.content import create_collection, insert_items
from tests.fixtures.embeddings import API_KEY, ai_env_fixture, embed
from tests.fixtures.users import create_user

pytestmark = pytest.mark.backends

DAY_MS = 24 * 3600 * 1000
START = 1_700_000_000_000
DOCS = [  # (slug, collection, status, title, body); item i created START + i days
    ("cats", "blog", "published", "Cats", "cats purr softly on the sofa"),
    ("dogs", "blog", "published", "Dogs", "dogs bark loudly in the park"),
    ("pets", "blog", "published", "Pets", "cats and dogs live together"),
    ("secret", "blog", "draft", "Secret cats", "cats purr in a draft"),
    ("daily", "news", "published", "Daily news", "the town square market today"),
]


# The test's stack with an ``[ai]`` binding on the test's embeddings server. The timeout is
# what a hanging model costs a test; a second was too short for a busy 2-core machine, where
# the server's ordinary answer came late and the indexing of the fixture failed.
env = ai_env_fixture(batch_size=8, timeout=3)


@pytest.fixture
def site(env, as_author):
    """The DOCS, every one indexed."""
    author, _ = as_author
    collections = {name: create_collection(name, display_name=name.title()) for name in ("blog", "news")}
    ids = []
    for i, (slug, collection, status, title, body) in enumerate(DOCS):
        ids += insert_items(collections[collection], author, 1, status=status, slug_prefix=slug,
                            start=START + i * DAY_MS, title=title, data=lambda _, body=body: {"body": body})
    assert semantic_index_for(env).index_items(ids) == len(DOCS)
    return author


def search(client, query, status=200, headers=None, **body):
    return client.post_json("/api/search", {"query": query, **body}, headers=headers or {}, status=status).json["data"]


def slugs(answer):
    return [result["slug"].rsplit("-", 1)[0] for result in answer["results"]]


def similarity(query, title, body):
    return sum(a * b for a, b in zip(embed(query), embed(f"{title} {body}"), strict=True))


def test_ai_mode_orders_by_similarity_with_the_score(client, site):
    answer = search(client, "cats purr", mode="ai")
    assert answer["mode"] == "ai" and "fallback" not in answer
    # Every published item is ranked (the draft is not the public's), nearest first.
    assert slugs(answer) == ["cats", "pets", "dogs", "daily"]
    assert answer["total"] == 4
    by_slug = {slug: (title, body) for slug, _, _, title, body in DOCS}
    for result, slug in zip(answer["results"], slugs(answer), strict=True):
        assert result["relevance_score"] == pytest.approx(similarity("cats purr", *by_slug[slug]), abs=1e-5)
    assert answer["results"][0]["collection_name"] == "Blog" and answer["results"][0]["status"] == "published"


def test_ai_mode_applies_permissions_and_filters(client, site, as_editor):
    _, headers = as_editor
    # The same similarity: the draft and its twin lead, in either order.
    assert set(slugs(search(client, "cats purr", mode="ai", headers=headers))[:2]) == {"secret", "cats"}
    drafts = search(client, "cats purr", mode="ai", headers=headers, filters={"status": ["draft"]})
    assert (slugs(drafts), drafts["total"]) == (["secret"], 1)
    client.post_json("/api/search", {"query": "cats purr", "mode": "ai", "filters": {"status": ["draft"]}}, status=401)

    news = search(client, "cats purr", mode="ai", filters={"collections": ["news"]})
    assert (slugs(news), news["total"], news["mode"]) == (["daily"], 1, "ai")
    dated = search(client, "cats purr", mode="ai", filters={"dateRange": {"start": START + DAY_MS, "end": START + 2 * DAY_MS}})
    assert slugs(dated) == ["pets", "dogs"]


def test_ai_mode_pages_in_rank_order_with_the_whole_total(client, site):
    every = slugs(search(client, "cats purr", mode="ai"))
    first, second = search(client, "cats purr", mode="ai", limit=2), search(client, "cats purr", mode="ai", limit=2, offset=2)
    assert slugs(first) + slugs(second) == every
    assert first["total"] == second["total"] == 4
    assert search(client, "cats purr", mode="ai", offset=4)["results"] == []


@pytest.mark.parametrize("fault", [503, "garbage", "hang"])
def test_a_failing_model_falls_back_to_keywords(client, site, embeddings_server, fault):
    embeddings_server.answer = fault
    answer = search(client, "cats purr", mode="ai")
    assert (answer["mode"], answer["fallback"]) == ("keyword", MODEL_FAILED)
    assert slugs(answer) == ["cats"]  # the keyword search: both words, published only
    assert all(result["relevance_score"] is None for result in answer["results"])


def test_ai_mode_disabled_is_a_keyword_search(client, site, as_admin, embeddings_server):
    _, admin = as_admin
    client.patch_json("/admin/api/plugins/ai-search", {"settings": {"ai_mode_enabled": False}}, headers=admin)
    asked = len(embeddings_server.requests)
    answer = search(client, "cats purr", mode="ai")
    assert (answer["mode"], answer["fallback"], slugs(answer)) == ("keyword", AI_OFF, ["cats"])
    assert len(embeddings_server.requests) == asked  # the model was not asked


# ------------------------------------------------------------------ indexing as content changes


def create(client, headers, collection, title, body, status=201):
    return client.post_json("/api/content", {"collectionId": collection, "title": title, "status": "published",
                                             "data": {"body": body}}, headers=headers, status=status)


def test_created_content_ranks_in_ai_mode_without_the_scheduled_job(client, site, as_admin, embeddings_server):
    _, admin = as_admin
    item = create(client, admin, "blog", "Parrots", "parrots talk and squawk").json["data"]
    assert "Parrots parrots talk and squawk" in embeddings_server.texts
    answer = search(client, "parrots squawk", mode="ai")
    assert answer["mode"] == "ai" and answer["results"][0]["id"] == item["id"]
    assert answer["results"][0]["relevance_score"] == pytest.approx(
        similarity("parrots squawk", "Parrots", "parrots talk and squawk"), abs=1e-5)

    # An edit is indexed at once too: the new words rank it.
    client.put_json(f"/api/content/{item['id']}", {"title": "Owls", "data": {"body": "owls hoot at night"}},
                    headers=admin)
    assert search(client, "owls hoot", mode="ai")["results"][0]["id"] == item["id"]


def test_restored_content_is_indexed_again(env, client, site, as_admin, embeddings_server):
    _, admin = as_admin
    item = create(client, admin, "blog", "Parrots", "parrots squawk").json["data"]
    client.delete(f"/api/content/{item['id']}", headers=admin)
    semantic_index_for(env).index_items([item["id"]])  # in the trash: its vector goes
    asked = len(embeddings_server.requests)
    client.post(f"/api/content/{item['id']}/restore", headers=admin)
    assert len(embeddings_server.requests) == asked + 1
    assert search(client, "parrots squawk", mode="ai")["results"][0]["id"] == item["id"]


def test_a_failing_model_never_fails_the_write(client, site, as_admin, embeddings_server, caplog):
    _, admin = as_admin
    embeddings_server.answer = 500
    caplog.set_level(logging.WARNING, logger="sonicpy.ai_search")
    item = create(client, admin, "blog", "Parrots", "parrots squawk").json["data"]
    assert Content.get_by_id(item["id"]).title == "Parrots"
    [record] = [r for r in caplog.records if r.name == "sonicpy.ai_search"]
    assert item["id"] in record.getMessage() and "HTTP 500" in record.getMessage()
    assert "\n" not in record.getMessage() and record.exc_info is None and API_KEY not in record.getMessage()


def test_nothing_is_indexed_where_semantic_search_is_off(client, site, as_admin, embeddings_server):
    _, admin = as_admin
    client.patch_json("/admin/api/plugins/ai-search", {"settings": {"selected_collections": ["col-news"]}},
                      headers=admin)
    asked = len(embeddings_server.requests)
    create(client, admin, "blog", "Parrots", "parrots squawk")
    assert len(embeddings_server.requests) == asked  # blog is not searched
    create(client, admin, "news", "Parrots", "parrots squawk")
    assert len(embeddings_server.requests) == asked + 1

    client.patch_json("/admin/api/plugins/ai-search", {"settings": {"ai_mode_enabled": False}}, headers=admin)
    create(client, admin, "news", "Owls", "owls hoot")
    client.post("/admin/api/plugins/ai-search/deactivate", headers=admin)
    create(client, admin, "news", "Crows", "crows caw")
    assert len(embeddings_server.requests) == asked + 1


# ------------------------------------------------------------------ many saves in one request


def drafts(count=100):
    """``count`` unindexed drafts in ``blog``, by a new author."""
    return insert_items(Collection.get_by_id("col-blog"), create_user("author"), count, status="draft",
                        slug_prefix="d", data=lambda i: {"body": f"draft {i}"})


def bulk_publish(client, headers, ids):
    client.post_json("/api/content/bulk-action", {"action": "publish", "ids": ids}, headers=headers, status=200)


def test_a_bulk_publish_is_indexed_in_the_models_batches(env, client, site, as_admin, embeddings_server):
    _, admin = as_admin
    ids = drafts()
    asked = len(embeddings_server.requests)
    bulk_publish(client, admin, ids)
    sent = embeddings_server.requests[asked:]
    assert len(sent) <= -(-len(ids) // 8)  # the env's batch_size
    assert semantic_index_for(env).status(["col-blog"])["col-blog"]["missing"] == 0


def test_a_bulk_publish_with_the_model_down_is_one_request_and_one_warning(client, site, as_admin,
                                                                             embeddings_server, caplog):
    _, admin = as_admin
    ids = drafts()
    embeddings_server.answer = 503
    caplog.set_level(logging.WARNING, logger="sonicpy.ai_search")
    asked = len(embeddings_server.requests)
    bulk_publish(client, admin, ids)
    assert len(embeddings_server.requests) == asked + 1
    [record] = [r for r in caplog.records if r.name == "sonicpy.ai_search"]
    assert "and 97 more" in record.getMessage() and "HTTP 503" in record.getMessage()


def test_after_a_failure_saves_do_not_ask_the_model_for_a_while(env, client, site, as_admin, embeddings_server):
    _, admin = as_admin
    embeddings_server.answer = 503
    asked = len(embeddings_server.requests)
    create(client, admin, "blog", "Parrots", "parrots squawk")
    assert len(embeddings_server.requests) == asked + 1
    embeddings_server.answer = None  # the model is back: the scheduled job would catch up
    owls = create(client, admin, "blog", "Owls", "owls hoot").json["data"]
    assert len(embeddings_server.requests) == asked + 1
    assert semantic_index_for(env).index_items([owls["id"]]) == 1  # nothing was stored for it meanwhile


def test_a_slow_model_never_drops_the_requests_other_after_response_work(client, site, as_admin, embeddings_server,
                                                                          monkeypatch):
    """The after-response budget is shortened so a slow model exhausts it within the test: the
    indexing runs after the request's log row is queued, so the row is written."""
    _, admin = as_admin
    ids = drafts()
    monkeypatch.setattr(context, "WAIT_UNTIL_BUDGET_SECONDS", 0.3)
    answer = embeddings_server.respond

    def slow(path, headers, body):
        time.sleep(0.2)
        return answer(path, headers, body)

    monkeypatch.setattr(embeddings_server, "respond", slow)
    bulk_publish(client, admin, ids)
    flush_process_buffer()
    assert SystemLog.select().where(SystemLog.url == "/api/content/bulk-action").count() == 1


def test_items_the_caller_may_not_read_never_crowd_out_those_they_may(env, client, site, as_editor):
    """The index ranks only what the caller may read: a thousand drafts nearer the query than
    the published items leave the public's answer whole. Past the most ranked, the total
    is an estimate."""
    author = site
    drafts = insert_items(Content.collection.rel_model.get_by_id("col-blog"), author, MAX_RANKED, status="draft",
                          slug_prefix="near", title="Cats purr", data=lambda _: {"body": "cats purr"})
    semantic_index_for(env).index_items(drafts)
    public = search(client, "cats purr", mode="ai")
    assert slugs(public) == ["cats", "pets", "dogs", "daily"] and public["total"] == 4
    assert "total_is_estimate" not in public
    _, headers = as_editor
    editors = search(client, "cats purr", mode="ai", headers=headers, limit=5)
    assert editors["total"] == MAX_RANKED and editors["total_is_estimate"] is True


@pytest.mark.parametrize(("filters", "status"), [
    ({"status": ["draft"]}, 401),
    ({"dateRange": {"start": "yesterday"}}, 400),
    ({"dateRange": {"end": "2023-13-45"}}, 400),
])
def test_filters_are_checked_before_the_model_is_asked(client, site, embeddings_server, filters, status):
    """Whatever the index holds (here: a collection with nothing indexed, and every item)."""
    create_collection("empty")
    before = len(embeddings_server.requests)
    for collections in (["empty"], None):
        body = {"query": "cats purr", "mode": "ai", "filters": {**filters, "collections": collections}}
        client.post_json("/api/search", body, status=status)
    assert len(embeddings_server.requests) == before


def test_ai_mode_reuses_a_few_statements_for_every_page_size(client, env, site):
    """The ranked ids are read with IN lists padded to a power of two and a fixed LIMIT: the
    page sizes 1 to 100 need a few statements per power of two, not two per size."""
    author = site
    ids = insert_items(Content.collection.rel_model.get_by_id("col-blog"), author, 120, slug_prefix="many",
                       data=lambda i: {"body": f"cats river {i}"})
    semantic_index_for(env).index_items(ids)
    search(client, "cats", mode="ai", limit=1)
    statements.clear()
    for limit in range(1, 101):
        assert len(search(client, "cats", mode="ai", limit=limit)["results"]) == limit
    assert statements.stats()["stored"] <= 20, statements.stats()  # 8 padded page sizes; 200 unpadded
