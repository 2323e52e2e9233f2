"""Semantic search's half: the ``AI`` binding's embeddings client, the vectors in ``search_embeddings``,
ranking by cosine, the scheduled job and ``search reindex``.

The model is a real HTTP server speaking the OpenAI embeddings protocol on a loopback port
(tests/fixtures/embeddings.py), whose vectors are hashed bags of words: texts sharing words
are near. Its request log shows what was embedded, so a test counts the requests an
indexing pass made.
"""

import logging
import re
import struct

import pytest
from click.testing import CliRunner

from app.cli import cli
from app.db.database import is_postgres
from app.db.models import Content, SearchEmbedding, bind_models, database, new_id
from app.runtime.ai import MAX_ANSWER_BYTES, EmbeddingUnavailable
from app.runtime.config import load_config
from app.runtime.env import build_env
from app.scheduled import eventful, index_search_embeddings, now_event, run_scheduled
from app.services.ai_search.semantic import SemanticIndex, item_text, pack, semantic_index_for, text_hash
from tests.fixtures.app import client_for, record_statements
from tests.fixtures.content import create_collection, insert_items
from tests.fixtures.embeddings import API_KEY, DIMENSIONS, KEY_VARIABLE, MODEL, ai_env_fixture, ai_table, embed
from tests.test_query_depth import plan, sorts

pytestmark = pytest.mark.backends



# The test's stack with an ``[ai]`` binding on the test's embeddings server (two texts per request).
env = ai_env_fixture(batch_size=2)


@pytest.fixture
def index(env):
    return semantic_index_for(env)


@pytest.fixture
def author(make_user):
    return make_user("admin")


def add_items(collection, author, *pairs):
    """Insert items titled and bodied by ``pairs`` (``(title, body)``); their ids in order."""
    bodies = [body for _, body in pairs]
    ids = insert_items(collection, author[0], len(pairs), data=lambda i: {"body": bodies[i]}, slug_prefix=new_id())
    for content_id, (title, _) in zip(ids, pairs, strict=True):
        Content.update(title=title).where(Content.id == content_id).execute()
    return ids


def vector_row(content_id):
    return SearchEmbedding.get_or_none(SearchEmbedding.content == content_id)


# ------------------------------------------------------------------ indexing


def test_index_items_embeds_in_batches_and_skips_unchanged_items(index, author, embeddings_server):
    blog = create_collection("blog")
    ids = add_items(blog, author, ("Cats", "purr softly"), ("Dogs", "bark loudly"), ("Birds", "sing at dawn"))

    assert index.index_items(ids) == 3
    # Batches of the binding's batch_size (2): two requests, every text once.
    assert [len(request["body"]["input"]) for request in embeddings_server.requests] == [2, 1]
    assert sorted(embeddings_server.texts) == ["Birds sing at dawn", "Cats purr softly", "Dogs bark loudly"]
    assert {request["body"]["model"] for request in embeddings_server.requests} == {MODEL}

    assert index.index_items(ids) == 0
    assert len(embeddings_server.requests) == 2  # nothing changed: no request


def test_the_key_goes_as_a_bearer_token(index, author, embeddings_server):
    ids = add_items(create_collection("blog"), author, ("Cats", "purr"))
    index.index_items(ids)
    assert embeddings_server.requests[0]["headers"]["Authorization"] == f"Bearer {API_KEY}"
    assert embeddings_server.requests[0]["path"] == "/v1/embeddings"


def test_the_vector_is_stored_as_normalised_float32_little_endian(env, index, author):
    blog = create_collection("blog")
    [content_id] = add_items(blog, author, ("Cats", "purr softly"))
    index.index_items([content_id])
    row = vector_row(content_id)
    assert (row.collection_id, row.model, row.dimensions) == (blog.id, MODEL, DIMENSIONS)
    assert row.source_hash == text_hash("Cats purr softly")
    stored = struct.unpack(f"<{DIMENSIONS}f", bytes(row.vector))
    assert stored == pytest.approx(embed("Cats purr softly"), abs=1e-6)
    if is_postgres(env.DB.db):
        sql = ("SELECT data_type FROM information_schema.columns"
               " WHERE table_name = 'search_embeddings' AND column_name = 'vector'")
        assert env.DB.db.execute_sql(sql).fetchone() == ("bytea",)
    else:
        assert env.DB.db.execute_sql("SELECT typeof(vector) FROM search_embeddings").fetchone() == ("blob",)


@pytest.mark.parametrize("db_backend", ["sqlite"], indirect=True)
def test_the_text_embedded_is_the_full_text_index_text(env, author):
    data = {"body": "Purring", "meta": {"source": "field notes", "n": 3, "tags": ["whiskers", True, "tail"]}}
    rich = {"body": '<p class="lead">Purring&nbsp;<b>loudly</b></p>', "meta": {"tags": ["&lt;tail&gt;"]}}
    ids = insert_items(create_collection("blog"), author[0], 2, data=lambda i: (data, rich)[i])
    texts = []
    for content_id in ids:
        row = Content.get_by_id(content_id)
        (body,) = env.DB.db.execute_sql("SELECT body FROM content_fts_source WHERE rowid ="
                                        " (SELECT rowid FROM content WHERE id = ?)", (content_id,)).fetchone()
        assert item_text(row.title, row.data) == f"{row.title} {body}"
        texts.append(item_text(row.title, row.data))
    assert texts[0] == "Item 0 Purring field notes whiskers tail"
    assert texts[1].split() == ["Item", "1", "Purring", "loudly", "<tail>"]  # the markup is not embedded


