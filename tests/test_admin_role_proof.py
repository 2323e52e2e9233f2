"""Giving the admin role needs proof of the user: a recent sign-in or the current password.

Creating or inviting an admin and promoting a user to admin, through ``/admin/api/users``
and through the admin's forms: a stolen session or token must not make its thief an admin
account of their own, one that outlives the theft. Nor may it hand over another admin's
account: setting an admin's email or password, or reactivating a deactivated admin, needs
the same proof.
"""

import itertools
import time

import pytest

from app.api.reauth import PROOF_NEEDED
from app.api.users import ROLE_CHANGED_MEANWHILE
from app.db.models import User, bind_models
from app.services.identity import issue_jwt
from tests.fixtures.admin import browser_for, csrf_headers, sign_in
from tests.fixtures.app import settings_for_tests
from tests.fixtures.auth import PASSWORD, fast_client, hashed, login
from tests.fixtures.busy_database import answer_once_committed
from tests.fixtures.users import bearer, create_user

pytestmark = pytest.mark.backends

OLD_SIGN_IN = "To give the admin role, enter your current password, or sign in again: your sign-in is more than " \
              "10 minutes old"
NEW_PASSWORD = "another horse battery"
_emails = itertools.count(1)


def signed_in_ago(user, seconds):
    """Bearer headers of a session of ``user`` from a sign-in ``seconds`` ago (still valid)."""
    return bearer(issue_jwt(user, settings_for_tests(), now=int(time.time()) - seconds))


class Grant:
    """One route that may give a role: ``send`` asks it to, ``given`` tells whether it did."""

    def __init__(self, name, send, given):
        self.name, self._send, self._given = name, send, given

    def send(self, client, headers, role, status, **extra):
        return self._send(client, headers, role, status, extra)

    def given(self, role):
        return self._given(role)

    def __repr__(self):
        return self.name


def _create(client, headers, role, status, extra):
    body = {"email": f"made{next(_emails)}@example.com", "password": PASSWORD, "role": role, **extra}
    return client.post_json("/admin/api/users", body, headers=headers, status=status)


def _invite(client, headers, role, status, extra):
    body = {"email": f"invited{next(_emails)}@example.com", "role": role, **extra}
    return client.post_json("/admin/api/users/invite", body, headers=headers, status=status)


def _new_users_of(role):
    return User.select().where(User.role == role, User.email.startswith("made") | User.email.startswith("invited"))


def _promote(client, headers, role, status, extra):
    target = User.get(User.email == "target@example.com")
    return client.patch_json(f"/admin/api/users/{target.id}", {"role": role, **extra}, headers=headers, status=status)


def _promoted_to(role):
    return User.get(User.email == "target@example.com").role == role


UNSENT = "a link never mailed"


def _pending_invitation(role):
    """The pending invitation of ``role`` to resend, whose link (``UNSENT``) no resend has replaced yet."""
    email = f"pending-{role}@example.com"
    return User.get_or_none(User.email == email) or create_user(role, email=email, is_active=False,
                                                                 invitation_token=UNSENT)


def _resend(client, headers, role, status, extra):
    target = _pending_invitation(role)
    path = f"/admin/api/users/{target.id}/invitation"
    if extra:
        return client.post_json(path, extra, headers=headers, status=status)
    return client.post(path, headers=headers, status=status)  # no body, as before it took one


def _resent(role):
    return _pending_invitation(role).invitation_token != UNSENT


GRANTS = [
    Grant("create", _create, lambda role: _new_users_of(role).exists()),
    Grant("invite", _invite, lambda role: _new_users_of(role).exists()),
    Grant("promote", _promote, _promoted_to),
    Grant("resend", _resend, _resent),
]
CREATED = {"create": 201, "invite": 201, "promote": 200, "resend": 200}


@pytest.fixture
def admin(user_with_password):
    """An admin with a password, and a viewer to promote."""
    create_user("viewer", email="target@example.com")
    user, _ = user_with_password("admin", email="boss@example.com")
    return user


