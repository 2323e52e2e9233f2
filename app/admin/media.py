"""The media library: grid and list views, folders, uploads, editing, trash and restore.

Every read and write goes through the media service the JSON API uses: ``list_media`` with
the same visibility rule (callers without ``media.upload`` see published files and their
own uploads), ``MediaLibrary.upload`` for each uploaded file, ``MediaLibrary.edit`` for a
new folder, alt text, caption and name (one write, as the API's PATCH), ``soft_delete`` and
``restore``, ``purge`` (admins), with the same per-row rules (``can_update``, ``can_delete``). Folders are
virtual, as in the API: a folder is a name in each file's ``folder`` field and exists while
a file is in it, so one is created by typing a new name when uploading or moving files
(the single file's form, or the library's bulk move).

Bulk actions (``MediaBulkAction``): the ticked files go to the trash, or to a folder, all
or none. Every file is judged first (there, visible to the user, theirs to change); one
refused file refuses the whole request and nothing is written; the write itself is one
transaction, which a file trashed or purged meanwhile rolls back whole.

Uploads: the page's script sends each dropped or chosen file in its own request (so each
has its own progress bar and its own error) with ``Accept: application/json`` and gets the
upload-multiple answer back; without script, the same form posts every chosen file at once
and the page shows the results.
"""

import logging
from urllib.parse import urlencode

import falcon

from app.admin.blocks import posted_back, textarea_text
from app.admin.csrf import FIELD, HEADER
from app.admin.pages import (
    form_as_typed,
    one,
    page_number,
    problems_in_words,
    redirect,
    search_of,
    wants_html,
)
from app.api.access import access
from app.api.authentication import signed_in_by_header
from app.api.errors import forbidden
from app.api.media_manage import MAX_BULK_ITEMS
from app.api.media_upload import MULTIPLE_FILE_FIELDS, check_declared_length
from app.api.media_upload import read_form as read_upload_form
from app.runtime.r2 import R2Error
from app.services.errors import ErrorKind
from app.services.media import (
    InvalidMedia,
    MediaConflict,
    MediaError,
    MediaInUse,
    can_delete,
    can_update,
    may_delete_some,
    to_record,
    uploads,
    visibility,
)
from app.services.media.library_queries import MediaFilter, find, folders, list_media, rows_by_id
from app.services.media.uploads import FORM_OVERHEAD_BYTES, MAX_FILES_PER_REQUEST
from app.services.pagination import pagination_meta

log = logging.getLogger("sonicpy.media")

PAGE_SIZE = 24
MEDIA_TYPES = {"image": ("image/",), "video": ("video/",), "audio": ("audio/",),
               "document": ("application/", "text/")}
# Thumbnails only for raster images: an uploaded SVG is never shown inline (only linked to
# /files, which serves it as an attachment).
RASTER_TYPES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp", "image/avif"})
VIEWS = ("grid", "list")
# The labels the file's form shows for its fields (its template writes them from these), and
# so the words a refusal names a field by, as the user forms do.
LABELS = {"name": "Name", "alt": "Alt text", "caption": "Caption", "folder": "Folder"}
# The edit form's fields, each with its stored value as the form shows it.
EDITED_FIELDS = {
    "name": lambda row: row.original_name,
    "alt": lambda row: row.alt or "",
    "caption": lambda row: row.caption or "",
    "folder": lambda row: row.folder,
}
DONE = {"saved": "File saved.", "deleted": "File moved to the trash.", "restored": "File restored.",
        "purged": "File deleted permanently.", "trashed-all": "The ticked files were moved to the trash.",
        "moved-all": "The ticked files were moved to this folder."}
# The library's bulk actions: each one's option label.
BULK_ACTIONS = {"trash": "Move to the trash", "move": "Move to a folder"}
# What the library says after a request that could not be carried out (``?problem=``).
PROBLEMS = {
    "gone": "The file was deleted meanwhile: your changes were not saved.",
    "purged": "The file was deleted permanently meanwhile.",
    "in-use": "The file was not deleted: content uses it, as its featured image or in its fields or text.",
    "store": "The file was not deleted: the file store did not answer. Try again in a moment.",
}


