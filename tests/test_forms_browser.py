"""A form's page in a real browser (Debian's Chromium through selenium, as the admin's browser
tests): a field's pattern on the page stops a value it refuses before it is sent, and the
server still checks the patterns the page leaves to it. Fixtures: tests/fixtures/browser.py."""

from app.db.models import FormSubmission
from app.services import forms
from tests.fixtures.browser import WAIT_SECONDS, navigate, severe_console_errors
from tests.test_pattern_attribute import ACCEPTED, SAMPLES

FIELDS = {
    "zip": {"type": "string", "title": "Postcode", "pattern": r"^\d{5}$", "required": True},
    "slug": {"type": "string", "title": "Slug", "pattern": r"^[a-z-]+$"},  # left to the server
}
COMPILE_AND_TEST = """
const [patterns, samples] = arguments;
return patterns.map((p) => samples.map((s) => [new RegExp("^(?:" + p + ")$", "v").test(s),
                                              new RegExp("^(?:" + p + ")$", "u").test(s)]));
"""


def test_the_browser_holds_back_a_value_its_pattern_refuses(served_admin, chromium):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    wait = WebDriverWait(chromium, WAIT_SECONDS)
    forms.create_form({"name": "contact", "display_name": "Contact", "fields": FIELDS}, turnstile_ready=False)
    chromium.get(served_admin + "/forms/contact")
    zip_box = wait.until(ec.presence_of_element_located((By.ID, "field-zip")))
    zip_box.send_keys("12ab")
    chromium.find_element(By.ID, "field-slug").send_keys("A")
    chromium.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()
    # Constraint validation decided: the form is not sent while the value mismatches.
    assert chromium.execute_script("return document.getElementById('field-zip').validity.patternMismatch")
    assert not chromium.execute_script("return document.querySelector('form').checkValidity()")
    assert chromium.execute_script("return document.getElementById('field-slug').validity.valid")

    zip_box.clear()  # still the page's own box: nothing was sent
    zip_box.send_keys("12345")
    navigate(chromium, wait, chromium.find_element(By.CSS_SELECTOR, "form button[type=submit]"))
    wait.until(ec.presence_of_element_located((By.ID, "slug-error")))  # the server's check, 422
    assert FormSubmission.select().count() == 0
    slug_box = chromium.find_element(By.ID, "field-slug")
    slug_box.clear()
    slug_box.send_keys("a-b")
    navigate(chromium, wait, chromium.find_element(By.CSS_SELECTOR, "form button[type=submit]"))
    wait.until(ec.url_contains("submitted=1"))
    assert [row.data for row in FormSubmission.select()] == [{"zip": "12345", "slug": "a-b"}]

    # Every attribute the checker gives compiles in this browser with both flags, and
    # matches as RE2 searches the pattern.
    from app.services.patterns import compile_pattern

    results = chromium.execute_script(COMPILE_AND_TEST, list(ACCEPTED.values()), SAMPLES)
    expected = [[[compile_pattern(p).search(s) is not None] * 2 for s in SAMPLES] for p in ACCEPTED]
    assert results == expected
    # One 422 in the browser's log: the server's refusal of the slug. The mismatching postcode
    # never left the browser. Nothing else (a CSP violation) went wrong.
    errors = severe_console_errors(chromium)
    assert [entry["source"] for entry in errors] == ["network"] and "422" in errors[0]["message"], errors
