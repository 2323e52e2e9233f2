"""The rules for a backup's media files: matched by id and file key (the same key is the
same stored file), and following their uploader."""

from app.services.backup_import.lookups import existing
from app.services.backup_import.refusals import forget_refused


def import_media(state, rows):
    """Insert the media files not already here. One whose file key another row holds is
    skipped and maps to that row (the same key is the same stored file); one whose
    uploader was not imported is skipped and maps to None."""
    by_id = existing(state.db, "media", "id", [r["id"] for r in rows])
    by_key = existing(state.db, "media", "r2_key", [r.get("r2_key") for r in rows])
    candidates = []
    for row in rows:
        if row["id"] in by_id:
            state.media[row["id"]] = row["id"]
            continue
        if row.get("r2_key") in by_key:
            # Another row names the same stored file: two rows deleting one object would break
            # each other. Content showing it shows the holder's, which is that file.
            holder = state.media[row["id"]] = by_key[row["r2_key"]]
            state.skip("media", row, f"r2_key {row['r2_key']!r} belongs to media {holder!r}: content showing"
                                     " it shows that one")
            continue
        uploader = state.user(row.get("uploaded_by"))
        if uploader is None:
            state.media[row["id"]] = None
            state.skip("media", row, "its uploader was not imported")
            continue
        state.media[row["id"]] = row["id"]
        candidates.append({**row, "uploaded_by": uploader})
        if row.get("r2_key") is not None:
            by_key[row["r2_key"]] = row["id"]  # a later row of this backup with it is refused the same way
    state.finish("media", len(rows), candidates)
    forget_refused(state, "media", candidates, state.media)
