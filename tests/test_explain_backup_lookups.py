"""The backup import finds the database's users by ``lower(email)`` and ``lower(username)``
through the expression indexes on them (migrations 0041 and 0038), and the slugs its content
brings through the unique index on ``(collection_id, slug)``, on SQLite and PostgreSQL,
instead of reading every user or every slug of a collection.

The import's own statements are captured and planned with their own parameters: EXPLAIN
QUERY PLAN on SQLite, EXPLAIN with sequential scans off on PostgreSQL (so the plan is an
index scan exactly when an index serves the condition).
"""

import json

import pytest
from peewee import chunked

from app.db.models import User
from app.services.backup import export_backup
from app.services.backup_import import import_backup
from tests.fixtures.app import record_statements
from tests.fixtures.content import create_collection, insert_items
from tests.fixtures.explain import plan_without_seqscan, slugs_in_other_collections

pytestmark = [pytest.mark.usefixtures("env"), pytest.mark.backends]

# Users besides the backup's: on a table this size PostgreSQL's planner prefers searching an
# index by the expression to filtering the entries of another index.
OTHERS = 3000


def add_others(db):
    """``OTHERS`` users more, then the statistics of a database in use."""
    rows = [{"email": f"other-{n}@example.com", "username": f"other-{n}", "first_name": "O", "last_name": str(n)}
            for n in range(OTHERS)]
    with db.atomic():
        for batch in chunked(rows, 500):
            User.insert_many(batch).execute()
    db.execute_sql("ANALYZE")


def searches(lines, index):
    """True when the plan searches ``index`` (never reading ``users`` whole)."""
    text = "\n".join(lines)
    if "SCAN users" in text or "Seq Scan on users" in text:
        return False
    return f"USING INDEX {index} (<expr>=?)" in text or f"Index Scan using {index}" in text \
        or f"Bitmap Index Scan on {index}" in text


@pytest.mark.parametrize("column, index", [("email", "idx_users_email_lower"),
                                           ("username", "idx_users_username_lower")])
def test_the_backup_imports_user_lookups_search_the_expression_indexes(env, make_user, monkeypatch, column, index):
    for _ in range(3):
        make_user("editor")
    db = env.DB.db
    backup = export_backup(db)
    for user in backup["data"]["users"]:
        user["email"] = user["email"].upper()  # as a backup from elsewhere may hold them
    add_others(db)
    statements = record_statements(db, monkeypatch)

    import_backup(db, json.dumps(backup))

    [(sql, params)] = [(sql, params) for sql, params in statements if f'WHERE lower("{column}") IN' in sql]
    lines = plan_without_seqscan(db, sql, params)
    assert searches(lines, index), lines


def test_the_backup_imports_slug_lookups_search_the_collection_slug_index(env, make_user, monkeypatch):
    author, _ = make_user("editor")
    db = env.DB.db
    blog = create_collection("blog")
    insert_items(blog, author, 2)
    backup = export_backup(db)
    for row in backup["data"]["content"]:
        row["id"] += "-elsewhere"  # content new here, whose slugs this database holds
    insert_items(blog, author, OTHERS, slug_prefix="other")
    slugs_in_other_collections(author, [row["slug"] for row in backup["data"]["content"]])
    db.execute_sql("ANALYZE")
    statements = record_statements(db, monkeypatch)

    report = import_backup(db, json.dumps(backup))

    assert [reason for reason in report.reasons if reason.startswith("content ")] == [
        f"content {row['id']}: slug {row['slug']!r} is taken in its collection" for row in backup["data"]["content"]]
    [(sql, params)] = [(sql, params) for sql, params in statements if 'FROM "content" WHERE "collection_id" =' in sql]
    text = "\n".join(plan_without_seqscan(db, sql, params))
    assert "SCAN content" not in text and "Seq Scan on content" not in text, text
    assert ("INDEX idx_content_collection_slug (collection_id=? AND slug=?)" in text
            or ("idx_content_collection_slug" in text and "Index Cond: ((collection_id = " in text
                and "slug = ANY" in text)), text
