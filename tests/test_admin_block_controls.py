"""Blocks' properties get the top-level field's controls (the HTML editor, a datetime-local input
in UTC, a colour with its picker, radio buttons) read by the same rules, and the content form
shows a field's ``placeholder``; each save checked in the database."""

import json

import pytest

from app.admin.assets import QUILL_CSS, QUILL_JS
from app.db.models import Collection, Content
from tests.fixtures.content import create_collection
from tests.fixtures.workflow import insert_content

pytestmark = pytest.mark.backends

PART = {"label": "Part", "properties": {
    "body": {"type": "quill", "title": "Body"},
    "note": {"type": "tinymce"},
    "starts": {"type": "datetime", "title": "Starts"},
    "tint": {"type": "color", "title": "Tint"},
    "size": {"type": "radio", "enum": [1, 2.5], "enumLabels": ["Small", "Large"], "title": "Size"},
    "flag": {"type": "radio", "enum": [True, False], "enumLabels": ["On", "Off"], "required": True},
}}
SCHEMA = {"type": "object", "properties": {
    "title": {"type": "string", "required": True},
    "parts": {"type": "array", "blocks": {"part": PART}},
}}


@pytest.fixture
def pages(browser):
    return create_collection("pages", SCHEMA, display_name="Pages")


def stored_json(item):
    """The item's data as stored, as JSON text in the stored key order (the bytes compared)."""
    return json.dumps(Content.get_by_id(item.id).data, ensure_ascii=False)


def radios(html, name):
    """``[(label, value, checked)]`` of the radio buttons named ``name``."""
    return [(radio.parent.text.strip(), radio["value"], radio.has_attr("checked"))
            for radio in html.select(f"input[type=radio][name='{name}']")]


def value_of(html, name, label):
    """The value of the radio button named ``name`` labelled ``label``."""
    return next(value for shown, value, _ in radios(html, name) if shown == label)


def test_a_blocks_properties_get_the_top_level_controls(browser, signed_in_as, pages):
    editor = signed_in_as("editor")
    body = '<p style="color:red" onclick="x()">Hi <strong>there</strong></p>'
    item = insert_content(editor, pages, title="Shown", data={"title": "Shown", "parts": [
        {"blockType": "part", "body": body, "starts": "2026-01-31T10:30:00+01:00", "tint": "red", "size": 2.5,
         "flag": False}]})
    page = browser.get(f"/admin/content/pages/{item.id}")
    html = page.html
    linked = {tag.get("href") or tag.get("src") for tag in html.select("link[rel=stylesheet], script[src]")}
    assert {f"/admin/static/{QUILL_CSS}", f"/admin/static/{QUILL_JS}"} <= linked, "Quill, for the blocks' editors"

    holder = html.select_one("[data-html-editor='f-data-parts-b0-body']")
    assert holder["data-html-start"] == "<p>Hi <strong>there</strong></p>", "the editor starts from a cleaned copy"
    area = holder.select_one("textarea#f-data-parts-b0-body.html-input")
    assert area["name"] == "data.parts.0.body"
    assert page.forms["content-form"]["data.parts.0.body"].value == body, "the textarea keeps the stored HTML"
    assert html.select_one("#f-data-parts-b0-body-label").text.strip() == "Body (HTML)"
    assert holder.select_one("[hx-post='/admin/preview/markdown?field=data.parts.0.body']")
    assert html.select_one("[data-html-editor='f-data-parts-b0-note'] textarea")["name"] == "data.parts.0.note"

    starts = html.select_one("#f-data-parts-b0-starts")
    assert (starts["type"], starts["value"], starts["name"]) == ("datetime-local", "2026-01-31T09:30", "data.parts.0.starts")
    assert starts["aria-describedby"] == "f-data-parts-b0-starts-utc"
    assert html.select_one("#f-data-parts-b0-starts-utc").text == "UTC"

    tint = html.select_one("#f-data-parts-b0-tint")
    assert (tint["type"], tint["value"]) == ("text", "red")
    picker = html.select_one("input[type=color][data-color-for='f-data-parts-b0-tint']")
    assert picker is not None and not picker.has_attr("name"), "the picker posts nothing of its own"

    size = html.select_one("fieldset#f-data-parts-b0-size")
    assert (size["role"], size.legend.text.strip()) == ("radiogroup", "Size")
    assert not size.has_attr("aria-required")
    assert [(label, checked) for label, _, checked in radios(html, "data.parts.0.size")] == [
        ("No value", False), ("Small", False), ("Large", True)]
    flag = html.select_one("fieldset#f-data-parts-b0-flag")
    assert flag["aria-required"] == "true"
    assert [(label, checked) for label, _, checked in radios(html, "data.parts.0.flag")] == [
        ("On", False), ("Off", True)], "required: no 'No value'"
    assert not html.select("select[name^='data.parts.0.']"), "no radio is a select any more"


