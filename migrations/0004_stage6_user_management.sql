-- Migration 0004: stage 6 user management (profile columns, permissions, role permissions)
--
-- Seed rows carry a fixed epoch-ms literal (1735689600000 = 2025-01-01T00:00:00Z): no expression
-- returns epoch milliseconds on both SQLite and PostgreSQL.

-- Extended profile, invitation, verification and 2FA columns (booleans are INTEGER 0/1).
ALTER TABLE users ADD COLUMN phone TEXT;
ALTER TABLE users ADD COLUMN bio TEXT;
ALTER TABLE users ADD COLUMN avatar_url TEXT;
ALTER TABLE users ADD COLUMN timezone TEXT DEFAULT 'UTC';
ALTER TABLE users ADD COLUMN language TEXT DEFAULT 'en';
ALTER TABLE users ADD COLUMN email_notifications INTEGER DEFAULT 1;
ALTER TABLE users ADD COLUMN theme TEXT DEFAULT 'dark';
ALTER TABLE users ADD COLUMN two_factor_enabled INTEGER DEFAULT 0;
ALTER TABLE users ADD COLUMN two_factor_secret TEXT;
ALTER TABLE users ADD COLUMN password_reset_token TEXT;
ALTER TABLE users ADD COLUMN password_reset_expires BIGINT;
ALTER TABLE users ADD COLUMN email_verified INTEGER DEFAULT 0;
ALTER TABLE users ADD COLUMN email_verification_token TEXT;
ALTER TABLE users ADD COLUMN invitation_token TEXT;
ALTER TABLE users ADD COLUMN invited_by TEXT REFERENCES users(id);
ALTER TABLE users ADD COLUMN invited_at BIGINT;
ALTER TABLE users ADD COLUMN accepted_invitation_at BIGINT;

-- Not in SonicJS: every JWT carries the user's token_version and is accepted only while it
-- matches. Logout, password change, role change and deactivation increment it, so tokens
-- already issued stop working at once instead of living until they expire (SonicJS's
-- logout only clears the cookie and its tokens stay valid for 24 h).
ALTER TABLE users ADD COLUMN token_version INTEGER NOT NULL DEFAULT 0;

CREATE INDEX idx_users_email_verification_token ON users(email_verification_token);
CREATE INDEX idx_users_password_reset_token ON users(password_reset_token);
CREATE INDEX idx_users_invitation_token ON users(invitation_token);

CREATE TABLE permissions (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL UNIQUE,
  description TEXT,
  category TEXT NOT NULL, -- content, collections, media, users, settings, system
  created_at BIGINT NOT NULL
);

CREATE TABLE role_permissions (
  id TEXT PRIMARY KEY,
  role TEXT NOT NULL,
  permission_id TEXT NOT NULL REFERENCES permissions(id),
  created_at BIGINT NOT NULL,
  UNIQUE (role, permission_id) -- also serves "permissions of role X"
);

CREATE INDEX idx_role_permissions_permission ON role_permissions(permission_id);

INSERT INTO permissions (id, name, description, category, created_at) VALUES
  ('perm_content_create', 'content.create', 'Create new content', 'content', 1735689600000),
  ('perm_content_read', 'content.read', 'View content', 'content', 1735689600000),
  ('perm_content_update', 'content.update', 'Edit existing content', 'content', 1735689600000),
  ('perm_content_delete', 'content.delete', 'Delete content', 'content', 1735689600000),
  ('perm_content_publish', 'content.publish', 'Publish, unpublish, archive and schedule content', 'content', 1735689600000),
  ('perm_content_review', 'content.review', 'Approve or reject content submitted for review', 'content', 1735689600000),
  ('perm_collections_create', 'collections.create', 'Create new collections', 'collections', 1735689600000),
  ('perm_collections_read', 'collections.read', 'View collections', 'collections', 1735689600000),
  ('perm_collections_update', 'collections.update', 'Edit collections', 'collections', 1735689600000),
  ('perm_collections_delete', 'collections.delete', 'Delete collections', 'collections', 1735689600000),
  ('perm_media_upload', 'media.upload', 'Upload media files', 'media', 1735689600000),
  ('perm_media_read', 'media.read', 'View media files', 'media', 1735689600000),
  ('perm_media_update', 'media.update', 'Edit media metadata and move files', 'media', 1735689600000),
  ('perm_media_delete', 'media.delete', 'Delete and restore media files', 'media', 1735689600000),
  ('perm_users_create', 'users.create', 'Create and invite users', 'users', 1735689600000),
  ('perm_users_read', 'users.read', 'View user profiles', 'users', 1735689600000),
  ('perm_users_update', 'users.update', 'Edit user profiles', 'users', 1735689600000),
  ('perm_users_delete', 'users.delete', 'Deactivate users', 'users', 1735689600000),
  ('perm_users_roles', 'users.roles', 'Change user roles', 'users', 1735689600000),
  ('perm_settings_read', 'settings.read', 'View system settings', 'settings', 1735689600000),
  ('perm_settings_update', 'settings.update', 'Modify system settings', 'settings', 1735689600000),
  ('perm_plugins_manage', 'plugins.manage', 'Activate, deactivate and configure plugins', 'system', 1735689600000),
  ('perm_logs_read', 'logs.read', 'View system logs', 'system', 1735689600000),
  ('perm_api_tokens_manage', 'api_tokens.manage', 'Create, list and revoke API tokens', 'system', 1735689600000)
