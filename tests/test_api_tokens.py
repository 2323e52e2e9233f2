"""/api/tokens: API tokens created, listed, revoked, scoped, expiring, used as Bearer."""

import hashlib
import time

import jwt
import pytest

from app.db.models import ApiToken, User, bind_models, now_ms
from app.services.api_tokens import DAY_MS, ApiTokens
from app.services.identity import issue_jwt
from tests.fixtures.app import TEST_JWT_SECRET, settings_for_tests
from tests.fixtures.auth import PASSWORD, fast_client, login
from tests.fixtures.content import content_row, create_collection, insert_items
from tests.fixtures.users import bearer, create_user, token_for

pytestmark = pytest.mark.backends


def create_token(client, headers, permissions, status=201, **extra):
    body = {"name": "ci", "permissions": permissions, **extra}
    return client.post_json("/api/tokens", body, headers=headers, status=status)


def test_created_token_is_shown_once_and_stored_hashed(app_client, make_user):
    admin, headers = make_user("admin")
    response = create_token(app_client, headers, ["collections.read"])
    data = response.json["data"]
    plaintext = data["token"]
    assert plaintext.startswith("sp_") and len(plaintext) >= 40
    assert data["user_id"] == admin.id and data["permissions"] == ["collections.read"]
    row = ApiToken.get_by_id(data["id"])
    assert row.token == hashlib.sha256(plaintext.encode()).hexdigest()
    listed = app_client.get("/api/tokens", headers=headers)
    assert listed.json["meta"]["count"] == 1
    assert plaintext not in listed.text and row.token not in listed.text and "token" not in listed.json["data"][0]


def test_a_token_acts_with_its_own_permissions_only(app_client, make_user):
    _, headers = make_user("admin")
    token = bearer(create_token(app_client, headers, ["collections.read"]).json["data"]["token"])
    app_client.get("/admin/api/collections", headers=token, status=200)
    app_client.get("/auth/me", headers=token, status=200)
    response = app_client.post_json("/admin/api/collections", {"name": "x", "displayName": "X"}, headers=token, status=403)
    # The refusal speaks of the token, not of signing in: the token is what lacks the right.
    assert response.json == {"error": "This API token does not grant the permission collections.create"}
    app_client.get("/admin/api/users", headers=token, status=403)


def test_permissions_cannot_exceed_the_owners(app_client, make_user):
    _, editor = make_user("editor")
    response = create_token(app_client, editor, ["content.read", "users.update"], status=422)
    assert response.json["error"] == "Validation failed"
    assert response.json["details"] == [
        {"field": "permissions[1]", "message": "Permission 'users.update' exceeds your role (editor)"}
    ]
    unknown = create_token(app_client, editor, ["root.everything"], status=422)
    assert unknown.json["details"][0]["message"].startswith("Unknown permission 'root.everything'; your role can grant: ")
    assert ApiToken.select().count() == 0


def test_a_demoted_owner_narrows_the_token_at_once(app_client, make_user):
    admin, admin_headers = make_user("admin")
    owner, owner_headers = make_user("editor")
    token = bearer(create_token(app_client, owner_headers, ["users.read"]).json["data"]["token"])
    app_client.get("/admin/api/users", headers=token, status=200)
    app_client.patch_json(f"/admin/api/users/{owner.id}", {"role": "viewer"}, headers=admin_headers)
    app_client.get("/admin/api/users", headers=token, status=403)


@pytest.mark.parametrize("deactivate", ["delete", "patch"])
def test_a_deactivated_owners_tokens_stop_and_stay_dead_after_reactivation(app_client, make_user, deactivate):
    _, admin_headers = make_user("admin")
    owner, owner_headers = make_user("author")
    token = bearer(create_token(app_client, owner_headers, ["collections.read"]).json["data"]["token"])
    if deactivate == "delete":
        app_client.delete(f"/admin/api/users/{owner.id}", headers=admin_headers)
    else:
        app_client.patch_json(f"/admin/api/users/{owner.id}", {"is_active": False}, headers=admin_headers)
    app_client.get("/auth/me", headers=token, status=401)
    assert ApiToken.select().where(ApiToken.user == owner.id).count() == 0
    app_client.patch_json(f"/admin/api/users/{owner.id}", {"is_active": True}, headers=admin_headers)
    app_client.get("/auth/me", headers=token, status=401)


