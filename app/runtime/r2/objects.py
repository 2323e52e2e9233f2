"""What the MEDIA_BUCKET binding hands back: ``R2Object``, ``R2ObjectBody`` and ``R2Error``.

The shapes mirror the R2 Workers API (its objects, bodies and v4 error codes) with
snake_case names. Both backends (local folder and S3) build these same classes, so callers
never see which store answered.
"""

import email.utils
import json
from collections.abc import Callable, Iterator, MutableMapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

# R2's v4 error codes (the number at the end of every binding error message).
INTERNAL_ERROR = 10001
NO_SUCH_BUCKET = 10006
METADATA_TOO_LARGE = 10012
INVALID_OBJECT_NAME = 10020
INVALID_MAX_KEYS = 10022
INVALID_ARGUMENT = 10029
BAD_DIGEST = 10037
INVALID_RANGE = 10039
ENTITY_TOO_LARGE = 100100

BODY_USED_MESSAGE = (
    "Body has already been used. It can only be used once. "
    "Use tee() first if you need to read it twice."
)

# The order writeHttpMetadata uses, with the header each field becomes.
HTTP_METADATA_HEADERS = (
    ("content_type", "Content-Type"),
    ("content_language", "Content-Language"),
    ("content_disposition", "Content-Disposition"),
    ("content_encoding", "Content-Encoding"),
    ("cache_control", "Cache-Control"),
    ("cache_expiry", "Expires"),
)


EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
ONE_MILLISECOND = timedelta(milliseconds=1)


def to_millis(when: datetime) -> int:
    """Milliseconds since the epoch, in integers (float timestamps can be off by one)."""
    return (when - EPOCH) // ONE_MILLISECOND


def from_millis(millis: int) -> datetime:
    """The UTC datetime ``millis`` milliseconds after the epoch."""
    return EPOCH + millis * ONE_MILLISECOND


class R2Error(Exception):
    """A service error from the bucket, worded as R2 words it: ``<action>: <message> (<code>)``.

    Attributes:
        action: The binding method that failed (``get``, ``put``, ``list`` ...).
        code: R2's v4 error code, e.g. 10020 for an invalid key, 10001 for an outage.
    """

    def __init__(self, action: str, message: str, code: int = INTERNAL_ERROR):
        super().__init__(f"{action}: {message} ({code})")
        self.action = action
        self.code = code


class StoreUnreachable(R2Error):
    """The store did not answer at all (refused or reset connection, timeout): an outage.

    An error the store answered with (a 503, access denied) is a plain ``R2Error``; this
    one cost the caller a wait, which is what a circuit breaker wants to know.
    """


@dataclass
class R2Object:
    """Metadata of a stored object, as ``head``, ``put``, ``list`` and a failed ``get`` return it.

    ``http_metadata`` and ``custom_metadata`` are empty dicts on listed objects unless the
    list asked for them with ``include``, as R2's objects carry empty metadata objects.
    ``range`` is the part a ``get`` returned (the whole object for a full read) and the whole
    object for ``head``, as R2 reports it.
    """

    key: str
    version: str
    size: int
    etag: str
    uploaded: datetime
    http_metadata: dict | None = field(default_factory=dict)
    custom_metadata: dict | None = field(default_factory=dict)
    range: dict | None = None
    storage_class: str = "Standard"
    stored_checksums: dict = field(default_factory=dict)  # a SHA checksum given to put, hex

    @property
    def http_etag(self) -> str:
        """The etag quoted, ready for an ``ETag`` response header."""
        return f'"{self.etag}"'

    @property
    def checksums(self) -> dict:
        """Known checksums as hex: MD5 (the etag of every single-part upload) and the SHA
        checksum ``put`` was given, if any (R2 stores the one it checked)."""
        md5 = {"md5": self.etag} if len(self.etag) == 32 and "-" not in self.etag else {}
        return {**md5, **self.stored_checksums}

    def write_http_metadata(self, headers: MutableMapping[str, str]) -> None:
        """Set Content-Type, Content-Language, ... and Expires on ``headers`` from the metadata.

        An object listed without ``include=["http_metadata"]`` has none, so nothing is set.
        """
        for name, header in HTTP_METADATA_HEADERS:
            value = (self.http_metadata or {}).get(name)
            if value is None:
                continue
            if isinstance(value, datetime):
                value = email.utils.format_datetime(value.astimezone(UTC), usegmt=True)
            headers[header] = value

    def with_metadata(self, include: frozenset) -> "R2Object":
        """A copy keeping only the metadata ``list(include=...)`` asked for."""
        return replace(
            self,
            http_metadata=self.http_metadata if "http_metadata" in include else {},
            custom_metadata=self.custom_metadata if "custom_metadata" in include else {},
        )


class BodyStream:
    """Single-use iterator over an object's bytes, closing the source when done.

    Args:
        chunks: Iterator of ``bytes`` from the backend.
        close: Releases the source (a file handle or an HTTP connection).
    """

    def __init__(self, chunks: Iterator[bytes], close: Callable[[], None]):
        self._chunks = chunks
        self._close = close
        self.disturbed = False
        self.closed = False

    def __iter__(self) -> "BodyStream":
        return self

    def __next__(self) -> bytes:
        self.disturbed = True
        if self.closed:
            raise StopIteration
        try:
            return next(self._chunks)
        except BaseException:
            # StopIteration or an error: either way the source is finished with.
            self.close()
            raise

    def close(self) -> None:
        """Release the source; safe to call more than once (WSGI servers call it too)."""
        if not self.closed:
            self.closed = True
            self._close()


class R2ObjectBody(R2Object):
    """An ``R2Object`` with its content: ``body`` (iterator of chunks), ``bytes()``, ``text()``.

    The body can be consumed once, by iterating ``body`` or by one of the readers; a second
    read raises ``TypeError("Body has already been used. ...")`` as on R2. Close the object
    (or use it as a context manager) when abandoning a body unread, so the file or connection
    behind it is released at once rather than at garbage collection.
    """

    def __init__(self, obj: R2Object, body: BodyStream):
        super().__init__(**{name: getattr(obj, name) for name in R2Object.__dataclass_fields__})
        self._body = body

    @property
    def body(self) -> BodyStream:
        """The content as an iterator of ``bytes`` chunks (single use)."""
        return self._body

    @property
    def body_used(self) -> bool:
        """Whether the body has been (partly) read already."""
        return self._body.disturbed

    def bytes(self) -> bytes:
        """The whole content (R2's ``bytes()``)."""
        if self._body.disturbed:
            raise TypeError(BODY_USED_MESSAGE)
        return b"".join(self._body)

    def array_buffer(self) -> bytes:
        """The whole content (R2's ``arrayBuffer()``)."""
        return self.bytes()

    def text(self) -> str:
        """The content decoded as UTF-8, invalid bytes replaced like ``TextDecoder`` does."""
        return self.bytes().decode("utf-8", errors="replace")

    def json(self) -> Any:
        """The content parsed as JSON."""
        return json.loads(self.text())

    def close(self) -> None:
        """Release the file or connection behind an unread body."""
        self._body.close()

    def __enter__(self) -> "R2ObjectBody":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()
