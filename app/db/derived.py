"""Structures derived from ``content`` and kept in step by triggers: counts and the search index.

* ``content_counts`` (migration 0020) holds one row per collection, status and deleted
  flag with the number of content rows, so an unfiltered list reads its total from a
  handful of rows instead of counting every matching one.
* On PostgreSQL, NULLS LAST twins of the live-content list indexes (``PG_LIST_INDEXES``).
* The full-text index: on SQLite an FTS5 table, ``content_fts``, whose rowids are
  content's rowids and whose columns are the title and every string value of ``data``
  (at any depth; keys are not indexed); on PostgreSQL a GIN index over
  ``sonicpy_search_vector(title, data)``, the same text as a ``tsvector``.

Both are maintained by triggers on ``content`` (SQLite triggers, a plpgsql trigger
function on PostgreSQL, run at commit there; the GIN index is maintained by PostgreSQL itself), so every
write path keeps them right: the API, ``d1 execute --file`` with plain INSERTs, the JSON
backup import and a time-travel restore (which replays changes as plain DML; the derived
tables are therefore not tracked by time travel themselves).

They are dialect-specific, so the migration runner installs them after every apply
(``install``): what is missing is created, and what was just created is filled from the
rows already there. ``rebuild`` recomputes everything (after ``VACUUM`` on SQLite, which
may renumber the rowids the search index refers to, or after writes made with the
triggers dropped).
"""

import peewee

COUNTS_TABLE = "content_counts"
FTS_TABLE = "content_fts"
FTS_SOURCE = "content_fts_source"
TRIGGER_PREFIX = "sonicpy_content_"
PG_COUNT_FUNCTION = "sonicpy_content_count"
PG_SEARCH_FUNCTION = "sonicpy_search_vector"
PG_SEARCH_INDEX = "idx_content_search"
# Tables time travel leaves alone: they are recomputed by the triggers when it replays
# content changes (the FTS5 shadow tables start with the FTS table's name).
DERIVED_PREFIXES = (COUNTS_TABLE, FTS_TABLE)


def is_derived(name):
    """True for the derived tables, views and triggers (time travel does not track them)."""
    return name.startswith(DERIVED_PREFIXES) or name.startswith(TRIGGER_PREFIX)


def is_installed_on_apply(name):
    """True for what ``install`` creates (search index, triggers): an SQL dump leaves them
    out, since FTS5 tables cannot be restored from INSERTs, and the migration runner puts
    them back (the counts table is a migration's, and its rows are dumped with it)."""
    return name.startswith((FTS_TABLE, TRIGGER_PREFIX))


def _is_postgres(db):
    return isinstance(db, peewee.PostgresqlDatabase)


# ------------------------------------------------------------------ SQLite

# Every string value of a row's data, space-separated; data that is not JSON (written by
# hand) counts as empty rather than failing the write.
_SQLITE_BODY = ("(SELECT group_concat(value, ' ') FROM json_tree(CASE WHEN json_valid({row}.data)"
                " THEN {row}.data ELSE '{{}}' END) WHERE type = 'text')")


def _sqlite_body(row):
    return _SQLITE_BODY.format(row=row)


def _sqlite_count_step(row, delta):
    return (f"INSERT INTO {COUNTS_TABLE} (collection_id, status, deleted, n)"
            f" VALUES ({row}.collection_id, {row}.status, {row}.deleted_at IS NOT NULL, {delta})"
            f" ON CONFLICT (collection_id, status, deleted) DO UPDATE SET n = n + ({delta});")


def _sqlite_fts_add(row):
    return f"INSERT INTO {FTS_TABLE} (rowid, title, body) VALUES ({row}.rowid, {row}.title, {_sqlite_body(row)});"


def _sqlite_fts_remove(row):
    return (f"INSERT INTO {FTS_TABLE} ({FTS_TABLE}, rowid, title, body)"
            f" VALUES ('delete', {row}.rowid, {row}.title, {_sqlite_body(row)});")


_COUNT_CHANGED = ("OLD.collection_id IS NOT NEW.collection_id OR OLD.status IS NOT NEW.status"
                  " OR (OLD.deleted_at IS NULL) <> (NEW.deleted_at IS NULL)")

