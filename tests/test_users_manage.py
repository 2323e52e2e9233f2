"""/admin/api/users beyond the list: create, edit credentials, the last admin, resend and cancel
invitations; PATCH /auth/me (one's own profile)."""

import json
import time
from concurrent.futures import ThreadPoolExecutor

import psycopg2
import pytest
import webtest

from app.api import users as users_api
from app.db.models import ApiToken, Permission, RolePermission, SystemLog, User, now_ms
from app.services import accounts as accounts_module
from app.services import users as users_service
from app.services.accounts import duplicate_account
from app.services.identity import hash_token
from tests.fixtures.auth import PASSWORD, accounts_for_tests, concurrently, hashed, login, reload
from tests.fixtures.users import bearer, create_user

pytestmark = pytest.mark.backends

NEW_PASSWORD = "another fine password"


def grant(role, *names):
    """Give ``role`` the permissions ``names`` (before the app first reads the role's set)."""
    for name in names:
        RolePermission.create(role=role, permission=Permission.get(Permission.name == name))


def token_with(client, headers, permissions):
    """An API token of the caller (a password session) holding ``permissions``."""
    body = {"name": "scoped", "permissions": permissions}
    return bearer(client.post_json("/api/tokens", body, headers=headers, status=201).json["data"]["token"])


def create(client, headers, status=201, **body):
    body = {"email": "made@example.com", "password": PASSWORD, **body}
    return client.post_json("/admin/api/users", body, headers=headers, status=status)


def invite(client, headers, status=201, **body):
    body = {"email": "invitee@example.com", **body}
    return client.post_json("/admin/api/users/invite", body, headers=headers, status=status)


def accept(client, token, username="joiner", status=200):
    body = {"token": token, "username": username, "password": PASSWORD}
    return client.post_json("/auth/accept-invitation", body, status=status)


# -- create -----------------------------------------------------------------------------------------


def test_admins_create_active_users_who_sign_in_at_once(app_client, make_user):
    _, admin = make_user("admin")
    response = create(app_client, admin, email="Made@Example.com", role="author", first_name="Ma", last_name="De")
    made = response.json["data"]
    assert response.json["message"] == "User created" and response.headers["Cache-Control"] == "no-store"
    assert made["email"] == "made@example.com" and made["role"] == "author" and made["is_active"] is True
    assert made["username"] == "made" and (made["first_name"], made["last_name"]) == ("Ma", "De")
    assert "password" not in response.text and "scrypt$" not in response.text
    session = login(app_client, "made@example.com").json
    assert session["user"]["role"] == "author"
    chosen = create(app_client, admin, email="other@example.com", username="chosen.name").json["data"]
    assert chosen["username"] == "chosen.name" and chosen["role"] == "viewer"


def test_creating_refuses_duplicates_and_bad_input(app_client, make_user):
    _, admin = make_user("admin")
    create_user("viewer", email="taken@example.com", username="takenname")
    assert create(app_client, admin, email="TAKEN@example.com", status=409).json == {
        "error": "A user with this email already exists",
        "details": [{"field": "email", "message": "A user with this email already exists"}]}
    assert create(app_client, admin, username="takenname", status=409).json["error"] == \
        "A user with this username already exists"
    weak = create(app_client, admin, password="short", status=422).json
    assert weak["details"][0]["field"] == "password" and "at least" in weak["details"][0]["message"]
    lookalike = create(app_client, admin, email="m\u0430de@example.com", status=422).json  # Cyrillic a
    assert lookalike["details"][0]["field"] == "email"
    widened = "x@" + "\u3392" * 240 + ".example"  # 250 characters; "MHz" each once normalised (NFKC)
    for refused in (create(app_client, admin, email=widened, status=422).json,
                    invite(app_client, admin, email=widened, status=422).json):
        assert refused["details"] == [{"field": "email", "message": "Email must be at most 254 characters"}]
    for body in ({"email": "nope"}, {"role": "owner"}, {"username": "a b"}, {"is_active": False},
                 {"password_hash": "x"}, {"first_name": "x" * 101}):
        assert create(app_client, admin, status=422, **body).json["details"][0]["field"]
    app_client.post_json("/admin/api/users", {"email": "made@example.com"}, headers=admin, status=422)
    assert not User.select().where(User.email == "made@example.com").exists()


