"""The content form's richer controls: Markdown editor and preview, media and reference pickers,
repeatable lists and blocks; each save checked in the database, each refusal on the page."""

import json

import pytest

from app.admin.forms import data_from_form
from app.admin.pages import MAX_FORM_BYTES
from app.admin.pickers import MEDIA_PAGE_SIZE
from app.db.models import Collection, Content, Media, now_ms
from tests.fixtures.admin import as_a_browser_sends, csrf_headers
from tests.fixtures.content import create_collection
from tests.fixtures.users import create_user
from tests.fixtures.workflow import insert_content

pytestmark = pytest.mark.backends

SCHEMA = {
    "type": "object",
    "properties": {
        "title": {"type": "string", "required": True},
        "body": {"type": "markdown"},
        "hero": {"type": "media", "title": "Featured image"},
        "author": {"type": "reference", "collection": "people"},
        "tags": {"type": "array", "items": {"type": "string"}},
        "topics": {"type": "multiselect", "enum": ["web", "db", "ops"], "enumLabels": ["Web", "Databases", "Ops"]},
        "scores": {"type": "array", "items": {"type": "number"}},
        "sections": {"type": "array", "blocks": {
            "text": {"label": "Text", "properties": {"heading": {"type": "string", "required": True},
                                                     "body": {"type": "textarea"}}},
            "quote": {"label": "Quote", "properties": {"said": {"type": "string"}, "stars": {"type": "number"},
                                                       "boxed": {"type": "boolean"}}},
        }},
    },
}


@pytest.fixture
def posts(browser):
    create_collection("people", {"type": "object", "properties": {"title": {"type": "string"}}}, display_name="People")
    return create_collection("posts", SCHEMA, display_name="Posts")


def media_row(owner, name, mime="image/png", deleted_at=None):
    return Media.create(filename=name, original_name=name, mime_type=mime, size=2048, r2_key=f"uploads/{name}",
                        public_url=f"/files/uploads/{name}", uploaded_by=owner.id, deleted_at=deleted_at)


def test_new_form_shows_each_control(browser, signed_in_as, posts):
    signed_in_as("editor")
    page = browser.get("/admin/content/posts/new")
    html = page.html
    assert html.select_one("textarea#f-data-body.md-input")
    assert html.select_one("[hx-post='/admin/preview/markdown?field=data.body']")
    assert html.select_one("#f-data-hero-choose")["hx-get"] == "/admin/pickers/media?target=f-data-hero"
    assert html.select_one("#f-data-author-choose")["hx-get"] == "/admin/pickers/reference/posts/author?target=f-data-author"
    assert len(html.select("input[name='data.tags']")) == 1, "one empty item to add"
    assert [o["value"] for o in html.select("#f-data-sections-add option")] == ["", "text", "quote"]
    templates = html.select("template[data-block-template]")
    assert [t["data-block-template"] for t in templates] == ["f-data-sections:text", "f-data-sections:quote"]
    assert "data.sections.__n__.heading" in str(templates[0])
    assert "content-fields.js" in page.text


def test_pickers_lists_and_blocks_save_through_the_service(browser, signed_in_as, posts):
    editor = signed_in_as("editor")
    photo = media_row(editor, "photo.png")
    person = insert_content(editor, Collection.get(Collection.name == "people"), title="Ada")
    form = browser.get("/admin/content/posts/new").forms["content-form"]
    form["title"] = "Launch"
    form["data.body"] = "# Hello\n\n**bold**"
    form["data.hero"], form["data.author"] = photo.id, person.id
    form.set("data.tags", "launch", index=0)
    form["data.sections._add"] = "text"
    response = form.submit(status=422)  # the new block's heading is required: the service says so
    assert "sections[0].heading: is required" in response.text
    form = response.forms["content-form"]
    assert form["data.sections.0.-type"].value == "text"
    form["data.sections.0.heading"] = "Intro"
    form["data.sections._add"] = "quote"
    form.set("data.tags", "news", index=1)
    saved = form.submit(status=303)
    item = Content.get(Content.title == "Launch")
    assert item.data["hero"] == photo.id and item.data["author"] == person.id
    assert item.data["tags"] == ["launch", "news"] and item.data["body"] == "# Hello\n\n**bold**"
    assert item.data["sections"] == [{"blockType": "text", "heading": "Intro"}, {"blockType": "quote"}]
    page = saved.follow()
    assert page.html.select_one("#f-data-hero-picked img")["src"] == "/files/uploads/photo.png"
    assert "Ada (people)" in page.html.select_one("#f-data-author-picked").text


def test_a_block_position_past_any_number_keeps_the_block_after_those_placed(browser, signed_in_as, posts):
    editor = signed_in_as("editor")
    sections = [{"blockType": "text", "heading": "One"}, {"blockType": "text", "heading": "Two"}]
    item = insert_content(editor, posts, data={"sections": sections})
    form = browser.get(f"/admin/content/posts/{item.id}").forms["content-form"]
    form["data.sections.0.-position"] = "9" * 5000  # more digits than Python converts
    form["data.sections.1.-position"] = "1"
    form.submit(status=303)
    assert [block["heading"] for block in Content.get_by_id(item.id).data["sections"]] == ["Two", "One"]


def test_block_properties_named_like_the_blocks_own_inputs_keep_their_values(browser, signed_in_as):
    """A property may be called ``_remove``, ``_position`` or ``_type`` (a field name may start
    with ``_``): it must not be read as the block's remove box, position or type."""
    schema = {"type": "object", "properties": {"title": {"type": "string"}, "parts": {"type": "array", "blocks": {
        "p": {"label": "Part", "properties": {name: {"type": "string"} for name in ("_remove", "_position", "_type")}},
    }}}}
    create_collection("parts", schema, display_name="Parts")
    editor = signed_in_as("editor")
    parts = [{"blockType": "p", "_remove": "no", "_position": "z", "_type": "q"}, {"blockType": "p", "_position": "a"}]
    item = insert_content(editor, Collection.get(Collection.name == "parts"), data={"parts": parts})
    form = browser.get(f"/admin/content/parts/{item.id}").forms["content-form"]
    assert form["data.parts.0._remove"].value == "no"
    form.submit(status=303)
    assert Content.get_by_id(item.id).data["parts"] == parts


def test_blocks_are_reordered_edited_and_removed(browser, signed_in_as, posts):
    editor = signed_in_as("editor")
    sections = [{"blockType": "text", "heading": "One"}, {"blockType": "quote", "said": "Two", "stars": 3},
                {"blockType": "text", "heading": "Three", "body": "x"}]
    item = insert_content(editor, posts, data={"sections": sections, "scores": [1, 2.5]})
    form = browser.get(f"/admin/content/posts/{item.id}").forms["content-form"]
    assert form["data.sections.1.stars"].value == "3"
    form["data.sections.2.-position"] = "1"  # Three moves to the top
    form["data.sections.0.-remove"] = True
    form["data.sections.1.boxed"] = True
    form["data.sections.1.stars"] = "4"
    form.set("data.scores", "", index=0)  # an emptied item is removed
    form.submit(status=303)
    data = Content.get_by_id(item.id).data
    assert data["sections"] == [{"blockType": "text", "heading": "Three", "body": "x"},
                                {"blockType": "quote", "said": "Two", "stars": 4, "boxed": True}]
    assert data["scores"] == [2.5]


def test_an_unchanged_save_keeps_a_block_textareas_leading_newline(browser, signed_in_as, posts):
    editor = signed_in_as("editor")
    sections = [{"blockType": "text", "heading": "H", "body": "\nlead"}]
    item = insert_content(editor, posts, data={"sections": sections})
    browser.get(f"/admin/content/posts/{item.id}").forms["content-form"].submit(status=303)
    assert Content.get_by_id(item.id).data["sections"] == sections


def test_editor_types_are_text_in_the_form_and_in_blocks(browser, signed_in_as):
    """An editor type (easymde here) is text: the Markdown editor at the top level and a
    textarea in a block, whose text is saved as typed, "42" as text."""
    signed_in_as("editor")
    create_collection("docs", {"type": "object", "properties": {
        "title": {"type": "string"},
        "notes": {"type": "easymde"},
        "parts": {"type": "array", "blocks": {"note": {"properties": {"text": {"type": "easymde"}}}}},
    }}, display_name="Docs")
    form = browser.get("/admin/content/docs/new").forms["content-form"]
    form["title"], form["data.notes"], form["data.parts._add"] = "Typed", "42", "note"
    page = form.submit(status=303).follow()
    assert page.html.select_one("[hx-post='/admin/preview/markdown?field=data.notes']")
    assert page.html.select_one("textarea[name='data.parts.0.text']")
    form = page.forms["content-form"]
    form["data.parts.0.text"] = "42"
    form.submit(status=303)
    data = Content.get(Content.title == "Typed").data
    assert (data["notes"], data["parts"]) == ("42", [{"blockType": "note", "text": "42"}])


def stored_json(item):
    """The item's data as stored, as JSON text in the stored key order (the bytes compared)."""
    return json.dumps(Content.get_by_id(item.id).data, ensure_ascii=False)


def test_an_unchanged_save_keeps_list_items_as_stored(browser, signed_in_as, posts):
    """Items the API stored with spaces are posted back as they were and kept, wherever they
    were moved; typed items are trimmed."""
    editor = signed_in_as("editor")
    item = insert_content(editor, posts, title="Kept", data={"title": "Kept", "tags": ["  spaced ", "plain", "tab\t"],
                                                          "scores": [1.5]})
    stored = stored_json(item)
    browser.get(f"/admin/content/posts/{item.id}").forms["content-form"].submit(status=303)
    assert stored_json(item) == stored
    form = browser.get(f"/admin/content/posts/{item.id}").forms["content-form"]
    form.set("data.tags", "tab\t", index=0)  # moved: the items swap places
    form.set("data.tags", "  spaced ", index=2)
    form.set("data.tags", "  typed  ", index=3)
    form.submit(status=303)
    assert Content.get_by_id(item.id).data["tags"] == ["tab\t", "plain", "  spaced ", "typed"]