SQLITE_TRIGGERS = {
    f"{TRIGGER_PREFIX}count_insert": f"AFTER INSERT ON content BEGIN {_sqlite_count_step('NEW', 1)} END",
    f"{TRIGGER_PREFIX}count_delete": f"AFTER DELETE ON content BEGIN {_sqlite_count_step('OLD', -1)} END",
    f"{TRIGGER_PREFIX}count_update": (
        f"AFTER UPDATE OF collection_id, status, deleted_at ON content WHEN {_COUNT_CHANGED}"
        f" BEGIN {_sqlite_count_step('OLD', -1)} {_sqlite_count_step('NEW', 1)} END"),
    f"{TRIGGER_PREFIX}fts_insert": f"AFTER INSERT ON content BEGIN {_sqlite_fts_add('NEW')} END",
    f"{TRIGGER_PREFIX}fts_delete": f"AFTER DELETE ON content BEGIN {_sqlite_fts_remove('OLD')} END",
    f"{TRIGGER_PREFIX}fts_update": (
        "AFTER UPDATE OF title, data ON content WHEN OLD.title IS NOT NEW.title OR OLD.data IS NOT NEW.data"
        f" BEGIN {_sqlite_fts_remove('OLD')} {_sqlite_fts_add('NEW')} END"),
}

# External content: the index stores no copy of the text; FTS5 reads the view when it
# needs a row's text (it never does for matching and ranking). unicode61 without diacritic
# removal folds case as PostgreSQL's 'simple' configuration does.
SQLITE_FTS = (f"CREATE VIRTUAL TABLE {FTS_TABLE} USING fts5(title, body,"
              f" content='{FTS_SOURCE}', content_rowid='rowid', tokenize='unicode61 remove_diacritics 0')")
SQLITE_FTS_SOURCE = (f"CREATE VIEW {FTS_SOURCE} AS SELECT content.rowid AS rowid, title,"
                     f" {_sqlite_body('content')} AS body FROM content")


def _sqlite_objects(db):
    rows = db.execute_sql("SELECT name FROM sqlite_master WHERE type IN ('table', 'view', 'trigger')").fetchall()
    return {name for (name,) in rows}


def _install_sqlite(db):
    present = _sqlite_objects(db)
    created = False
    if FTS_SOURCE not in present:
        db.execute_sql(SQLITE_FTS_SOURCE)
    if FTS_TABLE not in present:
        db.execute_sql(SQLITE_FTS)
        created = True
    for name, body in SQLITE_TRIGGERS.items():
        if name not in present:
            db.execute_sql(f'CREATE TRIGGER "{name}" {body}')
            created = True
    return created


def _rebuild_sqlite(db):
    # FTS5's own 'rebuild' reads the view with T.* after the rowid, which a view cannot serve.
    db.execute_sql(f"INSERT INTO {FTS_TABLE} ({FTS_TABLE}) VALUES ('delete-all')")
    db.execute_sql(f"INSERT INTO {FTS_TABLE} (rowid, title, body) SELECT rowid, title, body FROM {FTS_SOURCE}")


# ------------------------------------------------------------------ PostgreSQL

PG_COUNT_SQL = f"""
CREATE OR REPLACE FUNCTION {PG_COUNT_FUNCTION}() RETURNS trigger LANGUAGE plpgsql AS $body$
BEGIN
  IF TG_OP IN ('UPDATE', 'DELETE') THEN
    INSERT INTO {COUNTS_TABLE} (collection_id, status, deleted, n)
    VALUES (OLD.collection_id, OLD.status, (OLD.deleted_at IS NOT NULL)::int, -1)
    ON CONFLICT (collection_id, status, deleted) DO UPDATE SET n = {COUNTS_TABLE}.n - 1;
  END IF;
  IF TG_OP IN ('UPDATE', 'INSERT') THEN
    INSERT INTO {COUNTS_TABLE} (collection_id, status, deleted, n)
    VALUES (NEW.collection_id, NEW.status, (NEW.deleted_at IS NOT NULL)::int, 1)
    ON CONFLICT (collection_id, status, deleted) DO UPDATE SET n = {COUNTS_TABLE}.n + 1;
  END IF;
  RETURN NULL;
END
$body$"""

# The title weighs more than the data (ranking); data that is not JSON counts as empty.
# Punctuation becomes spaces first: PostgreSQL's parser would otherwise read "ABC-7" as the
# words "abc" and "-7" where SQLite's tokenizer reads "abc" and "7".
PG_SEARCH_SQL = f"""
CREATE OR REPLACE FUNCTION {PG_SEARCH_FUNCTION}(title text, data text) RETURNS tsvector
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $body$
DECLARE
  body text;
BEGIN
  BEGIN
    SELECT string_agg(item #>> '{{}}', ' ') INTO body
    FROM jsonb_path_query(data::jsonb, 'strict $.**') AS item WHERE jsonb_typeof(item) = 'string';
  EXCEPTION WHEN others THEN
    body := '';
  END;
  RETURN setweight(to_tsvector('simple', regexp_replace(coalesce(title, ''), '[[:punct:]]', ' ', 'g')), 'A')
      || setweight(to_tsvector('simple', regexp_replace(coalesce(body, ''), '[[:punct:]]', ' ', 'g')), 'B');
END
$body$"""

