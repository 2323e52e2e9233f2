"""The wrangler-shaped CLI: ``python worker.py COMMAND`` or the ``sonicpy`` console script.

Every command takes ``--env``, ``--config`` and ``--persist-to`` (see ``app.cli.common``).
"""

import click
import peewee

from app import __version__
from app.cli.backup import BACKUP_COMMANDS
from app.cli.clock import clock
from app.cli.collections import collections
from app.cli.d1 import d1
from app.cli.databases import DATABASE_COMMANDS
from app.cli.kv import kv
from app.cli.media import media
from app.cli.plugins import plugins
from app.cli.r2 import r2
from app.cli.scheduled import scheduled
from app.cli.search import search
from app.cli.server import dev, serve
from app.cli.studio import studio
from app.cli.tail import tail
from app.cli.time_travel import time_travel_group
from app.cli.users import users


class CommandGroup(click.Group):
    """The top command group: what a user got wrong about the world outside (a database not
    migrated or not reachable, a file that cannot be written or is not UTF-8 text) is a
    one-line error and exit status 1, as every command's own checks answer, never a traceback."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except peewee.OperationalError as ex:
            raise click.ClickException(
                f"the database refused: {_first_line(ex)} (not migrated? run `d1 migrations apply`; "
                "not reachable? check bindings.toml)") from None
        except (peewee.DatabaseError, peewee.InterfaceError) as ex:
            raise click.ClickException(f"the database refused: {_first_line(ex)}") from None
        except UnicodeDecodeError as ex:
            raise click.ClickException(f"not UTF-8 text: {ex}") from None
        except OSError as ex:
            raise click.ClickException(str(ex)) from None


def _first_line(ex):
    return str(ex).strip().splitlines()[0] if str(ex).strip() else type(ex).__name__


@click.group(cls=CommandGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="sonicpy")
def cli():
    """sonicpy: a headless CMS built like a Cloudflare Worker."""


for command in (dev, serve, d1, kv, r2, media, scheduled, clock, users, plugins, collections, tail, search):
    cli.add_command(command)
for command in (*BACKUP_COMMANDS, *DATABASE_COMMANDS, studio, time_travel_group):
    d1.add_command(command)


def main():
    """Console-script entry point."""
    cli(prog_name="sonicpy")
