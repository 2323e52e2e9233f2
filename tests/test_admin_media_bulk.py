"""The media library's bulk actions (trash, move to a folder, all or nothing) and each
file's URL with its Copy button, through the real app on each backend (SQLite with the
folder bucket, PostgreSQL with S3)."""

import pytest

from app.db.models import Media, now_ms
from app.services.media import MediaConflict, library_queries
from tests.fixtures.admin import csrf_token
from tests.fixtures.users import create_user
from tests.test_admin_media import media_row

pytestmark = pytest.mark.backends


def bulk(browser, action, ids, status=None, query="", **fields):
    """Post the library's bulk form as a browser does (the listing's query in the URL)."""
    params = [("csrf_token", csrf_token(browser)), ("action", action), *(("ids", i) for i in ids), *fields.items()]
    return browser.post("/admin/media/bulk" + (f"?{query}" if query else ""), params=params, status=status)


def state(*rows):
    """``(folder, deleted or not, key)`` of each row as stored now."""
    return [(row.folder, row.deleted_at is not None, row.r2_key)
            for row in (Media.get_by_id(r.id) for r in rows)]


def test_each_file_shows_its_url_and_a_copy_button(browser, signed_in_as):
    editor = signed_in_as("editor")
    row = media_row(editor, "a.png", "image/png")
    for view in ("grid", "list"):
        page = browser.get(f"/admin/media?view={view}")
        box = page.html.select_one(f"#url-{row.id}")
        assert box["value"] == row.public_url and box.has_attr("readonly")
        assert page.html.select_one(f"label[for='url-{row.id}']").get_text() == "URL of a.png"
        button = page.html.select_one(f"button[data-copy-url='url-{row.id}']")
        assert button.get_text() == "Copy URL" and "js-only" in button["class"] and button["type"] == "button"
        assert page.html.select_one("script[src*='media-upload.js']")
    page = browser.get(f"/admin/media/{row.id}")
    assert page.html.select_one(f"#url-{row.id}")["value"] == row.public_url
    assert page.html.select_one("script[src*='media-upload.js']")
    # A file in the trash has no URL to copy (it is not served).
    Media.update(deleted_at=now_ms()).where(Media.id == row.id).execute()
    assert browser.get("/admin/media?trash=1").html.select_one(f"#url-{row.id}") is None


def test_the_bulk_form_offers_what_the_role_may_do(browser, signed_in_as):
    author = signed_in_as("author")
    own = media_row(author, "own.png", "image/png")
    other = media_row(create_user("editor"), "other.png", "image/png", folder="shared")
    page = browser.get("/admin/media?view=list")
    form = page.html.select_one("form#media-bulk")
    assert form["action"].startswith("/admin/media/bulk?") and form["method"] == "post"
    options = {o["value"]: o for o in form.select("#bulk-action option")}
    assert set(options) == {"", "trash", "move"}
    assert options["trash"]["data-confirm"] == "Move the ticked files to the trash? They can be restored from there."
    assert form.select_one("#bulk-folder")["list"] == "folder-names"
    ticks = {box["value"] for box in page.html.select("input[name=ids][form=media-bulk]")}
    assert ticks == {own.id}, "only the author's own file can be ticked"
    assert other.id not in ticks
    # No bulk form in the trash, nor for a viewer, who may change nothing.
    assert browser.get("/admin/media?trash=1").html.select_one("form#media-bulk") is None
    browser.reset()
    signed_in_as("viewer")
    assert browser.get("/admin/media").html.select_one("form#media-bulk") is None


def test_bulk_trash_moves_every_ticked_file_to_the_trash(browser, signed_in_as):
    editor = signed_in_as("editor")
    a, b, c = (media_row(editor, f"{n}.png", "image/png") for n in "abc")
    response = bulk(browser, "trash", [a.id, b.id], status=303, query="view=list")
    assert response.location.endswith("/admin/media?view=list&done=trashed-all")
    assert response.follow().html.select_one("p.message.ok").get_text() == "The ticked files were moved to the trash."
    assert [s[1] for s in state(a, b, c)] == [True, True, False]


