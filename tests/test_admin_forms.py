"""The admin's Forms pages over WebTest: the list, the editor and its field builder rows, submissions,
export, CSRF."""

import html
import json
import re
import threading

import psycopg2
import pytest

from app.admin.field_builder import MAX_ROWS, rows_from_form, schema_from_rows
from app.admin.site_forms import FORM_FIELDS
from app.db.models import Form, FormSubmission
from app.services import forms, role_permissions
from tests.fixtures.admin import csrf_token
from tests.fixtures.busy_database import wait_for_a_lock_wait
from tests.fixtures.users import bearer, token_for

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
    assert "f-fields" not in editor.text, "no JSON text area for the fields"
    form = editor.forms["form-editor"]
    form["name"] = "contact"
    form["display_name"] = "Contact <us>"
    form["field-0.name"], form["field-0.type"] = "email", "email"
    form["field-0.options"] = '{"pattern": "^[a-z@.]+$"'
    shown = form.submit(status=422)
    assert "not valid JSON" in shown.text and 'value="Contact &lt;us&gt;"' in shown.text
    assert marked(shown, "field-0-options")
    form = shown.forms["form-editor"]
    form["field-0.options"] = ""
    form["field-0.title"] = "Your email"
    form["redirect_url"] = "javascript:alert(1)"
    shown = form.submit(status=422)
    problems = shown.html.find(id="form-problems").text
    assert "settings.redirect_url" in problems and "fields" not in problems
    form = shown.forms["form-editor"]
    form["redirect_url"] = "/thanks"
    form["notify_emails"] = "a@example.com, b@example.com\nc@example.com"
    saved = form.submit(status=303)
    assert saved.location.endswith("/admin/forms/contact?saved=1")
    stored = Form.get(Form.name == "contact")
    assert stored.fields == {"email": {"type": "email", "title": "Your email"}}
    assert stored.display_name == "Contact <us>"
    assert stored.settings["notify_emails"] == ["a@example.com", "b@example.com", "c@example.com"]
    page = saved.follow()
    form = page.forms["form-editor"]
    form["is_active"] = False
    form.submit(status=303)
    assert Form.get(Form.name == "contact").is_active is False
    form["name"] = "new"
    assert "reserved" in form.submit(status=422).text


def marked(page, input_id):
    return page.html.select_one(f"#{input_id}").get("aria-invalid") == "true"


def test_the_builder_offers_the_form_field_types_by_label_and_no_collection_parts(browser, signed_in_as):
    signed_in_as("editor")
    page = browser.get("/admin/forms/new")
    select = page.html.select_one("#field-0-type")
    options = {option["value"]: option.get_text() for option in select.select("optgroup option")}
    assert set(options) == forms.FORM_FIELD_TYPES and len(select.select("option")) == len(forms.FORM_FIELD_TYPES)
    assert (options["textarea"], options["integer"], options["multiselect"]) == (
        "Long text", "Whole number", "Several choices")
    for part in ("indexed", "sortable", "collection"):
        assert page.html.select_one(f"#field-0-{part}") is None, part
    assert not page.html.select("[data-setting='collection']")
    assert page.html.select_one("#add-field") and page.html.select_one("#field-row-template")
    form = page.forms["form-editor"]
    form["name"], form["display_name"] = "contact", "Contact"
    form["field-0.name"], form["field-0.type"], form["field-0.required"] = "agree", "checkbox", True
    fields = dict(form.submit_fields())
    # A forged flag is no input of a form's rows: ignored, as any unknown name is.
    browser.post("/admin/forms/new", {**fields, "field-0.indexed": "1", "field-0.collection": "x"}, status=303)
    assert Form.get(Form.name == "contact").fields == {"agree": {"type": "checkbox", "required": True}}


def test_a_type_a_form_does_not_accept_is_refused_on_its_row(browser, signed_in_as):
    signed_in_as("editor")
    form = browser.get("/admin/forms/new").forms["form-editor"]
    form["name"], form["display_name"] = "contact", "Contact"
    form["field-0.name"], form["field-0.title"] = "photo", "Photo"
    fields = dict(form.submit_fields())
    refused = browser.post("/admin/forms/new", {**fields, "field-0.type": "media"}, status=422)
    assert "fields.photo.type" in refused.html.find(id="form-problems").text
    row_errors = refused.html.select_one("#field-0-errors").text
    assert marked(refused, "field-0-type") and "type: a form cannot carry a 'media' field" in row_errors
    kept = refused.forms["form-editor"]
    assert kept["field-0.type"].value == "media" and kept["field-0.title"].value == "Photo"
    assert Form.select().count() == 0


