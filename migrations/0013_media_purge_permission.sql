-- Migration 0013: permanent media deletion is its own permission; media looked up by key
--
-- Soft delete (media.delete, held by admins and editors; uploaders may soft-delete their
-- own) keeps the stored object so the file can be restored. Purging removes the object and
-- the row for good, so it is a separate permission granted to admins only.
--
-- Seed rows carry a fixed epoch-ms literal (1735689600000 = 2025-01-01T00:00:00Z), as in 0004.

INSERT INTO permissions (id, name, description, category, created_at) VALUES
  ('perm_media_purge', 'media.purge', 'Permanently delete media files and their stored objects', 'media', 1735689600000);

INSERT INTO role_permissions (id, role, permission_id, created_at) VALUES
  ('rp_admin_media_purge', 'admin', 'perm_media_purge', 1735689600000);

-- GET /files/<key> finds the media row of every served object by its key; keys are
-- generated per upload (<folder>/<id>.<ext>), so they are unique.
CREATE UNIQUE INDEX idx_media_r2_key ON media(r2_key);

-- The library lists live files newest first with the id as tie-breaker (a stable order for
-- pages): the partial indexes of 0001 get the id too, so the list reads in index order
-- instead of sorting every live row. idx_media_deleted covered every row, live ones
-- included, and SQLite preferred it for "deleted_at IS NULL" and then sorted the whole
-- library; it now holds only the trash (the rows the trash list reads).
DROP INDEX idx_media_deleted;
CREATE INDEX idx_media_deleted ON media(deleted_at) WHERE deleted_at IS NOT NULL;
DROP INDEX idx_media_live_uploaded;
DROP INDEX idx_media_live_folder;
CREATE INDEX idx_media_live_uploaded ON media(uploaded_at DESC, id DESC) WHERE deleted_at IS NULL;
CREATE INDEX idx_media_live_folder ON media(folder, uploaded_at DESC, id DESC) WHERE deleted_at IS NULL;
