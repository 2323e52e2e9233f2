"""The admin's collections editor: create and edit with the field builder, API messages, managed
collections read-only, activate and deactivate, per role; writes checked in the database and
through the API's cached collection list."""

import html
import json
import re

import pytest

from app.admin.field_builder import MAX_ROWS
from app.db.models import Collection, Content
from tests.fixtures.admin import as_a_browser_sends, csrf_token
from tests.fixtures.content import create_collection, insert_items
from tests.fixtures.users import bearer, token_for

pytestmark = pytest.mark.backends

SCHEMA = {
    "type": "object",
    "properties": {
        "title": {"type": "string", "title": "Title", "required": True},
        "body": {"type": "richtext"},
        "category": {"type": "select", "enum": ["news", "tech"]},
    },
    "required": ["title"],
}


def names_in(page):
    """The field names in the builder, in order, blank row left out."""
    form = page.forms["collection-form"]
    return [form[key].value for key in sorted(form.fields, key=_row_number) if key and key.endswith(".name") and form[key].value]


def _row_number(key):
    return int(key.split(".")[0][len("field-"):]) if key and key.startswith("field-") else -1


def public_names(browser):
    response = browser.get("/api/collections", headers={"Accept": "application/json"})
    return {row["name"]: row for row in response.json["data"]}


def test_create_with_the_field_builder_reaches_the_database_and_the_cache(browser, signed_in_as):
    signed_in_as("admin")
    assert "events" not in public_names(browser)  # the public list is now cached
    page = browser.get("/admin/collections/new")
    # The item's own status and workflow state say whether it is published: no status field.
    assert names_in(page) == ["title", "content"], "starts with the API's default fields"
    form = page.forms["collection-form"]
    form["name"], form["display_name"] = "events", "Events"
    form["field-1.remove"] = True  # content
    form["field-2.name"], form["field-2.type"], form["field-2.title"] = "seats", "number", "Seats"
    form["field-2.required"] = True
    form["field-2.position"] = "1"
    form["field-2.options"] = '{"min": 1}'
    response = form.submit(status=303)
    assert response.location.endswith("/admin/collections/events?done=created")
    stored = Collection.get(Collection.name == "events")
    assert list(stored.schema["properties"]) == ["seats", "title"]
    assert stored.schema["properties"]["seats"] == {"type": "number", "title": "Seats", "required": True, "min": 1}
    assert stored.schema["required"] == ["seats", "title"] and not stored.managed
    assert "events" in public_names(browser), "the cached list was invalidated"
    assert "Collection created." in response.follow().text


def test_a_field_position_past_any_number_keeps_the_field_after_those_placed(browser, signed_in_as):
    signed_in_as("admin")
    form = browser.get("/admin/collections/new").forms["collection-form"]
    form["name"], form["display_name"] = "notes", "Notes"
    form["field-0.position"] = "9" * 5000  # more digits than Python converts
    form["field-1.position"] = "1"
    form.submit(status=303)
    assert list(Collection.get(Collection.name == "notes").schema["properties"]) == ["content", "title"]


def test_the_api_validation_messages_are_shown_on_their_fields(browser, signed_in_as):
    signed_in_as("admin")
    form = browser.get("/admin/collections/new").forms["collection-form"]
    form["name"], form["display_name"] = "shop", "Shop"
    form["field-1.type"] = "select"
    form["field-1.enum"] = ""
    form["field-2.name"], form["field-2.type"] = "author", "reference"
    response = form.submit(status=422)
    assert "schema.properties.content.enum: a select field needs a non-empty enum" in response.text
    row = response.html.select_one("#field-2-errors").text
    assert "collection: a reference field needs the collection(s) it points to" in row
    assert not Collection.select().where(Collection.name == "shop").exists()
    assert response.forms["collection-form"]["field-2.name"].value == "author", "what was typed is kept"


@pytest.mark.parametrize(("change", "expected"), [
    ({"name": "Bad Name!"}, "Name: A collection name must use lower-case letters, digits, - and _, up to 64 characters"),
    ({"display_name": ""}, "display_name (or displayName) is required"),
    ({"field-0.options": "{not json"}, "options: not valid JSON"),
    ({"field-0.options": "[1]"}, "options: must be a JSON object"),
    ({"field-1.name": "title"}, "name: &#39;title&#39; is used by another field"),
    ({"field-1.name": "", "field-1.title": "Body"}, "name: required"),
    ({"field-0.options": '{"requird": true}'}, "schema.properties.title.requird: unknown key"),
    ({"description": "a\x00b"}, "Description: NUL characters are not allowed"),
])
def test_invalid_forms_are_refused_and_write_nothing(browser, signed_in_as, change, expected):
    signed_in_as("admin")
    form = browser.get("/admin/collections/new").forms["collection-form"]
    form["name"], form["display_name"] = "shop", "Shop"
    for key, value in change.items():
        form[key] = value
    response = form.submit(status=422)
    assert expected in response.text
    assert Collection.select().count() == 0