def test_a_form_with_nul_shows_the_editor_again_saying_where(browser, signed_in_as):
    signed_in_as("editor")
    form = browser.get("/admin/forms/new").forms["form-editor"]
    form["name"], form["display_name"] = "contact", "Con\x00tact"
    form["field-0.name"], form["field-0.title"] = "email", "Email"
    refused = form.submit(status=422)
    assert refused.content_type == "text/html" and "\x00" not in refused.text and "Invalid input" not in refused.text
    assert "display_name: NUL characters are not allowed" in refused.html.find(id="form-problems").text
    assert refused.forms["form-editor"]["display_name"].value == "Contact"
    assert Form.select().count() == 0


def test_fields_are_added_edited_reordered_and_removed_by_rows(browser, signed_in_as):
    signed_in_as("editor")
    form = browser.get("/admin/forms/new").forms["form-editor"]
    form["name"], form["display_name"] = "contact", "Contact"
    form["field-0.name"], form["field-0.type"], form["field-0.title"] = "email", "email", "Email"
    form["field-0.required"] = True
    page = form.submit(status=303).follow()
    form = page.forms["form-editor"]  # the saved row, then an empty one for the next field
    form["field-1.name"], form["field-1.type"], form["field-1.title"] = "topic", "select", "Topic"
    form["field-1.enum"] = "sales\nsupport"
    page = form.submit(status=303).follow()
    form = page.forms["form-editor"]
    form["field-2.name"], form["field-2.type"] = "message", "textarea"
    form["field-2.maxLength"], form["field-2.placeholder"] = "2000", "How can we help?"
    form.submit(status=303)
    assert Form.get(Form.name == "contact").fields == {
        "email": {"type": "email", "title": "Email", "required": True},
        "topic": {"type": "select", "title": "Topic", "enum": ["sales", "support"]},
        "message": {"type": "textarea", "placeholder": "How can we help?", "maxLength": 2000},
    }
    form = browser.get("/admin/forms/contact").forms["form-editor"]
    form["field-1.enum"] = "sales\nsupport\npress"
    form["field-0.required"] = False
    form["field-2.position"] = "1"  # the message first
    form["field-0.remove"] = True
    form.submit(status=303)
    stored = Form.get(Form.name == "contact").fields
    assert list(stored) == ["message", "topic"]
    assert stored["topic"]["enum"] == ["sales", "support", "press"]
    form = browser.get("/admin/forms/contact").forms["form-editor"]
    assert [form[f"field-{index}.name"].value for index in (0, 1)] == ["message", "topic"]


# Settings the rows have no input for, and values an input would write otherwise.
UNUSUAL = {
    "code": {"type": "string", "title": "Code", "default": "AB", "placeholder": "AB",
             "pattern": "^[A-Z]+$", "maxLength": 8},
    "size": {"type": "number", "required": True, "default": 1.0, "min": 0.5, "max": 10},
    "kind": {"type": "radio", "enum": [1, "1", True], "enumLabels": ["One", "Text one", "Yes"]},
    "agree": {"type": "boolean", "required": True, "helpText": "  spaces kept  "},
}


def test_an_untouched_save_keeps_every_field_exactly(browser, signed_in_as):
    editor = signed_in_as("editor")
    browser.post_json("/admin/api/forms", {"name": "odd", "display_name": "Odd", "fields": UNUSUAL},
                      headers={**bearer(token_for(editor)), "Accept": "application/json"}, status=201)
    before = Form.get(Form.name == "odd").fields
    form = browser.get("/admin/forms/odd").forms["form-editor"]
    assert json.loads(form["field-0.options"].value) == {"default": "AB", "pattern": "^[A-Z]+$"}
    assert json.loads(form["field-2.options"].value) == {"enumLabels": ["One", "Text one", "Yes"]}
    form.submit(status=303)
    assert json.dumps(Form.get(Form.name == "odd").fields) == json.dumps(before), "keys, types and order kept"
    # Each row edited in one input: every other key keeps its stored value and type.
    form = browser.get("/admin/forms/odd").forms["form-editor"]
    form["field-0.title"] = "Your code"
    form["field-1.max"] = "20"
    form["field-2.title"] = "Kind"
    form["field-3.title"] = "I agree"
    form.submit(status=303)
    after = Form.get(Form.name == "odd").fields
    assert after["code"] == {**before["code"], "title": "Your code"}
    assert after["size"] == {**before["size"], "max": 20} and isinstance(after["size"]["default"], float)
    assert after["kind"] == {**before["kind"], "title": "Kind"} and after["kind"]["enum"] == [1, "1", True]
    assert after["agree"] == {**before["agree"], "title": "I agree"}
    assert list(after) == list(before)


