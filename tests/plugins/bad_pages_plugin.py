"""A plugin whose admin page has a slug no URL should hold: the app refuses to start."""

from app.services.plugins import AdminPage, PluginInfo, hookimpl

plugin_info = PluginInfo(name="bad-pages")


@hookimpl
def register_admin_pages():
    return [AdminPage("../escape", "Escape", lambda req: "")]
