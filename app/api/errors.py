"""One error envelope for everything the app can answer: ``{"error": ..., "details"?: ...}``.

Falcon's own errors (404, 405, 415, bad JSON), validation errors (422 with field paths),
conflicts found by the database (409), binding outages (503) and unhandled exceptions (500,
logged with the request id the body carries) all go through here. No stack trace, SQL or
secret ever reaches a response: database and binding errors are logged, and the client
gets a fixed message plus the request id to quote.

A database that is busy or unreachable answers 503 with ``Retry-After``, in the header and
in ``details.retry_after`` (whole seconds, as a 429 and the media store's 503 say it):
``DATABASE_BUSY_RETRY_AFTER`` when a lock or the connection pool kept the request waiting
past its bound, ``DATABASE_UNREACHABLE_RETRY_AFTER`` when the server or the file could not
be reached; which it is, the driver's error code says (``app.runtime.outages``). The local
KV store, a SQLite file too, answers its busy lock the same way.

``read_body(req, Struct)`` is the one way responders read a JSON (or form) body: it
refuses bodies over 1 MiB (413) before reading a byte, converts to the msgspec Struct
(unknown fields, wrong types and missing fields give 422) and refuses NUL characters,
which PostgreSQL cannot store. Every field the API declares is accepted in camelCase and
in snake_case (``collectionId`` or ``collection_id``), whichever the Struct declares, at
the top level and in nested Structs; keys of user data (a field typed ``dict`` or ``Any``:
content ``data``, a collection ``schema``, plugin ``settings``) are kept as written.
"""

import functools
import logging
import re

import falcon
import msgspec
import msgspec.inspect
import peewee
from playhouse.pool import MaxConnectionsExceeded

from app.runtime.kv import KVError
from app.runtime.outages import Outage, database_outage
from app.runtime.r2 import R2Error
from app.runtime.r2.guard import BucketUnavailable
from app.services.errors import ErrorKind, ServiceError, validation_detail
from app.services.plugins import HookVeto

log = logging.getLogger("sonicpy.errors")

# Far above any form or API body this app takes; refused by its Content-Length, unread.
MAX_JSON_BODY_BYTES = 1024 * 1024
# The HTML forms a route reading forms (``read_body(form_ok=True)``) takes.
FORM_TYPES = frozenset({falcon.MEDIA_URLENCODED, falcon.MEDIA_MULTIPART})


class APIError(falcon.HTTPError):
    """An HTTP error with the envelope's ``error`` message and optional ``details``."""

    def __init__(self, status, message, details=None, headers=None):
        super().__init__(status, title=message, headers=headers)
        self.details = details

    def to_dict(self, obj_type=dict):
        body = obj_type()
        body["error"] = self.title
        if self.details is not None:
            body["details"] = self.details
        return body


def bad_request(message, details=None):
    """400: the request is malformed (a parameter, a filter)."""
    return APIError(falcon.HTTP_400, message, details)


def not_found(message="Not Found"):
    """404."""
    return APIError(falcon.HTTP_404, message)


def conflict(message, details=None):
    """409: the request conflicts with what is stored (duplicate, stale version)."""
    return APIError(falcon.HTTP_409, message, details)


def forbidden(message="Insufficient permissions", details=None):
    """403: authenticated but not allowed."""
    return APIError(falcon.HTTP_403, message, details)


def unauthorized(message="Authentication required"):
    """401: no valid credentials."""
    return APIError(falcon.HTTP_401, message, headers={"WWW-Authenticate": "Bearer"})


# What decides between the sign-in redirect and the 401 (``app.api.sign_in_redirect``): both
# answers name these in ``Vary``, and neither is stored (``no-store``: the cookie decides too).
SIGN_IN_VARY = "Accept, Sec-Fetch-Mode, HX-Request, X-Requested-With, Authorization, X-API-Key"


class SignInRequired(APIError):
    """401 that signing in would cure: the request came with no credential, or with one that
    is invalid or expired (``rejected``).

    A browser navigating to the page is sent to the sign-in page instead
    (``app.api.sign_in_redirect``); every other client gets this JSON envelope.
    """

    def __init__(self, message="Authentication required", rejected=False, resource=None):
        super().__init__(falcon.HTTP_401, message, headers={
            "WWW-Authenticate": "Bearer", "Vary": SIGN_IN_VARY, "Cache-Control": "no-store"})
        self.rejected = rejected
        self.resource = resource  # the refusing route's, so the redirect knows a page's from JSON's


