"""Concurrent writes to one item answer as they would one after the other, on SQLite and on
PostgreSQL (where nothing serialises writers unless rows are locked): creates with one
title get the next free slug, blind updates all apply (last writer wins), and a stale
version or If-Match is a 409 even when it races another write."""

import json
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
import webtest

from app.db.models import ContentVersion, bind_models
from tests.fixtures.content import create_collection

pytestmark = pytest.mark.backends


def concurrently(app, requests):
    """Send every TestRequest at once (one thread each, released by a barrier); their responses."""
    barrier = threading.Barrier(len(requests))

    def send(request):
        barrier.wait()
        return request.get_response(app)

    with ThreadPoolExecutor(len(requests)) as pool:
        return list(pool.map(send, requests))


def json_request(path, body, headers, method="POST"):
    return webtest.TestRequest.blank(path, method=method, content_type="application/json", headers=headers,
                                     body=json.dumps(body).encode())


@pytest.fixture
def free(env):
    """A collection without a schema."""
    bind_models(env.DB.db)
    return create_collection("free")


def test_concurrent_creates_with_one_title_all_get_a_slug(client, free, as_editor):
    _, headers = as_editor
    requests = [json_request("/api/content", {"collectionId": "free", "title": "Same Title"}, headers)
                for _ in range(20)]
    responses = concurrently(client.app, requests)
    assert [r.status_int for r in responses] == [201] * 20, [r.text for r in responses if r.status_int != 201]
    made = {r.json["data"]["slug"] for r in responses}
    assert made == {"same-title"} | {f"same-title-{n}" for n in range(2, 21)}


def test_a_slug_the_client_sends_still_conflicts(client, free, as_editor):
    _, headers = as_editor
    requests = [json_request("/api/content", {"collectionId": "free", "title": "T", "slug": "mine"}, headers)
                for _ in range(6)]
    statuses = sorted(r.status_int for r in concurrently(client.app, requests))
    assert statuses == [201] + [409] * 5


def test_blind_concurrent_updates_all_apply(client, free, as_editor):
    _, headers = as_editor
    item = client.post_json("/api/content", {"collectionId": "free", "title": "Start"}, headers=headers).json["data"]
    requests = [json_request(f"/api/content/{item['id']}", {"title": f"Edit {n}"}, headers, method="PUT")
                for n in range(10)]
    responses = concurrently(client.app, requests)
    assert [r.status_int for r in responses] == [200] * 10, [r.text for r in responses if r.status_int != 200]
    # Last writer wins: every write made a version of its own.
    final = client.get(f"/api/content/{item['id']}", headers=headers).json["data"]
    assert final["version_number"] == 11
    assert ContentVersion.select().where(ContentVersion.content == item["id"]).count() == 11
    assert final["title"] in {f"Edit {n}" for n in range(10)}


def test_a_stale_version_still_conflicts_under_concurrency(client, free, as_editor):
    _, headers = as_editor
    item = client.post_json("/api/content", {"collectionId": "free", "title": "Start"}, headers=headers).json["data"]
    requests = [json_request(f"/api/content/{item['id']}", {"title": f"Edit {n}", "version_number": 1}, headers,
                             method="PUT") for n in range(6)]
    statuses = sorted(r.status_int for r in concurrently(client.app, requests))
    assert statuses == [200] + [409] * 5


def test_a_put_and_a_delete_with_the_same_if_match_never_both_win(client, free, as_editor):
    _, headers = as_editor
    for round_ in range(15):
        item = client.post_json("/api/content", {"collectionId": "free", "title": f"Race {round_}"},
                                headers=headers).json["data"]
        match = {**headers, "If-Match": f'"{item["version_number"]}"'}
        put = json_request(f"/api/content/{item['id']}", {"title": "Edited"}, match, method="PUT")
        delete = webtest.TestRequest.blank(f"/api/content/{item['id']}", method="DELETE", headers=match)
        put_status, delete_status = (r.status_int for r in concurrently(client.app, [put, delete]))
        assert (put_status, delete_status) in {(200, 409), (404, 200)}, (round_, put_status, delete_status)
