"""A plugin for the tests: one settings schema, hooks of each kind, one route.

It is loaded by module path (``PLUGINS = "tests.plugins.sample_plugin"`` in bindings.toml
or ``Settings.plugins``), so no packaging is needed. ``CALLS`` records what its hooks saw.
"""

import msgspec

from app.api.access import access
from app.db.models import database
from app.services.plugins import HookVeto, PluginInfo, hookimpl

CALLS = []
# Called with each SampleSettings as its validation ends (a test holds a settings save there).
VALIDATING = []


class SampleSettings(msgspec.Struct, forbid_unknown_fields=True):
    """The plugin's settings."""

    greeting: str = "hello"
    shout: bool = False

    def __post_init__(self):
        for check in VALIDATING:
            check(self)


plugin_info = PluginInfo(
    name="sample",
    display_name="Sample",
    version="1.2.3",
    description="Greets, records hooks, refuses titles it dislikes",
    author="tests",
    settings_schema=SampleSettings,
    default_settings={"greeting": "hello", "shout": False},
)


@hookimpl
def before_content_create(fields):
    if fields.get("title") == "vetoed":
        raise HookVeto(422, "The sample plugin refuses this title", [{"field": "title", "message": "is reserved"}])


@hookimpl
def before_content_update(fields):
    if fields.get("title") == "broken sql":  # a plugin's own query failing inside the write's transaction
        database.obj.execute_sql("SELECT * FROM no_such_table")


@hookimpl
def before_content_delete(content):
    if content.title == "undeletable":
        raise HookVeto(422, "The sample plugin keeps this item", {"id": content.id})


@hookimpl
def after_content_delete(content):
    CALLS.append(("after_content_delete", content.id, None))


@hookimpl
def after_content_create(content, ctx):
    CALLS.append(("after_content_create", content.id, getattr(ctx, "request_id", None)))


@hookimpl
def after_content_update(content):
    CALLS.append(("after_content_update", content.id, content.title))
    if content.title == "boom":
        raise RuntimeError("the sample plugin fails on purpose")


@hookimpl
def after_content_publish(content):
    CALLS.append(("after_content_publish", content.id, None))


@hookimpl
def after_media_delete(media, purged):
    CALLS.append(("after_media_delete", media.id, purged))


class HelloResource:
    """``GET /plugins/sample/hello``: the greeting from the plugin's settings."""

    def __init__(self, registry):
        self._registry = registry

    @access(public=True)
    def on_get(self, req, resp):
        settings = self._registry.settings_of("sample")
        greeting = settings.get("greeting", "hello")
        resp.media = {"greeting": greeting.upper() if settings.get("shout") else greeting}


@hookimpl
def register_routes(services):
    return [("/plugins/sample/hello", HelloResource(services.plugins))]
