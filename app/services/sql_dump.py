"""``d1 export``'s SQL dump, in wrangler's format.

The text is what ``wrangler d1 export`` writes (Miniflare's ``dumpSql``, itself a port of the
sqlite shell's ``.dump``), so a dump made here restores with ``wrangler d1 execute --file``
and the other way round, and ``d1 execute DB --file`` restores it here:

* first ``PRAGMA defer_foreign_keys=TRUE;``;
* each table in ``sqlite_master`` rowid order (``sqlite_sequence`` last): its ``CREATE TABLE``
  (``IF NOT EXISTS`` injected when the name is quoted, as sqlite does), then one
  ``INSERT INTO "t" ("c1","c2") VALUES(...);`` per row; ``sqlite_sequence`` gets
  ``DELETE FROM sqlite_sequence;`` before its rows; ``_cf_*`` and other ``sqlite_*`` tables
  are skipped (``d1_migrations`` is a normal table and is kept), and so are the search
  index and the triggers on content (``app.db.derived``): ``d1 migrations apply`` puts them
  back where the dump is loaded and recomputes the index and counts;
* then indexes, triggers and views; statements joined by newlines, no trailing newline.

Values: NULL, numbers bare, strings single-quoted with ``''``, newlines and carriage returns
as ``replace('a\\nb','\\n',char(10))`` (the marker is one the text does not contain, as the
sqlite shell picks it; Miniflare always uses ``\\n`` and so corrupts text that contains a
literal backslash-n), BLOBs as ``X'hex'``; a NUL inside text as ``'a'||char(0)||'b'`` (SQL text cannot hold one).

Where this differs from Miniflare, on purpose: rows are read in rowid order (Miniflare
relies on the scan order, which a covering index can change) so a dump is reproducible;
REAL values keep their decimal point (``1.0``: JavaScript would print ``1``), and infinities
are written ``1e999``/``-1e999`` as the sqlite shell does; time travel's open transaction
mark (``d1_time_travel.current_tx``) is written as a mark would leave it
(``app.db.tx_marks.copied_as``), so the dump of the same rows is the same whatever transactions
of sonicpy's ran since another program wrote; ``--table`` keeps the tables'
own indexes and triggers (Miniflare matches their names against the table list, so drops
them) and an unknown table name is an error rather than an empty dump.
"""

import re

import peewee

from app.db import tx_marks
from app.db.database import is_postgres
from app.db.derived import is_installed_on_apply

_QUOTED_CREATE = re.compile(r"CREATE TABLE ['\"]")


class DumpError(Exception):
    """The database cannot be dumped as asked; the message says why and what to do."""


def quote_identifier(name):
    """``"name"`` with embedded quotes doubled."""
    return '"' + name.replace('"', '""') + '"'


def _unused_marker(text, first, second):
    """The sqlite shell's ``unused_string``: a marker for newlines that ``text`` lacks."""
    if first not in text:
        return first
    if second not in text:
        return second
    counter = 0
    while f"({first}{counter})" in text:
        counter += 1
    return f"({first}{counter})"


def quote_text(text):
    """A SQL string literal for ``text``, with newlines written as ``char(10)``/``char(13)``."""
    if "\x00" in text:
        # SQL text cannot carry a NUL byte; SQLite values can: join the pieces with char(0).
        return "||char(0)||".join(quote_text(piece) for piece in text.split("\x00"))
    literal = text.replace("'", "''")
    newline = carriage = None
    if "\n" in text:
        newline = _unused_marker(text, "\\n", "\\012")
        literal = literal.replace("\n", newline)
    if "\r" in text:
        carriage = _unused_marker(text, "\\r", "\\015")
        literal = literal.replace("\r", carriage)
    literal = f"'{literal}'"
    if carriage:
        literal = f"replace({literal},'{carriage}',char(13))"
    if newline:
        literal = f"replace({literal},'{newline}',char(10))"
    return literal


