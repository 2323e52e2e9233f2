"""The permission matrix: which role holds which permission (``role_permissions``), read and replaced.

``replace`` writes the whole matrix in one transaction: it validates everything first (known
roles and permissions only, the protected grants kept) and then deletes and inserts only the
rows that change. Afterwards it empties the ``RolePermissions`` cache of this process, so the
next request here sees the new grants, and invalidates the read cache's ``users`` namespace,
where the sets are kept, so other worker processes see them within its generation TTL
(``ROLE_CACHE_SECONDS`` without a read cache). API tokens follow at once, since a token's
permissions are always cut down to its owner's role when it is resolved.

Protected grants: every role that may edit the matrix keeps ``users.read`` and
``users.roles`` (the permissions to open and to save it), and so does ``admin``. Without
this, one save could leave nobody able to manage permissions, with no way back short of
editing the database.
"""

from app.db.models import Permission, RolePermission, database, new_id, now_ms
from app.services.errors import INVALID, ServiceError
from app.services.identity import ROLES

VIEW_PERMISSION = "users.read"
EDIT_PERMISSION = "users.roles"
PROTECTED = (VIEW_PERMISSION, EDIT_PERMISSION)
ALWAYS_MANAGES = "admin"


class InvalidMatrix(ServiceError):
    """A matrix that names unknown roles or permissions or drops a protected grant."""

    kind = INVALID


def permissions():
    """Every permission row, by category then name."""
    return list(Permission.select().order_by(Permission.category, Permission.name))


def load():
    """``{role: frozenset of permission names}`` for every role of ``ROLES``."""
    grants = {role: set() for role in ROLES}
    query = RolePermission.select(RolePermission.role, Permission.name).join(Permission)
    for row in query.where(RolePermission.role.in_(ROLES)):
        grants[row.role].add(row.permission.name)
    return {role: frozenset(names) for role, names in grants.items()}


def protected(role, caller_role):
    """The permission names ``role`` must keep when ``caller_role`` saves the matrix."""
    return frozenset(PROTECTED) if role in (ALWAYS_MANAGES, caller_role) else frozenset()


def replace(grants, caller_role, cache=None):
    """Make ``role_permissions`` exactly ``grants`` (``{role: names}``), in one transaction.

    Args:
        grants: the whole matrix; a role left out loses every permission.
        caller_role: the role of whoever saves (it keeps the protected grants).
        cache: the ``RolePermissions`` to empty once the change is committed.

    Returns:
        ``(added, removed)``: the number of grants given and taken away.

    Raises:
        InvalidMatrix: an unknown role or permission, or a protected grant missing.
    """
    by_name = {p.name: p.id for p in Permission.select(Permission.id, Permission.name)}
    wanted = {role: frozenset(grants.get(role, ())) for role in ROLES}
    _check(grants, wanted, by_name, caller_role)
    with database.atomic():
        current = load()
        added = [(role, name) for role in ROLES for name in sorted(wanted[role] - current[role])]
        removed = [(role, name) for role in ROLES for name in sorted(current[role] - wanted[role])]
        for role, name in removed:
            RolePermission.delete().where(RolePermission.role == role,
                                          RolePermission.permission == by_name[name]).execute()
        if added:
            stamp = now_ms()
            RolePermission.insert_many([
                {"id": new_id(), "role": role, "permission": by_name[name], "created_at": stamp}
                for role, name in added
            ]).on_conflict_ignore().execute()
    if cache is not None:
        cache.clear()
    return len(added), len(removed)


def _check(grants, wanted, by_name, caller_role):
    problems = [{"field": role, "message": "unknown role"} for role in grants if role not in ROLES]
    for role, names in wanted.items():
        problems += [{"field": f"{role}.{name}", "message": "unknown permission"}
                     for name in sorted(names) if name not in by_name]
        problems += [{"field": f"{role}.{name}", "message": "cannot be removed: it keeps the matrix manageable"}
                     for name in sorted(protected(role, caller_role) - names)]
    if problems:
        raise InvalidMatrix("Validation failed", problems)
