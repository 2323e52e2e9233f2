"""A content list's filter the server refuses after the page has loaded, in a real browser:
htmx swaps the refusal's list region in (the list as the server could draw it and the line
saying why, as loading the URL shows it), the page's alert region says the same line, and
a valid filter that follows brings the filtered rows back without the line. The fixtures
(``served_admin``, ``chromium``) are in tests/fixtures/browser.py."""

import re

from app.db.models import Collection
from tests.fixtures.auth import PASSWORD, hashed
from tests.fixtures.browser import WAIT_SECONDS, navigate, screenshot, severe_console_errors
from tests.fixtures.content import create_collection
from tests.fixtures.users import create_user
from tests.fixtures.workflow import insert_content

REFUSED = "That status filter is unknown, so the list is not filtered by status."
GONE = "That collection is unknown, so the list shows every collection."
NOT_ACTIVE = "No active collection has this name: it may have been deactivated or deleted"
# The list region's titles, its refusal line ("" without one), and the page's alert region
# (its text, or None while hidden), read in one go so no swap lands between them.
READ_LIST = """
const results = document.getElementById("results");
const line = results.querySelector("[role=alert]");
const region = document.getElementById("request-error");
return [Array.from(results.querySelectorAll("td.col-title a"), (link) => link.textContent).sort(),
        line ? line.textContent : "", region.hidden ? null : region.textContent];
"""
# A status the server does not know, offered by the page's own select: what a page edited by
# hand, or one drawn by a newer version of the admin, would send.
OFFER_UNKNOWN_STATUS = """
const option = document.createElement("option");
option.value = "bogus";
option.textContent = "Bogus";
document.getElementById("status").append(option);
"""


def sign_in(driver, wait, base, user):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec

    driver.get(base + "/admin/login")
    wait.until(ec.presence_of_element_located((By.ID, "email"))).send_keys(user.email)
    driver.find_element(By.ID, "password").send_keys(PASSWORD)
    navigate(driver, wait, driver.find_element(By.CSS_SELECTOR, "form[action='/admin/login'] button[type=submit]"))
    wait.until(ec.text_to_be_present_in_element((By.TAG_NAME, "h1"), "Dashboard"))


def pick_status(driver, wait, value):
    """Pick ``value`` in the list's status select (htmx asks for the list) and wait for its URL."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import Select

    Select(driver.find_element(By.ID, "status")).select_by_value(value)
    wait.until(ec.url_contains(f"status={value}"))


def list_when(wait, ready):
    """Wait until ``ready(titles, line, said)`` holds for the list (``READ_LIST``), and return what it read."""
    seen = []

    def holds(driver):
        seen[:] = [driver.execute_script(READ_LIST)]
        return ready(*seen[0])

    try:
        wait.until(holds)
    except Exception as ex:  # the timeout says what the list read instead
        raise AssertionError(f"the list read {seen}") from ex
    return seen[0]


def reads(expected):
    return lambda *read: list(read) == expected


def test_a_refused_filter_shows_its_refusal_in_the_list_and_a_valid_one_restores_rows(served_admin, chromium):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    wait = WebDriverWait(chromium, WAIT_SECONDS)
    editor = create_user("editor", password_hash=hashed())
    posts = create_collection("posts", {"type": "object", "properties": {
        "title": {"type": "string", "required": True}}}, display_name="Posts")
    insert_content(editor, posts, "draft", title="Drafted")
    insert_content(editor, posts, "published", title="Out")
    sign_in(chromium, wait, served_admin, editor)
    chromium.get(served_admin + "/admin/content/posts")
    wait.until(ec.text_to_be_present_in_element((By.TAG_NAME, "h1"), "Posts"))

    pick_status(chromium, wait, "published")
    list_when(wait, reads([["Out"], "", None]))
    chromium.execute_script(OFFER_UNKNOWN_STATUS)
    pick_status(chromium, wait, "bogus")
    # The 400's list is in place: unfiltered by the status refused, with the line saying
    # so, which the alert region says too.
    titles, line, said = list_when(wait, lambda titles, line, said: line.startswith(REFUSED) and said is not None)
    assert titles == ["Drafted", "Out"] and said == line
    assert chromium.find_element(By.ID, "request-error").get_attribute("role") == "alert"
    screenshot(chromium, "admin-list-refusal")

    pick_status(chromium, wait, "draft")
    list_when(wait, reads([["Drafted"], "", None]))
    # The browser and htmx each log the 400; nothing else (no CSP violation, no script error).
    errors = [entry["message"] for entry in severe_console_errors(chromium)]
    assert errors and not [message for message in errors if not re.search(r"status of 400|Error Code 400 from", message)]


def test_a_collection_deactivated_since_the_page_loaded_shows_every_collections_items_and_is_no_choice(
        served_admin, chromium):
    """The content index's 404 for it is swapped in as a refusal is, and the collections it
    offers are redrawn from it: the select says what the list shows."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import Select, WebDriverWait

    wait = WebDriverWait(chromium, WAIT_SECONDS)
    editor = create_user("editor", password_hash=hashed())
    posts = create_collection("posts", {"type": "object", "properties": {"title": {"type": "string"}}})
    archive = create_collection("archive", {"type": "object", "properties": {"title": {"type": "string"}}})
    insert_content(editor, posts, "draft", title="Live")
    insert_content(editor, archive, "draft", title="Withdrawn")
    sign_in(chromium, wait, served_admin, editor)
    chromium.get(served_admin + "/admin/content")
    wait.until(ec.text_to_be_present_in_element((By.TAG_NAME, "h1"), "Content"))
    Collection.update(is_active=False).where(Collection.id == archive.id).execute()

    Select(chromium.find_element(By.ID, "collection")).select_by_value("archive")
    titles, line, said = list_when(wait, lambda titles, line, said: line.startswith(GONE) and said is not None)
    assert titles == ["Live"] and said == line
    choices = Select(chromium.find_element(By.ID, "collection"))
    assert [option.get_attribute("value") for option in choices.options] == ["", "posts"]
    assert choices.first_selected_option.get_attribute("value") == ""
    assert "Archive" not in chromium.find_element(By.ID, "collection-links").text


