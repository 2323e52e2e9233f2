"""PostgreSQL: the app's fixed SQL runs as server-side prepared statements, and the pool
checks the connections it hands out without a round trip (app/db/prepared.py, app/db/database.py)."""

import time

import peewee
import psycopg2
import pytest

from app.db.database import open_postgres
from app.db.prepared import MAX_PREPARED, PreparedBatch, PreparedSQL, numbered, prepared_sql

pytestmark = pytest.mark.postgres


@pytest.fixture
def db(fresh_postgres_url):
    db = open_postgres(fresh_postgres_url)
    db.execute_sql("CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT, body TEXT)")
    db.execute_sql("INSERT INTO items VALUES (1, 'one', 'a'), (2, 'two', 'b'), (3, '50%%', 'c')")
    yield db
    db.close_all()


def prepared_statements(db):
    """``{name: the query that prepared it}`` the server holds for this thread's connection."""
    return dict(db.execute_sql("SELECT name, statement FROM pg_prepared_statements").fetchall())


def backend_pid(db):
    return db.execute_sql("SELECT pg_backend_pid()").fetchone()[0]


def test_numbered_placeholders_keep_literal_percent_signs():
    assert numbered("SELECT %s, '5%%' WHERE a = %s") == ("SELECT $1, '5%%' WHERE a = $2", 2)


def test_marked_sql_is_prepared_once_and_then_run_by_name(db):
    sql = prepared_sql('SELECT "name" FROM "items" WHERE "id" = %s')
    assert db.execute_sql(sql, (1,)).fetchall() == [("one",)]
    [(name, statement)] = [(name, text) for name, text in prepared_statements(db).items() if '"items"' in text]
    assert f'PREPARE {name} AS SELECT "name" FROM "items" WHERE "id" = $1;' in statement
    assert db.connection().prepared == {sql: name}

    assert db.execute_sql(sql, (2,)).fetchall() == [("two",)]
    assert db.execute_sql(sql, (9,)).fetchall() == []
    assert len(prepared_statements(db)) == 1  # the same statement, run by name


def test_plain_sql_is_never_prepared(db):
    db.execute_sql('SELECT "name" FROM "items" WHERE "id" = %s', (1,))
    assert prepared_statements(db) == {}


def test_values_and_percent_signs_come_back_as_from_plain_sql(db):
    sql = 'SELECT "id", "name" FROM "items" WHERE "name" LIKE %s OR "body" = %s OR "name" = \'50%%\' ORDER BY "id"'
    expected = db.execute_sql(sql, ("o%", None)).fetchall()
    for _ in range(7):  # past the five runs after which PostgreSQL may keep a generic plan
        assert db.execute_sql(prepared_sql(sql), ("o%", None)).fetchall() == expected == [(1, "one"), (3, "50%")]


def test_full_text_matches_keep_a_plan_made_for_their_words(db):
    sql = prepared_sql("SELECT id FROM items WHERE to_tsvector('simple', name) @@ to_tsquery('simple', %s)")
    assert db.execute_sql(sql, ("two",)).fetchall() == [(2,)]
    assert prepared_statements(db) == {}


def test_sql_the_server_cannot_prepare_runs_as_plain_sql(db):
    sql = PreparedSQL("SELECT %s IS NULL")  # no type to infer for $1: PREPARE refuses it
    assert db.execute_sql(sql, ("x",)).fetchall() == [(False,)]
    assert db.execute_sql(sql, (None,)).fetchall() == [(True,)]
    assert prepared_statements(db) == {}


def test_errors_are_the_plain_sqls(db):
    insert = prepared_sql('INSERT INTO "items" ("id", "name") VALUES (%s, %s)')
    db.execute_sql(insert, (4, "four"))
    with pytest.raises(peewee.IntegrityError):
        db.execute_sql(insert, (4, "again"))
    first_run = prepared_sql('INSERT INTO "items" ("id") VALUES (%s)')
    with pytest.raises(peewee.IntegrityError):  # a first run fails alike; its statement stays prepared
        db.execute_sql(first_run, (1,))
    db.execute_sql(first_run, (6,))
    db.execute_sql(insert, (5, "five"))
    assert db.execute_sql("SELECT count(*) FROM items").fetchone() == (6,)
    assert sorted(prepared_statements(db)) == sorted(db.connection().prepared.values())


