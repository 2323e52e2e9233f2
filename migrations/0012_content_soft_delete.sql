-- Migration 0012: content soft delete, and the content.purge permission
--
-- DELETE /api/content/{id} sets deleted_at (epoch ms) instead of removing the row; public
-- reads, slug lookups and reference checks skip rows where it is set, and
-- POST /api/content/{id}/restore clears it. (SonicJS's stats query read content.deleted_at,
-- a column none of its migrations creates.) Removing content for good is
-- DELETE /api/content/{id}?hard=true, reserved to holders of content.purge: admins.

ALTER TABLE content ADD COLUMN deleted_at BIGINT;

CREATE INDEX idx_content_deleted ON content(deleted_at);
-- The public list (live, published, newest first, id as the tie-breaker that keyset
-- cursors need), per collection and across collections: partial indexes hold only live
-- rows and return them already ordered, at any page depth.
CREATE INDEX idx_content_live_collection_published ON content(collection_id, status, published_at DESC, id DESC) WHERE deleted_at IS NULL;
CREATE INDEX idx_content_live_published ON content(status, published_at DESC, id DESC) WHERE deleted_at IS NULL;

INSERT INTO permissions (id, name, description, category, created_at) VALUES
  ('perm_content_purge', 'content.purge', 'Delete content permanently, with its versions and history', 'content', 1735689600000)
ON CONFLICT DO NOTHING;

INSERT INTO role_permissions (id, role, permission_id, created_at) VALUES
  ('rp_admin_content_purge', 'admin', 'perm_content_purge', 1735689600000)
ON CONFLICT DO NOTHING;
