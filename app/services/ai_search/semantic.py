"""Semantic search: content items' embedding vectors, kept in the database, ranked by cosine.

The text of an item is the text the full-text index reads (``app.db.derived``): its title
and every string value of its ``data`` at any depth (keys left out), here capped at the
binding's ``max_input_chars``. Its vector, from the env's ``AI`` binding (``app.runtime.ai``),
is stored normalised in ``search_embeddings`` as float32 little-endian with the sha256 of
that text, the model's name and the item's ``(updated_at, version_number)``: an item whose
text, model, collection or (when the binding sets them) dimensions changed is stale, and is
embedded again by ``index_items`` (every item named), ``index_stale`` (the scheduled job's
bounded batch) or ``sonicpy search reindex``.

A text the model refuses (``EmbeddingRefused``: too long for it, empty) is sent again alone;
refused alone, it is recorded as failed (a row without a vector), so later runs skip it
until its text changes, and the items after it are still indexed. A model that is down
(``EmbeddingUnavailable``) stops the run; the batches stored before stay.

The scheduled job reads only the items edited since its watermark (less a minute's slack
for writes committed late), through ``idx_content_live_updated``, so an idle run costs a
few index lookups; full passes are ``search reindex``'s.

Ranking reads the vectors of the collections searched, in pages of ``RANK_PAGE`` by
content id, and scores them in Python (the normalised vectors' dot product is their
cosine), keeping the best ``limit``: about 0.1 s per 1,000 vectors of 768 dimensions on
one core. It fits collections of some thousands of items; past tens of thousands a vector
index would be needed.
"""

from __future__ import annotations

import contextlib
import hashlib
import heapq
import math
import operator
import sys
from array import array

import peewee

from app.db.database import is_postgres
from app.db.derived import search_text
from app.db.models import Content, SearchEmbedding, SearchIndexState, database, now_ms
from app.runtime.ai import DEFAULT_MAX_INPUT_CHARS, EmbeddingRefused, EmbeddingUnavailable
from app.services.cache import Namespace, invalidate
from app.services.cache_lost import invalidate_or_record

__all__ = ["EmbeddingUnavailable", "SemanticIndex", "item_text", "semantic_index_for"]

# The default cut of an item's text (the binding's max_input_chars overrides it).
TEXT_LIMIT = DEFAULT_MAX_INPUT_CHARS
# Vectors read per query while ranking: memory stays bounded on both databases.
RANK_PAGE = 2000
# The scheduled job rereads the items updated this long before its watermark: a write whose
# transaction committed after a run, with an updated_at taken before it, is still seen.
WATERMARK_SLACK_MS = 60_000
_WATERMARK = "scheduled_updated_at"
_ERROR_LENGTH = 300
# Content ids per query (bound parameters stay far below SQLite's and PostgreSQL's limits).
ID_CHUNK = 500
# Items the scheduled job checks each run: a few requests to the model, so a run stays short.
SCHEDULED_BATCH = 64

_BIG_ENDIAN = sys.byteorder == "big"
_dot = getattr(math, "sumprod", None) or (lambda a, b: sum(map(operator.mul, a, b)))


