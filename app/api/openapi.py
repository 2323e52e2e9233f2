"""The OpenAPI 3.1 document of the mounted app, generated from its routes, never written by hand.

Each ``(template, resource, suffix)`` the app mounted as an API route (``Routes.api_routes``:
HTML pages are left out) gives one path;
each responder of it one operation, with:

* its path parameters from the URI template (``{version:int(min=1)}`` is a bounded integer);
* its security from ``@access``: public operations need nothing (a signed-in caller may
  see more), the others any one of a bearer JWT, an ``sp_`` API token (``Authorization:
  Bearer`` or ``X-API-Key``) or the ``auth_token`` cookie; the permission is named in the
  description and in ``x-permission``;
* its body, query parameters and success response from ``@describe`` (``app.api.describe``),
  their JSON Schemas from ``msgspec.json.schema_components``; each field of a JSON body (and
  of the objects nested in it) that ``read_body`` also takes in the other casing says so in
  its ``description`` (``name_other_casings``);
* every error as the ``{error, details?}`` envelope (``default`` response), ``401`` and
  ``403`` named for every operation that needs a caller, and its ``303`` to the sign-in
  page when it is a GET or HEAD (a browser's navigation gets that instead of the 401:
  ``app.api.sign_in_redirect``), and ``503`` for every operation,
  with ``Retry-After`` (sent when the database or the local KV store is busy, or the
  database unreachable), unless the operation answers a 503 body of its own (a health
  report, which declares the envelope and ``Retry-After`` of a worker that could not start);
* on a POST of a resource taking browser forms, the refusals it names
  (``app.api.form_error_pages``: the cross-origin check's 403, the rate limit's 429, the
  route's own 400 and 422 of what was typed) as the envelope or an HTML page;
* a redirect declared as ``REDIRECT_PAGE`` as what it is: its ``Location``, and the short HTML
  page linking there (``app.api.redirects``);
* the response headers of each status from ``@describe(headers=...)``; on every response of
  a ``@rate_limited`` responder the ``X-RateLimit-*`` headers (``app.api.rate_limits``), and
  its 429 with ``Retry-After``; and on every response those sent whatever the route:
  ``x-d1-bookmark`` (``app.api.d1_session``), ``X-Request-ID`` and ``X-Response-Time``.

A route with a GET and no HEAD of its own answers HEAD with its GET (``app.api.methods``):
its ``head`` operation is built from the GET's responder and description, so the two never
drift: the same parameters, security, statuses and headers, and no response content, as no
HEAD answer has a body (a declared ``on_head`` gets no content either).

Served at ``GET /api/openapi.json`` and ``GET /api`` (where SonicJS serves its document).
"""

import re
from http import HTTPStatus

import msgspec

from app import NAME, __version__
from app.api import d1_session
from app.api.access import access, admin_api_path, responders, rule_of
from app.api.describe import (
    DATABASE_RETRY_AFTER,
    REDIRECT_PAGE,
    RETRY_AFTER,
    ErrorBody,
    Header,
    describe,
    operation_of,
)
from app.api.errors import casing_aliases, casing_structs
from app.api.form_error_pages import browser_form_refusals
from app.api.methods import SAFE_METHODS, head_mirrors_get
from app.api.rate_limits import QUOTA_HEADERS, rate_limit_of
from app.api.schemas import OpenAPIDocument

OPENAPI_VERSION = "3.1.0"
REF_TEMPLATE = "#/components/schemas/{name}"
_FIELD = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)(?::([a-z]+)(?:\((.*?)\))?)?\}")
_SKIP_TAG_SEGMENTS = {"api", "admin"}

