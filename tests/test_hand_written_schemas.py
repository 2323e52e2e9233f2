"""Content written against a collection schema stored by hand (SQL, past the collections API's
schema check) in shapes that check refuses: a value under such a declaration is refused at its
path with 422 and the error envelope, never a 500, and nothing is written; the admin's content
form, which saves through the same service, says so on the page. A choice field's labels
stored in such a shape still give a form."""

import json

import pytest

from app.db.models import Content
from tests.fixtures.content import create_collection
from tests.fixtures.workflow import insert_content

pytestmark = pytest.mark.backends

TO_FIX = "(fix it with the collections API)"
BLOCK = {"label": "Part", "properties": {"heading": {"type": "string"}}}

# (declarations, data sent, the path refused, what the message says is wrong)
BROKEN = {
    "type-list": ({"weird": {"type": ["string", "null"]}}, {"weird": "x"}, "data.weird", "gives this field a type that is not text"),
    "type-object": ({"weird": {"type": {"anyOf": ["string"]}}}, {"weird": 1}, "data.weird", "gives this field a type that is not text"),
    "multiple-type-list": ({"weird": {"type": ["reference"], "multiple": True, "enum": [""]}}, {"weird": ["a"]},
                           "data.weird", "gives this field a type that is not text"),
    "item-type-list": ({"tags": {"type": "array", "items": {"type": ["string"]}}}, {"tags": ["a"]},
                       "data.tags[0]", "gives this field a type that is not text"),
    "block-type-list": ({"parts": {"type": "array", "blocks": {"part": {"properties": {"odd": {"type": ["x"]}}}}}},
                        {"parts": [{"blockType": "part", "odd": 1}]}, "data.parts[0].odd", "gives this field a type that is not text"),
    "block-properties-list": ({"parts": {"type": "array", "blocks": {"listed": {"properties": ["heading"]},
                                                                    "part": BLOCK}}},
                              {"parts": [{"blockType": "part", "heading": "H"}, {"blockType": "listed", "heading": "H"}]},
                              "data.parts[1]", "gives the block type listed properties that are not an object"),
    "discriminator-list": ({"parts": {"type": "array", "discriminator": ["kind"], "blocks": {"part": BLOCK}}},
                           {"parts": [{"blockType": "part", "heading": "H"}]}, "data.parts",
                           "names the key of the block type with something other than text"),
    "discriminator-object": ({"parts": {"type": "array", "discriminator": {"k": 1}, "blocks": {"part": BLOCK}}},
                             {"parts": [{"kind": "part"}]}, "data.parts",
                             "names the key of the block type with something other than text"),
    "collection-list": ({"ref": {"type": "reference", "collection": [["odd"]]}}, {"ref": "some-id"}, "data.ref",
                        "names its collections with something other than text"),
}


def hand_written(properties, **schema):
    """A collection whose schema is written straight to the database, past the API's check."""
    return create_collection("odd", {"type": "object", "properties": {"title": {"type": "string"}, **properties},
                                     **schema}, display_name="Odd")


def refused_as(response, path, wrong):
    assert response.json["error"] == "Validation failed"
    assert {"field": path, "message": f"the collection's schema {wrong} {TO_FIX}"} in response.json["details"]


@pytest.mark.parametrize("case", BROKEN.values(), ids=BROKEN.keys())
def test_a_create_under_a_broken_declaration_is_refused_and_writes_nothing(client, as_editor, case):
    properties, data, path, wrong = case
    odd = hand_written(properties)
    _, headers = as_editor
    response = client.post_json("/api/content", {"collectionId": "odd", "title": "Odd", "data": data},
                                headers=headers, status=422)
    refused_as(response, path, wrong)
    assert Content.select().where(Content.collection == odd.id).count() == 0


@pytest.mark.parametrize("case", BROKEN.values(), ids=BROKEN.keys())
def test_an_update_under_a_broken_declaration_is_refused_and_changes_nothing(client, as_editor, case):
    properties, data, path, wrong = case
    odd = hand_written(properties)
    editor, headers = as_editor
    item = insert_content(editor, odd, title="Odd", data={"title": "Odd"})
    response = client.put_json(f"/api/content/{item.id}", {"title": "Changed", "data": data},
                               headers=headers, status=422)
    refused_as(response, path, wrong)
    saved = Content.get_by_id(item.id)
    assert (saved.title, saved.data) == ("Odd", {"title": "Odd"})