def test_a_stored_value_its_input_cannot_show_is_in_the_options_and_never_dropped(browser, signed_in_as):
    """A label that is no text, a ``required`` that is no boolean and choices that are no list
    (stored before the forms service checked them): each is shown as it is in its row's other
    settings, refused by the service whether the row is edited or not, and gone only when
    taken out of the options."""
    signed_in_as("editor")
    odd = {"code": {"type": "string", "title": 5}, "size": {"type": "string", "required": "yes"},
           "kind": {"type": "select", "enum": "x"}}
    Form.update(fields=odd).where(Form.id == a_form().id).execute()
    form = browser.get("/admin/forms/contact").forms["form-editor"]
    assert [json.loads(form[f"field-{index}.options"].value) for index in (0, 1, 2)] == [
        {"title": 5}, {"required": "yes"}, {"enum": "x"}]
    assert form["field-0.title"].value == "" and not form["field-1.required"].checked
    for edit in ({}, {f"field-{index}.helpText": "Help" for index in (0, 1, 2)}):
        for name, value in edit.items():
            form[name] = value
        refused = form.submit(status=422)
        problems = refused.html.find(id="form-problems").text
        assert all(path in problems for path in ("fields.code.title", "fields.size.required", "fields.kind.enum"))
        assert all(marked(refused, f"field-{index}-options") for index in (0, 1, 2))
        assert Form.get(Form.name == "contact").fields == odd, "nothing saved"
        form = refused.forms["form-editor"]
    form["field-0.options"] = ""  # the label left empty: the field has none
    form["field-1.options"], form["field-1.required"] = "", True
    form["field-2.options"], form["field-2.enum"] = "", "a\nb"
    form.submit(status=303)
    assert Form.get(Form.name == "contact").fields == {
        "code": {"type": "string", "helpText": "Help"},
        "size": {"type": "string", "required": True, "helpText": "Help"},
        "kind": {"type": "select", "enum": ["a", "b"], "helpText": "Help"},
    }


def test_a_stored_field_without_a_type_is_shown_without_one(browser, signed_in_as):
    """Shown as a text field, choosing "Text" would post the row back as shown, and the
    stored field, still without a type, would be refused again and again."""
    signed_in_as("editor")
    Form.update(fields={"a": {"title": "A"}}).where(Form.id == a_form().id).execute()
    form = browser.get("/admin/forms/contact").forms["form-editor"]
    assert form["field-0.type"].value == "" and "(no type)" in form.html.select_one("#field-0-type").text
    refused = form.submit(status=422)
    assert "fields.a.type: required" in refused.html.find(id="form-problems").text
    assert marked(refused, "field-0-type")
    form = refused.forms["form-editor"]
    form["field-0.type"] = "string"
    form.submit(status=303)
    assert Form.get(Form.name == "contact").fields == {"a": {"type": "string", "title": "A"}}


def test_a_refused_save_keeps_the_rows_and_marks_each_input(browser, signed_in_as):
    signed_in_as("editor")
    a_form()
    form = browser.get("/admin/forms/contact").forms["form-editor"]
    form["field-0.title"] = "Your email"
    form["field-1.min"] = "lots"  # the row's own problem: no number
    form["field-2.name"], form["field-2.type"] = "code", "string"
    form["field-2.options"] = '{"pattern": "("}'  # the service's: no pattern
    form["field-2.position"] = "1"
    form["redirect_url"] = "//evil.example"
    refused = form.submit(status=422)
    problems = refused.html.find(id="form-problems").text
    assert "fields.message" in problems and "fields.code.pattern" in problems and "settings.redirect_url" in problems
    assert marked(refused, "field-1-min") and marked(refused, "field-2-options")
    assert not marked(refused, "field-0-title") and not marked(refused, "field-2-name")
    kept = refused.forms["form-editor"]
    assert [kept[f"field-{index}.name"].value for index in (2, 0, 1)] == ["code", "email", "message"]
    assert [kept[f"field-{index}.position"].value for index in (2, 0, 1)] == ["1", "2", "3"]
    assert (kept["field-0.title"].value, kept["field-1.min"].value) == ("Your email", "lots")
    assert kept["field-2.options"].value == '{"pattern": "("}' and kept["redirect_url"].value == "//evil.example"
    assert Form.get(Form.name == "contact").fields == FIELDS, "nothing saved"
    kept["field-1.min"], kept["field-2.options"], kept["redirect_url"] = "", "", ""
    kept.submit(status=303)
    assert list(Form.get(Form.name == "contact").fields) == ["code", "email", "message"]