def test_rich_text_is_embedded_without_its_markup(index, author, embeddings_server):
    ids = add_items(create_collection("blog"), author, ("Cats", '<p>purr&nbsp;<strong class="x">softly</strong></p>'))
    index.index_items(ids)
    [text] = embeddings_server.texts
    assert text.split() == ["Cats", "purr", "softly"]


def test_an_edit_makes_the_item_stale_and_the_scheduled_job_embeds_it_again(env, index, author, embeddings_server):
    client = client_for(env)
    create_collection("blog")
    _, headers = author
    # The model is down while the item is saved: the ai-search plugin's indexing after the
    # response fails (logged), and the scheduled job catches up.
    embeddings_server.answer = 503
    item = client.post_json("/api/content", {"collectionId": "blog", "title": "Cats",
                                             "data": {"body": "purr softly"}}, headers=headers).json["data"]
    blog_id = Content.get_by_id(item["id"]).collection_id
    embeddings_server.answer = None
    failed_attempts = len(embeddings_server.requests)

    assert run_scheduled(now_event(), env)["index_search_embeddings"] == {"embedded": 1, "checked": 1, "removed": 0, "failed": 0}
    assert index.status([blog_id]) == {blog_id: {"items": 1, "indexed": 1, "stale": 0, "missing": 0, "failed": 0}}

    embeddings_server.answer = 503
    client.put_json(f"/api/content/{item['id']}", {"title": "Lions", "data": {"body": "roar loudly"}}, headers=headers)
    assert index.status([blog_id]) == {blog_id: {"items": 1, "indexed": 0, "stale": 1, "missing": 0, "failed": 0}}
    embeddings_server.answer = None
    failed_attempts += 1

    assert run_scheduled(now_event(), env)["index_search_embeddings"]["embedded"] == 1
    assert embeddings_server.texts[-1] == "Lions roar loudly"
    assert index.status([blog_id])[blog_id]["indexed"] == 1
    # Nothing left: the next run checks nothing and asks the model nothing.
    assert run_scheduled(now_event(), env)["index_search_embeddings"] == {"embedded": 0, "checked": 0, "removed": 0, "failed": 0}
    assert len(embeddings_server.requests) == failed_attempts + 2


def test_a_change_that_keeps_the_text_is_checked_once_and_not_embedded(env, index, author, embeddings_server):
    [content_id] = add_items(create_collection("blog"), author, ("Cats", "purr"))
    index.index_items([content_id])
    Content.update(status="archived", updated_at=Content.updated_at + 5).where(Content.id == content_id).execute()
    assert index.index_stale() == {"embedded": 0, "checked": 1, "removed": 0, "failed": 0}
    assert index.index_stale() == {"embedded": 0, "checked": 0, "removed": 0, "failed": 0}
    assert len(embeddings_server.requests) == 1


def test_the_scheduled_batch_is_bounded(index, author, embeddings_server):
    add_items(create_collection("blog"), author, *[(f"Item {n}", "words") for n in range(5)])
    assert index.index_stale(batch_size=3) == {"embedded": 3, "checked": 3, "removed": 0, "failed": 0}
    assert index.index_stale(batch_size=3) == {"embedded": 2, "checked": 2, "removed": 0, "failed": 0}
    assert len(embeddings_server.texts) == 5


def test_deleted_content_loses_its_vector(env, index, author):
    client = client_for(env)
    blog = create_collection("blog")
    _, headers = author
    trashed, purged, kept = add_items(blog, author, ("Cats", "purr"), ("Cats too", "purr"), ("Dogs", "bark"))
    index.index_items([trashed, purged, kept])

    client.delete(f"/api/content/{trashed}", headers=headers)
    assert trashed not in dict(index.rank("cats purr", [blog.id]))
    assert index.index_stale() == {"embedded": 0, "checked": 0, "removed": 1, "failed": 0}
    assert vector_row(trashed) is None

    with database.atomic():
        Content.delete().where(Content.id == purged).execute()
    assert vector_row(purged) is None  # ON DELETE CASCADE
    assert [content_id for content_id, _ in index.rank("cats purr", [blog.id])] == [kept]

    # Restored from the trash, it has no vector: the ai-search plugin embeds it after the response.
    client.post(f"/api/content/{trashed}/restore", headers=headers)
    assert trashed in dict(index.rank("cats purr", [blog.id]))
    assert index.index_stale()["embedded"] == 0


def test_index_items_removes_the_vector_of_an_item_in_the_trash(index, author):
    [content_id] = add_items(create_collection("blog"), author, ("Cats", "purr"))
    index.index_items([content_id])
    Content.update(status="deleted").where(Content.id == content_id).execute()  # SonicJS's soft delete
    assert index.index_items([content_id]) == 0
    assert vector_row(content_id) is None


