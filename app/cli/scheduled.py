"""``scheduled``: run the cron handler once, for system cron or by hand."""

import json
import sys

import click

from app.cli.common import runtime_options
from app.cli.migrations import require_migrated
from app.runtime.bindings import BindingKind
from app.runtime.context import ExecutionContext
from app.runtime.cron import cron_problem
from app.scheduled import now_event, run_scheduled

MANUAL = "manual"


def _check_cron(ctx, param, value):
    # "manual" (the default) marks a run by hand; anything else must be a real expression,
    # since jobs may read event.cron to decide what to do.
    problem = None if value == MANUAL else cron_problem(value)
    if problem:
        raise click.BadParameter(f'{problem}; or "{MANUAL}"')
    return value


@click.command()
@click.option("--cron", default=MANUAL, show_default=True, callback=_check_cron,
              help='The cron expression to report as the trigger (five fields, e.g. "*/5 * * * *").')
@runtime_options
def scheduled(runtime, cron):
    """Run every scheduled job once now; print the results as JSON (exit 1 if a job failed).

    Example: scheduled --cron "*/5 * * * *"
    """
    table = runtime.config.binding(BindingKind.D1, "DB")
    if table is not None:
        require_migrated(runtime.env.bindings["DB"].db, table, runtime.config)
    results = run_scheduled(now_event(cron), runtime.env, ExecutionContext())
    click.echo(json.dumps(results, indent=2))
    if any(isinstance(r, dict) and "error" in r for r in results.values()):
        sys.exit(1)
