"""A content write and a schema save that changes a field's type, at the same time.

A create or update validates its data before its transaction; a save committing after
that check and before the write must not leave a value of the field's old type behind:
the write confirms the schema under its locks and validates again against the new one.
On PostgreSQL a save waits for the writes in flight on its collection and a write for a
save in flight, and neither deadlocks the other, whatever the save locks (``content`` in
SHARE mode to count, ACCESS EXCLUSIVE to drop a field index)."""

import json
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
import webtest

from app.db.database import is_postgres
from app.db.models import Collection, Content
from app.services.collection_sync import sync_collections
from app.services.content.writes import MAX_SCHEMA_CHANGES
from app.services.field_indexes import existing_indexes, sync_field_indexes
from tests.fixtures.content import create_collection, insert_items
from tests.fixtures.races import blocks_someone, on_own_connection, until

pytestmark = pytest.mark.backends

PRICE_INDEX = "idx_content_field_price"
# An item's read before a write's transaction, and its read locked inside it.
ITEM_READ, ITEM_LOCKED = 'FROM "content" AS "t1" INNER JOIN "collections"', "FOR UPDATE OF"
COLLECTION_READ = '"holder"."slug"'  # a create's read of its collection
SCHEMA_WRITTEN = 'UPDATE "collections"'


def schema_with(**fields):
    return {"type": "object", "properties": {"title": {"type": "string"}, **fields}}


STRING_PRICE = schema_with(price={"type": "string"})
NUMBER_PRICE = schema_with(price={"type": "number"})
# On PostgreSQL price is indexed first and loses its index with its type (DROP INDEX: ACCESS
# EXCLUSIVE on content).
INDEXED_STRING_PRICE = schema_with(price={"type": "string", "indexed": True})


@pytest.fixture
def shop(app_client):
    return create_collection("shop", STRING_PRICE)


@pytest.fixture
def indexed_shop(app_client, postgres):
    collection = create_collection("shop", INDEXED_STRING_PRICE)
    sync_field_indexes(Collection._meta.database)
    return collection


@pytest.fixture
def admin(make_user):
    return make_user("admin")


@pytest.fixture
def postgres(env):
    if not is_postgres(env.DB.db):
        pytest.skip("SQLite's write transactions run one at a time: none is in flight while another runs")


def after_statement(db, monkeypatch, marker, action, any_thread=False, times=1):
    """Call ``action()`` once the first statement containing ``marker`` has run (sent by this
    thread, or with ``any_thread`` by any), before the code that sent it goes on; with
    ``times``, after each of that many first such statements."""
    original, owner, done = db.execute_sql, threading.get_ident(), []

    def execute_sql(sql, params=None, *args, **kwargs):
        cursor = original(sql, params, *args, **kwargs)
        if len(done) < times and (any_thread or threading.get_ident() == owner) and marker in sql:
            done.append(True)
            action()
        return cursor

    monkeypatch.setattr(db, "execute_sql", execute_sql)
    return done


def request(method, path, body, headers):
    return webtest.TestRequest.blank(path, method=method, content_type="application/json", headers=headers,
                                     body=json.dumps(body).encode())


def saving(collection, schema, headers, **changes):
    return request("PATCH", f"/admin/api/collections/{collection.id}", {"schema": schema, **changes}, headers)


def save_after_the_create_reads(env, monkeypatch, app, collection, schema, headers, **changes):
    """Save ``schema`` (and ``changes``) on another thread once a create has read its
    collection, before its transaction; the list the save's answer is put in."""
    saves = []
    after_statement(env.DB.db, monkeypatch, COLLECTION_READ, lambda: saves.append(
        in_background(env.DB.db, lambda: saving(collection, schema, headers, **changes).get_response(app))
        .result(30)))
    return saves


def in_background(db, action):
    """Start ``action()`` on another thread (its own connection, closed after); its Future."""
    pool = ThreadPoolExecutor(1)
    future = pool.submit(on_own_connection(db, action))
    pool.shutdown(wait=False)
    return future