def test_a_field_of_a_broken_type_left_without_a_value_takes_the_write(client, as_editor):
    """Nothing is stored under it, so nothing goes unchecked (``""`` is no value where no enum's
    option can be told apart)."""
    hand_written({"weird": {"type": ["string", "null"]}, "parts": {"type": "array", "discriminator": ["kind"],
                                                                   "blocks": {"part": BLOCK}},
                  "many": {"type": ["reference"], "multiple": True, "enum": [""]}})
    _, headers = as_editor
    body = {"collectionId": "odd", "title": "Odd", "data": {"title": "Odd", "weird": None, "parts": [], "many": ""}}
    created = client.post_json("/api/content", body, headers=headers, status=201).json["data"]
    assert Content.get_by_id(created["id"]).data == body["data"]


def test_required_names_that_are_no_text_require_nothing(client, as_editor):
    """A name that is a list names no field; the text names beside it still count."""
    odd = hand_written({"note": {"type": "string"}, "parts": {"type": "array", "blocks": {
        "part": {**BLOCK, "required": [["heading"], "heading"]}}}}, required=[["title"], {"a": 1}, "note"])
    _, headers = as_editor
    body = {"collectionId": "odd", "title": "Odd", "data": {"title": "Odd", "parts": [{"blockType": "part"}]}}
    details = client.post_json("/api/content", body, headers=headers, status=422).json["details"]
    assert sorted(detail["field"] for detail in details) == ["data.note", "data.parts[0].heading"]
    body["data"] = {"note": "n", "parts": [{"blockType": "part", "heading": "H"}]}
    created = client.post_json("/api/content", body, headers=headers, status=201).json["data"]
    assert Content.get_by_id(created["id"]).data == {"title": "Odd", **body["data"]}
    assert Content.select().where(Content.collection == odd.id).count() == 1


def test_a_format_that_is_no_text_names_no_format(client, as_editor):
    hand_written({"mail": {"type": "string", "format": ["email"], "maxLength": 3}})
    _, headers = as_editor
    body = {"collectionId": "odd", "title": "Odd", "data": {"mail": "not an email"}}
    details = client.post_json("/api/content", body, headers=headers, status=422).json["details"]
    assert details == [{"field": "data.mail", "message": "must be at most 3 characters long"}]
    body["data"] = {"mail": "abc"}
    client.post_json("/api/content", body, headers=headers, status=201)


# ---------------------------------------------------------------- the admin's content form


def problems(page):
    """The messages of a refused save's list of fields to fix, after each field's label."""
    return [item.text.split(": ", 1)[1] for item in page.html.select("ul.form-problems li")]


def test_the_form_saving_a_stored_value_of_a_broken_type_says_why_and_keeps_the_item(browser, signed_in_as):
    """The field is read-only and kept as stored: the save is refused on it, nothing changes."""
    odd = hand_written({"weird": {"type": {"anyOf": ["string"]}}})
    editor = signed_in_as("editor")
    item = insert_content(editor, odd, title="Odd", data={"title": "Odd", "weird": "x"})
    form = browser.get(f"/admin/content/odd/{item.id}").forms["content-form"]
    form["title"] = "Changed"
    page = form.submit(status=422)
    assert problems(page) == [f"the collection's schema gives this field a type that is not text {TO_FIX}"]
    saved = Content.get_by_id(item.id)
    assert (saved.title, saved.data) == ("Odd", {"title": "Odd", "weird": "x"})


def test_the_form_saving_a_block_whose_properties_are_a_list_says_why_and_keeps_the_item(browser, signed_in_as):
    odd = hand_written({"parts": {"type": "array", "blocks": {"listed": {"label": "Listed", "properties": ["heading"]},
                                                              "part": BLOCK}}})
    editor = signed_in_as("editor")
    parts = [{"blockType": "listed", "heading": "H"}]
    item = insert_content(editor, odd, title="Odd", data={"title": "Odd", "parts": parts})
    form = browser.get(f"/admin/content/odd/{item.id}").forms["content-form"]
    form["title"] = "Changed"
    page = form.submit(status=422)
    wrong = "gives the block type listed properties that are not an object"
    assert problems(page) == [f"parts[0]: the collection's schema {wrong} {TO_FIX}"]
    saved = Content.get_by_id(item.id)
    assert (saved.title, saved.data) == ("Odd", {"title": "Odd", "parts": parts})


