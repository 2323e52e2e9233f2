"""A plugin for the tests of admin pages from plugins (``register_admin_pages``).

``report`` is for whoever reads content, ``settings-help`` for admins, ``hidden`` is left
out of the nav. The report shows the signed-in user's email, escaped as a plugin must.
"""

from markupsafe import escape

from app.services.plugins import AdminPage, PluginInfo, hookimpl

plugin_info = PluginInfo(name="pages", display_name="Pages", version="0.1.0", author="tests")


def report(req):
    return f"<p id='plugin-report'>Report for {escape(req.context.user.email)}</p>"


@hookimpl
def register_admin_pages():
    return [
        AdminPage("report", "Weekly report", report, permission="content.read"),
        AdminPage("settings-help", "Pages help", lambda req: "<p>Admins only</p>"),
        AdminPage("hidden", "Hidden page", lambda req: "<p>Not in the nav</p>", permission="content.read", nav=False),
    ]