def test_a_block_added_on_the_page_is_a_template_with_the_same_controls(browser, signed_in_as, pages):
    """The script copies the template, numbering its names and ids: each block's radio buttons
    are a group of their own, and its editor and picker are started on the copy."""
    signed_in_as("editor")
    html = browser.get("/admin/content/pages/new").html
    template = html.select_one("template[data-block-template='f-data-parts:part']")
    assert template.select_one("[data-html-editor='f-data-parts-b__n__-body'] textarea")["name"] == "data.parts.__n__.body"
    assert template.select_one("input[type=datetime-local]#f-data-parts-b__n__-starts")
    assert template.select_one("input[type=color][data-color-for='f-data-parts-b__n__-tint']")
    assert {radio["name"] for radio in template.select("input[type=radio]")} == {
        "data.parts.__n__.size", "data.parts.__n__.flag"}
    linked = {tag.get("href") or tag.get("src") for tag in html.select("link[rel=stylesheet], script[src]")}
    assert f"/admin/static/{QUILL_JS}" in linked, "Quill is there for a block added on the page"


BLOCKS = [
    {"blockType": "part", "body": '<p style="color:red">Styled\r\n<em>as is</em></p>', "note": "<h2>Two</h2>",
     "starts": "2026-01-31T10:30:00+01:00", "tint": "red", "size": 1, "flag": True},
    {"size": 2.5, "starts": "2026-01-31T09:30:15.250Z", "tint": "#abc", "flag": False, "blockType": "part"},
    {"blockType": "part", "starts": "2026-01-31", "flag": True, "body": "", "tint": ""},
    {"blockType": "part", "starts": "2026-01-31T09:30:00.123456Z", "flag": False, "size": None},
]


def test_an_unchanged_save_keeps_each_blocks_values_exactly(browser, signed_in_as, pages):
    """HTML, date-times in other spellings (an offset, milliseconds, a date alone, microseconds
    no datetime-local input shows), colour names, radio values of numbers and booleans, an
    empty text and a null: saved unchanged, each is stored as it was, in its keys' order."""
    editor = signed_in_as("editor")
    item = insert_content(editor, pages, title="Kept", data={"title": "Kept", "parts": BLOCKS})
    stored = stored_json(item)
    url = f"/admin/content/pages/{item.id}"
    page = browser.get(url)
    assert page.html.select_one("#f-data-parts-b3-starts")["type"] == "text", "microseconds: a text input"
    page.forms["content-form"].submit(status=303)
    assert stored_json(item) == stored

    # A browser posts a datetime-local value back normalised (seconds added or dropped): the same instant.
    form = browser.get(url).forms["content-form"]
    form["data.parts.0.starts"] = "2026-01-31T09:30:00"
    form["data.parts.2.starts"] = "2026-01-31T00:00"
    form.submit(status=303)
    assert stored_json(item) == stored


def test_a_blocks_controls_save_what_was_chosen_and_typed(browser, signed_in_as, pages):
    editor = signed_in_as("editor")
    item = insert_content(editor, pages, title="Edited", data={"title": "Edited", "parts": BLOCKS[:2]})
    url = f"/admin/content/pages/{item.id}"
    page = browser.get(url)
    form = page.forms["content-form"]
    form["data.parts.0.body"] = "<p><strong>New</strong></p>"
    form["data.parts.0.starts"] = "2026-02-01T08:15"
    form["data.parts.0.tint"] = "#123456"
    form["data.parts.0.size"] = value_of(page.html, "data.parts.0.size", "Large")
    form["data.parts.0.flag"] = value_of(page.html, "data.parts.0.flag", "Off")
    form["data.parts.1.size"] = ""  # "No value"
    form["data.parts.1.starts"] = "2026-02-01T09:15:00+01:00"
    form.submit(status=303)
    first, second = Content.get_by_id(item.id).data["parts"]
    assert first == {"blockType": "part", "body": "<p><strong>New</strong></p>", "note": "<h2>Two</h2>",
                     "starts": "2026-02-01T08:15:00Z", "tint": "#123456", "size": 2.5, "flag": False}
    assert second == {"starts": "2026-02-01T09:15:00+01:00", "tint": "#abc", "flag": False, "blockType": "part"}


