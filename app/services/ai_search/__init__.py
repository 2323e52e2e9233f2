"""The ``ai-search`` plugin's services: keyword and semantic search across collections.

``semantic`` holds the vectors of content items and ranks them against a query, through
the ``AI`` binding's embeddings model; the rest (settings, keyword search, history and
analytics) answers ``POST /api/search`` and its companions.
"""
