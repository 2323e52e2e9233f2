"""History shipped to an R2 bucket (`time_travel_bucket`), and a lost host rebuilt from it.

Every test runs on a SQLite file and on a real PostgreSQL database; the rebuild is also run
with the bucket in a local folder and on a real S3 server (moto). A "lost host" is the
database thrown away (the file deleted, or the PostgreSQL database dropped) and made again
empty by `d1 migrations apply`, as on a new machine; only the bucket survives.
"""

import gzip
import json
import re
from pathlib import Path
from urllib.parse import urlparse

import pytest

from app.db import derived
from app.db.models import bind_models
from app.db.time_travel import DAY_MS
from app.db.time_travel.shipping import restore_from_bucket, ship
from app.runtime.context import ScheduledEvent
from app.scheduled import run_scheduled
from tests.fixtures.app import client_for, env_with_copy, make_env
from tests.fixtures.s3 import ACCESS_KEY_ENV, SECRET_KEY_ENV, create_bucket
from tests.test_time_travel import (
    Project,
    edit_delete_add,
    now_seconds_between_writes,
    straddling_transaction,
    unix_seconds,
)

PREFIX = "d1-time-travel/test-db/"


class ShippingProject(Project):
    """A Project whose DB ships its history to the R2 binding HISTORY; it can lose its database."""

    def __init__(self, folder, env, dialect, postgres=None, database_url=None):
        super().__init__(folder, env, dialect)
        self.postgres = postgres
        self.database_url = database_url

    def ship(self):
        result = self.cli("d1", "time-travel", "ship", "DB", "--json")
        assert result.exit_code == 0, result.output
        return json.loads(result.output)

    def lose_database(self):
        """Throw the database away and make it again, empty and migrated, as a new host would."""
        if self.dialect == "sqlite":
            for suffix in ("", "-wal", "-shm"):
                Path(self.db_path + suffix).unlink(missing_ok=True)
        else:
            name = urlparse(self.database_url).path.lstrip("/")
            self.postgres.drop_database(name)
            self.postgres.create_database(name)
        applied = self.cli("d1", "migrations", "apply", "DB")
        assert applied.exit_code == 0, applied.output
        assert self.content() == {}

    def rebuild(self, *args):
        return self.cli("d1", "time-travel", "restore", "DB", "--from-bucket", "--yes", *args)

    def history_keys(self):
        env = self.env()
        try:
            return sorted(obj.key for obj in env.HISTORY.list(prefix=PREFIX)["objects"])
        finally:
            env.DB.db.close()


def history_bucket_table(s3_endpoint=None):
    lines = ["[[r2_buckets]]", 'binding = "HISTORY"']
    if s3_endpoint is None:
        return "\n".join([*lines, 'bucket_name = "test-history"']) + "\n"
    return "\n".join([*lines, f'bucket_name = "{create_bucket(s3_endpoint)}"', f'endpoint_url = "{s3_endpoint}"',
                      'region_name = "us-east-1"', f'access_key_id_env = "{ACCESS_KEY_ENV}"',
                      f'secret_access_key_env = "{SECRET_KEY_ENV}"']) + "\n"


def make_project(request, tmp_path, dialect, bucket):
    folder = tmp_path / "app"
    postgres = database_url = None
    if dialect == "sqlite":
        env = env_with_copy(folder, request.getfixturevalue("migrated_template"))
    else:
        postgres = request.getfixturevalue("postgres_server")
        database_url = request.getfixturevalue("migrated_postgres_url")
        env = make_env(folder, database_url=database_url)
    project = ShippingProject(folder, env, dialect, postgres, database_url)
    s3 = request.getfixturevalue("s3_server") if bucket == "s3" else None
    text = project.config.read_text().replace('database_name = "test-db"',
                                              'database_name = "test-db"\ntime_travel_bucket = "HISTORY"')
    project.config.write_text(text + history_bucket_table(s3))
    project.sql("INSERT INTO users (id, email, username, first_name, last_name, role, created_at, updated_at)"
                " VALUES ('u1', 'a@example.com', 'a', 'A', 'B', 'admin', 1, 1)")
    project.sql("INSERT INTO collections (id, name, display_name, schema, created_at, updated_at)"
                " VALUES ('c1', 'blog', 'Blog', '{}', 1, 1)")
    for n in (1, 2):
        project.sql("INSERT INTO content (id, collection_id, slug, title, data, author_id, created_at, updated_at)"
                    f" VALUES ('p{n}', 'c1', 'post-{n}', 'Post {n}', '{{\"n\": {n}}}', 'u1', 1, 1)")
    return project


