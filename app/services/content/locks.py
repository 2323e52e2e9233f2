"""Locks for content writes: concurrent writers of one item take turns, and a write that
validated ``data`` stores it only under the schema it validated against.

Every write checks what it read (the version the client sent, whether the item is
deleted, who owns it, its workflow state) and then writes. On PostgreSQL another writer
could change the row in between, so a write reads the row ``FOR UPDATE``: the second
writer waits for the first one's commit and then reads the row as it left it (a blind
edit then applies after it, last writer wins; a stale version is a 409). SQLite needs
nothing: every write transaction takes the database's write lock when it begins
(``BEGIN IMMEDIATE``).

A create or update validates ``data`` against the collection's schema before its
transaction, and a schema save (``app.services.type_changes``) may commit in between: the
write would store a value of the field's old type. So inside its transaction, before it
writes a row, the write confirms that the schema it validated against is still the
collection's, and validates again against the new one when it is not:

* a create names its collection through ``collection_while_unchanged``: the INSERT reads
  the collection's id only while the schema is the text the create read, so under a new
  schema ``collection_id`` is NULL, NOT NULL refuses the row and nothing is written; the
  create then reads the collection again, validates against its schema and tries again
  (``writes.create_and_read``). The comparison costs no statement of its own (the lock
  below is one more statement in the same round trip);
* an update and a version restore read the collection with the item, inside their
  transaction, and prepare the fields again when its schema differs from the one they
  validated against.

On SQLite that is all: the transaction holds the write lock from its ``BEGIN IMMEDIATE``,
so no save commits between the check and the write. On PostgreSQL (READ COMMITTED) a
save could commit right after the check, so the write first locks the collection's row
``FOR SHARE`` (``hold_schema``, or ``schema_hold`` as the first statement of a create's
batch): a save reads that row ``FOR NO KEY UPDATE`` before it checks the items and
updates the schema, so it waits for the writes holding the row, and writes that come
after it wait for its commit and then see its schema. ``FOR KEY SHARE``, which a create's
foreign-key check takes anyway, would not do: it does not conflict with ``FOR NO KEY
UPDATE``. (The save does not read the row ``FOR UPDATE``: see ``type_changes``.)

The lock comes first in the write's transaction, before the write reads or writes
``content`` at all, and this is what keeps it free of deadlocks with the transactions that
change schemas (``app.db.schema_turns``): a write waiting for the row holds nothing they
want, and one holding the row only goes on to lock ``content`` and the tables after it.

* A collection save (``collections.update_collection``) takes its turn, then the row, then
  ``content`` (SHARE, to count a narrowed field's values; the field indexes' DROP and
  CREATE INDEX; ``track_declared``). A write holding the row makes it wait at the row,
  where it holds nothing on ``content``; a write arriving later waits at the row too. Were
  the lock taken after a read of ``content`` (even a plain one), the save holding the row
  and waiting to drop an index would wait for the write while the write waits for it.
* ``collections sync`` changes several rows in one transaction, locking ``content`` for
  one collection before it reaches the next row: it locks every collection row first,
  before it locks ``content`` (``collection_sync``).
* Creating or deleting a collection, the field indexes' sync and ``track_declared`` lock
  no existing row before ``content`` (deleting one locks its own row when it deletes it,
  after reading ``content`` only plainly): a write holding a row waits for nothing they hold.
* A time-travel restore locks its tables in EXCLUSIVE mode in one statement, in the
  order of their names, ``collections`` before ``content``: the order writes take them in.
* A backup import locks ``content`` in SHARE mode right after its turn, and only inserts
  collections (a row already there is skipped, not locked; its rows' foreign-key checks
  take ``FOR KEY SHARE``, which a write's ``FOR SHARE`` lets through).
* Migrations and the SQL of ``d1 execute`` lock what their SQL locks, in their own order;
  PostgreSQL ends a deadlock with one of them by failing one transaction.

A write that validates nothing (a title or status change, a delete, a move) takes no such
lock. A create run inside a caller's transaction follows the caller's statements there.
The row lock orders a write against the saves of its own collection only: a write that
locked an item (``FOR UPDATE``, ROW SHARE on ``content``) and has not yet written it holds
nothing a save of another collection (or any save, when the write validates nothing) waits
for at the row. Such a save that would lock ``content`` in SHARE mode to count and then
drop an index (ACCESS EXCLUSIVE) takes ACCESS EXCLUSIVE first instead
(``field_indexes.lock_for_drops``): it waits for that write to end rather than holding
SHARE, which the write's UPDATE would wait for.

A write naming a file ``data`` did not hold before (a media or file value, a featured
image) looked it up before its transaction, and a media purge may delete it in between:
the purge locks the file's row, finds no content using it and deletes it, while the
write, committing meanwhile, would then name a file that is gone. So inside its
transaction, before it writes, such a write locks those files' rows and looks them up
again (``hold_media``), refusing the write (422, as validation does) when one is gone.
On PostgreSQL the lock is ``FOR KEY SHARE``, which the purge's ``FOR UPDATE`` conflicts
with: a purge that locked the row first deletes it, and the write, waiting, then finds
it gone; a write that locked it first commits before the purge goes on to read
``content_media``, where the purge sees the new reference and refuses (409). A move or
metadata edit of one file (an UPDATE: ``FOR NO KEY UPDATE``) does not wait for it; the
media library's bulk move and trash lock their rows ``FOR UPDATE`` and do. On SQLite the
transaction's write lock orders the two. Every write locking several files (these, and
the library's bulk actions) takes them in the order of their ids, so two of them never
wait for each other in a circle.

Only new references are held. A reference the write's item already holds needs no
lock, whoever commits first: validation does not refuse it when its file is gone, so a
purge committing before the write leaves what a purge before the whole write would (the
item keeps naming the missing file), and one coming after sees the reference if the item
is live. That covers an update keeping its item's files, a version restored naming files
the version holds, an item restored from the trash, and ``/files/<key>`` URLs in text,
which validation never looks up. A write that names no new file sends no statement for it.

A duplicate's references are its source's: a file the source names is not refused when it
is gone. The source is read before the copy's transaction, though, and may drop the file
meanwhile (an edit, the trash), letting a purge delete it: the copy would then name a
file that a purge was free to delete. So the copy's transaction holds the source
(``hold_source``: its row ``FOR SHARE`` on PostgreSQL, which an edit or a move to the
trash waits for) and goes on only while it is live and at the version read; otherwise the
copy is made again from the source as it is now. A purge meanwhile sees the live source
naming the file, and refuses.
"""