SECURITY_SCHEMES = {
    "bearerAuth": {
        "type": "http", "scheme": "bearer", "bearerFormat": "JWT",
        "description": "The token `POST /auth/login` returns (`SESSION_TOKEN_TTL_SECONDS`, 24 h by default).",
    },
    "apiToken": {
        "type": "http", "scheme": "bearer", "bearerFormat": "sp_ API token",
        "description": "An API token from `POST /api/tokens`, as `Authorization: Bearer sp_...`.",
    },
    "apiKey": {
        "type": "apiKey", "in": "header", "name": "X-API-Key",
        "description": "An API token from `POST /api/tokens`, as `X-API-Key: sp_...`.",
    },
    "cookieAuth": {
        "type": "apiKey", "in": "cookie", "name": "auth_token",
        "description": "The login cookie. A browser's POST, PUT, PATCH or DELETE acting with it must come from "
                       "this site's own pages or an origin listed in `CORS_ALLOW_ORIGINS` (its `Sec-Fetch-Site` "
                       "or `Origin` says so), else 403.",
    },
}
SIGNED_IN = [{name: []} for name in SECURITY_SCHEMES]


def openapi_path(template):
    """``(path, [(name, schema)])`` of a Falcon URI template: ``{id:int(min=1)}`` -> ``{id}``."""
    params = []

    def plain(match):
        name, converter, args = match.groups()
        params.append((name, _converter_schema(converter, args or "")))
        return "{" + name + "}"

    return _FIELD.sub(plain, template), params


def _converter_schema(converter, args):
    if converter == "int":
        schema = {"type": "integer"}
        for key, word in (("minimum", "min"), ("maximum", "max")):
            found = re.search(rf"\b{word}\s*=\s*(-?\d+)", args)
            if found:
                schema[key] = int(found.group(1))
        return schema
    if converter == "uuid":
        return {"type": "string", "format": "uuid"}
    if converter == "path":
        return {"type": "string", "description": "a key that may contain '/'"}
    return {"type": "string"}


def _tag(path):
    segments = [s for s in path.strip("/").split("/") if s and s not in _SKIP_TAG_SEGMENTS]
    return segments[0] if segments and not segments[0].startswith("{") else "api"


def _operation_id(method, path):
    words = re.sub(r"[^A-Za-z0-9]+", "_", path).strip("_")
    return f"{method.lower()}_{words or 'root'}"


def _summary(resource, responder):
    doc = (responder.__doc__ or type(resource).__doc__ or "").strip()
    return doc.splitlines()[0] if doc else ""


class _Types:
    """Collects the types operations name, then resolves them to component schemas at once."""

    def __init__(self):
        self._types = [ErrorBody]
        self._index = {}
        self._bodies = {}  # the request bodies' types, in the order named

    def ref(self, type_):
        """A placeholder for ``type_`` resolved by ``schemas()``."""
        if type_ not in self._index:
            self._index[type_] = len(self._types)
            self._types.append(type_)
        return {"$sonicpy_type": self._index[type_]}

    def body_ref(self, type_):
        """``ref`` of a request body's type, whose fields are read in either casing."""
        self._bodies[type_] = None
        return self.ref(type_)

    def schemas(self):
        """``(schemas by index, components)``; each property of a Struct read from a body
        names its other spelling (``name_other_casings``)."""
        read = dict.fromkeys(struct for body in self._bodies for struct in casing_structs(body))
        for struct in read:
            self.ref(struct)  # so that its component's name is known
        schemas, components = msgspec.json.schema_components(self._types, ref_template=REF_TEMPLATE)
        for struct in read:
            name = schemas[self._index[struct]]["$ref"].rpartition("/")[2]
            components[name] = name_other_casings(components[name], casing_aliases(struct))
        return schemas, components


def name_other_casings(schema, aliases):
    """``schema`` (an object's) with each property that ``aliases`` (``{other casing:
    declared name}``) gives another spelling to saying so in its ``description``.

    A description rather than the other spelling as a property of its own: a client
    generator then makes one field per value, under the declared name, whose ``required``
    still holds; two properties would give two optional fields for one value, and a body
    sending both is refused (422).
    """
    others = {}
    for alias, name in aliases.items():
        others.setdefault(name, []).append(alias)
    properties = dict(schema.get("properties", {}))
    for name, spellings in others.items():
        if name not in properties:
            continue
        note = f"also accepted as {' or '.join(f'`{spelling}`' for spelling in sorted(spellings))} (not both: a 422)"
        described = properties[name].get("description")
        properties[name] = {**properties[name], "description": f"{described}; {note}" if described else note}
    return {**schema, "properties": properties} if properties else schema


