"""The admin's media library: views, folders, uploads (with and without script), edit, trash.

Requests go through the real app (WebTest over the Worker) with a browser's Accept header,
on each backend: SQLite with the folder bucket, PostgreSQL with S3. Uploads go through
the same upload service as the API, so the stored row, object and cache are checked too.
"""

import pytest

from app.admin.csrf import HEADER
from app.db.models import Media, now_ms
from app.services.media import storage
from tests.fixtures.admin import as_a_browser_sends, browser_for, csrf_token
from tests.fixtures.media import after_the_media_read, png, text, windows_exe
from tests.fixtures.users import bearer, create_user, token_for

pytestmark = pytest.mark.backends

JSON = {"Accept": "application/json"}


def media_row(owner, name, mime, folder="uploads", deleted_at=None):
    return Media.create(filename=name, original_name=name, mime_type=mime, size=2048, r2_key=f"{folder}/{name}",
                        folder=folder, public_url=f"/files/{folder}/{name}", uploaded_by=owner.id,
                        deleted_at=deleted_at)


def form_upload(browser, files, status=None, **fields):
    """What the form sends without script: the token as the first part, then the folder and files."""
    params = [("csrf_token", csrf_token(browser)), *fields.items()]
    return browser.post("/admin/media/upload", params=params, upload_files=files, status=status)


def script_upload(browser, name, data, status=201, **fields):
    """What the page's script sends: one file, the token in a header, JSON asked for."""
    headers = {**JSON, HEADER: csrf_token(browser)}
    return browser.post("/admin/media/upload", params=fields, upload_files=[("files", name, data)],
                        headers=headers, status=status)


def test_a_form_upload_without_script_stores_every_file(browser, signed_in_as):
    editor = signed_in_as("editor")
    page = browser.get("/admin/media")
    form = page.html.select_one("#upload-form")
    assert form["enctype"] == "multipart/form-data" and form["action"] == "/admin/media/upload"
    assert form.select("input")[0]["name"] == "csrf_token", "the token is the first part the form sends"
    response = form_upload(browser, [("files", "a.png", png()), ("files", "b.png", png((30, 20)))], folder="trips")
    assert "Uploaded 2 files: a.png, b.png." in response.text
    rows = list(Media.select().where(Media.uploaded_by == editor.id).order_by(Media.original_name))
    assert [(row.original_name, row.folder, row.mime_type) for row in rows] == [
        ("a.png", "trips", "image/png"), ("b.png", "trips", "image/png")]
    listed = browser.get("/admin/media?folder=trips")
    assert "2 files in trips" in listed.text
    assert [a.text for a in listed.html.select(".folders a")][:2] == ["All files", "trips"]


@pytest.mark.parametrize("folder", ["Not A Folder!", "trips\x00", "Trips", '<b>"Trips"</b>'])
def test_a_form_upload_to_a_folder_refused_says_why_on_the_library(browser, signed_in_as, folder):
    signed_in_as("editor")
    response = form_upload(browser, [("files", "a.png", png())], status=422, folder=folder)
    assert response.content_type == "text/html" and "\x00" not in response.text
    assert "Invalid input" not in response.text and response.html.select_one("#upload-form")
    assert response.html.select_one("#upload-refused").text.startswith("Invalid folder name: Folder: 1 to ")
    # The folder as typed, to correct (a NUL taken out, markup escaped).
    assert response.html.select_one("#upload-folder")["value"] == folder.replace("\x00", "")
    assert "<b>" not in response.text
    assert Media.select().count() == 0


def test_a_form_upload_refused_file_by_file_keeps_the_folder_typed(browser, signed_in_as):
    signed_in_as("editor")
    response = form_upload(browser, [("files", "setup.exe", windows_exe())], status=415, folder="trips/2024")
    assert response.html.select_one("#upload-folder")["value"] == "trips/2024"
    assert browser.get("/admin/media").html.select_one("#upload-folder")["value"] == "", "the listing's folder"
    assert browser.get("/admin/media?folder=blog").html.select_one("#upload-folder")["value"] == "blog"


