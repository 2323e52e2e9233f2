"""The execution context a Worker gets beside each request: ``ctx.wait_until(fn)``.

On Cloudflare, ``ctx.waitUntil(promise)`` extends the invocation past the response. Here the
WSGI server calls the response iterable's ``close()`` once the body has been sent; the
entrypoint runs the queued callables then, so request logs and cache fills never delay the
client. Each callable runs even if an earlier one failed (like ``Promise.allSettled``), and
every failure is logged with its traceback, never lost silently.
"""

import logging
import time

from app.runtime.ids import time_ordered_id

log = logging.getLogger("sonicpy.wait_until")

# Cloudflare gives waitUntil work 30 s after the response; past that we stop starting more.
WAIT_UNTIL_BUDGET_SECONDS = 30.0


def new_request_id():
    """A new request id: 32 hex digits, ordered by time (``ids.time_ordered_id``)."""
    return time_ordered_id()


class ExecutionContext:
    """Per-request context: work queued with ``wait_until`` runs after the response."""

    def __init__(self, request_id=None):
        self.request_id = request_id
        self._pending = []

    def wait_until(self, fn, *args, **kwargs):
        """Run ``fn(*args, **kwargs)`` after the response has been sent."""
        self._pending.append((fn, args, kwargs))

    def run_pending(self):
        """Run every queued callable; log (never raise) their errors. Returns the failure count.

        Callables queued while these run (by one of them) run too, after them.
        """
        if not self._pending:
            return 0
        failures = 0
        deadline = None  # the budget starts with the first callable: it cannot be spent before it
        while self._pending:
            queued, self._pending = self._pending, []
            for fn, args, kwargs in queued:
                if deadline is None:
                    deadline = time.monotonic() + WAIT_UNTIL_BUDGET_SECONDS
                elif time.monotonic() > deadline:
                    log.error("wait_until budget exhausted; dropped %s (request %s)", _name(fn), self.request_id)
                    failures += 1
                    continue
                try:
                    fn(*args, **kwargs)
                except Exception:
                    failures += 1
                    log.exception("wait_until task %s failed (request %s)", _name(fn), self.request_id)
        return failures


def _name(fn):
    return getattr(fn, "__qualname__", repr(fn))


class ScheduledEvent:
    """What ``scheduled(event, env, ctx)`` receives: the cron expression and the time (ms)."""

    type = "scheduled"

    def __init__(self, cron, scheduled_time_ms):
        self.cron = cron
        self.scheduled_time = scheduled_time_ms
        self.retry = True

    def no_retry(self):
        """Ask not to retry this run (kept for API parity; the CLI reports it)."""
        self.retry = False
