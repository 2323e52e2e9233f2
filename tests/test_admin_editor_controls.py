"""The content form's editor controls as the server renders and reads them: the HTML editor's
assets and textarea, datetime-local inputs in UTC, colour fields, radio buttons, the refused
save's summary and the unsaved-changes marker; each save checked in the database."""

import json

import pytest
from bs4 import BeautifulSoup

from app.admin.assets import QUILL_CSS, QUILL_JS
from app.db.models import Content
from tests.fixtures.admin import csrf_headers
from tests.fixtures.content import create_collection
from tests.fixtures.workflow import insert_content

pytestmark = pytest.mark.backends

SCHEMA = {
    "type": "object",
    "properties": {
        "title": {"type": "string", "required": True},
        "body": {"type": "quill", "title": "Body"},
        "starts": {"type": "datetime", "title": "Starts"},
        "tint": {"type": "color", "title": "Tint"},
        "size": {"type": "radio", "enum": [1, 2], "enumLabels": ["Small", "Large"], "title": "Size"},
        "mood": {"type": "radio", "enum": ["calm", "loud"], "required": True},
    },
}


@pytest.fixture
def pages(browser):
    return create_collection("pages", SCHEMA, display_name="Pages")


def stored_json(item):
    return json.dumps(Content.get_by_id(item.id).data, sort_keys=True)


def linked(page):
    """The admin static paths the page links (stylesheets and scripts)."""
    html = page.html
    return {tag.get("href") or tag.get("src") for tag in html.select("link[rel=stylesheet], script[src]")}


@pytest.mark.parametrize("kind", ["quill", "tinymce"])
def test_an_html_field_links_quill_and_a_form_without_one_does_not(browser, signed_in_as, kind):
    signed_in_as("editor")
    create_collection("docs", {"type": "object", "properties": {
        "title": {"type": "string"}, "body": {"type": kind}}}, display_name="Docs")
    create_collection("notes", {"type": "object", "properties": {
        "title": {"type": "string"}, "body": {"type": "markdown"}, "more": {"type": "easymde"}}},
        display_name="Notes")
    quill = {f"/admin/static/{QUILL_CSS}", f"/admin/static/{QUILL_JS}"}

    page = browser.get("/admin/content/docs/new")
    assert quill <= linked(page)
    holder = page.html.select_one("[data-html-editor='f-data-body']")
    assert holder.select_one("textarea#f-data-body.html-input")["name"] == "data.body"
    assert holder.select_one("[hx-post='/admin/preview/markdown?field=data.body']"), "the sanitised preview stays"
    assert not page.html.select(".md-toolbar [data-md]"), "no Markdown toolbar for HTML"
    for path in quill:
        assert browser.get(path).headers["Content-Type"].startswith(("text/css", "text/javascript"))

    page = browser.get("/admin/content/notes/new")
    assert not quill & linked(page)
    assert not page.html.select("[data-html-editor]")
    assert len(page.html.select("textarea.md-input")) == 2, "the Markdown types keep the Markdown editor"


def test_html_is_saved_as_typed_and_an_unchanged_save_keeps_it(browser, signed_in_as, pages):
    """Without script the textarea is the editor; its HTML is the service's to store as text."""
    editor = signed_in_as("editor")
    item = insert_content(editor, pages, title="Kept", data={
        "title": "Kept", "mood": "calm", "body": "<p>Stored\r\n<em>as is</em></p>"})
    stored = stored_json(item)
    url = f"/admin/content/pages/{item.id}"
    browser.get(url).forms["content-form"].submit(status=303)
    assert stored_json(item) == stored

    form = browser.get(url).forms["content-form"]
    form["data.body"] = "<h2>New</h2><p><strong>bold</strong></p>"
    form.submit(status=303)
    assert Content.get_by_id(item.id).data["body"] == "<h2>New</h2><p><strong>bold</strong></p>"