def test_a_new_email_revokes_the_users_tokens_and_a_names_change_does_not(app_client, make_user):
    """Whoever holds the new address can take the account (its reset mail goes there): the
    tokens made from the old owner's sessions end with those sessions."""
    _, admin_headers = make_user("admin")
    owner, owner_headers = make_user("author", email="before@example.com")
    token = bearer(create_token(app_client, owner_headers, ["collections.read"]).json["data"]["token"])
    app_client.patch_json(f"/admin/api/users/{owner.id}", {"first_name": "Renamed", "email": "before@example.com"},
                          headers=admin_headers, status=200)
    app_client.get("/auth/me", headers=token, status=200)  # the address sent back as it is: no change
    app_client.patch_json(f"/admin/api/users/{owner.id}", {"email": "after@example.com"}, headers=admin_headers,
                          status=200)
    app_client.get("/auth/me", headers=token, status=401)
    assert ApiToken.select().where(ApiToken.user == owner.id).count() == 0


def test_a_password_reset_revokes_the_users_tokens(app_client, user_with_password, outbox):
    user, headers = user_with_password("editor", email="reset-tokens@example.com")
    _, bystander = user_with_password("editor", email="bystander@example.com")
    token = bearer(create_token(app_client, headers, ["collections.read"]).json["data"]["token"])
    other = bearer(create_token(app_client, bystander, ["collections.read"]).json["data"]["token"])
    app_client.post_json("/auth/request-password-reset", {"email": "reset-tokens@example.com"}, status=202)
    [reset] = outbox.tokens("password_reset")
    app_client.get("/auth/me", headers=token, status=200)  # asking for a reset changes nothing yet
    app_client.post_json("/auth/reset-password", {"token": reset, "password": "a brand new one"})
    app_client.get("/auth/me", headers=token, status=401)
    app_client.get("/auth/me", headers=other, status=200)  # only that user's tokens
    assert ApiToken.select().where(ApiToken.user == user.id).count() == 0


def test_a_password_change_revokes_the_users_tokens(app_client, user_with_password):
    _, headers = user_with_password("editor", email="change-tokens@example.com")
    token = bearer(create_token(app_client, headers, ["collections.read"]).json["data"]["token"])
    body = {"current_password": PASSWORD, "new_password": "a brand new one"}
    app_client.post_json("/auth/change-password", body, headers=headers, status=200)
    app_client.get("/auth/me", headers=token, status=401)


def test_a_token_asked_while_the_password_changes_is_refused(app_client, user_with_password, monkeypatch):
    """The request signed in before the change committed: the token it was about to write
    would outlive the session it came from, so it is refused with nothing written."""
    user, headers = user_with_password("editor", email="racing-tokens@example.com")
    expiry, changed = ApiTokens._expiry, []

    def change_commits_now(self, expires_at):  # the request checks the expiry: the change commits meanwhile
        changed.append(User.update(token_version=User.token_version + 1).where(User.id == user.id).execute())
        return expiry(self, expires_at)

    monkeypatch.setattr(ApiTokens, "_expiry", change_commits_now)
    refused = create_token(app_client, headers, ["collections.read"], status=401)
    assert "session has ended" in refused.json["error"] and changed == [1]
    assert ApiToken.select().where(ApiToken.user == user.id).count() == 0


def test_a_wrong_current_password_revokes_nothing(app_client, user_with_password):
    _, headers = user_with_password("editor", email="keep-tokens@example.com")
    token = bearer(create_token(app_client, headers, ["collections.read"]).json["data"]["token"])
    body = {"current_password": "not it", "new_password": "a brand new one"}
    app_client.post_json("/auth/change-password", body, headers=headers, status=422)
    app_client.get("/auth/me", headers=token, status=200)


