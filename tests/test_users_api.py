"""/admin/api/users: list, search, get, update, deactivate, invite; /auth/accept-invitation."""

import hashlib

import pytest

from app.db.models import User
from tests.fixtures.auth import PASSWORD, concurrently, json_request, login, reload
from tests.fixtures.users import bearer, create_user

pytestmark = pytest.mark.backends

SECRETS_MARKERS = ("password_hash", "scrypt$", "password_reset_token", "invitation_token", "two_factor_secret")


def assert_no_secrets(response):
    for marker in SECRETS_MARKERS:
        assert marker not in response.text


def token_with(client, headers, permissions):
    """An API token of the caller (a password session) holding ``permissions``."""
    body = {"name": "scoped", "permissions": permissions}
    return bearer(client.post_json("/api/tokens", body, headers=headers, status=201).json["data"]["token"])


# -- list, search, get ------------------------------------------------------------------------


def test_list_paginates_with_totals(app_client, make_user):
    _, admin = make_user("admin")
    for _ in range(24):
        create_user("viewer")
    first = app_client.get("/admin/api/users?limit=10", headers=admin).json
    assert len(first["data"]) == 10
    assert first["meta"] == {"page": 1, "limit": 10, "total": 25, "pages": 3, "hasNext": True, "hasPrev": False}
    last = app_client.get("/admin/api/users?limit=10&page=3", headers=admin).json
    assert len(last["data"]) == 5 and last["meta"]["hasNext"] is False and last["meta"]["hasPrev"] is True
    ids = {u["id"] for page in (1, 2, 3) for u in app_client.get(f"/admin/api/users?limit=10&page={page}", headers=admin).json["data"]}
    assert len(ids) == 25
    assert_no_secrets(app_client.get("/admin/api/users", headers=admin))


@pytest.mark.parametrize("query", ["page=0", "page=abc", "limit=0", "limit=101", "page=99999999999999999999999", "role=root", "status=gone"])
def test_bad_list_parameters_are_400(app_client, make_user, query):
    _, admin = make_user("admin")
    response = app_client.get(f"/admin/api/users?{query}", headers=admin, status=400)
    assert set(response.json) <= {"error", "details"}


def test_search_matches_email_username_and_names(app_client, make_user):
    _, admin = make_user("admin")
    create_user("viewer", email="zed@corp.example", username="zeddy", first_name="Zebulon", last_name="Quux")
    for term, expected in [("corp.example", 1), ("zedd", 1), ("ebulo", 1), ("QUUX", 1), ("nothing-like-it", 0)]:
        found = app_client.get("/admin/api/users", {"search": term}, headers=admin).json
        assert found["meta"]["total"] == expected, term


def test_search_folds_every_letters_case_on_every_database(app_client, make_user):
    """SQLite's LIKE folds ASCII letters only; the search folds É as PostgreSQL's ILIKE does."""
    _, admin = make_user("admin")
    create_user("viewer", email="Élodie@example.com", username="elo", first_name="Ünal", last_name="ΣΟΦΙΑ")
    for term in ("élodie", "ÉLODIE", "ünal", "σοφια"):
        found = app_client.get("/admin/api/users", {"search": term}, headers=admin).json
        assert [user["email"] for user in found["data"]] == ["Élodie@example.com"], term


def test_search_wildcards_are_literal(app_client, make_user):
    _, admin = make_user("admin")
    create_user("viewer", email="percent%sign@example.com", username="per_cent")
    create_user("viewer", email="plain@example.com", username="plainuser")
    assert app_client.get("/admin/api/users", {"search": "%"}, headers=admin).json["meta"]["total"] == 1
    assert app_client.get("/admin/api/users", {"search": "r_c"}, headers=admin).json["meta"]["total"] == 1
    injected = app_client.get("/admin/api/users", {"search": "' OR 1=1 --"}, headers=admin).json
    assert injected["meta"]["total"] == 0


def test_filters_by_role_and_status(app_client, make_user):
    _, admin = make_user("admin")
    create_user("editor")
    create_user("editor", is_active=False)
    assert app_client.get("/admin/api/users?role=editor", headers=admin).json["meta"]["total"] == 2
    assert app_client.get("/admin/api/users?role=editor&status=inactive", headers=admin).json["meta"]["total"] == 1


