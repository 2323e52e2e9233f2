"""The three-tier read cache of public responses: process memory -> CACHE_KV -> database.

SonicJS designs this cache but never runs it (reference/sonicjs.md section 5). Here:

* Tier 1 is a small LRU in this process; tier 2 is the CACHE_KV binding, shared by every
  worker and host; tier 3 is the loader the caller passes (the database query).
* Each namespace (``content``, ``collections``, ``media``, ``users``...) has a
  *generation*: a random token stored in KV under ``gen:<namespace>``. Every cache key
  carries the generations of its namespace and of the namespaces it depends on, so a
  write anywhere invalidates everything it affects by writing one new token: no key
  listing (memcached cannot list), no stale memory in other processes. The generations
  are read in ONE bulk KV get per lookup.
* A generation missing from KV (never set, or evicted by memcached) is replaced by a new
  random token, never by a constant, so entries cached under an old generation can never
  come back.
* Writers bump the generation AFTER their transaction commits (``invalidate``), so a read
  that starts after the write's response sees the new data through any worker. Writes
  made outside the app (``d1 import``, ``d1 execute``, ``collections sync``) bump through
  ``invalidate_namespaces`` with a cache of their own over the same CACHE_KV.
* When KV is unreachable, the memory tier cannot be validated either: lookups go straight
  to the loader (source ``database``) and a warning is logged; nothing raises. A bump
  that failed is retried by this process on its next lookup. A short circuit breaker
  keeps a dead memcached from costing a connection attempt per request.

Values must be msgspec-encodable; in KV they are stored as JSON, zlib-compressed past a
few KiB (memcached items are limited to 1 MiB).
"""

import hashlib
import logging
import secrets
import threading
import time
import zlib
from collections import OrderedDict
from dataclasses import dataclass

import msgspec

from app.runtime.kv import KVError

log = logging.getLogger("sonicpy.cache")

MIN_TTL_SECONDS = 60  # KV refuses shorter expirations
GENERATION_PREFIX = "gen:"
COMPRESS_OVER_BYTES = 4096
RAW_TAG = b"j"
ZLIB_TAG = b"z"

MEMORY = "memory"
KV = "kv"
DATABASE = "database"


@dataclass(frozen=True)
class Namespace:
    """A cache namespace.

    Attributes:
        name: the namespace name (also the generation key suffix).
        ttl: seconds an entry lives in KV and in memory (>= 60, KV's minimum).
        depends_on: other namespaces whose writes also invalidate this one (content
            embeds collection, author and media fields).
    """

    name: str
    ttl: int
    depends_on: tuple = ()


DEFAULT_NAMESPACES = (
    Namespace("content", 300, ("collections", "media", "users")),
    Namespace("collections", 600),
    Namespace("media", 300),
    Namespace("users", 600),
    Namespace("api", 300),
)
ALL_NAMESPACES = tuple(namespace.name for namespace in DEFAULT_NAMESPACES)


class MemoryTier:
    """A thread-safe LRU of ``key -> (expires_at, value)`` bounded by entry count."""

    def __init__(self, max_entries=2000, clock=time.monotonic):
        self._max = max_entries
        self._clock = clock
        self._lock = threading.Lock()
        self._entries = OrderedDict()

    def get(self, key):
        """The live value under ``key``, or None."""
        with self._lock:
            found = self._entries.get(key)
            if found is None:
                return None
            if found[0] <= self._clock():
                del self._entries[key]
                return None
            self._entries.move_to_end(key)
            return found[1]

    def put(self, key, value, ttl):
        """Store ``value`` for ``ttl`` seconds, evicting the least recently used entries."""
        with self._lock:
            self._entries[key] = (self._clock() + ttl, value)
            self._entries.move_to_end(key)
            while len(self._entries) > self._max:
                self._entries.popitem(last=False)

    def drop_prefix(self, prefix):
        """Forget every entry whose key starts with ``prefix``."""
        with self._lock:
            for key in [k for k in self._entries if k.startswith(prefix)]:
                del self._entries[key]

    def __len__(self):
        return len(self._entries)


