"""What a responder tells the OpenAPI document beyond its ``@access`` rule: ``@describe(...)``.

The document (``app.api.openapi``) is generated from the routes the app mounts; path
parameters come from the URI template and the security requirement from ``@access``. The
rest sits next to the responder::

    @access("content.create")
    @describe("Create a content item", body=CreateBody, status=201, query=PAGED)
    def on_post(self, req, resp): ...

* ``body``: the msgspec Struct ``read_body`` converts the JSON body to (its JSON Schema
  is the request body's); ``form``: a Struct naming the fields of a multipart form instead;
* ``query``: the query parameters, as ``Param``s (``PAGED`` is the shared ``page``/``limit``);
* ``response``: the Struct of the success body (``app.api.schemas*``) and ``status``;
  ``alternatives``: other media types it may come in (a log export's ``text/csv``);
  ``others``: more statuses: ``{503: (HealthBody, ErrorBody)}`` (either JSON body), ``{206: "*/*"}`` (a
  media type), ``{304: None}`` (no body); a redirect (``app.api.redirects.redirect``) is
  ``{303: REDIRECT_PAGE}``, or ``status=303, media_type=REDIRECT_PAGE`` when it is the answer;
* ``headers``: the response headers each status carries, as ``Header``s:
  ``{200: (ETAG,), 429: (RETRY_AFTER,)}``; ``required=False`` for one sent only sometimes
  (its description says when). A status named only here is declared by it: an error
  status (400 and up) as the envelope, any other without a body. Every operation's 503
  (a busy or unreachable database) is declared by the document builder with
  ``DATABASE_RETRY_AFTER``; a 503 that may say when to come back for another reason too
  declares its own ``retry_after_503(", or ...")``; a health report, whose 503 is its own
  body, declares ``STARTUP_FAILED`` (the envelope and ``Retry-After`` of a worker that
  could not start its app) with ``others={503: (Report, ErrorBody)}``;
  ``x-d1-bookmark``, which a middleware sends on any route, is declared by the document
  builder for every operation;
* ``signs_in``: on a public operation, when it still refuses an anonymous caller for want
  of a session (a 401 signing in would cure): a browser's GET is then sent to the sign-in
  page, and the document declares that ``303`` (an operation needing a caller always has it);
* a responder without ``@describe`` is still in the document, summarised by its
  resource's docstring; every error answers the ``{error, details?}`` envelope.
"""

from dataclasses import dataclass
from typing import Annotated, Any, Literal

import msgspec

from app.api.errors import DATABASE_BUSY_RETRY_AFTER, DATABASE_UNREACHABLE_RETRY_AFTER
from app.api.params import MAX_OFFSET, MAX_PAGE
from app.runtime.entry import STARTUP_RETRY_AFTER_SECONDS
from app.services.cache import DATABASE, KV, MEMORY

DESCRIBE_ATTR = "__sonicpy_openapi__"
# The body of every redirect: a short HTML page linking to its Location.
REDIRECT_PAGE = "text/html"


@dataclass(frozen=True)
class Param:
    """A query (or, with ``location="header"``, header) parameter: name, type, meaning."""

    name: str
    type: Any = str
    description: str = ""
    required: bool = False
    location: str = "query"


@dataclass(frozen=True)
class Operation:
    """What ``@describe`` records on a responder."""

    summary: str
    description: str = ""
    body: Any = None
    form: Any = None
    query: tuple = ()
    response: Any = None
    status: int = 200
    media_type: str = "application/json"
    others: tuple = ()
    headers: tuple = ()  # ((status, (Header, ...)), ...)
    alternatives: tuple = ()  # other media types of the success body (a query parameter chooses)
    signs_in: str = ""  # when a public operation refuses an anonymous caller (the sign-in redirect's case)
    optional_body: bool = False  # the JSON body may be left out


@dataclass(frozen=True)
class Header:
    """A response header: its name, what it carries, its type, and whether every answer of
    its status carries it (``required=False``: only some do, and ``description`` says which)."""

    name: str
    description: str
    type: Any = str
    required: bool = True


