"""``/admin/api/cache``: the read cache's namespaces, their counts, clearing them and warming them.

Mounted by the core plugin ``core-cache`` (404 while it is inactive); ``plugins.manage``
(admins). Without a CACHE_KV binding there is no cache: every route answers 404.

* ``GET /admin/api/cache``: each namespace's TTL and dependencies, this worker's memory tier.
* ``GET /admin/api/cache/stats`` and ``/stats/{namespace}``: per namespace, this worker
  process's memory entries and bytes and its lookups by the tier that answered them (each
  worker counts its own, since it started), the TTL and the generation token in CACHE_KV.
* ``POST /admin/api/cache/purge`` (or ``/clear``): every namespace invalidated, for every
  worker; ``POST /admin/api/cache/clear/{namespace}``: one namespace and those depending on it.
* ``POST /admin/api/cache/warm`` and ``/warm/{namespace}``: the public reads that need no
  request to compute (``WARMERS``) looked up through the loaders their routes use, so the
  next request for each is a hit. Other namespaces hold only entries keyed by a request
  (an item, a session, a filter): warming one of them is a 422.
"""

import os

from app.api.access import access
from app.api.collections import public_collections
from app.api.content_read import warm_first_pages
from app.api.describe import describe, retry_after_503
from app.api.errors import not_found, retry_later, unprocessable
from app.api.health import iso_now
from app.api.schemas import One, SuccessOf
from app.api.schemas_admin import (
    CacheCleared,
    CacheNamespaceStats,
    CachePurged,
    CacheState,
    CacheStats,
    CacheWarmed,
    Stamped,
)
from app.services import collections
from app.services.cache import ALL_NAMESPACES, DATABASE, Namespace, invalidate, invalidate_all

KV_DOWN = {503: (retry_after_503(", or CACHE_KV failed (the seconds until it is tried again)"),)}
PER_WORKER = ("memory and reads are this worker process's own, counted since it started (each worker keeps "
              "its own memory tier); ttl and generation are shared by every worker")


class CacheResource:
    """``GET /admin/api/cache``: each namespace's TTL now (``core-cache``'s settings applied) and
    built-in one, its dependencies, this worker's memory use."""

    def __init__(self, cache):
        self._cache = cache

    @access("plugins.manage")
    @describe("The cache's namespaces and this worker's memory tier", response=One[CacheState])
    def on_get(self, req, resp):
        cache = _required(self._cache)
        namespaces = {}
        for name in ALL_NAMESPACES:
            policy = cache.policy(name)
            namespaces[str(name)] = {"ttl": cache.ttl_of(name), "default_ttl": policy.ttl,
                                     "depends_on": [str(n) for n in policy.depends_on]}
        resp.media = {"data": {
            "namespaces": namespaces,
            "memory": {"entries": len(cache.memory), "bytes": cache.memory.total_bytes},
            "pending_invalidations": sorted(str(n) for n in cache.pending_bumps),
        }}


def namespace_stats(cache, namespace, usage, generations):
    """The stats of one namespace: ``usage`` is ``MemoryTier.usage()``, ``generations`` the
    tokens read from KV (None when KV is unusable)."""
    policy = cache.policy(namespace)
    entries, held = usage.get(str(namespace), (0, 0))
    reads = cache.reads(namespace)
    return {
        "ttl": cache.ttl_of(namespace), "default_ttl": policy.ttl, "depends_on": [str(n) for n in policy.depends_on],
        "generation": None if generations is None else generations[namespace],
        "memory": {"entries": entries, "bytes": held},
        "reads": reads, "hits": reads["memory"] + reads["kv"], "misses": reads[DATABASE],
    }


class StatsResource:
    """``GET /admin/api/cache/stats`` (every namespace) and ``/stats/{namespace}`` (one; 404 unknown)."""

    def __init__(self, cache):
        self._cache = cache

    @access("plugins.manage")
    @describe("Each namespace's memory use and lookups in this worker, TTL and generation",
              response=Stamped[CacheStats])
    def on_get(self, req, resp):
        cache = _required(self._cache)
        usage, generations = cache.memory.usage(), cache.generations(ALL_NAMESPACES)
        namespaces = {str(name): namespace_stats(cache, name, usage, generations) for name in ALL_NAMESPACES}
        resp.media = _stamped({
            "pid": os.getpid(), "scope": PER_WORKER, "namespaces": namespaces,
            "memory": {"entries": len(cache.memory), "bytes": cache.memory.total_bytes,
                       "max_bytes": cache.memory.max_bytes},
        })

    @access("plugins.manage")
    @describe("One namespace's memory use and lookups in this worker, TTL and generation",
              response=Stamped[CacheNamespaceStats])
    def on_get_item(self, req, resp, namespace):
        cache = _required(self._cache)
        name = _namespace(namespace)
        stats = namespace_stats(cache, name, cache.memory.usage(), cache.generations((name,)))
        resp.media = _stamped({"namespace": str(name), "pid": os.getpid(), "scope": PER_WORKER, **stats})


