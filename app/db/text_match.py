""""Contains, whatever the case" on both databases, for every letter, not only ASCII's.

SQLite's ``LIKE`` folds ASCII letters only, so ``Éclair`` would not match ``éclair`` there:
on SQLite the column is compared through ``sonicpy_lower`` (Python's ``str.lower``,
registered on the connection that runs the statement) with the pattern lower-cased the same
way. PostgreSQL's ``ILIKE`` lower-cases both sides with ``lower()``, which follows the
database's locale (under a "C" locale, ASCII letters only): the column is compared under the
ICU root collation instead (``pg_fold_collation``), whose ``lower()`` is Unicode's full
lower-casing, as ``str.lower`` is (``Σ`` at a word's end becomes ``ς`` on both; ``İ``
becomes ``i̇``). A server without ICU keeps its locale's folding.
"""

from peewee import SQL, NodeList, Value, fn

from app.db.database import is_postgres, pg_fold_collation
from app.db.models import database

FOLD_FUNCTION = "sonicpy_lower"


def _lower(text):
    return text.lower() if isinstance(text, str) else text


def register_fold(db):
    """Make ``sonicpy_lower`` callable on ``db``'s connection of this thread (a cheap call;
    connections are per thread and opened lazily)."""
    db.connection().create_function(FOLD_FUNCTION, 1, _lower, deterministic=True)


def contains_any_case(target, text, bind=Value):
    """The condition ``target`` contains ``text`` in any case, with %, _ and \\ matching themselves.

    Args:
        target: a column or expression of text.
        text: what to find.
        bind: how the pattern becomes a parameter (``Value`` by default; a statement
            builder may pass its own, to name its parameters).
    """
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    db = database.obj
    if is_postgres(db):
        # ILIKE's lower-casing follows its operands' collation.
        folded = NodeList((NodeList((target,), parens=True), SQL(pg_fold_collation(db))))
        return NodeList((folded, SQL("ILIKE"), bind(f"%{escaped}%"), SQL("ESCAPE '\\'")))
    # Registered now, before the statement that holds the condition runs.
    register_fold(db)
    return NodeList((getattr(fn, FOLD_FUNCTION)(target), SQL("LIKE"), bind(f"%{_lower(escaped)}%"),
                     SQL("ESCAPE '\\'")))
