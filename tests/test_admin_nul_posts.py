"""A NUL in a post of the admin's other forms (the permissions grid, the edit page's action
forms and buttons, a version's restore, the collection toggle, a submission's status, the
logs search) is said on the page it came from (422): by the label the form shows, the rest
as typed, nothing changed; never the app's error page."""

import pytest

from app.db.models import Collection, Content, ContentAssignment, FormSubmission, ScheduledContent
from app.services import role_permissions
from tests.fixtures.admin import csrf_headers
from tests.fixtures.content import create_titled_posts
from tests.fixtures.users import create_user
from tests.fixtures.workflow import insert_content
from tests.test_admin_forms import a_form

pytestmark = pytest.mark.backends

MESSAGE = "NUL characters are not allowed"


@pytest.fixture
def posts(browser):
    return create_titled_posts()


def said_on_the_page(response):
    """The page of a refused post, checked to be itself (no error page, no raw NUL)."""
    assert response.content_type == "text/html"
    assert "\x00" not in response.text and "Invalid input" not in response.text
    return response


def edit_url(item):
    return f"/admin/content/posts/{item.id}"


def problem_said(page):
    return page.html.select_one("#form-problems").text


def test_the_permissions_grid_with_nul_shows_the_boxes_as_ticked(browser, signed_in_as):
    signed_in_as("admin")
    before = role_permissions.load()
    assert "content.create" not in before["viewer"]
    form = browser.get("/admin/permissions").forms["permissions-form"]
    form["viewer:content.create"].checked = True
    fields = [(name, value) for name, value in form.submit_fields() if name != "viewer:content.create"]
    response = said_on_the_page(browser.post("/admin/permissions", [*fields, ("viewer:content.create", "on\x00")],
                                             status=422))
    assert [li.text for li in response.html.select("div.message.error li")] == [
        f"viewer: content.create: {MESSAGE}"]
    assert response.forms["permissions-form"]["viewer:content.create"].checked, "ticked as posted"
    assert role_permissions.load() == before, "nothing saved"


def test_an_assignment_with_nul_shows_the_assign_form_as_typed(browser, signed_in_as, posts):
    signed_in_as("editor")
    reviewer = create_user("editor")
    item = insert_content(create_user("author"), posts, title="Draft post")
    form = browser.get(edit_url(item)).forms["assign-form"]
    form["user_id"], form["due_date"], form["note"] = reviewer.id, "2999-05-01", "Please\x00 review"
    response = said_on_the_page(form.submit(status=422))
    assert problem_said(response) == f"Note: {MESSAGE}"
    again = response.forms["assign-form"]
    assert (again["user_id"].value, again["due_date"].value, again["note"].value) == (
        reviewer.id, "2999-05-01", "Please review")
    assert ContentAssignment.select().count() == 0


def test_a_workflow_move_with_nul_keeps_the_note_as_typed(browser, signed_in_as, posts):
    editor = signed_in_as("editor")
    item = insert_content(editor, posts, title="Ready")
    form = browser.get(edit_url(item)).forms["workflow-form"]
    form["comment"] = "Looks\x00 good"
    response = said_on_the_page(form.submit("action", value="publish", status=422))
    assert problem_said(response) == f"Note (required to reject): {MESSAGE}"
    assert response.forms["workflow-form"]["comment"].value == "Looks good"
    assert Content.get_by_id(item.id).status == "draft"


def test_a_schedule_with_nul_shows_the_schedule_form_as_typed(browser, signed_in_as, posts):
    editor = signed_in_as("editor")
    item = insert_content(editor, posts, title="Later")
    form = browser.get(edit_url(item)).forms["schedule-form"]
    form["action"], form["scheduled_at"], form["timezone"] = "archive", "2099-06-01T09:00", "Europe/Paris\x00"
    response = said_on_the_page(form.submit(status=422))
    assert problem_said(response) == f"Time zone: {MESSAGE}"
    again = response.forms["schedule-form"]
    assert (again["action"].value, again["scheduled_at"].value, again["timezone"].value) == (
        "archive", "2099-06-01T09:00", "Europe/Paris")
    assert ScheduledContent.select().count() == 0


def test_a_move_to_the_trash_with_nul_is_said_on_the_edit_page(browser, signed_in_as, posts):
    editor = signed_in_as("editor")
    item = insert_content(editor, posts, title="Kept")
    response = said_on_the_page(browser.post(f"{edit_url(item)}/delete", {"confirm": "yes\x00"},
                                             headers=csrf_headers(browser), status=422))
    assert problem_said(response) == f"confirm: {MESSAGE}"
    assert response.forms["content-form"]["title"].value == "Kept"
    assert Content.get_by_id(item.id).deleted_at is None