def _resolve(node, schemas):
    """Replace every placeholder of ``node`` by its schema."""
    if isinstance(node, dict):
        if set(node) == {"$sonicpy_type"}:
            return schemas[node["$sonicpy_type"]]
        return {key: _resolve(value, schemas) for key, value in node.items()}
    if isinstance(node, list):
        return [_resolve(item, schemas) for item in node]
    return node


def _parameters(path_params, operation, types):
    params = [{"name": name, "in": "path", "required": True, "schema": schema} for name, schema in path_params]
    for param in operation.query if operation else ():
        entry = {"name": param.name, "in": param.location, "required": param.required, "schema": types.ref(param.type)}
        if param.description:
            entry["description"] = param.description
        params.append(entry)
    return params


def _request_body(operation, types):
    if operation is None or (operation.body is None and operation.form is None):
        return None
    if operation.form is not None:
        return {"required": True, "content": {"multipart/form-data": {"schema": types.ref(operation.form)}}}
    return {"required": not operation.optional_body,
            "content": {"application/json": {"schema": types.body_ref(operation.body)}}}


# The errors every operation that needs a caller may answer, besides its own.
SIGNED_IN_ERRORS = {
    "401": "Not signed in, or the token or API token is invalid or expired",
    "403": "Signed in, but the role or the API token's permissions do not allow it, a browser on another "
           "origin sent the write with the login cookie, or (creating an API token) the session's sign-in is not "
           "recent and no `current_password` proves the user",
}


# A GET or HEAD that needs a caller answers a browser's navigation without a session this
# instead of its 401 (app.api.sign_in_redirect).
SIGN_IN_REDIRECT = ("A browser opening this URL without a valid session (a GET or HEAD navigating, as "
                    "`Sec-Fetch-Mode: navigate` says, or, without that header, an `Accept` preferring `text/html` "
                    "to JSON; not htmx, `X-Requested-With: XMLHttpRequest`, nor a caller sending `Authorization: "
                    "Bearer` or `X-API-Key`) is sent to the sign-in page instead of the 401: `reason=required` "
                    "without a credential, `reason=expired` with one invalid or expired, and `next` leading back "
                    "to the page when it is under `/admin`. The body is a short HTML page linking there.")
SIGN_IN_LOCATION = Header("Location", "the sign-in page: `/admin/login?next=...&reason=required|expired`")
_REDIRECTED_METHODS = frozenset({"GET", "HEAD"})


def _sign_in_redirect(signs_in, types):
    """The 303 of a browser sent to sign in; ``signs_in``: when a public operation sends it."""
    when = f" Only when {signs_in}: every other request of it is public." if signs_in else ""
    return {"description": SIGN_IN_REDIRECT + when, "content": {"text/html": {"schema": {"type": "string"}}},
            "headers": {SIGN_IN_LOCATION.name: _header(SIGN_IN_LOCATION, types)}}


# Any operation may find the database busy or unreachable (its caller's session, the
# plugins' state and the request log are read from it, whatever the route does).
UNAVAILABLE = ("Service temporarily unavailable: the database is busy or unreachable, or the local KV store "
               "busy (try again after `Retry-After` seconds), or another binding is down")


TOO_MANY = "Too many attempts: try again after `Retry-After` seconds"


def _envelope(description, types):
    return {"description": description, "content": {"application/json": {"schema": types.ref(ErrorBody)}}}


# Every redirect answers its Location with a page linking there (app.api.redirects).
REDIRECT = ("A redirect to `Location`; the body is a short HTML page linking there, for a client that does not "
            "follow it")


def _is_redirect(code, media_type):
    return 300 <= int(code) < 400 and media_type == REDIRECT_PAGE


