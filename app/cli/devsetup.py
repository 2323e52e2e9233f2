"""What ``dev`` does before serving, so one command is all a newcomer runs.

Apply pending migrations to every DB binding (before any worker starts, so no two workers
race to migrate), sync collection files, create the first admin if there is none (printing
how to sign in), then close the connections so no worker inherits them.
"""

from pathlib import Path

import click

from app.cli.collections import sync_on_start
from app.cli.users import bootstrap_admin
from app.db import time_travel
from app.db.migrations import MigrationError, MigrationRunner
from app.db.time_travel import TimeTravelError
from app.runtime.bindings import BindingKind


def apply_migrations(runtime, echo):
    """Apply pending migrations of every D1 binding; a failure stops ``dev`` with its message."""
    for table in runtime.config.bindings.get(BindingKind.D1, []):
        d1 = runtime.env.bindings[table["binding"]]
        try:
            runner = MigrationRunner(
                d1.db, Path(table["migrations_dir"]), table.get("migrations_table", "d1_migrations"),
                keep_history=time_travel.enabled(table),
            )
            applied = runner.apply(on_progress=echo)
        except (MigrationError, TimeTravelError) as ex:
            raise click.ClickException(str(ex)) from None
        done = f"{len(applied)} migration(s) applied" if applied else "up to date"
        echo(f"✅ {table['binding']}: {done}")


def prepare_local_state(runtime, echo, url):
    """Migrate, sync collections, ensure an admin exists, then release the connections."""
    apply_migrations(runtime, echo)
    sync_on_start(runtime, echo)
    if runtime.config.binding(BindingKind.D1, "DB") is not None:
        bootstrap_admin(runtime, echo, url=url)
    runtime.env.close()
