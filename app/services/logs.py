"""System logs: writing a row as ``log_config`` allows, and reading them back with filters.

``log_config`` has one row per category (``api``, ``auth``, ``workflow``, ``plugin``,
``media``, ``system``, ``security``, ``error``): ``enabled`` turns the category off,
``level`` is the lowest level kept (debug < info < warn < error < fatal) and
``retention_days`` how long rows stay (the cron handler purges older ones). A category
without a row logs everything at every level.
"""

from dataclasses import dataclass

import peewee

from app.db.models import LogConfig, SystemLog, database, now_ms

LEVELS = ("debug", "info", "warn", "error", "fatal")
CATEGORIES = ("auth", "api", "workflow", "plugin", "media", "system", "security", "error")


@dataclass(frozen=True)
class RequestRecord:
    """What one finished request was, as the ``after_request`` hook receives it.

    Attributes:
        method, path, query: the request line (the query string without ``?``).
        status: the response's status code.
        duration_ms: time from the first middleware to the response, in milliseconds.
        user_id: the caller's user id, or None when anonymous.
        ip: the client's address (``TRUSTED_PROXY_COUNT`` hops back in ``X-Forwarded-For``).
        user_agent: the ``User-Agent`` header, or None.
        request_id: the request's id (``X-Request-ID``).
    """

    method: str
    path: str
    query: str
    status: int
    duration_ms: int
    user_id: str | None
    ip: str | None
    user_agent: str | None
    request_id: str | None


def level_of_status(status):
    """``error`` for 5xx, ``warn`` for 4xx, ``info`` otherwise."""
    if status >= 500:
        return "error"
    if status >= 400:
        return "warn"
    return "info"


def log_enabled(category, level):
    """Whether ``log_config`` keeps a row of ``category`` at ``level``."""
    config = LogConfig.select(LogConfig.enabled, LogConfig.level).where(LogConfig.category == category).first()
    if config is None:
        return True
    threshold = config.level if config.level in LEVELS else "info"
    return bool(config.enabled) and LEVELS.index(level) >= LEVELS.index(threshold)


def write_request_log(record):
    """Write ``record`` to ``system_logs`` (category ``api``) if ``log_config`` allows; True if written."""
    level = level_of_status(record.status)
    if not log_enabled("api", level):
        return False
    url = f"{record.path}?{record.query}" if record.query else record.path
    row = {
        "level": level, "category": "api", "message": f"{record.method} {record.path} {record.status}",
        "data": {"status": record.status, "duration_ms": record.duration_ms}, "user": record.user_id,
        "request_id": record.request_id, "ip_address": record.ip, "user_agent": record.user_agent,
        "method": record.method, "url": url, "status_code": record.status, "duration": record.duration_ms,
        "source": "request-logs", "created_at": now_ms(),
    }
    try:
        with database.atomic():
            SystemLog.create(**row)
    except peewee.IntegrityError:
        # system_logs.user_id references users: a caller deleted meanwhile is logged anonymously.
        SystemLog.create(**{**row, "user": None})
    return True


@dataclass(frozen=True)
class LogFilters:
    """Filters of ``GET /admin/api/logs``; None means no filter.

    Attributes:
        level, category: exact values.
        status: an exact status code.
        user_id: the acting user's id.
        since, until: ``created_at`` bounds in epoch milliseconds (inclusive).
        search: text found in the message or the URL.
    """

    level: str | None = None
    category: str | None = None
    status: int | None = None
    user_id: str | None = None
    since: int | None = None
    until: int | None = None
    search: str | None = None


def list_logs(filters, page, limit):
    """A page of log rows matching ``filters``, newest first: ``(rows, total)``."""
    query = SystemLog.select()
    for condition in _conditions(filters):
        query = query.where(condition)
    total = query.count()
    rows = list(query.order_by(SystemLog.created_at.desc(), SystemLog.id.desc()).paginate(page, limit))
    return rows, total


def _conditions(filters):
    if filters.level is not None:
        yield SystemLog.level == filters.level
    if filters.category is not None:
        yield SystemLog.category == filters.category
    if filters.status is not None:
        yield SystemLog.status_code == filters.status
    if filters.user_id is not None:
        yield SystemLog.user == filters.user_id
    if filters.since is not None:
        yield SystemLog.created_at >= filters.since
    if filters.until is not None:
        yield SystemLog.created_at <= filters.until
    if filters.search:
        # contains() escapes the LIKE wildcards and binds the text.
        yield SystemLog.message.contains(filters.search) | SystemLog.url.contains(filters.search)


def log_json(row):
    """A log row as the API shows it."""
    return {
        "id": row.id, "level": row.level, "category": row.category, "message": row.message, "data": row.data,
        "user_id": row.user_id, "request_id": row.request_id, "ip_address": row.ip_address,
        "user_agent": row.user_agent, "method": row.method, "url": row.url, "status_code": row.status_code,
        "duration": row.duration, "source": row.source, "created_at": row.created_at,
    }
