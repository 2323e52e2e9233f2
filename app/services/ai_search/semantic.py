"""Semantic search: content items' embedding vectors, kept in the database, ranked by cosine.

The contract the search service relies on; the implementation is being written.
"""

from __future__ import annotations


class EmbeddingUnavailable(Exception):
    """The embeddings model could not answer (unreachable, timed out, refused, malformed)."""


class SemanticIndex:
    """The vectors of content items, embedded by the ``AI`` binding's model."""

    def __init__(self, embedder):
        self.embedder = embedder

    def rank(self, text, collection_ids, limit=1000):
        """``[(content_id, similarity), ...]`` of the indexed items of ``collection_ids``
        nearest to ``text``, best first, at most ``limit``.

        Raises:
            EmbeddingUnavailable: the model could not embed ``text``.
        """
        raise NotImplementedError

    def index_items(self, content_ids):
        """Embed and store the vectors of ``content_ids`` whose text changed; the count embedded."""
        raise NotImplementedError

    def status(self, collection_ids):
        """Per collection id: items, items indexed, items whose vector is missing or stale."""
        raise NotImplementedError


def semantic_index_for(env):
    """The SemanticIndex over ``env``'s ``AI`` binding, or None when the env has none."""
    embedder = env.get("AI")
    return SemanticIndex(embedder) if embedder is not None else None
