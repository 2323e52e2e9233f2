"""``GET /admin/api/references``: published items a reference field may point at (SonicJS's route).

``collection`` names the collections (ids or names, repeated or comma-separated); ``search``
narrows by the content search; ``limit`` is 20 by default, 100 at most. With ``id`` the
answer is that one item, or 404 when it is not a published item of those collections.
Each item is ``{id, title, slug, status, updated_at, collection: {id, name, display_name}}``,
the newest first. Items are read under the caller's Scope, so nobody sees more through
this route than through the content lists; like every ``/admin/api`` route, it is for
editors and admins.
"""

import msgspec

from app.api.access import access
from app.api.describe import Param, describe
from app.api.errors import INVALID_PARAMETERS, bad_request, invalid_param, not_found
from app.api.params import limit_param
from app.api.schemas_content import CollectionRef
from app.services.content.fields import QueryError
from app.services.content.query import Scope, get_item, list_content, parse_list_params
from app.services.content.writes import find_collection

DEFAULT_LIMIT = 20
MAX_LIMIT = 100
PUBLISHED = "published"


class Reference(msgspec.Struct):
    """An item as a reference picker shows it."""

    id: str
    title: str
    slug: str
    status: str
    updated_at: int
    collection: CollectionRef


class References(msgspec.Struct):
    """The items found, newest first, and how many; with ``id``, that one item and no count."""

    data: list[Reference] | Reference
    count: int | msgspec.UnsetType = msgspec.UNSET


QUERY = (
    Param("collection", str, "collection ids or names, repeated or comma-separated", required=True),
    Param("search", str, "words the items must contain (the content search)"),
    Param("limit", int, f"how many, 1 to {MAX_LIMIT} (default {DEFAULT_LIMIT})"),
    Param("id", str, "answer this one item instead"),
)


def collections_named(req):
    """The collections of the ``collection`` parameters; 400 without any, 404 for an unknown one."""
    refs = [ref.strip() for value in req.get_param_as_list("collection") or () for ref in value.split(",")]
    refs = [ref for ref in refs if ref]
    if not refs:
        raise invalid_param("collection", "name at least one collection (id or name)")
    found = {}
    for ref in refs:
        collection = find_collection(ref)
        if collection is None:
            raise not_found(f"Collection not found: {ref}")
        found[collection.id] = collection
    return list(found.values())


def reference(item):
    """The picker's view of a content item."""
    return {key: item[key] for key in ("id", "title", "slug", "status", "updated_at", "collection")}


class ReferencesResource:
    """``GET /admin/api/references``."""

    @access("content.read")
    @describe("Published items of some collections, to reference", query=QUERY, response=References)
    def on_get(self, req, resp):
        collections = collections_named(req)
        limit = limit_param(req, DEFAULT_LIMIT, MAX_LIMIT)
        scope = Scope.of(req.context.user)
        wanted = req.get_param("id")
        if wanted is not None:
            item = get_item(scope, content_id=wanted)
            allowed = {collection.id for collection in collections}
            # An editor reads trashed items too; a reference may only point at a live one.
            if (item is None or item["status"] != PUBLISHED or item.get("deleted_at") is not None
                    or item["collection"]["id"] not in allowed):
                raise not_found("Content not found")
            resp.media = {"data": reference(item)}
            return
        params = {"limit": str(limit), "sort": "-updated_at", "status": PUBLISHED}
        search = req.get_param("search")
        if search:
            params["search"] = search
        items = []
        try:
            for collection in collections:
                items += list_content(parse_list_params(params, scope, collection_id=collection.id), scope)["data"]
        except QueryError as ex:
            raise bad_request(INVALID_PARAMETERS, ex.problems) from None
        items.sort(key=lambda item: item["updated_at"], reverse=True)
        found = [reference(item) for item in items[:limit]]
        resp.media = {"data": found, "count": len(found)}


def register(routes):
    """Mount the references route."""
    routes.add("/admin/api/references", ReferencesResource())
