-- Migration 0041: users looked up by lower(email)
--
-- Emails are stored normalised (lower-cased), but a database may hold one stored before
-- they were (Admin@Example.com), or a backup from elsewhere may bring one: the backup
-- import matches its users with the database's by lower(email), which neither the unique
-- index on email nor idx_users_email can answer, so each lookup read every user. Both
-- databases search an index on the expression for a condition on the same expression
-- (lower(email) = ?, lower(email) IN (...)), under the column's collation on PostgreSQL.
--
-- Not unique: two users whose emails differ only in case may both exist from before the
-- normalisation; the import takes the one holding the address as given, then the first by id.

CREATE INDEX idx_users_email_lower ON users (lower(email));
