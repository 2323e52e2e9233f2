"""The logs list with several categories, at depth, on SQLite and PostgreSQL.

On SQLite ``category=a,b`` is read as a UNION ALL of one arm per category, ordered and
paged, which SQLite answers by merging the arms, each read newest first from its index;
PostgreSQL keeps the single ``category IN (...)`` query, which it reads by walking
``created_at`` (``app.services.logs``). Every category listed is no condition at all.
Checked against a seeded database of ``ROWS`` rows, pairs of them sharing a millisecond
within a category and fours across two:

* the statements: PostgreSQL's page is the single query (no UNION); every category listed
  reads no ``category`` column, in the page and in the count, on both.
* the plans: on SQLite no step sorts rows read from ``system_logs`` as a whole (a
  ``USE TEMP B-TREE FOR ORDER BY`` whose rows come straight from the table), which the
  single ``category IN (...)`` query did, sorting every matching row of the range to take a
  page; the arms are merged as they are read, each only as far as the page's end, with
  no sort of whole rows at all.
  On PostgreSQL no ``Sort`` node, sequential or bitmap scan at all.
* the rows: every page of the API's list (and its export and the admin's page) is the page
  of the simple query (one ``IN``, ``ORDER BY created_at DESC, id DESC``), ties included.
"""

import re

import pytest

from app.db.database import is_postgres
from app.db.models import SystemLog, bind_models
from app.services.log_buffer import flush_process_buffer
from app.services.logs import CATEGORIES, LogFilters, list_logs
from tests.fixtures.app import client_for, module_env, record_statements
from tests.fixtures.users import bearer, create_user, token_for
from tests.test_query_depth import plan

ROWS = 6_000
T0 = 1_700_000_000_000  # 2023-11-14: far before the request logs the tests' own requests write
LAST = T0 + ROWS // 4 - 1  # four rows a millisecond
UNTIL = f"until={LAST}"  # keeps each list to the seeded rows
# Rows i and i + 1 share a millisecond and a category (a tie the id breaks); each
# millisecond holds two categories; the ids are not in the order of the rows' times.
_CATEGORY = ("CASE (i / 2 + i / 16) % 8 " + " ".join(f"WHEN {n} THEN '{name}'" for n, name in enumerate(CATEGORIES))
             + " END")
_LEVEL = "CASE i % 3 WHEN 0 THEN 'info' WHEN 1 THEN 'warn' ELSE 'error' END"
_COLUMNS = "id, level, category, message, created_at"
SQLITE_SEED = (
    f"WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < {ROWS - 1})"
    f" INSERT INTO system_logs ({_COLUMNS}) SELECT printf('l%06d', (i * 7919) % {ROWS}), {_LEVEL}, {_CATEGORY},"
    " 'row ' || i, ? + i / 4 FROM n")
POSTGRES_SEED = (
    f"INSERT INTO system_logs ({_COLUMNS}) SELECT 'l' || lpad(((i * 7919) %% {ROWS})::text, 6, '0'),"
    f" {_LEVEL.replace('%', '%%')}, {_CATEGORY.replace('%', '%%')}, 'row ' || i, %s + i / 4 FROM generate_series(0, {ROWS - 1}) AS i")
# A sort of rows read straight from a table (not from a subquery's limited rows).
_WHOLE_SORT = "USE TEMP B-TREE FOR ORDER BY"
_READS_TABLE = re.compile(r"(SCAN|SEARCH) t\d+\b")
_PG_FULL = re.compile(r"^\s*(->\s*)?(Sort\s+\(|Seq Scan on |Bitmap Heap Scan on )")


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def deep(request, tmp_path_factory):
    """A migrated database of ``ROWS`` seeded log rows, and an editor's headers."""
    with module_env(request, tmp_path_factory, "log_category_pages") as env:
        db = env.DB.db
        with db.atomic():
            db.execute_sql(POSTGRES_SEED if is_postgres(db) else SQLITE_SEED, (T0,))
        if is_postgres(db):
            # As autovacuum would by now. SQLite keeps no statistics unless ANALYZE runs, which
            # the app never does: its planner trusts the (category, created_at) index.
            db.execute_sql("ANALYZE")
        editor = create_user("editor")
        yield env, bearer(token_for(editor))
        flush_process_buffer()  # the requests' log rows, while the database exists


@pytest.fixture
def captured(deep, monkeypatch):
    env, _ = deep
    bind_models(env.DB.db)
    return record_statements(env.DB.db, monkeypatch)


def simple_ids(categories, levels=None, since=None):
    """The ids the single query lists: one ``IN``, newest first, the id breaking ties."""
    query = SystemLog.select(SystemLog.id).where(SystemLog.category.in_(categories), SystemLog.created_at <= LAST)
    if levels:
        query = query.where(SystemLog.level.in_(levels))
    if since is not None:
        query = query.where(SystemLog.created_at >= since)
    return [row.id for row in query.order_by(SystemLog.created_at.desc(), SystemLog.id.desc())]


def full_sorts(rows):
    """SQLite EXPLAIN QUERY PLAN rows ``(id, parent, _, detail)`` that sort a table's rows whole:
    a ``USE TEMP B-TREE FOR ORDER BY`` step beside a step reading the table itself."""
    return [detail for _, parent, _, detail in rows if detail == _WHOLE_SORT
            and any(_READS_TABLE.match(other) for _, other_parent, _, other in rows if other_parent == parent)]


def page_statement(statements):
    [found] = [(sql, params) for sql, params in statements if "ORDER BY" in sql and '"system_logs"' in sql]
    return found


