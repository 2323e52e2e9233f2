"""The cron handler: ``scheduled(event, env, ctx)`` runs every job for the trigger.

Jobs are plain functions ``job(event, env)`` listed in ``JOBS``; each runs in its own
try block so one failure never stops the others, and each reports what it did. The same
handler serves ``python worker.py scheduled`` (for system cron), the Procfile's ``clock``
line and ``dev``'s own timer.
"""

import logging

from app.db.models import LogConfig, SystemLog, bind_models, now_ms
from app.db.time_travel import purge_expired_history
from app.runtime.context import ScheduledEvent
from app.services.content.scheduling import run_scheduled_content

log = logging.getLogger("sonicpy.scheduled")

DAY_MS = 24 * 3600 * 1000


def purge_expired_logs(event, env):
    """Delete system logs older than their category's ``log_config.retention_days``."""
    removed = 0
    with env.DB.db.atomic():
        for config in LogConfig.select():
            cutoff = event.scheduled_time - config.retention_days * DAY_MS
            removed += (
                SystemLog.delete()
                .where((SystemLog.category == config.category) & (SystemLog.created_at < cutoff))
                .execute()
            )
    return {"logs_purged": removed}


JOBS = [purge_expired_logs, run_scheduled_content, purge_expired_history]


def run_scheduled(event, env, ctx=None):
    """Run every job for ``event``; return ``{job name: result or {"error": message}}``."""
    bind_models(env.DB.db)
    env.DB.db.connect(reuse_if_open=True)
    results = {}
    for job in JOBS:
        try:
            results[job.__name__] = job(event, env)
        except Exception as ex:  # noqa: BLE001 - a failing job is reported, the others still run
            log.exception("scheduled job %s failed (cron %s)", job.__name__, event.cron)
            results[job.__name__] = {"error": str(ex)}
    if ctx is not None:
        ctx.run_pending()
    return results


def now_event(cron="manual"):
    """A ScheduledEvent for "now", as the CLI's ``scheduled`` command fires it."""
    return ScheduledEvent(cron, now_ms())
