"""``/admin/api/cache``: the read cache's namespaces and memory tier; a purge of everything.

Mounted by the core plugin ``core-cache`` (404 while it is inactive); ``plugins.manage``
(admins). Without a CACHE_KV binding there is no cache: both answer 404.
"""

from app.api.access import access
from app.api.describe import describe
from app.api.errors import not_found
from app.api.schemas import One, SuccessOf
from app.api.schemas_admin import CachePurged, CacheState
from app.services.cache import ALL_NAMESPACES, invalidate


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


class PurgeResource:
    """``POST /admin/api/cache/purge``: every namespace invalidated, for every worker."""

    def __init__(self, cache):
        self._cache = cache

    @access("plugins.manage")
    @describe("Purge every namespace, for every worker", response=SuccessOf[CachePurged])
    def on_post(self, req, resp):
        cache = _required(self._cache)
        pending = [str(name) for name in ALL_NAMESPACES if not invalidate(cache, name)]
        resp.media = {"success": True, "data": {"purged": [str(n) for n in ALL_NAMESPACES], "pending": pending}}


def _required(cache):
    if cache is None:
        raise not_found("This app has no cache (no CACHE_KV binding)")
    return cache


def cache_routes(cache):
    """The routes the ``core-cache`` plugin mounts."""
    return [("/admin/api/cache", CacheResource(cache)), ("/admin/api/cache/purge", PurgeResource(cache))]
