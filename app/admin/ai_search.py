"""The AI Search plugin's page (``plugins.manage``): ``/admin/plugins/ai-search``.

It is the plugin's page of the plugins section (the generic one's state, activation button
and settings form, saved by the same registry call), with what SonicJS's page adds: whether
semantic search is available (the ``AI`` binding's model, never its key), every collection
with its items, whether it is searched and, with a binding, how much of it the semantic
index holds, a "Re-index now" per collection, the last 30 days' analytics, and a search to
try, answered as ``POST /api/search`` answers the signed-in user (not recorded in the
analytics).

SonicJS's new-collection detection: a notice per active collection neither selected for
search nor dismissed (none while no collection is selected: every one is searched then),
with "Add to search" (its id joins ``selected_collections``) and "Dismiss" (its id joins
``dismissed_collections``: never offered again). An inactive collection, which no notice
offers, is refused by "Add to search" (400, nothing written): the page says why to a
browser, an API client gets the error envelope. While the plugin is inactive the page is
the generic plugin page (its Activate button, its settings form) and the actions answer
404, as the plugin's routes do.
"""

from urllib.parse import urlencode

import falcon

from app.admin.pages import redirect, wants_html
from app.admin.plugins import PluginPage, form_fields
from app.api.access import access
from app.api.content_read import caller_scope
from app.api.errors import APIError, not_found
from app.api.search_admin import NOT_INDEXED, NotIndexed, checked_for_reindex, notice_of
from app.services.ai_search import history, overview, service
from app.services.ai_search.semantic import EmbeddingUnavailable, semantic_index_for
from app.services.ai_search.settings import settings_from
from app.services.content.fields import QueryError
from app.services.content.query import NotPermitted
from app.services.errors import ServiceError
from app.services.plugins.ai_search_plugin import NAME

PAGE = f"/admin/plugins/{NAME}"
MAX_QUERY = 200
MAX_COUNT_DIGITS = 9
MODES = (service.KEYWORD, service.AI)
INACTIVE = ("This collection is inactive, so it cannot be added to search: "
            "activate it first (only active collections are offered).")


class InactiveCollection(APIError):
    """400: "Add to search" of a collection that is not active."""

    def __init__(self, collection_id):
        super().__init__(falcon.HTTP_400, INACTIVE, {"collection_id": collection_id})


class AISearchPages:
    """What the page and its actions share: the registry, the semantic index, the actions' 404s."""

    def __init__(self, registry, env, cache=None):
        self.registry = registry
        self._env = env
        self._cache = cache

    def available(self):
        """Raise a 404 while the plugin is inactive (for the actions)."""
        if not self.registry.is_active(NAME):
            raise not_found("The AI Search plugin is inactive")

    def known(self, collection_id):
        """Raise a 404 unless a collection has the id ``collection_id``."""
        if not overview.collection_exists(collection_id):
            raise not_found("No collection has that id")

    def index(self):
        """The SemanticIndex, or None without an ``AI`` binding."""
        return semantic_index_for(self._env, self._cache)

    def settings(self):
        """The plugin's SearchSettings now."""
        return settings_from(self.registry.settings_of(NAME))

    def append(self, key, collection_id, user_id, when=lambda ids: True):
        """Append ``collection_id`` to the list setting ``key`` as the locked row holds it (two
        presses at once keep both, where a list read from this worker's cache would keep
        one), unless it is there already or ``when(list)`` is false; whether it was."""
        appended = []

        def change(stored):
            ids = getattr(settings_from(stored), key)
            if collection_id in ids or not when(ids):
                return None
            appended.append(collection_id)
            # Ids of deleted collections go: the lists are bounded, and they name nothing.
            return {key: [*overview.existing(ids), collection_id]}

        self.registry.update_settings(NAME, change, user_id)
        return bool(appended)


class AISearchPage(PluginPage):
    """``GET /admin/plugins/ai-search`` (``?q=&mode=``: a search to try); ``POST`` saves the settings."""

    def __init__(self, renderer, pages):
        super().__init__(renderer, pages.registry)
        self._search = pages

    def render(self, req, resp, plugin, status=falcon.HTTP_200, posted=None, problems=None, error=None):
        """The page; ``posted`` and ``problems`` after a refused save, ``error`` after a refused
        action. While the plugin is inactive, the generic plugin page (its Activate button and
        settings form)."""
        if not self._search.registry.is_active(NAME):
            super().render(req, resp, plugin, status, posted, problems)
            return
        index, settings = self._search.index(), self._search.settings()
        collections = overview.collections_overview(index, settings.selected_collections)
        new = overview.new_collections(settings.selected_collections, settings.dismissed_collections)
        self._renderer.page(
            req, resp, "ai_search.html", status=status, plugin=plugin, problems=problems or [],
            refused=posted is not None,
            fields=form_fields(plugin, self._schema(NAME), posted, problems),
            done=_done(req, collections), model=index.model if index is not None else None,
            collections=collections, names={row["id"]: row["name"] for row in collections},
            new_collections=[{**row, "notice": notice_of(row)} for row in new],
            analytics=history.analytics(), trial=_trial(req, index, settings), error=error,
        )

    def refuse(self, req, resp, error):
        """The page, answered 400 with ``error`` said at its top (an action refused, nothing written)."""
        self.render(req, resp, self._search.registry.get(NAME), falcon.HTTP_400, error=error)

    @access("plugins.manage")
    def on_get(self, req, resp):
        super().on_get(req, resp, NAME)

    @access("plugins.manage")
    def on_post(self, req, resp):
        super().on_post(req, resp, NAME)