def describe(summary, *, description="", body=None, form=None, query=(), response=None, status=200,
             media_type="application/json", others=None, headers=None, alternatives=(), signs_in="",
             optional_body=False):
    """Record the OpenAPI facts of the decorated responder (order with ``@access`` is free).

    Args:
        summary: one line for the operation.
        description: more text (Markdown).
        body: msgspec Struct of the JSON request body.
        form: msgspec Struct whose fields name the parts of a ``multipart/form-data`` body
            (``bytes`` for a file part).
        query: ``Param``s of the query string.
        response: the Struct of the success body (without one: any JSON object, which a test forbids
            for the app's own routes).
        status: the success status code.
        media_type: the success body's media type.
        others: ``{status: type, media type or None}``: statuses besides ``status`` and the
            error envelope, with their body (a type for JSON, a tuple of types for any one
            of them) or None for none.
        headers: ``{status: (Header, ...)}``: the response headers of each status.
        alternatives: media types the success body may be instead of ``media_type`` (an
            export's ``text/csv`` beside its JSON), each described as text.
        signs_in: on a public operation, the case in which it refuses an anonymous caller
            for want of a session ("asking for more than published items"), as text.
        optional_body: whether a request may leave the JSON ``body`` out.
    """
    operation = Operation(summary, description, body, form, tuple(query), response, status, media_type,
                          tuple((others or {}).items()),
                          tuple((code, tuple(declared)) for code, declared in (headers or {}).items()),
                          tuple(alternatives), signs_in, optional_body)

    def decorate(responder):
        setattr(responder, DESCRIBE_ATTR, operation)
        return responder

    return decorate


def operation_of(responder):
    """The Operation declared on ``responder``, or None."""
    return getattr(responder, DESCRIBE_ATTR, None)


# The shapes ``details`` takes, as JSON Schema (msgspec cannot type a union of untagged
# Structs, nor a Struct beside a dict). A list item that is one field's or parameter's
# problem may carry more keys (the slug taken, the values ``allowed``), so items stay open.
FIELD_PROBLEM = {
    "type": "object", "required": ["field", "message"],
    "properties": {
        "field": {"type": ["string", "null"], "description": "the body field's path (`data.price`, `tags[0]`), or the "
                                                            "request header at fault; null for the body as a whole"},
        "message": {"type": "string"},
    },
    "description": "A body field's (or header's) problem, with any keys saying more",
}
PARAMETER_PROBLEM = {
    "type": "object", "required": ["parameter", "message"],
    "properties": {"parameter": {"type": "string"}, "message": {"type": "string"},
                   "allowed": {"type": "array", "description": "the values it takes, when they are few"}},
    "description": "A query parameter's or path segment's problem, with any keys saying more",
}
ITEM_REFUSAL = {
    "type": "object", "required": ["id", "status", "error"],
    "properties": {"id": {"type": "string"}, "status": {"type": "integer"}, "error": {"type": "string"},
                   "details": {"description": "that item's own details, as its single route answers them"}},
    "description": "A bulk action's refused item: what that item's single route would answer",
}
DETAILS_SCHEMA = {
    "description": (
        "What more there is to say: a list of each field's or parameter's problem (`[{field, message, ...}]` or "
        "`[{parameter, message, ...}]`; a bulk action's 409 lists each refused item `{id, status, error, details?}`); "
        "a string for a problem of the request as a whole (a body that is not JSON, a path or query string "
        "refused, a cross-origin refusal); or an object: `{retry_after, request_id?}` (429, 503), "
        "`{request_id}` (500, a database conflict's 409, a binding's 503), `{max_bytes}` (413; an upload "
        "adds `errors` and `summary`), `{errors, summary}` (an upload of several files refused), "
        "`{filename, allowed}` (a file type refused), `{current_version, your_version}` or "
        "`{current_version, your_versions}` (a stale version's 409), the state in the way of a 409 "
        "(`{content_count, deleted_count}`, `{contentIds}`, `{content_id, state}`, `{from_state, to_state, allowed}`, "
        "`{status}`), the resource refused "
        "(`{name}` of a plugin, `{collection_id}`, `{categories}` of an unknown log category, "
        "`{migration, cause}`), or what a plugin's veto gives"),
    "anyOf": [
        {"type": "array", "items": {"anyOf": [FIELD_PROBLEM, PARAMETER_PROBLEM, ITEM_REFUSAL]}},
        {"type": "string"},
        {"type": "object", "properties": {
            "retry_after": {"type": "integer", "minimum": 1, "description": "seconds, as `Retry-After` says"},
            "request_id": {"type": ["string", "null"], "description": "the id the server's log line carries"},
            "max_bytes": {"type": "integer"},
            "current_version": {"type": ["integer", "null"]},
            "your_version": {"type": ["integer", "null"]},
            "your_versions": {"type": "array", "items": {"type": ["integer", "null"]},
                              "description": "the versions an If-Match list, or a header holding a tag of "
                                             "another's, named (none when it named only such tags)"},
        },
         # A field's or parameter's problem is a list item, never an object of its own.
         "not": {"anyOf": [{"required": ["field"]}, {"required": ["parameter"]}]}},
    ],
}


