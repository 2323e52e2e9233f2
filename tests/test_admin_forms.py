"""The admin's Forms pages over WebTest: the list, the editor, submissions, export, CSRF."""

import json

import pytest

from app.db.models import Form, FormSubmission
from app.services import forms
from tests.fixtures.admin import csrf_token

pytestmark = pytest.mark.backends

FIELDS = {"email": {"type": "email", "required": True}, "message": {"type": "textarea"}}


def a_form(**changes):
    values = {"name": "contact", "display_name": "Contact", "fields": FIELDS,
              "settings": {"notify_emails": ["team@example.com"]}, **changes}
    return forms.create_form(values, turnstile_ready=False)


def test_a_form_is_made_in_the_editor_and_its_problems_are_shown(browser, signed_in_as):
    signed_in_as("editor")
    listing = browser.get("/admin/forms")
    assert 'href="/admin/forms"' in listing.text and "No forms yet." in listing.text
    editor = listing.click(href="/admin/forms/new")
    form = editor.forms["form-editor"]
    form["name"] = "contact"
    form["display_name"] = "Contact <us>"
    form["fields"] = '{"email": {"type": "picture"}'
    shown = form.submit(status=422)
    assert "not valid JSON" in shown.text and 'value="Contact &lt;us&gt;"' in shown.text
    form = shown.forms["form-editor"]
    form["fields"] = json.dumps({"email": {"type": "picture"}, "photo": {"type": "media"}})
    form["redirect_url"] = "javascript:alert(1)"
    shown = form.submit(status=422)
    problems = shown.html.find(id="form-problems").text
    assert "fields.email.type" in problems and "settings.redirect_url" in problems
    form = shown.forms["form-editor"]
    form["fields"] = json.dumps(FIELDS)
    form["redirect_url"] = "/thanks"
    form["notify_emails"] = "a@example.com, b@example.com\nc@example.com"
    saved = form.submit(status=303)
    assert saved.location.endswith("/admin/forms/contact?saved=1")
    stored = Form.get(Form.name == "contact")
    assert stored.fields == FIELDS and stored.display_name == "Contact <us>"
    assert stored.settings["notify_emails"] == ["a@example.com", "b@example.com", "c@example.com"]
    page = saved.follow()
    form = page.forms["form-editor"]
    form["is_active"] = False
    form.submit(status=303)
    assert Form.get(Form.name == "contact").is_active is False
    form["name"] = "new"
    assert "reserved" in form.submit(status=422).text


def test_submissions_are_listed_shown_marked_deleted_and_exported(browser, signed_in_as):
    signed_in_as("admin")
    form = a_form()
    first = FormSubmission.create(form=form.id, data={"email": "a@example.com", "message": "=1+1"})
    FormSubmission.create(form=form.id, data={"email": "b@example.com", "message": "<b>hi</b>"})
    listing = browser.get("/admin/forms")
    assert "Contact" in listing.text and ">2</a>" in listing.text
    submissions = browser.get("/admin/forms/contact/submissions")
    assert "&lt;b&gt;hi&lt;/b&gt;" in submissions.text and "<b>hi</b>" not in submissions.text
    detail = browser.get(f"/admin/forms/contact/submissions/{first.id}")
    assert "=1+1" in detail.text and detail.html.find(id="submission-status").text == "new"
    detail = detail.forms["mark-spam"].submit(status=303).follow()
    assert detail.html.find(id="submission-status").text == "spam"
    spam = browser.get("/admin/forms/contact/submissions?status=spam")
    assert spam.text.count("submission-link") == 1
    export = browser.get("/admin/forms/contact/submissions/export")
    assert export.content_type == "text/csv" and "'=1+1" in export.text
    detail.forms["submission-delete"].submit(status=303)
    assert FormSubmission.select().count() == 1
    browser.get(f"/admin/forms/contact/submissions/{first.id}", status=404)
    browser.get("/admin/forms/contact").forms["form-delete"].submit(status=303)
    assert Form.select().count() == 0 and FormSubmission.select().count() == 0


def test_a_post_without_the_csrf_token_changes_nothing(browser, signed_in_as):
    signed_in_as("admin")
    form = a_form()
    submission = FormSubmission.create(form=form.id, data={"email": "a@example.com"})
    browser.post("/admin/forms/contact/delete", {}, status=403)
    browser.post(f"/admin/forms/contact/submissions/{submission.id}/status", {"status": "spam"}, status=403)
    browser.post("/admin/forms/new", {"name": "x", "display_name": "X", "fields": "{}"}, status=403)
    token = csrf_token(browser)
    browser.post(f"/admin/forms/contact/submissions/{submission.id}/status",
                 {"status": "read", "csrf_token": token}, status=303)
    assert FormSubmission.get_by_id(submission.id).status == "read" and Form.select().count() == 1


def test_viewers_and_authors_are_refused_and_see_no_link(browser, signed_in_as):
    a_form()
    signed_in_as("viewer")
    assert 'href="/admin/forms"' not in browser.get("/admin").text
    for path in ("/admin/forms", "/admin/forms/contact", "/admin/forms/contact/submissions",
                 "/admin/forms/contact/submissions/export", "/admin/forms/new"):
        assert "Your role does not allow this." in browser.get(path, status=403).text


@pytest.mark.parametrize("role", ["viewer", "author"])
def test_viewers_and_authors_cannot_delete_a_form(browser, signed_in_as, role):
    form = a_form()
    FormSubmission.create(form=form.id, data={"email": "a@example.com"})
    signed_in_as(role)
    token = csrf_token(browser)
    browser.post("/admin/forms/contact/delete", {"csrf_token": token}, status=403)
    browser.post("/admin/forms/contact", {"csrf_token": token, "name": "contact", "display_name": "X",
                                          "fields": "{}"}, status=403)
    assert Form.select().count() == 1 and FormSubmission.select().count() == 1
