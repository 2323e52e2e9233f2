"""A search as a content list: the list's own parsing, scope, full-text index and ranking.

A search is ``GET /api/content?search=...&sort=relevance`` with the search's filters: the
same ``parse_list_params`` (so the caller's scope decides which statuses and columns it may
ask for, exactly as on ``/api/content``), the same ``search=`` query syntax answered by the
full-text index (FTS5 on SQLite, ``tsvector`` on PostgreSQL), best matches first. The
filters become a ``where`` of the list (dates, author, tags) and conditions on the
collection and, for a semantic search, on the ranked ids. Errors name the body's fields.
"""

import dataclasses
import html
import re

import msgspec

from app.services.ai_search.semantic import string_values
from app.services.content.fields import QueryError, resolve_field
from app.services.content.filters import Condition, Group
from app.services.content.query import list_content, parse_list_params
from app.services.content.search import parse_search
from app.services.errors import BAD_REQUEST, ServiceError

SNIPPET_LENGTH = 200
SNIPPET_LEAD = 60  # characters kept before the first match
# The text of ``data`` a snippet is looked for in: enough for any page, bounded for a huge one.
SNIPPET_SOURCE = 20_000
# A tag: '<', then anything but another '<', then '>'. A lone '<' in plain text ("x < y") opens
# none, so the words after it stay, as the index keeps them.
_TAG = re.compile(r"<[^<>]*>")
_SPACE = re.compile(r"\s+")
_ID = resolve_field("id", "ids")
_COLLECTION = resolve_field("collection_id", "filters.collections")


class InvalidFilters(ServiceError):
    """400: a filter the body's types accept but the list cannot read (a date that is no
    date); ``details`` is ``[{field, message, ...}]`` on the body's fields, as a 422 of the
    same body names them: they are not the content list's query parameters it was read as."""

    kind = BAD_REQUEST

    def __init__(self, problems):
        super().__init__("Invalid search filters", problems)


@dataclasses.dataclass(frozen=True)
class Filters:
    """A search's filters, as the body gave them (collections already resolved to ids).

    Attributes:
        collection_ids: the collections searched; None: every one.
        statuses: the statuses asked for; None: the caller's default (as ``/api/content``).
        date_field: ``created_at`` or ``updated_at``, which ``start`` and ``end`` bound.
        start, end: epoch ms or ISO dates (a bare ``end`` date includes its day); None: open.
        author: the author's user id, or None.
        tags: items whose ``data.tags`` holds any of them; empty: no tag filter.
        title_holds: items whose title holds this text (case-insensitive), or None.
    """

    collection_ids: tuple | None = None
    statuses: tuple | None = None
    date_field: str = "created_at"
    start: object = None
    end: object = None
    author: str | None = None
    tags: tuple = ()
    title_holds: str | None = None


def list_params(scope, filters, *, query=None, sort="relevance", limit, offset=0, ids=None, fields=None):
    """The ListParams of a search (``query``, by ``sort``) or of a read of ranked ``ids``, for ``scope``.

    Raises:
        InvalidFilters: a filter is invalid (its problems name the body's fields);
        NotPermitted: ``filters.statuses`` asks for more than ``scope`` may read.
    """
    params = {"limit": str(limit), "offset": str(offset)}
    if query is not None:
        params.update(search=query, sort=sort)
    if filters.statuses:
        params["status"] = ",".join(filters.statuses)
    if fields:
        params["fields"] = ",".join(fields)
    conditions, names = _conditions(filters)
    if conditions:
        params["where"] = msgspec.json.encode({"and": conditions}).decode()
    several = filters.collection_ids is not None and len(filters.collection_ids) > 1
    if filters.collection_ids is not None and not several:
        params["collection_id"] = filters.collection_ids[0]
    try:
        parsed = parse_list_params(params, scope)
    except QueryError as ex:
        raise InvalidFilters([_field_problem(problem, names) for problem in ex.problems]) from None
    extra = []
    if several:  # bound values, as many as there are collections (the where text is bounded)
        extra.append(Condition(_COLLECTION, "in", padded(filters.collection_ids), "filters.collections"))
    if ids is not None:
        extra.append(Condition(_ID, "in", padded(ids), "ids"))
    if extra:
        where = Group("and", tuple([parsed.where] if parsed.where is not None else []) + tuple(extra))
        parsed = dataclasses.replace(parsed, where=where)
    return parsed


