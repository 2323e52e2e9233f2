-- Migration 0044: the columns a collection's admin content list shows (listFields).
--
-- collections.list_fields holds the collection's listFields as a JSON array of names:
-- top-level fields of its schema, or the item's own columns the list knows (title, slug,
-- status, author, created_at, updated_at, published_at). NULL, every existing row's value,
-- is the list's default columns. JSON as TEXT, as collections.schema.

ALTER TABLE collections ADD COLUMN list_fields TEXT;