def sign_in_required(rejected=False, resource=None):
    """The 401 of the access check of ``resource``: "Invalid or expired token" when a
    credential was ``rejected``, else "Authentication required" (SonicJS's two messages)."""
    if rejected:
        return SignInRequired("Invalid or expired token", rejected=True, resource=resource)
    return SignInRequired(resource=resource)


def unprocessable(message, details):
    """422: the body is well-formed but invalid; ``details`` lists each field's problem."""
    return APIError(falcon.HTTP_422, message, details)


def too_many_requests(retry_after, message="Too many attempts, try again later"):
    """429 with ``Retry-After`` (seconds) in the header and in ``details``."""
    seconds = max(1, int(retry_after))
    return APIError(falcon.HTTP_429, message, {"retry_after": seconds}, headers={"Retry-After": str(seconds)})


UNAVAILABLE_MESSAGE = "Service temporarily unavailable"


def service_unavailable(message, details=None):
    """503: a binding (database, bucket, cache) is down."""
    return APIError(falcon.HTTP_503, message, details)


def retry_later(retry_after, request_id=None, message=UNAVAILABLE_MESSAGE):
    """503 with ``Retry-After`` (whole seconds) in the header and in ``details``, with the
    request id the log line carries when there is one."""
    seconds = max(1, int(retry_after))
    details = {"retry_after": seconds} if request_id is None else {"request_id": request_id, "retry_after": seconds}
    return APIError(falcon.HTTP_503, message, details, headers={"Retry-After": str(seconds)})


def payload_too_large(max_bytes, message="Request body too large"):
    """413 with the limit in ``details``."""
    return APIError(falcon.HTTP_413, message, {"max_bytes": max_bytes})


INVALID_PARAMETERS = "Invalid query parameters"


def nothing_to_update():
    """400 for a PATCH body that names no field: every PATCH route answers it alike."""
    return bad_request("No fields to update")


def invalid_param(name, message, **extra):
    """400 for query parameter ``name``, in the one shape every route answers with:
    ``{"error": "Invalid query parameters", "details": [{"parameter", "message", ...extra}]}``."""
    return bad_request(INVALID_PARAMETERS, [{"parameter": name, "message": message, **extra}])


_PARAM_ERROR = re.compile(r'^The "(?P<name>.*)" parameter is (?:invalid\. (?P<message>.*)|(?P<required>required)\.)$',
                           re.DOTALL)


def _falcon_param_error(ex):
    """The envelope of Falcon's ``HTTPInvalidParam``/``HTTPMissingParam`` (raised by
    ``req.get_param_as_int`` and the like) in the shape of ``invalid_param``."""
    found = _PARAM_ERROR.match(ex.description)
    message = "is required" if found["required"] else found["message"].rstrip(".")
    message = re.sub(r"^The value ", "", message)
    return {"error": INVALID_PARAMETERS, "details": [{"parameter": found["name"], "message": message}]}


def field_error(field, message):
    """A 422 for one field: ``{"error": "Validation failed", "details": [{field, message}]}``."""
    return unprocessable("Validation failed", [{"field": field, "message": message}])


def _declared_type(req):
    """The media type ``Content-Type`` declares, without its parameters ('' for none)."""
    return (req.content_type or "").split(";", 1)[0].strip().lower()


def require_json(req):
    """415 unless the body is declared JSON (``Content-Type: application/json``).

    A page on any site can send an HTML form (URL-encoded, multipart or text/plain), or a
    fetch of an untyped body, across origins without a CORS preflight, carrying the
    visitor's cookies; a body declared JSON cannot be sent that way. So a JSON route refuses
    any other body rather than read it. Routes that take no body, or a form, are guarded by
    ``app.api.cross_origin`` instead.
    """
    if _declared_type(req) != falcon.MEDIA_JSON:
        raise APIError(
            falcon.HTTP_415, "Unsupported media type", f"this route takes a JSON body ({falcon.MEDIA_JSON})"
        )


