"""``import_backup``: a JSON backup (see ``app.services.backup``) read back into the database.

All or nothing, in ONE transaction, in foreign-key order (users, collections, media,
content), and idempotent.

Refused before anything is written (``BackupError``, naming the rows):

* a reference or unique key that is not text or null: it names no row;
* a text value with a NUL character or an integer beyond 64 bits: PostgreSQL stores no
  NUL in text, SQLite no larger integer, and both databases refuse them alike;
* an id held twice in one table, or a collection name twice: a database holds each once,
  so the file was edited or pieced together, and which row is meant cannot be told;
* a required reference (author, uploader, collection) to a row in neither the backup nor
  the database: it would fail its foreign key mid-import;
* while a collection the backup inserts or the database holds declares a field ``indexed``
  or ``sortable``, a live content row whose ``data`` that field's index cannot read (text that
  is not JSON, a NUL character PostgreSQL's jsonb refuses): the indexes are created after
  the commit, and would fail on it with the rows already in. A live row of the database's
  own counts too while such a field has no index yet (one the backup brings).

Skipped, so importing twice changes nothing; a row already there by id is only counted
(a second import of a large backup would otherwise print every row), each of the others
is given with its reason (``ImportReport.reasons``):

* a row whose unique key (user email or username in any case, collection name, media
  file key, content collection and slug) is already there;
* a user whose username breaks ``USERNAME_PATTERN`` (written before the rule, or by hand);
* a collection whose name breaks the collection name rule or is reserved (``new``): the
  admin's and the API's routes could not tell it from their own words, so its content is
  skipped too;
* a row whose author or uploader was not imported (a user skipped or refused);
* a content row whose slug an earlier row of the backup holds in its collection (no row
  names content, so nothing else follows);
* a row the database refused (see below), content included.

References follow what was skipped:

* content of a collection skipped for its name goes to the existing collection of that
  name; content and media of a user skipped for its email go to that email's user;
  content showing a media file skipped for its file key shows the row holding that key
  (the same key is the same stored file);
* an optional reference (inviter, reviewer, featured image) to a row not imported is
  cleared; one to a row in neither the backup nor the database is imported as NULL and
  counted per kind (``ImportReport.cleared_counts``).

Inserts use ``ON CONFLICT DO NOTHING`` on both databases (SQLite's ``INSERT OR IGNORE``
would also swallow NOT NULL and CHECK failures). The rows that went in are read back:
the database compares unique keys its own way (``lower()`` folds letters differently on
SQLite, PostgreSQL and Python), and a rule of its own (a trigger) may drop a row. A
refused row is skipped with what needs it, the reason saying which.
Inviters are linked once both sides are in.

The modules, one concern each:

* ``archive``: the file decoded (``parse_backup``) and its rows checked before anything
  is written;
* ``tables``: the tables' order, the references between them, their unique keys;
* ``lookups``: what the database already holds of the backup's rows;
* ``references``: references to rows in neither the backup nor the database;
* ``indexable``: content ``data`` the declared field indexes cannot read;
* ``users``, ``collections``, ``media``, ``content``: each table's rules for its rows;
* ``refusals``: the rows the database did not take, read back after the insert;
* ``writes``: the inserts, JSON columns' markers undone;
* ``state``: one import's id maps and what the tables' rules share;
* ``report``: ``ImportReport``, what an import did;
* ``transaction``: ``import_backup``, all of it in one transaction.
"""

from app.services.backup_import.archive import BackupData, BackupFile, parse_backup
from app.services.backup_import.content import SCHEDULE_MIRRORS
from app.services.backup_import.report import ImportReport
from app.services.backup_import.tables import IMPORT_ORDER, REFERENCES
from app.services.backup_import.transaction import import_backup

__all__ = ["IMPORT_ORDER", "REFERENCES", "SCHEDULE_MIRRORS", "BackupData", "BackupFile", "ImportReport",
           "import_backup", "parse_backup"]