@pytest.mark.parametrize("grant", GRANTS, ids=repr)
def test_a_recent_sign_in_gives_the_admin_role(app_client, admin, grant):
    recent = bearer(login(app_client, "boss@example.com").json["token"])
    grant.send(app_client, recent, "admin", CREATED[grant.name])
    assert grant.given("admin")


@pytest.mark.parametrize("grant", GRANTS, ids=repr)
def test_an_old_sign_in_gives_the_admin_role_only_with_the_password(app_client, admin, grant):
    old = signed_in_ago(admin, 3600)
    refused = grant.send(app_client, old, "admin", 403)
    assert refused.json == {"error": PROOF_NEEDED, "details": [{"field": "current_password", "message": OLD_SIGN_IN}]}
    assert not grant.given("admin")
    grant.send(app_client, old, "admin", CREATED[grant.name], current_password=PASSWORD)
    assert grant.given("admin")


@pytest.mark.parametrize("grant", GRANTS, ids=repr)
def test_a_wrong_password_gives_nothing_and_counts_as_a_failed_sign_in(env, admin, grant):
    client = fast_client(env, rate_limit_attempts=2)
    old = signed_in_ago(admin, 3600)
    for _ in range(2):
        refused = grant.send(client, old, "admin", 422, current_password="not the password")
        assert refused.json == {"error": "Validation failed", "details": [
            {"field": "current_password", "message": "Current password is incorrect"}]}
    limited = grant.send(client, old, "admin", 429, current_password=PASSWORD)
    assert limited.headers["X-RateLimit-Remaining"] == "0" and "Retry-After" in limited.headers
    login(client, "boss@example.com", status=429)
    assert not grant.given("admin")


@pytest.mark.parametrize("grant", GRANTS, ids=repr)
@pytest.mark.parametrize("role", ["editor", "author", "viewer"])
def test_other_roles_need_no_proof(app_client, admin, grant, role):
    grant.send(app_client, signed_in_ago(admin, 3600), role, CREATED[grant.name])
    assert grant.given(role)


@pytest.mark.parametrize("grant", GRANTS, ids=repr)
def test_an_api_token_gives_the_admin_role_only_with_its_owners_password(app_client, admin, grant):
    """A token tells no sign-in time: it is never a recent sign-in."""
    recent = bearer(login(app_client, "boss@example.com").json["token"])
    body = {"name": "users", "permissions": ["users.create", "users.update", "users.roles"]}
    token = bearer(app_client.post_json("/api/tokens", body, headers=recent, status=201).json["data"]["token"])
    assert grant.send(app_client, token, "admin", 403).json["error"] == PROOF_NEEDED
    assert not grant.given("admin")
    grant.send(app_client, token, "admin", CREATED[grant.name], current_password=PASSWORD)
    assert grant.given("admin")


def test_an_admin_kept_admin_needs_no_proof(app_client, admin):
    """Sending a user back with the role they hold gives nothing."""
    other = create_user("admin", email="other-admin@example.com")
    changed = app_client.patch_json(f"/admin/api/users/{other.id}", {"role": "admin", "first_name": "Still"},
                                    headers=signed_in_ago(admin, 3600))
    assert changed.json["data"]["first_name"] == "Still"


def test_the_openapi_document_offers_current_password(app_client):
    schemas = app_client.get("/api/openapi.json").json["components"]["schemas"]
    for name in ("CreateUserBody", "InviteBody", "UserPatch", "ResendBody"):
        assert "current_password" in schemas[name]["properties"], name


def test_the_openapi_document_lets_a_resend_leave_its_body_out(app_client):
    resend = app_client.get("/api/openapi.json").json["paths"]["/admin/api/users/{user_id}/invitation"]["post"]
    assert resend["requestBody"]["required"] is False


# -- the admin's forms ---------------------------------------------------------------------------


def sign_in_long_ago(browser, user):
    """Make ``browser``'s session one of a sign-in an hour ago (still valid)."""
    (cookie,) = (c for c in browser.cookiejar if c.name == "auth_token")
    cookie.value = issue_jwt(user, settings_for_tests(), now=int(time.time()) - 3600)


def list_form(page, action):
    """The form of the users list ``page`` posting to ``action``."""
    return next(form for form in page.forms.values() if form.action == action)


