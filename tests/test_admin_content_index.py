"""The admin's content index: under the collections, the items last edited across them, each
as its collection's list shows it and only where the reader may read it. Through the real
app, with a browser's Accept header, on both databases."""

import pytest

from app.db.models import now_ms
from tests.fixtures.content import create_collection
from tests.fixtures.users import create_user
from tests.fixtures.workflow import insert_content

pytestmark = pytest.mark.backends

INDEX = "/admin/content"
DAY = 86_400_000
JAN_1 = 1_767_225_600_000  # 2026-01-01 00:00 UTC


@pytest.fixture
def posts(browser):
    return create_collection("posts", display_name="Blog posts")


@pytest.fixture
def pages(browser):
    return create_collection("pages", display_name="Site pages")


def recent_rows(page):
    """``[[cell text, ...], ...]`` of the "Recently edited" table, top to bottom."""
    section = page.html.select_one("section.recently-edited")
    return [[td.get_text(" ", strip=True) for td in row.select("td")] for row in section.select("tbody tr")]


def recent_links(page):
    section = page.html.select_one("section.recently-edited")
    return [a["href"] for a in section.select("tbody td.col-title a")]


def recent_titles(page):
    return [row[0].split(" ")[0] for row in recent_rows(page)]


def test_an_editor_sees_items_of_every_collection_last_edited_first(browser, signed_in_as, posts, pages):
    editor = signed_in_as("editor", first_name="Ed", last_name="Itor")
    older = insert_content(editor, posts, "published", title="Older", slug="older", updated_at=JAN_1)
    newer = insert_content(editor, pages, "draft", title="Newer", slug="newer", updated_at=JAN_1 + DAY)
    page = browser.get(INDEX)
    assert recent_rows(page) == [
        ["Newer newer", "Site pages", "draft", "Ed Itor", "2026-01-02 00:00 UTC"],
        ["Older older", "Blog posts", "published", "Ed Itor", "2026-01-01 00:00 UTC"],
    ]
    assert recent_links(page) == [f"/admin/content/pages/{newer.id}", f"/admin/content/posts/{older.id}"]
    assert browser.get(recent_links(page)[0]).status_int == 200  # the link opens the item's edit page


def test_the_table_holds_the_twenty_last_edited(browser, signed_in_as, posts):
    editor = signed_in_as("editor")
    for n in range(22):
        insert_content(editor, posts, "draft", title=f"T{n:02}", updated_at=JAN_1 + n * DAY)
    assert recent_titles(browser.get(INDEX)) == [f"T{n:02}" for n in range(21, 1, -1)]


def test_a_viewer_sees_published_items_only(browser, signed_in_as, posts, pages):
    author = create_user("author")
    insert_content(author, posts, "published", title="Out", updated_at=JAN_1)
    insert_content(author, pages, "draft", title="Draft", updated_at=JAN_1 + DAY)
    signed_in_as("viewer")
    assert recent_titles(browser.get(INDEX)) == ["Out"]


def test_an_author_sees_their_own_drafts_and_not_another_authors(browser, signed_in_as, posts, pages):
    other = create_user("author")
    insert_content(other, posts, "draft", title="Theirs", updated_at=JAN_1 + 2 * DAY)
    insert_content(other, pages, "published", title="Public", updated_at=JAN_1)
    me = signed_in_as("author")
    insert_content(me, pages, "draft", title="Mine", updated_at=JAN_1 + DAY)
    assert recent_titles(browser.get(INDEX)) == ["Mine", "Public"]


def test_trashed_items_and_a_deactivated_collections_are_left_out(browser, signed_in_as, posts):
    author = create_user("author")
    archive = create_collection("archive", is_active=False)
    insert_content(author, posts, "published", title="Live", updated_at=JAN_1)
    insert_content(author, posts, "published", title="Trashed", updated_at=JAN_1 + DAY, deleted_at=now_ms())
    insert_content(author, archive, "published", title="Withdrawn", updated_at=JAN_1 + 2 * DAY)
    signed_in_as("viewer")
    assert recent_titles(browser.get(INDEX)) == ["Live"]


def test_an_editor_does_not_see_a_deactivated_collections_items_or_trashed_ones(browser, signed_in_as, posts):
    editor = signed_in_as("editor")
    archive = create_collection("archive", is_active=False)
    insert_content(editor, posts, "draft", title="Live", updated_at=JAN_1)
    insert_content(editor, posts, "draft", title="Trashed", updated_at=JAN_1 + DAY, deleted_at=now_ms())
    insert_content(editor, archive, "draft", title="Withdrawn", updated_at=JAN_1 + 2 * DAY)
    assert recent_titles(browser.get(INDEX)) == ["Live"]


def test_more_deactivated_collections_than_a_filter_takes_are_still_left_out(browser, signed_in_as, posts,
                                                                              monkeypatch):
    """Past the values one filter takes, the rest of the deactivated collections' items are
    dropped from the page instead of the filter being refused."""
    monkeypatch.setattr("app.admin.content.MAX_IN_VALUES", 1)
    monkeypatch.setattr("app.services.content.values.MAX_IN_VALUES", 1)
    editor = signed_in_as("editor")
    insert_content(editor, posts, "draft", title="Live", updated_at=JAN_1)
    for n, name in enumerate(("archive", "bygone")):
        insert_content(editor, create_collection(name, is_active=False), "draft", title=name,
                       updated_at=JAN_1 + (n + 1) * DAY)
    assert recent_titles(browser.get(INDEX)) == ["Live"]


def test_nothing_readable_says_so(browser, signed_in_as, posts):
    insert_content(create_user("author"), posts, "draft", title="Hidden")
    signed_in_as("viewer")
    page = browser.get(INDEX)
    assert recent_rows(page) == []
    assert "No items you can read have been edited yet." in page.html.select_one("section.recently-edited").text


def test_without_collections_the_table_is_empty(browser, signed_in_as):
    signed_in_as("editor")
    page = browser.get(INDEX)
    assert "There are no collections yet." in page.text
    assert recent_rows(page) == []