def block_numbers(page):
    """The numbers of the blocks of the sections field, in the order shown."""
    return [int(box["name"].split(".")[2]) for box in page.html.select("#f-data-sections [name$='.-type']")]


def test_a_refused_save_shows_the_blocks_as_posted_under_their_numbers(browser, signed_in_as, posts):
    """Shown again after a refusal, each block keeps its number and its chosen place, removed
    ones stay removed and an added one takes a number after the stored ones; saving again
    reads each block against the stored one it was numbered after, so its spaces are kept."""
    editor = signed_in_as("editor")
    sections = [{"blockType": "text", "heading": "One"}, {"blockType": "quote", "said": "  Two  ", "stars": 3},
                {"blockType": "text", "heading": "Three", "body": "x"}]
    item = insert_content(editor, posts, title="Kept", data={"title": "Kept", "sections": sections})
    form = browser.get(f"/admin/content/posts/{item.id}").forms["content-form"]
    form["data.sections.1.-position"] = "1"  # Two moves to the top
    form["data.sections.0.heading"] = ""  # required: the save is refused
    form["data.sections.2.-remove"] = True
    form["data.sections._add"] = "quote"
    refused = form.submit(status=422)
    assert "sections[1].heading: is required" in refused.text
    assert block_numbers(refused) == [1, 0, 3]
    assert refused.html.select_one("#f-data-sections [data-stored]")["data-stored"] == "4"
    form = refused.forms["content-form"]
    assert [form[f"data.sections.{n}.-position"].value for n in (1, 0, 3)] == ["1", "2", "3"]
    assert form["data.sections.1.said"].value == "  Two  " and form["data.sections._add"].value == ""
    assert refused.html.select_one("#f-data-sections-b1-said") is not None
    form["data.sections.0.heading"] = "First"
    form.submit(status=303)
    assert Content.get_by_id(item.id).data["sections"] == [
        {"blockType": "quote", "said": "  Two  ", "stars": 3}, {"blockType": "text", "heading": "First"},
        {"blockType": "quote"}]


def test_a_refused_new_item_shows_its_default_blocks_under_their_numbers(browser, signed_in_as):
    """A new item's form starts with the default blocks: shown again after a refusal, each
    keeps the number it has among them, so a default left as it was is saved as declared."""
    schema = {**SCHEMA, "properties": {**SCHEMA["properties"], "sections": {
        **SCHEMA["properties"]["sections"],
        "default": [{"blockType": "text", "heading": "One"}, {"blockType": "quote", "said": "  As declared  "}]}}}
    create_collection("drafts", schema)
    signed_in_as("editor")
    form = browser.get("/admin/content/drafts/new").forms["content-form"]
    form["data.sections.0.-remove"] = True
    form["data.sections._add"] = "text"
    refused = form.submit(status=422)  # no title
    assert block_numbers(refused) == [1, 2]
    form = refused.forms["content-form"]
    form["title"], form["data.sections.2.heading"] = "Now titled", "Added"
    form.submit(status=303)
    assert Content.get(Content.title == "Now titled").data["sections"] == [
        {"blockType": "quote", "said": "  As declared  "}, {"blockType": "text", "heading": "Added"}]

def test_an_unchanged_save_keeps_a_block_textareas_line_breaks(browser, signed_in_as, posts):
    """A browser posts every line break of a textarea as CRLF: text stored with CRLF or CR
    breaks (through the API) is kept as stored, as are a block input's spaces and line breaks;
    an edited textarea's breaks are saved as LF."""
    editor = signed_in_as("editor")
    sections = [{"blockType": "text", "heading": " Spaced\nheading ", "body": "one\r\ntwo\rthree\nfour"},
                {"blockType": "quote", "said": "  Quoted  ", "stars": 2}]
    item = insert_content(editor, posts, title="Kept", data={"sections": sections, "title": "Kept"})
    stored = stored_json(item)
    form = browser.get(f"/admin/content/posts/{item.id}").forms["content-form"]
    as_a_browser_sends(form, "data.sections.0.heading", "data.sections.0.body", "data.sections.1.said")
    form.submit(status=303)
    assert stored_json(item) == stored
    form = browser.get(f"/admin/content/posts/{item.id}").forms["content-form"]
    form["data.sections.0.body"] = "edited\r\ntext"
    form.submit(status=303)
    assert Content.get_by_id(item.id).data["sections"][0]["body"] == "edited\ntext"


def test_an_unchanged_save_leaves_a_blocks_unset_boolean_unset(browser, signed_in_as, posts):
    """A block's box left unticked stays unset if it was never set (as a plain field's does),
    and becomes false if it was set."""
    editor = signed_in_as("editor")
    sections = [{"blockType": "quote", "said": "Never boxed"}, {"blockType": "quote", "boxed": True},
                {"blockType": "quote", "boxed": False}]
    item = insert_content(editor, posts, title="Kept", data={"sections": sections, "title": "Kept"})
    stored = stored_json(item)
    browser.get(f"/admin/content/posts/{item.id}").forms["content-form"].submit(status=303)
    assert stored_json(item) == stored
    form = browser.get(f"/admin/content/posts/{item.id}").forms["content-form"]
    form["data.sections.0.boxed"] = True
    form["data.sections.1.boxed"] = False
    form.submit(status=303)
    assert [block.get("boxed") for block in Content.get_by_id(item.id).data["sections"]] == [True, False, False]


def test_invalid_picks_show_the_service_message(browser, signed_in_as, posts):
    editor = signed_in_as("editor")
    gone = media_row(editor, "gone.png", deleted_at=now_ms())
    form = browser.get("/admin/content/posts/new").forms["content-form"]
    form["title"] = "Broken"
    form["data.hero"], form["data.author"] = gone.id, "no-such-item"
    form.set("data.scores", "many", index=0)
    response = form.submit(status=422)
    assert f"references media &#39;{gone.id}&#39;, which does not exist" in response.text
    assert "references content &#39;no-such-item&#39;, which does not exist" in response.text
    assert "scores[0]: must be a number" in response.text
    assert not Content.select().where(Content.title == "Broken").exists()


def fold(page, name):
    """``(open, folds with script)`` of the summary holding field ``name``'s id input."""
    details = page.html.select_one(f"#f-data-{name}").find_parent("details", class_="picker-id")
    return details.has_attr("open"), details.has_attr("data-fold")


def test_a_pickers_id_input_folds_away_with_script_unless_the_picker_cannot_show_it(
        browser, signed_in_as, posts):
    """Without script the id input is the control, in view; the script folds it away where the
    picker shows the value, but an id it could not find or a refused one stays in view."""
    editor = signed_in_as("editor")
    photo = media_row(editor, "photo.png")
    page = browser.get("/admin/content/posts/new")
    assert (fold(page, "hero"), fold(page, "author")) == ((True, True), (True, True))
    assert page.html.select_one("#f-data-hero").find_previous_sibling("summary").text == "Media file id"

    item = insert_content(editor, posts, data={"hero": photo.id, "author": "no-such-item"})
    page = browser.get(f"/admin/content/posts/{item.id}")
    assert (fold(page, "hero"), fold(page, "author")) == ((True, True), (True, False))
    form = page.forms["content-form"]
    assert form["data.author"].value == "no-such-item"
    form["data.hero"], form["data.author"] = "gone", ""
    refused = form.submit(status=422)
    assert (fold(refused, "hero"), fold(refused, "author")) == ((True, False), (True, True))
    assert refused.forms["content-form"]["data.hero"].value == "gone"


@pytest.mark.parametrize(("typed", "message"), [
    ("9" * 5000, "the number is out of range"),
    ("1e999", "the number is out of range"),
    ("-Infinity", "must be a number"),
    ("nan", "must be a number"),
])
def test_a_number_no_json_can_hold_is_refused_and_shown_as_typed(browser, signed_in_as, posts, typed, message):
    """More digits than Python converts and a float's overflow write a number past a double's
    range, which a list's item is refused for as a number field is (and a JSON body); infinity
    and NaN write no number. The item says which, and its input keeps what was typed."""
    signed_in_as("editor")
    form = browser.get("/admin/content/posts/new").forms["content-form"]
    form["title"] = "Huge"
    form.set("data.scores", typed, index=0)
    response = form.submit(status=422)
    assert f"scores[0]: {message}" in response.text
    assert response.html.select_one("#f-data-scores-1")["value"] == typed
    assert not Content.select().where(Content.title == "Huge").exists()


def test_an_edited_lists_item_past_a_doubles_range_is_named_by_its_place(browser, signed_in_as, posts):
    editor = signed_in_as("editor")
    item = insert_content(editor, posts, data={"scores": [1, 2.5]})
    form = browser.get(f"/admin/content/posts/{item.id}").forms["content-form"]
    form.set("data.scores", "-1e999", index=1)
    response = form.submit(status=422)
    assert "scores[1]: the number is out of range" in response.text and "must be a number" not in response.text
    assert [response.html.select_one(f"#f-data-scores-{n}")["value"] for n in (1, 2)] == ["1", "-1e999"]
    assert Content.get_by_id(item.id).data["scores"] == [1, 2.5]


def test_media_picker_lists_live_files_as_thumbnails(browser, signed_in_as, posts):
    editor = signed_in_as("author")
    media_row(editor, "photo.png")
    media_row(editor, "drawing.svg", "image/svg+xml")
    media_row(editor, "trashed.png", deleted_at=now_ms())
    panel = browser.get("/admin/pickers/media?target=f-data-hero", headers={"HX-Request": "true"})
    choices = panel.html.select("[data-pick-value]")
    assert sorted(c["data-pick-label"] for c in choices) == ["drawing.svg", "photo.png"]
    assert [img["src"] for img in panel.html.select("img")] == ["/files/uploads/photo.png"], "no SVG inline"
    assert all(c["data-pick-target"] == "f-data-hero" for c in choices)
    searched = browser.get("/admin/pickers/media?target=f-data-hero&search=draw")
    assert [c["data-pick-label"] for c in searched.html.select("[data-pick-value]")] == ["drawing.svg"]
    browser.get("/admin/pickers/media?target=x%22onclick", status=400)


