-- Migration 0045: index each activity log by who and when.
--
-- The admin's activity page filtered to one user reads that user's entries newest first,
-- from workflow_history (content writes and workflow moves) and plugin_activity_log
-- (plugin changes). With only a created_at index, a user with few entries made it walk
-- back through everyone's history until its page filled; with (user_id, created_at) it
-- reads that user's entries in order and stops at the page's end.
--
-- idx_workflow_history_user (user_id) is a prefix of the new index on workflow_history, and
-- is dropped as migration 0023 dropped the others: the longer index answers every query it
-- did, and each content write would keep both up to date.

CREATE INDEX IF NOT EXISTS idx_workflow_history_user_created ON workflow_history (user_id, created_at);
DROP INDEX IF EXISTS idx_workflow_history_user;
CREATE INDEX IF NOT EXISTS idx_plugin_activity_user_created ON plugin_activity_log (user_id, created_at);
