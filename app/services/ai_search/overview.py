"""What the AI Search admin page shows and does: the collections with their item counts,
whether each is searched and how much of it the semantic index holds, and a bounded
re-indexing of one collection.
"""

from peewee import fn

from app.db.models import Collection, Content

# Items a "Re-index now" embeds (about): a few requests to the model, so the page answers
# within seconds; what is left is embedded by pressing again.
REINDEX_BATCH = 100
# Items handed to the index at once: each chunk embeds at most this many.
REINDEX_CHUNK = 25


def collections_overview(index, selected):
    """``[{id, name, display_name, item_count, searched, index}]`` of every collection, by name.

    Args:
        index: the SemanticIndex, or None (no ``AI`` binding: ``index`` is None in each row).
        selected: the settings' ``selected_collections`` (empty: every collection is searched).
    """
    rows = list(Collection.select(Collection.id, Collection.name, Collection.display_name)
                .order_by(Collection.name).tuples())
    ids = [row_id for row_id, _, _ in rows]
    status = index.status(ids) if index is not None else None
    counts = {row_id: counts["items"] for row_id, counts in status.items()} if status else _item_counts(ids)
    return [{"id": row_id, "name": name, "display_name": display_name or name, "item_count": counts.get(row_id, 0),
             "searched": not selected or row_id in selected, "index": status[row_id] if status else None}
            for row_id, name, display_name in rows]


def _item_counts(collection_ids):
    if not collection_ids:
        return {}
    return dict(Content.select(Content.collection, fn.COUNT(Content.id))
                .where(Content.collection.in_(collection_ids), _live())
                .group_by(Content.collection).tuples())


def collection_exists(collection_id):
    """Whether a collection has the id ``collection_id``."""
    return Collection.select().where(Collection.id == collection_id).exists()


def reindex_batch(index, collection_id, limit=REINDEX_BATCH):
    """Embed about ``limit`` of the missing or stale items of ``collection_id`` (at most
    ``limit + REINDEX_CHUNK - 1``), most recently updated first; the count embedded.

    The items are handed to ``SemanticIndex.index_items`` a chunk at a time, which skips those
    whose vector is fresh (or whose text the model refused) without a request, and it stops
    once ``limit`` are embedded.

    Raises:
        EmbeddingUnavailable: the model could not embed a batch (the batches before it are kept).
    """
    ids = [content_id for (content_id,) in Content.select(Content.id)
           .where(Content.collection == collection_id, _live())
           .order_by(Content.updated_at.desc(), Content.id).tuples()]
    embedded = 0
    for start in range(0, len(ids), REINDEX_CHUNK):
        embedded += index.index_items(ids[start:start + REINDEX_CHUNK])
        if embedded >= limit:
            break
    return embedded


def _live():
    """Content not in the trash, as the semantic index counts it."""
    return Content.deleted_at.is_null() & (Content.status != "deleted")
