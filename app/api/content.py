"""The content API (SPEC A5, A11, D4-D6): where its routes are mounted and errors mapped.

Reads live in ``content_read``, writes in ``content_write``, versions in
``content_versions``; this module composes the resources Falcon needs (one per URI
template) and maps the content services' exceptions to the error envelope once.

Routes (field names matter: Falcon requires every template sharing a prefix to use the
same name, so other modules mounting ``/api/content/{id}/...`` use ``{id}`` too):

* ``GET /api/content``, ``POST /api/content``
* ``GET|PUT|DELETE /api/content/{id}`` (``DELETE ?hard=true`` purges)
* ``POST /api/content/{id}/restore``, ``DELETE /api/content/{id}/purge``
* ``GET /api/content/{id}/versions``, ``GET .../versions/{n}``, ``POST .../versions/{n}/restore``
* ``GET /api/collections/{name}/content``, ``GET /api/collections/{name}/content/{slug}``
"""

from app.api import content_versions
from app.api.content_read import (
    CollectionContentResource,
    CollectionItemResource,
    ContentItemReader,
    ContentListReader,
)
from app.api.content_write import (
    ContentCreator,
    ContentItemWriter,
    PurgeResource,
    RestoreResource,
)
from app.services.cache import install_cache


class ContentListResource(ContentListReader, ContentCreator):
    """``/api/content``: GET lists, POST creates."""

    def __init__(self, cache, services):
        self._cache = cache
        self._services = services


class ContentItemResource(ContentItemReader, ContentItemWriter):
    """``/api/content/{id}``: GET, PUT, DELETE."""

    def __init__(self, cache, services):
        self._cache = cache
        self._services = services


def register(routes):
    """Mount the content routes; install the cache as ``services.extras["cache"]``."""
    cache = install_cache(routes.services, routes.env.CACHE_KV)
    services = routes.services
    routes.add("/api/content", ContentListResource(cache, services))
    routes.add("/api/content/{id}", ContentItemResource(cache, services))
    routes.add("/api/content/{id}/restore", RestoreResource(services))
    routes.add("/api/content/{id}/purge", PurgeResource(services))
    content_versions.register(routes)
    routes.add("/api/collections/{name}/content", CollectionContentResource(cache))
    routes.add("/api/collections/{name}/content/{slug}", CollectionItemResource(cache))
