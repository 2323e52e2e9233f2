-- Migration 0003: stage 5 enhancements (content scheduling, review workflow and SEO fields)
--
-- SQLite's ALTER TABLE ADD COLUMN accepts a REFERENCES clause only when the column's
-- default is NULL (true for reviewer_id and featured_image_id); PostgreSQL needs the
-- referenced table to exist, which media does since 0001.

ALTER TABLE content ADD COLUMN scheduled_publish_at BIGINT;
ALTER TABLE content ADD COLUMN scheduled_unpublish_at BIGINT;

ALTER TABLE content ADD COLUMN review_status TEXT DEFAULT 'none';
ALTER TABLE content ADD COLUMN reviewer_id TEXT REFERENCES users(id);
ALTER TABLE content ADD COLUMN reviewed_at BIGINT;
ALTER TABLE content ADD COLUMN review_notes TEXT;

ALTER TABLE content ADD COLUMN meta_title TEXT;
ALTER TABLE content ADD COLUMN meta_description TEXT;
ALTER TABLE content ADD COLUMN featured_image_id TEXT REFERENCES media(id);
ALTER TABLE content ADD COLUMN content_type TEXT DEFAULT 'standard';

CREATE INDEX idx_content_scheduled_publish ON content(scheduled_publish_at);
CREATE INDEX idx_content_scheduled_unpublish ON content(scheduled_unpublish_at);
CREATE INDEX idx_content_review_status ON content(review_status);
CREATE INDEX idx_content_reviewer ON content(reviewer_id);
CREATE INDEX idx_content_content_type ON content(content_type);