def test_inside_a_transaction_a_new_statement_runs_plain_and_a_prepared_one_by_name(db):
    known = prepared_sql('SELECT "name" FROM "items" WHERE "id" = %s')
    db.execute_sql(known, (1,))
    new = prepared_sql('SELECT "body" FROM "items" WHERE "id" = %s')
    with db.atomic():
        assert db.execute_sql(known, (2,)).fetchall() == [("two",)]
        assert db.execute_sql(new, (2,)).fetchall() == [("b",)]
        assert set(prepared_statements(db)) == {db.connection().prepared[known]}
    db.execute_sql(new, (3,))  # outside: prepared now
    assert len(prepared_statements(db)) == 2


def test_a_failed_statement_in_a_transaction_rolls_it_back_as_plain_sql_would(db):
    known = prepared_sql('INSERT INTO "items" ("id", "name") VALUES (%s, %s)')
    db.execute_sql(known, (6, "six"))
    with pytest.raises(peewee.IntegrityError), db.atomic():
        db.execute_sql(known, (7, "seven"))
        db.execute_sql(known, (6, "again"))
    assert db.execute_sql("SELECT id FROM items WHERE id > 5").fetchall() == [(6,)]


def test_statements_the_server_forgot_are_run_again(db):
    sql = prepared_sql('SELECT "name" FROM "items" WHERE "id" = %s')
    db.execute_sql(sql, (1,))
    db.execute_sql("DEALLOCATE ALL")  # e.g. sent by a D1 statement through the same connection
    assert db.execute_sql(sql, (2,)).fetchall() == [("two",)]
    assert db.execute_sql(sql, (3,)).fetchall() == [("50%",)]


def test_a_changed_table_is_read_with_a_new_plan(db):
    sql = prepared_sql('SELECT * FROM "items" WHERE "id" = %s')
    assert db.execute_sql(sql, (1,)).fetchall() == [(1, "one", "a")]
    db.execute_sql("ALTER TABLE items ADD COLUMN extra TEXT DEFAULT 'x'")  # the plan's result changes shape
    assert db.execute_sql(sql, (1,)).fetchall() == [(1, "one", "a", "x")]


def test_a_connection_prepares_a_bounded_number_of_statements(db, monkeypatch):
    monkeypatch.setattr("app.db.prepared.MAX_PREPARED", 2)
    for column in ("id", "name", "body"):
        db.execute_sql(prepared_sql(f'SELECT "{column}" FROM "items" WHERE "id" = %s'), (1,))
    assert len(prepared_statements(db)) == 2 < MAX_PREPARED


def test_each_connection_prepares_its_own(fresh_postgres_url):
    first, second = open_postgres(fresh_postgres_url), open_postgres(fresh_postgres_url)
    try:
        sql = prepared_sql("SELECT %s::int + 1")
        assert first.execute_sql(sql, (1,)).fetchone() == (2,)
        assert second.execute_sql(sql, (2,)).fetchone() == (3,)
        assert len(prepared_statements(first)) == len(prepared_statements(second)) == 1
    finally:
        first.close_all()
        second.close_all()


# ------------------------------------------------------------------ the pool


def last_query(postgres_server, pid, dbname):
    conn = psycopg2.connect(host="127.0.0.1", port=postgres_server.port, user="postgres", dbname=dbname)
    try:
        with conn.cursor() as cursor:
            cursor.execute("SELECT query FROM pg_stat_activity WHERE pid = %s", (pid,))
            return cursor.fetchone()[0]
    finally:
        conn.close()


def test_the_pool_hands_out_an_idle_connection_without_a_round_trip(db, postgres_server):
    pid = backend_pid(db)
    db.execute_sql("SELECT 'marker'")
    db.close()  # back to the pool
    db.connect()  # taken again: checked without asking the server
    assert backend_pid(db) == pid
    dbname = db.database
    db.close()
    assert last_query(postgres_server, pid, dbname) == "SELECT pg_backend_pid()"  # no SELECT 1 in between


def test_the_pool_replaces_a_connection_the_server_ended(db, postgres_server):
    pid = backend_pid(db)
    db.close()
    conn = psycopg2.connect(host="127.0.0.1", port=postgres_server.port, user="postgres", dbname=db.database)
    conn.autocommit = True
    with conn.cursor() as cursor:
        cursor.execute("SELECT pg_terminate_backend(%s)", (pid,))
    conn.close()
    for _ in range(100):  # wait for the server's goodbye to reach the socket
        if db._is_closed(db._connections[0][2]):
            break
        time.sleep(0.01)
    assert db.execute_sql("SELECT name FROM items WHERE id = 1").fetchone() == ("one",)
    assert backend_pid(db) != pid