# Constraint triggers deferred to the commit: the counter row is updated (and locked) only
# while the transaction commits, not from its content write on, so concurrent writers of one
# collection and status wait on it for the commit alone instead of for the whole rest of
# their transaction (a create's other inserts, a workflow move's checks). The counts are
# the same: OLD and NEW are those of each row change, applied in the same transaction.
PG_COUNT_TRIGGERS = {
    f"{TRIGGER_PREFIX}count_write": "AFTER INSERT OR DELETE ON content",
    f"{TRIGGER_PREFIX}count_update": "AFTER UPDATE OF collection_id, status, deleted_at ON content",
}
_PG_COUNT_UPDATE_WHEN = (
    " WHEN (OLD.collection_id IS DISTINCT FROM NEW.collection_id OR OLD.status IS DISTINCT FROM NEW.status"
    " OR (OLD.deleted_at IS NULL) <> (NEW.deleted_at IS NULL))")


# The live-content list indexes of migrations 0012 and 0014 are DESC, which PostgreSQL
# reads as NULLS FIRST, while lists order NULLS LAST (as SQLite does going down): these
# twins match the lists' ORDER BY, so PostgreSQL returns pages in index order too.
PG_LIST_INDEXES = {
    f"idx_content_live_{name}_published_nl": f"{columns}status, published_at DESC NULLS LAST, id DESC NULLS LAST"
    for name, columns in (("collection", "collection_id, "), ("author", "author_id, "), ("all", ""))
}


def _install_postgres(db):
    deferred = dict(db.execute_sql(
        "SELECT t.tgname, t.tginitdeferred FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid"
        " JOIN pg_namespace n ON n.oid = c.relnamespace"
        " WHERE c.relname = 'content' AND n.nspname = current_schema()").fetchall())
    cursor = db.cursor()
    cursor.execute(PG_COUNT_SQL)  # no parameters: psycopg2 leaves the bodies alone
    cursor.execute(PG_SEARCH_SQL)
    created = False
    for name, timing in PG_COUNT_TRIGGERS.items():
        if deferred.get(name):
            continue
        if name in deferred:
            # A plain trigger of an earlier install: replaced (the counts it kept stay right).
            db.execute_sql(f"DROP TRIGGER {name} ON content")
        else:
            created = True
        when = _PG_COUNT_UPDATE_WHEN if "UPDATE" in timing else ""
        db.execute_sql(f"CREATE CONSTRAINT TRIGGER {name} {timing} DEFERRABLE INITIALLY DEFERRED"
                       f" FOR EACH ROW{when} EXECUTE FUNCTION {PG_COUNT_FUNCTION}()")
    db.execute_sql(f"CREATE INDEX IF NOT EXISTS {PG_SEARCH_INDEX} ON content"
                   f" USING gin ({PG_SEARCH_FUNCTION}(title, data))")
    for name, columns in PG_LIST_INDEXES.items():
        db.execute_sql(f"CREATE INDEX IF NOT EXISTS {name} ON content ({columns}) WHERE deleted_at IS NULL")
    return created


# ------------------------------------------------------------------ both


def install(db):
    """Create what is missing (triggers, search index) and fill what was just created.

    Call inside a transaction, on a database whose migrations include 0020.
    """
    if not db.table_exists(COUNTS_TABLE):
        return
    created = _install_postgres(db) if _is_postgres(db) else _install_sqlite(db)
    if created:
        rebuild(db)


def rebuild(db):
    """Recompute the counts and the search index from ``content`` (one transaction)."""
    with db.atomic():
        if _is_postgres(db):
            # Count changes of this transaction still waiting for its commit run now,
            # before the recount, rather than after it (where they would count twice).
            db.execute_sql("SET CONSTRAINTS ALL IMMEDIATE")
        db.execute_sql(f"DELETE FROM {COUNTS_TABLE}")
        deleted = "(deleted_at IS NOT NULL)::int" if _is_postgres(db) else "deleted_at IS NOT NULL"
        db.execute_sql(f"INSERT INTO {COUNTS_TABLE} (collection_id, status, deleted, n)"
                       f" SELECT collection_id, status, {deleted}, COUNT(*) FROM content"
                       f" GROUP BY collection_id, status, {deleted}")
        if not _is_postgres(db):
            _rebuild_sqlite(db)