def test_bad_options_json_is_said_on_the_options_box_not_the_name(browser, signed_in_as):
    signed_in_as("admin")
    form = browser.get("/admin/collections/new").forms["collection-form"]
    form["name"], form["display_name"] = "shop", "Shop"
    form["field-1.options"] = "{not json"
    page = form.submit(status=422)
    shown = [item.get_text() for item in page.html.select("#form-message li")]
    assert shown == ["schema.properties.content: options not valid JSON (Expecting property name enclosed in "
                     "double quotes)"]
    options = page.html.select_one("#field-1-options")
    assert options["aria-invalid"] == "true"
    assert page.html.select_one(f"#{options['aria-describedby']}").get_text().startswith("options: not valid JSON")
    assert not page.html.select_one("#field-1-name").has_attr("aria-invalid")
    # A key the API refuses is written in the options too: marked there.
    form = page.forms["collection-form"]
    form["field-1.options"] = '{"requird": true}'
    page = form.submit(status=422)
    assert page.html.select_one("#field-1-options")["aria-invalid"] == "true"
    assert not page.html.select_one("#field-1-name").has_attr("aria-invalid")
    # A field without a name: the name is what is wrong.
    form = page.forms["collection-form"]
    form["field-1.options"], form["field-1.name"] = "", ""
    page = form.submit(status=422)
    assert page.html.select_one("#field-1-name")["aria-invalid"] == "true"
    assert not page.html.select_one("#field-1-options").has_attr("aria-invalid")
    assert [item.get_text() for item in page.html.select("#form-message li")] == ["Field 2: name: required"]


def test_the_rows_own_problems_are_listed_by_their_paths_as_the_apis_are(browser, signed_in_as):
    """Above the form, a problem only the rows find reads as the API's: its full path, then
    the message; on its row, it names the input, and only the row it is about has it."""
    signed_in_as("admin")
    form = browser.get("/admin/collections/new").forms["collection-form"]
    form["name"], form["display_name"] = "shop", "Shop"
    form["field-1.type"], form["field-1.min"] = "number", "ten"
    form["field-2.name"] = "title"  # the empty row, named as the first
    page = form.submit(status=422)
    assert [item.get_text() for item in page.html.select("#form-message li")] == [
        "schema.properties.content.min: must be a number such as 0, 10 or 2.5 (got 'ten')",
        "schema.properties.title: 'title' is used by another field"]
    assert [item.get_text() for item in page.html.select("#field-1-errors li")] == [
        "min: must be a number such as 0, 10 or 2.5 (got 'ten')"]
    assert [item.get_text() for item in page.html.select("#field-2-errors li")] == [
        "name: 'title' is used by another field"]
    assert page.html.select_one("#field-0-errors") is None
    assert Collection.select().count() == 0


def test_a_row_numbered_past_four_digits_is_saved_not_dropped(browser, signed_in_as):
    """A row number of five digits or more (a script counting on after a forged one) is a new
    row given a free number, in its place."""
    signed_in_as("admin")
    form = browser.get("/admin/collections/new").forms["collection-form"]
    form["name"], form["display_name"] = "shop", "Shop"
    posted = {**dict(form.submit_fields()), "field-9999.name": "sku", "field-00000000000000000012345.name": "price",
              "field-00000000000000000012345.type": "number", "field-10000.name": "colour",
              "field-10000.type": "color", "field-10000.position": "1"}
    browser.post("/admin/collections/new", posted, status=303)
    fields = Collection.get(Collection.name == "shop").schema["properties"]
    assert list(fields) == ["colour", "title", "content", "sku", "price"]
    assert (fields["colour"]["type"], fields["price"]["type"]) == ("color", "number")


