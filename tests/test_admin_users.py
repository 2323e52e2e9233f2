"""Admin pages for users beyond the list: a new user, a user's page and its edit form, resending
and cancelling invitations, the last admin, and one's own profile (/admin/account)."""


import pytest

from app.db.models import Permission, RolePermission, User
from tests.fixtures.admin import csrf_headers, sign_in
from tests.fixtures.auth import PASSWORD, hashed
from tests.fixtures.busy_database import answer_once_committed
from tests.fixtures.users import bearer, create_user, token_for

pytestmark = pytest.mark.backends

NEW_PASSWORD = "another fine password"


def grant(role, *names):
    """Give ``role`` the permissions ``names`` (before the app first reads the role's set)."""
    for name in names:
        RolePermission.create(role=role, permission=Permission.get(Permission.name == name))


def form_for(page, action):
    return next(form for form in page.forms.values() if form.action == action)


# -- a new user ------------------------------------------------------------------------------------


def test_admins_create_a_user_who_signs_in_with_the_password(browser, signed_in_as):
    signed_in_as("admin")
    page = browser.get("/admin/users")
    assert page.html.select_one("a[href='/admin/users/new']")
    form = browser.get("/admin/users/new").forms["new-user-form"]
    form["email"], form["password"], form["role"] = "made@example.com", PASSWORD, "author"
    form["first_name"], form["last_name"] = "Ma", "De"
    response = form.submit(status=303)
    made = User.get(User.email == "made@example.com")
    assert response.location.endswith(f"/admin/users/{made.id}?done=created")
    assert "User created." in response.follow().text
    assert (made.role, made.username, made.first_name, made.is_active) == ("author", "made", "Ma", True)
    browser.reset()
    assert sign_in(browser, made).status_int == 303


def test_the_new_user_form_shows_its_refusals(browser, signed_in_as):
    signed_in_as("admin")
    create_user("viewer", email="taken@example.com", username="taken")
    cases = (({"email": "not-an-email"}, 422, "Enter a valid email address."),
             ({"password": ""}, 422, "Choose a password."),
             ({"password": "short"}, 422, "at least"),
             ({"username": "a b"}, 422, "A username is 3 to 50"),
             ({"email": "TAKEN@example.com"}, 409, "A user with this email already exists"),
             ({"username": "taken"}, 409, "A user with this username already exists"))
    for values, status, message in cases:
        form = browser.get("/admin/users/new").forms["new-user-form"]
        form["email"], form["password"] = "fresh@example.com", PASSWORD
        for name, value in values.items():
            form[name] = value
        page = form.submit(status=status)
        assert message in page.text, values
        assert page.forms["new-user-form"]["email"].value == values.get("email", "fresh@example.com")
    assert not User.select().where(User.email == "fresh@example.com").exists()


def label_of(page, form_id, name):
    """The words ``form_id``'s label shows for its field ``name``, less the hint in its ``<small>``."""
    field = page.html.select_one(f"#{form_id} [name={name}]")
    label = page.html.select_one(f"#{form_id} label[for={field['id']}]")
    return "".join(text for text in label.find_all(string=True, recursive=False)).strip()


def refusal_line(page):
    return page.html.select_one("p.message.error[role=alert]").get_text(strip=True)


def test_the_new_user_forms_refusals_name_each_field_by_its_label(browser, signed_in_as):
    signed_in_as("admin")
    create_user("viewer", email="taken@example.com", username="taken")
    cases = (("first_name", "Ada\x00", 422, "First name", "NUL characters are not allowed"),
             ("last_name", "Love\x00lace", 422, "Last name", "NUL characters are not allowed"),
             ("password", "short", 422, "Password", "Password must be at least"),
             ("username", "taken", 409, "Username", "A user with this username already exists"),
             ("email", "TAKEN@example.com", 409, "Email", "A user with this email already exists"))
    for name, value, status, label, said in cases:
        page = browser.get("/admin/users/new")
        assert label_of(page, "new-user-form", name) == label
        form = page.forms["new-user-form"]
        form["email"], form["password"] = "fresh@example.com", PASSWORD
        form[name] = value
        refused = form.submit(status=status)
        assert refusal_line(refused).startswith(f"{label}: {said}"), name
    assert not User.select().where(User.email == "fresh@example.com").exists()