# -- proof of the user --------------------------------------------------------------------

PROOF_NEEDED = "Confirm your current password or sign in again"


def signed_in_ago(user, seconds):
    """Bearer headers of a session of ``user`` from a sign-in ``seconds`` ago (still valid)."""
    return bearer(issue_jwt(user, settings_for_tests(), now=int(time.time()) - seconds))


def test_an_old_sign_in_needs_the_password_to_create_a_token(app_client, user_with_password):
    """A stolen session, however valid, cannot make itself a credential lasting up to a year."""
    user, _ = user_with_password("editor", email="old-session@example.com")
    old = signed_in_ago(user, 3600)
    refused = create_token(app_client, old, ["collections.read"], status=403)
    assert refused.json == {"error": PROOF_NEEDED, "details": [{
        "field": "current_password",
        "message": "To create an API token, enter your current password, or sign in again: your sign-in is more "
                   "than 10 minutes old",
    }]}
    assert ApiToken.select().count() == 0
    create_token(app_client, old, ["collections.read"], currentPassword=PASSWORD)
    create_token(app_client, old, ["collections.read"], current_password=PASSWORD)
    assert ApiToken.select().where(ApiToken.user == user.id).count() == 2


def test_a_token_without_permissions_is_refused(app_client, make_user):
    _, headers = make_user("editor")
    response = create_token(app_client, headers, [], status=422)
    assert response.json == {"error": "Validation failed", "details": [
        {"field": "permissions", "message": "Choose at least one permission for the token"}]}
    assert ApiToken.select().count() == 0


def test_a_recent_sign_in_is_proof_enough(app_client, user_with_password):
    user, _ = user_with_password("editor", email="recent@example.com")
    create_token(app_client, bearer(login(app_client, "recent@example.com").json["token"]), ["content.read"])
    create_token(app_client, signed_in_ago(user, 9 * 60), ["content.read"])


def test_a_token_without_auth_time_proves_no_recent_sign_in(app_client, user_with_password):
    """A token issued before tokens carried auth_time tells when it was issued, not signed in."""
    user, _ = user_with_password("editor", email="legacy@example.com")
    now = int(time.time())
    legacy = bearer(jwt.encode({"sub": user.id, "email": user.email, "role": user.role, "ver": 0, "iat": now,
                                "exp": now + 3600, "jti": "legacy"}, TEST_JWT_SECRET, algorithm="HS256"))
    app_client.get("/auth/me", headers=legacy, status=200)
    refused = create_token(app_client, legacy, ["content.read"], status=403)
    assert refused.json["error"] == PROOF_NEEDED
    # Nor can a refresh make one of it: its iat would become the new token's auth_time.
    app_client.post("/auth/refresh", headers=legacy, status=401)
    create_token(app_client, legacy, ["content.read"], current_password=PASSWORD)


def test_a_wrong_password_is_refused_and_counted_as_a_failed_sign_in(env, user_with_password):
    user, _ = user_with_password("editor", email="guessed@example.com")
    client = fast_client(env, rate_limit_attempts=2)
    recent = bearer(login(client, "guessed@example.com").json["token"])
    old = signed_in_ago(user, 3600)
    # Checked even after a recent sign-in: a wrong password given is never ignored.
    for headers in (recent, old):
        refused = create_token(client, headers, ["content.read"], status=422, current_password="not the password")
        assert refused.json == {"error": "Validation failed", "details": [
            {"field": "current_password", "message": "Current password is incorrect"}]}
    # Two failures from this address: the sign-in limit is reached, for the right password too.
    limited = create_token(client, old, ["content.read"], status=429, current_password=PASSWORD)
    assert limited.headers["X-RateLimit-Remaining"] == "0" and "Retry-After" in limited.headers
    login(client, "guessed@example.com", status=429)
    assert ApiToken.select().count() == 0


def test_the_recent_sign_in_window_is_a_setting(env, user_with_password):
    user_with_password("editor", email="always@example.com")
    client = fast_client(env, recent_sign_in_seconds=0)
    fresh = bearer(login(client, "always@example.com").json["token"])
    refused = create_token(client, fresh, ["content.read"], status=403)
    assert refused.json["details"][0]["message"] == "To create an API token, enter your current password"
    create_token(client, fresh, ["content.read"], current_password=PASSWORD)


