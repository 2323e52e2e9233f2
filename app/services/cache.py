"""The three-tier read cache of public responses: process memory -> CACHE_KV -> database.

* Tier 1 is an LRU in this process bounded in bytes (``app.services.cache_memory``); tier 2
  is the CACHE_KV binding, shared by every worker and host; tier 3 is the loader the caller
  passes (the database query).
* Each ``Namespace`` (``content``, ``collections``, ``media``, ``users``, ``plugins``...) has a
  *generation*: a random token stored in KV under ``gen:<namespace>``. Every cache key
  carries the generations of its namespace and of the namespaces it depends on, so a
  write anywhere invalidates everything it affects by writing one new token: no key
  listing (memcached cannot list), no stale memory in other processes. The generations
  are read in ONE bulk KV get and then kept in this process for ``generation_ttl``
  (``GENERATION_TTL_SECONDS``, 0.25 s): so most lookups, memory hits and the plugin
  state read on every hook call included, reach KV not at all, and a KV hit reads KV
  once. That is the staleness bound across workers: a write another process made is
  seen within it. This process's own invalidations are seen at once (they replace the
  kept generation), so a write's next read through the same worker is never stale. A
  namespace name that is not a ``Namespace`` raises ValueError: a typo must not
  silently invalidate nothing.
* A generation missing from KV (never set, or evicted by memcached) is replaced by a new
  random token, never by a constant, so entries cached under an old generation can never
  come back.
* Writers bump the generation AFTER their transaction commits (``invalidate``), so a read
  that starts after the write's response sees the new data through the writer's worker
  at once and through any other within ``generation_ttl``. Writes
  made outside the app (``d1 import``, ``d1 execute``, ``collections sync``, scheduled
  publications) bump through ``invalidate_namespaces`` with a cache of their own over the
  same CACHE_KV; ``app.services.cache_lost`` records in the database the bumps KV did not
  take, for the next scheduled run to write.
* Memory keeps only what KV took: a value KV refused (too large, or KV down) is served
  once and not kept, so every worker's memory holds a subset of what KV holds.
* When KV is unreachable, the memory tier cannot be validated either: lookups go straight
  to the loader (source ``database``) and a warning is logged; nothing raises. A circuit
  breaker then keeps every cache operation, invalidations included, away from KV for
  ``breaker_seconds``, so a dead or frozen memcached costs one timeout per breaker period
  instead of one per request; after it, a single caller probes KV while the others keep
  skipping it. A bump that could not be written is remembered and written by this process
  before its next lookup or invalidation that reaches KV; until then its lookups skip the
  cache, so they never serve what the write made stale. The other processes do not know
  of it, and this one may exit first: the cache's ``record_lost`` (the app's records it in
  the database, ``app.services.cache_lost``) keeps it until the next scheduled run writes
  it, as it keeps the bumps of writes made outside a request.

A memory hit costs no hashing and no JSON work: the digest of each distinct key is kept
(``_digests``), the generations' stamp is joined from the kept tokens, and the memory tier
answers the stored JSON bytes. Values read on nearly every request (the plugin state, a
session's account) go through ``get_or_load_shared``: decoded once, and answered without
any lookup while the generations they were read under are trusted and this process has
invalidated nothing since.

Each lookup is counted per namespace and answering tier (``reads``): plain integers of this
process, one increment per lookup. A lookup also answers how long its entry stays cached
here (``get_or_load_timed``, ``get_or_load_raw``): a memory hit knows its entry's expiry
already, and a KV hit reads the KV entry's absolute expiry, stored with its value, and
gives its memory copy only what that entry has left, so no copy outlives the KV entry it
was made from (a KV hit whose copy memory refused answers none).

TTLs: each namespace's comes from its ``NamespacePolicy``, unless ``ttl_source`` (set by the
``core-cache`` plugin from its settings) names another one; it is asked when an entry is
stored (KV, then memory), never on a memory hit. A lookup may name the TTL of the entry it
stores instead (``get_or_load_timed``'s ``ttl``: a search's ``cache_duration``).

Values must be msgspec-encodable; in KV they are stored as JSON, zlib-compressed past a
few KiB (memcached items are limited to 1 MiB), after their absolute expiry in epoch
seconds (``wall_clock``: every host reads it). An entry written before the expiry was
stored is still read; its memory copy gets the TTL, as it did then.
"""