def test_creating_users_is_for_users_create_and_roles_above_viewer_for_users_roles(browser, signed_in_as):
    grant("editor", "users.create")
    signed_in_as("editor")
    page = browser.get("/admin/users/new")
    assert list(page.forms["new-user-form"]["role"].options) == [("viewer", True, "Viewer")]
    body = {"email": "climber@example.com", "password": PASSWORD, "role": "admin"}
    browser.post("/admin/users/new", body, headers=csrf_headers(browser), status=403)
    assert not User.select().where(User.email == "climber@example.com").exists()
    browser.post("/admin/users/new", {**body, "role": "viewer"}, headers=csrf_headers(browser), status=303)
    browser.reset()
    signed_in_as("author")
    browser.get("/admin/users/new", status=403)
    browser.post("/admin/users/new", body, headers=csrf_headers(browser), status=403)


# -- a user's page --------------------------------------------------------------------------------


def test_the_list_links_each_user_to_their_page_and_it_edits_them(browser, signed_in_as, env):
    signed_in_as("admin")
    member = create_user("viewer", email="member@example.com", password_hash=hashed())
    member_session = bearer(token_for(member))
    page = browser.get("/admin/users")
    assert page.html.select_one(f"#user-{member.id} a[href='/admin/users/{member.id}']")
    form = browser.get(f"/admin/users/{member.id}").forms["user-form"]
    form["first_name"], form["username"] = "Mem", "mem.ber"
    assert "Changes saved." in form.submit(status=303).follow().text
    stored = User.get_by_id(member.id)
    assert (stored.first_name, stored.username) == ("Mem", "mem.ber")
    browser.get("/auth/me", headers={**member_session, "Accept": "application/json"}, status=200)
    form = browser.get(f"/admin/users/{member.id}").forms["user-form"]
    form["email"], form["password"] = "moved@example.com", NEW_PASSWORD
    form.submit(status=303)
    browser.get("/auth/me", headers={**member_session, "Accept": "application/json"}, status=401)
    moved = User.get_by_id(member.id)
    assert moved.email == "moved@example.com"
    browser.reset()
    assert sign_in(browser, moved, NEW_PASSWORD).status_int == 303


def test_the_edit_form_shows_its_refusals_and_keeps_what_was_typed(browser, signed_in_as):
    signed_in_as("admin")
    create_user("viewer", email="holder@example.com", username="holder")
    member = create_user("viewer")
    for values, status, message in ((({"username": "holder"}), 409, "A user with this username already exists"),
                                    ({"email": "HOLDER@example.com"}, 409, "A user with this email already exists"),
                                    ({"email": "nope"}, 422, "Enter a valid email address."),
                                    ({"password": "short"}, 422, "at least")):
        form = browser.get(f"/admin/users/{member.id}").forms["user-form"]
        form["first_name"] = "Typed"
        for name, value in values.items():
            form[name] = value
        page = form.submit(status=status)
        assert message in page.text and page.forms["user-form"]["first_name"].value == "Typed"
    assert User.get_by_id(member.id).first_name == member.first_name


def test_the_edit_forms_refusals_name_each_field_by_its_label(browser, signed_in_as):
    signed_in_as("admin")
    create_user("viewer", email="holder@example.com", username="holder")
    member = create_user("viewer", first_name="Grace")
    cases = (("first_name", "Gr\x00ace", 422, "First name", "NUL characters are not allowed"),
             ("username", "holder", 409, "Username", "A user with this username already exists"),
             ("email", "HOLDER@example.com", 409, "Email", "A user with this email already exists"),
             ("password", "short", 422, "New password", "Password must be at least"))
    for name, value, status, label, said in cases:
        page = browser.get(f"/admin/users/{member.id}")
        assert label_of(page, "user-form", name) == label
        form = page.forms["user-form"]
        form[name] = value
        refused = form.submit(status=status)
        assert refusal_line(refused).startswith(f"{label}: {said}"), name
    assert User.get_by_id(member.id).first_name == "Grace"


