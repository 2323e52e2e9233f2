-- Migration 0024: fewer indexes on system_logs, which takes a row per logged request.
--
-- Each index is one more B-tree written for every row, and the request log writes a row for
-- every request it keeps: with eight indexes, writing the rows cost the served app more than
-- answering a cached read. These four serve no query the remaining ones do not:
--
--   idx_system_logs_category (category)   a prefix of idx_system_logs_category_created
--   idx_system_logs_level (level)         five values: the admin's filters read the newest
--   idx_system_logs_source (source)       rows through idx_system_logs_created_at (or the
--   idx_system_logs_status_code           category's index) and test these columns as they go
--
-- Kept: created_at (lists, tail, retention), (category, created_at) (per-category lists and
-- their purge), user_id (deleting a user) and request_id (one request's rows).

DROP INDEX IF EXISTS idx_system_logs_category;
DROP INDEX IF EXISTS idx_system_logs_level;
DROP INDEX IF EXISTS idx_system_logs_source;
DROP INDEX IF EXISTS idx_system_logs_status_code;
