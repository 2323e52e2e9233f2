"""The admin's layout and page-wide behaviours in a real browser (Chromium via selenium).

Served and driven with the shared browser fixtures (tests/fixtures/browser.py), as the
other browser tests are. Checked:
- a filter bar's labels sit over their controls, its button and status chips are whole;
- Esc closes an open picker and gives the focus back to the button that opened it;
- the logs table scrolls in its own box, each time on one line;
- a users row's role select is wide enough to show its value;
- on a phone (390 px, Chromium's mobile emulation: a headless window cannot be that narrow)
  the pages scroll vertically only, the main navigation folds behind its Menu button and
  an item's workflow panel comes before its form; on a wide screen the header is one row;
- a form marked ``data-confirm`` is sent only once its question is accepted.
"""

import pytest

from app.db.models import Media, SystemLog
from tests.fixtures.admin import browser_for
from tests.fixtures.auth import hashed
from tests.fixtures.browser import severe_console_errors, start_chromium
from tests.fixtures.content import create_collection
from tests.fixtures.media import png
from tests.fixtures.users import bearer, create_user, token_for
from tests.fixtures.workflow import insert_content
from tests.test_admin_browser_editing import by, open_page, sign_in, wait_for

POSTS = {"type": "object", "properties": {
    "title": {"type": "string", "required": True},
    "hero": {"type": "media", "title": "Featured image"},
    "body": {"type": "textarea"},
}}


# Each filter's label, its control's box, and the submit button's corner radii (left, right).
FILTER_GEOMETRY = """
const form = document.querySelector("form.filters");
const box = (element) => { const r = element.getBoundingClientRect(); return [r.left, r.top, r.bottom, r.width]; };
const fields = Array.from(form.querySelectorAll("label"), (label) =>
  [label.htmlFor, box(label), box(document.getElementById(label.htmlFor))]);
const button = getComputedStyle(form.querySelector("button"));
const chips = Array.from(document.querySelectorAll(".chips .chip"), (chip) => chip.getBoundingClientRect().width);
return {fields, radii: [button.borderTopLeftRadius, button.borderTopRightRadius], chips};
"""


def test_filter_labels_sit_over_their_controls_and_buttons_are_whole(served_admin, chromium):
    admin = create_user("admin", password_hash=hashed())
    create_collection("posts", POSTS, display_name="Posts")
    chromium.set_window_size(1366, 900)
    sign_in(chromium, served_admin, admin)
    for path in ("/admin/content/posts", "/admin/users", "/admin/collections"):
        open_page(chromium, served_admin + path)
        shown = chromium.execute_script(FILTER_GEOMETRY)
        for name, (label_left, _, label_bottom, _), (left, top, _, _) in shown["fields"]:
            assert abs(label_left - left) < 2 and 0 <= top - label_bottom < 16, (path, name)
        assert shown["radii"][0] == shown["radii"][1], (path, shown["radii"])
        assert all(width < 150 for width in shown["chips"]), (path, shown["chips"])


def test_esc_closes_an_open_picker_and_focuses_its_button(env, served_admin, chromium):
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support import expected_conditions as ec

    editor = create_user("editor", password_hash=hashed())
    posts = create_collection("posts", POSTS, display_name="Posts")
    item = insert_content(editor, posts, title="Needs a picture")
    browser_for(env).post("/api/media/upload", upload_files=[("file", "hero.png", png((64, 48)))],
                          headers=bearer(token_for(editor)), status=201)
    hero = Media.get(Media.original_name == "hero.png")
    sign_in(chromium, served_admin, editor)
    open_page(chromium, f"{served_admin}/admin/content/posts/{item.id}", "Needs a picture")

    chromium.find_element(by().ID, "f-data-hero-choose").click()
    wait_for(chromium).until(ec.element_to_be_clickable(
        (by().CSS_SELECTOR, f"#f-data-hero-picker [data-pick-value='{hero.id}']")))
    search = chromium.find_element(by().ID, "f-data-hero-picker-search")
    # The search is a row of its own above the choices, not squeezed beside them.
    grid = chromium.find_element(by().CSS_SELECTOR, "#f-data-hero-picker .picker-grid")
    assert grid.rect["y"] >= search.rect["y"] + search.rect["height"]
    assert search.rect["width"] >= grid.rect["width"] - 1
    cell = grid.find_element(by().TAG_NAME, "li")
    assert cell.find_element(by().CSS_SELECTOR, ".picker-choice").rect["width"] >= cell.rect["width"] - 1
    search.send_keys(Keys.ESCAPE)
    wait_for(chromium).until(lambda driver: not driver.find_elements(by().CSS_SELECTOR, "#f-data-hero-picker *"))
    assert chromium.switch_to.active_element.get_attribute("id") == "f-data-hero-choose"
    assert not severe_console_errors(chromium)


