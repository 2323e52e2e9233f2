"""Whether a failed request may be retried, and when, is told by the database's own error code.

PostgreSQL's SQLSTATE and SQLite's result code hold whatever language the server writes its
messages in, and whatever a message's wording happens to contain. Each error here is real:
made by a server or a SQLite file (two transactions in a serialization conflict, a deadlock,
a lock held past ``lock_timeout``, a write lock held past the busy timeout, a file that cannot
be opened). A server with translated messages (``lc_messages``) needs a locale this machine
does not have, so the server is made to raise each condition with the text its own German
catalog gives it (a trigger's ``RAISE ... USING ERRCODE``): a real error, with a real
SQLSTATE, and none of the English words.
"""

import os
import sqlite3
import threading
from urllib.parse import quote

import peewee
import psycopg2
import pytest
import webtest
from playhouse.db_url import connect

from app.db.models import bind_models
from app.runtime.outages import Outage, database_outage, driver_error
from tests.fixtures.app import app_for, client_for
from tests.fixtures.busy_database import database_held, short_wait_env, wait_for_a_lock_wait
from tests.fixtures.content import create_collection, insert_items
from tests.fixtures.users import bearer, create_user, token_for
from tests.test_database_unavailable import assert_retry_after

pytestmark = pytest.mark.backends

on_postgres = pytest.mark.parametrize("db_backend", ["postgres"], indirect=True)
on_sqlite = pytest.mark.parametrize("db_backend", ["sqlite"], indirect=True)



# -- PostgreSQL, through requests -------------------------------------------------------------

# PostgreSQL 15's German catalog (postgres-15.mo) for each condition, and the answer's
# Retry-After (None: a 500, the statement's own error).
GERMAN = [
    ("40001", "konnte Zugriff nicht serialisieren wegen gleichzeitiger Aktualisierung", 1),
    ("40P01", "Verklemmung (Deadlock) entdeckt", 1),
    ("55P03", "storniere Anfrage wegen Zeitüberschreitung einer Sperre", 1),
    ("57014", "storniere Anfrage wegen Zeitüberschreitung der Anfrage", 1),
    ("53300", "tut mir leid, schon zu viele Verbindungen", 1),
    ("57P01", "Verbindung wird abgebrochen aufgrund von Anweisung des Administrators", 5),
    ("08006", "Verbindungsfehler", 5),
    ("53100", "konnte Datei nicht erweitern: Auf dem Gerät ist kein Speicherplatz mehr verfügbar", 5),
    ("53400", "temporäre Dateigröße überschreitet temp_file_limit (64kB)", None),
    ("53200", "Speicher aufgebraucht", None),
    ("42P01", "Relation »nirgends« existiert nicht", None),
]


@on_postgres
@pytest.mark.parametrize(("sqlstate", "message", "retry_after"), GERMAN)
def test_a_translated_server_error_is_told_by_its_sqlstate(env, stack, make_user, sqlstate, message, retry_after):
    _, admin = make_user("admin")
    client = client_for(env)
    stack.refuse_inserts(env, "collections", message, sqlstate=sqlstate)
    response = client.post_json("/admin/api/collections", {"name": "blog", "displayName": "Blog"}, headers=admin,
                                expect_errors=True)
    if retry_after is None:
        assert response.status_int == 500 and "Retry-After" not in response.headers
    else:
        assert_retry_after(response, retry_after)


def postgres_env(stack, folder, request, setting):
    """An env on the test's PostgreSQL database whose connections start with ``setting`` (``name=value``)."""
    url = request.getfixturevalue("seeded_postgres").url
    return stack.env(folder, database_url=f"{url}?options={quote(f'-c {setting}')}")


@pytest.fixture
def editing(stack, tmp_path, request):
    """``(build, url)``: ``build(setting)`` gives ``(client, editor's headers, item id)`` of an
    env whose connections start with ``setting``; ``url`` is its database's, for another connection."""
    url = request.getfixturevalue("seeded_postgres").url

    def build(setting):
        env = postgres_env(stack, tmp_path / "app", request, setting)
        bind_models(env.DB.db)
        editor = create_user("editor")
        [item] = insert_items(create_collection("pages"), editor, 1)
        return client_for(env), bearer(token_for(editor)), item

    return build, url




