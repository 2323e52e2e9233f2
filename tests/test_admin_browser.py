"""The admin in a real browser: Debian's Chromium, driven by selenium through chromium-driver.

The app is served over real HTTP (wsgiref in a thread, on a free loopback port) so the
browser runs the vendored htmx under the real Content-Security-Policy; any console error
(a CSP violation included) fails the test, and so does a critical accessibility violation
that axe-core (vendored in tests/vendor/) finds on the main pages. A screenshot lands in
tests/artifacts/. The fixtures (``served_admin``, ``chromium``) are in tests/fixtures/browser.py.
Without chromium the test is skipped on a developer's machine and fails under CI. A module's
tests share one Chromium: the last test here checks that what one test leaves in it, the next
does not find.
"""

from app.db.models import Content
from tests.fixtures.auth import PASSWORD, hashed
from tests.fixtures.browser import (
    ARTIFACTS,
    WAIT_SECONDS,
    WINDOW_SIZE,
    critical_violations,
    navigate,
    reset_chromium,
)
from tests.fixtures.content import create_collection
from tests.fixtures.users import create_user
from tests.fixtures.workflow import insert_content


def test_sign_in_edit_and_publish_in_chromium(served_admin, chromium):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    wait = WebDriverWait(chromium, WAIT_SECONDS)
    editor = create_user("editor", password_hash=hashed())
    posts = create_collection("posts", {"type": "object", "properties": {
        "title": {"type": "string", "required": True},
        "body": {"type": "richtext"},
        "views": {"type": "number"},
    }}, display_name="Posts")
    item = insert_content(editor, posts, title="First draft")

    chromium.get(served_admin + "/")
    wait.until(ec.url_contains("/admin/login"))
    audited = {"sign-in": critical_violations(chromium)}
    chromium.find_element(By.ID, "email").send_keys(editor.email)
    chromium.find_element(By.ID, "password").send_keys(PASSWORD)
    navigate(chromium, wait, chromium.find_element(By.CSS_SELECTOR, "form[action='/admin/login'] button[type=submit]"))
    wait.until(ec.text_to_be_present_in_element((By.TAG_NAME, "h1"), "Dashboard"))
    audited["dashboard"] = critical_violations(chromium)

    navigate(chromium, wait, chromium.find_element(By.LINK_TEXT, "Content"))
    navigate(chromium, wait, wait.until(ec.element_to_be_clickable((By.LINK_TEXT, "Posts"))))
    search = wait.until(ec.presence_of_element_located((By.ID, "search")))
    search.send_keys("First")  # htmx swaps the results in place
    wait.until(ec.url_contains("search=First"))
    audited["content list"] = critical_violations(chromium)
    navigate(chromium, wait, wait.until(ec.element_to_be_clickable((By.LINK_TEXT, "First draft"))))

    title = wait.until(ec.presence_of_element_located((By.ID, "f-title")))
    title.clear()
    title.send_keys("Published from Chromium")
    body = chromium.find_element(By.ID, "f-data-body")
    body.clear()
    body.send_keys("Written in a real browser.")
    navigate(chromium, wait, chromium.find_element(By.ID, "save"))
    wait.until(ec.url_contains("saved=1"))
    audited["edit form"] = critical_violations(chromium)

    navigate(chromium, wait, chromium.find_element(By.ID, "wf-publish"))
    wait.until(ec.text_to_be_present_in_element((By.ID, "item-status"), "published"))
    ARTIFACTS.mkdir(exist_ok=True)
    chromium.save_screenshot(str(ARTIFACTS / "admin-edit-publish.png"))

    saved = Content.get_by_id(item.id)
    assert saved.status == "published" and saved.title == "Published from Chromium"
    assert saved.data["body"] == "Written in a real browser."
    errors = [entry for entry in chromium.get_log("browser") if entry["level"] == "SEVERE"]
    assert not errors, errors
    assert audited == {page: [] for page in audited}, audited


# Leaving this page asks first, as the content form does while it holds unsaved changes.
ASK_BEFORE_LEAVING = """
addEventListener("beforeunload", (event) => { event.preventDefault(); event.returnValue = ""; });
"""
CLIPBOARD_READ = """
const done = arguments[arguments.length - 1];
navigator.permissions.query({name: "clipboard-read"}).then((status) => done(status.state));
"""


def test_what_a_test_leaves_in_the_shared_chromium_the_next_does_not_find(served_admin, module_chromium):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    driver = module_chromium
    driver.get(served_admin + "/admin/login")
    driver.add_cookie({"name": "left", "value": "behind"})
    driver.execute_script("localStorage.setItem('left', 'behind'); sessionStorage.setItem('left', 'behind');")
    driver.execute_cdp_cmd("Browser.grantPermissions", {
        "origin": served_admin, "permissions": ["clipboardReadWrite", "clipboardSanitizedWrite"]})
    assert driver.execute_async_script(CLIPBOARD_READ) == "granted"
    driver.execute_script("console.error('left behind')")
    driver.set_script_timeout(1)
    driver.execute_script(ASK_BEFORE_LEAVING)
    driver.find_element(By.TAG_NAME, "body").click()  # Chromium asks before leaving only after a gesture
    driver.switch_to.new_window("window")
    driver.get(served_admin + "/admin/login")
    for handle in driver.window_handles:
        driver.switch_to.window(handle)
        driver.set_window_size(400, 600)
    driver.execute_script("setTimeout(() => alert('left open'), 0);")
    WebDriverWait(driver, WAIT_SECONDS).until(ec.alert_is_present())

    reset_chromium(driver)

    assert (driver.window_handles, driver.current_url) == ([driver.current_window_handle], "about:blank")
    assert driver.get_window_size() == dict(zip(("width", "height"), WINDOW_SIZE))
    assert driver.timeouts.script == 30
    assert driver.get_log("browser") == []
    driver.get(served_admin + "/admin/login")
    assert [cookie for cookie in driver.get_cookies() if cookie["name"] == "left"] == []
    assert driver.execute_script("return [localStorage.getItem('left'), sessionStorage.getItem('left')];") == [
        None, None]
    assert driver.execute_async_script(CLIPBOARD_READ) != "granted"
    assert driver.get_log("browser") == []
