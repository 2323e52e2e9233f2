"""GET /admin/api/stats, /api/content/stats and /admin/api/storage: SonicJS's keys with real numbers."""

import re

import pytest

from app.db.database import is_postgres
from app.db.models import Media, database, new_id, now_ms
from tests.fixtures.content import create_collection, insert_items

pytestmark = pytest.mark.backends

# ISO 8601 in UTC with milliseconds, as SonicJS's `new Date().toISOString()` writes it.
ISO = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")


def add_media(user, size, deleted=False):
    Media.create(
        id=new_id(), filename="f", original_name="f", mime_type="image/png", size=size, r2_key=new_id(),
        public_url="/files/x", uploaded_by=user.id, uploaded_at=now_ms(), deleted_at=now_ms() if deleted else None,
    )


def test_stats_count_live_content_media_and_users(client, blog_collection, as_author, as_editor):
    author, _ = as_author
    editor, headers = as_editor
    news = create_collection("news", display_name="News")
    create_collection("old", is_active=False)
    insert_items(blog_collection, author, 3)
    insert_items(blog_collection, author, 2, status="draft", slug_prefix="draft")
    insert_items(news, author, 1, status="archived")
    insert_items(news, author, 1, slug_prefix="gone", deleted_at=now_ms())
    add_media(author, 100)
    add_media(author, 300)
    add_media(author, 5000, deleted=True)
    stats = client.get("/admin/api/stats", headers=headers).json
    assert stats["collections"] == 2
    assert stats["contentItems"] == 6
    assert (stats["mediaFiles"], stats["mediaSize"]) == (2, 400)
    assert stats["users"] == 2
    assert ISO.fullmatch(stats["timestamp"])
    assert stats["content"] == {
        "total": 6,
        "byStatus": {"draft": 2, "published": 3, "archived": 1},
        "deleted": 1,
        "byCollection": [
            {"id": blog_collection.id, "name": "blog", "display_name": "Blog Posts", "is_active": True, "count": 5},
            {"id": news.id, "name": "news", "display_name": "News", "is_active": True, "count": 1},
            {"id": "col-old", "name": "old", "display_name": "Old", "is_active": False, "count": 0},
        ],
    }
    assert stats["media"] == {"count": 2, "totalSize": 400, "avgSize": 200}
    assert client.get("/api/content/stats", headers=headers).json["content"] == stats["content"]


def test_empty_database_gives_zeros(client, as_admin):
    _, headers = as_admin
    stats = client.get("/api/content/stats", headers=headers).json
    assert (stats["contentItems"], stats["mediaFiles"], stats["mediaSize"]) == (0, 0, 0)
    assert stats["media"] == {"count": 0, "totalSize": 0, "avgSize": 0}


def test_stats_are_for_editors_and_admins(client, as_author, as_viewer):
    assert client.get("/admin/api/stats", status=401).json == {"error": "Authentication required"}
    for _, headers in (as_author, as_viewer):
        assert client.get("/admin/api/stats", headers=headers, status=403).json == {"error": "Insufficient permissions"}


def test_storage_adds_the_database_and_live_media(client, as_editor, as_author):
    author, author_headers = as_author
    _, headers = as_editor
    if is_postgres(database.obj):
        # The suite's PostgreSQL database is emptied between tests, not shrunk: content's
        # files may hold free space enough for the items below, as a worker's earlier tests
        # left it. TRUNCATE gives the (empty) table new, empty files, which they must grow.
        database.execute_sql("TRUNCATE content CASCADE")
    add_media(author, 1000)
    add_media(author, 24)
    add_media(author, 5000, deleted=True)
    first = client.get("/admin/api/storage", headers=headers).json
    assert first["mediaSize"] == 1024 and first["databaseSize"] > 0
    assert first["totalSize"] == first["databaseSize"] + first["mediaSize"] and ISO.fullmatch(first["timestamp"])
    insert_items(create_collection("bulk"), author, 500, data=lambda i: {"text": "x" * 2000})
    assert client.get("/admin/api/storage", headers=headers).json["databaseSize"] > first["databaseSize"]
    assert client.get("/admin/api/storage", status=401).json == {"error": "Authentication required"}
    client.get("/admin/api/storage", headers=author_headers, status=403)
