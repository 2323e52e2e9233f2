"""The media library's JSON routes: list, get, update/move, soft delete, restore, purge, bulk.

SonicJS has no JSON list or get for media; these follow its other
media shapes: ``{"success": true, "file": {...}}`` for one item, per-item ``deleted`` /
``moved`` and ``errors`` lists with a ``summary`` for bulk operations, and the pagination
block of every paged list.
"""

import re
from typing import Annotated

import msgspec

from app.api.access import access
from app.api.describe import STORE_CALLED, Offset, Param, describe, paged
from app.api.errors import field_error, forbidden, invalid_param, not_found, nothing_to_update, read_body
from app.api.media_upload import TAGS_TEXT, named_folder
from app.api.params import limit_param, skipped_items
from app.api.schemas import Listed
from app.api.schemas_admin import BulkDeleteResult, BulkMoveResult, FileBody, FilePurged, FileRemoved, MediaFile
from app.services.media import (
    MediaConflict,
    can_delete,
    can_update,
    library_queries,
    may_delete_some,
    to_record,
    uploads,
    visibility,
)
from app.services.media.library_queries import DEFAULT_SORT, SORT_FIELDS, MediaFilter, find
from app.services.pagination import pagination_meta

MAX_PAGE_SIZE = 100
DEFAULT_PAGE_SIZE = 20
MAX_SEARCH_LENGTH = 200
MAX_BULK_ITEMS = 50
TYPE_PREFIXES = {
    "image": ("image/",), "images": ("image/",),
    "video": ("video/",), "videos": ("video/",),
    "audio": ("audio/",),
    "document": ("application/", "text/"), "documents": ("application/", "text/"),
}
MIME_PREFIX = re.compile(r"[a-z]+/[a-z0-9.+-]*")
FileId = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
FileIds = Annotated[list[FileId], msgspec.Meta(min_length=1, max_length=MAX_BULK_ITEMS)]
MEDIA_FILTERS = (
    Param("folder", str, "exact folder"),
    Param("type", str, "image, video, audio, document, or a MIME prefix such as image/png"),
    Param("search", Annotated[str, msgspec.Meta(max_length=MAX_SEARCH_LENGTH)], "in name, alt, caption and tags"),
    Param("sort", str, "uploadedAt, size or name; '-' for descending (default -uploadedAt)"),
    Param("deleted", bool, "the trash instead of live files"),
)


class MediaPatch(msgspec.Struct, forbid_unknown_fields=True):
    """Body of ``PATCH /api/media/{id}``: any of the fields; ``null`` clears alt/caption/tags.

    ``tags`` is a list, or a string read as an upload's ``tags`` part is (one parser,
    ``uploads.clean_tags``): ``"bikes, red"`` is two tags, as it is on an upload.
    """

    alt: str | None | msgspec.UnsetType = msgspec.UNSET
    caption: str | None | msgspec.UnsetType = msgspec.UNSET
    tags: Annotated[list[str] | str | None, msgspec.Meta(
        description=f"a list of tags, or a string of {TAGS_TEXT}, as an upload's tags; null clears them")
    ] | msgspec.UnsetType = msgspec.UNSET
    folder: str | msgspec.UnsetType = msgspec.UNSET


class BulkDelete(msgspec.Struct, forbid_unknown_fields=True):
    """Body of ``POST /api/media/bulk-delete``."""

    fileIds: FileIds


class BulkMove(msgspec.Struct, forbid_unknown_fields=True):
    """Body of ``POST /api/media/bulk-move``: ``folder`` (SonicJS's code) or ``targetFolder``
    (the name SonicJS's documentation gives it), one of them."""

    fileIds: FileIds
    folder: str | msgspec.UnsetType = msgspec.UNSET
    targetFolder: str | msgspec.UnsetType = msgspec.UNSET