def test_nobody_changes_their_own_email_or_password_on_their_page(browser, signed_in_as, outbox):
    admin = signed_in_as("admin", email="me@example.com")
    page = browser.get(f"/admin/users/{admin.id}")
    form = page.forms["user-form"]
    assert "email" not in form.fields and "password" not in form.fields
    assert page.html.select_one("#own-credentials a[href='/admin/account/password']")
    form["first_name"] = "Still"
    form.submit(status=303).follow(status=200)
    assert User.get_by_id(admin.id).first_name == "Still"
    for body in ({"email": "mine-now@example.com"}, {"email": "me@example.com", "password": NEW_PASSWORD}):
        browser.post(f"/admin/users/{admin.id}", {"username": admin.username, **body},
                     headers=csrf_headers(browser), status=403)
    stored = User.get_by_id(admin.id)
    assert stored.email == "me@example.com" and stored.password_hash == admin.password_hash
    # A browser's form post: on to the page saying a link went out, whether or not one did.
    browser.post("/auth/request-password-reset", {"email": "mine-now@example.com"}, status=303)
    assert not outbox.sent
    assert browser.get("/admin").status_int == 200  # the session goes on: nothing changed


def test_an_active_account_with_a_leftover_invitation_is_edited_as_any_other(browser, signed_in_as):
    """A token left on an active account (by create-admin before it withdrew invitations) is
    no open invitation: its page has the email and password fields, its row no invitation buttons."""
    signed_in_as("admin")
    boss = create_user("admin", email="boss@example.com", username="boss", password_hash=hashed(),
                       invitation_token="left-over-digest")
    page = browser.get(f"/admin/users/{boss.id}")
    assert not page.html.select_one("#pending-credentials")
    form = page.forms["user-form"]
    form["email"] = "moved@example.com"
    form.submit(status=303)
    assert User.get_by_id(boss.id).email == "moved@example.com"
    listing = browser.get("/admin/users")
    assert listing.html.select_one(f"form[action='/admin/users/{boss.id}/deactivate']")
    assert not listing.html.select_one(f"form[action='/admin/users/{boss.id}/resend']")


def test_an_address_the_form_would_refuse_does_not_block_a_save_that_keeps_it(browser, signed_in_as):
    """Stored before the form's rule, or set another way: the form judges only a new address."""
    admin = signed_in_as("admin", email="me@example.com")
    User.update(email="me@localhost").where(User.id == admin.id).execute()
    form = browser.get(f"/admin/users/{admin.id}").forms["user-form"]
    form["first_name"] = "Renamed"
    form.submit(status=303)
    other = create_user("viewer", email="them@localhost")
    form = browser.get(f"/admin/users/{other.id}").forms["user-form"]
    form["last_name"] = "Kept"
    form.submit(status=303)
    assert User.get_by_id(admin.id).first_name == "Renamed" and User.get_by_id(other.id).last_name == "Kept"
    form = browser.get(f"/admin/users/{other.id}").forms["user-form"]
    form["email"] = "still@localhost"
    assert "Enter a valid email address." in form.submit(status=422).text


@pytest.mark.parametrize("legacy", ["Zoë", "two words"])
def test_a_legacy_username_does_not_block_a_save_that_keeps_it(browser, signed_in_as, legacy):
    """An older install took usernames today's rule refuses: the forms send them back as stored
    and save the names; a new username (a case change too) obeys the rule."""
    me = signed_in_as("admin", username=legacy)
    old = create_user("viewer", username=legacy.upper() + "!")
    for path, form_id, person in ((f"/admin/users/{old.id}", "user-form", old), ("/admin/account", "profile-form", me)):
        form = browser.get(path).forms[form_id]
        form["first_name"] = "Kept"
        form.submit(status=303)
        assert (User.get_by_id(person.id).username, User.get_by_id(person.id).first_name) == (person.username, "Kept")
        form = browser.get(path).forms[form_id]
        form["first_name"], form["username"] = "Lost", person.username.swapcase()
        assert "A username is 3 to 50" in form.submit(status=422).text
        assert User.get_by_id(person.id).first_name == "Kept"


