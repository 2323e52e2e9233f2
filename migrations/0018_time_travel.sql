-- Migration 0018: time travel (`d1 time-travel info|restore`)
--
-- A change log kept by triggers: every INSERT, UPDATE and DELETE on a tracked table adds
-- one row to d1_changes with the row's key and, for UPDATE and DELETE, the whole row as it
-- was. Undoing the rows after a point, newest first, gives the database as it was at that
-- point, so history costs one log row per row written, whatever the size of the database.
--
-- The triggers themselves are not in this file: they are written differently for SQLite
-- and PostgreSQL (which needs a plpgsql function) and list each table's columns, so the
-- migration runner (re)installs them after every apply (app/db/time_travel). A point
-- before that is refused: a restore never crosses a schema change.

CREATE TABLE d1_changes (
  seq BIGINT PRIMARY KEY,           -- order of the changes; a bookmark names one
  changed_at BIGINT NOT NULL,       -- epoch ms
  table_name TEXT NOT NULL,
  operation TEXT NOT NULL,          -- INSERT, UPDATE or DELETE
  row_key TEXT NOT NULL,            -- JSON array of the primary key after the change (before it for DELETE)
  old_row TEXT                      -- JSON object of the row before the change; NULL for INSERT
);

CREATE INDEX idx_d1_changes_changed_at ON d1_changes(changed_at);

-- One row (id = 1) describing the history: its id (bookmarks name it), where it may be
-- restored from (the last time the triggers were installed, and what the retention purge
-- removed) and the tables it tracks.
CREATE TABLE d1_time_travel (
  id INTEGER PRIMARY KEY,
  log_id TEXT NOT NULL,
  armed_seq BIGINT NOT NULL,
  armed_at BIGINT NOT NULL,
  armed_by TEXT NOT NULL,
  purged_seq BIGINT NOT NULL DEFAULT 0,
  purged_at BIGINT NOT NULL DEFAULT 0,
  excluded TEXT NOT NULL,           -- JSON array of tables deliberately not tracked
  fingerprint TEXT NOT NULL         -- sha256 of the tracked tables' columns and keys
);