def target_folder(body):
    """``(folder, field)``: the folder a ``BulkMove`` names, by either name, and the name it
    came by, for an error on it (``("", "folder")`` for none; 422 when they differ)."""
    given = {value for value in (body.folder, body.targetFolder) if value is not msgspec.UNSET}
    if len(given) > 1:
        raise field_error("targetFolder", "give folder or targetFolder, not two different folders")
    field = "folder" if body.targetFolder is msgspec.UNSET else "targetFolder"
    return (given.pop() if given else ""), field


def live_or_404(media_id):
    """The live (not soft-deleted) row, or 404."""
    row = find(media_id)
    if row is None or row.deleted_at is not None:
        raise not_found("File not found")
    return row


def _unique(ids):
    return list(dict.fromkeys(ids))


def _summary(done, errors):
    return {"total": len(done) + len(errors), "successful": len(done), "failed": len(errors)}


class MediaCollectionResource:
    """``GET /api/media``: live files, newest first, filtered and paginated.

    Query: ``folder`` (exact), ``type`` (image, video, audio, document, or a MIME prefix
    such as ``image/png``), ``search`` (in original name, alt, caption and each tag), ``sort``
    (``uploadedAt``, ``size``, ``name``; ``-`` for descending; default ``-uploadedAt``),
    ``limit`` (1-100, default 20), ``page`` or ``offset`` (not both: as the content lists, a
    value out of range is a 400 naming it), ``deleted=true`` for the trash (everyone's for
    holders of ``media.delete``, otherwise one's own). Callers without ``media.upload``
    (viewers) list only files that published content uses and their own uploads.
    """

    @access("media.read")
    @describe("List media files",
              query=paged(DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE) + (Param("offset", Offset),) + MEDIA_FILTERS,
              response=Listed[MediaFile])
    def on_get(self, req, resp):
        limit = limit_param(req, DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)
        offset = skipped_items(req, limit)
        rows, total = library_queries.list_media_from(_filter(req), offset, limit)
        # A page read at an offset between two page boundaries has items before it.
        meta = pagination_meta(total, limit, offset // limit + 1, has_prev=offset > 0,
                               has_next=offset + len(rows) < total)
        resp.media = {"data": [to_record(row) for row in rows], "meta": meta}


def _filter(req):
    """The MediaFilter of the query string (400 for an invalid ``type``, ``search`` or ``sort``)."""
    user = req.context.user
    deleted = req.get_param_as_bool("deleted", default=False)
    kind = req.get_param("type")
    prefixes = _type_prefixes(kind) if kind else ()
    search = (req.get_param("search") or "").strip()
    if len(search) > MAX_SEARCH_LENGTH:
        raise invalid_param("search", f"must be at most {MAX_SEARCH_LENGTH} characters")
    return MediaFilter(
        deleted=deleted,
        # The trash is everyone's for holders of media.delete, otherwise one's own.
        uploaded_by=user.id if deleted and not user.can("media.delete") else None,
        folder=req.get_param("folder") or None,
        type_prefixes=prefixes,
        search=search or None,
        sort=_sort(req.get_param("sort")),
        # Outside the editorial team: published files and one's own uploads only.
        visible_to=None if visibility.sees_whole_library(user) else user.id,
    )


def _sort(sort):
    sort = sort or DEFAULT_SORT
    if sort.lstrip("-") not in SORT_FIELDS:
        raise invalid_param("sort", f"must be one of {', '.join(SORT_FIELDS)}, optionally prefixed with '-'")
    return sort


def _type_prefixes(kind):
    prefixes = TYPE_PREFIXES.get(kind.lower())
    if prefixes is None:
        if not MIME_PREFIX.fullmatch(kind.lower()):
            raise invalid_param("type",
                                "must be image, video, audio, document, or a MIME type prefix such as image/png")
        prefixes = (kind.lower(),)
    return prefixes


