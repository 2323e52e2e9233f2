"""The media API under ``/api/media``, with SonicJS's paths and shapes.

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


from app.api import media_manage, media_upload


def register(routes):
    """Mount the media API over the app's media library."""
    library = routes.services.media
    media_upload.register(routes, library)
    media_manage.register(routes, library)
