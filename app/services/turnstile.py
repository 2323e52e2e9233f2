"""Cloudflare Turnstile: checking a widget's token with its siteverify endpoint.

The token a visitor's browser got from the widget is posted, with the secret key, to
siteverify (``TURNSTILE_VERIFY_URL``, Cloudflare's by default), which answers
``{"success": true|false, "error-codes": [...]}``. Anything else (no answer within
``TIMEOUT_SECONDS``, a status other than 200, a body that is not that object) fails closed:
``TurnstileUnavailable``, so an outage lets no unchecked submission through. The secret goes
in the request body only, and never into a message or a log line.
"""

import json
import logging
import urllib.error
import urllib.parse
import urllib.request

from app.services.errors import BAD_REQUEST, UNAVAILABLE, ServiceError

log = logging.getLogger("sonicpy.turnstile")

TIMEOUT_SECONDS = 5
MAX_TOKEN_LENGTH = 2048  # Turnstile's own limit on a token
MAX_ANSWER_BYTES = 64 * 1024
RETRY_AFTER_SECONDS = 30


class TurnstileFailed(ServiceError):
    """The token is missing, or siteverify refused it (a 400, as SonicJS answers it)."""

    kind = BAD_REQUEST

    def __init__(self, message="Turnstile verification failed", details=None):
        super().__init__(message, details)


class TurnstileUnavailable(ServiceError):
    """siteverify could not be asked, or gave no answer that can be read."""

    kind = UNAVAILABLE
    retry_after = RETRY_AFTER_SECONDS

    def __init__(self, message="Turnstile verification is unavailable, try again later", details=None):
        super().__init__(message, {"retry_after": RETRY_AFTER_SECONDS} if details is None else details)


def verify(token, secret, url, remote_ip=None):
    """Ask siteverify whether ``token`` is good; return quietly when it is.

    Raises:
        TurnstileFailed: no token, one too long to be real, or one siteverify refuses.
        TurnstileUnavailable: siteverify did not answer as it does.
    """
    if not token or len(token) > MAX_TOKEN_LENGTH:
        raise TurnstileFailed()
    fields = {"secret": secret, "response": token}
    if remote_ip:
        fields["remoteip"] = remote_ip
    request = urllib.request.Request(url, data=urllib.parse.urlencode(fields).encode("ascii"), method="POST",
                                     headers={"Content-Type": "application/x-www-form-urlencoded"})
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as answer:
            body = answer.read(MAX_ANSWER_BYTES + 1)
    except (urllib.error.URLError, OSError, ValueError) as ex:
        # The exception's text names the URL at most, never the body carrying the secret.
        log.warning("turnstile: siteverify unreachable (%s)", type(ex).__name__)
        raise TurnstileUnavailable() from None
    outcome = _success_of(body)
    if outcome is None:
        log.warning("turnstile: siteverify answered something else than its JSON object")
        raise TurnstileUnavailable()
    if not outcome:
        raise TurnstileFailed()


def _success_of(body):
    """siteverify's ``success`` (a bool), or None for an answer that is not its object."""
    if len(body) > MAX_ANSWER_BYTES:
        return None
    try:
        answer = json.loads(body)
    except ValueError:
        return None
    success = answer.get("success") if isinstance(answer, dict) else None
    return success if isinstance(success, bool) else None
