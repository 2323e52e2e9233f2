"""Where media lives: keys and folders, the objects in MEDIA_BUCKET, and the rows that name them.

Every key is made here, never taken from a client: ``<folder>/<id>.<ext>`` for a file and
``<folder>/<id>.thumb.webp`` for its thumbnail, with the folder it was uploaded to and the
extension of the type detected from the content. Folders are virtual (no table, as in
SonicJS): one to ``MAX_FOLDER_DEPTH`` segments of ``[a-z0-9][a-z0-9_-]{0,63}`` joined by
``/``, so no key can hold ``..``, a leading ``/`` or anything a shell or a URL would treat
specially. A key never changes: moving a file to another folder changes its row's
``folder`` only, so the URLs content already embeds keep working. The ``folder`` column,
never a key's prefix, says which folder a file is in.

A row and its objects change in an order that never leaves a row naming a missing object;
when a later step fails, the earlier ones are undone (best effort, logged). At worst an
object is left without a row: invisible, since ``/files`` serves only keys a live row names.
Every key is recorded in the intent log (``pending``) before its object is written or
deleted, so ``media sweep`` and the cron handler find such objects and remove them; a
cleanup that fails here is also logged at ERROR on ``sonicpy.media`` with its key
("orphaned object <key>").
"""

import logging
import posixpath
import re

import peewee

from app.db import content_media
from app.db.database import locked
from app.db.models import Content, ContentMedia, Media, database, now_ms
from app.runtime.r2 import FixedLengthStream, R2Error

from . import pending
from .errors import InvalidMedia, MediaInUse, changed_meanwhile
from .library_queries import METADATA_FIELDS

log = logging.getLogger("sonicpy.media")

DEFAULT_FOLDER = "uploads"
MAX_FOLDER_DEPTH = 3
FOLDER_SEGMENT = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")
THUMBNAIL_SUFFIX = ".thumb.webp"
THUMBNAIL_TYPE = "image/webp"
# The Cache-Control stored with each object. ``/files`` sends its own (it alone knows whether
# the file is public now); this is what a bucket served directly would send. A key's bytes
# never change, but a file can be withdrawn at any time, so no cache may keep it unasked.
STORED_CACHE_CONTROL = "no-cache"


def check_folder(folder):
    """The folder name if valid (``None`` or blank gives ``uploads``), else ``InvalidMedia``."""
    if folder is None or not str(folder).strip():
        return DEFAULT_FOLDER
    folder = str(folder).strip()
    segments = folder.split("/")
    if len(segments) > MAX_FOLDER_DEPTH or not all(FOLDER_SEGMENT.fullmatch(s) for s in segments):
        raise InvalidMedia(
            "Invalid folder name",
            [{
                "field": "folder",
                "message": f"1 to {MAX_FOLDER_DEPTH} segments joined by '/', each of lowercase letters, "
                "digits, '-' and '_' (starting with a letter or digit, at most 64 characters)",
            }],
        )
    return folder


def object_key(folder, media_id, extension):
    """The key of an uploaded file."""
    return f"{folder}/{media_id}.{extension}"


def thumbnail_key(key):
    """The key of the thumbnail of the file at ``key`` (beside it, same name, ``.thumb.webp``)."""
    head, name = posixpath.split(key)
    stem = name.split(".", 1)[0] if "." in name else name
    return posixpath.join(head, stem + THUMBNAIL_SUFFIX) if head else stem + THUMBNAIL_SUFFIX


def public_url(base_url, key):
    """The URL the file is served at: ``<PUBLIC_BASE_URL>/files/<key>``."""
    return f"{base_url.rstrip('/')}/files/{key}"


def thumbnail_key_of(row):
    """The thumbnail key of a media row, or None when it has no thumbnail."""
    return thumbnail_key(row.r2_key) if row.thumbnail_url else None