def test_a_taken_name_is_a_conflict(browser, signed_in_as):
    signed_in_as("admin")
    create_collection("posts", SCHEMA)
    form = browser.get("/admin/collections/new").forms["collection-form"]
    form["name"], form["display_name"] = "posts", "Posts again"
    page = form.submit(status=409)
    assert page.text.count("A collection named &#39;posts&#39; already exists") == 1, "said once, not again as a detail"


def test_the_name_new_is_refused_next_to_the_field(browser, signed_in_as):
    signed_in_as("admin")
    form = browser.get("/admin/collections/new").forms["collection-form"]
    form["name"], form["display_name"] = "new", "New"
    assert "&#39;new&#39; is reserved" in form.submit(status=422).text


NAME_RULE = "A collection name must use lower-case letters, digits, - and _, up to 64 characters"


@pytest.mark.parametrize(("row", "number", "row_problem"), [
    ({"field-1.name": "", "field-1.title": "Body"}, 1, "Field 2: name: required"),  # the rows' own problem
    ({"field-0.options": '{"requird": true}'}, 0, "schema.properties.title.requird: unknown key"),  # the API's
], ids=["rows", "schema"])
def test_a_bad_name_is_listed_first_with_the_fields_problems(browser, signed_in_as, row, number, row_problem):
    """The name is checked before the fields: a bad name and a bad field are one refusal
    listing both, the name's first; the field's problem stays on its row."""
    signed_in_as("admin")
    form = browser.get("/admin/collections/new").forms["collection-form"]
    form["name"], form["display_name"] = "Bad Name", "Shop"
    for key, value in row.items():
        form[key] = value
    page = form.submit(status=422)
    listed = [item.get_text() for item in page.html.select("#form-message li")]
    assert listed[0] == f"Name: {NAME_RULE}" and len(listed) == 2 and listed[1].startswith(row_problem)
    assert page.html.select(f"#field-{number}-errors li"), "the field's problem is on its row too"
    form = page.forms["collection-form"]
    assert form["name"].value == "Bad Name", "what was typed is kept"
    form["display_name"] = ""
    listed = [item.get_text() for item in form.submit(status=422).html.select("#form-message li")]
    assert listed[:2] == [f"Name: {NAME_RULE}", "Display name: display_name (or displayName) is required"]
    assert len(listed) == 3 and listed[2].startswith(row_problem)
    assert Collection.select().count() == 0


def many_rows(count):
    """The inputs of ``count`` builder rows as the page posts them, each a text field ``f<n>``."""
    return {key: value for n in range(count) for key, value in ((f"field-{n}.name", f"f{n}"),
                                                                   (f"field-{n}.type", "string"))}


def typed_names(page):
    """The field names in the builder's rows, in their order (the empty rows left out); read
    from the text: parsing a page of hundreds of rows as HTML takes seconds."""
    return [name for name in re.findall(r'name="field-[0-9]+\.name" value="([^"]*)"', page.text) if name]


def problems_listed(page):
    """The lines of the problem list above the form."""
    listed = re.search(r'<div class="message error" role="alert" id="form-message">(.*?)</div>', page.text, re.S)
    return [html.unescape(re.sub(r"<[^>]+>", "", item)) for item in re.findall(r"<li>(.*?)</li>", listed.group(1),
                                                                              re.S)]


TOO_MANY = (f"schema.properties: this editor saves at most {MAX_ROWS} fields, and {MAX_ROWS + 1} were sent: "
            "remove 1 and save again (nothing was saved)")


def test_more_rows_than_the_editor_saves_are_refused_and_shown_again(browser, signed_in_as):
    """A post carrying MAX_ROWS + 1 fields is refused whole (none cut off and the rest saved),
    in the list of problems naming the limit, after the name's; every row comes back as typed."""
    signed_in_as("admin")
    form = {"csrf_token": csrf_token(browser), "name": "Bad Name", "display_name": "Shop",
            **many_rows(MAX_ROWS + 1)}
    page = browser.post("/admin/collections/new", form, status=422)
    assert problems_listed(page) == [f"Name: {NAME_RULE}", TOO_MANY]
    assert typed_names(page) == [f"f{n}" for n in range(MAX_ROWS + 1)], "every row typed is shown again"
    assert Collection.select().count() == 0
    # Removed rows and the empty row count for nothing: exactly MAX_ROWS fields are saved.
    form.update({"name": "shop", "field-0.remove": "1", f"field-{MAX_ROWS + 1}.type": "string"})
    browser.post("/admin/collections/new", form, status=303)
    assert list(Collection.get(Collection.name == "shop").schema["properties"]) == [
        f"f{n}" for n in range(1, MAX_ROWS + 1)]