# ------------------------------------------------------------------ ranking and status


def test_rank_orders_by_cosine_within_the_collections_asked(index, author):
    blog, pages = create_collection("blog"), create_collection("pages")
    cats, dogs, mixed = add_items(blog, author, ("Cats", "cats purr softly"), ("Dogs", "dogs bark loudly"),
                                  ("Pets", "cats and dogs"))
    [other] = add_items(pages, author, ("Cats", "cats purr softly"))
    index.index_items([cats, dogs, mixed, other])

    ranked = index.rank("cats purr", [blog.id])
    assert [content_id for content_id, _ in ranked][0] == cats
    assert {content_id for content_id, _ in ranked} == {cats, dogs, mixed}
    scores = [score for _, score in ranked]
    assert scores == sorted(scores, reverse=True)
    query = embed("cats purr")
    expected = sum(a * b for a, b in zip(query, embed("Cats cats purr softly"), strict=True))
    assert scores[0] == pytest.approx(expected, abs=1e-5)

    assert [content_id for content_id, _ in index.rank("cats purr", [blog.id], limit=1)] == [cats]
    assert {content_id for content_id, _ in index.rank("cats purr", [blog.id, pages.id])} == {cats, dogs, mixed, other}
    assert index.rank("cats purr", []) == []


def test_rank_raises_when_the_model_is_down(index, author, embeddings_server):
    blog = create_collection("blog")
    embeddings_server.answer = 503
    with pytest.raises(EmbeddingUnavailable, match="HTTP 503"):
        index.rank("cats", [blog.id])


def test_status_counts_items_indexed_stale_and_missing(index, author):
    blog, pages = create_collection("blog"), create_collection("pages")
    fresh, stale, _missing = add_items(blog, author, ("A", "one"), ("B", "two"), ("C", "three"))
    add_items(pages, author, ("D", "four"))
    trashed = add_items(blog, author, ("E", "five"))[0]
    index.index_items([fresh, stale, trashed])
    # An edit moves updated_at and the version, as every write of the app does.
    Content.update(title="B changed", updated_at=Content.updated_at + 1,
                   version_number=Content.version_number + 1).where(Content.id == stale).execute()
    Content.update(deleted_at=1).where(Content.id == trashed).execute()
    assert index.status([blog.id, pages.id]) == {
        blog.id: {"items": 3, "indexed": 1, "stale": 1, "missing": 1, "failed": 0},
        pages.id: {"items": 1, "indexed": 0, "stale": 0, "missing": 1, "failed": 0},
    }


# ------------------------------------------------------------------ CLI and cron


def run_cli(env, *args):
    folder = env.config.path.parent
    result = CliRunner().invoke(cli, [*args, "--config", str(folder / "bindings.toml"),
                                      "--persist-to", str(folder / "state")], env={KEY_VARIABLE: API_KEY})
    bind_models(env.DB.db)  # the command bound the models to its own connection
    return result


def test_search_reindex_embeds_what_changed_and_prints_counts(env, author, embeddings_server):
    blog, pages = create_collection("blog"), create_collection("pages")
    add_items(blog, author, ("A", "one"), ("B", "two"))
    add_items(pages, author, ("C", "three"))

    result = run_cli(env, "search", "reindex", "--collection", "blog")
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == ["blog: 2 embedded, 0 failed", "blog: 2 items, 2 indexed, 0 stale, 0 missing, 0 failed"]

    result = run_cli(env, "search", "reindex")
    assert result.exit_code == 0, result.output
    assert "blog: 0 embedded, 0 failed" in result.output and "pages: 1 embedded, 0 failed" in result.output
    assert len(embeddings_server.texts) == 3

    result = run_cli(env, "search", "status")
    assert "pages: 1 items, 1 indexed, 0 stale, 0 missing, 0 failed" in result.output


def test_search_reindex_reports_the_model_down_without_the_key(env, author, embeddings_server):
    add_items(create_collection("blog"), author, ("A", "one"))
    embeddings_server.answer = 401
    result = run_cli(env, "search", "reindex")
    assert result.exit_code == 1
    assert "HTTP 401" in result.output and API_KEY not in result.output


def test_search_commands_need_an_ai_binding(tmp_path, stack):
    plain = stack.env(tmp_path / "plain")
    result = run_cli(plain, "search", "reindex")
    assert result.exit_code == 1
    assert "no AI binding in" in result.output and "[ai]" in result.output


def test_the_scheduled_job_does_nothing_without_an_ai_binding(tmp_path, stack, author):
    plain = stack.env(tmp_path / "plain")
    bind_models(plain.DB.db)
    assert index_search_embeddings(now_event(), plain) == {}
    assert "index_search_embeddings" not in eventful(run_scheduled(now_event(), plain))


