"""The counts and the search index follow every write path: plain SQL (what ``d1 execute
--file`` and bulk imports run), the API, and a time-travel restore; on SQLite and PostgreSQL."""

import peewee
import pytest
from playhouse import db_url

from app.db import derived
from app.db.database import is_postgres, pg_fold_collation
from app.db.models import bind_models
from app.db.pg_json import PG_JSON_FUNCTION, pg_strings_walk
from app.db.time_travel import current_bookmark, restore
from tests.fixtures.app import client_for, env_with_copy, make_env, migrate
from tests.fixtures.content import create_collection, insert_items
from tests.fixtures.counts import kept_counts, true_counts
from tests.fixtures.users import create_user


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def site(request, tmp_path, migrated_template):
    """A migrated env of the test's own, on each database."""
    if request.param == "postgres":
        env = make_env(tmp_path, database_url=request.getfixturevalue("migrated_postgres_url"))
    else:
        env = env_with_copy(tmp_path, migrated_template)
    bind_models(env.DB.db)
    yield env
    env.DB.db.close()


def found(client, words):
    return sorted(item["slug"] for item in client.get("/api/content", {"search": words}).json["data"])


def sql(db, text):
    return db.execute_sql(text.replace("?", "%s") if is_postgres(db) else text)


def stale_vectors(db):
    """PostgreSQL: the content ids whose stored search vector is missing, an earlier text's,
    or left from a row that is gone (SQLite's index is checked by the searches)."""
    if not is_postgres(db):
        return []
    return sorted(row[0] for row in db.execute_sql(
        f"SELECT coalesce(c.id, f.id) FROM content c FULL JOIN {derived.FTS_TABLE} f ON f.id = c.id"
        f" WHERE c.id IS NULL OR f.id IS NULL OR f.vector IS DISTINCT FROM {derived.PG_SEARCH_FUNCTION}(c.title, c.data)"))


def test_plain_sql_writes_keep_counts_and_search_right(site):
    db, client = site.DB.db, client_for(site)
    blog = create_collection("blog")
    author = create_user("author")
    insert_items(blog, author, 3, data=lambda i: {"body": f"alpha{i} shared"})
    sql(db, "UPDATE content SET status = 'draft' WHERE slug = 'item-0'")
    sql(db, "UPDATE content SET data = '{\"body\": \"<em class=\\\"x\\\">beta</em>&nbsp;\"}' WHERE slug = 'item-1'")
    sql(db, "DELETE FROM content WHERE slug = 'item-2'")
    assert kept_counts(db) == true_counts(db) == [("col-blog", "draft", 0, 1), ("col-blog", "published", 0, 1)]
    assert found(client, "beta") == ["item-1"]
    assert found(client, "em") == found(client, "class") == found(client, "nbsp") == []  # markup is no word
    assert found(client, "shared") == []  # item-1 lost the word, item-0 is a draft, item-2 is gone
    assert client.get("/api/content").json["meta"]["total"] == 1
    sql(db, "UPDATE content SET id = 'moved', title = 'Moved kappa' WHERE slug = 'item-0'")
    sql(db, "UPDATE content SET status = 'published' WHERE slug = 'item-0'")
    assert found(client, "kappa") == ["item-0"] and stale_vectors(db) == []


@pytest.mark.postgres
def test_a_status_change_leaves_the_stored_vector_alone(migrated_postgres_url, tmp_path):
    """Publishing, trashing or moving an item does not change its words: the vector's row
    is not written again (its ``xmin``, the transaction that wrote it, stays)."""
    env = make_env(tmp_path, database_url=migrated_postgres_url)
    try:
        bind_models(env.DB.db)
        db = env.DB.db
        insert_items(create_collection("blog"), create_user("author"), 1, status="draft", data=lambda i: {"body": "iota"})
        written = f"SELECT xmin::text FROM {derived.FTS_TABLE}"
        before = db.execute_sql(written).fetchall()
        sql(db, "UPDATE content SET status = 'published', published_at = 1, deleted_at = 2, updated_at = 3")
        assert db.execute_sql(written).fetchall() == before
        sql(db, "UPDATE content SET data = '{\"body\": \"iota lambda\"}'")
        assert db.execute_sql(written).fetchall() != before and stale_vectors(db) == []
    finally:
        env.DB.db.close()