def backend_pid(db):
    return db.execute_sql("SELECT pg_backend_pid()").fetchone()[0]


def items_of(collection):
    return Content.select().where(Content.collection == collection.id).count()


# ------------------------------------------------ a save between a write's check and its write


def test_a_create_checked_under_the_old_type_is_checked_again_under_the_new(app_client, admin, env, shop,
                                                                           monkeypatch):
    _, headers = admin
    saves = save_after_the_create_reads(env, monkeypatch, app_client.app, shop, NUMBER_PRICE, headers)

    answer = app_client.post_json("/api/content", {"collectionId": "shop", "title": "Cheap",
                                                   "data": {"title": "Cheap", "price": "cheap"}},
                                  headers=headers, status=422).json

    assert saves[0].status_int == 200, saves[0].text
    assert [problem["field"] for problem in answer["details"]] == ["data.price"]
    assert items_of(shop) == 0


def test_a_create_into_a_collection_deactivated_with_its_new_schema_is_refused(app_client, admin, env, shop,
                                                                              monkeypatch):
    _, headers = admin
    saves = save_after_the_create_reads(env, monkeypatch, app_client.app, shop, NUMBER_PRICE, headers,
                                        is_active=False)

    answer = app_client.post_json("/api/content", {"collectionId": "shop", "title": "Late",
                                                   "data": {"title": "Late"}},
                                  headers=headers, status=422).json

    assert saves[0].status_int == 200, saves[0].text
    assert answer["details"] == [{"field": "collectionId", "message": "the collection is inactive"}]
    assert items_of(shop) == 0


def test_a_create_outrun_by_one_schema_save_after_another_gives_up_with_503(app_client, admin, env, shop,
                                                                          monkeypatch):
    # Every read of the collection (the create's, then each retry's) lets a save land
    # before the INSERT: the create runs out of its schema budget, not of its slug budget.
    _, headers = admin
    saves = []

    def save_again():
        schema = schema_with(price={"type": "string", "description": f"save {len(saves)}"})
        saves.append(in_background(env.DB.db, lambda: saving(shop, schema, headers).get_response(app_client.app))
                     .result(30))

    after_statement(env.DB.db, monkeypatch, COLLECTION_READ, save_again, times=100)

    answer = app_client.post_json("/api/content", {"collectionId": "shop", "title": "Chased",
                                                   "data": {"title": "Chased", "price": "5"}},
                                  headers=headers, status=503)

    assert [save.status_int for save in saves] == [200] * len(saves)
    # The create's read and each refusal's read were followed by a save; the last refusal ended it.
    assert len(saves) == MAX_SCHEMA_CHANGES + 2
    assert answer.headers["Retry-After"] == "1"
    assert "schemas is in progress" in answer.json["error"]
    assert items_of(shop) == 0


def test_a_create_gets_the_default_of_a_field_the_save_added(app_client, admin, env, shop, monkeypatch):
    _, headers = admin
    stocked = {**STRING_PRICE, "properties": {**STRING_PRICE["properties"],
                                              "stock": {"type": "number", "default": 3}}, "required": ["stock"]}
    saves = save_after_the_create_reads(env, monkeypatch, app_client.app, shop, stocked, headers)

    created = app_client.post_json("/api/content", {"collectionId": "shop", "title": "Stocked",
                                                    "data": {"title": "Stocked", "price": "5"}},
                                   headers=headers, status=201).json["data"]

    assert saves[0].status_int == 200, saves[0].text
    assert created["data"] == {"title": "Stocked", "price": "5", "stock": 3}
    assert Content.get_by_id(created["id"]).data["stock"] == 3


def test_an_update_checked_under_the_old_type_is_checked_again_under_the_new(app_client, admin, env, shop,
                                                                            monkeypatch):
    user, headers = admin
    [item] = insert_items(shop, user, 1, data=lambda i: {"title": "Item"})
    saves = []
    after_statement(env.DB.db, monkeypatch, ITEM_READ, lambda: saves.append(
        in_background(env.DB.db, lambda: saving(shop, NUMBER_PRICE, headers).get_response(app_client.app))
        .result(30)))

    answer = app_client.put_json(f"/api/content/{item}", {"data": {"title": "Item", "price": "cheap"}},
                                 headers=headers, status=422).json

    assert saves[0].status_int == 200, saves[0].text
    assert [problem["field"] for problem in answer["details"]] == ["data.price"]
    assert Content.get_by_id(item).data == {"title": "Item"}


