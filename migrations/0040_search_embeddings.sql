-- Migration 0040: the embedding vector of each content item, for semantic search.
--
-- One row per indexed item, written by the indexer (app.services.ai_search.semantic) when
-- bindings.toml has an [ai] binding, never by a trigger: embedding a text takes a request
-- to a model. A row says which text it embeds (source_hash, a sha256 of the item's title and
-- string values) and which model made it, so an edited item or a changed model is found
-- stale; content_updated_at is the item's updated_at when it was indexed, so the scheduled
-- job finds the items edited since without hashing every item each minute.
--
-- vector holds the dimensions float32 values, little-endian, of the normalised vector.
-- BYTEA is PostgreSQL's binary type. SQLite has no BYTEA: a type name it does not know
-- gives NUMERIC affinity, which converts only text that looks like a number and leaves
-- the bytes bound as they are, a BLOB (typeof(vector) = 'blob').
--
-- content_version is the item's version_number then: two writes in one millisecond share an
-- updated_at, not a version. A row whose vector is NULL records that the model refused that
-- text (error says why): the scheduled job does not send it again until the text changes.
--
-- collection_id is the item's collection when it was indexed (a moved item is stale); a
-- search filters on it (through the index, in content_id order for its pages of vectors)
-- and on the item's current collection, so a moved item is found in neither until indexed
-- again. Deleting an item deletes its row; the
-- indexer removes the row of an item moved to the trash.
--
-- search_embeddings_state (derived, like search_embeddings: time travel leaves both alone)
-- keeps the scheduled job's watermark: the newest content updated_at it
-- has seen every item up to, so each run reads only the items edited since (by
-- idx_content_live_updated) instead of every item.

CREATE TABLE search_embeddings (
  content_id TEXT PRIMARY KEY REFERENCES content(id) ON DELETE CASCADE,
  collection_id TEXT NOT NULL,
  model TEXT NOT NULL,
  dimensions INTEGER NOT NULL,
  vector BYTEA,
  source_hash TEXT NOT NULL,
  content_updated_at BIGINT,
  content_version INTEGER,
  error TEXT,
  indexed_at BIGINT NOT NULL
);

CREATE INDEX idx_search_embeddings_collection ON search_embeddings (collection_id, content_id);

CREATE TABLE search_embeddings_state (
  name TEXT PRIMARY KEY,
  value BIGINT NOT NULL
);
