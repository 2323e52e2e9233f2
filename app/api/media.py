"""The media API (SPEC A8) under ``/api/media``, with SonicJS's paths and shapes.

Routes (who may call each: see ``app.services.media``)::

    POST   /api/media/upload            multipart ``file`` (+ folder, alt, caption, tags)   201
    POST   /api/media/upload-multiple   multipart ``files`` repeated (same fields)          201
    POST   /api/media/create-folder     {"folderName"}: checks a name (folders are virtual)
    GET    /api/media                   list: folder, type, search, deleted, sort, page, limit
    GET    /api/media/{id}              one file
    PATCH  /api/media/{id}              alt, caption, tags, folder (moves the object)
    DELETE /api/media/{id}              soft delete (``?hard=true``: purge)
    POST   /api/media/{id}/restore      undo a soft delete
    DELETE /api/media/{id}/purge        delete row, file and thumbnail for good
    POST   /api/media/bulk-delete       {"fileIds": [...]} (at most 50), per-item results
    POST   /api/media/bulk-move         {"fileIds": [...], "folder"} (at most 50)

Files themselves are served by ``app.api.files`` at ``/files/<key>``.
"""

import falcon

from app.api import media_manage, media_upload
from app.api.errors import APIError
from app.services.media import (
    FileTooLarge,
    InvalidMedia,
    MediaConflict,
    MediaError,
    MediaInUse,
    MediaLibrary,
    UnsupportedType,
)

# Most specific first: an error handler is looked up by the exception's class.
ERROR_STATUSES = (
    (FileTooLarge, falcon.HTTP_413),
    (UnsupportedType, falcon.HTTP_415),
    (InvalidMedia, falcon.HTTP_422),
    (MediaInUse, falcon.HTTP_409),
    (MediaConflict, falcon.HTTP_409),
)


def handle_media_error(req, resp, ex, params):
    """Service errors become the envelope with their status (422 for any other MediaError)."""
    status = next((status for kind, status in ERROR_STATUSES if isinstance(ex, kind)), falcon.HTTP_422)
    raise APIError(status, ex.message, ex.details)


def register(routes):
    """Mount the media API and register the media library as ``services.extras["media"]``."""
    library = MediaLibrary(routes.settings, routes.services)
    routes.services.extras["media"] = library
    routes.app.add_error_handler(MediaError, handle_media_error)
    media_upload.register(routes, library)
    media_manage.register(routes, library)
