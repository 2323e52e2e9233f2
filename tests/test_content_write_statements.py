"""A create runs fixed statements (built once per shape), never Peewee's query compiler, and
answers exactly what ``get_item`` reads.

Compiling the create's queries cost more than running them; ``rows.py`` keeps their SQL, and
the response's read is ``get_item``, whose SQL is compiled once per shape (``statements.py``).
"""

import msgspec
import peewee
import pytest

from app.db.database import is_postgres
from app.db.models import (
    Collection,
    Content,
    ContentVersion,
    Media,
    WorkflowHistory,
    bind_models,
    new_id,
    now_ms,
)
from app.db.rows import columns_of, fetch_models, insert_rows
from app.services.content import writes
from app.services.content.slugs import free_slug, slug_taken
from tests.fixtures.app import record_statements
from tests.fixtures.content import create_collection, insert_items

pytestmark = pytest.mark.backends

# The models whose queries a create used to compile on every request.
CREATE_MODELS = {"Collection", "Content", "ContentVersion", "User", "Workflow", "WorkflowHistory"}


@pytest.fixture
def compiled(monkeypatch):
    """``compiled()`` -> names of the models whose SELECTs Peewee compiled since the last call."""
    seen = []
    original = peewee.ModelSelect.__sql__

    def compile_sql(self, ctx):
        seen.append(self.model.__name__)
        return original(self, ctx)

    monkeypatch.setattr(peewee.ModelSelect, "__sql__", compile_sql)

    def take():
        taken = list(seen)
        seen.clear()
        return taken

    return take


def test_a_create_compiles_none_of_its_queries(client, blog_collection, as_editor, compiled):
    _, headers = as_editor
    body = {"collectionId": "blog", "title": "Fixed", "data": {"title": "Fixed"}}
    client.post_json("/api/content", body, headers=headers, status=201)  # per-process warm-up (plugins, roles)
    compiled()

    body = {"collectionId": "blog", "title": "Fixed Too", "data": {"title": "Fixed Too"}}
    created = client.post_json("/api/content", body, headers=headers, status=201).json["data"]

    assert created["slug"] == "fixed-too"
    assert not set(compiled()) & CREATE_MODELS


def test_the_create_answer_is_the_items_read(client, blog_collection, as_editor, as_author):
    for _, headers in (as_editor, as_author):
        for body in ({"collectionId": "blog", "title": "Answer", "data": {"title": "Answer", "views": 1.5}},
                     {"collectionId": "blog", "title": "Published", "status": "published",
                      "metaTitle": "M", "data": {"title": "Published", "tags": ["a", "b"]}}):
            if body.get("status") and headers is as_author[1]:
                continue  # authors may not publish
            response = client.post_json("/api/content", body, headers=headers, status=201)
            read = client.get(f"/api/content/{response.json['data']['id']}", headers=headers, status=200)
            assert response.json["data"] == read.json["data"]
            assert response.headers["ETag"] == read.headers["ETag"]


def test_a_create_with_a_featured_image_is_answered_with_it(client, blog_collection, as_editor):
    editor, headers = as_editor
    image = Media.create(id=new_id(), filename="i", original_name="i", mime_type="image/png", size=1,
                         r2_key=new_id(), public_url="/files/i", uploaded_by=editor.id, uploaded_at=now_ms())
    body = {"collectionId": "blog", "title": "Pictured", "featuredImageId": image.id, "data": {"title": "Pictured"}}

    created = client.post_json("/api/content", body, headers=headers, status=201).json["data"]

    assert created["featuredImage"]["id"] == image.id and created["featuredImage"]["url"] == "/files/i"


def _image(owner):
    return Media.create(id=new_id(), filename="i.png", original_name="i.png", mime_type="image/png", size=1,
                        r2_key=new_id(), public_url="/files/i.png", thumbnail_url="/files/t.png", alt="An image",
                        width=640, height=480, uploaded_by=owner.id, uploaded_at=now_ms())


