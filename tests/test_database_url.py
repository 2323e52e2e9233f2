"""``database_url``: percent-decoded credentials, query-string options, the pool and pragmas kept."""

import sqlite3

import peewee
import psycopg2
import pytest
import webtest
from playhouse.pool import PooledPostgresqlDatabase

from app.app import create_app
from app.db.database import open_database
from app.db.models import bind_models
from app.runtime.entry import Worker
from tests.fixtures.app import make_env, migrate, settings_for_tests
from tests.fixtures.users import bearer, create_user, token_for

ROLE = "sonicpy_url_user"
# Every character that has a meaning in a URL's authority, percent-encoded in the URL.
PASSWORD = "p@ss/w:rd%?#"
ENCODED_PASSWORD = "p%40ss%2Fw%3Ard%25%3F%23"


def _admin_execute(server, sql, params=None, dbname="postgres"):
    conn = psycopg2.connect(host="127.0.0.1", port=server.port, user="postgres", dbname=dbname)
    conn.autocommit = True
    try:
        with conn.cursor() as cursor:
            cursor.execute(sql, params)
    finally:
        conn.close()


@pytest.fixture
def password_role(postgres_server):
    """A role that must log in with ``PASSWORD`` (the session server trusts everyone else).

    pg_hba.conf takes the first matching line: one for this role, put first, asks for the
    password; it is removed again afterwards.
    """
    hba = postgres_server.data / "pg_hba.conf"
    original = hba.read_text()
    _admin_execute(postgres_server, f"CREATE ROLE {ROLE} LOGIN SUPERUSER PASSWORD %s", (PASSWORD,))
    hba.write_text(f"host all {ROLE} 127.0.0.1/32 scram-sha-256\n" + original)
    _admin_execute(postgres_server, "SELECT pg_reload_conf()")
    try:
        yield ROLE
    finally:
        hba.write_text(original)
        _admin_execute(postgres_server, "SELECT pg_reload_conf()")
        _admin_execute(postgres_server, f"DROP ROLE IF EXISTS {ROLE}")


def _server_url(url, credentials, query=""):
    """``url`` (the fixtures' ``postgresql://postgres@host:port/name``) with other credentials."""
    rest = url.split("@", 1)[1]
    return f"postgresql://{credentials}@{rest}{query}"


def _scalar(db, sql):
    try:
        return db.execute_sql(sql).fetchone()[0]
    finally:
        db.close()


def test_a_percent_encoded_password_is_decoded(password_role, fresh_postgres_url):
    db = open_database(_server_url(fresh_postgres_url, f"{password_role}:{ENCODED_PASSWORD}"))
    assert _scalar(db, "SELECT current_user") == password_role


def test_the_role_really_needs_its_password(password_role, fresh_postgres_url):
    # Without this, the test above could not fail: the session server trusts other roles.
    db = open_database(_server_url(fresh_postgres_url, f"{password_role}:{ENCODED_PASSWORD}x"))
    with pytest.raises(peewee.OperationalError, match="password authentication failed"):
        _scalar(db, "SELECT 1")


def test_query_string_options_reach_the_driver(fresh_postgres_url):
    db = open_database(fresh_postgres_url + "?application_name=sonicpy-url-test&connect_timeout=3")
    assert _scalar(db, "SELECT current_setting('application_name')") == "sonicpy-url-test"
    assert db.connect_params["connect_timeout"] == 3


def test_sslmode_reaches_the_driver(fresh_postgres_url):
    # The test server speaks no TLS: only a driver that got sslmode=require refuses it.
    db = open_database(fresh_postgres_url + "?sslmode=require")
    with pytest.raises(peewee.OperationalError, match="does not support SSL"):
        _scalar(db, "SELECT 1")


def test_postgres_keeps_the_pool_settings(fresh_postgres_url):
    db = open_database(fresh_postgres_url)
    assert isinstance(db, PooledPostgresqlDatabase) and db.autoconnect
    assert (db._max_connections, db._stale_timeout, db._wait_timeout) == (8, 300, 10)
    assert db.connect_params["connect_timeout"] == 5
    tuned = open_database(fresh_postgres_url + "?max_connections=20&stale_timeout=60")
    assert (tuned._max_connections, tuned._stale_timeout) == (20, 60)