def test_a_revoked_token_stops_at_once(app_client, make_user):
    _, headers = make_user("editor")
    data = create_token(app_client, headers, ["collections.read"]).json["data"]
    token = bearer(data["token"])
    app_client.get("/admin/api/collections", headers=token, status=200)
    assert app_client.delete(f"/api/tokens/{data['id']}", headers=headers).json == {"message": "Token revoked"}
    response = app_client.get("/admin/api/collections", headers=token, status=401)
    assert response.json == {"error": "Invalid or expired token"}
    app_client.delete(f"/api/tokens/{data['id']}", headers=headers, status=404)


def test_an_expired_token_stops_at_once(app_client, make_user):
    _, headers = make_user("editor")
    data = create_token(app_client, headers, ["collections.read"], expires_at=now_ms() + 3_600_000).json["data"]
    token = bearer(data["token"])
    app_client.get("/admin/api/collections", headers=token, status=200)
    ApiToken.update(expires_at=now_ms() - 1).where(ApiToken.id == data["id"]).execute()
    app_client.get("/admin/api/collections", headers=token, status=401)


def test_a_token_expires_after_90_days_by_default(app_client, make_user):
    _, headers = make_user("viewer")
    before = now_ms()
    data = create_token(app_client, headers, ["collections.read"]).json["data"]
    assert before + 90 * DAY_MS <= data["expires_at"] <= now_ms() + 90 * DAY_MS
    assert ApiToken.get_by_id(data["id"]).expires_at == data["expires_at"]
    explicit_null = create_token(app_client, headers, ["collections.read"], expires_at=None).json["data"]
    assert explicit_null["expires_at"] >= before + 90 * DAY_MS


def test_an_explicit_expiry_may_be_up_to_the_maximum(app_client, make_user):
    _, headers = make_user("viewer")
    within = now_ms() + 364 * DAY_MS
    assert create_token(app_client, headers, ["collections.read"], expires_at=within).json["data"]["expires_at"] == within
    response = create_token(app_client, headers, ["collections.read"], expires_at=now_ms() + 366 * DAY_MS, status=422)
    assert response.json["details"] == [{"field": "expires_at", "message": "expires_at may be at most 365 days from now"}]


def test_token_lifetimes_come_from_settings(env, outbox):
    bind_models(env.DB.db)
    client = fast_client(env, outbox, api_token_default_ttl_days=7, api_token_max_ttl_days=30)
    user = create_user("viewer")
    headers = bearer(token_for(user))
    data = create_token(client, headers, ["collections.read"]).json["data"]
    assert data["expires_at"] <= now_ms() + 7 * DAY_MS
    create_token(client, headers, ["collections.read"], expires_at=now_ms() + 31 * DAY_MS, status=422)


def test_token_responses_are_not_stored(app_client, make_user):
    _, headers = make_user("viewer")
    created = create_token(app_client, headers, ["collections.read"])
    listed = app_client.get("/api/tokens", headers=headers)
    revoked = app_client.delete(f"/api/tokens/{created.json['data']['id']}", headers=headers)
    assert [r.headers.get("Cache-Control") for r in (created, listed, revoked)] == ["no-store"] * 3


@pytest.mark.parametrize("extra, field", [
    ({"expires_at": 1}, "expires_at"),
    ({"expires_at": 2**63}, "expires_at"),
    ({"expires_at": "tomorrow"}, "expires_at"),
    ({"user_id": "someone-else"}, "user_id"),
    ({"name": ""}, "name"),
    ({"permissions": "collections.read"}, "permissions"),
])
def test_invalid_token_bodies_are_422(app_client, make_user, extra, field):
    _, headers = make_user("admin")
    body = {"name": "ci", "permissions": ["collections.read"], **extra}
    response = app_client.post_json("/api/tokens", body, headers=headers, status=422)
    assert response.json["details"][0]["field"] == field


