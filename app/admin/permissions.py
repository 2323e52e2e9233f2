"""The permission matrix: roles by permissions, from ``role_permissions``.

Viewable by holders of ``users.read`` (who can see users and their roles can see what a
role may do); saved by holders of ``users.roles`` (admins), the permission that changes
what a user may do through their role. Each checkbox is named ``<role>:<permission>``;
the form posts the whole matrix and ``app.services.role_permissions.replace`` writes it in
one transaction. The protected grants (see that module) are shown checked and disabled, and
the service refuses a matrix without them.
"""

import falcon

from app.admin.pages import read_form, redirect
from app.api.access import access
from app.services import role_permissions
from app.services.identity import ROLES

DONE = "Permissions saved."


def grants_from_form(form):
    """``{role: {permission names}}`` of the checked ``<role>:<permission>`` boxes."""
    grants = {role: set() for role in ROLES}
    for key in form:
        role, sep, name = key.partition(":")
        if sep:
            grants.setdefault(role, set()).add(name)
    return grants


class PermissionsPage:
    """``GET`` and ``POST /admin/permissions``.

    Args:
        renderer: the Renderer.
        roles: the app's ``RolePermissions`` cache, emptied after a save.
    """

    def __init__(self, renderer, roles):
        self._renderer = renderer
        self._roles = roles

    def render(self, req, resp, grants, status=falcon.HTTP_200, problems=None):
        """The matrix showing ``grants``; ``problems`` are the service's ``[{field, message}]``."""
        caller = req.context.user
        rows = role_permissions.permissions()
        locked = {role: role_permissions.protected(role, caller.role) for role in ROLES}
        self._renderer.page(
            req, resp, "permissions.html", status=status, roles=ROLES, permissions=rows, grants=grants,
            locked=locked, editable=caller.can(role_permissions.EDIT_PERMISSION), problems=problems or [],
            done=DONE if req.get_param("done") else None,
        )

    @access(role_permissions.VIEW_PERMISSION)
    def on_get(self, req, resp):
        self.render(req, resp, role_permissions.load())

    @access(role_permissions.EDIT_PERMISSION)
    def on_post(self, req, resp):
        grants = grants_from_form(read_form(req))
        # Disabled checkboxes are not posted: the protected grants are the service's to keep.
        for role in ROLES:
            grants[role] |= role_permissions.protected(role, req.context.user.role)
        try:
            role_permissions.replace(grants, req.context.user.role, self._roles)
        except role_permissions.InvalidMatrix as ex:
            shown = {role: frozenset(grants.get(role, ())) for role in ROLES}
            self.render(req, resp, shown, falcon.HTTP_422, ex.details)
            return
        redirect(resp, "/admin/permissions?done=1")
