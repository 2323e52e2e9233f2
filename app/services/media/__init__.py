"""The media library: files in the MEDIA_BUCKET binding, described by rows of ``media``.

What differs from SonicJS's media handling, on purpose:

* the type comes from the file's bytes (``sniff``), never from the client's header;
* width and height are read for JPEG (every SOF marker), PNG, GIF and WebP, and raster
  images get a WebP thumbnail stored beside them (``images``), one decode at a time per
  process and within a pixel and byte budget;
* "soft" delete keeps the object, so ``restore`` brings the file back; ``purge`` (admins,
  permission ``media.purge``) deletes object and row for good;
* moving a file to another folder changes its ``folder`` only: its key, and so its URL,
  never change, and the pages that embed it keep working;
* every object key is recorded in an intent log before its object is written or deleted
  (``pending``), so objects left without a row are found and removed (``sweep``);
* calls to a remote bucket go through a per-process limit and a circuit breaker
  (``app.runtime.r2.guard``): a hung store answers 503 at once instead of holding threads;
* timestamps (``uploaded_at``, ``updated_at``, ``deleted_at``) are epoch milliseconds, as
  in every other table (SonicJS stores seconds in ``media``), and so is a record's
  ``uploadedAt`` in every answer, the upload's too (SonicJS's upload answer has an ISO string).

Who may do what (permissions from migrations 0004 and 0013):

* upload: ``media.upload`` (admin, editor, author); list and read: ``media.read`` (all roles),
  limited for those without ``media.upload`` to files published content uses and their
  own uploads (``visibility``);
* change alt, caption, tags or folder: ``media.update`` on one's own uploads; on anyone's
  with ``media.delete`` too (admin, editor);
* soft delete and restore: one's own uploads with ``media.upload`` (so authors can take back
  what they uploaded); anyone's with ``media.delete``;
* purge: ``media.purge`` (admin only).

Service errors (``errors``) are ServiceErrors; ``app.api.errors`` maps their kinds to HTTP
statuses.
"""

from app.runtime.r2.guard import BucketGuard, guard_bucket
from app.services.cache import Namespace, invalidate
from app.services.plugins import hooks

from . import library_queries, sniff, storage, uploads, visibility
from .errors import FileTooLarge, InvalidMedia, MediaConflict, MediaError, MediaInUse, UnsupportedType

MANAGE_ANY_PERMISSION = "media.delete"


def can_update(user, row):
    """Whether ``user`` may change the metadata or folder of ``row``."""
    return user.can("media.update") and (row.uploaded_by_id == user.id or user.can(MANAGE_ANY_PERMISSION))


def can_delete(user, row):
    """Whether ``user`` may soft-delete or restore ``row``."""
    return user.can(MANAGE_ANY_PERMISSION) or (row.uploaded_by_id == user.id and user.can("media.upload"))


def may_delete_some(user):
    """Whether ``user`` may soft-delete anything at all (checked before looking rows up)."""
    return user.can(MANAGE_ANY_PERMISSION) or user.can("media.upload")


def to_record(row):
    """The API shape of a media row: SonicJS's ``file`` object plus what it lacks.

    SonicJS's keys are kept as they are (``r2_key`` in snake case among camelCase ones).
    """
    return {
        "id": row.id,
        "filename": row.filename,
        "originalName": row.original_name,
        "mimeType": row.mime_type,
        "size": row.size,
        "width": row.width,
        "height": row.height,
        "folder": row.folder,
        "r2_key": row.r2_key,
        "publicUrl": row.public_url,
        "thumbnailUrl": row.thumbnail_url,
        "alt": row.alt,
        "caption": row.caption,
        "tags": row.tags if isinstance(row.tags, list) else [],
        "uploadedBy": row.uploaded_by_id,
        "uploadedAt": row.uploaded_at,
        "updatedAt": row.updated_at,
        "deletedAt": row.deleted_at,
    }


