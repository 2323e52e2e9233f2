"""Cache refresh after a CLI write: running apps' cached responses made stale.

Running apps cache public reads in CACHE_KV (``app.services.cache``); a command that writes
the database behind their back bumps the cache generations afterwards, so the next read
through any worker sees the change.
"""

import click
import peewee

from app.db.models import database
from app.runtime.bindings import BindingKind
from app.services.cache import ALL_NAMESPACES, invalidate_namespaces
from app.services.cache_lost import invalidate_or_record

CACHE_BINDING = "CACHE_KV"
APP_DATABASE = "DB"  # the binding the app serves from: lost cache invalidations are recorded there


def refresh_cache(runtime, namespaces=ALL_NAMESPACES):
    """After a committed CLI write: make running apps' cached ``namespaces`` stale.

    Uses the env's CACHE_KV (nothing to do when the env has none), and writes with them the
    bumps recorded earlier. A KV binding that cannot be opened or reached only prints a
    warning: the write itself stands, and the bumps are recorded in the DB binding's
    database for the next scheduled run (``app.services.cache_lost``); when that cannot be
    written either, cached entries expire with their TTL.
    """
    table = runtime.config.binding(BindingKind.KV, CACHE_BINDING)
    if table is None:
        return
    try:
        kv, reason = runtime.open_table(BindingKind.KV, table), "unreachable"
    except click.ClickException as ex:
        kv, reason = None, ex.message
    try:
        failed, until = _invalidate_or_record(runtime, kv, namespaces), "the next scheduled run reaches it"
    except (click.ClickException, peewee.PeeweeException) as ex:
        # No database to record them in: the bumps go to KV alone, as they can.
        failed = list(namespaces) if kv is None else invalidate_namespaces(kv, namespaces)
        until = f"they expire (not recorded: {getattr(ex, 'message', ex)})"
    if failed:
        click.echo(f"⚠ {CACHE_BINDING} {reason}: cached {', '.join(failed)} responses of running apps may "
                   f"stay stale until {until}", err=True)


def _invalidate_or_record(runtime, kv, namespaces):
    """``invalidate_or_record`` with the app's database (the ``DB`` binding) bound."""
    db = runtime.database(APP_DATABASE)[1].db
    with database.bound(db):
        if not db.is_closed():  # the command's own connection: a block of ours would close it
            return invalidate_or_record(kv, namespaces)
        with db.connection_context():
            return invalidate_or_record(kv, namespaces)
