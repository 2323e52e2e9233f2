"""Exact totals for equality filters on declared fields: the values of every field a
collection's schema declares ``"indexed": true`` are counted by triggers, per value, status
and deleted flag, through every write path (the API, plain SQL, a restore, a backup import),
on SQLite and PostgreSQL; a list filtered on one such value reads its total from them."""

import json
import threading

import psycopg2
import pytest

from app.db import derived
from app.db.database import is_postgres
from app.db.models import bind_models
from app.db.time_travel import current_bookmark, restore
from app.services.backup import export_backup
from app.services.backup_import import import_backup
from app.services.content import query
from app.services.content.query import COUNT_LIMIT, Scope, list_content, parse_list_params
from app.services.field_indexes import sync_field_indexes
from tests.fixtures.app import client_for, env_with_copy, make_env, migrate
from tests.fixtures.content import create_collection, insert_items
from tests.fixtures.users import create_user

SCHEMA = {"type": "object", "properties": {
    "category": {"type": "string", "indexed": True},
    "tag": {"type": "string"},
}}


def make_site(request, kind, tmp_path, name):
    """``(env, drop)``: a migrated env of the test's own on ``kind``'s database (a copy of
    the session's migrated template), and what drops it afterwards."""
    if kind == "postgres":
        server = request.getfixturevalue("postgres_server")
        url = server.create_database(name, template=request.getfixturevalue("migrated_postgres_template"))
        env = make_env(tmp_path / name, database_url=url)
    else:
        server = None
        env = env_with_copy(tmp_path / name, request.getfixturevalue("migrated_template"))
    bind_models(env.DB.db)
    return env, (lambda: server.drop_database(name)) if server else (lambda: None)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def site(request, tmp_path):
    env, drop = make_site(request, request.param, tmp_path, "value_counts")
    yield env
    env.DB.db.close()
    drop()


def sql(db, text, params=()):
    return db.execute_sql(text.replace("?", "%s") if is_postgres(db) else text, params)


def kept_values(db):
    return sorted(tuple(row) for row in sql(db, "SELECT collection_id, field, value, status, deleted, n"
                                                " FROM content_counts_values WHERE n <> 0").fetchall())


def true_values(db):
    """The counts computed here from the rows, for the pairs the schemas declare.

    Python reads a key written twice by its last value where SQLite's filters read the
    first: the test that writes one compares with the filter's rows instead."""
    declared = {(collection_id, field) for collection_id, schema in sql(db, "SELECT id, schema FROM collections")
                for field, spec in (json.loads(schema).get("properties") or {}).items() if spec.get("indexed") is True}
    counted = {}
    for collection_id, data, status, deleted_at in sql(db, "SELECT collection_id, data, status, deleted_at FROM content"):
        try:
            document = json.loads(data)
        except ValueError:
            continue
        for field in sorted(field for owner, field in declared if owner == collection_id):
            value = document.get(field) if isinstance(document, dict) else None
            if isinstance(value, str) and len(value) <= derived.VALUE_LENGTH:
                key = (collection_id, field, value, status, int(deleted_at is not None))
                counted[key] = counted.get(key, 0) + 1
    return sorted((*key, n) for key, n in counted.items())


def tracked(db):
    return sorted(tuple(row) for row in sql(db, "SELECT collection_id, field FROM content_counts_fields").fetchall())


def counted(params, scope=None):
    """The total read from the value counts for ``params`` (None: the list would count matches)."""
    scope = scope or Scope()
    parsed = parse_list_params(params, scope, schema=SCHEMA)
    condition = query._counted_condition(parsed, scope)
    return None if condition is None else query._counted_value(parsed, scope, condition)


def shop(db, schema=SCHEMA, name="shop"):
    collection = create_collection(name, schema=schema)
    sync_field_indexes(db)
    return collection


