"""The admin's assign form on the edit page and the My assignments page, through the real app
with a browser's Accept header; outcomes are read back from the database."""

import pytest

from app.db.models import Content, ContentAssignment, now_ms
from tests.fixtures.admin import as_a_browser_sends, csrf_headers
from tests.fixtures.content import create_collection, create_titled_posts
from tests.fixtures.users import bearer, create_user, token_for
from tests.fixtures.workflow import history_rows, insert_content

pytestmark = pytest.mark.backends

LIST = "/admin/content/posts"


@pytest.fixture
def posts(browser):
    return create_titled_posts()


def assignment_of(item):
    return ContentAssignment.get_or_none(ContentAssignment.content == item.id)


def test_an_editor_assigns_from_the_edit_page(browser, signed_in_as, posts):
    editor = signed_in_as("editor")
    author = create_user("author", first_name="Ann", last_name="Author")
    reviewer = create_user("editor", first_name="Rita", last_name="Review")
    create_user("editor", first_name="Gone", is_active=False)
    viewer = create_user("viewer")
    item = insert_content(author, posts, state="pending-review", title="Draft post")

    form = browser.get(f"{LIST}/{item.id}").forms["assign-form"]
    # A draft: those who read every item, and its author; never an inactive user or a viewer.
    choices = [value for value, _, _ in form["user_id"].options]
    assert set(choices) == {"", editor.id, author.id, reviewer.id} and viewer.id not in choices
    form["user_id"] = reviewer.id
    form["due_date"] = "2999-05-01"
    form["note"] = "Please review"
    page = form.submit(status=303).follow()

    row = assignment_of(item)
    assert (row.assignee_id, row.assigned_by_id, row.note) == (reviewer.id, editor.id, "Please review")
    assert "The assignment was saved." in page.text
    assert "Assigned to <strong>Rita Review</strong>" in page.text
    assert [h.metadata["action"] for h in history_rows(item.id)] == ["assigned"]
    # Choosing nobody unassigns.
    form = page.forms["assign-form"]
    assert form["user_id"].value == reviewer.id
    form["user_id"] = ""
    form.submit(status=303)
    assert assignment_of(item) is None


def test_a_refused_assignment_shows_the_page_with_the_reason(browser, signed_in_as, posts):
    signed_in_as("editor")
    author = create_user("author")
    item = insert_content(author, posts, title="Draft post")
    form = browser.get(f"{LIST}/{item.id}").forms["assign-form"]
    form["user_id"] = author.id
    form["due_date"] = "2001-01-01"

    page = form.submit(status=422)

    assert "due_at must be in the future" in page.text and page.forms["assign-form"]
    assert assignment_of(item) is None


@pytest.mark.parametrize("state", ["published", "archived"])
def test_an_item_done_with_shows_how_to_assign_it_instead_of_the_form(browser, signed_in_as, posts, state):
    signed_in_as("editor")
    item = insert_content(create_user("author"), posts, state=state)

    page = browser.get(f"{LIST}/{item.id}")

    assert "assign-form" not in page.forms
    assert page.html.select_one("#assign-closed").text == (
        f"The item is {state}: move it back to draft (or into review) to assign someone to it.")


def test_a_form_sent_once_the_item_was_published_is_refused_with_the_reason(browser, signed_in_as, posts):
    signed_in_as("editor")
    author = create_user("author")
    item = insert_content(author, posts, title="Draft post")
    form = browser.get(f"{LIST}/{item.id}").forms["assign-form"]
    Content.update(status="published", workflow_state="published").where(Content.id == item.id).execute()
    form["user_id"] = author.id

    page = form.submit(status=409)

    assert "The item is published: move it back to draft (or a review state) before assigning it" in page.text
    assert assignment_of(item) is None and history_rows(item.id) == []
    assert page.html.select_one("#assign-closed") is not None


def test_the_assign_form_needs_its_csrf_token(browser, signed_in_as, posts):
    editor = signed_in_as("editor")
    item = insert_content(editor, posts, title="Mine")

    browser.post(f"{LIST}/{item.id}/assign", {"user_id": editor.id}, status=403)
    assert assignment_of(item) is None
    browser.post(f"{LIST}/{item.id}/assign", {"user_id": editor.id}, headers=csrf_headers(browser), status=303)
    assert assignment_of(item).assignee_id == editor.id