def test_the_new_user_form_asks_an_old_sign_in_for_the_password_to_create_an_admin(browser, signed_in_as):
    boss = signed_in_as("admin")
    assert not browser.get("/admin/users/new").html.select_one("#new-current-password")
    sign_in_long_ago(browser, boss)
    form = browser.get("/admin/users/new").forms["new-user-form"]
    assert not form.html.select_one("#new-current-password").has_attr("required")  # other roles go without
    form["email"], form["password"], form["role"], form["first_name"] = "made@example.com", PASSWORD, "admin", "Ma"
    refused = form.submit(status=403)
    assert refused.html.select_one("#new-current-password")["aria-invalid"] == "true"
    assert refused.html.select_one("#new-current-password-error").get_text() == OLD_SIGN_IN
    form = refused.forms["new-user-form"]
    assert (form["email"].value, form["role"].value, form["first_name"].value) == ("made@example.com", "admin", "Ma")
    assert not User.select().where(User.email == "made@example.com").exists()
    form["password"], form["current_password"] = PASSWORD, "not the password"
    wrong = form.submit(status=422)
    assert wrong.html.select_one("#new-current-password-error").get_text() == "Current password is incorrect"
    form = wrong.forms["new-user-form"]
    form["password"], form["current_password"] = PASSWORD, PASSWORD
    form.submit(status=303)
    assert User.get(User.email == "made@example.com").role == "admin"
    form = browser.get("/admin/users/new").forms["new-user-form"]
    form["email"], form["password"], form["role"] = "editor@example.com", PASSWORD, "editor"
    form.submit(status=303)
    assert User.get(User.email == "editor@example.com").role == "editor"


def test_the_invite_form_asks_an_old_sign_in_for_the_password_to_invite_an_admin(browser, signed_in_as):
    boss = signed_in_as("admin")
    assert not browser.get("/admin/users").html.select_one("#inv-current-password")
    sign_in_long_ago(browser, boss)
    form = browser.get("/admin/users").forms["invite-form"]
    form["email"], form["role"], form["last_name"] = "invited@example.com", "admin", "Vited"
    refused = form.submit(status=403)
    assert refused.html.select_one("#inv-current-password-error").get_text() == OLD_SIGN_IN
    assert refused.html.select_one("details").has_attr("open")
    form = refused.forms["invite-form"]
    assert (form["email"].value, form["role"].value, form["last_name"].value) == (
        "invited@example.com", "admin", "Vited")
    assert not User.select().where(User.email == "invited@example.com").exists()
    form["current_password"] = "not the password"
    assert "Current password is incorrect" in form.submit(status=422).text
    form["current_password"] = PASSWORD
    form.submit(status=303)
    assert User.get(User.email == "invited@example.com").role == "admin"
    form = browser.get("/admin/users").forms["invite-form"]
    form["email"], form["role"] = "author@example.com", "author"
    form.submit(status=303)
    assert User.get(User.email == "author@example.com").role == "author"


def test_the_role_change_asks_an_old_sign_in_for_the_password_to_make_an_admin(browser, signed_in_as):
    boss = signed_in_as("admin")
    person = create_user("viewer", email="promoted@example.com")
    action = f"/admin/users/{person.id}/role"
    assert not browser.get("/admin/users").html.select_one(f"#role-password-{person.id}")
    sign_in_long_ago(browser, boss)
    form = next(f for f in browser.get("/admin/users").forms.values() if f.action == action)
    form["role"] = "admin"
    refused = form.submit(status=403)
    assert refused.html.select_one(f"#role-password-{person.id}-error").get_text() == OLD_SIGN_IN
    form = next(f for f in refused.forms.values() if f.action == action)
    assert form["role"].value == "admin"
    assert User.get_by_id(person.id).role == "viewer"
    form["current_password"] = "not the password"
    assert "Current password is incorrect" in form.submit(status=422).text
    assert User.get_by_id(person.id).role == "viewer"
    form["current_password"] = PASSWORD
    form.submit(status=303)
    assert User.get_by_id(person.id).role == "admin"
    other = create_user("viewer")
    browser.post(f"/admin/users/{other.id}/role", {"role": "editor"}, headers=csrf_headers(browser), status=303)
    assert User.get_by_id(other.id).role == "editor"