@pytest.mark.parametrize("legacy", [" Zoë", "zoe "])
def test_a_legacy_username_with_spaces_at_an_end_is_kept_as_stored(browser, signed_in_as, legacy):
    """The forms trim what is typed: a username an older install stored with spaces at an end
    comes back without them and is still the same name, neither refused nor renamed."""
    me = signed_in_as("admin", username=legacy)
    old = create_user("viewer", username=legacy.replace("o", "a"))
    for path, form_id, person in ((f"/admin/users/{old.id}", "user-form", old), ("/admin/account", "profile-form", me)):
        form = browser.get(path).forms[form_id]
        form["first_name"] = "Kept"
        form.submit(status=303)
        assert (User.get_by_id(person.id).username, User.get_by_id(person.id).first_name) == (person.username, "Kept")


@pytest.mark.parametrize("db_backend", ["postgres"], indirect=True)
def test_a_profile_save_keeping_the_username_keeps_a_rename_made_meanwhile(browser, signed_in_as, seeded_postgres):
    """The username the profile form sends back unchanged is left out of the write: renamed
    meanwhile (to another name of an older install), the account keeps the new name and the
    form's names are saved. PostgreSQL only: there the rename, uncommitted, holds the row
    while the request reads it as it was; SQLite's writes take turns."""
    me = signed_in_as("viewer", username="Zoë")
    form = browser.get("/admin/account").forms["profile-form"]
    form["first_name"] = "Saved"
    page = answer_once_committed(seeded_postgres.url, "UPDATE users SET username = %s WHERE id = %s", ("Zoé", me.id),
                                 lambda: form.submit(status="*"))
    assert page.status_int == 303
    assert (User.get_by_id(me.id).username, User.get_by_id(me.id).first_name) == ("Zoé", "Saved")


def test_editors_see_a_users_page_but_cannot_edit(browser, signed_in_as):
    signed_in_as("editor")
    member = create_user("viewer", email="member@example.com")
    page = browser.get(f"/admin/users/{member.id}")
    assert "member@example.com" in page.text and "user-form" not in page.forms
    body = {"username": "taken-over", "email": "member@example.com"}
    browser.post(f"/admin/users/{member.id}", body, headers=csrf_headers(browser), status=403)
    assert User.get_by_id(member.id).username == member.username
    browser.get("/admin/users/no-such-user", status=404)


def test_an_admins_credentials_need_users_roles(browser, signed_in_as):
    grant("editor", "users.update")
    signed_in_as("editor")
    other_admin = create_user("admin", email="boss@example.com")
    body = {"username": other_admin.username, "email": "mine-now@example.com"}
    browser.post(f"/admin/users/{other_admin.id}", body, headers=csrf_headers(browser), status=403)
    assert User.get_by_id(other_admin.id).email == "boss@example.com"
    body = {"username": other_admin.username, "email": "boss@example.com", "first_name": "Renamed"}
    browser.post(f"/admin/users/{other_admin.id}", body, headers=csrf_headers(browser), status=303)
    assert User.get_by_id(other_admin.id).first_name == "Renamed"


def test_reactivating_a_user_above_viewer_needs_users_roles(browser, signed_in_as):
    grant("editor", "users.update")
    signed_in_as("editor")
    author = create_user("author", is_active=False)
    viewer = create_user("viewer", is_active=False)
    browser.post(f"/admin/users/{author.id}/reactivate", {}, headers=csrf_headers(browser), status=403)
    assert not User.get_by_id(author.id).is_active
    browser.post(f"/admin/users/{viewer.id}/reactivate", {}, headers=csrf_headers(browser), status=303)
    assert User.get_by_id(viewer.id).is_active


@pytest.mark.parametrize("db_backend", ["postgres"], indirect=True)
def test_reactivating_a_user_promoted_meanwhile_needs_users_roles(browser, signed_in_as, seeded_postgres):
    """Checked again on the row the write reads, as the API checks it: reactivating gives
    the role back. PostgreSQL only: there the promotion, uncommitted, holds the row while the
    request first reads it as it was."""
    grant("editor", "users.update")
    signed_in_as("editor")
    viewer = create_user("viewer", is_active=False)
    form = form_for(browser.get("/admin/users"), f"/admin/users/{viewer.id}/reactivate")
    refused = answer_once_committed(seeded_postgres.url, "UPDATE users SET role = 'author' WHERE id = %s",
                                    (viewer.id,), lambda: form.submit(status="*"))
    assert refused.status_int == 403
    assert refused.html.select_one(".message.error").get_text() == (
        "Reactivating a user above viewer requires the users.roles permission")
    assert not User.get_by_id(viewer.id).is_active


