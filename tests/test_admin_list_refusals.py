"""A content list's filter the server refuses, asked for by htmx once the page has loaded:
the answer is the list page as loading its URL shows it (its status, its results region
holding the list as the server could draw it and a line saying why), and that region is
marked ``data-shows-refusals``, which admin.js reads to swap it in place of the page's own.
A collection's list whose collection is no longer active answers such a region too, saying
so. Failures that are no filter refusal draw no such region, so nothing of theirs is swapped."""

import pytest

from app.db.models import Collection
from tests.fixtures.content import create_collection
from tests.fixtures.workflow import insert_content

SCHEMA = {"type": "object", "properties": {"title": {"type": "string", "required": True}}}
HTMX = {"HX-Request": "true"}
LISTS = ["/admin/content/posts", "/admin/content"]


@pytest.fixture
def posts(browser):
    return create_collection("posts", SCHEMA, display_name="Posts")


def region(page):
    """The list region htmx swaps (``#results``), marked as one that shows refusals."""
    return page.html.select_one("#results[data-shows-refusals]")


def titles(found):
    return [cell.get_text(" ", strip=True).split(" ")[0] for cell in found.select("tbody td.col-title")]


@pytest.mark.parametrize("path", LISTS)
def test_a_refused_status_answers_the_list_region_with_its_refusal(browser, signed_in_as, posts, path):
    editor = signed_in_as("editor")
    insert_content(editor, posts, "draft", title="Drafted")
    insert_content(editor, posts, "published", title="Out")
    assert region(browser.get(path, headers=HTMX)) is not None  # the region the answer replaces
    refused = browser.get(f"{path}?status=bogus", headers=HTMX, status=400)
    assert refused.content_type == "text/html"
    answered = region(refused)
    assert answered is not None and answered.select_one("p[role=alert]").get_text(strip=True).startswith(
        "That status filter is unknown, so the list is not filtered by status.")
    assert sorted(titles(answered)) == ["Drafted", "Out"]  # unfiltered by the status refused
    # The same as the page loaded without htmx shows.
    assert str(region(browser.get(f"{path}?status=bogus", status=400))) == str(answered)
    # A valid filter that follows answers its rows and no refusal line.
    drafts = region(browser.get(f"{path}?status=draft", headers=HTMX, status=200))
    assert titles(drafts) == ["Drafted"] and drafts.select_one("[role=alert]") is None


def test_a_lost_session_draws_no_list_region(browser, posts):
    """A signed-out htmx request is sent to sign in: no list region to swap over the list."""
    answer = browser.get("/admin/content/posts?status=bogus", headers=HTMX, status=401)
    assert answer.headers["HX-Redirect"].startswith("/admin/login?")
    assert "data-shows-refusals" not in answer.text


NO_ACTIVE_COLLECTION = ("No active collection has this name: it may have been deactivated or deleted, so there is"
                        " no list to show. All content lists the items of the active collections.")


def test_a_collection_deactivated_since_the_list_loaded_answers_a_region_saying_so(browser, signed_in_as, posts):
    # The list's filters ask for its collection, deactivated meanwhile: the answer (404) is
    # what admin.js swaps in, a region with no rows, saying why and linking to All content.
    editor = signed_in_as("editor")
    insert_content(editor, posts, "draft", title="Drafted")
    form = browser.get("/admin/content/posts").html.select_one("form[role=search]")
    Collection.update(is_active=False).where(Collection.name == "posts").execute()
    answer = browser.get(f"{form['hx-get']}?status=draft", headers=HTMX, status=404)
    answered = answer.html.select_one(form["hx-select"])
    assert answered is not None and answered.has_attr("data-shows-refusals")
    line = answered.select_one("[role=alert]")
    assert line.get_text(" ", strip=True) == NO_ACTIVE_COLLECTION
    assert line.select_one("a")["href"] == "/admin/content"
    assert titles(answered) == [] and "Drafted" not in answer.text
    # The same as the page loaded without htmx shows.
    assert str(region(browser.get("/admin/content/posts", status=404))) == str(answered)


def test_an_unknown_list_says_the_same_without_echoing_its_name(browser, signed_in_as, posts):
    """A deactivated collection reads as one never made: the page tells nobody which exist."""
    signed_in_as("author")
    Collection.update(is_active=False).where(Collection.name == "posts").execute()
    for name in ("posts", "gone-away"):
        answer = browser.get(f"/admin/content/{name}?status=bogus", headers=HTMX, status=404)
        assert region(answer).select_one("[role=alert]").get_text(" ", strip=True) == NO_ACTIVE_COLLECTION
        assert "gone-away" not in answer.text and "Posts" not in answer.text
