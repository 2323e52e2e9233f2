"""``/admin/api/webhooks``: endpoints, their delivery log and a test delivery (the ``webhooks`` plugin).

Mounted by the core plugin ``webhooks`` (so they answer 404 while it is inactive); all need
``plugins.manage`` (admins). The secret is shown once, in the answer that creates or
replaces it. ``POST /admin/api/webhooks/{id}/test`` queues a ``webhook.test`` delivery for
that endpoint (even inactive) and sends it after the response: 202 with the delivery.
"""

import falcon
import msgspec

from app.api.access import access
from app.api.describe import LOCATION, describe, paged
from app.api.errors import nothing_to_update, read_body
from app.api.params import limit_param, page_param
from app.api.private import no_store
from app.api.schemas import Listed, One, SuccessOf
from app.api.schemas_admin import Delivery, IdOnly, WebhookInfo
from app.services import webhooks
from app.services.pagination import pagination_meta

MAX_LIMIT = 100
DEFAULT_LIMIT = 20


class WebhookBody(msgspec.Struct, forbid_unknown_fields=True):
    """``POST /admin/api/webhooks``."""

    url: str
    events: list[str]
    secret: str | None = None
    active: bool = True
    description: str | None = None


class WebhookPatch(msgspec.Struct, forbid_unknown_fields=True):
    """``PATCH /admin/api/webhooks/{id}``: any subset."""

    url: str | msgspec.UnsetType = msgspec.UNSET
    events: list[str] | msgspec.UnsetType = msgspec.UNSET
    secret: str | msgspec.UnsetType = msgspec.UNSET
    active: bool | msgspec.UnsetType = msgspec.UNSET
    description: str | None | msgspec.UnsetType = msgspec.UNSET


PATCH_COLUMNS = {"url": "url", "events": "events", "secret": "secret", "active": "is_active",
                 "description": "description"}


def _check_secret(secret):
    if secret is not None and not 16 <= len(secret) <= 200:
        raise webhooks.InvalidWebhook("secret", "must be 16 to 200 characters")


class WebhooksResource:
    """``GET`` (list) and ``POST`` (register) ``/admin/api/webhooks``."""

    def __init__(self, allow_private, cache=None):
        self._allow_private = allow_private
        self._cache = cache

    @access("plugins.manage")
    @describe("List webhook endpoints", query=paged(DEFAULT_LIMIT, MAX_LIMIT), response=Listed[WebhookInfo])
    def on_get(self, req, resp):
        page, limit = page_param(req), limit_param(req, DEFAULT_LIMIT, MAX_LIMIT)
        rows, total = webhooks.list_webhooks(page, limit)
        resp.media = {"data": [webhooks.webhook_json(row) for row in rows], "meta": pagination_meta(total, limit, page)}

    @access("plugins.manage")
    @describe("Register a webhook endpoint (the secret shown once)", body=WebhookBody, status=201,
              response=One[WebhookInfo], headers={201: (LOCATION,)})
    @no_store
    def on_post(self, req, resp):
        body = read_body(req, WebhookBody)
        _check_secret(body.secret)
        webhook = webhooks.create_webhook(body.url, body.events, self._allow_private, body.secret, body.active,
                                          body.description, req.context.user.id, self._cache)
        resp.status = falcon.HTTP_201
        resp.location = f"/admin/api/webhooks/{webhook.id}"
        resp.media = {"data": webhooks.webhook_json(webhook, with_secret=True)}


class WebhookResource:
    """``GET``, ``PATCH`` and ``DELETE /admin/api/webhooks/{id}``."""

    def __init__(self, allow_private, cache=None):
        self._allow_private = allow_private
        self._cache = cache

    @access("plugins.manage")
    @describe("One webhook endpoint", response=One[WebhookInfo])
    def on_get(self, req, resp, webhook_id):
        resp.media = {"data": webhooks.webhook_json(webhooks.get_webhook(webhook_id))}

    @access("plugins.manage")
    @describe("Update a webhook endpoint", body=WebhookPatch, response=One[WebhookInfo])
    @no_store
    def on_patch(self, req, resp, webhook_id):
        body = read_body(req, WebhookPatch)
        changes = {column: getattr(body, field) for field, column in PATCH_COLUMNS.items()
                   if getattr(body, field) is not msgspec.UNSET}
        if not changes:
            raise nothing_to_update()
        _check_secret(changes.get("secret"))
        webhook = webhooks.update_webhook(webhook_id, changes, self._allow_private, self._cache)
        resp.media = {"data": webhooks.webhook_json(webhook, with_secret="secret" in changes)}

    @access("plugins.manage")
    @describe("Delete a webhook endpoint", response=SuccessOf[IdOnly])
    def on_delete(self, req, resp, webhook_id):
        webhooks.delete_webhook(webhook_id, self._cache)
        resp.media = {"success": True, "data": {"id": webhook_id}}


class DeliveriesResource:
    """``GET /admin/api/webhooks/{id}/deliveries``: the delivery log, newest first."""

    @access("plugins.manage")
    @describe("An endpoint's deliveries, newest first", query=paged(DEFAULT_LIMIT, MAX_LIMIT),
              response=Listed[Delivery])
    def on_get(self, req, resp, webhook_id):
        page, limit = page_param(req), limit_param(req, DEFAULT_LIMIT, MAX_LIMIT)
        rows, total = webhooks.list_deliveries(webhook_id, page, limit)
        resp.media = {
            "data": [webhooks.delivery_json(row) for row in rows], "meta": pagination_meta(total, limit, page),
        }


class TestDeliveryResource:
    """``POST /admin/api/webhooks/{id}/test``: a ``webhook.test`` delivery, sent after the response."""

    def __init__(self, allow_private):
        self._allow_private = allow_private

    @access("plugins.manage")
    @describe("Send a test delivery (after the response)", status=202, response=One[Delivery])
    def on_post(self, req, resp, webhook_id):
        webhook = webhooks.get_webhook(webhook_id)
        [delivery] = webhooks.enqueue(webhooks.TEST_EVENT, {"message": "test delivery"}, webhook_ids=[webhook.id],
                                      include_inactive=True)
        req.context.ctx.wait_until(webhooks.attempt, delivery.id, self._allow_private)
        resp.status = falcon.HTTP_202
        resp.media = {"data": webhooks.delivery_json(delivery)}


def webhook_routes(settings, cache=None):
    """The routes the ``webhooks`` plugin mounts; ``cache`` is the app's read cache (told of changes)."""
    allow_private = settings.webhooks_allow_private_targets
    return [
        ("/admin/api/webhooks", WebhooksResource(allow_private, cache)),
        ("/admin/api/webhooks/{webhook_id}", WebhookResource(allow_private, cache)),
        ("/admin/api/webhooks/{webhook_id}/deliveries", DeliveriesResource()),
        ("/admin/api/webhooks/{webhook_id}/test", TestDeliveryResource(allow_private)),
    ]