@on_postgres
def test_a_serialization_failure_is_busy_and_told_to_retry_in_a_second(editing):
    # SERIALIZABLE transactions: a write to a row another transaction changed since this one
    # began fails with 40001, which any client may simply retry.
    build, url = editing
    client, headers, item = build("default_transaction_isolation=serializable")
    other = psycopg2.connect(url)
    try:
        with other.cursor() as cursor:
            cursor.execute("UPDATE content SET title = 'Changed elsewhere' WHERE id = %s", (item,))
        answers = []
        put = threading.Thread(target=lambda: answers.append(client.put_json(
            f"/api/content/{item}", {"title": "Changed here"}, headers=headers, expect_errors=True)))
        put.start()
        wait_for_a_lock_wait(put, dsn=url)
        other.commit()  # the request's transaction began before this change: it cannot serialize after it
        put.join()
    finally:
        other.close()
    assert_retry_after(answers[0], 1)
    client.put_json(f"/api/content/{item}", {"title": "Changed here"}, headers=headers, status=200)


@on_postgres
def test_a_lock_not_granted_within_lock_timeout_is_busy(editing):
    build, url = editing
    client, headers, item = build("lock_timeout=100")
    other = psycopg2.connect(url)
    try:
        with other.cursor() as cursor:
            cursor.execute("SELECT id FROM content WHERE id = %s FOR UPDATE", (item,))
        refused = client.put_json(f"/api/content/{item}", {"title": "Changed here"}, headers=headers,
                                  expect_errors=True)
    finally:
        other.close()
    assert_retry_after(refused, 1)


@on_postgres
def test_ping_of_a_busy_database_is_told_to_retry_in_a_second(stack, tmp_path, request):
    env = short_wait_env(stack, tmp_path / "app", request)
    client = client_for(env)
    with database_held(env):  # the pool's only connection is taken
        ping = client.get("/api/system/ping", status=503)
    assert ping.headers["Retry-After"] == "1"
    assert ping.json == {"error": "Database busy", "details": {"request_id": ping.headers["X-Request-ID"],
                                                               "retry_after": 1}}
    client.get("/api/system/ping", status=200)


# -- PostgreSQL, the errors themselves -------------------------------------------------------


def test_a_real_deadlock_is_busy(fresh_postgres_url):
    setup = psycopg2.connect(fresh_postgres_url)
    with setup, setup.cursor() as cursor:
        cursor.execute("CREATE TABLE pair (id int PRIMARY KEY)")
        cursor.execute("INSERT INTO pair VALUES (1), (2)")
    setup.close()
    both_locked, errors = threading.Barrier(2), []

    def lock(first, second):
        db = connect(fresh_postgres_url)
        try:
            with db.atomic():
                db.execute_sql("SELECT id FROM pair WHERE id = %s FOR UPDATE", (first,))
                both_locked.wait()
                db.execute_sql("SELECT id FROM pair WHERE id = %s FOR UPDATE", (second,))
        except peewee.OperationalError as ex:
            errors.append(ex)
        finally:
            db.close()

    sides = [threading.Thread(target=lock, args=pair) for pair in ((1, 2), (2, 1))]
    for side in sides:
        side.start()
    for side in sides:
        side.join()
    [deadlock] = errors  # the server ended one of the two
    assert deadlock.orig.pgcode == "40P01"  # Peewee keeps the driver's error
    assert database_outage(deadlock) is Outage.BUSY


def test_a_connection_ended_by_the_server_is_unreachable(fresh_postgres_url):
    db = connect(fresh_postgres_url)
    pid = db.execute_sql("SELECT pg_backend_pid()").fetchone()[0]
    admin = psycopg2.connect(fresh_postgres_url)
    admin.autocommit = True
    with admin.cursor() as cursor:
        cursor.execute("SELECT pg_terminate_backend(%s, 10000)", (pid,))
    admin.close()
    with pytest.raises(peewee.OperationalError) as ended:
        db.execute_sql("SELECT 1")
    db.close()
    assert database_outage(ended.value) is Outage.UNREACHABLE


def test_a_statement_past_the_server_s_own_bounds_is_no_outage(fresh_postgres_url):
    # temp_file_limit: the same query would fail again on every retry.
    db = connect(fresh_postgres_url)
    db.execute_sql("SET temp_file_limit = 64")
    db.execute_sql("SET work_mem = 64")
    with pytest.raises(peewee.OperationalError) as refused:
        db.execute_sql("SELECT g FROM generate_series(1, 200000) g ORDER BY md5(g::text)")
    db.close()
    assert driver_error(refused.value).pgcode == "53400"
    assert database_outage(refused.value) is None


