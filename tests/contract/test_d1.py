"""Contract suite for the DB binding (``app.runtime.d1``): D1's client API.

Every test runs on a real SQLite file; the ``d1`` fixture also runs it on PostgreSQL when
``tests/fixtures/postgres.py`` provides its ``fresh_postgres_url`` fixture (a new database
per test on the suite's server). Expected behaviour is D1's, as its Workers binding
documents and answers it (result shapes, meta fields, error messages).
"""

import decimal
import re
import threading

import peewee
import pytest

from app.db.database import is_postgres, open_database, open_sqlite, release_connection
from app.db.splitter import split_statements
from app.runtime.d1 import (
    D1ColumnNotFoundError,
    D1Database,
    D1DumpError,
    D1Error,
    D1ExecError,
    D1PreparedStatement,
    D1TypeError,
    open_d1,
)
from tests.fixtures.process import free_port

META_KEYS = {
    "served_by", "duration", "changes", "last_row_id", "changed_db", "size_after", "rows_read", "rows_written",
}

# The little DDL that differs between the two databases.
DIALECT = {
    "sqlite": {"id": "INTEGER PRIMARY KEY", "blob": "BLOB"},
    "postgres": {"id": "SERIAL PRIMARY KEY", "blob": "BYTEA"},
}


# --- fixtures ---------------------------------------------------------------------------


@pytest.fixture(params=["sqlite", "postgres"])
def d1(request, tmp_path):
    """A D1Database on an empty database: a SQLite file, or a new PostgreSQL database."""
    if request.param == "sqlite":
        database = open_d1({"binding": "DB", "database_id": "contract"}, tmp_path, {})
    else:
        url = _fresh_postgres_url(request)
        database = open_d1({"binding": "DB", "database_url_env": "TEST_DB_URL"}, tmp_path, {"TEST_DB_URL": url})
    yield database
    if is_postgres(database.db):
        database.db.close_all()  # before the fixture drops the database
    else:
        database.db.close()


def _fresh_postgres_url(request):
    """A new PostgreSQL database from tests/fixtures/postgres.py; skip when it offers none."""
    try:
        return request.getfixturevalue("fresh_postgres_url")
    except pytest.FixtureLookupError:
        pytest.skip("tests/fixtures/postgres.py provides no fresh_postgres_url fixture")


@pytest.fixture
def dialect(d1):
    """"sqlite" or "postgres": which database the ``d1`` fixture opened."""
    return "postgres" if is_postgres(d1.db) else "sqlite"


@pytest.fixture
def users(d1, dialect):
    """A ``users`` table with two rows (ids 1 and 2)."""
    d1.exec(
        f"CREATE TABLE users (id {DIALECT[dialect]['id']}, email TEXT NOT NULL UNIQUE, age INTEGER)\n"
        "INSERT INTO users (email, age) VALUES ('ada@example.com', 36), ('bob@example.com', 41)"
    )
    return d1


def d1_error(call, error_class=D1Error):
    """Run ``call``, which must raise ``error_class``; return the error's message."""
    with pytest.raises(error_class) as info:
        call()
    return str(info.value)


def table_rows(d1, table="users"):
    return d1.prepare(f"SELECT * FROM {table} ORDER BY id").raw()


# --- bind -------------------------------------------------------------------------------


BIND_CASES = [
    pytest.param(None, None, id="None"),
    pytest.param(True, 1, id="True"),
    pytest.param(False, 0, id="False"),
    pytest.param(42, 42, id="int"),
    pytest.param(2**63 - 1, 2**63 - 1, id="int64-max"),
    pytest.param(-(2**63), -(2**63), id="int64-min"),
    pytest.param(1.5, 1.5, id="float"),
    pytest.param("héllo ☃", "héllo ☃", id="str"),
    pytest.param(b"\x00\xffab", b"\x00\xffab", id="bytes"),
    pytest.param(bytearray(b"\x01\x02"), b"\x01\x02", id="bytearray"),
    pytest.param(memoryview(b"\x03\x04"), b"\x03\x04", id="memoryview"),
    pytest.param([0, 127, 255], b"\x00\x7f\xff", id="list-of-bytes"),
    pytest.param([], b"", id="empty-list"),
]


@pytest.mark.parametrize(("value", "expected"), BIND_CASES)
def test_bind_accepts_d1_types(d1, value, expected):
    # BLOBs read back as bytes (JS D1 gives an array of numbers): the documented choice.
    assert d1.prepare("SELECT ? AS v").bind(value).first("v") == expected