class MediaLibrary:
    """The media operations with the app's settings bound; the bucket is passed per call
    (it is the request's ``env.MEDIA_BUCKET``) and reached through this library's guard.

    Every write, once committed, invalidates the ``media`` cache namespace (and so the
    content that embeds media) when the app has a cache.

    Args:
        settings: the app's Settings (``max_upload_bytes``, ``public_base_url``,
            ``media_store_concurrency``, ``media_store_breaker_seconds``, ``media_store_wait_ms``).
        cache: the app's ThreeTierCache, or None.
    """

    def __init__(self, settings, cache=None):
        self.settings = settings
        self._cache = cache
        # Set by the core-media plugin: () -> an upload policy (max_upload_bytes, allows(mime)) or None.
        self.policy_source = None
        self.guard = BucketGuard(settings.media_store_concurrency, settings.media_store_breaker_seconds,
                                 settings.media_store_wait_ms / 1000)

    def bucket(self, bucket):
        """``bucket`` with every call bounded by the guard (a local folder bucket as it is)."""
        return guard_bucket(bucket, self.guard)

    @property
    def max_upload_bytes(self):
        """The largest file accepted, in bytes: ``MEDIA_MAX_UPLOAD_BYTES``, or less if core-media says so."""
        policy = self._policy()
        limit = getattr(policy, "max_upload_bytes", None)
        return min(limit, self.settings.max_upload_bytes) if limit else self.settings.max_upload_bytes

    def _policy(self):
        return self.policy_source() if self.policy_source is not None else None

    def check_type(self, spooled):
        """Refuse a file of a type the core-media settings leave out (UnsupportedType, 415)."""
        policy = self._policy()
        if getattr(policy, "allowed_types", None) is None or spooled.size == 0:
            return  # an empty file has no type: the store refuses it as empty (422)
        kind = sniff.detect(spooled.head, spooled.is_text)
        if kind is not None and not policy.allows(kind.mime):  # unrecognised: the store refuses it
            raise UnsupportedType("Unsupported file type",
                                  {"filename": spooled.original_name, "allowed": list(policy.allowed_types)})

    def public_url(self, key):
        """The URL of the object at ``key``."""
        return storage.public_url(self.settings.public_base_url, key)

    def is_published(self, media_id):
        """Whether live published content uses file ``media_id`` (``visibility``), cached.

        The answer is kept in the ``content`` namespace: publishing, unpublishing or
        editing content (and any media write) makes it stale.
        """
        if self._cache is None:
            return visibility.is_published(media_id)
        found, _ = self._cache.get_or_load("content", ("media-published", media_id),
                                           lambda: visibility.is_published(media_id))
        return found

    def changed(self):
        """Invalidate cached reads of media after a committed write."""
        invalidate(self._cache, Namespace.MEDIA)

    def upload(self, bucket, spooled, meta, user_id):
        """Store a spooled upload and insert its row; see ``uploads.store``."""
        self.check_type(spooled)
        row = uploads.store(self.bucket(bucket), spooled, meta, user_id, self.settings.public_base_url)
        self.changed()
        hooks.after("media_upload", user_id=user_id, media=row)
        return row

    def move(self, row, folder):
        """Put ``row`` in ``folder`` (its key and URL unchanged); see ``storage.move``."""
        return self.edit(row, folder=folder)

    def edit(self, row, folder=None, changes=None):
        """Move ``row`` and change its metadata in one write, all or (409) none; see ``storage.edit``."""
        edited = storage.edit(row, folder, changes)
        if edited is not row:
            self.changed()
        return edited

    def purge(self, bucket, row):
        """Delete ``row`` and its objects for good; see ``storage.purge``."""
        try:
            purged = storage.purge(self.bucket(bucket), row)
            hooks.after("media_delete", media=purged, purged=True)
        finally:
            # Even a failed purge may have removed the row or its thumbnail.
            self.changed()

    def soft_delete(self, row):
        """Soft-delete ``row``; see ``storage.soft_delete``."""
        done = storage.soft_delete(row)
        self.changed()
        if done:  # a concurrent delete that got there first has fired it already
            hooks.after("media_delete", media=row, purged=False)
        return done

    def soft_delete_many(self, ids):
        """Soft-delete the live files among ``ids`` in one transaction; the rows deleted.

        Each deleted file gets its ``after_media_delete`` hook, as a single delete does.
        """
        deleted = library_queries.soft_delete_many(ids)
        if deleted:
            self.changed()
        for row in deleted:
            hooks.after("media_delete", media=row, purged=False)
        return deleted

    def soft_delete_all(self, ids):
        """Soft-delete every file of ``ids`` in one transaction, or (MediaConflict) none;
        each gets its ``after_media_delete`` hook. The caller has judged each one."""
        deleted = library_queries.soft_delete_all(ids)
        self.changed()
        for row in deleted:
            hooks.after("media_delete", media=row, purged=False)
        return deleted

    def move_all(self, ids, folder):
        """Put every file of ``ids`` in ``folder`` in one transaction, or (MediaConflict) none.

        Raises:
            InvalidMedia: ``folder`` is not a valid folder name (checked before any write).
        """
        moved = library_queries.move_all(ids, storage.check_folder(folder))
        if moved:
            self.changed()
        return moved

    def restore(self, row):
        """Undo the soft delete of ``row``; see ``storage.restore``."""
        done = storage.restore(row)
        self.changed()
        return done

    find_by_key = staticmethod(storage.find_by_key)
    check_folder = staticmethod(storage.check_folder)


__all__ = [
    "FileTooLarge", "InvalidMedia", "MediaConflict", "MediaError", "MediaInUse", "MediaLibrary",
    "UnsupportedType", "can_delete", "can_update", "may_delete_some", "to_record",
]
