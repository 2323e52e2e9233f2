"""The content form's editor controls in a real browser (Chromium via selenium): the HTML
editor (Quill) under the admin's Content-Security-Policy and its undo, the colour picker, the
unsaved-changes warning (a refused save, an open picker, a stopped save), a picker's late
answer (the picker's id input folded away), the summary's links into Quill and radio buttons,
and a half-filled date-time; then
the same controls in a block added on the page; a picker's label, button and focus; the focus
once the only block is removed.

Four tests on purpose (each browser test costs seconds): the shared browser fixtures fail it on
any console error (a CSP violation included) and on critical accessibility violations.
"""

from app.db.models import Collection, Content
from tests.fixtures.auth import hashed
from tests.fixtures.content import create_collection
from tests.fixtures.users import create_user
from tests.fixtures.workflow import insert_content
from tests.test_admin_browser_editing import by, finish, navigate, open_page, sign_in, wait_for

PAGES = {"type": "object", "properties": {
    "title": {"type": "string", "required": True},
    "body": {"type": "quill", "title": "Body", "required": True},
    "tint": {"type": "color", "title": "Tint"},
    "author": {"type": "reference", "collection": "people", "title": "Author"},
    # Shown for the accessibility scan: the radio buttons and the datetime input.
    "size": {"type": "radio", "enum": ["s", "l"], "enumLabels": ["Small", "Large"], "required": True},
    "starts": {"type": "datetime"},
}}

STYLED = '<p style="color:red" onclick="alert(1)">Quiet <strong style="font-size:2em">loud</strong></p>'

# Whether leaving the page now would ask first: a cancelable beforeunload, as the browser sends.
LEAVING_ASKS = """
const event = new Event("beforeunload", {cancelable: true});
window.dispatchEvent(event);
return event.defaultPrevented;
"""

# Open the author picker and press Esc before its answer comes; resolves once the answer came.
ESC_BEFORE_THE_ANSWER = """
const done = arguments[arguments.length - 1];
document.addEventListener("htmx:afterRequest", () => setTimeout(done, 50), {once: true});
const opener = document.getElementById("f-data-author-choose");
opener.focus();
opener.click();
document.activeElement.dispatchEvent(new KeyboardEvent("keydown", {key: "Escape", bubbles: true}));
"""


def on_a_new_page(served_admin, chromium):
    """An editor signed in on a new page of ``pages``, whose author picker offers Ada; the editor."""
    editor = create_user("editor", password_hash=hashed())
    people = create_collection("people", {"type": "object", "properties": {"title": {"type": "string"}}},
                               display_name="People")
    insert_content(editor, people, title="Ada")
    create_collection("pages", PAGES, display_name="Pages")
    sign_in(chromium, served_admin, editor)
    open_page(chromium, served_admin + "/admin/content/pages/new", "New item")
    return editor