def test_bind_stores_sqlite_storage_classes(d1, dialect):
    if dialect != "sqlite":
        pytest.skip("typeof() is SQLite's")
    row = d1.prepare(
        "SELECT typeof(?1) AS none, typeof(?2) AS bool, typeof(?3) AS int, typeof(?4) AS real,"
        " typeof(?5) AS text, typeof(?6) AS blob, typeof(?7) AS list"
    ).bind(None, True, 7, 0.5, "x", b"x", [1]).first()
    assert row == {
        "none": "null", "bool": "integer", "int": "integer", "real": "real",
        "text": "text", "blob": "blob", "list": "blob",
    }


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ({"a": 1}, "Type 'dict' not supported for value '{'a': 1}'"),
        ({1, 2}, "Type 'set' not supported for value '{1, 2}'"),
        ((1, 2), "Type 'tuple' not supported for value '(1, 2)'"),
        ([1, 256], "Type 'list' not supported for value '[1, 256]'"),
        ([1, "a"], "Type 'list' not supported for value '[1, 'a']'"),
        ([True], "Type 'list' not supported for value '[True]'"),
        (decimal.Decimal("1.5"), "Type 'Decimal' not supported for value '1.5'"),
        (2**63, f"Type 'int' not supported for value '{2**63}'"),
        (-(2**63) - 1, f"Type 'int' not supported for value '{-(2**63) - 1}'"),
    ],
)
def test_bind_rejects_other_types_at_once(d1, value, message):
    # The table does not exist: the error comes from bind() itself, before any query.
    statement = d1.prepare("INSERT INTO nowhere VALUES (?)")
    assert d1_error(lambda: statement.bind(value), D1TypeError) == f"D1_TYPE_ERROR: {message}"


def test_bind_rejects_objects(d1):
    class Thing:
        def __str__(self):
            return "thing"

    error = d1_error(lambda: d1.prepare("SELECT ?").bind(Thing()), D1TypeError)
    assert error == "D1_TYPE_ERROR: Type 'Thing' not supported for value 'thing'"


def test_bind_returns_a_new_statement_each_time(users):
    insert = users.prepare("INSERT INTO users (email, age) VALUES (?, ?)")
    first, second = insert.bind("c@example.com", 1), insert.bind("d@example.com", 2)
    assert isinstance(first, D1PreparedStatement) and first is not insert
    assert insert.values == () and first.values == ("c@example.com", 1)
    assert first.bind("e@example.com", 3).values == ("e@example.com", 3)
    assert first.values == ("c@example.com", 1)
    users.batch([first, second])
    assert [row[1:] for row in table_rows(users)[2:]] == [["c@example.com", 1], ["d@example.com", 2]]


def test_prepare_does_no_io(d1):
    statement = d1.prepare("SELECT * FROM no_such_table WHERE x = :named")
    assert statement.sql == "SELECT * FROM no_such_table WHERE x = :named"
    assert d1_error(statement.all).startswith("D1_ERROR: ")


# --- placeholders and limits ------------------------------------------------------------


def test_numbered_parameters_out_of_order(users):
    users.prepare("INSERT INTO users (age, email, id) VALUES (?3, ?1, ?2)").bind("c@example.com", 10, 50).run()
    assert users.prepare("SELECT email, age FROM users WHERE id = ?").bind(10).first() == {
        "email": "c@example.com",
        "age": 50,
    }
    assert users.prepare("SELECT ?2 AS a, ?1 AS b, ?2 AS c").bind("x", "y").raw() == [["y", "x", "y"]]


def test_bare_placeholder_after_numbered_one_takes_the_next_number(d1):
    assert d1.prepare("SELECT ?2 AS a, ? AS b, ?1 AS c").bind(1, 2, 3).raw() == [[2, 3, 1]]


def test_placeholders_inside_literals_are_text(d1):
    row = d1.prepare("SELECT '?' AS q, ':x' AS named, ? AS v -- ? in a comment").bind(5).first()
    assert row == {"q": "?", "named": ":x", "v": 5}


@pytest.mark.parametrize("sql", ["SELECT :name", "SELECT @name", "SELECT $name", "SELECT ?1, :x"])
def test_named_parameters_are_refused(d1, sql):
    assert d1_error(lambda: d1.prepare(sql).bind(1).all()).startswith("D1_ERROR: named parameters are not supported")


@pytest.mark.parametrize("placeholder", ["?0", "?101"])
def test_numbered_parameter_must_be_1_to_100(d1, placeholder):
    error = d1_error(lambda: d1.prepare(f"SELECT {placeholder}").all())
    assert error == "D1_ERROR: variable number must be between ?1 and ?100: SQLITE_RANGE"