def test_a_post_of_more_rows_than_a_page_holds_is_refused_as_too_large(browser, signed_in_as):
    """Every row posted is shown again on a refusal: a forged post of thousands of rows (blank
    ones too, which save nothing) would make a page of hundreds of megabytes. Past twice the
    rows the editor saves, no page's post, it is refused whole as a form too large."""
    signed_in_as("admin")
    blank = {f"field-{n}.type": "string" for n in range(2 * MAX_ROWS + 1)}
    form = {"csrf_token": csrf_token(browser), "name": "shop", "display_name": "Shop", **blank}
    browser.post("/admin/collections/new", form, status=413)
    assert Collection.select().count() == 0
    # Twice the limit is still read: the blank rows count for nothing, the one field is saved.
    del form[f"field-{2 * MAX_ROWS}.type"]
    form["field-0.name"] = "title"
    browser.post("/admin/collections/new", form, status=303)
    assert list(Collection.get(Collection.name == "shop").schema["properties"]) == ["title"]


def test_a_collection_with_more_fields_than_the_editor_saves_is_never_cut_short(browser, signed_in_as):
    """A collection given more fields through the API is shown whole and saves untouched with
    all of them (the editor's limit grows to what is stored); one field more is refused rather
    than anything stored without its last fields."""
    signed_in_as("admin")
    schema = {"type": "object", "properties": {f"f{n}": {"type": "string"} for n in range(MAX_ROWS + 1)}}
    create_collection("wide", schema, display_name="Wide")
    assert len(typed_names(browser.get("/admin/collections/wide"))) == MAX_ROWS + 1
    # Each row as the page shows it, posted back untouched, and then with one more.
    untouched = {"csrf_token": csrf_token(browser), "display_name": "Wide", **many_rows(MAX_ROWS + 1)}
    browser.post("/admin/collections/wide", untouched, status=303)
    assert list(Collection.get(Collection.name == "wide").schema["properties"]) == list(schema["properties"])
    grown = {**untouched, **many_rows(MAX_ROWS + 2)}
    refused = browser.post("/admin/collections/wide", grown, status=422)
    assert problems_listed(refused) == [
        f"schema.properties: this editor saves at most {MAX_ROWS + 1} fields, and {MAX_ROWS + 2} were sent: "
        "remove 1 and save again (nothing was saved)"]
    assert len(typed_names(refused)) == MAX_ROWS + 2
    assert list(Collection.get(Collection.name == "wide").schema["properties"]) == list(schema["properties"]), \
        "nothing written"


def test_edit_changes_fields_and_invalidates_the_caches(browser, signed_in_as):
    signed_in_as("admin")
    create_collection("posts", SCHEMA, display_name="Posts")
    assert public_names(browser)["posts"]["display_name"] == "Posts"
    page = browser.get("/admin/collections/posts")
    assert names_in(page) == ["title", "body", "category"]
    form = page.forms["collection-form"]
    assert form["field-0.required"].checked and form["field-2.enum"].value == "news\ntech"
    form["display_name"] = "Articles"
    form["field-2.enum"] = "news\ntech\nlife"
    form["field-1.position"], form["field-2.position"] = "3", "2"
    form["field-3.name"], form["field-3.type"], form["field-3.collection"] = "related", "reference", ["posts"]
    assert form.submit(status=303).location.endswith("/admin/collections/posts?done=saved")
    stored = Collection.get(Collection.name == "posts")
    assert stored.display_name == "Articles"
    assert list(stored.schema["properties"]) == ["title", "category", "body", "related"]
    assert stored.schema["properties"]["category"]["enum"] == ["news", "tech", "life"]
    assert stored.schema["properties"]["related"] == {"type": "reference", "collection": "posts"}
    assert public_names(browser)["posts"]["display_name"] == "Articles"


def test_an_unchanged_save_keeps_choices_as_the_api_stored_them(browser, signed_in_as):
    signed_in_as("admin")
    schema = {"type": "object", "properties": {"kind": {"type": "select", "enum": [" spaced ", "b"]}}}
    create_collection("choices", schema)
    form = browser.get("/admin/collections/choices").forms["collection-form"]
    assert form.submit(status=303).location.endswith("?done=saved")
    assert Collection.get(Collection.name == "choices").schema["properties"]["kind"]["enum"] == [" spaced ", "b"]