@pytest.mark.parametrize(("stored", "shown"), [
    ("2026-01-31T10:30:00+01:00", "2026-01-31T09:30"),
    ("2026-01-31T09:30:15.250Z", "2026-01-31T09:30:15.250"),
    ("2026-01-31T09:30:00", "2026-01-31T09:30"),
    ("2026-01-31", "2026-01-31T00:00"),
])
def test_a_datetime_is_shown_in_utc_and_an_unchanged_save_keeps_its_spelling(
        browser, signed_in_as, pages, stored, shown):
    editor = signed_in_as("editor")
    item = insert_content(editor, pages, title="When", data={"title": "When", "mood": "calm", "starts": stored})
    url = f"/admin/content/pages/{item.id}"
    page = browser.get(url)
    control = page.html.select_one("#f-data-starts")
    assert (control["type"], control["value"]) == ("datetime-local", shown)
    assert control.find_next_sibling("span").text == "UTC"
    assert control["aria-describedby"] == "f-data-starts-utc", "the UTC note is its description"
    assert page.html.select_one("#f-data-starts-utc").text == "UTC"
    page.forms["content-form"].submit(status=303)
    assert Content.get_by_id(item.id).data["starts"] == stored
    # A browser posts the value back normalised (no zero seconds): the same instant.
    form = browser.get(url).forms["content-form"]
    form["data.starts"] = shown + (":00" if shown.count(":") == 1 else "")
    form.submit(status=303)
    assert Content.get_by_id(item.id).data["starts"] == stored


@pytest.mark.parametrize(("posted", "saved"), [
    ("2026-02-01T08:15", "2026-02-01T08:15:00Z"),
    ("2026-02-01T08:15:30", "2026-02-01T08:15:30Z"),
    ("2026-02-01T08:15:30.5", "2026-02-01T08:15:30.500Z"),
    ("2026-02-01T09:15:00+01:00", "2026-02-01T09:15:00+01:00"),
])
def test_a_typed_datetime_is_saved_as_utc(browser, signed_in_as, pages, posted, saved):
    signed_in_as("editor")
    form = browser.get("/admin/content/pages/new").forms["content-form"]
    form["title"], form["data.mood"], form["data.starts"] = "Timed", "calm", posted
    form.submit(status=303)
    assert Content.get(Content.title == "Timed").data["starts"] == saved


def test_a_datetime_no_datetime_local_input_can_show_is_a_text_input_and_kept(browser, signed_in_as, pages):
    editor = signed_in_as("editor")
    item = insert_content(editor, pages, title="Fine", data={
        "title": "Fine", "mood": "calm", "starts": "2026-01-31T09:30:00.123456Z"})
    page = browser.get(f"/admin/content/pages/{item.id}")
    assert page.html.select_one("#f-data-starts")["type"] == "text"
    page.forms["content-form"].submit(status=303)
    assert Content.get_by_id(item.id).data["starts"] == "2026-01-31T09:30:00.123456Z"


@pytest.mark.parametrize("stored", ["9999-12-31T23:00:00-02:00", "0001-01-01T00:30:00+01:00"])
def test_a_datetime_past_what_utc_can_hold_is_a_text_input_and_kept(browser, signed_in_as, pages, stored):
    """In UTC these fall in year 10000 or year 0: the page still opens, and a save keeps them."""
    editor = signed_in_as("editor")
    item = insert_content(editor, pages, title="Far", data={"title": "Far", "mood": "calm", "starts": stored})
    page = browser.get(f"/admin/content/pages/{item.id}")
    control = page.html.select_one("#f-data-starts")
    assert (control["type"], control["value"]) == ("text", stored)
    page.forms["content-form"].submit(status=303)
    assert Content.get_by_id(item.id).data["starts"] == stored

    form = browser.get("/admin/content/pages/new").forms["content-form"]
    form["title"], form["data.mood"], form["data.starts"] = "Posted far", "calm", stored
    form.submit(status=303)
    assert Content.get(Content.title == "Posted far").data["starts"] == stored


def test_a_datetime_that_is_none_is_refused_on_its_field(browser, signed_in_as, pages):
    signed_in_as("editor")
    form = browser.get("/admin/content/pages/new").forms["content-form"]
    form["title"], form["data.mood"], form["data.starts"] = "Bad", "calm", "tomorrow"
    refused = form.submit(status=422)
    assert "must be an ISO 8601 date-time" in refused.html.select_one("#f-data-starts-error").text
    assert refused.html.select_one("#f-data-starts")["value"] == "tomorrow"
    assert refused.html.select_one("#f-data-starts")["aria-describedby"] == "f-data-starts-error"