def test_media_picker_pages_past_the_last_say_so_and_link_back(browser, signed_in_as, posts):
    editor = signed_in_as("editor")
    for n in range(MEDIA_PAGE_SIZE + 1):
        media_row(editor, f"photo{n:02d}.png")
    picker = "/admin/pickers/media?target=f-data-hero&search="
    past = browser.get(picker + "&page=9", headers={"HX-Request": "true"})
    assert "No files on this page." in past.text and "past the last page (2)" in past.text
    back = past.html.select_one(".pager a[rel=prev]")
    assert (back["hx-get"], back["hx-target"], back.text) == (picker + "&page=2", "#f-data-hero-picker", "Last page")
    second = browser.get(picker + "&page=2", headers={"HX-Request": "true"})
    assert len(second.html.select("[data-pick-value]")) == 1 and "Page 2 of 2" in second.text
    assert second.html.select_one(".pager a[rel=prev]")["hx-get"] == picker + "&page=1"
    empty = browser.get("/admin/pickers/media?target=f-data-hero&search=none&page=3")
    assert "No files match." in empty.text and "past the last page (1)" in empty.text


def test_media_picker_shows_viewers_only_what_the_api_lists_for_them(browser, signed_in_as, posts):
    viewer = signed_in_as("viewer")
    media_row(create_user("editor"), "unpublished.png")
    media_row(viewer, "mine.png")
    panel = browser.get("/admin/pickers/media?target=f-data-hero")
    assert [c["data-pick-label"] for c in panel.html.select("[data-pick-value]")] == ["mine.png"]


def test_reference_picker_searches_the_referenced_collection_in_the_callers_scope(browser, signed_in_as, posts):
    author = signed_in_as("author")
    other = Collection.get(Collection.name == "people")
    insert_content(author, other, title="Ada Lovelace")
    insert_content(create_user("editor"), other, title="Alan's draft")  # another author's draft
    insert_content(author, posts, title="Not a person")
    panel = browser.get("/admin/pickers/reference/posts/author?target=f-data-author")
    assert [b.text.split(" people")[0].strip() for b in panel.html.select("[data-pick-value]")] == ["Ada Lovelace"]
    assert browser.get("/admin/pickers/reference/posts/author?target=f-data-author&search=zzz").html.select(
        "[data-pick-value]") == []
    # It searches as the editor types: the last word is a prefix.
    typed = browser.get("/admin/pickers/reference/posts/author?target=f-data-author&search=Lovel")
    assert [b.text.split(" people")[0].strip() for b in typed.html.select("[data-pick-value]")] == ["Ada Lovelace"]
    # A field name longer than 64 characters (a collection may declare one) is a target too.
    browser.get("/admin/pickers/media?target=f-data-" + "h" * 70, status=200)
    browser.get("/admin/pickers/reference/posts/title?target=f-data-title", status=404)
    browser.get("/admin/pickers/reference/nope/author?target=f-data-author", status=404)


def test_markdown_preview_renders_markdown_and_never_a_script(browser, signed_in_as, posts):
    signed_in_as("author")
    headers = {**csrf_headers(browser), "HX-Request": "true"}
    # A line opening with <script> is an HTML block to its end (CommonMark): the Markdown follows.
    text = "# Title\n\n<script>alert(1)</script>\n\n[x](javascript:alert(1)) *em* <script>alert(2)</script>"
    response = browser.post("/admin/preview/markdown?field=data.body", {"data.body": text}, headers=headers)
    assert "<h1>Title</h1>" in response.text and "<em>em</em>" in response.text
    assert "<script" not in response.text and "alert(1)<" not in response.text and "alert(2)" not in response.text
    assert 'href="javascript' not in response.text
    browser.post("/admin/preview/markdown?field=data.body", {"data.body": "x"}, headers={"HX-Request": "true"},
                 status=403)
    for size in (200_001, MAX_FORM_BYTES + 1):  # over the preview's bound, over any form's
        browser.post("/admin/preview/markdown?field=data.body", {"data.body": "x" * size}, headers=headers,
                     status=413)


def test_markdown_preview_renders_the_html_rich_text_holds_sanitised(browser, signed_in_as, posts):
    signed_in_as("author")
    headers = {**csrf_headers(browser), "HX-Request": "true"}
    text = ('<p>Hello <strong>world</strong></p><img src="/files/a.png" onerror="alert(1)">'
            '<a href="https://example.com" onclick="alert(2)">site</a><a href="javascript:alert(3)">bad</a>'
            '<iframe src="https://example.com"></iframe><style>p {color: red}</style><p style="x">Styled</p>')
    response = browser.post("/admin/preview/markdown?field=data.body", {"data.body": text}, headers=headers)
    body = response.html.select_one(".md-preview-body")
    assert body.select_one("p strong").text == "world" and "&lt;p&gt;" not in response.text
    assert body.select_one("img")["src"] == "/files/a.png" and not body.select_one("img").get("onerror")
    links = body.select("a")
    assert [(a.text, a.get("href"), a.get("rel")) for a in links] == [
        ("site", "https://example.com", ["noopener", "noreferrer"]), ("bad", None, ["noopener", "noreferrer"])]
    assert not any(a.get("onclick") for a in links)
    assert not body.select("iframe, style, script, [style]") and "color: red" not in response.text
    assert body.select("p")[-1].text == "Styled"


def test_pickers_need_a_session_and_the_permission(browser, posts):
    response = browser.get("/admin/pickers/media?target=f-data-hero", status=303)
    assert response.location.startswith("/admin/login")
    browser.get("/admin/pickers/reference/posts/author?target=f-data-author", status=303)
    # Asked for by htmx from an edit page whose session has ended: the whole page goes to sign in.
    htmx = {"HX-Request": "true", "HX-Current-URL": "http://localhost/admin/content/posts/abc?x=1"}
    fragment = browser.get("/admin/pickers/media?target=f-data-hero", headers=htmx, status=401)
    assert fragment.headers["HX-Redirect"] == "/admin/login?next=%2Fadmin%2Fcontent%2Fposts%2Fabc%3Fx%3D1&reason=required"
    elsewhere = {"HX-Request": "true", "HX-Current-URL": "https://evil.example/phish"}
    assert browser.get("/admin/pickers/media?target=f-data-hero", headers=elsewhere, status=401).headers[
        "HX-Redirect"] == "/admin/login?next=%2Fadmin&reason=required"


def test_multiselect_is_a_group_of_checkboxes(browser, signed_in_as, posts):
    editor = signed_in_as("editor")
    item = insert_content(editor, posts, data={"topics": ["db"]})
    page = browser.get(f"/admin/content/posts/{item.id}")
    labels = [label.text.strip() for label in page.html.select("#f-data-topics label")]
    assert labels == ["Web", "Databases", "Ops"]
    form = page.forms["content-form"]
    assert [box.checked for box in form.fields["data.topics"]] == [False, True, False]
    form.fields["data.topics"][2].checked = True
    form.fields["data.topics"][0].checked = True
    form.submit(status=303)
    assert Content.get_by_id(item.id).data["topics"] == ["web", "db", "ops"]
    form = browser.get(f"/admin/content/posts/{item.id}").forms["content-form"]
    for box in form.fields["data.topics"]:
        box.checked = False
    form.submit(status=303)
    assert "topics" not in Content.get_by_id(item.id).data


def test_an_unchanged_save_keeps_a_multiselects_stored_order(browser, signed_in_as, posts):
    editor = signed_in_as("editor")
    item = insert_content(editor, posts, title="Kept", data={"title": "Kept", "topics": ["ops", "web"]})
    stored = stored_json(item)
    browser.get(f"/admin/content/posts/{item.id}").forms["content-form"].submit(status=303)
    assert stored_json(item) == stored
    form = browser.get(f"/admin/content/posts/{item.id}").forms["content-form"]
    form.fields["data.topics"][1].checked = True
    form.submit(status=303)
    assert Content.get_by_id(item.id).data["topics"] == ["web", "db", "ops"]  # changed: the enum's order


DEFAULTS_SCHEMA = {
    "type": "object",
    "properties": {
        "title": {"type": "string", "required": True},
        "summary": {"type": "string", "default": "To be written"},
        "layout": {"type": "select", "enum": ["plain", "wide"], "default": "wide"},
        "pinned": {"type": "boolean", "default": True},
        "rank": {"type": "number", "default": 5},
        "topics": {"type": "multiselect", "enum": ["web", "db"], "default": ["db"]},
        "tags": {"type": "array", "items": {"type": "string"}, "default": ["one"]},
        "extra": {"type": "json", "default": {"k": [1]}},
    },
}
DEFAULTS = {"summary": "To be written", "layout": "wide", "pinned": True, "rank": 5, "topics": ["db"],
            "tags": ["one"], "extra": {"k": [1]}}


@pytest.fixture
def notes(browser):
    return create_collection("notes", DEFAULTS_SCHEMA, display_name="Notes")


def test_the_new_item_form_shows_the_declared_defaults(browser, signed_in_as, notes):
    signed_in_as("editor")
    page = browser.get("/admin/content/notes/new")
    form = page.forms["content-form"]
    assert form["data.summary"].value == "To be written"
    assert form["data.layout"].value == "wide"
    assert form["data.pinned"].checked
    assert form["data.rank"].value == "5"
    assert [box.checked for box in form.fields["data.topics"]] == [False, True]
    assert [field.value for field in form.fields["data.tags"]] == ["one", ""]
    assert '"k"' in form["data.extra"].value


def test_a_new_item_saved_as_shown_stores_the_defaults(browser, signed_in_as, notes):
    signed_in_as("editor")
    form = browser.get("/admin/content/notes/new").forms["content-form"]
    form["title"] = "As shown"
    form.submit(status=303)
    assert Content.get(Content.title == "As shown").data == {**DEFAULTS, "title": "As shown"}


