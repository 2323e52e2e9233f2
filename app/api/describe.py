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
  ``others``: more statuses: ``{503: HealthBody}`` (a JSON body), ``{206: "*/*"}`` (a
  media type), ``{304: None}`` (no body);
* a responder without ``@describe`` is still in the document, summarised by its
  resource's docstring; every error answers the ``{error, details?}`` envelope.
"""

from dataclasses import dataclass
from typing import Annotated, Any

import msgspec

from app.api.params import MAX_OFFSET, MAX_PAGE

DESCRIBE_ATTR = "__sonicpy_openapi__"


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


def describe(summary, *, description="", body=None, form=None, query=(), response=None, status=200,
             media_type="application/json", others=None):
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
            error envelope, with their body (a type for JSON) or None for none.
    """
    operation = Operation(summary, description, body, form, tuple(query), response, status, media_type,
                          tuple((others or {}).items()))

    def decorate(responder):
        setattr(responder, DESCRIBE_ATTR, operation)
        return responder

    return decorate


def operation_of(responder):
    """The Operation declared on ``responder``, or None."""
    return getattr(responder, DESCRIBE_ATTR, None)


class ErrorBody(msgspec.Struct, forbid_unknown_fields=True):
    """The envelope every error answers: ``error`` says what went wrong, ``details`` (a
    string, a list of ``{field, message}``, or an object) says more."""

    error: str
    details: Any | msgspec.UnsetType = msgspec.UNSET


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
    "If-Match", str, 'the ETag of the read the client edited, or its version_number as "<n>": 409 when stale',
    location="header",
)
IF_NONE_MATCH = Param(
    "If-None-Match", str, "ETags the client holds (or *): 304 without a body when one is the answer's",
    location="header",
)