def _listing(req, user):
    """The page's query (search, type, folder, view, trash, page) from the query string."""
    kind = req.get_param("type") or ""
    view = req.get_param("view") or "grid"
    return {
        "search": search_of(req),
        "kind": kind if kind in MEDIA_TYPES else "",
        "folder": (req.get_param("folder") or "")[:200],
        "view": view if view in VIEWS else "grid",
        "trash": req.get_param_as_bool("trash", default=False) and may_delete_some(user),
        "page": page_number(req),
    }


def _filter(listing, user):
    return MediaFilter(
        deleted=listing["trash"],
        # The trash is everyone's for holders of media.delete, otherwise one's own.
        uploaded_by=user.id if listing["trash"] and not user.can("media.delete") else None,
        folder=listing["folder"] or None,
        type_prefixes=MEDIA_TYPES.get(listing["kind"], ()),
        search=listing["search"] or None,
        visible_to=None if visibility.sees_whole_library(user) else user.id,
    )


def shown(row, user):
    """A row as the templates show it: the API record, whether it gets a thumbnail, what the user may do."""
    return {**to_record(row), "thumbnail": row.mime_type in RASTER_TYPES,
            "editable": can_update(user, row), "deletable": can_delete(user, row),
            "purgeable": user.can("media.purge")}


def query_string(listing, **changes):
    """The query string of the page with ``changes`` (empty values left out)."""
    values = {**{k: listing[k] for k in ("search", "kind", "folder", "view")}, **changes}
    values["type"] = values.pop("kind")
    if listing["trash"]:
        values.setdefault("trash", "1")
    return urlencode({k: v for k, v in values.items() if v})


class MediaPage:
    """``GET /admin/media``: the library (or the trash) as a grid or a list, with folders."""

    def __init__(self, renderer, library):
        self._renderer = renderer
        self.library = library

    def render(self, req, resp, status=falcon.HTTP_200, results=None, refusal=None, selected=(), bulk=None,
               upload_folder=None):
        """The library page; ``results`` are the outcome of a form upload and ``upload_folder``
        the folder it was sent with (shown again, to correct or upload more; default the
        listing's folder), ``refusal`` why a bulk action was refused (``(message, [reason, ...])``),
        ``selected`` the ids it ticked, ``bulk`` the ``action`` and ``folder`` its form was sent
        with, shown again to correct."""
        user = req.context.user
        listing = _listing(req, user)
        rows, total = list_media(_filter(listing, user), listing["page"], PAGE_SIZE)
        visible_to = None if visibility.sees_whole_library(user) else user.id
        self._renderer.page(
            req, resp, "media.html", status=status, files=[shown(row, user) for row in rows],
            meta=pagination_meta(total, PAGE_SIZE, listing["page"]), listing=listing, kinds=tuple(MEDIA_TYPES),
            folders=folders(visible_to), query=lambda **changes: query_string(listing, **changes),
            results=results, done=DONE.get(req.get_param("done")), problem=PROBLEMS.get(req.get_param("problem")),
            max_upload_size=limit_in_words(self.library.max_upload_bytes),
            bulk_actions=_bulk_actions(user, listing), refusal=refusal, selected=frozenset(selected),
            bulk=bulk or {"action": "", "folder": ""},
            upload_folder=listing["folder"] if upload_folder is None else upload_folder,
        )

    @access("media.read")
    def on_get(self, req, resp):
        self.render(req, resp)


def limit_in_words(limit):
    """The largest file ``limit`` (bytes) as the library words it, to 0.1 of its unit: MB
    (MiB, as ``12.5 MB``), or kB or bytes for a limit that would read ``0.0 MB``. Worded once:
    the page's script says the same words when a file is refused as too large."""
    for unit, size in (("MB", 1024 * 1024), ("kB", 1024)):
        if round(limit / size, 1) >= 0.1:
            return f"{round(limit / size, 1)} {unit}"
    return f"{limit} bytes"


