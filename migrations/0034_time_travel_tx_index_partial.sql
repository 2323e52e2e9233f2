-- Migration 0034: the index of transactions in the change log holds numbered changes only
--
-- 0033 indexed d1_changes on (tx, seq) for every change. Changes logged before 0033 have
-- no transaction number (tx NULL), and on a database upgraded with a long log they are
-- most of the index until the retention purge deletes them. Every query that reads the
-- index looks a transaction up by its number (tx = ..., tx IN (...)), which a NULL never
-- equals, so those entries were never read: the index now leaves them out. Both databases
-- use it for the same queries, as they prove from `tx = ...` that tx is not NULL.

DROP INDEX idx_d1_changes_tx;

CREATE INDEX idx_d1_changes_tx ON d1_changes (tx, seq) WHERE tx IS NOT NULL;
