"""Content reads: ``GET /api/content``, ``/api/content/{id}``, ``/api/collections/{name}/content``
and ``/api/collections/{name}/content/{slug}``.

Responses for the public (anonymous callers and viewers: same items, same fields) go
through the three-tier cache, namespace ``content``: memory -> CACHE_KV -> database, with
``X-Cache-Status: HIT|MISS`` and ``X-Cache-Source: memory|kv|database`` headers and the
same in ``meta.cache``. Responses for editors and authors are built per request and marked
``Cache-Control: private, no-store``. ``meta`` never carries SQL or internals.

A body is encoded once, with ``meta`` as its last member, and kept as JSON bytes: a hit
sends those bytes with only ``meta.timestamp`` and ``meta.cache`` spliced in before the
closing braces, so serving from the cache costs no JSON decoding or encoding (and the
timestamp's text is made once per millisecond).

A list's parameters are parsed before the cache is asked (its key is their canonical
form). A query string that names only parameters whose parsing reads nothing but the query
(``PURE_PARAMS``: no filter, no sort, no ``where``, so no collection schema and no item
counts) is parsed once per process: its parameters and key are kept (``PARSED_KEPT`` query
strings at most) and a repeated request, the usual cached hit, parses nothing.
"""

import time
from datetime import UTC, datetime
from typing import Annotated

import falcon
import msgspec

from app.api.access import access
from app.api.describe import Param, describe
from app.api.errors import INVALID_PARAMETERS, APIError, bad_request, not_found, unauthorized
from app.api.schemas import Listed
from app.api.schemas_content import ContentListItem, ContentRead
from app.services import collections
from app.services.cache import DATABASE, Namespace
from app.services.content.fields import QueryError
from app.services.content.filters import MAX_WHERE_LENGTH
from app.services.content.query import NotPermitted, Scope, get_item, list_content, parse_list_params

NAMESPACE = Namespace.CONTENT
LIST_NOTES = (
    "Anonymous callers and viewers see published items and public columns only. "
    "`filter[field][op]=value` (ops equals, not_equals, gt, gte, lt, lte, like, contains, in, not_in, all, "
    "exists) may be repeated; `data.<name>` names a field of the collection."
)
COLLECTION_LIST_QUERY = (
    Param("limit", Annotated[int, msgspec.Meta(ge=1)], "page size (default 50, at most 1000)"),
    Param("offset", Annotated[int, msgspec.Meta(ge=0)], "items to skip"),
    Param("page", Annotated[int, msgspec.Meta(ge=1)], "1-based page (instead of offset)"),
    Param("cursor", str, "meta.nextCursor of the previous page (instead of offset or page)"),
    Param("sort", str, "fields, '-' for descending: -published_at,title"),
    Param(
        "where", Annotated[str, msgspec.Meta(max_length=MAX_WHERE_LENGTH)],
        'SonicJS\'s JSON filter: {"and": [{"field", "operator", "value"}]}',
    ),
    Param("search", Annotated[str, msgspec.Meta(min_length=1, max_length=200)], "in title and text fields"),
    Param("fields", str, "comma-separated fields to return"),
    Param("status", str, "draft, published, archived (comma-separated) or all; editors"),
    Param("include_deleted", bool, "include soft-deleted items; editors"),
)
CONTENT_LIST_QUERY = COLLECTION_LIST_QUERY + (
    Param("collection", str, "a collection's name"),
    Param("collection_id", str, "a collection's id"),
)


# Leads every cache key: bodies stored in another layout (before meta came last) never match.
BODY_LAYOUT = "meta-last"
# Parameters parse_list_params reads from the query alone: filters, where and sort may
# name data fields, whose parsing reads the collection's schema and its item counts.
PURE_PARAMS = frozenset({"limit", "offset", "page", "cursor", "fields", "status", "include_deleted",
                         "collection", "collection_id", "search"})
PARSED_KEPT = 1024
_parsed = {}  # (collection_id argument, Scope, query string) -> (ListParams, its cache key)


class _VersionNumber(msgspec.Struct):
    version_number: int | None = None


class _ItemVersion(msgspec.Struct):
    """What an item body's ETag needs: ``data.version_number`` (other fields are skipped)."""

    data: _VersionNumber