class ErrorBody(msgspec.Struct, forbid_unknown_fields=True):
    """The envelope every error answers: ``error`` says what went wrong, ``details`` says
    more: each field's or parameter's problem in a list, a sentence, or an object such as a
    retry's."""

    error: str
    details: Annotated[Any, msgspec.Meta(extra_json_schema=DETAILS_SCHEMA)] | msgspec.UnsetType = msgspec.UNSET


Page = Annotated[int, msgspec.Meta(ge=1, le=MAX_PAGE, description="1-based page number")]
Offset = Annotated[int, msgspec.Meta(ge=0, le=MAX_OFFSET, description="items to skip")]


def limit_type(default, maximum):
    """The type of a ``limit`` parameter from 1 to ``maximum``."""
    return Annotated[int, msgspec.Meta(ge=1, le=maximum, description=f"page size (default {default})")]


def paged(default=20, maximum=100):
    """``page`` and ``limit`` of a paged list."""
    return (Param("page", Page), Param("limit", limit_type(default, maximum)))


PAGED = paged()
IF_MATCH = Param(
    "If-Match", str, 'the ETag of the read the client edited (weak tags match by their version), or its '
    'version_number as "<n>"; or several, separated by commas, any one of which will do; or * (the item exists): '
    "409 when stale; a tag that is not one of this API's matches no version (409 too)",
    location="header",
)
IF_NONE_MATCH = Param(
    "If-None-Match", str, "ETags the client holds (or *): 304 without a body when one is the answer's",
    location="header",
)

RETRY_AFTER = Header("Retry-After", "whole seconds to wait before trying again", int)


def retry_after_503(also=""):
    """The ``Retry-After`` of a 503: sent when the database is busy or unreachable (or the
    local KV store busy), and in the case ``also`` names (", or ...")."""
    database = f"busy ({DATABASE_BUSY_RETRY_AFTER}) or unreachable ({DATABASE_UNREACHABLE_RETRY_AFTER})"
    kv = f"the local KV store (a SQLite file) is busy ({DATABASE_BUSY_RETRY_AFTER})"
    return Header("Retry-After", f"whole seconds to wait: sent when the database is {database}, or {kv}{also}",
                  int, required=False)


# Every operation's 503 (the document builder declares it): a busy or unreachable database
# says when to come back; a cache outage, or an error the media store answered, does not.
DATABASE_RETRY_AFTER = retry_after_503()
# A health report is its own 503 body; but a worker that could not build its app answers
# every request, a health check too, with the error envelope and this (app.runtime.entry).
STARTUP_RETRY_AFTER = Header(
    "Retry-After", "whole seconds to wait: sent, with the error envelope instead of the report, when the worker "
                   f"could not start its app (a database it cannot open yet: {STARTUP_RETRY_AFTER_SECONDS})",
    int, required=False)
STARTUP_FAILED = {503: (STARTUP_RETRY_AFTER,)}
# The routes that call the media store: a refusal by its guard says when to come back too.
STORE_RETRY_AFTER = retry_after_503(", or the media store is not answering or too busy")
STORE_CALLED = {503: (STORE_RETRY_AFTER,)}
# The collection writes that change schemas: so does another schema change in progress past
# SCHEMA_TURN_WAIT_MS.
SCHEMA_TURN_WAITED = {503: (retry_after_503(", or another schema change kept this one waiting too long"),)}
# A content create: schema saves landing one after another kept sending it back to validate.
SCHEMA_KEPT_CHANGING = retry_after_503(", or the collection's schema kept changing while the item was written")
LOCATION = Header("Location", "the path of what was created")
# What a read served through the three-tier cache answers.
CACHE_STATUS = Header("X-Cache-Status", "HIT when a cache tier answered, MISS when the database did",
                      Literal["HIT", "MISS"])
CACHE_SOURCE = Header("X-Cache-Source", "the tier that answered (the database when the answer is never cached)",
                      Literal[MEMORY, KV, DATABASE])
CACHE_TTL = Header("X-Cache-TTL", "on a HIT only: whole seconds the answer stays cached in this worker (a memory "
                   "hit: what its entry has left; a KV hit: what the KV entry has left, its new memory copy's; "
                   "none when memory did not keep the copy)", int,
                   required=False)