def _redirect():
    return {"description": REDIRECT, "content": {REDIRECT_PAGE: {"schema": {"type": "string"}}}}


def _other_response(code, body, types):
    if _is_redirect(code, body):
        return _redirect()
    if body is None:
        return {"description": "No body"}
    if isinstance(body, str):
        return {"description": "See the summary", "content": {body: {"schema": {}}}}
    # A tuple: any one of its bodies (msgspec cannot describe a union of untagged Structs).
    schema = {"anyOf": [types.ref(each) for each in body]} if isinstance(body, tuple) else types.ref(body)
    return {"description": "See the summary", "content": {"application/json": {"schema": schema}}}


def _success(operation, types):
    if operation is not None and _is_redirect(operation.status, operation.media_type):
        return _redirect()
    success = {"description": "Success"}
    if operation is None or operation.media_type == "application/json":
        schema = types.ref(operation.response) if operation and operation.response else {"type": "object"}
        success["content"] = {"application/json": {"schema": schema}}
    elif operation.media_type:
        success["content"] = {operation.media_type: {"schema": {}}}
    for media_type in operation.alternatives if operation else ():
        success["content"][media_type] = {"schema": {"type": "string"}}
    return success


def _responses(method, operation, rule, types, limited=False, path_params=(), forms=()):
    status = str(operation.status if operation else 200)
    responses = {status: _success(operation, types)}
    if not rule.public:
        responses.update({code: _envelope(text, types) for code, text in SIGNED_IN_ERRORS.items()})
    signs_in = operation.signs_in if operation and rule.public else ""
    if (signs_in or not rule.public) and method.upper() in _REDIRECTED_METHODS:
        responses["303"] = _sign_in_redirect(signs_in, types)
    for code, body in operation.others if operation else ():
        responses[str(code)] = _other_response(code, body, types)
    unavailable = responses.setdefault("503", _envelope(UNAVAILABLE, types))
    for code, declared in operation.headers if operation else ():
        response = responses.get(str(code))
        if response is None:
            # A status named by its headers alone: an error answers the envelope.
            response = responses[str(code)] = (
                _envelope(HTTPStatus(code).phrase, types) if code >= 400 else {"description": "No body"}
            )
        response["headers"] = {header.name: _header(header, types) for header in declared}
    if not _own_503(operation):
        unavailable.setdefault("headers", {}).setdefault(DATABASE_RETRY_AFTER.name,
                                                         _header(DATABASE_RETRY_AFTER, types))
    if limited:
        responses.setdefault("429", _envelope(TOO_MANY, types))
    if forms:
        _add_form_pages(responses, forms, types)
    declared_400 = responses.get("400")
    if path_params and declared_400 is not None and "application/json" not in declared_400.get("content", {}):
        # The request guard refuses a path holding a control character before any route
        # runs: that 400 is the envelope, whatever the route's own 400 is.
        declared_400.setdefault("content", {}).update(_envelope("Bad Request", types)["content"])
    responses["default"] = _envelope("An error, as the envelope", types)
    for code, response in responses.items():
        if method.upper() == "HEAD":
            response.pop("content", None)  # the status and headers of the answer, never a body
        headers = response.setdefault("headers", {})
        headers[BOOKMARK_HEADER] = _bookmark_ref(method, code)
        headers.update(EVERY_RESPONSE_REFS)
        if limited:
            # Whatever the status, the answers of a rate-limited route say where the caller stands.
            quota = QUOTA_HEADERS + ((RETRY_AFTER,) if code == "429" else ())
            headers.update({header.name: _header(header, types) for header in quota})
            if code in ("400", "default") and path_params:
                # But for a path the request guard refuses (a control character in a
                # parameter) before any route, and so any quota, is known.
                for header in QUOTA_HEADERS:
                    headers[header.name] = {**headers[header.name], "required": False}
    return responses


# A browser's form post to a route taking HTML forms, refused, gets the error page rather
# than the envelope (app.api.form_error_pages).
CROSS_ORIGIN_FORM = ("A form from another origin (its `Sec-Fetch-Site` or `Origin` says so): only this site's "
                     "own pages may post it")