def test_a_form_upload_needs_the_token_first(browser, signed_in_as):
    signed_in_as("editor")
    browser.post("/admin/media/upload", upload_files=[("files", "a.png", png())], status=403)
    browser.post("/admin/media/upload", params=[("folder", "x"), ("csrf_token", csrf_token(browser))],
                 upload_files=[("files", "a.png", png())], status=403)
    browser.post("/admin/media/upload", params=[("csrf_token", "forged.token")],
                 upload_files=[("files", "a.png", png())], status=403)
    browser.post(f"/admin/media/upload?csrf_token={csrf_token(browser)}", upload_files=[("files", "a.png", png())],
                 status=403)
    assert Media.select().count() == 0


def test_a_client_signed_in_by_a_header_uploads_without_a_token(browser, signed_in_as):
    """As every admin action: a credential in a header is the caller's own, so no token is due."""
    signed_in_as("viewer")  # the browser's cookie, which the header's credential replaces
    author = create_user("author")
    response = browser.post("/admin/media/upload", params={"folder": "api"}, upload_files=[("files", "a.png", png())],
                            headers={**JSON, **bearer(token_for(author))}, status=201)
    [file] = response.json["uploaded"]
    assert Media.get_by_id(file["id"]).uploaded_by_id == author.id


def test_a_script_upload_answers_per_file(browser, signed_in_as):
    signed_in_as("author")
    response = script_upload(browser, "photo.png", png(), folder="blog")
    assert response.status_int == 201
    [file] = response.json["uploaded"]
    assert file["originalName"] == "photo.png" and file["folder"] == "blog" and response.json["errors"] == []
    assert Media.get_by_id(file["id"]).uploaded_by_id


def test_unsupported_and_too_large_files_are_415_and_413(env, outbox, signed_in_as, browser):
    signed_in_as("editor")
    refused = script_upload(browser, "setup.exe", windows_exe(), status=415)
    assert refused.json["error"] == "File type not allowed"
    assert refused.json["details"]["errors"][0]["filename"] == "setup.exe"
    small = browser_for(env, outbox, max_upload_bytes=1000)
    small.cookiejar = browser.cookiejar
    too_large = script_upload(small, "big.txt", text() * 200, status=413)
    assert too_large.json["error"] == "File too large" and too_large.json["details"]["max_bytes"] == 1000
    page = form_upload(small, [("files", "big.txt", text() * 200)], status=413)
    assert "big.txt: File too large" in page.text and page.content_type == "text/html"
    assert Media.select().count() == 0


def test_an_upload_refused_by_a_field_rule_says_the_rule(browser, signed_in_as):
    """The API's reason (``details[].message``), not only its heading ("File validation failed")."""
    signed_in_as("editor")
    page = form_upload(browser, [("files", "e.txt", b""), ("files", "a.png", png())])
    assert "e.txt: the file is empty" in [p.get_text() for p in page.html.select(".upload-results .message.error")]
    answer = script_upload(browser, "e.txt", b"", status=422)
    [error] = answer.json["details"]["errors"]
    assert error["filename"] == "e.txt" and error["details"] == [{"field": "file", "message": "the file is empty"}]
    assert Media.select().count() == 1


@pytest.mark.parametrize(("limit", "words"), [(10 * 1024 * 1024, "10.0 MB"), (400_000, "0.4 MB"), (1000, "1.0 kB")])
def test_the_upload_limit_is_worded_once_for_the_page_and_its_script(env, outbox, browser, signed_in_as, limit, words):
    """The script's "Too large" message reads the page's words (data-max-size): one rounding,
    and a limit under 0.05 MB reads in kB, not "0.0 MB"."""
    signed_in_as("editor")
    small = browser_for(env, outbox, max_upload_bytes=limit)
    small.cookiejar = browser.cookiejar
    form = small.get("/admin/media").html.select_one("#upload-form")
    assert form["data-max-size"] == words
    assert f"(at most {words} each)" in form.get_text()


def test_viewers_get_no_upload_form_and_are_refused(browser, signed_in_as):
    signed_in_as("viewer")
    page = browser.get("/admin/media")
    assert not page.html.select("#upload-form") and "Trash" not in page.text
    form_upload(browser, [("files", "a.png", png())], status=403)