def page_widths(driver):
    """The page's scroll width and the layout viewport's width, in CSS pixels."""
    return driver.execute_script("return [document.documentElement.scrollWidth, window.innerWidth];")


def test_the_logs_table_scrolls_in_its_box_and_its_times_stay_on_one_line(served_admin, chromium):
    admin = create_user("admin", password_hash=hashed())
    for _ in range(3):
        SystemLog.create(level="error", category="api", message="failed " + "x" * 300, user=admin,
                         method="GET", url="/api/" + "long-path-" * 30, status_code=500, source="request-logs")
    chromium.set_window_size(1366, 900)
    sign_in(chromium, served_admin, admin)
    open_page(chromium, served_admin + "/admin/logs", "System logs")
    assert page_widths(chromium)[0] <= page_widths(chromium)[1]
    times = chromium.find_elements(by().CSS_SELECTOR, "table.logs .log-link")
    line = chromium.execute_script("return parseFloat(getComputedStyle(arguments[0]).lineHeight);", times[0])
    assert times and all(time.rect["height"] < 1.5 * line for time in times)
    cleanup = chromium.find_element(by().CSS_SELECTOR, "#logs-cleanup button")
    assert cleanup.rect["width"] < chromium.find_element(by().ID, "logs-cleanup").rect["width"]


def test_the_role_select_of_a_users_row_shows_its_value(served_admin, chromium):
    admin = create_user("admin", password_hash=hashed())
    create_user("author")
    sign_in(chromium, served_admin, admin)
    open_page(chromium, served_admin + "/admin/users")
    roles = chromium.find_elements(by().CSS_SELECTOR, "table .row-form select")
    assert roles and all(select.rect["width"] >= 8 * 16 for select in roles)  # "author" beside the arrow


PHONE = {"width": 390, "height": 844, "pixelRatio": 1}


@pytest.fixture
def phone(tmp_path):
    """A headless Chromium emulating a 390 px wide phone screen. A browser of its own, with a
    profile never used: chromium-driver's mobile emulation is set when the browser starts (and
    makes a click a tap), so the ``chromium`` fixture's browser cannot become this one."""
    driver = start_chromium(tmp_path / "phone-profile", mobileEmulation={"deviceMetrics": PHONE})
    yield driver
    driver.quit()


def test_on_a_phone_pages_fit_the_menu_folds_and_the_workflow_comes_first(served_admin, phone):
    admin = create_user("admin", password_hash=hashed())
    for n in range(3):  # each row holds a role form, whose hidden label must stay in its table
        create_user(["author", "editor", "viewer"][n], email=f"someone.with.a.long.address{n}@example.com")
    posts = create_collection("posts", POSTS, display_name="Posts")
    item = insert_content(admin, posts, title="A title long enough to wrap on a phone")
    sign_in(phone, served_admin, admin)

    overflowing = {}
    for path in ("/admin/content/posts", "/admin/users", "/admin/collections", "/admin/logs",
                 f"/admin/content/posts/{item.id}"):
        open_page(phone, served_admin + path)
        if path == "/admin/content/posts":  # a title keeps a readable width, the table scrolls
            assert phone.find_element(by().LINK_TEXT, item.title).rect["width"] >= 10 * 16
        # A phone widens its layout viewport to fit a page too wide, so both must stay 390.
        if page_widths(phone) != [PHONE["width"], PHONE["width"]]:
            overflowing[path] = page_widths(phone)
    assert overflowing == {}, overflowing

    open_page(phone, f"{served_admin}/admin/content/posts/{item.id}")
    # The item's page: its workflow (publish) panel above the long form.
    workflow = phone.find_element(by().ID, "workflow-form")
    assert workflow.rect["y"] < phone.find_element(by().ID, "content-form").rect["y"]

    links = phone.find_element(by().ID, "nav-links")
    menu = phone.find_element(by().CSS_SELECTOR, ".nav-toggle")
    assert menu.is_displayed() and menu.get_attribute("aria-expanded") == "false"
    assert not links.is_displayed()
    menu.click()
    assert menu.get_attribute("aria-expanded") == "true"
    assert phone.find_element(by().LINK_TEXT, "Users").is_displayed()
    menu.click()
    assert not links.is_displayed()
    assert not severe_console_errors(phone)


