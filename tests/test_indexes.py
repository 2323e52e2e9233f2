"""Every hot query uses an index (D8), checked with SQLite's EXPLAIN QUERY PLAN.

Two layers:

* ``HOT_QUERIES``: hand-written SQL for the hot queries of the schema's design, planned on a migrated
  database without ANALYZE statistics (SQLite then plans as for a large table);
* the SQL the app really runs: requests through the real app (and the cron's log purge)
  with the Peewee database's ``execute_sql`` wrapped, on a seeded database, each captured
  statement planned with its own parameters. Hand-written SQL can drift from what the ORM
  builds; these cannot.

A plan line ``SCAN <table>`` without ``USING [COVERING] INDEX`` is a full table scan and
fails the test. Queries whose index was built to return rows in order must also not sort
(``USE TEMP B-TREE FOR [RIGHT PART OF] ORDER BY``).
"""

import random
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from app.db.database import open_postgres, open_sqlite
from app.db.migrations import MigrationRunner
from app.db.models import (
    Collection,
    Content,
    Media,
    MediaPendingObject,
    SystemLog,
    User,
    bind_models,
    now_ms,
)
from app.runtime.context import ScheduledEvent
from app.scheduled import purge_expired_logs, sweep_media_orphans
from tests.fixtures.app import env_with_copy, record_statements
from tests.fixtures.auth import PASSWORD, fast_client, hashed
from tests.fixtures.users import bearer, token_for

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"

# name: (sql, parameters, must come out of the index already ordered)
HOT_QUERIES = {
    "content of a collection by status, newest first": (
        "SELECT id, title, slug, published_at FROM content "
        "WHERE collection_id = ? AND status = ? ORDER BY published_at DESC LIMIT 20",
        ("col-1", "published"), True),
    "total for the same list": (
        "SELECT COUNT(*) FROM content WHERE collection_id = ? AND status = ?",
        ("col-1", "published"), False),
    "content with author, collection and featured image in one query": (
        "SELECT c.id, c.title, u.email, col.name, m.public_url FROM content c "
        "JOIN users u ON u.id = c.author_id JOIN collections col ON col.id = c.collection_id "
        "LEFT JOIN media m ON m.id = c.featured_image_id "
        "WHERE c.collection_id = ? AND c.status = ? ORDER BY c.published_at DESC LIMIT 20",
        ("col-1", "published"), True),
    "published content across collections": (
        "SELECT id, title, slug, published_at FROM content "
        "WHERE status = 'published' ORDER BY published_at DESC LIMIT 20",
        (), True),
    "content by slug within a collection": (
        "SELECT * FROM content WHERE collection_id = ? AND slug = ?", ("col-1", "hello"), False),
    "content by slug": ("SELECT * FROM content WHERE slug = ?", ("hello",), False),
    "content by author": (
        "SELECT * FROM content WHERE author_id = ? ORDER BY updated_at DESC LIMIT 20", ("u-1",), False),
    "content by author and status": (
        "SELECT id FROM content WHERE author_id = ? AND status = ? ORDER BY published_at DESC",
        ("u-1", "draft"), True),
    "live media of a folder, newest first": (
        "SELECT * FROM media WHERE folder = ? AND deleted_at IS NULL ORDER BY uploaded_at DESC LIMIT 50",
        ("uploads",), True),
    "live media": ("SELECT * FROM media WHERE deleted_at IS NULL LIMIT 50", (), False),
    "system logs, newest first": (
        "SELECT * FROM system_logs ORDER BY created_at DESC LIMIT 50", (), True),
    "system logs of a category, newest first": (
        "SELECT * FROM system_logs WHERE category = ? ORDER BY created_at DESC LIMIT 50", ("api",), True),
    "a user's log rows (the logs API's user filter; deleting a user checks them)": (
        "SELECT id FROM system_logs WHERE user_id = ?", ("u-1",), False),
    "retention purge": (
        "DELETE FROM system_logs WHERE category = ? AND created_at < ?", ("api", 0), False),
    "user by email": ("SELECT * FROM users WHERE email = ?", ("a@example.com",), False),
    "active user by email (login)": (
        "SELECT * FROM users WHERE email = ? AND is_active = 1", ("a@example.com",), False),
    "API token by hash": ("SELECT * FROM api_tokens WHERE token = ?", ("hash",), False),
    "permissions of a role": (
        "SELECT p.name FROM role_permissions rp JOIN permissions p ON p.id = rp.permission_id "
        "WHERE rp.role = ?", ("editor",), False),
    "allowed transition": (
        "SELECT required_permission FROM workflow_transitions "
        "WHERE workflow_id = ? AND from_state_id = ? AND to_state_id = ?",
        ("default-workflow", "draft", "published"), False),
    "workflow history of an item": (
        "SELECT * FROM workflow_history WHERE content_id = ? ORDER BY created_at", ("c-1",), True),
    "the activity feed: content writes and workflow moves, newest first": (
        "SELECT h.id, c.title, s.name FROM workflow_history h JOIN content c ON c.id = h.content_id "
        "JOIN workflow_states s ON s.id = h.to_state_id ORDER BY h.created_at DESC LIMIT 10", (), True),
    "the activity feed: plugin changes, newest first": (
        "SELECT * FROM plugin_activity_log ORDER BY created_at DESC LIMIT 10", (), True),
    "versions of an item": (
        "SELECT * FROM content_versions WHERE content_id = ? ORDER BY version DESC", ("c-1",), True),
    "due scheduled actions (cron)": (
        "SELECT * FROM scheduled_content WHERE status = 'pending' AND scheduled_at <= ? "
        "ORDER BY scheduled_at LIMIT 100", (0,), True),
    "hook handlers in priority order": (
        "SELECT * FROM plugin_hooks WHERE hook_name = ? AND is_active = 1 ORDER BY priority",
        ("content:create",), True),
    "managed active collections": (
        "SELECT id FROM collections WHERE managed = 1 AND is_active = 1", (), False),
}

