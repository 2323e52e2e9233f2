"""Webhooks: endpoints admins register, signed deliveries, retries with backoff.

An endpoint has a URL, the events it wants (``content.published``... or ``*``), a secret
and an active flag. Each event it wants becomes a ``webhook_deliveries`` row, sent as a
JSON POST after the response (``ctx.wait_until``) and, while it fails, again by the cron
handler with exponential backoff (1, 2, 4, 8 minutes) up to ``MAX_ATTEMPTS``; the row
keeps the status, the attempts, the last response status and error. Each attempt is
claimed before it is sent, so the write's own attempt and a cron run (or two cron
processes) never send one delivery twice at a time; a delivery whose endpoint was
deactivated after it was queued fails unsent.

Signature: ``X-Sonicpy-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>``.
A receiver recomputes it over the raw body and refuses old timestamps (replays).

Targets: only http(s) URLs whose host resolves to public addresses; loopback, private,
link-local and other reserved ranges, and IPv6 forms embedding such an IPv4 address (NAT64,
6to4, Teredo, IPv4-mapped or -compatible; ``app.services.addresses``), are refused by
``check_target``, at registration and again before each attempt (DNS may change), unless
``WEBHOOKS_ALLOW_PRIVATE_TARGETS`` is set. The attempt connects to the address that was
checked (TLS still verifies the host's name), so a name that answers a public address to
the check and a private one to the connection (DNS rebinding) reaches nothing internal.
Redirects are not followed, so a public endpoint cannot bounce a delivery to an internal
one. An attempt gets ``TIMEOUT_SECONDS`` in all,
however slowly the receiver trickles its answer, and any answer that is not a 2xx
(a malformed one included) is a failed attempt, retried like the others.

Whether any endpoint is active is kept in the read cache (``any_active``, in the ``plugins``
namespace: the endpoints are the webhooks plugin's configuration), so a content write with
no active endpoint, the usual case, costs no query after its response. Every change of an
endpoint through the service bumps that namespace after its commit (``d1 execute`` bumps
every namespace): the worker that made it sees it at once, the others within the cache's
generation TTL (``GENERATION_TTL_SECONDS``, 0.25 s), so an endpoint created or activated
through another worker may miss the events of that quarter second. When some endpoint is
active, the endpoints are read from the database for each event, as before: a deleted or
deactivated endpoint never gets another delivery.
"""

import contextlib
import hashlib
import hmac
import http.client
import logging
import secrets
import socket
import ssl
import threading
import time
from urllib.parse import quote, urlsplit

import msgspec

from app.db.models import Plugin, Webhook, WebhookDelivery, database, now_ms
from app.db.rows import columns_of, fetch_models, fetch_one
from app.services.addresses import is_public
from app.services.cache import Namespace, invalidate
from app.services.errors import INVALID, NOT_FOUND, ServiceError
from app.services.metrics import request_metrics

log = logging.getLogger("sonicpy.webhooks")

PLUGIN_NAME = "webhooks"  # the core plugin sending these deliveries (its row says whether it is active)

EVENTS = (
    "content.created", "content.updated", "content.deleted", "content.restored", "content.workflow",
    "content.assigned", "content.published", "content.unpublished", "media.uploaded", "media.deleted",
    "user.registered",
)  # and TEST_EVENT, which the test button sends to an endpoint whatever it wants
ALL_EVENTS = "*"
_ASCII_PRINTABLE = "".join(map(chr, range(0x21, 0x7F)))  # kept as they are in a request target
MAX_ATTEMPTS = 5
BACKOFF_BASE_MS = 60_000
TIMEOUT_SECONDS = 5
MAX_ERROR_CHARS = 500
SIGNATURE_HEADER = "X-Sonicpy-Signature"
TEST_EVENT = "webhook.test"
DEACTIVATED = "the endpoint was deactivated"
# How long a runner holds an attempt it is making: well past the request's own timeout.
CLAIM_MS = (TIMEOUT_SECONDS + 55) * 1000


class WebhookNotFound(ServiceError):
    """No webhook has that id."""

    kind = NOT_FOUND

    def __init__(self):
        super().__init__("Webhook not found")


class InvalidWebhook(ServiceError):
    """A field of a webhook is invalid."""

    kind = INVALID

    def __init__(self, field, message):
        super().__init__("Validation failed", [{"field": field, "message": message}])


