"""The triggers that fill ``d1_changes``, written for SQLite and for PostgreSQL.

SQLite triggers cannot read a row generically, so each tracked table gets three triggers
that name its columns; BLOB and REAL values are wrapped (``{"$blob": hex}``,
``{"$real": "%!.17g"}``) because SQLite's JSON cannot hold the first and rounds the second
to 15 digits. PostgreSQL gets one plpgsql function, ``to_jsonb(OLD)``, and one trigger per
table handing it the key columns; it is named after ``RI_...``, so when a DELETE cascades,
the children are logged before their parent (triggers of one event fire in name order).

Every table is tracked but the history's own, the excluded ones (the migrations tracking
table), the log tables (``LOG_TABLES``, with the one-time sign-in secrets) and SQLite's virtual tables with their shadow
tables (see ``_virtual_tables``), and the tables derived from content by triggers of their
own (``app.db.derived``: counts and the search index; replaying content changes recomputes
them). Logs are a record of what happened, not content to put
back: a restore leaves them as they are, and they cost no change-log row per row (the
request log writes one row per request). A database armed before they were left out
loses their triggers at the next ``d1 migrations apply``, as for any schema change. A
table with a primary key logs its key as a JSON array; a table without one has no key to
name a row by, so it logs the whole row after the change (a JSON object) and is restored
as a multiset: undoing a change touches any one row equal to the logged one, and rows that
are equal are interchangeable, so the table's content comes back exactly as it was.

Each log row also names its transaction, ``tx``: the seq of that transaction's first
change, so time travel can tell a commit from a point inside a transaction. PostgreSQL's
function keeps it in a setting that lasts as long as the transaction (``set_config(...,
true)``, which a savepoint rolled back takes back with its log rows); SQLite has nothing
of the kind, so its triggers copy the number sonicpy's transactions mark
(``app.db.tx_marks``).

The tracked tables with their columns and keys make the fingerprint stored at arm time: a
schema that differs from it means the triggers no longer describe the tables, and
restoring is refused until they are installed again.
"""

import hashlib
import json

from app.db import tx_marks
from app.db.database import is_postgres
from app.db.derived import is_derived

LOG_TABLE = "d1_changes"
META_TABLE = "d1_time_travel"
HISTORY_TABLES = {LOG_TABLE, META_TABLE}
# Records of what happened, never restored: the request and event log, plugin activations,
# webhook deliveries (messages already sent outside: rewinding them would send them again
# or forget they were sent), and the mailed sign-in codes and links (rewound, a used or
# replaced one would sign in again, and a code's spent tries would come back), and the
# searches asked (one row per anonymous search: history would double each one's writes),
# and the cache invalidations waiting for CACHE_KV (rewound, a pending one would be marked
# written; a restore bumps every namespace anyway).
LOG_TABLES = frozenset({"system_logs", "plugin_activity_log", "webhook_deliveries", "otp_codes", "magic_links",
                        "search_history", "cache_invalidations"})

SQLITE_PREFIX = "d1_tt_"
PG_TRIGGER = "d1_time_travel"
PG_FUNCTION = "d1_time_travel_log"
PG_SEQUENCE = "d1_changes_seq"

# SQLite's default limit is 127 arguments per function call: at most 60 name/value pairs
# go into one json_object(), the rest are added by json_insert() calls around it.
_PAIRS_PER_CALL = 60

SQLITE_NOW_MS = "CAST(ROUND((julianday('now') - 2440587.5) * 86400000) AS INTEGER)"
# PostgreSQL: the seq of the current transaction's first change (see above).
PG_TX_SETTING = "sonicpy.d1_tx"

