-- Migration 0014: the public list of one author's content reads in index order
--
-- GET /api/content?filter[author_id][equals]=... runs WHERE status = ? AND deleted_at IS NULL
-- AND author_id = ? ORDER BY published_at DESC, id DESC. Without this index SQLite either
-- walked idx_content_live_published (every live published row, testing author_id on each)
-- or, once ANALYZE had run, read idx_content_author_status and sorted each run of equal
-- published_at for the id tie-breaker. Like the two partial indexes of 0012, this one holds
-- live rows only and ends with the id that keyset cursors need.

CREATE INDEX idx_content_live_author_published ON content(author_id, status, published_at DESC, id DESC) WHERE deleted_at IS NULL;
