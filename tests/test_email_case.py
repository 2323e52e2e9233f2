"""An email stored with capitals (from before emails were lower-cased, or brought by a
backup) is the same address in any case: its account signs in, resets its password and
gets mailed codes and links, and no one else may take the address. Of two users whose
emails differ only in case, the one holding the address in lower case is the account, then
the first by id. The lookups read the index on ``lower(email)`` on both databases."""

import pytest

from app.db.database import is_postgres
from app.db.models import SystemLog, User
from tests.fixtures.admin import csrf_headers
from tests.fixtures.app import record_statements
from tests.fixtures.auth import PASSWORD, hashed, login, reload
from tests.fixtures.users import bearer, create_user, token_for

pytestmark = pytest.mark.backends

LEGACY = "Legacy.User@Example.com"
LOWER = "legacy.user@example.com"
TAKEN = "A user with this email already exists"
NEW_PASSWORD = "a brand new password"
OTHER_PASSWORD = "another fine password"
T0 = 1_767_225_600_000  # 2026-01-01 00:00 UTC


def legacy_user(env, email=LEGACY, role="viewer", **fields):
    """A user created with the address in lower case, then given ``email`` by a raw UPDATE,
    as an old database or a restored backup holds it."""
    user = create_user(role, email=LOWER, password_hash=hashed(), **fields)
    db = env.DB.db
    db.execute_sql(f'UPDATE "users" SET "email" = {db.param} WHERE "id" = {db.param}', (email, user.id))
    return reload(user)


def holders(address):
    """The emails of the users whose email is ``address`` in any case, as stored."""
    return sorted(email for (email,) in User.select(User.email).tuples() if email.lower() == address.lower())


def activate(client, name):
    admin = bearer(token_for(create_user("admin")))
    client.post(f"/admin/api/plugins/{name}/activate", headers=admin, status=200)


# -- sign-in and reset --------------------------------------------------------------------


def test_an_email_stored_with_capitals_signs_in_whatever_the_case_typed(app_client, env):
    user = legacy_user(env)
    for typed in (LEGACY, LOWER, "LEGACY.USER@EXAMPLE.COM"):
        assert login(app_client, typed).json["user"]["id"] == user.id, typed
    login(app_client, LOWER, password="not the password", status=401)


def test_an_email_stored_with_capitals_gets_the_reset_mail_and_the_link_works(app_client, env, outbox):
    user = legacy_user(env)
    unknown = app_client.post_json("/auth/request-password-reset", {"email": "nobody@example.com"}, status=202)
    known = app_client.post_json("/auth/request-password-reset", {"email": LOWER}, status=202)
    assert known.json == unknown.json  # the same answer as for an address with no account
    [mail] = outbox.sent
    assert (mail.kind, mail.email) == ("password_reset", LEGACY)  # to the address as stored
    body = {"token": outbox.tokens("password_reset")[0], "password": NEW_PASSWORD}
    app_client.post_json("/auth/reset-password", body, status=200)
    assert login(app_client, LEGACY, password=NEW_PASSWORD).json["user"]["id"] == user.id


def test_the_admin_forgot_password_page_mails_an_email_stored_with_capitals(browser, env, outbox):
    legacy_user(env)
    form = browser.get("/admin/forgot-password").forms["forgot-form"]
    form["email"] = LOWER
    assert "If an account exists" in form.submit().text
    assert [(mail.kind, mail.email) for mail in outbox.sent] == [("password_reset", LEGACY)]


def test_a_mailed_code_and_link_reach_an_email_stored_with_capitals(app_client, env, outbox):
    user = legacy_user(env)
    activate(app_client, "otp-login")
    activate(app_client, "magic-link-auth")
    app_client.post_json("/auth/otp/request", {"email": LOWER}, status=202)
    [mail] = outbox.sent
    assert (mail.kind, mail.email) == ("sign_in_code", LEGACY)
    signed_in = app_client.post_json("/auth/otp/verify", {"email": "LEGACY.user@example.com", "code": mail.link},
                                     status=200)
    assert signed_in.json["user"]["id"] == user.id
    app_client.post_json("/auth/magic-link/request", {"email": LOWER}, status=202)
    assert [(mail.kind, mail.email) for mail in outbox.sent][1:] == [("magic_link", LEGACY)]
    signed_in = app_client.post_json("/auth/magic-link/verify", {"token": outbox.tokens("magic_link")[0]}, status=200)
    assert signed_in.json["user"]["id"] == user.id


# -- the address is taken ------------------------------------------------------------------


