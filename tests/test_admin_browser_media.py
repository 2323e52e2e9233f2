"""The media library, users, permissions, plugins and logs pages in a real browser.

Chromium (Debian's, through chromium-driver) runs the admin's own upload script under the
real Content-Security-Policy: two images dropped on the drop zone (a ``drop`` event with a
``DataTransfer`` built in the page, as a user's drag from the desktop produces) upload with
a progress bar each and appear in the library; a third file of a type the library refuses
shows its error beside its name. A second scenario invites a user, visits the permissions,
plugins and logs pages, and signs out. Each page is scanned with axe-core (no critical
violation) and each scenario saves screenshots to tests/artifacts/.
"""

import base64

from app.db.models import Media, Plugin, User
from tests.fixtures.auth import PASSWORD, hashed
from tests.fixtures.browser import WAIT_SECONDS, critical_violations, navigate, screenshot, severe_console_errors
from tests.fixtures.media import png, windows_exe
from tests.fixtures.users import create_user

DROP_FILES = """
const [zoneId, files] = arguments;
const transfer = new DataTransfer();
for (const [name, type, data] of files) {
  const bytes = Uint8Array.from(atob(data), (c) => c.charCodeAt(0));
  transfer.items.add(new File([bytes], name, {type}));
}
const zone = document.getElementById(zoneId);
for (const kind of ["dragenter", "dragover", "drop"]) {
  zone.dispatchEvent(new DragEvent(kind, {bubbles: true, cancelable: true, dataTransfer: transfer}));
}
"""


def sign_in(driver, wait, base, user):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec

    driver.get(base + "/admin/login")
    driver.find_element(By.ID, "email").send_keys(user.email)
    driver.find_element(By.ID, "password").send_keys(PASSWORD)
    navigate(driver, wait, driver.find_element(By.CSS_SELECTOR, "form[action='/admin/login'] button[type=submit]"))
    wait.until(ec.text_to_be_present_in_element((By.TAG_NAME, "h1"), "Dashboard"))


def encoded(name, mime, data):
    return [name, mime, base64.b64encode(data).decode()]


def unexpected_console_errors(driver):
    """Console errors except the refused upload's own 415 (the browser logs every 4xx)."""
    return [e for e in severe_console_errors(driver) if not ("/admin/media/upload" in e["message"] and "415" in e["message"])]


def test_drop_two_images_and_see_them_in_the_library(served_admin, chromium):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    wait = WebDriverWait(chromium, WAIT_SECONDS)
    editor = create_user("editor", password_hash=hashed())
    sign_in(chromium, wait, served_admin, editor)
    navigate(chromium, wait, chromium.find_element(By.LINK_TEXT, "Media"))
    wait.until(ec.presence_of_element_located((By.ID, "drop-zone")))
    audited = {"media": critical_violations(chromium)}
    chromium.find_element(By.ID, "upload-folder").send_keys("holidays")

    chromium.execute_script(DROP_FILES, "drop-zone", [
        encoded("beach.png", "image/png", png((64, 48))),
        encoded("hills.png", "image/png", png((48, 64))),
        encoded("tool.exe", "application/octet-stream", windows_exe()),
    ])
    wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#upload-progress li.ok")) == 2)
    wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#upload-progress li.error"))
    bars = chromium.find_elements(By.CSS_SELECTOR, "#upload-progress progress")
    assert [bar.get_attribute("aria-label") for bar in bars] == [
        "Upload of beach.png", "Upload of hills.png", "Upload of tool.exe"]
    statuses = [item.text for item in chromium.find_elements(By.CSS_SELECTOR, "#upload-progress .upload-status")]
    assert statuses == ["uploaded", "uploaded", "This file type is not accepted."]
    assert [bar.get_attribute("value") for bar in bars[:2]] == ["100", "100"]
    # The library below is refreshed in place with the new files.
    wait.until(ec.text_to_be_present_in_element((By.ID, "library"), "hills.png"))
    assert "beach.png" in chromium.find_element(By.ID, "library").text
    assert "holidays (2)" in chromium.find_element(By.CSS_SELECTOR, ".folders").text
    audited["media grid"] = critical_violations(chromium)
    screenshot(chromium, "admin-media-drop-upload")

    rows = Media.select().where(Media.uploaded_by == editor.id).order_by(Media.original_name)
    assert [(row.original_name, row.folder, row.mime_type) for row in rows] == [
        ("beach.png", "holidays", "image/png"), ("hills.png", "holidays", "image/png")]
    chromium.get(served_admin + "/admin/media?view=list&folder=holidays")
    wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "table.media-list")))
    audited["media list"] = critical_violations(chromium)
    navigate(chromium, wait, chromium.find_element(By.LINK_TEXT, "beach.png"))
    wait.until(ec.presence_of_element_located((By.ID, "media-edit")))
    audited["media file"] = critical_violations(chromium)
    assert unexpected_console_errors(chromium) == []
    assert audited == {page: [] for page in audited}, audited


