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
    our trash, ``all`` our default; ``limit`` has no equivalent (our pages have one size)."""
    signed_in_as("admin")
    create_collection("posts", SCHEMA, display_name="Posts")
    response = browser.get("/admin/content?model=posts&status=deleted&search=hello+world&page=2&limit=50",
                           status=308)
    assert response.location == "/admin/content/posts?status=trash&search=hello+world&page=2"
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
