"""What services raise when a request cannot be carried out (never HTTP errors).

Each area (content, workflow, media) subclasses ``ServiceError`` and sets ``kind`` on each
subclass; ``app.api.errors`` maps every kind to its HTTP status in one handler, so services
stay free of HTTP and no area needs an error handler of its own.
"""

NOT_FOUND = "not_found"
FORBIDDEN = "forbidden"
CONFLICT = "conflict"
INVALID = "invalid"
TOO_LARGE = "too_large"
UNSUPPORTED = "unsupported"
BAD_REQUEST = "bad_request"


class ServiceError(Exception):
    """A request a service refuses; ``message`` and ``details`` are for the client.

    Attributes:
        kind: what went wrong (one of the constants above); decides the HTTP status.
    """

    kind = BAD_REQUEST

    def __init__(self, message, details=None):
        super().__init__(message)
        self.message = message
        self.details = details