class MediaItemResource:
    """``GET``, ``PATCH`` and ``DELETE /api/media/{media_id}``."""

    def __init__(self, library):
        self._library = library

    @access("media.read")
    @describe("One media file", response=FileBody)
    def on_get(self, req, resp, media_id):
        row = find(media_id)
        # The trash is visible to those who may restore from it, and only to them.
        if row is None or (row.deleted_at is not None and not can_delete(req.context.user, row)):
            raise not_found("File not found")
        if not visibility.may_see(req.context.user, row, self._library.is_published):
            raise not_found("File not found")
        resp.media = {"success": True, "file": to_record(row)}

    @access("media.update")
    @describe("Update alt, caption, tags or folder", body=MediaPatch, response=FileBody)
    def on_patch(self, req, resp, media_id):
        row = live_or_404(media_id)
        if not can_update(req.context.user, row):
            raise forbidden("You may only edit your own files")
        body = read_body(req, MediaPatch)
        folder = None if body.folder is msgspec.UNSET else named_folder(self._library, body.folder)
        changes = self._metadata_changes(body)
        if not changes and folder is None:
            raise nothing_to_update()
        # One write: a move refused as a conflict (409) leaves the metadata as it was too,
        # and a purge cannot come between the two.
        row = self._library.edit(row, folder, changes)
        resp.media = {"success": True, "message": "File updated successfully", "file": to_record(row)}

    @staticmethod
    def _metadata_changes(body):
        changes = {}
        if body.alt is not msgspec.UNSET:
            changes["alt"] = uploads.clean_text("alt", body.alt, uploads.MAX_ALT_LENGTH)
        if body.caption is not msgspec.UNSET:
            changes["caption"] = uploads.clean_text("caption", body.caption, uploads.MAX_CAPTION_LENGTH)
        if body.tags is not msgspec.UNSET:
            changes["tags"] = uploads.clean_tags(body.tags)
        return changes

    @access(authenticated=True)
    @describe("Soft-delete a file (hard=true purges)", query=(Param("hard", bool, "delete for good (media.purge)"),),
              response=FileRemoved, headers=STORE_CALLED)
    def on_delete(self, req, resp, media_id):
        user = req.context.user
        if req.get_param_as_bool("hard", default=False):
            if not user.can("media.purge"):
                raise forbidden()
            purge_media(self._library, req, resp, media_id)
            return
        if not may_delete_some(user):
            raise forbidden()
        row = live_or_404(media_id)
        if not can_delete(user, row):
            raise forbidden("You may only delete your own files")
        self._library.soft_delete(row)
        resp.media = {"success": True, "message": "File deleted successfully", "file": to_record(row)}


def purge_media(library, req, resp, media_id):
    """Delete a file's row, object and thumbnail for good (the caller checked ``media.purge``)."""
    row = find(media_id)
    if row is None:
        raise not_found("File not found")
    library.purge(req.context.env.MEDIA_BUCKET, row)
    resp.media = {"success": True, "message": "File permanently deleted", "id": row.id}


class MediaRestoreResource:
    """``POST /api/media/{media_id}/restore``: undo a soft delete."""

    def __init__(self, library):
        self._library = library

    @access(authenticated=True)
    @describe("Restore a soft-deleted file", response=FileBody)
    def on_post(self, req, resp, media_id):
        user = req.context.user
        if not may_delete_some(user):
            raise forbidden()
        row = find(media_id)
        if row is None or not visible_to_deleter(user, row, self._library.is_published):
            raise not_found("File not found")
        if not can_delete(user, row):
            raise forbidden("You may only restore your own files")
        restored = self._library.restore(row)
        message = "File restored successfully" if restored else "File was not deleted"
        resp.media = {"success": True, "message": message, "file": to_record(row)}


def visible_to_deleter(user, row, is_published):
    """Whether ``row`` exists for ``user`` as ``GET /api/media/{id}`` says: someone else's
    trash, or a file they may not see, is "not found" to those who may not delete it."""
    if can_delete(user, row):
        return True
    return row.deleted_at is None and visibility.may_see(user, row, is_published)


class MediaPurgeResource:
    """``DELETE /api/media/{media_id}/purge``: admins only (``media.purge``)."""

    def __init__(self, library):
        self._library = library

    @access("media.purge")
    @describe("Delete a file for good", response=FilePurged, headers=STORE_CALLED)
    def on_delete(self, req, resp, media_id):
        purge_media(self._library, req, resp, media_id)