def test_a_restore_leaves_counts_and_search_right(site):
    db, client = site.DB.db, client_for(site)
    blog = create_collection("blog")
    author = create_user("author")
    insert_items(blog, author, 2, data=lambda i: {"body": f"gamma{i}"})
    before = current_bookmark(db)
    insert_items(blog, author, 2, slug_prefix="later", data=lambda i: {"body": "delta"})
    sql(db, "UPDATE content SET title = 'Renamed epsilon' WHERE slug = 'item-0'")
    sql(db, "DELETE FROM content WHERE slug = 'item-1'")
    restore(db, before)
    assert kept_counts(db) == true_counts(db) == [("col-blog", "published", 0, 2)]
    assert found(client, "delta") == [] and found(client, "epsilon") == []
    assert found(client, "gamma1") == ["item-1"]
    assert client.get("/api/content").json["meta"]["total"] == 2
    assert stale_vectors(db) == []


def test_rebuild_recomputes_what_writes_without_triggers_left_wrong(site):
    db, client = site.DB.db, client_for(site)
    blog = create_collection("blog")
    insert_items(blog, create_user("author"), 2, data=lambda i: {"body": "zeta"})
    sql(db, "DELETE FROM content_counts")
    if is_postgres(db):
        sql(db, f"DELETE FROM {derived.FTS_TABLE}")
    assert client.get("/api/content").json["meta"]["total"] == 0
    derived.rebuild(db)
    assert client.get("/api/content", {"limit": 5}).json["meta"]["total"] == 2
    assert found(client, "zeta") == ["item-0", "item-1"] and stale_vectors(db) == []


def test_search_ranks_by_relevance_on_request(site):
    db, client = site.DB.db, client_for(site)
    blog = create_collection("blog")
    bodies = {0: ("Zebra facts", "plain words"), 1: ("Other", "zebra and zebra again"),
              2: ("Third", "one zebra among many many many other words here")}
    insert_items(blog, create_user("author"), 3, data=lambda i: {"body": bodies[i][1]})
    for i, (title, _) in bodies.items():
        sql(db, f"UPDATE content SET title = '{title}' WHERE slug = 'item-{i}'")
    ranked = client.get("/api/content", {"search": "zebra", "sort": "relevance"}).json["data"]
    # The title weighs most; two mentions in a short text beat one in a long text.
    assert [item["slug"] for item in ranked] == ["item-0", "item-1", "item-2"]
    # Cursor pages follow the ranking, each item once.
    seen, params = [], {"search": "zebra", "sort": "relevance", "limit": 1}
    while True:
        meta_data = client.get("/api/content", params).json
        seen += [item["slug"] for item in meta_data["data"]]
        if "nextCursor" not in meta_data["meta"]:
            break
        params = {**params, "cursor": meta_data["meta"]["nextCursor"]}
    assert seen == ["item-0", "item-1", "item-2"]
    refused = client.get("/api/content", {"sort": "relevance"}, status=400).json
    assert refused["details"] == [{"parameter": "sort", "message": "relevance needs search="}]


def test_relevance_is_one_sort_key_however_it_is_spelt(site):
    """``+relevance`` and the JSON form rank as ``relevance`` does; with another key it is a
    400 saying so, not an "unknown field"."""
    client = client_for(site)
    blog = create_collection("blog")
    bodies = ["zebra zebra zebra", "one zebra among many many many other words here", "zebra and zebra"]
    insert_items(blog, create_user("author"), 3, data=lambda i: {"body": bodies[i]})

    def ranked(sort, **params):
        answer = client.get("/api/content", {"search": "zebra", "sort": sort, **params}).json["data"]
        return [item["slug"] for item in answer]

    best_first = ranked("relevance")
    assert sorted(best_first) == ["item-0", "item-1", "item-2"] and best_first[-1] == "item-1"
    for spelt in ("-relevance", "+relevance", '[{"field": "relevance", "order": "desc"}]',
                  '[{"field": "relevance"}]'):
        assert ranked(spelt) == best_first, spelt
    for combined in ("relevance,title", "title,relevance", "-relevance,-updated_at",
                     '[{"field": "relevance", "order": "desc"}, {"field": "title"}]'):
        refused = client.get("/api/content", {"search": "zebra", "sort": combined}, status=400).json
        assert refused["details"] == [{"parameter": "sort", "message": "relevance must be the only sort key"}]
    refused = client.get("/api/content", {"sort": "title,relevance"}, status=400).json
    assert refused["details"] == [
        {"parameter": "sort", "message": "relevance must be the only sort key (and needs search=)"}]
    refused = client.get("/api/content", {"sort": '[{"field": "relevance"}]'}, status=400).json
    assert refused["details"] == [{"parameter": "sort", "message": "relevance needs search="}]


