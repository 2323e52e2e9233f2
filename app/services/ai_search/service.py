"""``POST /api/search`` and ``GET /api/search/suggest``: a search across collections, as the
caller may read them.

A keyword search is the content list's full-text search (``keyword.py``). A search in
``ai`` mode asks the semantic index (``semantic.py``) to rank the items by meaning, then
reads the ranked ids through the same list, so the caller's scope and the filters apply
exactly as to a keyword search, and keeps the rank order. Without the index (no ``AI``
binding, ``ai_mode_enabled`` off) or when the embeddings model fails, it is a keyword search
and says why in ``fallback``.
"""

import dataclasses
import time

from app.db.models import Collection
from app.services.ai_search import history, keyword
from app.services.ai_search.media import found_media
from app.services.ai_search.semantic import EmbeddingUnavailable
from app.services.content.query import MAX_LIMIT, visibility
from app.services.errors import INVALID, ServiceError

KEYWORD, AI = "keyword", "ai"
# The most items the semantic index ranks for one search: a page past them is empty.
MAX_RANKED = MAX_LIMIT
SUGGESTIONS = 10
# Items a suggestion's title search reads (best matches first) to find titles starting with q.
SUGGEST_SCAN = 50
MIN_SUGGEST_LENGTH = 2
MAX_SUGGEST_LENGTH = 100
NO_INDEX = "no AI binding: the semantic index is unavailable"
AI_OFF = "ai_mode_enabled is off in the plugin's settings"
MODEL_FAILED = "the embeddings model could not answer"


class UnknownCollections(ServiceError):
    """``filters.collections`` names collections that do not exist."""

    kind = INVALID

    def __init__(self, unknown):
        super().__init__(f"Unknown collection: {', '.join(unknown)}",
                         [{"field": "filters.collections", "message": f"no collection has the id or name {name!r}"}
                          for name in unknown])


@dataclasses.dataclass(frozen=True)
class SearchRequest:
    """A validated search: ``collections`` are ids or names as given (None: every one)."""

    query: str
    mode: str = KEYWORD
    collections: tuple | None = None
    filters: keyword.Filters = keyword.Filters()
    limit: int | None = None
    offset: int = 0


def search(request, scope, settings, index, user=None):
    """``{results, total, query_time_ms, mode}`` (and ``fallback``, ``total_is_estimate`` when so;
    ``media`` and ``media_total`` with ``index_media`` on).

    Args:
        request: the SearchRequest.
        scope: the caller's content Scope.
        settings: the plugin's SearchSettings.
        index: the SemanticIndex, or None (no ``AI`` binding).
        user: the caller's Principal (None: anonymous), whose media files are searched.

    Raises:
        UnknownCollections; InvalidFilters and NotPermitted (``keyword.list_params``).
    """
    started = time.perf_counter()
    if not settings.enabled:
        return {"results": [], "total": 0, "query_time_ms": 0, "mode": request.mode}
    ids = searched_collections(request.collections, settings.selected_collections)
    filters = dataclasses.replace(request.filters, collection_ids=ids)
    limit = request.limit or settings.results_limit
    # The filters are checked first, whatever the mode and whatever the index holds: a status
    # the caller may not read, an invalid date, raise before the model is asked anything.
    checked = keyword.list_params(scope, dataclasses.replace(filters, collection_ids=None),
                                  query=request.query, limit=limit, offset=request.offset)
    answer, fallback = None, None
    if request.mode == AI:
        fallback = NO_INDEX if index is None else AI_OFF if not settings.ai_mode_enabled else None
        if fallback is None:
            try:
                answer = _semantic(index, request.query, scope, filters, checked, limit, request.offset)
            except EmbeddingUnavailable:
                fallback = MODEL_FAILED
    if answer is None:
        answer = _keyword(request.query, scope, filters, limit, request.offset)
    if settings.index_media:
        answer.update(found_media(request.query, user, limit))
    answer["query_time_ms"] = round((time.perf_counter() - started) * 1000)
    if fallback is not None:
        answer["fallback"] = fallback
    return answer


def searched_collections(named, selected):
    """The ids of the collections a search reads: those ``named`` (ids or names) within
    ``selected`` (the settings'; empty: every collection); None: every collection.

    Raises:
        UnknownCollections: a name or id in ``named`` is no collection's.
    """
    if not named:
        return tuple(sorted(set(selected))) if selected else None
    rows = Collection.select(Collection.id, Collection.name).where(
        Collection.id.in_(list(named)) | Collection.name.in_(list(named))).tuples()
    ids = {by_id: by_id for by_id, _ in rows} | {name: by_id for by_id, name in rows}
    unknown = [name for name in dict.fromkeys(named) if name not in ids]
    if unknown:
        raise UnknownCollections(unknown)
    found = {ids[name] for name in named}
    return tuple(sorted(found & set(selected) if selected else found))


