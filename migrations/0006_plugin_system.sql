-- Migration 0006: plugin system (registry, hooks, routes, assets, activity log)
--
-- Booleans are INTEGER 0/1 (SonicJS wrote BOOLEAN DEFAULT TRUE/FALSE, which SQLite and
-- PostgreSQL store and bind differently); JSON documents are TEXT; timestamps are epoch-ms
-- BIGINT filled by the application. Seed rows use 1735689600000 (2025-01-01T00:00:00Z).

CREATE TABLE plugins (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL UNIQUE,
  display_name TEXT NOT NULL,
  description TEXT,
  version TEXT NOT NULL,
  author TEXT NOT NULL,
  category TEXT NOT NULL,
  icon TEXT,
  status TEXT NOT NULL DEFAULT 'inactive' CHECK (status IN ('active', 'inactive', 'error')),
  is_core INTEGER NOT NULL DEFAULT 0, -- boolean 0/1: core plugins cannot be uninstalled
  settings TEXT, -- JSON object
  permissions TEXT, -- JSON array
  dependencies TEXT, -- JSON array of plugin names
  download_count INTEGER DEFAULT 0,
  rating REAL DEFAULT 0,
  installed_at BIGINT NOT NULL,
  activated_at BIGINT,
  last_updated BIGINT NOT NULL,
  error_message TEXT,
  created_at BIGINT NOT NULL,
  updated_at BIGINT NOT NULL
);

CREATE INDEX idx_plugins_status ON plugins(status);
CREATE INDEX idx_plugins_category ON plugins(category);

CREATE TABLE plugin_hooks (
  id TEXT PRIMARY KEY,
  plugin_id TEXT NOT NULL REFERENCES plugins(id) ON DELETE CASCADE,
  hook_name TEXT NOT NULL,
  handler_name TEXT NOT NULL,
  priority INTEGER DEFAULT 10, -- lower runs first
  is_active INTEGER NOT NULL DEFAULT 1, -- boolean 0/1
  created_at BIGINT NOT NULL,
  UNIQUE (plugin_id, hook_name, handler_name)
);

CREATE INDEX idx_plugin_hooks_plugin ON plugin_hooks(plugin_id);
-- Dispatch reads the handlers of one hook in priority order.
CREATE INDEX idx_plugin_hooks_hook ON plugin_hooks(hook_name, priority);

CREATE TABLE plugin_routes (
  id TEXT PRIMARY KEY,
  plugin_id TEXT NOT NULL REFERENCES plugins(id) ON DELETE CASCADE,
  path TEXT NOT NULL,
  method TEXT NOT NULL,
  handler_name TEXT NOT NULL,
  middleware TEXT, -- JSON array
  is_active INTEGER NOT NULL DEFAULT 1, -- boolean 0/1
  created_at BIGINT NOT NULL,
  UNIQUE (plugin_id, path, method)
);

CREATE INDEX idx_plugin_routes_plugin ON plugin_routes(plugin_id);

CREATE TABLE plugin_assets (
  id TEXT PRIMARY KEY,
  plugin_id TEXT NOT NULL REFERENCES plugins(id) ON DELETE CASCADE,
  asset_type TEXT NOT NULL CHECK (asset_type IN ('css', 'js', 'image', 'font')),
  asset_path TEXT NOT NULL,
  load_order INTEGER DEFAULT 100,
  load_location TEXT DEFAULT 'footer' CHECK (load_location IN ('header', 'footer')),
  is_active INTEGER NOT NULL DEFAULT 1, -- boolean 0/1
  created_at BIGINT NOT NULL
);

CREATE INDEX idx_plugin_assets_plugin ON plugin_assets(plugin_id);

-- SonicJS named the time column `timestamp`, a type name in PostgreSQL; it is created_at here.
CREATE TABLE plugin_activity_log (
  id TEXT PRIMARY KEY,
  plugin_id TEXT NOT NULL REFERENCES plugins(id) ON DELETE CASCADE,
  action TEXT NOT NULL,
  user_id TEXT,
  details TEXT, -- JSON
  created_at BIGINT NOT NULL
);

CREATE INDEX idx_plugin_activity_plugin ON plugin_activity_log(plugin_id);
CREATE INDEX idx_plugin_activity_created_at ON plugin_activity_log(created_at);

-- Core plugins, active from the start.
INSERT INTO plugins (
  id, name, display_name, description, version, author, category, icon,
  status, is_core, settings, permissions, dependencies,
  installed_at, activated_at, last_updated, created_at, updated_at
) VALUES
  ('core-auth', 'core-auth', 'Authentication System',
   'Core authentication and user management system',
   '1.0.0', 'SonicJS Team', 'security', '🔐', 'active', 1,
   '{"registration":{"enabled":true,"defaultRole":"viewer"}}',
   '["users.create","users.read","users.update","users.delete","users.roles"]', '[]',
   1735689600000, 1735689600000, 1735689600000, 1735689600000, 1735689600000),
  ('core-media', 'core-media', 'Media Manager',
   'Core media upload and management system',
   '1.0.0', 'SonicJS Team', 'media', '📸', 'active', 1,
   '{}', '["media.upload","media.read","media.update","media.delete"]', '[]',
   1735689600000, 1735689600000, 1735689600000, 1735689600000, 1735689600000),
  ('core-workflow', 'core-workflow', 'Workflow Engine',
   'Content workflow, review and scheduled publishing',
   '1.0.0', 'SonicJS Team', 'content', '🔄', 'active', 1,
   '{}', '["content.review","content.publish"]', '[]',
   1735689600000, 1735689600000, 1735689600000, 1735689600000, 1735689600000)
ON CONFLICT DO NOTHING;

-- The FAQ plugin's tables come from 0002, but its registry row can only be written now that
-- `plugins` exists. Inactive until an admin activates it.
INSERT INTO plugins (
  id, name, display_name, description, version, author, category, icon,
  status, is_core, settings, permissions, dependencies,
  installed_at, activated_at, last_updated, created_at, updated_at
) VALUES
  ('faq-plugin', 'faq-plugin', 'FAQ',
   'Frequently asked questions with categories, tags and display order (table faqs)',
   '1.0.0', 'SonicJS Team', 'content', '❓', 'inactive', 0,
   '{}', '[]', '[]',
   1735689600000, NULL, 1735689600000, 1735689600000, 1735689600000)
ON CONFLICT DO NOTHING;
