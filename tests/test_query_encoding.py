"""A query string follows the rule of a URL-encoded body: ASCII whose percent-escapes write
UTF-8 text, as a browser encodes a URL. A name or value holding other escapes (a Latin-1
"é", ``%E9``), or a raw byte that is no UTF-8 either, is a 400 naming the parameter, on every
route, never read with U+FFFD in place of what was sent (app/api/request_guard.py); a path too."""

import pytest
import webtest

from app.db.models import SystemLog
from app.services.log_buffer import flush_process_buffer
from tests.fixtures.content import create_collection

pytestmark = pytest.mark.backends

MESSAGE = "its bytes and percent-escapes must write UTF-8 text, as a browser encodes a URL"
# Queries a browser never sends, and the parameter each refusal names: Latin-1 "é", a byte no
# UTF-8 holds, a sequence cut short by the next parameter, an overlong "/", a surrogate's
# encoding, and a name refused itself (named as sent: decoded, it would be U+FFFD).
REFUSED = [
    ("search=caf%E9", "search"),
    ("filter[data.x][equals]=%FF", "filter[data.x][equals]"),
    ("limit=5&search=caf%C3&page=1", "search"),
    ("search=%C0%AF", "search"),
    ("search=%ed%a0%80", "search"),
    ("s%E9arch=x", "s%E9arch"),
    ("search+term=caf%E9", "search term"),
]


@pytest.fixture
def admin(make_user):
    return make_user("admin")[1]


def assert_refused(response, parameter):
    assert response.status_int == 400 and response.content_type == "application/json", response.text
    assert response.json == {"error": "Invalid query parameters",
                             "details": [{"parameter": parameter, "message": MESSAGE}]}


@pytest.mark.parametrize(("query", "parameter"), REFUSED)
def test_an_api_route_refuses_escapes_that_write_no_utf8_naming_the_parameter(client, admin, query, parameter):
    assert_refused(client.get(f"/api/content?{query}", headers=admin, status=400), parameter)


def sent_raw(client, path, query, headers=None, **kwargs):
    """GET ``path`` with ``query`` as a WSGI server passes one holding raw bytes: Latin-1 text of them."""
    request = webtest.TestRequest.blank(path, headers=headers)
    request.environ["QUERY_STRING"] = query.decode("latin-1")
    return client.do_request(request, **kwargs)


def test_a_raw_byte_that_is_no_utf8_is_refused_as_its_escape_is(client, admin):
    for query, parameter in ((b"search=caf\xe9", "search"), (b"s\xe9arch=x", "s%E9arch"),
                             (b"s\xc3\xa9=caf\xe9", "s\u00e9")):
        assert_refused(sent_raw(client, "/api/content", query, admin, status=400), parameter)


def test_the_refusal_comes_before_the_route_reads_anything(client):
    # Anonymous, on a route needing a signed-in user: the query is refused first, as a NUL is.
    assert_refused(client.get("/admin/api/users?search=caf%E9", status=400), "search")


def test_utf8_escapes_and_plus_signs_are_read_as_before(client, admin):
    create_collection("posts", {"type": "object", "properties": {"x": {"type": "string"}}})
    body = {"collectionId": "posts", "title": "Café au lait", "data": {"x": "\u00e9 + \U0001f642"}}
    client.post_json("/api/content", body, headers=admin, status=201)
    found = client.get("/api/content?search=Caf%C3%A9+au", headers=admin).json["data"]
    assert [item["title"] for item in found] == ["Café au lait"]
    query = "filter[data.x][equals]=%C3%A9+%2B+%F0%9F%99%82"
    assert [item["title"] for item in client.get(f"/api/content?{query}", headers=admin).json["data"]] == [
        "Café au lait"]


