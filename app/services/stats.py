"""The dashboard's numbers: collections, content by status and by collection, media, users, storage.

Counts cover live rows (not soft-deleted); ``content.deleted`` counts soft-deleted items.
``collections`` counts active collections, ``users`` active accounts.
"""

from peewee import JOIN, fn

from app.db.database import is_postgres
from app.db.models import Collection, Content, Media, User, database, now_ms
from app.services.content.writes import STATUSES


def content_stats():
    """``{total, byStatus, deleted, byCollection}`` in two grouped queries.

    Every stored item counts, a deactivated collection's too (it keeps its items, and they
    come back with it); ``byCollection`` says which collections are active, since the
    content pages and lists leave the others out.
    """
    live = Content.deleted_at.is_null()
    by_status = dict.fromkeys(STATUSES, 0)
    deleted = 0
    rows = (
        Content.select(Content.status, live.alias("live"), fn.COUNT(Content.id))
        .group_by(Content.status, live)
        .tuples()
    )
    for status, is_live, count in rows:
        if is_live:
            by_status[status] = by_status.get(status, 0) + count
        else:
            deleted += count
    per_collection = (
        Collection.select(Collection.id, Collection.name, Collection.display_name, Collection.is_active,
                          fn.COUNT(Content.id))
        .join(Content, JOIN.LEFT_OUTER, on=((Content.collection == Collection.id) & live))
        .group_by(Collection.id, Collection.name, Collection.display_name, Collection.is_active)
        .order_by(Collection.name)
        .tuples()
    )
    return {
        "total": sum(by_status.values()),
        "byStatus": by_status,
        "deleted": deleted,
        "byCollection": [
            {"id": cid, "name": name, "display_name": display, "is_active": bool(active), "count": count}
            for cid, name, display, active, count in per_collection
        ],
    }


def media_stats():
    """``{count, totalSize, avgSize}`` of live media files (bytes)."""
    count, total, average = (
        Media.select(fn.COUNT(Media.id), fn.SUM(Media.size), fn.AVG(Media.size))
        .where(Media.deleted_at.is_null())
        .tuples()
        .first()
    )
    return {"count": count or 0, "totalSize": int(total or 0), "avgSize": round(float(average or 0))}


def dashboard_stats():
    """Every number of the dashboard, and when they were counted.

    Returns:
        ``{collections, users, content, media, timestamp}``: active collections, active
        users, ``content_stats()``, ``media_stats()`` and the time in epoch milliseconds.
    """
    return {
        "collections": Collection.select().where(Collection.is_active == 1).count(),
        "users": User.select().where(User.is_active == 1).count(),
        "content": content_stats(),
        "media": media_stats(),
        "timestamp": now_ms(),
    }


def database_size():
    """The database's size in bytes: its pages on SQLite, ``pg_database_size`` on PostgreSQL."""
    if is_postgres(database):
        sql = "SELECT pg_database_size(current_database())"
    else:
        sql = "SELECT page_count * page_size FROM pragma_page_count(), pragma_page_size()"
    return database.execute_sql(sql).fetchone()[0]


def storage_stats():
    """``{databaseSize, mediaSize, totalSize, timestamp}``: bytes in the database and in live media files."""
    media = media_stats()["totalSize"]
    size = database_size()
    return {"databaseSize": size, "mediaSize": media, "totalSize": size + media, "timestamp": now_ms()}
