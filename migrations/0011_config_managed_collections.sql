-- Migration 0011: config-managed collections
--
-- collections.managed = 1 marks a collection defined by a file in the repository and kept
-- in step by `collections sync`; such collections are read-only through the admin API, and
-- sync deactivates them when their file is removed. Boolean as INTEGER 0/1.

ALTER TABLE collections ADD COLUMN managed INTEGER DEFAULT 0 NOT NULL;

CREATE INDEX idx_collections_managed ON collections(managed);
CREATE INDEX idx_collections_managed_active ON collections(managed, is_active);