@pytest.fixture(params=[("sqlite", "folder"), ("sqlite", "s3"), ("postgres", "folder"), ("postgres", "s3")],
                ids=["sqlite-folder", "sqlite-s3", "postgres-folder", "postgres-s3"])
def shipping(request, tmp_path):
    return make_project(request, tmp_path, *request.param)


@pytest.fixture(params=["sqlite", "postgres"])
def project(request, tmp_path):
    return make_project(request, tmp_path, request.param, "folder")


def test_a_lost_host_is_rebuilt_from_the_bucket_as_it_was_at_a_timestamp(shipping):
    before_snapshot = now_seconds_between_writes()
    first = shipping.ship()
    assert (first["snapshots_shipped"], first["changes_shipped"]) == (1, 0)
    at_snapshot = now_seconds_between_writes()
    edit_delete_add(shipping)
    middle = now_seconds_between_writes()
    shipping.sql("UPDATE content SET title = 'Edited again', slug = 'moved' WHERE id = 'p1'")
    shipping.sql("UPDATE content SET id = 'p4' WHERE id = 'p3'")  # a key that changes
    shipping.sql("DELETE FROM content WHERE id = 'p4'")
    shipping.sql("INSERT INTO content (id, collection_id, slug, title, data, author_id, created_at, updated_at)"
                 " VALUES ('p4', 'c1', 'post-4', 'Back', '{}', 'u1', 3, 3)")
    second = shipping.ship()
    assert (second["snapshots_shipped"], second["changes_shipped"]) == (0, 7)
    latest = {"p1": "Edited again", "p4": "Back"}
    assert shipping.content() == latest

    shipping.lose_database()
    result = shipping.rebuild("--timestamp", middle)
    assert result.exit_code == 0, result.output
    assert "3 change(s) shipped after it" in result.output
    assert shipping.content() == {"p1": "Edited", "p3": "Added"}
    assert shipping.rows("SELECT slug FROM content WHERE id = 'p1'") == [{"slug": "post-1"}]

    assert shipping.rebuild("--timestamp", at_snapshot).exit_code == 0
    assert shipping.content() == {"p1": "Post 1", "p2": "Post 2"}
    assert shipping.rows("SELECT data FROM content WHERE id = 'p2'") == [{"data": '{"n": 2}'}]

    assert shipping.rebuild().exit_code == 0  # no timestamp: the latest point shipped
    assert shipping.content() == latest
    assert shipping.rows("SELECT slug FROM content WHERE id = 'p1'") == [{"slug": "moved"}]
    # The counts kept for lists follow the rebuilt content, not the snapshot's.
    counted = shipping.rows("SELECT SUM(n) AS n FROM content_counts WHERE deleted = 0")[0]["n"]
    assert counted == len(latest)
    if shipping.dialect == "postgres":  # the planner's statistics were taken of the rebuilt rows
        assert shipping.rows("SELECT reltuples FROM pg_class WHERE relname = 'content'") == [{"reltuples": len(latest)}]

    too_old = shipping.rebuild("--timestamp", before_snapshot)
    assert too_old.exit_code == 1 and "holds nothing as old as" in too_old.output
    assert shipping.content() == latest  # a refused rebuild changes nothing


class HeldPuts:
    """A bucket whose writes wait until ``release()``, as a slow upload's would."""

    def __init__(self, bucket):
        self._bucket = bucket
        self.held = []

    def __getattr__(self, name):
        return getattr(self._bucket, name)

    def put(self, *args, **kwargs):
        self.held.append((args, kwargs))
        return True

    def release(self):
        return [self._bucket.put(*args, **kwargs) for args, kwargs in self.held]


def insert_post(project, n):
    project.sql("INSERT INTO content (id, collection_id, slug, title, data, author_id, created_at, updated_at)"
                f" VALUES ('x{n}', 'c1', 'x-{n}', 'X {n}', '{{}}', 'u1', 1, 1)")