def test_bulk_move_puts_every_ticked_file_in_a_new_folder_keeping_its_url(browser, signed_in_as):
    editor = signed_in_as("editor")
    a = media_row(editor, "a.png", "image/png")
    b = media_row(editor, "b.png", "image/png", folder="trips")
    response = bulk(browser, "move", [a.id, b.id], status=303, folder="archive/2024")
    assert response.location.endswith("/admin/media?folder=archive%2F2024&view=grid&done=moved-all")
    page = response.follow()
    assert page.html.select_one("p.message.ok").get_text() == "The ticked files were moved to this folder."
    assert "2 files in archive/2024" in page.text
    assert "archive/2024" in [a.text for a in page.html.select(".folders a")], "the new folder is listed"
    assert state(a, b) == [("archive/2024", False, "uploads/a.png"), ("archive/2024", False, "trips/b.png")]


def test_one_file_not_theirs_refuses_the_whole_bulk_action(browser, signed_in_as):
    author = signed_in_as("author")
    own = media_row(author, "own.png", "image/png")
    other = media_row(create_user("editor"), "theirs.png", "image/png")
    for action, fields in (("trash", {}), ("move", {"folder": "elsewhere"})):
        page = bulk(browser, action, [own.id, other.id], status=403, **fields)
        refusal = page.html.select_one("#bulk-refusal")
        assert refusal.select_one("p").get_text().startswith("Nothing was changed: you may not")
        assert [li.get_text() for li in refusal.select("li")] == ["theirs.png"]
        assert page.html.select_one(f"input[name=ids][value='{own.id}']").has_attr("checked")
        assert state(own, other) == [("uploads", False, "uploads/own.png"), ("uploads", False, "uploads/theirs.png")]


def test_a_file_gone_refuses_the_whole_bulk_action(browser, signed_in_as):
    editor = signed_in_as("editor")
    live = media_row(editor, "live.png", "image/png")
    trashed = media_row(editor, "trashed.png", "image/png", deleted_at=now_ms())
    for action, fields in (("trash", {}), ("move", {"folder": "elsewhere"})):
        page = bulk(browser, action, [live.id, trashed.id, "no-such-file"], status=409, **fields)
        refusal = page.html.select_one("#bulk-refusal")
        assert "no longer in the library" in refusal.get_text() and "2 of them are" in refusal.get_text()
        assert state(live) == [("uploads", False, "uploads/live.png")]


@pytest.mark.parametrize(("action", "ids", "fields", "message"), [
    ("", ["x"], {}, "Choose an action to apply to the ticked files."),
    ("publish", ["x"], {}, "Choose an action to apply to the ticked files."),
    ("trash", [], {}, "Tick the files to change first."),
    ("move", ["x"], {"folder": "  "}, "Choose the folder to move the ticked files to, or type a new one."),
    ("trash", [f"id{n}" for n in range(51)], {}, "Tick at most 50 files at a time."),
])
def test_a_bulk_request_missing_a_choice_is_refused(browser, signed_in_as, action, ids, fields, message):
    signed_in_as("editor")
    page = bulk(browser, action, ids, status=422, **fields)
    assert page.html.select_one("#bulk-refusal p").get_text() == message


def test_an_invalid_folder_name_moves_nothing(browser, signed_in_as):
    editor = signed_in_as("editor")
    row = media_row(editor, "a.png", "image/png")
    page = bulk(browser, "move", [row.id], status=422, folder="Not A Folder!")
    assert page.html.select_one("#bulk-refusal p").get_text().startswith("Invalid folder name: Folder:")  # the label it shows
    assert state(row) == [("uploads", False, "uploads/a.png")]


def test_a_folder_name_with_nul_is_said_by_its_label_and_moves_nothing(browser, signed_in_as):
    editor = signed_in_as("editor")
    row = media_row(editor, "a.png", "image/png")
    page = bulk(browser, "move", [row.id], status=422, folder="trips\x00")
    assert page.content_type == "text/html" and "\x00" not in page.text and "Invalid input" not in page.text
    assert page.html.select_one("#bulk-refusal p").get_text() == "Folder: NUL characters are not allowed"
    assert page.html.select_one(f"input[name=ids][value='{row.id}']").has_attr("checked"), "still ticked"
    assert state(row) == [("uploads", False, "uploads/a.png")]


def form_as_shown(page):
    """``(action, folder)`` the library's bulk form shows."""
    selected = page.html.select("#bulk-action option[selected]")
    return [o["value"] for o in selected], page.html.select_one("#bulk-folder")["value"]


