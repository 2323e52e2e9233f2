"""Content reads: ``GET /api/content``, ``/api/content/{id}``, ``/api/collections/{name}/content``
and ``/api/collections/{name}/content/{slug}``.

Responses for the public (anonymous callers and viewers: same items, same fields) go
through the three-tier cache, namespace ``content``: memory -> CACHE_KV -> database, with
``X-Cache-Status: HIT|MISS`` and ``X-Cache-Source: memory|kv|database`` headers and the
same in ``meta.cache``; a hit adds ``X-Cache-TTL`` and ``meta.cache.ttl``, the whole seconds
the answer stays cached in this worker (``ThreeTierCache.get_or_load_timed``; none for a KV
hit whose copy memory did not keep). Responses for
editors and authors are built per request and marked ``Cache-Control: private, no-store``.
``meta`` never carries SQL or internals.

A body is encoded once, with ``meta`` as its last member, and kept as JSON bytes: a hit
sends those bytes with only ``meta.timestamp``, ``meta.cache`` and ``meta.timing`` spliced
in before the closing braces, so serving from the cache costs no JSON decoding or encoding (and the
timestamp's text is made once per millisecond).

Every answer carries an ETag made from those bytes before the splice: a digest of the
body (``W/"<digest>"`` for lists, ``W/"<version_number>-<digest>"`` for items, so a client
may send it back as ``If-Match`` on a write). It changes with any byte of the body (a soft
delete, a workflow move, a field an editor sees and the public does not) and differs
between the public's and an editor's answer. It is weak because ``meta.timestamp``,
``meta.cache`` and ``meta.timing`` vary between answers with the same tag. The digest is made once, when the
body is encoded, and kept with it in the cache entry (``["<tag>",<body>]``): a hit hashes
nothing. ``If-None-Match`` naming the tag (weak comparison, a list, or ``*``) answers 304
with the headers a 200 would have and no body.

A list's parameters are parsed before the cache is asked (its key is their canonical
form). A query string that names only parameters whose parsing reads nothing but the query
(``PURE_PARAMS``: no filter, no sort, no ``where``, so no collection schema and no item
counts) is parsed once per process: its parameters and key are kept (``PARSED_KEPT`` query
strings at most) and a repeated request, the usual cached hit, parses nothing.
"""

import contextlib
import hashlib
import math
import re
import time
from datetime import UTC, datetime
from typing import Annotated

import falcon
import msgspec

from app.api.access import access
from app.api.describe import CACHE_SOURCE, CACHE_STATUS, CACHE_TTL, IF_NONE_MATCH, Header, Param, describe
from app.api.errors import INVALID_PARAMETERS, APIError, SignInRequired, bad_request, not_found, sign_in_required
from app.api.schemas_content import ContentListItem, ContentRead, ReadList
from app.api.timing import timing_json
from app.services import collections
from app.services.cache import DATABASE, Namespace
from app.services.content.fields import QueryError
from app.services.content.filters import MAX_WHERE_LENGTH, is_data_filter
from app.services.content.query import NotPermitted, Scope, get_item, list_content, parse_list_params