PG_FUNCTION_SQL = f"""
CREATE OR REPLACE FUNCTION {PG_FUNCTION}() RETURNS trigger LANGUAGE plpgsql AS $body$
DECLARE
  source jsonb;
  row_key jsonb := '[]'::jsonb;
  key_column text;
  change_seq bigint := nextval('{PG_SEQUENCE}');
  first_seq text := current_setting('{PG_TX_SETTING}', true);  -- '' once a transaction that set it ended
BEGIN
  IF first_seq IS NULL OR first_seq = '' THEN
    first_seq := change_seq::text;  -- the transaction's first change
    PERFORM set_config('{PG_TX_SETTING}', first_seq, true);
  END IF;
  IF TG_OP = 'DELETE' THEN source := to_jsonb(OLD); ELSE source := to_jsonb(NEW); END IF;
  IF TG_NARGS = 0 THEN
    row_key := source;  -- no primary key: the whole row names it
  ELSE
    FOREACH key_column IN ARRAY TG_ARGV LOOP
      row_key := row_key || jsonb_build_array(source -> key_column);
    END LOOP;
  END IF;
  INSERT INTO {LOG_TABLE} (seq, changed_at, table_name, operation, row_key, old_row, tx)
  VALUES (change_seq, floor(extract(epoch FROM clock_timestamp()) * 1000)::bigint,
          TG_TABLE_NAME, TG_OP, row_key::text,
          CASE WHEN TG_OP = 'INSERT' THEN NULL ELSE to_jsonb(OLD)::text END, first_seq::bigint);
  RETURN NULL;
END
$body$"""


def quote(name):
    """An SQL identifier, double-quoted."""
    return '"' + name.replace('"', '""') + '"'


def literal(text):
    """An SQL string literal."""
    return "'" + text.replace("'", "''") + "'"


def installed(db):
    """True when the history tables exist (migration 0018 was applied)."""
    return db.table_exists(LOG_TABLE) and db.table_exists(META_TABLE)


def _candidates(db, excluded):
    """The tables history could track: all but its own, the excluded, the logs and SQLite's internal ones."""
    return sorted(name for name in db.get_tables()
                  if name not in HISTORY_TABLES | LOG_TABLES and name not in excluded
                  and not name.startswith(("sqlite_", "_cf_")) and not is_derived(name))


def log_tables(db):
    """The ``LOG_TABLES`` this database has."""
    return sorted(LOG_TABLES & set(db.get_tables()))


def table_specs(db, excluded):
    """``{table: {"columns": [...], "key": [...]}}`` of the tables to track, by name.

    ``key`` is the primary key's columns, or empty for a table without one.
    """
    virtual, shadow = _virtual_tables(db)
    return {name: {"columns": [column.name for column in db.get_columns(name)],
                   "key": list(db.get_primary_keys(name))}
            for name in _candidates(db, excluded) if name not in virtual | shadow}


def untracked(db, excluded):
    """Tables left out because they are virtual (SQLite's FTS and the like take no triggers)."""
    virtual, _ = _virtual_tables(db)
    return [name for name in _candidates(db, excluded) if name in virtual]


def _virtual_tables(db):
    """SQLite: ``(virtual tables, their shadow tables)``; both empty on PostgreSQL.

    Shadow tables (an FTS5 table's ``_data``, ``_idx``...) are written by the virtual
    table's module from inside its own statement: a trigger there would log rows no
    restore can put back consistently, and makes SQLite crash, so they are never tracked.
    """
    if is_postgres(db):
        return set(), set()
    listed = db.execute_sql("PRAGMA main.table_list").fetchall()  # SQLite 3.37+; older ones answer nothing
    if listed:
        return ({name for _, name, kind, *_ in listed if kind == "virtual"},
                {name for _, name, kind, *_ in listed if kind == "shadow"})
    cursor = db.execute_sql("SELECT name FROM sqlite_master WHERE type = 'table' AND sql LIKE 'CREATE VIRTUAL TABLE%'")
    virtual = {name for (name,) in cursor.fetchall()}
    return virtual, {name for name in db.get_tables() if any(name.startswith(f"{v}_") for v in virtual)}


def fingerprint(specs):
    """sha256 of the tracked tables, their columns and keys."""
    return hashlib.sha256(json.dumps(specs, sort_keys=True).encode()).hexdigest()


def armed_tables(db):
    """The tables that carry our triggers now (on SQLite, all three of them)."""
    if is_postgres(db):
        cursor = db.execute_sql(
            "SELECT c.relname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid"
            " JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE t.tgname = %s AND n.nspname = current_schema()", (PG_TRIGGER,))
        return {name for (name,) in cursor.fetchall()}
    cursor = db.execute_sql("SELECT tbl_name, name FROM sqlite_master WHERE type = 'trigger'")
    counts = {}
    for table, name in cursor.fetchall():
        if name in {f"{SQLITE_PREFIX}{op}_{table}" for op in ("insert", "update", "delete")}:
            counts[table] = counts.get(table, 0) + 1
    return {table for table, count in counts.items() if count == 3}


