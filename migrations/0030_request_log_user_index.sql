-- Migration 0030: index system_logs by user only for the rows that have one.
--
-- The request log writes a row for every request it keeps, most of them anonymous (public
-- reads), and each index is one more B-tree written per row. The user_id index serves the
-- lookups of one user's rows: the logs API's user filter, and the foreign key check when a
-- user row is deleted. An equality on the column implies it is not NULL, so both planners
-- use a partial index for those, and an anonymous request's row no longer writes it.

DROP INDEX IF EXISTS idx_system_logs_user_id;
CREATE INDEX IF NOT EXISTS idx_system_logs_user_id ON system_logs (user_id) WHERE user_id IS NOT NULL;