def test_last_used_is_written_at_most_once_a_minute(app_client, make_user):
    _, headers = make_user("editor")
    data = create_token(app_client, headers, ["collections.read"]).json["data"]
    token = bearer(data["token"])
    assert ApiToken.get_by_id(data["id"]).last_used_at is None
    app_client.get("/api/collections", headers=token)
    app_client.get("/admin/api/collections", headers=token)
    first = ApiToken.get_by_id(data["id"]).last_used_at
    assert first is not None and first <= now_ms()
    recent = now_ms() - 30_000
    ApiToken.update(last_used_at=recent).where(ApiToken.id == data["id"]).execute()
    app_client.get("/admin/api/collections", headers=token)
    assert ApiToken.get_by_id(data["id"]).last_used_at == recent
    stale = now_ms() - 61_000
    ApiToken.update(last_used_at=stale).where(ApiToken.id == data["id"]).execute()
    app_client.get("/admin/api/collections", headers=token)
    assert ApiToken.get_by_id(data["id"]).last_used_at > stale


def test_tokens_cannot_manage_tokens_or_become_sessions(app_client, make_user):
    _, headers = make_user("admin")
    token = bearer(create_token(app_client, headers, ["collections.read"]).json["data"]["token"])
    for call in (
        lambda: app_client.post_json("/api/tokens", {"name": "n", "permissions": []}, headers=token, status=403),
        lambda: app_client.get("/api/tokens", headers=token, status=403),
        lambda: app_client.post("/auth/refresh", headers=token, status=403),
        lambda: app_client.post_json(
            "/auth/change-password", {"current_password": "a", "new_password": "b" * 10}, headers=token, status=403
        ),
    ):
        assert set(call().json) == {"error"}


def test_listing_and_revoking_other_users_tokens_needs_api_tokens_manage(app_client, make_user):
    _, admin = make_user("admin")
    owner, owner_headers = make_user("editor")
    _, other_editor = make_user("editor")
    data = create_token(app_client, owner_headers, ["content.read"]).json["data"]
    app_client.get(f"/api/tokens?user_id={owner.id}", headers=other_editor, status=403)
    assert app_client.get("/api/tokens", headers=other_editor).json["data"] == []
    app_client.delete(f"/api/tokens/{data['id']}", headers=other_editor, status=404)
    listed = app_client.get(f"/api/tokens?user_id={owner.id}", headers=admin).json["data"]
    assert [t["id"] for t in listed] == [data["id"]]
    app_client.delete(f"/api/tokens/{data['id']}", headers=admin, status=200)
    assert ApiToken.select().count() == 0


def insert_tokens(user, count):
    """``count`` live tokens of ``user``, created one millisecond apart (the newest last)."""
    now = now_ms()
    ApiToken.insert_many([
        {"name": f"t{n:03d}", "token": hashlib.sha256(f"{user.id}-{n}".encode()).hexdigest(), "user": user.id,
         "permissions": [], "expires_at": now + DAY_MS, "created_at": now + n}
        for n in range(count)
    ]).execute()


def test_token_lists_are_paged(app_client, make_user):
    owner, headers = make_user("editor")
    insert_tokens(owner, 55)
    first = app_client.get("/api/tokens", headers=headers).json
    assert len(first["data"]) == 50 and first["data"][0]["name"] == "t054", "newest first"
    assert {k: first["meta"][k] for k in ("total", "pages", "hasNext")} == {
        "total": 55, "pages": 2, "hasNext": True}
    second = app_client.get("/api/tokens?page=2", headers=headers).json
    assert [t["name"] for t in second["data"]] == [f"t{n:03d}" for n in range(4, -1, -1)]
    assert second["meta"]["count"] == 5 and not second["meta"]["hasNext"]
    small = app_client.get("/api/tokens?limit=7&page=3", headers=headers).json
    assert [t["name"] for t in small["data"]] == [f"t{n:03d}" for n in range(40, 33, -1)]
    for bad in ("limit=0", "limit=101", "page=0", "page=x"):
        assert app_client.get(f"/api/tokens?{bad}", headers=headers, status=400).json["error"]


