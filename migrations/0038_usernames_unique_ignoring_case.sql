-- Migration 0038: usernames are unique ignoring case
--
-- UNIQUE(username) compares exactly, so ADMIN could be created beside admin: two accounts
-- nobody can tell apart in a list of users, an assignment or a log. This index lets one
-- account hold a username in any case. lower() folds A-Z alike on SQLite and PostgreSQL,
-- and usernames are ASCII (letters, digits, _ . -), so both databases hold the same rule.
--
-- A database that already holds such a pair cannot take the index. The runner checks
-- before this file runs (app/db/migration_checks.py) and refuses, naming the usernames,
-- with nothing changed: give all but one of each clash a new username, then apply again.

CREATE UNIQUE INDEX idx_users_username_lower ON users (lower(username));
