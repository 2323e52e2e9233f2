"""The ``core-cache`` core plugin: the read cache's TTLs from its settings, its state and administration.

Its row is SonicJS's (migration 0010). Its settings set how long cached reads live, per
namespace: ``ttl`` (``{"content": 120, ...}``) names a namespace's TTL, ``defaultTTL`` the
TTL of the namespaces ``ttl`` leaves out, and a namespace named by neither keeps the TTL of
``app.services.cache.DEFAULT_POLICIES``. Every TTL is 60 s (KV's minimum) to 30 days
(memcached reads longer ones as a date). The cache asks for a namespace's TTL each time it
stores an entry, and the plugin reads its settings through the cached plugin state, so a
change reaches every worker on its next stored entry; entries already stored keep the TTL
they were stored with. The ``plugins`` namespace keeps its own TTL: its reads are the ones
that find these settings.

``POST /admin/api/cache/purge`` bumps the generation of every cache namespace in CACHE_KV,
so every worker's next read of anything misses; ``GET /admin/api/cache`` shows each
namespace's TTL now and this worker's memory tier; the stats, clear and warm routes
(``app.api.cache``) and the ``/admin/cache`` page (``app.admin.cache``) go with them. All
answer 404 while the plugin is inactive, and an inactive plugin's settings are not applied (every namespace has its
built-in TTL). ``memoryEnabled``, ``kvEnabled`` and ``maxMemorySize`` are SonicJS's keys,
kept so its settings form validates; they are not applied (the memory tier's size is
``CACHE_MEMORY_MAX_BYTES``).
"""

import msgspec

from app.services.cache import MIN_TTL_SECONDS, Namespace
from app.services.plugins import PluginInfo, ReadsOwnSettings, SettingError, hookimpl

NAME = "core-cache"
MAX_TTL_SECONDS = 30 * 24 * 3600  # memcached reads a longer expiration as an absolute time
CONFIGURABLE = tuple(str(namespace) for namespace in Namespace if namespace != Namespace.PLUGINS)


class CacheSettings(msgspec.Struct, forbid_unknown_fields=True):
    """Settings of ``core-cache``.

    Attributes:
        ttl: seconds per namespace (``content``, ``collections``, ``media``, ``users``, ``api``).
        defaultTTL: seconds for the namespaces ``ttl`` leaves out; None keeps their built-in TTLs.
        memoryEnabled, kvEnabled, maxMemorySize: SonicJS's, shown and not applied.
    """

    # SonicJS's camelCase keys are the stored names; the attributes are snake_case.
    ttl: dict[str, int] = msgspec.field(default_factory=dict)
    default_ttl: int | None = msgspec.field(default=None, name="defaultTTL")
    memory_enabled: bool = msgspec.field(default=True, name="memoryEnabled")
    kv_enabled: bool = msgspec.field(default=True, name="kvEnabled")
    max_memory_size: int = msgspec.field(default=50, name="maxMemorySize")

    def __post_init__(self):
        for name, seconds in self.ttl.items():
            if name not in CONFIGURABLE:
                raise SettingError(f"ttl.{name}",
                                   f"ttl: unknown cache namespace {name!r} (one of {', '.join(CONFIGURABLE)})")
            _check_ttl(f"ttl.{name}", seconds)
        if self.default_ttl is not None:
            _check_ttl("defaultTTL", self.default_ttl)


def _check_ttl(field, seconds):
    if not MIN_TTL_SECONDS <= seconds <= MAX_TTL_SECONDS:
        raise SettingError(field, f"{field} must be between {MIN_TTL_SECONDS} and {MAX_TTL_SECONDS} seconds")


INFO = PluginInfo(
    name=NAME, display_name="Cache System", version="1.0.0", author="SonicJS", category="performance",
    description="Three-tiered caching system (Memory → KV → Database) for public reads, invalidated on every write",
    settings_schema=CacheSettings, default_settings=msgspec.to_builtins(CacheSettings()),
    active_by_default=True, is_core=True,
)


def ttl_from_settings(settings, namespace):
    """The TTL ``settings`` (as stored) give ``namespace``, or None (keep the built-in one)."""
    if str(namespace) not in CONFIGURABLE:
        return None
    ttl = settings.get("ttl")
    seconds = ttl.get(str(namespace)) if isinstance(ttl, dict) else None
    if seconds is None:
        seconds = settings.get("defaultTTL")
    valid = isinstance(seconds, int) and not isinstance(seconds, bool)
    return seconds if valid and MIN_TTL_SECONDS <= seconds <= MAX_TTL_SECONDS else None


class CoreCache(ReadsOwnSettings):
    """The plugin object (one per app): it mounts the cache routes and gives the cache its TTLs."""

    plugin_info = INFO

    @hookimpl
    def startup(self, services):
        self.attach(services)
        if services.cache is not None:
            services.cache.ttl_source = self.ttl_for

    @hookimpl
    def register_routes(self, services):
        from app.api.cache import cache_routes  # the resources live with the other API modules

        return cache_routes(services.cache)

    def ttl_for(self, namespace):
        """The TTL the settings give ``namespace`` while the plugin is active, else None."""
        if str(namespace) not in CONFIGURABLE:
            return None  # the plugins namespace first: reading the settings reads it
        state = self.own_state()
        if state is None or state["status"] != "active":
            return None
        return ttl_from_settings(state["settings"] or {}, namespace)
