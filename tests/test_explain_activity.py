"""At depth (20,000 history rows and 20,000 plugin changes), the activity page reads each log
newest first from its ``created_at`` index and stops at the page's end, on its first page and
on an "Older" page (``before``), on SQLite and PostgreSQL: neither reads a log whole nor sorts
every row of it.

As in ``test_query_depth.py``: the app's own SQL is captured from real requests and planned
with its own parameters. The order's last key, ``id``, only breaks ties of ``created_at``:
SQLite orders each run of equal times as it reads (a temp b-tree for the right part of the
ORDER BY), PostgreSQL with an incremental sort; both still stop at the page's end.
"""

import re

import pytest

from app.db.database import is_postgres
from app.db.models import Plugin, PluginActivity, WorkflowHistory, bind_models
from tests.fixtures.app import client_for, module_env, record_statements
from tests.fixtures.content import create_collection, insert_items
from tests.fixtures.users import bearer, create_user, token_for
from tests.test_query_depth import plan

ROWS = 20_000
PAGE = "/admin/activity-logs"
_HISTORY = ("INSERT INTO workflow_history (id, content_id, workflow_id, from_state_id, to_state_id, user_id,"
            " metadata, created_at) SELECT 'h' || i, {mark}, 'default-workflow', 'draft', 'draft', {mark},"
            " '{{\"action\": \"updated\"}}', 1700000000000 + ((i * 7919) {mod} {rows}) * 1000")
_PLUGINS = ("INSERT INTO plugin_activity_log (id, plugin_id, action, user_id, created_at)"
            " SELECT 'a' || i, {mark}, 'settings', NULL,"
            " 1700000000500 + ((i * 104729) {mod} {rows}) * 1000")
SQLITE_RANGE = f" FROM (WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < {ROWS - 1})" \
               " SELECT i FROM n)"
POSTGRES_RANGE = f" FROM generate_series(0, {ROWS - 1}) AS i"


def seeds(postgres):
    mark, mod, numbers = ("%s", "%%", POSTGRES_RANGE) if postgres else ("?", "%", SQLITE_RANGE)
    return (_HISTORY.format(mark=mark, mod=mod, rows=ROWS) + numbers,
            _PLUGINS.format(mark=mark, mod=mod, rows=ROWS) + numbers)


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def deep(request, tmp_path_factory):
    """A seeded app per database and an editor's headers, shared by the module's read-only tests."""
    with module_env(request, tmp_path_factory, "activity_depth") as env:
        db = env.DB.db
        editor = create_user("editor")
        plugin = Plugin.create(id="depth", name="depth", display_name="Depth", version="1", author="t",
                               category="test")
        [item] = insert_items(create_collection("shop"), editor, 1)
        history, plugins = seeds(is_postgres(db))
        with db.atomic():
            db.execute_sql(history, (item, editor.id))
            db.execute_sql(plugins, (plugin.id,))
            _seed_rare_user(item, plugin)
        if is_postgres(db):
            db.execute_sql("ANALYZE")
        yield env, client_for(env), bearer(token_for(editor))


RARE_ENTRIES = 3  # of each log, by a user who did little among the many rows above


def _seed_rare_user(item, plugin):
    """A user with ``RARE_ENTRIES`` entries in each log, among the oldest."""
    rare = create_user("editor", email="rare@example.com")
    for n in range(RARE_ENTRIES):
        WorkflowHistory.create(id=f"rare-h{n}", content=item, workflow="default-workflow", from_state="draft",
                               to_state="draft", user=rare, metadata={"action": "updated"},
                               created_at=1_600_000_000_000 + n)
        PluginActivity.create(id=f"rare-a{n}", plugin=plugin, action="settings", user_id=rare.id,
                              created_at=1_600_000_000_000 + n)


@pytest.fixture
def captured(deep, monkeypatch):
    env = deep[0]
    bind_models(env.DB.db)
    return record_statements(env.DB.db, monkeypatch)


def log_plans(env, statements):
    """``{table: plan}`` of the page's query of each log."""
    plans = {}
    for table in ("workflow_history", "plugin_activity_log"):
        [query] = [(sql, params) for sql, params in statements if f'FROM "{table}"' in sql and "ORDER BY" in sql]
        plans[table] = plan(env.DB.db, *query)
    return plans


def reads_in_index_order(lines, index):
    """True when the plan walks ``index`` and sorts no more than runs of equal times."""
    text = "\n".join(lines)
    whole_sort = re.search(r"USE TEMP B-TREE FOR ORDER BY|(?<!Incremental )Sort\b(?! Key)", text)
    full_scan = re.search(r"^SCAN \w+$|Seq Scan on (workflow_history|plugin_activity_log)", text, re.M)
    return index in text and not whole_sort and not full_scan


INDEXES = {"workflow_history": "idx_workflow_history_created_at", "plugin_activity_log": "idx_plugin_activity_created_at"}


def test_the_first_and_an_older_page_read_each_log_from_its_time_index(deep, captured):
    env, client, editor = deep
    page = client.get(PAGE, headers={**editor, "Accept": "text/html"})
    assert len(page.html.select("table.activity tbody tr")) == 50
    for table, lines in log_plans(env, captured).items():
        assert reads_in_index_order(lines, INDEXES[table]), (table, lines)
    older = page.html.select_one("#activity-older")["href"]
    for _ in range(3):  # a few pages on, at a position
        captured.clear()
        page = client.get(older, headers={**editor, "Accept": "text/html"})
        older = page.html.select_one("#activity-older")["href"]
    assert "before=" in older and len(page.html.select("table.activity tbody tr")) == 50
    for table, lines in log_plans(env, captured).items():
        assert reads_in_index_order(lines, INDEXES[table]), (table, lines)


USER_INDEXES = {"workflow_history": "idx_workflow_history_user_created",
                "plugin_activity_log": "idx_plugin_activity_user_created"}


def test_a_page_of_one_users_activity_reads_that_users_entries_from_its_index(deep, captured):
    # The user's few entries are among the oldest: read from the time index, the page would
    # walk back through everyone's 40,000 entries before it found them. From the user's
    # index it reads theirs only (a planner may sort those few rather than read them in order).
    env, client, editor = deep
    page = client.get(f"{PAGE}?user=rare@example.com", headers={**editor, "Accept": "text/html"})
    assert len(page.html.select("table.activity tbody tr")) == 2 * RARE_ENTRIES
    for table, lines in log_plans(env, captured).items():
        text = "\n".join(lines)
        assert USER_INDEXES[table] in text and INDEXES[table] not in text, (table, lines)
        assert not re.search(r"^SCAN \w+$|Seq Scan on (workflow_history|plugin_activity_log)", text, re.M), lines