BLANK_CHOICES = {"type": "object", "properties": {
    "kind": {"type": "select", "enum": ["", "a", " "], "enumLabels": ["None", "A", "Space"]},
    "mode": {"type": "radio", "enum": ["two\nlines", "b", '""']},
}}


def test_choices_no_line_can_show_are_shown_as_json_and_kept(browser, signed_in_as):
    """An empty option, one of spaces and one of two lines (written through the API or a
    definition file) are each shown as JSON on a line of their own: saved back untouched, or
    with the field edited and their lines kept, the enum stays exactly as stored."""
    signed_in_as("admin")
    create_collection("blanks", BLANK_CHOICES)
    page = browser.get("/admin/collections/blanks")
    form = page.forms["collection-form"]
    assert form["field-0.enum"].value == '""\na\n" "'
    assert form["field-1.enum"].value == '"two\\nlines"\nb\n"\\"\\""'
    assert "a blank line is none" in page.html.select_one("#field-0-enum-help").text
    as_a_browser_sends(form, "field-0.enum", "field-1.enum")
    assert form.submit(status=303).location.endswith("?done=saved")
    assert json.dumps(Collection.get(Collection.name == "blanks").schema) == json.dumps(BLANK_CHOICES)
    form = browser.get("/admin/collections/blanks").forms["collection-form"]
    form["field-0.title"], form["field-1.title"] = "Kind", "Mode"
    as_a_browser_sends(form, "field-0.enum", "field-1.enum")
    assert form.submit(status=303).location.endswith("?done=saved")
    stored = Collection.get(Collection.name == "blanks").schema["properties"]
    assert [stored["kind"]["enum"], stored["mode"]["enum"]] == [["", "a", " "], ["two\nlines", "b", '""']]


def test_a_blank_line_is_no_choice_and_the_empty_one_is_typed_as_shown(browser, signed_in_as):
    """Blank lines are spacing; removing the line of "" removes it; "" typed adds it, and a
    line of JSON is text as typed unless it spells out what no line could show."""
    signed_in_as("admin")
    create_collection("blanks", {"type": "object", "properties": {"kind": {"type": "select", "enum": ["a", ""]}}})
    form = browser.get("/admin/collections/blanks").forms["collection-form"]
    assert form["field-0.enum"].value == 'a\n""'
    form["field-0.enum"] = "a\n\n  \nb\n"
    assert form.submit(status=303).location.endswith("?done=saved")
    assert Collection.get(Collection.name == "blanks").schema["properties"]["kind"]["enum"] == ["a", "b"]
    form = browser.get("/admin/collections/blanks").forms["collection-form"]
    form["field-0.enum"] = 'a\n""\n"c"\n"\\"\\""\n[[['
    assert form.submit(status=303).location.endswith("?done=saved")
    assert Collection.get(Collection.name == "blanks").schema["properties"]["kind"]["enum"] == [
        "a", "", '"c"', '""', "[[["]


NULL_OPTION = "Expected `bool | int | float | str`, got `null`; null is no option"


def test_a_null_option_is_refused_by_the_builder_as_by_the_api(browser, signed_in_as):
    """A null in an enum (written to the database by hand) is shown as the line null and, as
    the API refuses it, a save keeping it is refused on its field, saying why; the line
    removed, the field saves. Its items' forms keep working meanwhile."""
    admin = signed_in_as("admin")
    schema = {"type": "object", "properties": {"kind": {"type": "select", "enum": ["a", None]}}}
    create_collection("nulls", schema)
    form = browser.get("/admin/collections/nulls").forms["collection-form"]
    assert form["field-0.enum"].value == "a\nnull"
    page = form.submit(status=422)
    assert page.html.select_one("#field-0-errors").text.startswith("enum[1]: " + NULL_OPTION)
    body = {"name": "other", "displayName": "Other", "schema": schema}
    refused = browser.post_json("/admin/api/collections", body, status=422,
                                headers={**bearer(token_for(admin)), "Accept": "application/json"})
    assert refused.json["details"][0] == {"field": "schema.properties.kind.enum[1]", "message": (
        NULL_OPTION + " (an item's null already means no value)")}
    form = page.forms["collection-form"]
    form["field-0.enum"] = "a\nb"
    assert form.submit(status=303).location.endswith("?done=saved")
    assert Collection.get(Collection.name == "nulls").schema["properties"]["kind"]["enum"] == ["a", "b"]


