"""Uploads: spool each file part with a bound, check what it is, store object then row.

A file part is copied in 64 KiB chunks into a ``SpooledTemporaryFile`` (memory up to 1 MiB,
disk beyond) while its bytes are counted, hashed (MD5, which the bucket verifies) and
checked for being UTF-8 text. Counting stops the copy at ``limit + 1`` bytes, so an
oversized file is never read further and nothing of it is stored.

The form's other fields (``folder``, ``alt``, ``caption``, ``tags``) may come after the
file in the body, so the whole form is read before anything is stored; then each file is
sniffed, measured and stored: its key recorded as pending first (``pending``), the object
second, the row last (clearing the record in the same transaction), the object deleted
again if the row cannot be written. Whatever a crash or a lost answer leaves behind is
found through the record by ``media sweep``.

A file larger than ``MULTIPART_THRESHOLD`` goes to the bucket as an R2 multipart upload,
in parts of ``PART_SIZE`` (R2's minimum; all equal but the last): no single request to the
store carries the whole file, so a slow or flaky link fails one part, not a 50 MiB body.
A multipart upload that fails before it completes is aborted, so its parts do not stay
in the store unnamed. R2's parts take no MD5, so such a file is checked by the store
only through the parts' own integrity (the whole-file MD5 applies to single puts).
"""

import hashlib
import logging
import tempfile
from dataclasses import dataclass, field

import msgspec

from app.db.models import Media, database, new_id, now_ms
from app.runtime.r2 import FixedLengthStream, R2Error
from app.runtime.r2.multipart import MIN_PART_SIZE

from . import pending, sniff, storage
from .errors import FileTooLarge, InvalidMedia, UnsupportedType

log = logging.getLogger("sonicpy.media")

CHUNK_SIZE = 64 * 1024
SPOOL_IN_MEMORY = 1024 * 1024
MAX_FIELD_BYTES = 16 * 1024
MAX_FILES_PER_REQUEST = 20
# Room in a request body for the form's fields and part headers beside the file(s).
FORM_OVERHEAD_BYTES = 256 * 1024
MAX_NAME_LENGTH = 255
MAX_ALT_LENGTH = 1000
MAX_CAPTION_LENGTH = 2000
MAX_TAGS = 32
MAX_TAG_LENGTH = 64
META_FIELDS = ("folder", "alt", "caption", "tags")
MULTIPART_THRESHOLD = 10 * 1024 * 1024
PART_SIZE = MIN_PART_SIZE


@dataclass
class SpooledFile:
    """One uploaded file, held in a spooled temporary file until stored."""

    original_name: str
    file: tempfile.SpooledTemporaryFile
    size: int
    md5: str
    head: bytes
    is_text: bool

    def close(self):
        """Free the memory or temporary file."""
        self.file.close()


@dataclass
class UploadMeta:
    """The validated non-file fields of an upload form."""

    folder: str = storage.DEFAULT_FOLDER
    alt: str | None = None
    caption: str | None = None
    tags: list = field(default_factory=list)


def too_large(limit):
    """The FileTooLarge error for ``limit`` bytes."""
    return FileTooLarge("File too large", {"max_bytes": limit})


def spool(stream, limit, original_name):
    """Copy ``stream`` into a SpooledFile; ``FileTooLarge`` as soon as it passes ``limit`` bytes."""
    out = tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY)
    digest = hashlib.md5(usedforsecurity=False)  # an integrity check the bucket verifies
    probe = sniff.TextProbe()
    head = bytearray()
    size = 0
    try:
        # Never ask for more than one byte past the limit: that byte is what proves "too large".
        while chunk := stream.read(min(CHUNK_SIZE, limit + 1 - size)):
            size += len(chunk)
            if size > limit:
                raise too_large(limit)
            out.write(chunk)
            digest.update(chunk)
            probe.feed(chunk)
            if len(head) < sniff.HEAD_BYTES:
                head += chunk[: sniff.HEAD_BYTES - len(head)]
    except BaseException:
        out.close()
        raise
    out.seek(0)
    return SpooledFile(clean_name(original_name), out, size, digest.hexdigest(), bytes(head), probe.finish())