# --------------------------------------------- PostgreSQL: one waits for the other, no deadlock


def edited(app_client, headers, item):
    """Version 2 of ``item`` holds the price ``"cheap"``, version 3 (the current one) none."""
    for data in ({"title": "Item", "price": "cheap"}, {"title": "Item"}):
        app_client.put_json(f"/api/content/{item}", {"data": data}, headers=headers, status=200)


def save_while_held(db, app, shop, headers, saves):
    """Start the save of ``NUMBER_PRICE`` on another thread, and wait until it waits for a
    lock this thread's session holds (or is done)."""
    saves.append(in_background(db, lambda: saving(shop, NUMBER_PRICE, headers).get_response(app)))
    writer = backend_pid(db)
    until(lambda: saves[0].done() or blocks_someone(db, writer))


def sync_while_held(db, directory, syncs):
    """Start ``collections sync`` of ``directory`` on another thread, and wait until it waits
    for a lock this thread's session holds (or is done)."""
    syncs.append(in_background(db, lambda: sync_collections(directory)))
    writer = backend_pid(db)
    until(lambda: syncs[0].done() or blocks_someone(db, writer))


@pytest.mark.parametrize("write", ["update", "version restore"])
def test_a_save_waits_for_a_write_in_flight_and_counts_its_value(app_client, admin, env, indexed_shop, monkeypatch,
                                                                write):
    # The write holds the collection's row, and locked the item's; the save (which would
    # count the values, then drop the price index) waits for its commit, then refuses the
    # type the written value does not fit.
    user, headers = admin
    [item] = insert_items(indexed_shop, user, 1, data=lambda i: {"title": "Item"})
    if write == "version restore":
        edited(app_client, headers, item)
    db, saves = env.DB.db, []
    after_statement(db, monkeypatch, ITEM_LOCKED, lambda: save_while_held(db, app_client.app, indexed_shop,
                                                                          headers, saves))

    if write == "update":
        app_client.put_json(f"/api/content/{item}", {"data": {"title": "Item", "price": "cheap"}},
                            headers=headers, status=200)
    else:
        app_client.post(f"/api/content/{item}/versions/2/restore", headers=headers, status=200)

    save = saves[0].result(30)
    assert save.status_int == 409, save.text
    [conflict] = save.json["details"]
    assert (conflict["field"], conflict["example_ids"]) == ("schema.properties.price.type", [item])
    assert Content.get_by_id(item).data == {"title": "Item", "price": "cheap"}
    assert Collection.get_by_id(indexed_shop.id).schema == INDEXED_STRING_PRICE
    assert PRICE_INDEX in existing_indexes(db)


def test_a_save_waits_for_a_write_in_flight_then_drops_an_index(app_client, admin, env, indexed_shop, monkeypatch):
    # The write's value fits the new type: the save goes through after it, index dropped.
    user, headers = admin
    [item] = insert_items(indexed_shop, user, 1, data=lambda i: {"title": "Item"})
    db, saves = env.DB.db, []
    after_statement(db, monkeypatch, ITEM_LOCKED, lambda: save_while_held(db, app_client.app, indexed_shop,
                                                                          headers, saves))

    app_client.put_json(f"/api/content/{item}", {"data": {"title": "Renamed"}}, headers=headers, status=200)

    save = saves[0].result(30)
    assert save.status_int == 200, save.text
    assert Content.get_by_id(item).data == {"title": "Renamed"}
    assert Collection.get_by_id(indexed_shop.id).schema == NUMBER_PRICE
    assert PRICE_INDEX not in existing_indexes(db)


