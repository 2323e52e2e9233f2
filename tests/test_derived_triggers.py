"""``d1 migrations apply`` puts the triggers that keep the counts and the search index back to
this version's definition, on SQLite and PostgreSQL.

A database made by an earlier sonicpy holds triggers (and, on PostgreSQL, trigger functions)
of the same names written for an earlier rule. Here they are replaced by hand with ones
that do nothing: the apply replaces them, recomputes what they left wrong, and the next
content written is counted and found. The search index itself (SQLite's FTS5 table and its
view, PostgreSQL's GIN index) is replaced the same way. An apply that finds them current
recomputes nothing. Until then ``d1 migrations list --check`` names each one an earlier rule
made (``derived.outdated_objects``), and none once the apply replaced them.
"""

import psycopg2
import pytest

from app.db import derived
from app.db.database import is_postgres, pg_fold_collation
from app.db.migrations import MigrationRunner
from app.db.models import bind_models
from tests.fixtures.app import MIGRATIONS, client_for, migrate, run_stack_cli
from tests.fixtures.content import create_collection, insert_items
from tests.fixtures.counts import kept_counts, true_counts

# Each test runs on SQLite and on PostgreSQL (tests/fixtures/backends.py).
pytestmark = pytest.mark.backends

POSTGRES_ONLY = pytest.mark.parametrize("db_backend", [pytest.param("postgres", marks=pytest.mark.postgres)],
                                        indirect=True)
NOTHING = "sonicpy_test_nothing"  # a trigger function that does nothing
COUNT_INSERT = f"{derived.TRIGGER_PREFIX}count_insert"  # SQLite's
COUNT_WRITE = f"{derived.TRIGGER_PREFIX}count_write"  # PostgreSQL's (insert and delete)
VALUE_INSERT = f"{derived.TRIGGER_PREFIX}value_insert"
VALUE_WRITE = f"{derived.TRIGGER_PREFIX}value_write"
FTS_INSERT = f"{derived.TRIGGER_PREFIX}fts_insert"


def outdated(db):
    """What ``d1 migrations list --check`` finds missing or of an earlier rule (names)."""
    return set(derived.outdated_objects(db))


def apply(env, tmp_path):
    run_stack_cli(tmp_path, "d1", "migrations", "apply", "DB")
    bind_models(env.DB.db)  # the command bound the models to its own connection


@pytest.fixture
def site(env, make_user, pages_collection):
    """``env``'s database with an author, ``pages``, and the triggers put back afterwards:
    PostgreSQL's test database outlives the test."""
    db = env.DB.db
    yield env, make_user("author")[0], pages_collection
    if is_postgres(db):
        db.execute_sql(f"DROP FUNCTION IF EXISTS {NOTHING}() CASCADE")  # and the triggers calling it
    migrate(env)


def replace_by_hand(db, name, events):
    """Put a trigger that does nothing in place of trigger ``name`` (on ``events``)."""
    if is_postgres(db):
        db.execute_sql(f"CREATE OR REPLACE FUNCTION {NOTHING}() RETURNS trigger LANGUAGE plpgsql"
                       " AS $body$BEGIN RETURN NULL; END$body$")
        db.execute_sql(f"DROP TRIGGER {name} ON content")
        db.execute_sql(f"CREATE CONSTRAINT TRIGGER {name} AFTER {events} ON content DEFERRABLE INITIALLY DEFERRED"
                       f" FOR EACH ROW EXECUTE FUNCTION {NOTHING}()")
    else:
        db.execute_sql(f'DROP TRIGGER "{name}"')
        db.execute_sql(f'CREATE TRIGGER "{name}" AFTER {events} ON content BEGIN SELECT 1; END')