class PurgeResource:
    """``POST /admin/api/cache/purge`` (and ``/clear``): every namespace invalidated, for every worker."""

    def __init__(self, cache):
        self._cache = cache

    @access("plugins.manage")
    @describe("Purge every namespace, for every worker", response=SuccessOf[CachePurged])
    def on_post(self, req, resp):
        cache = _required(self._cache)
        pending = invalidate_all(cache)
        resp.media = {"success": True, "data": {"purged": [str(n) for n in ALL_NAMESPACES], "pending": pending}}


class ClearResource:
    """``POST /admin/api/cache/clear/{namespace}``: one namespace (and those depending on it)
    invalidated for every worker, as a write to it does."""

    def __init__(self, cache):
        self._cache = cache

    @access("plugins.manage")
    @describe("Invalidate one namespace and those depending on it, for every worker",
              response=SuccessOf[CacheCleared])
    def on_post(self, req, resp, namespace):
        cache = _required(self._cache)
        name = _namespace(namespace)
        invalidate(cache, name)
        resp.media = {"success": True, "data": {
            "namespace": str(name), "cleared": [str(n) for n in cache.dependents(name)],
            "pending": sorted(str(n) for n in cache.pending_bumps),  # this one's, and any earlier one's
        }}


def _warm_collections(cache):
    _data, source, _ttl = public_collections(cache)
    return [("/api/collections", source)]


def _warm_content(cache):
    return warm_first_pages(cache, [row.name for row in collections.active_collections()])


# What each warmable namespace fills: the reads an anonymous request without parameters makes.
WARMERS = {Namespace.COLLECTIONS: _warm_collections, Namespace.CONTENT: _warm_content}


class WarmResource:
    """``POST /admin/api/cache/warm`` (every warmable namespace) and ``/warm/{namespace}``."""

    def __init__(self, cache):
        self._cache = cache

    @access("plugins.manage")
    @describe("Fill the cache with the first pages of the public reads", response=SuccessOf[CacheWarmed],
              headers=KV_DOWN)
    def on_post(self, req, resp):
        resp.media = {"success": True, "data": warm_namespaces(_required(self._cache), WARMERS)}

    @access("plugins.manage")
    @describe("Fill one namespace with the first pages of its public reads", response=SuccessOf[CacheWarmed],
              headers=KV_DOWN)
    def on_post_item(self, req, resp, namespace):
        cache = _required(self._cache)
        name = _namespace(namespace)
        if name not in WARMERS:
            raise unprocessable(f"The {name} namespace cannot be warmed", [{
                "parameter": "namespace",
                "message": f"its entries are each read by a request (an item, a session, a setting); "
                           f"warmable: {', '.join(WARMERS)}",
            }])
        resp.media = {"success": True, "data": warm_namespaces(cache, {name: WARMERS[name]})}


def warm_namespaces(cache, warmers):
    """``{warmed: [{namespace, path, source}], loaded}``: each read ``warmers`` (``{namespace:
    warmer}``, from ``WARMERS``) look up, with the tier that had it (``database``: loaded now).

    Raises:
        APIError: 503 when CACHE_KV failed before or during the warm (nothing would be kept).
    """
    if cache.breaker.is_open:
        raise _kv_unavailable(cache)
    warmed = [{"namespace": str(name), "path": path, "source": source}
              for name, warm in warmers.items() for path, source in warm(cache)]
    if cache.breaker.is_open:
        raise _kv_unavailable(cache)
    return {"warmed": warmed, "loaded": sum(1 for entry in warmed if entry["source"] == DATABASE)}


def _kv_unavailable(cache):
    return retry_later(cache.breaker.remaining(), message="CACHE_KV is unavailable: nothing can be warmed")


def _namespace(name):
    try:
        return Namespace(name)
    except ValueError:
        raise not_found(f"Unknown cache namespace (known: {', '.join(ALL_NAMESPACES)})") from None


def _stamped(data):
    return {"success": True, "data": data, "timestamp": iso_now()}


def _required(cache):
    if cache is None:
        raise not_found("This app has no cache (no CACHE_KV binding)")
    return cache


def cache_routes(cache):
    """The routes the ``core-cache`` plugin mounts."""
    stats, warm, purge = StatsResource(cache), WarmResource(cache), PurgeResource(cache)
    return [
        ("/admin/api/cache", CacheResource(cache)),
        ("/admin/api/cache/stats", stats),
        ("/admin/api/cache/stats/{namespace}", stats, "item"),
        ("/admin/api/cache/purge", purge),
        ("/admin/api/cache/clear", purge),
        ("/admin/api/cache/clear/{namespace}", ClearResource(cache)),
        ("/admin/api/cache/warm", warm),
        ("/admin/api/cache/warm/{namespace}", warm, "item"),
    ]
