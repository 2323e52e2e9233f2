"""``POST /api/media/upload``, ``/upload-multiple`` and ``/create-folder``.

The body is read with Falcon's multipart parser, part by part: each file part is streamed
into a bounded spool (``app.services.media.uploads``), never read whole into memory. A
declared Content-Length over the limit is refused with 413 before any byte is read.
"""

import logging
from dataclasses import dataclass, field
from typing import Annotated

import falcon
import msgspec

from app.api.access import access
from app.api.describe import STORE_CALLED, describe
from app.api.errors import APIError, bad_request, field_error, read_body, unprocessable
from app.api.schemas_admin import FileBody, FolderChecked, UploadResult
from app.runtime.r2 import R2Error
from app.services.media import FileTooLarge, MediaError, UnsupportedType, to_record, uploads
from app.services.media.uploads import FORM_OVERHEAD_BYTES, MAX_FILES_PER_REQUEST, META_FIELDS

# How an upload's ``tags`` part is read (``uploads.clean_tags``); PATCH /api/media/{id} reads a
# string the same way.
TAGS_TEXT = ("tags separated by commas (`bikes, red`), or a JSON array of strings (`[\"bikes\"]`); "
             "each trimmed, empty ones and repeats left out")
Tags = Annotated[str, msgspec.Meta(description=TAGS_TEXT)]


class UploadFields(msgspec.Struct):
    """The parts of ``POST /api/media/upload`` (for the OpenAPI document)."""

    file: bytes
    folder: str | msgspec.UnsetType = msgspec.UNSET
    alt: str | msgspec.UnsetType = msgspec.UNSET
    caption: str | msgspec.UnsetType = msgspec.UNSET
    tags: Tags | msgspec.UnsetType = msgspec.UNSET


class UploadManyFields(msgspec.Struct):
    """The parts of ``POST /api/media/upload-multiple``: ``files`` repeated (for the document)."""

    files: list[bytes]
    folder: str | msgspec.UnsetType = msgspec.UNSET
    alt: str | msgspec.UnsetType = msgspec.UNSET
    caption: str | msgspec.UnsetType = msgspec.UNSET
    tags: Tags | msgspec.UnsetType = msgspec.UNSET

log = logging.getLogger("sonicpy.media")

SINGLE_FILE_FIELDS = ("file",)
MULTIPLE_FILE_FIELDS = ("files", "files[]")


@dataclass
class UploadForm:
    """A read form: its text fields, its spooled files and the files refused while reading.

    ``too_large`` counts the refused files that were over the size limit.
    """

    fields: dict = field(default_factory=dict)
    files: list = field(default_factory=list)
    rejected: list = field(default_factory=list)
    too_large: int = 0

    def close(self):
        """Free every spooled file."""
        for spooled in self.files:
            spooled.close()


def check_declared_length(req, body_limit, file_limit):
    """413 at once when the declared body is over ``body_limit``: nothing is read or stored.

    A body without Content-Length (chunked) is refused with 411: the form parser needs the
    length to bound its reads.
    """
    if req.content_length is None:
        raise APIError(falcon.HTTP_411, "Content-Length required")
    if req.content_length > body_limit:
        raise uploads.too_large(file_limit)


def read_form(req, file_fields, limit, max_files, collect_errors, parts=None):
    """Read the multipart form of ``req``.

    Args:
        file_fields: names of the parts that carry files.
        limit: the largest file, in bytes.
        max_files: files past this many are refused (400 for a single upload, an item error
            for upload-multiple).
        collect_errors: record an oversized file in ``rejected`` and go on (upload-multiple)
            instead of raising ``FileTooLarge``.
        parts: the parts still to read, when the caller has read the first ones itself
            (default: every part of ``req``).
    """
    if not (req.content_type or "").lower().startswith(falcon.MEDIA_MULTIPART):
        raise APIError(falcon.HTTP_415, "Expected multipart/form-data")
    form = UploadForm()
    try:
        for part in req.get_media() if parts is None else parts:
            if part.name in META_FIELDS:
                form.fields[part.name] = uploads.read_field(part)
            elif part.name in file_fields:
                _read_file(part, form, limit, max_files, collect_errors)
    except BaseException:
        form.close()
        raise
    return form


def _read_file(part, form, limit, max_files, collect_errors):
    if len(form.files) + len(form.rejected) >= max_files:
        if not collect_errors:
            raise bad_request("Only one file per request; use /api/media/upload-multiple for several")
        form.rejected.append({"filename": uploads.clean_name(part.filename),
                              "error": f"Too many files; at most {max_files} per request"})
        return
    try:
        form.files.append(uploads.spool(part.stream, limit, part.filename))
    except MediaError as ex:
        if not collect_errors:
            raise
        name = uploads.clean_name(part.filename)
        form.rejected.append({"filename": name, "error": ex.message, "details": ex.details})
        form.too_large += isinstance(ex, FileTooLarge)