def test_a_title_default_fills_the_title_input_and_is_the_title_saved(browser, signed_in_as):
    create_collection("memos", {"type": "object", "properties": {
        "title": {"type": "string", "required": True, "default": "Untitled memo"},
        "slug": {"type": "slug", "default": "fixed"}}}, display_name="Memos")
    signed_in_as("editor")
    form = browser.get("/admin/content/memos/new").forms["content-form"]
    assert (form["title"].value, form["slug"].value) == ("Untitled memo", "")  # a slug default is not used
    form.submit(status=303)
    shown = Content.get(Content.title == "Untitled memo")
    assert (shown.slug, shown.data) == ("untitled-memo", {"title": "Untitled memo", "slug": "untitled-memo"})
    form = browser.get("/admin/content/memos/new").forms["content-form"]
    form["title"] = "Minutes"
    form.submit(status=303)
    typed = Content.get(Content.title == "Minutes")
    assert (typed.slug, typed.data) == ("minutes", {"title": "Minutes", "slug": "minutes"})
    # Emptied, the title is missing: the default does not step back in.
    form = browser.get("/admin/content/memos/new").forms["content-form"]
    form["title"] = ""
    page = form.submit(status=422)
    assert page.html.select_one("#f-title-error").text == "is required"
    assert page.forms["content-form"]["title"].value == ""
    assert Content.select().where(Content.collection == Collection.get(Collection.name == "memos").id).count() == 2


def test_defaults_changed_or_emptied_on_the_form_are_saved_as_left_and_edits_add_none(browser, signed_in_as, notes):
    signed_in_as("editor")
    form = browser.get("/admin/content/notes/new").forms["content-form"]
    form["title"] = "Changed"
    form["data.pinned"] = False
    form["data.summary"] = ""
    form["data.rank"] = "7"
    form.fields["data.topics"][1].checked = False
    form.submit(status=303)
    item = Content.get(Content.title == "Changed")
    # An emptied default is saved empty (null), not filled in again.
    assert item.data == {**DEFAULTS, "title": "Changed", "pinned": False, "summary": None, "rank": 7, "topics": None}
    # The edit form shows the item as stored, and saving it unchanged fills no default in and
    # keeps the nulls: an empty input and no box ticked show them, and posted back so they stay.
    stored = stored_json(item)
    form = browser.get(f"/admin/content/notes/{item.id}").forms["content-form"]
    assert form["data.summary"].value == "" and not form["data.pinned"].checked
    assert not any(box.checked for box in form.fields["data.topics"])
    form.submit(status=303)
    assert stored_json(item) == stored


EMPTY_SCHEMA = {
    "type": "object",
    "properties": {
        "title": {"type": "string"},
        "subtitle": {"type": "string"},
        "mail": {"type": "email"},
        "notes": {"type": "textarea"},
        "body": {"type": "markdown"},
        "rank": {"type": "number"},
        "day": {"type": "date"},
        "at": {"type": "datetime"},
        "pinned": {"type": "boolean"},
        "layout": {"type": "select", "enum": ["plain", "wide"]},
        "topics": {"type": "multiselect", "enum": ["web", "db"]},
        "tags": {"type": "array", "items": {"type": "string"}},
        "hero": {"type": "media"},
        "parts": {"type": "array", "blocks": {"part": {"properties": {
            "heading": {"type": "string"}, "body": {"type": "textarea"}, "boxed": {"type": "boolean"},
            "size": {"type": "select", "enum": [1, 2]}}}}},
        "more": {"type": "array", "blocks": {"part": {"properties": {"heading": {"type": "string"}}}}},
    },
}
# Every editable field as null, then as "" or [] where its control shows that empty too.
EMPTY_NULLS = {name: None for name in EMPTY_SCHEMA["properties"] if name != "title"}
EMPTY_BLANKS = {**dict.fromkeys(("subtitle", "mail", "notes", "body", "day", "at", "layout", "hero"), ""),
                **dict.fromkeys(("topics", "tags", "parts", "more"), [])}


@pytest.fixture
def blanks(browser):
    return create_collection("blanks", EMPTY_SCHEMA, display_name="Blanks")


@pytest.mark.parametrize("empty", [EMPTY_NULLS, EMPTY_BLANKS], ids=["null", "blank"])
def test_an_unchanged_save_keeps_values_shown_empty(browser, signed_in_as, blanks, empty):
    """A null (or "", []) fills no input, selects the empty option, ticks no box and lists no
    item: posted back so, it stays as stored, in blocks too; a field never set stays unset."""
    editor = signed_in_as("editor")
    part = {"blockType": "part", **{name: empty.get("subtitle") for name in ("heading", "body", "size")}}
    data = {"title": "Empty", **empty, "parts": [part, {"blockType": "part", "boxed": None}]}
    item = insert_content(editor, blanks, title="Empty", data=data)
    stored = stored_json(item)
    form = browser.get(f"/admin/content/blanks/{item.id}").forms["content-form"]
    assert [form[f"data.{name}"].value for name in ("subtitle", "notes", "rank", "layout", "hero")] == [""] * 5
    assert not form["data.pinned"].checked and not any(box.checked for box in form.fields["data.topics"])
    assert [field.value for field in form.fields["data.tags"]] == [""]
    as_a_browser_sends(form, "data.notes", "data.body", "data.parts.0.body")
    form.submit(status=303)
    assert stored_json(item) == stored
    Content.update(data={"title": "Empty"}).where(Content.id == item.id).execute()
    browser.get(f"/admin/content/blanks/{item.id}").forms["content-form"].submit(status=303)
    assert Content.get_by_id(item.id).data == {"title": "Empty"}


def test_a_value_typed_over_a_null_is_saved_and_an_emptied_one_removed(browser, signed_in_as, blanks):
    """Only the empty controls left empty keep their null: a value typed over one is saved, a
    stored text emptied is removed as ever, and spaces typed over a null count as emptied."""
    editor = signed_in_as("editor")
    data = {"title": "Typed", "subtitle": None, "mail": "a@example.com", "rank": None, "pinned": None,
            "topics": None, "tags": None, "parts": [{"blockType": "part", "heading": None, "boxed": None}]}
    item = insert_content(editor, blanks, title="Typed", data=data)
    form = browser.get(f"/admin/content/blanks/{item.id}").forms["content-form"]
    form["data.subtitle"], form["data.mail"], form["data.rank"] = " Sub ", "", "   "
    form["data.pinned"] = True
    form.fields["data.topics"][1].checked = True
    form.set("data.tags", "one", index=0)
    form["data.parts.0.heading"], form["data.parts.0.boxed"] = "Head", True
    form.submit(status=303)
    assert Content.get_by_id(item.id).data == {
        "title": "Typed", "subtitle": "Sub", "pinned": True, "topics": ["db"], "tags": ["one"],
        "parts": [{"blockType": "part", "heading": "Head", "boxed": True}]}


NUMERIC_SCHEMA = {
    "type": "object",
    "properties": {
        "title": {"type": "string"},
        "size": {"type": "select", "enum": [1, 2, 3], "enumLabels": ["Small", "Medium", "Large"]},
        "ratio": {"type": "radio", "enum": [0.5, 1, 1.5]},
        "sizes": {"type": "multiselect", "enum": [1, 2.5, 3]},
        "flags": {"type": "multiselect", "enum": [True, False, "maybe"]},
        "code": {"type": "select", "enum": ["1", 1]},
        "parts": {"type": "array", "blocks": {
            "part": {"properties": {"size": {"type": "select", "enum": [1, 2, 3]}, "data": {"type": "json"}}},
        }},
    },
}


@pytest.fixture
def sized(browser):
    # Written to the database directly; the collections API takes the same typed enums.
    return create_collection("sized", NUMERIC_SCHEMA, display_name="Sized")


def test_an_unchanged_save_keeps_numeric_and_boolean_choices(browser, signed_in_as, sized):
    editor = signed_in_as("editor")
    data = {"title": "Kept", "size": 2, "ratio": 1.5, "sizes": [3, 1], "flags": [False], "code": 1,
            "parts": [{"blockType": "part", "size": 3}]}
    item = insert_content(editor, sized, title="Kept", data=data)
    stored = stored_json(item)
    form = browser.get(f"/admin/content/sized/{item.id}").forms["content-form"]
    assert form["data.size"].value == "2" and form["data.ratio"].value == "1.5"
    assert [box.checked for box in form.fields["data.sizes"]] == [True, False, True]
    assert [box.checked for box in form.fields["data.flags"]] == [False, True, False]
    assert form["data.parts.0.size"].value == "3"
    form.submit(status=303)
    assert stored_json(item) == stored


def test_posted_choices_are_saved_as_the_enums_own_values(browser, signed_in_as, sized):
    """A form posts text: each chosen option is saved as the enum's value it shows, number,
    boolean or text; the text "1" and the number 1 are two options."""
    signed_in_as("editor")
    form = browser.get("/admin/content/sized/new").forms["content-form"]
    assert [option for option, _, _ in form["data.code"].options][1:] == ['"1"', "1"]
    form["title"] = "Chosen"
    form["data.size"], form["data.ratio"], form["data.code"] = "3", "0.5", "1"
    form.fields["data.sizes"][1].checked = True
    form.fields["data.sizes"][0].checked = True
    form.fields["data.flags"][0].checked = True
    form.fields["data.flags"][2].checked = True
    form["data.parts._add"] = "part"
    form = form.submit(status=303).follow().forms["content-form"]
    form["data.parts.0.size"] = "2"
    form.submit(status=303)
    data = Content.get(Content.title == "Chosen").data
    assert data == {"title": "Chosen", "size": 3, "ratio": 0.5, "sizes": [1, 2.5], "flags": [True, "maybe"],
                    "code": 1, "parts": [{"blockType": "part", "size": 2}]}
    form = browser.get(f"/admin/content/sized/{Content.get(Content.title == 'Chosen').id}").forms["content-form"]
    form["data.code"] = '"1"'
    form.submit(status=303)
    assert Content.get(Content.title == "Chosen").data["code"] == "1"


TEXT_CODES_SCHEMA = {
    "type": "object",
    "properties": {
        "title": {"type": "string"},
        "code": {"type": "select", "enum": ["1", "2"]},
        "size": {"type": "radio", "enum": [1, 2]},
        "free": {"type": "select"},
        "parts": {"type": "array", "blocks": {"part": {"properties": {"code": {"type": "select", "enum": ["1", "2"]}}}}},
    },
}