def test_at_most_100_bound_parameters(d1):
    hundred = ", ".join(["?"] * 100)
    assert len(d1.prepare(f"SELECT {hundred}").bind(*range(100)).raw()[0]) == 100
    error = d1_error(lambda: d1.prepare(f"SELECT {hundred}, ?").bind(*range(101)).all())
    assert error.startswith("D1_ERROR: too many SQL variables")


def test_wrong_number_of_values(d1):
    error = d1_error(lambda: d1.prepare("SELECT ?, ?").bind(1).all())
    assert error == "D1_ERROR: Wrong number of parameter bindings for SQL query (expected 2, got 1): SQLITE_RANGE"


def test_sql_longer_than_100_000_bytes_is_refused(d1):
    assert d1.prepare("SELECT 1 AS v --" + "x" * 99_000).first("v") == 1
    error = d1_error(lambda: d1.prepare("SELECT 1 --" + "x" * 100_000).all())
    assert error.startswith("D1_ERROR: statement too long")


# --- results ----------------------------------------------------------------------------


def test_all_and_run_return_d1_results(users):
    for method in ("all", "run"):
        result = getattr(users.prepare("SELECT id, email FROM users ORDER BY id"), method)()
        assert result["success"] is True
        assert set(result["meta"]) == META_KEYS
        assert result["results"] == [{"id": 1, "email": "ada@example.com"}, {"id": 2, "email": "bob@example.com"}]


def test_first_returns_row_column_or_none(users):
    select = users.prepare("SELECT id, email FROM users WHERE id = ?")
    assert select.bind(2).first() == {"id": 2, "email": "bob@example.com"}
    assert select.bind(2).first("email") == "bob@example.com"
    assert select.bind(99).first() is None
    assert select.bind(99).first("missing") is None  # no row: nothing to look the column up in
    error = d1_error(lambda: select.bind(2).first("missing"), D1ColumnNotFoundError)
    assert error == "D1_COLUMN_NOTFOUND: Column not found (missing)"


def test_raw_with_and_without_column_names(users, dialect):
    users.exec(
        "CREATE TABLE abc (a INTEGER, b INTEGER, c INTEGER)\n"
        "CREATE TABLE cde (c INTEGER, d INTEGER, e INTEGER)\n"
        "INSERT INTO abc VALUES (1, 2, 3)\n"
        "INSERT INTO cde VALUES (4, 5, 6)"
    )
    join = users.prepare("SELECT * FROM abc, cde")
    assert join.raw() == [[1, 2, 3, 4, 5, 6]]
    assert join.raw(column_names=True) == [["a", "b", "c", "c", "d", "e"], [1, 2, 3, 4, 5, 6]]
    empty = users.prepare("SELECT id, email, id FROM users WHERE id < 0")
    assert empty.raw() == []
    assert empty.raw(column_names=True) == [["id", "email", "id"]]


def test_duplicate_column_names_keep_the_last_value_in_row_objects(d1):
    assert d1.prepare("SELECT 1 AS a, 2 AS a").first() == {"a": 2}


def test_writes_through_first_and_raw_still_run(users):
    assert users.prepare("INSERT INTO users (email) VALUES ('c@example.com')").first() is None
    assert users.prepare("DELETE FROM users WHERE id = 1").raw() == []
    assert [row[1] for row in table_rows(users)] == ["bob@example.com", "c@example.com"]


def test_insert_returning_gives_rows(users):
    result = users.prepare("INSERT INTO users (email) VALUES (?) RETURNING id, email").bind("c@example.com").run()
    assert result["results"] == [{"id": 3, "email": "c@example.com"}]


def test_blobs_round_trip_through_a_table(d1, dialect):
    d1.exec(f"CREATE TABLE files (id {DIALECT[dialect]['id']}, body {DIALECT[dialect]['blob']})")
    insert = d1.prepare("INSERT INTO files (body) VALUES (?)")
    d1.batch([insert.bind(b"\x00\x01"), insert.bind([2, 3]), insert.bind(bytearray(b"\xff"))])
    assert d1.prepare("SELECT body FROM files ORDER BY id").raw() == [[b"\x00\x01"], [b"\x02\x03"], [b"\xff"]]


# --- meta -------------------------------------------------------------------------------


