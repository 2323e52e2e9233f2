"""The RBAC matrix, twice.

1. Spelled out for the routes of auth, users, tokens and collections, against every role
   (anonymous, viewer, author, editor, admin): allowed callers get the route's own answer;
   anonymous callers get 401, signed-in callers without the permission 403, both in the
   error envelope and with nothing changed.
2. Derived for EVERY route the app mounts, from each responder's ``@access`` rule and the
   roles' permissions as stored: 401 for anonymous (and for a rejected credential), 403
   for roles without the permission, past the check for roles with it.
"""

import re
import tempfile

import falcon.inspect
import pytest

from app.admin.pages import is_admin_page
from app.api.access import admin_api_path, rule_of
from app.app import create_app
from app.db.models import Collection, User, now_ms
from app.services.api_tokens import ApiTokens
from app.services.identity import Principal, RolePermissions
from tests.fixtures.admin import csrf_headers
from tests.fixtures.app import make_env, settings_for_tests
from tests.fixtures.auth import PASSWORD
from tests.fixtures.users import bearer, create_user, token_for

pytestmark = pytest.mark.backends

ROLES = ("anonymous", "viewer", "author", "editor", "admin")
SIGNED_IN = ROLES[1:]
ADMIN_API_ROLES = ("editor", "admin")  # every /admin/api route, whatever the permission
USER_READERS = ("editor", "admin")  # users.read
ADMIN = ("admin",)

# (method, path, body, roles allowed, status when allowed: one, or per role with a default)
MATRIX = [
    ("GET", "/auth/me", None, SIGNED_IN, 200),
    ("POST", "/auth/refresh", None, SIGNED_IN, 200),
    ("POST", "/auth/change-password", {"current_password": "wrong one", "new_password": "n" * 12}, SIGNED_IN, 422),
    ("GET", "/api/tokens", None, SIGNED_IN, 200),
    ("POST", "/api/tokens", {"name": "t", "permissions": ["content.read"]}, SIGNED_IN, 201),
    # Someone else's token: revoked with api_tokens.manage, otherwise reported missing.
    ("DELETE", "/api/tokens/{token}", None, SIGNED_IN, {"admin": 200, "default": 404}),
    ("GET", "/api/tokens?user_id={target}", None, ADMIN, 200),
    ("GET", "/admin/api/users", None, USER_READERS, 200),
    ("GET", "/admin/api/users/{target}", None, USER_READERS, 200),
    ("PATCH", "/admin/api/users/{target}", {"role": "editor"}, ADMIN, 200),
    ("DELETE", "/admin/api/users/{target}", None, ADMIN, 200),
    ("POST", "/admin/api/users/invite", {"email": "new@example.com", "role": "admin"}, ADMIN, 201),
    # Viewers and authors hold collections.read, but the admin API is not theirs.
    ("GET", "/admin/api/collections", None, ADMIN_API_ROLES, 200),
    ("GET", "/admin/api/collections/{collection}", None, ADMIN_API_ROLES, 200),
    ("POST", "/admin/api/collections", {"name": "fresh", "displayName": "Fresh"}, ADMIN, 201),
    ("PATCH", "/admin/api/collections/{collection}", {"description": "changed"}, ADMIN, 200),
    ("DELETE", "/admin/api/collections/{collection}", None, ADMIN, 200),
    ("GET", "/api/collections", None, ROLES, 200),
    ("POST", "/auth/logout", None, ROLES, 200),
]

CASES = [
    pytest.param(
        method, path, body, role,
        (status.get(role, status.get("default")) if isinstance(status, dict) else status) if role in allowed else None,
        id=f"{method} {path} as {role}",
    )
    for method, path, body, allowed, status in MATRIX
    for role in ROLES
]


@pytest.fixture
def world(app_client):
    """A target user (with an API token), a collection, and a JWT per role."""
    target = create_user("viewer", email="target@example.com")
    roles = RolePermissions()
    owner = Principal(id=target.id, email=target.email, role=target.role, permissions=roles.of(target.role))
    token_row, _ = ApiTokens(roles).create(owner, "target's", ["collections.read"])
    now = now_ms()
    collection = Collection.create(
        id="col-blog", name="blog", display_name="Blog", schema={"type": "object", "properties": {}, "required": []},
        created_at=now, updated_at=now,
    )
    headers = {"anonymous": {}}
    for role in SIGNED_IN:
        headers[role] = bearer(token_for(create_user(role)))
    ids = {"target": target.id, "collection": collection.id, "token": token_row.id}
    return app_client, headers, ids