def read_body(req, struct_type, max_bytes=MAX_JSON_BODY_BYTES, form_ok=False):
    """The request body converted to ``struct_type`` (a msgspec Struct).

    ``form_ok`` lets a route also read an HTML form, URL-encoded or multipart (a page's
    ``enctype="multipart/form-data"``), for SonicJS's form routes whose cross-site use harms
    no visitor (asking for a reset mail): a multipart form's text fields are read as a
    URL-encoded form's are, its file parts left out.

    The size is checked on ``Content-Length`` before anything is read. Without that header
    Falcon's WSGI request reads no body at all (its bounded stream is bounded by the
    declared length, 0), so a chunked upload can never make this read unbounded.

    Raises:
        msgspec.ValidationError: unknown field, wrong type, missing field (-> 422).
        APIError: 413 over ``max_bytes``; 415 for a body declared as anything but JSON
            (``require_json``); 422 when a string holds a NUL character; Falcon's 400 for
            an empty or malformed body.
    """
    declared = _declared_type(req)
    if not (form_ok and declared in FORM_TYPES):
        require_json(req)
    if (req.content_length or 0) > max_bytes:
        raise payload_too_large(max_bytes)
    try:
        media = multipart_fields(req) if declared == falcon.MEDIA_MULTIPART else req.get_media()
        path = nul_path(media)
        if path is not None:
            raise field_error(path or None, "NUL characters are not allowed")
        return msgspec.convert(either_casing(media, struct_type), struct_type)
    except RecursionError:
        # A body nested thousands of levels deep exhausts the decoder's stack: the client's fault.
        raise bad_request("Request body is nested too deeply") from None


def multipart_fields(req):
    """A multipart form's text fields as a URL-encoded form reads them: ``{name: value}``, a
    repeated name's values in a list. File parts (those naming a ``filename``) are skipped:
    the routes reading forms take none. The body's size was bounded before (``read_body``).

    Raises:
        APIError: 400 for a field that is not UTF-8 text; Falcon's 400 for a malformed body.
    """
    fields = {}
    for part in req.get_media():
        if part.filename is not None:
            continue
        try:
            value = part.stream.read().decode("utf-8")
        except UnicodeDecodeError:
            raise bad_request(f"The form field {part.name} is not UTF-8 text") from None
        held = fields.get(part.name)
        fields[part.name] = value if held is None else [*(held if isinstance(held, list) else [held]), value]
    return fields


def _snake(name):
    return re.sub(r"(?<=[a-z0-9])([A-Z])", lambda m: "_" + m.group(1).lower(), name)


def _camel(name):
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


# Both are kept per Struct type (a fixed set of classes): reading a type's fields resolves its
# annotations, tens of microseconds that every request with a body paid again.
@functools.cache
def casing_aliases(struct_type):
    """``{other casing: declared name}`` of ``struct_type``'s fields (a name it declares itself is no alias).

    The dict is shared by every caller: read it, never change it.
    """
    declared = {field.encode_name for field in msgspec.structs.fields(struct_type)}
    aliases = {}
    for name in declared:
        for alias in (_snake(name), _camel(name)):
            if alias not in declared:
                aliases[alias] = name
    return aliases


def either_casing(media, struct_type, path=""):
    """``media`` with keys in the other casing renamed to the Struct's (422 if both are given).

    Keys of nested Structs (a field typed as a Struct, or a list or dict of them) are API
    fields too and are renamed the same way, at any depth; keys inside a field typed
    ``dict`` or ``Any`` (content ``data``, a collection ``schema``, plugin ``settings``)
    are the user's own and are kept exactly as written. ``path`` is where ``media`` sits
    (``settings.limits[0]``), for the error.
    """
    if not isinstance(media, dict) or not hasattr(struct_type, "__struct_fields__"):
        return media
    aliases = casing_aliases(struct_type)
    renamed = {}
    for key, value in media.items():
        name = aliases.get(key, key)
        if name in renamed:
            raise field_error(f"{path}.{key}" if path else key, f"give {name} in one casing only")
        renamed[name] = value
    for name, kind in _nested_structs(struct_type).items():
        if name in renamed:
            renamed[name] = _recase(renamed[name], kind, f"{path}.{name}" if path else name)
    return renamed


