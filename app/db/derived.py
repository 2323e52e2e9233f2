"""Structures derived from ``content`` and kept in step by triggers: counts and the search index.

* ``content_counts`` (migration 0020) holds one row per collection, status and deleted
  flag with the number of content rows, so an unfiltered list reads its total from a
  handful of rows instead of counting every matching one.
* ``content_counts_values`` (migration 0029) holds the same per string value of each field
  a collection's schema declares ``"indexed": true`` (the pairs in
  ``content_counts_fields``, which ``track_declared`` keeps in step with the schemas), so
  a list filtered on one such value reads its exact total from one row.
* ``content_media`` (migration 0032) lists the media files each content row names, so
  whether a file is public is an index lookup (``app.db.content_media``, which holds its
  triggers and the rule of what names a file).
* On PostgreSQL, NULLS LAST twins of the live-content list indexes (``PG_LIST_INDEXES``).
* The full-text index, ``content_fts``: on SQLite an FTS5 table whose rowids are
  content's rowids and whose columns are the title and every string value of ``data``
  (at any depth, its markup dropped: see ``ENTITIES``; keys are not indexed); on
  PostgreSQL a table of each content id's ``sonicpy_search_vector(title, data)``, the same
  text as a ``tsvector``, with a GIN index over it.

All are maintained by triggers on ``content`` (SQLite triggers, plpgsql trigger functions
on PostgreSQL, the counts' run at commit there), so every
write path keeps them right: the API, ``d1 execute --file`` with plain INSERTs, the JSON
backup import and a time-travel restore (which replays changes as plain DML; the derived
tables are therefore not tracked by time travel themselves).

They are dialect-specific, so the migration runner installs them after every apply
(``install_objects``): what is missing is created, a trigger, function or search index an
earlier version wrote otherwise is replaced (``app.db.content_triggers``), and what was
created or replaced is filled afresh from the rows already there (on PostgreSQL in the next
transaction, ``refill``). ``outdated_objects`` tells what an install would create or replace,
by the same comparisons, reading the catalog only: ``d1 migrations list --check`` fails and
``serve`` warns while anything is (a database loaded from an SQL dump has none of them, and
no migration pending).
``rebuild`` recomputes everything (after ``VACUUM`` on SQLite, which may renumber the rowids
the search index refers to, or after writes made with the triggers dropped).
"""

import contextlib
import functools
import json
import re
import unicodedata

from app.db import content_media, content_triggers
from app.db.database import is_postgres, pg_fold_collation
from app.db.pg_json import PG_JSON_FUNCTION, PG_JSON_SQL, pg_strings_walk

COUNTS_TABLE = "content_counts"
VALUES_TABLE = "content_counts_values"
FIELDS_TABLE = "content_counts_fields"
# String values longer than this are not counted (a list filtering on one counts its
# matches instead): a key of a few KB would not fit PostgreSQL's index pages.
VALUE_LENGTH = 200
FTS_TABLE = "content_fts"
FTS_SOURCE = "content_fts_source"
TRIGGER_PREFIX = "sonicpy_content_"
PG_COUNT_FUNCTION = "sonicpy_content_count"
PG_SEARCH_FUNCTION = "sonicpy_search_vector"
PG_SEARCH_INDEX = "idx_content_search"
PG_VALUE_FUNCTION = "sonicpy_content_value_count"
PG_VALUE_ROWS = "sonicpy_content_value_rows"
PG_VALUE_STEP = "sonicpy_content_value_step"  # an earlier install's function, dropped
# Fields are counted and indexed only when a list may filter on them: top-level names (the
# same rule as a filter's data path; it also keeps SQLite's JSON paths well formed).
_FIELD_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")  # matched whole (fullmatch)
# Tables time travel leaves alone: they are recomputed by the triggers when it replays
# content changes (the FTS5 shadow tables start with the FTS table's name). The semantic
# search vectors too (and search_embeddings_state, the scheduled job's watermark): history
# keeps no copy of every vector written, and ``sonicpy search reindex`` embeds again the
# items a restore changed (a restored item's text or updated_at differs from its vector's).
SEARCH_EMBEDDINGS_TABLE = "search_embeddings"
DERIVED_PREFIXES = (COUNTS_TABLE, FTS_TABLE, content_media.TABLE, SEARCH_EMBEDDINGS_TABLE)


def is_derived(name):
    """True for the derived tables, views and triggers (time travel does not track them)."""
    return name.startswith(DERIVED_PREFIXES) or name.startswith(TRIGGER_PREFIX)


def is_installed_on_apply(name):
    """True for what ``install_objects`` creates (search index, triggers): an SQL dump leaves them
    out, since FTS5 tables cannot be restored from INSERTs, and the migration runner puts
    them back (the counts table is a migration's, and its rows are dumped with it)."""
    return name.startswith((FTS_TABLE, TRIGGER_PREFIX))


# ------------------------------------------------------------------ SQLite

# Markup is not words: in each string value (rich text is HTML, and the triggers do not
# know which fields hold it) every tag is dropped, then the common named entities are read
# as what they stand for, so that ``b``, ``href`` or ``nbsp`` find only the items whose text
# says them. The same rule on both databases (``sqlite_search_text``, ``pg_search_text``):
# the value is split at every '<'; the first piece is kept whole, every later one loses
# everything up to and including its first '>' (one with none, a lone '<' in plain text, is
# kept whole); the pieces are joined with spaces. Plain text holding "<...>" loses the
# words between the two. ``&amp;`` is read last: ``&amp;lt;`` is the text "&lt;".
# Numeric entities (``&#233;``) stay as written: decoding every one needs a number parser in
# trigger SQL that fails on neither database for a code point one of them refuses, and
# editors write such characters as themselves; what is left is a number word ("233").
ENTITIES = (("&nbsp;", " "), ("&lt;", "<"), ("&gt;", ">"), ("&quot;", '"'), ("&#39;", "'"), ("&apos;", "'"),
            ("&amp;", "&"))


def search_text(value):
    """The words the index takes of the string ``value``, in Python: the SQL rule above,
    step for step (``sqlite_search_text``), for text that must read as the index reads it."""
    if "<" in value:
        first, *rest = value.split("<")
        value = " ".join([first, *(piece[piece.find(">") + 1:] for piece in rest)])
    if "&" in value:
        for entity, character in ENTITIES:
            value = value.replace(entity, character)
    return value