_version_of = msgspec.json.Decoder(_ItemVersion).decode


def meta_last(body):
    """``body`` with ``meta`` (a dict, ``{}`` when absent) moved to its end, ready to encode."""
    rest = {name: value for name, value in body.items() if name != "meta"}
    return {**rest, "meta": dict(body.get("meta") or {})}


# The anonymous caller's scope, the same for every anonymous request (Scope is immutable).
ANONYMOUS = Scope()
_timestamp = [(0, b"")]  # (epoch ms, its JSON text) of the latest response


def timestamp_json():
    """Now as ISO 8601 UTC with milliseconds and ``Z`` (JavaScript's ``toISOString``), as JSON bytes.

    Made once per millisecond: the requests answered within one share it.
    """
    now_ms = time.time_ns() // 1_000_000
    kept = _timestamp[0]
    if kept[0] == now_ms:
        return kept[1]
    moment = datetime.fromtimestamp(now_ms // 1000, UTC).replace(microsecond=now_ms % 1000 * 1000)
    text = b'"' + moment.isoformat(timespec="milliseconds").replace("+00:00", "Z").encode() + b'"'
    _timestamp[0] = (now_ms, text)
    return text


def _cache_meta(source):
    return f',"cache":{{"hit":{"true" if source != DATABASE else "false"},"source":"{source}"}}}}}}'.encode()


# What follows the timestamp, per source: meta.cache and the closing braces of meta and the body.
_CACHE_META = {source: _cache_meta(source) for source in ("memory", "kv", DATABASE)}


def with_request_meta(raw, source):
    """The JSON bytes of a ``meta_last`` body with ``meta.timestamp`` and ``meta.cache`` added."""
    head = raw[:-2]  # without the closing braces of meta and of the body
    # ISO 8601, as SonicJS sends it; rows keep epoch ms.
    lead = b'"timestamp":' if head.endswith(b"{") else b',"timestamp":'
    return b"".join((head, lead, timestamp_json(), _CACHE_META.get(source) or _cache_meta(source)))


def caller_scope(req):
    """The Scope of the request's caller (one shared object for anonymous callers)."""
    user = req.context.user
    return ANONYMOUS if user is None else Scope.of(user)


def send(resp, raw, source, scope):
    """Answer the ``meta_last`` body ``raw`` with ``meta.timestamp``, ``meta.cache`` and the cache headers."""
    hit = source != DATABASE
    resp.data = with_request_meta(raw, source)
    resp.content_type = falcon.MEDIA_JSON
    resp.set_header("X-Cache-Status", "HIT" if hit else "MISS")
    resp.set_header("X-Cache-Source", source)
    if not scope.public:
        resp.set_header("Cache-Control", "private, no-store")


def read_through(cache, req, scope, key, loader):
    """``(JSON bytes of the meta_last body, source)``: cached for the public, straight from the database otherwise."""
    if cache is None or not scope.public:
        return msgspec.json.encode(meta_last(loader())), DATABASE
    return cache.get_or_load_raw(
        NAMESPACE, (BODY_LAYOUT, *key), lambda: meta_last(loader()), defer=req.context.ctx.wait_until
    )


def parsed_list(req, scope, collection_id=None):
    """``(list_params(req, scope, collection_id=...), their cache key)``, kept per query string when pure.

    Only successful parses are kept (an invalid query is parsed, and refused, every time),
    and only for query strings whose every parameter name is in ``PURE_PARAMS`` as sent.
    """
    query = req.query_string
    memo_key = (collection_id, scope, query)
    found = _parsed.get(memo_key)  # only pure query strings are ever kept: no need to check again
    if found is not None:
        return found
    if not _pure(query):
        memo_key = None
    params = list_params(req, scope, collection_id=collection_id)
    found = (params, params.cache_key())
    if memo_key is not None:
        if len(_parsed) >= PARSED_KEPT:
            _parsed.clear()
        _parsed[memo_key] = found
    return found


def data_filter_texts(req):
    """The data filters of ``req`` as sent: part of a per-collection list's cache key.

    Its key is parsed before the collection's schema is known, so a value is typed by its
    look there (``1.0`` and ``1.00`` are one number) while the schema may type it as text
    (two strings, two answers): the texts as sent keep such lists apart.
    """
    if "data" not in req.query_string:
        return ()
    return tuple(sorted((name, value if isinstance(value, str) else tuple(value))
                        for name, value in req.params.items() if name.startswith("filter[data")))


def _pure(query):
    """Whether every parameter named in the raw ``query`` is one of ``PURE_PARAMS``."""
    return all(part.partition("=")[0] in PURE_PARAMS for part in query.split("&") if part) if query else True


def list_params(req, scope, **kwargs):
    """``parse_list_params`` with its errors as 400 (bad parameter) or 401/403 (scope)."""
    try:
        return parse_list_params(req.params, scope, **kwargs)
    except QueryError as ex:
        raise bad_request(INVALID_PARAMETERS, ex.problems) from None
    except NotPermitted as ex:
        if scope.user_id is None:
            raise unauthorized(str(ex)) from None
        if req.context.user.via == "token":
            raise APIError(
                falcon.HTTP_403, "This API token reads published content only",
                "other statuses and deleted items need a token with content.publish or content.update",
            ) from None
        raise APIError(falcon.HTTP_403, "Insufficient permissions", str(ex)) from None


def _item_body(scope, **where):
    item = get_item(scope, **where)
    if item is None:
        raise not_found("Content not found")
    return {"data": item}


def _send_item(resp, raw, source, scope):
    send(resp, raw, source, scope)
    # Only the version is decoded: msgspec skips every other field without building it.
    resp.set_header("ETag", f'"{_version_of(raw).data.version_number}"')


class ContentListReader:
    """``GET /api/content``: filtered, sorted, paginated content (mixed into a resource)."""

    @access(public=True)
    @describe(
        "List content: filter, sort, paginate", description=LIST_NOTES, query=CONTENT_LIST_QUERY,
        response=Listed[ContentListItem],
    )
    def on_get(self, req, resp):
        scope = caller_scope(req)
        params, key = parsed_list(req, scope)
        raw, source = read_through(self._cache, req, scope, ("list", key), lambda: list_content(params, scope))
        send(resp, raw, source, scope)


class ContentItemReader:
    """``GET /api/content/{id}`` (mixed into the item resource)."""

    @access(public=True)
    @describe("One content item", response=ContentRead)
    def on_get(self, req, resp, id):
        scope = caller_scope(req)
        raw, source = read_through(
            self._cache, req, scope, ("item", id), lambda: _item_body(scope, content_id=id)
        )
        _send_item(resp, raw, source, scope)


class CollectionContentResource:
    """``GET /api/collections/{name}/content``: one collection's content, ``meta.collection`` added."""

    def __init__(self, cache):
        self._cache = cache

    @access(public=True)
    @describe("One collection's content", description=LIST_NOTES, query=COLLECTION_LIST_QUERY,
              response=Listed[ContentListItem])
    def on_get(self, req, resp, name):
        scope = caller_scope(req)

        def load():
            collection = collections.find_by_name(name)
            if collection is None or not (collection.is_active or scope.see_all):
                raise not_found("Collection not found")
            params = list_params(req, scope, collection_id=collection.id, schema=collection.schema)
            body = list_content(params, scope)
            body["meta"]["collection"] = {
                "id": collection.id, "name": collection.name, "display_name": collection.display_name,
                "description": collection.description, "schema": collection.schema,
            }
            return body

        # Parameters are checked before the cache (a bad one is never cached, and the key
        # is canonical); the loader parses again with the collection's schema to type
        # filter values. "-" only tells the parser the path names the collection.
        _params, key = parsed_list(req, scope, collection_id="-")
        raw, source = read_through(self._cache, req, scope, ("collection", name, key, data_filter_texts(req)), load)
        send(resp, raw, source, scope)


class CollectionItemResource:
    """``GET /api/collections/{name}/content/{slug}``: one item by its slug."""

    def __init__(self, cache):
        self._cache = cache

    @access(public=True)
    @describe("One content item by its slug", response=ContentRead)
    def on_get(self, req, resp, name, slug):
        scope = caller_scope(req)
        raw, source = read_through(
            self._cache, req, scope, ("slug", name, slug),
            lambda: _item_body(scope, collection_name=name, slug=slug),
        )
        _send_item(resp, raw, source, scope)
