"""The field builder's type choice and setting inputs: labelled, grouped types; min/max,
lengths, placeholder, help text, flags and reference targets as inputs of their own; a
round trip that keeps every key nobody changed; each refusal marked on its input."""

import json

import pytest

from app.db.models import Collection
from app.services.collection_schema import FIELD_TYPES
from tests.fixtures.content import create_collection
from tests.fixtures.users import bearer, token_for

pytestmark = pytest.mark.backends

NULL_OPTION = "Expected `bool | int | float | str`, got `null`"


def new_form(browser, name="shop"):
    form = browser.get("/admin/collections/new").forms["collection-form"]
    form["name"], form["display_name"] = name, name.title()
    return form


def stored_fields(name="shop"):
    return Collection.get(Collection.name == name).schema["properties"]


def marked(page, input_id):
    return page.html.select_one(f"#{input_id}").get("aria-invalid") == "true"


def test_types_are_chosen_by_grouped_labels_and_saved_by_name(browser, signed_in_as):
    signed_in_as("admin")
    page = browser.get("/admin/collections/new")
    select = page.html.select_one("#field-0-type")
    options = {option["value"]: (option.find_parent("optgroup")["label"], option.get_text())
               for option in select.select("optgroup option")}
    assert set(options) == set(FIELD_TYPES), "every type the schema takes, each once, in a group"
    assert len(select.select("optgroup option")) == len(FIELD_TYPES)
    assert options["integer"] == ("Numbers and dates", "Whole number")
    assert options["textarea"] == ("Text", "Long text")
    assert options["quill"] == ("Rich text", "Rich text (WYSIWYG, HTML: Quill)")
    assert options["boolean"] == ("Choices", "Yes/No")
    assert options["multiselect"] == ("Choices", "Several choices")
    assert options["reference"] == ("Links and files", "Reference")
    assert not select.find("option", recursive=False), "no ungrouped option for a known type"
    form = page.forms["collection-form"]
    form["name"], form["display_name"] = "shop", "Shop"
    form["field-2.name"], form["field-2.type"] = "seats", "integer"
    form.submit(status=303)
    assert stored_fields()["seats"] == {"type": "integer"}


def test_a_type_the_builder_does_not_know_is_shown_as_itself_and_kept(browser, signed_in_as):
    signed_in_as("admin")
    create_collection("odd", {"type": "object", "properties": {"pic": {"type": "picture"}}})
    page = browser.get("/admin/collections/odd")
    own = page.html.select_one("#field-0-type").find("option", recursive=False)
    assert (own["value"], own.get_text(), own.has_attr("selected")) == ("picture", "picture", True)
    form = page.forms["collection-form"]
    assert form["field-0.type"].value == "picture"
    form["field-0.title"] = "Picture"
    refused = form.submit(status=422)  # the API refuses the type, on its input; the form keeps it
    assert marked(refused, "field-0-type")
    assert refused.forms["collection-form"]["field-0.type"].value == "picture"


def test_the_common_settings_are_inputs_of_their_own(browser, signed_in_as):
    signed_in_as("admin")
    create_collection("people", {"type": "object", "properties": {"name": {"type": "string"}}})
    form = new_form(browser)
    assert [value for value, _, _ in form["field-0.collection"].options] == ["people"], "the existing collections"
    form["field-0.minLength"], form["field-0.maxLength"] = "2", "80"
    form["field-0.placeholder"], form["field-1.helpText"] = "A short title", "Before tax"
    form["field-0.indexed"] = form["field-0.sortable"] = True
    form["field-1.name"], form["field-1.type"] = "price", "number"
    form["field-1.min"], form["field-1.max"] = "-1.5", "100"
    form["field-2.name"], form["field-2.type"], form["field-2.collection"] = "owner", "reference", ["people"]
    form.submit(status=303)
    fields = stored_fields()
    assert fields["title"] == {"type": "string", "title": "Title", "required": True, "placeholder": "A short title",
                               "minLength": 2, "maxLength": 80,
                               "indexed": True, "sortable": True}
    assert fields["price"] == {"type": "number", "title": "Content", "helpText": "Before tax", "min": -1.5,
                               "max": 100}
    assert fields["owner"] == {"type": "reference", "collection": "people"}
    page = browser.get("/admin/collections/shop")
    shown = page.forms["collection-form"]
    assert (shown["field-0.minLength"].value, shown["field-1.min"].value) == ("2", "-1.5")
    assert shown["field-0.options"].value == "", "no key with an input is left in the JSON box"
    # The help text reaches the content form, as it reads it.
    assert "Before tax" in browser.get("/admin/content/shop/new").text


