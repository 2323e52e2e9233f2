"""SonicJS's admin page URLs redirect permanently to the same pages here (``app.admin.sonicjs_paths``)."""

import pytest

from app.admin.sonicjs_paths import ALIASES
from tests.fixtures.content import create_collection

pytestmark = pytest.mark.backends

SCHEMA = {"type": "object", "properties": {"title": {"type": "string"}}, "required": ["title"]}

# SonicJS's path -> ours, written out here (not read from the module): a wrong alias fails.
EXPECTED = {
    "/admin/dashboard": "/admin",
    "/admin/profile": "/admin/account",
    "/admin/users/{user_id}/edit": "/admin/users/{user_id}",
    "/admin/api-reference": "/docs",
}


def test_every_alias_is_checked_here():
    assert {alias.sonicjs for alias in ALIASES} == set(EXPECTED)


@pytest.mark.parametrize("sonicjs", sorted(EXPECTED))
def test_an_alias_leads_to_our_page_of_the_same_meaning(browser, signed_in_as, sonicjs):
    admin = signed_in_as("admin")
    response = browser.get(sonicjs.format(user_id=admin.id), status=308)
    assert response.location == EXPECTED[sonicjs].format(user_id=admin.id)
    assert response.follow(status=200).content_type == "text/html"
    assert browser.head(sonicjs.format(user_id=admin.id), status=308).location == response.location


def test_an_alias_keeps_the_query_string(browser, signed_in_as):
    signed_in_as("admin")
    assert browser.get("/admin/dashboard?tab=2&q=caf%C3%A9", status=308).location == "/admin?tab=2&q=caf%C3%A9"


def test_sonicjs_content_list_query_leads_to_the_collection_list(browser, signed_in_as):
    """SonicJS's ``?model=<name>`` names the collection (our path), its ``deleted`` status is
    our trash, ``all`` our default; its page of ``limit`` items is ours holding its first item."""
    signed_in_as("admin")
    create_collection("posts", SCHEMA, display_name="Posts")
    response = browser.get("/admin/content?model=posts&status=deleted&search=hello+world&page=2&limit=50",
                           status=308)
    assert response.location == "/admin/content/posts?status=trash&search=hello+world&page=3"  # items 51-100
    page = response.follow(status=200)
    assert "Posts" in page.text
    assert browser.get("/admin/content?model=posts&status=all", status=308).location == "/admin/content/posts"
    assert browser.get("/admin/content?status=draft", status=200).content_type == "text/html"


def test_a_signed_out_browser_following_an_alias_ends_at_sign_in(browser):
    response = browser.get("/admin/profile", status=308)
    response = response.follow(status=303)
    assert response.location == "/admin/login?next=%2Fadmin%2Faccount&reason=required"
    assert "Sign in to continue." in response.follow(status=200).text
    # The list's query comes back after signing in, and is translated then.
    response = browser.get("/admin/content?model=posts", status=303)
    assert response.location == "/admin/login?next=%2Fadmin%2Fcontent%3Fmodel%3Dposts&reason=required"


def test_a_redirect_is_kept_for_an_hour_only(browser, signed_in_as):
    """A 308 without a lifetime is kept by the browser for good: this table may still change."""
    signed_in_as("admin")
    create_collection("posts", SCHEMA, display_name="Posts")
    assert browser.get("/admin/dashboard", status=308).headers["Cache-Control"] == "private, max-age=3600"
    assert browser.get("/admin/content?model=posts", status=308).headers["Cache-Control"] == "private, max-age=3600"


@pytest.mark.parametrize(("query", "ours"), [
    ("model=all", "/admin/content"),
    ("model=all&status=all&page=2", "/admin/content?page=2"),
    ("model=&status=draft", "/admin/content?status=draft"),
    ("model=+all+", "/admin/content"),
    ("model=all&status=deleted&search=hello+world&page=3&limit=50", "/admin/content?status=trash&search=hello+world&page=6"),
])
def test_sonicjs_all_models_is_our_index_list_of_all_content(browser, signed_in_as, query, ours):
    """SonicJS's "All Models" (its default, in every link of its pagination) lists every
    collection's items: our index's All content list, not a collection named all, with its
    parameters translated as a collection's list's are."""
    signed_in_as("admin")
    create_collection("posts", SCHEMA, display_name="Posts")
    response = browser.get("/admin/content?" + query, status=308)
    assert response.location == ours
    page = response.follow(status=200)
    assert page.content_type == "text/html" and "Posts" in page.text


@pytest.mark.parametrize(("query", "page"), [
    ("page=3&limit=50", "page=6"),  # items 101-150: ours 101-120 is our page 6
    ("page=2", "page=2"),  # SonicJS's pages are ours in size without a limit
    ("page=2&limit=10", ""),  # items 11-20: our first page
    ("page=4&limit=7", "page=2"),  # items 22-28 start on our page 2 (21-40)
    ("limit=100", ""),
    ("page=0&limit=x", ""),
    ("page=60000&limit=1000", "page=999999"),  # past our last readable page: the last one
    ("page=1000000", "page=999999"),  # a page past it too, not the first
    ("page=" + "9" * 5000, "page=999999"),  # more digits than Python converts: past it, not a 500
    ("page=2&limit=" + "9" * 5000, "page=999999"),  # its second page starts past it as well
    ("page=1&limit=" + "9" * 5000, ""),
    ("page=" + "0" * 5000 + "3", "page=3"),
    ("page=1e9", ""),  # no whole number: the first page, as before
    ("page=-5", ""),
    ("page=%D9%A0", ""),  # an Arabic-Indic zero is zero: no page, the first
    ("page=" + "%D9%A0" * 20 + "%D9%A3", "page=3"),  # its zeros first count for nothing, as "0"s do
])
def test_sonicjs_page_leads_to_our_page_holding_its_first_item(browser, signed_in_as, query, page):
    signed_in_as("admin")
    location = browser.get("/admin/content?model=posts&" + query, status=308).location
    assert location == "/admin/content/posts" + (f"?{page}" if page else "")


def test_a_sonicjs_page_past_ours_ends_on_our_list_saying_so(browser, signed_in_as):
    """A SonicJS page past all we number leads to our last readable page, whose list says
    it is past the last page and links back to the last one."""
    signed_in_as("admin")
    create_collection("posts", SCHEMA, display_name="Posts")
    for model, ours in (("posts", "/admin/content/posts"), ("all", "/admin/content")):
        response = browser.get(f"/admin/content?model={model}&page=" + "9" * 40, status=308)
        assert response.location == ours + "?page=999999"
        pager = response.follow(status=200).html.select_one(".pager")
        assert "The page asked for is past the last page (1)" in pager.get_text(" ", strip=True)
        assert pager.select_one("a[rel=prev]")["href"].endswith("page=1")


@pytest.mark.parametrize("status", ["review", "scheduled"])
def test_sonicjs_statuses_we_cannot_filter_on_are_dropped(browser, signed_in_as, status):
    """Our list filters on draft, published and archived: SonicJS's review and scheduled are
    workflow states and schedules here, with no filter of the list."""
    signed_in_as("admin")
    location = browser.get(f"/admin/content?model=posts&status={status}&search=x", status=308).location
    assert location == "/admin/content/posts?search=x"
    assert browser.get("/admin/content?model=posts&status=draft", status=308).location == \
        "/admin/content/posts?status=draft"


def test_an_alias_with_nothing_to_translate_passes_the_query_string_as_it_came(browser, signed_in_as):
    signed_in_as("admin")
    assert browser.get("/admin/dashboard?flag&x=%7E&y=a+b", status=308).location == "/admin?flag&x=%7E&y=a+b"