def _bulk_actions(user, listing):
    """``{action: label}`` of the bulk actions the library offers ``user`` (none in the trash)."""
    if listing["trash"]:
        return {}
    allowed = {"trash": may_delete_some(user), "move": user.can("media.update")}
    return {action: label for action, label in BULK_ACTIONS.items() if allowed[action]}


class MediaBulkAction:
    """``POST /admin/media/bulk``: ``action`` (``trash`` or ``move`` to ``folder``) on the
    ticked ``ids``, all or nothing.

    Refused before any write when a field holds NUL (422, named by its label), the action
    is missing, no file or too many are ticked (422), the folder is blank or invalid (422),
    the user may not take the action at all (403), or any one ticked file is gone, in the
    trash or not visible (409) or not the user's to change (403): the library is shown again
    with the reason, naming the files, the boxes still ticked and the action and folder as
    posted. Done, the browser goes to the
    library (the folder moved to).
    """

    def __init__(self, page):
        self._page = page

    @access("media.read")
    def on_post(self, req, resp):
        form, refused = form_as_typed(req)
        action, ids = one(form, "action"), list(dict.fromkeys(_values(form.get("ids"))))
        typed_folder = one(form, "folder")
        folder = typed_folder.strip()

        def refuse(status, message, reasons=()):
            # The library again with why, the boxes still ticked and the action and folder as
            # posted (a NUL already taken out), to correct rather than choose and type again.
            self._page.render(req, resp, status, refusal=(message, list(reasons)), selected=ids,
                              bulk={"action": action, "folder": typed_folder})

        if refused:  # a NUL pasted (the folder's name): said by its field, nothing changed
            refuse(falcon.HTTP_422, problems_in_words(refused, LABELS))
            return
        problem = self._problem(req.context.user, action, ids, folder)
        if problem is not None:
            refuse(*problem)
            return
        library = self._page.library
        try:
            if action == "trash":
                library.soft_delete_all(ids)
            else:
                library.move_all(ids, folder)
        except InvalidMedia as ex:
            refuse(falcon.HTTP_422, _message_of(ex))
            return
        except MediaConflict:
            refuse(falcon.HTTP_409, "Nothing was changed: a ticked file was moved to the trash or deleted meanwhile.")
            return
        listing = _listing(req, req.context.user)
        if action == "trash":
            redirect(resp, "/admin/media?" + query_string(listing, page="", done="trashed-all"))
        else:
            redirect(resp, "/admin/media?" + query_string(listing, folder=folder, page="", done="moved-all"))

    def _problem(self, user, action, ids, folder):
        """``(status, message, [reason])`` refusing the request, or None when every file may take it."""
        if action not in BULK_ACTIONS:
            return falcon.HTTP_422, "Choose an action to apply to the ticked files.", []
        if not ids:
            return falcon.HTTP_422, "Tick the files to change first.", []
        if len(ids) > MAX_BULK_ITEMS:
            return falcon.HTTP_422, f"Tick at most {MAX_BULK_ITEMS} files at a time.", []
        if action == "move" and not folder:
            return falcon.HTTP_422, "Choose the folder to move the ticked files to, or type a new one.", []
        allowed, may = ((may_delete_some(user), can_delete) if action == "trash"
                        else (user.can("media.update"), can_update))
        if not allowed:
            raise forbidden()
        rows = rows_by_id(ids, live_only=True)
        is_published = self._page.library.is_published
        gone = [media_id for media_id in ids
                if media_id not in rows or not visibility.may_see(user, rows[media_id], is_published)]
        if gone:
            return (falcon.HTTP_409, "Nothing was changed: some ticked files are no longer in the library.",
                    [f"{len(gone)} of them {'is' if len(gone) == 1 else 'are'} in the trash or deleted."])
        refused = [rows[media_id].original_name for media_id in ids if not may(user, rows[media_id])]
        if refused:
            verb = "move to the trash" if action == "trash" else "move"
            return (falcon.HTTP_403, f"Nothing was changed: you may not {verb} these files of other people.",
                    refused)
        return None


def _values(value):
    """A form field's values as a list (none, one, or repeated)."""
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]