# Composite, covering and partial indexes of the schema's indexing strategy, plus the unique
# slug-per-collection index the application relies on.
STRATEGY_INDEXES = {
    "idx_content_author_status", "idx_media_folder_type",
    "idx_content_published_covering", "idx_active_users", "idx_published_content",
    "idx_content_collection_slug", "idx_collections_managed_active",
}

_FULL_SCAN = re.compile(r"\bSCAN (\w+)\b(?! USING (?:COVERING )?INDEX)")


@pytest.fixture(scope="module")
def migrated_sqlite(tmp_path_factory):
    """One migrated SQLite database for all plan checks (they only read)."""
    db = open_sqlite(tmp_path_factory.mktemp("indexes") / "d1.sqlite")
    MigrationRunner(db, MIGRATIONS_DIR).apply()
    yield db
    db.close()


def query_plan(db, sql, params):
    """The ``detail`` column of EXPLAIN QUERY PLAN, one string per plan step."""
    return [row[3] for row in db.execute_sql(f"EXPLAIN QUERY PLAN {sql}", params).fetchall()]


def full_scans(plan):
    """Tables the plan reads in full (a SCAN that is not through an index)."""
    return [match.group(1) for line in plan for match in _FULL_SCAN.finditer(line)]


@pytest.mark.parametrize("name", HOT_QUERIES)
def test_hot_query_uses_an_index(migrated_sqlite, name):
    sql, params, ordered = HOT_QUERIES[name]
    plan = query_plan(migrated_sqlite, sql, params)

    assert full_scans(plan) == [], f"{name}: full table scan in {plan}"
    if ordered:
        assert not any("TEMP B-TREE" in line for line in plan), f"{name}: sorts instead of reading in order: {plan}"


def test_full_scan_detector_catches_a_scan():
    """The check itself: an unindexed filter is reported, index scans are not."""
    assert full_scans(["SCAN media"]) == ["media"]
    assert full_scans(["SCAN system_logs USING INDEX idx_system_logs_created_at"]) == []
    assert full_scans(["SCAN c USING COVERING INDEX idx_x"]) == []


def test_unindexed_query_is_detected(migrated_sqlite):
    plan = query_plan(migrated_sqlite, "SELECT * FROM media WHERE caption = ?", ("x",))
    assert full_scans(plan) == ["media"]