@pytest.mark.parametrize("change", [
    ("settings", {"enabled": False}), ("settings", {"ai_mode_enabled": False}), ("deactivate", None),
], ids=["searches off", "ai mode off", "plugin inactive"])
def test_the_scheduled_job_embeds_nothing_searches_cannot_use(env, author, embeddings_server, change):
    """Each vector is a call to the (often paid) model: none while ai mode cannot be used."""
    client = client_for(env)
    _, headers = author
    add_items(create_collection("blog"), author, ("A", "one"))
    kind, settings = change
    if kind == "settings":
        client.patch_json("/admin/api/plugins/ai-search", {"settings": settings}, headers=headers, status=200)
    else:
        client.post("/admin/api/plugins/ai-search/deactivate", headers=headers, status=200)
    assert run_scheduled(now_event(), env)["index_search_embeddings"] == {"removed": 0}
    assert embeddings_server.requests == []


def test_the_scheduled_job_removes_trashed_items_vectors_while_it_embeds_nothing(env, index, author,
                                                                                 embeddings_server):
    client = client_for(env)
    _, headers = author
    trashed, kept = add_items(create_collection("blog"), author, ("A", "one"), ("B", "two"))
    index.index_items([trashed, kept])
    client.patch_json("/admin/api/plugins/ai-search", {"settings": {"ai_mode_enabled": False}}, headers=headers,
                      status=200)
    client.delete(f"/api/content/{trashed}", headers=headers)
    asked = len(embeddings_server.requests)
    assert run_scheduled(now_event(), env)["index_search_embeddings"] == {"removed": 1}
    assert vector_row(trashed) is None and vector_row(kept) is not None
    assert len(embeddings_server.requests) == asked


def test_the_scheduled_job_embeds_only_the_selected_collections(env, author, embeddings_server):
    client = client_for(env)
    _, headers = author
    blog, pages = create_collection("blog"), create_collection("pages")
    [chosen] = add_items(blog, author, ("A", "one"))
    add_items(pages, author, ("B", "two"))
    client.patch_json("/admin/api/plugins/ai-search", {"settings": {"selected_collections": [blog.id]}},
                      headers=headers, status=200)
    assert run_scheduled(now_event(), env)["index_search_embeddings"]["embedded"] == 1
    assert embeddings_server.texts == ["A one"]
    assert vector_row(chosen) is not None


def test_the_scheduled_job_reports_the_model_down(env, author, embeddings_server):
    add_items(create_collection("blog"), author, ("A", "one"))
    embeddings_server.answer = 500
    result = run_scheduled(now_event(), env)["index_search_embeddings"]
    assert "HTTP 500" in result["error"] and API_KEY not in result["error"]


# ------------------------------------------------------------------ the client's faults


def embedder(tmp_path, url, environ=None, **keys):
    path = tmp_path / "bindings.toml"
    path.write_text('name = "site"\n' + ai_table(url, api_key_env=KEY_VARIABLE, **keys))
    return build_env(load_config(path, environ={KEY_VARIABLE: API_KEY, **(environ or {})})).AI


def test_vectors_come_back_in_the_inputs_order(tmp_path, embeddings_server):
    embeddings_server.answer = "shuffled"
    texts = ["cats purr", "dogs bark", "birds sing"]
    assert embedder(tmp_path, embeddings_server.url).embed(texts) == [pytest.approx(embed(t)) for t in texts]


def test_a_timeout_is_unavailable(tmp_path, embeddings_server):
    embeddings_server.answer = "hang"
    with pytest.raises(EmbeddingUnavailable, match="did not answer in time"):
        embedder(tmp_path, embeddings_server.url, timeout=0.3).embed(["cats"])


def test_an_unreachable_endpoint_is_unavailable(tmp_path, closed_embeddings_url):
    with pytest.raises(EmbeddingUnavailable, match="could not be reached"):
        embedder(tmp_path, closed_embeddings_url).embed(["cats"])


def test_an_http_error_is_unavailable_and_never_shows_the_key(tmp_path, embeddings_server):
    embeddings_server.answer = 401
    with pytest.raises(EmbeddingUnavailable) as caught:
        embedder(tmp_path, embeddings_server.url).embed(["cats"])
    message = str(caught.value)
    # The server quoted the key in its error message: it is redacted.
    assert message.startswith(f"embeddings model '{MODEL}' at {embeddings_server.url} answered HTTP 401: ")
    assert API_KEY not in message and "[redacted]" in message
    assert caught.value.__context__ is None and caught.value.__cause__ is None


def test_a_connection_failure_keeps_no_context_holding_the_key(tmp_path, closed_embeddings_url):
    # httpx's error holds the request, whose headers hold the key: it must not be chained.
    with pytest.raises(EmbeddingUnavailable) as caught:
        embedder(tmp_path, closed_embeddings_url).embed(["cats"])
    assert caught.value.__context__ is None


def test_a_password_in_the_url_is_sent_as_basic_auth_and_never_logged(tmp_path, embeddings_server, caplog):
    caplog.set_level(logging.DEBUG)
    url = embeddings_server.url.replace("http://", "http://user:secret@")
    path = tmp_path / "bindings.toml"
    path.write_text('name = "site"\n' + ai_table(url))
    build_env(load_config(path, environ={})).AI.embed(["cats"])
    assert embeddings_server.requests[0]["headers"]["Authorization"] == "Basic dXNlcjpzZWNyZXQ="
    httpx_lines = [record.getMessage() for record in caplog.records if record.name.startswith("httpx")]
    assert any(embeddings_server.url in line for line in httpx_lines)  # httpx logs each request's URL
    assert not any("secret" in record.getMessage() for record in caplog.records)