def test_each_setting_says_the_types_it_fits_and_all_show_without_script(browser, signed_in_as):
    signed_in_as("admin")
    page = browser.get("/admin/collections/new")
    row = page.html.select_one("#field-0-name").find_parent("fieldset")
    fits = {wrapper["data-setting"]: set(wrapper["data-types"].split()) for wrapper in row.select("[data-setting]")}
    assert {"number", "integer"} <= fits["min"] and "string" not in fits["min"] and fits["max"] == fits["min"]
    assert fits["enum"] == {"select", "radio", "multiselect"}
    assert fits["collection"] == {"reference"}
    assert {"string", "textarea", "markdown"} <= fits["maxLength"] and "number" not in fits["maxLength"]
    assert {"string", "integer"} <= fits["placeholder"] and "boolean" not in fits["placeholder"]
    assert "helpText" not in fits, "help text fits every type"
    assert row.select_one("#field-0-helpText")
    assert not any(wrapper.has_attr("hidden") for wrapper in row.select("[data-setting]")), "hidden only by the script"


UNUSUAL = {"type": "object", "required": ["code", "price"], "properties": {
    "price": {"type": "number", "min": 1.0, "max": 10, "placeholder": " € ", "widget": "slider", "format": "money",
              "helpText": "two  spaces", "description": "Net"},
    "code": {"type": "string", "title": "", "minLength": 0, "pattern": "^[A-Z]+$", "indexed": True,
             "showWhen": {"kind": "x"}, "dependsOn": "kind"},
    "kind": {"type": "radio", "enum": [1, "1", True], "enumLabels": ["One", "Text one", "Yes"]},
    "owner": {"type": "reference", "collection": ["people"], "multiple": True},
    "gone": {"type": "reference", "collection": "deleted"},
}}


def test_a_save_keeps_every_key_nobody_changed(browser, signed_in_as):
    admin = signed_in_as("admin")
    create_collection("people", {"type": "object", "properties": {"name": {"type": "string"}}})
    deleted = create_collection("deleted")
    browser.post_json("/admin/api/collections", {"name": "shop", "displayName": "Shop", "schema": UNUSUAL},
                      headers={**bearer(token_for(admin)), "Accept": "application/json"}, status=201)
    deleted.delete_instance()  # a target deleted since is kept as it is, as any other key
    before = Collection.get(Collection.name == "shop").schema
    browser.get("/admin/collections/shop").forms["collection-form"].submit(status=303)
    assert json.dumps(Collection.get(Collection.name == "shop").schema) == json.dumps(before), "unchanged: as stored"
    form = browser.get("/admin/collections/shop").forms["collection-form"]
    assert json.loads(form["field-0.options"].value) == {"widget": "slider", "format": "money", "description": "Net"}
    assert json.loads(form["field-1.options"].value) == {"pattern": "^[A-Z]+$", "showWhen": {"kind": "x"},
                                                         "dependsOn": "kind"}
    # Every row edited, each in one input: the other keys are kept as stored (1.0 stays 1.0,
    # " € " keeps its spaces, a list of one collection stays a list, a requirement said in
    # the schema's list stays there, typed choices keep their types).
    form["field-0.max"] = "12"
    form["field-1.title"] = "Code"
    form["field-2.title"] = "Kind"
    form["field-3.title"] = "Owner"
    form["field-4.title"] = "Gone"
    form.submit(status=303)
    after = Collection.get(Collection.name == "shop").schema
    expected = json.loads(json.dumps(before))
    expected["properties"]["price"]["max"] = 12
    for name, title in (("code", "Code"), ("kind", "Kind"), ("owner", "Owner"), ("gone", "Gone")):
        expected["properties"][name]["title"] = title
    assert json.dumps(after, sort_keys=True) == json.dumps(expected, sort_keys=True)
    assert after["required"] == ["code", "price"], "the required list keeps its order"
    assert isinstance(after["properties"]["price"]["min"], float)


