"""The triggers on ``content`` that keep derived data, and the search index they feed:
created when missing, replaced when outdated.

The counts, the search index (``app.db.derived``) and ``content_media`` are kept by triggers
that the migration runner installs after every apply. A database made by an earlier sonicpy
may hold a trigger of the same name written for an earlier rule, which installing by name
alone would keep for ever: each trigger's stored definition is compared with this version's
statement instead, and one that differs is dropped and created again, in one transaction
(no write sees content without it). The search index's own objects (SQLite's FTS5 table and
the view it reads, PostgreSQL's GIN index over ``content_fts``) are compared and replaced the
same way; PostgreSQL's ``content_fts`` table itself is created when missing.

* SQLite keeps a trigger's CREATE statement as it was run (``sqlite_master.sql``), which is
  compared with the statement.
* PostgreSQL keeps a parsed trigger and shows it in its own words (``pg_get_triggerdef``),
  which cannot be compared with a statement as written. Each trigger installed here carries
  a comment instead: its statement, then what PostgreSQL showed for it once created. A
  trigger is current when its comment is this version's statement followed by what
  PostgreSQL shows for it now; one without (an earlier version's) or changed by hand since
  is made again. It counts as replaced only when PostgreSQL then shows another definition:
  one that merely lacked the comment kept its data by this very definition.
* PostgreSQL's trigger functions are run with ``CREATE OR REPLACE`` on every install
  (``install_pg_functions``); the stored body (``pg_proc.prosrc``) tells whether it changed.
* PostgreSQL shows an index in its own words too (``pg_get_indexdef``), but in words an
  index's statement can be written in: the statement is that, bar the schema PostgreSQL
  names the table (and a function) with (``install_pg_index``).

``outdated`` and ``outdated_pg_functions`` (and ``pg_index_current``) make the same
comparisons and change nothing: what an install would create or replace.

What a replacement means for the data is the caller's to decide: a trigger or function
replaced kept its rows by another rule, which may have written rows this one would not.
"""

from app.db.database import is_postgres

TABLE = "content"
# Every function statement quotes its body with this tag: the text between two of them is
# what PostgreSQL stores as the body.
PG_BODY_QUOTE = "$body$"

_PG_TRIGGERS = (
    "SELECT t.tgname, obj_description(t.oid, 'pg_trigger'), pg_get_triggerdef(t.oid) FROM pg_trigger t"
    " JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace"
    f" WHERE c.relname = '{TABLE}' AND n.nspname = current_schema() AND t.tgname = ANY(%s)")


def install(db, statements):
    """Create the triggers of ``statements`` (name -> CREATE TRIGGER statement on content)
    that are missing and replace those whose stored definition is not their statement, in
    one transaction (a savepoint within the caller's).

    Returns:
        ``(created, replaced)``: the names of the triggers that were missing and of those
        that had another definition, each in the order of ``statements``.
    """
    with db.atomic():
        return _install_postgres(db, statements) if is_postgres(db) else _install_sqlite(db, statements)


def install_sqlite(db, statements):
    """``install`` for any object SQLite keeps its CREATE statement of: triggers, views and
    tables (virtual ones included); an object of another kind with the same name is replaced too.
    Dropping an FTS5 table drops its index with it: the caller fills the new one.
    """
    with db.atomic():
        return _install_sqlite(db, statements)


def outdated(db, statements):
    """The names of ``statements`` (as ``install`` takes them; on SQLite, as ``install_sqlite``
    does too) that ``install`` would create or make again: missing, or stored otherwise.
    Reads the catalog only: changes nothing, takes no lock a write would."""
    if is_postgres(db):
        stored = _pg_shown(db, statements)
        return [name for name, statement in statements.items() if not _pg_current(stored, name, statement)]
    stored = _sqlite_stored(db)
    return [name for name, statement in statements.items() if stored.get(name, (None, None))[1] != statement]


def _sqlite_stored(db):
    """``{name: (type, CREATE statement)}`` of SQLite's triggers, views and tables."""
    return {name: (kind, sql) for name, kind, sql in db.execute_sql(
        "SELECT name, type, sql FROM sqlite_master WHERE type IN ('trigger', 'view', 'table')").fetchall()}


def _install_sqlite(db, statements):
    stored = _sqlite_stored(db)
    created, replaced = [], []
    for name, statement in statements.items():
        kind, sql = stored.get(name, (None, None))
        if sql == statement:
            continue
        if kind is not None:
            db.execute_sql(f'DROP {kind.upper()} "{name}"')
            replaced.append(name)
        else:
            created.append(name)
        db.execute_sql(statement)
    return created, replaced


