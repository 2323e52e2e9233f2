-- Migration 0015: authors may delete (and restore) their own content
--
-- Issue 4 asks that "authors edit and delete only their own content", but 0004 gave the
-- author role no content.delete, so authors could not remove even their own drafts. The
-- permission is granted here; the content service still limits callers without
-- content.publish (authors) to items they wrote, for soft delete and restore alike.
-- Purging (content.purge, migration 0012) stays with admins.
--
-- The seed row carries a fixed epoch-ms literal (1735689600000 = 2025-01-01T00:00:00Z), as
-- in 0004; ON CONFLICT DO NOTHING keeps a database where an operator granted it already.

INSERT INTO role_permissions (id, role, permission_id, created_at) VALUES
  ('rp_author_content_delete', 'author', 'perm_content_delete', 1735689600000)
ON CONFLICT DO NOTHING;
