-- Migration 0028: index content.featured_image_id, for purging a media file.
--
-- Purging a file first asks which content uses it as featured image (it must not be purged
-- then), and deleting its row makes the database check content.featured_image_id, the
-- foreign key pointing at it. Without an index both read every content row: at a million
-- items, two full scans per purge. Most items have no featured image, so the index holds
-- only the rows that have one; an equality on the column implies it is not NULL, so both
-- planners use the partial index for these lookups.

CREATE INDEX IF NOT EXISTS idx_content_featured_image ON content (featured_image_id)
    WHERE featured_image_id IS NOT NULL;