def sql_literal(value):
    """A SQL literal for one stored value (None, int, float, str or bytes)."""
    if value is None:
        return "NULL"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if value != value:
            return "NULL"  # SQLite stores NaN as NULL anyway
        if value in (float("inf"), float("-inf")):
            return "1e999" if value > 0 else "-1e999"
        return repr(value)
    if isinstance(value, str):
        return quote_text(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return f"X'{bytes(value).hex()}'"
    raise DumpError(f"cannot dump a value of type {type(value).__name__}")


def _tables(conn):
    return conn.execute(
        "SELECT name, type, sql FROM sqlite_master WHERE type == 'table' AND sql NOT NULL"
        " ORDER BY tbl_name = 'sqlite_sequence', rowid"
    ).fetchall()


def _columns(conn, table):
    return [row[1] for row in conn.execute(f"PRAGMA table_info({quote_identifier(table)})")]


def _order_by(sql, columns):
    """``ORDER BY rowid`` (or an alias the columns leave free), or nothing WITHOUT ROWID."""
    if re.search(r"\bWITHOUT\s+ROWID\b", sql, re.IGNORECASE):
        return ""
    free = [alias for alias in ("rowid", "_rowid_", "oid") if alias not in {c.lower() for c in columns}]
    return f" ORDER BY {free[0]}" if free else ""


def _table_statements(conn, name, sql, schema, data, on_progress):
    if name == "sqlite_sequence":
        if schema:
            yield "DELETE FROM sqlite_sequence;"
    elif name.startswith("sqlite_stat"):
        if schema:
            yield "ANALYZE sqlite_schema;"
    elif is_installed_on_apply(name):
        return  # recomputed from content by `d1 migrations apply` on the importing side
    elif sql.startswith("CREATE VIRTUAL TABLE"):
        raise DumpError("D1 Export error: cannot export databases with Virtual Tables (fts5)")
    elif name.startswith(("_cf_", "sqlite_")):
        return
    elif schema:
        yield f"CREATE TABLE IF NOT EXISTS {sql[13:]};" if _QUOTED_CREATE.match(sql) else f"{sql};"
    if not data:
        return
    columns = _columns(conn, name)
    head = f"INSERT INTO {quote_identifier(name)} ({','.join(map(quote_identifier, columns))}) VALUES("
    read = ", ".join(tx_marks.copied_as(name, column) or quote_identifier(column) for column in columns)
    select = f"SELECT {read} FROM {quote_identifier(name)}{_order_by(sql, columns)}"
    count = 0
    for row in conn.execute(select):
        count += 1
        yield head + ",".join(map(sql_literal, row)) + ");"
    if on_progress:
        on_progress(name, count)


def dump_statements(db, tables=(), schema=True, data=True, on_progress=None):
    """Yield the dump's statements (each with its ``;``) from a SQLite Peewee database.

    Read inside one read transaction, so the dump is one consistent snapshot; in WAL mode
    writers are not blocked meanwhile.

    Args:
        db: the DB binding's Peewee database (SQLite).
        tables: only these tables (and their indexes and triggers); empty means all.
        schema: include CREATE statements (``--no-schema`` turns it off).
        data: include rows (``--no-data`` turns it off).
        on_progress: called as ``on_progress(table, rows)`` after each table's rows.

    Raises:
        DumpError: PostgreSQL, both parts turned off, an unknown table or a virtual table.
    """
    if is_postgres(db) or not isinstance(db, peewee.SqliteDatabase):
        raise DumpError("d1 export writes wrangler's SQLite SQL and works on SQLite databases only; "
                        "for PostgreSQL use pg_dump, or the JSON backup (d1 backup DB --output FILE)")
    if not schema and not data:
        raise DumpError("--no-schema and --no-data together leave nothing to export")
    wanted = set(tables)
    with db.atomic("DEFERRED"):
        conn = db.connection()
        found = _tables(conn)
        unknown = wanted - {name for name, _, _ in found}
        if unknown:
            raise DumpError(f"no such table: {', '.join(sorted(unknown))}")
        yield "PRAGMA defer_foreign_keys=TRUE;"
        for name, _, sql in found:
            if wanted and name not in wanted:
                continue
            yield from _table_statements(conn, name, sql, schema, data, on_progress)
        if schema:
            rest = conn.execute(
                "SELECT name, tbl_name, sql FROM sqlite_master WHERE sql NOT NULL"
                " AND type IN ('index', 'trigger', 'view') ORDER BY type COLLATE NOCASE, rowid"
            )
            for name, table, sql in rest.fetchall():
                if is_installed_on_apply(name):
                    continue
                if not wanted or table in wanted or name in wanted:
                    yield f"{sql};"


def dump_sql(db, **options):
    """The whole dump as one string (statements joined by newlines, as wrangler writes it)."""
    return "\n".join(dump_statements(db, **options))