def test_a_url_may_turn_prepared_statements_off(fresh_postgres_url):
    db = open_postgres(fresh_postgres_url + "?prepared_statements=false")
    try:
        sql = prepared_sql("SELECT %s::int + 1")
        assert db.execute_sql(sql, (1,)).fetchone() == (2,)
        assert prepared_statements(db) == {} and "prepared_statements" not in db.connect_params
    finally:
        db.close_all()


INSERT_ITEM = prepared_sql('INSERT INTO "items" ("id", "name") VALUES (%s, %s)')
INSERT_BODY = prepared_sql('INSERT INTO "items" ("id", "body") VALUES (%s, %s)')


def insert_batch(db, *rows):
    """Insert ``(id, name)`` and ``(id, body)`` rows as one PreparedBatch."""
    statements = [(INSERT_ITEM if index % 2 == 0 else INSERT_BODY, row) for index, row in enumerate(rows)]
    db.execute_sql(PreparedBatch(statements), [value for _, row in statements for value in row])


def ids(db):
    return [row[0] for row in db.execute_sql("SELECT id FROM items ORDER BY id").fetchall()]


def test_a_batch_is_prepared_with_its_first_run_and_then_sent_by_name(db):
    insert_batch(db, (10, "ten"), (11, "b"))
    names = db.connection().prepared
    assert set(names) == {INSERT_ITEM, INSERT_BODY}
    assert sorted(prepared_statements(db)) == sorted(names.values())

    insert_batch(db, (12, "twelve"), (13, "b"))
    assert len(prepared_statements(db)) == 2 and ids(db) == [1, 2, 3, 10, 11, 12, 13]


def test_a_batch_is_all_or_nothing_and_its_names_stay_true(db):
    with pytest.raises(peewee.IntegrityError):
        insert_batch(db, (1, "taken"), (20, "b"))  # the first row's id is taken: the rest never ran
    assert ids(db) == [1, 2, 3]
    # Only the statement prepared before the failure is known by name: the next runs work,
    # inside a transaction too (where nothing is prepared, only run by name).
    assert list(db.connection().prepared) == [INSERT_ITEM]
    assert sorted(prepared_statements(db)) == sorted(db.connection().prepared.values())
    with db.atomic():
        db.execute_sql(INSERT_BODY, (21, "b"))
        db.execute_sql(INSERT_ITEM, (22, "x"))
    insert_batch(db, (23, "y"), (24, "b"))
    assert ids(db) == [1, 2, 3, 21, 22, 23, 24]


def test_a_batch_inside_a_transaction_runs_as_plain_sql(db):
    with db.atomic():
        insert_batch(db, (30, "thirty"), (31, "b"))
    assert prepared_statements(db) == {} and ids(db)[-2:] == [30, 31]


READ_ITEMS = prepared_sql('SELECT "id", "name" FROM "items" WHERE "id" >= %s ORDER BY "id"')


def test_a_batch_ending_in_a_select_answers_its_rows_with_the_batchs_writes(db):
    # A create's answer rides last in its INSERTs' query: it must see them, uncommitted as
    # they are, and come back in the same round trip, the first time (prepared in that query)
    # and by name afterwards.
    for first in (40, 50):
        statements = [(INSERT_ITEM, (first, "new")), (INSERT_BODY, (first + 1, "b")), (READ_ITEMS, (first,))]
        cursor = db.execute_sql(PreparedBatch(statements), [value for _, row in statements for value in row])
        assert cursor.fetchall() == [(first, "new"), (first + 1, None)]
    assert set(db.connection().prepared) == {INSERT_ITEM, INSERT_BODY, READ_ITEMS}

    statements = [(INSERT_ITEM, (1, "taken")), (READ_ITEMS, (0,))]
    with pytest.raises(peewee.IntegrityError):  # a refused row: no answer, nothing written
        db.execute_sql(PreparedBatch(statements), [value for _, row in statements for value in row])
    assert ids(db) == [1, 2, 3, 40, 41, 50, 51]