def test_a_collection_flag_typed_in_other_settings_is_marked_there(browser, signed_in_as):
    editor = signed_in_as("editor")
    form = browser.get("/admin/forms/new").forms["form-editor"]
    form["name"], form["display_name"] = "contact", "Contact"
    form["field-0.name"], form["field-0.options"] = "code", '{"indexed": true, "sortable": true}'
    refused = form.submit(status=422)
    problems = refused.html.find(id="form-problems").text
    assert "fields.code.indexed" in problems and "fields.code.sortable" in problems
    assert marked(refused, "field-0-options") and not marked(refused, "field-0-name")
    assert Form.select().count() == 0
    api = browser.post_json("/admin/api/forms", {"name": "contact", "display_name": "Contact",
                                                 "fields": {"code": {"type": "string", "sortable": True}}},
                            headers={**bearer(token_for(editor)), "Accept": "application/json"}, status=422)
    assert api.json["details"] == [{"field": "fields.code.sortable", "message": forms.COLLECTIONS_ONLY}]


@pytest.mark.parametrize("target", ["posts", ["posts"], [], ""])
def test_a_reference_target_on_a_form_field_is_refused_at_its_own_path(browser, signed_in_as, target):
    """A form has no references: ``collection`` is refused on any field, as the flags are,
    through the API and in the editor, where it is typed in the row's other settings."""
    editor = signed_in_as("editor")
    headers = {**bearer(token_for(editor)), "Accept": "application/json"}
    fields = {"code": {"type": "string", "collection": target}}
    api = browser.post_json("/admin/api/forms", {"name": "contact", "display_name": "Contact", "fields": fields},
                            headers=headers, status=422)
    assert api.json["details"] == [{"field": "fields.code.collection", "message": forms.COLLECTIONS_ONLY}]
    a_form()
    browser.patch_json(f"/admin/api/forms/{Form.get().id}", {"fields": fields}, headers=headers, status=422)
    form = browser.get("/admin/forms/contact").forms["form-editor"]
    form["field-0.options"] = json.dumps({"collection": target})
    refused = form.submit(status=422)
    assert f"fields.email.collection: {forms.COLLECTIONS_ONLY}" in refused.html.find(id="form-problems").text
    assert marked(refused, "field-0-options") and not marked(refused, "field-0-name")
    assert Form.get().fields == FIELDS, "nothing saved"


def test_a_new_row_after_a_refusal_is_never_a_removed_field(browser, signed_in_as):
    """The page's script takes a removed row off the page: after a refusal the empty row must
    not reuse the removed field's row number, or a field typed into it would be read as that
    field edited (its choices ``1`` and ``2`` numbers, as the removed field's were)."""
    signed_in_as("editor")
    a_form(fields={"email": {"type": "email"}, "size": {"type": "select", "enum": [1, 2], "required": True}})
    form = browser.get("/admin/forms/contact").forms["form-editor"]
    # As the script posts it: the size row and the empty one removed from the page.
    posted = {key: value for key, value in form.submit_fields() if not key.startswith(("field-1.", "field-2."))}
    refused = browser.post("/admin/forms/contact", {**posted, "redirect_url": "javascript:x"}, status=422)
    form = refused.forms["form-editor"]
    new = refused.html.select("#field-rows [data-field-row]")[-1].select_one("[name$='.name']")["name"]
    form[new], form[new.replace(".name", ".type")], form[new.replace(".name", ".enum")] = "rating", "select", "1\n2"
    form["redirect_url"] = ""
    form.submit(status=303)
    assert Form.get(Form.name == "contact").fields == {"email": {"type": "email"},
                                                       "rating": {"type": "select", "enum": ["1", "2"]}}


def test_a_row_numbered_past_four_digits_is_a_new_row_never_dropped(browser, signed_in_as):
    """After a forged ``field-9999`` the page's empty row (and the script's next one) is
    ``field-10000``: it is read as a new row, given a free number, whatever it follows."""
    signed_in_as("editor")
    a_form(fields={"size": {"type": "select", "enum": [1, 2]}, "email": {"type": "email"}})
    form = browser.get("/admin/forms/contact").forms["form-editor"]
    # As the script posts it: the size row and the empty one removed from the page, a forged row added.
    posted = {key: value for key, value in form.submit_fields() if not key.startswith(("field-0.", "field-2."))}
    refused = browser.post("/admin/forms/contact", {**posted, "field-9999.name": "topic", "field-9999.type": "string",
                                                    "redirect_url": "javascript:x"}, status=422)
    blank = refused.html.select("#field-rows [data-field-row]")[-1].select_one("[name$='.name']")["name"]
    assert blank == "field-10000.name"
    form = refused.forms["form-editor"]
    form["field-10000.name"], form["field-10000.type"], form["field-10000.enum"] = "rating", "select", "1\n2"
    form["redirect_url"] = ""
    refused = browser.post("/admin/forms/contact", {**dict(form.submit_fields()), "field-10000.options": "[1]"},
                           status=422)
    numbers = [row.select_one("[name$='.name']")["name"] for row in refused.html.select("[data-field-row]")]
    assert numbers == ["field-1.name", "field-9999.name", "field-2.name", "field-10000.name"], (
        "the new row takes the first number no row has, never the removed stored field's")
    assert "fields.rating: options must be a JSON object" in refused.html.find(id="form-problems").text
    form = refused.forms["form-editor"]
    form["field-2.options"] = ""
    form.submit(status=303)
    assert Form.get(Form.name == "contact").fields == {
        "email": {"type": "email"}, "topic": {"type": "string"}, "rating": {"type": "select", "enum": ["1", "2"]}}


