"""Content reads: ``GET /api/content``, ``/api/content/{id}``, ``/api/collections/{name}/content``
and ``/api/collections/{name}/content/{slug}``.

Responses for the public (anonymous callers and viewers: same items, same fields) go
through the three-tier cache, namespace ``content``: memory -> CACHE_KV -> database, with
``X-Cache-Status: HIT|MISS`` and ``X-Cache-Source: memory|kv|database`` headers and the
same in ``meta.cache``. Responses for editors and authors are built per request and marked
``Cache-Control: private, no-store``. ``meta`` never carries SQL or internals.
"""

from typing import Annotated

import falcon
import msgspec

from app.api.access import access
from app.api.describe import Param, describe
from app.api.errors import APIError, bad_request, not_found, unauthorized
from app.api.health import iso_now
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


def send(resp, body, source, scope):
    """Answer ``body`` with ``meta.timestamp``, ``meta.cache`` and the cache headers."""
    hit = source != DATABASE
    meta = dict(body.get("meta") or {})
    meta["timestamp"] = iso_now()  # ISO 8601, as SonicJS sends it; rows keep epoch ms
    meta["cache"] = {"hit": hit, "source": source}
    resp.media = {**body, "meta": meta}
    resp.set_header("X-Cache-Status", "HIT" if hit else "MISS")
    resp.set_header("X-Cache-Source", source)
    if not scope.public:
        resp.set_header("Cache-Control", "private, no-store")


def read_through(cache, req, scope, key, loader):
    """``(body, source)``: cached for the public, straight from the database otherwise."""
    if cache is None or not scope.public:
        return loader(), DATABASE
    return cache.get_or_load(NAMESPACE, key, loader, defer=req.context.ctx.wait_until)


def list_params(req, scope, **kwargs):
    """``parse_list_params`` with its errors as 400 (bad parameter) or 401/403 (scope)."""
    try:
        return parse_list_params(req.params, scope, **kwargs)
    except QueryError as ex:
        raise bad_request("Invalid query parameters", ex.problems) from None
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


def _send_item(resp, body, source, scope):
    send(resp, body, source, scope)
    resp.set_header("ETag", f'"{body["data"]["version_number"]}"')


class ContentListReader:
    """``GET /api/content``: filtered, sorted, paginated content (mixed into a resource)."""

    @access(public=True)
    @describe(
        "List content: filter, sort, paginate", description=LIST_NOTES, query=CONTENT_LIST_QUERY,
        response=Listed[ContentListItem],
    )
    def on_get(self, req, resp):
        scope = Scope.of(req.context.user)
        params = list_params(req, scope)
        body, source = read_through(
            self._cache, req, scope, ("list", params.cache_key()), lambda: list_content(params, scope)
        )
        send(resp, body, source, scope)


class ContentItemReader:
    """``GET /api/content/{id}`` (mixed into the item resource)."""

    @access(public=True)
    @describe("One content item", response=ContentRead)
    def on_get(self, req, resp, id):
        scope = Scope.of(req.context.user)
        body, source = read_through(
            self._cache, req, scope, ("item", id), lambda: _item_body(scope, content_id=id)
        )
        _send_item(resp, body, source, scope)


class CollectionContentResource:
    """``GET /api/collections/{name}/content``: one collection's content, ``meta.collection`` added."""

    def __init__(self, cache):
        self._cache = cache

    @access(public=True)
    @describe("One collection's content", description=LIST_NOTES, query=COLLECTION_LIST_QUERY,
              response=Listed[ContentListItem])
    def on_get(self, req, resp, name):
        scope = Scope.of(req.context.user)

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
        params = list_params(req, scope, collection_id="-")
        body, source = read_through(self._cache, req, scope, ("collection", name, params.cache_key()), load)
        send(resp, body, source, scope)


class CollectionItemResource:
    """``GET /api/collections/{name}/content/{slug}``: one item by its slug."""

    def __init__(self, cache):
        self._cache = cache

    @access(public=True)
    @describe("One content item by its slug", response=ContentRead)
    def on_get(self, req, resp, name, slug):
        scope = Scope.of(req.context.user)
        body, source = read_through(
            self._cache, req, scope, ("slug", name, slug),
            lambda: _item_body(scope, collection_name=name, slug=slug),
        )
        _send_item(resp, body, source, scope)