class MediaUploadAction:
    """``POST /admin/media/upload``: ``files`` (repeated) and ``folder``, through ``MediaLibrary.upload``.

    A script's request (``Accept: application/json``) gets the API's upload-multiple
    answer: 201 with ``uploaded`` and ``errors``, or, when nothing was stored, the error
    envelope with 413 (too large), 415 (type not accepted) or 422. A plain form gets the
    library page with the results.
    """

    reads_csrf_from_multipart = True  # AdminPagesMiddleware leaves a form's token to ``_parts``

    def __init__(self, page, csrf):
        self._page = page
        self._csrf = csrf

    def _parts(self, req):
        """The form's parts still to read: all of them when the script sent the token in its
        header (the middleware checked it) or the caller's credential is in a header (no
        token is due), else those after the ``csrf_token`` field, which
        a plain form sends first and which is checked before any file is read."""
        if (req.get_header(HEADER) is not None or signed_in_by_header(req)
                or not (req.content_type or "").startswith(falcon.MEDIA_MULTIPART)):
            # Checked by the middleware, no token due (a credential in a header), or not a
            # multipart form (read_form answers 415).
            return None
        parts = iter(req.get_media())
        first = next(parts, None)
        token = uploads.read_field(first) if first is not None and first.name == FIELD else None
        if not self._csrf.valid(req, token):
            req.context.admin_refusal = "csrf"
            raise falcon.HTTPForbidden(title="Forbidden", description="Invalid or missing CSRF token")
        return parts

    @access("media.upload")
    def on_post(self, req, resp):
        library = self._page.library
        limit = library.max_upload_bytes
        check_declared_length(req, limit * MAX_FILES_PER_REQUEST + FORM_OVERHEAD_BYTES, limit)
        form = read_upload_form(req, MULTIPLE_FILE_FIELDS, limit, MAX_FILES_PER_REQUEST, collect_errors=True,
                                parts=self._parts(req))
        try:
            meta = uploads.parse_meta(form.fields)
            uploaded, errors = self._store_all(req, form, meta)
        except InvalidMedia as ex:  # a folder its rule refuses (a NUL pasted in it among them)
            if not wants_html(req):
                raise
            # The form without script: the library says why, by the field's label, nothing
            # stored, the folder as typed to correct.
            self._page.render(req, resp, falcon.HTTP_422, {"uploaded": [], "errors": [], "refused": _message_of(ex)},
                              upload_folder=_typed_folder(form))
            return
        finally:
            form.close()
        errors = form.rejected + errors
        if wants_html(req):
            status = falcon.HTTP_200 if uploaded or not errors else _failure(errors, form.too_large)[0]
            shown_errors = [{**error, "reason": upload_reason(error)} for error in errors]
            self._page.render(req, resp, status, {"uploaded": uploaded, "errors": shown_errors},
                              upload_folder=_typed_folder(form))
            return
        if not uploaded:
            status, message = _failure(errors, form.too_large) if errors else (falcon.HTTP_400, "No files provided")
            resp.status = status
            resp.media = {"error": message, "details": {"errors": errors, "max_bytes": limit}}
            return
        resp.status = falcon.HTTP_201
        resp.media = {"success": not errors, "uploaded": uploaded, "errors": errors}

    def _store_all(self, req, form, meta):
        library, bucket, user_id = self._page.library, req.context.env.MEDIA_BUCKET, req.context.user.id
        uploaded, errors = [], []
        for spooled in form.files:
            try:
                uploaded.append(to_record(library.upload(bucket, spooled, meta, user_id)))
            except MediaError as ex:
                errors.append({"filename": spooled.original_name, "error": ex.message, "details": ex.details,
                               "kind": ex.kind})
            except R2Error as ex:
                log.error("upload of %r failed (request %s): %s", spooled.original_name, req.context.request_id, ex)
                errors.append({"filename": spooled.original_name, "error": "Storage temporarily unavailable"})
        return uploaded, errors