@pytest.mark.parametrize(("answer", "problem"), [
    ("garbage", "not JSON"),
    ("short", "answered 1 vectors for 2 texts"),
    ("text", "not a finite number"),
    ("ragged", "different lengths"),
])
def test_a_malformed_answer_is_refused(tmp_path, embeddings_server, answer, problem):
    embeddings_server.answer = answer
    with pytest.raises(EmbeddingUnavailable, match=problem):
        embedder(tmp_path, embeddings_server.url).embed(["cats", "dogs"])


def test_dimensions_are_asked_for_and_checked(tmp_path, embeddings_server):
    with pytest.raises(EmbeddingUnavailable, match=f"answered vectors of {DIMENSIONS} dimensions, not 32"):
        embedder(tmp_path, embeddings_server.url, dimensions=32).embed(["cats"])
    assert embeddings_server.requests[0]["body"]["dimensions"] == 32
    assert len(embedder(tmp_path, embeddings_server.url, dimensions=DIMENSIONS).embed(["cats"])[0]) == DIMENSIONS


def test_a_url_with_a_password_is_described_without_it(tmp_path, embeddings_server):
    url = embeddings_server.url.replace("http://", "http://user:secret@")
    ai = embedder(tmp_path, url)
    assert ai.describe() == f"{MODEL} at {embeddings_server.url}"
    assert "secret" not in repr(ai)
    ai.embed(["cats"])  # with a key, the key is the Authorization sent
    assert embeddings_server.requests[0]["headers"]["Authorization"] == f"Bearer {API_KEY}"


def test_a_server_trickling_bytes_is_cut_at_the_whole_requests_timeout(tmp_path, embeddings_server):
    embeddings_server.answer = "trickle"  # a byte every 50 ms for 3 s: no single read waits 0.5 s
    with pytest.raises(EmbeddingUnavailable, match="did not answer in time"):
        embedder(tmp_path, embeddings_server.url, timeout=0.5).embed(["cats"])


def test_an_answer_over_the_size_limit_is_refused(tmp_path, embeddings_server):
    embeddings_server.answer = "oversize"
    with pytest.raises(EmbeddingUnavailable, match=f"answered more than {MAX_ANSWER_BYTES} bytes"):
        embedder(tmp_path, embeddings_server.url).embed(["cats"])


def test_a_redirect_is_not_followed(tmp_path, embeddings_server):
    embeddings_server.answer = "redirect"
    with pytest.raises(EmbeddingUnavailable, match="answered HTTP 307"):
        embedder(tmp_path, embeddings_server.url).embed(["cats"])
    assert [request["path"] for request in embeddings_server.requests] == ["/v1/embeddings"]


def test_an_embedding_too_large_to_normalise_is_refused(tmp_path, embeddings_server):
    embeddings_server.answer = "huge"
    with pytest.raises(EmbeddingUnavailable, match="beyond float32"):
        embedder(tmp_path, embeddings_server.url).embed(["cats"])


def test_the_text_is_cut_at_the_bindings_max_input_chars(env, tmp_path, embeddings_server, author):
    [content_id] = add_items(create_collection("blog"), author, ("Cats", "purr softly"))
    SemanticIndex(embedder(tmp_path, embeddings_server.url, max_input_chars=9)).index_items([content_id])
    assert embeddings_server.texts == ["Cats purr"]
    assert vector_row(content_id).source_hash == text_hash("Cats purr")


# ------------------------------------------------------------------ refused texts, a model down


def test_a_text_the_model_refuses_is_recorded_and_skipped_and_the_rest_indexed(env, index, author,
                                                                                embeddings_server):
    blog = create_collection("blog")
    embeddings_server.refuse = "enormous"
    first, refused, third = add_items(blog, author, ("Cats", "purr"), ("Essay", "enormous text"), ("Dogs", "bark"))
    assert index.index_stale() == {"embedded": 2, "checked": 3, "removed": 0, "failed": 1}
    assert vector_row(first).vector is not None and vector_row(third).vector is not None
    row = vector_row(refused)
    assert row.vector is None and "HTTP 400" in row.error
    assert index.status([blog.id])[blog.id] == {"items": 3, "indexed": 2, "stale": 0, "missing": 0, "failed": 1}
    assert refused not in dict(index.rank("essay text", [blog.id]))

    # Not sent again while its text is the same, by the cron or by index_items.
    sent = len(embeddings_server.requests)
    assert index.index_stale()["checked"] == 0
    assert index.index_items([refused]) == 0
    assert len(embeddings_server.requests) == sent

    # Its text changed: embedded again.
    Content.update(title="Short", data={"body": "note"}, updated_at=Content.updated_at + 1).where(
        Content.id == refused).execute()
    assert index.index_stale() == {"embedded": 1, "checked": 1, "removed": 0, "failed": 0}
    assert vector_row(refused).vector is not None


