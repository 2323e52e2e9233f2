-- Migration 0046: the API token a schedule was made with.
--
-- A schedule runs on behalf of whoever made it, with the rights they hold when it comes due.
-- One made with an API token runs with that token's rights: only while the token still exists
-- (not revoked, nor deleted by a password change or a deactivation) and has not expired, and
-- only with the permissions it grants (intersected with its owner's role). NULL, every existing
-- row's value, is a schedule made from a password session, which runs with its maker's role.
--
-- No REFERENCES: a revoked token's row is deleted, and the schedule must still say it was made
-- with one (ON DELETE SET NULL would turn it into a session's schedule, CASCADE would erase it).

ALTER TABLE scheduled_content ADD COLUMN api_token_id TEXT;