def test_strategy_indexes_exist_with_their_shape(migrated_sqlite):
    found = dict(migrated_sqlite.execute_sql(
        "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL").fetchall())

    assert set(found) >= STRATEGY_INDEXES
    assert "WHERE is_active = 1" in found["idx_active_users"]
    assert "WHERE user_id IS NOT NULL" in found["idx_system_logs_user_id"]  # anonymous rows skip it
    assert "WHERE status = 'published'" in found["idx_published_content"]
    assert "published_at DESC" in found["idx_content_author_status"]
    assert found["idx_content_collection_slug"].startswith("CREATE UNIQUE INDEX")


def test_postgres_gets_the_same_indexes(migrated_sqlite, fresh_postgres_url):
    """The same SQL builds the same named indexes on PostgreSQL (partial and DESC included)."""
    pg = open_postgres(fresh_postgres_url)
    try:
        MigrationRunner(pg, MIGRATIONS_DIR).apply()
        pg_indexes = dict(pg.execute_sql(
            "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = current_schema()").fetchall())
    finally:
        pg.close_all()
    sqlite_named = {name for (name,) in migrated_sqlite.execute_sql(
        "SELECT name FROM sqlite_master WHERE type = 'index' AND name LIKE 'idx_%'").fetchall()}

    assert sqlite_named <= set(pg_indexes)
    assert "WHERE (is_active = 1)" in pg_indexes["idx_active_users"]
    assert "WHERE (user_id IS NOT NULL)" in pg_indexes["idx_system_logs_user_id"]
    assert "published_at DESC" in pg_indexes["idx_content_collection_status_published"]


# ----------------------------------------------- the SQL the app really runs, captured

# The seeded database: enough rows, spread like a live site, that an index is worth more
# to the planner than a scan, and that ANALYZE (below) has real distributions to record.
SEED = {"users": 300, "collections": 8, "content": 8000, "media": 3000, "logs": 12000}
LOG_CATEGORIES = ("auth", "api", "workflow", "plugin", "media", "system", "security", "error")
DAY_MS = 24 * 3600 * 1000
_EXPLAINED = ("SELECT", "UPDATE", "DELETE", "WITH")
# Whole-table reads that are deliberate; each names why it cannot grow.
ALLOWED_SCANS = {
    # The purge reads every retention setting: one row per category of log_config's CHECK.
    "log_config",
    # Public reads leave out deactivated collections with a subquery run once per query;
    # collections are definitions (a site has tens), so the planner may rightly read them
    # all instead of going through idx_collections_active.
    "collections",
    # An unfiltered list's total sums the counts the triggers keep: a few rows per collection.
    "content_counts",
    # A filtered list's total counts the rows of its own LIMIT-ed subquery (found by index).
    "matching",
}
_SORT = re.compile(r"USE TEMP B-TREE FOR (?:RIGHT PART OF |LAST TERM OF )?ORDER BY")
_FROM_TABLE = re.compile(r'\b(?:FROM|UPDATE|JOIN)\s+"(\w+)"(?:\s+AS\s+"(\w+)")?', re.IGNORECASE)