FILTERS = [
    ("category=auth,security", ["auth", "security"], None, None),
    ("category=api,media,error", ["api", "media", "error"], None, None),
    ("category=" + ",".join(CATEGORIES), list(CATEGORIES), None, None),
    ("category=workflow,plugin&level=warn,error", ["workflow", "plugin"], ["warn", "error"], None),
    (f"category=system&category=auth&since={T0 + 700}", ["system", "auth"], None, T0 + 700),
]


@pytest.mark.parametrize("limit", [7, 50, 100])
@pytest.mark.parametrize("query, categories, levels, since", FILTERS)
def test_every_page_is_the_simple_querys(deep, query, categories, levels, since, limit):
    env, headers = deep
    client = client_for(env)
    expected = simple_ids(categories, levels, since)
    assert len(expected) > 3 * limit  # several pages, the last one short
    pages = -(-len(expected) // limit)
    for page in (*range(1, 4), pages - 1, pages, pages + 1):
        body = client.get(f"/admin/api/logs?{query}&{UNTIL}&limit={limit}&page={page}", headers=headers).json
        assert [entry["id"] for entry in body["data"]] == expected[(page - 1) * limit:page * limit], page
        assert body["meta"]["total"] == len(expected)


@pytest.mark.parametrize("query, categories, levels, since", FILTERS)
def test_the_export_lists_the_simple_querys_rows(deep, query, categories, levels, since):
    env, headers = deep
    client = client_for(env)
    expected = simple_ids(categories, levels, since)
    exported = client.get(f"/admin/api/logs/export?format=json&{query}&{UNTIL}", headers=headers)
    assert [entry["id"] for entry in exported.json["data"]] == expected
    assert exported.headers["X-Export-Truncated"] == "false"


def test_the_admins_page_lists_the_simple_querys_rows(deep):
    env, headers = deep
    client = client_for(env)
    expected = simple_ids(["auth", "security"])
    for page in (1, 2, 9):
        listed = client.get(f"/admin/logs?category=auth,security&until={LAST}&page={page}", headers=headers)
        links = [link["href"].rsplit("/", 1)[1] for link in listed.html.select("table.logs a.log-link")]
        assert links == expected[(page - 1) * 50:page * 50]


def test_a_multi_category_page_sorts_no_rows_read_from_the_table(deep, captured):
    env, headers = deep
    client_for(env).get(f"/admin/api/logs?category=auth,security,error&since={T0 + 300}&until={T0 + 1200}"
                        "&limit=20&page=3", headers=headers)
    sql, params = page_statement(captured)
    lines = plan(env.DB.db, sql, params)
    if is_postgres(env.DB.db):
        # The single query: it walks created_at newest first and stops at the page's end.
        assert "UNION" not in sql and '"category" IN (%s, %s, %s)' in sql, sql
        assert [line for line in lines if _PG_FULL.match(line)] == [], "\n".join(lines)
        return
    rows = env.DB.db.execute_sql(f"EXPLAIN QUERY PLAN {sql}", params).fetchall()
    assert full_sorts(rows) == [], rows
    # Each category reads its own stretch of (category, created_at), as far as the page needs.
    searches = [line for line in lines if _READS_TABLE.match(line)]
    assert len(searches) == 3 and all(
        "idx_system_logs_category_created (category=? AND created_at>? AND created_at<?)" in line
        for line in searches), lines
    # ...merged as they are read, each arm pulled only as far as the page's end: no step
    # sorts rows whole, neither the table's nor an arm's (which a LIMIT in each arm brings).
    assert "MERGE (UNION ALL)" in lines and _WHOLE_SORT not in lines, lines


def test_every_category_listed_reads_no_category(deep, captured):
    env, headers = deep
    body = client_for(env).get(f"/admin/api/logs?category={','.join(reversed(CATEGORIES))}&category=auth"
                               f"&{UNTIL}&limit=20&page=2", headers=headers).json
    reads = [sql for sql, _ in captured if '"system_logs"' in sql]  # the count and the page
    assert len(reads) == 2 and not any(re.search(r"\"category\" (IN|=)|UNION", sql) for sql in reads), reads
    assert [entry["id"] for entry in body["data"]] == simple_ids(list(CATEGORIES))[20:40]


def test_a_category_given_twice_lists_its_rows_once(deep, captured):
    env, _ = deep
    rows, total = list_logs(LogFilters(category=("auth", "security", "auth"), until=LAST), 3, 20)
    assert [row.id for row in rows] == simple_ids(["auth", "security"])[40:60]
    assert total == len(simple_ids(["auth", "security"]))
    rows, _ = list_logs(LogFilters(category=("auth", "auth"), until=LAST), 1, 20)
    assert [row.id for row in rows] == simple_ids(["auth"])[:20]


def test_the_whole_sort_detector_catches_the_single_querys_sort(deep):
    env, _ = deep
    if is_postgres(env.DB.db):
        pytest.skip("SQLite's plan steps")
    sql = ("SELECT * FROM system_logs AS t1 WHERE category IN (?, ?) AND created_at >= ? AND created_at <= ?"
           " ORDER BY created_at DESC, id DESC LIMIT 20")
    rows = env.DB.db.execute_sql(f"EXPLAIN QUERY PLAN {sql}", ("auth", "security", T0, LAST)).fetchall()
    assert full_sorts(rows) == [_WHOLE_SORT]


def test_one_category_still_reads_its_index_in_order(deep, captured):
    env, headers = deep
    client_for(env).get(f"/admin/api/logs?category=auth&{UNTIL}&since={T0}&limit=20", headers=headers)
    sql, params = page_statement(captured)
    assert "UNION" not in sql
    lines = plan(env.DB.db, sql, params)
    if is_postgres(env.DB.db):
        assert [line for line in lines if _PG_FULL.match(line)] == [], "\n".join(lines)
    else:
        assert full_sorts(env.DB.db.execute_sql(f"EXPLAIN QUERY PLAN {sql}", params).fetchall()) == []