def test_a_stored_value_the_enum_does_not_list_is_shown_as_itself_and_kept(browser, signed_in_as):
    """The number 1 where the enum lists the text "1" (and the text "1" where it lists the
    number 1) is no option: the select shows it as an extra choice naming it as JSON, not as
    the option that reads alike, so a save leaving it so keeps it as stored (the service then
    says it is no option, on its field) and never changes its type unseen, in blocks too; a
    select without an enum keeps its stored value; choosing an option replaces it."""
    editor = signed_in_as("editor")
    codes = create_collection("codes", TEXT_CODES_SCHEMA, display_name="Codes")
    data = {"title": "Odd", "code": 1, "size": "1", "free": 7, "parts": [{"blockType": "part", "code": 2}]}
    item = insert_content(editor, codes, title="Odd", data=data)
    stored = stored_json(item)
    url = f"/admin/content/codes/{item.id}"
    names = ("data.code", "data.free", "data.parts.0.code")
    page = browser.get(url)
    form = page.forms["content-form"]
    current = ["1 (current value, not an option)", "7 (current value, not an option)",
               "2 (current value, not an option)"]
    assert [shown_label(form[name]) for name in names] == current
    assert checked_radio_label(page, "data.size") == '"1" (current value, not an option)'
    assert [label for _, _, label in form["data.code"].options] == ["—", current[0], "1", "2"]
    refused = form.submit(status=422)
    assert stored_json(item) == stored
    assert "must be one of: 1, 2" in refused.html.select_one("#f-data-code-error").text
    assert "must be one of: 1, 2" in refused.html.select_one("#f-data-size-error").text

    form = refused.forms["content-form"]
    assert [shown_label(form[name]) for name in names] == current
    assert checked_radio_label(refused, "data.size") == '"1" (current value, not an option)'
    for name in ("data.code", "data.parts.0.code"):
        form[name].select(text="1")
    form["data.size"] = radio_value(refused, "data.size", "1")
    form.submit(status=303)
    assert Content.get_by_id(item.id).data == {**data, "code": "1", "size": 1,
                                               "parts": [{"blockType": "part", "code": "1"}]}
    form = browser.get(url).forms["content-form"]
    assert [label for _, _, label in form["data.code"].options] == ["—", "1", "2"]


MARKS_SCHEMA = {
    "type": "object",
    "properties": {
        "title": {"type": "string"},
        "marks": {"type": "multiselect", "enum": ["1", "2", "x"]},
        "free": {"type": "multiselect"},
    },
}


def test_a_multiselects_stored_items_the_enum_does_not_list_are_shown_as_themselves_and_kept(browser, signed_in_as):
    """Items of a multiselect's list the enum does not list (the number 1 where the enum lists
    the text "1", or any other value) tick no option that reads alike: each is an extra ticked
    box naming it as JSON, so a save leaving them ticked keeps them as stored (the service then
    says they are no options, on the field, as for a select); a multiselect without an enum
    keeps its stored items; unticked, they are dropped, and ticking an option saves the enum's value."""
    editor = signed_in_as("editor")
    marks = create_collection("marks", MARKS_SCHEMA, display_name="Marks")
    data = {"title": "Odd", "marks": [1, "2", "gone", {"k": [1]}], "free": [7, "a", None]}
    item = insert_content(editor, marks, title="Odd", data=data)
    stored = stored_json(item)
    url = f"/admin/content/marks/{item.id}"
    page = browser.get(url)
    labels = [label.text.strip() for label in page.html.select("#f-data-marks label")]
    assert labels == ["1", "2", "x", "1 (current value, not an option)", '"gone" (current value, not an option)',
                      '{"k": [1]} (current value, not an option)']
    form = page.forms["content-form"]
    assert [box.checked for box in form.fields["data.marks"]] == [False, True, False, True, True, True]
    assert [box.checked for box in form.fields["data.free"]] == [True, True, True]
    refused = form.submit(status=422)
    assert stored_json(item) == stored
    assert "marks[0]: must be one of: 1, 2, x" in refused.html.select_one("#f-data-marks-error").text
    form = refused.forms["content-form"]
    assert [box.checked for box in form.fields["data.marks"]] == [False, True, False, True, True, True]

    for box in form.fields["data.marks"][3:]:
        box.checked = False
    form.fields["data.marks"][0].checked = True
    form.submit(status=303)
    assert Content.get_by_id(item.id).data == {**data, "marks": ["1", "2"]}
    assert stored_json(item).endswith('"free": [7, "a", null]}')
    form = browser.get(url).forms["content-form"]
    assert [box.checked for box in form.fields["data.marks"]] == [True, True, False]
    form.fields["data.free"][0].checked = False
    form.submit(status=303)
    assert Content.get_by_id(item.id).data["free"] == ["a", None]


def test_a_multiselects_stored_items_are_told_apart_as_json_values(browser, signed_in_as):
    """Items Python compares equal but JSON does not ([1] and [true], {"k": 0} and {"k": false})
    each get a box of their own, and an enum option that is a list ticks no box for a list
    holding a boolean where it holds a number; 2 and 2.0 are one JSON value, so 2.0 after 2 is
    a repeat, shown as one: an unchanged save keeps every item and is refused on the field,
    unticking the repeat saves the rest as stored."""
    editor = signed_in_as("editor")
    schema = {"type": "object", "properties": {**MARKS_SCHEMA["properties"],
                                               "pairs": {"type": "multiselect", "enum": [[1], {"k": 0}]}}}
    marks = create_collection("marks", schema, display_name="Marks")
    free = [[1], [True], 2, 2.0, {"k": 0}, {"k": False}]
    item = insert_content(editor, marks, title="Odd", data={"title": "Odd", "free": free,
                                                            "pairs": [[True], {"k": False}]})
    stored = stored_json(item)
    url = f"/admin/content/marks/{item.id}"
    page = browser.get(url)
    labels = [label.text.strip() for label in page.html.select("#f-data-free label")]
    assert labels == ["[1] (current value, not an option)", "[true] (current value, not an option)",
                      "2 (current value, not an option)", "2.0 (current value, repeated)",
                      '{"k": 0} (current value, not an option)', '{"k": false} (current value, not an option)']
    form = page.forms["content-form"]
    assert [box.checked for box in form.fields["data.free"]] == [True] * 6
    assert [box.checked for box in form.fields["data.pairs"]] == [False, False, True, True]
    refused = form.submit(status=422)
    assert stored_json(item) == stored
    assert refused.html.select_one("#f-data-free-error").text.strip() == "must not repeat an option"
    assert "pairs[0]: must be one of: [1], {\"k\": 0}" in refused.html.select_one("#f-data-pairs-error").text

    form = browser.get(url).forms["content-form"]
    form.fields["data.free"][3].checked = False
    form.fields["data.pairs"][2].checked = form.fields["data.pairs"][3].checked = False
    form.fields["data.pairs"][0].checked = True
    form.submit(status=303)
    assert Content.get_by_id(item.id).data["free"] == [[1], [True], 2, {"k": 0}, {"k": False}]
    assert Content.get_by_id(item.id).data["pairs"] == [[1]]
    stored = stored_json(item)
    browser.get(url).forms["content-form"].submit(status=303)
    assert stored_json(item) == stored


def test_a_multiselects_stored_repeats_are_kept_by_an_unchanged_save_and_refused(browser, signed_in_as):
    """An item stored twice has a box for each time, the repeat's marked as such: an unchanged
    save keeps the list as stored and is refused on the field (a multiselect repeats no
    option); unticking the repeat saves the item once."""
    editor = signed_in_as("editor")
    marks = create_collection("marks", MARKS_SCHEMA, display_name="Marks")
    item = insert_content(editor, marks, title="Twice", data={"title": "Twice", "marks": ["x", "2", "x"],
                                                              "free": ["a", "a"]})
    stored = stored_json(item)
    url = f"/admin/content/marks/{item.id}"
    page = browser.get(url)
    labels = [label.text.strip() for label in page.html.select("#f-data-marks label")]
    assert labels == ["1", "2", "x", '"x" (current value, repeated)']
    form = page.forms["content-form"]
    assert [box.checked for box in form.fields["data.marks"]] == [False, True, True, True]
    assert [box.checked for box in form.fields["data.free"]] == [True, True]
    refused = form.submit(status=422)
    assert stored_json(item) == stored
    assert refused.html.select_one("#f-data-marks-error").text.strip() == "must not repeat an option"
    assert refused.html.select_one("#f-data-free-error").text.strip() == "must not repeat an option"

    form = browser.get(url).forms["content-form"]
    form.fields["data.marks"][3].checked = False
    form.fields["data.free"][0].checked = False
    form.submit(status=303)
    assert Content.get_by_id(item.id).data == {"title": "Twice", "marks": ["2", "x"], "free": ["a"]}


@pytest.mark.parametrize("stored", ["x", 0, False, {"k": 1}], ids=["text", "zero", "false", "object"])
def test_a_multiselects_stored_value_that_is_no_list_is_shown_kept_and_refused(browser, signed_in_as, stored):
    """A multiselect's stored value that is no list (even an option's text) is a ticked box of
    its own naming it as JSON, ticking no option: an unchanged save keeps it and is refused on
    the field; unticked, the ticked options are saved."""
    editor = signed_in_as("editor")
    marks = create_collection("marks", MARKS_SCHEMA, display_name="Marks")
    item = insert_content(editor, marks, title="Odd", data={"title": "Odd", "marks": stored})
    before = stored_json(item)
    url = f"/admin/content/marks/{item.id}"
    page = browser.get(url)
    labels = [label.text.strip() for label in page.html.select("#f-data-marks label")]
    assert labels == ["1", "2", "x", f"{json.dumps(stored)} (current value, not a list)"]
    form = page.forms["content-form"]
    assert [box.checked for box in form.fields["data.marks"]] == [False, False, False, True]
    refused = form.submit(status=422)
    assert stored_json(item) == before
    assert refused.html.select_one("#f-data-marks-error").text.strip() == "must be a list of options"

    form = browser.get(url).forms["content-form"]
    form.fields["data.marks"][3].checked = False
    form.fields["data.marks"][1].checked = True
    form.submit(status=303)
    assert Content.get_by_id(item.id).data["marks"] == ["2"]