def test_plain_sql_writes_keep_value_counts_right(site):
    db = site.DB.db
    collection, author = shop(db), create_user("author")
    other = create_collection("plain")  # declares nothing: its values are not counted
    insert_items(collection, author, 6, data=lambda i: {"category": f"c{i % 3}", "tag": "t"})
    insert_items(other, author, 2, slug_prefix="plain", data=lambda i: {"category": "c0"})
    sql(db, "UPDATE content SET status = 'draft' WHERE slug = 'item-0'")
    sql(db, "UPDATE content SET data = ? WHERE slug = 'item-1'", ('{"category": "moved"}',))
    sql(db, "UPDATE content SET data = ? WHERE slug = 'item-2'", ('{"category": 7}',))  # a number: not counted
    sql(db, "UPDATE content SET deleted_at = 1 WHERE slug = 'item-3'")
    sql(db, "DELETE FROM content WHERE slug = 'item-4'")
    sql(db, "UPDATE content SET collection_id = ? WHERE slug = 'plain-0'", (collection.id,))
    assert tracked(db) == [(collection.id, "category")]
    assert kept_values(db) == true_values(db)
    # c0 was item-0 (now a draft), item-3 (now deleted); plain-0 brought one more.
    assert [row for row in kept_values(db) if row[2] == "c0"] == [
        (collection.id, "category", "c0", "draft", 0, 1), (collection.id, "category", "c0", "published", 0, 1),
        (collection.id, "category", "c0", "published", 1, 1)]


def test_long_values_and_data_that_is_not_json_are_not_counted(site):
    db = site.DB.db
    collection, author = shop(db), create_user("author")
    long = "x" * (derived.VALUE_LENGTH + 1)
    insert_items(collection, author, 3, data=lambda i: {"category": [long, "short", "x" * derived.VALUE_LENGTH][i]})
    assert sorted(value for _, _, value, *_ in kept_values(db)) == ["short", "x" * derived.VALUE_LENGTH]
    assert kept_values(db) == true_values(db)


def test_data_that_is_not_json_is_written_and_not_counted(site):
    # Only in deleted rows: a live row's data is read by the declared field's index, which
    # refuses data that is not JSON on both databases.
    db = site.DB.db
    collection, author = shop(db), create_user("author")
    insert_items(collection, author, 2, data=lambda i: {"category": "c"})
    sql(db, "UPDATE content SET deleted_at = 1, data = 'not json' WHERE slug = 'item-0'")
    sql(db, "INSERT INTO content (id, collection_id, slug, title, data, status, author_id, created_at, updated_at,"
            " deleted_at) VALUES ('raw', ?, 'raw', 'Raw', '{broken', 'published', ?, 1, 1, 1)",
        (collection.id, author.id))
    assert kept_values(db) == true_values(db) == [(collection.id, "category", "c", "published", 0, 1)]


def test_the_schema_decides_which_fields_are_counted(site):
    db = site.DB.db
    collection, author = shop(db), create_user("author")
    insert_items(collection, author, 4, data=lambda i: {"category": f"c{i % 2}", "tag": f"t{i % 2}"})
    both = {"type": "object", "properties": {"category": {"type": "string"},
                                             "tag": {"type": "string", "indexed": True}}}
    collection.schema = both
    collection.save()
    sync_field_indexes(db)
    assert tracked(db) == [(collection.id, "tag")]
    assert kept_values(db) == true_values(db)
    assert {field for _, field, *_ in kept_values(db)} == {"tag"}  # category's counts went with it


@pytest.mark.parametrize("site", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True)
def test_writes_waiting_for_the_commit_count_once_when_a_field_is_declared_in_their_transaction(site):
    # PostgreSQL counts at the commit: rows written before the field was declared in the
    # same transaction (as a backup import writes them) must be counted once, not by both
    # the new field's count and the trigger.
    db = site.DB.db
    collection, author = create_collection("shop", schema={"type": "object"}), create_user("author")
    with db.atomic():
        insert_items(collection, author, 3, data=lambda i: {"category": "before"})
        collection.schema = SCHEMA
        collection.save()
        derived.track_declared(db)
        insert_items(collection, author, 2, slug_prefix="after", data=lambda i: {"category": "after"})
    assert kept_values(db) == true_values(db)
    assert [n for *_, n in kept_values(db)] == [2, 3]


