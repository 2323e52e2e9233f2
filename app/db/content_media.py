"""Which media files each content row names: ``content_media``, kept by triggers on content.

Whether a file is public depends on the live published content that uses it
(``app.services.media.visibility``). Reading published rows' JSON until one mentions the
file is a scan of content; this table answers it from two indexes instead: the rows naming
the file (``idx_content_media_media``), then each row's status in content's primary key.

What names a file: a string value anywhere in ``data`` (at any depth, keys are not read)
that

* is the file's id, its key or its thumbnail's key, whole (a ``media`` field, a list of
  ids); or
* holds ``/files/<key>`` with the file's key or its thumbnail's key (an embedded URL,
  relative or absolute, inside rich text or HTML). The key runs from ``/files/`` to the end
  of the string or to the first character that ends a URL in text or markup: whitespace,
  ``"``, ``'``, ``<``, ``>``, ``?``, ``#``, ``)``, ``]``, ``\\``, a backquote, ``|`` or
  ``&``; the key without its trailing ``.``, ``,``, ``;``, ``:`` or ``!`` (the end of a
  sentence) names a file too. Keys are compared as written: a key holding one of those
  characters, or percent-encoded in the URL, is named by its whole value only; a key is
  looked for within 1,024 characters after ``/files/`` (R2's longest key).

A thumbnail's key is the file's key with its name (up to its first ``.``) followed by
``.thumb.webp``, and that name is the file's id (``app.services.media.storage``): a
thumbnail key names the file whose id is that name, if the file has a thumbnail there and
its id is at most ``MAX_THUMBNAIL_ID`` characters long (the API's are 32).
Ids and keys of any shape are compared exactly (imported rows keep theirs); a longer word
that merely contains an id names nothing, where the earlier rule (a substring of the
whole JSON text) counted it.

Why triggers, as for the counts and the search index (``app.db.derived``), rather than
computing the names in the API's write path: every writer of content keeps the table
right, also the ``sqlite3`` shell and ``psql``, ``d1 execute``, the JSON import and time
travel's replays, where a write path's table would be wrong until the next rebuild; and a
create sends no extra statement (the trigger looks each string up in media's two unique
indexes within the INSERT). Measured per row written, on the shared test machine: on
SQLite about 6 us for a short body and 70-130 us for 3 KB of HTML with two images; on
PostgreSQL about 40 us and 75 us. SQLite trigger bodies can use built-in functions only
and no ``WITH``: the ``/files/`` URLs of a string are split with ``replace`` into a JSON
array read by ``json_each``.

What the triggers cannot see is a file that appears *after* the content naming it (the
table lists files that existed when the row was written): a file put back by a restore,
a JSON import or an SQL dump bringing media, keys changed by hand. The paths that do so
recompute the table (``rebuild``): ``d1 migrations apply`` when it installs or replaces the
triggers, ``d1 import`` when it inserted media, ``d1 execute`` when its SQL names the media
table, time-travel restores that changed media (``--from-bucket`` recomputes every derived
structure). A purged file's rows are deleted once its objects are gone
(``app.services.media.storage.purge``), so a purge that fails and puts the row back keeps them.
"""

from app.db import content_triggers
from app.db.database import is_postgres
from app.db.pg_json import PG_JSON_FUNCTION, PG_JSON_SQL, pg_strings_walk

TABLE = "content_media"
# Under ``app.db.derived.TRIGGER_PREFIX``: time travel leaves them alone and dumps leave
# them out (the migration runner installs them), as the other triggers on content.
TRIGGER_PREFIX = "sonicpy_content_media_"
PG_TRIGGER_FUNCTION = "sonicpy_content_media"

URL_MARK = "/files/"
# Where a key in a URL ends (see the module docstring), and what a sentence may put after it.
URL_ENDS = " \t\n\r\"'<>?#)]\\`|&"
TRAILING = ".,;:!"
# R2 and S3 keys are at most 1,024 bytes: a URL's key is looked for in that many characters
# after /files/ (and one more, so that a longer run names nothing rather than its start).
MAX_KEY = 1024
THUMBNAIL_SUFFIX = ".thumb.webp"  # app.services.media.storage's, which must not be imported here


# A thumbnail's URL names a file whose id is at most this long. The id is what follows the
# key's last "/", found by trimming characters from its end, at a cost of their number times
# itself: the trim reads only the key's last characters, which such an id fits in.
MAX_THUMBNAIL_ID = 128
_THUMBNAIL_WINDOW = MAX_THUMBNAIL_ID + 1 + len(THUMBNAIL_SUFFIX)  # "/", the id, the suffix


