"""SonicJS's password-reset pages post HTML forms to ``/auth/request-password-reset`` and
``/auth/reset-password``: a browser's form post is answered as a browser expects (a 303 to the
admin's page saying what happened, the error page for a refusal, with the same status and
headers), while JSON clients and scripts keep exactly the JSON answers (``app.api.auth``,
``app.api.form_error_pages``). Every answer is checked against the OpenAPI document."""

import pytest

from app.api.auth import RESET_MESSAGE
from tests.fixtures.admin import NAVIGATION_ACCEPT
from tests.fixtures.auth import fast_client, login

pytestmark = pytest.mark.backends

REQUEST = "/auth/request-password-reset"
RESET = "/auth/reset-password"
# What a browser sends with a form's POST: it navigates, and asks for HTML.
BROWSER_FORM = {"Accept": NAVIGATION_ACCEPT, "Sec-Fetch-Mode": "navigate", "Sec-Fetch-Site": "same-origin"}
# A browser too old to send Sec-Fetch-*: its Accept, which names XHTML as every browser's does.
OLDER_BROWSER_FORM = {"Accept": NAVIGATION_ACCEPT}
# Java's HttpURLConnection by default: HTML ranked first, but no browser's Accept.
JAVA_CLIENT = {"Accept": "text/html, image/gif, image/jpeg, *; q=.2, */*; q=.2"}
SCRIPT_FORM = {**BROWSER_FORM, "Sec-Fetch-Mode": "cors"}  # a script's fetch of a form body
NEW_PASSWORD = "a brand new password"


def assert_redirect_to(response, location):
    assert response.status_int == 303 and response.headers["Location"] == location
    assert response.content_type == "text/html" and response.html.find("a")["href"] == location


def assert_error_page(response, status, *texts):
    assert response.status_int == status and response.content_type == "text/html"
    main = response.html.find("main").text
    assert all(text in main for text in texts), main
    assert response.headers["Content-Security-Policy"].startswith("default-src 'none'")
    assert response.html.find("a", string="Try again")["href"] == "/admin/forgot-password"


def assert_envelope(response, status, error):
    assert response.status_int == status and response.content_type == "application/json"
    assert response.json["error"] == error


def reset_token(client, outbox, email):
    client.post_json(REQUEST, {"email": email}, status=202)
    return outbox.tokens("password_reset")[-1]


@pytest.mark.parametrize("headers", [BROWSER_FORM, OLDER_BROWSER_FORM])
def test_a_browsers_reset_request_goes_on_to_the_page_saying_the_link_went_out(app_client, user_with_password,
                                                                               outbox, headers):
    user_with_password(email="known@example.com")
    known = app_client.post(REQUEST, {"email": "known@example.com"}, headers=headers, status=303)
    unknown = app_client.post(REQUEST, {"email": "nobody@example.com"}, headers=headers, status=303)
    for response in (known, unknown):  # the same answer whether or not the account exists
        assert_redirect_to(response, "/admin/forgot-password?sent=1")
        assert response.headers["X-RateLimit-Remaining"]
    assert len(outbox.tokens("password_reset")) == 1
    page = known.follow(headers={"Accept": "text/html"}, status=200)
    assert page.html.find(attrs={"role": "status"}).text == RESET_MESSAGE + "."
    plain = app_client.get("/admin/forgot-password", headers={"Accept": "text/html"}, status=200)
    assert plain.html.find(attrs={"role": "status"}) is None


@pytest.mark.parametrize("headers", [{}, {"Accept": "application/json"}, SCRIPT_FORM, JAVA_CLIENT,
                                     {**BROWSER_FORM, "X-Requested-With": "XMLHttpRequest"}])
def test_a_reset_request_from_a_client_or_a_script_keeps_its_json(app_client, user_with_password, outbox, headers):
    user_with_password(email="known@example.com")
    as_json = app_client.post_json(REQUEST, {"email": "known@example.com"}, headers=headers, status=202)
    as_form = app_client.post(REQUEST, {"email": "known@example.com"}, headers=headers, status=202)
    for response in (as_json, as_form):
        assert response.json == {"success": True, "message": RESET_MESSAGE}
    assert_envelope(app_client.post_json(REQUEST, {"email": "not an email"}, headers=headers, status=422), 422,
                    "Validation failed")
    assert_envelope(app_client.post(REQUEST, {"email": "not an email"}, headers=headers, status=422), 422,
                    "Validation failed")


def test_a_browsers_reset_request_refused_gets_the_error_page(app_client):
    refused = app_client.post(REQUEST, {"email": "not an email"}, headers=BROWSER_FORM, status=422)
    assert_error_page(refused, 422, "Validation failed", "email: ")
    missing = app_client.post(REQUEST, {"address": "a@example.com"}, headers=BROWSER_FORM, status=422)
    assert_error_page(missing, 422, "Validation failed")