NAMESPACE = Namespace.CONTENT
LIST_NOTES = (
    "Anonymous callers and viewers see published items and public columns only. "
    "`filter[field][op]=value` (ops equals, not_equals, gt, gte, lt, lte, like, contains, in, not_in, all, "
    "exists) may be repeated; `data.<name>` (or a bare name that is no column) names a field of the "
    "collection, and a field holding a list matches by its items."
)
# An anonymous list asking for more than the public sees is refused for want of a session.
SIGNS_IN = "an anonymous caller asks for more than published items (`status=draft`, say)"
COLLECTION_LIST_QUERY = (
    Param("limit", Annotated[int, msgspec.Meta(ge=1)], "page size (default 50, at most 1000)"),
    Param("pageSize", Annotated[int, msgspec.Meta(ge=1)], "SonicJS's name for limit (give one of the two)"),
    Param("offset", Annotated[int, msgspec.Meta(ge=0)], "items to skip"),
    Param("page", Annotated[int, msgspec.Meta(ge=1)], "1-based page (instead of offset)"),
    Param("cursor", str, "meta.nextCursor of the previous page (instead of offset or page)"),
    Param("sort", str, "fields, '-' for descending: -published_at,title; or relevance, alone and with search"),
    Param(
        "where", Annotated[str, msgspec.Meta(max_length=MAX_WHERE_LENGTH)],
        'SonicJS\'s JSON filter: {"and": [{"field", "operator", "value"}], "or": [...]}; each condition needs its '
        "operator and carries no other key (400 naming it, `where.and[0]`)",
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
# A read answers 304 without a body when If-None-Match names its ETag.
NOT_MODIFIED = {304: None}
READ_ETAG = Header(
    "ETag", 'weak, a digest of the body: W/"<digest>" for a list, W/"<version_number>-<digest>" for an item '
    '(W/"n-<digest>" when its version_number is null); send it back as If-None-Match (an item\'s as If-Match '
    "on a write)",
)
# What ``send`` sets on every answer, a 304 included.
READ_HEADERS = {200: (READ_ETAG, CACHE_STATUS, CACHE_SOURCE, CACHE_TTL),
                304: (READ_ETAG, CACHE_STATUS, CACHE_SOURCE, CACHE_TTL)}


# Leads every cache key: entries stored in another layout (before meta came last, or
# before the tag led the body) never match.
BODY_LAYOUT = "tagged-meta-last"
# Parameters parse_list_params reads from the query alone: filters, where and sort may
# name data fields, whose parsing reads the collection's schema and its item counts.
PURE_PARAMS = frozenset({"limit", "pageSize", "offset", "page", "cursor", "fields", "status", "include_deleted",
                         "collection", "collection_id", "search"})
PARSED_KEPT = 1024
_parsed = {}  # (collection_id argument, Scope, query string) -> (ListParams, its cache key)


# Hex digits of the body digest in a tag: 64 bits tell apart the representations one URL ever has.
TAG_DIGEST_CHARS = 16
# An opaque-tag of an If-None-Match list, ``W/`` or not (weak comparison ignores it).
_OPAQUE_TAG = re.compile(r'"([^"]*)"')


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
    return f',"cache":{{"hit":{"true" if source != DATABASE else "false"},"source":"{source}"'.encode()


# What follows the timestamp, per source: meta.cache up to its ttl.
_CACHE_META = {source: _cache_meta(source) for source in ("memory", "kv", DATABASE)}
_TIMING_KEY = b'},"timing":'


def with_request_meta(raw, source, context, start=0, end=None, ttl=None):
    """The JSON bytes of a ``meta_last`` body with ``meta.timestamp``, ``meta.cache`` and
    ``meta.timing`` (of the request of ``context``, ``req.context``) added.

    The body is ``raw[start:end]`` (all of ``raw`` by default): a cache entry is answered
    without copying its body out first. ``ttl``: whole seconds, ``meta.cache.ttl`` of a hit.
    """
    head = raw[start:(len(raw) if end is None else end) - 2]  # without the closing braces of meta and of the body
    # ISO 8601, as SonicJS sends it; rows keep epoch ms.
    lead = b'"timestamp":' if head.endswith(b"{") else b',"timestamp":'
    cache = _CACHE_META.get(source) or _cache_meta(source)
    if ttl is not None:
        cache = b"".join((cache, b',"ttl":', str(ttl).encode()))
    return b"".join((head, lead, timestamp_json(), cache, _TIMING_KEY, timing_json(context), b"}}"))


def caller_scope(req):
    """The Scope of the request's caller (one shared object for anonymous callers)."""
    user = req.context.user
    return ANONYMOUS if user is None else Scope.of(user)


def body_tag(raw, version=None):
    """The opaque tag (unquoted) of the ``meta_last`` body bytes ``raw``: their digest,
    after ``version`` and a dash when given (an item's ``version_number``)."""
    # SHA-256 rather than BLAKE2: CPUs with SHA extensions (most x86 and ARM servers) hash
    # it faster, and the uncached answers (an editor's lists, up to 1,000 items) hash every time.
    digest = hashlib.sha256(raw).hexdigest()[:TAG_DIGEST_CHARS]
    return digest if version is None else f"{version}-{digest}"


# What leads an item's tag in place of its ``version_number`` when that is NULL (a row
# written by hand with SQL): a write's If-Match then names that state, as a number names the others.
UNNUMBERED = "n"


def item_tag(raw, version):
    """The opaque tag of an item's body bytes ``raw``, led by its ``version``."""
    return body_tag(raw, UNNUMBERED if version is None else version)


def item_etag(item):
    """The ETag a read of ``item`` (as one caller sees it) answers: what a write answering it sends too."""
    return f'W/"{item_tag(msgspec.json.encode(meta_last({"data": item})), item["version_number"])}"'


def entry_of(body, item=False):
    """The cache entry of ``body``: ``["<tag>",<JSON of meta_last(body)>]`` as JSON bytes.

    The tag leads so that a hit finds it, and the body after it, by one short search.
    ``item``: ``body["data"]`` is an item, whose version leads its tag.
    """
    raw = msgspec.json.encode(meta_last(body))
    tag = item_tag(raw, body["data"]["version_number"]) if item else body_tag(raw)
    return b"".join((b'["', tag.encode(), b'",', raw, b"]"))


def not_modified(condition, tag):
    """Whether the ``If-None-Match`` value ``condition`` names the opaque ``tag`` (or is ``*``).

    The weak comparison RFC 9110 asks of If-None-Match: ``W/`` is ignored on either side.
    """
    if condition.strip() == "*":
        return True
    return tag in _OPAQUE_TAG.findall(condition)


def cache_headers(resp, source, ttl):
    """Set the ``X-Cache-*`` headers of an answer from ``source`` (``ttl``: a hit's seconds
    left, or None); the whole seconds sent, or None."""
    resp.set_header("X-Cache-Status", "MISS" if source == DATABASE else "HIT")
    resp.set_header("X-Cache-Source", source)
    if ttl is None:
        return None
    ttl = math.ceil(ttl)  # a memory entry's is fractional: a live one never says 0
    resp.set_header("X-Cache-TTL", str(ttl))
    return ttl


def send(req, resp, entry, source, scope, ttl=None):
    """Answer the cache entry ``entry`` (``entry_of``): its body with ``meta.timestamp``,
    ``meta.cache`` and ``meta.timing``, its ETag and the cache headers; a 304 without the body when the
    request's ``If-None-Match`` names the ETag. ``ttl``: a hit's seconds left (``read_through``)."""
    tag_end = entry.index(b'"', 2)
    tag = entry[2:tag_end].decode()
    resp.set_header("ETag", f'W/"{tag}"')
    ttl = cache_headers(resp, source, ttl)
    if not scope.public:
        resp.set_header("Cache-Control", "private, no-store")
    condition = req.env.get("HTTP_IF_NONE_MATCH")
    if condition is not None and not_modified(condition, tag):
        resp.status = falcon.HTTP_304  # Falcon sends neither a body nor a Content-Type with it
        return
    resp.data = with_request_meta(entry, source, req.context, tag_end + 2, len(entry) - 1, ttl)
    resp.content_type = falcon.MEDIA_JSON


def read_through(cache, req, scope, key, loader, item=False):
    """``(the cache entry of loader()'s body, source, ttl)``: cached for the public, straight
    from the database otherwise; ``item`` as for ``entry_of``, ``ttl`` as ``send`` takes it."""
    if cache is None or not scope.public:
        return entry_of(loader(), item), DATABASE, None
    return cached_entry(cache, key, loader, item, req.context.ctx.wait_until)


def cached_entry(cache, key, loader, item=False, defer=None):
    """``(entry, source, ttl)`` of the public read ``key`` through ``cache``: what
    ``read_through`` looks up for the public, and what warming the cache fills."""
    # msgspec.Raw: the cache encodes the entry as the JSON it already is.
    return cache.get_or_load_raw(
        NAMESPACE, (BODY_LAYOUT, *key), lambda: msgspec.Raw(entry_of(loader(), item)), defer=defer,
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
    if "filter" not in req.query_string and "%" not in req.query_string:  # a name may come percent-encoded
        return ()
    return tuple(sorted((name, value if isinstance(value, str) else tuple(value))
                        for name, value in req.params.items() if is_data_filter(name)))


def _pure(query):
    """Whether every parameter named in the raw ``query`` is one of ``PURE_PARAMS``."""
    return all(part.partition("=")[0] in PURE_PARAMS for part in query.split("&") if part) if query else True


def list_params(req, scope, **kwargs):
    """``parse_list_params`` with its errors as 400 (bad parameter) or 401/403 (scope)."""
    with list_errors(req, scope):
        return parse_list_params(req.params, scope, **kwargs)


@contextlib.contextmanager
def list_errors(req, scope):
    """A list's parameter errors raised inside as 400 (bad parameter) or 401/403 (outside
    ``scope``), as the content list answers them; a search answers its own the same way."""
    try:
        yield
    except QueryError as ex:
        raise bad_request(INVALID_PARAMETERS, ex.problems) from None
    except NotPermitted as ex:
        if scope.user_id is None:
            # Signing in would cure it: a browser opening the URL goes to the sign-in page. A
            # credential sent and refused is said to be so, as every route's access check says it.
            if getattr(req.context, "credential_rejected", False):
                raise sign_in_required(rejected=True) from None
            raise SignInRequired(str(ex)) from None
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


def collection_list_body(name, scope, parse):
    """The body of ``GET /api/collections/{name}/content`` for ``scope``, ``meta.collection`` added.

    Args:
        parse: ``parse(collection)``, the list's ``ListParams`` (the collection's schema types
            filter values).

    Raises:
        APIError: 404 when no collection has that name, or it is inactive and ``scope`` sees
            only active ones.
    """
    collection = collections.find_by_name(name)
    if collection is None or not (collection.is_active or scope.see_all):
        raise not_found("Collection not found")
    body = list_content(parse(collection), scope)
    body["meta"]["collection"] = {
        "id": collection.id, "name": collection.name, "display_name": collection.display_name,
        "description": collection.description, "schema": collection.schema,
    }
    return body


def warm_first_pages(cache, names):
    """Fill ``cache`` with what an anonymous request without parameters reads first: the
    first page of ``GET /api/content`` and of ``GET /api/collections/{name}/content`` for
    each of ``names``, under the keys those requests look up.

    Returns:
        ``[(path, source)]``: ``database`` for an entry loaded (and stored, when KV took it),
        ``memory`` or ``kv`` for one cached already.
    """
    params = parse_list_params({}, ANONYMOUS)
    _entry, source, _ttl = cached_entry(cache, ("list", params.cache_key()), lambda: list_content(params, ANONYMOUS))
    warmed = [("/api/content", source)]
    key = parse_list_params({}, ANONYMOUS, collection_id="-").cache_key()

    def first_page(collection):
        return parse_list_params({}, ANONYMOUS, collection_id=collection.id, schema=collection.schema)

    for name in names:
        _entry, source, _ttl = cached_entry(
            cache, ("collection", name, key, ()), lambda name=name: collection_list_body(name, ANONYMOUS, first_page),
        )
        warmed.append((f"/api/collections/{name}/content", source))
    return warmed


class ContentListReader:
    """``GET /api/content``: filtered, sorted, paginated content (mixed into a resource)."""

    @access(public=True)
    @describe(
        "List content: filter, sort, paginate", description=LIST_NOTES, query=(*CONTENT_LIST_QUERY, IF_NONE_MATCH),
        response=ReadList[ContentListItem], others=NOT_MODIFIED, headers=READ_HEADERS, signs_in=SIGNS_IN,
    )
    def on_get(self, req, resp):
        scope = caller_scope(req)
        params, key = parsed_list(req, scope)
        entry, source, ttl = read_through(self._cache, req, scope, ("list", key), lambda: list_content(params, scope))
        send(req, resp, entry, source, scope, ttl)


class ContentItemReader:
    """``GET /api/content/{id}`` (mixed into the item resource)."""

    @access(public=True)
    @describe("One content item", query=(IF_NONE_MATCH,), response=ContentRead, others=NOT_MODIFIED,
              headers=READ_HEADERS)
    def on_get(self, req, resp, id):
        scope = caller_scope(req)
        entry, source, ttl = read_through(
            self._cache, req, scope, ("item", id), lambda: _item_body(scope, content_id=id), item=True
        )
        send(req, resp, entry, source, scope, ttl)


class CollectionContentResource:
    """``GET /api/collections/{name}/content``: one collection's content, ``meta.collection`` added."""

    def __init__(self, cache):
        self._cache = cache

    @access(public=True)
    @describe("One collection's content", description=LIST_NOTES, query=(*COLLECTION_LIST_QUERY, IF_NONE_MATCH),
              response=ReadList[ContentListItem], others=NOT_MODIFIED, headers=READ_HEADERS, signs_in=SIGNS_IN)
    def on_get(self, req, resp, name):
        scope = caller_scope(req)

        def load():
            return collection_list_body(
                name, scope, lambda collection: list_params(req, scope, collection_id=collection.id,
                                                            schema=collection.schema),
            )

        # Parameters are checked before the cache (a bad one is never cached, and the key
        # is canonical); the loader parses again with the collection's schema to type
        # filter values. "-" only tells the parser the path names the collection.
        _params, key = parsed_list(req, scope, collection_id="-")
        entry, source, ttl = read_through(
            self._cache, req, scope, ("collection", name, key, data_filter_texts(req)), load
        )
        send(req, resp, entry, source, scope, ttl)


class CollectionItemResource:
    """``GET /api/collections/{name}/content/{slug}``: one item by its slug."""

    def __init__(self, cache):
        self._cache = cache

    @access(public=True)
    @describe("One content item by its slug", query=(IF_NONE_MATCH,), response=ContentRead, others=NOT_MODIFIED,
              headers=READ_HEADERS)
    def on_get(self, req, resp, name, slug):
        scope = caller_scope(req)
        entry, source, ttl = read_through(
            self._cache, req, scope, ("slug", name, slug),
            lambda: _item_body(scope, collection_name=name, slug=slug), item=True,
        )
        send(req, resp, entry, source, scope, ttl)
