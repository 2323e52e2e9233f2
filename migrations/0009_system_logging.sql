-- Migration 0009: system logging (system_logs, log_config)
--
-- created_at has no default (SonicJS used unixepoch(), seconds and SQLite-only): the logger
-- writes epoch milliseconds. Booleans are INTEGER 0/1. Seed rows use 1735689600000
-- (2025-01-01T00:00:00Z).

CREATE TABLE system_logs (
  id TEXT PRIMARY KEY,
  level TEXT NOT NULL CHECK (level IN ('debug', 'info', 'warn', 'error', 'fatal')),
  category TEXT NOT NULL CHECK (category IN ('auth', 'api', 'workflow', 'plugin', 'media', 'system', 'security', 'error')),
  message TEXT NOT NULL,
  data TEXT, -- JSON data
  user_id TEXT REFERENCES users(id),
  session_id TEXT,
  request_id TEXT,
  ip_address TEXT,
  user_agent TEXT,
  method TEXT,
  url TEXT,
  status_code INTEGER,
  duration INTEGER, -- milliseconds
  stack_trace TEXT,
  tags TEXT, -- JSON array
  source TEXT,
  created_at BIGINT NOT NULL
);

CREATE INDEX idx_system_logs_level ON system_logs(level);
CREATE INDEX idx_system_logs_category ON system_logs(category);
CREATE INDEX idx_system_logs_created_at ON system_logs(created_at);
CREATE INDEX idx_system_logs_user_id ON system_logs(user_id);
CREATE INDEX idx_system_logs_status_code ON system_logs(status_code);
CREATE INDEX idx_system_logs_source ON system_logs(source);
-- The logs API filters by category newest first, and the retention purge deletes
-- WHERE category = ? AND created_at < ?: both are ranges of this index.
CREATE INDEX idx_system_logs_category_created ON system_logs(category, created_at DESC);
CREATE INDEX idx_system_logs_request_id ON system_logs(request_id);

CREATE TABLE log_config (
  id TEXT PRIMARY KEY,
  category TEXT NOT NULL UNIQUE CHECK (category IN ('auth', 'api', 'workflow', 'plugin', 'media', 'system', 'security', 'error')),
  enabled INTEGER NOT NULL DEFAULT 1, -- boolean 0/1
  level TEXT NOT NULL DEFAULT 'info' CHECK (level IN ('debug', 'info', 'warn', 'error', 'fatal')),
  retention_days INTEGER NOT NULL DEFAULT 30,
  max_size_mb INTEGER NOT NULL DEFAULT 100,
  created_at BIGINT NOT NULL,
  updated_at BIGINT NOT NULL
);

-- One row per category of the CHECK, so every category has an explicit configuration.
INSERT INTO log_config (id, category, enabled, level, retention_days, max_size_mb, created_at, updated_at) VALUES
  ('log-config-auth', 'auth', 1, 'info', 90, 50, 1735689600000, 1735689600000),
  ('log-config-api', 'api', 1, 'info', 30, 100, 1735689600000, 1735689600000),
  ('log-config-workflow', 'workflow', 1, 'info', 60, 50, 1735689600000, 1735689600000),
  ('log-config-plugin', 'plugin', 1, 'warn', 30, 25, 1735689600000, 1735689600000),
  ('log-config-media', 'media', 1, 'info', 30, 50, 1735689600000, 1735689600000),
  ('log-config-system', 'system', 1, 'info', 90, 100, 1735689600000, 1735689600000),
  ('log-config-security', 'security', 1, 'warn', 180, 100, 1735689600000, 1735689600000),
  ('log-config-error', 'error', 1, 'error', 90, 200, 1735689600000, 1735689600000)
ON CONFLICT DO NOTHING;
