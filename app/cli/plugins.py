"""``plugins activate|deactivate NAME``: switch a plugin from the server, without the admin.

For an operator a plugin has locked out of the admin (one vetoing requests it should not,
a broken route): the command does what the admin API's ``POST
/admin/api/plugins/{name}/deactivate`` (or ``/activate``) does, through the same
``PluginRegistry.set_active``: the row and its activity in one transaction, then the
plugin's and every active plugin's lifecycle hook, then running apps' cached plugin state
made stale, so every worker sees the change on its next request.

The plugins are loaded as the app loads them (the core ones, the ``sonicpy.plugins`` entry
points and ``PLUGINS``) and started over the environment's bindings, as the cron handler's
are: their hooks run as they would in the app.
"""

import click

from app.cli.cache_refresh import refresh_cache
from app.cli.common import runtime_options
from app.db.models import bind_models
from app.runtime.config import ConfigError
from app.runtime.context import ExecutionContext
from app.services.cache import Namespace
from app.services.errors import ServiceError
from app.services.plugins import hooks
from app.services.plugins.registry import PluginNotFound
from app.settings import settings_from_env


@click.group()
def plugins():
    """Activate or deactivate plugins from the server."""


@plugins.command("deactivate")
@click.argument("name")
@runtime_options
def deactivate(runtime, name):
    """Deactivate the plugin NAME, as the admin's Deactivate does.

    For an operator a plugin keeps out of the admin. A plugin the app relies on
    (core-auth) is refused, exit 1.

    Example: plugins deactivate veto-all --env production
    """
    _switch(runtime, name, active=False)


@plugins.command("activate")
@click.argument("name")
@runtime_options
def activate(runtime, name):
    """Activate the plugin NAME, as the admin's Activate does.

    Example: plugins activate webhooks --env production
    """
    _switch(runtime, name, active=True)


def _switch(runtime, name, active):
    """Switch plugin ``name`` through the app's own registry; print what it is now."""
    from app.app import build_services  # the composition root, which imports every service

    env = runtime.open_all()
    try:
        settings = settings_from_env(env)
    except ConfigError as ex:  # a bad setting: one line naming it, as serve says it
        raise click.ClickException(str(ex)) from None
    bind_models(env.DB.db)
    ctx = ExecutionContext()
    with env.DB.db.connection_context():
        services = build_services(env, settings)
        registry = services.plugins
        registry.start(env, settings, services)
        token = hooks.bind_context(registry.hooks, ctx)
        try:
            plugin = registry.set_active(name, active)
        except PluginNotFound:
            known = ", ".join(row["name"] for row in registry.list()) or "none"
            raise click.ClickException(f"no plugin named {name!r}; plugins: {known}") from None
        except ServiceError as ex:  # a plugin the app relies on
            raise click.ClickException(ex.message) from None
        finally:
            hooks.reset_context(token)
        ctx.run_pending()  # what the lifecycle hooks left for after the response
    refresh_cache(runtime, [Namespace.PLUGINS])  # warns when CACHE_KV could not be told
    click.echo(f"✅ Plugin {plugin['name']} is {plugin['status']}; running apps see it on their next request.")