def definition(db, name):
    """What the database keeps of trigger ``name``: SQLite its CREATE statement, PostgreSQL
    the function it calls and whether it is deferred to the commit."""
    if is_postgres(db):
        return db.execute_sql("SELECT tgfoid::regproc::text, tginitdeferred FROM pg_trigger"
                              " WHERE tgrelid = 'content'::regclass AND tgname = %s", (name,)).fetchone()
    return db.execute_sql("SELECT sql FROM sqlite_master WHERE name = ?", (name,)).fetchone()[0]


def current(db, name, function, triggers):
    """What ``definition`` reads of trigger ``name`` as this version installs it."""
    return (function, True) if is_postgres(db) else f'CREATE TRIGGER "{name}" {triggers[name]}'


def indexed(db, word):
    """The slugs the search index itself finds for ``word`` (on PostgreSQL through the GIN index)."""
    if not is_postgres(db):
        return sorted(slug for (slug,) in db.execute_sql(
            "SELECT c.slug FROM content_fts f JOIN content c ON c.rowid = f.rowid WHERE content_fts MATCH ?",
            (word,)).fetchall())
    with db.atomic():
        db.execute_sql("SET LOCAL enable_seqscan = off")  # a table this small would be read whole
        return sorted(slug for (slug,) in db.execute_sql(
            f"SELECT c.slug FROM {derived.FTS_TABLE} f JOIN content c ON c.id = f.id"
            " WHERE f.vector @@ to_tsquery('simple', %s)", (word,)).fetchall())


def found(client, word):
    return sorted(item["slug"] for item in client.get("/api/content", {"search": word}).json["data"])


def test_apply_replaces_a_count_trigger_and_the_search_index_s_of_an_earlier_rule(site, tmp_path):
    env, author, pages = site
    db = env.DB.db
    if is_postgres(db):
        replace_by_hand(db, COUNT_WRITE, "INSERT OR DELETE")
        # The search index is PostgreSQL's own, over this function: an earlier one indexes nothing.
        db.execute_sql(f"CREATE OR REPLACE FUNCTION {derived.PG_SEARCH_FUNCTION}(title text, data text)"
                       " RETURNS tsvector LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE"
                       " AS $body$BEGIN RETURN ''::tsvector; END$body$")
    else:
        replace_by_hand(db, COUNT_INSERT, "INSERT")
        replace_by_hand(db, FTS_INSERT, "INSERT")
    insert_items(pages, author, 1, slug_prefix="earlier", data=lambda i: {"body": "zebra"})
    assert kept_counts(db) == [] and indexed(db, "zebra") == []
    assert outdated(db) == ({COUNT_WRITE, derived.PG_SEARCH_FUNCTION} if is_postgres(db) else {COUNT_INSERT, FTS_INSERT})

    apply(env, tmp_path)

    assert outdated(db) == set()

    if is_postgres(db):
        assert definition(db, COUNT_WRITE) == (derived.PG_COUNT_FUNCTION, True)
        assert db.execute_sql("SELECT prosrc FROM pg_proc WHERE proname = %s",
                              (derived.PG_SEARCH_FUNCTION,)).fetchone()[0] == derived.pg_search_body(pg_fold_collation(db))
    else:
        for name in (COUNT_INSERT, FTS_INSERT):
            assert definition(db, name) == current(db, name, None, derived.SQLITE_TRIGGERS)
    # What the earlier triggers left out is there, and the next row is counted and indexed.
    assert kept_counts(db) == true_counts(db) == [(pages.id, "published", 0, 1)]
    insert_items(pages, author, 1, slug_prefix="later", data=lambda i: {"body": "zebra yak"})
    assert kept_counts(db) == true_counts(db) == [(pages.id, "published", 0, 2)]
    assert indexed(db, "zebra") == ["earlier-0", "later-0"] and indexed(db, "yak") == ["later-0"]
    client = client_for(env)
    assert client.get("/api/content").json["meta"]["total"] == 2
    assert found(client, "zebra") == ["earlier-0", "later-0"] and found(client, "yak") == ["later-0"]


