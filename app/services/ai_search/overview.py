"""What the AI Search admin page (and its JSON routes) shows and does: the collections with
their item counts, whether each is searched and how much of it the semantic index holds, the
collections new to search, and a bounded re-indexing of one collection.

Item counts are the live items (not in the trash), read from ``content_counts`` (a few rows
per collection, kept by triggers) rather than counted row by row.
"""

import time

from peewee import JOIN, Case, fn

from app.db.models import Collection, Content, ContentCount, SearchEmbedding
from app.services.ai_search.scope import indexed_collections
from app.services.ai_search.semantic import live

# What one "Re-index now" works on, so the page answers within seconds whatever the model
# does; what is left is handled by pressing again. Items embedded or refused (each refused
# text costs a request of its own) count toward REINDEX_BATCH...
REINDEX_BATCH = 100
# ...items checked (a fresh item costs no request, only its text's hash) toward REINDEX_CHECKED...
REINDEX_CHECKED = 500
# ...and no chunk starts once this many seconds have passed (one chunk may still take the
# model's timeout per request it sends).
REINDEX_SECONDS = 10.0
# Items handed to the index at once: each chunk embeds or refuses at most this many.
REINDEX_CHUNK = 25


def collections_overview(index, selected):
    """``[{id, name, display_name, item_count, searched, index, vectors}]`` of every collection,
    by name (``vectors``: whether the plugin wants its vectors, so it may be re-indexed).

    Args:
        index: the SemanticIndex, or None (no ``AI`` binding: ``index`` is None in each row).
        selected: the settings' ``selected_collections`` (empty: every collection is searched).
    """
    rows = list(Collection.select(Collection.id, Collection.name, Collection.display_name)
                .order_by(Collection.name).tuples())
    ids = [row_id for row_id, _, _ in rows]
    scope = indexed_collections()
    status = index.status(ids) if index is not None else None
    counts = {row_id: counts["items"] for row_id, counts in status.items()} if status else item_counts(ids)
    return [{"id": row_id, "name": name, "display_name": display_name or name, "item_count": counts.get(row_id, 0),
             "searched": not selected or row_id in selected, "index": status[row_id] if status else None,
             "vectors": _wanted(scope, row_id)}
            for row_id, name, display_name in rows]


def vectors_wanted(collection_id):
    """Whether the plugin wants vectors of ``collection_id``: it is active, ``enabled`` and
    ``ai_mode_enabled`` are on and the collection is searched (as the scheduled job reads it)."""
    return _wanted(indexed_collections(), collection_id)


def _wanted(scope, collection_id):
    wanted, collection_ids = scope
    return wanted and (collection_ids is None or collection_id in collection_ids)


def item_counts(collection_ids):
    """``{collection_id: live items}`` of ``collection_ids`` (those without items left out),
    summed from ``content_counts``: what ``live()`` keeps, items neither trashed nor of
    SonicJS's ``deleted`` status."""
    if not collection_ids:
        return {}
    counted = ContentCount
    rows = (counted.select(counted.collection_id, fn.SUM(counted.n))
            .where(counted.collection_id.in_(list(collection_ids)), counted.deleted == 0, counted.status != "deleted")
            .group_by(counted.collection_id).tuples())
    return {collection_id: int(total or 0) for collection_id, total in rows}


def new_collections(selected, dismissed):
    """The active collections new to search: ``[{id, name, display_name, description, item_count}]``
    by name, those neither among ``selected`` nor ``dismissed`` (the settings' lists).

    With no collection selected every collection is searched, so none is new (adding one
    to the selection would narrow the search to it, not widen it).
    """
    if not selected:
        return []
    skipped = set(selected) | set(dismissed)
    rows = [row for row in Collection.select(Collection.id, Collection.name, Collection.display_name,
                                             Collection.description)
            .where(Collection.is_active == True).order_by(Collection.name).tuples()  # noqa: E712
            if row[0] not in skipped]
    counts = item_counts([row[0] for row in rows])
    return [{"id": row_id, "name": name, "display_name": display_name or name, "description": description,
             "item_count": counts.get(row_id, 0)}
            for row_id, name, display_name, description in rows]


def collection_exists(collection_id):
    """Whether a collection has the id ``collection_id``."""
    return Collection.select().where(Collection.id == collection_id).exists()


def collection_is_active(collection_id):
    """Whether the collection ``collection_id`` exists and is active (only those are offered for search)."""
    return Collection.select().where(Collection.id == collection_id, Collection.is_active == True).exists()  # noqa: E712


def existing(collection_ids):
    """``collection_ids`` without the ids no collection has any more (in their order)."""
    found = {row for (row,) in Collection.select(Collection.id).where(Collection.id.in_(list(collection_ids))).tuples()}
    return [collection_id for collection_id in collection_ids if collection_id in found]


def reindex_batch(index, collection_id, limit=REINDEX_BATCH, checked_limit=REINDEX_CHECKED,
                  seconds=REINDEX_SECONDS):
    """Embed the missing or stale items of ``collection_id``, those whose vector is missing or
    dated other than the item first, then most recently updated first, a
    chunk of ``REINDEX_CHUNK`` at a time, until ``limit`` are embedded or refused (at most
    ``limit + REINDEX_CHUNK - 1``), ``checked_limit`` are checked or ``seconds`` have passed.

    ``SemanticIndex.index_counts`` skips the items whose vector is fresh (or whose text the
    model refused before) without a request; a text refused now counts as work done, so a
    model that refuses every text stops the run as soon as one that embeds them all.

    Returns:
        ``{"checked", "embedded", "refused"}`` counts.

    Raises:
        EmbeddingUnavailable: the model could not embed a batch (the batches before it are kept).
    """
    vector = SearchEmbedding
    # The items that look stale (no vector, or one dated other than the item) first: they
    # are stale for sure, so each press moves on past what the presses before it embedded.
    looks_stale = index.looks_stale()
    ids = [content_id for (content_id,) in Content.select(Content.id)
           .join(vector, JOIN.LEFT_OUTER, on=(vector.content == Content.id))
           .where(Content.collection == collection_id, live())
           .order_by(Case(None, [(looks_stale, 0)], 1), Content.updated_at.desc(), Content.id)
           .limit(checked_limit).tuples()]
    deadline = time.monotonic() + seconds
    done = {"checked": 0, "embedded": 0, "refused": 0}
    with index.one_change():
        for start in range(0, len(ids), REINDEX_CHUNK):
            chunk = ids[start:start + REINDEX_CHUNK]
            counts = index.index_counts(chunk)
            done["checked"] += len(chunk)
            done["embedded"] += counts["embedded"]
            done["refused"] += counts["failed"]
            if done["embedded"] + done["refused"] >= limit or time.monotonic() > deadline:
                break
    return done