def test_creating_needs_users_create_and_users_roles_above_viewer(app_client, make_user):
    _, admin = make_user("admin")
    _, editor = make_user("editor")
    _, viewer = make_user("viewer")
    create(app_client, editor, status=403)
    create(app_client, viewer, status=403)
    scoped = token_with(app_client, admin, ["users.create"])
    refused = create(app_client, scoped, role="admin", status=403).json
    assert refused == {"error": "Creating a user with a role other than viewer requires the users.roles permission"}
    assert not User.select().where(User.email == "made@example.com").exists()
    create(app_client, scoped, status=201)


# -- edit: email, username, password ----------------------------------------------------------------


def test_a_new_email_ends_sessions_and_the_old_addresss_reset_link(app_client, make_user, user_with_password,
                                                                    outbox):
    _, admin = make_user("admin")
    target, target_headers = user_with_password("viewer", email="old@example.com")
    app_client.post_json("/auth/request-password-reset", {"email": "old@example.com"}, status=202)
    [reset] = outbox.tokens("password_reset")
    response = app_client.patch_json(f"/admin/api/users/{target.id}", {"email": "New@Example.com"}, headers=admin)
    assert response.json["data"]["email"] == "new@example.com" and response.json["data"]["email_verified"] is False
    app_client.get("/auth/me", headers=target_headers, status=401)
    app_client.post_json("/auth/reset-password", {"token": reset, "password": NEW_PASSWORD}, status=400)
    login(app_client, "old@example.com", status=401)
    login(app_client, "new@example.com")


def test_a_reset_asked_for_as_the_email_changes_reaches_no_old_address(app_client, make_user, outbox, monkeypatch):
    target, _ = make_user("viewer", email="old@example.com")
    original = accounts_module.hash_token

    def email_changes_meanwhile(token):
        # Between the request's lookup of the address and its write: an admin moves the account.
        users_service.update_user(target.id, {"email": "new@example.com"})
        monkeypatch.setattr(accounts_module, "hash_token", original)
        return original(token)

    monkeypatch.setattr(accounts_module, "hash_token", email_changes_meanwhile)
    app_client.post_json("/auth/request-password-reset", {"email": "old@example.com"}, status=202)
    stored = reload(target)
    assert stored.email == "new@example.com" and stored.password_reset_token is None
    assert not outbox.sent


def test_a_new_password_ends_sessions_and_api_tokens(app_client, make_user, user_with_password):
    _, admin = make_user("admin")
    target, target_headers = user_with_password("author", email="writer@example.com")
    token = token_with(app_client, target_headers, ["content.read"])
    app_client.patch_json(f"/admin/api/users/{target.id}", {"password": NEW_PASSWORD}, headers=admin)
    app_client.get("/auth/me", headers=target_headers, status=401)
    app_client.get("/auth/me", headers=token, status=401)
    assert not ApiToken.select().where(ApiToken.user == target.id).exists()
    login(app_client, "writer@example.com", status=401)
    login(app_client, "writer@example.com", NEW_PASSWORD)
    weak = app_client.patch_json(f"/admin/api/users/{target.id}", {"password": "short"}, headers=admin, status=422)
    assert weak.json["details"][0]["field"] == "password"


def test_usernames_and_emails_stay_unique(app_client, make_user):
    _, admin = make_user("admin")
    create_user("viewer", email="holder@example.com", username="holder")
    target, target_headers = make_user("viewer", email="mine@example.com", username="mine")
    for body, error in (({"email": "HOLDER@example.com"}, "A user with this email already exists"),
                        ({"email": "hol\u200bder@example.com"}, "A user with this email already exists"),
                        ({"username": "holder"}, "A user with this username already exists")):
        response = app_client.patch_json(f"/admin/api/users/{target.id}", body, headers=admin, status=409)
        [field] = body
        assert response.json == {"error": error, "details": [{"field": field, "message": error}]}
    renamed = app_client.patch_json(f"/admin/api/users/{target.id}", {"username": "renamed", "first_name": "Re"},
                                    headers=admin).json["data"]
    assert renamed["username"] == "renamed" and renamed["first_name"] == "Re"
    stored = reload(target)
    assert (stored.email, stored.username) == ("mine@example.com", "renamed")
    app_client.get("/auth/me", headers=target_headers, status=200)  # a new username is no credential