def test_an_open_invitations_page_has_no_credential_fields_and_shows_refusals(browser, signed_in_as, outbox):
    signed_in_as("admin")
    joiner = invite(browser)
    page = browser.get(f"/admin/users/{joiner.id}")
    form = page.forms["user-form"]
    assert "email" not in form.fields and "password" not in form.fields
    assert page.html.select_one("#pending-credentials")
    form["first_name"] = "Named"
    form.submit(status=303)
    assert User.get_by_id(joiner.id).first_name == "Named"
    for values, message in (({"email": "elsewhere@example.com"}, "cancel it to change the email"),
                            ({"password": NEW_PASSWORD}, "cancel it to change the password")):
        body = {"first_name": "Typed", "username": joiner.username, **values}
        refused = browser.post(f"/admin/users/{joiner.id}", body, headers=csrf_headers(browser), status=409)
        assert message in refused.text and refused.forms["user-form"]["first_name"].value == "Typed"
    stored = User.get_by_id(joiner.id)
    assert (stored.email, stored.password_hash, stored.first_name) == ("joiner@example.com", None, "Named")


# -- invitations: resend and cancel ------------------------------------------------------------------


def invite(browser, email="joiner@example.com", role="author"):
    form = browser.get("/admin/users").forms["invite-form"]
    form["email"], form["role"] = email, role
    form.submit(status=303)
    return User.get(User.email == email)


def test_the_forms_take_an_address_of_254_characters_and_refuse_255(browser, signed_in_as, outbox):
    signed_in_as("admin")
    longest = "a" * 64 + "@" + "b" * 185 + ".com"
    assert len(longest) == 254
    invited = invite(browser, email=longest)
    form = browser.get("/admin/users").forms["invite-form"]
    form["email"], form["role"] = "c" + longest, "author"
    assert "Enter a valid email address." in form.submit(status=422).text
    member = create_user("author", email="member@example.com", username="member")
    for email, status in (("d" + longest, 422), ("e" + longest[1:], 303)):
        form = browser.get(f"/admin/users/{member.id}").forms["user-form"]
        form["email"] = email
        form.submit(status=status)
    assert (invited.email, User.get_by_id(member.id).email) == (longest, "e" + longest[1:])


def test_pending_invitations_can_be_resent_and_cancelled(browser, signed_in_as, outbox):
    signed_in_as("admin")
    joiner = invite(browser)
    page = browser.get("/admin/users")
    assert page.html.select(f"#user-{joiner.id} form[action$='/resend']")
    response = form_for(page, f"/admin/users/{joiner.id}/resend").submit(status=303)
    assert "Invitation sent again." in response.follow().text
    old, new = outbox.tokens("invitation")
    assert old != new and User.get_by_id(joiner.id).invitation_token is not None
    browser.post(f"/admin/users/{joiner.id}/resend", status=403)  # no CSRF token
    response = form_for(browser.get("/admin/users"), f"/admin/users/{joiner.id}/cancel").submit(status=303)
    assert "Invitation cancelled." in response.follow().text
    assert User.get_or_none(User.id == joiner.id) is None
    page = browser.post(f"/admin/users/{joiner.id}/cancel", headers=csrf_headers(browser), status=404)
    assert page.content_type == "text/html"


def test_accepted_invitations_are_neither_resent_nor_cancelled(browser, signed_in_as, outbox):
    signed_in_as("admin")
    member = create_user("viewer")
    page = browser.get("/admin/users")
    assert not page.html.select(f"#user-{member.id} form[action$='/resend']")
    assert not page.html.select(f"#user-{member.id} form[action$='/cancel']")
    for action in ("resend", "cancel"):
        refused = browser.post(f"/admin/users/{member.id}/{action}", headers=csrf_headers(browser), status=409)
        assert "This user has no pending invitation" in refused.text
    assert not outbox.sent and User.get_by_id(member.id).is_active