def find_by_key(key):
    """``(row, is_thumbnail)`` of the media row a served key belongs to, or ``(None, False)``."""
    row = Media.get_or_none(Media.r2_key == key)
    if row is not None:
        return row, False
    name = posixpath.basename(key)
    if name.endswith(THUMBNAIL_SUFFIX):
        row = Media.get_or_none(Media.id == name[: -len(THUMBNAIL_SUFFIX)])
        if row is not None and thumbnail_key_of(row) == key:
            return row, True
    return None, False


# -- objects ------------------------------------------------------------------------------


def content_disposition(filename, attachment=False):
    """``inline``/``attachment`` with the original name, safe for any characters (RFC 6266)."""
    kind = "attachment" if attachment else "inline"
    if not filename:
        return kind
    ascii_name = "".join(c if 32 <= ord(c) < 127 and c not in '"\\' else "_" for c in filename)
    encoded = "".join(c if c.isascii() and (c.isalnum() or c in "!#$&+-.^_`|~") else _pct(c) for c in filename)
    return f"{kind}; filename=\"{ascii_name}\"; filename*=UTF-8''{encoded}"


def _pct(char):
    return "".join(f"%{byte:02X}" for byte in char.encode("utf-8"))


def put_file(bucket, key, file, size, content_type, md5=None, custom_metadata=None):
    """Stream ``size`` bytes of ``file`` (from its start) to ``key``; returns the R2Object."""
    file.seek(0)
    return bucket.put(
        key,
        FixedLengthStream(file, size),
        http_metadata={"content_type": content_type, "cache_control": STORED_CACHE_CONTROL},
        custom_metadata=custom_metadata or {},
        md5=md5,
    )


def delete_quietly(bucket, keys, reason):
    """Delete objects no row names any more (undoing a failed upload).

    A failure is logged, never raised: the request's outcome is already decided. Each key
    left behind gets its own ERROR line naming it; its pending record stays for the sweep.
    Deleted keys lose their pending records.
    """
    keys = [key for key in keys if key]
    if not keys:
        return
    try:
        bucket.delete(keys)
    except (R2Error, OSError) as ex:
        for key in keys:
            log.error(
                "orphaned object %s in MEDIA_BUCKET: not deleted after %s (%s); no media row names it, "
                "`media sweep` removes it", key, reason, ex,
            )
        return
    pending.clear_quietly(keys)


# -- rows and objects together ------------------------------------------------------------


def move(row, folder):
    """Put a media item in ``folder``: only its row changes, its objects keep their keys.

    The key is the file's permanent address: pages, caches and CDNs hold ``/files/<key>``,
    and the visibility rule finds a file by its key in published content. The folder only
    groups files in the library, so after a move a key's prefix may name an earlier folder.

    Returns:
        The updated row (``row`` itself when it is already in ``folder``).

    Raises:
        InvalidMedia: ``folder`` is not a valid folder name.
        MediaConflict: the row changed meanwhile (moved or purged); nothing was changed.
    """
    return edit(row, folder=folder)


def edit(row, folder=None, changes=None):
    """Move a media item to ``folder`` and set its metadata ``changes`` in ONE UPDATE: all or nothing.

    One statement, so a purge (or a move) committing in between cannot leave part of the
    edit behind: a failed purge puts back the row it deleted, and a move committed before
    the rest was refused would be put back with it.

    Args:
        row: the row as the caller read it (and judged the edit on).
        folder: the folder it should be in, or None to leave it alone.
        changes: ``{name: value}`` of ``alt``, ``caption``, ``tags``, ``original_name``.

    Returns:
        The row as stored after the edit (``row`` itself when there is nothing to change).

    Raises:
        InvalidMedia: ``folder`` is not a valid folder name.
        MediaConflict: the row is gone, or (``folder`` given) is no longer in the folder
            ``row`` was read in: nothing was changed.
    """
    values = {METADATA_FIELDS[name]: value for name, value in (changes or {}).items()}
    guard = Media.id == row.id
    if folder is not None:
        folder = check_folder(folder)
        if folder != row.folder:
            values[Media.folder] = folder
        # Compare-and-set on the folder: an edit decided on a row another request moved
        # (or purged) since it was read is refused whole, not applied in part.
        guard &= Media.folder == row.folder
    if not values:
        return row
    values[Media.updated_at] = now_ms()
    with database.atomic():
        if Media.update(values).where(guard).execute() != 1:
            raise changed_meanwhile()
        # Read before the commit: once it is done, a purge may delete the row.
        return Media.get_by_id(row.id)


