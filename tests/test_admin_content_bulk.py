"""The admin's bulk actions on the content list and its Duplicate button, through the real
app with a browser's Accept header; outcomes are read back from the database."""

import pytest

from app.db.models import Content, now_ms
from tests.fixtures.admin import csrf_headers
from tests.fixtures.content import create_collection
from tests.fixtures.users import create_user
from tests.fixtures.workflow import insert_content

pytestmark = pytest.mark.backends

LIST = "/admin/content/posts"


@pytest.fixture
def posts(browser):
    return create_collection("posts", {"type": "object", "properties": {"title": {"type": "string"},
                                                                         "body": {"type": "string"}}},
                             display_name="Posts")


def statuses(*items):
    return [(row.status, row.deleted_at is not None)
            for row in (Content.get_by_id(item.id) for item in items)]


def tick(form, *items):
    """Tick the list's boxes of ``items`` (WebTest names repeated checkboxes by position)."""
    wanted = {item.id for item in items}
    for box in form.fields["ids"]:
        box.checked = box._value in wanted


def test_the_list_offers_boxes_and_the_actions_the_user_may_take(browser, signed_in_as, posts):
    editor = signed_in_as("editor")
    insert_content(editor, posts, title="One")
    page = browser.get(LIST)
    form = page.forms["bulk-form"]
    assert [option[0] for option in form["action"].options] == ["", "publish", "draft", "archive", "delete"]
    assert form["action"].value == ""  # "Choose an action": ticking and Apply alone change nothing
    assert page.html.select_one('#bulk-action option[value="delete"]')["data-confirm"].endswith("to the trash?")
    assert page.html.select_one("#select-all")["data-select-all"] == "ids"
    assert form.fields["csrf_token"]
    assert not browser.get(f"{LIST}?status=trash").html.select("#bulk-form")  # no action takes trashed items
    browser.reset()
    insert_content(signed_in_as("author"), posts, title="Mine")
    assert [option[0] for option in browser.get(LIST).forms["bulk-form"]["action"].options] == ["", "delete"]
    browser.reset()
    signed_in_as("viewer")
    insert_content(editor, posts, state="published", published_at=now_ms())
    viewer_page = browser.get(LIST)
    assert not viewer_page.html.select("#bulk-form") and not viewer_page.html.select('input[name="ids"]')


def test_publishing_the_ticked_items_says_how_many_changed(browser, signed_in_as, posts):
    editor = signed_in_as("editor")
    first, second, untouched = (insert_content(editor, posts, title=t) for t in ("First", "Second", "Third"))
    form = browser.get(f"{LIST}?sort=title").forms["bulk-form"]
    tick(form, first, second)
    form["action"] = "publish"
    response = form.submit(status=303)
    assert response.location.endswith("/admin/content/posts?sort=title&done=publish&count=2&unchanged=0")
    assert "2 items published." in response.follow().text
    assert statuses(first, second, untouched) == [("published", False), ("published", False), ("draft", False)]
    form = browser.get(LIST).forms["bulk-form"]
    tick(form, first, untouched)
    form["action"] = "delete"
    assert "2 items moved to the trash." in form.submit(status=303).follow().text
    assert statuses(first, untouched) == [("published", True), ("draft", True)]


def test_a_refused_bulk_action_changes_nothing_and_says_why(browser, signed_in_as, posts):
    editor = signed_in_as("editor")
    published = insert_content(editor, posts, title="Live", state="published", published_at=now_ms())
    draft = insert_content(editor, posts, title="Unfinished")
    form = browser.get(LIST).forms["bulk-form"]
    tick(form, published, draft)
    form["action"] = "archive"
    response = form.submit(status=303)
    assert response.location.startswith(f"{LIST}?sort=-updated_at&refused=archive&why=")  # the list, not the form's address
    page = response.follow()
    refusal = page.html.select_one("#bulk-refusal").get_text(" ", strip=True)
    assert "Nothing was changed: one of the ticked items could not be archived." in refusal
    assert "Unfinished: it cannot be archived while it is a draft." in refusal
    assert statuses(published, draft) == [("published", False), ("draft", False)]
    assert {box["value"] for box in page.html.select('input[name="ids"][checked]')} == {published.id, draft.id}
    nothing = browser.post(f"{LIST}/bulk", {"action": "publish"}, headers=csrf_headers(browser), status=303)
    assert "Tick the items to change first." in nothing.follow().html.select_one("#bulk-refusal").text
    unchosen = page.forms["bulk-form"]
    unchosen["action"] = ""
    refused = unchosen.submit(status=303).follow()
    assert "Choose an action to apply to the ticked items." in refused.html.select_one("#bulk-refusal").text
    assert statuses(published, draft) == [("published", False), ("draft", False)]


def test_a_bulk_post_with_nul_is_said_on_the_list_and_changes_nothing(browser, signed_in_as, posts):
    editor = signed_in_as("editor")
    item = insert_content(editor, posts, title="Unfinished")
    response = browser.post(f"{LIST}/bulk", {"action": "publish\x00", "ids": [item.id]},
                            headers=csrf_headers(browser), status=303)
    page = response.follow()
    assert page.html.select_one("#bulk-refusal").get_text(" ", strip=True) == (
        "The form sent a NUL character, which is not allowed: nothing was changed.")
    assert {box["value"] for box in page.html.select('input[name="ids"][checked]')} == {item.id}
    assert statuses(item) == [("draft", False)]