def test_every_create_answer_is_byte_for_byte_the_items_read(client, blog_collection, pages_collection, make_user):
    # On PostgreSQL a draft's answer is read in its INSERTs' query, inside their transaction;
    # it must be exactly what a GET reads once they are committed, whoever asks.
    editor, editor_headers = make_user("editor", first_name="Edith", last_name="Tor")
    author, author_headers = make_user("author", first_name="Al", last_name="")
    image = _image(editor)
    data = {"title": "Été ☃", "views": 1.5, "n": 12345678901234, "nested": {"b": [1, {"a": None}], "a": True}}
    bodies = [
        {"collectionId": "pages", "title": "Plain", "data": data},
        {"collectionId": "col-blog", "title": "Pictured", "slug": "pictured", "featuredImageId": image.id,
         "metaTitle": "M", "metaDescription": "D", "data": {"title": "Pictured"}},
        {"collectionId": "blog", "title": "Live", "status": "published", "data": {"title": "Live"}},
    ]
    for turn, headers in enumerate((editor_headers, author_headers)):
        for body in bodies:
            if body.get("status") and headers is author_headers:
                continue  # authors may not publish
            if "slug" in body:
                body = {**body, "slug": f"{body['slug']}-{turn}"}  # a slug the client gives, free
            created = client.post_json("/api/content", body, headers=headers, status=201)
            read = client.get(created.headers["Location"], headers=headers, status=200)
            assert created.body == msgspec.json.encode({"data": read.json["data"]})  # keys in the same order
            assert created.json["data"] == read.json["data"]
            assert created.headers["ETag"] == read.headers["ETag"]
    listed = client.get("/api/content?limit=100", headers=editor_headers).json["data"]
    assert {item["featuredImage"]["alt"] for item in listed if item["title"] == "Pictured"} == {"An image"}
    plain = [item for item in listed if item["title"] == "Plain"]
    assert {item["author"]["name"] for item in plain} == {"Edith Tor", "Al"}
    assert all(item["data"] == data and item["featuredImage"] is None for item in plain)


@pytest.fixture
def items(env, make_user):
    """Items of every visibility: ``{name: id}`` plus the author's and the collection's ids."""
    bind_models(env.DB.db)
    author, _ = make_user("author")
    other, _ = make_user("author")
    live = create_collection("live")
    gone = create_collection("gone", is_active=False)
    ids = {
        "own draft": insert_items(live, author, 1, status="draft", slug_prefix="own")[0],
        "other's draft": insert_items(live, other, 1, status="draft", slug_prefix="other")[0],
        "published": insert_items(live, other, 1, slug_prefix="pub")[0],
        "deleted": insert_items(live, author, 1, slug_prefix="del", deleted_at=now_ms())[0],
        "other's deleted": insert_items(live, other, 1, slug_prefix="odel", deleted_at=now_ms())[0],
        "inactive collection": insert_items(gone, author, 1, slug_prefix="gone")[0],
        "missing": "no-such-id",
    }
    return ids, author


def test_fixed_statements_read_models_as_peewee_does(items):
    ids, _ = items
    template = 'SELECT "id", "schema", "is_active" FROM "collections" WHERE "name" = {p}'
    [gone] = fetch_models(Collection, template, ("gone",))

    assert (gone.id, gone.schema, gone.is_active) == ("col-gone", {"type": "object"}, False)


def test_fixed_statements_read_every_row_as_model_raw_does(items):
    # The second run of a statement reuses the columns and converters its first run worked out.
    template = (f'SELECT {columns_of(Collection)}, 1 AS "extra" FROM "collections"'
                ' WHERE "name" = {p} OR "name" = {p} ORDER BY "name"')
    sql = template.format(p=Collection._meta.database.param)
    for names in (("gone", "live"), ("live", "none"), ("gone", "gone")):
        fixed = fetch_models(Collection, template, names)
        raw = list(Collection.raw(sql, *names))
        assert [(row.__data__, row.extra, row._dirty) for row in fixed] == \
            [(row.__data__, row.extra, row._dirty) for row in raw]
        assert [row.schema for row in fixed] == [row.schema for row in raw] != []


def test_fixed_selects_run_prepared_on_postgresql(env, items):
    # Through Model.raw, Peewee copied the SQL into a plain string: PostgreSQL parsed and
    # planned the create's collection query on every create (about 300 us of its CPU).
    if not is_postgres(env.DB.db):
        pytest.skip("sqlite3 keeps its own statement cache")
    template = 'SELECT "id", "schema", "is_active" FROM "collections" WHERE "name" = {p} OR "name" = {p}'
    found = [fetch_models(Collection, template, (name, name)) for name in ("gone", "live", "none")]

    assert [[row.id for row in rows] for rows in found] == [["col-gone"], ["col-live"], []]
    statements = [row[0] for row in env.DB.db.execute_sql("SELECT statement FROM pg_prepared_statements")]
    assert [text for text in statements if 'FROM "collections" WHERE "name" = $1 OR "name" = $2' in text]


def test_slug_lookups(items):
    ids, _ = items
    holder = slug_taken("col-live", "del-0")

    assert holder.id == ids["deleted"] and holder.deleted_at is not None
    assert slug_taken("col-live", "del-0", exclude_id=ids["deleted"]) is None
    assert free_slug("col-live", "del-0") == "del-0-2"
    assert free_slug("col-live", "fresh") == "fresh"