def test_html_editor_colour_picker_unsaved_warning_and_a_late_picker_answer(served_admin, chromium):
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support import expected_conditions as ec

    wait = wait_for(chromium)
    editor = on_a_new_page(served_admin, chromium)
    # Refused (title, body and size are required): the summary's link to the body leads into
    # Quill, the one to the radio buttons to the first of them.
    navigate(chromium, wait, wait.until(ec.element_to_be_clickable((by().ID, "save"))))
    wait.until(ec.element_to_be_clickable((by().CSS_SELECTOR, ".form-problems a[href='#f-data-body']"))).click()
    assert chromium.execute_script("return document.activeElement.classList.contains('ql-editor')")
    chromium.find_element(by().CSS_SELECTOR, ".form-problems a[href='#f-data-size']").click()
    assert chromium.execute_script("return document.activeElement.id") == "f-data-size-1"
    surface = wait.until(ec.element_to_be_clickable((by().CSS_SELECTOR, "#f-data-body-label ~ .html-editor .ql-editor")))
    assert not chromium.find_element(by().ID, "f-data-body").is_displayed(), "Quill stands in for the textarea"
    assert chromium.execute_script(LEAVING_ASKS) is True, "a refused save's values are stored nowhere"
    audited = {"refused new page": finish_audit(chromium)}

    surface.click()
    surface.send_keys("Hello brave world")
    chromium.execute_script("Quill.find(document.querySelector('.html-surface')).setSelection(6, 5)")
    chromium.find_element(by().CSS_SELECTOR, ".ql-toolbar button.ql-bold").click()
    body = chromium.find_element(by().ID, "f-data-body")
    wait.until(lambda _: "<strong>brave</strong>" in body.get_property("value"))
    assert chromium.execute_script(LEAVING_ASKS) is True, "the typed text is not saved yet"

    # The picker writes #rrggbb into the text box, which stays the value.
    chromium.execute_script("const p = document.getElementById('f-data-tint-picker');"
                            "p.value = '#336699'; p.dispatchEvent(new Event('input'));")
    assert chromium.find_element(by().ID, "f-data-tint").get_property("value") == "#336699"
    tint = chromium.find_element(by().ID, "f-data-tint")
    tint.send_keys(Keys.BACKSPACE * 7, "#abc")
    assert chromium.find_element(by().ID, "f-data-tint-picker").get_property("value") == "#aabbcc"

    # Esc before the picker's answer: the answer does not open the panel.
    chromium.set_script_timeout(10)
    chromium.execute_async_script(ESC_BEFORE_THE_ANSWER)
    assert chromium.execute_script("return document.getElementById('f-data-author-picker').childElementCount") == 0
    chromium.find_element(by().ID, "f-data-author-choose").click()  # awaited, the answer opens it
    wait.until(ec.element_to_be_clickable((by().CSS_SELECTOR, "#f-data-author-picker .picker-choice"))).click()
    # The picker is the control: its id input, folded away, still posts the pick.
    assert not chromium.find_element(by().ID, "f-data-author").is_displayed()
    assert chromium.execute_script("return document.activeElement.id") == "f-data-author-choose"

    chromium.find_element(by().ID, "f-data-size-2").click()
    chromium.find_element(by().ID, "f-title").send_keys("Welcome")
    navigate(chromium, wait, chromium.find_element(by().ID, "save"))  # no prompt: the form was sent
    wait.until(ec.text_to_be_present_in_element((by().TAG_NAME, "h1"), "Welcome"))
    data = Content.get(Content.title == "Welcome").data
    assert data["body"] == "<p>Hello <strong>brave</strong> world</p>"
    assert data["tint"] == "#abc"
    assert data["author"] == Content.get(Content.collection == Collection.get(Collection.name == "people").id).id
    audited["saved page"] = finish_audit(chromium)

    # Stored HTML with style and event attributes (an API client's): Quill shows its text and
    # the page reports no CSP violation, since Quill starts from the server's cleaned copy.
    pages = Collection.get(Collection.name == "pages")
    styled = insert_content(editor, pages, title="Styled", data={"title": "Styled", "body": STYLED, "size": "s"})
    open_page(chromium, f"{served_admin}/admin/content/pages/{styled.id}", "Styled")
    shown = wait.until(ec.presence_of_element_located((by().CSS_SELECTOR, ".ql-editor strong")))
    assert shown.text == "loud"
    body = chromium.find_element(by().ID, "f-data-body")
    assert body.get_property("value") == STYLED

    # An open picker (its search box inside the form) is no change.
    chromium.find_element(by().ID, "f-data-author-choose").click()
    wait.until(ec.element_to_be_clickable((by().CSS_SELECTOR, "#f-data-author-picker .picker-choice")))
    assert chromium.execute_script(LEAVING_ASKS) is False, "opening a picker changes nothing"

    # Undo goes back to the stored HTML, and no further: the loaded text is not undone away.
    surface = chromium.find_element(by().CSS_SELECTOR, ".ql-editor")
    surface.click()
    surface.send_keys(Keys.END, "!")
    wait.until(lambda _: body.get_property("value") != STYLED)
    assert chromium.execute_script(LEAVING_ASKS) is True
    surface.send_keys(Keys.CONTROL, "z")
    wait.until(lambda _: body.get_property("value") == STYLED)
    assert chromium.execute_script(LEAVING_ASKS) is False, "the edit was undone"
    surface.send_keys(Keys.CONTROL, "z")
    assert chromium.find_element(by().CSS_SELECTOR, ".ql-editor strong").text == "loud"
    assert body.get_property("value") == STYLED

    # A half-filled date-time stops the save (it would post "" and remove the value).
    chromium.find_element(by().ID, "f-title").send_keys(" again")
    starts = chromium.find_element(by().ID, "f-data-starts")
    starts.send_keys("12")
    assert chromium.execute_script("return arguments[0].validity.badInput", starts) is True
    chromium.find_element(by().ID, "save").click()
    note = wait.until(ec.presence_of_element_located((by().ID, "f-data-starts-incomplete")))
    assert note.text == "Enter a complete date and time, or clear it."
    assert chromium.execute_script("return document.activeElement.id") == "f-data-starts"
    assert starts.get_attribute("aria-invalid") == "true"
    assert starts.get_attribute("aria-describedby").split() == ["f-data-starts-utc", "f-data-starts-incomplete"]
    assert chromium.execute_script(LEAVING_ASKS) is True, "the stopped save was not sent"
    chromium.execute_script("arguments[0].value = '2026-01-31T09:30'; arguments[0].dispatchEvent(new Event('input', {bubbles: true}));",
                            starts)
    assert not chromium.find_elements(by().ID, "f-data-starts-incomplete")
    navigate(chromium, wait, chromium.find_element(by().ID, "save"))
    wait.until(ec.text_to_be_present_in_element((by().TAG_NAME, "h1"), "Styled again"))
    assert Content.get_by_id(styled.id).data["starts"] == "2026-01-31T09:30:00Z"
    assert Content.get_by_id(styled.id).data["body"] == STYLED
    finish(chromium, audited, "admin-editor-controls", expected_status="422 (Unprocessable Entity)")


