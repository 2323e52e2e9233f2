"""The change log's index of transactions (``d1_changes.tx``), on SQLite and PostgreSQL.

Migration 0034 made it partial: changes logged before transactions were numbered (tx
NULL, most of the log of a database upgraded with a long history) are left out. Every
query that looks a transaction up must still search it; each is recorded as
``app.db.time_travel`` sends it, over a log shaped like an upgraded one, and planned:

* SQLite: EXPLAIN QUERY PLAN;
* PostgreSQL: EXPLAIN with sequential scans switched off for the statement, so the plan
  scans the table only when no index can serve.
"""

import re

import pytest

from app.db.database import is_postgres
from app.db.time_travel import history, transactions
from tests.fixtures.app import env_with_copy, make_env, record_statements
from tests.fixtures.explain import plan_without_seqscan

INDEX = "idx_d1_changes_tx"
UNNUMBERED, NUMBERED = 2000, 1000  # changes logged before 0033, and after it (3 to a transaction)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db(request, tmp_path, migrated_template):
    if request.param == "sqlite":
        env = env_with_copy(tmp_path / "app", migrated_template)
    else:
        env = make_env(tmp_path / "app", database_url=request.getfixturevalue("migrated_postgres_url"))
    yield env.DB.db
    env.DB.db.close()


def _sql(db, text):
    return text.replace("?", db.param)


def upgraded_log(db):
    """Fill the log as on a database upgraded past 0033 with a long history; return the first seq."""
    first = db.execute_sql("SELECT COALESCE(MAX(seq), 0) + 1 FROM d1_changes").fetchone()[0]
    rows = []
    for seq in range(first, first + UNNUMBERED + NUMBERED):
        numbered = seq - first >= UNNUMBERED
        rows.append((seq, seq, "content", "UPDATE", "[1]", seq - (seq - first) % 3 if numbered else None))
    with db.atomic():
        for row in rows:
            db.execute_sql(_sql(db, "INSERT INTO d1_changes (seq, changed_at, table_name, operation, row_key, tx)"
                                    " VALUES (?, ?, ?, ?, ?, ?)"), row)
    db.execute_sql("ANALYZE")
    return first


def scans(db, lines):
    """The plan's steps that read the log without an index."""
    pattern = r"Seq Scan on d1_changes" if is_postgres(db) else r"^SCAN (d1_changes|this|later)\b"
    return [line for line in lines if re.search(pattern, line.strip())]


def searches_index(db, lines):
    pattern = (rf"Index (Only )?Scan (Backward )?using {INDEX}\b|Bitmap Index Scan on {INDEX}\b" if is_postgres(db)
               else rf"USING (COVERING )?INDEX {INDEX}\b")
    return any(re.search(pattern, line) for line in lines)


def test_the_index_of_transactions_leaves_out_changes_without_a_number(db):
    if is_postgres(db):
        predicate = db.execute_sql(
            "SELECT pg_get_expr(i.indpred, i.indrelid) FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid"
            " WHERE c.relname = %s AND c.relnamespace = current_schema()::regnamespace", (INDEX,)).fetchone()[0]
        assert predicate == "(tx IS NOT NULL)"
    else:
        partial = {row[1]: row[4] for row in db.execute_sql("PRAGMA index_list(d1_changes)").fetchall()}
        assert partial[INDEX] == 1
        assert [row[2] for row in db.execute_sql(f"PRAGMA index_info({INDEX})").fetchall()] == ["tx", "seq"]


def test_every_lookup_of_a_transaction_still_searches_an_index(db, monkeypatch):
    first = upgraded_log(db)
    last = first + UNNUMBERED + NUMBERED - 1
    inside = last - 1  # a numbered transaction's middle change
    sent = record_statements(db, monkeypatch)
    transactions.commit_at_or_before(db, inside)
    transactions.commit_at_or_before(db, inside, inside)
    assert transactions.enclosing(db, inside) is not None
    with db.atomic() as transaction:
        transactions.delete_committed_through(db, inside)
        transaction.rollback()
    # A restore's undo of the transactions straddling its point (PostgreSQL runs them side by side).
    with db.atomic() as transaction:
        history._undo_newest_first(db, {}, "tx IN (?)", (last + 1,), last, 500, set(), set())
        transaction.rollback()
    monkeypatch.undo()

    planned = {sql: plan_without_seqscan(db, sql, params) for sql, params in sent if re.search(r"\btx\b", sql)}
    assert len(planned) == 5, list(planned)
    for sql, lines in planned.items():
        assert not scans(db, lines), (sql, lines)
        # PostgreSQL may answer the purge's NOT EXISTS with one hashed pass over the later changes.
        if not (is_postgres(db) and sql.startswith("DELETE")):
            assert searches_index(db, lines), (sql, lines)