def test_a_block_added_without_script_gets_radio_buttons_of_its_own(browser, signed_in_as, pages):
    editor = signed_in_as("editor")
    item = insert_content(editor, pages, title="Added", data={"title": "Added", "parts": [BLOCKS[1]]})
    url = f"/admin/content/pages/{item.id}"
    form = browser.get(url).forms["content-form"]
    form["data.parts._add"] = "part"
    refused = form.submit(status=422)  # the new block's flag is required
    assert "parts[1].flag: is required" in refused.text
    assert {radio["name"] for radio in refused.html.select("fieldset#f-data-parts-b1-flag input")} == {
        "data.parts.1.flag"}
    assert [checked for _, _, checked in radios(refused.html, "data.parts.0.flag")] == [False, True]
    form = refused.forms["content-form"]
    form["data.parts.1.flag"] = value_of(refused.html, "data.parts.1.flag", "On")
    form["data.parts.1.size"] = value_of(refused.html, "data.parts.1.size", "Small")
    form.submit(status=303)
    assert Content.get_by_id(item.id).data["parts"] == [BLOCKS[1], {"blockType": "part", "size": 1, "flag": True}]


def test_a_blocks_datetime_that_is_none_is_refused_and_shown_as_typed(browser, signed_in_as, pages):
    editor = signed_in_as("editor")
    item = insert_content(editor, pages, title="Bad", data={"title": "Bad", "parts": [BLOCKS[1]]})
    form = browser.get(f"/admin/content/pages/{item.id}").forms["content-form"]
    form["data.parts.0.starts"] = "tomorrow"
    refused = form.submit(status=422)
    assert "parts[0].starts: must be an ISO 8601 date-time" in refused.html.select_one("#f-data-parts-error").text
    shown = refused.html.select_one("#f-data-parts-b0-starts")
    assert (shown["type"], shown["value"]) == ("text", "tomorrow")
    assert Content.get_by_id(item.id).data["parts"] == [BLOCKS[1]]


PLACEHOLDERS = {"type": "object", "properties": {
    "title": {"type": "string"},
    "subtitle": {"type": "string", "placeholder": "A line under the title"},
    "mail": {"type": "email", "placeholder": "name@example.com"},
    "summary": {"type": "textarea", "placeholder": "What it is about"},
    "body": {"type": "markdown", "placeholder": "Write in Markdown"},
    "html": {"type": "quill", "placeholder": "Write here"},
    "rank": {"type": "integer", "placeholder": "1 to 10"},
    "tint": {"type": "color", "placeholder": "#rrggbb or a name"},
    "tags": {"type": "array", "items": {"type": "string"}, "placeholder": "A tag"},
    "day": {"type": "date", "placeholder": "never shown"},
    "kind": {"type": "select", "enum": ["a"], "placeholder": "never shown"},
    "parts": {"type": "array", "blocks": {"part": {"properties": {
        "heading": {"type": "string", "placeholder": "A heading"},
        "text": {"type": "textarea", "placeholder": "Some text"},
        "html": {"type": "tinymce", "placeholder": "Some HTML"},
        "stars": {"type": "number", "placeholder": "0 to 5"},
        "tint": {"type": "color", "placeholder": "A colour"},
        "day": {"type": "date", "placeholder": "never shown"},
    }}}},
}}


