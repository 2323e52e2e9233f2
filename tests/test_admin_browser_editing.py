"""The collections editor and the content form's controls in a real browser (Chromium via selenium).

Served and driven with the shared browser fixtures (tests/fixtures/browser.py): the vendored
htmx and the admin's own scripts run under the real Content-Security-Policy, any console
error fails a test, every page visited is scanned by axe-core for critical violations, and
each test saves a screenshot to tests/artifacts/. One more check: at 360 px wide the main
pages scroll vertically only.
"""

import json
import re

import pytest

from app.db.models import Collection, Content, Media, ScheduledContent, SystemLog
from app.services.media import to_record
from tests.fixtures.admin import browser_for
from tests.fixtures.auth import PASSWORD, hashed
from tests.fixtures.browser import (
    WAIT_SECONDS,
    critical_violations,
    navigate,
    screenshot,
    severe_console_errors,
    start_chromium,
)
from tests.fixtures.content import create_collection
from tests.fixtures.media import png
from tests.fixtures.users import bearer, create_user, token_for
from tests.fixtures.workflow import insert_content

POSTS = {"type": "object", "properties": {
    "title": {"type": "string", "required": True},
    "body": {"type": "richtext", "title": "Body"},
    "hero": {"type": "media", "title": "Featured image"},
    "tags": {"type": "array", "items": {"type": "string"}},
    "sections": {"type": "array", "blocks": {
        "text": {"label": "Text", "properties": {"heading": {"type": "string", "required": True}}},
    }},
}}


def by():
    from selenium.webdriver.common.by import By

    return By


def wait_for(driver):
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, WAIT_SECONDS)


def sign_in(driver, base, user):
    """Sign ``user`` in through the sign-in page and wait for the dashboard."""
    from selenium.webdriver.support import expected_conditions as ec

    wait = wait_for(driver)
    driver.get(base + "/admin/login")
    wait.until(ec.presence_of_element_located((by().ID, "email"))).send_keys(user.email)
    driver.find_element(by().ID, "password").send_keys(PASSWORD)
    navigate(driver, wait, driver.find_element(by().CSS_SELECTOR, "form[action='/admin/login'] button[type=submit]"))
    wait.until(ec.text_to_be_present_in_element((by().TAG_NAME, "h1"), "Dashboard"))


def open_page(driver, url, heading=None):
    """Load ``url`` and wait until its main heading is there."""
    from selenium.webdriver.support import expected_conditions as ec

    driver.get(url)
    located = wait_for(driver).until(ec.presence_of_element_located((by().TAG_NAME, "h1")))
    if heading:
        wait_for(driver).until(ec.text_to_be_present_in_element((by().TAG_NAME, "h1"), heading))
    return located


def finish(driver, audited, name, expected_status=None):
    """Save the screenshot, then fail on console errors or critical accessibility violations.

    Chromium logs a page answered with an error status as a console error: ``expected_status``
    (say ``"409 (Conflict)"``) names the one the test itself brought about.
    """
    screenshot(driver, name)
    errors = [entry for entry in severe_console_errors(driver)
              if not (expected_status and entry["message"].endswith(f"status of {expected_status}"))]
    assert not errors, errors
    assert audited == {page: [] for page in audited}, audited


def row_button(driver, field_input_id, move):
    """The builder's ``move`` button (up, down, remove) in the row of input ``field_input_id``."""
    return driver.find_element(
        by().XPATH, f"//input[@id='{field_input_id}']/ancestor::fieldset[@data-field-row]//button[@data-move='{move}']")


