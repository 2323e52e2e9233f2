"""D1 read replication (``withSession`` with bookmarks) on a real PostgreSQL streaming replica.

The session's PostgreSQL server is the primary; ``postgres_replica`` is a hot standby made
from it with ``pg_basebackup -R``. Pausing the standby's replay makes it lag for as long as
a test needs, so which server answered is seen in the data itself, not in timings.
"""

import pytest

from app.db.database import open_database
from app.runtime.d1 import D1Error, D1SessionError, open_d1
from app.runtime.d1.database import D1Database
from app.runtime.d1.replicas import Replica, format_bookmark, parse_bookmark

pytestmark = pytest.mark.postgres

COUNT = "SELECT count(*) AS n FROM notes"


@pytest.fixture
def replicated(fresh_postgres_url, postgres_replica, tmp_path):
    """A D1Database on a new database with one replica; table ``notes`` holds one row on both."""
    name = fresh_postgres_url.rsplit("/", 1)[1]
    binding = {"binding": "DB", "database_url": fresh_postgres_url, "read_replica_urls": [postgres_replica.url(name)]}
    database = open_d1(binding, tmp_path, {})
    database.exec("CREATE TABLE notes (id serial PRIMARY KEY, body text)\nINSERT INTO notes (body) VALUES ('first')")
    postgres_replica.wait_for_replay()
    yield database
    postgres_replica.resume_replay()
    database.db.close_all()
    for replica in database.replicas:
        replica.close()


def served(result):
    """(rows counted, whether the primary answered) of a COUNT result."""
    return result["results"][0]["n"], result["meta"]["served_by_primary"]


def test_bookmarks_are_wal_positions_in_d1s_shape():
    bookmark = format_bookmark(0x16_B374D848)
    assert bookmark == "00000000-00000016-b374d848-" + "0" * 32
    assert parse_bookmark(bookmark) == 0x16_B374D848
    assert format_bookmark(2**40) > format_bookmark(2**39)  # later positions sort later as text
    assert parse_bookmark("not-a-bookmark") is None


def test_read_your_writes_holds_through_the_session_while_the_replica_lags(replicated, postgres_replica):
    postgres_replica.pause_replay()
    session = replicated.with_session()
    write = session.prepare("INSERT INTO notes (body) VALUES (?)").bind("second").run()
    assert write["meta"]["served_by_primary"] is True
    bookmark = session.get_bookmark()
    # The replica has not replayed the write: the session reads it on the primary.
    assert served(session.prepare(COUNT).all()) == (2, True)
    # So does a later session continued from the bookmark (the x-d1-bookmark pattern).
    assert served(replicated.with_session(bookmark).prepare(COUNT).all()) == (2, True)
    # A read without a bookmark may go to the replica, which still lags.
    assert served(replicated.with_session().prepare(COUNT).all()) == (1, False)


def test_a_replica_that_has_replayed_the_bookmark_serves_the_read(replicated, postgres_replica):
    session = replicated.with_session("first-primary")
    session.prepare("INSERT INTO notes (body) VALUES ('second')").run()
    bookmark = session.get_bookmark()
    postgres_replica.wait_for_replay()
    continued = replicated.with_session(bookmark)
    assert served(continued.prepare(COUNT).all()) == (2, False)
    assert continued.get_bookmark() >= bookmark  # never moves back


def test_first_primary_sends_the_first_read_to_the_primary(replicated):
    session = replicated.with_session("first-primary")
    assert served(session.prepare(COUNT).all()) == (1, True)
    # Then the session holds a bookmark the replica has replayed: later reads may leave.
    assert session.get_bookmark() is not None


def test_writes_go_to_the_primary_even_when_the_sql_starts_as_a_read(replicated, postgres_replica):
    session = replicated.with_session()
    # A WITH hiding an INSERT looks like a read: the replica refuses it, the primary runs it.
    result = session.prepare(
        "WITH added AS (INSERT INTO notes (body) VALUES ('hidden') RETURNING id) SELECT count(*) AS n FROM added"
    ).all()
    assert served(result) == (1, True)
    assert replicated.prepare(COUNT).first("n") == 2


def test_a_batch_of_reads_may_go_to_a_replica_and_a_batch_with_a_write_goes_to_the_primary(
        replicated, postgres_replica):
    postgres_replica.pause_replay()
    session = replicated.with_session()
    results = session.batch([session.prepare("INSERT INTO notes (body) VALUES ('b')"), session.prepare(COUNT)])
    assert [r["meta"]["served_by_primary"] for r in results] == [True, True]
    reads = replicated.with_session().batch([replicated.prepare(COUNT)])
    assert served(reads[0]) == (1, False)


def test_statement_errors_on_a_replica_are_raised_as_on_the_primary(replicated):
    with pytest.raises(D1Error, match="no_such_table.*SQLITE_ERROR|does not exist"):
        replicated.with_session().prepare("SELECT * FROM no_such_table").all()


def test_reads_fall_back_to_the_primary_when_the_replica_is_down(replicated, postgres_replica):
    session = replicated.with_session()
    assert served(session.prepare(COUNT).all()) == (1, False)  # a pooled connection to the replica now
    postgres_replica.stop()
    try:
        assert served(session.prepare(COUNT).all()) == (1, True)
        assert served(replicated.with_session().prepare(COUNT).all()) == (1, True)
        session.prepare("INSERT INTO notes (body) VALUES ('still writing')").run()
        assert served(session.prepare(COUNT).all()) == (2, True)
    finally:
        postgres_replica.start()


def test_a_malformed_bookmark_is_refused_on_a_replicated_database(replicated):
    with pytest.raises(D1SessionError, match="invalid bookmark or constraint"):
        replicated.with_session("yesterday")


def test_a_server_that_is_not_a_standby_never_serves_session_reads(fresh_postgres_url, tmp_path):
    # A "replica" URL pointing at the primary itself: it reports no replay position.
    primary = open_d1({"binding": "DB", "database_url": fresh_postgres_url}, tmp_path, {})
    database = D1Database(primary.db, replicas=[Replica(D1Database(open_database(fresh_postgres_url)))])
    try:
        assert database.with_session().prepare("SELECT 1 AS one").all()["meta"]["served_by_primary"] is True
    finally:
        database.close()
        database.db.close_all()


def test_read_replicas_need_postgresql(tmp_path):
    binding = {"binding": "DB", "database_id": "x", "read_replica_urls": ["postgresql://127.0.0.1:1/x"]}
    with pytest.raises(ValueError, match="read replicas need a PostgreSQL database_url"):
        open_d1(binding, tmp_path, {})


def test_read_replica_urls_env_names_a_comma_separated_list(fresh_postgres_url, postgres_replica, tmp_path):
    name = fresh_postgres_url.rsplit("/", 1)[1]
    binding = {"binding": "DB", "database_url": fresh_postgres_url, "read_replica_urls_env": "REPLICAS"}
    database = open_d1(binding, tmp_path, {"REPLICAS": f"{postgres_replica.url(name)}, {postgres_replica.url(name)}"})
    try:
        assert len(database.replicas) == 2
    finally:
        database.close()
        database.db.close_all()