def test_a_fields_placeholder_is_its_controls_placeholder(browser, signed_in_as):
    """At the top level and in blocks (the template a block added on the page copies too),
    for the controls a person types text into; a date or a select has none."""
    signed_in_as("editor")
    create_collection("notes", PLACEHOLDERS, display_name="Notes")
    html = browser.get("/admin/content/notes/new").html
    placeholders = {name: html.select_one(f"[name='data.{name}']").get("placeholder")
                    for name in ("subtitle", "mail", "summary", "body", "html", "rank", "tint", "tags", "day", "kind")}
    assert placeholders == {
        "subtitle": "A line under the title", "mail": "name@example.com", "summary": "What it is about",
        "body": "Write in Markdown", "html": "Write here", "rank": "1 to 10", "tint": "#rrggbb or a name",
        "tags": "A tag", "day": None, "kind": None}
    template = html.select_one("template[data-block-template='f-data-parts:part']")
    assert {name: template.select_one(f"[name='data.parts.__n__.{name}']").get("placeholder")
            for name in ("heading", "text", "html", "stars", "tint", "day")} == {
        "heading": "A heading", "text": "Some text", "html": "Some HTML", "stars": "0 to 5", "tint": "A colour",
        "day": None}


def test_a_datetime_text_input_takes_the_fields_placeholder_over_its_example(browser, signed_in_as):
    editor = signed_in_as("editor")
    events = create_collection("events", {"type": "object", "properties": {
        "title": {"type": "string"},
        "starts": {"type": "datetime", "placeholder": "When it starts"},
        "ends": {"type": "datetime"},
    }}, display_name="Events")
    far = "9999-12-31T23:00:00-02:00"  # past year 9999 in UTC: a text input
    item = insert_content(editor, events, title="Far", data={"title": "Far", "starts": far, "ends": far})
    html = browser.get(f"/admin/content/events/{item.id}").html
    assert html.select_one("#f-data-starts")["placeholder"] == "When it starts"
    assert html.select_one("#f-data-ends")["placeholder"] == "2026-01-31T09:00:00Z"


def test_a_blocks_required_property_is_marked_as_a_required_field_is(browser, signed_in_as):
    """A "*" beside its label (hidden from assistive technology, which hears aria-required
    instead), by either spelling of required, on every kind of control; none on the others."""
    signed_in_as("editor")
    create_collection("notes", {"type": "object", "properties": {
        "title": {"type": "string"},
        "parts": {"type": "array", "blocks": {"part": {"required": ["heading", "tint"], "properties": {
            "heading": {"type": "string", "title": "Heading"},
            "body": {"type": "quill", "title": "Body", "required": True},
            "tint": {"type": "color", "title": "Tint"},
            "size": {"type": "radio", "enum": ["s"], "title": "Size", "required": True},
            "note": {"type": "textarea", "title": "Note"},
        }}}},
    }}, display_name="Notes")
    template = browser.get("/admin/content/notes/new").html.select_one("template[data-block-template='f-data-parts:part']")
    labels = {name: template.select_one(selector) for name, selector in (
        ("heading", "label[for='f-data-parts-b__n__-heading']"), ("body", "#f-data-parts-b__n__-body-label"),
        ("tint", "label[for='f-data-parts-b__n__-tint']"), ("size", "#f-data-parts-b__n__-size legend"),
        ("note", "label[for='f-data-parts-b__n__-note']"))}
    marked = {name: label.select_one("span[aria-hidden=true]") is not None for name, label in labels.items()}
    assert marked == {"heading": True, "body": True, "tint": True, "size": True, "note": False}
    assert labels["heading"].contents[0].strip() == "Heading", "the label, then its mark"
    required = {name: template.select_one(f"#f-data-parts-b__n__-{name}").get("aria-required") for name in labels}
    assert required == {"heading": "true", "body": "true", "tint": "true", "size": "true", "note": None}


def test_a_blocks_required_box_says_it_is_required(browser, signed_in_as):
    create_collection("boxes", {"type": "object", "properties": {"title": {"type": "string"}, "parts": {
        "type": "array", "blocks": {"part": {"properties": {"agreed": {"type": "boolean", "required": True},
                                                            "shown": {"type": "boolean"}}}}}}}, display_name="Boxes")
    editor = signed_in_as("editor")
    item = insert_content(editor, Collection.get(Collection.name == "boxes"), title="B",
                          data={"title": "B", "parts": [{"blockType": "part", "agreed": True}]})
    html = browser.get(f"/admin/content/boxes/{item.id}").html
    assert html.select_one("#f-data-parts-b0-agreed").get("aria-required") == "true"
    assert html.select_one("#f-data-parts-b0-shown").get("aria-required") is None
