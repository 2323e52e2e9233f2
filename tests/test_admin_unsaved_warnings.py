"""Which admin editors ask before the page is left with changes not saved: the form's
``data-warn-unsaved`` ("" on a page as loaded, "changed" on a refused save shown again,
whose typed values are stored nowhere). The asking itself runs in the browser (admin.js)."""

import pytest

from app.services import forms
from tests.fixtures.content import create_collection
from tests.fixtures.users import create_user

pytestmark = pytest.mark.backends

SCHEMA = {"type": "object", "properties": {"title": {"type": "string", "required": True}}}


def warns(page, form_id):
    """The form's data-warn-unsaved value (None when it does not ask at all)."""
    return page.html.select_one(f"form#{form_id}").get("data-warn-unsaved")


def test_the_collection_editor_asks_and_a_refused_save_starts_as_changed(browser, signed_in_as):
    signed_in_as("admin")
    page = browser.get("/admin/collections/new")
    assert warns(page, "collection-form") == ""
    form = page.forms["collection-form"]
    form["name"], form["display_name"] = "Not A Name", "Shop"
    assert warns(form.submit(status=422), "collection-form") == "changed"

    create_collection("posts", SCHEMA, display_name="Posts")
    page = browser.get("/admin/collections/posts")
    assert warns(page, "collection-form") == ""
    form = page.forms["collection-form"]
    form["display_name"] = ""
    assert warns(form.submit(status=422), "collection-form") == "changed"


def test_a_refused_activation_shows_the_stored_collection_unchanged(browser, signed_in_as):
    """The toggle's refusal shows the editor as stored: nothing typed there to lose."""
    signed_in_as("admin")
    create_collection("posts", SCHEMA, display_name="Posts")
    form = browser.get("/admin/collections/posts").forms["active-form"]
    form["is_active"].force_value("0\x00")
    assert warns(form.submit(status=422), "collection-form") == ""


def test_the_forms_builder_asks_and_a_refused_save_starts_as_changed(browser, signed_in_as):
    signed_in_as("editor")
    page = browser.get("/admin/forms/new")
    assert warns(page, "form-editor") == ""
    form = page.forms["form-editor"]
    form["name"], form["display_name"] = "contact", "Contact"
    form["redirect_url"] = "javascript:alert(1)"
    assert warns(form.submit(status=422), "form-editor") == "changed"

    forms.create_form({"name": "survey", "display_name": "Survey", "fields": {"email": {"type": "email"}}},
                      turnstile_ready=False)
    page = browser.get("/admin/forms/survey")
    assert warns(page, "form-editor") == ""
    form = page.forms["form-editor"]
    form["field-0.options"] = "{not json"
    assert warns(form.submit(status=422), "form-editor") == "changed"


def test_the_user_edit_page_asks_and_a_refused_save_starts_as_changed(browser, signed_in_as):
    signed_in_as("admin")
    member = create_user("author", first_name="Grace")
    page = browser.get(f"/admin/users/{member.id}")
    assert warns(page, "user-form") == ""
    form = page.forms["user-form"]
    form["email"] = "not an address"
    assert warns(form.submit(status=422), "user-form") == "changed"


def test_the_new_user_page_asks_and_a_refused_create_starts_as_changed(browser, signed_in_as):
    signed_in_as("admin")
    page = browser.get("/admin/users/new")
    assert warns(page, "new-user-form") == ""
    form = page.forms["new-user-form"]
    form["email"], form["password"] = "not an address", "a long enough password"
    assert warns(form.submit(status=422), "new-user-form") == "changed"


def test_plugin_settings_ask_and_a_refused_save_starts_as_changed(browser, signed_in_as):
    signed_in_as("admin")
    page = browser.get("/admin/plugins/core-auth")
    assert warns(page, "plugin-settings") == ""
    form = page.forms["plugin-settings"]
    form["settings.registration"] = "{not json"
    assert warns(form.submit(status=422), "plugin-settings") == "changed"
