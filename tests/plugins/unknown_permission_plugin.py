"""A plugin whose admin page asks for a permission no migration seeds: the app refuses to start."""

from app.services.plugins import AdminPage, PluginInfo, hookimpl

plugin_info = PluginInfo(name="unknown-permission")


@hookimpl
def register_admin_pages():
    return [AdminPage("report", "Report", lambda req: "", permission="plugins.manages")]