def test_grid_and_list_views_never_inline_svg(browser, signed_in_as):
    editor = signed_in_as("editor")
    media_row(editor, "photo.png", "image/png")
    media_row(editor, "drawing.svg", "image/svg+xml")
    for view, selector in (("grid", ".media-grid img"), ("list", ".media-list img")):
        page = browser.get(f"/admin/media?view={view}")
        assert [img["src"] for img in page.html.select(selector)] == ["/files/uploads/photo.png"]
        assert "<svg" not in page.text and "drawing.svg" in page.text
    one = Media.get(Media.original_name == "drawing.svg")
    detail = browser.get(f"/admin/media/{one.id}")
    assert not detail.html.select("img") and "<svg" not in detail.text


def test_edit_renames_sets_alt_and_moves_into_a_new_folder(browser, signed_in_as):
    signed_in_as("editor")
    [file] = script_upload(browser, "photo.png", png()).json["uploaded"]
    browser.get(f"/api/media/{file['id']}", headers=JSON)  # the API's read is cached now
    form = browser.get(f"/admin/media/{file['id']}").forms["media-edit"]
    form["name"], form["alt"], form["folder"] = "Sunset.png", "A red sunset", "holidays/2026"
    response = form.submit()
    assert response.status_int == 303 and response.location.endswith(f"/admin/media/{file['id']}?done=saved")
    row = Media.get_by_id(file["id"])
    assert (row.original_name, row.alt, row.folder) == ("Sunset.png", "A red sunset", "holidays/2026")
    assert (row.r2_key, row.public_url) == (file["r2_key"], file["publicUrl"])  # the move keeps the file's URL
    assert browser.get(file["publicUrl"]).body == png()
    api = browser.get(f"/api/media/{file['id']}", headers=JSON).json["file"]
    assert (api["originalName"], api["alt"], api["folder"]) == ("Sunset.png", "A red sunset", "holidays/2026")
    assert [a.text for a in browser.get("/admin/media").html.select(".folders a")] == ["All files", "holidays/2026", "Trash"]
    listed = browser.get("/admin/media?folder=holidays/2026&view=list")
    assert "Sunset.png" in listed.text and "Sunset.png" not in browser.get("/admin/media?folder=uploads").text


def test_an_invalid_edit_is_shown_and_changes_nothing(browser, signed_in_as):
    signed_in_as("editor")
    [file] = script_upload(browser, "photo.png", png()).json["uploaded"]
    form = browser.get(f"/admin/media/{file['id']}").forms["media-edit"]
    form["alt"], form["folder"] = "new alt", "Not A Folder!"
    response = form.submit(status=422)
    assert "Invalid folder name" in response.text and 'value="Not A Folder!"' in response.text
    row = Media.get_by_id(file["id"])
    assert row.alt is None and row.folder == "uploads"


def test_a_refused_edit_names_the_field_by_its_label(browser, signed_in_as):
    signed_in_as("editor")
    [file] = script_upload(browser, "photo.png", png()).json["uploaded"]
    form = browser.get(f"/admin/media/{file['id']}").forms["media-edit"]
    form["alt"].force_value("a" * 1001)
    message = form.submit(status=422).html.select_one(".message.error").get_text()
    assert "Alt text: " in message and "alt: " not in message


def test_an_edit_with_nul_shows_the_form_again(browser, signed_in_as):
    signed_in_as("editor")
    [file] = script_upload(browser, "photo.png", png()).json["uploaded"]
    form = browser.get(f"/admin/media/{file['id']}").forms["media-edit"]
    form["alt"] = "A red\x00 sunset"
    response = form.submit(status=422)
    assert response.content_type == "text/html" and "\x00" not in response.text and "Invalid input" not in response.text
    assert response.html.select_one(".message.error").get_text() == "Alt text: NUL characters are not allowed"
    assert response.forms["media-edit"]["alt"].value == "A red sunset"
    assert Media.get_by_id(file["id"]).alt is None


