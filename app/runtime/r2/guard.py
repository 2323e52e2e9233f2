"""Keep a hung object store from taking every thread of a worker: a bulkhead and a breaker.

A call to a frozen S3 holds its thread until the client's timeouts run out. Without a
bound, a handful of media requests hold every thread of a gthread worker and every route
of that worker stops answering. ``BucketGuard`` bounds that harm in two ways:

* at most ``max_concurrent`` calls to the store run at once in this process; one more
  waits up to ``wait_seconds`` for a slot (a burst of uploads to a healthy store is served,
  not refused), then is refused with ``BucketUnavailable``. The wait is short and bounded:
  an unbounded queue would hold every thread while the store hangs, and none is waited for
  while the breaker is open;
* once a call gets no answer at all (``StoreUnreachable``: timeout, refused connection),
  the breaker opens: every call is refused at once for ``breaker_seconds``; then one call
  goes through as a probe while the others are still refused, and the breaker closes once
  a call is answered. Letting every caller probe would hold a thread per caller for the
  client's whole timeout each period, the health check's included.

Refusals carry ``retry_after`` (whole seconds) for a ``Retry-After`` header. An error the
store *answered* with (a 503, access denied) does not open the breaker: it cost no wait.

``guard_bucket(bucket, guard)`` wraps an ``R2Bucket`` whose backend is remote; a local
folder bucket is returned as it is. A body being streamed after ``get`` returned is not
counted: its reads are bounded by the client's read timeout.
"""

import logging
import math
import os
import threading
import time
from contextlib import contextmanager

from app.runtime.breaker import CircuitBreaker

from .bucket import R2Bucket
from .objects import INTERNAL_ERROR, R2Error, StoreUnreachable

log = logging.getLogger("sonicpy.media")

BUSY_RETRY_AFTER_SECONDS = 1

# One lock per process: a lock inherited through fork may be held by a thread that does not
# exist in the child.
_LOCKS = {}


def _process_lock():
    return _LOCKS.setdefault(os.getpid(), threading.Lock())


class BucketUnavailable(R2Error):
    """The guard refused a call without sending it: too many in flight, or the breaker is open.

    Attributes:
        retry_after: whole seconds after which a retry may succeed (at least 1).
    """

    def __init__(self, action, message, retry_after):
        super().__init__(action, message, INTERNAL_ERROR)
        self.retry_after = max(1, int(retry_after))


class BucketGuard:
    """A per-process limit on concurrent store calls plus a circuit breaker.

    Args:
        max_concurrent: calls to the store allowed at once in this process.
        breaker_seconds: how long calls are refused after one got no answer.
        wait_seconds: how long a call past ``max_concurrent`` waits for a slot (0: refused at once).
        clock: monotonic seconds (tests may pass their own).
    """

    def __init__(self, max_concurrent, breaker_seconds, wait_seconds=0.0, clock=time.monotonic):
        if max_concurrent < 1:
            raise ValueError("max_concurrent must be at least 1")
        self.max_concurrent = max_concurrent
        self.breaker_seconds = breaker_seconds
        self.wait_seconds = wait_seconds
        self._breaker = CircuitBreaker(breaker_seconds, clock=clock)
        # Keyed by pid: a forked worker starts with free slots of its own.
        self._slots = (os.getpid(), threading.BoundedSemaphore(max_concurrent))

    def _semaphore(self):
        pid = os.getpid()
        if self._slots[0] != pid:
            with _process_lock():
                if self._slots[0] != pid:
                    self._slots = (pid, threading.BoundedSemaphore(self.max_concurrent))
        return self._slots[1]

    @property
    def is_open(self):
        """Whether calls are being refused by the breaker right now."""
        return self._breaker.is_open

    @contextmanager
    def call(self, action, limited=True):
        """Run one store call inside the guard.

        Args:
            action: the R2 action's name, for errors and logs.
            limited: whether the call takes one of the ``max_concurrent`` slots. The health
                check's ping does not: busy media calls are not an outage, and reporting
                the bucket down for them would take a healthy worker out of a load balancer.
                It still waits for the breaker and feeds it.

        Raises:
            BucketUnavailable: the breaker is open, or ``max_concurrent`` calls kept running
                for ``wait_seconds``.
        """
        semaphore = self._semaphore() if limited else None
        if semaphore is not None and not self._take(semaphore):
            raise BucketUnavailable(
                action, f"Too many object store calls at once ({self.max_concurrent}); try again later.",
                BUSY_RETRY_AFTER_SECONDS,
            )
        try:
            # Asked only once a slot is held, so a refused caller never takes the probe's turn.
            if not self._breaker.allow():
                raise BucketUnavailable(action, "The object store is not answering; try again later.",
                                        math.ceil(self._breaker.remaining()))
            try:
                yield
            except StoreUnreachable as ex:
                self._trip(action, ex)
                raise
            except R2Error:
                self._breaker.succeeded()  # the store answered, even if with an error
                raise
            self._breaker.succeeded()
        finally:
            if semaphore is not None:
                semaphore.release()

    def _take(self, semaphore):
        """Take a slot now, or within ``wait_seconds`` unless the breaker is open."""
        if semaphore.acquire(blocking=False):
            return True
        return self.wait_seconds > 0 and not self._breaker.is_open and semaphore.acquire(timeout=self.wait_seconds)

    def _trip(self, action, ex):
        if not self._breaker.is_open:
            log.warning("MEDIA_BUCKET did not answer (%s): refusing media calls for %s s: %s",
                        action, self.breaker_seconds, ex)
        self._breaker.failed()


class GuardedBackend:
    """A bucket backend whose every call goes through a ``BucketGuard``."""

    def __init__(self, backend, guard):
        self.backend = backend
        self.guard = guard

    def __repr__(self):
        return f"GuardedBackend({self.backend!r})"

    def head(self, key):
        with self.guard.call("head"):
            return self.backend.head(key)

    def read(self, key, plan):
        with self.guard.call("get"):
            return self.backend.read(key, plan)

    def write(self, request):
        with self.guard.call("put"):
            return self.backend.write(request)

    def delete(self, keys):
        with self.guard.call("delete"):
            return self.backend.delete(keys)

    def list(self, prefix, delimiter, cursor, start_after, limit, include):
        with self.guard.call("list"):
            return self.backend.list(prefix, delimiter, cursor, start_after, limit, include)

    def ping(self):
        with self.guard.call("ping", limited=False):
            return self.backend.ping()

    def create_upload(self, key, http_metadata, custom_metadata):
        with self.guard.call("createMultipartUpload"):
            return self.backend.create_upload(key, http_metadata, custom_metadata)

    def upload_part(self, key, upload_id, part_number, payload):
        with self.guard.call("uploadPart"):
            return self.backend.upload_part(key, upload_id, part_number, payload)

    def upload_parts(self, key, upload_id):
        with self.guard.call("completeMultipartUpload"):
            return self.backend.upload_parts(key, upload_id)

    def complete_upload(self, key, upload_id, parts):
        with self.guard.call("completeMultipartUpload"):
            return self.backend.complete_upload(key, upload_id, parts)

    def abort_upload(self, key, upload_id):
        with self.guard.call("abortMultipartUpload"):
            return self.backend.abort_upload(key, upload_id)


def guard_bucket(bucket, guard):
    """``bucket`` with its calls going through ``guard`` when its store is remote."""
    if guard is None or not getattr(bucket.backend, "remote", False):
        return bucket
    return R2Bucket(GuardedBackend(bucket.backend, guard), binding=bucket.binding)