class UploadResource:
    """``POST /api/media/upload``: one file, 201 with SonicJS's ``{"success", "file"}``.

    SonicJS answers 200; an upload creates a file, which 201 Created says, and a client that
    checks for a 2xx sees no difference. ``file.uploadedAt`` is epoch milliseconds as in every
    answer carrying a file (SonicJS's upload sends an ISO string), one type per field.
    """

    def __init__(self, library):
        self._library = library

    @access("media.upload")
    @describe("Upload one file", form=UploadFields, status=201, response=FileBody, headers=STORE_CALLED)
    def on_post(self, req, resp):
        limit = self._library.max_upload_bytes
        check_declared_length(req, limit + FORM_OVERHEAD_BYTES, limit)
        form = read_form(req, SINGLE_FILE_FIELDS, limit, max_files=1, collect_errors=False)
        try:
            if not form.files:
                raise bad_request("No file provided")
            meta = uploads.parse_meta(form.fields)
            row = self._library.upload(req.context.env.MEDIA_BUCKET, form.files[0], meta, req.context.user.id)
        finally:
            form.close()
        resp.status = falcon.HTTP_201
        resp.media = {"success": True, "file": to_record(row)}


class UploadMultipleResource:
    """``POST /api/media/upload-multiple``: several files, a result per file.

    201 when at least one file was stored (``success`` is true when all were). When none
    was: 503 if the bucket failed, 413 if every file was over the size limit, 415 if every
    file was of a type the library refuses (as ``/api/media/upload`` answers for one), else
    422 (refusals for several reasons name none of them); the 413, 415 and 422 carry the
    per-file ``errors`` and the ``summary`` in ``details``.
    """

    def __init__(self, library):
        self._library = library

    @access("media.upload")
    @describe("Upload several files", form=UploadManyFields, status=201, response=UploadResult,
              headers=STORE_CALLED)
    def on_post(self, req, resp):
        limit = self._library.max_upload_bytes
        check_declared_length(req, limit * MAX_FILES_PER_REQUEST + FORM_OVERHEAD_BYTES, limit)
        form = read_form(req, MULTIPLE_FILE_FIELDS, limit, MAX_FILES_PER_REQUEST, collect_errors=True)
        try:
            if not form.files and not form.rejected:
                raise bad_request("No files provided")
            meta = uploads.parse_meta(form.fields)
            uploaded, errors, outage, unsupported = self._store_all(req, form, meta)
        finally:
            form.close()
        errors = [{k: v for k, v in item.items() if v is not None} for item in form.rejected + errors]
        summary = {"total": len(uploaded) + len(errors), "successful": len(uploaded), "failed": len(errors)}
        if not uploaded:
            if outage is not None:
                raise outage  # the bucket's error: 503 (with Retry-After when its guard refused)
            if form.too_large == len(errors):
                raise FileTooLarge("File too large", {"max_bytes": limit, "errors": errors, "summary": summary})
            if unsupported == len(errors):
                raise UnsupportedType("Unsupported file type", {"errors": errors, "summary": summary})
            raise unprocessable("No file was uploaded", {"errors": errors, "summary": summary})
        resp.status = falcon.HTTP_201
        resp.media = {"success": not errors, "uploaded": uploaded, "errors": errors, "summary": summary}

    def _store_all(self, req, form, meta):
        bucket, user_id = req.context.env.MEDIA_BUCKET, req.context.user.id
        uploaded, errors, outage, unsupported = [], [], None, 0
        for spooled in form.files:
            try:
                uploaded.append(to_record(self._library.upload(bucket, spooled, meta, user_id)))
            except MediaError as ex:
                errors.append({"filename": spooled.original_name, "error": ex.message, "details": ex.details})
                unsupported += isinstance(ex, UnsupportedType)
            except R2Error as ex:
                # One file's storage failure is that file's error; the others may still succeed.
                log.error("upload of %r failed (request %s): %s", spooled.original_name, req.context.request_id, ex)
                outage = ex
                errors.append({"filename": spooled.original_name, "error": "Storage temporarily unavailable"})
        return uploaded, errors, outage, unsupported


def named_folder(library, folder, field="folder"):
    """The valid folder named on its own, by create-folder or a move (422 when blank or invalid).

    A blank folder means "the default folder" to an upload (``check_folder``), so a blank
    target would quietly name ``uploads``: refused before anything changes.
    """
    if not folder.strip():
        raise field_error(field, "No folder name provided")
    return library.check_folder(folder)


class CreateFolder(msgspec.Struct, forbid_unknown_fields=True):
    """Body of ``POST /api/media/create-folder``."""

    folderName: str


class CreateFolderResource:
    """``POST /api/media/create-folder``: folders are virtual; this validates the name."""

    def __init__(self, library):
        self._library = library

    @access("media.upload")
    @describe("Check a folder name (folders are virtual)", body=CreateFolder, response=FolderChecked)
    def on_post(self, req, resp):
        body = read_body(req, CreateFolder)
        folder = named_folder(self._library, body.folderName, "folderName")
        resp.media = {
            "success": True,
            "message": f'Folder "{folder}" is ready',
            "folder": folder,
            "note": "Folders are virtual: the folder appears once a file is uploaded into it.",
        }


def register(routes, library):
    """Mount the upload routes."""
    routes.add("/api/media/upload", UploadResource(library))
    routes.add("/api/media/upload-multiple", UploadMultipleResource(library))
    routes.add("/api/media/create-folder", CreateFolderResource(library))
