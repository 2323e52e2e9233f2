"""A URL-encoded body is ASCII whose percent-escapes write UTF-8 text, as a browser encodes a
form: escapes that write other bytes (a Latin-1 "é", ``%E9``) are refused as a raw byte past
ASCII is, never stored with U+FFFD in place of what was sent."""

import pytest

from app.db.models import Content, FormSubmission
from tests.fixtures.admin import csrf_token
from tests.fixtures.content import create_collection

pytestmark = pytest.mark.backends

URLENCODED = {"Content-Type": "application/x-www-form-urlencoded"}
# Bytes no UTF-8 text holds, percent-escaped: Latin-1 "é", a lone continuation byte, a
# sequence cut short before the next field, an overlong "/", a UTF-16 surrogate's encoding.
NOT_UTF8 = ("caf%E9", "%A9", "caf%C3&other=1", "%C0%AF", "%ED%A0%80")
RAW_BYTE = b"note=caf\xe9"


@pytest.fixture
def admin(make_user):
    return make_user("admin")[1]


@pytest.fixture
def note_form(client, admin):
    client.post_json("/admin/api/forms", {"name": "notes", "display_name": "Notes",
                                          "fields": {"note": {"type": "string"}, "other": {"type": "string"}}},
                     headers=admin, status=201)


@pytest.mark.parametrize("escaped", NOT_UTF8)
def test_the_form_page_refuses_escapes_that_are_no_utf8_as_a_raw_byte(client, note_form, escaped):
    raw = client.post("/forms/notes", RAW_BYTE, headers=URLENCODED, status=400)
    refused = client.post("/forms/notes", f"note={escaped}".encode(), headers=URLENCODED, status=400)
    assert refused.content_type == "text/html" and 'action="/forms/notes"' in refused.text
    assert refused.html.find("p", attrs={"role": "alert"}).text == raw.html.find("p", attrs={"role": "alert"}).text
    assert FormSubmission.select().count() == 0


@pytest.mark.parametrize("path", ["/forms/notes/submit", "/api/forms/notes/submit"])
def test_the_submit_route_says_why_such_a_post_is_refused(client, note_form, path):
    refused = client.post(path, b"note=caf%E9", headers=URLENCODED, status=400).json
    assert refused == {"error": "Invalid URL-encoded", "details": "Could not parse URL-encoded body - its "
                       "percent-escapes must write UTF-8 text, as a browser encodes a form"}
    assert FormSubmission.select().count() == 0


def test_utf8_escapes_and_plus_signs_are_read_as_before(client, note_form):
    client.post("/forms/notes/submit", b"note=caf%C3%A9+%F0%9F%99%82&other=a%2Bb", headers=URLENCODED, status=303)
    assert [row.data for row in FormSubmission.select()] == [{"note": "caf\u00e9 \U0001f642", "other": "a+b"}]


def test_an_admin_form_refuses_such_escapes_as_a_raw_byte(browser, signed_in_as):
    create_collection("posts", {"type": "object", "properties": {"title": {"type": "string"}}})
    signed_in_as("editor")
    token = csrf_token(browser).encode()
    raw = browser.post("/admin/content/posts/new", b"csrf_token=" + token + b"&title=caf\xe9", headers=URLENCODED,
                       status=400)
    refused = browser.post("/admin/content/posts/new", b"csrf_token=" + token + b"&title=caf%E9",
                           headers=URLENCODED, status=400)
    assert refused.content_type == raw.content_type == "text/html"
    assert Content.select().count() == 0
    browser.post("/admin/content/posts/new", b"csrf_token=" + token + b"&title=caf%C3%A9", headers=URLENCODED,
                 status=303)
    assert [item.title for item in Content.select()] == ["caf\u00e9"]
