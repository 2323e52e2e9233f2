"""One error envelope for everything the app can answer: ``{"error": ..., "details"?: ...}``.

Falcon's own errors (404, 405, bad JSON), validation errors (422 with field paths), binding
outages (503) and unhandled exceptions (500, logged with the request id the body carries)
all go through here. No stack trace, SQL or secret ever reaches a response.
"""

import logging

import falcon
import msgspec
import peewee

from app.runtime.kv import KVError
from app.runtime.r2 import R2Error

log = logging.getLogger("sonicpy.errors")


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


def forbidden(message="Insufficient permissions"):
    """403: authenticated but not allowed."""
    return APIError(falcon.HTTP_403, message)


def unauthorized(message="Authentication required"):
    """401: no valid credentials."""
    return APIError(falcon.HTTP_401, message, headers={"WWW-Authenticate": "Bearer"})


def unprocessable(message, details):
    """422: the body is well-formed but invalid; ``details`` lists each field's problem."""
    return APIError(falcon.HTTP_422, message, details)


def service_unavailable(message, details=None):
    """503: a binding (database, bucket, cache) is down."""
    return APIError(falcon.HTTP_503, message, details)


def _plain_title(ex):
    """Falcon titles read "404 Not Found"; the envelope says "Not Found"."""
    title = ex.title or ex.status
    head, _, rest = title.partition(" ")
    return rest if head.isdigit() and rest else title


def serialize_error(req, resp, ex):
    """Falcon's error serializer: every HTTPError becomes the envelope, as JSON."""
    if isinstance(ex, APIError):
        body = ex.to_dict()
    else:
        body = {"error": _plain_title(ex)}
        if ex.description:
            body["details"] = ex.description
    resp.content_type = falcon.MEDIA_JSON
    resp.data = msgspec.json.encode(body)


def handle_validation_error(req, resp, ex, params):
    """msgspec validation failures are 422 with the failing field path."""
    message = str(ex)
    path = ""
    if " - at `" in message:
        message, _, path = message.partition(" - at `")
        path = path.rstrip("`").removeprefix("$.").removeprefix("$")
    raise unprocessable("Validation failed", [{"field": path or None, "message": message}])


def handle_decode_error(req, resp, ex, params):
    """A body that is not valid JSON is a 400."""
    raise bad_request("Malformed JSON body", str(ex))


def handle_binding_error(req, resp, ex, params):
    """A binding that is down (database unreachable or locked, bucket, cache) answers 503; the cause goes to the log, not the client."""
    log.error("binding error on %s %s (request %s): %s", req.method, req.path, _request_id(req), ex)
    raise service_unavailable("Service temporarily unavailable", {"request_id": _request_id(req)})


def handle_unexpected(req, resp, ex, params):
    """Anything unhandled: logged with its traceback and request id; the client gets the id only."""
    if isinstance(ex, falcon.HTTPError):
        raise ex
    log.exception("unhandled error on %s %s (request %s)", req.method, req.path, _request_id(req))
    raise APIError(falcon.HTTP_500, "Internal Server Error", {"request_id": _request_id(req)})


def _request_id(req):
    return getattr(req.context, "request_id", None)


def install_error_handling(app):
    """Register the serializer and the handlers on ``app`` (most general first)."""
    app.set_error_serializer(serialize_error)
    app.add_error_handler(Exception, handle_unexpected)
    app.add_error_handler(msgspec.ValidationError, handle_validation_error)
    app.add_error_handler(msgspec.DecodeError, handle_decode_error)
    app.add_error_handler(peewee.OperationalError, handle_binding_error)
    app.add_error_handler(peewee.InterfaceError, handle_binding_error)
    app.add_error_handler(KVError, handle_binding_error)
    app.add_error_handler(R2Error, handle_binding_error)