def upload_reason(error):
    """Why a file was not stored, in the user's words: its field messages (``details[].message``,
    as ``the file is empty``), else the error itself (``File too large``). The page's script
    words an answer's errors the same way."""
    details = error.get("details") if isinstance(error.get("details"), list) else []
    messages = [d["message"] for d in details if isinstance(d, dict) and isinstance(d.get("message"), str)]
    return "; ".join(messages) or error["error"]


def _typed_folder(form):
    """The upload form's folder as typed, for its box: a NUL pasted in it taken out (it is
    invisible there, and never goes back into the page)."""
    return (form.fields.get("folder") or "").replace("\x00", "")


def _failure(errors, too_large):
    """The status and message when no file was stored: 413 if every file was too large, 415
    if every file had a type the library does not accept, else 422."""
    if too_large == len(errors):
        return falcon.HTTP_413, "File too large"
    if all(error.get("kind") == ErrorKind.UNSUPPORTED for error in errors):
        return falcon.HTTP_415, "File type not allowed"
    return falcon.HTTP_422, "No file was uploaded"


class MediaFilePage:
    """``GET /admin/media/{media_id}``: one file, its preview and details, and its edit form.

    ``POST`` saves ``name``, ``alt``, ``caption`` and ``folder`` (a new folder name moves
    the file there; its key and URL stay as they are, so pages that embed it keep working).
    Only what was edited is written, trimmed; a field posted back as shown keeps its stored
    value exactly, and a save that edited nothing writes nothing.
    """

    def __init__(self, renderer, library):
        self._renderer = renderer
        self._library = library

    def _row(self, req, media_id):
        row = find(media_id)
        user = req.context.user
        if row is None or (row.deleted_at is not None and not can_delete(user, row)):
            raise falcon.HTTPNotFound()
        if not visibility.may_see(user, row, self._library.is_published):
            raise falcon.HTTPNotFound()
        return row

    def render(self, req, resp, row, status=falcon.HTTP_200, message=None, values=None):
        """The file's page; ``message`` is a validation error, ``values`` the form as posted."""
        file = shown(row, req.context.user)
        self._renderer.page(
            req, resp, "media_file.html", status=status, file=file, message=message,
            values={name: shown_of(row) for name, shown_of in EDITED_FIELDS.items()} | (values or {}),
            folders=[name for name, _ in folders()] if file["editable"] else [], done=DONE.get(req.get_param("done")),
            labels=LABELS,
        )

    @access("media.read")
    def on_get(self, req, resp, media_id):
        self.render(req, resp, self._row(req, media_id))

    @access("media.update")
    def on_post(self, req, resp, media_id):
        row = self._row(req, media_id)
        if row.deleted_at is not None:
            raise falcon.HTTPNotFound()
        if not can_update(req.context.user, row):
            raise forbidden()
        form, refused = form_as_typed(req)
        values = {name: one(form, name, None) for name in EDITED_FIELDS}
        values = {name: value for name, value in values.items() if value is not None}
        if refused:  # a NUL pasted: said by its field, the rest as typed, nothing saved
            self.render(req, resp, row, falcon.HTTP_422, problems_in_words(refused, LABELS), values)
            return
        edited = _edited(values, row)
        try:
            # One write, all or none: a folder emptied leaves the file where it is.
            row = self._library.edit(row, edited.get("folder") or None, _changes(edited))
        except MediaError as ex:
            self._refused(req, resp, row, ex, values)
            return
        redirect(resp, f"/admin/media/{row.id}?done=saved")

    def _refused(self, req, resp, row, ex, values):
        """Show why the save was refused on the form, with what was typed. A conflict means
        another request moved or purged the file since ``row`` was read: the page shows the
        file as it is now, or, when it is gone, the library says the edit was not saved."""
        if ex.kind == ErrorKind.CONFLICT:
            row = find(row.id)
            if row is None:
                redirect(resp, "/admin/media?problem=gone")
                return
        self.render(req, resp, row, _status_of(ex), _message_of(ex), values)