# An earlier rule's search index: on SQLite one folding ASCII letters only ("Émile" is not
# "émile"), filled from the raw JSON (keys too); on PostgreSQL the GIN index over content's
# expression that earlier versions built, with no table of stored vectors.
EARLIER_FTS_SOURCE = f"CREATE VIEW {derived.FTS_SOURCE} AS SELECT content.rowid AS rowid, title, data AS body FROM content"
EARLIER_FTS = (f"CREATE VIRTUAL TABLE {derived.FTS_TABLE} USING fts5(title, body, content='{derived.FTS_SOURCE}',"
               " content_rowid='rowid', tokenize='ascii')")
EARLIER_PG_INDEX = (f"CREATE INDEX {derived.PG_SEARCH_INDEX} ON content USING gin"
                    f" ({derived.PG_SEARCH_FUNCTION}(title, data))")


def put_earlier_search_index(db):
    """Replace the search index by hand with ``EARLIER_*``'s, filled as its rule fills it."""
    if is_postgres(db):
        for trigger in derived.PG_SEARCH_TRIGGERS:
            db.execute_sql(f"DROP TRIGGER {trigger} ON content")
        db.execute_sql(f"DROP FUNCTION {derived.PG_SEARCH_STEP}()")
        db.execute_sql(f"DROP TABLE {derived.FTS_TABLE}")  # its index with it
        db.execute_sql(EARLIER_PG_INDEX)
        return
    db.execute_sql(f"DROP TABLE {derived.FTS_TABLE}")
    db.execute_sql(f"DROP VIEW {derived.FTS_SOURCE}")
    db.execute_sql(EARLIER_FTS_SOURCE)
    db.execute_sql(EARLIER_FTS)
    db.execute_sql(f"INSERT INTO {derived.FTS_TABLE} (rowid, title, body)"
                   f" SELECT rowid, title, body FROM {derived.FTS_SOURCE}")


def search_definitions(db):
    """What the database keeps of the search index: SQLite's CREATE statements of the FTS5
    table and its view, PostgreSQL's index as it shows it (without the schema)."""
    if is_postgres(db):
        return db.execute_sql("SELECT replace(indexdef, schemaname || '.', '') FROM pg_indexes"
                              " WHERE indexname = %s", (derived.PG_SEARCH_INDEX,)).fetchall()
    return db.execute_sql("SELECT sql FROM sqlite_master WHERE name IN (?, ?) ORDER BY name",
                          (derived.FTS_TABLE, derived.FTS_SOURCE)).fetchall()


def current_search_definitions(db):
    if is_postgres(db):
        return [(derived.PG_SEARCH_INDEX_SQL,)]
    return [(derived.SQLITE_FTS,), (derived.SQLITE_FTS_SOURCE,)]


def searched_through_the_index(db):
    """Whether PostgreSQL answers a search through the search index (SQLite: always)."""
    if not is_postgres(db):
        return True
    with db.atomic():
        db.execute_sql("SET LOCAL enable_seqscan = off")
        plan = db.execute_sql(f"EXPLAIN SELECT id FROM {derived.FTS_TABLE}"
                              " WHERE vector @@ to_tsquery('simple', 'zebra')").fetchall()
    return any(derived.PG_SEARCH_INDEX in line for (line,) in plan)


def test_apply_replaces_a_search_index_of_an_earlier_rule_and_fills_it(site, tmp_path):
    env, author, pages = site
    db = env.DB.db
    insert_items(pages, author, 1, slug_prefix="earlier", data=lambda i: {"body": "Émile zebra"})
    put_earlier_search_index(db)
    assert search_definitions(db) != current_search_definitions(db)
    if not is_postgres(db):
        assert indexed(db, "émile") == [] and indexed(db, "body") == ["earlier-0"]
    else:
        assert not db.table_exists(derived.FTS_TABLE)
    assert outdated(db) == ({derived.FTS_TABLE, derived.PG_SEARCH_INDEX, derived.PG_SEARCH_STEP, *derived.PG_SEARCH_TRIGGERS}
                            if is_postgres(db) else {derived.FTS_TABLE, derived.FTS_SOURCE})

    apply(env, tmp_path)

    assert outdated(db) == set()

    assert search_definitions(db) == current_search_definitions(db)
    assert searched_through_the_index(db)
    # Filled afresh by this version's rule: the word is found whatever its case, the key is not.
    assert indexed(db, "émile") == indexed(db, "zebra") == ["earlier-0"] and indexed(db, "body") == []
    insert_items(pages, author, 1, slug_prefix="later", data=lambda i: {"body": "zebra"})
    assert indexed(db, "zebra") == ["earlier-0", "later-0"]
    client = client_for(env)
    assert found(client, "émile") == ["earlier-0"] and found(client, "zebra") == ["earlier-0", "later-0"]