class SemanticIndex:
    """The vectors of content items, embedded by the ``AI`` binding's model.

    Args:
        embedder: the ``AI`` binding.
        on_change: called, with no argument, once per indexing call that stored vectors
            (after their transactions committed, even when the model then failed): cached
            ``ai`` searches ranked the old ones (``semantic_index_for``).
    """

    def __init__(self, embedder, on_change=None):
        self.embedder = embedder
        self._on_change = on_change
        self._stores = 0  # transactions that stored rows: _index calls on_change when it grew

    @contextlib.contextmanager
    def one_change(self):
        """Within it, the indexing calls that store vectors call ``on_change`` once, at the end
        (even when one raises): a request's batches, or a re-index's chunks, invalidate the
        cache once rather than once each."""
        on_change, stored = self._on_change, []
        if on_change is None:
            yield
            return
        self._on_change = lambda: stored.append(True)
        try:
            yield
        finally:
            self._on_change = on_change
            if stored:
                on_change()

    @property
    def model(self):
        """The name of the model the vectors are made with."""
        return self.embedder.model

    def rank(self, text, collection_ids, limit=1000, *, where=None):
        """``[(content_id, similarity), ...]`` of the indexed items of ``collection_ids``
        nearest to ``text``, best first, at most ``limit``.

        ``where``, a condition over ``Content`` (a caller's visibility: statuses, author,
        trash), leaves out the items it does not hold before they are ranked, so items the
        caller may not read never take the place of those they may.

        Items in the trash are left out, and so is an item moved to another collection since
        it was indexed (in neither, until it is indexed again): the item's current collection
        and its vector's are both filtered on. An item edited since it was indexed is ranked
        by its last vector until it is indexed again.

        Raises:
            EmbeddingUnavailable: the model could not embed ``text``.
        """
        collection_ids = list(collection_ids)
        if not collection_ids or limit <= 0:
            return []
        query = normalised(self.embedder.embed([text])[0])
        best, after = [], ""
        while True:
            rows = list(SearchEmbedding.select(SearchEmbedding.content, SearchEmbedding.vector)
                        .join(Content, on=(SearchEmbedding.content == Content.id))
                        .where(SearchEmbedding.collection_id.in_(collection_ids),
                               Content.collection.in_(collection_ids), SearchEmbedding.model == self.model,
                               SearchEmbedding.dimensions == len(query), SearchEmbedding.vector.is_null(False),
                               SearchEmbedding.content > after, live(),
                               *([where] if where is not None else []))
                        .order_by(SearchEmbedding.content).limit(RANK_PAGE).tuples())
            scored = ((content_id, _dot(query, vector)) for content_id, vector in
                      ((content_id, unpack(blob)) for content_id, blob in rows) if len(vector) == len(query))
            best = heapq.nlargest(limit, [*best, *scored], key=_score)
            if len(rows) < RANK_PAGE:
                break
            after = rows[-1][0]
        return [(content_id, round(score, 6)) for content_id, score in best]

    def index_items(self, content_ids):
        """Embed and store the vectors of ``content_ids`` whose text changed; the count embedded.

        An item with a fresh vector (or whose text the model refused before) costs no
        request; an item in the trash (or gone) has its vector removed. Each batch of the
        model's ``batch_size`` is stored in one transaction.

        Raises:
            EmbeddingUnavailable: the model could not embed a batch (the batches before it are kept).
        """
        return self.index_counts(content_ids)["embedded"]

    def index_counts(self, content_ids):
        """``index_items`` with both counts: ``{"embedded", "failed"}`` (``failed``: texts the
        model refused in this call, each recorded so later calls skip it).

        Raises:
            EmbeddingUnavailable: the model could not embed a batch (the batches before it are kept).
        """
        return self._index(content_ids)

    def index_stale(self, collection_ids=None, batch_size=SCHEDULED_BATCH):
        """Remove the vectors of items moved to the trash, then index up to ``batch_size`` items
        of ``collection_ids`` (None: every collection) without a vector, or edited, moved or
        re-modelled since theirs was made. What the scheduled job runs each minute.

        Only the items updated since the watermark (less ``WATERMARK_SLACK_MS``) are read,
        and the watermark moves on once they are all indexed; an item changed without a newer
        ``updated_at`` (a restore of old rows, SQL by hand), and the items of a collection
        added to ``collection_ids`` later, wait for ``search reindex`` (or the admin's
        re-index button).

        Returns:
            ``{"embedded", "checked", "removed", "failed"}`` counts.

        Raises:
            EmbeddingUnavailable: the model could not embed a batch.
        """
        watermark = _watermark()
        since = max(watermark - WATERMARK_SLACK_MS, 0)
        newest = _newest_update()
        removed = self.remove_deleted(since)
        candidates = self._candidates(collection_ids, batch_size, since)
        counts = self._index(candidates)
        if len(candidates) < batch_size and newest is not None:
            # Never past now: an item dated in the future (imported, a skewed clock) must not
            # hide the edits made until then.
            _set_watermark(min(newest, now_ms()), watermark)
        return {"embedded": counts["embedded"], "checked": len(candidates), "removed": removed,
                "failed": counts["failed"]}

    def reindex(self, collection_id):
        """Index every item of ``collection_id`` whose vector is missing or stale (the text of
        each is compared, whatever its ``updated_at``); ``{"embedded", "failed"}`` counts
        (``failed``: texts the model refused in this pass)."""
        self.remove_deleted()
        ids = [content_id for (content_id,) in Content.select(Content.id)
               .where(Content.collection == collection_id, live()).order_by(Content.id).tuples()]
        return self._index(ids)

    def remove_deleted(self, since=None):
        """Delete the vectors of items moved to the trash (since ``since``, epoch ms, when given);
        the count deleted. Two reads, each through an index of content: the trash
        (``deleted_at``) and SonicJS's ``deleted`` status."""
        trash = Content.deleted_at.is_null(False)
        if since is not None:
            trash &= Content.deleted_at >= since
        gone = set()
        for condition in (trash, Content.status == "deleted"):
            gone.update(content_id for (content_id,) in Content.select(Content.id)
                        .join(SearchEmbedding, on=(SearchEmbedding.content == Content.id)).where(condition).tuples())
        # Read first, deleted only when found: an idle run takes no write lock.
        gone = sorted(gone)
        return sum(SearchEmbedding.delete().where(SearchEmbedding.content.in_(gone[start:start + ID_CHUNK])).execute()
                   for start in range(0, len(gone), ID_CHUNK))

    def status(self, collection_ids):
        """Per collection id: items, items indexed, items whose vector is missing or stale.

        A vector recorded at its item's current ``(updated_at, version)`` (every write of an
        item's title or data moves them), of this model, dimensions and collection, is of the
        item's current text: those are counted by one grouped query, without reading any
        text. Only the items whose vector looks stale (``looks_stale``: edited since, or
        published, whose text may be the same) have their text read and hashed. An item whose
        text was changed without moving either (SQL by hand), or cut otherwise by a new
        ``max_input_chars`` of the binding, counts as indexed here, as the scheduled job
        takes it; a re-index compares every text and embeds it.

        Returns:
            ``{collection_id: {"items", "indexed", "stale", "missing", "failed"}}``: live items
            (not in the trash); those whose vector is of their current text, model and
            dimensions; those whose vector is of another text, model, dimensions or
            collection; those without one; those whose current text the model refused.
        """
        counts = {collection_id: {"items": 0, "indexed": 0, "stale": 0, "missing": 0, "failed": 0}
                  for collection_id in collection_ids}
        if counts and self._count_current(counts):
            self._count_compared(counts)
        return counts

    def _current(self):
        """1 for an item whose vector is current by ``looks_stale``'s columns (no text read), else 0:
        never NULL, so the rows with a vector split exactly between the two."""
        return peewee.Case(None, [(~self.looks_stale(), 1)], 0)

    def _count_current(self, counts):
        """Fill in ``counts``' items, missing, and the indexed and failed whose vector is
        current, by one grouped query; how many vectors are dated otherwise (to compare)."""
        vector, current = SearchEmbedding, self._current()
        has_vector, refused = vector.content.is_null(False), vector.vector.is_null()
        grouped = self._over_vectors(
            counts, Content.collection, peewee.fn.COUNT(Content.id), rows_where(~has_vector),
            rows_where((current == 1) & refused), rows_where((current == 1) & ~refused),
            rows_where(has_vector & (current == 0)))
        to_compare = 0
        for collection_id, items, *numbers in grouped.group_by(Content.collection).tuples():
            missing, failed, indexed, dated_other = (int(number or 0) for number in numbers)
            counts[collection_id].update(items=items, missing=missing, failed=failed, indexed=indexed)
            to_compare += dated_other
        return to_compare

    def _count_compared(self, counts):
        """Add to ``counts`` the items whose vector is dated otherwise, by their text's hash:
        stale, or (their text unchanged: published, moved back) failed or indexed."""
        vector, limit = SearchEmbedding, self._text_limit()
        rows = self._over_vectors(
            counts, Content.collection, Content.title, Content.data, vector.source_hash, vector.model,
            vector.collection_id, vector.dimensions, vector.vector.is_null(),
        ).where(vector.content.is_null(False), self._current() == 0).tuples().iterator()
        for collection_id, title, data, source_hash, model, indexed_in, dimensions, refused in rows:
            count = counts[collection_id]
            if not self._fresh(source_hash, model, indexed_in, dimensions,
                               text_hash(item_text(title, data, limit)), collection_id):
                count["stale"] += 1
            elif refused:
                count["failed"] += 1
            else:
                count["indexed"] += 1

    @staticmethod
    def _over_vectors(counts, *columns):
        """``columns`` of the live items of ``counts``' collections, LEFT JOINed to their vector."""
        return (Content.select(*columns)
                .join(SearchEmbedding, peewee.JOIN.LEFT_OUTER, on=(SearchEmbedding.content == Content.id))
                .where(Content.collection.in_(list(counts)), live()))

    # ------------------------------------------------------------ indexing

    def _text_limit(self):
        return getattr(self.embedder, "max_input_chars", TEXT_LIMIT)

    def _fresh(self, source_hash, model, indexed_in, dimensions, current_hash, collection_id):
        """True when a row made from ``source_hash`` by ``model`` in ``indexed_in`` at
        ``dimensions`` is the one the item's current text, collection and binding would make."""
        wanted = self.embedder.dimensions
        return ((source_hash, model, indexed_in) == (current_hash, self.model, collection_id)
                and (wanted is None or dimensions == wanted))

    def _index(self, content_ids):
        ids = list(dict.fromkeys(content_ids))
        totals = {"embedded": 0, "failed": 0}
        stores = self._stores
        try:
            for start in range(0, len(ids), ID_CHUNK):
                counts = self._index_chunk(ids[start:start + ID_CHUNK])
                totals = {key: totals[key] + counts[key] for key in totals}
        finally:
            # Once per call, not per batch: a bulk publish's vectors are one invalidation.
            if self._stores != stores and self._on_change is not None:
                self._on_change()
        return totals

    def _index_chunk(self, ids):
        items = list(Content.select(Content.id, Content.collection, Content.title, Content.data, Content.updated_at,
                                    Content.version_number, Content.status, Content.deleted_at)
                     .where(Content.id.in_(ids)))
        live = [item for item in items if item.deleted_at is None and item.status != "deleted"]
        gone = set(ids) - {item.id for item in live}
        if gone:
            SearchEmbedding.delete().where(SearchEmbedding.content.in_(list(gone))).execute()
        known = {row.content_id: row for row in SearchEmbedding.select(
            SearchEmbedding.content, SearchEmbedding.source_hash, SearchEmbedding.model,
            SearchEmbedding.collection_id, SearchEmbedding.dimensions, SearchEmbedding.content_updated_at,
            SearchEmbedding.content_version,
        ).where(SearchEmbedding.content.in_([item.id for item in live]))} if live else {}
        limit = self._text_limit()
        todo, touched = [], []
        for item in live:
            text = item_text(item.title, item.data, limit)
            entry = (item, text, text_hash(text))
            row = known.get(item.id)
            if row is None or not self._fresh(row.source_hash, row.model, row.collection_id, row.dimensions,
                                              entry[2], item.collection_id):
                todo.append(entry)
            elif (row.content_updated_at, row.content_version) != (item.updated_at, item.version_number):
                touched.append(item)
        self._touch(touched)
        counts = {"embedded": 0, "failed": 0}
        batch_size = self.embedder.batch_size
        for start in range(0, len(todo), batch_size):
            embedded, failed = self._embed_batch(todo[start:start + batch_size])
            counts["embedded"] += embedded
            counts["failed"] += failed
        return counts

    def _embed_batch(self, batch):
        """Embed and store ``batch``; ``(embedded, failed)``. A batch the model refuses is sent
        again text by text (once a one-word ping shows the model itself answers), and each text
        refused alone is recorded as failed."""
        try:
            vectors = self.embedder.embed([text for _, text, _ in batch])
        except EmbeddingRefused as ex:
            vectors, refusal = None, ex
        if vectors is not None:
            self._store(batch, vectors)
            return len(batch), 0
        # A refusal of every text (a wrong model name some servers answer 400) is the
        # model's failure, not the texts': the ping raises it and stops the run.
        self.embedder.embed(["ping"])
        if len(batch) == 1:
            self._store(batch, [None], str(refusal))
            return 0, 1
        embedded, failed = 0, 0
        for entry in batch:
            try:
                vectors = self.embedder.embed([entry[1]])
            except EmbeddingRefused as ex:
                error = str(ex)
            else:
                self._store([entry], vectors)
                embedded += 1
                continue
            self._store([entry], [None], error)
            failed += 1
        return embedded, failed

    def _touch(self, items):
        """Record the ``updated_at`` and version of items whose text did not change (a status
        change, a publication), so the scheduled job does not check them again. One
        transaction: one write lock on SQLite, not one per item."""
        if not items:
            return
        with database.atomic():
            for item in items:
                (SearchEmbedding.update(content_updated_at=item.updated_at, content_version=item.version_number)
                 .where(SearchEmbedding.content == item.id).execute())

    def _store(self, batch, vectors, error=None):
        """Upsert the vectors of ``batch`` in one transaction, for the items still live (a
        vector None records the text as refused, with ``error``). The check holds the items:
        SQLite's transaction holds the write lock from its start, and PostgreSQL's ``FOR KEY
        SHARE`` makes a concurrent delete of one wait for the commit, so none is deleted
        between the check and the insert (which its foreign key would refuse)."""
        with database.atomic():
            ids = [item.id for item, _, _ in batch]
            check = Content.select(Content.id).where(Content.id.in_(ids), live())
            if is_postgres(Content._meta.database):
                check = check.for_update("FOR KEY SHARE")
            still = {content_id for (content_id,) in check.tuples()}
            now = now_ms()
            rows = [
                {"content": item.id, "collection_id": item.collection_id, "model": self.model,
                 "dimensions": len(vector) if vector is not None else self.embedder.dimensions or 0,
                 "vector": pack(normalised(vector)) if vector is not None else None,
                 "source_hash": source_hash, "content_updated_at": item.updated_at,
                 "content_version": item.version_number,
                 "error": error[:_ERROR_LENGTH] if error is not None else None, "indexed_at": now}
                for (item, _, source_hash), vector in zip(batch, vectors, strict=True) if item.id in still
            ]
            if rows:
                (SearchEmbedding.insert_many(rows)
                 .on_conflict(conflict_target=[SearchEmbedding.content],
                              preserve=[SearchEmbedding.collection_id, SearchEmbedding.model,
                                        SearchEmbedding.dimensions, SearchEmbedding.vector,
                                        SearchEmbedding.source_hash, SearchEmbedding.content_updated_at,
                                        SearchEmbedding.content_version, SearchEmbedding.error,
                                        SearchEmbedding.indexed_at])
                 .execute())
        if rows:
            self._stores += 1

    def looks_stale(self):
        """The condition, over content LEFT JOINed to its vector, of an item whose vector is
        missing or of another model, dimensions (when the binding sets them), collection or
        ``(updated_at, version)``: stale without reading its text."""
        vector = SearchEmbedding
        stale = (vector.content.is_null() | (vector.model != self.model)
                 | (vector.collection_id != Content.collection) | vector.content_updated_at.is_null()
                 | (vector.content_updated_at != Content.updated_at) | vector.content_version.is_null()
                 | (vector.content_version != Content.version_number))
        if self.embedder.dimensions is not None:
            stale |= vector.dimensions != self.embedder.dimensions
        return stale

    def _candidates(self, collection_ids, limit, since=None):
        """Live items (updated at or after ``since``, when given) without a vector, or whose
        vector is of another model, dimensions, collection or ``(updated_at, version)``: the
        ids of at most ``limit``, most recently updated first (``idx_content_live_updated``'s order)."""
        vector = SearchEmbedding
        query = (Content.select(Content.id)
                 .join(vector, peewee.JOIN.LEFT_OUTER, on=(vector.content == Content.id))
                 .where(live(), self.looks_stale()))
        if since is not None:
            query = query.where(Content.updated_at >= since)
        if collection_ids is not None:
            query = query.where(Content.collection.in_(list(collection_ids)))
        return [content_id for (content_id,) in
                query.order_by(Content.updated_at.desc(), Content.id.desc()).limit(limit).tuples()]


