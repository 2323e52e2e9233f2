"""Admin pages from plugins: ``register_admin_pages`` is asked once when the app is built.

Every page is served by one route, ``/admin/plugins/{name}/pages/{slug}``, with the admin's
session, its CSRF checks and security headers (it is mounted as a page like the others):
a signed-in user holding the page's ``permission`` gets the plugin's HTML fragment inside
the admin's layout; without it, 403. A page of an inactive plugin, like an unknown one,
answers 404, and the nav lists the pages of active plugins only, to the users who may see
them. Whether a plugin is active is read from the registry's cached state, so every worker
follows an activation on its next request.
"""

import logging
import re

import falcon

from app.api.access import access
from app.services.identity import PERMISSIONS
from app.services.plugins import AdminPage

log = logging.getLogger("sonicpy.plugins")

SLUG = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")


def collect(registry, env, settings, services):
    """``{plugin name: {slug: AdminPage}}`` from every loaded plugin's ``register_admin_pages``.

    Raises:
        ValueError: a plugin answered something that is not a valid AdminPage (its
            permission one that no migration seeds included), or a slug twice: the app does
            not start, as with a route without an access rule.
    """
    pages = {}
    args = {"env": env, "settings": settings, "services": services}
    for impl in registry.hooks.implementations("register_admin_pages"):
        own = pages.setdefault(impl.plugin_name, {})
        for page in impl.function(**{name: args[name] for name in impl.argnames}) or ():
            _check(impl.plugin_name, page, own)
            own[page.slug] = page
    return {name: own for name, own in pages.items() if own}


def _check(plugin_name, page, seen):
    problem = None
    if not isinstance(page, AdminPage):
        problem = f"{page!r} is not an AdminPage"
    elif not isinstance(page.slug, str) or not SLUG.fullmatch(page.slug):
        problem = f"slug {page.slug!r} is not lowercase letters, digits and dashes"
    elif page.slug in seen:
        problem = f"slug {page.slug!r} is used twice"
    elif not callable(page.render) or not isinstance(page.permission, str) or not page.permission:
        problem = f"page {page.slug!r} needs a callable render and a permission"
    elif page.permission not in PERMISSIONS:
        problem = f"page {page.slug!r}: unknown permission {page.permission!r}"
    if problem:
        raise ValueError(f"plugin {plugin_name}: register_admin_pages: {problem}")


class PluginPages:
    """The admin pages of the app's plugins, and the nav items a user sees of them.

    Args:
        registry: the PluginRegistry (whether a plugin is active now).
        pages: ``{plugin name: {slug: AdminPage}}`` (``collect``).
    """

    def __init__(self, registry, pages):
        self._registry = registry
        self._pages = pages

    def find(self, name, slug):
        """The AdminPage of an active plugin, or None."""
        page = self._pages.get(name, {}).get(slug)
        return page if page is not None and self._registry.is_active(name) else None

    def nav(self, user):
        """``[(href, title)]`` of the pages in the nav that ``user`` may see, of active plugins."""
        if user is None or not self._pages:
            return []
        return [(href(name, page.slug), page.title)
                for name, pages in self._pages.items() if self._registry.is_active(name)
                for page in pages.values() if page.nav and user.can(page.permission)]


def href(name, slug):
    """The path of plugin ``name``'s page ``slug``."""
    return f"/admin/plugins/{name}/pages/{slug}"


class PluginAdminPage:
    """``GET /admin/plugins/{name}/pages/{slug}``: a plugin's page inside the admin's layout."""

    def __init__(self, renderer, pages):
        self._renderer = renderer
        self._pages = pages

    @access(authenticated=True)  # and the page's own permission, checked below
    def on_get(self, req, resp, name, slug):
        page = self._pages.find(name, slug)
        if page is None:
            raise falcon.HTTPNotFound()
        if not req.context.user.can(page.permission):
            raise falcon.HTTPForbidden()
        # The template puts the plugin's HTML in as it is (``|safe``), as AdminPage says.
        self._renderer.page(req, resp, "plugin_page.html", title=page.title, body=str(page.render(req)))