def test_the_refusal_names_what_another_user_holds(app_client, make_user):
    """What a 409 says, asked again after the database refused a write another request beat."""
    holder = create_user("viewer", email="holder@example.com", username="Holder")
    assert str(duplicate_account("holder@example.com", "free")) == "A user with this email already exists"
    assert str(duplicate_account("free@example.com", "HOLDER")) == "A user with this username already exists"
    assert duplicate_account("holder@example.com", "holder", other_than=holder.id) is None
    assert duplicate_account("free@example.com", "free") is None


def _answer_racing(app, request, database, holder):
    """``request``'s response when another transaction inserts the user ``holder`` (a dict of
    columns) just before it: uncommitted, the row escapes the request's checks and its write
    waits on the unique index; then the other transaction commits and the write is refused,
    as when two requests race. PostgreSQL only: SQLite's writes take turns."""
    other = psycopg2.connect(database.url)
    try:
        columns = {"first_name": "", "last_name": "", "created_at": 1, "updated_at": 1, **holder}
        other.cursor().execute(f"INSERT INTO users ({', '.join(columns)}) VALUES ({', '.join(['%s'] * len(columns))})",
                               list(columns.values()))
        with ThreadPoolExecutor(1) as pool:
            answer = pool.submit(request.get_response, app)
            _wait_for_a_blocked_write(database)
            other.commit()
            return answer.result()
    finally:
        other.close()


def _wait_for_a_blocked_write(database, polls=3000):
    with database.admin.cursor() as cursor:
        for _ in range(polls):
            cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND wait_event_type = 'Lock'",
                           (database.name,))
            if cursor.fetchone()[0]:
                return
            time.sleep(0.01)
    raise AssertionError("the request never waited for the other transaction")


@pytest.mark.parametrize("db_backend", ["postgres"], indirect=True)
def test_an_email_or_username_taken_meanwhile_is_named_in_the_409(app_client, make_user, seeded_postgres):
    _, admin = make_user("admin")
    target, _ = make_user("viewer", email="mine@example.com", username="mine")
    body = {"email": "made@example.com", "password": PASSWORD, "username": "made"}
    created = _answer_racing(app_client.app, admin_request("POST", "/admin/api/users", admin, body), seeded_postgres,
                             {"id": "racer-1", "email": "made@example.com", "username": "racer1"})
    assert (created.status_int, created.json["error"]) == (409, "A user with this email already exists")
    renamed = _answer_racing(app_client.app, admin_request("PATCH", f"/admin/api/users/{target.id}", admin,
                                                           {"username": "contested"}), seeded_postgres,
                             {"id": "racer-2", "email": "racer2@example.com", "username": "Contested"})
    assert (renamed.status_int, renamed.json["error"]) == (409, "A user with this username already exists")
    assert reload(target).username == "mine"


def test_a_username_differing_only_in_case_is_taken_on_every_path(app_client, make_user, outbox):
    _, admin = make_user("admin")
    create_user("viewer", email="holder@example.com", username="Holder")
    target, target_headers = make_user("viewer", email="mine@example.com", username="mine")
    invite(app_client, admin)
    [token] = outbox.tokens("invitation")
    register = {"email": "new@example.com", "password": PASSWORD}
    attempts = {
        "create": lambda name: create(app_client, admin, username=name, status=409),
        "admin's change": lambda name: app_client.patch_json(f"/admin/api/users/{target.id}", {"username": name},
                                                             headers=admin, status=409),
        "own change": lambda name: app_client.patch_json("/auth/me", {"username": name}, headers=target_headers,
                                                         status=409),
        "registration": lambda name: app_client.post_json("/auth/register", {**register, "username": name},
                                                          status=409),
        "invitation": lambda name: accept(app_client, token, username=name, status=409),
    }
    for path, attempt in attempts.items():
        exact = attempt("Holder").json
        assert exact == {"error": "A user with this username already exists",
                         "details": [{"field": "username", "message": "A user with this username already exists"}]}, path
        for variant in ("holder", "HOLDER", "hOLDEr"):
            assert attempt(variant).json == exact, (path, variant)
    assert User.select().where(User.username ** "holder").count() == 1
    # One's own username in another case is still one's own.
    assert app_client.patch_json("/auth/me", {"username": "MINE"}, headers=target_headers).json["user"][
        "username"] == "MINE"
    # A username derived from an email skips one held in another case.
    create_user("viewer", email="eddie.old@example.com", username="EDDIE")
    made = app_client.post_json("/auth/register", {"email": "eddie@example.com", "password": PASSWORD}, status=201)
    assert made.json["user"]["username"] == "eddie2"