def test_passes_that_overlap_never_move_the_head_back_and_the_bucket_stays_replayable(shipping):
    shipping.ship()  # the snapshot
    insert_post(shipping, 1)
    env = shipping.env()
    try:
        slow = HeldPuts(env.HISTORY)
        ship(env.DB.db, slow, PREFIX, retention_days=30)  # read x1, its uploads still on the way
    finally:
        env.DB.db.close()
    insert_post(shipping, 2)
    assert shipping.ship()["changes_shipped"] == 2  # x1 and x2, while the slow pass uploads
    head_key = next(key for key in shipping.history_keys() if key.endswith("head.json"))

    def head():
        env = shipping.env()
        try:
            return env.HISTORY.get(head_key).json()["seq"]
        finally:
            env.DB.db.close()

    reached = head()
    *segments, head_written = slow.release()
    assert all(segments) and head_written is None, "the slow pass may not move the head back"
    assert head() == reached
    insert_post(shipping, 3)
    shipping.ship()
    shipping.lose_database()
    result = shipping.rebuild()
    assert result.exit_code == 0, result.output
    assert {"x1", "x2", "x3"} <= set(shipping.content())


def test_the_rebuilt_database_keeps_its_history_and_goes_on_shipping(project):
    project.ship()
    moment = now_seconds_between_writes()
    edit_delete_add(project)
    project.ship()
    project.lose_database()
    assert project.rebuild().exit_code == 0

    # The log came back with the rows: local time travel reaches before the loss.
    restored = project.restore("--timestamp", moment)
    assert restored.exit_code == 0, restored.output
    assert project.content() == {"p1": "Post 1", "p2": "Post 2"}
    # New writes are logged again and shipped on from where the bucket stood.
    later = now_seconds_between_writes()
    shipped = project.ship()
    assert (shipped["snapshots_shipped"], shipped["changes_shipped"]) == (0, 3)
    project.lose_database()
    assert project.rebuild("--timestamp", later).exit_code == 0
    assert project.content() == {"p1": "Post 1", "p2": "Post 2"}


def test_the_cron_handler_ships_a_snapshot_then_the_changes(project):
    def cron():
        env = project.env()
        try:
            return run_scheduled(ScheduledEvent("* * * * *", 0), env)["ship_history_to_bucket"]
        finally:
            env.DB.db.close()

    assert cron()["history_snapshots_shipped"] == 1
    assert cron()["history_changes_shipped"] == 0
    edit_delete_add(project)
    assert cron() == {"history_snapshots_shipped": 0, "history_changes_shipped": 3, "history_folders_deleted": 0}
    names = [re.sub(r"^\d{13}-[0-9a-f]{16}/", "<folder>/", key[len(PREFIX):]) for key in project.history_keys()]
    assert names[0] == "<folder>/head.json" and names[2] == "<folder>/snapshot.jsonl.gz"
    assert re.fullmatch(r"<folder>/segment-[0-9a-f]{16}\.jsonl\.gz", names[1])
    assert len(names) == 3


def test_a_new_snapshot_is_shipped_when_the_last_is_too_old_and_old_folders_are_deleted(project):
    project.ship()
    env = project.env()
    try:
        bucket = env.HISTORY
        (folder,) = {key[len(PREFIX):].split("/")[0] for key in project.history_keys()}
        at_ms = int(folder.split("-")[0])
        # Two folders as a host shipping 40 and 35 days ago would have left them.
        for days in (40, 35):
            old = f"{PREFIX}{at_ms - days * DAY_MS:013d}-{folder.split('-')[1]}/"
            for name in ("snapshot.jsonl.gz", "head.json"):
                bucket.put(old + name, bucket.get(f"{PREFIX}{folder}/{name}").bytes())
        head = bucket.get(f"{PREFIX}{folder}/head.json").json()
        bucket.put(f"{PREFIX}{folder}/head.json", json.dumps({**head, "snapshot_at": at_ms - DAY_MS}))
    finally:
        env.DB.db.close()

    shipped = project.ship()
    assert (shipped["snapshots_shipped"], shipped["folders_deleted"]) == (1, 1)
    folders = sorted({key[len(PREFIX):].split("/")[0] for key in project.history_keys()})
    assert len(folders) == 3 and int(folders[0].split("-")[0]) == at_ms - 35 * DAY_MS


