-- Migration 0021: core-cache settings say which TTLs the cache applies.
--
-- The core-cache plugin now applies its settings: `ttl` names a TTL per cache namespace and
-- `defaultTTL` the TTL of the namespaces `ttl` leaves out (null: their built-in TTLs). Row 0010
-- seeded defaultTTL 3600, which would now raise every namespace's TTL from its built-in
-- 300 or 600 s; a row still holding exactly that seed gets settings that keep the built-in
-- TTLs. A row an admin has changed is left as it is.

UPDATE plugins
SET settings = '{"ttl":{},"defaultTTL":null,"memoryEnabled":true,"kvEnabled":true,"maxMemorySize":50}'
WHERE id = 'core-cache'
  AND settings = '{"memoryEnabled":true,"kvEnabled":true,"defaultTTL":3600,"maxMemorySize":50}';