import hashlib
import logging
import secrets
import struct
import threading
import time
import zlib
from dataclasses import dataclass
from enum import StrEnum

import msgspec

from app.runtime.breaker import CircuitBreaker
from app.runtime.kv import KVError
from app.services.cache_memory import DEFAULT_MAX_BYTES, DEFAULT_MAX_ENTRY_BYTES, MemoryTier

log = logging.getLogger("sonicpy.cache")

MIN_TTL_SECONDS = 60  # KV refuses shorter expirations
# How long a worker trusts the generations it read from KV: the staleness bound, across
# workers, of a write made elsewhere. Short, since within it another worker's write is
# not seen; long enough that a busy worker reads them a few times a second, not per lookup.
GENERATION_TTL_SECONDS = 0.25
GENERATION_PREFIX = "gen:"
COMPRESS_OVER_BYTES = 4096
RAW_TAG = b"j"
ZLIB_TAG = b"z"
# Leads an entry written with its absolute expiry (epoch seconds, a big-endian double)
# before the tagged JSON; entries written before it (``j``/``z`` first) carry none.
EXPIRY_TAG = b"e"
_EXPIRY = struct.Struct(">d")

# What ``_lookup`` answers for a value it did not decode (None is a value a loader may return).
_UNDECODED = object()
# Distinct keys whose digest is kept, and values kept by ``get_or_load_shared``: past these
# counts the memo is emptied and refills with what is read now (a bound, not an LRU).
DIGESTS_KEPT = 4096
SHARED_KEPT = 1024

MEMORY = "memory"
KV = "kv"
DATABASE = "database"
SOURCES = (MEMORY, KV, DATABASE)  # the order of the counts in ``ThreeTierCache.reads``


class Namespace(StrEnum):
    """The cache namespaces; each member's value is its name in KV keys and in logs."""

    CONTENT = "content"
    COLLECTIONS = "collections"
    MEDIA = "media"
    USERS = "users"
    API = "api"
    PLUGINS = "plugins"


def namespace_of(name):
    """The ``Namespace`` called ``name`` (a member or its exact value).

    Raises:
        ValueError: no namespace has that name.
    """
    try:
        return Namespace(name)
    except ValueError:
        known = ", ".join(Namespace)
        raise ValueError(f"unknown cache namespace {name!r} (known: {known})") from None


@dataclass(frozen=True)
class NamespacePolicy:
    """How a cache keeps the entries of one namespace.

    Attributes:
        namespace: the ``Namespace``.
        ttl: seconds an entry lives in KV and in memory (>= 60, KV's minimum).
        depends_on: namespaces whose writes also invalidate this one (content embeds
            collection, author and media fields).
    """

    namespace: Namespace
    ttl: int
    depends_on: tuple = ()


DEFAULT_POLICIES = (
    NamespacePolicy(Namespace.CONTENT, 300, (Namespace.COLLECTIONS, Namespace.MEDIA, Namespace.USERS)),
    NamespacePolicy(Namespace.COLLECTIONS, 600),
    NamespacePolicy(Namespace.MEDIA, 300),
    NamespacePolicy(Namespace.USERS, 600),
    NamespacePolicy(Namespace.API, 300),
    # Which plugins are active and their settings: read on every plugin route and hook call.
    NamespacePolicy(Namespace.PLUGINS, 600),
)
ALL_NAMESPACES = tuple(Namespace)


