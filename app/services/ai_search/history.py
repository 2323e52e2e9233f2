"""The searches asked (``search_history``): recording them, the analytics, past queries as
suggestions, and pruning.

A query is kept trimmed and cut to ``MAX_QUERY_LENGTH`` characters, with the id of the
signed-in caller (None for anonymous ones). Rows older than ``RETENTION_DAYS`` are deleted
by the scheduled job; the analytics read the last ``ANALYTICS_DAYS``.

Past queries as suggestions must not tell one caller what another searched for (a draft's
subject, a person's name): a past query is suggested only when it found results and at
least ``SUGGEST_MIN_ASKED`` searches by anonymous callers asked it in the last
``ANALYTICS_DAYS``. Anonymous callers see only published content, so such a query is one the
public asks about published content. A signed-in caller also gets their own past queries.
"""

import logging

from peewee import fn

from app.db.database import release_connection
from app.db.models import SearchHistory, database, now_ms

log = logging.getLogger("sonicpy.search")

MAX_QUERY_LENGTH = 200
RETENTION_DAYS = 90
ANALYTICS_DAYS = 30
SUGGEST_MIN_ASKED = 3
POPULAR_QUERIES = 10
# Past queries looked at per suggestion (the most asked first): a prefix of two letters
# may match many, and only ``limit`` are answered.
SUGGEST_SCAN = 50
DAY_MS = 24 * 3600 * 1000
MODES = ("keyword", "ai")


def record(query, mode, results_count, query_time_ms, user_id):
    """Store one search (called after the response: ``ctx.wait_until``); ``query`` as the
    search read it (trimmed), cut to ``MAX_QUERY_LENGTH``."""
    try:
        SearchHistory.create(query=query[:MAX_QUERY_LENGTH], mode=mode, results_count=results_count,
                             query_time_ms=max(0, int(query_time_ms)), user=user_id)
    finally:
        db = database.obj
        if db is not None:
            release_connection(db)


def analytics(now=None):
    """``{total_queries, ai_queries, keyword_queries, popular_queries, average_query_time}`` of
    the last ``ANALYTICS_DAYS`` (the average in ms, rounded to a tenth; 0 without searches)."""
    since = (now_ms() if now is None else now) - ANALYTICS_DAYS * DAY_MS
    recent = SearchHistory.created_at >= since
    counts = dict(SearchHistory.select(SearchHistory.mode, fn.COUNT(SearchHistory.id))
                  .where(recent).group_by(SearchHistory.mode).tuples())
    average = SearchHistory.select(fn.AVG(SearchHistory.query_time_ms)).where(recent).scalar()
    folded = fn.LOWER(SearchHistory.query)
    asked = fn.COUNT(SearchHistory.id)
    popular = (SearchHistory.select(folded, asked).where(recent).group_by(folded)
               .order_by(asked.desc(), folded).limit(POPULAR_QUERIES).tuples())
    return {
        "total_queries": sum(counts.values()),
        "ai_queries": counts.get("ai", 0),
        "keyword_queries": counts.get("keyword", 0),
        "popular_queries": [{"query": query, "count": count} for query, count in popular],
        "average_query_time": round(float(average or 0), 1),
    }


def past_queries(prefix, user_id, limit, now=None):
    """Past queries starting with ``prefix`` (case-insensitive) that found results, most asked
    first: those the public asked ``SUGGEST_MIN_ASKED`` times, and ``user_id``'s own."""
    since = (now_ms() if now is None else now) - ANALYTICS_DAYS * DAY_MS
    folded = fn.LOWER(SearchHistory.query)
    matching = ((SearchHistory.created_at >= since) & (SearchHistory.results_count > 0)
                & SearchHistory.query.startswith(prefix))
    public = (SearchHistory.select(folded, fn.COUNT(SearchHistory.id))
              .where(matching & SearchHistory.user.is_null())
              .group_by(folded).having(fn.COUNT(SearchHistory.id) >= SUGGEST_MIN_ASKED)
              .order_by(fn.COUNT(SearchHistory.id).desc(), folded).limit(SUGGEST_SCAN).tuples())
    found = [query for query, _ in public]
    if user_id is not None:
        own = (SearchHistory.select(folded, fn.MAX(SearchHistory.created_at))
               .where(matching & (SearchHistory.user == user_id))
               .group_by(folded).order_by(fn.MAX(SearchHistory.created_at).desc()).limit(SUGGEST_SCAN).tuples())
        found = [query for query, _ in own] + found
    return list(dict.fromkeys(found))[:limit]


def prune(now=None):
    """Delete the searches older than ``RETENTION_DAYS``; how many were deleted."""
    before = (now_ms() if now is None else now) - RETENTION_DAYS * DAY_MS
    return SearchHistory.delete().where(SearchHistory.created_at < before).execute()
