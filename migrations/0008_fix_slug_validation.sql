-- Migration 0008: slug validation
--
-- SonicJS's 008 relaxed slug patterns in its content_fields table, which this schema does
-- not have (field rules live in collections.schema and are validated by the application).
-- What slug validation needs from the database is uniqueness: a slug is unique within its
-- collection (the API answers 409 on a duplicate), and this index enforces it even when two
-- writers race. It also serves the lookup WHERE collection_id = ? AND slug = ?.

CREATE UNIQUE INDEX idx_content_collection_slug ON content(collection_id, slug);