class ThreeTierCache:
    """Memory -> KV -> loader, with per-namespace generations kept in KV.

    Args:
        kv: the CACHE_KV binding (a ``KVNamespace``).
        policies: NamespacePolicy objects (default ``DEFAULT_POLICIES``).
        memory_max_bytes: the most the per-process memory tier holds.
        memory_max_entry_bytes: the largest entry (JSON bytes) the memory tier keeps.
        breaker_seconds: after a KV failure, skip KV (and memory) for this long.
        generation_ttl: seconds the generations read from KV are trusted without reading
            them again (0: read them on every lookup); the staleness bound across workers.
        clock: monotonic seconds (tests pass a fake clock to expire memory entries, the
            kept generations and the breaker).
        wall_clock: epoch seconds, shared by every host: the absolute expiry an entry
            carries in KV is written and read with it; default the KV binding's own clock
            (``kv.clock``, the one its expirations are measured with), else ``time.time``.
        record_lost: None, or ``record_lost(namespace)``, called after ``invalidate`` left
            the bump of ``namespace`` pending (KV refused it, or the breaker kept it away):
            it keeps the bump where the next scheduled run writes it, should this process
            exit before it does. Its exceptions are logged, never raised.

    Attributes:
        ttl_source: None, or ``ttl_source(namespace)`` returning the TTL (seconds, at least
            60) entries of that namespace get when stored, or None for the policy's. It may
            read through this cache itself, in another namespace than the one it is asked about.
    """

    def __init__(self, kv, policies=DEFAULT_POLICIES, *, memory_max_bytes=DEFAULT_MAX_BYTES,
                 memory_max_entry_bytes=DEFAULT_MAX_ENTRY_BYTES, breaker_seconds=1.0,
                 generation_ttl=GENERATION_TTL_SECONDS, clock=time.monotonic, wall_clock=None,
                 record_lost=None):
        self.kv = kv
        self._record_lost = record_lost
        self.generation_ttl = generation_ttl
        self._clock = clock
        self._wall_clock = wall_clock or getattr(kv, "clock", time.time)
        self._known = {}  # namespace -> (token, trusted until), generations read from KV
        self._epochs = {}  # namespace -> count of this process's invalidations (see _remember)
        self.memory = MemoryTier(memory_max_bytes, memory_max_entry_bytes, clock)
        self._policies = {}
        self._stamp_names = {}  # namespace -> the sorted namespaces whose generations its keys carry
        self._digests = {}  # encoded key parts -> their digest (see _entry_key)
        self._shared = {}  # (namespace, key parts) -> (invalidations, until, value, raw); get_or_load_shared
        self._invalidations = 0  # this process's invalidations so far: a shared value read before one is stale
        self.breaker = CircuitBreaker(breaker_seconds, clock)
        self._pending_bumps = {}  # namespace -> invalidations since its last written bump
        self._lock = threading.Lock()
        self.ttl_source = None
        # namespace -> [memory, kv, database] lookups answered by each, in this process: plain
        # increments, not locked (a rare lost count under threads costs less than a lock per hit).
        self._reads = {namespace: [0, 0, 0] for namespace in Namespace}
        for policy in policies:
            self.register(policy)

    @classmethod
    def from_settings(cls, kv, settings, **options):
        """A cache over ``kv`` with the memory limits of ``settings`` (``app.settings``)."""
        return cls(kv, memory_max_bytes=settings.cache_memory_max_bytes,
                   memory_max_entry_bytes=settings.cache_memory_max_entry_bytes, **options)

    def register(self, policy):
        """Set the policy of a namespace; its TTL must be at least KV's 60 s."""
        namespace = namespace_of(policy.namespace)
        if policy.ttl < MIN_TTL_SECONDS:
            raise ValueError(f"cache namespace {namespace}: ttl {policy.ttl} is below KV's minimum of 60 s")
        depends_on = tuple(namespace_of(name) for name in policy.depends_on)
        self._policies[namespace] = NamespacePolicy(namespace, policy.ttl, depends_on)
        self._stamp_names[namespace] = tuple(sorted({namespace, *depends_on}))

    def policy(self, namespace):
        """The NamespacePolicy of ``namespace`` (ValueError when unknown or without one)."""
        # A Namespace and its name hash alike: the common case is one dict lookup.
        found = self._policies.get(namespace) if isinstance(namespace, str) else None
        if found is not None:
            return found
        namespace = namespace_of(namespace)
        try:
            return self._policies[namespace]
        except KeyError:
            raise ValueError(f"cache namespace {namespace} has no policy in this cache") from None

    def ttl_of(self, namespace):
        """The TTL entries of ``namespace`` get now: ``ttl_source``'s when it names one, else the policy's."""
        policy = self.policy(namespace)
        if self.ttl_source is None:
            return policy.ttl
        try:
            ttl = self.ttl_source(policy.namespace)
        except Exception:
            # A TTL is no reason to fail a read: the policy's is always a valid one.
            log.exception("cache TTL of %s could not be read; using %d s", policy.namespace, policy.ttl)
            return policy.ttl
        return ttl if isinstance(ttl, int) and ttl >= MIN_TTL_SECONDS else policy.ttl

    @property
    def pending_bumps(self):
        """Namespaces whose new generation has not reached KV yet (written on a later call)."""
        with self._lock:
            return frozenset(self._pending_bumps)

    def get_or_load(self, namespace, key_parts, loader, *, defer=None):
        """The cached value for ``key_parts`` in ``namespace``, else ``loader()``'s (stored).

        Args:
            namespace: a ``Namespace`` (or its name) with a policy in this cache.
            key_parts: any msgspec-encodable value identifying the entry (canonical: equal
                requests must give equal parts).
            loader: a no-argument callable returning the value; exceptions propagate and
                nothing is stored.
            defer: optional ``ctx.wait_until``: the KV (then memory) fill runs after the
                response.

        Returns:
            ``(value, source)`` with source ``"memory"``, ``"kv"`` or ``"database"``.
        """
        raw, value, source, _until, _ttl = self._lookup(namespace, key_parts, loader, defer)
        return (msgspec.json.decode(raw) if value is _UNDECODED else value), source

    def get_or_load_timed(self, namespace, key_parts, loader, *, defer=None, ttl=None):
        """``get_or_load``, with the seconds the answer stays cached here: ``(value, source, ttl)``.

        ``ttl`` is, for a memory hit, what the memory entry has left; for a KV hit, what
        the KV entry has left (its absolute expiry is stored with it), which the copy just
        put in memory lives too, or None when memory refused the copy (too large, or the
        tier off); None for a load. An entry written before expiries were stored gives its
        copy the namespace's TTL (or ``ttl``).

        Args:
            ttl: seconds (at least 60) a stored entry lives instead of the namespace's: for
                an entry whose lifetime a setting of its own sets (a search's
                ``cache_duration``); the namespace's generations still invalidate it.
        """
        if ttl is not None and ttl < MIN_TTL_SECONDS:
            raise ValueError(f"cache entry ttl {ttl} is below KV's minimum of {MIN_TTL_SECONDS} s")
        raw, value, source, _until, ttl = self._lookup(namespace, key_parts, loader, defer, ttl)
        return (msgspec.json.decode(raw) if value is _UNDECODED else value), source, ttl

    def get_or_load_shared(self, namespace, key_parts, loader):
        """``get_or_load``'s value, decoded once and shared by every caller of this process.

        For values read on nearly every request (the plugin state, a session's account).
        The value is always the entry's JSON decoded (whatever tier answered), once per
        entry: while the generations it was read under are trusted (``generation_ttl``)
        and this process has invalidated nothing since, the same object is answered with
        no lookup at all; after that, a lookup whose entry is unchanged answers it again
        without decoding. Callers must not change it. Nothing is kept with the memory tier
        off.

        Args:
            key_parts: as for ``get_or_load``, and hashable (a tuple).

        Returns:
            The value (not its source).
        """
        slot = (namespace, key_parts)
        kept = self._shared.get(slot)
        if kept is not None and kept[0] == self._invalidations and self._clock() < kept[1]:
            return kept[2]
        invalidations = self._invalidations  # before the lookup: one made during it is seen
        raw, value, source, until, _ttl = self._lookup(namespace, key_parts, loader, None)
        if raw is None:  # KV unusable: the loader's value, shaped as its JSON
            return msgspec.json.decode(msgspec.json.encode(value))
        if kept is not None and kept[3] == raw:
            value = kept[2]
        elif source != KV:  # a memory hit is undecoded; a load is the loader's value, not its JSON
            value = msgspec.json.decode(raw)
        if not self.memory.max_bytes:
            return value
        if len(self._shared) >= SHARED_KEPT:
            self._shared.clear()
        self._shared[slot] = (invalidations, until, value, raw)
        return value

    def get_or_load_raw(self, namespace, key_parts, loader, *, defer=None):
        """``get_or_load``, answering the entry's JSON bytes: a hit is never decoded.

        The caller sends the bytes as they are (a response body), so a hit costs no JSON
        work at all; a miss encodes ``loader()``'s value once, for the response and the fill.

        Returns:
            ``(JSON bytes, source, ttl)``: ``ttl`` as ``get_or_load_timed`` answers it.
        """
        raw, value, source, _until, ttl = self._lookup(namespace, key_parts, loader, defer)
        return (msgspec.json.encode(value) if raw is None else raw), source, ttl

    def _lookup(self, namespace, key_parts, loader, defer, entry_ttl=None):
        """``(raw JSON or None, value or _UNDECODED, source, generations trusted until, ttl)``
        of one lookup (``ttl``: see ``get_or_load_timed``); see ``get_or_load``.
        ``entry_ttl``: what a stored entry lives instead of the namespace's TTL."""
        policy = self.policy(namespace)
        reads = self._reads[policy.namespace]
        stamped = self._stamp(self._stamp_names[policy.namespace])
        if stamped is None:
            reads[2] += 1
            return None, loader(), DATABASE, 0.0, None
        stamp, until = stamped
        key = self._entry_key(policy.namespace, stamp, key_parts)
        held = self.memory.get_with_ttl(key)
        if held is not None:
            reads[0] += 1
            return held[0], _UNDECODED, MEMORY, until, held[1]
        found = self._kv_get(key)
        ttl = None if found is None else self._left(found[2], entry_ttl or self.ttl_of(policy.namespace))
        if ttl is not None:
            reads[1] += 1
            raw, value, _expires = found
            # The copy expires with the KV entry, not a whole TTL after this read; none was
            # kept (too large, tier off): no TTL.
            return raw, value, KV, until, ttl if self.memory.put(key, raw, ttl) else None
        reads[2] += 1
        value = loader()
        raw = msgspec.json.encode(value)
        ttl = entry_ttl or self.ttl_of(policy.namespace)
        if defer is None:
            self._fill(key, raw, ttl)
        else:
            defer(self._fill, key, raw, ttl)
        return raw, value, DATABASE, until, None

    def _left(self, expires, ttl):
        """Seconds a KV entry expiring at ``expires`` (epoch; None: not recorded) has left,
        at most ``ttl``; None when it is already over (a host whose clock runs ahead)."""
        if expires is None:
            return ttl
        left = min(expires - self._wall_clock(), ttl)
        return left if left > 0 else None

    def _entry_key(self, namespace, stamp, key_parts):
        """The KV and memory key of ``key_parts`` under the generations ``stamp``.

        The digest of each distinct key (by its JSON, so ``1`` and ``true`` stay apart) is
        computed once and kept: a hit hashes nothing.
        """
        encoded = msgspec.json.encode(key_parts)
        digest = self._digests.get(encoded)
        if digest is None:
            digest = hashlib.sha256(encoded).hexdigest()[:40]
            if len(self._digests) >= DIGESTS_KEPT:
                self._digests.clear()
            self._digests[encoded] = digest
        # The namespace leads so invalidate() can drop this process's entries by prefix.
        return f"{namespace}:{stamp}:{digest}"

    def invalidate(self, namespace):
        """Make every entry of ``namespace`` (and of namespaces depending on it) stale.

        Call it after the write's transaction has committed. It never waits on a KV the
        breaker has given up on: the bump is then remembered and written on a later call,
        and handed to ``record_lost``.

        Returns:
            True when KV took the new generation; False when the bump is pending (the
            write itself stands).

        Raises:
            ValueError: ``namespace`` is not a ``Namespace`` or its name.
        """
        namespace = namespace_of(namespace)
        self._forget_generation(namespace)
        self.memory.drop_prefix(f"{namespace}:")
        for policy in self._policies.values():
            if namespace in policy.depends_on:
                self.memory.drop_prefix(f"{policy.namespace}:")
        with self._lock:
            self._pending_bumps[namespace] = self._pending_bumps.get(namespace, 0) + 1
        if self.breaker.allow():
            self._write_pending_bumps()
        if namespace not in self.pending_bumps:
            return True
        self._keep_lost(namespace)
        return False

    def _keep_lost(self, namespace):
        """Hand a bump KV did not take to ``record_lost``: it outlives this process."""
        if self._record_lost is None:
            return
        try:
            self._record_lost(namespace)
        except Exception:
            # The write has committed: failing its request now would only hide that it did.
            # The bump still waits in this process, as it did before records existed.
            log.exception("cache invalidation of %s not recorded; only this process will write it", namespace)

    def dependents(self, namespace):
        """``namespace`` and the namespaces depending on it: those whose entries its invalidation makes stale."""
        namespace = namespace_of(namespace)
        return (namespace, *(p.namespace for p in self._policies.values() if namespace in p.depends_on))

    def generations(self, namespaces):
        """``{namespace: token}``: the generations of ``namespaces`` in KV now (one KV read), or
        None when KV is unusable. A missing one gets its new token, as a lookup would give it."""
        namespaces = tuple(namespace_of(namespace) for namespace in namespaces)
        if not self.breaker.allow():
            return None
        return self._generations(namespaces)

    def reads(self, namespace):
        """``{"memory": n, "kv": n, "database": n}``: the lookups of ``namespace`` each tier
        answered in this process since it started (``database``: loads, and KV unusable)."""
        return dict(zip(SOURCES, self._reads[namespace_of(namespace)]))

    # -- KV access, behind the breaker --------------------------------------------------

    def _kv_failed(self, what, ex):
        self.breaker.failed()
        log.warning("CACHE_KV unavailable (%s), serving from the database: %s", what, ex)

    def _write_pending_bumps(self):
        """Write every pending generation bump; stop at the first failure (the rest stay pending)."""
        with self._lock:
            pending = sorted(self._pending_bumps.items())
        for name, count in pending:
            try:
                self.kv.put(GENERATION_PREFIX + name, _new_generation())
            except KVError as ex:
                self._kv_failed("invalidate", ex)
                return False
            with self._lock:
                # An invalidation that arrived while this put was in flight may have
                # committed after the put started: it keeps its bump pending.
                if self._pending_bumps.get(name) == count:
                    del self._pending_bumps[name]
            self._forget_generation(name)
            self.breaker.succeeded()
        return True

    def _stamp(self, names):
        """``(stamp, trusted until)`` of the generations of ``names`` (sorted): their tokens
        joined, from the kept ones or else one KV round trip; None when KV is unusable."""
        if not self.breaker.allow():
            return None
        # Read without the lock: a bump pending elsewhere is seen here or on the next call.
        if self._pending_bumps and not self._write_pending_bumps():
            return None
        kept = self._kept_stamp(names)
        if kept is not None:
            return kept
        generations = self._generations(names)
        if generations is None:
            return None
        until = self._clock() + max(self.generation_ttl, 0)
        return ".".join(generations[name] for name in names), until

    def _kept_stamp(self, names):
        """``(stamp, trusted until)`` from the kept tokens of ``names`` when every one is still trusted, else None."""
        now = self._clock()
        tokens = []
        until = None
        for name in names:
            known = self._known.get(name)
            if known is None or known[1] <= now:
                return None
            tokens.append(known[0])
            until = known[1] if until is None or known[1] < until else until
        return ".".join(tokens), until

    def _generations(self, names):
        """``{name: token}`` for ``names`` read from KV in one round trip (new tokens for
        missing ones) and kept; None when KV failed."""
        with self._lock:
            epochs = {name: self._epochs.get(name, 0) for name in names}
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
        self.breaker.succeeded()
        self._remember(generations, epochs)
        return generations

    def _remember(self, generations, epochs):
        """Keep tokens just read from KV, unless this process invalidated their namespace meanwhile.

        A token read before an invalidation of this process may be the one it replaced;
        keeping it would hide the write from this worker's next reads.
        """
        if self.generation_ttl <= 0:
            return
        until = self._clock() + self.generation_ttl
        with self._lock:
            for name, token in generations.items():
                if self._epochs.get(name, 0) == epochs[name]:
                    self._known[name] = (token, until)

    def _forget_generation(self, namespace):
        """Stop trusting the kept token of ``namespace``: this process is replacing it."""
        with self._lock:
            self._epochs[namespace] = self._epochs.get(namespace, 0) + 1
            self._invalidations += 1
            self._known.pop(namespace, None)

    def _kv_get(self, key):
        """``(raw JSON, value, expiry or None)`` of the KV entry ``key``, or None (missing,
        unreadable, KV down)."""
        try:
            blob = self.kv.get(key, type="bytes")
        except KVError as ex:
            self._kv_failed("read", ex)
            return None
        if blob is None:
            return None
        try:
            raw, expires = _unpack(blob)
            return raw, msgspec.json.decode(raw), expires
        except (msgspec.DecodeError, zlib.error, ValueError, struct.error) as ex:
            log.warning("cache entry %s unreadable, ignored: %s", key, ex)
            return None

    def _fill(self, key, raw, ttl):
        """Store a loaded entry in KV, then in memory: memory keeps only what KV took."""
        if self.breaker.is_open:
            return
        try:
            self.kv.put(key, _pack(raw, self._wall_clock() + ttl), expiration_ttl=ttl)
        except KVError as ex:
            # Too large for memcached, or KV went away: serve it, keep it nowhere.
            log.warning("cache fill of %s skipped: %s", key, ex)
            return
        self.memory.put(key, raw, ttl)