def put_markup_words_rule(db):
    """Put back by hand the rule that indexed every string value as written, markup too
    (the search triggers and view on SQLite, the search vector function of version 3 on
    PostgreSQL), and fill the index by it."""
    if is_postgres(db):
        collate = pg_fold_collation(db)
        earlier = derived.pg_search_body(collate).replace(derived.pg_search_text("string"), "string").replace(
            derived.pg_search_version(collate), "sonicpy search words 3: punctuation and symbols split words;"
            f" letters, digits, marks do not; case folded by lower() {collate or 'of the database locale'}")
        db.execute_sql(f"CREATE OR REPLACE FUNCTION {derived.PG_SEARCH_FUNCTION}(title text, data text)"
                       f" RETURNS tsvector LANGUAGE plpgsql IMMUTABLE PARALLEL UNSAFE AS $body${earlier}$body$")
        db.execute_sql(f"UPDATE {derived.FTS_TABLE} f SET vector = {derived.PG_SEARCH_FUNCTION}(c.title, c.data)"
                       " FROM content c WHERE c.id = f.id")
        return
    as_written = derived.sqlite_search_text("t.value")
    for name in derived.SQLITE_FTS_TRIGGERS:
        db.execute_sql(f'DROP TRIGGER "{name}"')
        db.execute_sql(f'CREATE TRIGGER "{name}" {derived.SQLITE_TRIGGERS[name]}'.replace(as_written, "t.value"))
    db.execute_sql(f"DROP VIEW {derived.FTS_SOURCE}")
    db.execute_sql(derived.SQLITE_FTS_SOURCE.replace(as_written, "t.value"))
    db.execute_sql(f"INSERT INTO {derived.FTS_TABLE} ({derived.FTS_TABLE}) VALUES ('delete-all')")
    db.execute_sql(f"INSERT INTO {derived.FTS_TABLE} (rowid, title, body)"
                   f" SELECT rowid, title, body FROM {derived.FTS_SOURCE}")


def test_apply_refills_an_index_whose_rule_indexed_markup(site, tmp_path):
    # The rule before this version took rich text's tags and entities for words: the apply
    # replaces it and indexes every item afresh, by the words of its text alone.
    env, author, pages = site
    db = env.DB.db
    insert_items(pages, author, 1, slug_prefix="earlier",
                 data=lambda i: {"body": '<p class="lead">zebra&nbsp;<strong>yak</strong></p>'})
    put_markup_words_rule(db)
    insert_items(pages, author, 1, slug_prefix="between", data=lambda i: {"body": "<em>zebra</em>"})
    assert indexed(db, "strong") == ["earlier-0"] and indexed(db, "em") == ["between-0"]
    assert indexed(db, "nbsp") == indexed(db, "lead") == ["earlier-0"]
    assert outdated(db) == ({derived.PG_SEARCH_FUNCTION} if is_postgres(db)
                            else {derived.FTS_SOURCE, *derived.SQLITE_FTS_TRIGGERS})

    apply(env, tmp_path)

    assert outdated(db) == set()

    for word in ("strong", "em", "nbsp", "lead", "class", "p"):
        assert indexed(db, word) == [], word
    assert indexed(db, "zebra") == ["between-0", "earlier-0"] and indexed(db, "yak") == ["earlier-0"]
    insert_items(pages, author, 1, slug_prefix="later", data=lambda i: {"body": "<b>zebra</b>"})
    assert indexed(db, "zebra") == ["between-0", "earlier-0", "later-0"] and indexed(db, "b") == []
    client = client_for(env)
    assert found(client, "strong") == found(client, "b") == [] and found(client, "yak") == ["earlier-0"]


