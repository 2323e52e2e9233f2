-- Migration 0005: stage 7 workflow automation (states, workflows, transitions, history, scheduling)
--
-- SonicJS declared these timestamps DATETIME DEFAULT CURRENT_TIMESTAMP (text on SQLite, a
-- timestamp on PostgreSQL); here they are epoch-ms BIGINT like every other timestamp.
-- Seed rows use the fixed literal 1735689600000 (2025-01-01T00:00:00Z).

CREATE TABLE workflow_states (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  description TEXT,
  color TEXT DEFAULT '#6B7280',
  is_initial INTEGER DEFAULT 0, -- boolean 0/1
  is_final INTEGER DEFAULT 0, -- boolean 0/1
  created_at BIGINT NOT NULL
);

INSERT INTO workflow_states (id, name, description, color, is_initial, is_final, created_at) VALUES
  ('draft', 'Draft', 'Content is being worked on', '#F59E0B', 1, 0, 1735689600000),
  ('pending-review', 'Pending Review', 'Content is waiting for review', '#3B82F6', 0, 0, 1735689600000),
  ('approved', 'Approved', 'Content has been approved', '#10B981', 0, 0, 1735689600000),
  ('published', 'Published', 'Content is live', '#059669', 0, 1, 1735689600000),
  ('rejected', 'Rejected', 'Content was rejected', '#EF4444', 0, 1, 1735689600000),
  ('archived', 'Archived', 'Content has been archived', '#6B7280', 0, 1, 1735689600000)
ON CONFLICT DO NOTHING;

-- A workflow with collection_id NULL applies to every collection without its own workflow.
CREATE TABLE workflows (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  description TEXT,
  collection_id TEXT REFERENCES collections(id) ON DELETE CASCADE,
  is_active INTEGER DEFAULT 1, -- boolean 0/1
  auto_publish INTEGER DEFAULT 0, -- boolean 0/1
  require_approval INTEGER DEFAULT 1, -- boolean 0/1
  approval_levels INTEGER DEFAULT 1,
  created_at BIGINT NOT NULL,
  updated_at BIGINT NOT NULL
);

CREATE INDEX idx_workflows_collection ON workflows(collection_id);

CREATE TABLE workflow_transitions (
  id TEXT PRIMARY KEY,
  workflow_id TEXT NOT NULL REFERENCES workflows(id) ON DELETE CASCADE,
  from_state_id TEXT NOT NULL REFERENCES workflow_states(id),
  to_state_id TEXT NOT NULL REFERENCES workflow_states(id),
  required_permission TEXT, -- a permissions.name, checked against the user's role
  auto_transition INTEGER DEFAULT 0, -- boolean 0/1
  transition_conditions TEXT, -- JSON
  created_at BIGINT NOT NULL,
  -- One rule per edge: "may X move content from A to B" has a single answer.
  UNIQUE (workflow_id, from_state_id, to_state_id)
);

-- SonicJS seeded one workflow per existing collection with permissions (content:submit,
-- content:approve) that no role had. Here one default workflow covers all collections and
-- each edge names a permission that exists in `permissions` (0004).
INSERT INTO workflows (id, name, description, collection_id, is_active, auto_publish, require_approval, approval_levels, created_at, updated_at) VALUES
  ('default-workflow', 'Default Workflow', 'Standard content approval workflow: draft, review, approval, publication', NULL, 1, 0, 1, 1, 1735689600000, 1735689600000)
ON CONFLICT DO NOTHING;

INSERT INTO workflow_transitions (id, workflow_id, from_state_id, to_state_id, required_permission, auto_transition, transition_conditions, created_at) VALUES
  ('wt_default_draft_to_pending_review', 'default-workflow', 'draft', 'pending-review', 'content.update', 0, NULL, 1735689600000),
  ('wt_default_pending_review_to_approved', 'default-workflow', 'pending-review', 'approved', 'content.review', 0, NULL, 1735689600000),
  ('wt_default_pending_review_to_rejected', 'default-workflow', 'pending-review', 'rejected', 'content.review', 0, NULL, 1735689600000),
  ('wt_default_approved_to_published', 'default-workflow', 'approved', 'published', 'content.publish', 0, NULL, 1735689600000),
  ('wt_default_draft_to_published', 'default-workflow', 'draft', 'published', 'content.publish', 0, NULL, 1735689600000),
  ('wt_default_published_to_archived', 'default-workflow', 'published', 'archived', 'content.publish', 0, NULL, 1735689600000),
  ('wt_default_rejected_to_draft', 'default-workflow', 'rejected', 'draft', 'content.update', 0, NULL, 1735689600000),
  ('wt_default_archived_to_draft', 'default-workflow', 'archived', 'draft', 'content.publish', 0, NULL, 1735689600000),
  ('wt_default_published_to_draft', 'default-workflow', 'published', 'draft', 'content.publish', 0, NULL, 1735689600000)
ON CONFLICT DO NOTHING;

CREATE TABLE workflow_history (
  id TEXT PRIMARY KEY,
  content_id TEXT NOT NULL REFERENCES content(id) ON DELETE CASCADE,
  workflow_id TEXT NOT NULL REFERENCES workflows(id),
  from_state_id TEXT REFERENCES workflow_states(id), -- NULL for the creation entry
  to_state_id TEXT NOT NULL REFERENCES workflow_states(id),
  user_id TEXT NOT NULL REFERENCES users(id),
  comment TEXT,
  metadata TEXT, -- JSON
  created_at BIGINT NOT NULL
);

CREATE INDEX idx_workflow_history_content ON workflow_history(content_id);
CREATE INDEX idx_workflow_history_user ON workflow_history(user_id);
-- The history of one item, in order.
CREATE INDEX idx_workflow_history_content_created ON workflow_history(content_id, created_at);

CREATE TABLE scheduled_content (
  id TEXT PRIMARY KEY,
  content_id TEXT NOT NULL REFERENCES content(id) ON DELETE CASCADE,
  action TEXT NOT NULL, -- 'publish', 'unpublish', 'archive'
  scheduled_at BIGINT NOT NULL,
  timezone TEXT DEFAULT 'UTC',
  user_id TEXT NOT NULL REFERENCES users(id),
  status TEXT DEFAULT 'pending', -- 'pending', 'completed', 'failed', 'cancelled'
  executed_at BIGINT,
  error_message TEXT,
  created_at BIGINT NOT NULL
);

CREATE INDEX idx_scheduled_content_scheduled_at ON scheduled_content(scheduled_at);
CREATE INDEX idx_scheduled_content_status ON scheduled_content(status);
-- The cron trigger's query: WHERE status = 'pending' AND scheduled_at <= now ORDER BY scheduled_at.
CREATE INDEX idx_scheduled_content_due ON scheduled_content(status, scheduled_at);
CREATE INDEX idx_scheduled_content_content ON scheduled_content(content_id);

-- Workflow columns on content. No REFERENCES on workflow_state_id: SQLite refuses to add a
-- foreign-key column whose default ('draft') is not NULL.
ALTER TABLE content ADD COLUMN workflow_state_id TEXT DEFAULT 'draft';
ALTER TABLE content ADD COLUMN embargo_until BIGINT;
ALTER TABLE content ADD COLUMN expires_at BIGINT;
ALTER TABLE content ADD COLUMN version_number INTEGER DEFAULT 1;
ALTER TABLE content ADD COLUMN is_auto_saved INTEGER DEFAULT 0; -- boolean 0/1

CREATE INDEX idx_content_workflow_state ON content(workflow_state_id);
