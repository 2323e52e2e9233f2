"""References to rows in neither the backup nor the database ("dangling"): a required one
refuses the backup before anything is written, an optional one is imported as NULL and counted."""

from app.services.backup import BackupError
from app.services.backup_import.lookups import existing
from app.services.backup_import.tables import REFERENCES, SINGULAR

_LISTED = 10  # rows a refusal names before it says how many more there are


def check_references(state, data):
    """Find the ids the backup's rows name that are in neither the backup nor the
    database (into ``state.dangling``); raise BackupError naming the rows that need one and
    cannot do without it.

    A backup the app wrote holds every row its rows name; one edited or pieced together
    may not. An optional reference to such a row is imported as NULL (``clear_dangling``); a
    required one (author, uploader, collection) would fail the foreign key, so the
    backup is refused before anything is written, rather than mid-import.
    """
    held = {table: {row["id"] for row in getattr(data, table)} for table in state.dangling}
    for table, column, target, _ in REFERENCES:
        named = {row.get(column) for row in getattr(data, table)}
        state.dangling[target].update(named - held[target] - {None})
    for target, ids in state.dangling.items():
        ids.difference_update(existing(state.db, target, "id", ids))
    missing = _required_missing(state, data)
    if missing:
        raise BackupError(f"{len(missing)} row(s) name a row in neither the backup nor the database and cannot"
                          f" be imported without it: {_listing(missing)}")


def _required_missing(state, data):
    """``_missing``'s lines for every required reference, in ``REFERENCES`` order."""
    missing = []
    for table, column, target, optional in REFERENCES:
        if not optional:
            missing += _missing(state, table, column, target, getattr(data, table))
    return missing


def _missing(state, table, column, target, rows):
    """``data.content[3] (id 'p9'): author_id 'ghost' is no user`` for each row of ``rows``
    to be imported whose ``column`` names a dangling row of ``target``."""
    needing = [(index, row) for index, row in enumerate(rows) if row.get(column) in state.dangling[target]]
    here = existing(state.db, table, "id", [row["id"] for _, row in needing])  # skipped anyway
    return [f"data.{table}[{index}] (id {row['id']!r}): {column} {row[column]!r} is no {SINGULAR[target]}"
            for index, row in needing if row["id"] not in here]


def _listing(lines):
    """The first ``_LISTED`` of ``lines``, then how many more there are."""
    more = f"; and {len(lines) - _LISTED} more" if len(lines) > _LISTED else ""
    return "; ".join(lines[:_LISTED]) + more


def clear_dangling(state, table, row, column, target):
    """Clear ``row[column]`` if it names a row in neither the backup nor the database."""
    value = row.get(column)
    if value is not None and value in state.dangling[target]:
        row[column] = None
        state.cleared_refs.append((table, row["id"], column, value))


def report_cleared(state, table, refused=()):
    """Count the references of ``table``'s imported rows that ``clear_dangling`` cleared
    (not those of the ``refused`` row ids, which were not imported)."""
    for row_table, row_id, column, value in state.cleared_refs:
        if row_table == table and row_id not in refused:
            kind = f"{table}.{column}"
            state.report.cleared_counts[kind] = state.report.cleared_counts.get(kind, 0) + 1
            state.report.cleared.append(f"{table} {row_id}: {column} {value!r} is in neither the backup nor"
                                        f" the database: imported as NULL")