def test_a_colour_keeps_its_text_and_has_a_picker_beside_it(browser, signed_in_as, pages):
    editor = signed_in_as("editor")
    item = insert_content(editor, pages, title="Red", data={"title": "Red", "mood": "calm", "tint": "red"})
    url = f"/admin/content/pages/{item.id}"
    page = browser.get(url)
    text = page.html.select_one("#f-data-tint")
    picker = page.html.select_one("input[type=color][data-color-for='f-data-tint']")
    assert (text["type"], text["value"], text["name"]) == ("text", "red", "data.tint")
    assert picker is not None and not picker.has_attr("name"), "the picker posts nothing of its own"
    page.forms["content-form"].submit(status=303)
    assert Content.get_by_id(item.id).data["tint"] == "red"
    form = browser.get(url).forms["content-form"]
    form["data.tint"] = "#abc"
    form.submit(status=303)
    assert Content.get_by_id(item.id).data["tint"] == "#abc"


def radios(page, name):
    """``[(label, value, checked)]`` of the radio buttons named ``name``."""
    return [(radio.parent.text.strip(), radio["value"], radio.has_attr("checked"))
            for radio in page.html.select(f"input[type=radio][name='{name}']")]


def test_radio_fields_are_radio_buttons_with_no_value_unless_required(browser, signed_in_as, pages):
    signed_in_as("editor")
    page = browser.get("/admin/content/pages/new")
    fieldset = page.html.select_one("fieldset#f-data-size")
    assert fieldset.legend.text.strip() == "Size"
    assert fieldset["role"] == "radiogroup" and not fieldset.has_attr("aria-required")
    assert page.html.select_one("fieldset#f-data-mood")["aria-required"] == "true"
    assert not page.html.select("fieldset[aria-invalid]")
    assert [(label, checked) for label, _, checked in radios(page, "data.size")] == [
        ("No value", True), ("Small", False), ("Large", False)]
    assert [label for label, _, _ in radios(page, "data.mood")] == ["calm", "loud"], "required: no 'No value'"

    form = page.forms["content-form"]
    form["title"] = "Sized"
    refused = form.submit(status=422)  # the required radio was left without a choice
    assert "is required" in refused.html.select_one("#f-data-mood-error").text
    mood = refused.html.select_one("fieldset#f-data-mood")
    assert (mood["role"], mood["aria-invalid"], mood["aria-describedby"]) == ("radiogroup", "true", "f-data-mood-error")
    form = refused.forms["content-form"]
    form["data.mood"] = "loud"
    form["data.size"] = next(value for label, value, _ in radios(refused, "data.size") if label == "Large")
    form.submit(status=303)
    item = Content.get(Content.title == "Sized")
    assert (item.data["size"], item.data["mood"]) == (2, "loud")

    page = browser.get(f"/admin/content/pages/{item.id}")
    assert [label for label, _, checked in radios(page, "data.size") if checked] == ["Large"]
    form = page.forms["content-form"]
    form["data.size"] = ""
    form.submit(status=303)
    assert "size" not in Content.get_by_id(item.id).data


def test_a_refused_save_counts_and_links_each_field_to_fix(browser, signed_in_as, pages):
    signed_in_as("editor")
    form = browser.get("/admin/content/pages/new").forms["content-form"]
    form["title"], form["data.starts"] = "", "tomorrow"
    refused = form.submit(status=422)
    summary = refused.html.select_one("#form-problems")
    assert summary["role"] == "alert"
    assert summary.text.strip() == "Validation failed: 3 fields need attention."
    links = [(a["href"], a.text) for a in refused.html.select(".form-problems a")]
    assert links == [("#f-title", "Title"), ("#f-data-starts", "Starts"), ("#f-data-mood", "Mood")]
    for href, _ in links:
        assert refused.html.select_one(href) is not None, f"{href} is on the page"
    assert "must be an ISO 8601 date-time" in refused.html.select_one(".form-problems").text

    form = refused.forms["content-form"]
    form["title"], form["data.starts"] = "Fixed", ""
    refused = form.submit(status=422)
    assert refused.html.select_one("#form-problems").text.strip() == "Validation failed: 1 field needs attention."