TYPED = {"type": "object", "properties": {
    "title": {"type": "string"},
    "size": {"type": "select", "enum": [1, 2, 3], "enumLabels": ["Small", "Medium", "Large"]},
    "flag": {"type": "radio", "enum": [True, False, "maybe"]},
    "marks": {"type": "multiselect", "enum": ["1", 1]},
}}


def typed_collection(user):
    """A collection whose choices list numbers and booleans (written to the database), and an item
    holding them; the item's id."""
    sizes = create_collection("sizes", TYPED)
    [item] = insert_items(sizes, user, 1, data=lambda i: {"title": "One", "size": 2, "flag": True, "marks": [1, "1"]})
    return item


def test_an_unchanged_save_keeps_a_typed_enum_and_the_items_holding_it(browser, signed_in_as):
    """The form shows each option as text: saved back untouched, the enum keeps its numbers and
    booleans (as text they would no longer take the values items hold: a 409)."""
    item = typed_collection(signed_in_as("admin"))
    form = browser.get("/admin/collections/sizes").forms["collection-form"]
    assert form.submit(status=303).location.endswith("?done=saved")
    assert json.dumps(Collection.get(Collection.name == "sizes").schema) == json.dumps(TYPED)
    assert json.dumps(Content.get_by_id(item).data) == json.dumps({"title": "One", "size": 2, "flag": True,
                                                                  "marks": [1, "1"]})
    page = browser.get("/admin/collections/sizes")
    form = page.forms["collection-form"]
    assert [form[f"field-{index}.enum"].value for index in (1, 2, 3)] == ["1\n2\n3", "true\nfalse\nmaybe", '"1"\n1']
    assert "a choice typed here is text" in page.html.select_one("#field-1-enum-help").text
    assert not page.html.select("#field-0-enum-help")


def test_a_type_change_items_refuse_is_shown_on_the_row_of_its_field(browser, signed_in_as):
    """The service's 409 lists each field's problem on its type's path: the editor shows it on
    that field's row, and saves nothing."""
    item = typed_collection(signed_in_as("admin"))
    form = browser.get("/admin/collections/sizes").forms["collection-form"]
    form["field-1.type"] = "string"
    page = form.submit(status=409)
    assert page.html.select_one("#field-1-errors").text.strip() == (
        "type: field 'size' cannot change from select (number) to string: 1 item (trashed ones counted) holds a "
        "value it does not accept")
    assert Collection.get(Collection.name == "sizes").schema == TYPED and Content.get_by_id(item).data["size"] == 2


def test_an_edited_field_keeps_the_type_of_each_choice_it_still_lists(browser, signed_in_as):
    """A line still showing a stored option is that option; a line typed beside them is text."""
    item = typed_collection(signed_in_as("admin"))
    form = browser.get("/admin/collections/sizes").forms["collection-form"]
    form["field-1.title"] = "Size"
    form["field-2.enum"] = "true\nfalse\nno"
    form["field-3.enum"] = '1\n"1"\n2'
    assert form.submit(status=303).location.endswith("?done=saved")
    stored = Collection.get(Collection.name == "sizes").schema["properties"]
    assert json.dumps(stored["size"]) == json.dumps(
        {"type": "select", "title": "Size", "enum": [1, 2, 3], "enumLabels": ["Small", "Medium", "Large"]})
    assert json.dumps(stored["flag"]["enum"]) == json.dumps([True, False, "no"])
    assert json.dumps(stored["marks"]["enum"]) == json.dumps([1, "1", "2"])
    form = browser.get("/admin/collections/sizes").forms["collection-form"]
    form["field-1.enum"] = "1\n2\n3\n4"
    form["field-1.options"] = '{"enumLabels": ["Small", "Medium", "Large", "Huge"]}'
    form.submit(status=303)
    assert json.dumps(Collection.get(Collection.name == "sizes").schema["properties"]["size"]["enum"]) == (
        json.dumps([1, 2, 3, "4"]))
    assert Content.get_by_id(item).data["size"] == 2