def test_meta_of_an_insert(users, dialect):
    meta = users.prepare("INSERT INTO users (email, age) VALUES (?, ?)").bind("c@example.com", 5).run()["meta"]
    assert meta["served_by"] == f"sonicpy.{dialect}"
    assert meta["changes"] == 1
    assert meta["last_row_id"] == 3
    assert meta["rows_read"] == 1 and meta["rows_written"] == 1
    assert meta["changed_db"] is True
    assert isinstance(meta["duration"], float) and meta["duration"] >= 0
    assert meta["size_after"] > 0
    if dialect == "sqlite":
        pages = users.prepare("PRAGMA page_count").first("page_count")
        assert meta["size_after"] == pages * users.prepare("PRAGMA page_size").first("page_size")


def test_meta_of_a_select(users, dialect):
    users.prepare("INSERT INTO users (email) VALUES ('c@example.com')").run()
    meta = users.prepare("SELECT * FROM users").all()["meta"]
    assert meta["changes"] == 0
    assert meta["rows_read"] == 3 and meta["rows_written"] == 0
    assert meta["changed_db"] is False
    assert meta["size_after"] > 0 and meta["duration"] >= 0
    if dialect == "sqlite":
        assert meta["last_row_id"] == 3  # SQLite's last_insert_rowid() of this connection, as Miniflare


def test_meta_of_an_update_counts_every_row(users):
    meta = users.prepare("UPDATE users SET age = age + 1").run()["meta"]
    assert (meta["changes"], meta["rows_written"], meta["changed_db"]) == (2, 2, True)


def test_meta_of_ddl_marks_the_database_changed(d1):
    meta = d1.prepare("CREATE TABLE t (x INTEGER)").run()["meta"]
    assert meta["changes"] == 0 and meta["changed_db"] is True


# --- errors -----------------------------------------------------------------------------


def test_sql_errors_are_d1_errors_with_the_sqlite_code(users, dialect):
    duplicate = users.prepare("INSERT INTO users (email) VALUES ('ada@example.com')")
    missing = users.prepare("SELECT * FROM missing")
    if dialect == "sqlite":
        assert d1_error(duplicate.run) == (
            "D1_ERROR: UNIQUE constraint failed: users.email: SQLITE_CONSTRAINT (extended: SQLITE_CONSTRAINT_UNIQUE)"
        )
        assert d1_error(missing.all) == "D1_ERROR: no such table: missing: SQLITE_ERROR"
    else:
        assert d1_error(duplicate.run).endswith(": SQLITE_CONSTRAINT (extended: SQLITE_CONSTRAINT_UNIQUE)")
        assert d1_error(missing.all).endswith(": SQLITE_ERROR")


@pytest.mark.parametrize(
    ("sql", "extended"),
    [
        ("INSERT INTO users (email) VALUES (NULL)", "SQLITE_CONSTRAINT_NOTNULL"),
        ("INSERT INTO posts (user_id) VALUES (99)", "SQLITE_CONSTRAINT_FOREIGNKEY"),
        ("INSERT INTO aged (age) VALUES (-1)", "SQLITE_CONSTRAINT_CHECK"),
    ],
)
def test_error_messages_carry_the_extended_code(users, sql, extended):
    users.exec(
        "CREATE TABLE posts (user_id INTEGER REFERENCES users (id))\n"
        "CREATE TABLE aged (age INTEGER CHECK (age >= 0))"
    )
    assert d1_error(users.prepare(sql).run).endswith(f": SQLITE_CONSTRAINT (extended: {extended})")


def test_d1_errors_carry_prefix_and_detail(users):
    with pytest.raises(D1Error) as info:
        users.prepare("INSERT INTO users (email) VALUES ('ada@example.com')").run()
    assert info.value.prefix == "D1_ERROR"
    assert str(info.value) == f"D1_ERROR: {info.value.detail}"
    assert info.value.__cause__ is not None  # the driver's exception stays reachable


def test_foreign_keys_are_enforced(d1, dialect):
    d1.exec(
        f"CREATE TABLE authors (id {DIALECT[dialect]['id']}, name TEXT)\n"
        f"CREATE TABLE posts (id {DIALECT[dialect]['id']},"
        " author_id INTEGER NOT NULL REFERENCES authors (id) ON DELETE CASCADE)\n"
        "INSERT INTO authors (name) VALUES ('ada')\n"
        "INSERT INTO posts (author_id) VALUES (1)"
    )
    error = d1_error(lambda: d1.prepare("INSERT INTO posts (author_id) VALUES (?)").bind(99).run())
    assert error.endswith(": SQLITE_CONSTRAINT (extended: SQLITE_CONSTRAINT_FOREIGNKEY)")
    if dialect == "sqlite":
        assert error == (
            "D1_ERROR: FOREIGN KEY constraint failed: SQLITE_CONSTRAINT (extended: SQLITE_CONSTRAINT_FOREIGNKEY)"
        )
    d1.prepare("DELETE FROM authors WHERE id = 1").run()
    assert d1.prepare("SELECT count(*) AS n FROM posts").first("n") == 0


