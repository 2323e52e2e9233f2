"""``log_config``: each log category's settings, read and changed, and its retention applied.

A category's row says whether it is logged (``enabled``), the lowest level kept
(``level``), how many days its rows stay (``retention_days``) and ``max_size_mb``, which
SonicJS keeps beside them and nothing here enforces. Nothing caches these rows: the request
log reads its category's row once per batch it writes and the workflow log once per move,
so a change made here applies to the next row every worker writes, without a restart.

Retention is applied by the cron handler every run and, on demand, by ``apply_retention``
(``POST /admin/api/logs/cleanup``): one DELETE per configured category, all in one
transaction. A category without a row logs everything and is never purged.
"""

from app.db.models import DAY_MS, LogConfig, SystemLog, database, now_ms
from app.services.errors import INVALID, NOT_FOUND, ServiceError
from app.services.logs import CATEGORIES

# The editable columns and what a category without a row behaves as (``logs.lowest_level_kept``):
# everything logged at every level, never purged.
EDITABLE = ("enabled", "level", "retention_days", "max_size_mb")
UNCONFIGURED = {"enabled": True, "level": "debug", "retention_days": None, "max_size_mb": None}


class UnknownCategory(ServiceError):
    """A category ``log_config`` cannot have (the schema's CHECK lists them)."""

    kind = NOT_FOUND

    def __init__(self, category):
        super().__init__(f"Unknown log category: {category}", {"categories": list(CATEGORIES)})


class RetentionRequired(ServiceError):
    """A first change of a category that names no retention: the row it creates would start
    purging a category that was kept for ever."""

    kind = INVALID

    def __init__(self, category):
        super().__init__("Validation failed", [{
            "field": "retention_days",
            "message": f"{category} has no settings yet and its rows are kept for ever: say how many days to keep "
                       "them",
        }])


def require_category(category):
    """Raise UnknownCategory unless ``category`` is one of ``CATEGORIES``."""
    if category not in CATEGORIES:
        raise UnknownCategory(category)


def config_json(row):
    """A ``log_config`` row as the API shows it."""
    return {
        "category": row.category, "enabled": row.enabled, "level": row.level, "retention_days": row.retention_days,
        "max_size_mb": row.max_size_mb, "configured": True, "updated_at": row.updated_at,
    }


def _unconfigured_json(category):
    return {"category": category, **UNCONFIGURED, "configured": False, "updated_at": None}


def all_configs():
    """Every category's configuration, in ``CATEGORIES`` order; one without a row shows what it
    behaves as, with ``configured`` false."""
    rows = {row.category: row for row in LogConfig.select()}
    return [config_json(rows[name]) if name in rows else _unconfigured_json(name) for name in CATEGORIES]


def update_config(category, changes):
    """Change ``category``'s row (``{column: value}`` of ``EDITABLE``) and answer it (``config_json``).

    A category of ``CATEGORIES`` without a row gets one, keeping what it does now where
    ``changes`` is silent (logged, at every level), except its retention: a row always has
    one, so ``changes`` must name it. The values are the caller's to validate (the API's
    body type bounds them).

    Raises:
        UnknownCategory: ``category`` is none of ``CATEGORIES``.
        RetentionRequired: the category has no row and ``changes`` names no ``retention_days``.
    """
    require_category(category)
    unknown = set(changes) - set(EDITABLE)
    if unknown:
        raise ValueError(f"not editable: {sorted(unknown)}")
    if "retention_days" not in changes and not LogConfig.select().where(LogConfig.category == category).exists():
        raise RetentionRequired(category)
    now = now_ms()
    fields = LogConfig._meta.fields
    defaults = {name: fields[name].default for name in EDITABLE} | {
        "enabled": UNCONFIGURED["enabled"], "level": UNCONFIGURED["level"]}
    # One statement whether the row exists or not: two first changes at once cannot both insert.
    (LogConfig.insert(id=f"log-config-{category}", category=category, created_at=now, updated_at=now,
                      **{**defaults, **changes})
     .on_conflict(conflict_target=[LogConfig.category],
                  update={fields[column]: value for column, value in {**changes, "updated_at": now}.items()})
     .execute())
    return config_json(LogConfig.get(LogConfig.category == category))


def apply_retention(now=None):
    """Delete every row older than its category's ``retention_days``, in one transaction.

    Args:
        now: the time retention counts back from (epoch ms); default now.

    Returns:
        ``{category: rows deleted}`` for every configured category, in ``CATEGORIES`` order.
    """
    now = now_ms() if now is None else now
    deleted = {}
    with database.atomic():
        configs = {row.category: row for row in LogConfig.select(LogConfig.category, LogConfig.retention_days)}
        for category in (name for name in CATEGORIES if name in configs):
            cutoff = now - configs[category].retention_days * DAY_MS
            deleted[category] = (
                SystemLog.delete()
                .where((SystemLog.category == category) & (SystemLog.created_at < cutoff))
                .execute()
            )
    return deleted