def test_create_a_collection_with_the_field_builder(served_admin, chromium):
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import Select

    wait = wait_for(chromium)
    sign_in(chromium, served_admin, create_user("admin", password_hash=hashed()))
    navigate(chromium, wait, chromium.find_element(by().LINK_TEXT, "Collections"))
    audited = {"collections": critical_violations(chromium)}
    navigate(chromium, wait, wait.until(ec.element_to_be_clickable((by().ID, "new-collection"))))
    wait.until(ec.presence_of_element_located((by().ID, "c-name"))).send_keys("events")
    chromium.find_element(by().ID, "c-display-name").send_keys("Events")
    row_button(chromium, "field-1-name", "remove").click()  # the default "content" field
    chromium.find_element(by().ID, "field-2-name").send_keys("starts")
    Select(chromium.find_element(by().ID, "field-2-type")).select_by_value("date")
    chromium.find_element(by().ID, "add-field").click()
    wait.until(ec.presence_of_element_located((by().ID, "field-3-name"))).send_keys("seats")
    Select(chromium.find_element(by().ID, "field-3-type")).select_by_value("number")
    chromium.find_element(by().ID, "field-3-title").send_keys("Seats")
    row_button(chromium, "field-3-name", "up").click()  # seats before starts
    audited["collection editor"] = critical_violations(chromium)
    navigate(chromium, wait, chromium.find_element(by().ID, "save-collection"))
    wait.until(ec.url_contains("/admin/collections/events?done=created"))
    audited["collection saved"] = critical_violations(chromium)

    stored = Collection.get(Collection.name == "events")
    assert list(stored.schema["properties"]) == ["title", "seats", "starts"]
    assert {config["type"] for config in stored.schema["properties"].values()} == {"string", "number", "date"}
    finish(chromium, audited, "admin-collection-builder")


def test_a_failed_htmx_request_is_said_on_the_page(served_admin, chromium):
    from selenium.webdriver.support import expected_conditions as ec

    editor = create_user("editor", password_hash=hashed())
    create_collection("posts", POSTS, display_name="Posts")
    sign_in(chromium, served_admin, editor)
    open_page(chromium, served_admin + "/admin/content/posts/new", "New item")
    # Over the preview's bound: the server answers 413, which htmx does not swap in.
    chromium.execute_script("document.getElementById('f-data-body').value = 'x'.repeat(200001)")
    chromium.find_element(by().ID, "f-data-body-preview-button").click()
    region = wait_for(chromium).until(ec.visibility_of_element_located((by().ID, "request-error")))
    assert region.text == "That is too large to send."


# A form posting to ``path`` through htmx (its target the logs table's body), added to the
# page as a page of the admin would hold it: the body's hx-headers send the CSRF token.
ADD_HTMX_FORM = """
const [id, verb, path, values] = arguments;
const form = document.createElement("form");
form.id = id;
form.setAttribute(`hx-${verb}`, path);
form.setAttribute("hx-target", "table.logs tbody");
for (const [name, value] of Object.entries(values)) {
  const input = document.createElement("input");
  input.type = "hidden";
  input.name = name;
  input.value = value;
  form.append(input);
}
const button = document.createElement("button");
button.type = "submit";
button.id = `${id}-send`;
button.textContent = "Send";
form.append(button);
document.querySelector("main").append(form);
htmx.process(form);
"""
LEVELS_ALLOWED = "level must be one of debug, info, warn, error, fatal (comma-separated)"


# htmx's htmx:responseError for an answer of ``status``, ``Content-Type`` and body, dispatched
# as htmx does it; the alert region's text, its child elements, whether it is hidden, and
# whether any markup of the answer ran.
REPORT_FAILURE = """
const [status, type, responseText] = arguments;
const region = document.getElementById("request-error");
region.textContent = "";
region.hidden = true;
const xhr = {status, responseText, getResponseHeader: (name) => (name.toLowerCase() === "content-type" ? type : null)};
document.body.dispatchEvent(new CustomEvent("htmx:responseError", {bubbles: true, detail: {xhr}}));
return [region.textContent, region.childElementCount, region.hidden, typeof window.pwned];
"""
HTML, JSON = "text/html; charset=utf-8", "application/json"
MARKUP = '<img src=x onerror="window.pwned=1">'
PAGE_OF = "<!-- x --><!doctype html><html><head><title>Bad</title></head><body><main>{}</main></body></html>"
GENERIC_400 = "The server could not do that (HTTP 400). Try again, or reload the page."
ODD_ANSWERS = [
    # Markup in the server's words is shown as those characters, never as an element.
    (400, JSON, json.dumps({"error": MARKUP}), MARKUP),
    (400, HTML, '<tr><td role="alert">Bad &lt;img src=x onerror="window.pwned=1"&gt;</td></tr>', f"Bad {MARKUP}"),
    # Markup inside the alert: its text only, no script or style source.
    (400, HTML, f'<div role="alert">Bad {MARKUP} value<script>window.pwned=1</script><style>b{{x:y}}</style></div>',
     "Bad value"),
    # No role="alert": the status's message, not the fragment's script and style source.
    (400, HTML, '<style>body{display:none}</style><script>var secret="abc"</script>plain', GENERIC_400),
    # A whole page, a comment before its doctype or with no doctype at all.
    (400, HTML, PAGE_OF.format('<p role="alert">The page&#39;s words</p>'), GENERIC_400),
    (400, HTML, '<!-- x --><title>Bad</title><main><p role="alert">The page&#39;s words</p></main>', GENERIC_400),
    # A refusal or a limit says what to do, unless the app rendered an alert for it.
    (403, JSON, '{"error": "Forbidden"}', "Your role does not allow this, or the page is stale: reload it and try again."),
    (429, JSON, '{"error": "Too many requests"}', "Too many requests: wait a moment and try again."),
    (403, HTML, '<p role="alert">Only admins may clean the logs.</p>', "Only admins may clean the logs."),
]