def _done(req, collections):
    """What the action before this page did, from its redirect's query: the collection is
    named only when ``reindexed`` is the id of one of ``collections`` (by its display name),
    and counts only as numbers, so a crafted link cannot put its own words in the message."""
    if req.get_param("done"):
        return "Settings saved."
    names = {row["id"]: row["display_name"] for row in collections}
    added, dismissed = names.get(req.get_param("added")), names.get(req.get_param("dismissed"))
    if added is not None:
        if req.get_param("already") == "1":
            return f"{added} is searched already."
        later = " Press its Re-index now to embed its items." if req.get_param("indexed") == "1" else ""
        return f"{added} is searched now.{later}"
    if dismissed is not None:
        return f"{dismissed} was dismissed: it is not offered for search again."
    collection = names.get(req.get_param("reindexed"))
    if collection is None:
        return None
    if req.get_param("failed") == "1":
        return (f"Re-indexing {collection} stopped: the embeddings model could not answer. "
                "What was embedded before is kept; press again once it answers.")
    counts = [req.get_param(name) for name in ("checked", "embedded", "refused")]
    if all(count is not None and count.isdecimal() and len(count) <= MAX_COUNT_DIGITS for count in counts):
        checked, embedded, refused = (int(count) for count in counts)
        return (f"{collection}: {checked} item(s) checked, {embedded} embedded, {refused} refused by the model. "
                "The counts below are the index's now; press again while some are stale or missing.")
    return None


def _trial(req, index, settings):
    """``{query, mode, answer or error}`` of the search to try, or None when none was asked."""
    query = (req.get_param("q") or "").strip()[:MAX_QUERY]
    mode = req.get_param("mode") if req.get_param("mode") in MODES else service.KEYWORD
    if not query:
        return {"query": "", "mode": mode, "answer": None, "error": None}
    request = service.SearchRequest(query=query, mode=mode)
    try:
        answer = service.search(request, caller_scope(req), settings, index if mode == service.AI else None,
                                    req.context.user)
    except (QueryError, NotPermitted, ServiceError) as ex:
        return {"query": query, "mode": mode, "answer": None, "error": str(ex) or "The search could not run"}
    return {"query": query, "mode": mode, "answer": answer, "error": None}


class ReindexAction:
    """``POST /admin/plugins/ai-search/reindex/{collection_id}``: embed a bounded batch of the
    collection's missing or stale items (``overview.reindex_batch``), then back to the page,
    which says how many were checked, embedded and refused."""

    def __init__(self, renderer, pages):
        self._renderer = renderer
        self._pages = pages

    @access("plugins.manage")
    def on_post(self, req, resp, collection_id):
        self._pages.available()
        index = self._pages.index()
        try:
            checked_for_reindex(index, collection_id)
        except NotIndexed:
            # Said on a page of its own, in one sentence that says what to do.
            self._renderer.page(req, resp, "error.html", status=falcon.HTTP_409, title="Not indexed",
                                message=NOT_INDEXED)
            return
        try:
            done = overview.reindex_batch(index, collection_id)
        except EmbeddingUnavailable:
            redirect(resp, f"{PAGE}?{urlencode({'reindexed': collection_id, 'failed': 1})}")
            return
        redirect(resp, f"{PAGE}?{urlencode({'reindexed': collection_id, **done})}")


class AddToSearchAction:
    """``POST /admin/plugins/ai-search/collections/{collection_id}/add``: the notice's "Add to
    search": the collection's id joins ``selected_collections``. With none selected every
    collection is searched already: nothing changes (adding one would narrow the search).
    An inactive collection is refused with 400 (``INACTIVE``), nothing written: a browser
    gets the page saying so, an API client the error envelope."""

    def __init__(self, page, pages):
        self._page = page
        self._pages = pages

    @access("plugins.manage")
    def on_post(self, req, resp, collection_id):
        self._pages.available()
        self._pages.known(collection_id)
        if not overview.collection_is_active(collection_id):
            if wants_html(req):
                self._page.refuse(req, resp, INACTIVE)
                return
            raise InactiveCollection(collection_id)
        # An empty selection searches every collection: appending would narrow it.
        if not self._pages.append("selected_collections", collection_id, req.context.user.id, when=bool):
            redirect(resp, f"{PAGE}?{urlencode({'added': collection_id, 'already': 1})}")
            return
        indexed = self._pages.index() is not None and overview.vectors_wanted(collection_id)
        redirect(resp, f"{PAGE}?{urlencode({'added': collection_id, 'indexed': int(indexed)})}")


class DismissAction:
    """``POST /admin/plugins/ai-search/collections/{collection_id}/dismiss``: the notice's
    "Dismiss": the collection's id joins ``dismissed_collections``, so it is never offered again."""

    def __init__(self, pages):
        self._pages = pages

    @access("plugins.manage")
    def on_post(self, req, resp, collection_id):
        self._pages.available()
        self._pages.known(collection_id)
        self._pages.append("dismissed_collections", collection_id, req.context.user.id)
        redirect(resp, f"{PAGE}?{urlencode({'dismissed': collection_id})}")


def register(routes, renderer):
    """Mount the page (before ``/admin/plugins/{name}`` is matched: a literal segment wins) and its actions."""
    pages = AISearchPages(routes.services.plugins, routes.env, routes.services.cache)
    page = AISearchPage(renderer, pages)
    routes.add_page(PAGE, page)
    routes.add_page(f"{PAGE}/reindex/{{collection_id}}", ReindexAction(renderer, pages))
    routes.add_page(f"{PAGE}/collections/{{collection_id}}/add", AddToSearchAction(page, pages))
    routes.add_page(f"{PAGE}/collections/{{collection_id}}/dismiss", DismissAction(pages))
