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


def asks_then_starts_changed(browser, path, form_id, typed):
    """The form at ``path`` asks ("" as loaded), and a refused save of the ``typed`` inputs
    shown again starts as changed."""
    page = browser.get(path)
    assert warns(page, form_id) == ""
    form = page.forms[form_id]
    for name, value in typed.items():
        form[name] = value
    assert warns(form.submit(status=422), form_id) == "changed"


def test_the_collection_editor_asks_and_a_refused_save_starts_as_changed(browser, signed_in_as):
    signed_in_as("admin")
    asks_then_starts_changed(browser, "/admin/collections/new", "collection-form",
                             {"name": "Not A Name", "display_name": "Shop"})
    create_collection("posts", SCHEMA, display_name="Posts")
    asks_then_starts_changed(browser, "/admin/collections/posts", "collection-form", {"display_name": ""})


def test_a_refused_activation_shows_the_stored_collection_unchanged(browser, signed_in_as):
    """The toggle's refusal shows the editor as stored: nothing typed there to lose."""
    signed_in_as("admin")
    create_collection("posts", SCHEMA, display_name="Posts")
    form = browser.get("/admin/collections/posts").forms["active-form"]
    form["is_active"].force_value("0\x00")
    assert warns(form.submit(status=422), "collection-form") == ""


def test_the_forms_builder_asks_and_a_refused_save_starts_as_changed(browser, signed_in_as):
    signed_in_as("editor")
    asks_then_starts_changed(browser, "/admin/forms/new", "form-editor",
                             {"name": "contact", "display_name": "Contact", "redirect_url": "javascript:alert(1)"})
    forms.create_form({"name": "survey", "display_name": "Survey", "fields": {"email": {"type": "email"}}},
                      turnstile_ready=False)
    asks_then_starts_changed(browser, "/admin/forms/survey", "form-editor", {"field-0.options": "{not json"})


def test_the_user_edit_page_asks_and_a_refused_save_starts_as_changed(browser, signed_in_as):
    signed_in_as("admin")
    member = create_user("author", first_name="Grace")
    asks_then_starts_changed(browser, f"/admin/users/{member.id}", "user-form", {"email": "not an address"})


def test_the_new_user_page_asks_and_a_refused_create_starts_as_changed(browser, signed_in_as):
    signed_in_as("admin")
    asks_then_starts_changed(browser, "/admin/users/new", "new-user-form",
                             {"email": "not an address", "password": "a long enough password"})


def test_plugin_settings_ask_and_a_refused_save_starts_as_changed(browser, signed_in_as):
    signed_in_as("admin")
    asks_then_starts_changed(browser, "/admin/plugins/core-auth", "plugin-settings",
                             {"settings.registration": "{not json"})