def _new_generation():
    return secrets.token_hex(8)


def _pack(raw, expires):
    """JSON bytes as stored in KV: after their expiry (epoch seconds), tagged, and
    compressed when large."""
    head = EXPIRY_TAG + _EXPIRY.pack(expires)
    if len(raw) > COMPRESS_OVER_BYTES:
        return head + ZLIB_TAG + zlib.compress(raw, 6)
    return head + RAW_TAG + raw


def _unpack(blob):
    """``(JSON bytes, expiry or None)`` of a KV blob written by ``_pack`` (or, without the
    expiry, by the versions before it)."""
    expires = None
    if blob[:1] == EXPIRY_TAG:
        (expires,) = _EXPIRY.unpack_from(blob, 1)
        blob = blob[1 + _EXPIRY.size:]
    tag, body = blob[:1], blob[1:]
    if tag == ZLIB_TAG:
        return zlib.decompress(body), expires
    if tag != RAW_TAG:
        raise ValueError(f"unknown cache entry tag {tag!r}")
    return body, expires


def invalidate(cache, namespace):
    """Invalidate ``namespace`` after a committed write; a no-op without a cache.

    Args:
        cache: the app's ThreeTierCache (``Services.cache``), or None.
        namespace: a ``Namespace`` or its name (``"content"``, ``"collections"``...).

    Returns:
        True when the new generation reached KV (False: no cache, or KV down; retried).

    Raises:
        ValueError: ``namespace`` is unknown, with or without a cache.
    """
    namespace = namespace_of(namespace)
    if cache is None:
        return False
    return cache.invalidate(namespace)


def invalidate_all(cache):
    """``invalidate`` every namespace (a purge, or after a run of migrations); the names of
    those whose new generation did not reach KV (retried, as ``invalidate`` says)."""
    return [str(namespace) for namespace in ALL_NAMESPACES if not invalidate(cache, namespace)]


def invalidate_namespaces(kv, namespaces=ALL_NAMESPACES):
    """Bump ``namespaces`` in ``kv`` for a write made outside the app (a CLI command).

    Running workers then miss every entry of those namespaces (and of the ones depending
    on them) on their next read. Call it after the write committed.

    Returns:
        The namespaces whose bump did not reach KV (empty when all did); never raises for
        an unreachable KV: the caller warns, and records them
        (``app.services.cache_lost.invalidate_or_record`` does both steps).

    Raises:
        ValueError: a name is not a ``Namespace``; checked before anything is bumped.
    """
    namespaces = [namespace_of(namespace) for namespace in namespaces]
    cache = ThreeTierCache(kv)
    return [namespace for namespace in namespaces if not cache.invalidate(namespace)]
