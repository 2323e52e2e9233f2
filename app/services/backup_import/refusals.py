"""Rows the database did not take though the checks let them through: read back after the
insert, skipped with their reason, and what needs them follows.

The checks ask what the database holds, but ``ON CONFLICT DO NOTHING`` answers for the
unique keys as the database compares them (``lower()`` folds letters differently on
SQLite, PostgreSQL and Python), and a concurrent write may take one between the checks
and the insert; a rule of the database's own (a trigger dropping the row) may refuse it too.
"""

from app.services.backup_import.lookups import existing, held_keys, held_slugs
from app.services.backup_import.tables import SINGULAR, UNIQUE_KEYS, key_value


def forget_refused(state, table, candidates, mapping):
    """Candidates the database refused are not imported, and what needs them follows.

    Such a row went nowhere; mapped to itself in ``mapping`` (one of ``state``'s id maps),
    the rows naming it would fail their foreign key. Returns the ids of the refused rows.
    """
    landed = existing(state.db, table, "id", [row["id"] for row in candidates])
    refused = {row["id"] for row in candidates} - set(landed)
    for source_id, target_id in mapping.items():
        if target_id in refused:  # the refused row itself, and the rows of this backup sent to it
            mapping[source_id] = None
    refused_rows = [row for row in candidates if row["id"] in refused]
    held = held_keys(state.db, table, refused_rows)
    for row in refused_rows:
        state.skip(table, row, _why_refused(table, row, held))
    return refused


def _why_refused(table, row, held):
    """Why the database did not take ``row``: another row holds one of its unique keys
    (``held``, from ``held_keys``), or, with none, a rule of the database's own."""
    taken = [column for column in UNIQUE_KEYS[table] if key_value(column, row) in held[column]]
    if taken:
        keys = " and ".join(f"{column} {row.get(column)!r}" for column in taken)
        verb = "is" if len(taken) == 1 else "are"
        return f"the database refused it as a duplicate: its {keys} {verb} taken as it compares them"
    return (f"the database did not take it, though no {SINGULAR[table]} holds its {' or '.join(UNIQUE_KEYS[table])}:"
            " a rule of the database's own (a trigger or constraint) refused the row")


def skip_refused_content(state, candidates):
    """Skip, with its reason, each content candidate the database did not take, as
    ``forget_refused`` does for the other tables (no row names content, so nothing
    follows it); return the ids of those rows."""
    landed = existing(state.db, "content", "id", [row["id"] for row in candidates])
    refused = [row for row in candidates if row["id"] not in landed]
    held = held_slugs(state.db, {(row["collection_id"], row["slug"]) for row in refused if row.get("slug") is not None})
    for row in refused:
        if (row["collection_id"], row.get("slug")) in held:
            why = f"the database refused it as a duplicate: its slug {row['slug']!r} is taken in its collection"
        else:
            why = ("the database did not take it, though no content holds its slug in its collection: a rule of"
                   " the database's own (a trigger or constraint) refused the row")
        state.skip("content", row, why)
    return {row["id"] for row in refused}