class ThreeTierCache:
    """Memory -> KV -> loader, with per-namespace generations kept in KV.

    Args:
        kv: the CACHE_KV binding (a ``KVNamespace``).
        namespaces: Namespace objects (default ``DEFAULT_NAMESPACES``).
        memory_max_entries: size of the per-process LRU.
        breaker_seconds: after a KV failure, skip KV (and memory) for this long.
        clock: monotonic seconds (tests pass a fake clock to expire memory entries).
    """

    def __init__(self, kv, namespaces=DEFAULT_NAMESPACES, *, memory_max_entries=2000,
                 breaker_seconds=1.0, clock=time.monotonic):
        self.kv = kv
        self.memory = MemoryTier(memory_max_entries, clock)
        self._namespaces = {}
        self._clock = clock
        self._breaker_seconds = breaker_seconds
        self._kv_down_until = 0.0
        self._pending_bumps = set()
        self._lock = threading.Lock()
        for namespace in namespaces:
            self.register(namespace)

    def register(self, namespace):
        """Add (or replace) a Namespace; its TTL must be at least KV's 60 s."""
        if namespace.ttl < MIN_TTL_SECONDS:
            raise ValueError(f"cache namespace {namespace.name}: ttl {namespace.ttl} is below KV's minimum of 60 s")
        self._namespaces[namespace.name] = namespace

    def namespace(self, name):
        """The registered Namespace ``name`` (KeyError when unknown)."""
        return self._namespaces[name]

    def get_or_load(self, namespace, key_parts, loader, *, defer=None):
        """The cached value for ``key_parts`` in ``namespace``, else ``loader()``'s (stored).

        Args:
            namespace: a registered namespace name.
            key_parts: any msgspec-encodable value identifying the entry (canonical: equal
                requests must give equal parts).
            loader: a no-argument callable returning the value; exceptions propagate and
                nothing is stored.
            defer: optional ``ctx.wait_until``: the KV fill then runs after the response.

        Returns:
            ``(value, source)`` with source ``"memory"``, ``"kv"`` or ``"database"``.
        """
        spec = self._namespaces[namespace]
        generations = self._generations((spec.name, *spec.depends_on))
        if generations is None:
            return loader(), DATABASE
        key = _entry_key(spec.name, generations, key_parts)
        value = self.memory.get(key)
        if value is not None:
            return value, MEMORY
        value = self._kv_get(key)
        if value is not None:
            self.memory.put(key, value, spec.ttl)
            return value, KV
        value = loader()
        self.memory.put(key, value, spec.ttl)
        if defer is None:
            self._kv_put(key, value, spec.ttl)
        else:
            defer(self._kv_put, key, value, spec.ttl)
        return value, DATABASE

    def invalidate(self, namespace):
        """Make every entry of ``namespace`` (and of namespaces depending on it) stale.

        Call it after the write's transaction has committed. Returns True when KV took the
        new generation; on a KV failure the bump is retried by this process later, and
        False is returned (the write itself stands).
        """
        self.memory.drop_prefix(f"{namespace}:")
        for spec in self._namespaces.values():
            if namespace in spec.depends_on:
                self.memory.drop_prefix(f"{spec.name}:")
        if self._bump(namespace):
            return True
        with self._lock:
            self._pending_bumps.add(namespace)
        return False

    def _bump(self, namespace):
        try:
            self.kv.put(GENERATION_PREFIX + namespace, _new_generation())
        except KVError as ex:
            self._kv_failed("invalidate", ex)
            return False
        return True

    def _generations(self, names):
        """``{name: token}`` for ``names`` in one KV round trip; None when KV is unusable."""
        if self._clock() < self._kv_down_until:
            return None
        if self._pending_bumps and not self._retry_bumps():
            return None
        keys = [GENERATION_PREFIX + name for name in names]
        try:
            found = self.kv.get(keys, type="text")
            generations = {}
            for name, key in zip(names, keys):
                token = found.get(key)
                if not token:
                    token = _new_generation()
                    self.kv.put(key, token)
                generations[name] = token
        except KVError as ex:
            self._kv_failed("read", ex)
            return None
        return generations

    def _retry_bumps(self):
        with self._lock:
            pending = sorted(self._pending_bumps)
            self._pending_bumps.clear()
        failed = [name for name in pending if not self._bump(name)]
        if failed:
            with self._lock:
                self._pending_bumps.update(failed)
            return False
        return True

    def _kv_get(self, key):
        try:
            blob = self.kv.get(key, type="bytes")
        except KVError as ex:
            self._kv_failed("read", ex)
            return None
        if blob is None:
            return None
        try:
            return _decode(blob)
        except (msgspec.DecodeError, zlib.error, ValueError) as ex:
            log.warning("cache entry %s unreadable, ignored: %s", key, ex)
            return None

    def _kv_put(self, key, value, ttl):
        try:
            self.kv.put(key, _encode(value), expiration_ttl=ttl)
        except KVError as ex:
            # A value too large for memcached lands here too: memory still holds it.
            log.warning("cache fill of %s skipped: %s", key, ex)

    def _kv_failed(self, what, ex):
        self._kv_down_until = self._clock() + self._breaker_seconds
        log.warning("CACHE_KV unavailable (%s), serving from the database: %s", what, ex)


def _new_generation():
    return secrets.token_hex(8)


def _entry_key(namespace, generations, key_parts):
    stamp = ".".join(generations[name] for name in sorted(generations))
    digest = hashlib.sha256(msgspec.json.encode(key_parts)).hexdigest()[:40]
    # The namespace leads so invalidate() can drop this process's entries by prefix.
    return f"{namespace}:{stamp}:{digest}"


def _encode(value):
    raw = msgspec.json.encode(value)
    if len(raw) > COMPRESS_OVER_BYTES:
        return ZLIB_TAG + zlib.compress(raw, 6)
    return RAW_TAG + raw


def _decode(blob):
    tag, body = blob[:1], blob[1:]
    if tag == ZLIB_TAG:
        body = zlib.decompress(body)
    elif tag != RAW_TAG:
        raise ValueError(f"unknown cache entry tag {tag!r}")
    return msgspec.json.decode(body)


def invalidate(cache, namespace):
    """Invalidate ``namespace`` after a committed write; a no-op without a cache.

    Args:
        cache: the app's ThreeTierCache (``Services.cache``), or None.
        namespace: ``"content"``, ``"collections"``, ``"media"``, ``"users"``...

    Returns:
        True when the new generation reached KV (False: no cache, or KV down; retried).
    """
    if cache is None:
        return False
    return cache.invalidate(namespace)


def invalidate_namespaces(kv, namespaces=ALL_NAMESPACES):
    """Bump ``namespaces`` in ``kv`` for a write made outside the app (a CLI command).

    Running workers then miss every entry of those namespaces (and of the ones depending
    on them) on their next read. Call it after the write committed.

    Returns:
        The namespaces whose bump did not reach KV (empty when all did); never raises for
        an unreachable KV: the caller warns, and the entries expire with their TTL.
    """
    cache = ThreeTierCache(kv)
    return [namespace for namespace in namespaces if not cache.invalidate(namespace)]
