"""``D1PreparedStatement``: immutable, re-bindable, and its execution methods."""

from dataclasses import dataclass, field

from app.runtime.d1.errors import D1ColumnNotFoundError
from app.runtime.d1.sql import convert_value


class D1PreparedStatement:
    """SQL text plus bound values; immutable, so one statement can be re-bound many times."""

    __slots__ = ("_database", "_sql", "_values")

    def __init__(self, database, sql, values=()):
        self._database = database
        self._sql = sql
        self._values = values

    @property
    def sql(self):
        """The SQL text given to ``prepare()``."""
        return self._sql

    @property
    def values(self):
        """The converted bound values, as a tuple."""
        return self._values

    def bind(self, *values):
        """Return a new statement with ``values`` bound; raise D1TypeError on a bad type."""
        return D1PreparedStatement(self._database, self._sql, tuple(map(convert_value, values)))

    def all(self):
        """Run the statement; return ``{"success": True, "meta": {...}, "results": [rows]}``."""
        return self._database._execute(self, with_meta=True).as_result()

    def run(self):
        """Same as ``all()`` (D1 documents ``run`` as an alias; rows are returned too)."""
        return self.all()

    def first(self, column=None):
        """Return the first row as a dict (or None); with ``column``, that column's value.

        Raises:
            D1ColumnNotFoundError: there is a row but it has no ``column``.
        """
        outcome = self._database._execute(self, with_meta=False)
        if not outcome.rows:
            return None
        row = dict(zip(outcome.columns, outcome.rows[0]))
        if column is None:
            return row
        if column not in row:
            raise D1ColumnNotFoundError(f"Column not found ({column})")
        return row[column]

    def raw(self, column_names=False):
        """Return rows as lists; with ``column_names`` the first list holds the column names.

        Duplicate names are kept; with no rows and ``column_names`` only the header remains.
        """
        outcome = self._database._execute(self, with_meta=False)
        rows = [list(row) for row in outcome.rows]
        return [list(outcome.columns)] + rows if column_names else rows

    def __repr__(self):
        return f"D1PreparedStatement({self._sql!r}, values={self._values!r})"


@dataclass
class Outcome:
    """What running one prepared statement produced: the last SQL statement's rows."""

    columns: tuple = ()
    rows: list = field(default_factory=list)
    rows_returned: int = 0  # over all its SQL statements
    changes: int = 0
    commands: list = field(default_factory=list)  # PostgreSQL command tags (INSERT, ...)
    duration: float = 0.0
    meta: dict = None

    def row_dicts(self):
        # dict(zip()) keeps the last of duplicate names, as a JS object built column by column.
        return [dict(zip(self.columns, row)) for row in self.rows]

    def as_result(self):
        return {"success": True, "meta": self.meta, "results": self.row_dicts()}