# What each refusal a browser's form may see as a page is, when the operation declared it not.
FORM_REFUSALS = {400: "The body could not be read, or a value is refused", 403: CROSS_ORIGIN_FORM,
                 422: "A field is refused: `details` names each problem", 429: TOO_MANY}
FORM_PAGE_NOTE = (" A browser's form post (URL-encoded or multipart, preferring `text/html`, as `Sec-Fetch-Mode: "
                  "navigate` or `Accept` says) gets an HTML page saying so instead of the envelope.")


def _add_form_pages(responses, refusals, types):
    """Tell each of ``refusals`` (the 403 of the cross-origin check, the 429 of the rate
    limit, the route's 400 and 422) as the envelope or, for a browser's form, an HTML page."""
    for code in sorted(refusals):
        response = responses.get(str(code))
        if response is None:
            response = responses[str(code)] = _envelope(FORM_REFUSALS[code], types)
        response["description"] = response["description"].rstrip(".") + "." + FORM_PAGE_NOTE
        response.setdefault("content", {})["text/html"] = {"schema": {"type": "string"}}


def _own_503(operation):
    """Whether ``operation`` answers a 503 body of its own (a health report), not the envelope."""
    return operation is not None and any(code == 503 for code, _ in operation.others)


def _header(header, types):
    return {"description": header.description, "required": header.required, "schema": types.ref(header.type)}


# The D1 session middleware answers every request that may have written (any method but
# GET, HEAD and OPTIONS) and succeeded with the session's bookmark, and any request that
# sent one with the bookmark continued from it: declared once, referenced by every response.
# Neither is required: after a write the bookmark is read from the primary once the answer
# is made, and when that read fails the answer stands without it.
BOOKMARK_HEADER = d1_session.HEADER
BOOKMARK_HEADERS = {
    "D1Bookmark": {
        "description": "The D1 session's bookmark, when the request sent one (`x-d1-bookmark`): send it back "
                       "to read at least what this session saw or wrote.",
        "required": False, "schema": {"type": "string"},
    },
    "D1BookmarkAfterWrite": {
        "description": "The D1 session's bookmark after this write: send it back as `x-d1-bookmark` to read "
                       "at least what it wrote. Sent after every successful write, unless the database could "
                       "not be asked for it once the write was done (it went away after answering): the "
                       "answer then stands without it.",
        "required": False, "schema": {"type": "string"},
    },
}


# Sent on every response by the request's context middleware: (component, name, header).
_EVERY_RESPONSE = (
    ("RequestId", "X-Request-ID", {
        "description": "The request's id, as the logs and the error reports name it.",
        "required": True, "schema": {"type": "string"},
    }),
    ("ResponseTime", "X-Response-Time", {
        "description": "How long the request took until its response, as `<milliseconds>ms` with two decimals "
                       "(`1.37ms`).",
        "required": True, "schema": {"type": "string", "pattern": "^[0-9]+\\.[0-9]{2}ms$"},
    }),
)
EVERY_RESPONSE_REFS = {name: {"$ref": f"#/components/headers/{key}"} for key, name, _ in _EVERY_RESPONSE}
HEADER_COMPONENTS = {**BOOKMARK_HEADERS, **{key: header for key, _, header in _EVERY_RESPONSE}}


def _bookmark_ref(method, code):
    written = method.upper() not in SAFE_METHODS and code != "default" and int(code) < 400
    return {"$ref": f"#/components/headers/{'D1BookmarkAfterWrite' if written else 'D1Bookmark'}"}


def _security(rule):
    if rule.public:
        return [{}] + SIGNED_IN  # anyone; a signed-in caller may see more
    return SIGNED_IN