def snapshot():
    """What a refused request must leave untouched."""
    return (
        sorted((u.id, u.role, u.is_active, u.token_version) for u in User.select()),
        sorted((c.id, c.description, c.updated_at) for c in Collection.select()),
    )


@pytest.mark.parametrize("method, path, body, role, allowed_status", CASES)
def test_matrix(world, method, path, body, role, allowed_status):
    client, headers, ids = world
    url = path.format(**ids)
    before = snapshot()
    kwargs = {"headers": headers[role], "expect_errors": True}
    if body is not None:
        response = getattr(client, f"{method.lower()}_json")(url, body, **kwargs)
    else:
        response = getattr(client, method.lower())(url, **kwargs)
    if allowed_status is not None:
        assert response.status_int == allowed_status, response.text
        return
    expected = 401 if role == "anonymous" else 403
    assert response.status_int == expected, response.text
    assert response.json == {"error": "Authentication required" if expected == 401 else "Insufficient permissions"}
    assert snapshot() == before


def test_a_viewer_cannot_create_users_change_roles_or_touch_collections(world):
    client, headers, ids = world
    viewer = headers["viewer"]
    client.post_json("/admin/api/users/invite", {"email": "x@example.com"}, headers=viewer, status=403)
    client.patch_json(f"/admin/api/users/{ids['target']}", {"role": "admin"}, headers=viewer, status=403)
    client.post_json("/admin/api/collections", {"name": "x", "displayName": "X"}, headers=viewer, status=403)
    client.patch_json(f"/admin/api/collections/{ids['collection']}", {"is_active": False}, headers=viewer, status=403)
    client.delete(f"/admin/api/collections/{ids['collection']}", headers=viewer, status=403)
    assert User.get_by_id(ids["target"]).role == "viewer"
    assert Collection.get_by_id(ids["collection"]).is_active


def test_no_request_sets_its_own_role(world):
    client, headers, ids = world
    me = client.get("/auth/me", headers=headers["viewer"]).json["user"]
    client.patch_json(f"/admin/api/users/{me['id']}", {"role": "admin"}, headers=headers["viewer"], status=403)
    client.post_json(
        "/auth/register", {"email": "r@example.com", "password": PASSWORD, "role": "admin"}, status=422
    )
    created = client.post_json("/auth/register", {"email": "r@example.com", "password": PASSWORD}, status=201)
    assert created.json["user"]["role"] == "viewer"
    assert User.get_by_id(me["id"]).role == "viewer"


# -- every route of the app ---------------------------------------------------------------
#
# The matrix above spells out expected answers for the auth, users, tokens and collections
# routes. This one is derived from the app itself: every route create_app mounts (read back
# through falcon.inspect and the router, so a route added any other way is walked too) and
# each responder's @access rule. For every rule, who must be refused is known without
# knowing the route: anonymous callers get 401, roles without the permission 403, and the
# others get past the check (any answer but 401/403; dummy ids make most of them 404).

DUMMY_PARAMS = {"int": "1", "path": "dummy/key"}

# Responders open to any signed-in caller (``authenticated=True``) that check permissions
# themselves because either of two is enough (an @access rule names one): who gets past.
INNER_CHECKS = {
    ("/api/media/{media_id}", "DELETE"): ("media.delete", "media.upload"),
    ("/api/media/{media_id}/restore", "POST"): ("media.delete", "media.upload"),
    ("/api/media/bulk-delete", "POST"): ("media.delete", "media.upload"),
    ("/admin/media/{media_id}/delete", "POST"): ("media.delete", "media.upload"),
    ("/admin/media/{media_id}/restore", "POST"): ("media.delete", "media.upload"),
}


def dummy_url(template):
    """``template`` with each ``{field}`` (or ``{field:converter}``) filled with a dummy value."""
    return re.sub(
        r"\{[^}:]+(?::(\w+)[^}]*)?\}", lambda m: DUMMY_PARAMS.get(m.group(1) or "", "dummy-id"), template
    )