def test_the_list_asks_an_old_sign_in_for_the_password_to_resend_an_admins_invitation(browser, signed_in_as, outbox):
    boss = signed_in_as("admin")
    admin_invite, author_invite = _pending_invitation("admin"), _pending_invitation("author")
    action = f"/admin/users/{admin_invite.id}/resend"
    assert not browser.get("/admin/users").html.select_one(f"#resend-password-{admin_invite.id}")
    sign_in_long_ago(browser, boss)
    page = browser.get("/admin/users")
    assert not page.html.select_one(f"#resend-password-{author_invite.id}")
    refused = list_form(page, action).submit(status=403)
    assert refused.html.select_one(f"#resend-password-{admin_invite.id}-error").get_text() == OLD_SIGN_IN
    assert not _resent("admin") and outbox.tokens("invitation") == []
    form = list_form(refused, action)
    form["current_password"] = "not the password"
    assert "Current password is incorrect" in form.submit(status=422).text
    form["current_password"] = PASSWORD
    form.submit(status=303)
    assert _resent("admin") and len(outbox.tokens("invitation")) == 1
    list_form(browser.get("/admin/users"), f"/admin/users/{author_invite.id}/resend").submit(status=303)
    assert _resent("author")


# -- handing over an admin's account ---------------------------------------------------------------


def old_sign_in_to(action):
    """The refusal's message on ``current_password`` for ``action`` after an old sign-in."""
    return f"To {action}, enter your current password, or sign in again: your sign-in is more than 10 minutes old"


class Handover:
    """A change to another user that would hand over their account were they an admin:
    ``change`` is the PATCH body, ``made`` tells whether it was stored on the user."""

    def __init__(self, name, change, made, action, active=True):
        self.name, self.change, self.made, self.action, self.active = name, change, made, action, active

    def target(self, role):
        """A user of ``role`` this change can be made to."""
        return create_user(role, password_hash=hashed(), is_active=self.active)

    def __repr__(self):
        return self.name


HANDOVERS = [
    Handover("email", {"email": "taken-over@example.com"}, lambda user: user.email == "taken-over@example.com",
             "set an admin's email or password"),
    Handover("password", {"password": NEW_PASSWORD}, lambda user: user.password_hash != hashed(),
             "set an admin's email or password"),
    Handover("reactivate", {"is_active": True}, lambda user: user.is_active, "reactivate an admin", active=False),
]


def patch_user(client, headers, target, body, status):
    return client.patch_json(f"/admin/api/users/{target.id}", body, headers=headers, status=status)


@pytest.mark.parametrize("handover", HANDOVERS, ids=repr)
def test_an_old_sign_in_hands_over_an_admin_only_with_the_password(app_client, admin, handover):
    target, old = handover.target("admin"), signed_in_ago(admin, 3600)
    refused = patch_user(app_client, old, target, handover.change, 403)
    assert refused.json == {"error": PROOF_NEEDED, "details": [
        {"field": "current_password", "message": old_sign_in_to(handover.action)}]}
    assert not handover.made(User.get_by_id(target.id))
    patch_user(app_client, old, target, {**handover.change, "current_password": PASSWORD}, 200)
    assert handover.made(User.get_by_id(target.id))


@pytest.mark.parametrize("handover", HANDOVERS, ids=repr)
def test_a_recent_sign_in_hands_over_an_admin(app_client, admin, handover):
    target = handover.target("admin")
    recent = bearer(login(app_client, "boss@example.com").json["token"])
    patch_user(app_client, recent, target, handover.change, 200)
    assert handover.made(User.get_by_id(target.id))


@pytest.mark.parametrize("handover", HANDOVERS, ids=repr)
def test_an_api_token_hands_over_an_admin_only_with_its_owners_password(app_client, admin, handover):
    target = handover.target("admin")
    recent = bearer(login(app_client, "boss@example.com").json["token"])
    body = {"name": "users", "permissions": ["users.update", "users.roles"]}
    token = bearer(app_client.post_json("/api/tokens", body, headers=recent, status=201).json["data"]["token"])
    assert patch_user(app_client, token, target, handover.change, 403).json["error"] == PROOF_NEEDED
    assert not handover.made(User.get_by_id(target.id))
    patch_user(app_client, token, target, {**handover.change, "current_password": PASSWORD}, 200)
    assert handover.made(User.get_by_id(target.id))


