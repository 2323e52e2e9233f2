"""``/api/search``: the AI Search plugin's search, suggestions and analytics.

Mounted by the core plugin ``ai-search`` (404 while it is inactive).

* ``POST /api/search``: a search, for anyone; the caller reads exactly what ``/api/content``
  shows them (the public: published items of active collections, no author's email), so
  asking for drafts anonymously is a 401, as ``/api/content?status=draft`` is. Every search
  is recorded in the search history after the response, with a keyed hash of the client's
  address, never the address.
  The public's answers (anonymous callers, viewers) are kept in the read cache for the
  settings' ``cache_duration`` hours (``app.services.ai_search.cached``), with
  ``X-Cache-Status``, ``X-Cache-Source`` and, on a hit, ``X-Cache-TTL`` as ``/api/content``
  sends them; a hit is recorded in the history and rate limited as any search.
* ``GET /api/search/suggest?q=``: completions, for anyone; never cached (they follow the
  search history, which changes with every search, and the caller's own past queries).

Both are rate limited per client address (``search``, ``search-suggest``: ``PER_MINUTE``
in ``rate_limits.py``), every request counted, with the ``X-RateLimit-*`` headers.
* ``GET /api/search/analytics``: the last 30 days of searches, for admins (``plugins.manage``).
"""

from app.api.access import access
from app.api.content_read import cache_headers, caller_scope, list_errors
from app.api.describe import CACHE_SOURCE, CACHE_STATUS, CACHE_TTL, Param, describe
from app.api.errors import field_error, read_body
from app.api.private import no_store
from app.api.rate_limits import Guard, rate_limited
from app.api.schemas_search import AnalyticsResponse, SearchBody, SearchFilters, SearchResponse, Suggestions
from app.services.ai_search import cached, history, service
from app.services.ai_search.history import MAX_QUERY_LENGTH
from app.services.ai_search.keyword import Filters

SEARCH_ACTION, SUGGEST_ACTION = "search", "search-suggest"
SEARCH_NOTES = (
    "Keyword mode is the content list's full-text search (`search=`'s syntax), best matches first. "
    "`ai` mode ranks by meaning when the app has an `AI` binding and `ai_mode_enabled` is on; otherwise, "
    "or when the model fails, the answer is a keyword search with `mode: keyword` and `fallback` saying why. "
    "Callers read what `/api/content` shows them: anonymous callers see published items only. "
    "The answers of anonymous callers and viewers are cached for the settings' `cache_duration` hours "
    "(0: never), until a write changes content; `X-Cache-Status` says whether this one was."
)


def trimmed_query(body):
    """``body.query`` without the spaces around it; a 422 naming ``query`` when that leaves
    it empty or longer than ``MAX_QUERY_LENGTH``."""
    query = body.query.strip()
    if not 0 < len(query) <= MAX_QUERY_LENGTH:
        raise field_error("query", f"must be 1 to {MAX_QUERY_LENGTH} characters (spaces around it left out)")
    return query


def search_request(body):
    """The service's SearchRequest of a validated SearchBody."""
    given = body.filters if body.filters is not None else SearchFilters()
    dates = given.date_range
    filters = Filters(
        statuses=tuple(given.status) if given.status else None,
        date_field=dates.field if dates else "created_at",
        start=dates.start if dates else None, end=dates.end if dates else None,
        author=given.author, tags=tuple(given.tags or ()),
    )
    collections = tuple(given.collections) if given.collections else None
    return service.SearchRequest(query=trimmed_query(body), mode=body.mode, collections=collections,
                                 filters=filters, limit=body.limit, offset=body.offset)


class SearchResource:
    """``POST /api/search``."""

    def __init__(self, settings, semantic_index, guard, secret, cache=None):
        self._settings = settings
        self._semantic_index = semantic_index
        self._guard = guard
        self._secret = secret
        self._cache = cache

    @access(public=True)
    @rate_limited(SEARCH_ACTION)
    @describe("Search content across collections", description=SEARCH_NOTES, body=SearchBody,
              response=SearchResponse, headers={200: (CACHE_STATUS, CACHE_SOURCE, CACHE_TTL)})
    @no_store
    def on_post(self, req, resp):
        self._guard.acquire(req, SEARCH_ACTION)
        request = search_request(read_body(req, SearchBody))
        settings, scope = self._settings(), caller_scope(req)
        index = self._semantic_index() if request.mode == service.AI else None
        with list_errors(req, scope):
            answer, source, ttl = cached.search(self._cache, request, scope, settings, index,
                                                req.context.user, defer=req.context.ctx.wait_until)
        if settings.enabled:
            user = req.context.user
            req.context.ctx.wait_until(history.record, request.query, answer["mode"], answer["total"],
                                       answer["query_time_ms"], user.id if user is not None else None,
                                       public=service.reads_as_public(scope),
                                       client=history.client_key(self._secret, self._guard.address(req)))
        cache_headers(resp, source, ttl)
        resp.media = {"success": True, "data": answer}


class SuggestResource:
    """``GET /api/search/suggest?q=``."""

    def __init__(self, settings, guard):
        self._settings = settings
        self._guard = guard

    @access(public=True)
    @rate_limited(SUGGEST_ACTION)
    @describe("Complete a search: titles the caller may read, and queries the public asks often",
              query=(Param("q", str, "what was typed (2 characters at least)"),), response=Suggestions)
    @no_store
    def on_get(self, req, resp):
        self._guard.acquire(req, SUGGEST_ACTION)
        scope = caller_scope(req)
        user = req.context.user
        with list_errors(req, scope):
            found = service.suggest(req.get_param("q") or "", scope, self._settings(),
                                    user.id if user is not None else None)
        resp.media = {"success": True, "data": found}


class AnalyticsResource:
    """``GET /api/search/analytics``."""

    @access("plugins.manage")
    @describe("The searches of the last 30 days: counts by mode, the most asked, the average time",
              response=AnalyticsResponse)
    @no_store
    def on_get(self, req, resp):
        resp.media = {"success": True, "data": history.analytics()}


def search_routes(settings, semantic_index, rate_limiter, app_settings, cache=None):
    """The routes the ``ai-search`` plugin mounts.

    Args:
        settings: returns the plugin's SearchSettings now.
        semantic_index: returns the SemanticIndex, or None without an ``AI`` binding.
        rate_limiter: the app's RateLimiter (the counters every worker shares).
        app_settings: the app's Settings (its rate-limit window, proxies and secret).
        cache: the app's ThreeTierCache (None: searches are not cached).
    """
    guard = Guard(rate_limiter, app_settings)
    return [
        ("/api/search", SearchResource(settings, semantic_index, guard, app_settings.jwt_secret, cache)),
        ("/api/search/suggest", SuggestResource(settings, guard)),
        ("/api/search/analytics", AnalyticsResource()),
    ]