def test_an_enum_text_reading_as_an_extra_box_is_an_option_of_its_own(browser, signed_in_as):
    """An enum's text that reads as the value of an extra box ("(current value) 1" beside a
    stored 1 the enum does not list) posts apart from it: each box saves its own value."""
    editor = signed_in_as("editor")
    schema = {"type": "object", "properties": {"title": {"type": "string"},
                                               "marks": {"type": "multiselect", "enum": ["(current value) 1"]}}}
    item = insert_content(editor, create_collection("oddmarks", schema, display_name="Odd marks"), title="Odd",
                          data={"title": "Odd", "marks": [1]})
    form = browser.get(f"/admin/content/oddmarks/{item.id}").forms["content-form"]
    assert [box.checked for box in form.fields["data.marks"]] == [False, True]
    form.fields["data.marks"][0].checked, form.fields["data.marks"][1].checked = True, False
    form.submit(status=303)
    assert Content.get_by_id(item.id).data["marks"] == ["(current value) 1"]

BLANK_CHOICE_SCHEMA = {
    "type": "object",
    "properties": {
        "title": {"type": "string"},
        "kind": {"type": "select", "enum": ["", "a"], "enumLabels": ["Blank", "A"]},
        "mode": {"type": "radio", "enum": ["a", ""], "enumLabels": ["A", "Blank"]},
        "must": {"type": "select", "enum": ["a", ""], "enumLabels": ["A", "Blank"], "required": True},
        "marks": {"type": "multiselect", "enum": ["", "a"]},
        "parts": {"type": "array", "blocks": {"part": {"properties": {
            "kind": {"type": "select", "enum": ["", "a"], "enumLabels": ["Blank", "A"]}}}}},
    },
}


@pytest.fixture
def blank_choices(browser):
    return create_collection("blankchoices", BLANK_CHOICE_SCHEMA, display_name="Blank choices")


def shown_label(select):
    """The label of the option a browser shows chosen in a WebTest select: the one marked
    ``selected``, else the first."""
    marked = [label for _, selected, label in select.options if selected]
    return marked[-1] if marked else select.options[0][2]


def checked_radio_label(page, name):
    """The label of the radio button named ``name`` that ``page`` shows checked (None: none is)."""
    checked = page.html.select_one(f"input[type=radio][name='{name}'][checked]")
    return None if checked is None else checked.parent.text.strip()


def radio_value(page, name, label):
    """The value of the radio button named ``name`` that ``page`` labels ``label``."""
    for radio in page.html.select(f"input[type=radio][name='{name}']"):
        if radio.parent.text.strip() == label:
            return radio["value"]
    raise AssertionError(f"no radio button of {name} is labelled {label!r}")


def test_the_empty_text_is_a_choice_of_its_own(browser, signed_in_as, blank_choices):
    """An enum's "" is an option distinct from the select's empty option (no value): a stored
    "" shows it chosen and a stored null the empty option, an unchanged save keeps each, and
    each can be chosen over the other, in blocks too; a required field still refuses the
    empty option, and a multiselect's "" is ticked and saved as any option."""
    editor = signed_in_as("editor")
    data = {"title": "Blanks", "kind": None, "mode": "", "must": "a", "marks": [""],
            "parts": [{"blockType": "part", "kind": ""}, {"blockType": "part", "kind": None}]}
    item = insert_content(editor, blank_choices, title="Blanks", data=data)
    stored = stored_json(item)
    url = f"/admin/content/blankchoices/{item.id}"
    page = browser.get(url)
    form = page.forms["content-form"]
    assert [shown_label(form[name]) for name in ("data.kind", "data.parts.0.kind", "data.parts.1.kind")
            ] == ["—", "Blank", "—"]
    assert checked_radio_label(page, "data.mode") == "Blank"
    assert [option for option, _, _ in form["data.kind"].options].count("") == 1
    assert [box.checked for box in form.fields["data.marks"]] == [True, False]
    form.submit(status=303)
    assert stored_json(item) == stored

    page = browser.get(url)
    form = page.forms["content-form"]
    for name in ("data.kind", "data.parts.1.kind"):
        form[name].select(text="Blank")
    form["data.parts.0.kind"].select(text="—")
    form["data.mode"] = radio_value(page, "data.mode", "No value")
    form.fields["data.marks"][0].checked, form.fields["data.marks"][1].checked = False, True
    form.submit(status=303)
    assert Content.get_by_id(item.id).data == {
        "title": "Blanks", "kind": "", "must": "a", "marks": ["a"],
        "parts": [{"blockType": "part"}, {"blockType": "part", "kind": ""}]}

    page = browser.get(url)
    form = page.forms["content-form"]
    assert [shown_label(form[name]) for name in ("data.kind", "data.parts.1.kind")] == ["Blank", "Blank"]
    assert checked_radio_label(page, "data.mode") == "No value"
    form["data.must"].select(text="—")
    assert "is required" in form.submit(status=422).html.select_one("#f-data-must-error").text
    assert Content.get_by_id(item.id).data["must"] == "a"


def test_a_required_select_takes_the_empty_text_its_enum_lists(browser, signed_in_as, blank_choices):
    """A required select whose enum lists "" may be given that option: chosen, it is saved,
    shown chosen and kept by an unchanged save; its empty option is still refused."""
    signed_in_as("editor")
    form = browser.get("/admin/content/blankchoices/new").forms["content-form"]
    form["title"] = "Blank must"
    form["data.must"].select(text="Blank")
    url = form.submit(status=303).location
    item = Content.get(Content.title == "Blank must")
    assert item.data == {"title": "Blank must", "must": ""}
    form = browser.get(url).forms["content-form"]
    assert shown_label(form["data.must"]) == "Blank"
    form.submit(status=303)
    assert Content.get_by_id(item.id).data == {"title": "Blank must", "must": ""}
    form = browser.get(url).forms["content-form"]
    form["data.must"].select(text="—")
    assert "is required" in form.submit(status=422).html.select_one("#f-data-must-error").text
    assert Content.get_by_id(item.id).data["must"] == ""


def test_the_empty_text_chosen_on_a_new_item_is_saved(browser, signed_in_as, blank_choices):
    """On a new item "" is saved where it was chosen; a select left at its empty option
    leaves its field unset."""
    signed_in_as("editor")
    form = browser.get("/admin/content/blankchoices/new").forms["content-form"]
    form["title"] = "New"
    form["data.kind"].select(text="Blank")
    form["data.must"].select(text="A")
    form.fields["data.marks"][0].checked = True
    form.submit(status=303)
    assert Content.get(Content.title == "New").data == {"title": "New", "kind": "", "must": "a", "marks": [""]}


def test_options_past_the_last_label_are_offered_and_kept(browser, signed_in_as):
    """A schema written to the database with fewer labels than values (saving a collection
    refuses it) still offers every value, labelled with its text, so a save keeps them."""
    editor = signed_in_as("editor")
    collection = create_collection("short", {"type": "object", "properties": {
        "title": {"type": "string"},
        "size": {"type": "select", "enum": [1, 2, 3], "enumLabels": ["Small"]},
    }}, display_name="Short labels")
    item = insert_content(editor, collection, title="Large", data={"title": "Large", "size": 3})
    stored = stored_json(item)
    form = browser.get(f"/admin/content/short/{item.id}").forms["content-form"]
    assert [(value, label) for value, _, label in form["data.size"].options][1:] == [
        ("1", "Small"), ("2", "2"), ("3", "3")]
    assert form["data.size"].value == "3"
    form.submit(status=303)
    assert stored_json(item) == stored


def test_an_unchanged_save_keeps_a_blocks_json_text(browser, signed_in_as, sized):
    """A block's JSON property is shown as JSON: the text "123" is shown quoted and stays text."""
    editor = signed_in_as("editor")
    parts = [{"blockType": "part", "data": "123"}, {"blockType": "part", "data": " text "},
             {"blockType": "part", "data": 123}, {"blockType": "part", "data": {"a": [1, "2"]}},
             {"blockType": "part", "data": None}]
    item = insert_content(editor, sized, title="Kept", data={"title": "Kept", "parts": parts})
    stored = stored_json(item)
    form = browser.get(f"/admin/content/sized/{item.id}").forms["content-form"]
    assert form["data.parts.4.data"].value == "null"  # a stored null, as JSON writes it
    as_a_browser_sends(form, *(f"data.parts.{n}.data" for n in range(5)))
    form.submit(status=303)
    assert stored_json(item) == stored


def test_null_typed_into_a_blocks_json_is_stored_and_emptied_leaves_it_out(browser, signed_in_as, sized):
    editor = signed_in_as("editor")
    parts = [{"blockType": "part", "data": 1}, {"blockType": "part", "data": None}]
    item = insert_content(editor, sized, title="Nulls", data={"title": "Nulls", "parts": parts})
    form = browser.get(f"/admin/content/sized/{item.id}").forms["content-form"]
    form["data.parts.0.data"], form["data.parts.1.data"] = " null ", ""
    form.submit(status=303)
    assert Content.get_by_id(item.id).data["parts"] == [{"blockType": "part", "data": None}, {"blockType": "part"}]



@pytest.mark.parametrize("typed", ["hello", "{a: 1}", "[1, 2", "NaN", "'text'"])
def test_a_blocks_json_that_is_not_json_is_refused_and_shown_as_typed(browser, signed_in_as, sized, typed):
    """Text typed into a block's JSON textarea that is no JSON (a bare word, JavaScript's
    unquoted keys, NaN) is refused on the field, not stored as that text; the form shows it
    as typed, and once it is JSON the save goes through."""
    editor = signed_in_as("editor")
    parts = [{"blockType": "part", "data": {"a": 1}}, {"blockType": "part", "size": 2, "data": [1]}]
    item = insert_content(editor, sized, title="Typed", data={"title": "Typed", "parts": parts})
    stored = stored_json(item)
    form = browser.get(f"/admin/content/sized/{item.id}").forms["content-form"]
    form["data.parts.1.data"] = typed
    page = form.submit(status=422)
    assert stored_json(item) == stored
    assert page.html.select_one("#f-data-parts-error").text.startswith("parts[1].data: not valid JSON: ")
    error = page.html.select_one("#f-data-parts-b1-data-error").text
    assert error.startswith("not valid JSON: ") and len(error) > len("not valid JSON: ")
    form = page.forms["content-form"]
    assert form["data.parts.1.data"].value == typed and form["data.parts.0.data"].value == '{"a": 1}'
    assert page.html.select_one("#f-data-parts-b1-data")["aria-invalid"] == "true"
    form["data.parts.1.data"] = ' {"b": [true, null]} '
    form.submit(status=303)
    assert Content.get_by_id(item.id).data["parts"] == [parts[0], {"blockType": "part", "size": 2,
                                                                   "data": {"b": [True, None]}}]