@functools.cache
def _nested_structs(struct_type):
    """``{field name: msgspec.inspect type}`` of the fields that hold Structs, at any depth."""
    info = msgspec.inspect.type_info(struct_type)
    return {field.encode_name: field.type for field in info.fields if _holds_struct(field.type)}


def casing_structs(struct_type):
    """The Struct types whose keys ``either_casing`` reads in either casing in a body of
    ``struct_type``: itself and the Structs its fields hold, at any depth, each once."""
    found = {}

    def walk(kind):
        if isinstance(kind, msgspec.inspect.StructType):
            if kind.cls not in found:
                found[kind.cls] = None
                for field in kind.fields:
                    walk(field.type)
        elif isinstance(kind, msgspec.inspect.UnionType):
            for member in kind.types:
                walk(member)
        elif isinstance(kind, msgspec.inspect.DictType):
            walk(kind.value_type)
        elif hasattr(kind, "item_type"):
            walk(kind.item_type)

    walk(msgspec.inspect.type_info(struct_type))
    return tuple(found)


def _holds_struct(kind):
    if isinstance(kind, msgspec.inspect.StructType):
        return True
    if isinstance(kind, msgspec.inspect.UnionType):
        return any(_holds_struct(member) for member in kind.types)
    if isinstance(kind, (msgspec.inspect.ListType, msgspec.inspect.SetType, msgspec.inspect.FrozenSetType,
                         msgspec.inspect.VarTupleType)):
        return _holds_struct(kind.item_type)
    if isinstance(kind, msgspec.inspect.DictType):
        return _holds_struct(kind.value_type)
    return False


def _recase(value, kind, path):
    """``value`` (at ``path``) with its nested Structs' keys renamed, following the field's type."""
    if isinstance(kind, msgspec.inspect.StructType):
        return either_casing(value, kind.cls, path)
    if isinstance(kind, msgspec.inspect.UnionType):
        for member in kind.types:
            recased = _recase(value, member, path)
            if recased is not value:
                return recased
        return value
    if isinstance(value, list) and hasattr(kind, "item_type"):
        return [_recase(item, kind.item_type, f"{path}[{i}]") for i, item in enumerate(value)]
    if isinstance(value, dict) and isinstance(kind, msgspec.inspect.DictType):
        return {key: _recase(item, kind.value_type, f"{path}.{key}") for key, item in value.items()}
    return value


def envelope_lines(resp):
    """The lines a page shows of a refused request's ``{error, details}`` envelope: its
    reason, then one line per detail (``name: message`` for a named parameter or field); none
    when ``resp`` holds no envelope.

    A 4xx says what the caller can mend, and the API already tells it to any client; a page
    (the admin's, or a browser form's error page) shows the same words, escaped by its
    template, instead of leaving the reader to guess which filter or field was refused.
    """
    try:
        envelope = msgspec.json.decode(resp.data) if resp.data else resp.media
    except msgspec.DecodeError:
        return []
    if not isinstance(envelope, dict) or not isinstance(envelope.get("error"), str):
        return []
    details = envelope.get("details")
    if isinstance(details, dict):
        details = [{"name": name, "message": text} for name, text in details.items()]
    elif not isinstance(details, list):
        details = [] if details is None else [details]
    return [envelope["error"], *(_detail_line(detail) for detail in details)]


def _detail_line(detail):
    if not isinstance(detail, dict):
        return str(detail)
    name = next((detail[key] for key in ("parameter", "field", "name") if detail.get(key)), None)
    text = detail.get("message", detail.get("error", ""))
    if not isinstance(text, str):
        text = msgspec.json.encode(text).decode()
    return f"{name}: {text}" if name else text


def nul_path(media):
    """The path of the first string (or key) holding a NUL, or None (iterative: no depth limit)."""
    stack = [(media, "")]
    while stack:
        value, path = stack.pop()
        if isinstance(value, str):
            if "\x00" in value:
                return path
        elif isinstance(value, dict):
            for key, item in value.items():
                child = f"{path}.{key}" if path else str(key)
                if "\x00" in str(key):
                    return child
                stack.append((item, child))
        elif isinstance(value, list):
            stack.extend((item, f"{path}[{i}]") for i, item in enumerate(value))
    return None


