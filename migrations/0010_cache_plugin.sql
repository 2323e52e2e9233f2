-- Migration 0010: cache plugin registration
--
-- Three-tier cache (memory -> KV -> database). SonicJS registered it as 'cache-plugin'/'cache'
-- here and as 'core-cache' from its bootstrap code, and needed a later migration to remove
-- the duplicate; it has one id here. SonicJS used json(...), which PostgreSQL lacks: the
-- JSON documents are plain text literals. Active by default, with the KV tier enabled.

INSERT INTO plugins (
  id, name, display_name, description, version, author, category, icon,
  status, is_core, settings, permissions, dependencies, download_count, rating,
  installed_at, activated_at, last_updated, created_at, updated_at
) VALUES
  ('core-cache', 'core-cache', 'Cache System',
   'Three-tiered caching system (Memory → KV → Database) for public reads, invalidated on every write',
   '1.0.0', 'SonicJS', 'performance', '⚡', 'active', 1,
   '{"memoryEnabled":true,"kvEnabled":true,"defaultTTL":3600,"maxMemorySize":50}',
   '["cache.view","cache.manage","cache.clear"]', '[]', 0, 5.0,
   1735689600000, 1735689600000, 1735689600000, 1735689600000, 1735689600000)
ON CONFLICT DO NOTHING;