def clean_name(name):
    """The client's file name without any path and control characters, at most 255 characters."""
    name = (name or "").replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(char for char in name if char.isprintable()).strip()
    return name[:MAX_NAME_LENGTH] or "upload"


def invalid(field_name, message, error="Validation failed"):
    """An InvalidMedia naming one field."""
    return InvalidMedia(error, [{"field": field_name, "message": message}])


def read_field(part):
    """A text field's value, at most ``MAX_FIELD_BYTES`` of UTF-8."""
    data = part.stream.read(MAX_FIELD_BYTES + 1)
    if len(data) > MAX_FIELD_BYTES:
        raise invalid(part.name, "field too long")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise invalid(part.name, "not UTF-8 text") from None


def clean_text(name, value, max_length):
    """An optional text (alt, caption): stripped, bounded, without NUL; blank becomes None."""
    if value is None:
        return None
    value = value.strip()
    if "\x00" in value or len(value) > max_length:
        raise invalid(name, f"at most {max_length} characters, no NUL")
    return value or None


def clean_tags(tags):
    """Tags from a list, a JSON array string or a comma-separated string: stripped, unique, bounded."""
    if tags is None:
        return []
    if isinstance(tags, str):
        text = tags.strip()
        if text.startswith("["):
            try:
                tags = msgspec.json.decode(text, type=list[str])
            except msgspec.MsgspecError:
                raise invalid("tags", "not a JSON array of strings") from None
        else:
            tags = text.split(",")
    cleaned = []
    for tag in (t.strip() for t in tags):
        if not tag or tag in cleaned:
            continue
        if "\x00" in tag or len(tag) > MAX_TAG_LENGTH:
            raise invalid("tags", f"each tag at most {MAX_TAG_LENGTH} characters, no NUL")
        cleaned.append(tag)
    if len(cleaned) > MAX_TAGS:
        raise invalid("tags", f"at most {MAX_TAGS} tags")
    return cleaned


def parse_meta(fields):
    """UploadMeta from the form's text fields (``InvalidMedia`` when one is invalid)."""
    return UploadMeta(
        folder=storage.check_folder(fields.get("folder")),
        alt=clean_text("alt", fields.get("alt"), MAX_ALT_LENGTH),
        caption=clean_text("caption", fields.get("caption"), MAX_CAPTION_LENGTH),
        tags=clean_tags(fields.get("tags")),
    )


def store(bucket, upload, meta, user_id, base_url):
    """Store one spooled file: sniff, measure, put the object (and thumbnail), insert the row.

    Returns:
        The new Media row.

    Raises:
        InvalidMedia: empty file, or an image that is unreadable or too large to process.
        UnsupportedType: the content is not an allowed type.
        R2Error: the bucket failed; no row exists, and an object the store may have taken
            despite the error keeps its pending record for the sweep.
    """
    if upload.size == 0:
        raise invalid("file", "the file is empty", "File validation failed")
    kind = sniff.detect(upload.head, upload.is_text)
    if kind is None:
        raise UnsupportedType(
            "Unsupported file type",
            {"filename": upload.original_name, "allowed": [t.mime for t in sniff.ALLOWED_TYPES]},
        )
    width = height = thumbnail = None
    if kind.raster:
        width, height = _measure(upload)
        thumbnail = _thumbnail(upload)
    media_id = new_id()
    key = storage.object_key(meta.folder, media_id, kind.extension)
    content_type = "text/plain; charset=utf-8" if kind is sniff.TEXT else kind.mime
    custom = {"originalName": upload.original_name, "uploadedBy": user_id, "mediaId": media_id}
    pending.put_recorded(key, media_id, pending.UPLOAD, lambda: put_object(bucket, key, upload, content_type, custom))
    stored = [key]
    try:
        thumb_key = _put_thumbnail(bucket, key, thumbnail, custom) if thumbnail else None
        stored.append(thumb_key)
        stamp = now_ms()
        with database.atomic():
            row = Media.create(
                id=media_id, filename=f"{media_id}.{kind.extension}", original_name=upload.original_name,
                mime_type=kind.mime, size=upload.size, width=width, height=height, folder=meta.folder,
                r2_key=key, public_url=storage.public_url(base_url, key),
                thumbnail_url=storage.public_url(base_url, thumb_key) if thumb_key else None,
                alt=meta.alt, caption=meta.caption, tags=meta.tags, uploaded_by=user_id,
                uploaded_at=stamp, updated_at=stamp,
            )
            pending.clear(stored)
        return row
    except BaseException:
        storage.delete_quietly(bucket, stored, f"failed upload of {key}")
        raise


