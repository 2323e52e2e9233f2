"""Values for ``put``: bytes, str, None or a stream, always turned into a stream of known length.

Both backends read the same ``FixedLengthStream``, in chunks, so an upload is never held
whole in memory and a stream that ends early is caught before anything is published.
"""

import io
from typing import Any

from .objects import ENTITY_TOO_LARGE, R2Error

MAX_VALUE_SIZE = 5 * 1024**3 - 5 * 1024**2
KNOWN_LENGTH_MESSAGE = (
    "Provided readable stream must have a known length (request/response body or readable "
    "half of FixedLengthStream)"
)


class FixedLengthStream(io.RawIOBase):
    """A readable of exactly ``length`` bytes taken from ``source`` (R2's FixedLengthStream).

    Wrap a stream whose size is known but not discoverable, such as a WSGI request body with
    its Content-Length, before passing it to ``put``. Reading stops at ``length``; a source
    that ends early raises ``ValueError`` so a truncated upload is never stored. Seeking is
    relative to where the source stood when wrapped (boto3 rewinds with ``seek(0)`` before a
    retry), and only offered when the source itself can seek.
    """

    def __init__(self, source: Any, length: int):
        super().__init__()
        if isinstance(length, bool) or not isinstance(length, int) or length < 0:
            raise TypeError("length must be a non-negative integer")
        self._source = source
        self.length = length
        self._position = 0
        self._start = source.tell() if _seekable(source) else None

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return self._start is not None

    def tell(self) -> int:
        return self._position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        if self._start is None:
            raise io.UnsupportedOperation("seek")
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._position, io.SEEK_END: self.length}[whence]
        self._position = max(0, min(self.length, base + offset))
        self._source.seek(self._start + self._position)
        return self._position

    def read(self, size: int = -1) -> bytes:
        remaining = self.length - self._position
        wanted = remaining if size is None or size < 0 else min(size, remaining)
        if wanted == 0:
            return b""
        data = self._source.read(wanted)
        if isinstance(data, str):
            data = data.encode("utf-8")
        if not data:
            raise ValueError(
                f"Stream ended after {self._position} of its declared {self.length} bytes"
            )
        self._position += len(data)
        return data

    def readinto(self, buffer) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


def _seekable(source: Any) -> bool:
    try:
        return bool(source.seekable())
    except (AttributeError, OSError, ValueError):
        return False


def _stream_length(source: Any) -> int:
    """Bytes left in a file-like ``source``, or ``TypeError`` when it cannot be known."""
    if _seekable(source):
        position = source.tell()
        end = source.seek(0, io.SEEK_END)
        source.seek(position)
        return end - position
    raise TypeError(KNOWN_LENGTH_MESSAGE)


def to_payload(value: Any) -> FixedLengthStream:
    """Turn a ``put`` value (bytes, str, None or a file-like) into a stream of known length.

    Raises:
        TypeError: Unsupported type, or a stream whose length cannot be determined.
        R2Error: 100100 when the value is larger than R2 accepts in one upload.
    """
    if isinstance(value, FixedLengthStream):
        payload = value
    elif value is None:
        payload = FixedLengthStream(io.BytesIO(b""), 0)
    elif isinstance(value, str):
        data = value.encode("utf-8")
        payload = FixedLengthStream(io.BytesIO(data), len(data))
    elif isinstance(value, (bytes, bytearray, memoryview)):
        data = bytes(value)
        payload = FixedLengthStream(io.BytesIO(data), len(data))
    elif hasattr(value, "read"):
        payload = FixedLengthStream(value, _stream_length(value))
    else:
        raise TypeError(f"put: unsupported value type {type(value).__name__}")
    if payload.length > MAX_VALUE_SIZE:
        raise R2Error(
            "put", "Your proposed upload exceeds the maximum allowed object size.", ENTITY_TOO_LARGE
        )
    return payload