def _thumbnail_named(key, position, last):
    """A join condition: media row ``m`` is the file whose thumbnail key is ``key``.

    ``key``'s directory (up to its last ``/``, kept) followed by the file's id must start
    the file's key, followed by nothing or by ``.`` and a name without ``/``: the
    thumbnail key ``app.services.media.storage.thumbnail_key`` makes of it. The id looked
    up is NULL unless ``key`` ends like a thumbnail's, so no other string pays for the
    directory's computation, which reads the key's last ``_THUMBNAIL_WINDOW`` characters
    only (``MAX_THUMBNAIL_ID``).

    Args:
        key: the SQL expression of the candidate key.
        position: the dialect's ``instr``/``strpos``.
        last: ``last(expression, n)``, the dialect's spelling of an expression's last ``n``
            characters (all of them when it is shorter).
    """
    window = last(key, _THUMBNAIL_WINDOW)
    in_window = f"rtrim({window}, replace({window}, '/', ''))"  # the window up to its last "/"
    folder_length = f"(length({key}) - length({window}) + length({in_window}))"
    # A "/" in the window, or a key with none that the window holds whole (no folder).
    id_fits = f"(length({in_window}) > 0 OR length({key}) < {_THUMBNAIL_WINDOW})"
    stem = (f"CASE WHEN {last(key, len(THUMBNAIL_SUFFIX))} = '{THUMBNAIL_SUFFIX}' AND {id_fits}"
            f" THEN substr({key}, {folder_length} + 1, length({key}) - {folder_length} - {len(THUMBNAIL_SUFFIX)}) END")
    prefix = f"substr({key}, 1, {folder_length}) || m.id"
    return (f"(m.id = {stem} AND m.thumbnail_url IS NOT NULL"
            f" AND {position}(m.id, '.') = 0 AND (m.r2_key = {prefix}"
            f" OR (substr(m.r2_key, 1, length({prefix}) + 1) = {prefix} || '.'"
            f" AND {position}(substr(m.r2_key, length({prefix}) + 2), '/') = 0)))")


# ------------------------------------------------------------------ SQLite


def _sqlite_text(char):
    return f"char({ord(char)})" if char in "\t\n\r" else "'" + char.replace("'", "''") + "'"


def _sqlite_url_key(segment):
    """``segment`` (the text after one ``/files/``) up to the first character of ``URL_ENDS``.

    Every such character becomes a space first, and one ``instr`` finds it: a dozen
    ``instr`` would each read to the end of a segment that lacks their character."""
    spaced = segment
    for char in URL_ENDS:
        if char != " ":
            spaced = f"replace({spaced}, {_sqlite_text(char)}, ' ')"
    return f"substr({segment}, 1, coalesce(nullif(instr({spaced}, ' '), 0), length({segment}) + 1) - 1)"


# One row per string value (``whole``) and per key after a /files/ in it: the string is
# quoted as JSON, each /files/ becomes '","' (a JSON string never holds "/" escaped by
# json_quote, so no escape sequence is cut), and json_each reads the parts: 0 is the whole
# string (put first), 1 the text before the first /files/, then one per URL.
_SQLITE_PARTS = (
    f"CASE WHEN instr(s.value, '{URL_MARK}') THEN '[' || json_quote(s.value) || ',' ||"
    f" replace(json_quote(s.value), '{URL_MARK}', '\",\"') || ']' ELSE json_array(s.value) END")


def _sqlite_tokens(source, row):
    """``(content_id, whole, token, trimmed)`` of the rows of ``row``: each string value, and
    each key after a ``/files/`` in one with and without its trailing punctuation.

    Each level ends in ``LIMIT -1`` (no limit): SQLite then computes its rows once rather
    than flattening it into the next, which would compute a token again for every index
    lookup of the join (a rich text's URLs cost ten times more)."""
    document = f"CASE WHEN json_valid({row}.data) THEN {row}.data ELSE '{{}}' END"
    parts = (f"SELECT {row}.id AS content_id, p.key = 0 AS whole,"
             f" CASE WHEN p.key = 0 THEN p.value ELSE substr(p.value, 1, {MAX_KEY + 1}) END AS segment"
             f" FROM {source}json_tree({document}) s, json_each({_SQLITE_PARTS}) p"
             " WHERE s.type = 'text' AND p.key <> 1 LIMIT -1")
    tokens = (f"SELECT content_id, whole, CASE WHEN whole THEN segment ELSE {_sqlite_url_key('segment')} END AS token"
              f" FROM ({parts}) LIMIT -1")
    return (f"SELECT content_id, whole, token, CASE WHEN whole THEN token ELSE rtrim(token, '{TRAILING}') END"
            f" AS trimmed FROM ({tokens}) LIMIT -1")


def _sqlite_named(source, row):
    """``(content_id, media_id)`` of the files the rows of ``row`` name (a SELECT).

    The join is one lookup per alternative in media's indexes (SQLite's OR by union)."""
    thumbnail = _thumbnail_named("t.trimmed", "instr", lambda text, n: f"substr({text}, -{n})")
    return (f"SELECT DISTINCT t.content_id, m.id FROM ({_sqlite_tokens(source, row)}) t JOIN media m"
            f" ON (t.whole AND m.id = t.token) OR m.r2_key = t.token OR m.r2_key = t.trimmed OR {thumbnail}")


