"""``index_media`` at depth (20,000 files), on SQLite and PostgreSQL: an anonymous search reads
at most ``SCAN`` files, the newest, through the library's index, and looks each file whose
words match up by its key; it never reads the whole media table.

The plans are the app's own SQL, captured from a real request and planned with its
parameters (``EXPLAIN QUERY PLAN`` on SQLite, ``EXPLAIN`` on PostgreSQL after ANALYZE).
"""

import re

import pytest

from app.db.database import is_postgres
from app.db.models import bind_models
from app.services.ai_search import media as media_search
from app.services.log_buffer import flush_process_buffer
from tests.fixtures.app import client_for, module_env, record_statements
from tests.fixtures.content import create_collection
from tests.fixtures.users import bearer, create_user, token_for
from tests.test_query_depth import plan

FILES = 20_000
_COLUMNS = "id, filename, original_name, mime_type, size, r2_key, public_url, alt, uploaded_by, uploaded_at"
SQLITE_SEED = (
    f"WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < {FILES - 1})"
    f" INSERT INTO media ({_COLUMNS}) SELECT 'm' || i, 'f' || i || '.png', 'photo-' || i || '.png', 'image/png', 1,"
    " 'uploads/' || i || '.png', '/files/uploads/' || i || '.png', CASE WHEN i % 100 = 0 THEN 'a lighthouse' END,"
    " ?, 1700000000000 + i FROM n")
POSTGRES_SEED = (
    f"INSERT INTO media ({_COLUMNS}) SELECT 'm' || i, 'f' || i || '.png', 'photo-' || i || '.png', 'image/png', 1,"
    " 'uploads/' || i || '.png', '/files/uploads/' || i || '.png', CASE WHEN i %% 100 = 0 THEN 'a lighthouse' END,"
    f" %s, 1700000000000 + i FROM generate_series(0, {FILES - 1}) AS i")
NEWEST = f"m{FILES - 100}"  # the newest lighthouse and an older one, named by a published post
OLDER = f"m{FILES - 200}"


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def deep(request, tmp_path_factory):
    """A migrated database of ``FILES`` files, a published post using two, ``index_media`` on."""
    with module_env(request, tmp_path_factory, "search_media") as env:
        db = env.DB.db
        author = create_user("author")
        with db.atomic():
            db.execute_sql(POSTGRES_SEED if is_postgres(db) else SQLITE_SEED, (author.id,))
        client_for(env).patch_json("/admin/api/plugins/ai-search", {"settings": {"index_media": True}},
                                   headers=bearer(token_for(create_user("admin"))), status=200)
        posts = create_collection("posts")
        db.execute_sql(f"INSERT INTO content (id, collection_id, slug, title, data, status, author_id, created_at,"
                       f" updated_at) VALUES ('p1', {db.param}, 'p1', 'Post', {db.param}, 'published', {db.param},"
                       " 1, 1)", (posts.id, f'{{"gallery": ["{NEWEST}", "{OLDER}"]}}', author.id))
        if is_postgres(db):
            db.execute_sql("ANALYZE")
        yield env
        flush_process_buffer()  # the requests' log rows, while the database exists


def reads_every_file(lines):
    """True when a plan reads the media table other than through an index bounded by the
    window (SQLite: a SCAN of the table; PostgreSQL: a sequential scan)."""
    return any(re.match(r"SCAN (t1|newest)$", line) or re.search(r"Seq Scan on media\b", line) for line in lines)


def test_an_anonymous_search_reads_the_newest_files_only(deep, monkeypatch):
    bind_models(deep.DB.db)
    statements = record_statements(deep.DB.db, monkeypatch)
    answer = client_for(deep).post_json("/api/search", {"query": "lighthouse"}).json["data"]
    assert [found["id"] for found in answer["media"]] == [NEWEST, OLDER]  # public: the post uses them
    searched = [(sql, params) for sql, params in statements if '"media" AS "newest"' in sql]
    assert len(searched) == 2, [sql for sql, _ in statements]  # the page and the count
    for sql, params in searched:
        assert params.count(media_search.SCAN) >= 1
        lines = plan(deep.DB.db, sql, params)
        assert not reads_every_file(lines), "\n".join(lines)
