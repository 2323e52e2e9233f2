"""``bench/query_depth.py`` seeds fast and checks what it seeded, on SQLite and PostgreSQL.

On PostgreSQL the seed writes with the row triggers off and the secondary indexes dropped,
then rebuilds them and the counts: the database it leaves must answer like one written
through the triggers, keep its triggers for later writes, and a seed that left the counts or
the search index behind must stop the benchmark rather than be measured.
"""

import pytest

from app.db.database import is_postgres
from bench import query_depth
from tests.fixtures.content import create_collection, insert_items
from tests.fixtures.users import create_user

DEPTH = 3_000  # three items hold the rare word


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def seeded(request, tmp_path):
    """``(db, collection id)`` of a database the benchmark built and checked."""
    server = request.getfixturevalue("postgres_server") if request.param == "postgres" else None
    url = server.create_database("bench_query_depth") if server else None
    db, collection_id = query_depth.build(tmp_path, DEPTH, url)
    yield db, collection_id
    db.close()
    if server:
        server.drop_database("bench_query_depth")


def index_names(db, table="content"):
    return query_depth._index_names(db, table)


def test_the_seed_answers_like_items_written_one_by_one(seeded):
    db, collection_id = seeded
    assert db.execute_sql("SELECT SUM(n) FROM content_counts").fetchone()[0] == DEPTH
    found = query_depth.run(collection_id, {"search": "needle", "sort": "-data.price"})
    assert sorted(item["slug"] for item in found["data"]) == ["item-0", "item-1000", "item-2000"]
    assert {"idx_content_field_category", "idx_content_sort_price"} <= index_names(db)
    if is_postgres(db):
        # Every index dropped for the seed is back, and the search vectors' own.
        assert {"idx_content_live_all_published_nl", "idx_content_slug"} <= index_names(db)
        assert "idx_content_search" in index_names(db, "content_fts")


def test_the_triggers_count_writes_after_the_seed(seeded):
    db, collection_id = seeded
    insert_items(create_collection("later"), create_user("author"), 2, data=lambda i: {"name": "haystack"})
    assert db.execute_sql("SELECT SUM(n) FROM content_counts").fetchone()[0] == DEPTH + 2
    assert query_depth.run(None, {"search": "haystack"})["meta"]["total"] == 2
    assert query_depth.run(collection_id, {})["meta"]["total"] == DEPTH


def test_a_wrong_count_stops_the_benchmark(seeded):
    db, collection_id = seeded
    db.execute_sql("UPDATE content_counts SET n = n - 1")
    with pytest.raises(SystemExit, match="total 2999, seeded 3000"):
        query_depth.check_seed(db, collection_id, DEPTH)


def test_a_search_index_left_behind_stops_the_benchmark(seeded):
    db, collection_id = seeded
    if is_postgres(db):
        db.execute_sql("DROP INDEX idx_content_search")
        expected = "index missing: idx_content_search"
    else:
        db.execute_sql("INSERT INTO content_fts (content_fts) VALUES ('delete-all')")
        expected = "search found 0 of 3"
    with pytest.raises(SystemExit, match=expected):
        query_depth.check_seed(db, collection_id, DEPTH)