@pytest.mark.parametrize(
    "sql",
    [
        "BEGIN", "BEGIN TRANSACTION", "begin immediate", "COMMIT", "END", "ROLLBACK", "SAVEPOINT s", "RELEASE s",
        "START TRANSACTION", "ABORT",
    ],
)
def test_transaction_statements_are_refused(d1, sql):
    error = d1_error(lambda: d1.prepare(sql).run())
    assert error.startswith("D1_ERROR: ") and "batch(" in error
    assert d1_error(lambda: d1.prepare(f"SELECT 1; {sql}").run()).startswith("D1_ERROR: ")
    assert d1_error(lambda: d1.exec(sql), D1ExecError).startswith("D1_EXEC_ERROR: Error in line 1: ")


# --- several statements in one prepare ----------------------------------------------------


def test_several_statements_return_the_last_result(d1):
    assert d1.prepare("SELECT 1 AS a; SELECT 2 AS b;").all()["results"] == [{"b": 2}]
    d1.prepare("CREATE TABLE t (x TEXT); INSERT INTO t VALUES ('a;b'); INSERT INTO t VALUES (?)").bind("c").run()
    assert d1.prepare("SELECT x FROM t ORDER BY x").raw() == [["a;b"], ["c"]]


def test_only_the_last_statement_may_have_parameters(d1):
    error = d1_error(lambda: d1.prepare("SELECT ?; SELECT 2").bind(1).all())
    assert error == (
        "D1_ERROR: When executing multiple SQL statements in a single call,"
        " only the last statement can have parameters."
    )


def test_several_statements_are_all_or_nothing(users):
    before = table_rows(users)
    insert_twice = (
        "INSERT INTO users (email) VALUES ('c@example.com');"
        " INSERT INTO users (email) VALUES ('ada@example.com')"  # duplicate: fails
    )
    assert d1_error(users.prepare(insert_twice).run).startswith("D1_ERROR: ")
    assert table_rows(users) == before


def test_empty_sql_is_an_error(d1):
    assert d1_error(d1.prepare("  -- nothing\n ; ").all) == "D1_ERROR: No SQL statements detected."


def test_create_trigger_body_is_one_statement(d1, dialect):
    if dialect != "sqlite":
        pytest.skip("SQLite trigger syntax")
    d1.prepare(
        "CREATE TABLE t (x INTEGER); CREATE TABLE log (x INTEGER);"
        " CREATE TRIGGER t_log AFTER INSERT ON t BEGIN"
        "   INSERT INTO log VALUES (CASE WHEN new.x > 0 THEN new.x ELSE 0 END);"
        "   INSERT INTO log VALUES (-1);"
        " END; INSERT INTO t VALUES (?)"
    ).bind(7).run()
    assert d1.prepare("SELECT x FROM log ORDER BY x").raw() == [[-1], [7]]


@pytest.mark.parametrize(
    ("sql", "statements"),
    [
        ("SELECT 1; SELECT 2;", ["SELECT 1", "SELECT 2"]),
        ("SELECT 'a;''b'; SELECT \"c;\"\"d\"", ["SELECT 'a;''b'", 'SELECT "c;""d"']),
        ("SELECT 1 -- x; y\n; /* ; */ SELECT 2", ["SELECT 1 -- x; y", "/* ; */ SELECT 2"]),
        ("-- only a comment\n; ;", []),
        (
            "CREATE TRIGGER t AFTER INSERT ON a BEGIN SELECT CASE WHEN 1 THEN 2 END; SELECT 3; END; SELECT 4",
            ["CREATE TRIGGER t AFTER INSERT ON a BEGIN SELECT CASE WHEN 1 THEN 2 END; SELECT 3; END", "SELECT 4"],
        ),
        (
            "CREATE FUNCTION f() RETURNS int AS $$ SELECT 1; $$ LANGUAGE sql; SELECT 5",
            ["CREATE FUNCTION f() RETURNS int AS $$ SELECT 1; $$ LANGUAGE sql", "SELECT 5"],
        ),
    ],
)
def test_split_statements(sql, statements):
    assert split_statements(sql) == statements


# --- batch ------------------------------------------------------------------------------


def test_batch_returns_results_in_order(users):
    insert = users.prepare("INSERT INTO users (email) VALUES (?)")
    results = users.batch([insert.bind("c@example.com"), users.prepare("SELECT count(*) AS n FROM users")])
    assert results[0]["results"] == [] and results[0]["meta"]["changes"] == 1
    assert results[1]["results"] == [{"n": 3}]