SCRIPTS = ["नमस्ते दुनिया", "हिन्दी भाषा", "தமிழ் மொழி", "שָׁלוֹם עולם", "Tiếng Việt", "Привет мир"]


@pytest.mark.parametrize("word, index", [
    ("नमस्ते", 0), ("दुनिया", 0), ("हिन्दी", 1), ("भाषा", 1), ("தமிழ்", 2), ("மொழி", 2), ("שָׁלוֹם", 3),
    ("Tiếng", 4), ("Привет", 5), ("नम*", 0),
])
def test_words_carrying_combining_marks_are_found_whole_on_both_databases(site, word, index):
    """Devanagari and Tamil write vowels as combining marks, Hebrew its points: a word of
    theirs is one word to both indexes, and so it must be to the query."""
    client = client_for(site)
    insert_items(create_collection("scripts"), create_user("author"), len(SCRIPTS),
                 data=lambda i: {"body": SCRIPTS[i]})
    assert found(client, word) == [f"item-{index}"]


def test_other_numbers_are_word_characters_on_sqlite_and_separators_on_postgresql(site):
    """README's search syntax lists this difference (category No: ``²``, ``₂``, ``½``, ``①``):
    this fails when either database changes it, so that README changes with it."""
    client = client_for(site)
    texts = ["x² squared", "½ half", "H₂O water", "x marks"]
    insert_items(create_collection("numbers"), create_user("author"), len(texts),
                 data=lambda i: {"body": texts[i]}, title="Entry")
    answers = {words: found(client, words) for words in ("x", "x²", "H₂O", "½", "x*")}
    if is_postgres(site.DB.db):
        assert answers == {"x": ["item-0", "item-3"], "x²": ["item-0", "item-3"], "H₂O": ["item-2"], "½": [],
                           "x*": ["item-0", "item-3"]}
    else:
        assert answers == {"x": ["item-3"], "x²": ["item-0"], "H₂O": ["item-2"], "½": ["item-1"],
                           "x*": ["item-0", "item-3"]}


# Words joined by a space or format character Unicode 6.1 knew (no-break space, em space,
# zero-width space, soft hyphen, word joiner), and a name wrapped in bidi isolates (U+2068,
# U+2069) or joined by one (U+2066), which Unicode added in 6.3.
SPACED = ["alpha\u00a0beta", "gamma\u2003delta", "eta\u200btheta", "iota\u00adkappa", "lambda\u2060mu",
          "hello \u2068alice\u2069", "nu\u2066xi"]
SPACED_QUERIES = ["alpha", "beta", "alpha\u00a0beta", "delta", "gamma\u2003delta", "theta", "eta\u200btheta",
                  "kappa", "iota\u00adkappa", "mu", "lambda\u2060mu", "alpha*", "hello", "alice", "xi", "nu*"]


def spaced_answers(client):
    """What each of ``SPACED_QUERIES`` finds among items holding ``SPACED``."""
    insert_items(create_collection("spaced"), create_user("author"), len(SPACED),
                 data=lambda i: {"body": SPACED[i]}, title="Entry")
    return {words: found(client, words) for words in SPACED_QUERIES}


def test_spaces_and_format_characters_split_words_alike_but_those_unicode_added_after_6_1(site):
    """README's search syntax lists this difference: spaces and format characters split words
    on both databases, but those Unicode added after 6.1 (bidi isolates) are word characters
    to SQLite's tokenizer. This fails when either database changes it, so that README changes
    with it (a C locale on PostgreSQL: the test after this one)."""
    answers = spaced_answers(client_for(site))
    split = {words: [f"item-{i}"] for i, group in enumerate(
        [("alpha", "beta", "alpha\u00a0beta", "alpha*"), ("delta", "gamma\u2003delta"), ("theta", "eta\u200btheta"),
         ("kappa", "iota\u00adkappa"), ("mu", "lambda\u2060mu"), ("hello",), ("nu*",)]) for words in group}
    if is_postgres(site.DB.db):
        assert answers == {**split, "alice": ["item-5"], "xi": ["item-6"]}
    else:
        assert answers == {**split, "alice": [], "xi": []}  # the words are "\u2068alice\u2069" and "nu\u2066xi"


