"""The rules for a backup's collections: matched by id and name; one whose name breaks the
rule is skipped with its content."""

from app.services.backup_import.lookups import existing
from app.services.backup_import.refusals import forget_refused
from app.services.collection_schema import collection_name_problem


def import_collections(state, rows):
    """Insert the collections not already here; one whose name is taken maps to the
    collection holding it, so its content goes there."""
    by_id = existing(state.db, "collections", "id", [r["id"] for r in rows])
    by_name = existing(state.db, "collections", "name", [r.get("name") for r in rows])
    candidates = []
    for row in rows:
        name_problem = isinstance(row.get("name"), str) and collection_name_problem(row["name"])
        if row["id"] in by_id:
            state.collections[row["id"]] = row["id"]
        elif name_problem:
            state.collections[row["id"]] = None
            state.skip("collections", row, f"name {row['name']!r}: {name_problem}")
        elif row.get("name") in by_name:
            state.collections[row["id"]] = by_name[row["name"]]
            state.skip("collections", row, f"name {row['name']!r} exists: its content goes there")
        else:
            state.collections[row["id"]] = row["id"]
            candidates.append(row)
    state.finish("collections", len(rows), candidates)
    forget_refused(state, "collections", candidates, state.collections)
