-- Migration 0020: content counts kept by triggers, and full-text search
--
-- content_counts holds, per collection, status and deleted flag (0 or 1), the number of
-- content rows, so an unfiltered list reads its total here instead of counting every row.
-- The triggers that keep it (and the search index: an FTS5 table on SQLite, a GIN index
-- over a tsvector on PostgreSQL) differ between the two databases, so they are not in
-- this file: the migration runner installs them after every apply (app/db/derived.py)
-- and fills the counts and the index from the rows already there.

CREATE TABLE content_counts (
  collection_id TEXT NOT NULL,
  status TEXT NOT NULL,
  deleted INTEGER NOT NULL,
  n BIGINT NOT NULL,
  PRIMARY KEY (collection_id, status, deleted)
);
