"""``collections sync``: apply the collection definition files to a database.

Prints one line per collection (created / updated / unchanged / deactivated / error) and
the totals; exits 1 when any file or collection failed, after syncing all the others, so a
deploy step can gate on it. When a collection changed, running apps' cached collections
(and the content responses embedding them) go stale at once.
"""

import sys
from pathlib import Path

import click

from app.cli.cache_refresh import refresh_cache
from app.cli.common import runtime_options
from app.db.models import bind_models
from app.runtime.bindings import BindingKind
from app.services.cache import Namespace
from app.services.collection_sync import (
    CREATED,
    DEACTIVATED,
    DIR_VAR,
    UPDATED,
    CollectionSyncError,
    collections_dir,
    describe_result,
    display_path,
    sync_collections,
)
from app.services.field_indexes import UnreadableData


@click.group()
def collections():
    """Keep collection definitions (app/collections/*.json) and the database in step."""


@collections.command("sync")
@click.option("--dir", "directory", type=click.Path(file_okay=False), default=None,
              help=f"Folder of collection files (default: [vars] {DIR_VAR}, else app/collections "
                   "beside bindings.toml).")
@click.option("--database", default="DB", show_default=True,
              help="DB binding (or database_name) that holds the collections table.")
@runtime_options
def sync(runtime, directory, database):
    """Create, update or deactivate collections to match their definition files.

    Unchanged collections are not rewritten; a managed collection whose file is gone is
    deactivated, never deleted; an invalid file is reported with the file and field at
    fault while the other files still sync (exit code 1).
    """
    folder = Path(directory) if directory else collections_dir(runtime.config)[0]
    runtime.database(database)  # an unknown binding is refused before anything is printed
    click.echo(f"🔄 Syncing collections from {display_path(folder)}")
    report = sync_folder(runtime, folder, click.echo, database)
    if not report.ok:
        sys.exit(1)


def sync_folder(runtime, folder, echo, database="DB"):
    """Sync ``folder`` into ``database``, report each result, make cached collections stale.

    What ``collections sync``, ``dev``'s start and ``dev``'s file watcher all run.

    Raises:
        click.ClickException: the folder does not exist, or a field index to create could
            not read some items' data (nothing was changed).
    """
    bind_models(runtime.database(database)[1].db)
    try:
        report = sync_collections(folder)
    except CollectionSyncError as ex:
        raise click.ClickException(str(ex)) from None
    except UnreadableData as ex:
        # Raised by the index sync that ends the sync's one transaction: every file's write rolled back.
        raise click.ClickException(f"{ex.problem}; nothing was changed: fix or delete those items (or their"
                                   " data), then sync again") from None
    print_report(report, echo)
    if changed(report):
        # KV persists across restarts: entries cached before the files changed must go.
        refresh_cache(runtime, (Namespace.COLLECTIONS,))
    return report


def changed(report):
    """Whether the sync wrote any collection (created, updated or deactivated one)."""
    return any(result.status in (CREATED, UPDATED, DEACTIVATED) for result in report.results)


def print_report(report, echo):
    """Echo one line per result (error details indented), notes, then the totals."""
    for result in report.results:
        first, *rest = describe_result(result).split("\n")
        echo(first)
        for line in rest:
            echo(f"            {line}")
    for note in report.notes:
        echo(f"note: {note}")
    mark = "✅" if report.ok else "❌"
    echo(f"{mark} Collection sync: {report.summary()}")


def sync_on_start(runtime, echo):
    """``dev``'s step: sync the DB binding's collections when there is a folder to sync.

    A missing default folder is skipped with a note (a project may have no collection
    files); a missing folder named by ``COLLECTIONS_DIR`` stops ``dev``. Invalid files are
    reported but do not stop the server: the valid ones are synced.
    """
    if runtime.config.binding(BindingKind.D1, "DB") is None:
        return None
    folder, explicit = collections_dir(runtime.config)
    if not folder.is_dir() and not explicit:
        echo(f"collections: no folder at {display_path(folder)}: nothing to sync")
        return None
    return sync_folder(runtime, folder, echo)
