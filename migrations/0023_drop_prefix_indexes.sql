-- Migration 0023: drop the indexes another index already serves.
--
-- Every index is written on every insert, and a create writes one row each into content,
-- workflow_history and content_versions while holding SQLite's write lock. An index whose
-- columns are the leading columns of another index on the same table (with the same partial
-- condition: none here) answers no query the longer one cannot: both databases search a
-- composite index by its leading columns alike. These six are such prefixes:
--
--   idx_content_collection (collection_id)           of idx_content_collection_slug (collection_id, slug)
--   idx_content_collection_status (collection_id, status)
--                                                    of idx_content_collection_status_published
--   idx_content_author (author_id)                   of idx_content_author_status (author_id, status, published_at)
--   idx_content_status (status)                      of idx_content_published_covering (status, published_at, title, slug)
--   idx_content_versions_content (content_id)        of the UNIQUE (content_id, version) constraint's index
--   idx_workflow_history_content (content_id)        of idx_workflow_history_content_created (content_id, created_at)
--
-- The foreign-key checks and ON DELETE actions that looked rows up by these columns
-- (deleting a user, a collection or a content row) use the longer indexes too.

DROP INDEX IF EXISTS idx_content_collection;
DROP INDEX IF EXISTS idx_content_collection_status;
DROP INDEX IF EXISTS idx_content_author;
DROP INDEX IF EXISTS idx_content_status;
DROP INDEX IF EXISTS idx_content_versions_content;
DROP INDEX IF EXISTS idx_workflow_history_content;
