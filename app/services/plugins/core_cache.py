"""The ``core-cache`` core plugin: the read cache's state and a purge of everything, for admins.

Its row is SonicJS's (migration 0010). ``POST /admin/api/cache/purge`` bumps the generation
of every cache namespace in CACHE_KV, so every worker's next read of anything misses;
``GET /admin/api/cache`` shows each namespace's TTL and this worker's memory tier. Both
answer 404 while the plugin is inactive. (The stored TTL settings are shown, not applied:
each namespace keeps the TTL of ``app.services.cache.DEFAULT_POLICIES``.)
"""

from app.services.plugins import PluginInfo, hookimpl

NAME = "core-cache"

INFO = PluginInfo(
    name=NAME, display_name="Cache System", version="1.0.0", author="SonicJS", category="performance",
    description="Three-tiered caching system (Memory → KV → Database) for public reads, invalidated on every write",
    active_by_default=True, is_core=True,
)


class CoreCache:
    """The plugin object: it mounts the cache routes."""

    plugin_info = INFO

    @hookimpl
    def register_routes(self, services):
        from app.api.cache import cache_routes  # the resources live with the other API modules

        return cache_routes(services.cache)