def test_the_services_problem_is_put_on_the_row_it_checked_not_its_namesake(browser, signed_in_as):
    """The second row named ``email`` is refused by the rows and never sent: the service's
    problem with the pattern is the first row's."""
    signed_in_as("editor")
    form = browser.get("/admin/forms/new").forms["form-editor"]
    form["name"], form["display_name"] = "contact", "Contact"
    posted = {**dict(form.submit_fields()), "field-0.name": "email", "field-0.type": "email",
              "field-0.options": '{"pattern": "("}', "field-1.name": "email", "field-1.type": "string"}
    refused = browser.post("/admin/forms/new", posted, status=422)
    assert marked(refused, "field-0-options") and "pattern" in refused.html.select_one("#field-0-errors").text
    assert "pattern" not in refused.html.select_one("#field-1-errors").text
    assert not marked(refused, "field-1-options") and marked(refused, "field-1-name")
    assert Form.select().count() == 0


def test_a_problem_with_a_dotted_name_is_put_on_that_names_row(browser, signed_in_as):
    """A name holding a dot (posted past the input's pattern) makes a path that also starts
    with the name before the dot: the problem is the dotted name's row's, on its name."""
    signed_in_as("editor")
    form = browser.get("/admin/forms/new").forms["form-editor"]
    form["name"], form["display_name"] = "contact", "Contact"
    posted = {**dict(form.submit_fields()), "field-0.name": "a", "field-1.name": "a.b"}
    refused = browser.post("/admin/forms/new", posted, status=422)
    assert "fields.a.b" in refused.html.find(id="form-problems").text
    assert marked(refused, "field-1-name") and not refused.html.select_one("#field-0-errors")
    assert Form.select().count() == 0


def test_the_rows_own_problems_are_listed_by_their_paths_as_the_services_are(browser, signed_in_as):
    """A problem only the rows find reads as the service's above the form: its full path, then
    the message (``fields.message.min: ...``); on its row, it names the input."""
    signed_in_as("editor")
    a_form()
    form = browser.get("/admin/forms/contact").forms["form-editor"]
    form["field-1.type"], form["field-1.min"] = "number", "ten"
    form["field-2.name"], form["field-2.options"] = "email", "[1]"  # the empty row, named as the first
    form["redirect_url"] = "javascript:x"
    refused = form.submit(status=422)
    assert [item.get_text() for item in refused.html.select("#form-problems li")] == [
        "fields.message.min: must be a number such as 0, 10 or 2.5 (got 'ten')",
        "fields.email: 'email' is used by another field",
        f"settings.redirect_url: {forms.redirect_problem('javascript:x')}"]
    assert [item.get_text() for item in refused.html.select("#field-1-errors li")] == [
        "min: must be a number such as 0, 10 or 2.5 (got 'ten')"]
    assert marked(refused, "field-1-min") and marked(refused, "field-2-name")
    assert Form.get().fields == FIELDS, "nothing saved"


def test_a_refusal_lists_the_problems_in_the_page_s_order(browser, signed_in_as):
    """As the collection editor does: the name's problems first, then the display name's, the
    description's, the fields' (the rows' own, a row without a name too, before the service's)
    and the settings'; every problem listed, and each row's own marked on it."""
    signed_in_as("editor")
    a_form()
    form = browser.get("/admin/forms/contact").forms["form-editor"]
    form["redirect_url"] = "javascript:x"
    form["field-0.options"] = '{"indexed": true}'  # the service's problem
    form["field-1.min"] = "lots"  # the row's own: no number
    form["field-2.title"] = "Code"  # a row without a name
    form["description"] = "x" * (forms.MAX_DESCRIPTION + 1)
    form["name"], form["display_name"] = "Contact Us", ""
    refused = form.submit(status=422)
    listed = refused.html.select("#form-problems li")
    assert [item.code.get_text() for item in listed] == [
        "name", "display_name", "description", "fields.message.min", "Field 3", "fields.email.indexed",
        "settings.redirect_url"]
    assert listed[0].get_text().startswith("name: A form name must")
    assert listed[-1].get_text() == f"settings.redirect_url: {forms.redirect_problem('javascript:x')}"
    assert [item.get_text() for item in refused.html.select("#field-1-errors li")] == [
        "min: must be a number such as 0, 10 or 2.5 (got 'lots')"]
    assert marked(refused, "field-0-options") and marked(refused, "field-1-min") and marked(refused, "field-2-name")
    assert not marked(refused, "field-0-name") and not marked(refused, "field-1-name")
    assert Form.get().name == "contact" and Form.get().fields == FIELDS, "nothing saved"