def finish_audit(driver):
    from tests.fixtures.browser import critical_violations

    return critical_violations(driver)


BLOCKS = {"type": "object", "properties": {
    "title": {"type": "string", "required": True},
    "parts": {"type": "array", "blocks": {"part": {"label": "Part", "properties": {
        # "__n__" numbers a block added on the page in its names and ids only: not in its
        # text, nor in a property's name.
        "body": {"type": "quill", "title": "Body of part __n__", "placeholder": "Write part __n__"},
        "size": {"type": "radio", "enum": [1, 2], "enumLabels": ["Small", "Large"]},
        "tint__n__": {"type": "color", "title": "Tint __n__"},
        "starts": {"type": "datetime"},
    }}}},
}}


def test_a_block_added_on_the_page_gets_working_controls(served_admin, chromium):
    """The script copies the block's template: its Quill editor is started (and keeps working
    once the block is moved), its radio buttons are a group of their own, its colour picker
    follows its text box and a half-filled date-time in it stops the save."""
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import Select

    wait = wait_for(chromium)
    editor = create_user("editor", password_hash=hashed())
    pages = create_collection("pages", BLOCKS, display_name="Pages")
    item = insert_content(editor, pages, title="Parts", data={"title": "Parts", "parts": [
        {"blockType": "part", "size": 1}]})
    sign_in(chromium, served_admin, editor)
    open_page(chromium, f"{served_admin}/admin/content/pages/{item.id}", "Parts")
    Select(chromium.find_element(by().ID, "f-data-parts-add")).select_by_value("part")
    chromium.find_element(by().CSS_SELECTOR, "[data-block-add='f-data-parts']").click()
    surface = wait.until(ec.element_to_be_clickable(
        (by().CSS_SELECTOR, "[data-html-editor='f-data-parts-b1-body'] .ql-editor")))
    assert chromium.execute_script("return document.activeElement.closest('[data-html-editor]').dataset.htmlEditor") \
        == "f-data-parts-b1-body", "the new block's editor has the focus"
    assert surface.get_attribute("data-placeholder") == "Write part __n__"
    assert chromium.find_element(by().ID, "f-data-parts-b1-body-label").text == "Body of part __n__ (HTML)"
    assert chromium.find_element(by().CSS_SELECTOR, "label[for='f-data-parts-b1-tint__n__']").text == "Tint __n__"
    assert not chromium.find_element(by().ID, "f-data-parts-b1-body").is_displayed(), "Quill stands in for it"
    surface.send_keys("Hello block")
    body = chromium.find_element(by().ID, "f-data-parts-b1-body")
    wait.until(lambda _: body.get_property("value") == "<p>Hello block</p>")

    chromium.find_element(by().ID, "f-data-parts-b1-size-2").click()
    assert chromium.find_element(by().ID, "f-data-parts-b0-size-1").is_selected(), "each block's radios are its own"
    chromium.execute_script("const p = document.getElementById('f-data-parts-b1-tint__n__-picker');"
                            "p.value = '#336699'; p.dispatchEvent(new Event('input'));")
    assert chromium.find_element(by().ID, "f-data-parts-b1-tint__n__").get_property("value") == "#336699"
    chromium.find_element(by().CSS_SELECTOR, "fieldset.block-row:last-child [data-move='up']").click()
    surface.send_keys(" again")
    wait.until(lambda _: body.get_property("value") == "<p>Hello block again</p>")
    audited = {"added block": finish_audit(chromium)}

    starts = chromium.find_element(by().ID, "f-data-parts-b1-starts")
    starts.send_keys("12")
    chromium.find_element(by().ID, "save").click()
    note = wait.until(ec.presence_of_element_located((by().ID, "f-data-parts-b1-starts-incomplete")))
    assert note.text == "Enter a complete date and time, or clear it."
    assert chromium.execute_script("return document.activeElement.id") == "f-data-parts-b1-starts"
    chromium.execute_script("arguments[0].value = '2026-01-31T09:30';"
                            "arguments[0].dispatchEvent(new Event('input', {bubbles: true}));", starts)
    navigate(chromium, wait, chromium.find_element(by().ID, "save"))
    wait.until(ec.url_contains("saved=1"))
    assert Content.get_by_id(item.id).data["parts"] == [
        {"blockType": "part", "body": "<p>Hello block again</p>", "size": 2, "tint__n__": "#336699",
         "starts": "2026-01-31T09:30:00Z"},
        {"blockType": "part", "size": 1}]
    finish(chromium, audited, "admin-block-controls")