def said_after(driver, button_id):
    """The alert region's text once a click on ``button_id`` has failed, and the region's child elements."""
    from selenium.webdriver.support import expected_conditions as ec

    driver.find_element(by().ID, button_id).click()
    region = wait_for(driver).until(ec.visibility_of_element_located((by().ID, "request-error")))
    return region.text, region.find_elements(by().XPATH, "./*")


def test_a_failed_htmx_request_says_the_servers_own_message(served_admin, chromium):
    SystemLog.create(level="info", category="system", message="left as it was", created_at=1_741_564_800_000)
    sign_in(chromium, served_admin, create_user("editor", password_hash=hashed()))
    open_page(chromium, served_admin + "/admin/logs", "System logs")
    table = chromium.find_element(by().CSS_SELECTOR, "table.logs tbody").get_attribute("innerHTML")
    # The search's 400 is a table row naming each filter: its text is said, as text.
    chromium.execute_script(ADD_HTMX_FORM, "search", "post", "/admin/logs/search",
                            {"level": "loud", "start_date": "2025-03-11", "end_date": "2025-03-10"})
    assert said_after(chromium, "search-send") == (
        f"Not understood, so nothing was searched: {LEVELS_ALLOWED}; start_date must not be after end_date; "
        "end_date must not be before start_date", [])
    assert chromium.find_element(by().CSS_SELECTOR, "table.logs tbody").get_attribute("innerHTML") == table
    # A JSON route's refusal: the envelope's error and its details.
    chromium.execute_script(ADD_HTMX_FORM, "api", "get", "/admin/api/logs", {"level": "loud"})
    assert said_after(chromium, "api-send") == (f"Invalid query parameters: {LEVELS_ALLOWED}", [])
    # Answers of other shapes, as htmx reports them: said as text only, or the status's message.
    reported = [chromium.execute_script(REPORT_FAILURE, status, content_type, body)
                for status, content_type, body, _ in ODD_ANSWERS]
    assert reported == [[said, 0, False, "undefined"] for *_, said in ODD_ANSWERS]
    assert chromium.execute_script("return typeof window.pwned") == "undefined"  # once any load could have run
    screenshot(chromium, "admin-htmx-server-message")
    # The browser and htmx each log the two 400s, and the page's policy may refuse to compile
    # the one onerror handler a fragment's alert held (admin.js's detached parse made its
    # element, which nothing inserts: whether Chromium reports that depends on its version);
    # nothing else (no other CSP violation, no script error).
    errors = [entry["message"] for entry in severe_console_errors(chromium)]
    others = [message for message in errors if not re.search(r"status of 400|Error Code 400 from", message)]
    refused_handlers = [message for message in others if "admin.js" in message and "inline event handler" in message]
    assert len(refused_handlers) <= 1 and others == refused_handlers, others