def _entities_read(value, text, position="instr"):
    """SQL for ``text`` (the SQL of ``value`` with its tags dropped) with ``ENTITIES`` replaced;
    a value without '&' (most) is spared the replacements. ``position``: SQLite's ``instr``,
    PostgreSQL's ``strpos``."""
    read = text
    for entity, character in ENTITIES:
        read = f"replace({read}, '{entity}', '{character.replace(chr(39), chr(39) * 2)}')"
    return f"CASE WHEN {position}({value}, '&') = 0 THEN {text} ELSE {read} END"


def _sqlite_tags_dropped(value):
    """SQLite: ``value``'s pieces after the split at '<' (the rule above ``ENTITIES``), through JSON:
    ``json_quote`` escapes quotes and control characters, never '<', so replacing each '<' by
    '","' makes a valid array of the pieces. A value without '<' is its own text."""
    pieces = f"json_each('[' || replace(json_quote({value}), '<', '\",\"') || ']')"
    joined = (f"(SELECT group_concat(CASE WHEN p.key = 0 THEN p.value"
              f" ELSE substr(p.value, instr(p.value, '>') + 1) END, ' ') FROM {pieces} AS p)")
    return f"CASE WHEN instr({value}, '<') = 0 THEN {value} ELSE {joined} END"


def sqlite_search_text(value):
    """SQLite SQL for the words the index takes of the string ``value``: markup dropped (``ENTITIES``)."""
    return _entities_read(value, _sqlite_tags_dropped(value))


def pg_search_text(value):
    """PostgreSQL SQL for the words the index takes of the string ``value``: SQLite's
    (``sqlite_search_text``), the value split at '<' as an array whose pieces are numbered."""
    pieces = f"unnest(string_to_array({value}, '<')) WITH ORDINALITY AS p(piece, n)"
    joined = (f"(SELECT string_agg(CASE WHEN p.n = 1 THEN p.piece"
              f" ELSE substr(p.piece, strpos(p.piece, '>') + 1) END, ' ' ORDER BY p.n) FROM {pieces})")
    return _entities_read(value, f"CASE WHEN strpos({value}, '<') = 0 THEN {value} ELSE {joined} END", "strpos")


def _sqlite_body(row):
    """SQLite SQL for every string value of ``row``'s data, markup dropped, space-separated;
    data that is not JSON (written by hand) counts as empty rather than failing the write."""
    document = f"CASE WHEN json_valid({row}.data) THEN {row}.data ELSE '{{}}' END"
    return (f"(SELECT group_concat({sqlite_search_text('t.value')}, ' ') FROM json_tree({document}) AS t"
            " WHERE t.type = 'text')")


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
SQLITE_FTS_TRIGGERS = [name for name in SQLITE_TRIGGERS if name.startswith(f"{TRIGGER_PREFIX}fts_")]


def _sqlite_value_step(row, delta):
    """Count ``row``'s string values of its collection's counted fields (``delta``: +1 or -1).

    Read with ``json_extract`` and ``json_type``, as filters read them (a key written twice
    by hand counts once, with its first value); data that is not JSON counts as having no
    values, as filters read it as empty."""
    document = f"CASE WHEN json_valid({row}.data) THEN {row}.data ELSE '{{}}' END"
    path = "'$.' || f.field"
    return (f"INSERT INTO {VALUES_TABLE} (collection_id, field, value, status, deleted, n)"
            f" SELECT {row}.collection_id, f.field, json_extract({document}, {path}), {row}.status,"
            f" {row}.deleted_at IS NOT NULL, {delta} FROM {FIELDS_TABLE} f"
            f" WHERE f.collection_id = {row}.collection_id AND json_type({document}, {path}) = 'text'"
            f" AND length(json_extract({document}, {path})) <= {VALUE_LENGTH}"
            f" ON CONFLICT (collection_id, field, value, status, deleted) DO UPDATE SET n = n + ({delta});")


_VALUE_CHANGED = f"{_COUNT_CHANGED} OR OLD.data IS NOT NEW.data"