# A refused purge's 409 lists this many of the items using the file.
MAX_USERS_LISTED = 20


def purge(bucket, row):
    """Delete a media item for good: its row, then its thumbnail, then its file.

    The file goes last: while it exists the item can be restored, so when a step fails the
    row is put back if, and only if, the file is still in the bucket (without its thumbnail
    when that was already deleted). What is put back is the row as the delete found it, read
    under the delete's own lock: ``row`` was read before, and a move or an edit committed
    since then would be undone by putting ``row`` back. Once deleted, the row takes no
    change (a write to it changes nothing, and says so: ``changed_meanwhile``), so nothing
    can commit between the delete and the putting back.

    Returns:
        The row as it was deleted.

    Raises:
        MediaInUse: content uses it (``content_using``); nothing was changed.
        MediaConflict: the row was purged since it was read; nothing was changed.
        R2Error: the bucket failed; see above for what is left.
    """
    started = now_ms()
    with database.atomic():
        row = locked(Media.select().where(Media.id == row.id)).first()
        # A purge that committed since ``row`` was read has deleted the row and its objects.
        if row is None:
            raise changed_meanwhile()
        # Asked in the purge's transaction, the row locked: no content write can name the
        # file anew between this answer and the delete. On SQLite the transaction's write
        # lock keeps them out; on PostgreSQL such a write holds the row FOR KEY SHARE while
        # it looks the file up again (``app.services.content.locks.hold_media``), so the lock
        # above waited for one in flight, whose reference this answer sees, and one coming
        # now waits for the delete, then finds no file and is refused.
        users = content_using(row.id)
        if users:
            raise MediaInUse("Media is used by content", {"contentIds": users})
        Media.delete().where(Media.id == row.id).execute()
        thumb_key = thumbnail_key_of(row)
        # Should the process die before the deletes below, the sweep finishes the purge.
        pending.record([thumb_key, row.r2_key], row.id, pending.PURGE)
    thumbnail_gone = thumb_key is None
    try:
        if thumb_key:
            bucket.delete(thumb_key)
            thumbnail_gone = True
        bucket.delete(row.r2_key)
    except BaseException:
        _restore_after_failed_purge(bucket, row, thumbnail_gone, started)
        raise
    pending.clear_quietly([thumb_key, row.r2_key])
    _forget_references(row.id)
    return row


def content_using(media_id, limit=MAX_USERS_LISTED):
    """The ids of up to ``limit`` content items whose use of file ``media_id`` forbids its purge.

    Any item having it as featured image (the row must stay for that foreign key), and any
    item not in the trash naming it in its data (``content_media``: a media field, a
    ``/files/<key>`` URL in its text), drafts too: validation refuses new references to a
    missing file (and looks them up again under the row's lock, so that no purge slips in
    between: ``app.services.content.locks``), and a page would show a broken image. An item
    in the trash does not hold the file back: it can be purged first, and one restored keeps
    its reference as stored.
    Featured images first, each item once; both lookups read an index.
    """
    featured = Content.select(Content.id).where(Content.featured_image == media_id).limit(limit)
    named = (Content.select(Content.id)
             .join(ContentMedia, on=(ContentMedia.content_id == Content.id))
             .where((ContentMedia.media_id == media_id) & Content.deleted_at.is_null())
             .limit(limit))
    users = [c.id for c in featured]
    if len(users) < limit:
        users += [c.id for c in named]
    return list(dict.fromkeys(users))[:limit]


def _forget_references(media_id):
    """Drop the content rows' references to a file purged for good.

    Only now: a purge that fails puts the row back, and its references must still be
    there (content naming a file is followed when the content is written, not when the
    file comes back; content written while the row was away is looked at again,
    ``_relink_meanwhile``). Left behind, they would change no answer (no file has that id).
    """
    try:
        ContentMedia.delete().where(ContentMedia.media_id == media_id).execute()
    except peewee.DatabaseError as ex:
        log.warning("media %s: references to the purged file not deleted (%s); the next rebuild drops them",
                    media_id, ex)