@pytest.mark.parametrize("handover", HANDOVERS, ids=repr)
@pytest.mark.parametrize("role", ["editor", "author", "viewer"])
def test_a_user_who_is_no_admin_is_changed_without_proof(app_client, admin, handover, role):
    target = handover.target(role)
    patch_user(app_client, signed_in_ago(admin, 3600), target, handover.change, 200)
    assert handover.made(User.get_by_id(target.id))


def test_a_change_that_makes_an_admin_and_sets_the_password_needs_the_proof_once(app_client, admin):
    target, old = create_user("viewer", password_hash=hashed()), signed_in_ago(admin, 3600)
    assert patch_user(app_client, old, target, {"role": "admin", "password": NEW_PASSWORD}, 403).json["details"] == [
        {"field": "current_password", "message": OLD_SIGN_IN}]
    patch_user(app_client, old, target, {"role": "admin", "password": NEW_PASSWORD, "current_password": PASSWORD}, 200)
    assert User.get_by_id(target.id).role == "admin"


def test_an_admins_email_sent_back_as_stored_and_an_active_admin_kept_active_need_no_proof(app_client, admin):
    """An edit sending every field back sets neither credential nor reactivates anyone."""
    target = create_user("admin", email="Kept@Example.com")
    changed = patch_user(app_client, signed_in_ago(admin, 3600), target,
                         {"email": "Kept@Example.com", "is_active": True, "first_name": "Same"}, 200)
    assert changed.json["data"]["first_name"] == "Same" and User.get_by_id(target.id).email == "Kept@Example.com"


@pytest.mark.parametrize("db_backend", ["postgres"], indirect=True)
def test_a_user_made_an_admin_while_their_password_is_set_needs_the_proof(app_client, admin, seeded_postgres):
    """Checked again on the row the write reads: a promotion committed while the request
    waits makes its new password an admin's. PostgreSQL only: there the promotion,
    uncommitted, holds the row while the request first reads it as it was."""
    target = create_user("editor", password_hash=hashed())
    old = signed_in_ago(admin, 3600)
    refused = answer_once_committed(seeded_postgres.url, "UPDATE users SET role = 'admin' WHERE id = %s", (target.id,),
                                    lambda: patch_user(app_client, old, target, {"password": NEW_PASSWORD}, "*"))
    assert refused.status_int == 403
    assert refused.json["details"] == [
        {"field": "current_password", "message": old_sign_in_to("set an admin's email or password")}]
    assert User.get_by_id(target.id).password_hash == hashed()


def test_the_edit_form_asks_an_old_sign_in_for_the_password_to_change_an_admins_email(browser, signed_in_as):
    boss = signed_in_as("admin")
    person, editor = create_user("admin", email="second@example.com"), create_user("editor")
    assert not browser.get(f"/admin/users/{person.id}").html.select_one("#edit-current-password")
    sign_in_long_ago(browser, boss)
    assert not browser.get(f"/admin/users/{editor.id}").html.select_one("#edit-current-password")
    form = browser.get(f"/admin/users/{person.id}").forms["user-form"]
    form["first_name"] = "Renamed"
    form.submit(status=303)  # names need no proof
    form = browser.get(f"/admin/users/{person.id}").forms["user-form"]
    form["email"], form["last_name"] = "taken-over@example.com", "Typed"
    refused = form.submit(status=403)
    assert refused.html.select_one("#edit-current-password")["aria-invalid"] == "true"
    assert refused.html.select_one("#edit-current-password-error").get_text() == old_sign_in_to(
        "set an admin's email or password")
    form = refused.forms["user-form"]
    assert (form["email"].value, form["last_name"].value) == ("taken-over@example.com", "Typed")
    assert User.get_by_id(person.id).email == "second@example.com"
    form["current_password"] = "not the password"
    wrong = form.submit(status=422)
    assert wrong.html.select_one("#edit-current-password-error").get_text() == "Current password is incorrect"
    form = wrong.forms["user-form"]
    form["current_password"] = PASSWORD
    form.submit(status=303)
    assert User.get_by_id(person.id).email == "taken-over@example.com"


