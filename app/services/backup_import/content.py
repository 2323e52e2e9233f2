"""The rules for a backup's content: matched by id and by slug in its collection, its
references following the users, collections and media imported or found."""

from app.services.backup_import.lookups import existing, held_slugs
from app.services.backup_import.references import clear_dangling, report_cleared
from app.services.backup_import.refusals import skip_refused_content

# Content columns that mirror pending rows of scheduled_content, which backups do not hold.
SCHEDULE_MIRRORS = ("scheduled_publish_at", "scheduled_unpublish_at")


def import_content(state, rows):
    """Insert the content not already here, its references mapped to the rows imported
    or found; one whose collection or author was not imported, or whose slug is taken in
    its collection, is skipped."""
    by_id = existing(state.db, "content", "id", [r["id"] for r in rows])
    candidates, taken = [], _taken_slugs(state, rows)
    for row in rows:
        if row["id"] in by_id:
            continue
        collection = row.get("collection_id")
        if collection in state.collections and state.collections[collection] is None:
            state.skip("content", row, "its collection was not imported")
            continue
        row = {**row, "collection_id": state.collections.get(collection, collection)}
        author = state.user(row.get("author_id"))
        if author is None:
            state.skip("content", row, "its author was not imported")
            continue
        if (row["collection_id"], row.get("slug")) in taken:
            state.skip("content", row, f"slug {row.get('slug')!r} is taken in its collection")
            continue
        row["author_id"] = author
        for column in SCHEDULE_MIRRORS:
            if column in row:  # a backup holds no schedules: nothing pending is left to mirror
                row[column] = None
        for column, target, mapping in (("reviewer_id", "users", state.users),
                                        ("featured_image_id", "media", state.media)):
            clear_dangling(state, "content", row, column, target)
            if row.get(column) in mapping:
                row[column] = mapping[row[column]]
        candidates.append(row)
        if row.get("slug") is not None:
            # A later row of this backup with the same slug would collide on the insert, unexplained.
            taken.add((row["collection_id"], row["slug"]))
    state.finish("content", len(rows), candidates)
    report_cleared(state, "content", skip_refused_content(state, candidates))


def _taken_slugs(state, rows):
    """``{(collection_id, slug)}`` already in the target among those ``rows`` bring,
    their collections mapped to the target's."""
    pairs = set()
    for row in rows:
        collection_id = state.collections.get(row.get("collection_id"), row.get("collection_id"))
        if collection_id is not None and row.get("slug") is not None:
            pairs.add((collection_id, row["slug"]))
    return held_slugs(state.db, pairs)