def drop_triggers(db):
    """Remove every trigger of ours (the log and its rows stay)."""
    if is_postgres(db):
        for table in armed_tables(db):
            db.execute_sql(f"DROP TRIGGER IF EXISTS {PG_TRIGGER} ON {quote(table)}")
        return
    cursor = db.execute_sql("SELECT name FROM sqlite_master WHERE type = 'trigger' AND substr(name, 1, ?) = ?",
                            (len(SQLITE_PREFIX), SQLITE_PREFIX))
    for (name,) in cursor.fetchall():
        db.execute_sql(f"DROP TRIGGER IF EXISTS {quote(name)}")


def create_triggers(db, specs):
    """Install the triggers for ``specs`` (call ``drop_triggers`` first)."""
    if is_postgres(db):
        db.execute_sql(f"CREATE SEQUENCE IF NOT EXISTS {PG_SEQUENCE}")
        db.cursor().execute(PG_FUNCTION_SQL)  # no parameters: psycopg2 leaves the body alone
        for table, spec in specs.items():
            arguments = ", ".join(literal(column) for column in spec["key"])
            db.execute_sql(f"CREATE TRIGGER {PG_TRIGGER} AFTER INSERT OR UPDATE OR DELETE ON {quote(table)}"
                           f" FOR EACH ROW EXECUTE FUNCTION {PG_FUNCTION}({arguments})")
        return
    for table, spec in specs.items():
        for statement in _sqlite_triggers(table, spec):
            db.execute_sql(statement)


def sync_sequence(db):
    """PostgreSQL: make the sequence continue after every seq already in the log."""
    if is_postgres(db):
        db.execute_sql(f"SELECT setval('{PG_SEQUENCE}', GREATEST("
                       f"(SELECT COALESCE(MAX(seq), 0) FROM {LOG_TABLE}),"
                       f" (SELECT purged_seq FROM {META_TABLE} WHERE id = 1),"
                       f" (SELECT last_value FROM {PG_SEQUENCE}), 1))")


def _sqlite_value(reference):
    """A column value as JSON can hold it exactly."""
    return (f"CASE typeof({reference})"
            f" WHEN 'blob' THEN json_object('$blob', hex({reference}))"
            f" WHEN 'real' THEN json_object('$real', printf('%!.17g', {reference}))"
            f" ELSE {reference} END")


def _sqlite_row(columns, row="OLD"):
    """``json_object(...)`` of ``row``'s columns (OLD or NEW), in calls of at most 60 pairs."""
    pairs = [(column, _sqlite_value(f"{row}.{quote(column)}")) for column in columns]
    first, rest = pairs[:_PAIRS_PER_CALL], pairs[_PAIRS_PER_CALL:]
    expression = "json_object(" + ", ".join(f"{literal(c)}, {v}" for c, v in first) + ")"
    for start in range(0, len(rest), _PAIRS_PER_CALL):
        chunk = rest[start:start + _PAIRS_PER_CALL]
        paths = ", ".join(f"{literal('$.' + quote(c))}, {v}" for c, v in chunk)
        expression = f"json_insert({expression}, {paths})"
    return expression


def _sqlite_triggers(table, spec):
    """The three CREATE TRIGGER statements of one table."""
    def key(row):
        if not spec["key"]:  # no primary key: the whole row names it
            return _sqlite_row(spec["columns"], row)
        return "json_array(" + ", ".join(_sqlite_value(f"{row}.{quote(k)}") for k in spec["key"]) + ")"

    old_row = _sqlite_row(spec["columns"])
    for event, operation, row_key, logged_row in (
        ("INSERT", "insert", key("NEW"), "NULL"),
        ("UPDATE", "update", key("NEW"), old_row),
        ("DELETE", "delete", key("OLD"), old_row),
    ):
        yield (f"CREATE TRIGGER {quote(SQLITE_PREFIX + operation + '_' + table)} AFTER {event} ON {quote(table)}"
               f" BEGIN INSERT INTO {LOG_TABLE} (seq, changed_at, table_name, operation, row_key, old_row, tx)"
               f" VALUES ({tx_marks.NEXT_SEQ}, {SQLITE_NOW_MS}, {literal(table)}, '{event}', {row_key}, {logged_row},"
               f" {tx_marks.CURRENT_TX});"
               " END")