def test_a_move_to_the_trash_from_the_list_with_nul_is_said_on_the_list(browser, signed_in_as, posts):
    editor = signed_in_as("editor")
    item = insert_content(editor, posts, title="Kept")
    response = browser.post(f"{edit_url(item)}/delete?status=draft", {"from": "list\x00"},
                            headers=csrf_headers(browser), status=303)
    assert response.location.endswith("/admin/content/posts?status=draft&sort=-updated_at&problem=nul")
    listed = said_on_the_page(response.follow())
    assert listed.html.select_one("#bulk-refusal").get_text(" ", strip=True) == (
        "The form sent a NUL character, which is not allowed: nothing was changed.")
    assert Content.get_by_id(item.id).deleted_at is None


def test_a_version_restore_with_nul_is_said_on_the_version_page(browser, signed_in_as, posts):
    signed_in_as("editor")
    form = browser.get("/admin/content/posts/new").forms["content-form"]
    form["title"] = "One"
    saved = form.submit(status=303).follow().forms["content-form"]
    saved["title"] = "Two"
    saved.submit(status=303)
    item = Content.get()
    restore = browser.get(f"{edit_url(item)}/versions/1").forms["restore-version-form"]
    restore["version_number"].force_value("2\x00")
    response = said_on_the_page(restore.submit(status=422))
    assert response.html.select_one("#restore-refusal").text.strip() == f"version_number: {MESSAGE}"
    stored = Content.get_by_id(item.id)
    assert (stored.title, stored.version_number) == ("Two", 2), "nothing restored"


def test_the_collection_toggle_with_nul_is_said_on_the_editor(browser, signed_in_as, posts):
    signed_in_as("admin")
    form = browser.get("/admin/collections/posts").forms["active-form"]
    form["is_active"].force_value("0\x00")
    response = said_on_the_page(form.submit(status=422))
    assert [li.text for li in response.html.select("#form-message li")] == [f"is_active: {MESSAGE}"]
    assert response.forms["collection-form"]["display_name"].value == "Posts"
    assert Collection.get(Collection.name == "posts").is_active


def test_a_submission_status_with_nul_is_said_on_the_submission_page(browser, signed_in_as):
    signed_in_as("admin")
    submission = FormSubmission.create(form=a_form().id, data={"email": "a@example.com"})
    form = browser.get(f"/admin/forms/contact/submissions/{submission.id}").forms["mark-spam"]
    form["status"].force_value("spam\x00")
    response = said_on_the_page(form.submit(status=422))
    assert response.html.select_one("#submission-error").text == f"status: {MESSAGE}"
    assert response.html.select_one("#submission-status").text == "new"
    assert FormSubmission.get_by_id(submission.id).status == "new"


def test_a_log_search_with_nul_answers_the_row_naming_the_filter(browser, signed_in_as):
    signed_in_as("admin")
    response = browser.post("/admin/logs/search", {"level": "error", "search": "time\x00out"},
                            headers={**csrf_headers(browser), "HX-Request": "true"}, status=422)
    assert response.content_type == "text/html" and "\x00" not in response.text
    row = response.html.select_one("tr.log-search-problems")
    assert row.get_text(" ", strip=True) == (
        "Not understood, so nothing was searched: search must not hold a NUL character")
    # An API client keeps the API's refusal, naming the field as sent.
    api = browser.post("/admin/logs/search", {"search": "time\x00out"},
                       headers={**csrf_headers(browser), "Accept": "application/json"}, status=422)
    assert api.json["details"] == [{"field": "search", "message": MESSAGE}]


def test_a_json_log_search_with_nul_or_a_huge_number_answers_the_row_naming_the_filter(browser, signed_in_as):
    signed_in_as("admin")
    headers = {**csrf_headers(browser), "HX-Request": "true"}
    response = browser.post_json("/admin/logs/search", {"level": ["error"], "search": ["time\x00out"]},
                                 headers=headers, status=422)
    assert response.content_type == "text/html" and "\x00" not in response.text
    row = response.html.select_one("tr.log-search-problems")
    assert row.get_text(" ", strip=True) == (
        "Not understood, so nothing was searched: search[0] must not hold a NUL character")
    huge = browser.post("/admin/logs/search", '{"status": 1' + "0" * 400 + "}",
                        headers={**headers, "Content-Type": "application/json"}, status=422)
    assert huge.html.select_one("tr.log-search-problems").get_text(" ", strip=True) == (
        "Not understood, so nothing was searched: status holds a number out of range")
    # An API client keeps the API's refusal.
    api = browser.post_json("/admin/logs/search", {"search": "time\x00out"},
                            headers={**csrf_headers(browser), "Accept": "application/json"}, status=422)
    assert api.json["details"] == [{"field": "search", "message": MESSAGE}]


def test_a_markdown_preview_with_nul_says_so_for_the_alert_region(browser, signed_in_as):
    signed_in_as("editor")
    response = browser.post("/admin/preview/markdown?field=data.body", {"data.body": "# Title\x00"},
                            headers={**csrf_headers(browser), "HX-Request": "true"}, status=422)
    said_on_the_page(response)
    assert response.html.select_one("[role=alert]").text == MESSAGE
    assert not response.html.select(".md-preview-body")
