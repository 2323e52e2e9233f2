"""``GET /admin/users/export``: the users the users list's filters select, as a CSV download.

SonicJS's users page links an Export button to this path and serves nothing there; here it
is the list's download. It needs what the list needs (``users.read``) and reads the filters
as the list reads them (``user_filters``: an unknown role or status filters nothing), so the
file holds the users the page lists, newest first, every page of them.

The file is ``users-<UTC date>.csv``: one row per user with ``COLUMNS``, the times in ISO
8601 UTC, and nothing secret (the service reads only ``users.EXPORTED``'s columns). It holds
at most ``EXPORT_LIMIT`` users; ``X-Export-Truncated`` says ``true`` when more matched. Its
cells follow every export's rules (``app.api.exports``): a text a spreadsheet would run as
a formula starts with ``'``, since users choose their own names.
"""

from datetime import UTC, datetime

from app.admin.users import user_filters
from app.api.access import access
from app.api.exports import CSV_TYPE, EXPORT_LIMIT, csv_text, send_as_file
from app.services import users

COLUMNS = ("id", "email", "username", "first_name", "last_name", "role", "status", "created_at", "last_login_at")


def iso_time(ms):
    """A stored millisecond time as ISO 8601 UTC to the second (``2026-01-31T09:05:00Z``); "" for None."""
    if ms is None:
        return ""
    return datetime.fromtimestamp(ms // 1000, UTC).isoformat().replace("+00:00", "Z")


def status_of(row):
    """The list's Status column: active, invited (an invitation pending) or inactive."""
    if row["is_active"]:
        return "active"
    return "invited" if row["invitation_pending"] else "inactive"


def csv_row(row):
    """The CSV's values for one exported user (``users.export_users``' dict)."""
    shown = {**row, "status": status_of(row), "created_at": iso_time(row["created_at"]),
             "last_login_at": iso_time(row["last_login_at"])}
    return [shown[name] for name in COLUMNS]


def send_users_csv(resp, rows, truncated):
    """Answer ``rows`` as the download, saying whether the export left users out."""
    resp.content_type = CSV_TYPE
    resp.text = csv_text([COLUMNS, *map(csv_row, rows)])
    send_as_file(resp, f"users-{datetime.now(UTC):%Y-%m-%d}.csv", truncated)  # no-store: people's addresses


class UsersExport:
    """``GET /admin/users/export``."""

    @access("users.read")
    def on_get(self, req, resp):
        rows, truncated = users.export_users(*user_filters(req).selection(), EXPORT_LIMIT)
        send_users_csv(resp, rows, truncated)