def test_the_list_reads_back_only_known_refusals(browser, signed_in_as, posts):
    editor = signed_in_as("editor")
    item = insert_content(editor, posts, title="Mine")
    page = browser.get(f"{LIST}?refused=archive&why={item.id}:Click%20here&problem=Call%20us")
    assert not page.html.select("#bulk-refusal")
    page = browser.get(f"{LIST}?refused=archive&why=unknown-id:gone")
    assert "An item you cannot open: not found" in page.html.select_one("#bulk-refusal").text


def test_an_author_cannot_trash_others_items_in_bulk(browser, signed_in_as, posts):
    author = signed_in_as("author")
    own = insert_content(author, posts, title="Mine")
    theirs = insert_content(create_user("author"), posts, title="Theirs", state="published", published_at=now_ms())
    page = browser.post(f"{LIST}/bulk", {"action": "delete", "ids": [own.id, theirs.id]},
                        headers=csrf_headers(browser), status=303).follow()
    assert "Theirs: you are not allowed to change this item." in page.html.select_one("#bulk-refusal").text
    assert statuses(own, theirs) == [("draft", False), ("published", False)]


def test_the_bulk_form_needs_its_csrf_token(browser, signed_in_as, posts):
    editor = signed_in_as("editor")
    item = insert_content(editor, posts)
    browser.post(f"{LIST}/bulk", {"action": "publish", "ids": [item.id]}, status=403)
    assert statuses(item) == [("draft", False)]
    browser.post(f"{LIST}/bulk", {"action": "publish", "ids": [item.id]}, headers=csrf_headers(browser), status=303)
    assert statuses(item) == [("published", False)]


def test_duplicate_from_the_edit_page_opens_the_copy(browser, signed_in_as, posts):
    editor = signed_in_as("editor")
    item = insert_content(editor, posts, title="Original", slug="original", state="published",
                          published_at=now_ms(), data={"title": "Original", "body": "Text"})
    response = browser.get(f"{LIST}/{item.id}").forms["duplicate-form"].submit(status=303)
    copy = Content.get((Content.collection == posts.id) & (Content.id != item.id))
    assert response.location.endswith(f"/admin/content/posts/{copy.id}?moved=duplicated")
    assert "This is the new copy, a draft" in response.follow().text
    assert (copy.title, copy.slug, copy.status, copy.data) == (
        "Original (copy)", "original-copy", "draft", {"title": "Original (copy)", "body": "Text"})
    browser.reset()
    signed_in_as("viewer")
    assert not browser.get(f"{LIST}/{item.id}").html.select("#duplicate-form")
    browser.post(f"{LIST}/{item.id}/duplicate", headers=csrf_headers(browser), status=403)
    assert Content.select().where(Content.collection == posts.id).count() == 2


def test_a_refused_bulk_action_goes_back_to_the_list_with_its_filters(browser, signed_in_as, posts):
    """The refusal is shown on the list with its filters; its chips and pager lead on from
    there, and the form's address, opened, leads to the list too."""
    editor = signed_in_as("editor")
    drafts = [insert_content(editor, posts, title=f"Draft {n:02}") for n in range(25)]
    form = browser.get(f"{LIST}?status=draft&sort=title").forms["bulk-form"]
    tick(form, drafts[0])
    form["action"] = "archive"
    refused = form.submit(status=303).follow()
    assert refused.request.path == LIST
    assert (refused.request.GET["status"], refused.request.GET["sort"]) == ("draft", "title")
    assert refused.html.select_one("#bulk-refusal")
    chip = refused.click(href=r"status=published")
    assert chip.request.path == LIST and chip.html.select_one("#bulk-form") is None  # no published items
    next_page = refused.click(description="Next")
    assert (next_page.request.path, next_page.request.GET["page"], next_page.request.GET["sort"]) == (LIST, "2", "title")
    assert "Draft 20" in next_page.text and "Draft 19" not in next_page.text
    again = browser.get(f"{LIST}/bulk?status=draft&sort=title", status=303)
    assert again.location.endswith(f"{LIST}?status=draft&sort=title")



def test_a_collections_bulk_form_refuses_items_of_another(browser, signed_in_as, posts):
    editor = signed_in_as("editor")
    pages = create_collection("pages", {"type": "object"}, display_name="Pages")
    own = insert_content(editor, posts, title="Post")
    elsewhere = insert_content(editor, pages, title="Page")
    page = browser.post(f"{LIST}/bulk", {"action": "publish", "ids": [own.id, elsewhere.id]},
                        headers=csrf_headers(browser), status=303).follow()
    refusal = page.html.select_one("#bulk-refusal").get_text(" ", strip=True)
    assert "Nothing was changed: one of the ticked items could not be published." in refusal
    assert "Page: not found in this collection" in refusal
    assert statuses(own, elsewhere) == [("draft", False), ("draft", False)]
    browser.post("/admin/content/pages/bulk", {"action": "publish", "ids": [elsewhere.id]},
                 headers=csrf_headers(browser), status=303)
    assert statuses(elsewhere) == [("published", False)]
