"""Semantic search: content items' embedding vectors, kept in the database, ranked by cosine.

The text of an item is the text the full-text index reads (``app.db.derived``): its title
and every string value of its ``data`` at any depth (keys left out), here capped at
``TEXT_LIMIT`` characters. Its vector, from the env's ``AI`` binding (``app.runtime.ai``),
is stored normalised in ``search_embeddings`` as float32 little-endian with the sha256 of
that text and the model's name: an item whose text or model changed is stale, and is
embedded again by ``index_items`` (every item named), ``index_stale`` (the scheduled job's
bounded batch) or ``sonicpy search reindex``.

Ranking reads the vectors of the collections searched and scores them in Python (the
normalised vectors' dot product is their cosine): each search costs a pass over those
vectors, about 0.1 s per 1,000 vectors of 768 dimensions on one core. It fits collections
of some thousands of items; past tens of thousands a vector index would be needed.
"""

from __future__ import annotations

import hashlib
import heapq
import math
import operator
import sys
from array import array

import peewee

from app.db.models import Content, SearchEmbedding, database, now_ms
from app.runtime.ai import EmbeddingUnavailable

__all__ = ["EmbeddingUnavailable", "SemanticIndex", "item_text", "semantic_index_for"]

# Characters of an item's text sent to the model: about 2,000 tokens, within what common
# embedding models read (longer texts are cut, not split into chunks).
TEXT_LIMIT = 8000
# Content ids per query (bound parameters stay far below SQLite's and PostgreSQL's limits).
ID_CHUNK = 500
# Items the scheduled job checks each run: a few requests to the model, so a run stays short.
SCHEDULED_BATCH = 64

_BIG_ENDIAN = sys.byteorder == "big"
_dot = getattr(math, "sumprod", None) or (lambda a, b: sum(map(operator.mul, a, b)))


