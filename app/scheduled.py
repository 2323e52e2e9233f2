"""The cron handler: ``scheduled(event, env, ctx)`` runs every job for the trigger.

Jobs are plain functions ``job(event, env)`` listed in ``JOBS``; each runs in its own
try block so one failure never stops the others, and each reports what it did. The same
handler serves ``python worker.py scheduled`` (for system cron), the Procfile's ``clock``
line and ``dev``'s own timer.
"""

import logging

from app.db.models import bind_models, now_ms
from app.db.time_travel import purge_expired_history, ship_history_to_bucket
from app.runtime.context import ScheduledEvent
from app.services.ai_search.history import prune as prune_searches
from app.services.ai_search.scope import indexed_collections
from app.services.ai_search.semantic import EmbeddingUnavailable, semantic_index_for
from app.services.cache_lost import replay
from app.services.content.scheduling import run_scheduled_content
from app.services.log_config import apply_retention
from app.services.media.sweep import sweep
from app.services.passwordless import purge_spent
from app.services.plugins import hooks
from app.services.webhooks import retry_due
from app.settings import media_sweep_grace_seconds, settings_from_env

log = logging.getLogger("sonicpy.scheduled")


def write_lost_cache_invalidations(event, env):
    """Write to CACHE_KV the cache invalidations it could not take when a job or the CLI
    made them (``app.services.cache_lost``), now that it may answer again."""
    kv = env.get("CACHE_KV")
    if kv is None:
        return {}
    return {"cache_invalidations_written": len(replay(kv))}


def purge_expired_logs(event, env):
    """Delete system logs older than their category's ``log_config.retention_days``."""
    return {"logs_purged": sum(apply_retention(event.scheduled_time).values())}


def sweep_media_orphans(event, env):
    """Remove media objects whose pending record outlived ``MEDIA_SWEEP_GRACE_SECONDS`` and
    that no media row names (no bucket listing: ``media sweep`` does that)."""
    grace = media_sweep_grace_seconds(env.config)
    return sweep(env.MEDIA_BUCKET, event.scheduled_time, grace, scan=False).to_dict()



def retry_webhook_deliveries(event, env):
    """Attempt again every webhook delivery whose backoff has run out."""
    allow_private = settings_from_env(env).webhooks_allow_private_targets
    return {"webhook_deliveries": retry_due(event.scheduled_time, allow_private)}


def purge_sign_in_secrets(event, env):
    """Delete the mailed sign-in codes and links created over a day ago (long expired, and
    counted by neither the hourly limits nor the daily failure budget)."""
    return purge_spent(event.scheduled_time)


def index_search_embeddings(event, env):
    """With an ``AI`` binding: drop the vectors of trashed items and embed a bounded batch of
    items without a vector or edited since theirs was made (semantic search), in the
    collections the ``ai-search`` plugin searches. While it wants no vectors
    (``app.services.ai_search.scope``) nothing is embedded, but trashed items still lose
    theirs (no model call: a vector kept would outlive the item it was made of). A model
    that is down is one warning line per run, not a traceback: it is an outside service,
    retried next minute."""
    index = semantic_index_for(env)
    if index is None:
        return {}
    wanted, collection_ids = indexed_collections()
    if not wanted:
        return {"removed": index.remove_deleted()}
    try:
        return index.index_stale(collection_ids)
    except EmbeddingUnavailable as ex:
        log.warning("scheduled job index_search_embeddings stopped: %s", ex)
        return {"error": str(ex)}


def prune_search_history(event, env):
    """Delete the searches recorded over ``RETENTION_DAYS`` (90) ago (the analytics read 30)."""
    return {"search_history_pruned": prune_searches(event.scheduled_time)}


JOBS = [
    write_lost_cache_invalidations,
    purge_expired_logs, run_scheduled_content, sweep_media_orphans, purge_expired_history, retry_webhook_deliveries,
    purge_sign_in_secrets, ship_history_to_bucket, index_search_embeddings, prune_search_history,
]


def bind_plugin_hooks(env, ctx):
    """Bind the plugins of ``env`` for the jobs, so a scheduled publication fires its hooks
    (webhooks...) even in a process that serves no app (``scheduled``, ``clock``).

    Returns:
        A token for ``hooks.reset_context``, or None when the plugins could not be loaded.
    """
    from app.app import build_services  # the composition root, which imports every service

    try:
        settings = settings_from_env(env)
        services = build_services(env, settings)
        services.plugins.start(env, settings, services)
    except Exception:
        log.exception("plugins could not be loaded for the scheduled run; their hooks will not fire")
        return None
    return hooks.bind_context(services.plugins.hooks, ctx)


def run_scheduled(event, env, ctx=None):
    """Run every job for ``event``; return ``{job name: result or {"error": message}}``."""
    bind_models(env.DB.db)
    env.DB.db.connect(reuse_if_open=True)
    token = bind_plugin_hooks(env, ctx)
    results = {}
    try:
        for job in JOBS:
            try:
                results[job.__name__] = job(event, env)
            except Exception as ex:
                log.exception("scheduled job %s failed (cron %s)", job.__name__, event.cron)
                results[job.__name__] = {"error": str(ex)}
        if ctx is not None:
            ctx.run_pending()
    finally:
        if token is not None:
            hooks.reset_context(token)
    return results


def eventful(results):
    """The jobs of a run that did something or failed: ``{job name: result}``, empty when idle.

    Jobs report what they did as counts (``{"logs_purged": 0}``); a result whose counts are
    all zero did nothing. A failed job's result is ``{"error": message}``.
    """
    return {name: result for name, result in results.items() if _did_something(result)}


def _did_something(result):
    if not isinstance(result, dict):
        return result is not None
    if "error" in result:
        return True
    return any(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in result.values())


def now_event(cron="manual"):
    """A ScheduledEvent for "now", as the CLI's ``scheduled`` command fires it."""
    return ScheduledEvent(cron, now_ms())