def test_a_model_refusing_everything_stops_the_run_without_marking_items(env, index, author, embeddings_server):
    # A wrong model name: some servers answer 400 to every request, the ping too.
    add_items(create_collection("blog"), author, ("Cats", "purr"))
    embeddings_server.answer = 400
    with pytest.raises(EmbeddingUnavailable, match="HTTP 400"):
        index.index_stale()
    assert SearchEmbedding.select().count() == 0


def test_a_failure_midway_keeps_the_batches_before(env, index, author, embeddings_server):
    ids = add_items(create_collection("blog"), author, ("A", "one"), ("B", "two"), ("C", "three"))
    embeddings_server.fail_after = 1  # the second request (batches of 2) answers 500
    with pytest.raises(EmbeddingUnavailable, match="HTTP 500"):
        index.index_items(ids)
    first_batch = set(embeddings_server.requests[0]["body"]["input"])
    stored = {row.content_id for row in SearchEmbedding.select()}
    assert len(stored) == 2 and {item_text(item.title, item.data) for item in Content.select().where(
        Content.id.in_(list(stored)))} == first_batch


def test_search_reindex_goes_on_past_refused_texts(env, author, embeddings_server):
    blog, pages = create_collection("blog"), create_collection("pages")
    add_items(blog, author, ("A", "one"), ("B", "enormous"))
    add_items(pages, author, ("C", "three"))
    embeddings_server.refuse = "enormous"
    result = run_cli(env, "search", "reindex")
    assert result.exit_code == 0, result.output
    assert "blog: 1 embedded, 1 failed" in result.output and "pages: 1 embedded, 0 failed" in result.output
    assert "blog: 2 items, 1 indexed, 0 stale, 0 missing, 1 failed" in result.output


def test_the_scheduled_job_logs_one_line_when_the_model_is_down(env, author, embeddings_server, caplog):
    add_items(create_collection("blog"), author, ("A", "one"))
    embeddings_server.answer = 503
    caplog.set_level(logging.WARNING, logger="sonicpy.scheduled")
    assert "HTTP 503" in run_scheduled(now_event(), env)["index_search_embeddings"]["error"]
    lines = [record for record in caplog.records if record.name == "sonicpy.scheduled"]
    assert len(lines) == 1 and lines[0].exc_info is None and "HTTP 503" in lines[0].getMessage()
    assert API_KEY not in lines[0].getMessage()


# ------------------------------------------------------------------ freshness


def test_a_change_of_dimensions_makes_every_vector_stale(env, index, author, embeddings_server, tmp_path):
    blog = create_collection("blog")
    ids = add_items(blog, author, ("Cats", "cats purr"), ("Dogs", "dogs bark"))
    index.index_items(ids)
    embeddings_server.honour_dimensions = True
    smaller = SemanticIndex(embedder(tmp_path, embeddings_server.url, dimensions=32))
    assert smaller.status([blog.id])[blog.id]["stale"] == 2
    assert smaller.index_stale() == {"embedded": 2, "checked": 2, "removed": 0, "failed": 0}
    assert {row.dimensions for row in SearchEmbedding.select()} == {32}
    assert [content_id for content_id, _ in smaller.rank("cats purr", [blog.id])][0] == ids[0]
    assert smaller.index_items(ids) == 0


def test_rank_never_scores_a_vector_of_another_length(env, index, author):
    blog = create_collection("blog")
    good, bad = add_items(blog, author, ("Cats", "cats purr"), ("Cats", "cats purr"))
    index.index_items([good, bad])
    # A row claiming the model's dimensions over a shorter vector (written by hand).
    SearchEmbedding.update(vector=pack(embed("cats purr")[:32])).where(SearchEmbedding.content == bad).execute()
    assert [content_id for content_id, _ in index.rank("cats purr", [blog.id])] == [good]


def test_rank_reads_only_the_models_vectors(env, index, author):
    blog = create_collection("blog")
    ours, theirs = add_items(blog, author, ("Cats", "cats purr"), ("Cats", "cats purr"))
    index.index_items([ours, theirs])
    SearchEmbedding.update(model="another-model").where(SearchEmbedding.content == theirs).execute()
    assert [content_id for content_id, _ in index.rank("cats purr", [blog.id])] == [ours]
    SearchEmbedding.update(dimensions=DIMENSIONS + 1).where(SearchEmbedding.content == ours).execute()
    assert index.rank("cats purr", [blog.id]) == []


def test_rank_reads_vectors_in_pages(env, index, author, monkeypatch):
    monkeypatch.setattr("app.services.ai_search.semantic.RANK_PAGE", 2)
    blog = create_collection("blog")
    ids = add_items(blog, author, *[(f"Cats {n}", "cats purr") for n in range(5)])
    index.index_items(ids)
    assert sorted(content_id for content_id, _ in index.rank("cats purr", [blog.id])) == sorted(ids)
    assert len(index.rank("cats purr", [blog.id], limit=3)) == 3