def test_a_restore_leaves_value_counts_right(site):
    db = site.DB.db
    collection, author = shop(db), create_user("author")
    insert_items(collection, author, 2, data=lambda i: {"category": "kept"})
    before = current_bookmark(db)
    insert_items(collection, author, 2, slug_prefix="later", data=lambda i: {"category": "undone"})
    sql(db, "UPDATE content SET data = ? WHERE slug = 'item-0'", ('{"category": "changed"}',))
    collection.schema = {"type": "object"}
    collection.save()
    sync_field_indexes(db)
    assert tracked(db) == []
    restore(db, before)
    assert tracked(db) == [(collection.id, "category")]  # the schema came back, and its counts with it
    assert kept_values(db) == true_values(db) == [(collection.id, "category", "kept", "published", 0, 2)]


@pytest.mark.parametrize("site", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True)
def test_a_backup_import_counts_the_imported_collections_values(site, tmp_path, request):
    db = site.DB.db
    collection, author = shop(db), create_user("author")
    insert_items(collection, author, 3, data=lambda i: {"category": f"c{i % 2}"})
    backup = export_backup(db)
    kind = "postgres" if is_postgres(db) else "sqlite"
    target, drop = make_site(request, kind, tmp_path, "value_counts_target")
    try:
        bind_models(target.DB.db)
        import_backup(target.DB.db, json.dumps(backup))
        assert [field for _, field in tracked(target.DB.db)] == ["category"]
        assert kept_values(target.DB.db) == true_values(target.DB.db)
        assert sum(n for *_, n in kept_values(target.DB.db)) == 3
    finally:
        target.DB.db.close()
        bind_models(db)
        drop()


def test_rebuild_recounts_values_written_without_triggers(site):
    db = site.DB.db
    collection = shop(db)
    insert_items(collection, create_user("author"), 3, data=lambda i: {"category": "c"})
    sql(db, "DELETE FROM content_counts_values")
    derived.rebuild(db)
    assert kept_values(db) == true_values(db) == [(collection.id, "category", "c", "published", 0, 3)]


def test_a_filtered_list_reads_its_exact_total_past_the_count_limit(site):
    db, client = site.DB.db, client_for(site)
    collection, author = shop(db), create_user("author")
    many = COUNT_LIMIT + 5
    insert_items(collection, author, many + 3, data=lambda i: {"category": "big" if i < many else "small", "tag": "t"})
    sql(db, "UPDATE content SET status = 'draft' WHERE slug = 'item-0'")
    sql(db, "UPDATE content SET deleted_at = 1 WHERE slug = 'item-1'")

    def meta(params):
        return client.get("/api/content", {"collection": "shop", "limit": 2, **params}).json["meta"]

    counted = meta({"filter[data.category][equals]": "big"})
    assert (counted["total"], counted.get("totalIsEstimate", False)) == (many - 2, False)
    assert meta({"filter[data.category][equals]": "small"})["total"] == 3
    assert meta({"filter[data.category][equals]": "none"})["total"] == 0
    # A field the schema does not declare is counted up to the limit, as before.
    estimated = meta({"filter[data.tag][equals]": "t"})
    assert (estimated["total"], estimated["totalIsEstimate"]) == (COUNT_LIMIT, True)