def test_an_unchanged_save_keeps_the_files_details_as_stored(browser, signed_in_as):
    """Details stored through the API or an import, with spaces, line breaks or a folder name
    the form would refuse, are kept exactly and nothing is written; an edited detail is
    trimmed (as the API trims alt and caption), the others still kept as stored."""
    editor = signed_in_as("editor")
    row = media_row(editor, " Report 2024.pdf ", "application/pdf", folder="Old Files")
    Media.update(alt="  An alt\nwith a break ", caption="\nLeading line\r\nsecond  ", updated_at=1).where(
        Media.id == row.id).execute()
    before = Media.get_by_id(row.id).__data__
    form = browser.get(f"/admin/media/{row.id}").forms["media-edit"]
    as_a_browser_sends(form, "name", "alt", "caption", "folder")
    assert form.submit().location.endswith("?done=saved")
    assert Media.get_by_id(row.id).__data__ == before
    form = browser.get(f"/admin/media/{row.id}").forms["media-edit"]
    as_a_browser_sends(form, "name", "alt", "caption", "folder")
    form["caption"] = "  Edited\r\ncaption \r\n"
    form.submit(status=303)
    after = Media.get_by_id(row.id)
    assert (after.caption, after.original_name, after.alt, after.folder) == (
        "Edited\ncaption", " Report 2024.pdf ", "  An alt\nwith a break ", "Old Files")
    form = browser.get(f"/admin/media/{row.id}").forms["media-edit"]
    form["name"], form["alt"], form["folder"] = "  Report.pdf ", "  ", " reports "
    form.submit(status=303)
    after = Media.get_by_id(row.id)
    assert (after.original_name, after.alt, after.folder, after.caption) == ("Report.pdf", None, "reports",
                                                                             "Edited\ncaption")


def test_an_edit_of_a_file_purged_meanwhile_goes_back_to_the_library(env, browser, signed_in_as, monkeypatch):
    """The file is purged after the save read it and before it writes: the service refuses
    the write (409), and with the file gone the page sends the browser to the library,
    saying the edit was not saved, instead of an error page."""
    signed_in_as("admin")
    [file] = script_upload(browser, "photo.png", png()).json["uploaded"]
    form = browser.get(f"/admin/media/{file['id']}").forms["media-edit"]
    form["alt"] = "Lost?"
    done = after_the_media_read(env, monkeypatch, lambda: storage.purge(env.MEDIA_BUCKET,
                                                                        Media.get_by_id(file["id"])))
    response = form.submit(status=303)
    assert done and response.location.endswith("/admin/media?problem=gone")
    page = response.follow()
    [alert] = page.html.select(".message.error")
    assert "photo.png" not in page.text and "deleted meanwhile" in alert.text and "not saved" in alert.text
    assert Media.get_or_none(Media.id == file["id"]) is None


def test_a_move_refused_as_moved_meanwhile_shows_the_file_as_it_is_now(env, browser, signed_in_as, monkeypatch):
    """Another request moved the file after the save read it: the form shows the conflict
    with what was typed, and the file's details as they are now, not as they were read."""
    signed_in_as("editor")
    [file] = script_upload(browser, "photo.png", png()).json["uploaded"]
    form = browser.get(f"/admin/media/{file['id']}").forms["media-edit"]
    form["alt"], form["folder"] = "Typed alt", "mine"
    after_the_media_read(env, monkeypatch, lambda: storage.move(Media.get_by_id(file["id"]), "theirs"))
    page = form.submit(status=409)
    assert "moved or deleted meanwhile" in page.html.select_one(".message.error").text
    details = dict(zip([dt.text for dt in page.html.select("dt")], [dd.text for dd in page.html.select("dd")]))
    assert details["Folder"] == "theirs"
    edit = page.forms["media-edit"]
    assert (edit["alt"].value, edit["folder"].value) == ("Typed alt", "mine")
    row = Media.get_by_id(file["id"])
    assert (row.alt, row.folder) == (None, "theirs")


