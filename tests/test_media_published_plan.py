"""Whether a media file is published, at depth (5,000 items), on SQLite and PostgreSQL.

A file is published when live published content uses it: as featured image, or by its id
or key in ``data``. The featured-image test is a lookup in ``content.featured_image_id``'s
index (migration 0028), so the common case, a public file that is some item's featured
image, costs the same at any depth; a file named only in ``data`` is still found.
"""

import pytest

from app.db.database import is_postgres
from app.db.models import Media, bind_models
from app.services.media import visibility
from tests.fixtures.app import module_env, record_statements
from tests.fixtures.content import create_collection
from tests.fixtures.users import create_user
from tests.test_query_depth import plan, uses

ROWS = 5_000
_COLUMNS = "id, collection_id, slug, title, data, status, published_at, author_id, created_at, updated_at"
SQLITE_SEED = (
    f"WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < {ROWS - 1})"
    f" INSERT INTO content ({_COLUMNS}) SELECT 'p' || i, ?, 'item-' || i, 'Item ' || i, '{{}}', 'published',"
    " 1700000000000 + i, ?, 1700000000000 + i, 1700000000000 + i FROM n")
POSTGRES_SEED = (
    f"INSERT INTO content ({_COLUMNS}) SELECT 'p' || i, %s, 'item-' || i, 'Item ' || i, '{{}}', 'published',"
    f" 1700000000000 + i, %s, 1700000000000 + i, 1700000000000 + i FROM generate_series(0, {ROWS - 1}) AS i")


def add_media(uploader, name):
    return Media.create(filename=f"{name}.png", original_name=f"{name}.png", mime_type="image/png", size=1,
                        r2_key=f"uploads/{name}.png", public_url=f"/files/uploads/{name}.png", uploaded_by=uploader)


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def deep(request, tmp_path_factory):
    """A migrated database with ``ROWS`` published items and four files, shared by the module."""
    with module_env(request, tmp_path_factory, "media_published") as env:
        db = env.DB.db
        author = create_user("author")
        posts = create_collection("posts")
        with db.atomic():
            db.execute_sql(POSTGRES_SEED if is_postgres(db) else SQLITE_SEED, (posts.id, author.id))
        files = {name: add_media(author, name) for name in ("featured", "draft-only", "named", "unused")}
        mark = "%s" if is_postgres(db) else "?"
        with db.atomic():
            db.execute_sql(f"UPDATE content SET featured_image_id = {mark} WHERE id = 'p17'", (files["featured"].id,))
            db.execute_sql(f"UPDATE content SET featured_image_id = {mark}, status = 'draft' WHERE id = 'p18'",
                           (files["draft-only"].id,))
            db.execute_sql(f"UPDATE content SET data = {mark} WHERE id = 'p4000'",
                           ('{"body": "<img src=\\"/files/uploads/named.png\\">"}',))
        if is_postgres(db):
            db.execute_sql("ANALYZE")
        yield env, files


@pytest.fixture
def captured(deep, monkeypatch):
    env = deep[0]
    bind_models(env.DB.db)
    return record_statements(env.DB.db, monkeypatch)


def test_published_files_are_those_live_published_content_uses(deep, captured):
    _, files = deep
    assert visibility.is_published(files["featured"].id)
    assert visibility.is_published(files["named"].id)
    assert not visibility.is_published(files["draft-only"].id)
    assert not visibility.is_published(files["unused"].id)


def test_a_featured_image_is_found_through_its_index(deep, captured):
    env, files = deep
    assert visibility.is_published(files["featured"].id)
    [(sql, params)] = captured
    lines = plan(env.DB.db, sql, params)
    assert uses(lines, "idx_content_featured_image"), lines
    # The featured-image lookup comes first: the data search is a second, separate EXISTS.
    assert sql.count('EXISTS(SELECT 1 FROM "content"') == 2, sql
    assert sql.index('"featured_image_id"') < sql.index("data"), sql
