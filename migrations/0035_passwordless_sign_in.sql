-- Migration 0035: one-time sign-in codes and magic links (the otp-login and
-- magic-link-auth plugins, both inactive until an admin activates them).
--
-- Only a digest of each secret is stored: a code's HMAC keyed with the app's secret (six
-- digits hashed without a key would fall to a million guesses offline), a link token's
-- SHA-256, as password-reset tokens are. A row is usable while used_at is NULL, expires_at
-- is ahead and, for a code, attempts is under the plugin's limit; used_at is also set on a
-- user's earlier rows when a newer one replaces them. The per-hour limits count a user's
-- rows by created_at, so the cron handler deletes rows only once they expired an hour ago.

CREATE TABLE otp_codes (
  id TEXT PRIMARY KEY,
  user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  code_hash TEXT NOT NULL,
  expires_at BIGINT NOT NULL,
  attempts INTEGER NOT NULL DEFAULT 0,
  used_at BIGINT,
  created_at BIGINT NOT NULL
);

-- A user's newest code, and the codes a user asked for within the hour.
CREATE INDEX idx_otp_codes_user_created ON otp_codes (user_id, created_at);
CREATE INDEX idx_otp_codes_expires ON otp_codes (expires_at);

CREATE TABLE magic_links (
  id TEXT PRIMARY KEY,
  user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  token_hash TEXT NOT NULL UNIQUE,
  expires_at BIGINT NOT NULL,
  used_at BIGINT,
  created_at BIGINT NOT NULL
);

CREATE INDEX idx_magic_links_user_created ON magic_links (user_id, created_at);
CREATE INDEX idx_magic_links_expires ON magic_links (expires_at);
