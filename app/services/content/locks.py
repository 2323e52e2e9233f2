"""Row locks for content writes: concurrent writers of one item take turns.

Every write checks what it read (the version the client sent, whether the item is
deleted, who owns it, its workflow state) and then writes. On PostgreSQL another writer
could change the row in between, so a write reads the row ``FOR UPDATE``: the second
writer waits for the first one's commit and then reads the row as it left it (a blind
edit then applies after it, last writer wins; a stale version is a 409). SQLite needs
nothing: every write transaction takes the database's write lock when it begins
(``BEGIN IMMEDIATE``).
"""

from app.db.database import locked
from app.db.models import Content


def lock_row(query):
    """``query`` (a SELECT on content, inside a transaction) locking the content rows it reads."""
    return locked(query, of=Content)