def test_anonymous_callers_get_401(app_client):
    for response in (
        app_client.get("/api/tokens", status=401),
        app_client.post_json("/api/tokens", {"name": "n", "permissions": []}, status=401),
        app_client.delete("/api/tokens/x", status=401),
    ):
        assert response.json == {"error": "Authentication required"}
    # Credentials that were sent but are not valid get SonicJS's second message.
    response = app_client.get("/auth/me", headers=bearer("sp_not-a-real-token"), status=401)
    assert response.json == {"error": "Invalid or expired token"}
    assert User.select().count() == 0


def test_an_api_token_is_never_read_from_the_cookie(app_client, make_user):
    _, headers = make_user("admin")
    plaintext = create_token(app_client, headers, ["collections.read"]).json["data"]["token"]
    app_client.get("/admin/api/collections", headers=bearer(plaintext), status=200)
    app_client.set_cookie("auth_token", plaintext)
    response = app_client.get("/admin/api/collections", status=401)
    assert response.json == {"error": "Invalid or expired token"}


# -- an admin's token is not an admin ------------------------------------------------------


@pytest.fixture
def drafts_of_another_author(blog_collection, make_user):
    """An author's draft and published item in the blog collection."""
    author, _ = make_user("author")
    [draft] = insert_items(blog_collection, author, 1, status="draft", slug_prefix="draft")
    [published] = insert_items(blog_collection, author, 1, status="published", slug_prefix="pub")
    return draft, published


def test_an_admins_token_without_content_scope_reads_no_drafts(app_client, make_user, drafts_of_another_author):
    draft, _ = drafts_of_another_author
    _, admin = make_user("admin")
    token = bearer(create_token(app_client, admin, ["media.read"]).json["data"]["token"])
    # The admin's own session sees the draft: the token is what must not.
    app_client.get(f"/api/content/{draft}", headers=admin, status=200)
    assert app_client.get("/api/content?status=draft", headers=admin).json["data"]
    app_client.get("/api/content?status=draft", headers=token, status=403)
    app_client.get(f"/api/content/{draft}", headers=token, status=404)
    listed = app_client.get("/api/content", headers=token).json["data"]
    assert draft not in {item["id"] for item in listed}


def test_an_admins_token_edits_only_what_its_scope_allows(app_client, make_user, drafts_of_another_author):
    draft, published = drafts_of_another_author
    _, admin = make_user("admin")
    empty = bearer(create_token(app_client, admin, ["media.read"]).json["data"]["token"])
    app_client.put_json(f"/api/content/{published}", {"title": "taken over"}, headers=empty, status=403)
    # content.update without content.publish is an author's right: own content only.
    updater = bearer(create_token(app_client, admin, ["content.read", "content.update"]).json["data"]["token"])
    response = app_client.put_json(f"/api/content/{published}", {"title": "taken over"}, headers=updater, status=403)
    assert set(response.json) <= {"error", "details"}
    app_client.put_json(f"/api/content/{draft}", {"title": "taken over"}, headers=updater, expect_errors=True)
    assert content_row(published).title != "taken over" and content_row(draft).title != "taken over"
    app_client.put_json(f"/api/content/{published}", {"title": "by the admin"}, headers=admin, status=200)


def test_a_token_that_may_only_create_is_answered_its_new_item(app_client, make_user):
    """A token (or a role) with ``content.create`` alone reads only published items; the
    create still answers the draft it made, and the item stays hidden from its other reads."""
    _, headers = make_user("editor")
    create_collection("blog")
    token = bearer(create_token(app_client, headers, ["content.create"]).json["data"]["token"])
    created = app_client.post_json("/api/content", {"collectionId": "blog", "title": "Only created"},
                                   headers=token, status=201).json["data"]
    assert created["title"] == "Only created" and created["status"] == "draft" and created["slug"] == "only-created"
    # Its own reads stay those of a caller who sees published items only.
    app_client.get(f"/api/content/{created['id']}", headers=token, status=404)