def test_create_edit_publish_and_schedule_with_the_rich_controls(served_admin, chromium):
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import Select

    wait = wait_for(chromium)
    editor = create_user("editor", password_hash=hashed())
    create_collection("posts", POSTS, display_name="Posts")
    sign_in(chromium, served_admin, editor)
    open_page(chromium, served_admin + "/admin/content/posts/new", "New item")
    chromium.find_element(by().ID, "f-title").send_keys("Launch day")
    body = chromium.find_element(by().ID, "f-data-body")
    body.send_keys("We launch. ")
    chromium.find_element(by().CSS_SELECTOR, "[data-md='bold'][data-md-for='f-data-body']").click()
    chromium.find_element(by().ID, "f-data-body-preview-button").click()
    wait.until(ec.presence_of_element_located((by().CSS_SELECTOR, "#f-data-body-preview strong")))
    # The list's only row removed, "Add an item" still adds one.
    chromium.find_element(by().CSS_SELECTOR, "#f-data-tags [data-repeat-row] [data-move='remove']").click()
    chromium.find_element(by().CSS_SELECTOR, "#f-data-tags [data-list-add]").click()
    chromium.switch_to.active_element.send_keys("launch")
    chromium.find_element(by().CSS_SELECTOR, "#f-data-tags [data-list-add]").click()
    chromium.switch_to.active_element.send_keys("news")
    Select(chromium.find_element(by().ID, "f-data-sections-add")).select_by_value("text")
    chromium.find_element(by().CSS_SELECTOR, "[data-block-add='f-data-sections']").click()
    wait.until(ec.presence_of_element_located((by().NAME, "data.sections.0.heading"))).send_keys("Intro")
    audited = {"new item": critical_violations(chromium)}
    navigate(chromium, wait, chromium.find_element(by().ID, "save"))
    wait.until(ec.presence_of_element_located((by().ID, "item-status")))

    item = Content.get(Content.title == "Launch day")
    assert item.data["body"] == "We launch. **bold text**"
    assert item.data["tags"] == ["launch", "news"]
    assert item.data["sections"] == [{"blockType": "text", "heading": "Intro"}]

    title = chromium.find_element(by().ID, "f-title")
    title.clear()
    title.send_keys("Launch day, edited")
    navigate(chromium, wait, chromium.find_element(by().ID, "save"))
    wait.until(ec.url_contains("saved=1"))
    audited["edit form"] = critical_violations(chromium)
    navigate(chromium, wait, chromium.find_element(by().ID, "wf-publish"))
    wait.until(ec.text_to_be_present_in_element((by().ID, "item-status"), "published"))

    Select(chromium.find_element(by().ID, "sc-action")).select_by_value("unpublish")
    when = chromium.find_element(by().ID, "sc-when")
    chromium.execute_script("arguments[0].value = '2030-01-31T09:00';", when)
    navigate(chromium, wait, chromium.find_element(by().CSS_SELECTOR, "#schedule-form button[type=submit]"))
    wait.until(ec.url_contains("moved=scheduled"))
    audited["scheduled"] = critical_violations(chromium)

    item = Content.get_by_id(item.id)
    assert item.title == "Launch day, edited" and item.status == "published"
    assert [row.action for row in ScheduledContent.select().where(ScheduledContent.content == item.id)] == ["unpublish"]
    finish(chromium, audited, "admin-create-edit-publish-schedule")


def second_chromium(tmp_path):
    """Another headless Chromium with a profile of its own: a second person's browser, whose
    cookies (its session) the ``chromium`` fixture's browser must not share."""
    return start_chromium(tmp_path / "second-profile")


def test_a_conflicting_edit_from_a_second_session_shows_the_conflict(served_admin, chromium, tmp_path):
    from selenium.webdriver.support import expected_conditions as ec

    editor = create_user("editor", password_hash=hashed())
    admin = create_user("admin", password_hash=hashed())
    posts = create_collection("posts", POSTS, display_name="Posts")
    item = insert_content(editor, posts, title="Shared draft")
    other = second_chromium(tmp_path)
    try:
        sign_in(chromium, served_admin, editor)
        sign_in(other, served_admin, admin)
        url = f"{served_admin}/admin/content/posts/{item.id}"
        open_page(chromium, url, "Shared draft")
        open_page(other, url, "Shared draft")

        title = other.find_element(by().ID, "f-title")
        title.clear()
        title.send_keys("The admin's title")
        navigate(other, wait_for(other), other.find_element(by().ID, "save"))
        wait_for(other).until(ec.url_contains("saved=1"))

        title = chromium.find_element(by().ID, "f-title")
        title.clear()
        title.send_keys("The editor's title")
        navigate(chromium, wait_for(chromium), chromium.find_element(by().ID, "save"))
        message = wait_for(chromium).until(ec.presence_of_element_located((by().CSS_SELECTOR, ".message.error")))
        assert "Someone changed this item after you opened it" in message.text
        audited = {"conflict": critical_violations(chromium)}
        assert Content.get_by_id(item.id).title == "The admin's title"
        assert not [entry for entry in other.get_log("browser") if entry["level"] == "SEVERE"]
    finally:
        other.quit()
    finish(chromium, audited, "admin-edit-conflict", expected_status="409 (Conflict)")