def put_object(bucket, key, upload, content_type, custom):
    """Store the spooled file at ``key``: one put, or a multipart upload above ``MULTIPART_THRESHOLD``."""
    if upload.size <= MULTIPART_THRESHOLD:
        return storage.put_file(bucket, key, upload.file, upload.size, content_type, upload.md5, custom)
    return put_multipart(bucket, key, upload, content_type, custom)


def put_multipart(bucket, key, upload, content_type, custom):
    """Store the spooled file at ``key`` as a multipart upload of ``PART_SIZE`` parts.

    Raises:
        R2Error: the store failed; the upload was aborted (or, when even that failed, its
            id logged), so no part is left waiting for a ``complete`` that never comes.
    """
    multipart = bucket.create_multipart_upload(
        key, http_metadata={"content_type": content_type, "cache_control": storage.STORED_CACHE_CONTROL},
        custom_metadata=custom,
    )
    try:
        upload.file.seek(0)
        parts = []
        for number, offset in enumerate(range(0, upload.size, PART_SIZE), start=1):
            length = min(PART_SIZE, upload.size - offset)
            parts.append(multipart.upload_part(number, FixedLengthStream(upload.file, length)))
        return multipart.complete(parts)
    except BaseException:
        _abort_quietly(multipart)
        raise


def _abort_quietly(multipart):
    """Abort a failed multipart upload; a failure to abort is logged, never raised over the first."""
    try:
        multipart.abort()
    except (R2Error, OSError) as ex:
        log.error("multipart upload %s of %s not aborted after a failed upload: %s",
                  multipart.upload_id, multipart.key, ex)


def _images():
    """The Pillow-backed module, imported by a worker's first image upload (about 2 MB a worker
    that only serves reads never holds)."""
    from . import images

    return images


def _measure(upload):
    images = _images()
    try:
        found = images.dimensions(upload.file)
    except images.ImageTooLarge as ex:
        raise invalid("file", str(ex), "Image too large to process") from None
    except images.UnreadableImage:
        raise invalid("file", "the image cannot be read", "File validation failed") from None
    return found.width, found.height


def _thumbnail(upload):
    """The thumbnail's bytes, or None: a thumbnail that cannot be made never fails the upload."""
    images = _images()
    try:
        return images.thumbnail(upload.file)
    except (images.UnreadableImage, images.ThumbnailSkipped, MemoryError) as ex:
        log.warning("no thumbnail for %r: %s", upload.original_name, ex)
        return None


def _put_thumbnail(bucket, key, data, custom):
    """The thumbnail's key once stored, or None: a failed thumbnail never fails the upload.

    The store may have taken a thumbnail whose answer was lost; its pending record stays,
    so the sweep removes it (no row will name it).
    """
    thumb_key = storage.thumbnail_key(key)
    try:
        pending.put_recorded(thumb_key, custom["mediaId"], pending.UPLOAD, lambda: bucket.put(
            thumb_key, data,
            http_metadata={"content_type": storage.THUMBNAIL_TYPE, "cache_control": storage.STORED_CACHE_CONTROL},
            custom_metadata={"mediaId": custom["mediaId"], "thumbnailOf": key},
        ))
    except R2Error as ex:
        log.warning("thumbnail of %s not stored: %s", key, ex)
        return None
    return thumb_key
