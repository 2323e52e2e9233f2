"""``GET /admin``: the dashboard; ``GET /``: a redirect to it.

Every signed-in user sees the content they may read that changed last, in the active
collections (as All content lists it). The numbers (content by status and collection, media
totals) and the pending schedules describe unpublished work, so they are shown, like
``GET /admin/api/stats`` and ``GET /api/schedules`` answer them, only to holders of
``content.publish``.
"""

import falcon

from app.admin.pages import redirect
from app.api.access import access
from app.services.content.fields import TIME, Field
from app.services.content.filters import SortKey
from app.services.content.query import ListParams, Scope, list_content
from app.services.content.scheduling import list_schedules
from app.services.stats import dashboard_stats

RECENT_LIMIT = 10
SCHEDULED_LIMIT = 10
STATS_PERMISSION = "content.publish"


def recent_changes(user, limit=RECENT_LIMIT):
    """The ``limit`` items ``user`` may read that were edited last (any status they may see).

    Deactivated collections' items are left out for everyone, as All content leaves them
    out (by the scope's ``active_only``): each row links to the item's edit page, which is
    not found for such an item, whoever follows it.
    """
    scope = Scope.of(user).of_active_collections()
    statuses = ("published",) if scope.public_shape else None
    params = ListParams(statuses=statuses, sort=(SortKey(Field("updated_at", TIME), True),), limit=limit)
    return list_content(params, scope)["data"]


class DashboardPage:
    """``GET /admin``."""

    def __init__(self, renderer):
        self._renderer = renderer

    @access(authenticated=True)
    def on_get(self, req, resp):
        user = req.context.user
        overseer = user.can(STATS_PERMISSION)
        stats = dashboard_stats() if overseer else None
        scheduled = list_schedules(status="pending", limit=SCHEDULED_LIMIT)[0] if overseer else []
        self._renderer.page(
            req, resp, "dashboard.html", stats=stats, scheduled=scheduled, recent=recent_changes(user),
        )


class RootRedirect:
    """``GET /``: people who open the server's address land in the admin."""

    @access(public=True)
    def on_get(self, req, resp):
        redirect(resp, "/admin", falcon.HTTP_302)