def _seed_site(db, rnd):
    """Users, collections, content (mostly published, some drafts, archived and deleted),
    media over a dozen folders (some in the trash) and a year of system logs."""
    now = now_ms()
    users = [{"id": f"u{i}", "email": f"user{i}@example.com", "username": f"user{i}", "first_name": "User",
              "last_name": str(i), "role": ("author", "editor", "viewer")[i % 3], "created_at": now,
              "updated_at": now} for i in range(SEED["users"])]
    users[0].update(role="author", password_hash=hashed())
    collections = [{"id": f"col{i}", "name": f"section-{i}", "display_name": f"Section {i}", "schema": {"type": "object"},
                    "created_at": now, "updated_at": now} for i in range(SEED["collections"])]
    content = []
    for i in range(SEED["content"]):
        status = rnd.choice(("published",) * 6 + ("draft",) * 3 + ("archived",))
        content.append({
            "id": f"c{i:05d}", "collection": f"col{rnd.randrange(SEED['collections'])}", "slug": f"post-{i}",
            "title": f"Post {i}", "data": {"n": i}, "status": status,
            "published_at": now - i * 60_000 if status == "published" else None,
            "author": f"u{rnd.randrange(SEED['users'])}", "created_at": now - i * 60_000, "updated_at": now - i,
            "deleted_at": now if rnd.random() < 0.05 else None,
        })
    media = [{"id": f"m{i:05d}", "filename": f"f{i}.png", "original_name": f"f{i}.png", "mime_type": "image/png",
              "size": 1000 + i, "folder": f"folder-{rnd.randrange(12)}", "r2_key": f"k/{i}.png",
              "public_url": f"/files/k/{i}.png", "uploaded_by": f"u{rnd.randrange(SEED['users'])}",
              "uploaded_at": now - i * 60_000, "deleted_at": now if rnd.random() < 0.1 else None}
             for i in range(SEED["media"])]
    logs = [{"id": f"l{i:06d}", "level": "info", "category": rnd.choice(LOG_CATEGORIES), "message": "m",
             "created_at": now - i * (365 * DAY_MS // SEED["logs"])} for i in range(SEED["logs"])]
    with db.atomic():
        for model, rows in ((User, users), (Collection, collections), (Content, content), (Media, media),
                            (SystemLog, logs)):
            for start in range(0, len(rows), 500):
                model.insert_many(rows[start:start + 500]).execute()


@pytest.fixture(scope="module", params=["fresh", "analyzed"])
def site(request, tmp_path_factory, migrated_template):
    """A migrated, seeded database, planned two ways.

    ``fresh``: no statistics, as a new D1 database and every database nobody ran ANALYZE on
    (the app never runs it): the planner assumes large tables and trusts equality lookups.
    ``analyzed``: after ANALYZE (what ``PRAGMA optimize`` would record), the planner
    weighs the real distributions: few statuses, many slugs, a dozen folders. A query
    must use its index under both, since production may be in either state.
    """
    env = env_with_copy(tmp_path_factory.mktemp(f"plans-{request.param}"), migrated_template)
    bind_models(env.DB.db)
    _seed_site(env.DB.db, random.Random(3))
    if request.param == "analyzed":
        env.DB.db.execute_sql("ANALYZE")
    yield env
    env.DB.db.close()


@pytest.fixture
def captured(site, monkeypatch):
    """Every ``(sql, params)`` the app sends through the env's Peewee database."""
    bind_models(site.DB.db)
    return record_statements(site.DB.db, monkeypatch)


@dataclass(frozen=True)
class Planned:
    """A captured statement and its plan (one ``detail`` string per step)."""

    sql: str
    params: tuple
    plan: list

    def tables(self):
        """``{alias or table: table}`` of the statement's FROM/JOIN/UPDATE targets."""
        return {alias or table: table for table, alias in _FROM_TABLE.findall(self.sql)}

    def scanned_tables(self):
        aliases = self.tables()
        return [aliases.get(name, name) for name in full_scans(self.plan)]


def plans_of(db, statements):
    """Plan every captured read, update and delete with its own parameters."""
    planned = []
    for sql, params in statements:
        if sql.lstrip().split(None, 1)[0].upper() in _EXPLAINED:
            rows = db.execute_sql(f"EXPLAIN QUERY PLAN {sql}", params).fetchall()
            planned.append(Planned(sql, params, [row[3] for row in rows]))
    return planned


def _list_page(planned, table):
    """The ordered page query on ``table`` (the one with ORDER BY and LIMIT)."""
    return _one(planned, lambda p: f'FROM "{table}"' in p.sql and "ORDER BY" in p.sql)


def _count(planned, table):
    return _one(planned, lambda p: p.sql.startswith("SELECT COUNT(") and f'"{table}"' in p.sql)


def _one(planned, predicate):
    found = [p for p in planned if predicate(p)]
    assert len(found) == 1, f"expected one such statement (a cache hit runs none): {[p.sql for p in planned]}"
    return found[0]


def _uses(statement, index):
    return any(f" INDEX {index} " in f"{line} " for line in statement.plan)


def _request_collection_list(client, site):
    client.get("/api/collections/section-1/content", {"limit": 20})


def _request_collection_item(client, site):
    slug = Content.get((Content.collection == "col2") & (Content.status == "published")
                       & Content.deleted_at.is_null()).slug
    client.get(f"/api/collections/section-2/content/{slug}")


def _request_content_list(client, site):
    client.get("/api/content", {"limit": 20})


def _request_author_list(client, site):
    client.get("/api/content", {"filter[author_id][equals]": "u7", "limit": 20})


def _request_media_folder(client, site):
    client.get("/api/media", {"folder": "folder-3"}, headers=bearer(token_for(User.get_by_id("u2"))))


def _request_login(client, site):
    client.post_json("/auth/login", {"email": "user0@example.com", "password": PASSWORD})


# A month inside the seeded year of logs (60 to 31 days ago) as the API takes it, ISO dates,
# and the bounds it must send for them in created_at's own unit, epoch milliseconds (the end
# date's whole day included).
_MONTH_START = datetime.now(UTC).date() - timedelta(days=60)
LOG_MONTH = (_MONTH_START.isoformat(), (_MONTH_START + timedelta(days=29)).isoformat())
LOG_MONTH_MS = (DAY_MS * (_MONTH_START - date(1970, 1, 1)).days,
                DAY_MS * (_MONTH_START - date(1970, 1, 1)).days + 30 * DAY_MS - 1)


def _request_log_filters(client, site):
    start, end = LOG_MONTH
    query = {"level": "info,warn", "category": "api,auth", "start_date": start, "end_date": end, "limit": 20}
    client.get("/admin/api/logs", query, headers=bearer(token_for(User.get_by_id("u1"))), status=200)  # an editor


def _request_log_month(client, site):
    start, end = LOG_MONTH
    client.get("/admin/api/logs", {"start_date": start, "end_date": end, "limit": 20},
               headers=bearer(token_for(User.get_by_id("u1"))), status=200)


def _log_reads(planned):
    """The list's page and count, each bounded to ``LOG_MONTH_MS`` by bound parameters."""
    page, count = _list_page(planned, "system_logs"), _count(planned, "system_logs")
    for statement in (page, count):
        assert '"created_at" >= ?' in statement.sql and '"created_at" <= ?' in statement.sql, statement.sql
        assert set(LOG_MONTH_MS) <= set(statement.params), statement.params
    return page, count


def _check_log_filters(planned):
    # Each category listed reads its stretch of (category, created_at) within the dates; the
    # levels are tested on those rows (level has no index: migration 0024).
    for statement in _log_reads(planned):
        assert any("idx_system_logs_category_created (category=? AND created_at>? AND created_at<?)" in line
                   for line in statement.plan), statement.plan
    # The categories' rows are merged as read, up to the page's end, not the month's sorted:
    # test_log_category_pages checks that no step sorts rows whole.
    return []


def _check_log_month(planned):
    for statement in _log_reads(planned):
        assert any("idx_system_logs_created_at (created_at>? AND created_at<?)" in line
                   for line in statement.plan), statement.plan
    return []  # read newest first by the index; id, the tie-breaker, orders the rows of one millisecond


def _run_log_purge(client, site):
    # The cron job itself, rolled back afterwards so the shared database keeps its logs.
    with site.DB.db.atomic() as transaction:
        result = purge_expired_logs(ScheduledEvent("0 3 * * *", now_ms()), site)
        transaction.rollback()
    assert result["logs_purged"] > 0  # the seeded rows hold expired logs: the DELETE has work to do


def _run_media_sweep(client, site):
    # Pending records past the grace period: a live file's key, a thumbnail key, a key of no
    # row (none of their objects is in the bucket). Rolled back like the log purge.
    stamp = now_ms() - 2 * 3600 * 1000
    keys = ["k/1.png", "k/m00001.thumb.webp", "uploads/gone.png"]  # m00001's file is k/1.png
    with site.DB.db.atomic() as transaction:
        MediaPendingObject.insert_many(
            [{"key": key, "media_id": "m00001", "reason": "upload", "created_at": stamp} for key in keys]).execute()
        result = sweep_media_orphans(ScheduledEvent("*/5 * * * *", now_ms()), site)
        transaction.rollback()
    assert result["pending_settled"] == 3


def _check_media_sweep(planned):
    by_key = [p for p in planned if '"media"' in p.sql and '"r2_key" = ?' in p.sql]
    assert len(by_key) == 3 and all(_uses(p, "idx_media_r2_key") for p in by_key)
    return []


def _check_collection_list(planned):
    page = _list_page(planned, "content")
    # The index 0012 built for exactly this list: live rows of one collection and status,
    # newest first, id as tie-breaker. The total is read from content_counts.
    assert _uses(page, "idx_content_live_collection_published"), page.plan
    assert _counted(planned)
    return [page]


def _counted(planned):
    """The unfiltered list's total came from content_counts, not from counting content."""
    return (_one(planned, lambda p: '"content_counts"' in p.sql)
            and not any(p.sql.startswith("SELECT COUNT(") for p in planned))


def _check_collection_item(planned):
    item = _one(planned, lambda p: '"slug" = ?' in p.sql)
    alias = next(alias for alias, table in item.tables().items() if table == "content")
    content_line = next(line for line in item.plan if re.match(rf"SEARCH {alias} ", line))
    # Found by its slug (idx_content_collection_slug without stats, idx_content_slug with
    # them), never by walking the collection's rows.
    assert "slug=?" in content_line, item.plan
    return []


def _check_content_list(planned):
    page = _list_page(planned, "content")
    assert _uses(page, "idx_content_live_published"), page.plan
    assert _counted(planned)
    return [page]


def _check_author_list(planned):
    page, count = _list_page(planned, "content"), _count(planned, "content")
    # Without 0014's index SQLite walked every published row testing author_id (no stats)
    # or sorted the author's rows (with stats): neither is a SCAN, so name the index.
    assert _uses(page, "idx_content_live_author_published"), page.plan
    assert _uses(count, "idx_content_live_author_published"), count.plan
    return [page]


def _check_media_folder(planned):
    page = _list_page(planned, "media")
    assert _uses(page, "idx_media_live_folder"), page.plan
    assert _uses(_one(planned, lambda p: "COUNT(" in p.sql and '"media"' in p.sql), "idx_media_live_folder")
    return [page]


def _check_login(planned):
    # In any case: an address stored before emails were lower-cased still signs in.
    lookup = _one(planned, lambda p: 'LOWER("t1"."email") = ?' in p.sql)
    assert _uses(lookup, "idx_users_email_lower"), lookup.plan
    return []


def _check_log_purge(planned):
    deletes = [p for p in planned if p.sql.startswith('DELETE FROM "system_logs"')]
    assert len(deletes) == len(LOG_CATEGORIES)  # one per category's retention
    for delete in deletes:
        assert _uses(delete, "idx_system_logs_category_created"), delete.plan
    return []


# name: (what runs the app's SQL, check naming the index it must use -> ordered list queries)
APP_QUERIES = {
    "GET /api/collections/{name}/content": (_request_collection_list, _check_collection_list),
    "GET /api/collections/{name}/content/{slug}": (_request_collection_item, _check_collection_item),
    "GET /api/content": (_request_content_list, _check_content_list),
    "GET /api/content?filter[author_id]": (_request_author_list, _check_author_list),
    "GET /api/media?folder=": (_request_media_folder, _check_media_folder),
    "POST /auth/login": (_request_login, _check_login),
    "GET /admin/api/logs?level&category&start_date&end_date": (_request_log_filters, _check_log_filters),
    "GET /admin/api/logs?start_date&end_date": (_request_log_month, _check_log_month),
    "cron purge_expired_logs": (_run_log_purge, _check_log_purge),
    "cron sweep_media_orphans": (_run_media_sweep, _check_media_sweep),
}


@pytest.mark.parametrize("name", APP_QUERIES)
def test_the_app_sql_uses_its_indexes(site, captured, name):
    run, check = APP_QUERIES[name]
    client = fast_client(site)
    run(client, site)
    statements = list(captured)
    captured.clear()
    planned = plans_of(site.DB.db, statements)
    assert planned, f"{name}: no SQL captured"

    for statement in planned:
        scanned = [t for t in statement.scanned_tables() if t not in ALLOWED_SCANS]
        assert scanned == [], f"{name}: full scan of {scanned} in {statement.plan}\n{statement.sql}"
    for page in check(planned):
        sorts = [line for line in page.plan if _SORT.search(line)]
        assert sorts == [], f"{name}: sorts instead of reading its index in order: {page.plan}"


def test_planned_statements_name_their_real_tables():
    """The scan check maps Peewee's aliases (t1, t2) back to tables, so the allow-list
    names tables; an unlisted table scanned under an alias is still reported."""
    statement = Planned('SELECT "t1"."id" FROM "log_config" AS "t1" INNER JOIN "users" AS "t2" ON (1)', (),
                        ["SCAN t1", "SCAN t2"])
    assert statement.scanned_tables() == ["log_config", "users"]
    assert _SORT.search("USE TEMP B-TREE FOR RIGHT PART OF ORDER BY")