def test_a_closed_connection_is_unreachable(fresh_postgres_url):
    db = connect(fresh_postgres_url)
    db.connect()
    db.connection().close()  # as a pooled connection the server or a proxy already closed
    with pytest.raises(peewee.InterfaceError) as closed:
        db.execute_sql("SELECT 1")
    assert database_outage(closed.value) is Outage.UNREACHABLE


class UnboundQuery:
    """``GET /unbound``: a query bound to no database, which Peewee itself refuses (InterfaceError)."""

    def on_get(self, req, resp):
        class Loose(peewee.Model):
            name = peewee.TextField()

        Loose.select().execute()


def test_an_interface_error_of_the_program_s_own_making_is_a_500_not_a_503(env):
    # Peewee's InterfaceError also says the program used it wrongly: no wait cures that.
    app = app_for(env)
    app.add_route("/unbound", UnboundQuery())
    answer = webtest.TestApp(app).get("/unbound", status=500)
    assert "Retry-After" not in answer.headers
    assert answer.json["error"] == "Internal Server Error" and answer.json["details"]["request_id"]


# -- SQLite ------------------------------------------------------------------------------------


def raised(action):
    """The exception ``action()`` raises."""
    try:
        action()
    except Exception as ex:  # whatever it is: the test inspects it
        return ex
    raise AssertionError("nothing was raised")


def test_sqlite_errors_are_told_by_their_result_code_not_their_words(tmp_path):
    path = tmp_path / "site.sqlite"
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # another connection's write lock
    try:
        busy = raised(lambda: connect(f"sqlite:///{path}?timeout=0").execute_sql("BEGIN IMMEDIATE"))
    finally:
        holder.rollback()
        holder.close()
    cannot_open = raised(lambda: connect(f"sqlite:///{tmp_path / 'gone' / 'site.sqlite'}").execute_sql("SELECT 1"))
    not_a_database = tmp_path / "notes.txt"
    not_a_database.write_text("these are notes, not a database\n" * 100)
    garbage = raised(lambda: connect(f"sqlite:///{not_a_database}").execute_sql("SELECT * FROM sqlite_master"))
    no_table = raised(lambda: connect(f"sqlite:///{path}").execute_sql("SELECT * FROM nowhere"))
    cases = [(busy, "SQLITE_BUSY", Outage.BUSY), (cannot_open, "SQLITE_CANTOPEN", Outage.UNREACHABLE),
             (garbage, "SQLITE_NOTADB", Outage.UNREACHABLE), (no_table, "SQLITE_ERROR", None)]
    for error, name, outage in cases:
        driver = driver_error(error)  # behind Peewee's wrapper (two of them when connecting)
        assert driver.sqlite_errorname == name
        assert database_outage(error) is outage, name
        # The same error worded otherwise (as a translation would) is told alike.
        wrapper = error
        while wrapper is not driver:
            wrapper.args, wrapper = ("Etwas ist schiefgegangen",), wrapper.orig
        driver.args = ("Etwas ist schiefgegangen",)
        assert "locked" not in str(error) and database_outage(error) is outage, name


@on_sqlite
def test_a_database_file_that_cannot_be_opened_is_unreachable(env, make_user):
    _, admin = make_user("admin")
    client = client_for(env)
    client.get("/admin/api/users", headers=admin, status=200)
    env.DB.db.close()
    folder = env.DB.db.database.rsplit("/", 1)[0]
    moved = f"{folder}-moved"
    os.rename(folder, moved)
    try:
        assert_retry_after(client.get("/admin/api/users", headers=admin, status=503), 5)
    finally:
        os.rename(moved, folder)
    client.get("/admin/api/users", headers=admin, status=200)


@on_sqlite  # the local KV store is the SQLite stack's; the other stack's is memcached
def test_a_plugin_write_to_a_locked_local_kv_store_is_told_to_retry_in_a_second(env, make_user):
    _, admin = make_user("admin")
    client = client_for(env, plugins=("tests.plugins.kv_writer",))
    client.post("/admin/api/plugins/kv-writer/activate", headers=admin, status=200)
    client.post("/plugins/kv-writer/note", headers=admin, status=200)
    holder = sqlite3.connect(env.CACHE_KV.backend.path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # another worker's write, held past the store's busy timeout
    try:
        refused = client.post("/plugins/kv-writer/note", headers=admin, status=503)
    finally:
        holder.rollback()
        holder.close()
    assert_retry_after(refused, 1)
    client.post("/plugins/kv-writer/note", headers=admin, status=200)