def _plain_title(ex):
    """Falcon titles read "404 Not Found"; the envelope says "Not Found"."""
    title = ex.title or ex.status
    head, _, rest = str(title).partition(" ")
    return rest if head.isdigit() and rest else title


def serialize_error(req, resp, ex):
    """Falcon's error serializer: every HTTPError becomes the envelope, as JSON."""
    if isinstance(ex, APIError):
        body = ex.to_dict()
    elif isinstance(ex, falcon.HTTPInvalidParam | falcon.HTTPMissingParam) and _PARAM_ERROR.match(ex.description or ""):
        body = _falcon_param_error(ex)
    else:
        body = {"error": _plain_title(ex)}
        if ex.description:
            body["details"] = ex.description
    resp.content_type = falcon.MEDIA_JSON
    resp.data = msgspec.json.encode(body)


def handle_validation_error(req, resp, ex, params):
    """msgspec validation failures are 422 with the failing field path (``a.b[0]``).

    Names whose rule a reader needs in words (usernames, collection and form names) carry
    no pattern or length in their types: their services check them and say the rule.
    """
    raise unprocessable("Validation failed", [validation_detail(ex)])


def handle_decode_error(req, resp, ex, params):
    """A body that is not valid JSON is a 400."""
    raise bad_request("Malformed JSON body", str(ex))


# Seconds a client is asked to wait (``Retry-After``) before trying a database 503 again.
# Busy: the database answered, but another transaction held the lock (SQLite's busy timeout
# ran out) or every pooled connection stayed taken past the pool's wait: the holders are
# requests' transactions, over within a second as a rule.
DATABASE_BUSY_RETRY_AFTER = 1
# Unreachable: the server refused or dropped the connection, or the file cannot be opened.
# A restart or a failover takes seconds, and each request tries to connect again (waiting
# up to PostgreSQL's 5 s connect timeout): the media store's breaker waits as long by default.
DATABASE_UNREACHABLE_RETRY_AFTER = 5

# Seconds to wait, by what kept the database from serving (``app.runtime.outages``).
_OUTAGE_RETRY_AFTER = {Outage.BUSY: DATABASE_BUSY_RETRY_AFTER, Outage.UNREACHABLE: DATABASE_UNREACHABLE_RETRY_AFTER}


def database_retry_after(ex):
    """Seconds a client should wait before retrying after ``ex``, or None when ``ex`` is no
    outage of the database (a bug in the statement, or not a database error)."""
    outage = database_outage(ex)
    return None if outage is None else _OUTAGE_RETRY_AFTER[outage]


def handle_database_error(req, resp, ex, params):
    """A database error: 503 when the database is busy or unreachable (told by the driver's
    error code), else a 500."""
    req.context.error = ex  # for the on_request_error hooks
    retry_after = database_retry_after(ex)
    if retry_after is not None:
        _database_unavailable(req, ex, retry_after)
    handle_unexpected(req, resp, ex, params)


def _database_unavailable(req, ex, retry_after):
    log.error("database unavailable on %s %s (request %s): %s", req.method, req.path, _request_id(req), ex)
    raise retry_later(retry_after, _request_id(req))


def handle_integrity_error(req, resp, ex, params):
    """A constraint the database enforced (a race past an application check): 409, cause logged."""
    log.warning("integrity error on %s %s (request %s): %s", req.method, req.path, _request_id(req), ex)
    raise conflict("The request conflicts with existing data", {"request_id": _request_id(req)})


def handle_binding_error(req, resp, ex, params):
    """A binding other than the database that is down (the cache, an error the bucket
    answered) answers 503, without ``Retry-After``: nothing says when it will be back;
    but the local KV store's SQLite file held locked past its busy timeout is busy as a
    database is, and says to come back in ``DATABASE_BUSY_RETRY_AFTER``.

    The cause goes to the log, not the client.
    """
    log.error("binding error on %s %s (request %s): %s", req.method, req.path, _request_id(req), ex)
    req.context.error = ex  # for the on_request_error hooks
    if isinstance(ex, KVError) and database_outage(ex) is Outage.BUSY:
        raise retry_later(DATABASE_BUSY_RETRY_AFTER, _request_id(req))
    raise service_unavailable(UNAVAILABLE_MESSAGE, {"request_id": _request_id(req)})