def test_refusals_are_clear(project):
    project.lose_database()
    nothing = project.rebuild()
    assert nothing.exit_code == 1 and "nothing was shipped there yet" in nothing.output
    with_bookmark = project.rebuild("--bookmark", "0" * 16 + "-" + "0" * 12 + "-" + "0" * 32)
    assert with_bookmark.exit_code == 2 and "not a bookmark" in with_bookmark.output

    project.config.write_text(project.config.read_text().replace(
        'time_travel_bucket = "HISTORY"', 'time_travel_bucket = "MEDIA_BUCKET"'))
    media = project.cli("d1", "time-travel", "ship", "DB")
    assert media.exit_code == 1 and "`media sweep` deletes" in media.output

    project.config.write_text(project.config.read_text().replace(
        'time_travel_bucket = "MEDIA_BUCKET"', 'time_travel_bucket = "HISTORY"\ntime_travel_snapshot_hours = 0'))
    hours = project.cli("d1", "time-travel", "ship", "DB")
    assert hours.exit_code == 1 and "time_travel_snapshot_hours must be a whole number of hours" in hours.output

    project.config.write_text(project.config.read_text().replace(
        'time_travel_bucket = "HISTORY"\ntime_travel_snapshot_hours = 0\n', ""))
    unset = project.cli("d1", "time-travel", "ship", "DB")
    assert unset.exit_code == 1 and "no time_travel_bucket is configured" in unset.output


def test_a_pass_inside_an_open_transaction_is_refused(project):
    """The snapshot begins its own transaction: nested in one, PostgreSQL would read under
    the enclosing one's read committed, and its lock could not wait for writers in flight
    before the snapshot. SQLite refuses alike."""
    env = project.env()
    db = env.DB.db
    try:
        with db.atomic():
            db.execute_sql("SELECT 1 FROM users")
            with pytest.raises(RuntimeError, match="must begin its own transaction"):
                ship(db, env.HISTORY, PREFIX, retention_days=30)
    finally:
        db.close()
    assert project.history_keys() == []
    assert project.ship()["snapshots_shipped"] == 1


def test_a_database_under_another_schema_is_not_overwritten(project):
    project.ship()
    project.sql("CREATE TABLE extra (id INTEGER PRIMARY KEY)")
    assert project.cli("d1", "migrations", "apply", "DB").exit_code == 0  # re-arms: the schema changed
    result = project.rebuild()
    assert result.exit_code == 1 and "schema is not the one the snapshot was taken under" in result.output
    assert project.content() == {"p1": "Post 1", "p2": "Post 2"}


def test_tables_without_a_key_and_exact_values_are_rebuilt_as_they_were(project):
    postgres = project.dialect == "postgres"
    blob, real = ("BYTEA", "DOUBLE PRECISION") if postgres else ("BLOB", "REAL")
    blob_value = "decode('00ff10', 'hex')" if postgres else "x'00ff10'"
    (project.migrations / "0999_samples.sql").write_text(
        "CREATE TABLE notes (body TEXT, n INTEGER);\n"
        f"CREATE TABLE samples (id INTEGER PRIMARY KEY, b {blob}, r {real}, n BIGINT, t TEXT);\n")
    assert project.cli("d1", "migrations", "apply", "DB").exit_code == 0
    project.sql("INSERT INTO notes VALUES ('a', 1), ('a', 1), ('b', NULL)")
    project.sql(f"INSERT INTO samples VALUES (1, {blob_value}, 0.1 + 0.2, 9007199254740993, 'q''é')")
    project.ship()  # the snapshot holds these rows
    project.sql("INSERT INTO notes VALUES ('d', 4), ('a', 1)")
    project.sql("UPDATE notes SET body = 'z' WHERE body = 'a'")
    project.sql("DELETE FROM notes WHERE body = 'b'")
    project.sql(f"INSERT INTO samples VALUES (2, {blob_value}, 1e300, -1, NULL)")  # forward changes carry them
    project.sql("UPDATE samples SET r = r * 3, t = 'x' WHERE id = 1")

    def state():
        return (sorted((row["body"], row["n"]) for row in project.rows("SELECT body, n FROM notes")),
                project.rows("SELECT id, b, r, n, t FROM samples ORDER BY id"))

    at_middle = state()
    assert at_middle[0] == [("d", 4), ("z", 1), ("z", 1), ("z", 1)] and len(at_middle[1]) == 2
    middle = now_seconds_between_writes()
    project.sql("DELETE FROM samples WHERE id = 2")
    project.sql("UPDATE notes SET n = 7 WHERE body = 'd'")
    latest = state()
    project.ship()

    project.lose_database()
    assert project.rebuild("--timestamp", middle).exit_code == 0
    assert state() == at_middle
    assert project.rebuild().exit_code == 0
    assert state() == latest
    # A REAL that 15 digits would round (0.9000000000000001 on SQLite, 0.8999999999999999 on
    # PostgreSQL, whose 0.1 + 0.2 is exact numeric) and an integer past 2**53 came back exactly.
    assert latest[1][0]["r"] != 0.9 and latest[1][0]["n"] == 9007199254740993


