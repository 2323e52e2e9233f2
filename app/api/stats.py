"""Aggregate stats: ``GET /admin/api/stats`` (SonicJS's path), ``GET /api/content/stats`` and
``GET /admin/api/storage`` (bytes in the database and in media files, SonicJS's keys).

SonicJS answers ``{collections, contentItems, mediaFiles, mediaSize, users, timestamp}``
with ``contentItems`` always 0 (its query reads a column no migration creates). Here the
same keys hold real numbers, plus content counts by status and by collection and media
totals (``app.services.stats``). The numbers reveal unpublished work, so the route needs
``content.publish`` (editors and admins), not just ``content.read``. ``timestamp`` (when the
numbers were counted) is an ISO 8601 string, as SonicJS sends it, in both answers.
"""

from app.api.access import access
from app.api.describe import describe
from app.api.health import iso_ms
from app.api.schemas_admin import Stats, Storage
from app.services.stats import dashboard_stats, storage_stats


class StatsResource:
    """The dashboard numbers."""

    @access("content.publish")
    @describe("Dashboard numbers: collections, content, media, users", response=Stats)
    def on_get(self, req, resp):
        stats = dashboard_stats()
        resp.media = {
            "collections": stats["collections"],
            "contentItems": stats["content"]["total"],
            "mediaFiles": stats["media"]["count"],
            "mediaSize": stats["media"]["totalSize"],
            "users": stats["users"],
            "timestamp": iso_ms(stats["timestamp"]),
            "content": stats["content"],
            "media": stats["media"],
        }
        resp.set_header("Cache-Control", "private, no-store")


class StorageResource:
    """How many bytes the database and the live media files take."""

    @access("content.publish")
    @describe("Bytes stored: the database, live media files and their sum", response=Storage)
    def on_get(self, req, resp):
        stats = storage_stats()
        resp.media = {**stats, "timestamp": iso_ms(stats["timestamp"])}
        resp.set_header("Cache-Control", "private, no-store")


def register(routes):
    """Mount the stats routes."""
    resource = StatsResource()
    routes.add("/admin/api/stats", resource)
    routes.add("/api/content/stats", resource)
    routes.add("/admin/api/storage", StorageResource())