def test_the_same_email_again_changes_nothing(app_client, make_user):
    _, admin = make_user("admin")
    target, target_headers = make_user("viewer", email="same@example.com")
    app_client.patch_json(f"/admin/api/users/{target.id}", {"email": "SAME@example.com"}, headers=admin)
    app_client.get("/auth/me", headers=target_headers, status=200)


def test_credentials_of_users_above_viewer_need_users_roles(app_client, make_user):
    _, admin = make_user("admin")
    other_admin, _ = make_user("admin")
    viewer, _ = make_user("viewer")
    update_only = token_with(app_client, admin, ["users.update"])
    for body in ({"email": "taken-over@example.com"}, {"password": NEW_PASSWORD}):
        refused = app_client.patch_json(f"/admin/api/users/{other_admin.id}", body, headers=update_only, status=403)
        assert "users.roles" in refused.json["error"]
    assert reload(other_admin).email == other_admin.email and reload(other_admin).password_hash is None
    app_client.patch_json(f"/admin/api/users/{other_admin.id}", {"first_name": "Fine"}, headers=update_only)
    app_client.patch_json(f"/admin/api/users/{viewer.id}", {"email": "viewer-new@example.com"}, headers=update_only)
    app_client.patch_json(f"/admin/api/users/{other_admin.id}", {"email": "admin-new@example.com"}, headers=admin)


@pytest.mark.parametrize("body", [{"password": NEW_PASSWORD}, {"email": "taken-over@example.com"}])
def test_a_promotion_committed_meanwhile_still_needs_users_roles(app_client, make_user, monkeypatch, body):
    _, admin = make_user("admin")
    target, _ = make_user("viewer", email="rising@example.com")
    update_only = token_with(app_client, admin, ["users.update"])
    prepare = users_api.stored_changes

    def promoted_meanwhile(accounts, changes):
        # After the check on the row as first read, before the write's transaction.
        users_service.update_user(target.id, {"role": "admin"})
        return prepare(accounts, changes)

    monkeypatch.setattr(users_api, "stored_changes", promoted_meanwhile)
    refused = app_client.patch_json(f"/admin/api/users/{target.id}", body, headers=update_only, status=403)
    assert refused.json == {"error": "Changing the email or password of a user above viewer requires the users.roles "
                                     "permission"}
    stored = reload(target)
    assert stored.role == "admin" and stored.email == "rising@example.com" and stored.password_hash is None


def test_nobody_sets_their_own_password_here(app_client, make_user):
    me, headers = make_user("admin")
    refused = app_client.patch_json(f"/admin/api/users/{me.id}", {"password": NEW_PASSWORD}, headers=headers,
                                    status=403)
    assert refused.json == {"error": "Change your own password with /auth/change-password"}
    assert reload(me).password_hash is None


def test_nobody_changes_their_own_email_here_not_even_with_a_users_update_token(app_client, user_with_password,
                                                                                  outbox):
    me, session = user_with_password("admin", email="me@example.com")
    scoped = token_with(app_client, session, ["users.update"])
    for headers in (scoped, session):
        refused = app_client.patch_json(f"/admin/api/users/{me.id}", {"email": "taken-over@example.com"},
                                        headers=headers, status=403)
        assert refused.json == {"error": "You cannot change your own email",
                                "details": [{"field": "email", "message": "Ask another admin to change it"}]}
    assert reload(me).email == "me@example.com"
    app_client.post_json("/auth/request-password-reset", {"email": "taken-over@example.com"}, status=202)
    assert not outbox.sent
    # The address as it is, in any spelling, is no change; the token keeps working.
    app_client.patch_json(f"/admin/api/users/{me.id}", {"email": "ME@example.com", "first_name": "Me"}, headers=scoped)
    assert reload(me).first_name == "Me"