def test_a_create_waits_for_a_save_in_flight_and_is_checked_under_its_schema(app_client, admin, env, indexed_shop,
                                                                            monkeypatch):
    # The save wrote the new schema (content locked in SHARE mode, the drop of the price
    # index to come) and has not committed: the create waits, then validates again.
    _, headers = admin
    db, saver, paused, resume = env.DB.db, [], threading.Event(), threading.Event()

    def pause():
        saver.append(backend_pid(db))
        paused.set()
        resume.wait(30)

    after_statement(db, monkeypatch, SCHEMA_WRITTEN, pause, any_thread=True)
    save = in_background(db, lambda: saving(indexed_shop, NUMBER_PRICE, headers).get_response(app_client.app))
    assert paused.wait(30)
    body = {"collectionId": "shop", "title": "Cheap", "data": {"title": "Cheap", "price": "cheap"}}
    create = in_background(db, lambda: request("POST", "/api/content", body, headers).get_response(app_client.app))
    until(lambda: create.done() or blocks_someone(db, saver[0]))
    resume.set()

    saved, created = save.result(30), create.result(30)
    assert saved.status_int == 200, saved.text
    assert created.status_int == 422, created.text
    assert [problem["field"] for problem in created.json["details"]] == ["data.price"]
    assert items_of(indexed_shop) == 0
    assert PRICE_INDEX not in existing_indexes(db)


def test_collections_sync_waits_for_a_write_to_any_of_its_collections(app_client, admin, env, monkeypatch,
                                                                     postgres, tmp_path):
    # The sync narrows a field of alpha (content locked in SHARE mode) before it reaches
    # beta, whose row a write holds: it takes every row first, before content.
    user, headers = admin
    alpha, beta = (create_collection(name, STRING_PRICE) for name in ("alpha", "beta"))
    [item] = insert_items(beta, user, 1, data=lambda i: {"title": "Item"})
    for collection, schema in ((alpha, NUMBER_PRICE), (beta, schema_with(price={"type": "string"},
                                                                         note={"type": "string"}))):
        (tmp_path / f"{collection.name}.json").write_text(json.dumps(
            {"name": collection.name, "displayName": collection.display_name, "schema": schema}))
    db, syncs = env.DB.db, []
    after_statement(db, monkeypatch, ITEM_LOCKED, lambda: sync_while_held(db, tmp_path, syncs))
    app_client.put_json(f"/api/content/{item}", {"data": {"title": "Item", "price": "5"}}, headers=headers,
                        status=200)

    report = syncs[0].result(30)
    assert report.ok, report.results
    assert [Collection.get_by_id(c.id).schema["properties"]["price"]["type"] for c in (alpha, beta)] == [
        "number", "string"]
    assert Content.get_by_id(item).data["price"] == "5"


def test_collections_sync_that_drops_an_index_a_refused_file_wanted_waits_for_a_title_change(
        app_client, admin, env, indexed_shop, monkeypatch, tmp_path):
    # alpha's file would index price (so no drop looked likely), but its save is refused (a
    # narrowed field its item does not fit): price's index goes after shop's narrowing
    # locked content in SHARE mode, as a title change of shop's item waits.
    user, headers = admin
    [item] = insert_items(indexed_shop, user, 1, data=lambda i: {"title": "Item"})
    alpha = create_collection("alpha", schema_with(price={"type": "string"}, size={"type": "string"}))
    insert_items(alpha, user, 1, data=lambda i: {"title": "Big", "size": "big"})
    files = {"shop": NUMBER_PRICE,
             "alpha": schema_with(price={"type": "string", "indexed": True}, size={"type": "number"})}
    for name, schema in files.items():
        (tmp_path / f"{name}.json").write_text(json.dumps({"name": name, "displayName": name, "schema": schema}))
    db, syncs = env.DB.db, []
    after_statement(db, monkeypatch, ITEM_LOCKED, lambda: sync_while_held(db, tmp_path, syncs))

    app_client.put_json(f"/api/content/{item}", {"title": "Renamed"}, headers=headers, status=200)

    report = syncs[0].result(30)
    assert [result.name for result in report.results if result.status == "error"] == ["alpha"]
    assert Content.get_by_id(item).title == "Renamed"
    assert PRICE_INDEX not in existing_indexes(db)


