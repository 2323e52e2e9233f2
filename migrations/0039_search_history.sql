-- Migration 0039: the searches asked of the AI Search plugin (POST /api/search).
--
-- One row per search: the query as asked (trimmed, at most 200 characters) and its words
-- case-folded (query_folded: the words the search read, joined by spaces, what a suggestion
-- shows), the mode that answered it (keyword, or ai when the semantic index ranked it), how
-- many items it found, how long it took, and who asked: the user (NULL for anonymous callers;
-- a deleted user's rows stay, without it), whether the caller read only what the public reads
-- (public, set when the row is written: a deleted user's rows never become public), and a
-- keyed hash of the client's address (client_key, never the address itself), so that a past
-- query is suggested only when several clients asked it. The analytics read the last 30 days
-- (created_at is indexed); the suggestions read public queries, and a user's own, by a prefix
-- of query_folded. The scheduled job deletes rows past the retention.

CREATE TABLE search_history (
  id TEXT PRIMARY KEY,
  query TEXT NOT NULL,
  query_folded TEXT NOT NULL,
  mode TEXT NOT NULL CHECK (mode IN ('keyword', 'ai')),
  results_count INTEGER NOT NULL DEFAULT 0,
  query_time_ms INTEGER NOT NULL DEFAULT 0,
  user_id TEXT REFERENCES users(id) ON DELETE SET NULL,
  public BOOLEAN NOT NULL DEFAULT FALSE,
  client_key TEXT,
  created_at BIGINT NOT NULL
);

CREATE INDEX idx_search_history_created ON search_history (created_at);
CREATE INDEX idx_search_history_public ON search_history (public, query_folded);
-- A user's own past queries by prefix; a user's deletion sets user_id to NULL here, through it too.
CREATE INDEX idx_search_history_user ON search_history (user_id, query_folded) WHERE user_id IS NOT NULL;