def test_an_emptied_blocks_json_is_removed_and_quoted_text_is_text(browser, signed_in_as, sized):
    """An emptied JSON textarea leaves the property out, as before; JSON text (quoted) is kept as text."""
    editor = signed_in_as("editor")
    parts = [{"blockType": "part", "data": {"a": 1}}, {"blockType": "part", "data": 5}]
    item = insert_content(editor, sized, title="Emptied", data={"title": "Emptied", "parts": parts})
    form = browser.get(f"/admin/content/sized/{item.id}").forms["content-form"]
    form["data.parts.0.data"], form["data.parts.1.data"] = " \r\n ", '"hello"'
    form.submit(status=303)
    assert Content.get_by_id(item.id).data["parts"] == [{"blockType": "part"}, {"blockType": "part", "data": "hello"}]


def test_a_blocks_text_valued_property_in_a_json_textarea_takes_unquoted_text(browser, signed_in_as):
    """Block properties of types the form has no control of its own for, whose values are text
    (a media or reference id), share the JSON textarea: text typed without quotes is that
    text, as it always was, while a JSON property refuses it."""
    editor = signed_in_as("editor")
    collection = create_collection("events", {"type": "object", "properties": {
        "title": {"type": "string"},
        "slots": {"type": "array", "blocks": {"slot": {"properties": {
            "photo": {"type": "media"}, "extra": {"type": "json"}}}}},
    }}, display_name="Events")
    first, second = media_row(editor, "one.png"), media_row(editor, "two.png")
    item = insert_content(editor, collection, title="Meetup", data={"title": "Meetup", "slots": [
        {"blockType": "slot", "photo": first.id}]})
    form = browser.get(f"/admin/content/events/{item.id}").forms["content-form"]
    assert form["data.slots.0.photo"].value == f'"{first.id}"'
    form["data.slots.0.photo"] = second.id
    form.submit(status=303)
    assert Content.get_by_id(item.id).data["slots"] == [{"blockType": "slot", "photo": second.id}]


def test_a_blocks_json_nested_deep_is_taken_as_before(browser, signed_in_as, sized):
    """JSON nested deeper than a recursive walk of it could go is taken, as it always was:
    looking for the text that is no JSON does not walk into values."""
    editor = signed_in_as("editor")
    item = insert_content(editor, sized, title="Deep", data={"title": "Deep", "parts": [{"blockType": "part"}]})
    form = browser.get(f"/admin/content/sized/{item.id}").forms["content-form"]
    form["data.parts.0.data"] = "[" * 600 + "]" * 600
    form.submit(status=303)
    assert json.dumps(Content.get_by_id(item.id).data["parts"][0]["data"]) == "[" * 600 + "]" * 600


@pytest.mark.parametrize("typed", ["[" * 100_000, "1e999", '"\\ud800"', "hello"])
def test_a_new_items_block_json_that_is_not_json_is_refused(browser, signed_in_as, sized, typed):
    """The new item's form refuses it too, nothing is created; JSON nested past what the
    parser takes, numbers past a float's range and half a character (a lone surrogate)
    are no JSON it can store either (they were a 500 or a null)."""
    signed_in_as("editor")
    form = browser.get("/admin/content/sized/new").forms["content-form"]
    form["title"] = "Fresh"
    fields = [*form.submit_fields(), ("data.parts.0.-type", "part"), ("data.parts.0.data", typed)]
    page = browser.post("/admin/content/sized/new", fields, status=422)
    assert page.html.select_one("#f-data-parts-b0-data-error").text.startswith("not valid JSON: ")
    assert page.forms["content-form"]["data.parts.0.data"].value == typed
    assert not Content.select().where(Content.title == "Fresh").exists()


NULL_SCHEMA = {
    "type": "object",
    "properties": {
        "title": {"type": "string"},
        "shade": {"type": "select", "enum": ["light", None, "dark"], "enumLabels": ["Light", "None", "Dark"]},
        "word": {"type": "radio", "enum": ["null", None]},
        "mode": {"type": "select", "enum": ["a", "b"]},
        "marks": {"type": "multiselect", "enum": ["x", None]},
        "parts": {"type": "array", "blocks": {
            "part": {"properties": {"size": {"type": "select", "enum": [1, None]}}},
        }},
    },
}


@pytest.fixture
def nullable(browser):
    # Written to the database directly: saving a collection refuses null as an option.
    return create_collection("nullable", NULL_SCHEMA, display_name="Nullable")


def test_a_stored_null_is_kept_by_an_unchanged_save_and_a_select_offers_no_null(browser, signed_in_as, nullable):
    """Validation takes null for "no value", which a select's empty option already is: a
    select offers no option for a null its enum lists, shows a stored null as the empty
    option and, posted back so, keeps it null (a listed null or not). A multiselect's list
    may hold a null its enum lists: that one is an option, ticked and kept as JSON null."""
    editor = signed_in_as("editor")
    data = {"title": "Nulls", "shade": None, "word": None, "mode": None, "marks": [None, "x"],
            "parts": [{"blockType": "part", "size": None}, {"blockType": "part", "size": 1}]}
    item = insert_content(editor, nullable, title="Nulls", data=data)
    stored = stored_json(item)
    form = browser.get(f"/admin/content/nullable/{item.id}").forms["content-form"]
    assert [(value, label) for value, _, label in form["data.shade"].options] == [
        ("", "—"), ("light", "Light"), ("dark", "Dark")]
    assert [value for value, _, _ in form["data.word"].options] == ["", "null"]
    assert [value for value, _, _ in form["data.parts.0.size"].options] == ["", "1"]
    assert (form["data.shade"].value, form["data.word"].value, form["data.mode"].value) == ("", "", "")
    assert form["data.parts.0.size"].value == "" and form["data.parts.1.size"].value == "1"
    assert [(box._value, box.checked) for box in form.fields["data.marks"]] == [("x", True), ("null", True)]
    form.submit(status=303)
    assert stored_json(item) == stored


def test_choices_next_to_a_null_are_saved_as_typed_values(browser, signed_in_as, nullable):
    """The text "null" is its own option; a multiselect's null is saved as JSON null; the
    empty option over a value set removes the value, as it always did."""
    editor = signed_in_as("editor")
    item = insert_content(editor, nullable, title="Set", data={"title": "Set", "shade": "dark", "mode": "a",
                                                              "parts": [{"blockType": "part", "size": 1}]})
    form = browser.get(f"/admin/content/nullable/{item.id}").forms["content-form"]
    form["data.shade"], form["data.word"], form["data.mode"], form["data.parts.0.size"] = "", "null", "b", ""
    form.fields["data.marks"][1].checked = True
    form.submit(status=303)
    assert Content.get_by_id(item.id).data == {"title": "Set", "mode": "b", "word": "null", "marks": [None],
                                               "parts": [{"blockType": "part"}]}


# ---------------------------------------------------------------- object and JSON fields

JSON_SCHEMA = {
    "type": "object",
    "properties": {
        "title": {"type": "string", "required": True},
        "meta": {"type": "json"},
        "seo": {"type": "object", "properties": {"keywords": {"type": "array", "items": {"type": "string"}},
                                                 "score": {"type": "number"}}},
    },
}


@pytest.fixture
def things(browser):
    return create_collection("things", JSON_SCHEMA, display_name="Things")


def test_object_and_json_fields_are_textareas_of_json_on_a_new_item(browser, signed_in_as, things):
    signed_in_as("editor")
    form = browser.get("/admin/content/things/new").forms["content-form"]
    assert form.html.select_one("textarea#f-data-meta") and form.html.select_one("textarea#f-data-seo")
    assert "not editable here yet" not in form.html.text
    form["title"], form["data.meta"] = "First", '{"a": [1, 2.5, null], "b": "x"}'
    form["data.seo"] = '{"keywords": ["cms"], "score": 3}'
    response = form.submit(status=303)
    item = Content.get(Content.collection == things.id)
    assert response.location.endswith(f"/admin/content/things/{item.id}")
    assert item.data["meta"] == {"a": [1, 2.5, None], "b": "x"} and item.data["seo"] == {"keywords": ["cms"], "score": 3}


@pytest.mark.parametrize("typed", ["{a: 1}", "[1, 2", "NaN"])
def test_text_that_is_not_json_is_refused_on_its_field_as_typed(browser, signed_in_as, things, typed):
    signed_in_as("editor")
    form = browser.get("/admin/content/things/new").forms["content-form"]
    form["title"], form["data.meta"] = "First", typed
    page = form.submit(status=422)
    assert page.html.select_one("#f-data-meta-error").text.startswith("not valid JSON: ")
    assert page.forms["content-form"]["data.meta"].value == typed
    assert page.forms["content-form"]["title"].value == "First"
    assert Content.select().where(Content.collection == things.id).count() == 0


def test_an_objects_properties_are_validated_by_the_service(browser, signed_in_as, things):
    signed_in_as("editor")
    form = browser.get("/admin/content/things/new").forms["content-form"]
    form["title"], form["data.seo"] = "First", '{"score": "high"}'
    page = form.submit(status=422)
    assert "must be a number" in page.html.select_one("#f-data-seo-error").text
    assert json.loads(page.forms["content-form"]["data.seo"].value) == {"score": "high"}  # JSON: shown pretty
    form["data.seo"] = '"text"'
    assert "must be an object" in form.submit(status=422).html.select_one("#f-data-seo-error").text