def test_pick_an_uploaded_image_as_the_featured_image(env, served_admin, chromium):
    from selenium.webdriver.support import expected_conditions as ec

    wait = wait_for(chromium)
    editor = create_user("editor", password_hash=hashed())
    posts = create_collection("posts", POSTS, display_name="Posts")
    item = insert_content(editor, posts, title="Needs a picture")
    api = browser_for(env)
    for name in ("hero.png", "other.png"):
        api.post("/api/media/upload", upload_files=[("file", name, png((320, 200)))],
                 headers=bearer(token_for(editor)), status=201)
    hero = Media.get(Media.original_name == "hero.png")

    sign_in(chromium, served_admin, editor)
    open_page(chromium, f"{served_admin}/admin/content/posts/{item.id}", "Needs a picture")
    chromium.find_element(by().ID, "f-data-hero-choose").click()
    choice = wait.until(ec.element_to_be_clickable(
        (by().CSS_SELECTOR, f"#f-data-hero-picker [data-pick-value='{hero.id}']")))
    wait.until(lambda driver: all(img.get_property("complete") for img in driver.find_elements(
        by().CSS_SELECTOR, "#f-data-hero-picker img")))
    audited = {"media picker": critical_violations(chromium)}
    choice.click()
    assert chromium.find_element(by().ID, "f-data-hero").get_property("value") == hero.id
    assert chromium.find_element(by().CSS_SELECTOR, "#f-data-hero-picked img")
    navigate(chromium, wait, chromium.find_element(by().ID, "save"))
    wait.until(ec.url_contains("saved=1"))
    picked = wait.until(ec.presence_of_element_located((by().CSS_SELECTOR, "#f-data-hero-picked img")))
    assert picked.get_attribute("src").endswith(to_record(hero)["thumbnailUrl"] or hero.public_url)
    audited["saved with picture"] = critical_violations(chromium)
    assert Content.get_by_id(item.id).data["hero"] == hero.id
    finish(chromium, audited, "admin-media-picker")


@pytest.mark.parametrize("width", [360, 1280])
def test_main_pages_scroll_vertically_only(served_admin, chromium, width):
    admin = create_user("admin", password_hash=hashed())
    posts = create_collection("posts", POSTS, display_name="Posts")
    item = insert_content(admin, posts, title="A rather long title that has to wrap on a phone screen")
    chromium.set_window_size(width, 800)
    sign_in(chromium, served_admin, admin)
    overflowing = {}
    for path in ("/admin", "/admin/content", "/admin/content/posts", f"/admin/content/posts/{item.id}",
                 "/admin/content/posts/new", "/admin/collections", "/admin/collections/posts", "/admin/media",
                 "/admin/users", "/admin/users/new", f"/admin/users/{admin.id}", "/admin/account",
                 "/admin/account/tokens"):
        open_page(chromium, served_admin + path)
        widths = chromium.execute_script(
            "return [document.documentElement.scrollWidth, window.innerWidth];")
        if widths[0] > widths[1]:
            overflowing[path] = widths
    finish(chromium, {}, f"admin-width-{width}")
    assert overflowing == {}, overflowing


def test_select_all_and_a_bulk_action_in_chromium(served_admin, chromium):
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import Select

    editor = create_user("editor", password_hash=hashed())
    posts = create_collection("posts", POSTS, display_name="Posts")
    items = [insert_content(editor, posts, title=f"Bulk {n}") for n in range(3)]
    sign_in(chromium, served_admin, editor)
    open_page(chromium, served_admin + "/admin/content/posts", "Posts")
    audited = {"content list with bulk actions": critical_violations(chromium)}
    chromium.find_element(by().ID, "select-all").click()
    boxes = chromium.find_elements(by().CSS_SELECTOR, "input[name='ids']")
    assert len(boxes) == 3 and all(box.is_selected() for box in boxes)
    Select(chromium.find_element(by().ID, "bulk-action")).select_by_visible_text("Move to trash")
    chromium.find_element(by().ID, "bulk-apply").click()
    question = wait_for(chromium).until(ec.alert_is_present())  # the trash asks first
    assert question.text == "Move the ticked items to the trash?"
    question.accept()
    wait_for(chromium).until(ec.text_to_be_present_in_element((by().ID, "bulk-done"), "3 items moved to the trash."))
    assert all(Content.get_by_id(item.id).deleted_at is not None for item in items)
    finish(chromium, audited, "admin-bulk-trash")