def test_the_edit_form_asks_an_old_sign_in_for_the_password_to_set_an_admins_password(browser, signed_in_as):
    boss = signed_in_as("admin")
    person = create_user("admin", password_hash=hashed())
    sign_in_long_ago(browser, boss)
    form = browser.get(f"/admin/users/{person.id}").forms["user-form"]
    form["password"] = NEW_PASSWORD
    refused = form.submit(status=403)
    assert "your sign-in is more than" in refused.html.select_one("#edit-current-password-error").get_text()
    assert User.get_by_id(person.id).password_hash == hashed()
    form = refused.forms["user-form"]
    form["password"], form["current_password"] = NEW_PASSWORD, PASSWORD
    form.submit(status=303)
    assert User.get_by_id(person.id).password_hash != hashed()
    editor = create_user("editor", password_hash=hashed())
    form = browser.get(f"/admin/users/{editor.id}").forms["user-form"]
    form["password"] = NEW_PASSWORD
    form.submit(status=303)
    assert User.get_by_id(editor.id).password_hash != hashed()


def test_the_list_asks_an_old_sign_in_for_the_password_to_reactivate_an_admin(browser, signed_in_as):
    boss = signed_in_as("admin")
    person = create_user("admin", email="resting@example.com", is_active=False)
    action = f"/admin/users/{person.id}/reactivate"
    assert not browser.get("/admin/users").html.select_one(f"#reactivate-password-{person.id}")
    sign_in_long_ago(browser, boss)
    form = next(f for f in browser.get("/admin/users").forms.values() if f.action == action)
    refused = form.submit(status=403)
    assert refused.html.select_one(f"#reactivate-password-{person.id}-error").get_text() == old_sign_in_to(
        "reactivate an admin")
    assert not User.get_by_id(person.id).is_active
    form = next(f for f in refused.forms.values() if f.action == action)
    form["current_password"] = "not the password"
    assert "Current password is incorrect" in form.submit(status=422).text
    assert not User.get_by_id(person.id).is_active
    form["current_password"] = PASSWORD
    form.submit(status=303)
    assert User.get_by_id(person.id).is_active
    other = create_user("editor", is_active=False)
    assert not browser.get("/admin/users").html.select_one(f"#reactivate-password-{other.id}")
    browser.post(f"/admin/users/{other.id}/reactivate", {}, headers=csrf_headers(browser), status=303)
    assert User.get_by_id(other.id).is_active


@pytest.mark.parametrize("db_backend", ["postgres"], indirect=True)
def test_a_reactivation_that_came_to_need_the_proof_asks_for_it_on_the_list(browser, signed_in_as,
                                                                              seeded_postgres):
    """Refused by the write's own check (the user made an admin while the request waited),
    the list answers as for a refusal found before the write: the field and its message.
    PostgreSQL only, as ``test_a_user_made_an_admin_while_their_password_is_set_needs_the_proof``."""
    boss = signed_in_as("admin")
    person = create_user("editor", is_active=False)
    sign_in_long_ago(browser, boss)
    form = list_form(browser.get("/admin/users"), f"/admin/users/{person.id}/reactivate")
    refused = answer_once_committed(seeded_postgres.url, "UPDATE users SET role = 'admin' WHERE id = %s",
                                    (person.id,), lambda: form.submit(status="*"))
    assert refused.status_int == 403
    assert refused.html.select_one(f"#reactivate-password-{person.id}-error").get_text() == old_sign_in_to(
        "reactivate an admin")
    assert not User.get_by_id(person.id).is_active
    form = list_form(refused, f"/admin/users/{person.id}/reactivate")
    form["current_password"] = PASSWORD
    form.submit(status=303)
    assert User.get_by_id(person.id).is_active


