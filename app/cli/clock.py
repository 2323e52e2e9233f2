"""Cron triggers on schedule: the ``clock`` process and ``dev``'s own timer.

``CronClock.tick()`` fires ``scheduled`` once for every ``[triggers] crons`` expression whose
next time has come (croniter computes it), with the event's ``cron`` and ``scheduled_time``
set as Cloudflare sets them. Overlapping runners are safe: each scheduled action is claimed
atomically in the database (see app.scheduled).
"""

import json
import signal
import threading
import time

import click
from croniter import croniter

from app.cli.common import runtime_options
from app.runtime.context import ExecutionContext, ScheduledEvent
from app.scheduled import eventful, run_scheduled


class CronClock:
    """Fires the cron handler for each expression of the config when it is due.

    Args:
        runtime: the command's Runtime (its config's crons, its env).
        echo: where each run is reported.
        now: the start time (epoch seconds); default now.
        quiet: report only the jobs that did something or failed, one short line each
            (``dev``); otherwise every run as one JSON line (the ``clock`` process's log).
    """

    def __init__(self, runtime, echo, now=None, quiet=False):
        self._runtime = runtime
        self._echo = echo
        self._quiet = quiet
        start = now if now is not None else time.time()
        self._next = {cron: croniter(cron, start).get_next(float) for cron in runtime.config.crons}

    def tick(self, now=None):
        """Run every trigger due at ``now``; return how many ran."""
        now = now if now is not None else time.time()
        fired = 0
        for cron, due in self._next.items():
            if due > now:
                continue
            event = ScheduledEvent(cron, int(due * 1000))
            results = run_scheduled(event, self._runtime.env, ExecutionContext())
            self._report(cron, results)
            self._next[cron] = croniter(cron, now).get_next(float)
            fired += 1
        return fired

    def _report(self, cron, results):
        if not self._quiet:
            self._echo(f"⏰ {cron}: {json.dumps(results)}")
            return
        for job, result in eventful(results).items():
            self._echo(describe_job(cron, job, result))


def describe_job(cron, job, result):
    """One line for a job that did something (its non-zero counts) or failed (its error)."""
    if isinstance(result, dict) and "error" in result:
        return f"❌ {cron}: {job} failed: {result['error']}"
    if not isinstance(result, dict):
        return f"⏰ {cron}: {job}: {result}"
    counts = ", ".join(f"{key} {value}" for key, value in result.items()
                       if isinstance(value, int) and not isinstance(value, bool) and value)
    return f"⏰ {cron}: {job}: {counts}"


@click.command()
@runtime_options
def clock(runtime):
    """Run [triggers] crons on schedule, forever (the Procfile's clock process)."""
    if not runtime.config.crons:
        raise click.ClickException(f"{runtime.config.path}: no [triggers] crons to run")
    cron_clock = CronClock(runtime, click.echo)
    # Ctrl-C, or the platform stopping the process, is how a clock ends: not an error. A
    # run in progress finishes first, then the loop stops and the command exits 0.
    stopping = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda signum, frame: stopping.set())
    click.echo(f"⏰ Running {len(runtime.config.crons)} cron trigger(s): {', '.join(runtime.config.crons)}")
    while not stopping.is_set():
        cron_clock.tick()
        stopping.wait(1)
    click.echo("⏰ Clock stopped.")
