-- Migration 0014: permanent media deletion is its own permission; media looked up by key
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