def test_an_author_gets_no_form_on_someone_elses_item_and_cannot_post_one(browser, signed_in_as, posts):
    signed_in_as("author")
    other = create_user("author")
    editor = create_user("editor")
    item = insert_content(other, posts, state="published", published_at=now_ms(), title="Theirs")

    page = browser.get(f"{LIST}/{item.id}")
    assert not page.html.select("#assign-form")
    browser.post(f"{LIST}/{item.id}/assign", {"user_id": editor.id}, headers=csrf_headers(browser), status=403)
    assert assignment_of(item) is None


def test_an_author_gets_no_form_on_their_item_while_someone_else_holds_it(browser, signed_in_as, posts):
    author = signed_in_as("author")
    editor = create_user("editor")
    item = insert_content(author, posts, title="Mine")
    ContentAssignment.create(content=item.id, assignee=editor.id, assigned_by=editor.id)

    assert not browser.get(f"{LIST}/{item.id}").html.select("#assign-form")
    browser.post(f"{LIST}/{item.id}/assign", {"user_id": ""}, headers=csrf_headers(browser), status=403)
    assert assignment_of(item).assignee_id == editor.id


def test_the_form_shows_the_assignment_and_saving_it_unchanged_changes_nothing(browser, signed_in_as, posts):
    editor = signed_in_as("editor")
    author = create_user("author")
    gone = create_user("editor", first_name="Gone", is_active=False)
    item = insert_content(author, posts, title="Draft post")
    due = now_ms() - 3_600_000  # overdue already
    ContentAssignment.create(content=item.id, assignee=gone.id, assigned_by=editor.id, due_at=due,
                             note="Line one\nline two")

    form = browser.get(f"{LIST}/{item.id}").forms["assign-form"]
    assert form["user_id"].value == gone.id  # no longer eligible, still the one shown
    assert form["due_date"].value and form["note"].value == "Line one\nline two"
    as_a_browser_sends(form, "note")
    form.submit(status=303)

    row = assignment_of(item)
    assert (row.assignee_id, row.due_at, row.note) == (gone.id, due, "Line one\nline two")
    assert history_rows(item.id) == []


def test_my_assignments_lists_mine_with_overdue_ones_marked(browser, signed_in_as, posts):
    me = signed_in_as("editor")
    someone = create_user("editor")
    author = create_user("author")
    late = insert_content(author, posts, state="pending-review", title="Late one")
    later = insert_content(author, posts, title="Later one")
    theirs = insert_content(author, posts, title="Not mine")
    ContentAssignment.create(content=late.id, assignee=me.id, assigned_by=someone.id, due_at=now_ms() - 1000,
                             note="Hurry")
    ContentAssignment.create(content=later.id, assignee=me.id, assigned_by=someone.id, due_at=None)
    ContentAssignment.create(content=theirs.id, assignee=someone.id, assigned_by=me.id)

    page = browser.get("/admin").click(href="/admin/workflow/assignments")

    rows = page.html.select("#assignments tbody tr")
    assert [row.select_one("a").text for row in rows] == ["Late one", "Later one"]
    assert rows[0].select_one("a")["href"] == f"{LIST}/{late.id}"
    assert rows[0].select_one(".overdue") and not rows[1].select_one(".overdue")
    assert "pending-review" in rows[0].text and "Hurry" in rows[0].text


@pytest.mark.parametrize("role", ["editor", "admin"])
def test_my_assignments_leave_deactivated_collections_out_as_all_content_does(browser, signed_in_as, posts, role):
    """An item of a deactivated collection is listed nowhere in the admin, for its managers
    too: its row would lead to an edit page that is not found."""
    me = signed_in_as(role)
    archive = create_collection("archive", display_name="Archive", is_active=False)
    live = insert_content(me, posts, title="Live one")
    withdrawn = insert_content(me, archive, title="Withdrawn one")
    for item in (live, withdrawn):
        ContentAssignment.create(content=item.id, assignee=me.id, assigned_by=me.id)
    page = browser.get("/admin/workflow/assignments")
    assert [a.text for a in page.html.select("#assignments tbody tr a")] == ["Live one"]
    browser.get(f"/admin/content/archive/{withdrawn.id}", status=404)
    # The API's list is the editor's whole scope, as GET /api/content is.
    answer = browser.get("/api/workflow/assignments", headers={**bearer(token_for(me)), "Accept": "application/json"})
    assert sorted(row["content"]["id"] for row in answer.json["data"]) == sorted([live.id, withdrawn.id])


def test_my_assignments_is_for_signed_in_readers(browser, signed_in_as):
    assert browser.get("/admin/workflow/assignments", status=303).location.endswith(
        "/admin/login?next=%2Fadmin%2Fworkflow%2Fassignments&reason=required")
    signed_in_as("viewer")
    assert "Nothing is assigned to you." in browser.get("/admin/workflow/assignments").text
