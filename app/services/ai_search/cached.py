"""The answers of ``POST /api/search`` kept in the app's read cache for ``cache_duration`` hours.

Only answers that depend on nothing private are shared: those of callers who read what the
public reads (``service.reads_as_public``: anonymous callers, viewers; a search never shows
an author's email). They share one entry per request as the search reads it (the trimmed
query, mode, collections, filters, limit and offset), the settings that shaped it (a
fingerprint of ``ANSWER_SETTINGS``: a change of one starts new entries) and, in ``ai`` mode, the
model of the ``AI`` binding. Callers who also see drafts or their own items (editors,
authors) are never answered from the cache nor fill it: their answers are made per request.
With ``index_media`` on, neither are callers who see media the public does not (their own
uploads, with ``media.read``).

Entries live in the ``content`` namespace (``app.services.cache``), under its generations,
which also follow collections, media and users: a content or collection write invalidates
them exactly when it invalidates ``/api/content``'s cached lists, so an item published is
found, and one deleted or unpublished is gone, on the next search. The semantic index
invalidates the namespace again once it has stored new vectors (``semantic_index_for``), so
a cached ``ai`` answer never outlives the vectors it ranked.

An ``ai`` search answered by keywords because the model failed (``fallback`` is
``MODEL_FAILED``) is not stored: the next search asks the model again. The other fallbacks
(no ``AI`` binding, ``ai_mode_enabled`` off) are what the app and its settings say, which
the key holds: they are cached as any answer. ``cache_duration`` 0 caches nothing; an app
without CACHE_KV caches nothing either.

A hit answers ``query_time_ms`` of the hit itself: what this search took.
"""

import dataclasses
import hashlib
import time

import msgspec

from app.services.ai_search import service
from app.services.ai_search.media import sees_public_media_only
from app.services.cache import DATABASE, Namespace

NAMESPACE = Namespace.CONTENT
# Leads every key: search answers never meet the content reads' entries of the namespace,
# and a change of the answer's shape starts new entries.
KEY_LAYOUT = "search-1"
HOUR_SECONDS = 3600


class _NotStored(Exception):
    """Raised by the loader for an answer that must not be stored: the cache stores nothing
    when its loader raises, and the answer is served as it is."""

    def __init__(self, answer):
        super().__init__("answer not cached")
        self.answer = answer


# The settings an answer depends on: a change of one starts new entries. The others (the
# dismissed collections, suggestions, the duration itself) leave the cached answers be.
ANSWER_SETTINGS = ("enabled", "ai_mode_enabled", "selected_collections", "results_limit", "index_media")


def settings_fingerprint(settings):
    """A short digest of the ``ANSWER_SETTINGS`` of ``settings`` (SearchSettings): a changed
    setting, a changed key."""
    shaping = {name: getattr(settings, name) for name in ANSWER_SETTINGS}
    return hashlib.sha256(msgspec.json.encode(shaping)).hexdigest()[:24]


def cache_key(request, settings, index):
    """The key parts of ``request`` (a SearchRequest) searched with ``settings`` and ``index``."""
    model = index.model if index is not None and request.mode == service.AI else None
    return (KEY_LAYOUT, settings_fingerprint(settings), model, dataclasses.asdict(request))


def shared(cache, scope, settings, user=None):
    """Whether a search by ``scope`` (and ``user``, whose media it finds) with ``settings``
    goes through ``cache``."""
    return (cache is not None and settings.enabled and settings.cache_duration > 0
            and service.reads_as_public(scope) and (not settings.index_media or sees_public_media_only(user)))


def search(cache, request, scope, settings, index, user=None, defer=None):
    """``service.search``'s answer, from ``cache`` when it may be shared: ``(answer, source, ttl)``.

    Args:
        cache: the app's ThreeTierCache, or None.
        request, scope, settings, index, user: as ``service.search`` takes them.
        defer: ``ctx.wait_until``: a miss is stored after the response.

    Returns:
        The answer, the tier that gave it (``DATABASE`` for a search made now, cached or
        not) and, for a hit, the seconds it stays cached in this worker (or None).

    Raises:
        What ``service.search`` raises (nothing is then stored).
    """
    if not shared(cache, scope, settings, user):
        return service.search(request, scope, settings, index, user), DATABASE, None
    started = time.perf_counter()

    def load():
        answer = service.search(request, scope, settings, index, user)
        if answer.get("fallback") == service.MODEL_FAILED:
            raise _NotStored(answer)
        return answer

    try:
        answer, source, ttl = cache.get_or_load_timed(NAMESPACE, cache_key(request, settings, index), load,
                                                      defer=defer, ttl=settings.cache_duration * HOUR_SECONDS)
    except _NotStored as ex:
        return ex.answer, DATABASE, None
    if source != DATABASE:
        answer["query_time_ms"] = round((time.perf_counter() - started) * 1000)
    return answer, source, ttl