class BulkDeleteResource:
    """``POST /api/media/bulk-delete``: soft-delete up to 50 files, one result each.

    Files already deleted count as deleted (``alreadyDeleted``), as in SonicJS; missing
    files and others' files (without ``media.delete``) are errors. All deletions happen in
    one transaction.
    """

    def __init__(self, library):
        self._library = library

    @access(authenticated=True)
    @describe("Soft-delete up to 50 files", body=BulkDelete, response=BulkDeleteResult)
    def on_post(self, req, resp):
        user = req.context.user
        if not may_delete_some(user):
            raise forbidden()
        ids = _unique(read_body(req, BulkDelete).fileIds)
        rows = library_queries.rows_by_id(ids)
        deleted, errors, to_delete = [], [], []
        for media_id in ids:
            row = rows.get(media_id)
            if row is None or not visible_to_deleter(user, row, self._library.is_published):
                errors.append({"fileId": media_id, "error": "File not found"})
            elif not can_delete(user, row):
                errors.append({"fileId": media_id, "error": "Permission denied"})
            elif row.deleted_at is not None:
                deleted.append(
                    {"fileId": media_id, "filename": row.original_name, "success": True, "alreadyDeleted": True}
                )
            else:
                to_delete.append(media_id)
                deleted.append({"fileId": media_id, "filename": row.original_name, "success": True})
        if to_delete:
            self._library.soft_delete_many(to_delete)
        resp.media = {"success": not errors, "deleted": deleted, "errors": errors, "summary": _summary(deleted, errors)}


class BulkMoveResource:
    """``POST /api/media/bulk-move``: put up to 50 files in ``folder`` (or ``targetFolder``;
    422 when it is blank or missing).

    A move changes each file's folder only: keys, URLs and objects stay as they are. Each
    file moves on its own (a compare-and-set on its folder), so one conflict leaves the
    others moved.
    """

    def __init__(self, library):
        self._library = library

    @access("media.update")
    @describe("Move up to 50 files to a folder", body=BulkMove, response=BulkMoveResult)
    def on_post(self, req, resp):
        user = req.context.user
        body = read_body(req, BulkMove)
        folder = named_folder(self._library, *target_folder(body))
        ids = _unique(body.fileIds)
        rows = library_queries.rows_by_id(ids, live_only=True)
        moved, errors = [], []
        for media_id in ids:
            row = rows.get(media_id)
            if row is None:
                errors.append({"fileId": media_id, "error": "File not found"})
            elif not can_update(user, row):
                errors.append({"fileId": media_id, "error": "Permission denied"})
            else:
                self._move_one(row, folder, moved, errors)
        resp.media = {"success": not errors, "moved": moved, "errors": errors, "summary": _summary(moved, errors)}

    def _move_one(self, row, folder, moved, errors):
        """Move one row, adding its result to ``moved`` or its conflict to ``errors``."""
        unchanged = row.folder == folder
        try:
            row = self._library.move(row, folder)
        except MediaConflict as ex:
            errors.append({"fileId": row.id, "error": ex.message})
            return
        moved.append({
            "fileId": row.id, "filename": row.original_name, "success": True, "folder": row.folder,
            "r2_key": row.r2_key, "publicUrl": row.public_url, **({"unchanged": True} if unchanged else {}),
        })


def register(routes, library):
    """Mount the library routes (literal segments before ``{media_id}`` win in Falcon's router)."""
    routes.add("/api/media", MediaCollectionResource())
    routes.add("/api/media/bulk-delete", BulkDeleteResource(library))
    routes.add("/api/media/bulk-move", BulkMoveResource(library))
    routes.add("/api/media/{media_id}", MediaItemResource(library))
    routes.add("/api/media/{media_id}/restore", MediaRestoreResource(library))
    routes.add("/api/media/{media_id}/purge", MediaPurgeResource(library))
