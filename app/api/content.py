"""The content API: where its routes are mounted and errors mapped.

Reads live in ``content_read``, writes in ``content_write``, versions in
``content_versions``; this module composes the resources Falcon needs (one per URI
template) and maps the content services' exceptions to the error envelope once.

Routes (field names matter: Falcon requires every template sharing a prefix to use the
same name, so other modules mounting ``/api/content/{id}/...`` use ``{id}`` too):

* ``GET /api/content``, ``POST /api/content``
* ``GET|PUT|DELETE /api/content/{id}`` (``DELETE ?hard=true`` purges)
* ``GET /api/content/check-slug`` (SonicJS's; a literal segment, so Falcon prefers it to ``{id}``)
* ``POST /api/content/{id}/restore``, ``DELETE /api/content/{id}/purge``
* ``POST /api/content/{id}/duplicate``; ``POST /api/content/bulk-action`` (a literal segment too)
* ``GET /api/content/{id}/versions``, ``GET .../versions/{n}``, ``POST .../versions/{n}/restore``
* ``GET /api/collections/{name}/content``, ``GET /api/collections/{name}/content/{slug}``
"""

from app.api import content_versions
from app.api.content_bulk import BulkActionResource
from app.api.content_read import (
    CollectionContentResource,
    CollectionItemResource,
    ContentItemReader,
    ContentListReader,
)
from app.api.content_write import (
    CheckSlugResource,
    ContentCreator,
    ContentItemWriter,
    DuplicateResource,
    PurgeResource,
    RestoreResource,
)


class ContentListResource(ContentListReader, ContentCreator):
    """``/api/content``: GET lists, POST creates (both use the read cache)."""

    def __init__(self, cache):
        self._cache = cache


class ContentItemResource(ContentItemReader, ContentItemWriter):
    """``/api/content/{id}``: GET, PUT, DELETE."""

    def __init__(self, cache):
        self._cache = cache


def register(routes):
    """Mount the content routes."""
    cache = routes.services.cache
    routes.add("/api/content", ContentListResource(cache))
    routes.add("/api/content/check-slug", CheckSlugResource())
    routes.add("/api/content/bulk-action", BulkActionResource(cache))
    routes.add("/api/content/{id}", ContentItemResource(cache))
    routes.add("/api/content/{id}/restore", RestoreResource(cache))
    routes.add("/api/content/{id}/purge", PurgeResource(cache))
    routes.add("/api/content/{id}/duplicate", DuplicateResource(cache))
    content_versions.register(routes)
    routes.add("/api/collections/{name}/content", CollectionContentResource(cache))
    routes.add("/api/collections/{name}/content/{slug}", CollectionItemResource(cache))