def test_batch_of_no_statements_is_an_error(d1):
    assert d1_error(lambda: d1.batch([])) == "D1_ERROR: No SQL statements detected."


def test_batch_is_rolled_back_whole_when_the_third_statement_fails(users):
    before = table_rows(users)
    statements = [
        users.prepare("INSERT INTO users (email) VALUES (?)").bind("c@example.com"),
        users.prepare("UPDATE users SET age = 0"),
        users.prepare("INSERT INTO users (email) VALUES (?)").bind("ada@example.com"),  # duplicate
        users.prepare("DELETE FROM users"),
    ]
    error = d1_error(lambda: users.batch(statements))
    assert error.startswith("D1_ERROR: ") and ": SQLITE_CONSTRAINT" in error
    assert table_rows(users) == before


def test_batch_refuses_things_that_are_not_statements(d1):
    with pytest.raises(TypeError):
        d1.batch(["SELECT 1"])


# --- exec -------------------------------------------------------------------------------


def test_exec_runs_one_query_per_line(users):
    result = users.exec("UPDATE users SET age = 1 WHERE id = 1;\nUPDATE users SET age = 2 WHERE id = 2;")
    assert result["count"] == 2 and result["duration"] >= 0
    assert users.prepare("SELECT age FROM users ORDER BY id").raw() == [[1], [2]]


def test_exec_skips_blank_and_comment_lines_and_counts_lines_not_statements(users):
    script = "\n  -- a comment\n\nUPDATE users SET age = 3; UPDATE users SET age = 4;\n\n/* another */\n"
    assert users.exec(script)["count"] == 1
    assert users.prepare("SELECT DISTINCT age FROM users").first("age") == 4


def test_exec_error_names_the_line_and_keeps_nothing(users, dialect):
    before = table_rows(users)
    script = "INSERT INTO users (email) VALUES ('c@example.com')\nINSERTZ INTO users VALUES (1)\nDELETE FROM users"
    error = d1_error(lambda: users.exec(script), D1ExecError)
    assert error.startswith("D1_EXEC_ERROR: Error in line 2: INSERTZ INTO users VALUES (1): ")
    if dialect == "sqlite":
        assert error.endswith(': near "INSERTZ": syntax error: SQLITE_ERROR')
    assert table_rows(users) == before


# --- connections, transactions, threads ---------------------------------------------------


def test_two_bindings_on_one_sqlite_file_see_each_others_commits(tmp_path):
    binding = {"binding": "DB", "database_id": "shared"}
    first, second = open_d1(binding, tmp_path, {}), open_d1(binding, tmp_path, {})
    assert first.db is not second.db
    first.exec("CREATE TABLE notes (body TEXT)")
    first.prepare("INSERT INTO notes VALUES (?)").bind("from first").run()
    assert second.prepare("SELECT body FROM notes").first("body") == "from first"
    second.batch([second.prepare("INSERT INTO notes VALUES ('from second')")])
    assert first.prepare("SELECT count(*) AS n FROM notes").first("n") == 2


