-- Migration 0032: which media files each content row names
--
-- content_media lists, for each content row, the media files its data names (a string
-- value that is a file's id or key, or that holds a /files/<key> URL: the rule is in
-- app/db/content_media.py). Whether a file is public (used by live published content) is
-- then an index lookup here plus one in content, instead of reading published rows' JSON
-- until one mentions the file. As for content_counts, the triggers that keep it differ
-- between the two databases and are installed by the migration runner after every apply,
-- which fills the table from the rows already there.

CREATE TABLE content_media (
  content_id TEXT NOT NULL,
  media_id TEXT NOT NULL,
  PRIMARY KEY (content_id, media_id)
);

CREATE INDEX idx_content_media_media ON content_media (media_id, content_id);
