"""The admin's sign-in and password pages answer as its other forms do: a 429 with the
``Retry-After`` the API's 429 sends, a refused field named by the label the form shows, and
a NUL pasted into a field is that field's problem on the form (422), not the error page."""

import pytest

from app.db.models import User, bind_models
from tests.fixtures.admin import browser_for, sign_in
from tests.fixtures.auth import PASSWORD, hashed
from tests.fixtures.users import bearer, create_user, token_for

pytestmark = pytest.mark.backends

NUL_MESSAGE = "NUL characters are not allowed"
NEW_PASSWORD = "a brand new password"


@pytest.fixture
def limited(env, outbox):
    """A browser whose sign-in and token limits allow a single failure."""
    bind_models(env.DB.db)
    return browser_for(env, outbox, rate_limit_attempts=1)


def assert_waits(response):
    """A 429 page whose ``Retry-After`` is the wait its message says."""
    assert response.status_int == 429 and response.content_type == "text/html"
    wait = response.headers["Retry-After"]
    assert int(wait) > 0 and f"try again in {wait} seconds" in response.text


def shown_again(response, form_id):
    """The form of a refused post (not the error page), without a raw NUL."""
    assert response.content_type == "text/html"
    assert "\x00" not in response.text and "Invalid input" not in response.text
    return response.forms[form_id]


def invitation_token(browser, outbox, email="newbie@example.com"):
    admin = create_user("admin")
    browser.post_json("/admin/api/users/invite", {"email": email, "role": "author"},
                      headers={**bearer(token_for(admin)), "Accept": "application/json"}, status=201)
    return outbox.tokens("invitation")[-1]


# ---------------------------------------------------------------- Retry-After


def test_the_sign_in_page_past_the_limit_sends_retry_after(limited):
    user = create_user("editor", password_hash=hashed())
    sign_in(limited, user, password="wrong", status=401)
    assert_waits(sign_in(limited, user, status=429))


def test_the_password_page_past_the_limit_sends_retry_after(limited):
    user = create_user("editor", password_hash=hashed())
    sign_in(limited, user, status=303)
    form = limited.get("/admin/account/password").forms["password-form"]
    form["current_password"], form["new_password"] = "wrong", NEW_PASSWORD
    form["confirm_password"] = NEW_PASSWORD
    form.submit(status=422)
    form["current_password"] = PASSWORD
    refused = form.submit(status=429)
    assert_waits(refused)
    assert refused.html.select_one("#current_password-error").get_text().startswith("Too many attempts")


def test_the_forgot_password_page_past_the_limit_sends_retry_after(limited):
    user = create_user("editor", password_hash=hashed())
    form = limited.get("/admin/forgot-password").forms["forgot-form"]
    form["email"] = user.email
    form.submit(status=200)
    assert_waits(form.submit(status=429))


def test_the_reset_page_past_the_token_limit_sends_retry_after(limited):
    form = limited.get("/admin/reset-password?token=not-a-real-token").forms["reset-form"]
    form["password"] = form["confirm_password"] = NEW_PASSWORD
    form.submit(status=400)
    assert_waits(form.submit(status=429))


def test_the_invitation_page_past_the_token_limit_sends_retry_after(limited):
    form = limited.get("/admin/accept-invitation?token=not-a-real-token").forms["invitation-form"]
    form["username"], form["password"] = "newbie", NEW_PASSWORD
    form["confirm_password"] = NEW_PASSWORD
    form.submit(status=400)
    assert_waits(form.submit(status=429))


# ---------------------------------------------------------------- fields named by their labels


def test_the_reset_page_names_a_refused_password_by_its_label(browser, outbox):
    user = create_user("author", password_hash=hashed())
    form = browser.get("/admin/forgot-password").forms["forgot-form"]
    form["email"] = user.email
    form.submit()
    form = browser.get(f"/admin/reset-password?token={outbox.tokens('password_reset')[0]}").forms["reset-form"]
    form["password"] = form["confirm_password"] = "short"
    message = form.submit(status=422).html.select_one("p.message.error").get_text()
    assert message == "New password: Password must be at least 8 characters"


def test_the_invitation_page_names_a_taken_username_by_its_label(browser, outbox):
    create_user("editor", username="taken")
    form = browser.get(f"/admin/accept-invitation?token={invitation_token(browser, outbox)}").forms[
        "invitation-form"]
    form["username"], form["password"] = "taken", NEW_PASSWORD
    form["confirm_password"] = NEW_PASSWORD
    message = form.submit(status=409).html.select_one("p.message.error").get_text()
    assert message == "Username: A user with this username already exists"


# ---------------------------------------------------------------- NUL


def test_a_sign_in_with_nul_shows_the_form_again(browser):
    user = create_user("editor", password_hash=hashed())
    form = browser.get("/admin/login").forms[0]
    form["email"], form["password"] = user.email + "\x00", PASSWORD
    response = form.submit(status=422)
    again = shown_again(response, 0)
    assert response.html.select_one("p.message.error").get_text() == f"Email: {NUL_MESSAGE}"
    assert again["email"].value == user.email and "auth_token" not in browser.cookies


def test_a_password_change_with_nul_shows_it_by_the_field(browser):
    user = create_user("editor", password_hash=hashed())
    sign_in(browser, user, status=303)
    form = browser.get("/admin/account/password").forms["password-form"]
    form["current_password"], form["new_password"] = PASSWORD, "a new\x00 password"
    form["confirm_password"] = "a new\x00 password"
    response = form.submit(status=422)
    shown_again(response, "password-form")
    assert response.html.select_one("#new_password-error").get_text() == NUL_MESSAGE
    assert User.get_by_id(user.id).password_hash == hashed()


def test_a_forgot_password_request_with_nul_shows_the_form_again(browser, outbox):
    user = create_user("editor", password_hash=hashed())
    form = browser.get("/admin/forgot-password").forms["forgot-form"]
    form["email"] = user.email + "\x00"
    response = form.submit(status=422)
    assert shown_again(response, "forgot-form")["email"].value == user.email
    assert response.html.select_one("p.message.error").get_text() == f"Email: {NUL_MESSAGE}"
    assert not outbox.sent


def test_a_reset_with_nul_shows_the_form_again(browser):
    form = browser.get("/admin/reset-password?token=some-token").forms["reset-form"]
    form["password"] = form["confirm_password"] = "a new\x00 password"
    response = form.submit(status=422)
    shown_again(response, "reset-form")
    message = response.html.select_one("p.message.error").get_text()
    assert message == f"New password: {NUL_MESSAGE}; Repeat the new password: {NUL_MESSAGE}"


def test_an_invitation_accepted_with_nul_shows_the_form_again(browser, outbox):
    token = invitation_token(browser, outbox)
    form = browser.get(f"/admin/accept-invitation?token={token}").forms["invitation-form"]
    form["username"], form["password"] = "new\x00bie", NEW_PASSWORD
    form["confirm_password"] = NEW_PASSWORD
    response = form.submit(status=422)
    assert shown_again(response, "invitation-form")["username"].value == "newbie"
    assert response.html.select_one("p.message.error").get_text() == f"Username: {NUL_MESSAGE}"
    assert not User.get(User.email == "newbie@example.com").is_active, "the invitation is still open"

