"""Read-only admin lists: collections (first version of that page).

It reads through the service the API's list uses (``collections.list_collections``) under
the same permission as the API's list route (``collections.read``). The media library
lives in ``app.admin.media``.
"""

from app.api.access import access
from app.services.collections import list_collections

MAX_SEARCH = 200


def search_of(req):
    """The ``search`` parameter, trimmed and bounded."""
    return (req.get_param("search") or "").strip()[:MAX_SEARCH]


class CollectionsPage:
    """``GET /admin/collections``: every collection, config-managed ones marked as read-only."""

    def __init__(self, renderer):
        self._renderer = renderer

    @access("collections.read")
    def on_get(self, req, resp):
        search = search_of(req)
        collections = list_collections(include_inactive=True, search=search or None)
        self._renderer.page(req, resp, "collections.html", collections=collections, search=search)