def app_responders(app):
    """``(template, method, rule)`` of every responder the app routes to (Falcon's defaults aside)."""
    found = []
    for route in falcon.inspect.inspect_routes(app):
        # falcon.inspect names templates and responder functions, not the bound responders
        # whose @access rule we need: the router's find() gives those (inspect reads the
        # same private router).
        resource, method_map, _, template = app._router.find(dummy_url(route.path))
        assert template == route.path, f"{dummy_url(route.path)} reached {template}, not {route.path}"
        for method, responder in sorted(method_map.items()):
            if getattr(responder, "__self__", None) is resource:  # not Falcon's 405/OPTIONS
                found.append((route.path, method, rule_of(responder)))
    return found


def _every_responder():
    with tempfile.TemporaryDirectory() as folder:
        env = make_env(folder)
        try:
            return app_responders(create_app(env, settings_for_tests()))
        finally:
            env.DB.db.close()


EVERY_RESPONDER = _every_responder()


def call(client, method, url, headers):
    """One request with a dummy JSON body where the method takes one.

    Admin pages refuse a state-changing request without a CSRF token before anything else
    (tested in test_admin.py); here each carries a valid one, so the access rule decides.
    """
    if method in ("POST", "PUT", "PATCH"):
        if is_admin_page(url):
            headers = {**headers, **csrf_headers(client)}
        return getattr(client, f"{method.lower()}_json")(url, {}, headers=headers, expect_errors=True)
    return client.request(url, method=method, headers=headers, expect_errors=True)


@pytest.fixture
def signed_in(app_client):
    """The client, a JWT header per role, and each role's permissions as stored."""
    roles = RolePermissions()
    headers = {role: bearer(token_for(create_user(role))) for role in SIGNED_IN}
    return app_client, headers, {role: roles.of(role) for role in SIGNED_IN}


def test_every_route_is_walked():
    assert len(EVERY_RESPONDER) > 50
    assert all(rule is not None for _, _, rule in EVERY_RESPONDER)
    walked = {(template, method) for template, method, _ in EVERY_RESPONDER}
    assert {("/api/content/{id}", "PUT"), ("/api/media/upload", "POST"), ("/files/{key:path}", "GET")} <= walked


@pytest.mark.parametrize(
    "template, method, rule", EVERY_RESPONDER, ids=[f"{m} {t}" for t, m, _ in EVERY_RESPONDER]
)
def test_every_responder_enforces_its_rule(signed_in, template, method, rule):
    client, headers, permissions = signed_in
    url = dummy_url(template)
    anonymous = call(client, method, url, {})
    if rule.public:
        assert anonymous.status_int not in (401, 403), anonymous.text
        return
    assert anonymous.status_int == 401, anonymous.text
    assert anonymous.json == {"error": "Authentication required"}
    assert anonymous.headers["WWW-Authenticate"] == "Bearer"
    rejected = call(client, method, url, bearer("sp_revoked-or-made-up"))
    assert rejected.status_int == 401 and rejected.json == {"error": "Invalid or expired token"}
    needed = (rule.permission,) if rule.permission else INNER_CHECKS.get((template, method))
    holders = [role for role in SIGNED_IN if needed is None or set(needed) & permissions[role]]
    if admin_api_path(template):
        holders = [role for role in holders if role in ADMIN_API_ROLES]
    assert holders, f"no role holds {rule.permission}: {method} {template} is unreachable"
    for role in SIGNED_IN:
        response = call(client, method, url, headers[role])
        if role in holders:
            assert response.status_int not in (401, 403), f"{role}: {response.status_int} {response.text}"
        else:
            assert response.status_int == 403, f"{role}: {response.status_int} {response.text}"
            assert response.json == {"error": "Insufficient permissions"}


ADMIN_API_RESPONDERS = [(t, m, r) for t, m, r in EVERY_RESPONDER if admin_api_path(t) and not r.public]


@pytest.mark.parametrize(
    "template, method, rule", ADMIN_API_RESPONDERS, ids=[f"{m} {t}" for t, m, _ in ADMIN_API_RESPONDERS]
)
def test_leading_slashes_do_not_get_past_the_admin_api_gate(signed_in, template, method, rule):
    """The router ignores leading slashes, so ``//admin/api/...`` reaches the same responder:
    it is refused to every role but editors and admins alike, whatever permissions they hold."""
    client, headers, _ = signed_in
    url = "//" + dummy_url(template).lstrip("/")
    for role in SIGNED_IN:
        if role not in ADMIN_API_ROLES:
            response = call(client, method, url, headers[role])
            assert response.status_int == 403, f"{role}: {response.status_int} {response.text}"