def test_a_pickers_label_button_and_focus(served_admin, chromium):
    """The picker is the control: with its id input folded away, the field's label leads to
    the button opening it, whose name says which field it fills."""
    from selenium.webdriver.support import expected_conditions as ec

    wait = wait_for(chromium)
    editor = on_a_new_page(served_admin, chromium)
    opener = wait.until(ec.element_to_be_clickable((by().ID, "f-data-author-choose")))
    assert opener.accessible_name == "Choose an item for Author"
    chromium.find_element(by().CSS_SELECTOR, "label[for='f-data-author']").click()
    assert chromium.execute_script("return document.activeElement.id") == "f-data-author-choose"
    assert chromium.execute_script("return document.getElementById('f-data-author-picker').childElementCount") == 0
    audited = {"picker label": finish_audit(chromium)}

    # An id the picker cannot show leaves the id input in view: a clear, and a pick, still
    # give the focus back to the picker's button.
    item = insert_content(editor, Collection.get(Collection.name == "pages"), title="Lost",
                          data={"title": "Lost", "author": "no-such-item", "size": "s"})
    open_page(chromium, f"{served_admin}/admin/content/pages/{item.id}", "Lost")
    assert chromium.find_element(by().ID, "f-data-author").is_displayed()
    chromium.find_element(by().CSS_SELECTOR, "[data-pick-clear='f-data-author']").click()
    assert chromium.execute_script("return document.activeElement.id") == "f-data-author-choose"
    chromium.find_element(by().ID, "f-data-author-choose").click()
    wait.until(ec.element_to_be_clickable((by().CSS_SELECTOR, "#f-data-author-picker .picker-choice"))).click()
    assert chromium.find_element(by().ID, "f-data-author").get_property("value") != ""
    assert chromium.execute_script("return document.activeElement.id") == "f-data-author-choose"
    finish(chromium, audited, "admin-picker-label")


def test_removing_the_only_block_leaves_the_focus_on_adding_one(served_admin, chromium):
    from selenium.webdriver.support import expected_conditions as ec

    wait = wait_for(chromium)
    editor = create_user("editor", password_hash=hashed())
    listed = {**BLOCKS, "properties": {**BLOCKS["properties"], "tags": {"type": "array", "items": {"type": "string"}}}}
    pages = create_collection("pages", listed, display_name="Pages")
    item = insert_content(editor, pages, title="Parts", data={"title": "Parts", "parts": [
        {"blockType": "part", "size": 1}]})
    sign_in(chromium, served_admin, editor)
    open_page(chromium, f"{served_admin}/admin/content/pages/{item.id}", "Parts")
    wait.until(ec.element_to_be_clickable((by().CSS_SELECTOR, "fieldset.block-row [data-move='remove']"))).click()
    assert not chromium.find_elements(by().CSS_SELECTOR, "fieldset.block-row")
    assert chromium.execute_script("return document.activeElement.id") == "f-data-parts-add"
    # A list's only row (its empty one) removed: the focus goes to "Add an item".
    chromium.find_element(by().CSS_SELECTOR, "#f-data-tags [data-move='remove']").click()
    assert chromium.execute_script("return document.activeElement.matches('#f-data-tags > [data-list-add]')")
    finish(chromium, {"no block left": finish_audit(chromium)}, "admin-block-removed")
