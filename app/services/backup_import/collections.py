"""The rules for a backup's collections: matched by id and name; one whose name breaks the
rule is skipped with its content."""

from app.services.backup_import.lookups import existing
from app.services.backup_import.refusals import forget_refused
from app.services.collection_schema import collection_name_problem


def placements(db, rows):
    """Where each of a backup's collection ``rows`` goes: ``[(row, target id or None, why it
    is skipped or None, whether it is inserted)]``.

    A collection whose id is here is that row (not written again); one whose name breaks
    the rule goes nowhere; one whose name is taken maps to the collection holding it, so
    its content goes there; the others are inserted.
    """
    by_id = existing(db, "collections", "id", [r["id"] for r in rows])
    by_name = existing(db, "collections", "name", [r.get("name") for r in rows])
    placed = []
    for row in rows:
        name_problem = isinstance(row.get("name"), str) and collection_name_problem(row["name"])
        if row["id"] in by_id:
            placed.append((row, row["id"], None, False))
        elif name_problem:
            placed.append((row, None, f"name {row['name']!r}: {name_problem}", False))
        elif row.get("name") in by_name:
            placed.append((row, by_name[row["name"]], f"name {row['name']!r} exists: its content goes there", False))
        else:
            placed.append((row, row["id"], None, True))
    return placed


def collections_to_insert(db, rows):
    """Those of a backup's collection ``rows`` the import inserts (``placements``); the
    database may still refuse one (``forget_refused``)."""
    return [row for row, _, _, inserted in placements(db, rows) if inserted]


def import_collections(state, rows):
    """Insert the collections not already here; one whose name is taken maps to the
    collection holding it, so its content goes there."""
    candidates = []
    for row, target, why, inserted in placements(state.db, rows):
        state.collections[row["id"]] = target
        if why is not None:
            state.skip("collections", row, why)
        if inserted:
            candidates.append(row)
    state.finish("collections", len(rows), candidates)
    forget_refused(state, "collections", candidates, state.collections)