def test_editors_neither_resend_nor_cancel(browser, signed_in_as, outbox):
    signed_in_as("editor")
    admin = create_user("admin")
    invited = create_user("viewer", is_active=False, invitation_token="x" * 64, invited_by=admin.id)
    page = browser.get("/admin/users")
    assert not page.html.select(f"#user-{invited.id} form")
    for action in ("resend", "cancel"):
        browser.post(f"/admin/users/{invited.id}/{action}", headers=csrf_headers(browser), status=403)
    assert not outbox.sent and User.get_or_none(User.id == invited.id) is not None


def test_reactivating_an_open_invitation_is_refused_on_the_list(browser, signed_in_as):
    admin = signed_in_as("admin")
    invited = create_user("viewer", is_active=False, invitation_token="x" * 64, invited_by=admin.id)
    # The list offers no Reactivate for an invitation (its invitee activates it by accepting):
    # a post of one anyway is the list saying why, not the error page.
    page = browser.post(f"/admin/users/{invited.id}/reactivate", {}, headers=csrf_headers(browser), status=409)
    assert page.html.select_one("p.message.error").text == (
        "The invitation is still pending: the user becomes active by accepting it")
    assert "Invalid input" not in page.text and page.forms["invite-form"], "the users list itself"
    assert not User.get_by_id(invited.id).is_active


# -- the last admin ---------------------------------------------------------------------------------


def test_the_list_refuses_to_demote_or_deactivate_the_last_admin(browser, signed_in_as):
    grant("editor", "users.roles", "users.delete")
    signed_in_as("editor")
    only_admin = create_user("admin")
    page = browser.post(f"/admin/users/{only_admin.id}/role", {"role": "viewer"}, headers=csrf_headers(browser),
                        status=409)
    assert "The last active admin cannot be demoted or deactivated" in page.text
    page = browser.post(f"/admin/users/{only_admin.id}/deactivate", headers=csrf_headers(browser), status=409)
    assert "The last active admin cannot be demoted or deactivated" in page.text
    stored = User.get_by_id(only_admin.id)
    assert stored.role == "admin" and stored.is_active


# -- one's own profile --------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["viewer", "admin"])
def test_everyone_edits_their_own_profile(browser, signed_in_as, role):
    me = signed_in_as(role, email="self@example.com")
    page = browser.get("/admin")
    assert page.html.select_one("nav a[href='/admin/account']")
    page = browser.get("/admin/account")
    assert "self@example.com" in page.text and page.html.select_one("a[href='/admin/account/password']")
    form = page.forms["profile-form"]
    form["first_name"], form["last_name"], form["username"] = "Sel", "F", "selfie"
    assert "Your profile was saved." in form.submit(status=303).follow().text
    stored = User.get_by_id(me.id)
    assert (stored.first_name, stored.last_name, stored.username, stored.role) == ("Sel", "F", "selfie", role)


def test_the_profile_form_changes_no_role_and_shows_refusals(browser, signed_in_as):
    me = signed_in_as("viewer")
    create_user("viewer", username="someone")
    body = {"first_name": "Up", "username": me.username, "role": "admin", "is_active": "0", "email": "x@example.com"}
    browser.post("/admin/account", body, headers=csrf_headers(browser), status=303)
    stored = User.get_by_id(me.id)
    assert (stored.first_name, stored.role, stored.is_active, stored.email) == ("Up", "viewer", True, me.email)
    for username, status, message in (("someone", 409, "A user with this username already exists"),
                                      ("a b", 422, "A username is 3 to 50"), ("", 422, "Choose a username.")):
        form = browser.get("/admin/account").forms["profile-form"]
        form["username"] = username
        assert message in form.submit(status=status).text
    browser.post("/admin/account", {"username": "nocsrf"}, status=403)
    assert User.get_by_id(me.id).username == me.username


def test_the_profile_page_needs_a_session(browser):
    assert "/admin/login" in browser.get("/admin/account", status=303).location


def test_api_tokens_do_not_edit_the_profile(browser, signed_in_as):
    me = signed_in_as("author")
    api = {**bearer(token_for(me)), "Accept": "application/json"}
    created = browser.post_json("/api/tokens", {"name": "script", "permissions": ["content.read"]}, headers=api,
                                status=201).json["data"]["token"]
    browser.reset()
    browser.post("/admin/account", {"username": "by-token"}, headers=bearer(created), status=403)
    assert User.get_by_id(me.id).username == me.username
