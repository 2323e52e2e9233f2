"""The ``ai-search`` core plugin: ``POST /api/search``, its suggestions and its analytics.

Searches read content exactly as ``/api/content`` does for the same caller (published items
only for the public), through the full-text index; ``mode: "ai"`` ranks by meaning when the
env has an ``AI`` binding (``app.services.ai_search``). Its settings are SonicJS's
(``app.services.ai_search.settings``), edited through the generic plugin settings API and
its admin page (``app.admin.ai_search``). The routes answer 404 while the plugin is inactive.

As SonicJS does, an item created, edited, published or restored is indexed at once: after
the response (``ctx.wait_until``), its vector is made when it is missing or stale. A model
that fails then is logged and left to the scheduled job, which indexes what is stale.
"""

import logging
import weakref

from app.db.database import release_connection
from app.db.models import database
from app.services.ai_search.semantic import EmbeddingUnavailable, semantic_index_for
from app.services.ai_search.settings import DEFAULTS, SearchSettings, settings_from
from app.services.plugins import PluginInfo, ReadsOwnSettings, hookimpl

log = logging.getLogger("sonicpy.ai_search")

NAME = "ai-search"

INFO = PluginInfo(
    name=NAME, display_name="AI Search", version="1.0.0", author="SonicJS", category="content",
    description="Full-text and semantic search across content collections, with filters, suggestions and analytics",
    settings_schema=SearchSettings, default_settings=DEFAULTS, active_by_default=True, is_core=True,
)


class AISearch(ReadsOwnSettings):
    """The plugin object (one per app): it mounts the search routes and reads its settings."""

    plugin_info = INFO

    def __init__(self):
        super().__init__()
        self._env = None
        # The items queued per request: a create that publishes fires two hooks, indexed once.
        self._queued = weakref.WeakKeyDictionary()

    @hookimpl
    def startup(self, env, services):
        self.attach(services)
        self._env = env

    @hookimpl
    def register_routes(self, env):
        from app.api.search import search_routes  # the resources live with the other API modules

        return search_routes(self.settings, lambda: semantic_index_for(env))

    def settings(self):
        """The SearchSettings now (the defaults before ``startup``)."""
        return settings_from(self.own_settings())

    @hookimpl
    def after_content_create(self, content, ctx):
        self.index_later(content, ctx)

    @hookimpl
    def after_content_update(self, content, ctx):
        self.index_later(content, ctx)

    @hookimpl
    def after_content_publish(self, content, ctx):
        self.index_later(content, ctx)

    @hookimpl
    def after_content_restore(self, content, ctx):
        self.index_later(content, ctx)

    def index_later(self, content, ctx):
        """Queue the indexing of ``content`` after the response, when semantic search is on
        (an ``AI`` binding, ``enabled`` and ``ai_mode_enabled``) for its collection.

        Without an execution context (a CLI write) nothing is queued: the scheduled job
        indexes what is stale.
        """
        index = semantic_index_for(self._env) if self._env is not None else None
        if index is None or ctx is None:
            return
        settings = self.settings()
        selected = settings.selected_collections
        if not (settings.enabled and settings.ai_mode_enabled and (not selected or content.collection_id in selected)):
            return
        queued = self._queued.setdefault(ctx, set())
        if content.id not in queued:
            queued.add(content.id)
            ctx.wait_until(index_item, index, content.id)


def index_item(index, content_id):
    """Index one item now (run after the response); a failing model is logged in one line."""
    try:
        index.index_items([content_id])
    except EmbeddingUnavailable as ex:
        log.warning("content %s not indexed now (the scheduled job will retry): %s", content_id, ex)
    finally:
        db = database.obj
        if db is not None:
            release_connection(db)