def test_four_threads_write_concurrently_without_lock_errors(d1, dialect):
    d1.exec(f"CREATE TABLE hits (id {DIALECT[dialect]['id']}, thread INTEGER, n INTEGER)")
    errors, connections = [], set()

    def writer(thread):
        try:
            connections.add(id(d1.db.connection()))
            insert = d1.prepare("INSERT INTO hits (thread, n) VALUES (?, ?)")
            for n in range(40):
                insert.bind(thread, n).run()
                # Read-then-write in one transaction: the case a deferred BEGIN fails on.
                count = d1.prepare("SELECT count(*) AS c FROM hits WHERE thread = ?").bind(thread)
                d1.batch([count, insert.bind(thread, -n)])
        except Exception as ex:  # collected: an exception in a thread would be lost
            errors.append(ex)
        finally:
            release_connection(d1.db)

    threads = [threading.Thread(target=writer, args=(index,)) for index in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(connections) == 4  # Peewee gave every thread its own connection
    assert d1.prepare("SELECT count(*) AS c FROM hits").first("c") == 4 * 80


def test_d1_calls_join_the_callers_peewee_transaction(users):
    class User(peewee.Model):
        email = peewee.TextField()
        age = peewee.IntegerField(null=True)

        class Meta:
            database = users.db
            table_name = "users"

    before = table_rows(users)
    with pytest.raises(RuntimeError), users.db.atomic():
        users.prepare("INSERT INTO users (email) VALUES ('c@example.com')").run()
        assert User.select().where(User.email == "c@example.com").count() == 1
        raise RuntimeError("roll back")
    assert table_rows(users) == before
    User.create(email="d@example.com")
    assert users.prepare("SELECT id FROM users WHERE email = 'd@example.com'").first("id") is not None


def test_ping_answers_when_up(d1):
    assert isinstance(d1.ping(), float)


def test_ping_raises_d1_error_when_sqlite_cannot_open(tmp_path):
    down = D1Database(open_sqlite(tmp_path / "no" / "such" / "folder" / "db.sqlite"))
    assert d1_error(down.ping) == "D1_ERROR: unable to open database file: SQLITE_CANTOPEN"


def test_ping_raises_d1_error_when_postgres_is_down():
    pytest.importorskip("psycopg2")
    down = D1Database(open_database(f"postgresql://nobody@127.0.0.1:{free_port()}/nothing"))
    error = d1_error(down.ping)
    assert error.startswith("D1_ERROR: ") and error.endswith(": SQLITE_CANTOPEN")


# --- open_d1 ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("binding", "file_name"),
    [
        ({"binding": "DB", "database_id": "prod-id", "preview_database_id": "preview-id"}, "preview-id.sqlite"),
        ({"binding": "DB", "database_id": "prod-id"}, "prod-id.sqlite"),
        ({"binding": "DB"}, "DB.sqlite"),
    ],
)
def test_open_d1_defaults_to_a_sqlite_file_in_the_state_folder(tmp_path, binding, file_name):
    database = open_d1(binding, tmp_path / "state", {})
    database.exec("CREATE TABLE t (x INTEGER)")
    assert (tmp_path / "state" / "d1" / file_name).is_file()
    assert database.config == binding
    assert database.prepare("SELECT 1 AS one").all()["meta"]["served_by"] == "sonicpy.sqlite"


def test_open_d1_takes_the_url_from_the_binding_or_the_named_variable(tmp_path):
    from_file = open_d1({"binding": "DB", "database_url": f"sqlite:///{tmp_path / 'a.sqlite'}"}, tmp_path, {})
    from_file.exec("CREATE TABLE t (x INTEGER)")
    assert (tmp_path / "a.sqlite").is_file()
    environ = {"DB_URL": f"sqlite:///{tmp_path / 'b.sqlite'}"}
    from_env = open_d1({"binding": "DB", "database_url_env": "DB_URL"}, tmp_path, environ)
    from_env.exec("CREATE TABLE t (x INTEGER)")
    assert (tmp_path / "b.sqlite").is_file()
    assert not (tmp_path / "d1").exists()


def test_open_d1_refuses_an_unset_url_variable(tmp_path):
    with pytest.raises(ValueError, match="DB_URL"):
        open_d1({"binding": "DB", "database_url_env": "DB_URL"}, tmp_path, {})


# --- what a query may do to the connection (D1's authorizer) ------------------------------