def test_soft_delete_trash_and_restore(browser, signed_in_as):
    editor = signed_in_as("editor")
    row = media_row(create_user("author"), "other.png", "image/png")
    page = browser.get("/admin/media")
    delete = next(f for f in page.forms.values() if f.action == f"/admin/media/{row.id}/delete")
    # The admin's script submits it only once the browser's confirm() is accepted.
    assert delete.html.form["data-confirm"] == "Move other.png to the trash? It can be restored from there."
    assert delete.submit().location.endswith("/admin/media?done=deleted")
    assert Media.get_by_id(row.id).deleted_at is not None
    assert "other.png" not in browser.get("/admin/media").text
    trash = browser.get("/admin/media?trash=1")
    assert "Media trash" in trash.text and "other.png" in trash.text
    # /files serves no trashed file: the trash shows an icon, not a broken image.
    assert not trash.html.select("img[src^='/files/']")
    restore = next(f for f in trash.forms.values() if f.action == f"/admin/media/{row.id}/restore")
    assert restore.submit().status_int == 303
    assert Media.get_by_id(row.id).deleted_at is None
    assert editor.id != row.uploaded_by_id


def test_authors_manage_only_their_own_files(browser, signed_in_as):
    author = signed_in_as("author")
    own = media_row(author, "mine.png", "image/png")
    other = media_row(create_user("editor"), "theirs.png", "image/png")
    page = browser.get("/admin/media")
    actions = {f.action for f in page.forms.values()}
    assert f"/admin/media/{own.id}/delete" in actions and f"/admin/media/{other.id}/delete" not in actions
    token = {"csrf_token": csrf_token(browser)}
    browser.post(f"/admin/media/{other.id}/delete", token, status=403)
    browser.post(f"/admin/media/{other.id}", {**token, "name": "x.png", "folder": "uploads"}, status=403)
    assert not browser.get(f"/admin/media/{other.id}").html.select("#media-edit")
    assert Media.get_by_id(other.id).deleted_at is None and Media.get_by_id(other.id).original_name == "theirs.png"
    media_row(author, "old.png", "image/png", deleted_at=now_ms())
    assert "old.png" in browser.get("/admin/media?trash=1").text


def test_media_page_uses_the_upload_script_and_no_inline_script(browser, signed_in_as):
    signed_in_as("editor")
    page = browser.get("/admin/media")
    [script] = [s for s in page.html.select("script[src]") if "media-upload.js" in s["src"]]
    assert browser.get(script["src"]).content_type == "text/javascript"
    assert all(s.get("src") for s in page.html.select("script"))


def test_admins_purge_from_the_trash_and_the_object_goes_too(env, browser, signed_in_as):
    signed_in_as("admin")
    [file] = script_upload(browser, "gone.png", png()).json["uploaded"]
    browser.post(f"/admin/media/{file['id']}/delete", {"csrf_token": csrf_token(browser)})
    trash = browser.get("/admin/media?trash=1")
    purge = next(f for f in trash.forms.values() if f.action == f"/admin/media/{file['id']}/purge")
    assert purge.html.form["data-confirm"] == "Delete gone.png permanently? This cannot be undone."
    assert purge.submit().location.endswith("/admin/media?trash=1&done=purged")
    assert Media.get_or_none(Media.id == file["id"]) is None
    assert env.MEDIA_BUCKET.head(file["r2_key"]) is None


def test_editors_cannot_purge(browser, signed_in_as):
    editor = signed_in_as("editor")
    row = media_row(editor, "old.png", "image/png", deleted_at=now_ms())
    assert f"/admin/media/{row.id}/purge" not in browser.get("/admin/media?trash=1").text
    browser.post(f"/admin/media/{row.id}/purge", {"csrf_token": csrf_token(browser)}, status=403)
    assert Media.get_by_id(row.id).deleted_at is not None


def test_sizes_read_in_the_unit_that_fits(browser, signed_in_as):
    # 12 kB of files once read "0.0 MB" on the dashboard: each size is written in its own unit.
    editor = signed_in_as("editor")
    small = media_row(editor, "small.png", "image/png")
    Media.update(size=12_300).where(Media.id == small.id).execute()
    big = media_row(editor, "big.png", "image/png")
    Media.update(size=2_500_000).where(Media.id == big.id).execute()
    dashboard = browser.get("/admin")
    assert "2.5 MB" in dashboard.text and "0.0 MB" not in dashboard.text  # 2,512,300 bytes in all
    for view in ("grid", "list"):
        page = browser.get(f"/admin/media?view={view}")
        assert "12.3 kB" in page.text and "2.5 MB" in page.text
    assert "12.3 kB" in browser.get(f"/admin/media/{small.id}").text