@pytest.mark.parametrize("db_backend", ["postgres"], indirect=True)
def test_a_role_change_that_came_to_need_the_proof_asks_for_it_on_the_list(browser, signed_in_as, seeded_postgres):
    """An admin's row sent back as admin gives nothing, unless they were demoted meanwhile:
    then it makes an admin, and the write's check asks for the proof on the row's form."""
    boss = signed_in_as("admin")
    person = create_user("admin")
    sign_in_long_ago(browser, boss)
    form = list_form(browser.get("/admin/users"), f"/admin/users/{person.id}/role")
    assert form["role"].value == "admin"
    refused = answer_once_committed(seeded_postgres.url, "UPDATE users SET role = 'editor' WHERE id = %s",
                                    (person.id,), lambda: form.submit(status="*"))
    assert refused.status_int == 403
    assert refused.html.select_one(f"#role-password-{person.id}-error").get_text() == OLD_SIGN_IN
    assert list_form(refused, f"/admin/users/{person.id}/role")["role"].value == "admin"
    assert User.get_by_id(person.id).role == "editor"


@pytest.mark.parametrize("db_backend", ["postgres"], indirect=True)
def test_an_edit_past_the_sign_in_limits_on_write_says_so_by_the_password_field(env, outbox, seeded_postgres):
    """A 429 of the write's own proof (the user made an admin while the request waited) is
    the current-password field's, as the refusal found before the write is, with its wait."""
    browser = browser_for(env, outbox, rate_limit_attempts=1)
    bind_models(env.DB.db)
    boss, person = create_user("admin", password_hash=hashed()), create_user("editor", password_hash=hashed())
    assert sign_in(browser, boss).status_int == 303
    form = browser.get(f"/admin/users/{person.id}").forms["user-form"]
    assert sign_in(browser_for(env, outbox, rate_limit_attempts=1), boss, password="wrong", status=401)
    fields = {**dict(form.submit_fields()), "password": NEW_PASSWORD, "current_password": PASSWORD}
    limited = answer_once_committed(seeded_postgres.url, "UPDATE users SET role = 'admin' WHERE id = %s",
                                    (person.id,), lambda: browser.post(form.action, fields, status="*"))
    assert limited.status_int == 429 and int(limited.headers["Retry-After"]) > 0
    assert f"try again in {limited.headers['Retry-After']} seconds" in limited.html.select_one(
        "#edit-current-password-error").get_text()
    assert not limited.html.select_one("p.message.error")
    assert User.get_by_id(person.id).password_hash == hashed()


def test_a_password_filled_in_for_a_change_that_needs_no_proof_is_not_read(browser, signed_in_as):
    """Once the sign-in is old every row's role change shows the field, and a browser may
    fill it in by itself: a wrong one refuses only the changes that need the proof."""
    boss = signed_in_as("admin")
    editor, resting = create_user("editor"), create_user("author", is_active=False)
    sign_in_long_ago(browser, boss)
    page = browser.get("/admin/users")
    form = list_form(page, f"/admin/users/{editor.id}/role")
    form["role"], form["current_password"] = "author", "filled in by the browser"
    form.submit(status=303)
    assert User.get_by_id(editor.id).role == "author"
    headers = csrf_headers(browser)
    browser.post(f"/admin/users/{resting.id}/reactivate", {"current_password": "filled in"}, headers=headers,
                 status=303)
    assert User.get_by_id(resting.id).is_active
    form = browser.get("/admin/users").forms["invite-form"]
    form["email"], form["role"], form["current_password"] = "author@example.com", "author", "filled in"
    form.submit(status=303)
    form = browser.get("/admin/users/new").forms["new-user-form"]
    form["email"], form["password"], form["role"] = "editor@example.com", PASSWORD, "editor"
    form["current_password"] = "filled in"
    form.submit(status=303)
    assert User.get(User.email == "editor@example.com").role == "editor"
    form = list_form(browser.get("/admin/users"), f"/admin/users/{editor.id}/role")
    form["role"], form["current_password"] = "admin", "filled in by the browser"
    assert "Current password is incorrect" in form.submit(status=422).text  # read where it is needed
    assert User.get_by_id(editor.id).role == "author"


