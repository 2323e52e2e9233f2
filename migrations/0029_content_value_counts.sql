-- Migration 0029: exact totals for equality filters on declared fields
--
-- content_counts_fields names the (collection, field) pairs whose values are counted: a
-- collection's top-level fields its schema declares "indexed": true (kept in step with the
-- schemas by the application, app/db/derived.py). content_counts_values holds, per pair,
-- string value (up to 200 characters), status and deleted flag, the number of content
-- rows, so a list filtered on one such value reads its exact total from one row instead of
-- counting its matches. As for content_counts, the triggers that keep it differ between
-- the two databases and are installed by the migration runner after every apply.

CREATE TABLE content_counts_fields (
  collection_id TEXT NOT NULL,
  field TEXT NOT NULL,
  PRIMARY KEY (collection_id, field)
);

CREATE TABLE content_counts_values (
  collection_id TEXT NOT NULL,
  field TEXT NOT NULL,
  value TEXT NOT NULL,
  status TEXT NOT NULL,
  deleted INTEGER NOT NULL,
  n BIGINT NOT NULL,
  PRIMARY KEY (collection_id, field, value, status, deleted)
);