def sign(secret, timestamp, body):
    """The signature header value of ``body`` (bytes) sent at ``timestamp`` (unix seconds)."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def check_target(url, allow_private):
    """Refuse a URL that is not http(s) or whose host resolves to a non-public address.

    Returns:
        ``(url parts, address)``: the address checked, which an attempt connects to (None
        when private targets are allowed: the host's name is then resolved as usual).

    Raises:
        InvalidWebhook: naming ``url``.
    """
    return _checked_target(_parsed(url), allow_private)


def _checked_target(parts, allow_private):
    """``check_target`` of a URL's ``parts``."""
    port = _port(parts)
    if allow_private:
        return parts, None
    try:
        infos = socket.getaddrinfo(parts.hostname, port, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError):
        raise InvalidWebhook("url", f"host {parts.hostname} does not resolve") from None
    addresses = [info[4][0] for info in infos]
    for text in addresses:
        if not is_public(text):
            raise InvalidWebhook("url", f"{parts.hostname} is a private or loopback address; "
                                        "WEBHOOKS_ALLOW_PRIVATE_TARGETS allows it")
    return parts, addresses[0]


def check_new_url(url, allow_private):
    """``check_target`` for a URL being registered or changed to, after what only a new URL
    is refused for: a port 0 (read as the scheme's port, which the URL does not say) and
    credentials (``user:password@``), which would be stored and listed to every admin as
    part of the URL and never sent: a receiver knows the sender by the signature. Endpoints
    stored before these checks keep being delivered to. So is a space or a control character
    anywhere in it (a line break would end the request line): no request can carry it as it
    is, so every delivery would fail; written percent-encoded (``%20``) it goes."""
    if any(character.isspace() or not character.isprintable() for character in url):
        raise InvalidWebhook("url", "must not contain spaces or control characters; percent-encode them (%20)")
    parts = _parsed(url)
    if parts.port == 0:
        raise InvalidWebhook("url", "port 0 is no port to connect to")
    if "@" in parts.netloc:
        raise InvalidWebhook("url", "must not carry a user name or password (user:password@); "
                                    "receivers check the signature instead")
    _checked_target(parts, allow_private)


def _parsed(url):
    """The parts of ``url``; InvalidWebhook unless it is an http(s) URL with a host and a
    port in range."""
    try:
        parts = urlsplit(url)
        _port(parts)
    except ValueError as ex:  # a port out of range, an unclosed [IPv6 literal
        raise InvalidWebhook("url", f"is not a valid URL ({ex})") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidWebhook("url", "must be an http or https URL")
    return parts


def request_target(parts):
    """The path and query a request for the URL ``parts`` names: a letter beyond ASCII
    (``/café``) percent-encoded as UTF-8, as a browser sends it; a request line is ASCII."""
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return quote(target, safe=_ASCII_PRINTABLE)


def _port(parts):
    """The port a URL names, or its scheme's (ValueError for one out of range)."""
    return parts.port or (443 if parts.scheme == "https" else 80)


def subscribed_events(events):
    """``events`` as stored: each once, in the order given, and ``"*"`` alone when it is among
    them (it wants every event). ``TEST_EVENT`` is left out: the test button sends it to an
    endpoint whatever it wants, and an endpoint stored when it could be listed, sent back as
    read, must still save. InvalidWebhook for an empty list or an unknown name."""
    events = [name for name in events if name != TEST_EVENT]
    if not events:
        raise InvalidWebhook("events", "name at least one event (or \"*\")")
    unknown = [name for name in events if name != ALL_EVENTS and name not in EVENTS]
    if unknown:
        raise InvalidWebhook("events", f"unknown events {', '.join(unknown)}; known: {', '.join(EVENTS)}")
    return [ALL_EVENTS] if ALL_EVENTS in events else list(dict.fromkeys(events))


# ------------------------------------------------------------------ endpoints


def create_webhook(url, events, allow_private, secret=None, active=True, description=None, user_id=None,
                   cache=None):
    """Register an endpoint; a secret is generated when none is given. Returns the Webhook.

    ``cache``: the app's read cache, told about the new endpoint (``any_active``); the same
    for the other changes below.
    """
    events = subscribed_events(events)
    check_new_url(url, allow_private)
    webhook = Webhook.create(url=url, events=events, secret=secret or secrets.token_urlsafe(32),
                             is_active=active, description=description, created_by=user_id)
    _changed(cache)
    return webhook


def get_webhook(webhook_id):
    """The webhook ``webhook_id``; WebhookNotFound otherwise."""
    webhook = Webhook.get_or_none(Webhook.id == webhook_id)
    if webhook is None:
        raise WebhookNotFound()
    return webhook


def update_webhook(webhook_id, changes, allow_private, cache=None):
    """Apply ``changes`` (url, events, secret, is_active, description); the webhook as stored."""
    webhook = get_webhook(webhook_id)
    if "events" in changes:
        changes = dict(changes, events=subscribed_events(changes["events"]))
    if "url" in changes:
        # The URL it has, sent back with the rest, is checked as before each attempt only.
        check = check_target if changes["url"] == webhook.url else check_new_url
        check(changes["url"], allow_private)
    if changes:
        Webhook.update({**changes, "updated_at": now_ms()}).where(Webhook.id == webhook.id).execute()
        _changed(cache)
    return get_webhook(webhook.id)


def delete_webhook(webhook_id, cache=None):
    """Delete the webhook and its delivery log."""
    webhook = get_webhook(webhook_id)
    with database.atomic():
        WebhookDelivery.delete().where(WebhookDelivery.webhook == webhook.id).execute()
        webhook.delete_instance()
    _changed(cache)


# What ``any_active`` keeps in the cache's ``plugins`` namespace.
ANY_ACTIVE_KEY = ("webhooks", "any active")
_ANY_ACTIVE = 'SELECT 1 FROM "webhooks" WHERE "is_active" = 1 LIMIT 1'


def any_active(cache=None):
    """Whether some endpoint is active: from ``cache`` (see the module), or the database without one."""
    if cache is None:
        return _any_active()
    return cache.get_or_load_shared(Namespace.PLUGINS, ANY_ACTIVE_KEY, _any_active)


def _any_active():
    return fetch_one(_ANY_ACTIVE, ()) is not None


def _changed(cache):
    """After a committed change of the endpoints: every worker's ``any_active`` reads them again."""
    invalidate(cache, Namespace.PLUGINS)


def list_webhooks(page, limit):
    """A page of webhooks, newest first: ``(rows, total)``."""
    query = Webhook.select()
    return list(query.order_by(Webhook.created_at.desc(), Webhook.id).paginate(page, limit)), query.count()


def list_deliveries(webhook_id, page, limit):
    """A page of the webhook's deliveries, newest first: ``(rows, total)``."""
    query = WebhookDelivery.select().where(WebhookDelivery.webhook == get_webhook(webhook_id).id)
    rows = query.order_by(WebhookDelivery.created_at.desc(), WebhookDelivery.id.desc()).paginate(page, limit)
    return list(rows), query.count()


def webhook_json(webhook, with_secret=False):
    """An endpoint as the API shows it; the secret only when just created (or replaced)."""
    body = {
        "id": webhook.id, "url": webhook.url, "events": webhook.events, "active": bool(webhook.is_active),
        "description": webhook.description, "created_at": webhook.created_at, "updated_at": webhook.updated_at,
    }
    if with_secret:
        body["secret"] = webhook.secret
    return body


def delivery_json(delivery):
    """A delivery as the API shows it."""
    return {
        "id": delivery.id, "webhook_id": delivery.webhook_id, "event": delivery.event, "status": delivery.status,
        "attempts": delivery.attempts, "response_status": delivery.response_status,
        "last_error": delivery.last_error, "next_attempt_at": delivery.next_attempt_at,
        "delivered_at": delivery.delivered_at, "created_at": delivery.created_at, "payload": delivery.payload,
    }


# ------------------------------------------------------------------ deliveries


def enqueue(event, data, webhook_ids=None, include_inactive=False, cache=None):
    """One pending delivery per endpoint wanting ``event``, all in one transaction (an event
    is queued for every endpoint or, should a row fail, for none). Returns the new rows.

    Args:
        event: the event name.
        data: the event's JSON document.
        webhook_ids: only these endpoints, whatever events they want (a test delivery).
        include_inactive: inactive endpoints too (a test delivery).
        cache: the app's read cache: with no active endpoint (``any_active``), an event of
            every active one reads nothing.
    """
    if webhook_ids is None and not include_inactive and not any_active(cache):
        return []
    now = now_ms()
    rows = []
    with database.atomic():
        for webhook in _endpoints(webhook_ids, include_inactive):
            if webhook_ids is None and event not in webhook.events and ALL_EVENTS not in webhook.events:
                continue
            delivery_id = WebhookDelivery._meta.primary_key.default()
            payload = {"id": delivery_id, "event": event, "created_at": now, "data": data}
            rows.append(WebhookDelivery.create(id=delivery_id, webhook=webhook.id, event=event, payload=payload,
                                               next_attempt_at=now, created_at=now, updated_at=now))
    return rows


_ACTIVE = f'SELECT {columns_of(Webhook)} FROM "webhooks" WHERE "is_active" = 1'


def _endpoints(webhook_ids, include_inactive):
    """The endpoints ``enqueue`` considers: every active one, in one fixed statement, for a
    content write's events (every write looks); a test delivery's by id."""
    if webhook_ids is None and not include_inactive:
        return fetch_models(Webhook, _ACTIVE, ())
    query = Webhook.select()
    if not include_inactive:
        query = query.where(Webhook.is_active == True)  # noqa: E712
    if webhook_ids is not None:
        query = query.where(Webhook.id.in_(webhook_ids))
    return query


def attempt(delivery_id, allow_private, now=None):
    """Send delivery ``delivery_id`` once, if it is due; record the outcome and the next
    attempt. Returns its status, or None when there was nothing to send.

    The attempt is claimed first (``_claim``), so two runners (the write's own attempt and a
    cron run, or two cron processes) never send it twice. A delivery to an endpoint
    deactivated since it was queued is not sent: it fails, saying why (a test delivery,
    asked for by hand, is sent whatever the endpoint's state).
    """
    now = now if now is not None else now_ms()
    delivery = WebhookDelivery.get_or_none(WebhookDelivery.id == delivery_id)
    if delivery is None or delivery.status != "pending":
        return None
    webhook = Webhook.get_by_id(delivery.webhook_id)
    if not webhook.is_active and delivery.event != TEST_EVENT:
        changes = {"status": "failed", "next_attempt_at": None, "last_error": DEACTIVATED, "updated_at": now_ms()}
        return "failed" if _record(delivery, changes) else None
    if not _claim(delivery, now):
        return None
    status, error = _post(webhook, delivery, allow_private)
    attempts = delivery.attempts + 1
    changes = {"attempts": attempts, "response_status": status, "last_error": error, "updated_at": now_ms()}
    if error is None:
        changes.update(status="delivered", delivered_at=now_ms(), next_attempt_at=None)
    elif attempts >= MAX_ATTEMPTS:
        changes.update(status="failed", next_attempt_at=None)
    else:
        changes["next_attempt_at"] = now + BACKOFF_BASE_MS * 2 ** (attempts - 1)
    _record(delivery, changes)
    request_metrics().webhook_attempts.labels("delivered" if error is None else "failed").inc()
    return changes.get("status", "pending")


def _claim(delivery, now):
    """Take the attempt of ``delivery`` (pending and due at ``now``, as read): move its next
    attempt ``CLAIM_MS`` on, so no other runner sends it meanwhile. False when another runner
    took it first (or it is not due). A runner that dies while sending leaves the claim to
    expire: the attempt is then made again (at least once, never twice at a time)."""
    # From the clock, not from ``now``: a cron run passes its scheduled time, which a long run
    # (or a catch-up tick) may have left behind, and a claim already past protects nothing.
    claimed = (WebhookDelivery.update(next_attempt_at=max(now, now_ms()) + CLAIM_MS)
               .where((WebhookDelivery.id == delivery.id) & (WebhookDelivery.status == "pending")
                      & (WebhookDelivery.attempts == delivery.attempts)
                      & (WebhookDelivery.next_attempt_at <= now))
               .execute())
    return claimed == 1


def _record(delivery, changes):
    """Write ``changes`` to ``delivery`` unless another attempt was recorded since it was read."""
    return WebhookDelivery.update(changes).where(
        (WebhookDelivery.id == delivery.id) & (WebhookDelivery.attempts == delivery.attempts)
        & (WebhookDelivery.status == "pending")).execute() == 1


def deliveries_enabled():
    """Whether the ``webhooks`` plugin is active, read from its row (the cron process may have no app).

    A database without the row yet (no app has read the registry) counts as active, as the
    plugin is active by default.
    """
    row = Plugin.select(Plugin.status).where(Plugin.name == PLUGIN_NAME).first()
    return row is None or row.status == "active"


def retry_due(now, allow_private):
    """Attempt every pending delivery due at ``now`` (the cron handler). Returns ``{status: count}``.

    While the ``webhooks`` plugin is inactive nothing is sent: the due deliveries stay
    pending (counted as ``paused``) and go out on the first run after it is activated again.
    """
    due = (WebhookDelivery.select(WebhookDelivery.id)
           .where((WebhookDelivery.status == "pending") & (WebhookDelivery.next_attempt_at <= now))
           .order_by(WebhookDelivery.next_attempt_at))
    if not deliveries_enabled():
        paused = due.count()
        return {"paused": paused} if paused else {}
    outcome = {}
    for row in list(due):
        try:
            status = attempt(row.id, allow_private, now)
        except Exception:  # one delivery's trouble never keeps the others from being sent
            log.exception("webhook delivery %s could not be attempted", row.id)
            status = "error"
        outcome[status] = outcome.get(status, 0) + 1
    return outcome


def _post(webhook, delivery, allow_private):
    """POST the delivery (no redirect followed); ``(response status or None, error or None)``."""
    body = msgspec.json.encode(delivery.payload)
    try:
        parts, address = check_target(webhook.url, allow_private)
    except InvalidWebhook as ex:
        return None, ex.details[0]["message"]
    headers = {
        "Content-Type": "application/json", "User-Agent": "sonicpy-webhooks/1",
        "X-Sonicpy-Event": delivery.event, "X-Sonicpy-Delivery": delivery.id,
        SIGNATURE_HEADER: sign(webhook.secret, int(time.time()), body),
    }
    connection = _PinnedConnection(parts, address)
    # The whole exchange gets TIMEOUT_SECONDS: the socket's timeout bounds each read only,
    # so a receiver sending a byte at a time could otherwise hold the attempt (and outlive
    # its claim) indefinitely.
    deadline = threading.Timer(TIMEOUT_SECONDS, connection.abort)
    deadline.start()
    try:
        connection.request("POST", request_target(parts), body, headers)
        status = connection.getresponse().status
    except (OSError, http.client.HTTPException, ValueError) as ex:
        status, error = None, (str(ex) or type(ex).__name__)[:MAX_ERROR_CHARS]
    else:
        error = None if 200 <= status < 300 else f"HTTP {status}"
    finally:
        deadline.cancel()
        connection.close()
    if connection.aborted:  # cut short, its headers may have seemed to end: no answer
        return None, f"no complete answer within {TIMEOUT_SECONDS} s"
    return status, error


class _PinnedConnection:
    """An HTTP(S) connection to ``address`` (the one ``check_target`` accepted) for the URL's
    host: the Host header and TLS's name check are the host's; None connects by name.

    ``abort`` (the deadline) cuts the connection whatever stage the exchange is at, the TLS
    handshake included, and a connection made after the deadline is cut at once.
    """

    def __init__(self, parts, address):
        port = _port(parts)
        self.aborted = False
        self._socket = None  # the connected socket (TLS over it for https), once there is one
        if parts.scheme == "https":
            self._http = _PinnedHTTPS(parts.hostname, port, address, TIMEOUT_SECONDS, self._connected,
                                      ssl.create_default_context())
        else:
            self._http = _PinnedHTTP(parts.hostname, port, address, TIMEOUT_SECONDS, self._connected)

    def request(self, method, path, body, headers):
        self._http.request(method, path, body, headers)

    def getresponse(self):
        return self._http.getresponse()

    def abort(self):
        """Cut the exchange short (from the deadline's thread): a read waiting returns at once."""
        self.aborted = True
        self._cut()

    def close(self):
        self._http.close()

    def _connected(self, sock):
        """Keep the socket ``abort`` cuts; one connected past the deadline is cut now."""
        self._socket = sock
        if self.aborted:
            self._cut()
            raise TimeoutError(f"no complete answer within {TIMEOUT_SECONDS} s")

    def _cut(self):
        if self._socket is not None:
            with contextlib.suppress(OSError):  # closed already: the exchange is over anyway
                # The socket's own shutdown, not SSLSocket's: that one also drops the TLS state
                # the other thread may be using, which would fail there as a stray AttributeError.
                socket.socket.shutdown(self._socket, socket.SHUT_RDWR)


class _PinnedHTTP(http.client.HTTPConnection):
    def __init__(self, host, port, address, timeout, connected):
        super().__init__(host, port, timeout=timeout)
        self._address = address
        self._connected = connected

    def connect(self):
        self.sock = socket.create_connection((self._address or self.host, self.port), self.timeout)
        self._connected(self.sock)


class _PinnedHTTPS(http.client.HTTPSConnection):
    def __init__(self, host, port, address, timeout, connected, context):
        super().__init__(host, port, timeout=timeout, context=context)
        self._address = address
        self._connected = connected

    def connect(self):
        sock = socket.create_connection((self._address or self.host, self.port), self.timeout)
        # Wrapped first and shaken hands after: the TLS socket takes the connection over at
        # once, so it is the one the deadline must be able to cut, handshake included.
        tls = self._context.wrap_socket(sock, server_hostname=self.host, do_handshake_on_connect=False)
        self._connected(tls)
        tls.do_handshake()
        self.sock = tls