def _edited(values, row):
    """``{field: text}`` of the posted ``values`` that differ from what the form showed,
    trimmed as the API trims what it is sent (a caption's line breaks as LF). A field posted
    back unchanged (or not at all) is left out, so its stored value stays exactly as it is:
    an input's text without the line breaks it cannot hold, a textarea's with CRLF breaks."""
    edited = {}
    for name, raw in values.items():
        shown = EDITED_FIELDS[name](row)
        if name == "caption":
            if textarea_text(raw, shown) != shown:
                edited[name] = textarea_text(raw).strip()
        elif not posted_back(raw, shown):
            edited[name] = raw.strip()
    return edited


def _changes(edited):
    """The metadata changes of the ``edited`` fields (a blank alt or caption clears it)."""
    changes = {}
    if "name" in edited:
        changes["original_name"] = _clean_name(edited["name"])
    for name, limit in (("alt", uploads.MAX_ALT_LENGTH), ("caption", uploads.MAX_CAPTION_LENGTH)):
        if name in edited:
            changes[name] = uploads.clean_text(name, edited[name] or None, limit)
    return changes


def _clean_name(name):
    if not name:
        raise uploads.invalid("name", "is required")
    return uploads.clean_name(name)


def _status_of(ex):
    return falcon.HTTP_409 if ex.kind == ErrorKind.CONFLICT else falcon.HTTP_422


def _message_of(ex):
    """A MediaError's message with its field details, each field by the label the file's form
    shows for it (``Alt text: at most 1000 characters``)."""
    details = ex.details if isinstance(ex.details, list) else []
    parts = [f"{LABELS.get(d.get('field'), d.get('field'))}: {d.get('message')}" for d in details
             if isinstance(d, dict) and d.get("message")]
    return f"{ex.message}: {'; '.join(parts)}" if parts else ex.message


def _trash_row(req, media_id, live_only):
    """The file ``media_id`` the caller may move to or from the trash, as the API decides it:
    403 before any lookup for a caller who may trash nothing, 404 for no such file (or, with
    ``live_only``, one already trashed), 403 for someone else's file without ``media.delete``."""
    user = req.context.user
    if not may_delete_some(user):
        raise forbidden()
    row = find(media_id)
    if row is None or (live_only and row.deleted_at is not None):
        raise falcon.HTTPNotFound()
    if not can_delete(user, row):
        raise forbidden()
    return row


class MediaDeleteAction:
    """``POST /admin/media/{media_id}/delete``: soft delete (the file can be restored)."""

    def __init__(self, library):
        self._library = library

    @access(authenticated=True)
    def on_post(self, req, resp, media_id):
        row = _trash_row(req, media_id, live_only=True)
        try:
            self._library.soft_delete(row)
        except MediaConflict:  # purged since it was read
            redirect(resp, "/admin/media?problem=purged")
            return
        redirect(resp, "/admin/media?done=deleted")


class MediaRestoreAction:
    """``POST /admin/media/{media_id}/restore``: bring a soft-deleted file back."""

    def __init__(self, library):
        self._library = library

    @access(authenticated=True)
    def on_post(self, req, resp, media_id):
        row = _trash_row(req, media_id, live_only=False)
        try:
            self._library.restore(row)
        except MediaConflict:  # purged since it was read
            redirect(resp, "/admin/media?trash=1&problem=purged")
            return
        redirect(resp, f"/admin/media/{row.id}?done=restored")


class MediaPurgeAction:
    """``POST /admin/media/{media_id}/purge``: delete a file and its objects for good (``media.purge``)."""

    def __init__(self, library):
        self._library = library

    @access("media.purge")
    def on_post(self, req, resp, media_id):
        row = find(media_id)
        if row is None:
            raise falcon.HTTPNotFound()
        try:
            self._library.purge(req.context.env.MEDIA_BUCKET, row)
        except MediaInUse:
            redirect(resp, "/admin/media?trash=1&problem=in-use")
        except MediaConflict:  # another purge got there first
            redirect(resp, "/admin/media?trash=1&problem=purged")
        except R2Error as ex:  # the row is back as it was: the purge can be tried again
            log.error("purge of %s failed (request %s): %s", row.id, req.context.request_id, ex)
            redirect(resp, "/admin/media?trash=1&problem=store")
        else:
            redirect(resp, "/admin/media?trash=1&done=purged")
