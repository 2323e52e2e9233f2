-- Migration 0042: cache invalidations CACHE_KV did not take, kept until it takes them.
--
-- A write made outside a request (the scheduled job, a scheduled publication, the CLI) makes
-- the read cache stale by writing a new generation token to CACHE_KV. When CACHE_KV cannot
-- be reached, that bump is recorded here, one row per namespace (bumps counts the bumps
-- recorded since one was last written), and written by the next scheduled run or CLI
-- invalidation that reaches CACHE_KV, which then deletes the row unless another bump was
-- recorded meanwhile (its bumps moved on). Without it, the entries cached before the write
-- would live their whole TTL (a search's: hours).

CREATE TABLE cache_invalidations (
  namespace TEXT PRIMARY KEY,
  bumps INTEGER NOT NULL,
  recorded_at BIGINT NOT NULL
);
