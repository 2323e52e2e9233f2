"""The RBAC matrix: every protected route of auth, users, tokens and collections, against
every role (anonymous, viewer, author, editor, admin). Allowed callers get the route's own
answer; anonymous callers get 401, signed-in callers without the permission 403, both in
the error envelope and with nothing changed.
"""

import pytest

from app.db.models import Collection, User, now_ms
from app.services.api_tokens import ApiTokens
from app.services.identity import Principal, RolePermissions
from tests.fixtures.auth import PASSWORD
from tests.fixtures.users import bearer, create_user, token_for

ROLES = ("anonymous", "viewer", "author", "editor", "admin")
SIGNED_IN = ROLES[1:]
READERS = ("viewer", "author", "editor", "admin")  # collections.read
USER_READERS = ("editor", "admin")  # users.read
ADMIN = ("admin",)

# (method, path, body, roles allowed, status when allowed: one, or per role with a default)
MATRIX = [
    ("GET", "/auth/me", None, SIGNED_IN, 200),
    ("POST", "/auth/refresh", None, SIGNED_IN, 200),
    ("POST", "/auth/change-password", {"current_password": "wrong one", "new_password": "n" * 12}, SIGNED_IN, 422),
    ("GET", "/api/tokens", None, SIGNED_IN, 200),
    ("POST", "/api/tokens", {"name": "t", "permissions": []}, SIGNED_IN, 201),
    # Someone else's token: revoked with api_tokens.manage, otherwise reported missing.
    ("DELETE", "/api/tokens/{token}", None, SIGNED_IN, {"admin": 200, "default": 404}),
    ("GET", "/api/tokens?user_id={target}", None, ADMIN, 200),
    ("GET", "/admin/api/users", None, USER_READERS, 200),
    ("GET", "/admin/api/users/{target}", None, USER_READERS, 200),
    ("PATCH", "/admin/api/users/{target}", {"role": "editor"}, ADMIN, 200),
    ("DELETE", "/admin/api/users/{target}", None, ADMIN, 200),
    ("POST", "/admin/api/users/invite", {"email": "new@example.com", "role": "admin"}, ADMIN, 201),
    ("GET", "/admin/api/collections", None, READERS, 200),
    ("GET", "/admin/api/collections/{collection}", None, READERS, 200),
    ("POST", "/admin/api/collections", {"name": "new", "displayName": "New"}, ADMIN, 201),
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
