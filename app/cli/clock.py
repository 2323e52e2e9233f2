"""Cron triggers on schedule: the ``clock`` process and ``dev``'s own timer.

``CronClock.tick()`` fires ``scheduled`` once for every ``[triggers] crons`` expression whose
next time has come (croniter computes it), with the event's ``cron`` and ``scheduled_time``
set as Cloudflare sets them. Overlapping runners are safe: each scheduled action is claimed
atomically in the database (see app.scheduled).
"""

import json
import time

import click
from croniter import croniter

from app.cli.common import runtime_options
from app.runtime.context import ExecutionContext, ScheduledEvent
from app.scheduled import run_scheduled


class CronClock:
    """Fires the cron handler for each expression of the config when it is due."""

    def __init__(self, runtime, echo, now=None):
        self._runtime = runtime
        self._echo = echo
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
            self._echo(f"⏰ {cron}: {json.dumps(results)}")
            self._next[cron] = croniter(cron, now).get_next(float)
            fired += 1
        return fired


@click.command()
@runtime_options
def clock(runtime):
    """Run [triggers] crons on schedule, forever (the Procfile's clock process)."""
    if not runtime.config.crons:
        raise click.ClickException(f"{runtime.config.path}: no [triggers] crons to run")
    cron_clock = CronClock(runtime, click.echo)
    click.echo(f"⏰ Running {len(runtime.config.crons)} cron trigger(s): {', '.join(runtime.config.crons)}")
    while True:
        cron_clock.tick()
        time.sleep(1)