def test_a_taken_name_is_listed_with_the_other_problems(browser, signed_in_as):
    """A taken name is found before anything is written: with the rows' or the settings'
    problems, it is one more in the list, the first, as the name's problems are (422);
    alone, it is a conflict (409)."""
    signed_in_as("editor")
    a_form()
    taken = f"name: {forms.FormExists('contact').message}"
    form = browser.get("/admin/forms/new").forms["form-editor"]
    form["name"], form["display_name"] = "contact", "Contact again"
    form["field-0.name"], form["field-0.type"], form["field-0.min"] = "age", "integer", "ten"
    refused = form.submit(status=422)
    assert [item.get_text() for item in refused.html.select("#form-problems li")] == [
        taken, "fields.age.min: must be a number such as 0, 10 or 2.5 (got 'ten')"]
    form = refused.forms["form-editor"]
    form["field-0.min"], form["redirect_url"] = "1", "javascript:x"
    refused = form.submit(status=422)
    assert [item.get_text() for item in refused.html.select("#form-problems li")] == [
        taken, f"settings.redirect_url: {forms.redirect_problem('javascript:x')}"]
    form = refused.forms["form-editor"]
    form["redirect_url"] = ""
    refused = form.submit(status=409)
    assert [item.get_text() for item in refused.html.select("#form-problems li")] == [taken]
    assert refused.forms["form-editor"]["field-0.min"].value == "1", "what was typed is kept"
    assert Form.select().count() == 1
    # Renaming a form to another's name: the same; keeping its own name is no conflict.
    a_form(name="survey")
    form = browser.get("/admin/forms/survey").forms["form-editor"]
    form["name"], form["field-0.min"] = "contact", "x"
    form["field-0.type"] = "integer"
    refused = form.submit(status=422)
    assert taken in [item.get_text() for item in refused.html.select("#form-problems li")]
    form = refused.forms["form-editor"]
    form["name"], form["field-0.min"] = "survey", "3"
    form.submit(status=303)
    assert Form.get(Form.name == "survey").fields["email"]["min"] == 3


def many_rows(count):
    """The inputs of ``count`` builder rows as the page posts them, each a text field ``f<n>``."""
    return {key: value for n in range(count) for key, value in ((f"field-{n}.name", f"f{n}"),
                                                                   (f"field-{n}.type", "string"))}


def typed_names(page):
    """The field names in the builder's rows, in order (the empty rows left out); read from
    the text: parsing a page of hundreds of rows as HTML takes seconds."""
    return [name for name in re.findall(r'name="field-[0-9]+\.name" value="([^"]*)"', page.text) if name]


def problems_listed(page):
    """The lines of the problem list above the form."""
    listed = re.search(r'<div class="message error" role="alert" id="form-problems">(.*?)</div>', page.text, re.S)
    return [html.unescape(re.sub(r"<[^>]+>", "", item)) for item in re.findall(r"<li>(.*?)</li>", listed.group(1),
                                                                              re.S)]


@pytest.mark.parametrize("count", [MAX_ROWS + 1, forms.MAX_FIELDS + 1])
def test_more_rows_than_a_form_has_are_refused_and_shown_again(browser, signed_in_as, count):
    """A post carrying more rows than a form may have fields (the builder's MAX_ROWS + 1,
    and the form's own limit + 1) is refused naming the form's limit, listed with the form's
    other problems; every row typed comes back, none cut off, and nothing is written."""
    signed_in_as("editor")
    a_form()
    posted = {"csrf_token": csrf_token(browser), "name": "contact", "display_name": "Again",
              "redirect_url": "javascript:x", **many_rows(count)}
    refused = browser.post("/admin/forms/new", posted, status=422)
    assert problems_listed(refused) == [
        f"name: {forms.FormExists('contact').message}",
        f"fields: this editor saves at most {forms.MAX_FIELDS} fields, and {count} were sent: remove "
        f"{count - forms.MAX_FIELDS} and save again (nothing was saved)",
        f"settings.redirect_url: {forms.redirect_problem('javascript:x')}"]
    assert typed_names(refused) == [f"f{n}" for n in range(count)], "every row typed is shown again"
    assert Form.select().count() == 1
    # Removed rows and the empty row count for nothing: a form of exactly its limit is saved.
    posted.update({"name": "survey", "redirect_url": "", **{f"field-{n}.remove": "1"
                                                          for n in range(forms.MAX_FIELDS, count)},
                   f"field-{count}.type": "string"})
    browser.post("/admin/forms/new", posted, status=303)
    assert list(Form.get(Form.name == "survey").fields) == [f"f{n}" for n in range(forms.MAX_FIELDS)]