def build_operation(method, path, path_params, resource, responder, types):
    """The OpenAPI operation of one responder (for ``method``: a GET's for its HEAD twin)."""
    rule = rule_of(responder)
    operation = operation_of(responder)
    summary = operation.summary if operation else _summary(resource, responder)
    notes = [operation.description] if operation and operation.description else []
    if not rule.public and admin_api_path(path):
        notes.append("Editors and admins only.")
    if rule.permission:
        notes.append(f"Requires the permission `{rule.permission}`.")
    elif rule.authenticated:
        notes.append("Requires a signed-in caller.")
    entry = {
        "operationId": _operation_id(method, path),
        "summary": summary,
        "tags": [_tag(path)],
        "security": _security(rule),
        "parameters": _parameters(path_params, operation, types),
        "responses": _responses(method, operation, rule, types, limited=rate_limit_of(responder) is not None,
                                path_params=path_params,
                                forms=browser_form_refusals(resource) if method.upper() == "POST" else ()),
    }
    if notes:
        entry["description"] = "\n\n".join(notes)
    if rule.permission:
        entry["x-permission"] = rule.permission
    body = _request_body(operation, types)
    if body:
        entry["requestBody"] = body
    return entry


def _head_of_get(get, head):
    """``head`` (built from the GET's responder) told as the GET's answer without its body."""
    head["summary"] = f"{get['summary']} (headers only)"
    note = "The GET's answer without its body: the same status, access check and headers."
    head["description"] = "\n\n".join(filter(None, (note, get.get("description"))))
    return head


# The admin UI's HTML pages (and `/`, which redirects to them) are for browsers, not API
# clients: the document describes the JSON API only.
def build_document(routes):
    """The OpenAPI 3.1 document of ``routes`` (``(template, resource, suffix)`` triples)."""
    types = _Types()
    paths = {}
    for template, resource, suffix in routes:
        path, path_params = openapi_path(template)
        item = paths.setdefault(path, {})
        found = dict(responders(resource, suffix))
        for method, responder in found.items():
            item[method.lower()] = build_operation(method, path, path_params, resource, responder, types)
        if head_mirrors_get(found):
            item["head"] = _head_of_get(item["get"], build_operation("HEAD", path, path_params, resource,
                                                                     found["GET"], types))
    schemas, components = types.schemas()
    return {
        "openapi": OPENAPI_VERSION,
        "info": {
            "title": f"{NAME} API",
            "version": __version__,
            "description": "Generated from the routes the app mounts. Errors answer `{error, details?}`.",
        },
        "paths": _resolve(paths, schemas),
        "components": {"schemas": components, "headers": HEADER_COMPONENTS, "securitySchemes": SECURITY_SCHEMES},
    }


class OpenAPIResource:
    """The OpenAPI document of the routes mounted (all of them, by the first request), less
    the routes of plugins inactive now: those answer 404, so the document does not offer them.

    One encoded document is kept per set of inactive plugins; it is short-lived in caches
    (a minute) since an admin may (de)activate a plugin at any time.
    """

    def __init__(self, routes, plugins):
        self._routes = routes
        self._plugins = plugins
        self._encoded = {}  # frozenset of inactive plugins owning routes -> the document's bytes

    @access(public=True)
    @describe("This API's OpenAPI 3.1 document", response=OpenAPIDocument)
    def on_get(self, req, resp):
        routes = self._routes.api_routes
        owners = {id(resource): self._plugins.route_owner(resource) for _, resource, _ in routes}
        hidden = frozenset(owner for owner in set(owners.values())
                           if owner is not None and not self._plugins.is_active(owner))
        encoded = self._encoded.get(hidden)
        if encoded is None:
            shown = [route for route in routes if owners[id(route[1])] not in hidden]
            encoded = self._encoded[hidden] = msgspec.json.encode(build_document(shown))
        resp.data = encoded
        resp.content_type = "application/json"
        resp.cache_control = ["public", "max-age=60"]


def register(routes):
    """Mount ``/api/openapi.json`` and ``/api``."""
    resource = OpenAPIResource(routes, routes.services.plugins)
    routes.add("/api/openapi.json", resource)
    routes.add("/api", resource)
