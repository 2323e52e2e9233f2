"""The upload body is streamed, never held whole: bounded reads, bounded memory.

``uploads.spool`` is fed a stream that records every read and makes its bytes on demand,
so the test sees exactly how much was asked for and read, and (with tracemalloc) how much
memory the copy took. The request-level test records the reads of ``wsgi.input`` itself.
"""

import hashlib
import io
import tracemalloc

import pytest
import webtest

from app.db.models import Media
from app.services.media import FileTooLarge, uploads
from app.services.media.uploads import CHUNK_SIZE, SPOOL_IN_MEMORY
from tests.fixtures.app import client_for
from tests.fixtures.media import bucket_keys, upload

pytestmark = pytest.mark.backends

MIB = 1024 * 1024


class RecordingStream(io.RawIOBase):
    """``size`` bytes of ASCII text made on demand; records each read as (asked, returned)."""

    def __init__(self, size):
        super().__init__()
        self.remaining = size
        self.reads = []
        self.digest = hashlib.md5(usedforsecurity=False)

    def readable(self):
        return True

    def read(self, size=-1):
        count = self.remaining if size is None or size < 0 else min(size, self.remaining)
        data = b"abcdefgh" * (count // 8) + b"abcdefgh"[: count % 8]
        self.remaining -= count
        self.digest.update(data)
        self.reads.append((size, count))
        return data

    @property
    def bytes_read(self):
        return sum(count for _, count in self.reads)


def assert_bounded_reads(stream, most):
    """Every read asked for a size, at most ``most`` bytes (never "all of it")."""
    asked = [size for size, _ in stream.reads]
    assert all(size is not None and 0 < size <= most for size in asked), asked


def test_oversize_stream_is_read_up_to_one_byte_past_the_limit():
    limit = 3 * CHUNK_SIZE + 123  # not a multiple of the chunk: the last read must shrink
    stream = RecordingStream(10 * MIB)
    with pytest.raises(FileTooLarge) as caught:
        uploads.spool(stream, limit, "big.txt")
    assert caught.value.details == {"max_bytes": limit}
    assert stream.bytes_read == limit + 1
    assert stream.remaining == 10 * MIB - limit - 1  # the rest is never touched
    assert_bounded_reads(stream, CHUNK_SIZE)


def test_stream_at_the_limit_is_spooled_whole():
    limit = 2 * CHUNK_SIZE
    stream = RecordingStream(limit)
    spooled = uploads.spool(stream, limit, "exact.txt")
    try:
        assert (spooled.size, spooled.md5, spooled.is_text) == (limit, stream.digest.hexdigest(), True)
        assert stream.bytes_read == limit
        assert_bounded_reads(stream, CHUNK_SIZE)
    finally:
        spooled.close()


def test_large_upload_rolls_to_disk_and_memory_stays_bounded():
    size = 16 * MIB
    stream = RecordingStream(size)
    tracemalloc.start()
    try:
        spooled = uploads.spool(stream, 50 * MIB, "video.txt")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    try:
        # The in-memory buffer, one chunk and the copy made when rolling over: a few MiB at
        # most, whatever the size of the upload (16 MiB here).
        assert peak < 3 * SPOOL_IN_MEMORY, peak
        assert spooled.file._rolled  # past SPOOL_IN_MEMORY the spool is a file on disk
        spooled.file.seek(0, io.SEEK_END)
        assert spooled.file.tell() == size == spooled.size
        assert spooled.md5 == stream.digest.hexdigest()
        assert_bounded_reads(stream, CHUNK_SIZE)
    finally:
        spooled.close()


def test_small_upload_stays_in_memory():
    spooled = uploads.spool(RecordingStream(SPOOL_IN_MEMORY - 1), 50 * MIB, "small.txt")
    try:
        assert not spooled.file._rolled
    finally:
        spooled.close()


class RecordingInput(io.RawIOBase):
    """Wraps ``wsgi.input`` and records the size asked for by every read."""

    def __init__(self, inner, reads):
        super().__init__()
        self._inner = inner
        self._reads = reads

    def readable(self):
        return True

    def read(self, size=-1):
        data = self._inner.read(size)
        self._reads.append((size, len(data)))
        return data

    def readline(self, size=-1):
        data = self._inner.readline(size)
        self._reads.append((size, len(data)))
        return data


@pytest.fixture
def env(media_env):
    return media_env


def test_request_body_is_read_in_bounded_chunks_and_not_past_the_limit(env, make_user):
    _, headers = make_user("author")
    limit = 200_000
    app = client_for(env, max_upload_bytes=limit).app
    reads = []

    def recording_app(environ, start_response):
        environ["wsgi.input"] = RecordingInput(environ["wsgi.input"], reads)
        return app(environ, start_response)

    client = webtest.TestApp(recording_app)
    # Over the limit, but within the declared-length allowance for form fields: only the
    # counting while streaming can stop it.
    response = upload(client, headers, "big.txt", b"a" * (limit + 150_000), status=413)
    read = sum(count for _, count in reads)
    assert read < response.request.content_length  # stopped before the end of the body
    assert read <= limit + 2 * CHUNK_SIZE  # the limit, plus the parser's read-ahead
    assert all(size is not None and 0 < size <= CHUNK_SIZE for size, _ in reads), reads
    assert Media.select().count() == 0 and bucket_keys(env) == []
