"""Fixed-window attempt counters in the CACHE_KV binding (shared by every worker and host).

Each bucket (say "login attempts from IP x") is one KV key holding ``{"count", "reset"}``,
``reset`` being the epoch second its window ends. A bucket is *limited* while it holds
``attempts`` hits or more and its window has not ended; after that it starts afresh.

Callers count an attempt *before* the slow work it guards (``acquire``, then the password
check) and give it back when the attempt turns out fine (``refund``): counting only after
a 100-300 ms scrypt run let every request of a burst pass the check before any of them
was counted (80 parallel guesses got 21 tries with a limit of 10).

Trade-offs, deliberately:

* KV has no atomic increment or compare-and-set (and this layer keeps KV's API), so the
  read-check-write of ``acquire`` is serialised by a lock per process only. Threads of one
  worker never lose a count; two worker processes (or hosts) racing on the same key within
  one KV round trip (well under a millisecond locally, about one on a LAN memcached) may
  count once, so under a burst across N processes the limit can be exceeded by at most
  about N - 1 per collision. A lock service is not worth it for that. (The lock is held
  across the KV calls: a KV that hangs rather than refuses makes a worker's logins wait
  their turn behind its timeouts, 0.2-0.5 s each, before failing open.)
* KV refuses TTLs under 60 s, so keys live at least that long; the window itself is kept by
  ``reset`` in the value (checked with this limiter's clock), never by the TTL alone.

Every call that reads the buckets also answers where the caller stands (``Quota``: the
``X-RateLimit-*`` headers), from the very values it read and wrote: the numbers come from the
counters every worker shares, at no extra KV round trip.

A KV outage must not lock everyone out: every KV failure is logged as a warning and the
request is let through (fail open); each quota then starts from an empty window.
"""

import hashlib
import logging
import math
import threading
import time
from typing import NamedTuple

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


class Quota(NamedTuple):
    """Where a caller stands after an attempt, by the bucket that binds (the fewest attempts left).

    Attributes:
        limit: attempts that bucket allows per window.
        remaining: attempts left in its current window (0 when the attempt was refused).
        reset: the epoch second its window ends, rounded up (a client waiting until then
            never comes back early).
        retry_after: when the attempt was refused, the whole seconds until the most limited
            bucket frees up (at least 1); else None.
    """

    limit: int
    remaining: int
    reset: int
    retry_after: int | None = None


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
        # Makes each read-check-write whole for the threads of this process (see above).
        self._lock = threading.Lock()

    def acquire(self, *buckets, limits=None):
        """Count one attempt in every bucket, unless one of them is already at its limit.

        Args:
            buckets: the KV keys (``bucket(...)``) to count this attempt in.
            limits: ``{bucket: limit}`` for buckets whose limit is not ``attempts``; a limit
                of None counts the attempt without ever refusing it.

        Returns:
            The caller's ``Quota`` after this attempt: ``retry_after`` None when it was
            counted (go ahead), else the seconds until the most limited bucket frees up; a
            refused attempt is not counted.
        """
        limits = limits or {}
        with self._lock:
            now = self._clock()
            states = {key: self._current(key, now) for key in buckets}
            waits = [
                self._wait(state, now) for key, state in states.items()
                if self._limit(key, limits) is not None and state["count"] >= self._limit(key, limits)
            ]
            if waits:
                return self._quota(states, limits, now)._replace(retry_after=max(waits))
            for key, state in states.items():
                state["count"] += 1
                self._write(key, state, now)
        return self._quota(states, limits, now)

    def quota(self, *buckets, limits=None):
        """The ``Quota`` of ``buckets`` as they stand, counting nothing (``acquire``'s ``limits``)."""
        now = self._clock()
        return self._quota({key: self._current(key, now) for key in buckets}, limits or {}, now)

    def count(self, key):
        """The attempts counted in ``key``'s current window (0 when none, or when KV is down)."""
        return self._current(key, self._clock())["count"]

    def refund(self, *buckets, limits=None):
        """Give back one attempt ``acquire`` counted in each of ``buckets`` (it went well).

        Returns:
            The caller's ``Quota`` afterwards (``limits`` as given to ``acquire``).
        """
        with self._lock:
            now = self._clock()
            states = {key: self._current(key, now) for key in buckets}
            for key, state in states.items():
                if state["count"] > 0:
                    state["count"] -= 1
                    self._write(key, state, now)
        return self._quota(states, limits or {}, now)

    def retry_after(self, *buckets):
        """Seconds until the most limited of ``buckets`` frees up, or None if none is limited."""
        now = self._clock()
        waits = [self._wait(state, now) for state in (self._current(key, now) for key in buckets)
                 if state["count"] >= self.attempts]
        return max(waits) if waits else None

    def hit(self, *buckets):
        """Count one attempt in each of ``buckets`` (whatever their state)."""
        with self._lock:
            now = self._clock()
            for key in buckets:
                state = self._current(key, now)
                state["count"] += 1
                self._write(key, state, now)

    def _current(self, key, now):
        """The live state of ``key``: a new empty window when absent or over."""
        state = self._read(key)
        if state is None or state["reset"] <= now:
            return {"count": 0, "reset": now + self.window}
        return state

    @staticmethod
    def _wait(state, now):
        return max(1, math.ceil(state["reset"] - now))

    def _limit(self, key, limits):
        return limits.get(key, self.attempts)

    def _quota(self, states, limits, now):
        """The ``Quota`` of ``states`` (``{bucket: state}``, the caller's own bucket, its
        address, first): the bucket with the fewest attempts left binds; among those, the
        one whose window ends last (a refusal's ``Retry-After`` counts down to that same
        moment).

        The other buckets (an account's, counted from every address) count only when they
        refuse: their numbers would tell anyone how many attempts others made on that
        account this window, which a refusal tells only once it happens.
        """
        standing = [
            (left, state["reset"], limit)
            for index, (key, state) in enumerate(states.items())
            if (limit := self._limit(key, limits)) is not None
            and ((left := max(0, limit - state["count"])) == 0 or index == 0)
        ]
        if not standing:  # nothing here can refuse: a whole window's allowance
            return Quota(self.attempts, self.attempts, math.ceil(now + self.window))
        remaining = min(left for left, _, _ in standing)
        reset, limit = max((reset, limit) for left, reset, limit in standing if left == remaining)
        return Quota(limit, remaining, math.ceil(reset))

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

    def _write(self, key, state, now):
        if self._kv is None:
            return
        ttl = max(MIN_EXPIRATION_TTL, math.ceil(state["reset"] - now))
        try:
            self._kv.put(key, msgspec.json.encode(state), expiration_ttl=ttl)
        except KVError as ex:
            log.warning("rate limiter: KV unavailable, failing open (%s)", ex)