from app.db.database import is_postgres, locked
from app.db.models import Content, Media, database
from app.db.rows import Subquery, statement
from app.services.content.errors import ContentInvalid, VersionConflict

_HOLD_SCHEMA = 'SELECT 1 FROM "collections" WHERE "id" = {p} FOR SHARE'
# A new item's collection_id: the collection's id while its schema is still the text the
# create validated against, else NULL (which NOT NULL refuses).
_WHILE_UNCHANGED = 'SELECT "id" FROM "collections" WHERE "id" = {p} AND "schema" = {p}'


def lock_row(query):
    """``query`` (a SELECT on content, inside a transaction) locking the content rows it reads."""
    return locked(query, of=Content)


def schema_hold(collection_id):
    """``(sql, params)`` of the statement holding ``collection_id``'s schema until the
    transaction ends (its row ``FOR SHARE``) on PostgreSQL; None on SQLite, where the
    transaction's write lock holds it. For the first statement of a write's transaction."""
    return statement(_HOLD_SCHEMA, (collection_id,)) if is_postgres(database.obj) else None


def hold_schema(collection_id):
    """Run ``schema_hold``: call it first in the transaction, before any statement on ``content``."""
    hold = schema_hold(collection_id)
    if hold is not None:
        database.execute_sql(*hold)


def collection_while_unchanged(collection):
    """The ``collection_id`` value of a new item of ``collection``, read by its INSERT: the
    collection's id while its schema is still ``collection.schema_text`` (the stored text
    the create validated against), else NULL, which refuses the row."""
    return Subquery(_WHILE_UNCHANGED, (collection.id, collection.schema_text))


def hold_media(named):
    """Lock the live files ``named`` (``prepare.new_media``'s) until the transaction ends, and
    refuse the write when one is no longer live (ContentInvalid, with its problems).

    Call it inside the write's transaction, before the write, after ``hold_schema``. Nothing
    is sent when ``named`` is empty.
    """
    if not named:
        return
    query = (Media.select(Media.id)
             .where(Media.id.in_(sorted(named)) & Media.deleted_at.is_null())
             .order_by(Media.id))
    if is_postgres(database.obj):
        query = query.for_update("FOR KEY SHARE")
    live = {media_id for (media_id,) in query.tuples()}
    problems = [problem for ref, absent in named.items() if ref not in live for problem in absent]
    if problems:
        raise ContentInvalid("Validation failed", problems)


def hold_source(source):
    """Hold the item ``source`` a copy is made of until the transaction ends (``FOR SHARE``
    on PostgreSQL; SQLite's write lock holds it), refusing the copy (VersionConflict) unless
    the item is still live and at the version it was read at.

    Call it inside the copy's transaction, after ``hold_schema`` and before ``hold_media``
    (collections, then content, then files: the order every write takes them in).
    """
    version = (Content.version_number.is_null() if source.version_number is None
               else Content.version_number == source.version_number)
    query = Content.select(Content.id).where((Content.id == source.id) & Content.deleted_at.is_null() & version)
    if is_postgres(database.obj):
        query = query.for_update("FOR SHARE")
    if query.first() is None:
        raise VersionConflict("The item changed while it was being copied; read it again")
