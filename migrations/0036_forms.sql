-- Migration 0036: forms the public fills in, and what they send (SonicJS's Forms).
--
-- A form is defined by its fields (a JSON object of field name -> field declaration, the
-- collections' field types and rules, in the order the page shows them) and its settings
-- (a JSON object: the message or the page a visitor sees after sending, the addresses told
-- of each submission, whether Cloudflare Turnstile guards it). An inactive form answers 404
-- to the public and takes no submission.
--
-- A submission keeps what the visitor sent (data, checked against the fields), the user
-- who sent it when a bearer token said so, a keyed hash of the client's address (never the
-- address: enough to tell that two submissions came from one address, no more), the user
-- agent cut to a bounded length, and a status the admins move it through (new, read, spam).
-- Deleting a form deletes its submissions with it.
--
-- forms.read lets a role see forms and their submissions (and export them); forms.manage
-- lets it create, change and delete forms and change or delete submissions. Admins and
-- editors hold both: forms are site content, and editors manage content already.
--
-- Seed rows carry a fixed epoch-ms literal (1735689600000 = 2025-01-01T00:00:00Z), as in 0004.

CREATE TABLE forms (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL UNIQUE,
  display_name TEXT NOT NULL,
  description TEXT,
  fields TEXT NOT NULL DEFAULT '{}',
  settings TEXT NOT NULL DEFAULT '{}',
  is_active INTEGER NOT NULL DEFAULT 1 CHECK (is_active IN (0, 1)),
  created_by TEXT REFERENCES users(id) ON DELETE SET NULL,
  created_at BIGINT NOT NULL,
  updated_at BIGINT NOT NULL
);

CREATE TABLE form_submissions (
  id TEXT PRIMARY KEY,
  form_id TEXT NOT NULL REFERENCES forms(id) ON DELETE CASCADE,
  data TEXT NOT NULL DEFAULT '{}',
  user_id TEXT REFERENCES users(id) ON DELETE SET NULL,
  ip_hash TEXT,
  user_agent TEXT,
  status TEXT NOT NULL DEFAULT 'new' CHECK (status IN ('new', 'read', 'spam')),
  created_at BIGINT NOT NULL
);

-- A form's submissions, newest first (the admin's list and the export read in index order).
CREATE INDEX idx_form_submissions_form_created ON form_submissions (form_id, created_at, id);
-- A user's deletion sets user_id to NULL here: without an index each one reads the table.
CREATE INDEX idx_form_submissions_user ON form_submissions (user_id) WHERE user_id IS NOT NULL;

INSERT INTO permissions (id, name, description, category, created_at) VALUES
  ('perm_forms_read', 'forms.read', 'View forms and their submissions', 'content', 1735689600000),
  ('perm_forms_manage', 'forms.manage', 'Create, edit and delete forms and their submissions', 'content', 1735689600000);

INSERT INTO role_permissions (id, role, permission_id, created_at) VALUES
  ('rp_admin_forms_read', 'admin', 'perm_forms_read', 1735689600000),
  ('rp_admin_forms_manage', 'admin', 'perm_forms_manage', 1735689600000),
  ('rp_editor_forms_read', 'editor', 'perm_forms_read', 1735689600000),
  ('rp_editor_forms_manage', 'editor', 'perm_forms_manage', 1735689600000);