def test_registering_an_email_stored_with_capitals_is_a_conflict(app_client, env):
    legacy_user(env)
    for typed in (LOWER, LEGACY):
        response = app_client.post_json("/auth/register", {"email": typed, "password": PASSWORD}, status=409)
        assert response.json["details"] == [{"field": "email", "message": TAKEN}]
    assert holders(LOWER) == [LEGACY]


def test_admins_cannot_create_invite_or_move_a_user_onto_an_email_stored_with_capitals(app_client, env):
    legacy = legacy_user(env)
    admin = bearer(token_for(create_user("admin")))
    body = {"email": LOWER, "password": PASSWORD}
    assert app_client.post_json("/admin/api/users", body, headers=admin, status=409).json["error"] == TAKEN
    assert app_client.post_json("/admin/api/users/invite", {"email": LOWER}, headers=admin, status=409)
    other = create_user("viewer", email="other@example.com")
    app_client.patch_json(f"/admin/api/users/{other.id}", {"email": LOWER}, headers=admin, status=409)
    assert holders(LOWER) == [LEGACY]
    # Its own address in another case is no conflict: the holder may write it in lower case.
    app_client.patch_json(f"/admin/api/users/{legacy.id}", {"email": LOWER}, headers=admin, status=200)
    assert holders(LOWER) == [LOWER]


def test_the_new_user_form_refuses_an_email_stored_with_capitals(browser, signed_in_as, env):
    legacy_user(env)
    signed_in_as("admin")
    form = browser.get("/admin/users/new").forms["new-user-form"]
    form["email"], form["password"] = LOWER, PASSWORD
    assert TAKEN in form.submit(status=409).text
    other = create_user("viewer", email="other@example.com")
    body = {"email": LOWER, "username": other.username, "first_name": "", "last_name": ""}
    page = browser.post(f"/admin/users/{other.id}", body, headers=csrf_headers(browser), status=409)
    assert TAKEN in page.text
    assert holders(LOWER) == [LEGACY]


def test_the_logs_filter_by_an_email_stored_with_capitals_in_any_case(browser, signed_in_as, env):
    legacy = legacy_user(env)
    signed_in_as("admin")
    SystemLog.create(level="warn", category="api", message="legacy's request", created_at=T0, user=legacy.id)
    page = browser.get(f"/admin/logs?until=2026-01-02T00:00&user={LOWER}")
    assert "legacy's request" in page.html.text


@pytest.mark.parametrize("typed", ["%20Legacy.User@Example.com%20", "%EF%BD%8Cegacy.user%EF%BC%A0example.com"])
def test_the_logs_filter_reads_a_typed_address_as_sign_in_reads_it(browser, signed_in_as, env, typed):
    legacy = legacy_user(env)
    signed_in_as("admin")
    SystemLog.create(level="warn", category="api", message="legacy's request", created_at=T0, user=legacy.id)
    SystemLog.create(level="warn", category="api", message="someone else's", created_at=T0)
    page = browser.get(f"/admin/logs?until=2026-01-02T00:00&user={typed}")
    assert "legacy's request" in page.html.text and "someone else's" not in page.html.text
    nobody = browser.get("/admin/logs?until=2026-01-02T00:00&user=%EF%BC%A0")  # an address of no one
    assert "legacy's request" not in nobody.html.text and "someone else's" not in nobody.html.text


def test_saving_the_names_of_a_user_whose_email_has_capitals_keeps_the_address(browser, signed_in_as, env):
    legacy = legacy_user(env, email_verified=True)
    session = bearer(token_for(legacy))
    signed_in_as("admin")
    body = {"email": LEGACY, "username": legacy.username, "first_name": "Renamed", "last_name": ""}
    browser.post(f"/admin/users/{legacy.id}", body, headers=csrf_headers(browser), status=303)
    saved = reload(legacy)
    assert (saved.first_name, saved.email, saved.email_verified) == ("Renamed", LEGACY, True)
    # A name is no credential: the user's sessions go on.
    assert browser.get("/auth/me", headers=session, status=200).json["user"]["id"] == legacy.id


def test_a_patch_sending_back_an_email_stored_with_capitals_keeps_it(app_client, env):
    # A client reading a user and sending the record back, names changed.
    legacy = legacy_user(env, role="admin", email_verified=True)
    session = bearer(token_for(legacy))
    admin = bearer(token_for(create_user("admin")))
    body = {"email": LEGACY, "first_name": "Renamed"}
    app_client.patch_json(f"/admin/api/users/{legacy.id}", body, headers=admin, status=200)
    saved = reload(legacy)
    assert (saved.first_name, saved.email, saved.email_verified) == ("Renamed", LEGACY, True)
    assert app_client.get("/auth/me", headers=session, status=200).json["user"]["id"] == legacy.id
    # Its own record too: sent back as stored, the address is no change of one's own email.
    app_client.patch_json(f"/admin/api/users/{legacy.id}", {"email": LEGACY, "last_name": "Kept"}, headers=session,
                          status=200)
    app_client.patch_json(f"/admin/api/users/{legacy.id}", {"email": LOWER}, headers=session, status=403)
    assert reload(legacy).email == LEGACY


