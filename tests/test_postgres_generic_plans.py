"""PostgreSQL keeps one generic plan for a list's page at depth instead of planning each page.

A prepared statement is planned for its values five times; then PostgreSQL keeps a generic
plan when that plan costs no more than those. A LIMIT bound as a parameter is costed in a
generic plan as a tenth of the matching rows, so with some thousands of items the page's
generic plan looked dearer than planning anew, and every page was planned again (0.3 to
0.6 ms at 100,000 items, several times its execution). A page's LIMIT is part of its SQL
text on PostgreSQL (``query.page_limit``): these pages keep their generic plan at depth, and
the plan reads the same index in the same order as the plan made for the values.
"""

import pytest

from app.db.models import bind_models
from bench import query_depth

pytestmark = pytest.mark.postgres

DEPTH = 20_000
RUNS = 8  # more than the five plans PostgreSQL makes before it weighs a generic one


@pytest.fixture(scope="module")
def seeded(postgres_server, tmp_path_factory):
    """``(db, collection id)``: ``DEPTH`` items, a declared filter and sort (the benchmark's seed)."""
    url = postgres_server.create_database("generic_plans")
    db, collection_id = query_depth.build(tmp_path_factory.mktemp("generic-plans"), DEPTH, url)
    yield db, collection_id
    db.close()
    postgres_server.drop_database("generic_plans")


def page_plans(db):
    """``{statement text: (generic plans, custom plans)}`` of this connection's prepared page queries."""
    rows = db.execute_sql("SELECT statement, generic_plans, custom_plans FROM pg_prepared_statements").fetchall()
    return {text: (generic, custom) for text, generic, custom in rows if "ORDER BY" in text}


@pytest.mark.parametrize("shape", ["first page", "cursor page (middle)", "declared filter", "declared sort"])
def test_a_page_keeps_its_generic_plan_at_depth(seeded, shape):
    db, collection_id = seeded
    bind_models(db)
    db.execute_sql("DEALLOCATE ALL")
    db.connection().prepared.clear()
    params = dict(query_depth.SHAPES[shape])
    if "cursor" in params:
        params["cursor"] = query_depth.middle_cursor(collection_id, DEPTH)
        db.execute_sql("DEALLOCATE ALL")
        db.connection().prepared.clear()
    answers = [query_depth.run(collection_id, params) for _ in range(RUNS)]
    assert len(answers[0]["data"]) == 20 and all(answer == answers[0] for answer in answers)
    plans = page_plans(db)
    assert len(plans) == 1, plans
    (text, (generic, custom)), = plans.items()
    assert (custom, generic) == (5, RUNS - 5)
    assert "LIMIT 21" in text


def test_the_generic_plan_reads_the_index_the_values_plan_reads(seeded):
    db, collection_id = seeded
    bind_models(db)
    for params in (query_depth.SHAPES["declared filter"], query_depth.SHAPES["declared sort"]):
        db.execute_sql("DEALLOCATE ALL")
        db.connection().prepared.clear()
        for _ in range(RUNS):
            query_depth.run(collection_id, params)
        (statement,) = list(page_plans(db))
        name, execute = statement.split(" AS ", 1)[0].split()[1], statement.split("; EXECUTE ", 1)[1]
        assert execute.startswith(name)
        plans = {}
        for mode in ("force_custom_plan", "force_generic_plan"):
            db.execute_sql(f"SET plan_cache_mode = {mode}")
            plan = "\n".join(row[0] for row in db.execute_sql("EXPLAIN EXECUTE " + execute).fetchall())
            plans[mode] = [line.split(" on ")[0].strip(" ->") for line in plan.splitlines() if " on content " in line]
        db.execute_sql("RESET plan_cache_mode")
        assert plans["force_generic_plan"] == plans["force_custom_plan"], plans
        assert any("idx_content_" in step for step in plans["force_generic_plan"])
