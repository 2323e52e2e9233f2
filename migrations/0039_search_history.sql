-- Migration 0039: the searches asked of the AI Search plugin (POST /api/search).
--
-- One row per search: the query as asked (trimmed, at most 200 characters), the mode that
-- answered it (keyword, or ai when the semantic index ranked it), how many items it found,
-- how long it took, and who asked (NULL for anonymous callers; a deleted user's rows stay,
-- anonymous). The analytics read the last 30 days and the suggestions read past queries, both
-- by time: created_at is indexed. The scheduled job deletes rows past the retention.

CREATE TABLE search_history (
  id TEXT PRIMARY KEY,
  query TEXT NOT NULL,
  mode TEXT NOT NULL CHECK (mode IN ('keyword', 'ai')),
  results_count INTEGER NOT NULL DEFAULT 0,
  query_time_ms INTEGER NOT NULL DEFAULT 0,
  user_id TEXT REFERENCES users(id) ON DELETE SET NULL,
  created_at BIGINT NOT NULL
);

CREATE INDEX idx_search_history_created ON search_history (created_at);
-- A user's deletion sets user_id to NULL here: without an index each one reads the table.
CREATE INDEX idx_search_history_user ON search_history (user_id) WHERE user_id IS NOT NULL;
