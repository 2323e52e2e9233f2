"""The ``ai-search`` core plugin: ``POST /api/search``, its suggestions and its analytics, and
its admin JSON routes (``app.api.search_admin``).

Searches read content exactly as ``/api/content`` does for the same caller (published items
only for the public), through the full-text index; ``mode: "ai"`` ranks by meaning when the
env has an ``AI`` binding (``app.services.ai_search``). Its settings are SonicJS's
(``app.services.ai_search.settings``), edited through the generic plugin settings API and
its admin page (``app.admin.ai_search``). The routes answer 404 while the plugin is inactive.
The public's answers are cached for ``cache_duration`` hours (``app.services.ai_search.cached``);
the index it builds is given the app's cache, so new vectors make them stale in this worker at once.

As SonicJS does, an item created, edited, published or restored is indexed at once: after
the response (``ctx.wait_until``), its vector is made when it is missing or stale. The items
a request saves (a bulk publish: up to 100) are indexed by ONE task, in the model's batches,
queued to run after every other task of the request (its log row, its webhook sends) and
bounded to ``HOOK_SECONDS``. A model that fails then is one warning line and stops the task;
for ``BREAKER_MS`` after a failure, saves queue nothing: the scheduled job, which indexes
what is stale, catches up.
"""

import logging
import time
import weakref

from app.db.database import release_connection
from app.db.models import database
from app.services.ai_search.semantic import EmbeddingUnavailable, semantic_index_for
from app.services.ai_search.settings import DEFAULTS, SearchSettings, settings_from
from app.services.plugins import PluginInfo, ReadsOwnSettings, hookimpl

log = logging.getLogger("sonicpy.ai_search")

# After a failed request to the model, saves do not ask it for this long (a model that is
# down or hung would cost each save's thread its timeout): the scheduled job catches up.
BREAKER_MS = 60_000
# No batch of a save's indexing starts past this many seconds: the rest is the job's.
HOOK_SECONDS = 10.0

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
        self._cache = None
        # The items queued per request: a create that publishes fires two hooks, indexed once.
        self._queued = weakref.WeakKeyDictionary()

    @hookimpl
    def startup(self, env, services):
        self.attach(services)
        self._env = env
        self._cache = services.cache

    @hookimpl
    def register_routes(self, env, settings, services):
        # The resources live with the other API modules.
        from app.api.search import search_routes
        from app.api.search_admin import search_admin_routes

        def index():
            return semantic_index_for(env, services.cache)

        return [*search_routes(self.settings, index, services.rate_limiter, settings, services.cache),
                *search_admin_routes(self.settings, index)]

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
        index = semantic_index_for(self._env, self._cache) if self._env is not None else None
        if index is None or ctx is None:
            return
        settings = self.settings()
        selected = settings.selected_collections
        if not (settings.enabled and settings.ai_mode_enabled and (not selected or content.collection_id in selected)):
            return
        if model_failed_lately(index.embedder):
            return
        queued = self._queued.get(ctx)
        if queued is None:
            queued = self._queued[ctx] = set()
            ctx.wait_until(run_last, ctx, index_queued, index, queued)
        queued.add(content.id)


def model_failed_lately(embedder):
    """Whether the model's last request (in this process) failed under ``BREAKER_MS`` ago."""
    outcome = embedder.last_known()
    if outcome is None or outcome[1] is None:
        return False
    return time.time_ns() // 1_000_000 - outcome[0] < BREAKER_MS


def run_last(ctx, fn, *args):
    """Queue ``fn(*args)`` again: the context runs what a task queues after every task queued
    before it, so the request's log row and webhook sends (queued as it ends) go first."""
    ctx.wait_until(fn, *args)


def index_queued(index, content_ids, seconds=HOOK_SECONDS):
    """Index the items a request saved (run after the response), in the model's batches, none
    started past ``seconds``; a failing model is one log line and stops the task."""
    ids = sorted(content_ids)
    deadline = time.monotonic() + seconds
    size = index.embedder.batch_size
    try:
        with index.one_change():
            for start in range(0, len(ids), size):
                if start and time.monotonic() > deadline:
                    log.warning("saved item(s) %s not indexed now (out of time; the scheduled job will index them)",
                                _named(ids[start:]))
                    return
                index.index_items(ids[start:start + size])
    except EmbeddingUnavailable as ex:
        log.warning("saved item(s) %s not indexed now (the scheduled job will retry): %s", _named(ids[start:]), ex)
    finally:
        db = database.obj
        if db is not None:
            release_connection(db)


def _named(ids, shown=3):
    """``ids`` for a log line: the first ``shown``, and how many more."""
    more = f" and {len(ids) - shown} more" if len(ids) > shown else ""
    return ", ".join(ids[:shown]) + more