def test_an_app_on_a_url_with_an_encoded_password_and_options(tmp_path, password_role, fresh_postgres_url):
    url = _server_url(fresh_postgres_url, f"{password_role}:{ENCODED_PASSWORD}", "?application_name=sonicpy-app")
    env = make_env(tmp_path / "pg", database_url=url)
    migrate(env)
    client = webtest.TestApp(Worker(lambda: env, lambda e: create_app(e, settings_for_tests())))
    client.get("/health", status=200)
    assert env.DB.prepare("SELECT current_user AS u, current_setting('application_name') AS a").first() == {
        "u": password_role, "a": "sonicpy-app",
    }
    env.DB.db.close_all()


def test_a_database_in_a_schema_other_than_public_is_read_where_its_search_path_puts_it(tmp_path, postgres_server,
                                                                                           fresh_postgres_url):
    """A role whose ``search_path`` starts with its own schema (one schema per site, say)
    migrates into that schema, and the checks of which tables there are look there too:
    the derived objects the migrations installed are found, none reported missing."""
    dbname = fresh_postgres_url.rsplit("/", 1)[1]
    _admin_execute(postgres_server, "CREATE SCHEMA site", dbname=dbname)
    env = make_env(tmp_path / "pg", database_url=fresh_postgres_url + "?options=-c%20search_path%3Dsite")
    migrate(env)
    assert env.DB.prepare("SELECT current_schema() AS s").first() == {"s": "site"}
    bind_models(env.DB.db)
    admin = create_user("admin")
    client = webtest.TestApp(Worker(lambda: env, lambda e: create_app(e, settings_for_tests())))
    validation = client.get("/admin/api/migrations/validate", headers=bearer(token_for(admin)), status=200).json
    assert validation["data"] == {"valid": True, "issues": []}
    assert env.DB.db.table_exists("content_fts") and not env.DB.db.table_exists("pg_class")
    env.DB.db.close_all()


def _pragmas(db):
    try:
        return {name: db.execute_sql(f"PRAGMA {name}").fetchone()[0] for name in ("journal_mode", "foreign_keys")}
    finally:
        db.close()


def test_sqlite_relative_path(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "data").mkdir()
    db = open_database("sqlite:///data/site.sqlite")
    assert _pragmas(db) == {"journal_mode": "wal", "foreign_keys": 1}
    assert (tmp_path / "data" / "site.sqlite").is_file()


def test_sqlite_absolute_path_keeps_the_pragmas_and_the_write_lock(tmp_path):
    path = tmp_path / "abs.sqlite"
    db = open_database(f"sqlite:///{path}")
    assert db.database == str(path) and db.autoconnect
    assert _pragmas(db) == {"journal_mode": "wal", "foreign_keys": 1}
    with db.atomic():
        # BEGIN IMMEDIATE: the write lock is taken on entry, before any write.
        other = sqlite3.connect(path, timeout=0)
        try:
            with pytest.raises(sqlite3.OperationalError, match="database is locked"):
                other.execute("BEGIN IMMEDIATE")
        finally:
            other.close()
    db.close()


def test_sqlite_two_slashes_still_name_a_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    db = open_database("sqlite://site.sqlite")
    _pragmas(db)
    assert (tmp_path / "site.sqlite").is_file()


def test_sqlite_query_string_options_override_the_defaults(tmp_path):
    default = open_database(f"sqlite:///{tmp_path / 'd.sqlite'}")
    db = open_database(f"sqlite:///{tmp_path / 'q.sqlite'}?timeout=9")
    assert _scalar(default, "PRAGMA busy_timeout") == 5000
    assert _scalar(db, "PRAGMA busy_timeout") == 9000
    assert (tmp_path / "q.sqlite").is_file() and not (tmp_path / "q.sqlite?timeout=9").exists()


def test_a_sqlite_url_without_a_file_is_refused():
    with pytest.raises(ValueError, match="names no file"):
        open_database("sqlite://")


@pytest.mark.parametrize("url", ["mysql://u@host/db", "redis://host/0", "/just/a/path.sqlite"])
def test_unknown_schemes_are_refused_with_the_supported_ones(url):
    with pytest.raises(ValueError, match=r"unsupported database_url scheme .* \(use sqlite:/// or postgresql://\)"):
        open_database(url)
