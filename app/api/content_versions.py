"""Content versions: ``GET /api/content/{id}/versions``, ``GET .../versions/{n}`` and
``POST .../versions/{n}/restore``.

Every create, update, restore and workflow move stores a snapshot (``{title, slug, status,
workflow_state_id, data, meta_title, meta_description, featured_image_id,
published_at}``). Reading versions needs ``content.update`` (authors: their own items);
a restore brings back title, slug, data and the SEO fields (not the status, which belongs
to the workflow) as a NEW version, validated against the collection's current schema.
"""

from app.api.access import access
from app.api.content_write import ANSWERED_ITEM, expected_version, respond_item
from app.api.describe import IF_MATCH, Offset, Page, Param, describe, limit_type
from app.api.errors import not_found
from app.api.params import limit_param, skipped_items
from app.api.schemas import Listed, One
from app.api.schemas_content import ContentItem, Version, VersionSummary
from app.services.cache import Namespace, invalidate
from app.services.content import writes
from app.services.content.fields import INT32_RANGE
from app.services.content.versions import get_version, list_versions

MAX_VERSION = INT32_RANGE[1]  # version_number is an INTEGER column on PostgreSQL
DEFAULT_VERSION_LIMIT = 50
VERSION_LIMIT = 100


class VersionsResource:
    """The versions of one item, newest first (``limit`` up to 100, ``page`` or ``offset``)."""

    @access("content.update")
    @describe(
        "The versions of an item, newest first",
        query=(Param("limit", limit_type(DEFAULT_VERSION_LIMIT, VERSION_LIMIT)), Param("page", Page),
               Param("offset", Offset)),
        response=Listed[VersionSummary],
    )
    def on_get(self, req, resp, id):
        limit = limit_param(req, DEFAULT_VERSION_LIMIT, VERSION_LIMIT)
        resp.media = list_versions(req.context.user, id, limit, skipped_items(req, limit))


class VersionResource:
    """One version with its full snapshot."""

    @access("content.update")
    @describe("One version with its snapshot", response=One[Version])
    def on_get(self, req, resp, id, version):
        found = get_version(req.context.user, id, version)
        if found is None:
            raise not_found("Version not found")
        resp.media = {"data": found}


class VersionRestoreResource:
    """Restore version ``n`` as a new version (``If-Match`` guards against stale clients)."""

    def __init__(self, cache):
        self._cache = cache

    @access("content.update")
    @describe("Restore a version as a new version", query=(IF_MATCH,), response=One[ContentItem],
              headers=ANSWERED_ITEM)
    def on_post(self, req, resp, id, version):
        writes.restore_version(req.context.user, id, version, expected_version(req))
        invalidate(self._cache, Namespace.CONTENT)
        respond_item(req, resp, id)


def register(routes):
    """Mount the version routes (``{version}`` is a bounded int)."""
    one = f"/api/content/{{id}}/versions/{{version:int(min=1, max={MAX_VERSION})}}"
    routes.add("/api/content/{id}/versions", VersionsResource())
    routes.add(one, VersionResource())
    routes.add(one + "/restore", VersionRestoreResource(routes.services.cache))