def test_an_open_invitations_email_and_password_are_not_changed(app_client, make_user, outbox):
    _, admin = make_user("admin")
    invited = invite(app_client, admin).json["data"]
    for body, field in (({"email": "elsewhere@example.com"}, "email"), ({"password": NEW_PASSWORD}, "password")):
        refused = app_client.patch_json(f"/admin/api/users/{invited['id']}", body, headers=admin, status=409)
        assert refused.json["details"] == [{"field": field, "message": f"Cancel the invitation to change the {field}"}]
    refused = app_client.patch_json(f"/admin/api/users/{invited['id']}", {"is_active": True}, headers=admin,
                                    status=409)
    assert refused.json["details"] == [{"field": "is_active", "message": "The user becomes active by accepting it"}]
    app_client.patch_json(f"/admin/api/users/{invited['id']}", {"first_name": "Named"}, headers=admin)
    [token] = outbox.tokens("invitation")
    accept(app_client, token)


def test_editors_and_viewers_edit_nobody(app_client, make_user):
    _, editor = make_user("editor")
    _, viewer = make_user("viewer")
    target, _ = make_user("viewer")
    for headers in (editor, viewer):
        app_client.patch_json(f"/admin/api/users/{target.id}", {"username": "stolen"}, headers=headers, status=403)
    assert reload(target).username == target.username


# -- the last admin ---------------------------------------------------------------------------------


def test_the_last_active_admin_is_neither_demoted_nor_deactivated(app_client, make_user):
    grant("editor", "users.update", "users.roles", "users.delete")
    only_admin, _ = make_user("admin")
    make_user("admin", is_active=False)  # an inactive admin manages nothing
    _, editor = make_user("editor")
    for body, field in (({"role": "editor"}, "role"), ({"is_active": False}, "is_active")):
        refused = app_client.patch_json(f"/admin/api/users/{only_admin.id}", body, headers=editor, status=409)
        assert refused.json == {"error": "The last active admin cannot be demoted or deactivated",
                                "details": [{"field": field, "message": "Make another user an active admin first"}]}
    refused = app_client.delete(f"/admin/api/users/{only_admin.id}", headers=editor, status=409)
    assert refused.json["details"] == [{"field": "is_active", "message": "Make another user an active admin first"}]
    assert reload(only_admin).role == "admin" and reload(only_admin).is_active
    make_user("admin")
    app_client.patch_json(f"/admin/api/users/{only_admin.id}", {"role": "editor"}, headers=editor, status=200)


def admin_request(method, path, headers, body=None):
    request = webtest.TestRequest.blank(path, method=method, headers=headers)
    if body is not None:
        request.content_type = "application/json"
        request.body = json.dumps(body).encode()
    request.environ["REMOTE_ADDR"] = "127.0.0.1"
    return request


@pytest.fixture
def slow_admin_check(monkeypatch):
    """Hold each transaction a moment between reading the active admins and its write, so two
    requests sent together overlap there: only the lock on those rows (PostgreSQL) or the
    write lock taken at BEGIN (SQLite) makes the second one read after the first committed."""
    read = users_service._active_admins

    def read_then_wait():
        admins = read()
        time.sleep(0.5)
        return admins

    monkeypatch.setattr(users_service, "_active_admins", read_then_wait)


@pytest.mark.parametrize("first_method", ["PATCH", "DELETE"])
def test_two_admins_removing_each_other_at_once_leave_one_admin(app_client, make_user, slow_admin_check,
                                                                 first_method):
    first, first_headers = make_user("admin")
    second, second_headers = make_user("admin")
    body = {"role": "editor"} if first_method == "PATCH" else None
    statuses = concurrently(app_client.app, [
        admin_request(first_method, f"/admin/api/users/{second.id}", first_headers, body),
        admin_request("PATCH", f"/admin/api/users/{first.id}", second_headers, {"role": "editor"}),
    ])
    assert sorted(statuses) == [200, 409]
    active_admins = User.select().where((User.role == "admin") & (User.is_active == True))  # noqa: E712
    assert [u.id for u in active_admins] in ([first.id], [second.id])


# -- invitations: resend and cancel -----------------------------------------------------------------