def test_a_long_whole_number_is_kept_exactly(browser, signed_in_as):
    signed_in_as("admin")
    form = new_form(browser)
    form["field-2.name"], form["field-2.type"] = "price", "number"
    form["field-2.min"], form["field-2.max"] = "-12345678901234567", "98765432109876543210"
    form.submit(status=303)
    assert stored_fields()["price"] == {"type": "number", "min": -12345678901234567, "max": 98765432109876543210}


@pytest.mark.parametrize(("inputs", "input_id", "message"), [
    ({"field-2.min": "ten"}, "field-2-min", "min: must be a number such as 0, 10 or 2.5 (got 'ten')"),
    ({"field-2.max": "nan"}, "field-2-max", "max: must be a number"),
    ({"field-2.max": "1_0"}, "field-2-max", "max: must be a number"),
    ({"field-2.min": "1e999"}, "field-2-min", "min: must be a number"),
    ({"field-2.min": "١٢"}, "field-2-min", "min: must be a number"),
    ({"field-2.max": "١.٥"}, "field-2-max", "max: must be a number"),
    ({"field-0.maxLength": "٣"}, "field-0-maxLength", "maxLength: must be a whole number"),
    ({"field-2.min": "5", "field-2.max": "1"}, "field-2-min", "min: must not be greater than max (5 > 1)"),
    ({"field-0.maxLength": "-1"}, "field-0-maxLength", "maxLength: must be a whole number, 0 or more"),
    ({"field-0.minLength": "9", "field-0.maxLength": "3"}, "field-0-minLength",
     "minLength: must not be greater than maxLength (9 > 3)"),
])
def test_bad_numbers_are_refused_on_their_input(browser, signed_in_as, inputs, input_id, message):
    signed_in_as("admin")
    form = new_form(browser)
    form["field-2.name"], form["field-2.type"] = "price", "number"
    for key, value in inputs.items():
        form[key] = value
    page = form.submit(status=422)
    row, part = input_id.rsplit("-", 1)
    assert message in page.html.select_one(f"#{row}-errors").get_text()
    assert marked(page, input_id)
    assert not marked(page, f"{row}-options")
    assert page.forms["collection-form"][f"{row}.{part}"].value == inputs[f"{row}.{part}"], "what was typed is kept"
    assert not Collection.select().where(Collection.name == "shop").exists()


def test_a_bad_setting_typed_in_the_options_is_refused_on_the_options(browser, signed_in_as):
    signed_in_as("admin")
    form = new_form(browser)
    form["field-2.name"], form["field-2.type"], form["field-2.options"] = "price", "number", '{"min": "abc"}'
    page = form.submit(status=422)
    assert "min: " in page.html.select_one("#field-2-errors").get_text()
    assert marked(page, "field-2-options") and not marked(page, "field-2-min")
    # Typed in its own input, the same setting is refused there.
    form = page.forms["collection-form"]
    form["field-2.options"], form["field-2.min"] = "", "abc"
    page = form.submit(status=422)
    assert marked(page, "field-2-min") and not marked(page, "field-2-options")


