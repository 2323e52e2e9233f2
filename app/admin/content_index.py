"""The admin's content index, ``GET /admin/content``: the active collections, each linking to
its items, and every item across them, filtered by collection, status and search, in
numbered pages, last edited first.

The list is the API's list (``parse_list_params`` and ``list_content``) without a collection
or with the one picked, under the reader's Scope: it shows exactly what ``GET /api/content``
shows them, less the deactivated collections' items an editor's scope covers there. Its
status and search are read as the collection lists read theirs (``content.list_query``: the
same statuses, Trash view and as-you-type search) and its refusals are theirs: a status that
is none of the reader's answers 400 with the list unfiltered by status, a collection that is
none of the active ones 404 with the list of every collection, both saying why without
echoing the URL's text; a page past the end says so, with a link back. Asked by the page's
filters (htmx), both answers' list regions are swapped in as a 200's is (admin.js), so a
collection deactivated since the page loaded shows every collection's items and says why,
and every answer redraws the collections the page links and offers.
"""

import falcon

from app.admin.content import DEFAULT_SORT, PAGE_SIZE, chips_for, list_query, listed_items
from app.admin.list_columns import BUILT_IN_LABELS, Column, rows_of
from app.admin.sonicjs_paths import content_list_target, moved
from app.api.access import access
from app.services.collections import active_collections
from app.services.content.query import Scope, list_content, parse_list_params

# The columns after the title and collection, written as the collection lists write them.
ROW_COLUMNS = tuple(Column(name, BUILT_IN_LABELS[name]) for name in ("status", "author", "updated_at"))
UNKNOWN_COLLECTION = "That collection is unknown, so the list shows every collection."


def picked_collection(req, collections):
    """``(collection, known)``: the one of ``collections`` the ``collection`` parameter names
    (None for none or an empty one: every collection), and whether it named one of them."""
    name = (req.get_param("collection") or "").strip()
    if not name:
        return None, True
    found = next((collection for collection in collections if collection.name == name), None)
    return found, found is not None


def all_content(scope, params, collection=None):
    """The API's list of ``params`` (``list_query``'s) under ``scope``, last edited first:
    ``collection``'s items, else those of every active collection.

    Deactivated collections' items, which an editor's scope covers, are left out by the
    scope (``active_only``) rather than by a filter: the list stays an unfiltered one, whose
    total is read from the kept counts, exact at any size.

    Raises:
        NotPermitted, QueryError: as ``parse_list_params`` does.
    """
    params = {**params, "sort": DEFAULT_SORT}
    collection_id = collection.id if collection is not None else None
    editing = scope.of_active_collections()
    return list_content(parse_list_params(params, editing, collection_id=collection_id), editing)


class ContentIndexPage:
    """``GET /admin/content``: the collections, then every item across them (``all_content``).

    The collections show no item counts: the lists' totals come with a page query per
    collection, and an author's (published items plus their own drafts) are counted match
    by match rather than read from the kept counts.
    """

    def __init__(self, renderer):
        self._renderer = renderer

    @access("content.read")
    def on_get(self, req, resp):
        sonicjs_list = content_list_target(req, PAGE_SIZE)  # a SonicJS admin's list URL: /admin/content?model=<name>
        if sonicjs_list is not None:
            moved(resp, sonicjs_list)
            return
        scope = Scope.of(req.context.user)
        collections = active_collections()
        collection, known = picked_collection(req, collections)
        shown, params = list_query(req, scope)
        shown.update(sort=DEFAULT_SORT, collection=collection.name if collection is not None else "")
        result, error, status = listed_items(req, scope, lambda: all_content(scope, params, collection))
        if not known:  # the filter dropped matters most: said before any other problem
            error, status = UNKNOWN_COLLECTION, falcon.HTTP_404
        self._renderer.page(
            req, resp, "content_index.html", status=status, collections=collections, shown=shown,
            rows=rows_of(ROW_COLUMNS, result["data"], scope, can_see_media=False), meta=result["meta"],
            chips=chips_for(scope), public_only=scope.public_shape, error=error,
            filtered=bool(shown["collection"] or shown["search"] or (shown["status"] and not scope.public_shape)),
        )