class SemanticIndex:
    """The vectors of content items, embedded by the ``AI`` binding's model."""

    def __init__(self, embedder):
        self.embedder = embedder

    @property
    def model(self):
        """The name of the model the vectors are made with."""
        return self.embedder.model

    def rank(self, text, collection_ids, limit=1000):
        """``[(content_id, similarity), ...]`` of the indexed items of ``collection_ids``
        nearest to ``text``, best first, at most ``limit``.

        Items in the trash are left out; an item edited since it was indexed is ranked by
        its last vector until it is indexed again.

        Raises:
            EmbeddingUnavailable: the model could not embed ``text``.
        """
        collection_ids = list(collection_ids)
        if not collection_ids or limit <= 0:
            return []
        query = normalised(self.embedder.embed([text])[0])
        rows = (SearchEmbedding.select(SearchEmbedding.content, SearchEmbedding.vector)
                .join(Content, on=(SearchEmbedding.content == Content.id))
                .where(SearchEmbedding.collection_id.in_(collection_ids), SearchEmbedding.model == self.model,
                       SearchEmbedding.dimensions == len(query), _live())
                .tuples().iterator())
        scored = ((content_id, _dot(query, unpack(vector))) for content_id, vector in rows)
        return [(content_id, round(score, 6)) for content_id, score in heapq.nlargest(limit, scored, key=_score)]

    def index_items(self, content_ids):
        """Embed and store the vectors of ``content_ids`` whose text changed; the count embedded.

        An item with a fresh vector costs no request; an item in the trash (or gone) has its
        vector removed. Each batch of the model's ``batch_size`` is stored in one transaction.

        Raises:
            EmbeddingUnavailable: the model could not embed a batch (the batches before it are kept).
        """
        ids = list(dict.fromkeys(content_ids))
        return sum(self._index_chunk(ids[start:start + ID_CHUNK]) for start in range(0, len(ids), ID_CHUNK))

    def index_stale(self, collection_ids=None, batch_size=SCHEDULED_BATCH):
        """Remove the vectors of items in the trash, then index up to ``batch_size`` items of
        ``collection_ids`` (None: every collection) without a vector, or edited, moved or
        re-modelled since theirs was made. What the scheduled job runs each minute.

        Returns:
            ``{"embedded", "checked", "removed"}`` counts.

        Raises:
            EmbeddingUnavailable: the model could not embed a batch.
        """
        removed = self.remove_deleted()
        candidates = self._candidates(collection_ids, batch_size)
        return {"embedded": self.index_items(candidates), "checked": len(candidates), "removed": removed}

    def reindex(self, collection_id):
        """Index every item of ``collection_id`` whose vector is missing or stale (the text of
        each is compared, whatever its ``updated_at``); the count embedded."""
        self.remove_deleted()
        ids = [content_id for (content_id,) in Content.select(Content.id)
               .where(Content.collection == collection_id, _live()).order_by(Content.id).tuples()]
        return self.index_items(ids)

    def remove_deleted(self):
        """Delete the vectors of items moved to the trash; the count deleted."""
        trashed = (Content.select(Content.id).join(SearchEmbedding, on=(SearchEmbedding.content == Content.id))
                   .where(~_live()))
        return SearchEmbedding.delete().where(SearchEmbedding.content.in_(trashed)).execute()

    def status(self, collection_ids):
        """Per collection id: items, items indexed, items whose vector is missing or stale.

        Returns:
            ``{collection_id: {"items", "indexed", "stale", "missing"}}``: live items (not in
            the trash); those whose vector is of their current text and model; those whose
            vector is of another text, model or collection; those without one.
        """
        counts = {collection_id: {"items": 0, "indexed": 0, "stale": 0, "missing": 0}
                  for collection_id in collection_ids}
        if not counts:
            return counts
        rows = (Content.select(Content.collection, Content.title, Content.data, SearchEmbedding.source_hash,
                               SearchEmbedding.model, SearchEmbedding.collection_id)
                .join(SearchEmbedding, peewee.JOIN.LEFT_OUTER, on=(SearchEmbedding.content == Content.id))
                .where(Content.collection.in_(list(counts)), _live()).tuples().iterator())
        for collection_id, title, data, source_hash, model, indexed_in in rows:
            count = counts[collection_id]
            count["items"] += 1
            if source_hash is None:
                count["missing"] += 1
            elif (source_hash, model, indexed_in) == (text_hash(item_text(title, data)), self.model, collection_id):
                count["indexed"] += 1
            else:
                count["stale"] += 1
        return counts

    # ------------------------------------------------------------ indexing

    def _index_chunk(self, ids):
        items = list(Content.select(Content.id, Content.collection, Content.title, Content.data, Content.updated_at,
                                    Content.status, Content.deleted_at).where(Content.id.in_(ids)))
        live = [item for item in items if item.deleted_at is None and item.status != "deleted"]
        gone = set(ids) - {item.id for item in live}
        if gone:
            SearchEmbedding.delete().where(SearchEmbedding.content.in_(list(gone))).execute()
        known = {row.content_id: row for row in SearchEmbedding.select(
            SearchEmbedding.content, SearchEmbedding.source_hash, SearchEmbedding.model,
            SearchEmbedding.collection_id, SearchEmbedding.content_updated_at,
        ).where(SearchEmbedding.content.in_([item.id for item in live]))} if live else {}
        todo, touched = [], []
        for item in live:
            text = item_text(item.title, item.data)
            entry = (item, text, text_hash(text))
            row = known.get(item.id)
            current = (entry[2], self.model, item.collection_id)
            if row is None or (row.source_hash, row.model, row.collection_id) != current:
                todo.append(entry)
            elif row.content_updated_at != item.updated_at:
                touched.append(item)
        self._touch(touched)
        batch_size = self.embedder.batch_size
        for start in range(0, len(todo), batch_size):
            batch = todo[start:start + batch_size]
            self._store(batch, self.embedder.embed([text for _, text, _ in batch]))
        return len(todo)

    def _touch(self, items):
        """Record the ``updated_at`` of items whose text did not change (a status change, a
        publication), so the scheduled job does not check them again. One transaction: one
        write lock on SQLite, not one per item."""
        if not items:
            return
        with database.atomic():
            for item in items:
                (SearchEmbedding.update(content_updated_at=item.updated_at)
                 .where(SearchEmbedding.content == item.id).execute())

    def _store(self, batch, vectors):
        """Upsert the vectors of ``batch`` in one transaction, for the items still live."""
        with database.atomic():
            ids = [item.id for item, _, _ in batch]
            still = {content_id for (content_id,) in Content.select(Content.id)
                     .where(Content.id.in_(ids), _live()).tuples()}
            now = now_ms()
            rows = [
                {"content": item.id, "collection_id": item.collection_id, "model": self.model,
                 "dimensions": len(vector), "vector": pack(normalised(vector)), "source_hash": source_hash,
                 "content_updated_at": item.updated_at, "indexed_at": now}
                for (item, _, source_hash), vector in zip(batch, vectors, strict=True) if item.id in still
            ]
            if rows:
                (SearchEmbedding.insert_many(rows)
                 .on_conflict(conflict_target=[SearchEmbedding.content],
                              preserve=[SearchEmbedding.collection_id, SearchEmbedding.model,
                                        SearchEmbedding.dimensions, SearchEmbedding.vector,
                                        SearchEmbedding.source_hash, SearchEmbedding.content_updated_at,
                                        SearchEmbedding.indexed_at])
                 .execute())

    def _candidates(self, collection_ids, limit):
        """Live items without a vector, or whose vector is of another model, collection or
        ``updated_at``: the ids of at most ``limit``, most recently updated first."""
        vector = SearchEmbedding
        query = (Content.select(Content.id)
                 .join(vector, peewee.JOIN.LEFT_OUTER, on=(vector.content == Content.id))
                 .where(_live(), vector.content.is_null() | (vector.model != self.model)
                        | (vector.collection_id != Content.collection) | vector.content_updated_at.is_null()
                        | (vector.content_updated_at != Content.updated_at)))
        if collection_ids is not None:
            query = query.where(Content.collection.in_(list(collection_ids)))
        return [content_id for (content_id,) in
                query.order_by(Content.updated_at.desc(), Content.id).limit(limit).tuples()]