SQLITE_VALUE_TRIGGERS = {
    f"{TRIGGER_PREFIX}value_insert": f"AFTER INSERT ON content BEGIN {_sqlite_value_step('NEW', 1)} END",
    f"{TRIGGER_PREFIX}value_delete": f"AFTER DELETE ON content BEGIN {_sqlite_value_step('OLD', -1)} END",
    f"{TRIGGER_PREFIX}value_update": (
        f"AFTER UPDATE OF collection_id, status, deleted_at, data ON content WHEN {_VALUE_CHANGED}"
        f" BEGIN {_sqlite_value_step('OLD', -1)} {_sqlite_value_step('NEW', 1)} END"),
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


def _sqlite_statements(bodies):
    """``{trigger name: its CREATE TRIGGER statement}`` of ``{name: body}``."""
    return {name: f'CREATE TRIGGER "{name}" {body}' for name, body in bodies.items()}


SQLITE_SEARCH = {FTS_SOURCE: SQLITE_FTS_SOURCE, FTS_TABLE: SQLITE_FTS}  # the view first: the table reads it


def _sqlite_value_statements(db):
    """The value triggers' statements, where their table is (migration 0029); none before."""
    return _sqlite_statements(SQLITE_VALUE_TRIGGERS) if VALUES_TABLE in _sqlite_objects(db) else {}


def _install_sqlite(db):
    """Install the search index and the triggers; whether everything must be recomputed."""
    # An index made by another definition (columns, tokenizer, the text its view reads) is
    # replaced and filled afresh with everything else: its words may not be this version's.
    created, replaced = content_triggers.install_sqlite(db, SQLITE_SEARCH)
    stale = bool(created or replaced)
    created, replaced = content_triggers.install(db, _sqlite_statements(SQLITE_TRIGGERS))
    stale = stale or bool(created or replaced)
    # Values are counted per tracked pair: a new trigger has nothing to fill (the pairs
    # are counted as ``track_declared`` adds them), a replaced one may have miscounted.
    replaced = content_triggers.install(db, _sqlite_value_statements(db))[1]
    return stale or bool(replaced)


def _outdated_sqlite(db):
    """What ``_install_sqlite`` would create or replace (names), changing nothing."""
    statements = {**SQLITE_SEARCH, **_sqlite_statements(SQLITE_TRIGGERS), **_sqlite_value_statements(db)}
    return content_triggers.outdated(db, statements)


def _rebuild_sqlite(db):
    # FTS5's own 'rebuild' reads the view with T.* after the rowid, which a view cannot serve.
    db.execute_sql(f"INSERT INTO {FTS_TABLE} ({FTS_TABLE}) VALUES ('delete-all')")
    db.execute_sql(f"INSERT INTO {FTS_TABLE} (rowid, title, body) SELECT rowid, title, body FROM {FTS_SOURCE}")


# ------------------------------------------------------------------ PostgreSQL

# An update moving a row between two counter rows locks both: in the order of their keys,
# so that two transactions moving rows in opposite directions (a publish and an unpublish
# in one collection) take them in the same order instead of deadlocking.
PG_COUNT_SQL = f"""
CREATE OR REPLACE FUNCTION {PG_COUNT_FUNCTION}() RETURNS trigger LANGUAGE plpgsql AS $body$
BEGIN
  IF TG_OP = 'UPDATE' THEN
    INSERT INTO {COUNTS_TABLE} AS c (collection_id, status, deleted, n)
    SELECT * FROM (VALUES (OLD.collection_id, OLD.status, (OLD.deleted_at IS NOT NULL)::int, -1),
                          (NEW.collection_id, NEW.status, (NEW.deleted_at IS NOT NULL)::int, 1)) AS d
    ORDER BY 1, 2, 3
    ON CONFLICT (collection_id, status, deleted) DO UPDATE SET n = c.n + EXCLUDED.n;
  ELSIF TG_OP = 'DELETE' THEN
    INSERT INTO {COUNTS_TABLE} AS c (collection_id, status, deleted, n)
    VALUES (OLD.collection_id, OLD.status, (OLD.deleted_at IS NOT NULL)::int, -1)
    ON CONFLICT (collection_id, status, deleted) DO UPDATE SET n = c.n - 1;
  ELSE
    INSERT INTO {COUNTS_TABLE} AS c (collection_id, status, deleted, n)
    VALUES (NEW.collection_id, NEW.status, (NEW.deleted_at IS NOT NULL)::int, 1)
    ON CONFLICT (collection_id, status, deleted) DO UPDATE SET n = c.n + 1;
  END IF;
  RETURN NULL;
END
$body$"""

def _unicode_class(categories, planes=((0, 0x20000), (0xE0000, 0xE0200))):
    """A regex character class (``[...]``, for Python's ``re`` and PostgreSQL's regular
    expressions alike: ``\\U`` escapes) of the code points whose Unicode category starts with
    one of ``categories``. Only the first two planes and the tags and variation selectors are
    read: the others hold none of the characters this is used for (a few hundredths of a
    second, once)."""
    ranges = []
    for first, end in planes:
        start = None
        for point in range(first, end + 1):  # one past the end closes a run reaching it
            member = point < end and unicodedata.category(chr(point))[0] in categories
            if member and start is None:
                start = point
            elif not member and start is not None:
                ranges.append(f"\\U{start:08x}-\\U{point - 1:08x}")
                start = None
    return "[" + "".join(ranges) + "]"


@functools.cache
def combining_marks():
    """The class of Unicode's combining marks (categories Mn, Mc, Me): the query's words keep
    them (``नमस्ते`` is one word), as PostgreSQL's search vector does."""
    return _unicode_class("M")


@functools.cache
def _separators():
    """The class of Unicode's punctuation and symbols (categories P* and S*), which the search
    vector turns into spaces, whatever the database's locale: ``[[:punct:]]`` and
    ``[:alnum:]`` follow it (under a C locale they know ASCII only)."""
    return _unicode_class("PS")


# Marks the search vector function's body: an install finding an earlier version (or none)
# replaces it and rebuilds the index. The body's character classes come from the running
# Python's Unicode tables; a newer Python's do not make another install rebuild it. How the
# body folds case (``pg_search_version``) is part of the mark.
PG_SEARCH_VERSION = ("sonicpy search words 4: data's markup dropped; punctuation and symbols split words;"
                     " letters, digits, marks do not; case folded by lower()")

# Lower-case letters whose case folding is another letter: SQLite's unicode61 tokenizer folds
# them to it (``σίσυφος`` is indexed as ``σίσυφοσ``), ``lower()`` leaves them. PostgreSQL's
# search maps them after lower-casing, in the text (``pg_search_body``) and in the query's
# words (``fold_word``), so that it folds the letters SQLite folds.
# Written as escapes: a source normalised to NFC would make U+1FBE (prosgegrammeni) the
# iota it decomposes to, which maps to itself.
FOLD_FROM = "\u00b5\u017f\u03c2\u03d0\u03d1\u03d5\u03d6\u03f0\u03f1\u03f5\u1e9b\u1fbe"
FOLD_TO = "\u03bc\u0073\u03c3\u03b2\u03b8\u03c6\u03c0\u03ba\u03c1\u03b5\u1e61\u03b9"
_FOLD_TABLE = str.maketrans(FOLD_FROM, FOLD_TO)


def fold_word(word):
    """``word`` folded as PostgreSQL's search vector folds its text: lower-cased (Unicode's
    full mapping: ``İ`` becomes ``i̇``), then the letters of ``FOLD_FROM`` made ``FOLD_TO``."""
    return word.lower().translate(_FOLD_TABLE)


def pg_search_version(collate):
    """The version mark of a body folding under ``collate`` (``pg_fold_collation``'s clause,
    or "" when the server lacks ICU): a server that gains ICU gets the folding body."""
    return f"{PG_SEARCH_VERSION} {collate or 'of the database locale'}"


def pg_search_body(collate):
    """The body of PostgreSQL's search vector function, folding case under ``collate``.

    The title weighs more than the data (ranking); data that is not JSON counts as empty.
    Each string value of the data loses its markup as SQLite's triggers drop it
    (``pg_search_text``); the title is plain text, taken as written. Punctuation and symbols
    become spaces first, from explicit Unicode ranges (not the locale's classes):
    PostgreSQL's parser would otherwise read "ABC-7" as the words "abc" and "-7" where
    SQLite's tokenizer reads "abc" and "7", and ``[[:punct:]]`` would split "नमस्ते" at its
    virama under a UTF-8 locale. Letters, digits and combining marks stay
    in their words, as the query's words (``app.services.content.search``) keep them.

    Case is folded before ``to_tsvector`` (whose own lower-casing follows the database's
    locale: under "C", ASCII letters only) by ``lower()`` under ``collate``, the ICU root
    collation where the server has it (every letter, whatever the locale), then
    ``FOLD_FROM``; the query's words are folded alike (``fold_word``).
    """
    separator = _separators()

    def words(text):
        spaced = f"regexp_replace(coalesce({text}, ''), '{separator}', ' ', 'g')"
        return f"to_tsvector('simple', translate(lower({spaced} {collate}), '{FOLD_FROM}', '{FOLD_TO}'))"

    return f"""
-- {pg_search_version(collate)}
DECLARE
  body text;
BEGIN
  BEGIN
    SELECT string_agg({pg_search_text('string')}, ' ') INTO body
    FROM jsonb_array_elements_text({pg_strings_walk('data::jsonb')}) AS string;
  EXCEPTION WHEN others THEN
    body := '';
  END;
  RETURN setweight({words('title')}, 'A') || setweight({words('body')}, 'B');
END
"""


# PostgreSQL's search index is a table, as SQLite's is: one stored vector per content row,
# written by a trigger when the row's title or data change (a publish or a move leaves it
# alone). An index over the function's expression held no vector a query could read:
# ``ts_rank`` computed every match's vector again (the JSON walked, the words split), 0.5 s
# for a relevance page of a word 20,000 items hold; it reads the stored one instead.
PG_SEARCH_TABLE_SQL = f"CREATE TABLE {FTS_TABLE} (id text PRIMARY KEY, vector tsvector NOT NULL)"
PG_SEARCH_WRITE = f"{TRIGGER_PREFIX}search_write"
PG_SEARCH_UPDATE = f"{TRIGGER_PREFIX}search_update"
PG_SEARCH_STEP = f"{TRIGGER_PREFIX}search"
PG_SEARCH_STEP_SQL = f"""
CREATE OR REPLACE FUNCTION {PG_SEARCH_STEP}() RETURNS trigger LANGUAGE plpgsql AS $body$
BEGIN
  IF TG_OP = 'DELETE' OR (TG_OP = 'UPDATE' AND OLD.id IS DISTINCT FROM NEW.id) THEN
    DELETE FROM {FTS_TABLE} WHERE id = OLD.id;
  END IF;
  IF TG_OP <> 'DELETE' THEN
    INSERT INTO {FTS_TABLE} AS f (id, vector) VALUES (NEW.id, {PG_SEARCH_FUNCTION}(NEW.title, NEW.data))
    ON CONFLICT (id) DO UPDATE SET vector = EXCLUDED.vector;
  END IF;
  RETURN NULL;
END
$body$"""
# Not deferred: each row has its own vector row, which no other writer waits on, and the
# writing transaction's own searches see what it wrote.
PG_SEARCH_TRIGGERS = {
    PG_SEARCH_WRITE: f"CREATE TRIGGER {PG_SEARCH_WRITE} AFTER INSERT OR DELETE ON content"
                     f" FOR EACH ROW EXECUTE FUNCTION {PG_SEARCH_STEP}()",
    PG_SEARCH_UPDATE: f"CREATE TRIGGER {PG_SEARCH_UPDATE} AFTER UPDATE OF id, title, data ON content FOR EACH ROW"
                      " WHEN (OLD.id IS DISTINCT FROM NEW.id OR OLD.title IS DISTINCT FROM NEW.title"
                      f" OR OLD.data IS DISTINCT FROM NEW.data) EXECUTE FUNCTION {PG_SEARCH_STEP}()",
}
# As PostgreSQL shows it (``content_triggers.install_pg_index``). An earlier install's index
# of this name over content's expression is replaced by it (and so dropped). New entries
# wait in a pending list, which every search reads whole, until it passes this many kB (the
# default, 4 MB, took 20,000 fresh vectors: the planner then read every vector instead).
PG_SEARCH_INDEX_SQL = (f"CREATE INDEX {PG_SEARCH_INDEX} ON {FTS_TABLE} USING gin (vector)"
                       " WITH (gin_pending_list_limit='256')")


PG_SEARCH_FUNCTIONS = {PG_SEARCH_STEP: PG_SEARCH_STEP_SQL}


def _install_pg_search(db):
    """Create or replace the search vector function, the table of vectors, its triggers and
    its index; True when the stored vectors must be computed afresh (``rebuild``): the table
    is new, or the function or a trigger was replaced (the vectors are an earlier rule's)."""
    replaced = _install_pg_search_function(db)
    created = not db.table_exists(FTS_TABLE)
    if created:
        db.execute_sql(PG_SEARCH_TABLE_SQL)
    content_triggers.install_pg_index(db, PG_SEARCH_INDEX, PG_SEARCH_INDEX_SQL)
    changed = content_triggers.install_pg_functions(db, PG_SEARCH_FUNCTIONS)
    made, remade = content_triggers.install(db, PG_SEARCH_TRIGGERS)
    return bool(replaced or created or changed or made or remade)


def _rebuild_pg_search(db):
    """Compute every row's vector afresh (content is locked against writes by the caller).
    DELETE rather than TRUNCATE: searches go on meanwhile, with the vectors before.

    Two things autovacuum would do within a minute are done at once, since until then
    search is slow (the dead rows the DELETE leaves stay autovacuum's): the GIN index's
    pending list (where it first puts a bulk insert's entries, and which every search reads
    through) is merged into the index, and the table is sampled
    (``ANALYZE``; without statistics the planner took 20,000 vectors for a few and read
    every match of a word for a page of 20, 15 ms where the list's index gives it in 2).
    """
    db.execute_sql(f"DELETE FROM {FTS_TABLE}")
    db.execute_sql(f"INSERT INTO {FTS_TABLE} (id, vector) SELECT id, {PG_SEARCH_FUNCTION}(title, data) FROM content")
    # Only the index's owner (or a superuser) may merge it: a role that may write content but
    # does not own the index (a restore run by the app's own role) leaves that to autovacuum.
    db.execute_sql("SELECT gin_clean_pending_list(c.oid) FROM pg_class c"
                   " WHERE c.oid = %s::regclass AND pg_has_role(c.relowner, 'USAGE')", (PG_SEARCH_INDEX,))
    db.execute_sql(f"ANALYZE {FTS_TABLE}")


@contextlib.contextmanager
def search_vectors_deferred(db):
    """Around a bulk write of ``content`` that ``rebuild`` follows (a restore from the bucket):
    the search index's triggers are off inside the block, so each item's words are indexed
    once, by the rebuild, instead of once per row written and again by the rebuild.

    Must run in the caller's transaction; a block that raises must roll it back, which
    restores the triggers too. PostgreSQL: the triggers are disabled (``ALTER TABLE``: the
    table's owner, which a restore's dropping of the history triggers needs already; other
    writers of ``content`` wait, readers go on), and the counts' deferred triggers must have
    run before the block ends (PostgreSQL refuses the ``ALTER`` while they wait; the restore's
    foreign key check runs them). SQLite has no disabled trigger: they are
    dropped and created again from their stored statements (so an earlier install's stay
    as they were), its DDL being part of the transaction.
    """
    if is_postgres(db):
        paused = list(PG_SEARCH_TRIGGERS) if _pg_triggers_present(db, PG_SEARCH_TRIGGERS) else []
        for name in paused:
            db.execute_sql(f"ALTER TABLE content DISABLE TRIGGER {name}")
        yield
        for name in paused:
            db.execute_sql(f"ALTER TABLE content ENABLE TRIGGER {name}")
        return
    stored = db.execute_sql("SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND name IN "
                            f"({', '.join('?' for _ in SQLITE_FTS_TRIGGERS)})", SQLITE_FTS_TRIGGERS).fetchall()
    for name, _sql in stored:
        db.execute_sql(f'DROP TRIGGER "{name}"')
    yield
    for _name, sql in stored:
        db.execute_sql(sql)


def _install_pg_search_function(db):
    """Create the search vector function, or replace an earlier install's of another version;
    True when one was replaced (its vectors were another rule's).

    PARALLEL UNSAFE: its EXCEPTION block starts a subtransaction, which a parallel query
    refuses ("cannot start subtransactions during a parallel operation"); an earlier
    install's PARALLEL SAFE one of this version is marked so, its vectors kept. So is one
    of this version walking the data's strings one row each (``pg_strings_walk``): the
    same strings in the same order, so the same vectors.
    """
    collate = pg_fold_collation(db)
    found = _pg_search_function_found(db)
    if _pg_search_function_kept(found, collate):
        return False
    db.cursor().execute(f"CREATE OR REPLACE FUNCTION {PG_SEARCH_FUNCTION}(title text, data text) RETURNS tsvector"
                        f" LANGUAGE plpgsql IMMUTABLE PARALLEL UNSAFE AS $body${pg_search_body(collate)}$body$")
    return found is not None and not _pg_search_version_is(found, collate)


def _pg_search_function_found(db):
    """``(body, parallel mark)`` of the search vector function, or None when it is missing."""
    return db.execute_sql(
        "SELECT p.prosrc, p.proparallel FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace"
        " WHERE p.proname = %s AND n.nspname = current_schema()", (PG_SEARCH_FUNCTION,)).fetchone()


def _pg_search_version_is(found, collate):
    """Whether the search vector function ``found`` is this version's, folding under ``collate``."""
    return found is not None and f"-- {pg_search_version(collate)}\n" in found[0]


def _pg_search_function_kept(found, collate):
    """Whether an install leaves the search vector function ``found`` as it is: this version's,
    PARALLEL UNSAFE, walking the data's strings one row each (``_install_pg_search_function``)."""
    return (_pg_search_version_is(found, collate) and found[1] == "u"
            and pg_strings_walk("data::jsonb") in found[0])


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


# One row change's string values of its collection's counted fields, counted by ``delta``.
# A collection with no counted field (most rows of most databases) costs one index probe.
PG_VALUE_ROWS_SQL = f"""
CREATE OR REPLACE FUNCTION {PG_VALUE_ROWS}(p_collection text, p_data text, p_status text, p_deleted int, p_delta int)
RETURNS TABLE (collection_id text, field text, value text, status text, deleted int, delta int)
LANGUAGE plpgsql AS $body$
DECLARE
  doc jsonb;
BEGIN
  IF p_collection IS NULL OR NOT EXISTS (SELECT 1 FROM {FIELDS_TABLE} f WHERE f.collection_id = p_collection) THEN
    RETURN;
  END IF;
  doc := {PG_JSON_FUNCTION}(p_data);
  RETURN QUERY
  SELECT p_collection, f.field, doc ->> f.field, p_status, p_deleted, p_delta
  FROM {FIELDS_TABLE} f
  WHERE f.collection_id = p_collection AND jsonb_typeof(doc -> f.field) = 'string'
    AND length(doc ->> f.field) <= {VALUE_LENGTH};
END
$body$"""

# A row's old values and its new ones, netted per counter row and written in the order of
# their keys: two transactions changing values in opposite directions ("a" to "b" and "b"
# to "a") lock the counter rows in the same order instead of deadlocking.
PG_VALUE_SQL = f"""
CREATE OR REPLACE FUNCTION {PG_VALUE_FUNCTION}() RETURNS trigger LANGUAGE plpgsql AS $body$
BEGIN
  -- Most collections count no field: one probe, and nothing more, for their rows.
  IF NOT EXISTS (SELECT 1 FROM {FIELDS_TABLE} f
                 WHERE f.collection_id = CASE WHEN TG_OP <> 'INSERT' THEN OLD.collection_id END
                    OR f.collection_id = CASE WHEN TG_OP <> 'DELETE' THEN NEW.collection_id END) THEN
    RETURN NULL;
  END IF;
  INSERT INTO {VALUES_TABLE} AS v (collection_id, field, value, status, deleted, n)
  SELECT r.collection_id, r.field, r.value, r.status, r.deleted, sum(r.delta)
  FROM (
    SELECT * FROM {PG_VALUE_ROWS}(CASE WHEN TG_OP <> 'INSERT' THEN OLD.collection_id END,
                                  CASE WHEN TG_OP <> 'INSERT' THEN OLD.data END,
                                  CASE WHEN TG_OP <> 'INSERT' THEN OLD.status END,
                                  CASE WHEN TG_OP <> 'INSERT' THEN (OLD.deleted_at IS NOT NULL)::int END, -1)
    UNION ALL
    SELECT * FROM {PG_VALUE_ROWS}(CASE WHEN TG_OP <> 'DELETE' THEN NEW.collection_id END,
                                  CASE WHEN TG_OP <> 'DELETE' THEN NEW.data END,
                                  CASE WHEN TG_OP <> 'DELETE' THEN NEW.status END,
                                  CASE WHEN TG_OP <> 'DELETE' THEN (NEW.deleted_at IS NOT NULL)::int END, 1)
  ) AS r
  GROUP BY 1, 2, 3, 4, 5
  HAVING sum(r.delta) <> 0
  ORDER BY 1, 2, 3, 4, 5
  ON CONFLICT (collection_id, field, value, status, deleted) DO UPDATE SET n = v.n + EXCLUDED.n;
  RETURN NULL;
END
$body$"""

# Deferred to the commit as the count triggers are (a value's counter row is as shared).
PG_VALUE_TRIGGERS = {
    f"{TRIGGER_PREFIX}value_write": "AFTER INSERT OR DELETE ON content",
    f"{TRIGGER_PREFIX}value_update": "AFTER UPDATE OF collection_id, status, deleted_at, data ON content",
}
_PG_VALUE_UPDATE_WHEN = _PG_COUNT_UPDATE_WHEN[:-1] + " OR OLD.data IS DISTINCT FROM NEW.data)"


# The live-content list indexes of migrations 0012 and 0014 are DESC, which PostgreSQL
# reads as NULLS FIRST, while lists order NULLS LAST (as SQLite does going down): these
# twins match the lists' ORDER BY, so PostgreSQL returns pages in index order too.
# Written as PostgreSQL shows them (``pg_get_indexdef`` without the schema), so that a twin
# made otherwise by an earlier version is told apart and replaced.
PG_LIST_INDEXES = {
    f"idx_content_live_{name}_published_nl":
        f"CREATE INDEX idx_content_live_{name}_published_nl ON content USING btree"
        f" ({columns}status, published_at DESC NULLS LAST, id DESC NULLS LAST) WHERE (deleted_at IS NULL)"
    for name, columns in (("collection", "collection_id, "), ("author", "author_id, "), ("all", ""))
}


# TRUNCATE fires no row trigger: what the row triggers keep from content's rows is emptied
# with them (the vectors, the counts), as a DELETE of every row would leave it.
PG_TRUNCATE_FUNCTION = f"{TRIGGER_PREFIX}truncated"
PG_TRUNCATE_SQL = f"""
CREATE OR REPLACE FUNCTION {PG_TRUNCATE_FUNCTION}() RETURNS trigger LANGUAGE plpgsql AS $body$
BEGIN
  DELETE FROM {FTS_TABLE};
  DELETE FROM {COUNTS_TABLE};
  IF to_regclass('{VALUES_TABLE}') IS NOT NULL THEN
    DELETE FROM {VALUES_TABLE};
  END IF;
  RETURN NULL;
END
$body$"""
PG_TRUNCATE_TRIGGER = f"{TRIGGER_PREFIX}truncate"
PG_TRUNCATE_TRIGGER_SQL = (f"CREATE TRIGGER {PG_TRUNCATE_TRIGGER} AFTER TRUNCATE ON content"
                           f" FOR EACH STATEMENT EXECUTE FUNCTION {PG_TRUNCATE_FUNCTION}()")


def _pg_deferred(triggers, update_when, function):
    """The CREATE statements of ``triggers`` (name -> timing), constraint triggers deferred to
    the commit calling ``function``; the UPDATE one runs ``update_when``."""
    return {name: f"CREATE CONSTRAINT TRIGGER {name} {timing} DEFERRABLE INITIALLY DEFERRED"
                  f" FOR EACH ROW{update_when if 'UPDATE' in timing else ''} EXECUTE FUNCTION {function}()"
            for name, timing in triggers.items()}


PG_COUNT_FUNCTIONS = {PG_COUNT_FUNCTION: PG_COUNT_SQL}
PG_VALUE_FUNCTIONS = {PG_JSON_FUNCTION: PG_JSON_SQL, PG_VALUE_ROWS: PG_VALUE_ROWS_SQL, PG_VALUE_FUNCTION: PG_VALUE_SQL}
PG_TRUNCATE_FUNCTIONS = {PG_TRUNCATE_FUNCTION: PG_TRUNCATE_SQL}
PG_TRUNCATE_TRIGGERS = {PG_TRUNCATE_TRIGGER: PG_TRUNCATE_TRIGGER_SQL}


def _pg_count_triggers():
    """The counts' deferred trigger statements on PostgreSQL, by name."""
    return _pg_deferred(PG_COUNT_TRIGGERS, _PG_COUNT_UPDATE_WHEN, PG_COUNT_FUNCTION)


def _pg_value_triggers():
    """The value counts' deferred trigger statements on PostgreSQL, by name."""
    return _pg_deferred(PG_VALUE_TRIGGERS, _PG_VALUE_UPDATE_WHEN, PG_VALUE_FUNCTION)


def _install_postgres(db):
    """Install the triggers, their functions and the indexes; whether everything must be recomputed."""
    stale = bool(content_triggers.install_pg_functions(db, PG_COUNT_FUNCTIONS))
    stale = _install_pg_search(db) or stale
    created, replaced = content_triggers.install(db, _pg_count_triggers())
    stale = stale or bool(created or replaced)
    if db.table_exists(VALUES_TABLE):
        changed = content_triggers.install_pg_functions(db, PG_VALUE_FUNCTIONS)
        db.execute_sql(f"DROP FUNCTION IF EXISTS {PG_VALUE_STEP}(text, text, text, int, int)")
        # As on SQLite, a new value trigger has nothing to fill, a replaced one may have miscounted.
        replaced = content_triggers.install(db, _pg_value_triggers())[1]
        stale = stale or bool(changed or replaced)
    # Keeps nothing of its own: a new or replaced one has nothing to recompute.
    content_triggers.install_pg_functions(db, PG_TRUNCATE_FUNCTIONS)
    content_triggers.install(db, PG_TRUNCATE_TRIGGERS)
    for name, statement in PG_LIST_INDEXES.items():
        content_triggers.install_pg_index(db, name, statement)
    return stale


def _outdated_postgres(db):
    """What ``_install_postgres`` would create or replace (names), changing nothing."""
    values = db.table_exists(VALUES_TABLE)
    functions = {**PG_COUNT_FUNCTIONS, **PG_SEARCH_FUNCTIONS, **(PG_VALUE_FUNCTIONS if values else {}),
                 **PG_TRUNCATE_FUNCTIONS}
    triggers = {**PG_SEARCH_TRIGGERS, **_pg_count_triggers(), **(_pg_value_triggers() if values else {}),
                **PG_TRUNCATE_TRIGGERS}
    indexes = {PG_SEARCH_INDEX: PG_SEARCH_INDEX_SQL, **PG_LIST_INDEXES}
    kept = _pg_search_function_kept(_pg_search_function_found(db), pg_fold_collation(db))
    outdated = ([] if kept else [PG_SEARCH_FUNCTION]) + ([] if db.table_exists(FTS_TABLE) else [FTS_TABLE])
    outdated += content_triggers.outdated_pg_functions(db, functions)
    outdated += [name for name, statement in indexes.items()
                 if not content_triggers.pg_index_current(db, name, statement)]
    return outdated + content_triggers.outdated(db, triggers)


# ------------------------------------------------------------------ both


# What ``install_objects`` found must be recomputed: everything, or ``content_media`` only.
REFILL_ALL, REFILL_MEDIA = "all", "media"
# PostgreSQL: a recount owed is written down with the install (the counts table's comment,
# "<prefix><what>"), so that one lost before it committed is owed again at the next install.
_OWED_PREFIX = "sonicpy: recount owed: "


def install_objects(db):
    """Create what is missing (triggers, search index) and replace the triggers, functions and
    search index an earlier version made otherwise (``app.db.content_triggers``). On SQLite
    what that makes stale is recomputed in the same transaction; on PostgreSQL it is owed:
    returned (``REFILL_ALL``, ``REFILL_MEDIA`` or None) for ``refill`` to recompute in a
    transaction of its own, once this one committed.

    A replaced trigger or function kept its rows by another rule (a value counted twice, a
    word split elsewhere, a write not counted at all), and which rows it got wrong cannot be
    told: everything is recomputed, once, after the install that replaces it; the next finds
    it current and recomputes nothing. On PostgreSQL replacing a trigger (``DROP TRIGGER``)
    locks ``content`` against reads too until the transaction ends, and a recount of every
    row must not keep the site from reading meanwhile; so the recount waits for the next
    transaction, and what it owes is written down in this one (the counts table's comment):
    a recount lost before it committed (a killed process, a dropped connection) is owed
    again at the next install. SQLite's readers never wait for a writer. PostgreSQL's search
    vector function goes by its version (``_install_pg_search``): a new version's vectors
    are computed afresh with the recount.

    Call inside a transaction, on a database whose migrations include 0020.
    """
    if not db.table_exists(COUNTS_TABLE):
        return None
    stale = _install_postgres(db) if is_postgres(db) else _install_sqlite(db)
    media_stale = content_media.install(db)
    if not stale:
        track_declared(db)
    needed = REFILL_ALL if stale else REFILL_MEDIA if media_stale else None
    if not is_postgres(db):
        refill(db, needed)
        return None
    needed = _wider(needed, _owed(db))
    _owe(db, needed)
    return needed


def outdated_objects(db):
    """The names of what ``install_objects`` would create or replace (search index, triggers,
    their functions and indexes; ``content_media``'s triggers): missing, as on a database
    loaded from an SQL dump, or of an earlier version. Empty when every one is current, and
    on a database before migration 0020 (its migrations are pending, which says more).

    Reads the catalog only, by the comparisons the install itself makes
    (``app.db.content_triggers``): no write, no lock a write would take, so a release check
    may run it beside the serving app. Until a ``d1 migrations apply`` installs them, search
    may fail (no index) and the counts and public media miss the writes made meanwhile.
    """
    if not db.table_exists(COUNTS_TABLE):
        return []
    outdated = _outdated_postgres(db) if is_postgres(db) else _outdated_sqlite(db)
    return list(dict.fromkeys(outdated + content_media.outdated(db)))  # each once: both install the JSON reader


def refill(db, needed):
    """Recompute what ``install_objects`` found must be (``needed``; None: nothing), in one
    transaction (of its own, or within the caller's); reads go on meanwhile, writes wait.
    What PostgreSQL owed is paid with it."""
    if needed is None:
        return
    with db.atomic():
        if needed == REFILL_ALL:
            rebuild(db)  # content_media's too
        else:
            content_media.rebuild(db)
        if is_postgres(db):
            _owe(db, None)


def owed_refill(db):
    """The recount an install wrote down and no refill paid yet (``REFILL_ALL`` or
    ``REFILL_MEDIA``), or None: PostgreSQL only (SQLite's is paid with its install).
    Until it is paid, the counts, the search vectors or ``content_media`` may be incomplete;
    the next ``install_objects`` (any ``d1 migrations apply``) owes it again and pays it."""
    if not is_postgres(db) or not db.table_exists(COUNTS_TABLE):
        return None
    return _owed(db)


def _wider(one, other):
    """The recount that covers both ``one`` and ``other``."""
    return REFILL_ALL if REFILL_ALL in (one, other) else one or other


def _owed(db):
    """The recount a PostgreSQL install wrote down and no refill paid yet, or None."""
    comment = db.execute_sql(f"SELECT obj_description('{COUNTS_TABLE}'::regclass, 'pg_class')").fetchone()[0]
    return comment[len(_OWED_PREFIX):] if comment and comment.startswith(_OWED_PREFIX) else None


def _owe(db, needed):
    """Write down (None: clear) the recount owed on PostgreSQL, in the caller's transaction."""
    if _owed(db) != needed:
        db.execute_sql(f"COMMENT ON TABLE {COUNTS_TABLE} IS %s", (None if needed is None else _OWED_PREFIX + needed,))


def rebuild(db):
    """Recompute the counts, the search index and ``content_media`` from ``content`` (one transaction)."""
    with db.atomic():
        if is_postgres(db):
            # Count changes of this transaction still waiting for its commit run now,
            # before the recount, rather than after it (where they would count twice).
            db.execute_sql("SET CONSTRAINTS ALL IMMEDIATE")
            # Writes committing during the recount would count twice or not at all: they
            # wait for it (SHARE, as content_media's recomputation takes); reads go on.
            db.execute_sql("LOCK TABLE content IN SHARE MODE")
        db.execute_sql(f"DELETE FROM {COUNTS_TABLE}")
        deleted = "(deleted_at IS NOT NULL)::int" if is_postgres(db) else "deleted_at IS NOT NULL"
        db.execute_sql(f"INSERT INTO {COUNTS_TABLE} (collection_id, status, deleted, n)"
                       f" SELECT collection_id, status, {deleted}, COUNT(*) FROM content"
                       f" GROUP BY collection_id, status, {deleted}")
        if is_postgres(db):
            _rebuild_pg_search(db)
        else:
            _rebuild_sqlite(db)
        if db.table_exists(VALUES_TABLE):
            db.execute_sql(f"DELETE FROM {VALUES_TABLE}")
            for collection_id, field in _tracked(db):
                _count_values(db, collection_id, field)
            track_declared(db)
        content_media.rebuild(db)


# ------------------------------------------------------------------ declared fields


def declared_fields(schema):
    """``(indexed, sortable)``: frozensets of the top-level fields ``schema`` (stored form) declares.

    A flag on a name no filter or sort can write (``_FIELD_NAME``: ``a-b``, or past 64
    characters) declares nothing: the API refuses such a schema, but a row written by hand or
    imported from a backup may hold one, and neither an index nor counts can follow it.
    """
    properties = (schema or {}).get("properties") if isinstance(schema, dict) else None
    if not isinstance(properties, dict):
        return frozenset(), frozenset()
    flagged = {flag: frozenset(name for name, field in properties.items()
                               if isinstance(field, dict) and field.get(flag) is True
                               and _FIELD_NAME.fullmatch(name))
               for flag in ("indexed", "sortable")}
    return flagged["indexed"], flagged["sortable"]


def declared_pairs(db):
    """The ``(collection id, field)`` pairs whose values are counted: the schemas' indexed fields."""
    pairs = set()
    for collection_id, schema in db.execute_sql("SELECT id, schema FROM collections").fetchall():
        try:
            parsed = json.loads(schema) if isinstance(schema, (str, bytes)) else schema
        except (ValueError, RecursionError):  # a schema written by hand that is not JSON declares nothing
            continue
        pairs |= {(collection_id, name) for name in declared_fields(parsed)[0]}
    return pairs


def _tracked(db):
    return {tuple(row) for row in db.execute_sql(f"SELECT collection_id, field FROM {FIELDS_TABLE}").fetchall()}


def track_declared(db):
    """Count the values of the fields the schemas declare indexed, and of those only.

    Pairs no schema declares any more are forgotten, new ones are counted from the rows
    there now; the triggers keep them from then on. Cheap when nothing changed (the
    schemas are read, no content): every write of a collection's schema runs it in its
    transaction, and so do the paths that may bring other schemas (migrations, a backup
    import, a restore). On a database without the tables (before migration 0029), nothing.

    Returns:
        True when the counted pairs changed.
    """
    if not db.table_exists(FIELDS_TABLE):
        return False
    if declared_pairs(db) == _tracked(db):
        return False
    triggers = ", ".join(PG_VALUE_TRIGGERS)
    # A database loaded from a dump has no triggers until the next ``d1 migrations apply``
    # (which installs them and counts afresh): nothing is pending then.
    deferring = is_postgres(db) and _pg_triggers_present(db, PG_VALUE_TRIGGERS)
    with db.atomic():
        if is_postgres(db):
            # Writers of content wait for this transaction, and it for theirs, so a row is
            # counted either by its trigger or by the recount, never by neither or both: a
            # writer that committed first is seen by the recount, one that commits after
            # sees the new pairs. Concurrent callers take turns (SQLite has one writer);
            # the callers that change schemas took theirs earlier (``app.db.schema_turns``).
            db.execute_sql(f"LOCK TABLE {FIELDS_TABLE} IN EXCLUSIVE MODE")
            db.execute_sql("LOCK TABLE content IN SHARE MODE")
            if deferring:
                # Row changes of this transaction still waiting for the commit are counted
                # now, under the pairs they were made under; later ones under the new pairs.
                db.execute_sql(f"SET CONSTRAINTS {triggers} IMMEDIATE")
        wanted, present = declared_pairs(db), _tracked(db)  # read again, under the locks
        for collection_id, field in sorted(present - wanted):
            for table in (FIELDS_TABLE, VALUES_TABLE):
                db.execute_sql(f"DELETE FROM {table} WHERE collection_id = {db.param} AND field = {db.param}",
                               (collection_id, field))
        for collection_id, field in sorted(wanted - present):
            db.execute_sql(f"INSERT INTO {FIELDS_TABLE} (collection_id, field) VALUES ({db.param}, {db.param})",
                           (collection_id, field))
            _count_values(db, collection_id, field)
        if deferring:
            db.execute_sql(f"SET CONSTRAINTS {triggers} DEFERRED")
    return wanted != present


def _pg_triggers_present(db, names):
    found = db.execute_sql(
        "SELECT count(*) FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_namespace n"
        " ON n.oid = c.relnamespace WHERE c.relname = 'content' AND n.nspname = current_schema()"
        " AND t.tgname = ANY(%s)", (list(names),)).fetchone()[0]
    return found == len(names)


def _count_values(db, collection_id, field):
    """Count one pair's values afresh, from every content row of the collection."""
    db.execute_sql(f"DELETE FROM {VALUES_TABLE} WHERE collection_id = {db.param} AND field = {db.param}",
                   (collection_id, field))
    if is_postgres(db):
        value, select = "x.doc ->> %s", (
            f" FROM content c CROSS JOIN LATERAL (SELECT {PG_JSON_FUNCTION}(c.data) AS doc) x"
            " WHERE c.collection_id = %s AND jsonb_typeof(x.doc -> %s) = 'string'"
            f" AND length(x.doc ->> %s) <= {VALUE_LENGTH} GROUP BY 1, 3, 4, 5")
        deleted, params = "(c.deleted_at IS NOT NULL)::int", (field, field, collection_id, field, field)
    else:
        document = "CASE WHEN json_valid(c.data) THEN c.data ELSE '{}' END"
        value, select = f"json_extract({document}, ?)", (
            f" FROM content c WHERE c.collection_id = ? AND json_type({document}, ?) = 'text'"
            f" AND length(json_extract({document}, ?)) <= {VALUE_LENGTH} GROUP BY 1, 3, 4, 5")
        path = f"$.{field}"  # a top-level name (_FIELD_NAME)
        deleted, params = "c.deleted_at IS NOT NULL", (field, path, collection_id, path, path)
    db.execute_sql(f"INSERT INTO {VALUES_TABLE} (collection_id, field, value, status, deleted, n)"
                   f" SELECT c.collection_id, {db.param}, {value}, c.status, {deleted}, COUNT(*){select}",
                   params)
