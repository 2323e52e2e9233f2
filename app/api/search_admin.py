"""The AI Search plugin's admin JSON routes, SonicJS's, under ``/admin/plugins/ai-search/api``.

Mounted by the ``ai-search`` plugin, so they answer 404 while it is inactive (and leave the
OpenAPI document then); ``plugins.manage`` (admins). They are not admin pages: a write
takes a JSON body (415 otherwise), which no HTML form of another site can send, and a
cookie-authenticated one passes the cross-origin check (``app.api.cross_origin``), as
``POST /admin/plugins/{name}/settings`` does.

* ``GET .../api/settings``: the plugin's settings (``SearchSettings``).
* ``GET .../api/new-collections``: the active collections neither selected for search nor
  dismissed, each with the notice the admin page shows. With no collection selected every
  collection is searched, so none is new.
* ``GET .../api/status``: per collection id, its live items, whether it is searched and
  indexed and, with an ``AI`` binding, how much of it the semantic index holds.
* ``POST .../api/reindex`` ``{collection_id}``: the admin page's "Re-index now": a bounded
  batch embedded now (not a background job, as SonicJS starts), its counts answered.

Every answer they make with its data is ``Cache-Control: no-store``: it is the admin's view of
the plugin (its settings, the index's state), for no shared cache to keep nor a browser to
reuse. Refusals (the error envelope) are the app's, as on every other route.

Where SonicJS answers 500 with a message, these answer the error envelope with a 4xx; its
item counts cost a ``COUNT(*)`` per collection, these read the kept ``content_counts``.
"""

from typing import Annotated, Literal

import falcon
import msgspec

from app.api.access import access
from app.api.describe import describe, retry_after_503
from app.api.errors import APIError, not_found, read_body, retry_later
from app.api.private import no_store
from app.api.schemas import Closed, SuccessOf
from app.services.ai_search import overview
from app.services.ai_search.semantic import EmbeddingUnavailable
from app.services.ai_search.settings import SearchSettings

PREFIX = "/admin/plugins/ai-search/api"
NOT_INDEXED = ("This collection is not indexed, so it cannot be re-indexed: semantic search is off (the settings' "
               "enabled or ai_mode_enabled) or the collection is not among the selected collections.")
NO_BINDING = "No AI binding: the semantic index is unavailable"
# After a model that failed, the plugin asks it nothing for a minute (its BREAKER_MS).
MODEL_RETRY_SECONDS = 60
MODEL_DOWN = ("The embeddings model could not answer: what was embedded before is kept; "
              "try again once it answers")


class NoSuchCollection(APIError):
    """404: the body's ``collection_id`` names no collection; ``details`` names the field."""

    def __init__(self, collection_id):
        super().__init__(falcon.HTTP_404, "No collection has that id", [{
            "field": "collection_id", "message": "names no collection", "collection_id": collection_id}])


class NotIndexed(APIError):
    """409: the plugin keeps no vectors of the collection, so it cannot be re-indexed;
    ``details`` names the body's ``collection_id`` as every field's problem is named."""

    def __init__(self, collection_id):
        super().__init__(falcon.HTTP_409, NOT_INDEXED, [{
            "field": "collection_id", "message": "names a collection semantic search keeps no vectors of",
            "collection_id": collection_id}])


class ReindexBody(msgspec.Struct, forbid_unknown_fields=True):
    """``POST .../api/reindex``: the id of the collection to re-index."""

    collection_id: Annotated[str, msgspec.Meta(min_length=1, max_length=100)]


class NewCollection(Closed):
    """A collection new to search (SonicJS's ``CollectionInfo``): never indexed nor dismissed."""

    id: str
    name: str
    display_name: str
    description: str | None
    item_count: int
    is_indexed: bool
    is_dismissed: bool
    is_new: bool


class NewCollectionNotice(Closed):
    """One notice: the collection and the page's words about it."""

    collection: NewCollection
    message: str


class CollectionIndexStatus(Closed):
    """How far the semantic index covers a collection.

    ``status``: ``unavailable`` without an ``AI`` binding (the counts of the index are
    null), ``not_indexed`` when the plugin keeps no vectors of it (semantic search off, or
    the collection not searched), ``pending`` while items are missing or stale,
    ``completed`` otherwise. ``refused_items`` are texts the model would not embed.
    """

    collection_id: str
    collection_name: str
    display_name: str
    total_items: int
    searched: bool
    indexed: bool
    status: Literal["unavailable", "not_indexed", "pending", "completed"]
    indexed_items: int | None
    stale_items: int | None
    missing_items: int | None
    refused_items: int | None


class Reindexed(Closed):
    """What one re-index did: items checked, embedded, and refused by the model."""

    collection_id: str
    checked: int
    embedded: int
    refused: int