def _restore_after_failed_purge(bucket, row, thumbnail_gone, started):
    """Put ``row`` back when its file survived a failed purge (without a thumbnail that did not),
    and the references to it of content written since the purge ``started`` (epoch ms)."""
    if not _still_stored(bucket, row.r2_key, row.id):
        log.warning("media %s: %s was deleted although the bucket reported a failure; row not restored",
                    row.id, row.r2_key)
        return
    thumb_key = thumbnail_key_of(row)
    if thumb_key and (thumbnail_gone or not _still_stored(bucket, thumb_key, row.id)):
        row.thumbnail_url = None  # never point at a deleted thumbnail
    if _reinsert(row):
        _relink_meanwhile(started)


def _still_stored(bucket, key, media_id):
    """Whether ``key`` is in the bucket after a failed delete; True when the bucket cannot tell.

    Then the delete most likely did not happen, and of the two possible leftovers a row
    naming a missing object is visible and can be purged again, while an object without a
    row cannot be reached: so the row is kept.
    """
    try:
        return bucket.head(key) is not None
    except (R2Error, OSError) as ex:
        log.warning("media %s: cannot tell whether %s survived the failed purge (%s)", media_id, key, ex)
        return True


def _reinsert(row):
    """Put ``row`` back; whether it is back (a failure is logged: the bucket error is the one raised)."""
    try:
        with database.atomic():
            row.save(force_insert=True)
            # The row names its objects again (a deleted thumbnail was dropped from it).
            pending.clear([row.r2_key, thumbnail_key(row.r2_key)])
        return True
    except Exception as ex:  # noqa: BLE001 - the bucket error is the one to report
        for key in (row.r2_key, thumbnail_key_of(row)):
            if key:
                log.error("orphaned object %s in MEDIA_BUCKET: media %s row lost after a failed purge (%s); "
                          "`media sweep` removes it", key, row.id, ex)
        return False


# Content rows are stamped by the clock of the worker that wrote them, perhaps on another host.
CLOCK_MARGIN_MS = 60_000


def _relink_meanwhile(started):
    """Find the references to files of the content written since a failed purge ``started``.

    While the file's row was away, the triggers of a content write naming it found no such
    file; the content's other references stay as they are.
    """
    try:
        content_media.relink_written_since(database.obj, started - CLOCK_MARGIN_MS)
    except Exception as ex:  # noqa: BLE001 - the bucket error is the one to report
        log.warning("references of content written during a failed purge not recomputed (%s); "
                    "the next rebuild or write of that content does it", ex)


def soft_delete(row):
    """Hide a media item (``deleted_at`` set); its objects stay, so it can be restored.

    Returns:
        True when this call deleted it, False when it was already deleted.

    Raises:
        MediaConflict: the row is gone (a purge deleted it since it was read), so nothing
            was changed; a failing purge may yet put it back, live.
    """
    if row.deleted_at is not None:
        return False
    stamp = now_ms()
    with database.atomic():
        changed = Media.update(deleted_at=stamp, updated_at=stamp).where(
            Media.id == row.id, Media.deleted_at.is_null()
        ).execute()
        if not changed and not Media.select().where(Media.id == row.id).exists():
            raise changed_meanwhile()
    row.deleted_at, row.updated_at = stamp, stamp
    return changed == 1


def restore(row):
    """Bring a soft-deleted media item back; False when it was not deleted.

    Raises:
        MediaConflict: the row is gone (a purge deleted it since it was read); nothing was changed.
    """
    if row.deleted_at is None:
        return False
    stamp = now_ms()
    with database.atomic():
        if Media.update(deleted_at=None, updated_at=stamp).where(Media.id == row.id).execute() != 1:
            raise changed_meanwhile()
    row.deleted_at, row.updated_at = None, stamp
    return True
