"""Fixed-window attempt counters in the CACHE_KV binding (shared by every worker and host).

Each bucket (say "login attempts from IP x") is one KV key holding ``{"count", "reset"}``,
``reset`` being the epoch second its window ends. A bucket is *limited* while it holds
``attempts`` hits or more and its window has not ended; after that it starts afresh.

Two deliberate trade-offs:

* KV has no atomic increment, so two requests racing on one key may count once. A limit
  that is a little soft under a burst is acceptable; a lock service is not worth it here.
* KV refuses TTLs under 60 s, so keys live at least that long; the window itself is kept by
  ``reset`` in the value (checked with this limiter's clock), never by the TTL alone.

A KV outage must not lock everyone out: every KV failure is logged as a warning and the
request is let through (fail open).
"""

import hashlib
import logging
import math
import time

import msgspec

from app.runtime.kv import KVError
from app.runtime.kv.namespace import MIN_EXPIRATION_TTL

log = logging.getLogger("sonicpy.ratelimit")

KEY_PREFIX = "ratelimit:"


def bucket(scope, identity):
    """The KV key of ``identity`` (an IP, an email) in ``scope``; the identity is hashed.

    Hashing keeps keys short, within KV's 512 bytes, and free of personal data in the cache.
    """
    digest = hashlib.sha256(str(identity).strip().lower().encode("utf-8")).hexdigest()[:32]
    return f"{KEY_PREFIX}{scope}:{digest}"


class RateLimiter:
    """Counts attempts per bucket over a fixed window.

    Args:
        kv: the KV namespace (``env.CACHE_KV``); None disables limiting (an env without KV).
        attempts: hits allowed per window.
        window_seconds: the window length.
        clock: epoch seconds now; tests pass a fake clock to end a window without sleeping.
    """

    def __init__(self, kv, attempts, window_seconds, clock=time.time):
        self._kv = kv
        self.attempts = attempts
        self.window = window_seconds
        self._clock = clock

    def retry_after(self, *buckets):
        """Seconds until the most limited of ``buckets`` frees up, or None if none is limited."""
        now = self._clock()
        waits = []
        for key in buckets:
            state = self._read(key)
            if state is not None and state["reset"] > now and state["count"] >= self.attempts:
                waits.append(max(1, math.ceil(state["reset"] - now)))
        return max(waits) if waits else None

    def hit(self, *buckets):
        """Count one attempt in each of ``buckets``."""
        now = self._clock()
        for key in buckets:
            state = self._read(key)
            if state is None or state["reset"] <= now:
                state = {"count": 0, "reset": now + self.window}
            state["count"] += 1
            ttl = max(MIN_EXPIRATION_TTL, math.ceil(state["reset"] - now))
            self._write(key, state, ttl)

    def clear(self, *buckets):
        """Forget ``buckets`` (e.g. an account's failures after a successful password reset)."""
        for key in buckets if self._kv is not None else ():
            try:
                self._kv.delete(key)
            except KVError as ex:
                log.warning("rate limiter: KV delete failed, ignoring (%s)", ex)

    def _read(self, key):
        if self._kv is None:
            return None
        try:
            raw = self._kv.get(key, type="bytes")
        except KVError as ex:
            log.warning("rate limiter: KV unavailable, failing open (%s)", ex)
            return None
        if raw is None:
            return None
        try:
            state = msgspec.json.decode(raw)
            return {"count": int(state["count"]), "reset": float(state["reset"])}
        except (msgspec.DecodeError, KeyError, TypeError, ValueError):
            log.warning("rate limiter: unreadable value under %s, starting afresh", key)
            return None

    def _write(self, key, state, ttl):
        if self._kv is None:
            return
        try:
            self._kv.put(key, msgspec.json.encode(state), expiration_ttl=ttl)
        except KVError as ex:
            log.warning("rate limiter: KV unavailable, failing open (%s)", ex)
