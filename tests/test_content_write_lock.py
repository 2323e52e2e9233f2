"""A create holds its transaction (SQLite's write lock) only to insert: validation, the
slug, the workflow and the rows are worked out before it. (Concurrent creates racing for
one generated slug: tests/test_content_concurrency.py.)"""

import pytest

from app.db.database import is_postgres
from app.db.models import Content, ContentVersion, Media, WorkflowHistory, bind_models, new_id, now_ms
from tests.fixtures.app import is_request_log
from tests.fixtures.content import insert_items

pytestmark = pytest.mark.backends


@pytest.fixture
def in_transaction(env, client, monkeypatch):
    """``in_transaction()`` -> the SQL run inside a transaction since the last call (each
    statement of a multi-statement query too: PostgreSQL runs one as a transaction)."""
    db = env.DB.db
    bind_models(db)
    seen = []
    original = db.execute_sql

    def execute_sql(sql, params=None, *args, **kwargs):
        if is_request_log(sql):
            pass
        elif db.in_transaction():
            seen.append(sql)
        elif "; " in sql:  # several statements in one query: one transaction of their own
            seen.extend(sql.split("; "))
        return original(sql, params, *args, **kwargs)

    monkeypatch.setattr(db, "execute_sql", execute_sql)

    def take():
        taken = list(seen)
        seen.clear()
        return taken

    # A worker's first request records its plugins' hooks and routes (plugin_hooks,
    # plugin_routes) in a transaction of its own: make it before the writes are watched.
    client.get("/api/content", status=200)
    return take


def test_a_create_transaction_only_inserts_its_three_rows(env, client, blog_collection, as_editor, in_transaction):
    _, headers = as_editor
    in_transaction()
    body = {"collectionId": "blog", "title": "Short Lock", "data": {"title": "Short Lock", "views": 3}}
    created = client.post_json("/api/content", body, headers=headers, status=201).json["data"]
    statements = in_transaction()
    if is_postgres(env.DB.db):
        # The answer's read rides last in the INSERTs' query (one round trip; no write lock to
        # hold), the collection's row lock first (the schema the data was checked against).
        read = statements.pop()
        assert read.startswith("SELECT") and 'WHERE ("t1"."id" = %s)' in read
        assert statements.pop(0) == 'SELECT 1 FROM "collections" WHERE "id" = %s FOR SHARE'
    tables = [sql.split('"')[1] for sql in statements]
    assert tables == ["content", "workflow_history", "content_versions"], statements
    assert all(sql.startswith("INSERT INTO") for sql in statements)
    assert created["slug"] == "short-lock" and created["version_number"] == 1
    version = ContentVersion.get(ContentVersion.content == created["id"])
    assert version.data["data"] == {"title": "Short Lock", "views": 3} and version.data["status"] == "draft"
    [entry] = WorkflowHistory.select().where(WorkflowHistory.content == created["id"])
    assert (entry.from_state_id, entry.to_state_id, entry.metadata) == (
        None, "draft", {"action": "created", "version": 1})



def test_an_update_checks_its_fields_before_taking_the_lock(client, blog_collection, as_editor, in_transaction):
    editor, headers = as_editor
    image = Media.create(id=new_id(), filename="i", original_name="i", mime_type="image/png", size=1,
                         r2_key=new_id(), public_url="/files/i", uploaded_by=editor.id, uploaded_at=now_ms())
    [item] = insert_items(blog_collection, editor, 1, status="draft")
    in_transaction()
    body = {"title": "Edited", "featuredImageId": image.id, "data": {"title": "Edited"}}
    updated = client.put_json(f"/api/content/{item}", body, headers=headers, status=200).json["data"]
    statements = in_transaction()
    assert not [sql for sql in statements if '"workflows"' in sql], statements
    # The new featured image is looked up once more in it, under its lock (locks.hold_media):
    # a purge must not delete it between the check and the write. Validation stays outside.
    assert [sql for sql in statements if '"media"' in sql] == [
        sql for sql in statements if sql.startswith('SELECT "t1"."id" FROM "media"') and "ORDER BY" in sql], statements
    assert len([sql for sql in statements if '"media"' in sql]) == 1, statements
    assert updated["title"] == "Edited" and Content.get_by_id(item).featured_image_id == image.id
    assert updated["version_number"] == 2
    client.put_json(f"/api/content/{item}", {"featuredImageId": "nope"}, headers=headers, status=422)
    assert in_transaction() == []  # refused before any transaction
