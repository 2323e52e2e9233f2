-- Migration 0002: FAQ plugin tables
--
-- Differences from SonicJS's 002 (see 0001 for the conventions): the id is TEXT (SonicJS
-- used INTEGER AUTOINCREMENT), columns are snake_case (PostgreSQL folds unquoted camelCase
-- like isPublished to lower case, so the same SQL would name different columns on the two
-- databases), and there is no updated_at trigger (the application sets updated_at).
-- The plugin's registry row is inserted in 0006, the migration that creates `plugins`.

CREATE TABLE faqs (
  id TEXT PRIMARY KEY,
  question TEXT NOT NULL,
  answer TEXT NOT NULL,
  category TEXT,
  tags TEXT, -- comma-separated or JSON array, as the plugin writes it
  is_published INTEGER NOT NULL DEFAULT 1, -- boolean 0/1
  sort_order INTEGER NOT NULL DEFAULT 0,
  created_at BIGINT NOT NULL,
  updated_at BIGINT NOT NULL
);

CREATE INDEX idx_faqs_category ON faqs(category);
CREATE INDEX idx_faqs_published ON faqs(is_published);
CREATE INDEX idx_faqs_sort_order ON faqs(sort_order);
-- The public FAQ list: published entries in display order.
CREATE INDEX idx_faqs_published_order ON faqs(is_published, sort_order);