@pytest.mark.parametrize("stored", ["pаypal@example.com", "no-at-sign.example.com"])
def test_an_email_stored_before_todays_rules_is_kept_when_sent_back(app_client, env, stored, browser, signed_in_as):
    """An address today's rules refuse (mixed scripts, no '@') that an old database holds
    is no change when sent back as stored: the names around it are saved, by the API and
    by the edit form, and the address is left as it is."""
    old = legacy_user(env, email=stored)
    admin = bearer(token_for(create_user("admin")))
    app_client.patch_json(f"/admin/api/users/{old.id}", {"email": stored, "first_name": "Renamed"}, headers=admin,
                          status=200)
    assert (reload(old).first_name, reload(old).email) == ("Renamed", stored)
    problem = app_client.patch_json(f"/admin/api/users/{old.id}", {"email": f"x{stored}"}, headers=admin, status=422)
    assert problem.json["details"][0]["field"] == "email"
    signed_in_as("admin")
    body = {"email": stored, "username": old.username, "first_name": "Renamed", "last_name": "Formed"}
    browser.post(f"/admin/users/{old.id}", body, headers=csrf_headers(browser), status=303)
    assert (reload(old).last_name, reload(old).email) == ("Formed", stored)


# -- two users whose emails differ only in case ---------------------------------------------------


def test_of_two_users_differing_in_case_the_lower_case_one_signs_in_and_gets_the_reset(app_client, env, outbox):
    legacy = legacy_user(env, id="user-1")  # the first by id
    current = create_user("viewer", email=LOWER, id="user-2", username="current", password_hash=hashed(OTHER_PASSWORD))
    assert login(app_client, LEGACY, password=OTHER_PASSWORD).json["user"]["id"] == current.id
    login(app_client, LEGACY, status=401)  # the other account's password
    app_client.post_json("/auth/request-password-reset", {"email": LEGACY}, status=202)
    assert [mail.email for mail in outbox.sent] == [LOWER]
    User.update(is_active=False).where(User.id == current.id).execute()
    # Deactivated, it leaves the address to the other: an old account must not shut one out.
    assert login(app_client, LOWER).json["user"]["id"] == legacy.id


def test_of_two_users_both_differing_from_the_lower_case_the_first_by_id_signs_in(app_client, env):
    create_user("viewer", email="LEGACY.USER@example.com", id="user-2", username="second",
                password_hash=hashed(OTHER_PASSWORD))
    first = legacy_user(env, id="user-1")
    assert login(app_client, LOWER).json["user"]["id"] == first.id
    login(app_client, LOWER, password=OTHER_PASSWORD, status=401)


# -- the index -----------------------------------------------------------------------------------


# Enough other accounts that reading the index beats reading the table or another index,
# whatever statistics earlier tests left: with a handful of rows PostgreSQL's costs tie,
# and it may pick any index and filter.
OTHER_USERS = 3000


def crowd(env):
    """``OTHER_USERS`` more accounts, then ANALYZE, so the planner plans for a real site."""
    now = T0
    rows = [{"id": f"crowd-{i}", "email": f"crowd{i}@example.com", "username": f"crowd{i}", "first_name": "Crowd",
             "last_name": str(i), "role": "viewer", "created_at": now, "updated_at": now}
            for i in range(OTHER_USERS)]
    db = env.DB.db
    with db.atomic():
        for start in range(0, len(rows), 500):
            User.insert_many(rows[start:start + 500]).execute()
    db.execute_sql('ANALYZE "users"')


def plan(db, sql, params):
    """The plan's lines of ``sql`` with its own parameters."""
    if is_postgres(db):
        return [row[0] for row in db.execute_sql(f"EXPLAIN {sql}", params).fetchall()]
    return [row[3] for row in db.execute_sql(f"EXPLAIN QUERY PLAN {sql}", params).fetchall()]


def test_the_sign_in_lookup_reads_the_index_on_lower_email(app_client, env, monkeypatch):
    legacy_user(env)
    crowd(env)
    db = env.DB.db
    statements = record_statements(db, monkeypatch)
    login(app_client, LOWER)
    [(sql, params)] = [(sql, params) for sql, params in statements if 'LOWER("t1"."email")' in sql]
    lines = plan(db, sql, params)
    assert any("idx_users_email_lower" in line for line in lines), lines