def c_locale_env(postgres_server, tmp_path, name):
    """A migrated env on a new PostgreSQL database with a C locale (drop it with ``name``)."""
    from tests.fixtures.postgres import _execute_admin, _url

    _execute_admin(postgres_server.port, f"CREATE DATABASE {name} TEMPLATE template0 ENCODING 'UTF8'"
                                         " LC_COLLATE 'C' LC_CTYPE 'C'")
    env = make_env(tmp_path, database_url=_url(postgres_server.port, name))
    migrate(env)
    bind_models(env.DB.db)
    return env


@pytest.mark.postgres
def test_spaces_and_format_characters_join_words_on_postgresql_with_a_c_locale(postgres_server, tmp_path):
    """README's search syntax lists this difference: under a C locale PostgreSQL's parser takes
    every character past ASCII that is no punctuation or symbol for a letter, so a no-break
    space, zero-width space or soft hyphen joins the words either side into one; the query
    still splits them, and finds such an item by the prefix of its first word only."""
    name = "c_locale_spaced"
    env = c_locale_env(postgres_server, tmp_path, name)
    try:
        answers = spaced_answers(client_for(env))
    finally:
        env.DB.db.close()
        postgres_server.drop_database(name)
    assert answers == {**{words: [] for words in SPACED_QUERIES}, "alpha*": ["item-0"], "hello": ["item-5"],
                       "nu*": ["item-6"]}


@pytest.mark.postgres
def test_an_earlier_search_function_is_replaced_and_its_index_rebuilt(migrated_postgres_url, tmp_path):
    """A database installed before words kept their marks: ``d1 migrations apply`` replaces
    the function and computes the stored vectors afresh."""
    env = make_env(tmp_path, database_url=migrated_postgres_url)
    try:
        bind_models(env.DB.db)
        db, client = env.DB.db, client_for(env)
        insert_items(create_collection("scripts"), create_user("author"), len(SCRIPTS),
                     data=lambda i: {"body": SCRIPTS[i]})
        earlier = derived.pg_search_body(pg_fold_collation(db)).replace(derived._separators(), "[[:punct:]]").replace(
            derived.PG_SEARCH_VERSION, "an earlier version")
        db.execute_sql(f"CREATE OR REPLACE FUNCTION {derived.PG_SEARCH_FUNCTION}(title text, data text)"
                       f" RETURNS tsvector LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $body${earlier}$body$")
        db.execute_sql(f"UPDATE {derived.FTS_TABLE} f SET vector = {derived.PG_SEARCH_FUNCTION}(c.title, c.data)"
                       " FROM content c WHERE c.id = f.id")  # the vectors that function stored
        assert found(client, "नमस्ते") == []  # split at its virama by [[:punct:]]
        migrate(env)
        after = client.get("/api/content", {"search": "नमस्ते", "limit": 7}).json["data"]  # not the cached list
        assert [item["slug"] for item in after] == ["item-0"]
        with db.atomic():  # through the index itself (a table this small is otherwise read whole)
            db.execute_sql("SET LOCAL enable_seqscan = off")
            indexed = db.execute_sql(f"SELECT c.slug FROM {derived.FTS_TABLE} f JOIN content c ON c.id = f.id"
                                     " WHERE f.vector @@ to_tsquery('simple', %s)", ("'नमस्ते'",)).fetchall()
        assert indexed == [("item-0",)]
        assert db.execute_sql("SELECT prosrc FROM pg_proc WHERE proname = %s",
                              (derived.PG_SEARCH_FUNCTION,)).fetchone()[0] == derived.pg_search_body(pg_fold_collation(db))
    finally:
        env.DB.db.close()