def _watermark():
    """The scheduled job's watermark: every live item updated up to it was checked (0: none yet)."""
    row = SearchIndexState.get_or_none(SearchIndexState.name == _WATERMARK)
    return row.value if row is not None else 0


def _set_watermark(value, current):
    """Move the watermark to ``value`` (written only when it changed from ``current``)."""
    if value == current:
        return
    (SearchIndexState.insert(name=_WATERMARK, value=value)
     .on_conflict(conflict_target=[SearchIndexState.name], update={SearchIndexState.value: value}).execute())


def _newest_update():
    """The newest ``updated_at`` of a live item (one step down ``idx_content_live_updated``)."""
    row = (Content.select(Content.updated_at).where(Content.deleted_at.is_null())
           .order_by(Content.updated_at.desc(), Content.id.desc()).limit(1).tuples().first())
    return row[0] if row else None


def rows_where(condition):
    """``SUM(CASE WHEN condition THEN 1 ELSE 0 END)``: the rows of a group that hold ``condition``."""
    return peewee.fn.SUM(peewee.Case(None, [(condition, 1)], 0))


def live():
    """The condition of content not in the trash (``deleted_at`` set, or SonicJS's ``deleted``
    status in imported data)."""
    return Content.deleted_at.is_null() & (Content.status != "deleted")


