"""The ``request-logs`` core plugin: every request written to ``system_logs`` after its response.

Each finished request reaches the ``after_request`` hook, which the app runs through
``ctx.wait_until`` once the response has been sent: the client never waits for the row,
and a failing write is only logged (by the hook runner, with the request id) and never
fails the request. ``log_config``'s ``api``
row decides whether a row is kept (``enabled``, ``level``: 2xx/3xx are info, 4xx warn,
5xx error) and how long (``retention_days``, purged by the cron handler). The plugin's own
settings add what ``log_config`` has no column for: paths not logged (prefixes) and a
sampling rate for successful requests (4xx and 5xx are always kept).
"""

import logging
import random

import msgspec

from app.db.database import release_connection
from app.db.models import database
from app.services.logs import write_request_log
from app.services.plugins import PluginInfo, hookimpl

NAME = "request-logs"
log = logging.getLogger("sonicpy.request_logs")


class RequestLogSettings(msgspec.Struct, forbid_unknown_fields=True):
    """Settings of ``request-logs``.

    Attributes:
        exclude_paths: path prefixes never logged (health checks, file downloads).
        sample_rate: the share of successful requests logged, 0 to 1.
    """

    exclude_paths: list[str] = msgspec.field(default_factory=lambda: ["/health", "/api/health", "/files/"])
    sample_rate: float = 1.0

    def __post_init__(self):
        if not 0 <= self.sample_rate <= 1:
            raise ValueError("sample_rate must be between 0 and 1")


INFO = PluginInfo(
    name=NAME, display_name="Request Logs", version="1.0.0", author="sonicpy", category="system",
    description="Writes every API request to system_logs after the response",
    settings_schema=RequestLogSettings, default_settings=msgspec.to_builtins(RequestLogSettings()),
    active_by_default=True, is_core=True,
)


class RequestLogs:
    """The plugin object (one per app: it keeps that app's registry for its settings)."""

    plugin_info = INFO

    def __init__(self, chance=random.random):
        self._registry = None
        self._chance = chance

    @hookimpl
    def startup(self, services):
        self._registry = services.plugins

    @hookimpl
    def after_request(self, record):
        settings = self._registry.settings_of(NAME) if self._registry is not None else {}
        if any(record.path.startswith(prefix) for prefix in settings.get("exclude_paths", ())):
            return
        if record.status < 400 and self._chance() >= settings.get("sample_rate", 1.0):
            return
        write_logged(record)  # the hook already runs after the response


def write_logged(record):
    """Write the row for ``record``, then hand a pooled connection back (the request's own was already)."""
    try:
        write_request_log(record)
    finally:
        db = database.obj
        if db is not None:
            release_connection(db)