@pytest.mark.postgres
def test_words_of_every_script_are_found_on_a_database_with_a_c_locale(postgres_server, tmp_path):
    """Under a C locale PostgreSQL's character classes know ASCII only: the search vector's
    separators are explicit Unicode ranges, so letters of other scripts stay words."""
    name = "c_locale_search"
    env = c_locale_env(postgres_server, tmp_path, name)
    try:
        # Lower case: a C locale cannot fold the case of other scripts (PostgreSQL's lower()
        # follows it), so "Привет" is stored as written while the query looks for "привет".
        texts = ["café crème", "привет мир", "東京", "नमस्ते दुनिया", "abc-7 x"]
        insert_items(create_collection("scripts"), create_user("author"), len(texts), data=lambda i: {"body": texts[i]})
        client = client_for(env)
        for index, word in enumerate(["crème", "привет", "東京", "नमस्ते", "abc-7"]):
            assert found(client, word) == [f"item-{index}"], word
    finally:
        env.DB.db.close()
        postgres_server.drop_database(name)


@pytest.mark.postgres
def test_a_role_that_does_not_own_the_search_index_may_rebuild(postgres_server, migrated_postgres_url, tmp_path):
    """Merging the GIN index's pending list is its owner's (or a superuser's) right: a role
    that may write every table but owns none (a restore run with the app's own credentials)
    still recomputes everything; the merge is left to autovacuum."""
    url = migrated_postgres_url
    env = make_env(tmp_path, database_url=url)
    writer = None
    try:
        bind_models(env.DB.db)
        db = env.DB.db
        insert_items(create_collection("blog"), create_user("author"), 2, data=lambda i: {"body": "omega"})
        postgres_server.drop_role("sonicpy_writer")
        db.execute_sql("CREATE ROLE sonicpy_writer LOGIN")
        db.execute_sql("GRANT ALL ON ALL TABLES IN SCHEMA public TO sonicpy_writer")
        db.execute_sql("GRANT ALL ON ALL SEQUENCES IN SCHEMA public TO sonicpy_writer")
        db.execute_sql(f"DELETE FROM {derived.FTS_TABLE}")
        writer = db_url.connect(url.replace("postgres@", "sonicpy_writer@"))
        derived.rebuild(writer)
        assert writer.execute_sql(f"SELECT count(*) FROM {derived.FTS_TABLE}").fetchone()[0] == 2
        assert stale_vectors(db) == []
    finally:
        if writer is not None:
            writer.close()
        env.DB.db.close()
        # The role holds grants in the database: it goes first (the fixture's drop finds none).
        postgres_server.drop_database(url.rsplit("/", 1)[1])
        postgres_server.drop_role("sonicpy_writer")


def parallel_count(db, condition):
    """``SELECT count(*) FROM content WHERE condition`` planned parallel whatever the table's size."""
    with db.atomic():
        for setting in ("parallel_setup_cost = 0", "parallel_tuple_cost = 0", "min_parallel_table_scan_size = 0",
                        "max_parallel_workers_per_gather = 2"):
            db.execute_sql(f"SET LOCAL {setting}")
        plan = "\n".join(row[0] for row in db.execute_sql(f"EXPLAIN SELECT count(*) FROM content WHERE {condition}"))
        return plan, db.execute_sql(f"SELECT count(*) FROM content WHERE {condition}").fetchone()[0]


@pytest.mark.postgres
def test_the_functions_that_read_data_never_run_in_a_parallel_plan(migrated_postgres_url, tmp_path):
    """Both functions catch what they cannot read in an EXCEPTION block, a subtransaction,
    which a parallel query refuses: they are PARALLEL UNSAFE, and an apply marks an earlier
    install's PARALLEL SAFE ones so, without computing the stored vectors again."""
    env = make_env(tmp_path, database_url=migrated_postgres_url)
    try:
        bind_models(env.DB.db)
        db = env.DB.db
        insert_items(create_collection("blog"), create_user("author"), 3, data=lambda i: {"body": "sigma"})
        search = f"{derived.PG_SEARCH_FUNCTION}(title, data) @@ to_tsquery('simple', 'sigma')"
        document = f"{PG_JSON_FUNCTION}(data) IS NOT NULL"
        for condition in (search, document):
            plan, found = parallel_count(db, condition)
            assert "Parallel" not in plan and found == 3, plan
        db.execute_sql(f"ALTER FUNCTION {derived.PG_SEARCH_FUNCTION}(text, text) PARALLEL SAFE")  # as installed before
        db.execute_sql(f"ALTER FUNCTION {PG_JSON_FUNCTION}(text) PARALLEL SAFE")
        with pytest.raises(peewee.DatabaseError, match="subtransactions during a parallel operation"):
            parallel_count(db, search)
        written = db.execute_sql(f"SELECT id, xmin::text FROM {derived.FTS_TABLE} ORDER BY id").fetchall()
        assert stale_vectors(db) == []  # the earlier walk gives the same vectors
        migrate(env)
        for condition in (search, document):
            plan, found = parallel_count(db, condition)
            assert "Parallel" not in plan and found == 3, plan
        assert db.execute_sql(f"SELECT id, xmin::text FROM {derived.FTS_TABLE} ORDER BY id").fetchall() == written
    finally:
        env.DB.db.close()