def test_a_migration_starts_a_new_snapshot_and_a_time_after_the_last_run_is_refused(project):
    project.ship()
    (project.migrations / "0999_add_subtitle.sql").write_text("ALTER TABLE content ADD COLUMN subtitle TEXT;\n")
    assert project.cli("d1", "migrations", "apply", "DB").exit_code == 0
    project.sql("UPDATE content SET subtitle = 'x' WHERE id = 'p1'")
    assert project.ship()["snapshots_shipped"] == 1  # the old snapshot does not describe the new schema
    after_run = now_seconds_between_writes()
    project.lose_database()
    refused = project.rebuild("--timestamp", after_run)
    assert refused.exit_code == 1 and "pick an earlier time (or ship more often)" in refused.output
    assert project.rebuild().exit_code == 0
    assert project.rows("SELECT subtitle FROM content WHERE id = 'p1'") == [{"subtitle": "x"}]


def test_a_rebuild_at_a_time_inside_a_transaction_leaves_all_of_it_out(project):
    project.ship()  # the snapshot
    project.sql("UPDATE content SET title = 'Between' WHERE id = 'p2'")  # a change after the snapshot's time
    _, point = straddling_transaction(project)
    project.ship()
    project.lose_database()

    result = project.rebuild("--timestamp", unix_seconds(point))
    assert result.exit_code == 0, result.output
    assert "1 change(s) shipped after it" in result.output
    assert project.content() == {"p1": "Post 1", "p2": "Between"}  # neither p3 nor the edit of p1

    assert project.rebuild("--timestamp", unix_seconds(point + 9)).exit_code == 0  # its commit: all of it
    assert project.content() == {"p1": "Edited", "p2": "Between", "p3": "Added"}


def rewrite_lines(bucket, key, rewrite):
    lines = [rewrite(json.loads(line)) for line in gzip.decompress(bucket.get(key).bytes()).decode().splitlines()]
    bucket.put(key, gzip.compress("".join(json.dumps(line) + "\n" for line in lines).encode()))


def without_transactions(line):
    """A snapshot or segment line as shipped before migration 0033: no tx, no current_tx."""
    if isinstance(line, list) and len(line) == 8:  # a change: seq ... old_row, tx, new row
        return line[:6] + line[7:]
    if isinstance(line, list) and line[0] in {"d1_changes", "d1_time_travel"}:
        return [line[0], {name: value for name, value in line[1].items() if name not in {"tx", "current_tx"}}]
    return line


def test_history_shipped_before_transactions_were_numbered_still_rebuilds(project):
    project.ship()
    moment = now_seconds_between_writes()
    edit_delete_add(project)
    project.ship()
    env = project.env()
    try:
        for key in project.history_keys():
            if key.endswith(".jsonl.gz"):
                rewrite_lines(env.HISTORY, key, without_transactions)
    finally:
        env.DB.db.close()
    project.lose_database()

    assert project.rebuild("--timestamp", moment).exit_code == 0
    assert project.content() == {"p1": "Post 1", "p2": "Post 2"}
    result = project.rebuild()
    assert result.exit_code == 0, result.output
    assert project.content() == {"p1": "Edited", "p3": "Added"}
    # Each old change counts as a transaction of its own; new writes are numbered again.
    assert project.rows("SELECT COUNT(*) AS n FROM d1_changes WHERE tx IS NOT NULL") == [{"n": 0}]
    project.sql("UPDATE content SET title = 'New' WHERE id = 'p1'")
    assert project.rows("SELECT COUNT(*) AS n FROM d1_changes WHERE tx IS NOT NULL") == [{"n": 1}]