def _sqlite_link(row):
    return f"INSERT OR IGNORE INTO {TABLE} (content_id, media_id) {_sqlite_named('', row)};"


def _sqlite_unlink(row):
    return f"DELETE FROM {TABLE} WHERE content_id = {row}.id;"


# An INSERT OR REPLACE that replaces a row fires no delete trigger: the insert forgets the
# id's earlier rows itself.
SQLITE_TRIGGERS = {
    f"{TRIGGER_PREFIX}insert": f"AFTER INSERT ON content BEGIN {_sqlite_unlink('NEW')} {_sqlite_link('NEW')} END",
    f"{TRIGGER_PREFIX}delete": f"AFTER DELETE ON content BEGIN {_sqlite_unlink('OLD')} END",
    f"{TRIGGER_PREFIX}update": (
        "AFTER UPDATE OF id, data ON content WHEN OLD.data IS NOT NEW.data OR OLD.id IS NOT NEW.id"
        f" BEGIN {_sqlite_unlink('OLD')} {_sqlite_link('NEW')} END"),
}
SQLITE_REBUILD = f"INSERT INTO {TABLE} (content_id, media_id) {_sqlite_named('content, ', 'content')}"
# The live rows written at or after a time (``relink_written_since``): the partial index on
# ``(updated_at, id)`` of live rows finds them.
_WRITTEN_SINCE = "{r}deleted_at IS NULL AND {r}updated_at >= {p}"
_SQLITE_WRITTEN = f"(SELECT id, data FROM content WHERE {_WRITTEN_SINCE.format(r='', p='?')}) AS content, "
SQLITE_RELINK = f"INSERT OR IGNORE INTO {TABLE} (content_id, media_id) {_sqlite_named(_SQLITE_WRITTEN, 'content')}"


def _sqlite_statements():
    """``{trigger name: its CREATE TRIGGER statement}`` on SQLite."""
    return {name: f'CREATE TRIGGER "{name}" {body}' for name, body in SQLITE_TRIGGERS.items()}


def _install_sqlite(db):
    created, replaced = content_triggers.install(db, _sqlite_statements())
    return bool(created or replaced)


# ------------------------------------------------------------------ PostgreSQL


def _pg_url_key_pattern():
    """The regular expression of a key after ``/files/``: anything up to a ``URL_ENDS`` character."""
    escapes = {"\t": "\\t", "\n": "\\n", "\r": "\\r", "]": "\\]", "\\": "\\\\", "'": "''"}
    return "^[^" + "".join(escapes.get(c, c) for c in URL_ENDS) + "]*"


def _pg_named(doc):
    """The SELECT of the ids (``id``) of the files the JSON document ``doc`` names: the same
    rule as SQLite's; ``strings`` is read by two branches and ``keys`` by two. The strings
    come as one array (``pg_strings_walk``: one row each took time quadratic in their number)."""
    thumbnail = _thumbnail_named("k.key", "strpos", lambda text, n: f"right({text}, {n})")
    return f"""
  WITH strings AS MATERIALIZED (
    SELECT value FROM jsonb_array_elements_text({pg_strings_walk(doc)}) AS value
  ), urls AS (
    SELECT substring(left(part.segment, {MAX_KEY + 1}) FROM '{_pg_url_key_pattern()}') AS token
    FROM strings, unnest(string_to_array(strings.value, '{URL_MARK}')) WITH ORDINALITY AS part(segment, n)
    WHERE part.n > 1
  ), keys AS MATERIALIZED (
    SELECT value AS key FROM strings
    UNION SELECT token FROM urls
    UNION SELECT rtrim(token, '{TRAILING}') FROM urls
  )
  SELECT m.id FROM strings s JOIN media m ON m.id = s.value
  UNION SELECT m.id FROM keys k JOIN media m ON m.r2_key = k.key
  UNION SELECT m.id FROM keys k JOIN media m ON {thumbnail}"""


# The query is written out here, not called as a function: PL/pgSQL keeps its plan for
# the session (a set-returning function's query was planned again on every row written).
PG_TRIGGER_SQL = f"""
CREATE OR REPLACE FUNCTION {PG_TRIGGER_FUNCTION}() RETURNS trigger LANGUAGE plpgsql AS $body$
DECLARE
  doc jsonb;
BEGIN
  IF TG_OP <> 'INSERT' THEN
    DELETE FROM {TABLE} WHERE content_id = OLD.id;
  END IF;
  IF TG_OP <> 'DELETE' THEN
    doc := {PG_JSON_FUNCTION}(NEW.data);
    IF doc IS NOT NULL THEN
      INSERT INTO {TABLE} (content_id, media_id)
      SELECT NEW.id, named.id FROM ({_pg_named("doc")}) AS named
      ON CONFLICT DO NOTHING;
    END IF;
  END IF;
  RETURN NULL;
END
$body$"""

