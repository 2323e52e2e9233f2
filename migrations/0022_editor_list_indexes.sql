-- Migration 0022: editors' lists read in index order; the deletion index holds deleted rows only
--
-- An editor's default list (every status, live items, last edited first) runs WHERE
-- deleted_at IS NULL [AND collection_id = ?] ORDER BY updated_at DESC, id DESC. No index gave
-- that order: SQLite sorted every live row in a temporary B-tree, and without ANALYZE it
-- chose idx_content_deleted to find them (deleted_at IS NULL looks like a selective equality
-- to a planner without statistics). These partial indexes hold live rows in that order (with
-- the id the keyset cursors need), for all content, per collection and per status (an
-- editor's drafts, archived items). On PostgreSQL the lists of sorts that meet no NULL
-- (these) carry no NULLS clause, so the same DESC indexes give their order there too.
--
-- idx_content_deleted indexed every row's deleted_at, almost all NULL: replaced by a partial
-- index of the deleted rows alone (the trash, and counting a collection's deleted items),
-- which no query of live rows can pick, and which each create no longer writes.

CREATE INDEX idx_content_live_updated ON content(updated_at DESC, id DESC) WHERE deleted_at IS NULL;
CREATE INDEX idx_content_live_status_updated ON content(status, updated_at DESC, id DESC) WHERE deleted_at IS NULL;
CREATE INDEX idx_content_live_collection_updated ON content(collection_id, updated_at DESC, id DESC) WHERE deleted_at IS NULL;
DROP INDEX idx_content_deleted;
CREATE INDEX idx_content_trash ON content(deleted_at) WHERE deleted_at IS NOT NULL;