def _keyword(query, scope, filters, limit, offset):
    if filters.collection_ids == ():
        return {"results": [], "total": 0, "mode": KEYWORD}
    params = keyword.list_params(scope, filters, query=query, limit=limit, offset=offset)
    items, total, estimated = keyword.run(params, scope)
    words = keyword.query_words(query)
    answer = {"results": [keyword.result_of(item, words) for item in items], "total": total, "mode": KEYWORD}
    if estimated:
        answer["total_is_estimate"] = True
    return answer


def _semantic(index, query, scope, filters, checked, limit, offset):
    """The ranked items ``scope`` may read with ``filters``, in rank order, one page of them.

    Only the items the caller may read (``checked``'s statuses, their own drafts, the trash
    left out) are ranked, so the ``MAX_RANKED`` nearest are all readable ones; the other
    filters (dates, author, tags) apply to those. When the index gave ``MAX_RANKED`` items,
    more may match: ``total`` is then an estimate. Both reads have a fixed LIMIT and IN
    lists padded (``keyword.padded``), so that they are a few statements, not one per size.
    """
    collection_ids = filters.collection_ids
    if collection_ids == ():
        return {"results": [], "total": 0, "mode": AI}
    if collection_ids is None:
        collection_ids = tuple(row_id for (row_id,) in Collection.select(Collection.id).tuples())
    readable_by = visibility(scope, checked.statuses, checked.include_deleted)
    ranked = index.rank(query, list(collection_ids), limit=MAX_RANKED, where=readable_by)[:MAX_RANKED]
    scores = dict(ranked)
    readable = set()
    if ranked:
        params = keyword.list_params(scope, filters, limit=MAX_RANKED, ids=list(scores), fields=("id",))
        readable = {item["id"] for item in keyword.run(params, scope)[0]}
    order = list(dict.fromkeys(content_id for content_id, _ in ranked if content_id in readable))
    page = order[offset:offset + limit]
    items = {}
    if page:
        params = keyword.list_params(scope, filters, limit=MAX_RANKED, ids=page)
        items = {item["id"]: item for item in keyword.run(params, scope)[0]}
    words = keyword.query_words(query)
    results = [keyword.result_of(items[content_id], words, float(scores[content_id]))
               for content_id in page if content_id in items]
    answer = {"results": results, "total": len(order), "mode": AI}
    if len(ranked) >= MAX_RANKED:
        answer["total_is_estimate"] = True
    return answer


def reads_as_public(scope):
    """Whether ``scope`` reads only what the public reads (anonymous callers, viewers): its
    searches may become suggestions for everyone (``history.past_queries``)."""
    return not (scope.see_all or scope.see_own)


def suggest(text, scope, settings, user_id):
    """At most ``SUGGESTIONS`` completions of ``text``: titles the caller may read that start
    with it, then past queries (``history.past_queries``); [] under two characters."""
    text = " ".join(text.split())[:MAX_SUGGEST_LENGTH]
    if len(text) < MIN_SUGGEST_LENGTH or not (settings.enabled and settings.autocomplete_enabled):
        return []
    found = _titles(text, scope, settings) + history.past_queries(text, user_id, SUGGESTIONS)
    seen, suggestions = set(), []
    for suggestion in found:
        if suggestion.casefold() not in seen:
            seen.add(suggestion.casefold())
            suggestions.append(suggestion)
    return suggestions[:SUGGESTIONS]


def _titles(text, scope, settings):
    """Titles starting with the words of ``text`` (the last one a prefix), of the items
    ``scope`` may read in the searched collections, in title order.

    The full-text index finds the items holding the words; only those whose title holds
    the first word are read, at most ``SUGGEST_SCAN``, by title: no relevance is computed,
    which would score every match of a short prefix.
    """
    words = keyword.query_words(text)
    if not words:
        return []
    filters = keyword.Filters(collection_ids=searched_collections(None, settings.selected_collections),
                              title_holds=words[0])
    query = " ".join([*words[:-1], words[-1] + "*"])
    params = keyword.list_params(scope, filters, query=query, sort="title", limit=SUGGEST_SCAN, fields=("title",))
    prefix = " ".join(words).casefold()
    titles = [item["title"] for item in keyword.run(params, scope)[0]]
    return [title for title in titles
            if title and " ".join(keyword.query_words(title)).casefold().startswith(prefix)][:SUGGESTIONS]