def _score(pair):
    return pair[1]


def item_text(title, data, limit=TEXT_LIMIT):
    """The text embedded for an item: its title and every string value of ``data`` at any
    depth, in document order (keys left out; data that is not a JSON document counts as
    empty), as the full-text index reads them: rich text's tags and common entities are not
    what an item means, and embedding them would make every rich item near every other;
    at most ``limit`` characters."""
    parts = [title] if isinstance(title, str) and title else []
    if isinstance(data, (dict, list)):
        parts += map(search_text, string_values(data))
    return " ".join(parts)[:limit]


def string_values(value):
    """The string values of ``value`` at any depth, in document order (keys left out), one at a
    time: a reader may stop once it has enough."""
    stack = [value]
    while stack:
        node = stack.pop()
        if isinstance(node, str):
            yield node
        elif isinstance(node, dict):
            stack.extend(reversed(list(node.values())))
        elif isinstance(node, list):
            stack.extend(reversed(node))


def text_hash(text):
    """The ``source_hash`` of ``text``: its sha256, hex."""
    return hashlib.sha256(text.encode()).hexdigest()


def normalised(vector):
    """``vector`` scaled to length 1 (a zero vector stays zero), so a dot product is a cosine.
    ``math.hypot`` scales as it sums: large values do not overflow the norm."""
    norm = math.hypot(*vector)
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


def semantic_index_for(env, cache=None):
    """The SemanticIndex over ``env``'s ``AI`` binding, or None when the env has none.

    Storing vectors changes what an ``ai`` search ranks, after the write that made them
    stale has invalidated the cached searches: the index invalidates the ``content``
    namespace again, through ``cache`` (the app's: this worker's own memory tier drops its
    entries at once) or else through ``env``'s CACHE_KV (a job, the CLI: every worker sees
    it within the generation TTL; one KV did not take is recorded and written later).
    """
    embedder = env.get("AI")
    if embedder is None:
        return None
    return SemanticIndex(embedder, _invalidator(env, cache))


def _invalidator(env, cache):
    """What a SemanticIndex over ``env`` calls after storing vectors; None without a cache."""
    if cache is not None:
        return lambda: invalidate(cache, Namespace.CONTENT)
    kv = env.get("CACHE_KV")
    if kv is None:
        return None
    return lambda: invalidate_or_record(kv, (Namespace.CONTENT,))