def handle_bucket_unavailable(req, resp, ex, params):
    """A bucket call refused by its guard (store not answering, or too many calls at once):
    503 at once, with ``Retry-After``; the breaker already logged the outage."""
    log.info("bucket call refused on %s %s (request %s): %s", req.method, req.path, _request_id(req), ex)
    req.context.error = ex  # for the on_request_error hooks
    raise retry_later(ex.retry_after, _request_id(req))


def handle_value_error(req, resp, ex, params):
    """A NUL character in a query or path parameter is a 400; any other ValueError a 500.

    PostgreSQL cannot store NUL, and psycopg2 refuses such a parameter with a ValueError:
    the client's mistake, not the server's.
    """
    if "NUL (0x00)" in str(ex):
        raise bad_request("NUL characters are not allowed")
    handle_unexpected(req, resp, ex, params)


def handle_unexpected(req, resp, ex, params):
    """Anything unhandled: logged with its traceback and request id; the client gets the id only."""
    if isinstance(ex, falcon.HTTPError):
        raise ex
    req.context.error = ex  # for the on_request_error hooks
    log.error(
        "unhandled error on %s %s (request %s)", req.method, req.path, _request_id(req), exc_info=ex
    )
    raise APIError(falcon.HTTP_500, "Internal Server Error", {"request_id": _request_id(req)})


def _request_id(req):
    return getattr(req.context, "request_id", None)


# Every ErrorKind and its status, in one place (a test checks that no kind is missing).
SERVICE_ERROR_STATUS = {
    ErrorKind.NOT_FOUND: falcon.HTTP_404,
    ErrorKind.FORBIDDEN: falcon.HTTP_403,
    ErrorKind.CONFLICT: falcon.HTTP_409,
    ErrorKind.INVALID: falcon.HTTP_422,
    ErrorKind.TOO_LARGE: falcon.HTTP_413,
    ErrorKind.UNSUPPORTED: falcon.HTTP_415,
    ErrorKind.BAD_REQUEST: falcon.HTTP_400,
    ErrorKind.UNAVAILABLE: falcon.HTTP_503,
}


def handle_service_error(req, resp, ex, params):
    """A service's refusal becomes the envelope with the status of its ``kind`` (and
    ``Retry-After`` when the service says when to come back)."""
    headers = None if ex.retry_after is None else {"Retry-After": str(ex.retry_after)}
    raise APIError(SERVICE_ERROR_STATUS[ex.kind], ex.message, ex.details, headers=headers)


def handle_hook_veto(req, resp, ex, params):
    """A plugin's ``before_*`` hook refused the write: its 4xx and message."""
    raise APIError(falcon.code_to_http_status(ex.status), ex.message, ex.details)


def install_error_handling(app):
    """Register the serializer and the handlers on ``app`` (Falcon picks the most specific)."""
    app.set_error_serializer(serialize_error)
    app.add_error_handler(Exception, handle_unexpected)
    app.add_error_handler(ValueError, handle_value_error)
    app.add_error_handler(msgspec.ValidationError, handle_validation_error)
    app.add_error_handler(msgspec.DecodeError, handle_decode_error)
    # OperationalError mostly; a file that is not a database is a DatabaseError (SQLITE_NOTADB).
    app.add_error_handler(peewee.DatabaseError, handle_database_error)
    # InterfaceError too: a connection already closed (psycopg2's) is unreachable, while a
    # value SQLite cannot bind (sqlite3's) is the statement's own error, a 500.
    app.add_error_handler(peewee.InterfaceError, handle_database_error)
    app.add_error_handler(MaxConnectionsExceeded, handle_database_error)  # busy: every pooled connection taken
    app.add_error_handler(peewee.IntegrityError, handle_integrity_error)
    app.add_error_handler(KVError, handle_binding_error)
    app.add_error_handler(R2Error, handle_binding_error)
    app.add_error_handler(BucketUnavailable, handle_bucket_unavailable)
    app.add_error_handler(ServiceError, handle_service_error)
    app.add_error_handler(HookVeto, handle_hook_veto)
