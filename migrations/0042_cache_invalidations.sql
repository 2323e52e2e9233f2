-- Migration 0042: cache invalidations CACHE_KV did not take, kept until it takes them.
--
-- A write made outside a request (the scheduled job, a scheduled publication, the CLI) makes
-- the read cache stale by writing a new generation token to CACHE_KV. When CACHE_KV cannot
-- be reached, that bump is recorded here, one row per namespace: bumps counts the bumps ever
-- recorded, written how many of them a later scheduled run or CLI invalidation wrote once
-- CACHE_KV answered. A namespace is pending while bumps > written. Neither count restarts,
-- so a writer marks only the bumps it read, and one recorded meanwhile stays pending.
-- Without it, the entries cached before the write would live their whole TTL (a search's:
-- hours).

CREATE TABLE cache_invalidations (
  namespace TEXT PRIMARY KEY,
  bumps BIGINT NOT NULL,
  written BIGINT NOT NULL,
  recorded_at BIGINT NOT NULL
);
