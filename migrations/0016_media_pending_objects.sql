-- Migration 0016: an intent log for media objects, so that no object is left without a row
--
-- A media item is an object in MEDIA_BUCKET (and its thumbnail) named by a row of media.
-- The object is stored before the row is written, moved by copy then delete, and purged
-- row first: a crash, a lost answer from the store or a failed cleanup between the two
-- steps leaves an object that no row names, invisible and never deleted.
--
-- Before writing or deleting such an object the app records its key here, in a committed
-- transaction of its own; the row that names the object (or the confirmed deletion) clears
-- the record. Records older than a grace period are what `media sweep` and the cron
-- handler look at: a key no media row names is deleted from the bucket, then its record.
-- No foreign key to media: the row may not exist yet, or any more.

CREATE TABLE media_pending_objects (
  key TEXT PRIMARY KEY,            -- the object key in MEDIA_BUCKET
  media_id TEXT NOT NULL,          -- the media item the object belongs to
  reason TEXT NOT NULL,            -- upload, move or purge: the step that wrote or deletes it
  created_at BIGINT NOT NULL       -- epoch milliseconds
);

CREATE INDEX idx_media_pending_objects_created ON media_pending_objects(created_at);