def test_a_name_saved_on_an_admins_page_does_not_read_a_password_filled_in(browser, signed_in_as):
    boss = signed_in_as("admin")
    person = create_user("admin")
    sign_in_long_ago(browser, boss)
    form = browser.get(f"/admin/users/{person.id}").forms["user-form"]
    form["first_name"], form["current_password"] = "Renamed", "filled in by the browser"
    form.submit(status=303)
    assert User.get_by_id(person.id).first_name == "Renamed"


# -- past the sign-in limits -----------------------------------------------------------------------


def _invite_admin(browser, _boss):
    return "/admin/users/invite", {"email": f"invited{next(_emails)}@example.com", "role": "admin"}


def _create_admin(browser, _boss):
    return "/admin/users/new", {"email": f"made{next(_emails)}@example.com", "password": PASSWORD, "role": "admin"}


def _promote_on_the_list(browser, _boss):
    return f"/admin/users/{create_user('viewer').id}/role", {"role": "admin"}


def _reactivate_an_admin(browser, _boss):
    return f"/admin/users/{create_user('admin', is_active=False).id}/reactivate", {}


def _set_an_admins_email(browser, _boss):
    person = create_user("admin")
    return f"/admin/users/{person.id}", {"username": person.username, "email": f"new{next(_emails)}@example.com"}


def _create_a_token(browser, _boss):
    return "/admin/account/tokens", {"name": "script", "permissions": "content.read"}


PROVING_FORMS = [_invite_admin, _create_admin, _promote_on_the_list, _reactivate_an_admin, _set_an_admins_email,
                 _create_a_token]


@pytest.mark.parametrize("proving_form", PROVING_FORMS, ids=lambda form: form.__name__.strip("_"))
def test_a_form_past_the_sign_in_limits_says_when_to_try_again_in_retry_after(env, outbox, proving_form):
    """As the API's 429 does: the page says the wait in words, the header for the client."""
    browser = browser_for(env, outbox, rate_limit_attempts=1)
    bind_models(env.DB.db)
    boss = create_user("admin", password_hash=hashed())
    assert sign_in(browser, boss).status_int == 303
    action, fields = proving_form(browser, boss)
    browser.post(action, {**fields, "current_password": "not the password"}, headers=csrf_headers(browser),
                 status=422)
    limited = browser.post(action, {**fields, "current_password": PASSWORD}, headers=csrf_headers(browser),
                           status=429)
    assert int(limited.headers["Retry-After"]) > 0
    assert f"try again in {limited.headers['Retry-After']} seconds" in limited.text


def test_a_resend_with_nul_in_the_password_is_said_by_the_field(browser, signed_in_as, outbox):
    """A NUL pasted into a row's current password is that field's problem, not the error page."""
    boss = signed_in_as("admin")
    invited = _pending_invitation("admin")
    sign_in_long_ago(browser, boss)
    form = list_form(browser.get("/admin/users"), f"/admin/users/{invited.id}/resend")
    form["current_password"] = "pass\x00word"
    refused = form.submit(status=422)
    assert "\x00" not in refused.text and "Invalid input" not in refused.text
    assert refused.html.select_one(f"#resend-password-{invited.id}-error").get_text() == (
        "NUL characters are not allowed")
    assert outbox.tokens("invitation") == []


@pytest.mark.parametrize("db_backend", ["postgres"], indirect=True)
def test_a_resend_meets_a_promotion_committed_meanwhile(app_client, admin, seeded_postgres):
    """The link is renewed only for the role the caller's right and proof were checked for: a
    promotion to admin committed while the resend waits is a 409 and no new link. PostgreSQL
    only: there the promotion, uncommitted, holds the row while the request first reads it."""
    pending = _pending_invitation("editor")
    old = signed_in_ago(admin, 3600)
    refused = answer_once_committed(
        seeded_postgres.url, "UPDATE users SET role = 'admin' WHERE id = %s", (pending.id,),
        lambda: app_client.post(f"/admin/api/users/{pending.id}/invitation", headers=old, status="*"))
    assert (refused.status_int, refused.json["error"]) == (409, ROLE_CHANGED_MEANWHILE)
    assert User.get_by_id(pending.id).invitation_token == UNSENT
