"""Server-side prepared statements on PostgreSQL, for the app's fixed SQL.

psycopg2 sends every statement as text, which the server parses, analyses and plans
anew each time: for a content read (four tables joined) that is about 150 us of the
server's time, where the execution itself takes 20. The app's hot statements are fixed
texts bound to new values (``app.services.content.statements`` compiles each read shape
once, ``app.db.rows`` holds the fixed statements of hot paths), so each connection prepares
such a statement the first time it runs it (``PREPARE``) and then only sends
``EXECUTE name (values)``. After five executions PostgreSQL may keep one generic plan for
the statement when it costs no more than the plans made for each value (``plan_cache_mode
= auto``); a search's plan depends on its words (how many rows match), so statements with a
full-text match are never prepared and keep a plan made for their values.

Only SQL wrapped in ``PreparedSQL`` is prepared: statements from anywhere else (migrations,
``d1 execute``, a D1 binding's own SQL) run as before. Names are per connection
(``PreparingConnection.prepared``) and go with it: a connection closed, discarded or
recycled by the pool takes its statements along on the server too. A connection prepares
at most ``MAX_PREPARED`` statements.

A ``PreparedBatch`` (a create's three INSERTs, sent as one query: one transaction on the
server) sends each of its statements by name the same way, preparing the new ones in that
query; after a failed batch the connection keeps the names the server made before the
failure (``PREPARE`` is not undone with it) and no others.

A statement is prepared only while its connection is outside a transaction (in
autocommit mode, between transactions), in the same round trip as its first ``EXECUTE``:
should the server refuse to prepare it (a parameter whose type it cannot infer), the
text is remembered as unpreparable and runs as plain SQL, with no transaction to spoil.
A statement prepared earlier runs by name inside transactions too. When the server no
longer knows a name (``DEALLOCATE ALL`` sent through the connection) or a table changed
under a plan so that its result no longer fits, the connection forgets its statements
and runs the SQL as plain text (outside a transaction; inside one, the error is the
statement's, as the transaction is spoilt).
"""

import re
import threading

try:  # psycopg2 is only needed for database_url = "postgresql://..."
    import psycopg2
    import psycopg2.extensions
except ImportError:  # pragma: no cover - exercised only without the driver installed
    psycopg2 = None

MAX_PREPARED = 512
# Full-text matches: their best plan depends on the words searched (see the docstring).
NEVER_PREPARED = ("@@",)
# The server lost the name, or a table changed under the plan: prepare again later.
_STALE = ("26000", "0A000")
# psycopg2's placeholders: "%s" is a value, "%%" a literal percent sign.
_PLACEHOLDER = re.compile(r"%([s%])")

_unpreparable = set()
_lock = threading.Lock()


class PreparedSQL(str):
    """SQL text a PostgreSQL connection of this app prepares on first use (see the module)."""

    __slots__ = ()


class PreparedBatch(str):
    """Several ``PreparedSQL`` statements sent as one query (one transaction on the server).

    Its text is the statements joined by ``"; "``, so it runs as plain SQL anywhere; a
    preparing cursor sends each statement by name instead (preparing it in the same query
    the first time).

    Attributes:
        parts: ``((PreparedSQL, number of its parameters), ...)`` in order.
    """

    def __new__(cls, statements):
        batch = super().__new__(cls, "; ".join(sql for sql, _ in statements))
        batch.parts = tuple((sql, len(params)) for sql, params in statements)
        return batch


def numbered(sql):
    """``sql`` with psycopg2's ``%s`` placeholders numbered ``$1``, ``$2``... and the count.

    ``%%`` stays as it is: the text goes through psycopg2's interpolation along with the
    ``EXECUTE`` that follows it, which turns it into ``%``.
    """
    count = 0

    def number(match):
        nonlocal count
        if match.group(1) == "%":
            return "%%"
        count += 1
        return f"${count}"

    return _PLACEHOLDER.sub(number, sql), count