def test_on_a_wide_screen_the_header_is_one_row_and_the_menu_button_hidden(served_admin, chromium):
    admin = create_user("admin", password_hash=hashed())
    chromium.set_window_size(1366, 900)
    sign_in(chromium, served_admin, admin)
    header = chromium.find_element(by().CSS_SELECTOR, ".site-header")
    sign_out = chromium.find_element(by().CSS_SELECTOR, "form[action='/admin/logout'] button")
    brand = chromium.find_element(by().CSS_SELECTOR, ".site-header .brand")
    assert not chromium.find_element(by().CSS_SELECTOR, ".nav-toggle").is_displayed()
    assert abs(sign_out.rect["y"] + sign_out.rect["height"] / 2 - (brand.rect["y"] + brand.rect["height"] / 2)) < 8
    assert header.rect["height"] < 90
    assert chromium.find_element(by().TAG_NAME, "h1").rect["y"] < header.rect["height"] + 40


def ask_and_answer(driver, form_id, accept):
    """Submit form ``form_id``, wait for its confirmation question, accept or dismiss it,
    and return the question's text."""
    from selenium.webdriver.support import expected_conditions as ec

    driver.execute_script("document.getElementById(arguments[0]).requestSubmit();", form_id)
    alert = wait_for(driver).until(ec.alert_is_present())
    question = alert.text
    if accept:
        alert.accept()
    else:
        alert.dismiss()
    return question


def test_a_form_marked_data_confirm_is_sent_only_once_its_question_is_accepted(served_admin, chromium):
    from selenium.webdriver.support import expected_conditions as ec

    admin = create_user("admin", password_hash=hashed())
    create_collection("posts", POSTS, display_name="Posts")
    sign_in(chromium, served_admin, admin)

    # An htmx form: the content list's filter, whose answer replaces the results in place.
    open_page(chromium, served_admin + "/admin/content/posts", "Posts")
    chromium.execute_script("""
        const form = document.querySelector("form.filters");
        form.id = "asked";
        form.dataset.confirm = "Filter the list?";
        document.getElementById("search").value = "nothing-like-this";""")
    assert ask_and_answer(chromium, "asked", accept=False) == "Filter the list?"
    assert "search=" not in chromium.current_url
    assert ask_and_answer(chromium, "asked", accept=True) == "Filter the list?"
    wait_for(chromium).until(ec.url_contains("search=nothing-like-this"))

    # A plain form: signing out.
    chromium.execute_script("""
        const form = document.querySelector("form[action='/admin/logout']");
        form.id = "sign-out";
        form.dataset.confirm = "Sign out now?";""")
    assert ask_and_answer(chromium, "sign-out", accept=False) == "Sign out now?"
    assert "/admin/content/posts" in chromium.current_url
    assert chromium.find_element(by().ID, "sign-out")  # still signed in, on the same page
    ask_and_answer(chromium, "sign-out", accept=True)
    wait_for(chromium).until(lambda driver: "/admin/content" not in driver.current_url)
    chromium.get(served_admin + "/admin/content/posts")
    wait_for(chromium).until(ec.url_contains("/admin/login"))
    assert not severe_console_errors(chromium)


def test_the_bulk_trash_is_asked_first_and_the_other_actions_are_not(served_admin, chromium):
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import Select

    from app.db.models import Content

    admin = create_user("admin", password_hash=hashed())
    posts = create_collection("posts", POSTS, display_name="Posts")
    item = insert_content(admin, posts, title="Keep me")
    sign_in(chromium, served_admin, admin)
    open_page(chromium, served_admin + "/admin/content/posts", "Posts")

    def tick_and_choose(action):
        box = chromium.find_element(by().CSS_SELECTOR, f"input[name='ids'][value='{item.id}']")
        if not box.is_selected():
            box.click()
        Select(chromium.find_element(by().ID, "bulk-action")).select_by_value(action)

    tick_and_choose("delete")
    assert ask_and_answer(chromium, "bulk-form", accept=False) == "Move the ticked items to the trash?"
    assert Content.get_by_id(item.id).deleted_at is None
    ask_and_answer(chromium, "bulk-form", accept=True)
    wait_for(chromium).until(lambda driver: Content.get_by_id(item.id).deleted_at is not None)

    # An action that destroys nothing is sent without a question.
    item = insert_content(admin, posts, title="Publish me")
    open_page(chromium, served_admin + "/admin/content/posts", "Posts")
    tick_and_choose("publish")
    chromium.execute_script("document.getElementById('bulk-form').requestSubmit();")
    assert not ec.alert_is_present()(chromium)
    wait_for(chromium).until(lambda driver: Content.get_by_id(item.id).status == "published")
