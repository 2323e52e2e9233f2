"""``scheduled``: run the cron handler once, for system cron or by hand."""

import json
import sys

import click

from app.cli.common import runtime_options
from app.runtime.context import ExecutionContext
from app.scheduled import now_event, run_scheduled


@click.command()
@click.option("--cron", default="manual", show_default=True, help="The cron expression to report as the trigger.")
@runtime_options
def scheduled(runtime, cron):
    """Run every scheduled job once now; print the results as JSON (exit 1 if a job failed)."""
    results = run_scheduled(now_event(cron), runtime.env, ExecutionContext())
    click.echo(json.dumps(results, indent=2))
    if any(isinstance(r, dict) and "error" in r for r in results.values()):
        sys.exit(1)