if psycopg2 is not None:

    class PreparingCursor(psycopg2.extensions.cursor):
        """A cursor running ``PreparedSQL`` by name on its connection (plain SQL as usual)."""

        def execute(self, query, vars=None):
            if type(query) is PreparedBatch:
                return self._execute_batch(self.connection, query, vars)
            if type(query) is not PreparedSQL:
                return super().execute(query, vars)
            conn = self.connection
            name = conn.prepared.get(query)
            if name is not None:
                return self._execute_prepared(conn, query, name, vars)
            if _may_prepare(conn, query):
                return self._prepare_and_execute(conn, query, vars)
            return super().execute(query, vars)

        def _execute_prepared(self, conn, query, name, vars):
            idle = conn.get_transaction_status() == psycopg2.extensions.TRANSACTION_STATUS_IDLE
            try:
                return super().execute(_execute_text(name, vars), vars)
            except psycopg2.Error as ex:
                if not idle or ex.pgcode not in _STALE:
                    raise
            # Outside a transaction nothing was spoilt: forget every name, run it as text.
            conn.prepared.clear()
            super().execute("DEALLOCATE ALL")
            return super().execute(query, vars)

        def _prepare_and_execute(self, conn, query, vars):
            # A fresh name per attempt: a name the server kept from an attempt is never reused.
            conn.attempts += 1
            name = f"sonicpy_{conn.attempts}"
            text, count = numbered(query)
            if count != len(vars or ()):
                return super().execute(query, vars)  # psycopg2 reports the mismatch
            try:
                result = super().execute(f"PREPARE {name} AS {text}; {_execute_text(name, vars)}", vars)
            except psycopg2.Error as ex:
                if ex.pgcode is None or ex.pgcode[:2] != "42":
                    # The EXECUTE failed (a constraint...): PREPARE is not undone with it.
                    if ex.pgcode is not None:
                        conn.prepared[query] = name
                    raise
                with _lock:  # the server refused to prepare it: plain SQL from now on
                    _unpreparable.add(str(query))
                return super().execute(query, vars)
            conn.prepared[query] = name
            return result

        def _execute_batch(self, conn, batch, vars):
            if conn.get_transaction_status() != psycopg2.extensions.TRANSACTION_STATUS_IDLE:
                return super().execute(batch, vars)
            texts, new = [], {}
            for sql, count in batch.parts:
                name = conn.prepared.get(sql)
                if name is None and _may_prepare(conn, sql) and len(conn.prepared) + len(new) < MAX_PREPARED:
                    text, placeholders = numbered(sql)  # only for a statement to prepare: it costs a few us
                    if placeholders == count:
                        conn.attempts += 1
                        name = new[sql] = f"sonicpy_{conn.attempts}"
                        texts.append(f"PREPARE {name} AS {text}")
                texts.append(sql if name is None else _execute_text(name, [None] * count))
            try:
                result = super().execute("; ".join(texts), vars)
            except psycopg2.Error as ex:
                if ex.pgcode in _STALE:  # a name lost: forget them all, run it as text
                    conn.prepared.clear()
                    super().execute("DEALLOCATE ALL")
                    return super().execute(batch, vars)
                if ex.pgcode is not None and new:
                    self._keep_prepared(conn, new, refused=ex.pgcode[:2] == "42")
                    if ex.pgcode[:2] == "42":
                        return super().execute(batch, vars)
                raise
            conn.prepared.update(new)
            return result

        def _keep_prepared(self, conn, new, refused):
            """After a batch failed: keep the names its PREPAREs made before the failure (they
            stay on the server); when the server refused one, the others run as plain SQL."""
            super().execute("SELECT name FROM pg_prepared_statements WHERE name = ANY(%s)", (list(new.values()),))
            made = {row[0] for row in self.fetchall()}
            for sql, name in new.items():
                if name in made:
                    conn.prepared[sql] = name
                elif refused:
                    with _lock:
                        _unpreparable.add(str(sql))

    class PreparingConnection(psycopg2.extensions.connection):
        """A psycopg2 connection whose cursors prepare ``PreparedSQL``; ``prepared`` maps SQL to names."""

        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.prepared = {}
            self.attempts = 0
            self.cursor_factory = PreparingCursor

else:  # pragma: no cover - without the driver there is no PostgreSQL connection to prepare on
    PreparingCursor = PreparingConnection = None


def _may_prepare(conn, query):
    """Whether ``conn`` may prepare ``query`` now: outside a transaction, room left, a statement it can prepare."""
    return (conn.get_transaction_status() == psycopg2.extensions.TRANSACTION_STATUS_IDLE
            and len(conn.prepared) < MAX_PREPARED and query not in _unpreparable
            and not any(marker in query for marker in NEVER_PREPARED))


def _execute_text(name, vars):
    if not vars:
        return f"EXECUTE {name}"
    return f"EXECUTE {name} ({', '.join(['%s'] * len(vars))})"


_marked = {}


def prepared_sql(sql):
    """``sql`` as ``PreparedSQL``, the same object for the same text (its hash computed once).

    For SQL built once and run many times; at most ``MAX_PREPARED`` texts are kept (past
    that the text is wrapped anew on each call).
    """
    marked = _marked.get(sql)
    if marked is None:
        marked = PreparedSQL(sql)
        if len(_marked) < MAX_PREPARED:
            with _lock:
                _marked[sql] = marked
    return marked
