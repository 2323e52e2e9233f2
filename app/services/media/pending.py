"""The intent log of media objects: keys being written or deleted that no row may name yet.

Storing a file and writing its row cannot be one transaction: the object goes first, and a
crash, a lost answer from the store or a failed cleanup in between would leave an object
that no media row names, invisible and never deleted. So before each object write (an
upload, its thumbnail) the key is recorded here in a committed transaction of its own, and
so are the keys a purge is about to delete. The row that names the object, or the confirmed
deletion, clears the record. (A move writes and deletes no object: it changes the row's
folder only. Records a move made before that, reason ``move``, are swept like any other.)

A record that outlives the grace period marks a possible orphan: ``app.services.media.sweep``
deletes its object when no media row names the key, then the record.
"""

import logging

import peewee

from app.db.models import MediaPendingObject, database, now_ms
from app.runtime.r2.guard import BucketUnavailable

log = logging.getLogger("sonicpy.media")

UPLOAD = "upload"
PURGE = "purge"


def _keys(keys):
    return list(dict.fromkeys(key for key in keys if key))


def record(keys, media_id, reason):
    """Record ``keys`` as pending for ``media_id`` (``reason``: upload or purge).

    Commits at once when called outside a transaction; inside one, the records commit (or
    roll back) with it. A key recorded again gets the new reason and time.
    """
    keys = _keys(keys)
    if not keys:
        return
    stamp = now_ms()
    rows = [{"key": key, "media_id": media_id, "reason": reason, "created_at": stamp} for key in keys]
    with database.atomic():
        (MediaPendingObject.insert_many(rows)
         .on_conflict(conflict_target=[MediaPendingObject.key],
                      preserve=[MediaPendingObject.media_id, MediaPendingObject.reason,
                                MediaPendingObject.created_at])
         .execute())


def clear(keys):
    """Forget ``keys``: a row names them now, or their objects are gone."""
    keys = _keys(keys)
    if keys:
        with database.atomic():
            MediaPendingObject.delete().where(MediaPendingObject.key.in_(keys)).execute()


def clear_quietly(keys):
    """``clear`` for cleanup paths: a failure is logged, never raised (the sweep drops the
    records later, once it finds nothing to delete)."""
    try:
        clear(keys)
    except peewee.PeeweeException as ex:
        log.warning("pending media records %s not cleared: %s", _keys(keys), ex)


def put_recorded(key, media_id, reason, put):
    """Record ``key`` as pending, then run ``put()`` (the object write) and return its result.

    A put the guard refused never reached the store, so its record is cleared again; after
    any other failure the store may hold the object (its answer lost), so the record stays.
    """
    record([key], media_id, reason)
    try:
        return put()
    except BucketUnavailable:
        clear_quietly([key])
        raise


def older_than(cutoff_ms, after_key, limit):
    """Up to ``limit`` records made before ``cutoff_ms`` with a key after ``after_key``
    (``""`` for the first page), in key order."""
    return list(
        MediaPendingObject.select()
        .where(MediaPendingObject.created_at < cutoff_ms, MediaPendingObject.key > after_key)
        .order_by(MediaPendingObject.key)
        .limit(limit)
    )


def recorded_since(keys, cutoff_ms):
    """Which of ``keys`` were recorded at or after ``cutoff_ms`` (work still in progress)."""
    keys = _keys(keys)
    if not keys:
        return set()
    query = MediaPendingObject.select(MediaPendingObject.key).where(
        MediaPendingObject.key.in_(keys), MediaPendingObject.created_at >= cutoff_ms
    )
    return {row.key for row in query}