ON CONFLICT DO NOTHING;

-- admin: every permission.
INSERT INTO role_permissions (id, role, permission_id, created_at) VALUES
  ('rp_admin_content_create', 'admin', 'perm_content_create', 1735689600000),
  ('rp_admin_content_read', 'admin', 'perm_content_read', 1735689600000),
  ('rp_admin_content_update', 'admin', 'perm_content_update', 1735689600000),
  ('rp_admin_content_delete', 'admin', 'perm_content_delete', 1735689600000),
  ('rp_admin_content_publish', 'admin', 'perm_content_publish', 1735689600000),
  ('rp_admin_content_review', 'admin', 'perm_content_review', 1735689600000),
  ('rp_admin_collections_create', 'admin', 'perm_collections_create', 1735689600000),
  ('rp_admin_collections_read', 'admin', 'perm_collections_read', 1735689600000),
  ('rp_admin_collections_update', 'admin', 'perm_collections_update', 1735689600000),
  ('rp_admin_collections_delete', 'admin', 'perm_collections_delete', 1735689600000),
  ('rp_admin_media_upload', 'admin', 'perm_media_upload', 1735689600000),
  ('rp_admin_media_read', 'admin', 'perm_media_read', 1735689600000),
  ('rp_admin_media_update', 'admin', 'perm_media_update', 1735689600000),
  ('rp_admin_media_delete', 'admin', 'perm_media_delete', 1735689600000),
  ('rp_admin_users_create', 'admin', 'perm_users_create', 1735689600000),
  ('rp_admin_users_read', 'admin', 'perm_users_read', 1735689600000),
  ('rp_admin_users_update', 'admin', 'perm_users_update', 1735689600000),
  ('rp_admin_users_delete', 'admin', 'perm_users_delete', 1735689600000),
  ('rp_admin_users_roles', 'admin', 'perm_users_roles', 1735689600000),
  ('rp_admin_settings_read', 'admin', 'perm_settings_read', 1735689600000),
  ('rp_admin_settings_update', 'admin', 'perm_settings_update', 1735689600000),
  ('rp_admin_plugins_manage', 'admin', 'perm_plugins_manage', 1735689600000),
  ('rp_admin_logs_read', 'admin', 'perm_logs_read', 1735689600000),
  ('rp_admin_api_tokens_manage', 'admin', 'perm_api_tokens_manage', 1735689600000)
ON CONFLICT DO NOTHING;

-- editor: all of content (including publish and review), all of media, read-only
-- collections, users and logs.
INSERT INTO role_permissions (id, role, permission_id, created_at) VALUES
  ('rp_editor_content_create', 'editor', 'perm_content_create', 1735689600000),
  ('rp_editor_content_read', 'editor', 'perm_content_read', 1735689600000),
  ('rp_editor_content_update', 'editor', 'perm_content_update', 1735689600000),
  ('rp_editor_content_delete', 'editor', 'perm_content_delete', 1735689600000),
  ('rp_editor_content_publish', 'editor', 'perm_content_publish', 1735689600000),
  ('rp_editor_content_review', 'editor', 'perm_content_review', 1735689600000),
  ('rp_editor_collections_read', 'editor', 'perm_collections_read', 1735689600000),
  ('rp_editor_media_upload', 'editor', 'perm_media_upload', 1735689600000),
  ('rp_editor_media_read', 'editor', 'perm_media_read', 1735689600000),
  ('rp_editor_media_update', 'editor', 'perm_media_update', 1735689600000),
  ('rp_editor_media_delete', 'editor', 'perm_media_delete', 1735689600000),
  ('rp_editor_users_read', 'editor', 'perm_users_read', 1735689600000),
  ('rp_editor_logs_read', 'editor', 'perm_logs_read', 1735689600000)
ON CONFLICT DO NOTHING;

-- author: create, read and update content, upload/read/update media, read collections;
-- the application limits content and media updates to the author's own items.
-- No publish, no review, no delete.
INSERT INTO role_permissions (id, role, permission_id, created_at) VALUES
  ('rp_author_content_create', 'author', 'perm_content_create', 1735689600000),
  ('rp_author_content_read', 'author', 'perm_content_read', 1735689600000),
  ('rp_author_content_update', 'author', 'perm_content_update', 1735689600000),
  ('rp_author_media_upload', 'author', 'perm_media_upload', 1735689600000),
  ('rp_author_media_read', 'author', 'perm_media_read', 1735689600000),
  ('rp_author_media_update', 'author', 'perm_media_update', 1735689600000),
  ('rp_author_collections_read', 'author', 'perm_collections_read', 1735689600000)
ON CONFLICT DO NOTHING;

-- viewer: read-only content, collections and media.
INSERT INTO role_permissions (id, role, permission_id, created_at) VALUES
  ('rp_viewer_content_read', 'viewer', 'perm_content_read', 1735689600000),
  ('rp_viewer_collections_read', 'viewer', 'perm_collections_read', 1735689600000),
  ('rp_viewer_media_read', 'viewer', 'perm_media_read', 1735689600000)
ON CONFLICT DO NOTHING;