def test_a_draft_create_writes_its_three_rows_at_once(env, client, blog_collection, as_editor, monkeypatch):
    _, headers = as_editor
    client.post_json("/api/content", {"collectionId": "blog", "title": "Warm"}, headers=headers, status=201)
    statements = record_statements(env.DB.db, monkeypatch)

    client.post_json("/api/content", {"collectionId": "blog", "title": "At Once"}, headers=headers, status=201)

    postgres = is_postgres(env.DB.db)
    inserts = [sql for sql, _ in statements if "INSERT" in sql]
    # The collection with its workflow and the slug's holder, the rows (and on PostgreSQL the
    # collection's lock before them and the answer's read after), the answer's read on
    # SQLite; no active webhook, so no webhooks read after the response (the cache knows
    # there is none).
    assert [sql for sql, _ in statements][1:1 + len(inserts)] == inserts
    assert len(statements) == 1 + len(inserts) + (0 if postgres else 1)
    assert not [sql for sql, _ in statements if '"webhooks"' in sql]
    assert '"workflows"' in statements[0][0] and '"holder"."slug"' in statements[0][0]
    assert statements[0][1][0] == "at-once"
    parts = [part for sql in inserts for part in sql.split("; ")]
    tables = [part.split('"')[1] for part in parts if part.startswith("INSERT")]
    assert tables == ["content", "workflow_history", "content_versions"]
    # PostgreSQL gets them in ONE query, its own transaction, the collection's row locked
    # first and the answer's SELECT last; SQLite in BEGIN IMMEDIATE ... COMMIT, the SELECT after.
    assert len(inserts) == (1 if postgres else 3)
    if postgres:
        assert parts[0].startswith('SELECT 1 FROM "collections"') and parts[0].endswith("FOR SHARE")
    read = parts[-1] if postgres else statements[len(inserts) + 1][0]
    assert read.startswith("SELECT") and '"content"' in read


def test_rows_written_at_once_are_all_or_nothing(items):
    ids, author = items
    fresh = {"id": new_id(), "collection": "col-live", "slug": "fresh", "title": "Fresh", "data": {}, "author": author.id,
             "created_at": 1, "updated_at": 1}
    taken = {**fresh, "id": new_id(), "slug": "pub-0"}  # the unique slug refuses it

    with pytest.raises(peewee.IntegrityError):
        insert_rows([(Content, fresh), (Content, taken)])

    assert Content.get_or_none(Content.id == fresh["id"]) is None
    insert_rows([(Content, fresh)])
    assert Content.get_by_id(fresh["id"]).slug == "fresh"


def test_rows_written_at_once_can_be_read_back_in_the_same_go(items):
    ids, author = items
    row = {"id": new_id(), "collection": "col-live", "slug": "read-back", "title": "Read Back", "data": {"a": 1},
           "author": author.id, "created_at": 1, "updated_at": 1}
    p = Content._meta.database.param
    read = (f'SELECT "slug", "data" FROM "content" WHERE "collection_id" = {p} AND "slug" LIKE {p} ORDER BY "slug"',
            ["col-live", "read-%"])

    assert insert_rows([(Content, row)], then=read) == [("read-back", '{"a":1}')]
    with pytest.raises(peewee.IntegrityError):
        insert_rows([(Content, {**row, "id": new_id(), "slug": "read-again"}), (Content, row)], then=read)
    assert insert_rows([], then=read) == [("read-back", '{"a":1}')]
    assert insert_rows([(Content, {**row, "id": new_id(), "slug": "read-on"})]) is None


def test_a_slug_taken_meanwhile_is_still_a_409_and_writes_nothing(client, blog_collection, as_editor, monkeypatch):
    _, headers = as_editor
    client.post_json("/api/content", {"collectionId": "blog", "title": "Mine", "slug": "mine"}, headers=headers,
                     status=201)
    # The friendly check misses it (as when a concurrent create takes the slug after it): the index refuses it.
    monkeypatch.setattr(writes, "_check_slug", lambda *args: None)
    before = Content.select().count(), ContentVersion.select().count(), WorkflowHistory.select().count()

    answer = client.post_json("/api/content", {"collectionId": "blog", "title": "Again", "slug": "mine"},
                              headers=headers, status=409)

    assert answer.json["details"] == [
        {"field": "slug", "message": "another item of this collection has this slug", "slug": "mine"}]
    assert (Content.select().count(), ContentVersion.select().count(), WorkflowHistory.select().count()) == before


def test_a_create_reads_its_slugs_holder_with_its_collection(client, blog_collection, as_editor):
    _, headers = as_editor
    first = client.post_json("/api/content", {"collectionId": "blog", "title": "Twice", "slug": "twice"},
                             headers=headers, status=201).json["data"]
    client.delete(f"/api/content/{first['id']}", headers=headers, status=200)

    taken = client.post_json("/api/content", {"collectionId": "blog", "title": "Twice", "slug": "twice"},
                             headers=headers, status=409).json
    generated = client.post_json("/api/content", {"collectionId": "blog", "title": "Twice"}, headers=headers,
                                 status=201).json["data"]

    assert taken["details"] == [
        {"field": "slug", "message": "a deleted item holds this slug: restore or purge it first", "slug": "twice"}]
    assert generated["slug"] == "twice-2"