def test_every_refusal_keeps_the_action_and_folder_as_posted(browser, signed_in_as):
    editor = signed_in_as("editor")
    row = media_row(editor, "a.png", "image/png")
    gone = media_row(editor, "gone.png", "image/png", deleted_at=now_ms())
    for ids, folder, status in (
        ([row.id], 'Bad <b>"Name"</b>', 422),  # the folder's rule
        ([row.id], "trips\x00", 422),  # a NUL pasted: shown without it
        ([row.id], "   ", 422),  # no folder
        ([f"id{n}" for n in range(51)], "trips", 422),  # too many ticked
        ([row.id, gone.id], "trips", 409),  # one in the trash
    ):
        page = bulk(browser, "move", ids, status=status, folder=folder)
        assert form_as_shown(page) == (["move"], folder.replace("\x00", "")), (folder, status)
        assert '<b>"Name"' not in page.text, "escaped"
    page = bulk(browser, "trash", [], status=422, folder="typed")
    assert form_as_shown(page) == (["trash"], "typed")
    page = bulk(browser, "publish", [row.id], status=422, folder="typed")
    assert form_as_shown(page) == ([""], "typed"), "an action the form does not offer: none chosen"
    browser.reset()
    author = signed_in_as("author")
    own = media_row(author, "own.png", "image/png")
    page = bulk(browser, "move", [own.id, row.id], status=403, folder="elsewhere")
    assert form_as_shown(page) == (["move"], "elsewhere")
    assert state(row, own) == [("uploads", False, "uploads/a.png"), ("uploads", False, "uploads/own.png")]


def test_a_role_that_may_not_act_is_refused_before_any_lookup(browser, signed_in_as):
    owner = create_user("editor")
    row = media_row(owner, "a.png", "image/png")
    signed_in_as("viewer")
    bulk(browser, "trash", [row.id], status=403)
    bulk(browser, "move", [row.id], status=403, folder="elsewhere")
    assert state(row) == [("uploads", False, "uploads/a.png")]


def test_a_bulk_post_without_the_csrf_token_is_refused(browser, signed_in_as):
    editor = signed_in_as("editor")
    row = media_row(editor, "a.png", "image/png")
    browser.post("/admin/media/bulk", [("action", "trash"), ("ids", row.id)], status=403)
    assert state(row) == [("uploads", False, "uploads/a.png")]


def test_a_file_trashed_meanwhile_rolls_the_whole_write_back(browser, signed_in_as, monkeypatch):
    """Judged live, then trashed by another request before the write: the write changes nothing."""
    editor = signed_in_as("editor")
    a, b = media_row(editor, "a.png", "image/png"), media_row(editor, "b.png", "image/png")
    judged = library_queries.rows_by_id

    def then_trashed(ids, live_only=False):
        rows = judged(ids, live_only)
        Media.update(deleted_at=now_ms()).where(Media.id == b.id).execute()
        return rows

    monkeypatch.setattr("app.admin.media.rows_by_id", then_trashed)
    page = bulk(browser, "move", [a.id, b.id], status=409, folder="elsewhere")
    assert "moved to the trash or deleted meanwhile" in page.html.select_one("#bulk-refusal").get_text()
    assert state(a) == [("uploads", False, "uploads/a.png")]
    Media.update(deleted_at=None).where(Media.id == b.id).execute()
    monkeypatch.setattr("app.admin.media.rows_by_id", then_trashed)
    bulk(browser, "trash", [a.id, b.id], status=409)
    assert state(a) == [("uploads", False, "uploads/a.png")]


def test_the_service_writes_all_or_nothing(signed_in_as):
    editor = signed_in_as("editor")
    a, b = media_row(editor, "a.png", "image/png"), media_row(editor, "b.png", "image/png", deleted_at=now_ms())
    with pytest.raises(MediaConflict):
        library_queries.move_all([a.id, b.id], "elsewhere")
    with pytest.raises(MediaConflict):
        library_queries.soft_delete_all([a.id, b.id])
    assert state(a) == [("uploads", False, "uploads/a.png")]
    assert [row.id for row in library_queries.move_all([a.id], "elsewhere")] == [a.id]
    assert library_queries.move_all([a.id], "elsewhere") == [], "already there: nothing to change"
