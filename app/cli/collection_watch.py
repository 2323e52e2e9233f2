"""``dev``'s watch on the collection files: an edit is synced while the server runs.

gunicorn's reloader restarts workers when code changes, but collections live in the
database: a changed ``app/collections/*.json`` must be synced, not reloaded. ``dev``
calls ``CollectionWatcher.tick()`` about once a second; it compares each file's
modification time and size with the previous look (polling: no extra dependency, and
every editor's way of saving, write in place or write aside and rename, shows up) and
runs the same sync as ``collections sync`` when anything was added, changed or removed.
"""

import click
import peewee

from app.cli.collections import sync_folder
from app.services.collection_sync import display_path


def snapshot(folder):
    """``{file name: (mtime_ns, size)}`` of the collection files in ``folder`` (None: no folder)."""
    if not folder.is_dir():
        return None
    found = {}
    for path in folder.glob("*.json"):
        if path.name.startswith("."):
            continue
        try:
            stat = path.stat()
        except OSError:  # removed between the listing and the stat: the next look sees it gone
            continue
        found[path.name] = (stat.st_mtime_ns, stat.st_size)
    return found


class CollectionWatcher:
    """Syncs ``folder`` into the DB binding whenever its collection files change.

    Args:
        runtime: ``dev``'s Runtime (its DB and CACHE_KV bindings).
        folder: the collections folder (it may not exist yet).
        echo: where the sync reports go.
    """

    def __init__(self, runtime, folder, echo):
        self._runtime = runtime
        self._folder = folder
        self._echo = echo
        self._seen = snapshot(folder)

    def tick(self):
        """Sync if the files changed since the last look; return whether a sync ran."""
        current = snapshot(self._folder)
        if current == self._seen:
            return False
        self._seen = current
        self._echo(f"🔄 Collection files changed in {display_path(self._folder)}: syncing")
        try:
            sync_folder(self._runtime, self._folder, self._echo)
        except click.ClickException as ex:
            # The folder went away, say: report it and keep serving what is in the database.
            self._echo(f"❌ {ex.message}")
        except peewee.DatabaseError as ex:
            # The database was busy past its timeout, say: the next change syncs again.
            self._echo(f"❌ collection sync failed: {ex}")
        return True
