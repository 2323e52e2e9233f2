"""The ``webhooks`` core plugin: content, media and registration events to the registered endpoints.

Each ``after_*`` hook turns its event into a small JSON document and, after the response
(``ctx.wait_until``), queues one delivery per endpoint that wants it and makes the first
attempt; the cron handler retries the ones that failed (``retry_webhook_deliveries`` in
``app.scheduled``). Deactivating the plugin stops new deliveries, pauses the retries (the
pending ones go out once it is active again) and hides its routes.
"""

import logging

from app.db.database import release_connection
from app.db.models import database
from app.services import webhooks
from app.services.plugins import PluginInfo, hookimpl

log = logging.getLogger("sonicpy.webhooks")

NAME = webhooks.PLUGIN_NAME

INFO = PluginInfo(
    name=NAME, display_name="Webhooks", version="1.0.0", author="sonicpy", category="integration",
    description="Signed JSON deliveries of content, media and user events to registered endpoints",
    active_by_default=True, is_core=True,
)


def content_data(content):
    """What a content event carries: identity and publication state, not the whole document."""
    return {"id": content.id, "collection_id": content.collection_id, "title": content.title, "slug": content.slug,
            "status": content.status, "version_number": content.version_number}


def media_data(media):
    """What a media event carries."""
    return {"id": media.id, "filename": media.filename, "mime_type": media.mime_type, "size": media.size,
            "public_url": media.public_url}


class Webhooks:
    """The plugin object (one per app: it keeps that app's WEBHOOKS_ALLOW_PRIVATE_TARGETS and read cache)."""

    plugin_info = INFO

    def __init__(self):
        self.allow_private = False
        self.cache = None

    @hookimpl
    def startup(self, settings, services):
        self.allow_private = settings.webhooks_allow_private_targets
        self.cache = services.cache

    @hookimpl
    def register_routes(self, settings, services):
        from app.api.webhooks import webhook_routes  # the resources live with the other API modules

        return webhook_routes(settings, services.cache)

    @hookimpl
    def after_content_create(self, content, ctx):
        self.emit(ctx, "content.created", content_data(content))

    @hookimpl
    def after_content_update(self, content, ctx):
        self.emit(ctx, "content.updated", content_data(content))

    @hookimpl
    def after_content_delete(self, content, ctx):
        self.emit(ctx, "content.deleted", content_data(content))

    @hookimpl
    def after_content_restore(self, content, ctx):
        self.emit(ctx, "content.restored", content_data(content))

    @hookimpl
    def after_content_workflow(self, content, action, from_state, to_state, ctx):
        self.emit(ctx, "content.workflow", {**content_data(content), "action": action,
                                            "from_state": from_state, "to_state": to_state})

    @hookimpl
    def after_content_assign(self, content, assignee_id, due_at, previous_assignee_id, ended_by, ctx):
        self.emit(ctx, "content.assigned", {**content_data(content), "assignee_id": assignee_id, "due_at": due_at,
                                            "previous_assignee_id": previous_assignee_id, "ended_by": ended_by})

    @hookimpl
    def after_content_publish(self, content, ctx):
        self.emit(ctx, "content.published", content_data(content))

    @hookimpl
    def after_content_unpublish(self, content, ctx):
        self.emit(ctx, "content.unpublished", content_data(content))

    @hookimpl
    def after_media_upload(self, media, ctx):
        self.emit(ctx, "media.uploaded", media_data(media))

    @hookimpl
    def after_media_delete(self, media, purged, ctx):
        self.emit(ctx, "media.deleted", {**media_data(media), "purged": purged})

    @hookimpl
    def after_auth_register(self, user, ctx):
        self.emit(ctx, "user.registered", {"id": user.id, "email": user.email, "username": user.username})

    def emit(self, ctx, event, data):
        """Queue and send ``event`` after the response (now, outside a request)."""
        if ctx is None:
            self.send(event, data)
        else:
            ctx.wait_until(self.send, event, data)

    def send(self, event, data, webhook_ids=None):
        """Queue one delivery per endpoint wanting ``event`` and attempt each once."""
        try:
            for delivery in webhooks.enqueue(event, data, webhook_ids, cache=self.cache):
                try:
                    webhooks.attempt(delivery.id, self.allow_private)
                except Exception:  # the others are still attempted; the cron retries this one
                    log.exception("webhook delivery %s could not be attempted", delivery.id)
        finally:
            db = database.obj
            if db is not None:
                release_connection(db)