def test_an_unchanged_save_keeps_labels_names_and_description_as_stored(browser, signed_in_as):
    """Labels, the display name and the description the API stored with spaces or line breaks
    (an input cannot hold one) are posted back unchanged and kept; typed ones are trimmed."""
    signed_in_as("admin")
    schema = {"type": "object", "properties": {"kind": {"type": "string", "title": " Spaced label "},
                                               "note": {"type": "textarea", "title": "Two\nlines"}}}
    create_collection("labels", schema, display_name=" Labels ", description="First\r\nsecond ")
    before = Collection.get(Collection.name == "labels")
    form = browser.get("/admin/collections/labels").forms["collection-form"]
    as_a_browser_sends(form, "display_name", "description", "field-0.title", "field-1.title")
    assert form.submit(status=303).location.endswith("?done=saved")
    after = Collection.get(Collection.name == "labels")
    assert (after.display_name, after.description) == (" Labels ", "First\r\nsecond ")
    assert json.dumps(after.schema) == json.dumps(before.schema)
    form = browser.get("/admin/collections/labels").forms["collection-form"]
    form["field-0.title"], form["display_name"] = "  Typed  ", " Typed name "
    form.submit(status=303)
    after = Collection.get(Collection.name == "labels")
    assert (after.schema["properties"]["kind"]["title"], after.display_name) == ("Typed", "Typed name")


def test_an_unchanged_save_keeps_each_fields_stored_entry(browser, signed_in_as):
    """A field's inputs would rebuild its entry in another shape (a list of one collection as
    its name, an empty label left out): a row posted back as shown keeps the stored entry,
    moved or not."""
    admin = signed_in_as("admin")
    create_collection("people", {"type": "object"})
    schema = {"type": "object", "properties": {
        "author": {"type": "reference", "collection": ["people"], "required": True},
        "nick": {"type": "string", "title": "", "maxLength": 5},
    }}
    browser.post_json("/admin/api/collections", {"name": "shop", "display_name": "Shop", "schema": schema},
                      headers={**bearer(token_for(admin)), "Accept": "application/json"}, status=201)
    stored = Collection.get(Collection.name == "shop").schema
    browser.get("/admin/collections/shop").forms["collection-form"].submit(status=303)
    assert json.dumps(Collection.get(Collection.name == "shop").schema) == json.dumps(stored)
    form = browser.get("/admin/collections/shop").forms["collection-form"]
    form["field-1.position"] = "1"
    form.submit(status=303)
    moved = Collection.get(Collection.name == "shop").schema
    assert list(moved["properties"]) == ["nick", "author"]
    assert json.dumps(moved["properties"]["author"]) == json.dumps(stored["properties"]["author"])
    form = browser.get("/admin/collections/shop").forms["collection-form"]
    form["field-1.collection"] = ["people", "shop"]  # author, now second: edited, so rebuilt from its inputs
    form.submit(status=303)
    assert Collection.get(Collection.name == "shop").schema["properties"]["author"]["collection"] == ["people", "shop"]


def test_a_new_row_after_a_refusal_is_never_a_removed_field(browser, signed_in_as):
    """After a refusal the empty row gets a row number no stored field has: a field typed into
    it is new, not the removed field it would otherwise be read as (its choice types kept)."""
    signed_in_as("admin")
    create_collection("shop", {"type": "object", "properties": {
        "title": {"type": "string"}, "size": {"type": "select", "enum": [1, 2]}}})
    form = browser.get("/admin/collections/shop").forms["collection-form"]
    # As the page's script posts it: the size row and the empty one taken off the page.
    posted = {key: value for key, value in form.submit_fields() if not key.startswith(("field-1.", "field-2."))}
    refused = browser.post("/admin/collections/shop", {**posted, "display_name": ""}, status=422)
    form = refused.forms["collection-form"]
    new = refused.html.select("#field-rows [data-field-row]")[-1].select_one("[name$='.name']")["name"]
    form[new], form[new.replace(".name", ".type")], form[new.replace(".name", ".enum")] = "rating", "select", "1\n2"
    form["display_name"] = "Shop"
    form.submit(status=303)
    assert Collection.get(Collection.name == "shop").schema["properties"]["rating"]["enum"] == ["1", "2"]


def test_a_refusal_shows_one_empty_row_however_often_it_comes(browser, signed_in_as):
    signed_in_as("admin")
    create_collection("shop", SCHEMA)
    page = browser.get("/admin/collections/shop")
    for _ in range(3):
        form = page.forms["collection-form"]
        form["display_name"] = ""
        page = form.submit(status=422)
    assert names_in(page) == ["title", "body", "category"]
    assert len(page.html.select("#field-rows [data-field-row]")) == 4, "the fields and one empty row"


