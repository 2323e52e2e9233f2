"""The media library's Copy URL button and bulk actions in a real browser (Chromium via
selenium): the button puts the file's absolute URL on the clipboard; the bulk trash asks
first and moves nothing when the question is dismissed; the library, with its URL boxes
and bulk form, fits a phone's 390 px screen."""

from app.db.models import Media
from tests.fixtures.admin import browser_for
from tests.fixtures.auth import hashed
from tests.fixtures.browser import severe_console_errors
from tests.fixtures.media import png
from tests.fixtures.users import bearer, create_user, token_for
from tests.test_admin_browser_editing import by, open_page, sign_in, wait_for
from tests.test_admin_browser_layout import PHONE, ask_and_answer, page_widths, phone  # noqa: F401 (fixture)


def uploaded(env, user, *names):
    """Upload ``names`` (PNGs) as ``user`` through the API; their rows."""
    for name in names:
        browser_for(env).post("/api/media/upload", upload_files=[("file", name, png((32, 24)))],
                              headers=bearer(token_for(user)), status=201)
    return [Media.get(Media.original_name == name) for name in names]


def test_copy_url_puts_the_absolute_url_on_the_clipboard(env, served_admin, chromium):
    editor = create_user("editor", password_hash=hashed())
    (row,) = uploaded(env, editor, "beach.png")
    chromium.execute_cdp_cmd("Browser.grantPermissions", {
        "origin": served_admin, "permissions": ["clipboardReadWrite", "clipboardSanitizedWrite"]})
    sign_in(chromium, served_admin, editor)
    open_page(chromium, served_admin + "/admin/media")
    button = chromium.find_element(by().CSS_SELECTOR, f"button[data-copy-url='url-{row.id}']")
    assert button.is_displayed()
    button.click()
    wait_for(chromium).until(lambda driver: button.text == "Copied")
    copied = chromium.execute_async_script(
        "const done = arguments[arguments.length - 1]; navigator.clipboard.readText().then(done, (e) => done(String(e)));")
    expected = row.public_url if row.public_url.startswith("http") else served_admin + row.public_url
    assert copied == expected
    assert not severe_console_errors(chromium)


def test_the_bulk_trash_asks_first(env, served_admin, chromium):
    editor = create_user("editor", password_hash=hashed())
    a, b = uploaded(env, editor, "a.png", "b.png")
    sign_in(chromium, served_admin, editor)
    open_page(chromium, served_admin + "/admin/media")
    for row in (a, b):
        chromium.find_element(by().CSS_SELECTOR, f"input[name=ids][value='{row.id}']").click()
    from selenium.webdriver.support.ui import Select
    Select(chromium.find_element(by().ID, "bulk-action")).select_by_value("trash")
    assert ask_and_answer(chromium, "media-bulk", accept=False).startswith("Move the ticked files to the trash?")
    assert Media.get_by_id(a.id).deleted_at is None
    ask_and_answer(chromium, "media-bulk", accept=True)
    wait_for(chromium).until(lambda driver: all(Media.get_by_id(r.id).deleted_at for r in (a, b)))


def test_the_library_fits_a_phone(env, served_admin, phone):  # noqa: F811
    editor = create_user("editor", password_hash=hashed())
    uploaded(env, editor, "a-file-with-a-rather-long-name-to-show.png", "b.png")
    sign_in(phone, served_admin, editor)
    for view in ("grid", "list"):
        open_page(phone, f"{served_admin}/admin/media?view={view}")
        assert page_widths(phone) == [PHONE["width"], PHONE["width"]], view
        box = phone.find_element(by().CSS_SELECTOR, ".media-url input")
        button = phone.find_element(by().CSS_SELECTOR, ".media-url button")
        if view == "grid":  # the box and its button side by side, inside the file's cell
            assert abs(box.rect["y"] - button.rect["y"]) < 12 and box.rect["width"] > 40
