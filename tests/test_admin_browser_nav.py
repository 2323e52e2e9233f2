"""The nav's signed-in name in a real browser (Chromium via selenium): on a wide screen the
header stays one row with the name in it; on a phone (390 px) the name folds behind the
Menu button with the other links, and no page widens past the screen, however long the name."""

from tests.fixtures.auth import hashed
from tests.fixtures.users import create_user
from tests.test_admin_browser_editing import by, open_page, sign_in
from tests.test_admin_browser_layout import PHONE, page_widths, phone  # noqa: F401 (the phone fixture)

LONG = "Maximiliana Wolfeschlegelsteinhausenbergerdorff"


def test_on_a_wide_screen_the_name_sits_in_the_one_row_header(served_admin, chromium):
    admin = create_user("admin", password_hash=hashed(), first_name="Ada", last_name=LONG)
    chromium.set_window_size(1366, 900)
    sign_in(chromium, served_admin, admin)
    open_page(chromium, served_admin + "/admin/users")
    name = chromium.find_element(by().CSS_SELECTOR, "nav a.nav-user")
    brand = chromium.find_element(by().CSS_SELECTOR, ".site-header .brand")
    header = chromium.find_element(by().CSS_SELECTOR, ".site-header")
    assert name.is_displayed() and "Ada" in name.text
    assert abs(name.rect["y"] + name.rect["height"] / 2 - (brand.rect["y"] + brand.rect["height"] / 2)) < 8
    rem = chromium.execute_script("return parseFloat(getComputedStyle(document.documentElement).fontSize);")
    assert name.rect["width"] <= 14 * rem + 1  # a long name is cut short, not widening the row
    assert header.rect["height"] < 90
    assert page_widths(chromium)[0] <= page_widths(chromium)[1]


def test_on_a_phone_the_name_folds_with_the_menu(served_admin, phone):  # noqa: F811
    admin = create_user("admin", password_hash=hashed(), first_name="Ada", last_name=LONG)
    sign_in(phone, served_admin, admin)
    open_page(phone, served_admin + "/admin/users")
    name = phone.find_element(by().CSS_SELECTOR, "nav a.nav-user")
    assert not name.is_displayed()
    phone.find_element(by().CSS_SELECTOR, ".nav-toggle").click()
    assert name.is_displayed() and "Ada" in name.text
    assert name.rect["x"] + name.rect["width"] <= PHONE["width"]
    assert page_widths(phone) == [PHONE["width"], PHONE["width"]]