def test_a_post_of_more_rows_than_a_page_holds_is_refused_as_too_large(browser, signed_in_as):
    """Past twice the rows the builder saves (blank ones included), a post is no page's: it
    is refused whole as a form too large, rather than every row rendered again."""
    signed_in_as("editor")
    blank = {f"field-{n}.type": "string" for n in range(2 * MAX_ROWS + 1)}
    posted = {"csrf_token": csrf_token(browser), "name": "survey", "display_name": "Survey",
              "field-0.name": "email", **blank}
    browser.post("/admin/forms/new", posted, status=413)
    assert Form.select().count() == 0


def _saved_while_another_takes(browser, path, posted, database, name):
    """The editor's answer to ``posted`` when another transaction inserts a form named
    ``name`` just before its write: uncommitted, that row escapes the editor's checks (they
    read what is committed) and the write waits on the unique index; then the other
    transaction commits, and the write itself is refused, as when two saves race."""
    other = psycopg2.connect(database.url)
    answers = []
    save = threading.Thread(target=lambda: answers.append(browser.post(path, posted, expect_errors=True)))
    try:
        other.cursor().execute("INSERT INTO forms (id, name, display_name, created_at, updated_at)"
                               " VALUES (%s, %s, 'The other save', 1, 1)", (f"racer-{name}", name))
        save.start()
        wait_for_a_lock_wait(save, dsn=database.url)
        other.commit()
    finally:
        other.close()
        save.join()
    return answers[0]


@pytest.mark.parametrize("db_backend", ["postgres"], indirect=True)
def test_a_name_taken_by_another_save_during_the_write_shows_the_editor_again(browser, signed_in_as,
                                                                             seeded_postgres):
    """The editor finds every problem before it writes, the name another form has included;
    a save taking the name after those checks is refused by the write itself (the unique
    index: FormExists), and the editor shows itself again, a 409 naming the name, with what
    was typed, nothing written. The other save is a real transaction of its own, holding its
    row uncommitted until the editor's write waits on it: no part of the app is stood in for.
    PostgreSQL only: SQLite's writes take turns, and no view shows a write waiting."""
    signed_in_as("editor")
    taken = f"name: {forms.FormExists('contact').message}"
    form = browser.get("/admin/forms/new").forms["form-editor"]
    form["name"], form["display_name"] = "contact", "Contact"
    form["field-0.name"], form["field-0.type"], form["field-0.title"] = "email", "email", "Your email"
    refused = _saved_while_another_takes(browser, "/admin/forms/new", dict(form.submit_fields()), seeded_postgres,
                                         "contact")
    assert refused.status_int == 409
    assert [item.get_text() for item in refused.html.select("#form-problems li")] == [taken]
    typed = refused.forms["form-editor"]
    assert (typed["name"].value, typed["field-0.name"].value, typed["field-0.title"].value) == (
        "contact", "email", "Your email"), "what was typed is shown again"
    assert [(row.id, row.display_name) for row in Form.select()] == [("racer-contact", "The other save")]
    # A rename racing another save for the new name: the same.
    a_form(name="survey")
    form = browser.get("/admin/forms/survey").forms["form-editor"]
    form["name"], form["field-0.title"] = "contact-us", "Typed label"
    refused = _saved_while_another_takes(browser, "/admin/forms/survey", dict(form.submit_fields()),
                                         seeded_postgres, "contact-us")
    assert refused.status_int == 409
    assert [item.get_text() for item in refused.html.select("#form-problems li")] == [
        f"name: {forms.FormExists('contact-us').message}"]
    assert refused.forms["form-editor"]["field-0.title"].value == "Typed label"
    assert Form.get(Form.name == "survey").fields == FIELDS, "nothing written"


