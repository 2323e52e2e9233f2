"""Read-only admin lists: the media library (first version of that page).

It reads through the service the API's list uses (``library_queries.list_media``) under
the same permission as the API's list route (``media.read``).
"""

from app.admin.pages import page_number
from app.api.access import access
from app.services.media import to_record
from app.services.media.library_queries import MediaFilter, list_media
from app.services.pagination import pagination_meta

PAGE_SIZE = 24
MAX_SEARCH = 200
MEDIA_TYPES = {"image": ("image/",), "video": ("video/",), "audio": ("audio/",),
               "document": ("application/", "text/")}
# Thumbnails only for raster images: an uploaded SVG is never shown inline.
RASTER_TYPES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp", "image/avif"})


def search_of(req):
    """The ``search`` parameter, trimmed and bounded."""
    return (req.get_param("search") or "").strip()[:MAX_SEARCH]


class MediaPage:
    """``GET /admin/media``: live files, newest first, with search and a type filter."""

    def __init__(self, renderer):
        self._renderer = renderer

    @access("media.read")
    def on_get(self, req, resp):
        search, kind, page = search_of(req), req.get_param("type") or "", page_number(req)
        kind = kind if kind in MEDIA_TYPES else ""
        filters = MediaFilter(type_prefixes=MEDIA_TYPES.get(kind, ()), search=search or None)
        rows, total = list_media(filters, page, PAGE_SIZE)
        files = [{**to_record(row), "thumbnail": row.mime_type in RASTER_TYPES} for row in rows]
        self._renderer.page(
            req, resp, "media.html", files=files, meta=pagination_meta(total, PAGE_SIZE, page),
            search=search, kind=kind, kinds=tuple(MEDIA_TYPES),
        )

