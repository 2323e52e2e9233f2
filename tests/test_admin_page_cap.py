"""A numbered admin list asked for a page of a million or more reads it as its last readable
page (999999), and its "past the last page" notice then names no page number: neither the
one typed, which was not read, nor 999999, which was not asked for."""

import pytest

from app.services.content import query
from tests.fixtures.content import create_collection
from tests.fixtures.workflow import insert_content

PAST_THE_CAP = ("1000000", "5000000", "0" * 12 + "7654321", "9" * 5000)
LISTS = ["/admin/users", "/admin/media", "/admin/logs", "/admin/content"]


def pager_text(page):
    return page.html.select_one(".pager").get_text(" ", strip=True)


@pytest.mark.parametrize("path", LISTS)
def test_a_page_past_the_cap_is_past_the_last_page_without_a_misstated_number(browser, signed_in_as, path):
    signed_in_as("admin")
    for page in PAST_THE_CAP:
        said = pager_text(browser.get(f"{path}?page={page}"))
        assert "The page asked for is past the last page (1)" in said
        assert "999999" not in said and page.lstrip("0")[:7] not in said


@pytest.mark.parametrize("path", LISTS)
def test_a_page_read_as_typed_is_still_named(browser, signed_in_as, path):
    signed_in_as("admin")
    for typed, read in (("999998", "999998"), ("0042", "42")):
        assert f"Page {read} is past the last page (1)" in pager_text(browser.get(f"{path}?page={typed}"))


def test_a_counted_so_far_list_past_the_cap_names_no_number_either(browser, signed_in_as, monkeypatch):
    """A filtered content list past its count limit names no last page; past the cap, no page asked for."""
    editor = signed_in_as("editor")
    posts = create_collection("posts", {"type": "object", "properties": {"title": {"type": "string"}}},
                              display_name="Posts")
    for n in range(5):
        insert_content(editor, posts, "draft", title=f"Item {n}")
    monkeypatch.setattr(query, "COUNT_LIMIT", 3)
    for path in ("/admin/content", "/admin/content/posts"):
        said = pager_text(browser.get(f"{path}?search=Item&page=5000000"))
        assert "The page asked for is past the last page" in said and "999999" not in said
        assert "Page 2 is past the last page" in pager_text(browser.get(f"{path}?search=Item&page=2"))