def test_resending_mails_a_new_link_and_the_old_one_stops_working(app_client, make_user, outbox):
    _, admin = make_user("admin")
    invited = invite(app_client, admin, role="author").json["data"]
    User.update(invited_at=User.invited_at - 8 * 24 * 3600 * 1000).where(User.id == invited["id"]).execute()
    response = app_client.post(f"/admin/api/users/{invited['id']}/invitation", headers=admin)
    assert response.json["message"] == "Invitation sent" and response.json["data"]["invitation_pending"] is True
    assert response.headers["Cache-Control"] == "no-store"
    old, new = outbox.tokens("invitation")
    assert old != new and new not in response.text and [m.email for m in outbox.sent] == ["invitee@example.com"] * 2
    accept(app_client, old, status=400)
    assert accept(app_client, new).json["user"]["role"] == "author"  # and its time starts again
    again = app_client.post(f"/admin/api/users/{invited['id']}/invitation", headers=admin, status=409)
    assert again.json == {"error": "This user has no pending invitation"}
    assert len(outbox.sent) == 2


def test_resending_needs_a_pending_invitation_and_the_rights_to_invite(app_client, make_user, outbox):
    _, admin = make_user("admin")
    _, editor = make_user("editor")
    member, _ = make_user("viewer")
    app_client.post(f"/admin/api/users/{member.id}/invitation", headers=admin, status=409)
    app_client.post("/admin/api/users/nobody/invitation", headers=admin, status=404)
    invited = invite(app_client, admin, role="editor").json["data"]
    app_client.post(f"/admin/api/users/{invited['id']}/invitation", headers=editor, status=403)
    scoped = token_with(app_client, admin, ["users.create"])
    refused = app_client.post(f"/admin/api/users/{invited['id']}/invitation", headers=scoped, status=403)
    assert "users.roles" in refused.json["error"]
    app_client.delete(f"/admin/api/users/{invited['id']}", headers=admin)  # deactivating cancels it
    app_client.post(f"/admin/api/users/{invited['id']}/invitation", headers=admin, status=409)
    assert len(outbox.sent) == 1


def active_with_a_leftover_invitation(link_token):
    """An active admin whose row still holds an invitation (made before create-admin withdrew it)."""
    return create_user("admin", email="boss@example.com", username="boss", password_hash=hashed(),
                       invitation_token=hash_token(link_token), invited_at=now_ms())


def test_an_active_account_is_not_reinvited(app_client, make_user, outbox):
    _, admin = make_user("admin")
    boss = active_with_a_leftover_invitation("left-over")
    refused = app_client.post(f"/admin/api/users/{boss.id}/invitation", headers=admin, status=409)
    assert refused.json == {"error": "This user has no pending invitation"}
    assert not outbox.sent and reload(boss).invitation_token == hash_token("left-over")


def test_a_leftover_invitation_holds_back_nothing_of_an_active_account(app_client, make_user, outbox):
    _, admin = make_user("admin")
    boss = active_with_a_leftover_invitation("left-over")
    assert app_client.get(f"/admin/api/users/{boss.id}", headers=admin).json["data"]["invitation_pending"] is False
    moved = app_client.patch_json(f"/admin/api/users/{boss.id}", {"email": "moved@example.com"}, headers=admin)
    assert moved.json["data"]["email"] == "moved@example.com"
    app_client.patch_json(f"/admin/api/users/{boss.id}", {"password": NEW_PASSWORD}, headers=admin)
    login(app_client, "moved@example.com", NEW_PASSWORD)
    # Deactivated, the account has no open invitation either: its link re-keys nothing and
    # an admin may reactivate it.
    app_client.patch_json(f"/admin/api/users/{boss.id}", {"is_active": False}, headers=admin)
    accept(app_client, "left-over", username="usurper", status=400)
    app_client.delete(f"/admin/api/users/{boss.id}/invitation", headers=admin, status=409)
    app_client.patch_json(f"/admin/api/users/{boss.id}", {"is_active": True}, headers=admin)
    stored = reload(boss)
    assert stored.is_active and stored.username == "boss" and stored.invitation_token is None
    login(app_client, "moved@example.com", NEW_PASSWORD)


def test_an_invitation_link_does_not_re_key_an_active_account(app_client):
    boss = active_with_a_leftover_invitation("left-over")
    accept(app_client, "left-over", username="usurper", status=400)
    stored = reload(boss)
    assert stored.username == "boss" and stored.password_hash == boss.password_hash
    login(app_client, "boss@example.com")