@pytest.mark.postgres
def test_an_earlier_walk_of_the_strings_is_replaced_and_the_vectors_kept(migrated_postgres_url, tmp_path):
    """An install of this version whose function took the data's strings one row each
    (``jsonb_path_query``, quadratic in their number) gets the one-pass walk at the next
    apply: the same strings in the same order, so the stored vectors stay as they are."""
    env = make_env(tmp_path, database_url=migrated_postgres_url)
    try:
        bind_models(env.DB.db)
        db = env.DB.db
        insert_items(create_collection("blog"), create_user("author"), 3, data=lambda i: {"body": ["upsilon", i]})
        body = derived.pg_search_body(pg_fold_collation(db))
        walk = f"jsonb_array_elements_text({pg_strings_walk('data::jsonb')}) AS string"
        assert walk in body
        earlier = body.replace(walk, "(SELECT item #>> '{}' AS string FROM jsonb_path_query(data::jsonb, 'strict $.**')"
                                     " AS item WHERE jsonb_typeof(item) = 'string') AS strings")
        assert earlier != body
        db.execute_sql(f"CREATE OR REPLACE FUNCTION {derived.PG_SEARCH_FUNCTION}(title text, data text)"
                       f" RETURNS tsvector LANGUAGE plpgsql IMMUTABLE PARALLEL UNSAFE AS $body${earlier}$body$")
        written = db.execute_sql(f"SELECT id, xmin::text FROM {derived.FTS_TABLE} ORDER BY id").fetchall()
        assert stale_vectors(db) == []  # the earlier walk gives the same vectors
        migrate(env)
        installed = db.execute_sql("SELECT prosrc FROM pg_proc WHERE proname = %s",
                                   (derived.PG_SEARCH_FUNCTION,)).fetchone()[0]
        assert installed == body
        assert db.execute_sql(f"SELECT id, xmin::text FROM {derived.FTS_TABLE} ORDER BY id").fetchall() == written
        assert stale_vectors(db) == []
    finally:
        env.DB.db.close()


@pytest.mark.postgres
def test_truncating_content_empties_what_its_rows_kept(migrated_postgres_url, tmp_path):
    """TRUNCATE fires no row trigger: a statement trigger empties the vectors and the counts,
    as deleting every row would; the next rows are counted and found as usual."""
    env = make_env(tmp_path, database_url=migrated_postgres_url)
    try:
        bind_models(env.DB.db)
        db, client = env.DB.db, client_for(env)
        blog = create_collection("blog", {"type": "object", "properties": {"kind": {"type": "string", "indexed": True}}})
        author = create_user("author")
        insert_items(blog, author, 3, data=lambda i: {"body": "tau", "kind": "a"})
        db.execute_sql("TRUNCATE content CASCADE")
        assert stale_vectors(db) == [] and kept_counts(db) == true_counts(db) == []
        assert db.execute_sql(f"SELECT count(*) FROM {derived.VALUES_TABLE}").fetchone()[0] == 0
        insert_items(blog, author, 1, slug_prefix="later", data=lambda i: {"body": "tau", "kind": "a"})
        assert found(client, "tau") == ["later-0"] and stale_vectors(db) == []
        assert kept_counts(db) == true_counts(db) == [(blog.id, "published", 0, 1)]
    finally:
        env.DB.db.close()