def test_get_one_and_404(app_client, make_user):
    _, admin = make_user("admin")
    target = create_user("author", password_hash="scrypt$not-real")
    response = app_client.get(f"/admin/api/users/{target.id}", headers=admin)
    assert response.json["data"]["id"] == target.id and response.json["data"]["role"] == "author"
    assert_no_secrets(response)
    missing = app_client.get("/admin/api/users/does-not-exist", headers=admin, status=404)
    assert missing.json == {"error": "User not found"}


# -- update -------------------------------------------------------------------------------------


def test_patch_names_and_role_ends_the_targets_sessions(app_client, make_user):
    _, admin = make_user("admin")
    target, target_headers = make_user("viewer")
    response = app_client.patch_json(
        f"/admin/api/users/{target.id}", {"first_name": "<b>Bold</b>", "role": "editor"}, headers=admin
    )
    assert response.json["data"]["first_name"] == "<b>Bold</b>" and response.json["data"]["role"] == "editor"
    assert reload(target).role == "editor"
    app_client.get("/auth/me", headers=target_headers, status=401)


def test_name_changes_keep_sessions(app_client, make_user):
    _, admin = make_user("admin")
    target, target_headers = make_user("viewer")
    app_client.patch_json(f"/admin/api/users/{target.id}", {"last_name": "Smith"}, headers=admin)
    app_client.get("/auth/me", headers=target_headers, status=200)


def test_changing_a_role_needs_users_roles(app_client, make_user):
    _, admin = make_user("admin")
    target, _ = make_user("viewer")
    scoped = token_with(app_client, admin, ["users.update", "users.read"])
    response = app_client.patch_json(f"/admin/api/users/{target.id}", {"role": "admin"}, headers=scoped, status=403)
    assert response.json == {"error": "Changing a role requires the users.roles permission"}
    app_client.patch_json(f"/admin/api/users/{target.id}", {"first_name": "Ok"}, headers=scoped, status=200)
    assert reload(target).role == "viewer"


def test_reactivating_a_user_above_viewer_needs_users_roles(app_client, make_user):
    """Reactivating gives the account its role back: as much as giving that role."""
    _, admin = make_user("admin")
    editor, _ = make_user("editor")
    viewer, _ = make_user("viewer")
    for user in (editor, viewer):
        app_client.patch_json(f"/admin/api/users/{user.id}", {"is_active": False}, headers=admin, status=200)
    scoped = token_with(app_client, admin, ["users.update", "users.read"])
    refused = app_client.patch_json(f"/admin/api/users/{editor.id}", {"is_active": True}, headers=scoped, status=403)
    assert refused.json == {"error": "Reactivating a user above viewer requires the users.roles permission"}
    assert not reload(editor).is_active
    app_client.patch_json(f"/admin/api/users/{viewer.id}", {"is_active": True}, headers=scoped, status=200)
    assert reload(viewer).is_active


def test_nobody_changes_their_own_role_or_deactivates_themself(app_client, make_user):
    admin, headers = make_user("admin")
    response = app_client.patch_json(f"/admin/api/users/{admin.id}", {"role": "viewer"}, headers=headers, status=403)
    assert response.json == {"error": "You cannot change your own role"}
    app_client.patch_json(f"/admin/api/users/{admin.id}", {"is_active": False}, headers=headers, status=403)
    response = app_client.delete(f"/admin/api/users/{admin.id}", headers=headers, status=403)
    assert response.json == {"error": "You cannot deactivate your own account"}
    assert reload(admin).is_active and reload(admin).role == "admin"


def test_deactivating_through_patch_needs_users_delete_as_delete_does(app_client, make_user):
    _, admin = make_user("admin")
    other_admin, _ = make_user("admin")
    created = app_client.post_json("/api/tokens", {"name": "update only", "permissions": ["users.update"]},
                                   headers=admin, status=201).json["data"]
    update_only = {"Authorization": f"Bearer {created['token']}"}
    response = app_client.patch_json(f"/admin/api/users/{other_admin.id}", {"is_active": False}, headers=update_only,
                                     status=403)
    assert response.json == {"error": "Deactivating a user requires the users.delete permission"}
    app_client.delete(f"/admin/api/users/{other_admin.id}", headers=update_only, status=403)
    assert reload(other_admin).is_active
    app_client.patch_json(f"/admin/api/users/{other_admin.id}", {"first_name": "Renamed"}, headers=update_only)
    app_client.patch_json(f"/admin/api/users/{other_admin.id}", {"is_active": False}, headers=admin)
    # Reactivating gives the admin role back: users.update alone may not (see below).
    refused = app_client.patch_json(f"/admin/api/users/{other_admin.id}", {"is_active": True}, headers=update_only,
                                    status=403)
    assert refused.json == {"error": "Reactivating a user above viewer requires the users.roles permission"}
    assert not reload(other_admin).is_active