def test_choices_of_empty_lines_are_no_choices_and_refused_on_the_choices_input(browser, signed_in_as):
    signed_in_as("admin")
    form = new_form(browser)
    form["field-2.name"], form["field-2.type"], form["field-2.enum"] = "size", "select", "\n  \n\n"
    page = form.submit(status=422)
    assert "enum: a select field needs a non-empty enum" in page.html.select_one("#field-2-errors").text
    assert marked(page, "field-2-enum") and not marked(page, "field-2-options")
    form = page.forms["collection-form"]
    form["field-2.enum"] = "\nsmall\n\nlarge\n"
    form.submit(status=303)
    assert stored_fields()["size"] == {"type": "select", "enum": ["small", "large"]}


def test_an_error_on_one_choice_marks_the_choices_not_the_other_settings(browser, signed_in_as):
    signed_in_as("admin")
    create_collection("nulls", {"type": "object", "properties": {"kind": {"type": "select", "enum": ["a", None]}}})
    form = browser.get("/admin/collections/nulls").forms["collection-form"]
    page = form.submit(status=422)
    assert page.html.select_one("#field-0-errors").text.startswith("enum[1]: " + NULL_OPTION)
    assert marked(page, "field-0-enum")
    assert not marked(page, "field-0-options")


def test_an_unknown_reference_target_is_refused_on_its_input(browser, signed_in_as):
    signed_in_as("admin")
    create_collection("people", {"type": "object", "properties": {"name": {"type": "string"}}})
    form = new_form(browser)
    form["field-2.name"], form["field-2.type"] = "owner", "reference"
    form["field-2.collection"].force_value(["people", "ghosts"])  # a collection deleted since the page was shown
    page = form.submit(status=422)
    assert "collection: there is no collection named 'ghosts'" in page.html.select_one("#field-2-errors").get_text()
    assert marked(page, "field-2-collection")
    assert not Collection.select().where(Collection.name == "shop").exists()
    # The collection itself may be the target, before it exists.
    form = page.forms["collection-form"]
    form["field-2.collection"].force_value(["shop"])
    form.submit(status=303)
    assert stored_fields()["owner"] == {"type": "reference", "collection": "shop"}


def test_a_reference_target_named_by_its_id_is_accepted_as_the_api_accepts_it(browser, signed_in_as):
    signed_in_as("admin")
    people = create_collection("people", {"type": "object", "properties": {"name": {"type": "string"}}})
    form = new_form(browser)
    form["field-2.name"], form["field-2.type"] = "owner", "reference"
    form["field-2.options"] = json.dumps({"collection": people.id})
    form.submit(status=303)
    assert stored_fields()["owner"] == {"type": "reference", "collection": people.id}
    # Shown again by the collection's name, not as a collection that does not exist, and
    # that collection not offered a second time by its name.
    page = browser.get("/admin/collections/shop")
    options = [(option["value"], option.text, option.has_attr("selected"))
               for option in page.html.select("#field-2-collection option")]
    assert (people.id, f"people (by its id, {people.id})", True) in options
    assert not any(value == "people" or "no such collection" in text for value, text, _ in options), options
    # An id chosen in the select (a page of another tool posting it) is taken too.
    form = page.forms["collection-form"]
    form["field-3.name"], form["field-3.type"] = "editor", "reference"
    form["field-3.collection"].force_value([people.id])
    form.submit(status=303)
    assert stored_fields()["editor"] == {"type": "reference", "collection": people.id}


@pytest.mark.parametrize("targets", ['"ghosts"', '["people", "ghosts"]'])
def test_an_unknown_reference_target_typed_in_the_options_is_refused_there(browser, signed_in_as, targets):
    signed_in_as("admin")
    create_collection("people", {"type": "object", "properties": {"name": {"type": "string"}}})
    form = new_form(browser)
    form["field-2.name"], form["field-2.type"] = "owner", "reference"
    form["field-2.options"] = f'{{"collection": {targets}}}'
    page = form.submit(status=422)
    assert "collection: there is no collection named 'ghosts'" in page.html.select_one("#field-2-errors").get_text()
    assert marked(page, "field-2-options") and not marked(page, "field-2-collection")
    form = page.forms["collection-form"]
    form["field-2.options"] = '{"collection": ["people", "shop"]}'  # itself, before it exists
    form.submit(status=303)
    assert stored_fields()["owner"] == {"type": "reference", "collection": ["people", "shop"]}