def test_the_content_form_asks_before_unsaved_changes_are_left(browser, signed_in_as, pages):
    """The warning itself runs in the browser (admin.js); the form opts in by its attribute."""
    editor = signed_in_as("editor")
    page = browser.get("/admin/content/pages/new")
    assert page.html.select_one("form#content-form")["data-warn-unsaved"] == ""
    # A refused save shows what was typed, stored nowhere: the page starts as changed.
    refused = page.forms["content-form"].submit(status=422)
    assert refused.html.select_one("form#content-form")["data-warn-unsaved"] == "changed"

    item = insert_content(editor, pages, title="Warned", data={"title": "Warned", "mood": "calm"})
    page = browser.get(f"/admin/content/pages/{item.id}")
    assert page.html.select_one("form#content-form")["data-warn-unsaved"] == ""
    form = page.forms["content-form"]
    form["data.starts"] = "tomorrow"
    refused = form.submit(status=422)
    assert refused.html.select_one("form#content-form")["data-warn-unsaved"] == "changed"


def test_the_html_editor_starts_from_a_cleaned_copy_and_the_textarea_keeps_the_stored_html(
        browser, signed_in_as, pages):
    """Quill starts from the HTML without its style and event attributes (which the page's
    Content-Security-Policy would refuse); the textarea, the value, holds the HTML as stored."""
    editor = signed_in_as("editor")
    body = '<p style="color:red" onclick="alert(1)">Hi <strong>there</strong></p><script>alert(2)</script>'
    item = insert_content(editor, pages, title="Styled", data={"title": "Styled", "mood": "calm", "body": body})
    page = browser.get(f"/admin/content/pages/{item.id}")
    holder = page.html.select_one("[data-html-editor='f-data-body']")
    assert holder["data-html-start"] == "<p>Hi <strong>there</strong></p>"
    assert page.forms["content-form"]["data.body"].value == body
    page.forms["content-form"].submit(status=303)
    assert Content.get_by_id(item.id).data["body"] == body


def test_the_html_editor_copy_keeps_what_quill_formats_are_made_of(browser, signed_in_as, pages):
    """Only what the Content-Security-Policy refuses goes: Quill 2's bullet lists, code block
    languages, alignment and indent classes, data: images and tel/sms links stay, so the
    first keystroke does not save them as lost."""
    editor = signed_in_as("editor")
    image = "data:image/png;base64,iVBORw0KGgo="
    body = (
        '<ol><li data-list="bullet" class="ql-indent-1 fancy" onmouseover="x()">One</li></ol>'
        '<p class="ql-align-center" style="color:red">Mid</p>'
        f'<p><img src="{image}" alt="dot"> <a href="tel:+441234567">Call</a> <a href="sms:+1555">Text</a>'
        ' <a href="data:text/html,hi">Data</a> <a href="javascript:alert(1)">Run</a>'
        # A browser reads "data:" in each of these too: tabs and line breaks anywhere, controls in front.
        ' <a href="da&#9;ta:text/html,x">Tab</a> <a href="da\nta:text/html,x">Line</a>'
        ' <a href="&#1;data:text/html,x">Control</a> <a href="/relative">Here</a></p>'
        '<pre data-language="python">x = 1</pre><style>p { color: red }</style><script>alert(2)</script>'
    )
    item = insert_content(editor, pages, title="Rich", data={"title": "Rich", "mood": "calm", "body": body})
    page = browser.get(f"/admin/content/pages/{item.id}")
    start = BeautifulSoup(page.html.select_one("[data-html-editor='f-data-body']")["data-html-start"], "html.parser")
    item_ = start.select_one("ol > li")
    assert (item_["data-list"], item_["class"]) == ("bullet", ["ql-indent-1"])
    assert start.select_one("p.ql-align-center").text == "Mid"
    assert start.select_one("img")["src"] == image
    assert [(a.text, a.get("href")) for a in start.select("a")] == [
        ("Call", "tel:+441234567"), ("Text", "sms:+1555"), ("Data", None), ("Run", None),
        ("Tab", None), ("Line", None), ("Control", None), ("Here", "/relative")]
    assert start.select_one("pre")["data-language"] == "python"
    assert not start.select("[style], [onmouseover], script, style")
    assert "alert" not in start.text and "color" not in start.text
    page.forms["content-form"].submit(status=303)
    assert Content.get_by_id(item.id).data["body"] == body

    # The Markdown preview keeps its own, shorter allow-list.
    headers = {**csrf_headers(browser), "HX-Request": "true"}
    preview = browser.post("/admin/preview/markdown?field=data.body", {"data.body": body}, headers=headers).html
    assert preview.select_one("li") is not None
    assert not preview.select("[data-list], p[class], img[src^='data:'], a[href^='tel:']")
