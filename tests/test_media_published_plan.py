"""Whether a media file is published, at depth (5,000 items), on SQLite and PostgreSQL.

A file is published when live published content uses it: as featured image, or by naming
it in ``data``. The featured-image test is a lookup in ``content.featured_image_id``'s
index (migration 0028); a file named in ``data`` is found through ``content_media`` (the
files each row names, kept by triggers: migration 0032) and content's primary key. Neither
reads content's JSON, so the answer costs the same at any depth, for one file
(``/files/<key>``) as for each file of a viewer's library page, and of the whole library
for its count. The plans are the app's own SQL, captured from real requests and planned
with its parameters (``EXPLAIN QUERY PLAN`` on SQLite, ``EXPLAIN`` on PostgreSQL after
ANALYZE); a plan that reads every content row fails, also once per request: 5,000 items
are enough for PostgreSQL to prefer one hashed pass over published content to a lookup
per file, where the SQL lets it.
"""

import re

import pytest

from app.db.database import is_postgres
from app.db.models import Media, bind_models, new_id, now_ms
from app.services.log_buffer import flush_process_buffer
from app.services.media import visibility
from tests.fixtures.admin import browser_for, sign_in
from tests.fixtures.app import client_for, module_env, record_statements
from tests.fixtures.auth import hashed
from tests.fixtures.content import create_collection
from tests.fixtures.users import bearer, create_user, token_for
from tests.test_query_depth import plan, uses

ROWS = 5_000
FILLERS = 200  # files every 200th item names by id, so content_media holds a row per item
_COLUMNS = "id, collection_id, slug, title, data, status, published_at, author_id, created_at, updated_at"
SQLITE_SEED = (
    f"WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < {ROWS - 1})"
    f" INSERT INTO content ({_COLUMNS}) SELECT 'p' || i, ?, 'item-' || i, 'Item ' || i,"
    f" json_object('body', 'text ' || i, 'hero', 'filler-' || (i % {FILLERS})), 'published',"
    " 1700000000000 + i, ?, 1700000000000 + i, 1700000000000 + i FROM n")
POSTGRES_SEED = (
    f"INSERT INTO content ({_COLUMNS}) SELECT 'p' || i, %s, 'item-' || i, 'Item ' || i,"
    f" json_build_object('body', 'text ' || i, 'hero', 'filler-' || (i %% {FILLERS}))::text, 'published',"
    f" 1700000000000 + i, %s, 1700000000000 + i, 1700000000000 + i FROM generate_series(0, {ROWS - 1}) AS i")
INDEX = "idx_content_media_media"
# A PostgreSQL node reading content by the file's featured image or by a content_media row's
# content id: one lookup per file, not a pass.
PG_BY_KEY = re.compile(r"(Index|Recheck) Cond: \((featured_image_id = \S+|id = t\w+\.content_id)\)")


def add_media(uploader, name, media_id=None):
    return Media.create(id=media_id or new_id(), filename=f"{name}.png", original_name=f"{name}.png",
                        mime_type="image/png", size=1, r2_key=f"uploads/{name}.png",
                        public_url=f"/files/uploads/{name}.png", uploaded_by=uploader)


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def deep(request, tmp_path_factory):
    """A migrated database with ``ROWS`` published items naming ``FILLERS`` files, and four
    more files, shared by the module."""
    with module_env(request, tmp_path_factory, "media_published") as env:
        db = env.DB.db
        author = create_user("author")
        posts = create_collection("posts")
        now = now_ms()
        with db.atomic():
            Media.insert_many([
                {"id": f"filler-{i}", "filename": "f.png", "original_name": f"filler-{i}.png", "mime_type": "image/png",
                 "size": 1, "r2_key": f"fillers/{i}.png", "public_url": f"/files/fillers/{i}.png",
                 "uploaded_by": author.id, "uploaded_at": now} for i in range(FILLERS)]).execute()
        files = {name: add_media(author, name) for name in ("featured", "draft-only", "named", "unused")}
        # Through the triggers on content, set-based, as a bulk load writes it.
        with db.atomic():
            db.execute_sql(POSTGRES_SEED if is_postgres(db) else SQLITE_SEED, (posts.id, author.id))
        mark = "%s" if is_postgres(db) else "?"
        with db.atomic():
            db.execute_sql(f"UPDATE content SET featured_image_id = {mark} WHERE id = 'p17'", (files["featured"].id,))
            db.execute_sql(f"UPDATE content SET featured_image_id = {mark}, status = 'draft' WHERE id = 'p18'",
                           (files["draft-only"].id,))
            db.execute_sql(f"UPDATE content SET data = {mark} WHERE id = 'p4000'",
                           ('{"body": "<img src=\\"https://example.com/files/uploads/named.png\\">"}',))
        env.MEDIA_BUCKET.put("uploads/named.png", b"png")
        if is_postgres(db):
            db.execute_sql("ANALYZE")
        viewer = create_user("viewer", password_hash=hashed())
        yield env, files, viewer
        flush_process_buffer()  # the requests' log rows, while the database exists


@pytest.fixture
def captured(deep, monkeypatch):
    env = deep[0]
    bind_models(env.DB.db)
    return record_statements(env.DB.db, monkeypatch)


