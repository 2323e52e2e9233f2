"""The admin in a real browser: Debian's Chromium, driven by selenium through chromium-driver.

The app is served over real HTTP (wsgiref in a thread, on a free loopback port) so the
browser runs the vendored htmx under the real Content-Security-Policy; any console error
(a CSP violation included) fails the test, and so does a critical accessibility violation
that axe-core (vendored in tests/vendor/) finds on the main pages. A screenshot lands in
tests/artifacts/.
Without chromium the test is skipped on a developer's machine and fails under CI.
"""

import threading
from pathlib import Path
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import pytest

from app.db.models import Content, bind_models
from app.runtime.entry import Worker
from tests.fixtures.app import app_for
from tests.fixtures.auth import FAST_SCRYPT, PASSWORD, hashed
from tests.fixtures.content import create_collection
from tests.fixtures.process import free_port, require_binary
from tests.fixtures.users import create_user
from tests.fixtures.workflow import insert_content

ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
AXE = Path(__file__).resolve().parent / "vendor" / "axe-core-4.10.2" / "axe.min.js"
RUN_AXE = """
const done = arguments[arguments.length - 1];
axe.run(document, {resultTypes: ["violations"]}).then(
  (result) => done(result.violations.map((v) => ({id: v.id, impact: v.impact, nodes: v.nodes.length}))),
  (error) => done([{id: "axe-error", impact: "critical", nodes: String(error)}]));
"""
CHROMIUM_FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--window-size=1280,1000",
)
WAIT_SECONDS = 20  # an upper bound for a page to appear, never a timing assertion


class QuietHandler(WSGIRequestHandler):
    def log_message(self, format, *args):
        pass


@pytest.fixture
def served_admin(env):
    """``(base URL, env)`` of the env fixture's app served over HTTP on a free loopback port."""
    bind_models(env.DB.db)
    worker = Worker(lambda: env, lambda e: app_for(e, None, **FAST_SCRYPT))
    server = make_server("127.0.0.1", free_port(), worker, server_class=WSGIServer, handler_class=QuietHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()
    thread.join()


@pytest.fixture
def chromium(tmp_path):
    """A headless Chromium with a fresh profile, driven through chromium-driver."""
    binary = require_binary("chromium")
    driver_path = require_binary("chromedriver")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for flag in (*CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'profile'}"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(driver_path), options=options)
    yield driver
    driver.quit()


def critical_violations(driver):
    """axe-core's critical accessibility violations on the current page (injected through
    WebDriver, which the page's CSP does not govern)."""
    driver.execute_script(AXE.read_text())
    driver.set_script_timeout(WAIT_SECONDS)
    return [v for v in driver.execute_async_script(RUN_AXE) if v["impact"] == "critical"]


def navigate(driver, wait, element):
    """Click ``element`` and wait until the browser has left the page it was on.

    Without this, a wait that follows may find an element of the old page just as the new
    one replaces it. The check itself can land mid-swap, when Chromium answers "Node with
    given id does not belong to the document" for the old page's element: that answer
    means "not yet decided", so the wait asks again.
    """
    from selenium.common.exceptions import StaleElementReferenceException, WebDriverException
    from selenium.webdriver.common.by import By

    old_page = driver.find_element(By.TAG_NAME, "html")
    element.click()

    def left_old_page(_driver):
        try:
            old_page.is_enabled()
        except StaleElementReferenceException:
            return True
        except WebDriverException:
            return False
        return False

    wait.until(left_old_page)


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