def test_create_admin_over_an_invited_account_withdraws_the_invitation(app_client, make_user, outbox):
    _, admin = make_user("admin")
    invited = invite(app_client, admin).json["data"]
    accounts_for_tests().create_admin("invitee@example.com", NEW_PASSWORD, update_existing=True)
    stored = User.get_by_id(invited["id"])
    assert stored.is_active and stored.role == "admin" and stored.invitation_token is None
    shown = app_client.get(f"/admin/api/users/{invited['id']}", headers=admin).json["data"]
    assert shown["invitation_pending"] is False
    login(app_client, "invitee@example.com", NEW_PASSWORD)


def test_cancelling_deletes_the_invited_account_and_frees_its_email(app_client, make_user, outbox):
    _, admin = make_user("admin")
    invited = invite(app_client, admin).json["data"]
    [token] = outbox.tokens("invitation")
    response = app_client.delete(f"/admin/api/users/{invited['id']}/invitation", headers=admin)
    assert response.json == {"message": "Invitation cancelled", "deleted": True}
    assert User.get_or_none(User.id == invited["id"]) is None
    accept(app_client, token, status=400)
    app_client.delete(f"/admin/api/users/{invited['id']}/invitation", headers=admin, status=404)
    invite(app_client, admin)  # the address can be invited again


def test_cancelling_keeps_an_account_other_rows_refer_to_unusable(app_client, make_user, outbox):
    _, admin = make_user("admin")
    invited = invite(app_client, admin).json["data"]
    [token] = outbox.tokens("invitation")
    SystemLog.create(level="info", category="auth", message="refers to the invitee", user=invited["id"])
    response = app_client.delete(f"/admin/api/users/{invited['id']}/invitation", headers=admin)
    assert response.json == {"message": "Invitation cancelled", "deleted": False}
    kept = User.get_by_id(invited["id"])
    assert kept.invitation_token is None and not kept.is_active
    accept(app_client, token, status=400)
    app_client.delete(f"/admin/api/users/{invited['id']}/invitation", headers=admin, status=409)


def test_only_pending_invitations_are_cancelled_and_only_by_users_delete(app_client, make_user, outbox):
    _, admin = make_user("admin")
    _, editor = make_user("editor")
    member, _ = make_user("viewer")
    app_client.delete(f"/admin/api/users/{member.id}/invitation", headers=admin, status=409)
    dormant, _ = make_user("viewer", is_active=False)  # deactivated, never invited
    app_client.delete(f"/admin/api/users/{dormant.id}/invitation", headers=admin, status=409)
    assert User.get_or_none(User.id == dormant.id) is not None
    invited = invite(app_client, admin).json["data"]
    app_client.delete(f"/admin/api/users/{invited['id']}/invitation", headers=editor, status=403)
    create_only = token_with(app_client, admin, ["users.create"])
    app_client.delete(f"/admin/api/users/{invited['id']}/invitation", headers=create_only, status=403)
    [token] = outbox.tokens("invitation")
    accept(app_client, token)
    app_client.delete(f"/admin/api/users/{invited['id']}/invitation", headers=admin, status=409)
    assert reload(member).is_active and User.get_by_id(invited["id"]).is_active


# -- one's own profile: PATCH /auth/me --------------------------------------------------------------


@pytest.mark.parametrize("role", ["viewer", "author"])
def test_everyone_edits_their_own_names_and_username(app_client, user_with_password, role):
    me, headers = user_with_password(role, email="self@example.com")
    response = app_client.patch_json("/auth/me", {"first_name": "Sel", "last_name": "F", "username": "selfie"},
                                     headers=headers)
    assert response.headers["Cache-Control"] == "no-store"
    user = response.json["user"]
    assert (user["first_name"], user["last_name"], user["username"], user["role"]) == ("Sel", "F", "selfie", role)
    assert app_client.get("/auth/me", headers=headers).json["user"]["username"] == "selfie"  # the session goes on
    stored = reload(me)
    assert (stored.first_name, stored.last_name, stored.username) == ("Sel", "F", "selfie")