def scans_content(sql, lines):
    """True when the plan reads content rows other than those one key finds, for each file.

    On SQLite every read of one of the SQL's aliases of content must be a SEARCH by the
    primary key or the featured image (a SEARCH by status reads every published row). On
    PostgreSQL every node on content must have such a key as its condition: a sequential
    scan counts, and so does a hashed subplan's pass, which reads every published row once
    per query instead of looking up each file.
    """
    by_key = r"SEARCH {} USING (COVERING )?INDEX \S+ \((id|featured_image_id)=\?\)"
    for alias in re.findall(r'"content" AS "(\w+)"', sql):
        if any(re.match(rf"(SCAN|SEARCH) {alias}\b", line) and not re.fullmatch(by_key.format(alias), line)
               for line in lines):
            return True
    return any(re.search(r"\bon content t\w+", line) and not any(PG_BY_KEY.search(d) for d in _details(lines, i))
               for i, line in enumerate(lines))


def _details(lines, i):
    """The lines of PostgreSQL plan node ``lines[i]`` itself (its conditions, not its children)."""
    depth = _indent(lines[i])
    found = []
    for line in lines[i + 1:]:
        if _indent(line) <= depth or line.lstrip().startswith(("->", "SubPlan", "InitPlan")):
            break
        found.append(line.strip())
    return found


def _indent(line):
    return len(line) - len(line.lstrip())


def published_checks(env, statements):
    """``(sql, plan)`` of each captured statement that asks whether files are published."""
    asked = [(sql, params) for sql, params in statements  # read before planning adds to them
             if '"media" AS "t1"' in sql and 'FROM "content_media"' in sql]
    checks = [(sql, plan(env.DB.db, sql, params)) for sql, params in asked]
    assert checks, [sql for sql, _ in statements]
    return checks


def test_published_files_are_those_live_published_content_uses(deep, captured):
    _, files, _ = deep
    assert visibility.is_published(files["featured"].id)
    assert visibility.is_published(files["named"].id)
    assert visibility.is_published("filler-7")
    assert not visibility.is_published(files["draft-only"].id)
    assert not visibility.is_published(files["unused"].id)


def test_a_featured_image_is_found_through_its_index(deep, captured):
    env, files, _ = deep
    assert visibility.is_published(files["featured"].id)
    [(sql, params)] = captured
    lines = plan(env.DB.db, sql, params)
    assert uses(lines, "idx_content_featured_image"), lines
    # The featured-image lookup comes first; the names in data are the EXISTS's second query.
    assert sql.index('"featured_image_id"') < sql.index('FROM "content_media"'), sql


@pytest.mark.parametrize("name", ["named", "unused"])
def test_a_file_named_in_data_is_found_through_content_media(deep, captured, name):
    env, files, _ = deep
    assert visibility.is_published(files[name].id) == (name == "named")
    [(sql, lines)] = published_checks(env, captured)
    assert not scans_content(sql, lines) and uses(lines, INDEX), "\n".join(lines)
    assert '"data"' not in sql, sql


def test_anonymous_files_read_no_content_row_but_the_naming_ones(deep, captured):
    env, _, _ = deep
    assert client_for(env).get("/files/uploads/named.png").body == b"png"
    for sql, lines in published_checks(env, captured):
        assert uses(lines, INDEX) and not scans_content(sql, lines), lines


def viewer_library(env, viewer):
    """``GET /api/media`` (a page of 50) as ``viewer``: the response's JSON."""
    return client_for(env).get("/api/media", {"limit": 50}, headers=bearer(token_for(viewer))).json


def test_a_viewers_library_page_reads_no_content_row_but_the_naming_ones(deep, captured):
    env, files, viewer = deep
    body = viewer_library(env, viewer)
    assert body["meta"]["total"] == FILLERS + 2  # the fillers, the featured image and the named file
    listed = {item["id"] for item in body["data"]}
    assert files["named"].id in listed and files["unused"].id not in listed
    checks = published_checks(env, captured)
    assert len(checks) >= 2  # the count and the page
    for sql, lines in checks:
        assert not scans_content(sql, lines) and uses(lines, INDEX), "\n".join(lines)


def test_a_viewers_library_count_looks_each_file_up(deep, captured):
    env, _, viewer = deep
    assert viewer_library(env, viewer)["meta"]["total"] == FILLERS + 2
    [(sql, lines)] = [(sql, lines) for sql, lines in published_checks(env, captured) if sql.startswith("SELECT COUNT(")]
    # The whole library is counted: per file by the indexes, never by one pass over content.
    assert not scans_content(sql, lines) and uses(lines, INDEX), "\n".join(lines)


def test_a_viewers_admin_media_page_looks_each_file_up(deep, captured):
    env, files, viewer = deep
    browser = browser_for(env)
    assert sign_in(browser, viewer).status_int == 303
    del captured[:]  # the sign-in's statements
    page = browser.get("/admin/media")
    assert files["named"].id in page.text and files["unused"].id not in page.text
    checks = published_checks(env, captured)
    assert len(checks) >= 3  # the count, the page and the folders
    for sql, lines in checks:
        assert not scans_content(sql, lines) and uses(lines, INDEX), "\n".join(lines)