def test_the_form_adding_a_block_under_a_discriminator_that_is_a_list_says_why(browser, signed_in_as):
    odd = hand_written({"parts": {"type": "array", "discriminator": ["kind"], "blocks": {"part": BLOCK}}})
    signed_in_as("editor")
    form = browser.get("/admin/content/odd/new").forms["content-form"]
    form["title"], form["data.parts._add"] = "Odd", "part"
    page = form.submit(status=422)
    wrong = "names the key of the block type with something other than text"
    assert problems(page) == [f"the collection's schema {wrong} {TO_FIX}"]
    assert Content.select().where(Content.collection == odd.id).count() == 0


@pytest.mark.parametrize("labels", [5, "Abc", {"x": "X"}, True], ids=["number", "text", "object", "boolean"])
def test_enum_labels_that_are_no_list_are_no_labels(browser, signed_in_as, labels):
    odd = hand_written({"pick": {"type": "select", "enum": ["a", "b"], "enumLabels": labels},
                        "picks": {"type": "multiselect", "enum": ["a", "b"], "enumLabels": labels}})
    editor = signed_in_as("editor")
    item = insert_content(editor, odd, title="Odd", data={"title": "Odd", "pick": "b", "picks": ["a"]})
    page = browser.get(f"/admin/content/odd/{item.id}")
    options = page.html.select("#f-data-pick option")
    assert [(o["value"], o.text.strip()) for o in options if o["value"]] == [("a", "a"), ("b", "b")]
    boxes = page.html.select("input[name='data.picks']")
    assert [page.html.select_one(f"label[for='{box['id']}']").text.strip() for box in boxes] == ["a", "b"]
    page.forms["content-form"].submit(status=303)
    assert Content.get_by_id(item.id).data == {"title": "Odd", "pick": "b", "picks": ["a"]}


def test_enum_labels_that_are_no_text_are_shown_as_json(browser, signed_in_as):
    labels = [1, {"a": [True, "é"]}, None, "Text"]
    hand_written({"pick": {"type": "select", "enum": ["a", "b", "c", "d"], "enumLabels": labels},
                  "picks": {"type": "multiselect", "enum": ["a", "b", "c", "d"], "enumLabels": labels}})
    signed_in_as("editor")
    page = browser.get("/admin/content/odd/new")
    shown = [json.dumps(label, ensure_ascii=False) if not isinstance(label, str) else label for label in labels]
    assert [o.text.strip() for o in page.html.select("#f-data-pick option") if o["value"]] == shown
    boxes = page.html.select("input[name='data.picks']")
    assert [page.html.select_one(f"label[for='{box['id']}']").text.strip() for box in boxes] == shown
    assert "{'a'" not in page.text and "None" not in page.text


def test_the_content_list_writes_the_cells_of_broken_declarations_without_failing(browser, signed_in_as):
    """The list's cells read the same hand-written declarations: labels that are no list or no
    text, an enum that is no list, a type that is no text."""
    odd = hand_written({"pick": {"type": "select", "enum": ["a", "b"], "enumLabels": [None, {"b": 1}]},
                        "other": {"type": "radio", "enum": ["a"], "enumLabels": 5},
                        "count": {"type": "select", "enum": 3},
                        "weird": {"type": ["media"], "title": {"x": 1}}})
    odd.list_fields = ["pick", "other", "count", "weird"]
    odd.save()
    editor = signed_in_as("editor")
    insert_content(editor, odd, title="Odd", data={"title": "Odd", "pick": "b", "other": "a", "count": 3,
                                                    "weird": {"id": "m"}})
    page = browser.get("/admin/content/odd", status=200)
    cells = [cell.get_text(" ", strip=True) for cell in page.html.select("table tbody tr td")]
    assert '{"b": 1}' in cells and "a" in cells and "3" in cells and '{"id":"m"}' in cells
    assert "{'b'" not in page.text and "{'x'" not in page.text
    assert "weird" in [th.get_text(strip=True) for th in page.html.select("table thead th")]


@pytest.mark.parametrize("schema", [
    {"type": "object", "properties": {"title": {"type": "string"}}, "required": [["title"], {"a": 1}, "title"]},
    {"type": "object", "properties": ["title"]},
], ids=["required-holding-lists", "properties-a-list"])
def test_the_collection_editor_opens_a_schema_of_other_shapes(browser, signed_in_as, schema):
    create_collection("odd", schema, display_name="Odd")
    signed_in_as("admin")
    page = browser.get("/admin/collections/odd", status=200)
    names = [field["value"] for field in page.html.select("input[name$='.name']") if field.get("value")]
    assert names == (["title"] if isinstance(schema["properties"], dict) else [])