def test_a_new_collection_is_offered_as_its_own_target_after_a_refused_save(browser, signed_in_as):
    signed_in_as("admin")
    form = new_form(browser)
    form["field-2.name"], form["field-2.type"] = "related", "reference"
    form["field-2.collection"].force_value(["shop", "ghosts"])
    page = form.submit(status=422)
    labels = {option["value"]: option.get_text() for option in page.html.select("#field-2-collection option")}
    assert labels["shop"] == "shop (this collection)", "never said to be missing"
    assert labels["ghosts"] == "ghosts (no such collection)"
    assert page.html.select_one("#field-0-collection option[value='shop']").get_text() == "shop (this collection)"
    form = page.forms["collection-form"]
    form["field-2.collection"] = ["shop"]  # a choice the page offers, no forcing
    form.submit(status=303)
    assert stored_fields()["related"] == {"type": "reference", "collection": "shop"}


def test_a_target_the_field_already_had_is_kept_existing_or_not(browser, signed_in_as):
    signed_in_as("admin")
    create_collection("people", {"type": "object", "properties": {"name": {"type": "string"}}})
    create_collection("shop", {"type": "object", "properties": {"owner": {"type": "reference", "collection": "gone"}}})
    page = browser.get("/admin/collections/shop")
    assert page.html.select_one("#field-0-collection option[selected]").get_text() == "gone (no such collection)"
    form = page.forms["collection-form"]
    form["field-0.collection"] = ["gone", "people"]
    form.submit(status=303)
    assert stored_fields()["owner"] == {"type": "reference", "collection": ["gone", "people"]}, "the kept one first"


def test_an_untouched_multi_target_reference_keeps_its_order_and_other_keys(browser, signed_in_as):
    signed_in_as("admin")
    for name in ("posts", "authors"):
        create_collection(name, {"type": "object", "properties": {"name": {"type": "string"}}})
    owner = {"type": "reference", "collection": ["posts", "authors"], "title": ""}
    create_collection("shop", {"type": "object", "properties": {"owner": owner}})
    page = browser.get("/admin/collections/shop")
    options = page.html.select("#field-0-collection option")
    assert [(option["value"], option.has_attr("selected")) for option in options][:2] == [
        ("posts", True), ("authors", True)], "the selected targets first, in their stored order"
    page.forms["collection-form"].submit(status=303)
    assert stored_fields()["owner"] == owner
    assert stored_fields()["owner"]["collection"] == ["posts", "authors"]
    # The same targets posted in another order are the stored list, in its order.
    form = browser.get("/admin/collections/shop").forms["collection-form"]
    form["field-0.collection"].force_value(["authors", "posts"])
    form["field-0.helpText"] = "Who wrote it"
    form.submit(status=303)
    assert stored_fields()["owner"] == {**owner, "helpText": "Who wrote it"}
    assert stored_fields()["owner"]["collection"] == ["posts", "authors"]


def test_an_unnamed_row_is_named_by_its_place_on_the_page(browser, signed_in_as):
    signed_in_as("admin")
    form = new_form(browser)
    form["field-0.remove"] = True
    form["field-2.title"] = "Nameless"  # input number 2, second row once title is removed
    page = form.submit(status=422)
    assert [item.get_text() for item in page.html.select("#form-message li")] == ["Field 2: name: required"]
    legend = page.html.select_one("#field-2-name").find_parent("fieldset").legend.get_text()
    assert legend.split() == ["Field", "2"]
    assert marked(page, "field-2-name")