@pytest.mark.parametrize("body", [
    {"password_hash": "x"}, {"token_version": 0}, {"email": "not-an-email"}, {"role": "superuser"},
    {"is_active": "yes"}, {"first_name": "x" * 101}, {"username": "a b"}, {"username": "ab"}, {"password": ""},
])
def test_patch_rejects_unknown_or_invalid_fields(app_client, make_user, body):
    _, admin = make_user("admin")
    target, _ = make_user("viewer")
    response = app_client.patch_json(f"/admin/api/users/{target.id}", body, headers=admin, status=422)
    assert response.json["error"] == "Validation failed" and response.json["details"][0]["field"]


def test_empty_patch_is_400_and_unknown_user_404(app_client, make_user):
    _, admin = make_user("admin")
    target, _ = make_user("viewer")
    app_client.patch_json(f"/admin/api/users/{target.id}", {}, headers=admin, status=400)
    app_client.patch_json("/admin/api/users/nope", {"first_name": "x"}, headers=admin, status=404)


def test_editors_read_users_but_cannot_change_them(app_client, make_user):
    _, editor = make_user("editor")
    target, _ = make_user("viewer")
    app_client.get(f"/admin/api/users/{target.id}", headers=editor, status=200)
    app_client.patch_json(f"/admin/api/users/{target.id}", {"role": "admin"}, headers=editor, status=403)
    app_client.delete(f"/admin/api/users/{target.id}", headers=editor, status=403)
    assert reload(target).role == "viewer" and reload(target).is_active


# -- deactivate ----------------------------------------------------------------------------------


def test_delete_deactivates_and_ends_sessions(app_client, make_user, user_with_password):
    _, admin = make_user("admin")
    target, target_headers = user_with_password("author", email="leaving@example.com")
    response = app_client.delete(f"/admin/api/users/{target.id}", headers=admin)
    assert response.json["message"] == "User deactivated" and response.json["data"]["is_active"] is False
    assert User.get_or_none(User.id == target.id) is not None  # a soft delete
    app_client.get("/auth/me", headers=target_headers, status=401)
    login(app_client, "leaving@example.com", status=401)
    app_client.delete("/admin/api/users/nope", headers=admin, status=404)


# -- invitations -----------------------------------------------------------------------------------


def invite(client, headers, status=201, **body):
    body = {"email": "invitee@example.com", **body}
    return client.post_json("/admin/api/users/invite", body, headers=headers, status=status)


def test_invite_and_accept(app_client, make_user, outbox):
    admin, headers = make_user("admin")
    response = invite(app_client, headers, role="author", first_name="In", last_name="Vitee")
    user = response.json["data"]
    assert user["is_active"] is False and user["invitation_pending"] and user["invited_by"] == admin.id
    [token] = outbox.tokens("invitation")
    assert token not in response.text
    assert_no_secrets(response)
    stored = User.get_by_id(user["id"])
    assert stored.invitation_token == hashlib.sha256(token.encode()).hexdigest() and stored.password_hash is None
    login(app_client, "invitee@example.com", status=401)

    body = {"token": token, "username": "newauthor", "password": "short"}
    app_client.post_json("/auth/accept-invitation", body, status=422)
    body["password"] = PASSWORD
    accepted = app_client.post_json("/auth/accept-invitation", body)
    assert accepted.json["user"]["role"] == "author" and accepted.json["user"]["username"] == "newauthor"
    app_client.get("/auth/me", headers=bearer(accepted.json["token"]), status=200)
    login(app_client, "invitee@example.com")
    again = app_client.post_json("/auth/accept-invitation", {**body, "username": "another"}, status=400)
    assert again.json == {"error": "Invalid or expired invitation"}


def test_accepting_with_a_taken_username_is_409(app_client, make_user, outbox):
    _, headers = make_user("admin")
    create_user("viewer", username="taken")
    invite(app_client, headers)
    [token] = outbox.tokens("invitation")
    app_client.post_json("/auth/accept-invitation", {"token": token, "username": "taken", "password": PASSWORD}, status=409)