@pytest.mark.parametrize(
    "sql",
    [
        "ATTACH DATABASE 'other.sqlite' AS other",
        "DETACH DATABASE main",
        "PRAGMA journal_mode = DELETE",
        "PRAGMA journal_mode",
        "PRAGMA synchronous = OFF",
        "PRAGMA busy_timeout = 1",
        "PRAGMA writable_schema = ON",
    ],
)
def test_connection_changing_statements_are_not_authorized(d1, dialect, sql):
    if dialect != "sqlite":
        pytest.skip("SQLite's authorizer")
    assert d1_error(lambda: d1.prepare(sql).run()) == "D1_ERROR: not authorized: SQLITE_AUTH"
    # The platform's own connection settings are untouched.
    assert d1.db.execute_sql("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_reporting_pragmas_are_allowed(users, dialect):
    if dialect != "sqlite":
        pytest.skip("SQLite PRAGMAs")
    columns = [row["name"] for row in users.prepare("PRAGMA table_info(users)").all()["results"]]
    assert columns == ["id", "email", "age"]
    assert users.prepare("PRAGMA foreign_keys").first("foreign_keys") == 1


def test_pragma_foreign_keys_off_is_ignored_on_the_shared_connection(d1, dialect):
    if dialect != "sqlite":
        pytest.skip("SQLite PRAGMA")
    d1.exec("CREATE TABLE authors (id INTEGER PRIMARY KEY)\nCREATE TABLE posts (author_id INTEGER REFERENCES authors (id))")
    connection = d1.db.connection()
    d1.prepare("PRAGMA foreign_keys = OFF").run()
    # A later query on the very same connection (the next request's) still enforces them.
    assert d1.db.connection() is connection
    assert d1.prepare("PRAGMA foreign_keys").first("foreign_keys") == 1
    error = d1_error(lambda: d1.prepare("INSERT INTO posts VALUES (99)").run())
    assert error.endswith("(extended: SQLITE_CONSTRAINT_FOREIGNKEY)")


def test_defer_foreign_keys_relaxes_checks_until_the_end_of_the_batch(d1, dialect):
    if dialect != "sqlite":
        pytest.skip("SQLite PRAGMA")
    d1.exec("CREATE TABLE authors (id INTEGER PRIMARY KEY)\nCREATE TABLE posts (author_id INTEGER REFERENCES authors (id))")
    d1.batch([
        d1.prepare("PRAGMA defer_foreign_keys = ON"),
        d1.prepare("INSERT INTO posts VALUES (1)"),  # its author arrives next
        d1.prepare("INSERT INTO authors VALUES (1)"),
    ])
    assert d1.prepare("SELECT count(*) AS n FROM posts").first("n") == 1


# --- D1's limits --------------------------------------------------------------------------


def test_strings_and_blobs_over_2_000_000_bytes_are_too_big(d1, dialect):
    d1.exec(f"CREATE TABLE files (data {DIALECT[dialect]['blob']}, name TEXT)")
    insert = d1.prepare("INSERT INTO files (data, name) VALUES (?, ?)")
    too_big = "D1_ERROR: string or blob too big: SQLITE_TOOBIG"
    assert d1_error(lambda: insert.bind(b"\0" * 2_000_001, "x").run()) == too_big
    assert d1_error(lambda: insert.bind(b"", "é" * 1_000_001).run()) == too_big  # 2,000,002 UTF-8 bytes
    insert.bind(b"\0" * 1_999_000, "x").run()
    assert d1.prepare("SELECT count(*) AS n FROM files").first("n") == 1
    if dialect == "sqlite":  # values SQLite builds itself meet the same limit
        assert d1_error(lambda: d1.prepare("SELECT zeroblob(2000001) AS b").first()).endswith(": SQLITE_TOOBIG")


def test_exec_with_no_statements_is_an_error(d1):
    assert d1_error(lambda: d1.exec("")) == "D1_ERROR: No SQL statements detected."
    assert d1_error(lambda: d1.exec("\n  -- only a comment\n/* and another */\n")) == (
        "D1_ERROR: No SQL statements detected."
    )


# --- dump ---------------------------------------------------------------------------------


def test_dump_returns_the_sqlite_file(users, dialect, tmp_path):
    if dialect != "sqlite":
        with pytest.raises(D1DumpError) as info:
            users.dump()
        assert str(info.value).startswith("D1_DUMP_ERROR: ")
        return
    data = users.dump()
    assert data.startswith(b"SQLite format 3\0")
    copy = tmp_path / "copy.sqlite"
    copy.write_bytes(data)
    assert open_d1({"binding": "COPY", "database_url": f"sqlite:///{copy}"}, tmp_path, {}).prepare(
        "SELECT email FROM users ORDER BY id"
    ).raw() == [["ada@example.com"], ["bob@example.com"]]


# --- withSession --------------------------------------------------------------------------


def test_with_session_reads_its_own_writes_and_keeps_the_latest_bookmark(users):
    session = users.with_session()
    assert session.get_bookmark() is None  # no query yet; never the constraint
    session.prepare("INSERT INTO users (email) VALUES (?)").bind("c@example.com").run()
    first = session.get_bookmark()
    assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{8}-[0-9a-f]{8}-[0-9a-f]{32}", first)
    assert session.prepare("SELECT count(*) AS n FROM users").first("n") == 3
    second = session.get_bookmark()
    assert second > first  # bookmarks sort by time
    session.batch([session.prepare("SELECT 1")])
    assert session.get_bookmark() > second
    # A later session continues from a bookmark; "first-primary" is accepted too.
    continued = users.with_session(second)
    assert continued.get_bookmark() == second
    assert continued.prepare("SELECT email FROM users WHERE id = 3").first("email") == "c@example.com"
    assert continued.get_bookmark() > second
    assert users.with_session("first-primary").prepare("SELECT 1 AS one").first("one") == 1


@pytest.mark.parametrize("bad", ["  ", 42])
def test_with_session_refuses_an_invalid_bookmark(d1, bad):
    assert d1_error(lambda: d1.with_session(bad)) == "D1_SESSION_ERROR: invalid bookmark or constraint"