def test_invite_a_user_visit_the_system_pages_and_sign_out(served_admin, chromium, outbox):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import Select, WebDriverWait

    wait = WebDriverWait(chromium, WAIT_SECONDS)
    admin = create_user("admin", password_hash=hashed())
    sign_in(chromium, wait, served_admin, admin)
    navigate(chromium, wait, chromium.find_element(By.LINK_TEXT, "Users"))
    wait.until(ec.text_to_be_present_in_element((By.TAG_NAME, "h1"), "Users"))
    audited = {"users": critical_violations(chromium)}
    chromium.find_element(By.CSS_SELECTOR, "details summary").click()
    wait.until(ec.visibility_of_element_located((By.ID, "inv-email"))).send_keys("new.author@example.com")
    Select(chromium.find_element(By.ID, "inv-role")).select_by_value("author")
    chromium.find_element(By.ID, "inv-first").send_keys("Nora")
    navigate(chromium, wait, chromium.find_element(By.CSS_SELECTOR, "#invite-form button[type=submit]"))
    wait.until(ec.text_to_be_present_in_element((By.CSS_SELECTOR, "p.message.ok"), "Invitation sent."))
    assert "new.author@example.com" in chromium.find_element(By.TAG_NAME, "table").text
    screenshot(chromium, "admin-users-invite")
    invited = User.get(User.email == "new.author@example.com")
    assert (invited.role, invited.is_active) == ("author", False)
    assert [mail.kind for mail in outbox.sent] == ["invitation"]
    audited["users with an invitation"] = critical_violations(chromium)
    navigate(chromium, wait, chromium.find_element(By.CSS_SELECTOR, f"#user-{invited.id} form[action$='/resend'] button"))
    wait.until(ec.text_to_be_present_in_element((By.CSS_SELECTOR, "p.message.ok"), "Invitation sent again."))
    assert [mail.kind for mail in outbox.sent] == ["invitation", "invitation"]
    navigate(chromium, wait, chromium.find_element(By.CSS_SELECTOR, f"a[href='/admin/users/{invited.id}']"))
    wait.until(ec.presence_of_element_located((By.ID, "user-form")))
    audited["user page"] = critical_violations(chromium)
    navigate(chromium, wait, chromium.find_element(By.CSS_SELECTOR, "nav a.nav-user"))
    wait.until(ec.text_to_be_present_in_element((By.TAG_NAME, "h1"), "Your profile"))
    audited["profile"] = critical_violations(chromium)

    for link, heading, name in (("Permissions", "Permissions", "permissions"), ("Plugins", "Plugins", "plugins"),
                                ("Logs", "System logs", "logs")):
        navigate(chromium, wait, chromium.find_element(By.LINK_TEXT, link))
        wait.until(ec.text_to_be_present_in_element((By.TAG_NAME, "h1"), heading))
        audited[name] = critical_violations(chromium)
        screenshot(chromium, f"admin-{name}")
    navigate(chromium, wait, chromium.find_element(By.LINK_TEXT, "Plugins"))
    navigate(chromium, wait, wait.until(ec.element_to_be_clickable((By.LINK_TEXT, "Request Logs"))))
    wait.until(ec.presence_of_element_located((By.ID, "plugin-settings")))
    audited["plugin settings"] = critical_violations(chromium)

    navigate(chromium, wait, chromium.find_element(By.CSS_SELECTOR, "form[action='/admin/logout'] button"))
    wait.until(ec.url_contains("/admin/login"))
    screenshot(chromium, "admin-signed-out")
    chromium.get(served_admin + "/admin/users")
    wait.until(ec.url_contains("/admin/login?next="))
    assert severe_console_errors(chromium) == []
    assert audited == {page: [] for page in audited}, audited


def test_a_refused_upload_says_why_in_its_row(served_admin, chromium):
    """The script's row words the server's answer: a field rule's own message, the limit as
    the page words it (under 0.5 MB, once read "0 MB"), a lost session (once "Forbidden")."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    Plugin.update(settings={"max_upload_bytes": 400_000}).where(Plugin.name == "core-media").execute()
    wait = WebDriverWait(chromium, WAIT_SECONDS)
    sign_in(chromium, wait, served_admin, create_user("editor", password_hash=hashed()))
    chromium.get(served_admin + "/admin/media")
    wait.until(ec.presence_of_element_located((By.ID, "drop-zone")))
    chromium.execute_script(DROP_FILES, "drop-zone", [encoded("e.txt", "text/plain", b""),
                                                      encoded("big.txt", "text/plain", b"x" * 500_000)])
    wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#upload-progress li.error")) == 2)
    statuses = [item.text for item in chromium.find_elements(By.CSS_SELECTOR, "#upload-progress .upload-status")]
    assert statuses == ["the file is empty", "Too large: the limit is 0.4 MB per file."]
    # The session gone: its cookie alone (401), then every cookie (the CSRF check's 403).
    chromium.delete_cookie("auth_token")
    chromium.execute_script(DROP_FILES, "drop-zone", [encoded("a.png", "image/png", png())])
    chromium.delete_all_cookies()
    chromium.execute_script(DROP_FILES, "drop-zone", [encoded("b.png", "image/png", png())])
    wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#upload-progress li.error")) == 4)
    statuses = [item.text for item in chromium.find_elements(By.CSS_SELECTOR, "#upload-progress .upload-status")]
    assert statuses[2:] == ["Your session has ended: sign in again.",
                            "Your session has ended or this page is out of date: reload it, and sign in again if asked."]
