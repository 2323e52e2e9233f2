-- Migration 0035: one-time sign-in codes and magic links (the otp-login and
-- magic-link-auth plugins, both inactive until an admin activates them).
--
-- Only a digest of each secret is stored: a code's HMAC keyed with the app's secret (six
-- digits hashed without a key would fall to a million guesses offline), a link token's
-- SHA-256, as password-reset tokens are. A row is usable while used_at is NULL (it is set
-- when the row signs someone in), expires_at is ahead, token_version is still the user's
-- (the counter a deactivation, a new password or a sign-out everywhere bumps, so those end
-- live codes and links as they end sessions) and, for a code, attempts is under the
-- plugin's limit. A newer row replaces a user's earlier ones by moving their expires_at to
-- its creation. So a code's failed tries are its attempts less one if used_at is set: the
-- daily failure budget sums them over the user's codes of the last 24 hours, replaced ones
-- included, and the per-hour limits count rows by created_at; the cron handler deletes rows
-- a day after their creation, once neither count needs them.

CREATE TABLE otp_codes (
  id TEXT PRIMARY KEY,
  user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  code_hash TEXT NOT NULL,
  expires_at BIGINT NOT NULL,
  attempts INTEGER NOT NULL DEFAULT 0,
  token_version INTEGER NOT NULL,
  used_at BIGINT,
  created_at BIGINT NOT NULL
);

-- A user's newest code, and the codes a user asked for within the hour or the day.
CREATE INDEX idx_otp_codes_user_created ON otp_codes (user_id, created_at);
CREATE INDEX idx_otp_codes_created ON otp_codes (created_at);

CREATE TABLE magic_links (
  id TEXT PRIMARY KEY,
  user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  token_hash TEXT NOT NULL UNIQUE,
  expires_at BIGINT NOT NULL,
  token_version INTEGER NOT NULL,
  used_at BIGINT,
  created_at BIGINT NOT NULL
);

CREATE INDEX idx_magic_links_user_created ON magic_links (user_id, created_at);
CREATE INDEX idx_magic_links_created ON magic_links (created_at);
