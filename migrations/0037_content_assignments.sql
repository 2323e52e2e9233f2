-- Migration 0037: who should act on an item next (review it, publish it), by when.
--
-- SonicJS kept this in content_workflow_status (assigned_to, due_date) beside a copy of the
-- item's state; the state lives on content here, so only the assignment gets a table. One
-- row per assigned item (unassigning deletes it); every assignment and unassignment is also
-- a workflow_history row (action assigned / unassigned), which keeps the past ones. Not
-- columns on content: an assignment is no edit, so it must not bump version_number,
-- updated_at or the ETag, nor land in content versions and content reads.

CREATE TABLE content_assignments (
  content_id TEXT PRIMARY KEY REFERENCES content(id) ON DELETE CASCADE,
  assignee_id TEXT NOT NULL REFERENCES users(id),
  assigned_by TEXT NOT NULL REFERENCES users(id),
  due_at BIGINT, -- epoch ms; NULL: no due date
  note TEXT,
  assigned_at BIGINT NOT NULL
);

-- A user's assignments, soonest due first; the overdue count of the analytics.
CREATE INDEX idx_content_assignments_assignee_due ON content_assignments (assignee_id, due_at);
CREATE INDEX idx_content_assignments_due ON content_assignments (due_at);