def test_a_counted_total_follows_the_callers_scope(site):
    db, client = site.DB.db, client_for(site)
    collection, author = shop(db), create_user("author")
    insert_items(collection, author, 4, data=lambda i: {"category": "c"})
    sql(db, "UPDATE content SET status = 'draft' WHERE slug = 'item-0'")
    sql(db, "UPDATE content SET deleted_at = 1 WHERE slug = 'item-1'")
    filtered = {"filter[data.category][equals]": "c"}

    def total(scope, **params):
        parsed = parse_list_params({**filtered, **params}, scope, collection_id=collection.id, schema=SCHEMA)
        listed = list_content(parsed, scope)["meta"]["total"]
        # Read from the counts (None would mean the list counted its matches instead); a
        # deactivated collection's public list is the exception: it counts, and finds none.
        assert counted({**filtered, **params, "collection_id": collection.id}, scope) in (listed, None)
        return listed

    editor = Scope(user_id=author.id, see_all=True)
    assert counted({**filtered, "collection_id": collection.id}, editor) == 3
    assert counted({**filtered, "collection": "shop"}) == 2
    assert total(editor) == 3  # every status, deleted items out
    assert total(editor, status="draft") == 1
    assert total(editor, include_deleted="true") == 4
    assert total(Scope()) == 2
    # A deactivated collection's items are withdrawn from the public, not from its editors.
    collection.is_active = False
    collection.save()
    assert total(Scope()) == 0
    assert client.get("/api/content", {"collection": "shop", **filtered}).json["meta"]["total"] == 0
    assert total(editor) == 3


def test_a_counted_total_is_the_number_of_items_the_filter_returns(site):
    # Data written by hand may hold a key twice, escapes, or a value of exactly the length
    # counted: the total read from the counts is what the filter's rows are.
    db, client = site.DB.db, client_for(site)
    collection, author = shop(db), create_user("author")
    edge = "é" * derived.VALUE_LENGTH  # 200 characters, 400 bytes
    insert_items(collection, author, 3, data=lambda i: {"category": ["x", "caf\u00e9", edge][i]})
    sql(db, "UPDATE content SET data = ? WHERE slug = 'item-0'", ('{"category": "x", "category": "y"}',))
    sql(db, "UPDATE content SET data = ? WHERE slug = 'item-1'", ('{"category": "caf\\u00e9 \\"q\\""}',))
    for value in ("x", "y", 'café "q"', edge):
        params = {"collection": "shop", "filter[data.category][equals]": value}
        listed = client.get("/api/content", {**params, "limit": 100}).json
        assert counted(params) == listed["meta"]["total"] == len(listed["data"]), value
    assert sum(n for *_, n in kept_values(db)) == 3  # every item once, whichever value it holds


def test_a_list_by_id_and_by_a_name_counts_what_both_select(site):
    db, client = site.DB.db, client_for(site)
    collection, other = shop(db), shop(db, name="other")
    insert_items(collection, create_user("author"), 3, data=lambda i: {"category": "c"})
    both = {"collection_id": collection.id, "filter[data.category][equals]": "c"}
    assert counted({**both, "collection": "other"}) is None  # counted among the matches instead
    assert client.get("/api/content", {**both, "collection": "other"}).json["meta"]["total"] == 0
    assert client.get("/api/content", {**both, "collection": "shop"}).json["meta"]["total"] == 3
    assert other.id != collection.id


def test_a_field_declared_again_is_counted_afresh(site):
    db = site.DB.db
    collection = shop(db)
    insert_items(collection, create_user("author"), 2, data=lambda i: {"category": "c"})
    for schema in ({"type": "object"}, SCHEMA, {"type": "object"}, SCHEMA):
        collection.schema = schema
        collection.save()
        sync_field_indexes(db)
    assert kept_values(db) == true_values(db) == [(collection.id, "category", "c", "published", 0, 2)]


