-- Migration 0033: time travel knows which changes were written together
--
-- Each logged change now carries `tx`: the seq of the first change of the transaction
-- that wrote it, so a point chosen by time (`d1 time-travel info|restore --timestamp`)
-- can be the state after a transaction's commit instead of one cutting through it. A
-- transaction's time is that of its last change, its commit: one whose last change is
-- after the point is left out whole.
--
-- PostgreSQL's trigger finds the transaction's first change in a transaction-local
-- setting, written by the first trigger of each transaction. SQLite has nothing of the
-- kind a trigger could read, so its triggers copy `d1_time_travel.current_tx`, which
-- sonicpy moves to the next seq when a transaction of its own begins and before it commits
-- (app/db/tx_marks.py): writers take turns on SQLite, so every change in between belongs
-- to that transaction.
--
-- Changes logged before this migration keep a NULL tx: each of them counts as a
-- transaction of its own, as they always did (the runner re-arms history after this
-- apply, so they are before the earliest point a local restore reaches anyway, but a
-- history rebuilt from a bucket may hold them).

ALTER TABLE d1_changes ADD COLUMN tx BIGINT;

-- A transaction's other changes, found from any one of them (is it its last change?).
CREATE INDEX idx_d1_changes_tx ON d1_changes (tx, seq);

ALTER TABLE d1_time_travel ADD COLUMN current_tx BIGINT;
