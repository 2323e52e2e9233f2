-- Migration 0043: end the assignments of items already published, archived or in the trash.
--
-- An assignment asks someone to carry an item towards publication, so a move into
-- published or archived, or the trash, ends it (deleting its content_assignments row and
-- recording an "unassigned" workflow_history row whose metadata.ended_by says what ended it).
-- Assignments open on such items before that rule stayed open: they still fill the
-- assignees' lists and the open and overdue counts. They end here, each the same way, with
-- ended_by "migration". Items in draft or a review state keep theirs.
--
-- What the history row holds, since no one acted:
-- * the item's state now in from_state_id and to_state_id: its publication status when that
--   is published or archived, draft for a draft row whose workflow state still says
--   published or archived, else its workflow state (a trashed item keeps its state);
-- * user_id: the one who made the assignment (the column is required; ended_by says it was
--   no one's doing);
-- * the workflow the app would record: the collection's active one, else the active global
--   one, else the default;
-- * created_at: 1 ms after the item's last history row (or its assignment, if it has none).
--   Plain SQL has no clock in epoch ms that both databases read alike; so dated, the row
--   stays the last of the item's history (times per item are strictly increasing), right
--   after the event that should have ended the assignment at the latest;
-- * id: "ended-0043-" and the item's id (an item has at most one assignment).
-- The assignee's id goes into the metadata JSON with its backslashes and double quotes
-- escaped. No hooks or webhooks run: a migration is no request, and these ends are late.
--
-- The DELETE removes exactly the assignments the INSERT recorded, so none ends unrecorded.

INSERT INTO workflow_history (id, content_id, workflow_id, from_state_id, to_state_id, user_id, comment, metadata,
                              created_at)
SELECT
  'ended-0043-' || ended.content_id,
  ended.content_id,
  COALESCE(
    (SELECT w.id FROM workflows w
     WHERE w.is_active = 1 AND (w.collection_id = ended.collection_id OR w.collection_id IS NULL)
     ORDER BY w.collection_id IS NULL, w.created_at, w.id LIMIT 1),
    'default-workflow'),
  ended.state,
  ended.state,
  ended.assigned_by,
  NULL,
  '{"action": "unassigned", "assignee_id": null, "due_at": null, "previous_assignee_id": "'
    || REPLACE(REPLACE(ended.assignee_id, '\', '\\'), '"', '\"') || '", "ended_by": "migration"}',
  COALESCE((SELECT MAX(h.created_at) FROM workflow_history h WHERE h.content_id = ended.content_id),
           ended.assigned_at) + 1
FROM (
  SELECT a.content_id, a.assignee_id, a.assigned_by, a.assigned_at, c.collection_id, c.deleted_at, c.status,
         CASE
           WHEN c.status IN ('published', 'archived') THEN c.status
           WHEN c.status = 'draft' AND c.workflow_state_id IN ('published', 'archived') THEN 'draft'
           ELSE COALESCE(c.workflow_state_id, 'draft')
         END AS state
  FROM content_assignments a
  JOIN content c ON c.id = a.content_id
) ended
-- 'deleted': SonicJS's soft delete, in imported data, which the app treats as trashed.
WHERE ended.deleted_at IS NOT NULL OR ended.status = 'deleted' OR ended.state IN ('published', 'archived');

DELETE FROM content_assignments
WHERE EXISTS (SELECT 1 FROM workflow_history h WHERE h.id = 'ended-0043-' || content_assignments.content_id);