@pytest.mark.parametrize("site", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True)
def test_declaring_a_field_waits_for_content_writers_then_counts_their_rows(site):
    # A row written by a transaction still open when the field is declared must be counted
    # once: declaring waits for that writer, then counts what it committed.
    db = site.DB.db
    collection, author = create_collection("shop", schema=SCHEMA), create_user("author")
    writer = psycopg2.connect(dbname=db.database, **db.connect_params)
    try:
        with writer.cursor() as cursor:
            cursor.execute("INSERT INTO content (id, collection_id, slug, title, data, status, author_id,"
                           " created_at, updated_at) VALUES ('w', %s, 'w', 'W', %s, 'published', %s, 1, 1)",
                           (collection.id, '{"category": "open"}', author.id))
        declared = threading.Thread(target=lambda: (bind_models(db), derived.track_declared(db)))
        declared.start()
        declared.join(0.5)
        assert declared.is_alive()  # waiting for the writer's transaction
        writer.commit()
        declared.join(10)
        assert not declared.is_alive()
    finally:
        writer.close()
    assert kept_values(db) == true_values(db) == [(collection.id, "category", "open", "published", 0, 1)]


@pytest.mark.parametrize("site", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True)
def test_a_field_is_counted_on_a_database_without_the_triggers_yet(site):
    # As a dump loaded with `d1 execute --file` is until `d1 migrations apply` installs them.
    db = site.DB.db
    collection, author = create_collection("shop", schema={"type": "object"}), create_user("author")
    insert_items(collection, author, 2, data=lambda i: {"category": "c"})
    for name in derived.PG_VALUE_TRIGGERS:
        sql(db, f"DROP TRIGGER {name} ON content")
    collection.schema = SCHEMA
    collection.save()
    assert derived.track_declared(db)
    assert kept_values(db) == true_values(db) == [(collection.id, "category", "c", "published", 0, 2)]
    migrate(site)  # the next apply puts the triggers back
    insert_items(collection, author, 1, slug_prefix="later", data=lambda i: {"category": "c"})
    assert kept_values(db) == true_values(db) == [(collection.id, "category", "c", "published", 0, 3)]


def _connect(db):
    return psycopg2.connect(dbname=db.database, **db.connect_params)


@pytest.mark.parametrize("site", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True)
@pytest.mark.parametrize("table, held, change, first", [
    # A published item unpublished: the draft counter row's key is the lower, locked first.
    ("content_counts", "status = 'published'", "status = 'draft'", "status = 'draft'"),
    # A value changed from "b" to "a": the counter row of "a" is locked first.
    ("content_counts_values", "value = 'b'", "data = '{\"category\": \"a\"}'", "value = 'a'"),
])
def test_counter_rows_are_locked_in_the_order_of_their_keys(site, table, held, change, first):
    """Two writers moving rows in opposite directions (a publish and an unpublish; "a" to "b"
    and "b" to "a") would deadlock if each locked its old counter row before its new one:
    both lock the lower key first. While another transaction holds the higher row, a writer
    must already hold the lower one."""
    db = site.DB.db
    collection, author = shop(db), create_user("author")
    insert_items(collection, author, 2, data=lambda i: {"category": "ab"[i]})
    insert_items(collection, author, 1, slug_prefix="d", status="draft", data=lambda i: {"category": "a"})
    holder, writer, probe = _connect(db), _connect(db), _connect(db)
    target = "item-1" if table == "content_counts_values" else "item-0"
    moving = threading.Thread(target=lambda: writer.cursor().execute(
        f"SET CONSTRAINTS ALL IMMEDIATE; UPDATE content SET {change} WHERE slug = '{target}'"))
    try:
        holder.cursor().execute(f"SELECT n FROM {table} WHERE {held} FOR UPDATE")
        moving.start()
        moving.join(0.5)
        assert moving.is_alive()  # waiting for the held row
        with pytest.raises(psycopg2.errors.LockNotAvailable):
            probe.cursor().execute(f"SELECT n FROM {table} WHERE {first} FOR UPDATE NOWAIT")
    finally:
        # Whoever holds a lock lets go first, so the writer's thread ends before its connection closes.
        for connection in (probe, holder):
            connection.close()
        if moving.ident is not None:
            moving.join(10)
        writer.close()