def test_the_request_log_keeps_the_query_as_sent_in_ascii(client, admin, held):
    client.get("/api/collections?search=caf%E9", status=400)
    sent_raw(client, "/api/collections", b"search=caf\xe9", status=400)
    sent_raw(client, "/api/collections", b"search=caf\xc3\xa9", status=200)  # raw UTF-8 passes, as before
    flush_process_buffer()
    logged = [row.url for row in SystemLog.select().where(SystemLog.url.startswith("/api/collections?"))]
    assert sorted(logged) == ["/api/collections?search=caf%C3%A9", "/api/collections?search=caf%E9",
                              "/api/collections?search=caf%E9"]


def test_an_admin_page_shows_the_refusal_as_it_shows_a_bad_query(browser, signed_in_as):
    signed_in_as("admin")
    page = browser.get("/admin/users?search=caf%E9", status=400)
    assert page.content_type == "text/html"
    shown = [item.get_text() for item in page.html.select("ul.refusal li")]
    assert shown == ["Invalid query parameters", f"search: {MESSAGE}"]
    create_collection("posts", {"type": "object", "properties": {"title": {"type": "string"}}})
    listing = browser.get("/admin/content/posts?s%E9arch=x", status=400)
    assert [item.get_text() for item in listing.html.select("ul.refusal li")] == [
        "Invalid query parameters", f"s%E9arch: {MESSAGE}"]
    assert browser.get("/admin/users?search=caf%C3%A9").status_int == 200


def test_raw_utf8_bytes_are_read_as_the_text_they_write(client, admin):
    """A client sending the query unescaped (curl with a literal "é") is read as its escapes
    would be, not as Latin-1 characters of the bytes (``cafÃ©``)."""
    create_collection("posts", {"type": "object", "properties": {"x": {"type": "string"}}})
    client.post_json("/api/content", {"collectionId": "posts", "title": "Café au lait", "data": {"x": "é"}},
                     headers=admin, status=201)
    for query in ("search=Caf\u00e9".encode(), "filter[data.x][equals]=\u00e9".encode()):
        found = sent_raw(client, "/api/content", query, admin, status=200).json["data"]
        assert [item["title"] for item in found] == ["Café au lait"], query


def path_sent(client, path, headers=None, **kwargs):
    """GET ``path`` (bytes, escapes decoded) as a WSGI server passes it: Latin-1 text of its bytes.
    WebTest's own URL handling would refuse to build one that is no UTF-8."""
    request = webtest.TestRequest.blank("/", headers=headers)
    request.environ["PATH_INFO"] = path.decode("latin-1")
    return client.do_request(request, **kwargs)


@pytest.mark.parametrize("path", [b"/api/content/caf\xe9", b"/api/content/\xc0\xaf", b"/admin/content/caf\xff"])
def test_a_path_whose_escapes_write_no_utf8_is_refused_as_a_query_is(client, admin, path):
    response = path_sent(client, path, admin, status=400)
    assert response.json == {"error": "Invalid path", "details": MESSAGE}


def test_a_path_with_utf8_escapes_or_a_literal_replacement_character_is_read(client, admin):
    create_collection("posts", {"type": "object", "properties": {"x": {"type": "string"}}})
    path_sent(client, "/api/content/café".encode(), admin, status=404)  # no such item: looked up, not refused
    path_sent(client, "/api/content/\ufffd".encode(), admin, status=404)  # U+FFFD sent as UTF-8 is text


def test_a_raw_query_is_measured_as_sent_not_as_escaped(client, admin):
    """The length limit counts the bytes sent: escaping a raw byte for reading makes it three."""
    near_limit = ("q=" + "\u4e2d" * 700).encode()  # 2,102 bytes, 6,302 characters escaped; q is unknown, so ignored
    sent_raw(client, "/api/content", near_limit, admin, status=200)
    past_limit = ("search=" + "\u4e2d" * 2100).encode()
    refused = sent_raw(client, "/api/content", past_limit, admin, status=400).json
    assert refused == {"error": "Query string too long",
                       "details": f"a query string takes at most 6144 characters, not {len(past_limit)}"}
