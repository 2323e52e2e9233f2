"""The field builder's type-dependent settings in a real browser (Chromium via selenium): each
row shows the settings that fit its type, and one holding a value stays in sight; the form
editor's rows are added, moved and removed by the same script; leaving the collection editor
asks first only while it holds changes not saved."""

from app.db.models import Form
from tests.fixtures.auth import hashed
from tests.fixtures.browser import critical_violations, navigate
from tests.fixtures.content import create_collection
from tests.fixtures.users import create_user
from tests.test_admin_browser_editing import by, finish, open_page, row_button, sign_in, wait_for
from tests.test_admin_browser_editor_controls import LEAVING_ASKS


def shown_settings(driver, row):
    """The settings of row number ``row`` that are on screen."""
    return {element.get_attribute("data-setting")
            for element in driver.find_elements(by().CSS_SELECTOR, f"#field-{row}-name")[0]
            .find_elements(by().XPATH, "ancestor::fieldset[@data-field-row]//*[@data-setting]")
            if element.is_displayed()}


def test_a_row_shows_the_settings_of_its_type(served_admin, chromium):
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import Select

    sign_in(chromium, served_admin, create_user("admin", password_hash=hashed()))
    create_collection("field-0-notes", {"type": "object", "properties": {"body": {"type": "string"}}})
    open_page(chromium, served_admin + "/admin/collections/new", "New collection")
    assert shown_settings(chromium, 0) == {"minLength", "maxLength", "placeholder"}  # title: text
    kind = Select(chromium.find_element(by().ID, "field-2-type"))
    kind.select_by_value("select")
    assert shown_settings(chromium, 2) == {"enum"}
    kind.select_by_value("reference")
    assert shown_settings(chromium, 2) == {"collection"}
    chromium.find_element(by().ID, "c-name").send_keys("shop")
    own = chromium.find_element(by().CSS_SELECTOR, "#field-2-collection option[value='shop']")
    assert own.text == "shop (this collection)", "the name typed is a target"
    kind.select_by_value("integer")
    assert shown_settings(chromium, 2) == {"min", "max", "placeholder"}
    chromium.find_element(by().ID, "field-2-min").send_keys("3")
    kind.select_by_value("boolean")
    assert shown_settings(chromium, 2) == {"min"}, "a setting holding a value is never hidden"
    chromium.find_element(by().ID, "add-field").click()
    wait_for(chromium).until(ec.presence_of_element_located((by().ID, "field-3-name")))
    assert shown_settings(chromium, 3) == {"minLength", "maxLength", "placeholder"}, "an added row too"
    added = chromium.find_elements(by().CSS_SELECTOR, "#field-3-collection option")
    assert "field-0-notes" in {option.get_attribute("value") for option in added}, "a name is not renumbered"
    finish(chromium, {"collection editor": critical_violations(chromium)}, "admin-field-builder-settings")


def test_the_form_editor_builds_its_fields_with_the_script(served_admin, chromium):
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import Select

    wait = wait_for(chromium)
    sign_in(chromium, served_admin, create_user("editor", password_hash=hashed()))
    open_page(chromium, served_admin + "/admin/forms/new", "New form")
    chromium.find_element(by().ID, "f-name").send_keys("contact")
    chromium.find_element(by().ID, "f-display").send_keys("Contact")
    chromium.find_element(by().ID, "field-0-name").send_keys("email")
    Select(chromium.find_element(by().ID, "field-0-type")).select_by_value("email")
    chromium.find_element(by().ID, "add-field").click()
    wait.until(ec.presence_of_element_located((by().ID, "field-1-name"))).send_keys("topic")
    Select(chromium.find_element(by().ID, "field-1-type")).select_by_value("radio")
    assert shown_settings(chromium, 1) == {"enum"}
    chromium.find_element(by().ID, "field-1-enum").send_keys("sales\nsupport")
    chromium.find_element(by().ID, "add-field").click()
    wait.until(ec.presence_of_element_located((by().ID, "field-2-name"))).send_keys("gone")
    row_button(chromium, "field-2-name", "remove").click()
    row_button(chromium, "field-1-name", "up").click()  # topic before email
    audited = {"form editor": critical_violations(chromium)}
    navigate(chromium, wait, chromium.find_element(by().CSS_SELECTOR, "#form-editor button[type=submit]"))
    wait.until(ec.url_contains("/admin/forms/contact?saved=1"))
    assert Form.get(Form.name == "contact").fields == {"topic": {"type": "radio", "enum": ["sales", "support"]},
                                                       "email": {"type": "email"}}
    finish(chromium, audited, "admin-form-builder")


def test_the_collection_editor_asks_before_typed_fields_are_left(served_admin, chromium):
    """The builder's script, run on load after admin.js, changes no value: an untouched page
    leaves without a prompt; a field name typed asks; a saved page asks nothing."""
    from selenium.webdriver.support import expected_conditions as ec

    wait = wait_for(chromium)
    sign_in(chromium, served_admin, create_user("admin", password_hash=hashed()))
    open_page(chromium, served_admin + "/admin/collections/new", "New collection")
    assert chromium.execute_script(LEAVING_ASKS) is False, "nothing typed yet"
    blank = chromium.find_elements(by().CSS_SELECTOR, "#field-rows input[name$='.name']")[-1]
    blank.send_keys("summary")
    assert chromium.execute_script(LEAVING_ASKS) is True, "the typed field is not saved yet"
    chromium.find_element(by().ID, "c-name").send_keys("notes")
    chromium.find_element(by().ID, "c-display-name").send_keys("Notes")
    navigate(chromium, wait, chromium.find_element(by().ID, "save-collection"))  # sent: no prompt
    wait.until(ec.text_to_be_present_in_element((by().TAG_NAME, "h1"), "Notes"))
    assert chromium.find_element(by().CSS_SELECTOR, "#field-rows input[value='summary']")
    assert chromium.execute_script(LEAVING_ASKS) is False, "saved: nothing to lose"
    finish(chromium, {"saved collection": critical_violations(chromium)}, "admin-collection-unsaved")