def test_a_moved_item_is_not_ranked_in_its_old_collection_and_is_reindexed(env, index, author):
    blog, pages = create_collection("blog"), create_collection("pages")
    [moved] = add_items(blog, author, ("Cats", "cats purr"))
    index.index_items([moved])
    # Moved by SQL (an import, a restore): updated_at unchanged.
    Content.update(collection=pages.id).where(Content.id == moved).execute()
    assert index.rank("cats purr", [blog.id]) == []
    assert index.rank("cats purr", [pages.id]) == []  # stale: found again once indexed
    assert index.index_stale(collection_ids=[pages.id])["checked"] == 1
    assert vector_row(moved).collection_id == pages.id
    assert [content_id for content_id, _ in index.rank("cats purr", [pages.id])] == [moved]


def test_an_edit_in_the_same_millisecond_is_found_by_its_version(env, index, author, embeddings_server):
    [content_id] = add_items(create_collection("blog"), author, ("Cats", "purr"))
    index.index_stale()
    # The next write keeps updated_at (the same millisecond) but not the version.
    Content.update(title="Lions", version_number=Content.version_number + 1).where(
        Content.id == content_id).execute()
    assert index.index_stale()["embedded"] == 1
    assert embeddings_server.texts[-1] == "Lions purr"


def test_touching_unchanged_items_is_one_transaction(env, index, author, monkeypatch):
    ids = add_items(create_collection("blog"), author, ("A", "one"), ("B", "two"), ("C", "three"))
    index.index_items(ids)
    Content.update(status="archived", updated_at=Content.updated_at + 5).where(Content.id.in_(ids)).execute()
    db = env.DB.db
    statements, begin = record_statements(db, monkeypatch), db.begin

    def recorded_begin(*args, **kwargs):  # a transaction's BEGIN goes to the cursor, not execute_sql
        statements.append(("BEGIN", ()))
        return begin(*args, **kwargs)

    monkeypatch.setattr(db, "begin", recorded_begin)
    assert index.index_items(ids) == 0
    updates = [n for n, (sql, _) in enumerate(statements) if sql.startswith('UPDATE "search_embeddings"')]
    begins = [n for n, (sql, _) in enumerate(statements) if sql == "BEGIN"]
    # One transaction around the three updates (one write lock on SQLite), none between them.
    assert len(updates) == 3
    assert [n for n in begins if n < updates[0]] and not [n for n in begins if updates[0] < n < updates[-1]]


# ------------------------------------------------------------------ the scheduled job's watermark


def test_the_watermark_moves_once_a_run_found_everything(env, index, author, embeddings_server, monkeypatch):
    from app.db.models import SearchIndexState

    blog = create_collection("blog")
    old, recent = add_items(blog, author, ("Old", "one"), ("Recent", "two"))
    Content.update(updated_at=1_000).where(Content.id == old).execute()
    assert index.index_stale(batch_size=1)["embedded"] == 1  # the most recent first; not drained
    assert SearchIndexState.select().count() == 0
    assert index.index_stale(batch_size=1)["embedded"] == 1
    assert index.index_stale(batch_size=1)["checked"] == 0  # drained: the watermark is set
    watermark = SearchIndexState.get().value
    assert watermark == Content.get_by_id(recent).updated_at
    # An idle run writes nothing (the watermark stays as it is).
    statements = record_statements(env.DB.db, monkeypatch)
    assert index.index_stale()["checked"] == 0
    assert [sql for sql, _ in statements if not sql.startswith("SELECT")] == []
    # An item changed below the watermark (by hand, a restore of old rows) waits for reindex.
    Content.update(title="Old changed").where(Content.id == old).execute()
    assert index.index_stale()["checked"] == 0
    assert index.reindex(blog.id) == {"embedded": 1, "failed": 0}



def test_an_item_dated_in_the_future_does_not_move_the_watermark_past_now(env, index, author, embeddings_server):
    from app.db.models import SearchIndexState, now_ms

    blog = create_collection("blog")
    [future] = add_items(blog, author, ("Future", "one"))
    Content.update(updated_at=now_ms() + 86_400_000).where(Content.id == future).execute()
    index.index_stale()
    assert SearchIndexState.get().value <= now_ms()
    [edited] = add_items(blog, author, ("Now", "two"))
    Content.update(updated_at=now_ms()).where(Content.id == edited).execute()
    assert index.index_stale()["embedded"] == 1
SEEDED = 20_000
_SEED_COLUMNS = "id, collection_id, slug, title, data, status, author_id, created_at, updated_at, deleted_at"
# Items edited over 20,000 seconds, one in 100 in the trash: none changed since the watermark.
SQLITE_SEED = (
    f"WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < {SEEDED - 1})"
    f" INSERT INTO content ({_SEED_COLUMNS}) SELECT 'seed' || i, ?, 'seed-' || i, 'Item ' || i, '{{}}',"
    " 'draft', ?, 1700000000000, 1700000000000 + ((i * 7919) % 20000) * 1000,"
    " CASE WHEN i % 100 = 7 THEN 1700000000000 END FROM n")
