"""The DB binding: Cloudflare D1's client API (``env.DB``) over a Peewee database.

``D1Database.prepare(sql).bind(...).all()`` and friends behave like D1's Workers binding
(same result shapes, meta fields and error messages), synchronously, on the database ``app.db.database`` opens:
a SQLite file (the default, like D1 itself) or a pooled PostgreSQL server. Peewee models can
share the database through ``D1Database.db``.

Choices where Python and JS differ, or where SQLite/PostgreSQL cannot tell us what D1 would:

* BLOBs read back as ``bytes`` (D1 in JS returns an array of numbers); bind accepts
  ``bytes``/``bytearray``/``memoryview`` and, as D1 does, a list of ints 0..255.
* ``None`` binds as NULL (what the Python Workers SDK does), booleans as 1/0.
* ``meta.rows_read`` is rows returned plus rows changed and ``meta.rows_written`` is rows
  changed: SQLite does not expose D1's counters (which also count scanned rows and index
  writes), so these are lower bounds that agree with D1 for simple statements.
* PostgreSQL: ``?``/``?NNN`` become ``%s`` (reordered); ``last_row_id`` is ``lastval()``
  after an INSERT (the last sequence value of the session, so use ``RETURNING id`` with
  tables whose ids are not from a sequence) and 0 otherwise; ``size_after`` may be up to
  a second old (measuring it costs more than a query); values read back are made
  D1-like (bytea -> bytes, boolean -> 1/0, numeric -> int/float, dates -> ISO strings,
  json -> text).
* Errors keep D1's ``PREFIX: message: SQLITE_<CODE>`` shape, followed by
  `` (extended: SQLITE_CONSTRAINT_UNIQUE)`` when SQLite reports an extended code;
  PostgreSQL SQLSTATEs map to the nearest SQLite codes so callers can test one message on
  both databases. SQLite's ``at offset N`` is not added: Python's sqlite3 does not expose it.
* ``with_session()`` keeps D1's bookmarks; on PostgreSQL with ``read_replica_urls`` a
  session's reads go to streaming replicas that have replayed its bookmark (a WAL
  position), see ``app.runtime.d1.session``.
* On SQLite, queries run under D1's authorizer and size limit (``app.runtime.d1.guard``);
  on PostgreSQL the size limit is checked on bound values only.
"""

from app.runtime.d1.database import D1Database, open_d1
from app.runtime.d1.errors import (
    D1ColumnNotFoundError,
    D1DumpError,
    D1Error,
    D1ExecError,
    D1TypeError,
)
from app.runtime.d1.session import D1DatabaseSession, D1SessionError
from app.runtime.d1.sql import convert_value
from app.runtime.d1.statement import D1PreparedStatement

__all__ = [
    "D1ColumnNotFoundError", "D1Database", "D1DatabaseSession", "D1DumpError", "D1SessionError",
    "D1Error", "D1ExecError", "D1PreparedStatement",
    "D1TypeError", "convert_value", "open_d1",
]