LIST_TWIN = "idx_content_live_all_published_nl"


@POSTGRES_ONLY
def test_apply_replaces_a_list_index_twin_of_an_earlier_rule(site, tmp_path):
    # A twin ordered otherwise (NULLS FIRST on id) no longer matches the lists' ORDER BY.
    env, author, pages = site
    db = env.DB.db
    insert_items(pages, author, 3)
    db.execute_sql(f"DROP INDEX {LIST_TWIN}")
    db.execute_sql(f"CREATE INDEX {LIST_TWIN} ON content (status, published_at DESC NULLS LAST, id DESC)"
                   " WHERE deleted_at IS NULL")
    shown = ("SELECT replace(indexdef, schemaname || '.', '') FROM pg_indexes WHERE indexname = %s")
    assert db.execute_sql(shown, (LIST_TWIN,)).fetchone()[0] != derived.PG_LIST_INDEXES[LIST_TWIN]
    assert outdated(db) == {LIST_TWIN}

    apply(env, tmp_path)

    assert outdated(db) == set()

    assert db.execute_sql(shown, (LIST_TWIN,)).fetchone()[0] == derived.PG_LIST_INDEXES[LIST_TWIN]
    assert db.execute_sql("SELECT count(*) FROM pg_class WHERE relname LIKE %s",
                          (f"{LIST_TWIN}%",)).fetchone()[0] == 1  # the outdated one is gone


SCHEMA = {"type": "object", "properties": {"category": {"type": "string", "indexed": True}}}


def kept_values(db):
    return sorted(tuple(row) for row in db.execute_sql(
        "SELECT field, value, status, n FROM content_counts_values WHERE n <> 0").fetchall())


def test_apply_replaces_a_value_count_trigger_of_an_earlier_rule(site, tmp_path):
    env, author, _ = site
    db = env.DB.db
    shop = create_collection("shop", schema=SCHEMA)
    derived.track_declared(db)  # as a collection write does
    name, events = (VALUE_WRITE, "INSERT OR DELETE") if is_postgres(db) else (VALUE_INSERT, "INSERT")
    replace_by_hand(db, name, events)
    insert_items(shop, author, 1, slug_prefix="earlier", data=lambda i: {"category": "tea"})
    assert kept_values(db) == [] and outdated(db) == {name}

    apply(env, tmp_path)

    assert outdated(db) == set()

    assert definition(db, name) == current(db, name, derived.PG_VALUE_FUNCTION, derived.SQLITE_VALUE_TRIGGERS)
    assert kept_values(db) == [("category", "tea", "published", 1)]
    insert_items(shop, author, 1, slug_prefix="later", data=lambda i: {"category": "tea"})
    assert kept_values(db) == [("category", "tea", "published", 2)]


@POSTGRES_ONLY
def test_apply_recomputes_the_counts_when_it_replaces_an_earlier_count_function(site, tmp_path):
    # Every apply runs CREATE OR REPLACE FUNCTION: the rows counted (or not) by the earlier
    # body are recomputed too.
    env, author, pages = site
    db = env.DB.db
    db.execute_sql(f"CREATE OR REPLACE FUNCTION {derived.PG_COUNT_FUNCTION}() RETURNS trigger LANGUAGE plpgsql"
                   " AS $body$BEGIN RETURN NULL; END$body$")
    insert_items(pages, author, 1, slug_prefix="earlier")
    assert kept_counts(db) == [] and outdated(db) == {derived.PG_COUNT_FUNCTION}

    apply(env, tmp_path)

    assert outdated(db) == set()

    assert kept_counts(db) == true_counts(db) == [(pages.id, "published", 0, 1)]
    insert_items(pages, author, 1, slug_prefix="later")
    assert kept_counts(db) == true_counts(db) == [(pages.id, "published", 0, 2)]


