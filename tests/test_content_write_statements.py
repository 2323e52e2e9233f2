"""A create runs fixed statements (built once per shape), never Peewee's query compiler, and
answers exactly what ``get_item`` reads.

Compiling the create's queries cost more than running them; ``rows.py`` keeps their SQL, and
the response's read is ``get_item``, whose SQL is compiled once per shape (``statements.py``).
"""

import peewee
import pytest

from app.db.models import Collection, Media, bind_models, new_id, now_ms
from app.services.content.rows import fetch_models
from app.services.content.slugs import free_slug, slug_taken
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


def test_slug_lookups(items):
    ids, _ = items
    holder = slug_taken("col-live", "del-0")

    assert holder.id == ids["deleted"] and holder.deleted_at is not None
    assert slug_taken("col-live", "del-0", exclude_id=ids["deleted"]) is None
    assert free_slug("col-live", "del-0") == "del-0-2"
    assert free_slug("col-live", "fresh") == "fresh"
