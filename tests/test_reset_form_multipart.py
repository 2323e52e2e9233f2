"""The password-reset routes take a browser's multipart form as they take a URL-encoded one
(a 303 onwards, the error page for a refusal, never a JSON 415); the 429 page's sentence fits
a limit per account as well as per address; a form's name is refused in the words a
collection's name is."""

import pytest

from app.api.form_error_pages import too_many_message
from tests.fixtures.auth import fast_client, login
from tests.test_password_reset_forms import (
    BROWSER_FORM,
    NEW_PASSWORD,
    REQUEST,
    RESET,
    assert_envelope,
    assert_error_page,
    assert_redirect_to,
    reset_token,
)

pytestmark = pytest.mark.backends

MULTIPART = "multipart/form-data"


def multipart(client, path, fields, headers=BROWSER_FORM, status=None, **kwargs):
    """Post ``fields`` as a page's ``enctype="multipart/form-data"`` form does."""
    return client.post(path, fields, headers=headers, content_type=MULTIPART, status=status, **kwargs)


def test_a_browsers_multipart_reset_request_goes_on_to_the_page(app_client, user_with_password, outbox):
    user_with_password(email="known@example.com")
    response = multipart(app_client, REQUEST, {"email": "known@example.com"}, status=303)
    assert response.request.content_type.startswith(MULTIPART)
    assert_redirect_to(response, "/admin/forgot-password?sent=1")
    assert len(outbox.tokens("password_reset")) == 1


def test_a_browsers_multipart_reset_request_refused_gets_the_error_page(app_client):
    refused = multipart(app_client, REQUEST, {"email": "not an email"}, status=422)
    assert_error_page(refused, 422, "Validation failed", "email: ")


def test_a_browsers_multipart_reset_goes_on_to_sign_in(app_client, user_with_password, outbox):
    user_with_password(email="reset@example.com")
    token = reset_token(app_client, outbox, "reset@example.com")
    mismatch = multipart(app_client, RESET, {"token": token, "password": NEW_PASSWORD, "confirm_password": "x"},
                         status=422)
    assert_error_page(mismatch, 422, "Validation failed", "confirm_password: Passwords do not match")
    done = multipart(app_client, RESET, {"token": token, "password": NEW_PASSWORD, "confirm_password": NEW_PASSWORD},
                     status=303)
    assert_redirect_to(done, "/admin/login?reset=1")
    login(app_client, "reset@example.com", NEW_PASSWORD)


def test_a_file_part_is_left_unread_and_a_field_not_utf8_is_refused(app_client, user_with_password, outbox):
    user_with_password(email="known@example.com")
    with_file = multipart(app_client, REQUEST, {"email": "known@example.com"}, status=303,
                          upload_files=[("attachment", "a.txt", b"anything")])
    assert_redirect_to(with_file, "/admin/forgot-password?sent=1")
    body = (b"--b\r\nContent-Disposition: form-data; name=\"email\"\r\n\r\n\xff\xfe@example.com\r\n--b--\r\n")
    refused = app_client.post(REQUEST, body, headers={**BROWSER_FORM, "Content-Type": f"{MULTIPART}; boundary=b"},
                              status=400)
    assert_error_page(refused, 400, "The form field email is not UTF-8 text")


def test_a_scripts_multipart_post_keeps_its_json(app_client, user_with_password, outbox):
    user_with_password(email="known@example.com")
    answered = multipart(app_client, REQUEST, {"email": "known@example.com"}, headers={}, status=202)
    assert answered.json["success"] is True
    assert_envelope(multipart(app_client, REQUEST, {"email": "nope"}, headers={}, status=422), 422,
                    "Validation failed")
    # Other bodies stay refused: the reset routes read forms, not any body.
    plain = app_client.post(REQUEST, "email=known@example.com", headers={"Content-Type": "text/plain"}, status=415)
    assert_envelope(plain, 415, "Unsupported media type")


def test_the_429_page_fits_a_limit_per_account(env, user_with_password, outbox):
    client = fast_client(env, outbox, rate_limit_attempts=1)
    user_with_password(email="known@example.com")
    multipart(client, REQUEST, {"email": "known@example.com"}, status=303)
    refused = multipart(client, REQUEST, {"email": "known@example.com"}, status=429)
    wait = refused.headers["Retry-After"]
    assert_error_page(refused, 429, too_many_message(wait) + ".")
    main = refused.html.find("main").text
    assert "Too many attempts. Try again in" in main and "address" not in main


def test_a_form_name_is_refused_in_the_words_of_a_collection_name(client, make_user):
    admin = make_user("admin")[1]
    form = client.post_json("/admin/api/forms", {"name": "Contact Us", "display_name": "Contact", "fields": {}},
                            headers=admin, status=422).json["details"]
    collection = client.post_json("/admin/api/collections", {"name": "Contact Us", "display_name": "Contact"},
                                  headers=admin, status=422).json["details"]
    (form_message,) = [d["message"] for d in form if d["field"] == "name"]
    (collection_message,) = [d["message"] for d in collection if d["field"] == "name"]
    assert form_message == collection_message.replace("A collection name", "A form name")
    assert form_message != collection_message