def test_expired_invitations_are_refused(app_client, make_user, outbox):
    _, headers = make_user("admin")
    user = invite(app_client, headers).json["data"]
    [token] = outbox.tokens("invitation")
    User.update(invited_at=User.invited_at - 8 * 24 * 3600 * 1000).where(User.id == user["id"]).execute()
    body = {"token": token, "username": "late", "password": PASSWORD}
    app_client.post_json("/auth/accept-invitation", body, status=400)


def test_deactivating_an_invited_user_cancels_the_invitation(app_client, make_user, outbox):
    _, headers = make_user("admin")
    user = invite(app_client, headers).json["data"]
    [token] = outbox.tokens("invitation")
    app_client.delete(f"/admin/api/users/{user['id']}", headers=headers)
    body = {"token": token, "username": "cancelled", "password": PASSWORD}
    app_client.post_json("/auth/accept-invitation", body, status=400)


def test_an_invited_user_is_activated_by_accepting_not_by_an_admin(app_client, make_user, outbox):
    _, headers = make_user("admin")
    user = invite(app_client, headers).json["data"]
    refused = app_client.patch_json(f"/admin/api/users/{user['id']}", {"is_active": True}, headers=headers,
                                    status=409).json
    assert "invitation is still pending" in refused["error"]
    [token] = outbox.tokens("invitation")
    body = {"token": token, "username": "joined", "password": PASSWORD}
    app_client.post_json("/auth/accept-invitation", body, status=200)


def test_invite_rules(app_client, make_user, outbox):
    _, admin = make_user("admin")
    _, viewer = make_user("viewer")
    invite(app_client, viewer, status=403)
    scoped = token_with(app_client, admin, ["users.create"])
    response = invite(app_client, scoped, role="admin", status=403)
    assert "users.roles" in response.json["error"]
    invite(app_client, scoped, status=201)  # viewer role needs no users.roles
    invite(app_client, admin, email="INVITEE@example.com", status=409)
    invite(app_client, admin, role="owner", email="x@example.com", status=422)
    invite(app_client, admin, email="x@example.com", password_hash="x", status=422)
    assert len(outbox.tokens("invitation")) == 1


def test_an_invitation_is_accepted_once_even_under_a_race(app_client, make_user, outbox):
    _, headers = make_user("admin")
    user = invite(app_client, headers).json["data"]
    [token] = outbox.tokens("invitation")
    names = ["first-taker", "second-taker"]
    statuses = concurrently(app_client.app, [
        json_request("/auth/accept-invitation", {"token": token, "username": name, "password": PASSWORD})
        for name in names
    ])
    assert sorted(statuses) == [200, 400]
    stored = User.get_by_id(user["id"])
    assert stored.username == names[statuses.index(200)] and stored.invitation_token is None
    assert not User.select().where(User.username == names[statuses.index(400)]).exists()


def test_invitations_meet_look_alike_emails_as_one_account(app_client, make_user, outbox):
    _, headers = make_user("admin")
    create_user("viewer", email="known@example.com")
    invite(app_client, headers, email="kn\u200bown@example.com", status=409)
    invite(app_client, headers, email="KNOWN@ＥＸＡＭＰＬＥ.COM", status=409)
    response = invite(app_client, headers, email="kn\u043ewn@example.com", status=422)  # Cyrillic o
    assert response.json["details"][0]["field"] == "email"
    stored = invite(app_client, headers, email="Fresh\u200b@Example.com").json["data"]
    assert stored["email"] == "fresh@example.com"
    assert len(outbox.tokens("invitation")) == 1


def test_user_responses_are_not_stored(app_client, make_user, outbox):
    _, headers = make_user("admin")
    target, _ = make_user("viewer")
    responses = [
        app_client.get("/admin/api/users", headers=headers),
        app_client.get(f"/admin/api/users/{target.id}", headers=headers),
        app_client.patch_json(f"/admin/api/users/{target.id}", {"first_name": "T"}, headers=headers),
        invite(app_client, headers),
        app_client.delete(f"/admin/api/users/{target.id}", headers=headers),
    ]
    assert [r.headers.get("Cache-Control") for r in responses] == ["no-store"] * len(responses)