def test_an_apply_that_finds_the_triggers_current_recomputes_nothing(site, tmp_path):
    # Replacing is paid once: a count removed by hand stays removed (nothing was recounted),
    # and PostgreSQL's triggers and search index are the same ones.
    env, author, pages = site
    db = env.DB.db
    insert_items(pages, author, 2)
    oids = ("SELECT tgname, oid FROM pg_trigger WHERE tgrelid = 'content'::regclass AND tgname LIKE %s"
            " UNION ALL SELECT relname, oid FROM pg_class WHERE relname = ANY(%s) ORDER BY 1")
    ours = (f"{derived.TRIGGER_PREFIX}%", [derived.PG_SEARCH_INDEX, *derived.PG_LIST_INDEXES])
    before = db.execute_sql(oids, ours).fetchall() if is_postgres(db) else None
    assert before or not is_postgres(db)
    db.execute_sql("DELETE FROM content_counts")
    assert outdated(db) == set()  # wrong counts are no object missing: the check reads the catalog only

    apply(env, tmp_path)

    assert kept_counts(db) == []
    if is_postgres(db):
        assert db.execute_sql(oids, ours).fetchall() == before


def read_elsewhere(db):
    """The number of content rows another connection reads, or "blocked" when a lock keeps
    it waiting past a second."""
    connection = psycopg2.connect(dbname=db.database, **db.connect_params)
    try:
        with connection.cursor() as cursor:
            cursor.execute("SET lock_timeout = '1s'")
            cursor.execute("SELECT count(*) FROM content")
            return cursor.fetchone()[0]
    except psycopg2.errors.LockNotAvailable:
        return "blocked"
    finally:
        connection.close()


@POSTGRES_ONLY
def test_reads_go_on_while_apply_recounts_after_replacing_a_trigger(site, monkeypatch):
    # Replacing a trigger (DROP TRIGGER) locks content against reads until its transaction
    # ends: the recount must not run inside that transaction.
    env, author, pages = site
    db = env.DB.db
    replace_by_hand(db, COUNT_WRITE, "INSERT OR DELETE")
    insert_items(pages, author, 2, slug_prefix="earlier")
    reads, original = [], db.execute_sql

    def execute_sql(sql, params=None, *args, **kwargs):
        if sql.startswith(f"DELETE FROM {derived.COUNTS_TABLE}") and not reads:
            reads.append(read_elsewhere(db))
        return original(sql, params, *args, **kwargs)

    monkeypatch.setattr(db, "execute_sql", execute_sql)
    MigrationRunner(db, MIGRATIONS).apply()
    monkeypatch.undo()

    assert reads == [2]
    assert definition(db, COUNT_WRITE) == (derived.PG_COUNT_FUNCTION, True)
    assert kept_counts(db) == true_counts(db)


@POSTGRES_ONLY
def test_a_recount_lost_after_its_install_committed_is_owed_at_the_next_apply(site):
    # The process running the apply dies between the install's transaction and the
    # recount's: what the install replaced is still recounted, by the next apply.
    env, author, pages = site
    db = env.DB.db
    replace_by_hand(db, COUNT_WRITE, "INSERT OR DELETE")
    insert_items(pages, author, 2, slug_prefix="earlier")
    with db.atomic():
        assert derived.install_objects(db) == derived.REFILL_ALL  # and no refill after it
    assert kept_counts(db) != true_counts(db)

    MigrationRunner(db, MIGRATIONS).apply()

    assert kept_counts(db) == true_counts(db)
    with db.atomic():
        assert derived.install_objects(db) is None  # paid: nothing owed any more
