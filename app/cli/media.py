"""``media sweep``: remove objects of MEDIA_BUCKET that no media row names.

The same sweep as the cron handler's, plus (unless ``--no-scan``) a listing of the whole
bucket; see ``app.services.media.sweep``. Every orphan is printed and logged; exit code 1
when the bucket fails midway (what was removed until then stays removed).
"""

import click

from app.cli.common import runtime_options
from app.db.models import bind_models, now_ms
from app.runtime.bindings import BindingKind
from app.runtime.config import ConfigError
from app.runtime.r2 import R2Error
from app.services.media.sweep import sweep as sweep_orphans
from app.settings import media_sweep_grace_seconds


@click.group()
def media():
    """Maintain the media library (the media table and MEDIA_BUCKET)."""


@media.command("sweep")
@click.option("--dry-run", is_flag=True, help="Print the orphans, delete nothing.")
@click.option("--grace", type=click.IntRange(min=0), default=None,
              help="Seconds an object or pending record must be old to be swept "
                   "(default: [vars] MEDIA_SWEEP_GRACE_SECONDS, else 3600).")
@click.option("--no-scan", is_flag=True,
              help="Sweep the pending records only, as the cron handler does; do not list the bucket.")
@click.option("--database", default="DB", show_default=True, help="DB binding that holds the media table.")
@click.option("--bucket", default="MEDIA_BUCKET", show_default=True, help="R2 binding of the media files.")
@runtime_options
def sweep(runtime, dry_run, grace, no_scan, database, bucket):
    """Remove objects that no media row names: left by a crash, a lost answer or a failed cleanup.

    Only keys shaped like the library's (<folder>/<id>.<ext>) are ever removed, and only
    those older than the grace period, so uploads in progress are safe.

    Example:

        sonicpy media sweep --dry-run
    """
    if grace is None:
        try:
            grace = media_sweep_grace_seconds(runtime.config)
        except ConfigError as ex:
            raise click.ClickException(str(ex)) from None
    _, d1 = runtime.database(database)
    bind_models(d1.db)
    _, store = runtime.binding(BindingKind.R2, bucket)
    try:
        report = sweep_orphans(store, now_ms(), grace, scan=not no_scan, dry_run=dry_run)
    except R2Error as ex:
        raise click.ClickException(f"sweep stopped: the bucket failed: {ex}") from None
    verb = "would remove" if dry_run else "removed"
    for key in report.orphans:
        click.echo(f"{verb} {key}")
    scanned = f"{report.scanned} objects scanned, {report.foreign} other keys left alone" if not no_scan else "no scan"
    click.echo(f"{len(report.orphans)} orphaned objects {verb}; "
               f"{report.settled} pending records settled; {scanned}.")