def padded(values):
    """``values`` as a tuple whose length is a power of two, the last value repeated.

    Each length of an IN list is an SQL text of its own, compiled and stored apart: padded,
    the lists of 1 to 1,000 values take 11 statements, not 1,000. A repeated value changes
    nothing an IN tests.
    """
    values = tuple(values)
    if not values:
        return values
    size = 1 << (len(values) - 1).bit_length()
    return values + (values[-1],) * (size - len(values))


def _conditions(filters):
    """``where`` conditions of ``filters`` and, beside them, the body field each came from."""
    conditions, names = [], []
    if filters.start is not None:
        conditions.append({"field": filters.date_field, "operator": "gte", "value": filters.start})
        names.append("filters.dateRange.start")
    if filters.end is not None:
        conditions.append({"field": filters.date_field, "operator": "lte", "value": filters.end})
        names.append("filters.dateRange.end")
    if filters.author is not None:
        conditions.append({"field": "author_id", "operator": "equals", "value": filters.author})
        names.append("filters.author")
    if filters.tags:
        conditions.append({"field": "data.tags", "operator": "in", "value": list(filters.tags)})
        names.append("filters.tags")
    if filters.title_holds is not None:
        conditions.append({"field": "title", "operator": "like", "value": filters.title_holds})
        names.append("q")
    return conditions, names


def _field_problem(problem, names):
    """A list parameter's ``{parameter, message, ...}`` as the body field's ``{field, message, ...}``."""
    found = {key: value for key, value in problem.items() if key != "parameter"}
    return {"field": _body_field(problem["parameter"], names), **found}


def _body_field(parameter, names):
    """The body field a list parameter's problem is about (the filters are the only
    parameters the body's own validation leaves to the list's parsing): one filter's
    condition names its field, the ``where`` as a whole (its text too long) ``filters``."""
    found = re.match(r"where\.and\[(\d+)\]", parameter)
    if found and int(found.group(1)) < len(names):
        return names[int(found.group(1))]
    if parameter == "where":
        return "filters"
    return parameter


def run(params, scope):
    """``(items, total, total_is_estimate)`` of a search's list."""
    listed = list_content(params, scope)
    meta = listed["meta"]
    return listed["data"], meta["total"], bool(meta.get("totalIsEstimate"))


def result_of(item, words, score=None):
    """One search result of a list ``item``: never the author's email, whoever asks."""
    collection = item["collection"]
    return {
        "id": item["id"],
        "title": item["title"],
        "slug": item["slug"],
        "collection_id": item["collectionId"],
        "collection_name": collection["display_name"] or collection["name"],
        "snippet": snippet(item.get("data"), words),
        "relevance_score": score,
        "status": item["status"],
        "created_at": item["created_at"],
        "updated_at": item["updated_at"],
        "author_name": item["author"]["name"] or None,
        "url": f"/api/content/{item['id']}",
    }


def query_words(query):
    """The words of a search text (``search.py``'s syntax), for the snippets."""
    return [word for term in parse_search(query) for word in term.words]


def snippet(data, words):
    """Plain text of ``data`` around the first of ``words`` it holds (its start when none), at
    most ``SNIPPET_LENGTH`` characters plus the ellipses marking a cut."""
    text = plain_text(data)
    folded = text.lower()
    found = [at for at in (folded.find(word.lower()) for word in words) if at >= 0]
    start = max(0, min(found) - SNIPPET_LEAD) if found else 0
    if start:
        space = text.find(" ", start)
        start = space + 1 if 0 <= space < start + 20 else start  # begin at a word
    end = start + SNIPPET_LENGTH
    if end < len(text):
        space = text.rfind(" ", start, end)
        end = space if space > start + SNIPPET_LENGTH // 2 else end
    cut = text[start:end].strip()
    return ("…" if start else "") + cut + ("…" if end < len(text) else "")


def plain_text(data):
    """The string values of ``data`` at any depth, markup removed, as one line of text."""
    parts, size = [], 0
    for value in string_values(data):
        if size >= SNIPPET_SOURCE:
            break
        parts.append(value)
        size += len(value)
    text = " ".join(html.unescape(_TAG.sub(" ", part)) for part in parts)  # no tag spans two values
    return _SPACE.sub(" ", text).strip()[:SNIPPET_SOURCE]
