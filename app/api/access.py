"""Who may call what: one decorator on every responder, checked at startup and per request.

Every responder declares its rule with ``@access(...)``:

* ``@access(public=True)`` — anyone, signed in or not;
* ``@access(authenticated=True)`` — any signed-in user (or API token);
* ``@access("content.update")`` — a user whose role (or token) holds that permission.

Under ``/admin/api`` every non-public rule also needs the role admin or editor (an API
token carries its owner's role), as SonicJS's ``requireRole(['admin','editor'])``.

``check_routes(app_routes)`` refuses to build an app in which some responder has no rule,
so no route can forget its check (fail closed). The check itself is a Falcon ``before``
hook; ``req.context.user`` is set by the authentication middleware (None when anonymous).
"""

from dataclasses import dataclass

import falcon

from app.api.errors import forbidden, sign_in_required

RESPONDER_PREFIX = "on_"
ACCESS_ATTR = "__sonicpy_access__"
# The admin JSON API is for the people who run the site, whatever single permissions
# another role holds (viewers may read collections, but not through the admin API).
ADMIN_API_PREFIX = "/admin/api"
ADMIN_API_ROLES = frozenset({"admin", "editor"})


def admin_api_path(path):
    """Whether ``path`` is under ``/admin/api`` (editors and admins only)."""
    return path == ADMIN_API_PREFIX or path.startswith(ADMIN_API_PREFIX + "/")


@dataclass(frozen=True)
class AccessRule:
    """A responder's rule: a permission name, or public / any authenticated caller."""

    permission: str | None = None
    public: bool = False
    authenticated: bool = False


def access(permission=None, *, public=False, authenticated=False):
    """Declare who may call the decorated responder (exactly one kind of rule)."""
    if sum((permission is not None, public, authenticated)) != 1:
        raise ValueError("access() takes exactly one of: a permission, public=True, authenticated=True")
    rule = AccessRule(permission=permission, public=public, authenticated=authenticated)

    def decorate(responder):
        wrapped = falcon.before(_enforce, rule)(responder)
        setattr(wrapped, ACCESS_ATTR, rule)
        return wrapped

    return decorate


def _enforce(req, resp, resource, params, rule):
    if rule.public:
        return
    user = getattr(req.context, "user", None)
    if user is None:
        raise sign_in_required(getattr(req.context, "credential_rejected", False), resource)
    # By the route's template, not the path: the router ignores leading slashes, so
    # ``//admin/api/...`` reaches the same resource while its path does not start with /admin.
    if admin_api_path(req.uri_template or req.path) and user.role not in ADMIN_API_ROLES:
        raise forbidden()  # SonicJS's answer to requireRole
    if rule.permission is not None and not user.can(rule.permission):
        if user.via == "token":
            raise forbidden(f"This API token does not grant the permission {rule.permission}")
        raise forbidden()


def rule_of(responder):
    """The AccessRule declared on ``responder``, or None."""
    return getattr(responder, ACCESS_ATTR, None)


def responders(resource, suffix=None):
    """``(method, responder)`` pairs of ``resource`` for the given route suffix."""
    ending = f"_{suffix}" if suffix else ""
    found = []
    for name in dir(resource):
        if not name.startswith(RESPONDER_PREFIX):
            continue
        method, _, rest = name[len(RESPONDER_PREFIX):].partition("_")
        if (f"_{rest}" if rest else "") != ending or method.upper() not in falcon.COMBINED_METHODS:
            continue
        found.append((method.upper(), getattr(resource, name)))
    return found


def check_routes(routes):
    """Raise RuntimeError naming every responder of ``routes`` that declares no access rule.

    Args:
        routes: iterable of ``(uri_template, resource, suffix)`` as added to the app.
    """
    missing = [
        f"{method} {template}"
        for template, resource, suffix in routes
        for method, responder in responders(resource, suffix)
        if rule_of(responder) is None
    ]
    if missing:
        raise RuntimeError("responders without an @access rule: " + ", ".join(missing))