def _live():
    """Content not in the trash (``deleted_at`` set, or SonicJS's ``deleted`` status in imported data)."""
    return Content.deleted_at.is_null() & (Content.status != "deleted")


def _score(pair):
    return pair[1]


def item_text(title, data):
    """The text embedded for an item: its title and every string value of ``data`` at any
    depth, in document order (keys left out; data that is not a JSON document counts as
    empty), as the full-text index reads it; at most ``TEXT_LIMIT`` characters."""
    parts = [title] if isinstance(title, str) and title else []
    if isinstance(data, (dict, list)):
        parts += _strings(data)
    return " ".join(parts)[:TEXT_LIMIT]


def _strings(value):
    stack, found = [value], []
    while stack:
        node = stack.pop()
        if isinstance(node, str):
            found.append(node)
        elif isinstance(node, dict):
            stack.extend(reversed(list(node.values())))
        elif isinstance(node, list):
            stack.extend(reversed(node))
    return found


def text_hash(text):
    """The ``source_hash`` of ``text``: its sha256, hex."""
    return hashlib.sha256(text.encode()).hexdigest()


def normalised(vector):
    """``vector`` scaled to length 1 (a zero vector stays zero), so a dot product is a cosine."""
    norm = math.sqrt(_dot(vector, vector))
    return [x / norm for x in vector] if norm else list(vector)


def pack(vector):
    """``vector`` as stored: float32, little-endian."""
    values = array("f", vector)
    if _BIG_ENDIAN:
        values.byteswap()
    return values.tobytes()


def unpack(blob):
    """A stored vector (``bytes``, or PostgreSQL's ``memoryview``) as an ``array`` of floats."""
    values = array("f")
    values.frombytes(bytes(blob))
    if _BIG_ENDIAN:
        values.byteswap()
    return values


def semantic_index_for(env):
    """The SemanticIndex over ``env``'s ``AI`` binding, or None when the env has none."""
    embedder = env.get("AI")
    return SemanticIndex(embedder) if embedder is not None else None