@pytest.mark.postgres
def test_a_rebuild_from_the_bucket_computes_each_search_vector_once(request, tmp_path):
    # The search triggers would compute a vector for every row loaded and every change
    # replayed, and the rebuild that follows every one again: it is left to the rebuild.
    project = make_project(request, tmp_path, "postgres", "folder")
    project.sql("UPDATE content SET title = 'Walrus', status = 'published' WHERE id = 'p1'")
    project.ship()
    project.sql("UPDATE content SET title = 'Zebra' WHERE id = 'p1'")
    project.sql("INSERT INTO content (id, collection_id, slug, title, data, author_id, status, created_at, updated_at)"
                " VALUES ('p3', 'c1', 'post-3', 'Added', '{\"body\": \"okapi\"}', 'u1', 'published', 2, 2)")
    project.ship()
    project.lose_database()
    env = project.env()
    db = env.DB.db
    try:
        with db.atomic():  # the calls this transaction made, before they are reported
            db.execute_sql("SET LOCAL track_functions = 'pl'")
            restore_from_bucket(db, env.HISTORY, PREFIX)
            calls = db.execute_sql("SELECT calls FROM pg_stat_xact_user_functions WHERE funcname = %s",
                                   (derived.PG_SEARCH_FUNCTION,)).fetchall()
        assert calls == [(3,)]  # p1, p2, p3: once each
        stale = db.execute_sql(
            f"SELECT coalesce(c.id, f.id) FROM content c FULL JOIN {derived.FTS_TABLE} f ON f.id = c.id WHERE c.id IS NULL"
            f" OR f.id IS NULL OR f.vector IS DISTINCT FROM {derived.PG_SEARCH_FUNCTION}(c.title, c.data)").fetchall()
        assert stale == []
        bind_models(db)
        client = client_for(env)

        def found(words):
            return sorted(item["id"] for item in client.get("/api/content", {"search": words}).json["data"])

        assert (found("zebra"), found("walrus"), found("okapi")) == (["p1"], [], ["p3"])
        # The triggers are on again: a later write's vector is computed.
        project.sql("UPDATE content SET title = 'Narwhal' WHERE id = 'p3'")
        assert found("narwhal") == ["p3"]
    finally:
        db.close()


def test_inside_a_deferred_block_writes_are_not_indexed_and_the_triggers_come_back(project):
    # A restore writes every row of content and then rebuilds the search index: inside the
    # block the index is left alone (SQLite's FTS5 triggers dropped, PostgreSQL's disabled),
    # and after it the same triggers index again.
    env = project.env()
    db = env.DB.db
    try:
        def triggers():
            if derived.is_postgres(db):
                return db.execute_sql("SELECT tgname, tgenabled FROM pg_trigger WHERE tgrelid = 'content'::regclass"
                                      " AND tgname = ANY(%s) ORDER BY 1", (list(derived.PG_SEARCH_TRIGGERS),)).fetchall()
            return db.execute_sql("SELECT name, sql FROM sqlite_master WHERE type = 'trigger'"
                                  " AND name LIKE 'sonicpy_content_fts%' ORDER BY 1").fetchall()

        def indexed(word):
            if derived.is_postgres(db):
                sql = f"SELECT id FROM {derived.FTS_TABLE} WHERE vector @@ to_tsquery('simple', %s)"
            else:
                sql = (f"SELECT c.id FROM {derived.FTS_TABLE} f JOIN content c ON c.rowid = f.rowid"
                       f" WHERE {derived.FTS_TABLE} MATCH ?")
            return [row[0] for row in db.execute_sql(sql, (word,)).fetchall()]

        before = triggers()
        assert len(before) >= 2
        insert = ("INSERT INTO content (id, collection_id, slug, title, data, author_id, created_at, updated_at)"
                  " VALUES (?, 'c1', ?, ?, '{}', 'u1', 5, 5)").replace("?", "%s" if derived.is_postgres(db) else "?")
        with db.atomic():
            with derived.search_vectors_deferred(db):
                db.execute_sql(insert, ("p5", "post-5", "Quokka"))
                assert indexed("quokka") == []
                if derived.is_postgres(db):  # the counts' deferred triggers, as the restore's key check does
                    db.execute_sql("SET CONSTRAINTS ALL IMMEDIATE")
            assert triggers() == before
            db.execute_sql(insert, ("p6", "post-6", "Wombat"))
            assert indexed("wombat") == ["p6"]
            derived.rebuild(db)
            assert indexed("quokka") == ["p5"]
    finally:
        db.close()