def test_a_browsers_reset_request_past_the_limit_gets_the_page_with_retry_after(env, user_with_password, outbox):
    client = fast_client(env, outbox, rate_limit_attempts=1)
    user_with_password(email="known@example.com")
    client.post(REQUEST, {"email": "known@example.com"}, headers=BROWSER_FORM, status=303)
    refused = client.post(REQUEST, {"email": "known@example.com"}, headers=BROWSER_FORM, status=429)
    wait = refused.headers["Retry-After"]
    assert_error_page(refused, 429, f"Try again in {'1 second' if wait == '1' else wait + ' seconds'}.")
    assert int(wait) >= 1 and refused.headers["X-RateLimit-Remaining"] == "0"
    as_json = client.post_json(REQUEST, {"email": "known@example.com"}, status=429)
    assert_envelope(as_json, 429, "Too many attempts, try again later")
    assert as_json.headers["Retry-After"] and as_json.headers["X-RateLimit-Remaining"] == "0"


@pytest.mark.parametrize("path", [REQUEST, RESET])
def test_a_browsers_form_from_another_site_with_the_cookie_gets_the_page(app_client, path):
    app_client.set_cookie("auth_token", "a-session")
    cross_site = {"Sec-Fetch-Site": "cross-site"}
    body = {"email": "a@example.com"} if path == REQUEST else {"token": "t", "password": NEW_PASSWORD}
    refused = app_client.post(path, body, headers={**BROWSER_FORM, **cross_site}, status=403)
    assert_error_page(refused, 403, "did not come from this site")
    as_script = app_client.post(path, body, headers={**SCRIPT_FORM, **cross_site}, status=403)
    assert_envelope(as_script, 403, "Cross-origin request refused")


@pytest.mark.parametrize("headers", [BROWSER_FORM, OLDER_BROWSER_FORM])
def test_a_browsers_reset_goes_on_to_sign_in_saying_the_password_was_reset(app_client, user_with_password,
                                                                           outbox, headers):
    user_with_password(email="reset@example.com")
    token = reset_token(app_client, outbox, "reset@example.com")
    form = {"token": token, "password": NEW_PASSWORD, "confirm_password": NEW_PASSWORD}
    done = app_client.post(RESET, form, headers=headers, status=303)
    assert_redirect_to(done, "/admin/login?reset=1")
    assert "Your password was reset" in done.follow(headers={"Accept": "text/html"}, status=200).text
    login(app_client, "reset@example.com", NEW_PASSWORD)


def test_a_browsers_reset_refused_gets_the_error_page_saying_why(app_client, user_with_password, outbox):
    user_with_password(email="reset@example.com")
    token = reset_token(app_client, outbox, "reset@example.com")
    mismatch = app_client.post(RESET, {"token": token, "password": NEW_PASSWORD, "confirm_password": "other"},
                               headers=BROWSER_FORM, status=422)
    assert_error_page(mismatch, 422, "Validation failed", "confirm_password: Passwords do not match")
    weak = app_client.post(RESET, {"token": token, "password": "short"}, headers=BROWSER_FORM, status=422)
    assert_error_page(weak, 422, "Validation failed", "password: ")
    wrong = app_client.post(RESET, {"token": "not-the-token", "password": NEW_PASSWORD}, headers=BROWSER_FORM,
                            status=400)
    assert_error_page(wrong, 400, "Invalid or expired reset token")
    # Nothing was reset: the token still works, once.
    app_client.post(RESET, {"token": token, "password": NEW_PASSWORD}, headers=BROWSER_FORM, status=303)
    spent = app_client.post(RESET, {"token": token, "password": NEW_PASSWORD}, headers=BROWSER_FORM, status=400)
    assert_error_page(spent, 400, "Invalid or expired reset token")


@pytest.mark.parametrize("headers", [{}, {"Accept": "application/json"}, SCRIPT_FORM])
def test_a_reset_from_a_client_or_a_script_keeps_its_json(app_client, user_with_password, outbox, headers):
    user_with_password(email="reset@example.com")
    wrong = {"token": "not-the-token", "password": NEW_PASSWORD}
    assert_envelope(app_client.post_json(RESET, wrong, headers=headers, status=400), 400,
                    "Invalid or expired reset token")
    assert_envelope(app_client.post(RESET, wrong, headers=headers, status=400), 400, "Invalid or expired reset token")
    token = reset_token(app_client, outbox, "reset@example.com")
    weak = app_client.post(RESET, {"token": token, "password": "short"}, headers=headers, status=422)
    assert_envelope(weak, 422, "Validation failed")
    done = app_client.post(RESET, {"token": token, "password": NEW_PASSWORD}, headers=headers, status=200)
    assert done.json == {"message": "Password has been reset; sign in with the new password"}
    login(app_client, "reset@example.com", NEW_PASSWORD)