def notice_of(collection):
    """The words of the notice about a new collection (the page's and the API's)."""
    return (f"New collection available: '{collection['display_name']}' "
            f"({collection['item_count']} items) - add to search?")


def checked_for_reindex(index, collection_id):
    """Raise what keeps ``collection_id`` from being re-indexed: 404 without an ``AI``
    binding (``index`` None) or for an unknown collection, 409 when the plugin keeps no
    vectors of it (every vector costs a call to the model: none for what searches cannot use)."""
    if index is None:
        raise not_found(NO_BINDING)
    if not overview.collection_exists(collection_id):
        raise NoSuchCollection(collection_id)
    if not overview.vectors_wanted(collection_id):
        raise NotIndexed(collection_id)


class SettingsResource:
    """``GET .../api/settings``."""

    def __init__(self, settings):
        self._settings = settings

    @access("plugins.manage")
    @describe("The AI Search plugin's settings", response=SuccessOf[SearchSettings])
    @no_store
    def on_get(self, req, resp):
        resp.media = {"success": True, "data": msgspec.to_builtins(self._settings())}


class NewCollectionsResource:
    """``GET .../api/new-collections``."""

    def __init__(self, settings):
        self._settings = settings

    @access("plugins.manage")
    @describe("The collections new to AI Search", response=SuccessOf[list[NewCollectionNotice]],
              description="Active collections neither among `selected_collections` nor `dismissed_collections`; "
                          "none while `selected_collections` is empty (every collection is searched then).")
    @no_store
    def on_get(self, req, resp):
        settings = self._settings()
        found = overview.new_collections(settings.selected_collections, settings.dismissed_collections)
        resp.media = {"success": True, "data": [
            {"collection": {**collection, "is_indexed": False, "is_dismissed": False, "is_new": True},
             "message": notice_of(collection)}
            for collection in found]}


class StatusResource:
    """``GET .../api/status``."""

    def __init__(self, settings, semantic_index):
        self._settings = settings
        self._index = semantic_index

    @access("plugins.manage")
    @describe("How far the semantic index covers each collection", response=SuccessOf[dict[str, CollectionIndexStatus]])
    @no_store
    def on_get(self, req, resp):
        rows = overview.collections_overview(self._index(), self._settings().selected_collections)
        resp.media = {"success": True, "data": {row["id"]: _status_of(row) for row in rows}}


def _status_of(row):
    counts = row["index"]
    if counts is None:
        status = "unavailable"
    elif not row["vectors"]:
        status = "not_indexed"
    else:
        status = "pending" if counts["missing"] or counts["stale"] else "completed"
    return {
        "collection_id": row["id"], "collection_name": row["name"], "display_name": row["display_name"],
        "total_items": row["item_count"], "searched": row["searched"], "indexed": row["vectors"], "status": status,
        **{f"{name}_items": counts[key] if counts is not None else None
           for name, key in (("indexed", "indexed"), ("stale", "stale"), ("missing", "missing"),
                             ("refused", "failed"))},
    }


class ReindexResource:
    """``POST .../api/reindex``."""

    def __init__(self, semantic_index):
        self._index = semantic_index

    @access("plugins.manage")
    @describe("Re-index a bounded batch of one collection now", body=ReindexBody, response=SuccessOf[Reindexed],
              description="Embeds the collection's missing or stale items, those that look stale first, within "
                          "the bounds of the admin page's \"Re-index now\"; call again while the status shows some. "
                          "404 without an `AI` binding or for an unknown collection; 409 when semantic search "
                          "is off or the collection is not searched; 503 when the model does not answer.",
              headers={503: (retry_after_503(", or the embeddings model did not answer"),)})
    @no_store
    def on_post(self, req, resp):
        collection_id = read_body(req, ReindexBody).collection_id
        index = self._index()
        checked_for_reindex(index, collection_id)
        try:
            done = overview.reindex_batch(index, collection_id)
        except EmbeddingUnavailable:
            raise retry_later(MODEL_RETRY_SECONDS, message=MODEL_DOWN) from None
        resp.media = {"success": True, "data": {"collection_id": collection_id, **done}}


def search_admin_routes(settings, semantic_index):
    """The admin JSON routes the ``ai-search`` plugin mounts.

    Args:
        settings: returns the plugin's SearchSettings now.
        semantic_index: returns the SemanticIndex, or None without an ``AI`` binding.
    """
    return [
        (f"{PREFIX}/settings", SettingsResource(settings)),
        (f"{PREFIX}/new-collections", NewCollectionsResource(settings)),
        (f"{PREFIX}/status", StatusResource(settings, semantic_index)),
        (f"{PREFIX}/reindex", ReindexResource(semantic_index)),
    ]