@pytest.mark.parametrize("body", [{"username": "taken\n"}, {"username": "taken\r\n"}, {"username": "\ntaken"}])
def test_a_username_ends_with_its_last_allowed_character(app_client, make_user, body):
    create_user("viewer", username="taken")
    me, headers = make_user("admin")
    for path in ("/auth/me", f"/admin/api/users/{me.id}"):
        refused = app_client.patch_json(path, body, headers=headers, status=422)
        assert refused.json["details"][0]["field"] == "username"
    for refused_body in (body, {"email": "made@example.com\n"}):
        created = create(app_client, headers, status=422, **refused_body)
        assert created.json["details"][0]["field"] in refused_body
    assert reload(me).username == me.username


@pytest.mark.parametrize("legacy", ["Zoë", "two words"])
def test_a_legacy_username_sent_back_unchanged_is_kept(app_client, make_user, legacy):
    """An older install took usernames today's rule refuses. A client sending the whole record
    back keeps it and saves the rest; a new username (a case change too) obeys the rule."""
    _, admin = make_user("admin")
    old, own = make_user("viewer", username=legacy)
    for path, headers, key in ((f"/admin/api/users/{old.id}", admin, "data"), ("/auth/me", own, "user")):
        body = {"username": legacy, "first_name": f"Kept {key}"}
        assert app_client.patch_json(path, body, headers=headers).json[key]["username"] == legacy
        assert (reload(old).username, reload(old).first_name) == (legacy, f"Kept {key}")
        refused = app_client.patch_json(path, {"username": legacy.swapcase(), "first_name": "Lost"},
                                        headers=headers, status=422).json
        assert refused["details"] == [{"field": "username", "message": "Username must be 3 to 50 of A-Z, a-z, 0-9, "
                                                                       "'_', '.', '-'"}]
        assert (reload(old).username, reload(old).first_name) == (legacy, f"Kept {key}")


def test_a_username_against_the_rule_is_refused_in_the_same_words_on_every_route(app_client, make_user, outbox):
    _, admin = make_user("admin")
    target, own = make_user("viewer")
    invite(app_client, admin)
    [token] = outbox.tokens("invitation")
    register = {"email": "new@example.com", "password": PASSWORD, "username": "a b"}
    refusals = {
        "create": create(app_client, admin, username="a b", status=422),
        "admin's change": app_client.patch_json(f"/admin/api/users/{target.id}", {"username": "a b"}, headers=admin,
                                                status=422),
        "own change": app_client.patch_json("/auth/me", {"username": "a b"}, headers=own, status=422),
        "registration": app_client.post_json("/auth/register", register, status=422),
        "invitation": accept(app_client, token, username="a b", status=422),
    }
    expected = {"error": "Validation failed", "details": [
        {"field": "username", "message": "Username must be 3 to 50 of A-Z, a-z, 0-9, '_', '.', '-'"}]}
    assert {route: answer.json for route, answer in refusals.items()} == dict.fromkeys(refusals, expected)


@pytest.mark.parametrize("body", [{"role": "admin"}, {"is_active": False}, {"email": "me@example.com"},
                                  {"password": NEW_PASSWORD}, {"username": "no spaces"}, {"last_name": "x" * 101}])
def test_the_profile_takes_no_role_state_or_credentials(app_client, make_user, body):
    me, headers = make_user("viewer")
    response = app_client.patch_json("/auth/me", body, headers=headers, status=422)
    assert response.json["details"][0]["field"]
    assert reload(me).role == "viewer" and reload(me).is_active and reload(me).email == me.email


def test_profile_refusals(app_client, make_user):
    create_user("viewer", username="someone")
    me, headers = make_user("author")
    taken = app_client.patch_json("/auth/me", {"username": "someone"}, headers=headers, status=409)
    assert taken.json == {"error": "A user with this username already exists",
                          "details": [{"field": "username", "message": "A user with this username already exists"}]}
    app_client.patch_json("/auth/me", {}, headers=headers, status=400)
    app_client.patch_json("/auth/me", {"first_name": "Anon"}, status=401)
    token = token_with(app_client, headers, ["content.read"])
    refused = app_client.patch_json("/auth/me", {"first_name": "Token"}, headers=token, status=403)
    assert "API tokens" in refused.json["error"]
    assert reload(me).first_name == me.first_name