def _pg_label(statement, shown):
    """The comment of a trigger made by ``statement`` that PostgreSQL shows as ``shown``."""
    return f"{statement}\n-- {shown}"


def _pg_shown(db, names):
    """``{name: (comment, definition as PostgreSQL shows it)}`` of the triggers ``names`` on content."""
    return {name: (comment, shown) for name, comment, shown in db.execute_sql(_PG_TRIGGERS, (list(names),))}


def _pg_current(stored, name, statement):
    """Whether trigger ``name`` (in ``stored``, ``_pg_shown``'s answer) is ``statement``'s, as
    PostgreSQL shows it now: the comment ``install`` left on it still fits."""
    comment, shown = stored.get(name, (None, None))
    return shown is not None and comment == _pg_label(statement, shown)


def _install_postgres(db, statements):
    stored = _pg_shown(db, statements)
    created, replaced = [], []
    for name, statement in statements.items():
        if _pg_current(stored, name, statement):
            continue
        shown = stored.get(name, (None, None))[1]
        if shown is not None:
            db.execute_sql(f"DROP TRIGGER {name} ON {TABLE}")
        db.execute_sql(statement)
        now = _pg_shown(db, [name])[name][1]
        db.execute_sql(f"COMMENT ON TRIGGER {name} ON {TABLE} IS %s", (_pg_label(statement, now),))
        if shown is None:
            created.append(name)
        elif shown != now:
            replaced.append(name)
    return created, replaced


def install_pg_functions(db, statements):
    """Run each ``CREATE OR REPLACE FUNCTION`` statement of ``statements`` (name -> statement,
    its body quoted with ``PG_BODY_QUOTE``); the names of those that existed with another body.

    Call inside a transaction.
    """
    stored = _pg_bodies(db, statements)
    cursor = db.cursor()
    for statement in statements.values():
        cursor.execute(statement)  # no parameters: psycopg2 leaves the bodies alone
    return [name for name, statement in statements.items()
            if name in stored and stored[name] != _pg_body(statement)]


def outdated_pg_functions(db, statements):
    """The names of ``statements`` (as ``install_pg_functions`` takes them) whose function is
    missing or has another body: what an install would change. Reads the catalog only."""
    stored = _pg_bodies(db, statements)
    return [name for name, statement in statements.items() if stored.get(name) != _pg_body(statement)]


def _pg_bodies(db, names):
    """``{name: stored body}`` of the functions ``names`` in the current schema."""
    return dict(db.execute_sql(
        "SELECT p.proname, p.prosrc FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace"
        " WHERE n.nspname = current_schema() AND p.proname = ANY(%s)", (list(names),)).fetchall())


def _pg_body(statement):
    """The body of a function ``statement``: what PostgreSQL stores of it (``pg_proc.prosrc``)."""
    return statement.split(PG_BODY_QUOTE)[1]


_PG_INDEX = (
    "SELECT pg_get_indexdef(i.oid), quote_ident(n.nspname) FROM pg_class i"
    " JOIN pg_namespace n ON n.oid = i.relnamespace"
    " WHERE i.relname = %s AND i.relkind = 'i' AND n.nspname = current_schema()")


def install_pg_index(db, name, statement):
    """Create index ``name`` by ``statement`` (``CREATE INDEX name ON <table> ...``, written as
    PostgreSQL shows it without the schema) when it is missing or shown otherwise.

    An outdated index is renamed and dropped only once its replacement is built: building
    locks content against writes alone, dropping against reads too (until the transaction
    ends), so reads go on while the new index is built. Call inside a transaction.

    Returns:
        True when the index was built (missing or replaced), False when it was current.
    """
    found = db.execute_sql(_PG_INDEX, (name,)).fetchone()
    if _pg_index_current(found, statement):
        return False
    outdated = f"{name}_outdated"
    if found is not None:
        db.execute_sql(f"ALTER INDEX {name} RENAME TO {outdated}")
    db.execute_sql(statement)
    if found is not None:
        db.execute_sql(f"DROP INDEX {outdated}")
    return True


def pg_index_current(db, name, statement):
    """Whether index ``name`` is there as ``statement`` makes it (``install_pg_index`` would
    leave it alone). Reads the catalog only."""
    return _pg_index_current(db.execute_sql(_PG_INDEX, (name,)).fetchone(), statement)


def _pg_index_current(found, statement):
    """Whether ``found`` (``_PG_INDEX``'s row, or None) is the index ``statement`` makes."""
    return found is not None and found[0].replace(f"{found[1]}.", "") == statement
