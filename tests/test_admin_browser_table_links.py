"""Which table links keep a readable width, in a real browser (Chromium via selenium): the
content list's titles and the users list's names keep 10rem (their table scrolls sideways on
a phone rather than folding them a word per line); another table's link, such as the forms
list's submissions count, is as wide as its text."""

from tests.fixtures.auth import hashed
from tests.fixtures.content import create_collection
from tests.fixtures.users import create_user
from tests.fixtures.workflow import insert_content
from tests.test_admin_browser_editing import by, open_page, sign_in
from tests.test_admin_browser_layout import POSTS
from tests.test_admin_forms import a_form

ROOT_FONT = "return parseFloat(getComputedStyle(document.documentElement).fontSize);"


def test_only_the_lists_leading_links_keep_a_wide_box(served_admin, chromium):
    admin = create_user("admin", password_hash=hashed(), first_name="Al", last_name="")
    posts = create_collection("posts", POSTS, display_name="Posts")
    item = insert_content(admin, posts, title="Hi")
    form = a_form()
    chromium.set_window_size(1366, 900)
    sign_in(chromium, served_admin, admin)
    rem = chromium.execute_script(ROOT_FONT)

    open_page(chromium, served_admin + "/admin/content/posts")
    assert chromium.find_element(by().LINK_TEXT, item.title).rect["width"] >= 10 * rem - 1
    open_page(chromium, served_admin + "/admin/users")
    name = chromium.find_element(by().CSS_SELECTOR, f"#user-{admin.id} td:first-child > a")
    assert name.rect["width"] >= 10 * rem - 1

    open_page(chromium, served_admin + "/admin/forms")
    count = chromium.find_element(by().CSS_SELECTOR, f"a[href='/admin/forms/{form.name}/submissions']")
    assert count.text == "0" and count.rect["width"] < 3 * rem, count.rect
    title = chromium.find_element(by().CSS_SELECTOR, f"a[href='/admin/forms/{form.name}']")
    assert title.rect["width"] < 10 * rem - 1, "a table outside the two lists keeps its links' own width"
