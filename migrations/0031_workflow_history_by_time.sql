-- Migration 0031: index workflow_history by time.
--
-- Every content write records a row here (created, updated, each workflow move), which
-- makes it the content's activity log. GET /admin/api/activity reads the newest rows across
-- all content; without this index that is a scan and a sort of the whole table.

CREATE INDEX IF NOT EXISTS idx_workflow_history_created_at ON workflow_history (created_at);