def test_editing_json_shows_it_pretty_and_saves_what_was_typed(browser, signed_in_as, things):
    editor = signed_in_as("editor")
    item = insert_content(editor, things, title="T", data={"title": "T", "meta": {"n": 1, "list": ["é"]},
                                                         "seo": {"score": 2}})
    form = browser.get(f"/admin/content/things/{item.id}").forms["content-form"]
    assert json.loads(form["data.meta"].value) == {"n": 1, "list": ["é"]} and "\n  " in form["data.meta"].value
    as_a_browser_sends(form, "data.meta", "data.seo")
    form.submit(status=303)
    assert Content.get_by_id(item.id).data == {"title": "T", "meta": {"n": 1, "list": ["é"]}, "seo": {"score": 2}}
    form = browser.get(f"/admin/content/things/{item.id}").forms["content-form"]
    form["data.meta"] = '{"n": 2'
    refused = form.submit(status=422)
    assert "not valid JSON" in refused.html.select_one("#f-data-meta-error").text
    assert Content.get_by_id(item.id).data["meta"] == {"n": 1, "list": ["é"]}
    again = refused.forms["content-form"]
    again["data.meta"], again["data.seo"] = '[true, {"k": null}]', ""
    again.submit(status=303)
    assert Content.get_by_id(item.id).data == {"title": "T", "meta": [True, {"k": None}]}


def test_a_stored_null_json_is_shown_as_null_and_kept(browser, signed_in_as, things):
    editor = signed_in_as("editor")
    item = insert_content(editor, things, title="T", data={"title": "T", "meta": None})
    form = browser.get(f"/admin/content/things/{item.id}").forms["content-form"]
    assert form["data.meta"].value == "null" and form["data.seo"].value == ""
    form.submit(status=303)
    assert Content.get_by_id(item.id).data == {"title": "T", "meta": None}


def test_a_json_field_as_large_as_the_api_takes_is_saved_unchanged(browser, signed_in_as, things):
    # Indented, 1.2 MB of JSON became about 6 MB of form, past what the form may send: the
    # item could not even be renamed. Past a size the field is shown compact.
    editor = signed_in_as("editor")
    rows = {"rows": [[0, 0, 0, 0]] * 120_000}
    item = insert_content(editor, things, title="Big", data={"title": "Big", "meta": rows})
    form = browser.get(f"/admin/content/things/{item.id}").forms["content-form"]
    assert "\n" not in form["data.meta"].value and json.loads(form["data.meta"].value) == rows
    form["title"] = "Bigger"
    form.submit(status=303)
    saved = Content.get_by_id(item.id)
    assert (saved.title, saved.data["meta"]) == ("Bigger", rows)


@pytest.mark.parametrize("typed", ['{"a": "x\\u0000y"}', '{"a\\u0000": 1}', '"\\u0000"'])
def test_a_nul_escape_in_a_json_field_is_refused_as_the_api_refuses_it(browser, signed_in_as, things, typed):
    signed_in_as("editor")
    form = browser.get("/admin/content/things/new").forms["content-form"]
    form["title"], form["data.meta"] = "First", typed
    page = form.submit(status=422)
    assert page.html.select_one("#f-data-meta-error").text == "NUL characters are not allowed"
    assert page.forms["content-form"]["data.meta"].value == typed
    assert Content.select().where(Content.collection == things.id).count() == 0


def hand_written(properties):
    """A collection whose schema is written straight to the database, as the API's schema
    check would refuse it (a type that is a list or an object, a block's list of properties)."""
    return create_collection("odd", {"type": "object", "properties": {"title": {"type": "string"}, **properties}},
                             display_name="Odd")


@pytest.mark.parametrize("odd_type", [["string", "null"], {"anyOf": ["string"]}], ids=["list", "object"])
def test_a_hand_written_type_that_is_no_text_is_shown_as_json_and_kept(browser, signed_in_as, odd_type):
    """A block's property of such a type is a JSON textarea and a field of it is read-only,
    a title, label or help text that is no text gives way to the name: the form answers,
    and a save leaving it all as shown stores the data as it was."""
    odd = hand_written({
        "weird": {"type": odd_type, "title": {"x": 1}},
        "note": {"type": "string", "title": 7, "helpText": ["no"]},
        "parts": {"type": "array", "blocks": {"part": {"label": ["Part"], "properties": {
            "heading": {"type": "string"}, "odd": {"type": odd_type, "title": 3}, "body": {"type": "quill"}}}}},
    })
    editor = signed_in_as("editor")
    parts = [{"blockType": "part", "heading": "H", "odd": None}, {"blockType": "part", "heading": "I"}]
    item = insert_content(editor, odd, title="Odd", data={"title": "Odd", "note": "n", "parts": parts})
    stored = stored_json(item)
    page = browser.get(f"/admin/content/odd/{item.id}")
    html = page.html
    assert html.select_one("textarea#f-data-parts-b0-odd").text.strip() == "null", "a JSON textarea"
    assert html.select_one("label[for=f-data-parts-b1-odd]").text.strip() == "Odd"
    assert html.select_one("#f-data-parts-b0-heading").find_parent("fieldset").legend.text.strip() == "part", "the type's name"
    assert html.select_one("label[for=f-data-note]").text.strip() == "Note"
    assert "['no']" not in page.text and "{'x': 1}" not in page.text
    assert "data.weird" not in page.forms["content-form"].fields, "no control of its own: read-only"
    page.forms["content-form"].submit(status=303)
    assert stored_json(item) == stored
    assert browser.get("/admin/content/odd/new").status_int == 200


def test_a_hand_written_block_type_whose_properties_are_a_list_is_kept_whole(browser, signed_in_as):
    """Its properties are unknown: the block is shown without inputs, and the form posted as
    shown reads it back whole (the service, not the form, then judges it). A discriminator
    that is no text is taken as the default one."""
    odd = hand_written({"parts": {"type": "array", "discriminator": ["kind"], "blocks": {
        "listed": {"label": "Listed", "properties": ["heading", "body"]},
        "part": {"label": "Part", "properties": {"heading": {"type": "string"}}}}}})
    editor = signed_in_as("editor")
    parts = [{"blockType": "listed", "heading": "H", "body": {"a": 1}}, {"blockType": "part", "heading": "I"}]
    item = insert_content(editor, odd, title="Odd", data={"title": "Odd", "parts": parts})
    page = browser.get(f"/admin/content/odd/{item.id}")
    form = page.forms["content-form"]
    assert [name for name in form.fields if (name or "").startswith("data.parts.0.")] == [
        "data.parts.0.-type", "data.parts.0.-position", "data.parts.0.-remove"]
    assert form["data.parts.1.heading"].value == "I"
    assert browser.get("/admin/content/odd/new").status_int == 200
    posted = {}
    for name, value in form.submit_fields():
        posted.setdefault(name, []).append(value)
    posted = {name: values[0] if len(values) == 1 else values for name, values in posted.items()}
    assert data_from_form(odd.schema, posted, Content.get_by_id(item.id).data)["parts"] == parts


TEXT_LIKE = {"line": {"type": "string"}, "long": {"type": "textarea"}, "rich": {"type": "quill"},
             "tint": {"type": "color"}}


@pytest.mark.parametrize("stored", [True, {"a": [1, "é"]}, 2.5, None], ids=["boolean", "object", "number", "null"])
def test_a_text_controls_value_that_is_no_text_is_shown_as_json(browser, signed_in_as, stored):
    """Stored where a text belongs (a schema changed since, or data written straight to the
    database), a value is shown as the API returns it: JSON, never in Python's spelling; a
    save leaving it so stores that text, at the top level and in a block."""
    odd = hand_written({**TEXT_LIKE, "parts": {"type": "array", "blocks": {"part": {"properties": TEXT_LIKE}}}})
    editor = signed_in_as("editor")
    values = dict.fromkeys(TEXT_LIKE, stored)
    item = insert_content(editor, odd, title="Odd", data={"title": "Odd", **values,
                                                          "parts": [{"blockType": "part", **values}]})
    form = browser.get(f"/admin/content/odd/{item.id}").forms["content-form"]
    text = "" if stored is None else json.dumps(stored, ensure_ascii=False)
    shown = {name: form[f"data.{name}"].value.strip("\n") for name in TEXT_LIKE}
    in_block = {name: form[f"data.parts.0.{name}"].value.strip("\n") for name in TEXT_LIKE}
    assert (shown, in_block) == (dict.fromkeys(TEXT_LIKE, text), dict.fromkeys(TEXT_LIKE, text))
    form.submit(status=303)
    data = Content.get_by_id(item.id).data
    saved = values if stored is None else dict.fromkeys(TEXT_LIKE, text)
    assert ({name: data[name] for name in TEXT_LIKE}, data["parts"]) == (saved, [{"blockType": "part", **saved}])


def test_a_title_saved_over_a_file_and_an_item_deleted_since_keeps_their_references(browser, signed_in_as, posts):
    """What the item names and was deleted since is no new reference: saving the form
    unchanged there (only the title edited) keeps both as stored, where a new pick of a
    deleted file is refused."""
    editor = signed_in_as("editor")
    photo = media_row(editor, "photo.png")
    person = insert_content(editor, Collection.get(Collection.name == "people"), title="Ada")
    item = insert_content(editor, posts, data={"title": "Before", "hero": photo.id, "author": person.id})
    Media.update(deleted_at=now_ms()).where(Media.id == photo.id).execute()
    Content.update(deleted_at=now_ms()).where(Content.id == person.id).execute()
    form = browser.get(f"/admin/content/posts/{item.id}").forms["content-form"]
    form["title"] = "After"
    form.submit(status=303)
    saved = Content.get_by_id(item.id)
    assert saved.title == "After"
    assert (saved.data["hero"], saved.data["author"]) == (photo.id, person.id)
    other = media_row(editor, "other.png", deleted_at=now_ms())
    form = browser.get(f"/admin/content/posts/{item.id}").forms["content-form"]
    form["data.hero"] = other.id
    refused = form.submit(status=422)
    assert "which does not exist" in refused.text and other.id in refused.text
    assert Content.get_by_id(item.id).data["hero"] == photo.id