PG_TRIGGERS = {
    f"{TRIGGER_PREFIX}write": "AFTER INSERT OR DELETE ON content FOR EACH ROW",
    f"{TRIGGER_PREFIX}update": ("AFTER UPDATE OF id, data ON content FOR EACH ROW"
                                " WHEN (OLD.data IS DISTINCT FROM NEW.data OR OLD.id IS DISTINCT FROM NEW.id)"),
}
PG_REBUILD = (f"INSERT INTO {TABLE} (content_id, media_id) SELECT c.id, named.id FROM content c"
              f" CROSS JOIN LATERAL ({_pg_named(f'{PG_JSON_FUNCTION}(c.data)')}) AS named")
PG_RELINK = f"{PG_REBUILD} WHERE {_WRITTEN_SINCE.format(r='c.', p='%s')} ON CONFLICT DO NOTHING"


# Data that is not JSON names nothing (``PG_JSON_FUNCTION``).
PG_FUNCTIONS = {PG_JSON_FUNCTION: PG_JSON_SQL, PG_TRIGGER_FUNCTION: PG_TRIGGER_SQL}


def _pg_trigger_statements():
    """``{trigger name: its CREATE TRIGGER statement}`` on PostgreSQL, each calling the one function."""
    return {name: f"CREATE TRIGGER {name} {timing} EXECUTE FUNCTION {PG_TRIGGER_FUNCTION}()"
            for name, timing in PG_TRIGGERS.items()}


def _install_postgres(db):
    changed = content_triggers.install_pg_functions(db, PG_FUNCTIONS)
    created, replaced = content_triggers.install(db, _pg_trigger_statements())
    return bool(changed or created or replaced)


# ------------------------------------------------------------------ both


def install(db):
    """Create the triggers that are missing and replace those of an earlier rule, theirs or
    their function's (``app.db.content_triggers``); whether any was. The table must then be
    filled afresh (``rebuild``, which ``app.db.derived.refill`` runs): rows written by an
    earlier rule may name files this one does not, or miss some.

    Call inside a transaction. Nothing on a database without the table (before migration 0032).
    """
    if not db.table_exists(TABLE):
        return False
    return _install_postgres(db) if is_postgres(db) else _install_sqlite(db)


def outdated(db):
    """The names of the triggers (and functions, on PostgreSQL) ``install`` would create or
    replace: missing, or of an earlier rule. Reads the catalog only; nothing before migration 0032."""
    if not db.table_exists(TABLE):
        return []
    if not is_postgres(db):
        return content_triggers.outdated(db, _sqlite_statements())
    return (content_triggers.outdated_pg_functions(db, PG_FUNCTIONS)
            + content_triggers.outdated(db, _pg_trigger_statements()))


def relink_written_since(db, since_ms):
    """Recompute the rows of the live content written at or after ``since_ms`` (epoch ms, by
    ``updated_at``), in one transaction: after a file came back that content written
    meanwhile may name (a purge that failed puts its row back; the triggers of a write made
    while the row was away found no such file).

    Nothing on a database without the table."""
    written = f"SELECT id FROM content WHERE {_WRITTEN_SINCE.format(r='', p=db.param)}"
    _recompute(db, f"DELETE FROM {TABLE} WHERE content_id IN ({written})",
               PG_RELINK if is_postgres(db) else SQLITE_RELINK, (since_ms,))


def rebuild(db):
    """Recompute the whole table from content and media (one transaction; reads every row's data).

    Nothing on a database without the table."""
    _recompute(db, f"DELETE FROM {TABLE}", PG_REBUILD if is_postgres(db) else SQLITE_REBUILD)


def _recompute(db, delete, fill, params=()):
    """Replace the rows the statement ``delete`` removes with those ``fill`` inserts (both
    taking ``params``), in one transaction; nothing on a database without the table.

    On PostgreSQL ``content`` is locked in SHARE mode first, until the transaction ends, as
    ``app.db.derived.track_declared`` does: a content write committing between the DELETE
    and the INSERT would otherwise find its rows gone (its trigger waits for them, then
    deletes nothing) while the INSERT re-adds what its old data named, or fail the INSERT
    with a duplicate. Writes wait for the recomputation; reads go on. (SQLite's write lock
    already holds every other writer.)
    """
    if not db.table_exists(TABLE):
        return
    with db.atomic():
        if is_postgres(db):
            db.execute_sql("LOCK TABLE content IN SHARE MODE")
        db.execute_sql(delete, params)
        db.execute_sql(fill, params)