def test_config_managed_collections_are_read_only(browser, signed_in_as):
    signed_in_as("admin")
    create_collection("from_file", SCHEMA, managed=True)
    page = browser.get("/admin/collections/from_file")
    assert page.html.select_one("#managed-note") and not page.html.select("#save-collection")
    assert page.html.select_one("#collection-form fieldset").has_attr("disabled")
    assert not page.html.select("#active-form")
    token = page.forms["collection-form"]["csrf_token"].value
    response = browser.post("/admin/collections/from_file", {"csrf_token": token, "display_name": "Changed"},
                            status=409)
    assert "managed by a definition file" in response.text
    browser.post("/admin/collections/from_file/active", {"csrf_token": token, "is_active": "0"}, status=409)
    stored = Collection.get(Collection.name == "from_file")
    assert stored.display_name == "From_File" and stored.is_active


def test_deactivate_and_activate(browser, signed_in_as):
    signed_in_as("admin")
    create_collection("posts", SCHEMA)
    assert "posts" in public_names(browser)
    page = browser.get("/admin/collections/posts")
    response = page.forms["active-form"].submit(status=303)
    assert response.location.endswith("?done=deactivated")
    assert not Collection.get(Collection.name == "posts").is_active
    assert "posts" not in public_names(browser)
    page = response.follow()
    assert "Collection deactivated." in page.text
    page.forms["active-form"].submit(status=303)
    assert Collection.get(Collection.name == "posts").is_active


@pytest.mark.parametrize("role", ["editor", "author", "viewer"])
def test_only_admins_change_collections(browser, signed_in_as, role):
    signed_in_as(role)
    create_collection("posts", SCHEMA)
    token = browser.get("/admin/account/password").forms[0]["csrf_token"].value
    page = browser.get("/admin/collections/posts", expect_errors=True)
    if page.status_int == 200:  # a role that reads collections sees them read-only
        assert not page.html.select("#save-collection") and not page.html.select("#active-form")
        assert not browser.get("/admin/collections").html.select("#new-collection")
    browser.get("/admin/collections/new", status=403)
    browser.post("/admin/collections/new", {"csrf_token": token, "name": "x", "display_name": "X"}, status=403)
    browser.post("/admin/collections/posts", {"csrf_token": token, "display_name": "X"}, status=403)
    browser.post("/admin/collections/posts/active", {"csrf_token": token, "is_active": "0"}, status=403)
    assert Collection.get(Collection.name == "posts").is_active
    assert Collection.select().count() == 1


def test_forms_without_a_csrf_token_are_refused(browser, signed_in_as):
    signed_in_as("admin")
    create_collection("posts", SCHEMA)
    browser.post("/admin/collections/new", {"name": "x", "display_name": "X"}, status=403)
    browser.post("/admin/collections/posts/active", {"is_active": "0"}, status=403)
    assert Collection.select().count() == 1 and Collection.get(Collection.name == "posts").is_active


def test_unknown_collection_is_a_404_page(browser, signed_in_as):
    signed_in_as("admin")
    assert "There is nothing here." in browser.get("/admin/collections/nope", status=404).text


def test_the_page_lists_exactly_the_apis_validation_details(browser, signed_in_as):
    admin = signed_in_as("admin")
    schema = {"type": "object", "properties": {
        "title": {"type": "string", "pattern": "(a)\\1"},
        "kind": {"type": "select"},
        "link": {"type": "reference"},
        "size": {"type": "number", "min": 5, "max": 1},
    }}
    api = browser.post_json("/admin/api/collections", {"name": "shop", "display_name": "Shop", "schema": schema},
                            headers={**bearer(token_for(admin)), "Accept": "application/json"}, status=422).json
    form = {"csrf_token": csrf_token(browser), "name": "shop", "display_name": "Shop"}
    rows = [("title", "string", '{"pattern": "(a)\\\\1"}'), ("kind", "select", ""), ("link", "reference", ""),
            ("size", "number", '{"min": 5, "max": 1}')]
    for index, (name, kind, options) in enumerate(rows):
        form[f"field-{index}.name"], form[f"field-{index}.type"] = name, kind
        form[f"field-{index}.options"], form[f"field-{index}.enum"] = options, ""
        form[f"field-{index}.position"] = str(index + 1)
    page = browser.post("/admin/collections/new", form, status=422)
    shown = [item.text for item in page.html.select("#form-message li")]
    assert shown == [f"{detail['field']}: {detail['message']}" for detail in api["details"]]
    assert len(shown) == 4
