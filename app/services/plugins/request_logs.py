"""The ``request-logs`` core plugin: every request written to ``system_logs`` after its response.

Each finished request reaches the ``after_request`` hook, which the app runs through
``ctx.wait_until`` once the response has been sent. The hook only queues the request's
record and time in its worker process's buffer (``app.services.log_buffer``): rows are
built and written in batches, one transaction per flush, by a background thread, and
flushed when the process exits, so the client never waits for a row and a failing write
is only logged. ``log_config``'s ``api``
row, read once per flush, decides whether a row is kept (``enabled``, ``level``: 2xx/3xx
are info, 4xx warn, 5xx error) and how long (``retention_days``, purged by the cron
handler). The plugin's own settings add what ``log_config`` has no column for: paths not
logged (prefixes) and a sampling rate for successful requests (4xx and 5xx are always
kept). ``flush()`` writes the waiting rows at once (tests use it to read what was logged).

The hook runs for every request, so deciding costs little: the rules are drawn from the
settings once per settings object the registry shares (a new one comes with every change).
"""

import logging
import random

import msgspec

from app.db.database import release_connection
from app.db.models import database, now_ms
from app.services.log_buffer import process_buffer
from app.services.logs import insert_request_records
from app.services.plugins import PluginInfo, SettingError, hookimpl

NAME = "request-logs"
log = logging.getLogger("sonicpy.request_logs")


class RequestLogSettings(msgspec.Struct, forbid_unknown_fields=True):
    """Settings of ``request-logs``.

    Attributes:
        exclude_paths: path prefixes never logged (health checks, file downloads).
        sample_rate: the share of successful requests logged, 0 to 1.
    """

    exclude_paths: list[str] = msgspec.field(
        default_factory=lambda: ["/health", "/api/health", "/api/system/health", "/api/system/ping", "/files/"])
    sample_rate: float = 1.0

    def __post_init__(self):
        if not 0 <= self.sample_rate <= 1:
            raise SettingError("sample_rate", "sample_rate must be between 0 and 1")


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
        self._rules = (None, ((), 1.0))  # (the settings they were drawn from, (excluded prefixes, sample rate))

    @hookimpl
    def startup(self, services):
        self._registry = services.plugins

    @hookimpl
    def after_request(self, record):
        db = database.obj
        try:
            excluded, sample_rate = self._current_rules()
            if excluded and record.path.startswith(excluded):
                return
            if record.status >= 400 or self._chance() < sample_rate:
                # The record and its time only: the writer thread builds the row's values.
                process_buffer(write_batch).add(db, (record, now_ms()))
        finally:
            if db is not None:
                release_connection(db)  # reading the settings may have taken a pooled connection

    def _current_rules(self):
        """``(excluded path prefixes, sample rate)`` of the current settings."""
        state = self._registry.states().get(NAME) if self._registry is not None else None
        settings = state["settings"] if state else None
        kept = self._rules
        if kept[0] is settings and settings is not None:
            return kept[1]
        settings = settings or {}
        rules = (tuple(settings.get("exclude_paths", ())), settings.get("sample_rate", 1.0))
        self._rules = (settings, rules)
        return rules

    def flush(self):
        """Write the rows this process has queued now; returns how many were taken."""
        return process_buffer(write_batch).flush()


def write_batch(db, entries):
    """Write the ``(RequestRecord, created_at)`` ``entries`` to ``db`` (the flush thread binds the
    database the requests used)."""
    with database.bound(db):
        try:
            insert_request_records(entries)
        finally:
            release_connection(db)
