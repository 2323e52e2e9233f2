"""The cache page (``plugins.manage``): each namespace's TTL, generation, this worker's memory
use and lookups, with buttons that clear a namespace, purge everything and warm the public
first pages.

The page and its actions are the ``/admin/api/cache`` routes' (``app.api.cache``): the same
stats, the same invalidations, the same warmers. Like those routes they answer 404 without a
cache or while the ``core-cache`` plugin is inactive. Each action goes back to the page,
which says what it did.
"""

from app.admin.pages import redirect
from app.api.access import access
from app.api.cache import PER_WORKER, WARMERS, namespace_stats, warm_namespaces
from app.api.errors import not_found
from app.services.cache import ALL_NAMESPACES, Namespace, invalidate
from app.services.plugins.core_cache import NAME as PLUGIN

PAGE = "/admin/cache"


class CachePages:
    """What the cache page and its actions share: the cache, and whether they are served."""

    def __init__(self, cache, registry):
        self._cache = cache
        self._registry = registry

    def available(self):
        """The cache, or a 404 when there is none or ``core-cache`` is inactive."""
        if self._cache is None or not self._registry.is_active(PLUGIN):
            raise not_found("The cache is off (no CACHE_KV binding, or the core-cache plugin is inactive)")
        return self._cache

    def nav(self, user):
        """``[(href, title)]``: the Cache page, for a ``user`` who may manage plugins while it is served."""
        # Who asks first: a signed-out page (the sign-in form) reads no plugin state.
        if user is None or not user.can("plugins.manage"):
            return []
        return [(PAGE, "Cache")] if self._cache is not None and self._registry.is_active(PLUGIN) else []


class CachePage:
    """``GET /admin/cache``: the stats table and the buttons."""

    def __init__(self, renderer, pages):
        self._renderer = renderer
        self._pages = pages

    @access("plugins.manage")
    def on_get(self, req, resp):
        cache = self._pages.available()
        usage, generations = cache.memory.usage(), cache.generations(ALL_NAMESPACES)
        rows = [{"name": str(name), "warmable": name in WARMERS, **namespace_stats(cache, name, usage, generations)}
                for name in ALL_NAMESPACES]
        self._renderer.page(
            req, resp, "cache.html", rows=rows, scope=PER_WORKER, memory=cache.memory, done=_done(req),
        )


def _done(req):
    """What the action before this page did, from its redirect's query."""
    cleared, loaded = req.get_param("cleared"), req.get_param("loaded")
    if req.get_param("pending") == "1" and (cleared == "all" or cleared in ALL_NAMESPACES):
        what = "Every namespace was" if cleared == "all" else f"The {cleared} namespace and those depending on it were"
        return (f"{what} cleared in this worker only, for now: CACHE_KV did not take the change (pending). "
                "This worker writes it before it next uses the cache; until then other workers may serve "
                "what they hold, at most until it expires.")
    if cleared == "all":
        return "Every namespace was cleared, for every worker."
    if cleared in ALL_NAMESPACES:
        return f"The {cleared} namespace and those depending on it were cleared, for every worker."
    if loaded is not None and loaded.isdecimal():
        return f"The cache was warmed: {loaded} public read(s) loaded, the others were cached already."
    return None


class CacheClearAction:
    """``POST /admin/cache/clear`` (every namespace) and ``/admin/cache/clear/{namespace}`` (one, 404 unknown)."""

    def __init__(self, pages):
        self._pages = pages

    @access("plugins.manage")
    def on_post(self, req, resp):
        cache = self._pages.available()
        for name in ALL_NAMESPACES:
            invalidate(cache, name)
        redirect(resp, f"{PAGE}?cleared=all{_pending(cache)}")

    @access("plugins.manage")
    def on_post_item(self, req, resp, namespace):
        cache = self._pages.available()
        if namespace not in ALL_NAMESPACES:
            raise not_found("Unknown cache namespace")
        invalidate(cache, namespace)
        redirect(resp, f"{PAGE}?cleared={namespace}{_pending(cache)}")


def _pending(cache):
    """``&pending=1`` when a bump has not reached CACHE_KV yet (this one, or an earlier one)."""
    return "&pending=1" if cache.pending_bumps else ""


class CacheWarmAction:
    """``POST /admin/cache/warm`` (every warmable namespace) and ``/admin/cache/warm/{namespace}``."""

    def __init__(self, pages):
        self._pages = pages

    @access("plugins.manage")
    def on_post(self, req, resp):
        warmed = warm_namespaces(self._pages.available(), WARMERS)
        redirect(resp, f"{PAGE}?loaded={warmed['loaded']}")

    @access("plugins.manage")
    def on_post_item(self, req, resp, namespace):
        cache = self._pages.available()
        if namespace not in WARMERS:
            raise not_found("No warmable cache namespace has that name")
        warmed = warm_namespaces(cache, {Namespace(namespace): WARMERS[Namespace(namespace)]})
        redirect(resp, f"{PAGE}?loaded={warmed['loaded']}")


def register(routes, renderer):
    """Mount the cache page and its actions; returns their ``CachePages`` (its ``nav``)."""
    services = routes.services
    pages = CachePages(services.cache, services.plugins)
    routes.add_page(PAGE, CachePage(renderer, pages))
    clear, warm = CacheClearAction(pages), CacheWarmAction(pages)
    routes.add_page(f"{PAGE}/clear", clear)
    routes.add_page(f"{PAGE}/clear/{{namespace}}", clear, "item")
    routes.add_page(f"{PAGE}/warm", warm)
    routes.add_page(f"{PAGE}/warm/{{namespace}}", warm, "item")
    return pages