POSTGRES_SEED = (
    f"INSERT INTO content ({_SEED_COLUMNS}) SELECT 'seed' || i, %s, 'seed-' || i, 'Item ' || i, '{{}}',"
    " 'draft', %s, 1700000000000, 1700000000000 + ((i * 7919) %% 20000) * 1000,"
    f" CASE WHEN i %% 100 = 7 THEN 1700000000000 END FROM generate_series(0, {SEEDED - 1}) AS i")


def reads_every_content_row(lines):
    """SQLite: a SCAN of content (by its alias), with or without an index; PostgreSQL: a Seq Scan of it."""
    return any(re.match(r"^SCAN (t\d+|content)\b", line) or "Seq Scan on content" in line for line in lines)


def test_the_scheduled_jobs_queries_read_only_what_changed_through_indexes(env, index, author, monkeypatch,
                                                                             embeddings_server):
    from app.db.models import SearchIndexState

    db = env.DB.db
    blog = create_collection("blog")
    with db.atomic():
        db.execute_sql(POSTGRES_SEED if is_postgres(db) else SQLITE_SEED, (blog.id, author[0].id))
    if is_postgres(db):
        db.execute_sql("ANALYZE")
    watermark = 1_700_000_000_000 + 2 * SEEDED * 1000  # past every seeded item
    SearchIndexState.create(name="scheduled_updated_at", value=watermark)
    [edited] = add_items(blog, author, ("Cats", "purr"))
    Content.update(updated_at=watermark + 5000).where(Content.id == edited).execute()
    statements = record_statements(db, monkeypatch)
    assert index.index_stale() == {"embedded": 1, "checked": 1, "removed": 0, "failed": 0}
    reads = [(sql, params) for sql, params in statements if '"content"' in sql and sql.startswith("SELECT")]
    plans = {sql: plan(db, sql, params) for sql, params in reads}
    # The newest updated_at: the first entry of the live index (LIMIT 1, no sort).
    [newest] = [lines for sql, lines in plans.items() if sql.startswith('SELECT "t1"."updated_at"')]
    assert any("idx_content_live_updated" in line for line in newest) and not sorts(newest), newest
    others = {sql: lines for sql, lines in plans.items() if not sql.startswith('SELECT "t1"."updated_at"')}
    for sql, lines in others.items():
        assert not reads_every_content_row(lines), (sql, lines)
    # The candidates: the range since the watermark, through the live index (a sort, if any,
    # of that range's few rows only).
    candidates = [lines for sql, lines in others.items() if "LEFT OUTER JOIN" in sql]
    assert len(candidates) == 1 and any("idx_content_live_updated" in line for line in candidates[0]), candidates
    deletes = [lines for sql, lines in others.items() if "INNER JOIN" in sql]  # remove_deleted's reads
    assert len(deletes) == 2
    assert any("idx_content_trash" in line for line in deletes[0]), deletes
    # SonicJS's status: any index of content led by status (the planner picks one).
    assert any(("INDEX" in line and "(status=?)" in line) or "Index Cond: (status =" in line
               for line in deletes[1]), deletes
    assert vector_row(edited) is not None


# ------------------------------------------------------------------ /health


def test_health_reports_the_models_last_outcome_without_calling_it_nor_failing(env, index, author,
                                                                              embeddings_server):
    client = client_for(env)
    embeddings_server.answer = 503
    body = client.get("/health", status=200).json
    assert body["status"] == "running" and body["bindings"]["AI"]["status"] == "ok"
    assert embeddings_server.requests == []  # a probe is no request to the model

    with pytest.raises(EmbeddingUnavailable):
        index.rank("cats", [create_collection("blog").id])
    sent = len(embeddings_server.requests)
    # The model is down: reported, but the content API stays in the load balancer.
    body = client.get("/health", status=200).json
    assert body["status"] == "running" and "error" not in body
    assert body["bindings"]["AI"] == {"type": "ai", "status": "down", "latency_ms": body["bindings"]["AI"]["latency_ms"],
                                      "error": "EmbeddingUnavailable"}
    assert client.get("/api/health", status=200).json["status"] == "healthy"
    assert len(embeddings_server.requests) == sent

    embeddings_server.answer = None
    index.rank("cats", [create_collection("pages").id])
    assert client.get("/health", status=200).json["bindings"]["AI"]["status"] == "ok"



def test_a_request_s_batches_and_a_re_index_s_chunks_invalidate_once(env, author):
    """Storing vectors invalidates the cached ``ai`` answers: once per request's indexing task
    and once per re-index press, however many model batches (two texts here) they take."""
    from app.services.ai_search.overview import reindex_batch
    from app.services.plugins.ai_search_plugin import index_queued

    blog = create_collection("blog")
    ids = insert_items(blog, author[0], 5, data=lambda i: {"body": f"text number {i}"})
    changes = []
    index = SemanticIndex(semantic_index_for(env).embedder, on_change=lambda: changes.append(True))
    index_queued(index, ids)
    assert len(changes) == 1 and SearchEmbedding.select().count() == 5
    Content.update(updated_at=Content.updated_at + 1, data={"body": "changed"}).execute()
    assert reindex_batch(index, blog.id)["embedded"] == 5 and len(changes) == 2
    index_queued(index, ids)  # nothing stale: nothing stored, nothing invalidated
    assert len(changes) == 2