def test_a_form_changed_past_the_rules_during_the_save_shows_the_editor_again(browser, signed_in_as, monkeypatch):
    """The write checks the form again against its row as stored by then (``forms.update_form``
    merges the stored settings): a change landing after the editor's checks that leaves the
    row breaking a rule (settings holding a key the rules do not take, as a restore or an
    older version writes a row, unchecked) makes the write itself refuse (InvalidForm), and
    the editor shows itself again, a 422 with what was typed, nothing written.

    Nothing in the app runs between the editor's last check and the write, and the write
    re-reads the row before any lock it could wait on: the change is made in that instant by
    wrapping the last check, ``forms.name_taken``, which still runs and answers as it does;
    the change is a plain write of the row, as another session's, and the write and its
    refusal are the app's own."""
    signed_in_as("editor")
    stored = a_form()
    check = forms.name_taken

    def check_then_another_change(name, current=None):
        free = check(name, current)
        Form.update(settings={**stored.settings, "webhook": "https://hooks.example/x"}).where(
            Form.id == stored.id).execute()
        return free

    form = browser.get("/admin/forms/contact").forms["form-editor"]
    form["field-0.title"], form["field-2.name"] = "Typed label", "topic"
    monkeypatch.setattr(forms, "name_taken", check_then_another_change)
    refused = form.submit(status=422)
    assert [item.get_text() for item in refused.html.select("#form-problems li")] == [
        "settings.webhook: Object contains unknown field `webhook`"]
    typed = refused.forms["form-editor"]
    assert (typed["field-0.title"].value, typed["field-2.name"].value) == ("Typed label", "topic")
    assert Form.get().fields == FIELDS, "nothing written"


def test_a_row_without_a_name_is_called_by_its_place(browser, signed_in_as):
    signed_in_as("editor")
    form = browser.get("/admin/forms/new").forms["form-editor"]
    form["name"], form["display_name"] = "contact", "Contact"
    form["field-0.title"] = "Email"
    refused = form.submit(status=422)
    assert "Field 1" in refused.html.find(id="form-problems").text and marked(refused, "field-0-name")
    assert refused.forms["form-editor"]["field-0.title"].value == "Email" and Form.select().count() == 0


def test_a_row_given_only_a_type_or_required_is_not_dropped(browser, signed_in_as):
    signed_in_as("editor")
    form = browser.get("/admin/forms/new").forms["form-editor"]
    form["name"], form["display_name"] = "contact", "Contact"
    form["field-0.type"], form["field-0.required"] = "checkbox", True  # the name forgotten
    refused = form.submit(status=422)
    assert "Field 1" in refused.html.find(id="form-problems").text and marked(refused, "field-0-name")
    assert Form.select().count() == 0
    form = refused.forms["form-editor"]
    form["field-0.type"], form["field-0.required"] = "string", False  # the row emptied: no field
    form.submit(status=303)
    assert Form.get(Form.name == "contact").fields == {}


def test_a_refusal_shows_one_empty_row_however_often_it_comes(browser, signed_in_as):
    signed_in_as("editor")
    a_form()
    page = browser.get("/admin/forms/contact")
    for _ in range(3):
        form = page.forms["form-editor"]
        form["redirect_url"] = "javascript:x"
        page = form.submit(status=422)
    names = [row.select_one("[name$='.name']")["value"] for row in page.html.select("#field-rows [data-field-row]")]
    assert names == ["email", "message", ""]


def test_a_reader_sees_the_rows_without_tools(browser, signed_in_as):
    a_form()
    matrix = role_permissions.load()
    role_permissions.replace({**matrix, "viewer": matrix["viewer"] | {"forms.read"}}, "admin")
    signed_in_as("viewer")
    page = browser.get("/admin/forms/contact")
    assert page.html.select_one("#form-editor fieldset").has_attr("disabled")
    assert [row.select_one("code").text for row in page.html.select("[data-field-row]")] == ["email", "message"]
    for tool in ("#add-field", "#field-row-template", "#field-0-position", "[data-move]", "#field-2-name"):
        assert page.html.select_one(tool) is None, tool
    # The disabled inputs are no guard: the page's fields posted all the same are refused.
    posted = {**dict(page.forms["form-editor"].submit_fields()),
              "csrf_token": csrf_token(browser), "field-0.title": "Changed", "field-1.remove": "1"}
    browser.post("/admin/forms/contact", posted, status=403)
    browser.post("/admin/forms/new", {**posted, "name": "other"}, status=403)
    assert Form.get(Form.name == "contact").fields == FIELDS and Form.select().count() == 1


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
                                          "field-0.name": "other"}, status=403)
    assert Form.select().count() == 1 and FormSubmission.select().count() == 1


def test_a_forms_rows_say_required_on_the_field_only():
    # A form's fields have no schema-level required list: a ticked box is the field's own flag.
    posted = {"field-0.name": "agree", "field-0.type": "checkbox", "field-0.required": "1",
              "field-1.name": "email", "field-1.type": "email"}
    schema, problems = schema_from_rows(rows_from_form(posted, (), FORM_FIELDS))
    assert problems == []
    assert schema == {"type": "object", "properties": {"agree": {"type": "checkbox", "required": True},
                                                       "email": {"type": "email"}}}
