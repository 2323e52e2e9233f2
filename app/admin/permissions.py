"""The permission matrix: roles by permissions, from ``role_permissions``.

Viewable by holders of ``users.read`` (who can see users and their roles can see what a
role may do); saved by holders of ``users.roles`` (admins), the permission that changes
what a user may do through their role. Each checkbox is named ``<role>:<permission>``;
the form posts the whole matrix and ``app.services.role_permissions.replace`` writes it in
one transaction. The protected grants (see that module) are shown checked and disabled, and
the service refuses a matrix without them.
"""

import falcon

from app.admin.pages import form_as_typed, redirect
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


def box_label(key):
    """The words the grid names a box by (its ``aria-label``): ``role: permission``."""
    role, sep, name = key.partition(":")
    return f"{role}: {name}" if sep else key


def nul_problems_by_box(problems):
    """``form_as_typed``'s problems of a grid post, each named by the box it came with."""
    return [{**problem, "field": box_label(problem["field"])} for problem in problems]


def shown_grants(grants):
    """The boxes of a refused post as the grid shows them again: as they were ticked."""
    return {role: frozenset(grants.get(role, ())) for role in ROLES}


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
        form, refused = form_as_typed(req)
        grants = grants_from_form(form)
        # Disabled checkboxes are not posted: the protected grants are the service's to keep.
        for role in ROLES:
            grants[role] |= role_permissions.protected(role, req.context.user.role)
        if refused:  # a NUL posted: said by the box it came with, the boxes as ticked, nothing saved
            self.render(req, resp, shown_grants(grants), falcon.HTTP_422, nul_problems_by_box(refused))
            return
        try:
            role_permissions.replace(grants, req.context.user.role, self._roles)
        except role_permissions.InvalidMatrix as ex:
            self.render(req, resp, shown_grants(grants), falcon.HTTP_422, ex.details)
            return
        redirect(resp, "/admin/permissions?done=1")