def test_a_collections_list_deactivated_since_the_page_loaded_says_so_in_place_of_its_rows(served_admin, chromium):
    """The collection's list answers 404 with a region holding no rows, only the line saying
    the collection is not active and a link to All content: htmx swaps it in, and the link
    leads there."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    wait = WebDriverWait(chromium, WAIT_SECONDS)
    editor = create_user("editor", password_hash=hashed())
    posts = create_collection("posts", {"type": "object", "properties": {"title": {"type": "string"}}},
                              display_name="Posts")
    insert_content(editor, posts, "draft", title="Drafted")
    sign_in(chromium, wait, served_admin, editor)
    chromium.get(served_admin + "/admin/content/posts")
    wait.until(ec.text_to_be_present_in_element((By.TAG_NAME, "h1"), "Posts"))
    list_when(wait, reads([["Drafted"], "", None]))
    Collection.update(is_active=False).where(Collection.id == posts.id).execute()

    pick_status(chromium, wait, "draft")
    titles, line, said = list_when(wait, lambda titles, line, said: line.startswith(NOT_ACTIVE) and said is not None)
    assert titles == [] and said == line
    link = chromium.find_element(By.CSS_SELECTOR, "#results [role=alert] a")
    assert link.text == "All content"
    navigate(chromium, wait, link)
    wait.until(ec.text_to_be_present_in_element((By.TAG_NAME, "h1"), "Content"))


def test_a_lost_session_while_filtering_goes_to_sign_in_not_into_the_list(served_admin, chromium):
    """A 401 is no filter refusal: the server's HX-Redirect takes the page to sign in, as before."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import Select, WebDriverWait

    wait = WebDriverWait(chromium, WAIT_SECONDS)
    editor = create_user("editor", password_hash=hashed())
    create_collection("posts", {"type": "object", "properties": {"title": {"type": "string"}}}, display_name="Posts")
    sign_in(chromium, wait, served_admin, editor)
    chromium.get(served_admin + "/admin/content/posts")
    wait.until(ec.text_to_be_present_in_element((By.TAG_NAME, "h1"), "Posts"))
    chromium.delete_all_cookies()
    chromium.execute_script(OFFER_UNKNOWN_STATUS)
    Select(chromium.find_element(By.ID, "status")).select_by_value("bogus")
    wait.until(ec.url_contains("/admin/login?next="))
    wait.until(ec.presence_of_element_located((By.ID, "email")))
