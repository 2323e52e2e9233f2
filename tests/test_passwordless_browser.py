"""A mailed sign-in link's page in a real browser (Debian's Chromium through selenium, as the
admin's browser tests): under its own policy the page shows in its stylesheets with no
console error (a CSP violation included), runs no script, and its button signs in.
Fixtures: tests/fixtures/browser.py."""

import urllib.request

from app.api.passwordless import VERIFY_PATH
from app.services.passwordless import LinkPolicy, SignInLinks
from tests.fixtures.browser import WAIT_SECONDS, navigate, severe_console_errors
from tests.fixtures.users import bearer, create_user, token_for


def test_the_link_page_shows_styled_without_script_and_signs_in(served_admin, chromium):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    wait = WebDriverWait(chromium, WAIT_SECONDS)
    admin = bearer(token_for(create_user("admin")))
    create_user("editor", email="person@example.com")
    activation = urllib.request.Request(served_admin + "/admin/api/plugins/magic-link-auth/activate", data=b"",
                                        headers=admin, method="POST")
    with urllib.request.urlopen(activation) as answer:
        assert answer.status == 200
    mail = SignInLinks(served_admin, VERIFY_PATH).issue("person@example.com", LinkPolicy())

    chromium.get(mail.link)
    button = wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "form button[type=submit]")))
    assert chromium.execute_script("return document.scripts.length") == 0
    # The stylesheets applied: Pico's button, not the browser's own.
    assert chromium.execute_script("return getComputedStyle(arguments[0]).borderTopLeftRadius", button) != "0px"
    assert severe_console_errors(chromium) == []
    navigate(chromium, wait, button)
    wait.until(ec.text_to_be_present_in_element((By.TAG_NAME, "h1"), "Dashboard"))