@pytest.mark.parametrize("first, then", [(STRING_PRICE, INDEXED_STRING_PRICE), (INDEXED_STRING_PRICE, STRING_PRICE)],
                         ids=["index created", "index dropped"])
def test_a_create_after_another_connection_changed_the_indexes(app_client, admin, env, monkeypatch, first, then):
    # SQLite connections stay open between requests, each holding the schema it last read;
    # the create's reads ran under the old one, its INSERT runs under the new one.
    _, headers = admin
    collection = create_collection("shop", first)
    sync_field_indexes(Collection._meta.database)
    saves = save_after_the_create_reads(env, monkeypatch, app_client.app, collection, then, headers)

    created = app_client.post_json("/api/content", {"collectionId": "shop", "title": "Marmalade",
                                                    "data": {"title": "Marmalade", "price": "5"}},
                                   headers=headers, expect_errors=True)

    assert saves[0].status_int == 200, saves[0].text
    assert created.status_int == 201, created.text
    assert (PRICE_INDEX in existing_indexes(env.DB.db)) == ("indexed" in then["properties"]["price"])
    found = app_client.get("/api/content", {"collection": "shop", "search": "marmalade"}, headers=headers).json
    assert [item["title"] for item in found["data"]] == ["Marmalade"]


@pytest.mark.parametrize("write", ["data in another collection", "title only"])
def test_a_save_that_narrows_and_drops_an_index_waits_for_a_write_that_holds_no_row_of_its(
        app_client, admin, env, indexed_shop, monkeypatch, write):
    # The write locked its item (ROW SHARE on content) and holds no collection row the save
    # waits for (its collection is another one, or it validates nothing). Were the save to
    # lock content in SHARE mode to count, then ask for ACCESS EXCLUSIVE to drop the index,
    # it would wait for the write while the write's UPDATE waits for its SHARE: it takes
    # ACCESS EXCLUSIVE first instead.
    user, headers = admin
    home = create_collection("other", STRING_PRICE) if write.endswith("collection") else indexed_shop
    [item] = insert_items(home, user, 1, data=lambda i: {"title": "Item"})
    db, saves = env.DB.db, []
    after_statement(db, monkeypatch, ITEM_LOCKED, lambda: save_while_held(db, app_client.app, indexed_shop,
                                                                          headers, saves))

    body = {"data": {"title": "Renamed"}} if write.endswith("collection") else {"title": "Renamed"}
    app_client.put_json(f"/api/content/{item}", body, headers=headers, status=200)

    save = saves[0].result(30)
    assert save.status_int == 200, save.text
    stored = Content.get_by_id(item)
    assert (stored.data if "data" in body else stored.title) == body.get("data", body.get("title"))
    assert Collection.get_by_id(indexed_shop.id).schema == NUMBER_PRICE
    assert PRICE_INDEX not in existing_indexes(db)


def test_collections_sync_that_narrows_and_drops_an_index_waits_for_a_title_change(
        app_client, admin, env, indexed_shop, monkeypatch, tmp_path):
    # A title change validates nothing and takes no collection row: the sync's rows do not
    # keep it out, its lock on content does.
    user, headers = admin
    [item] = insert_items(indexed_shop, user, 1, data=lambda i: {"title": "Item"})
    (tmp_path / "shop.json").write_text(json.dumps({"name": "shop", "displayName": indexed_shop.display_name,
                                                    "schema": NUMBER_PRICE}))
    db, syncs = env.DB.db, []
    after_statement(db, monkeypatch, ITEM_LOCKED, lambda: sync_while_held(db, tmp_path, syncs))
    app_client.put_json(f"/api/content/{item}", {"title": "Renamed"}, headers=headers, status=200)

    report = syncs[0].result(30)
    assert report.ok, report.results
    assert Content.get_by_id(item).title == "Renamed"
    assert Collection.get_by_id(indexed_shop.id).schema["properties"]["price"]["type"] == "number"
    assert PRICE_INDEX not in existing_indexes(db)
