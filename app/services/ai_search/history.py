"""The searches asked (``search_history``): recording them, the analytics, past queries as
suggestions, and pruning.

A query is kept trimmed and cut to ``MAX_QUERY_LENGTH`` characters, with its words as the
search read them, case-folded (``folded``: Python's ``casefold``, the same on both
databases), the id of the signed-in caller (None for anonymous ones), whether the caller
reads only what the public reads, and a keyed hash of the client's address (``client_key``).
Rows older than ``RETENTION_DAYS`` are deleted by the scheduled job, in batches; the
analytics read the last ``ANALYTICS_DAYS``.

Past queries as suggestions must not tell one caller what another searched for (a draft's
subject, a person's name), nor be planted by one client: a past query is suggested only
when at least ``SUGGEST_MIN_CLIENTS`` distinct clients asked it in the last
``ANALYTICS_DAYS``, in keyword searches that found results, reading only what the public
reads (an ``ai`` search finds something for any text). What is suggested is its words,
case-folded, never the raw text. A signed-in caller also gets their own past queries.
"""

import hashlib
import hmac

from peewee import fn

from app.db.database import is_postgres, release_connection
from app.db.models import SearchHistory, database, now_ms
from app.services.content.search import parse_search
from app.services.secret_keys import derived_key

MAX_QUERY_LENGTH = 200
RETENTION_DAYS = 90
ANALYTICS_DAYS = 30
SUGGEST_MIN_CLIENTS = 3
POPULAR_QUERIES = 10
# Past queries looked at per suggestion (the most asked first): a prefix of two letters
# may match many, and only ``limit`` are answered.
SUGGEST_SCAN = 50
# Rows deleted per statement by ``prune``: each batch is a short write, so a flood of
# searches past the retention never holds SQLite's write lock for long.
PRUNE_BATCH = 1000
DAY_MS = 24 * 3600 * 1000
MODES = ("keyword", "ai")
CLIENT_KEY_PURPOSE = "sonicpy search client key"
# Above every character: the end of a range of texts starting with a prefix (code point order).
_LAST_CHARACTER = "\U0010ffff"


def folded(query):
    """The words ``search.py`` reads in ``query``, joined by spaces and case-folded ("" for none)."""
    return " ".join(word for term in parse_search(query) for word in term.words).casefold()[:MAX_QUERY_LENGTH]


def client_key(secret, address):
    """The keyed hash stored instead of a client's ``address`` (as the rate limits count it):
    under a key derived from the app's ``secret`` for this use alone, so that the stored
    value tells nobody without the secret which address asked."""
    key = derived_key(secret, CLIENT_KEY_PURPOSE)
    return hmac.new(key, address.encode("utf-8"), hashlib.sha256).hexdigest()[:32]


def record(query, mode, results_count, query_time_ms, user_id, public=False, client=None):
    """Store one search (called after the response: ``ctx.wait_until``); ``query`` as the
    search read it (trimmed), cut to ``MAX_QUERY_LENGTH``; ``public``: the caller reads only
    what the public reads; ``client``: its ``client_key``."""
    try:
        SearchHistory.create(query=query[:MAX_QUERY_LENGTH], query_folded=folded(query), mode=mode,
                             results_count=results_count, query_time_ms=max(0, int(query_time_ms)),
                             user=user_id, public=public, client_key=client)
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
    asked = fn.COUNT(SearchHistory.id)
    popular = (SearchHistory.select(SearchHistory.query_folded, asked)
               .where(recent & (SearchHistory.query_folded != ""))
               .group_by(SearchHistory.query_folded)
               .order_by(asked.desc(), SearchHistory.query_folded).limit(POPULAR_QUERIES).tuples())
    return {
        "total_queries": sum(counts.values()),
        "ai_queries": counts.get("ai", 0),
        "keyword_queries": counts.get("keyword", 0),
        "popular_queries": [{"query": query, "count": count} for query, count in popular],
        "average_query_time": round(float(average or 0), 1),
    }


def _starts_with(prefix):
    """``query_folded`` starts with ``prefix``: a range of the index on SQLite (its BINARY order
    is the code points'); on PostgreSQL, whose collation need not order by code point, the
    text's start compared."""
    column = SearchHistory.query_folded
    if is_postgres(database.obj):
        return fn.SUBSTR(column, 1, len(prefix)) == prefix
    return (column >= prefix) & (column < prefix + _LAST_CHARACTER)


def past_queries(prefix, user_id, limit, now=None):
    """Past queries whose words start with those of ``prefix`` (case-folded) that found results,
    most asked first: those ``SUGGEST_MIN_CLIENTS`` distinct clients of the public asked in
    keyword searches, and ``user_id``'s own."""
    prefix = folded(prefix)
    if not prefix:
        return []
    since = (now_ms() if now is None else now) - ANALYTICS_DAYS * DAY_MS
    matching = (_starts_with(prefix) & (SearchHistory.created_at >= since) & (SearchHistory.results_count > 0))
    clients = fn.COUNT(SearchHistory.client_key.distinct())
    public = (SearchHistory.select(SearchHistory.query_folded, clients)
              .where((SearchHistory.public == True) & matching & (SearchHistory.mode == "keyword"))  # noqa: E712
              .group_by(SearchHistory.query_folded).having(clients >= SUGGEST_MIN_CLIENTS)
              .order_by(clients.desc(), SearchHistory.query_folded).limit(SUGGEST_SCAN).tuples())
    found = [query for query, _ in public]
    if user_id is not None:
        latest = fn.MAX(SearchHistory.created_at)
        own = (SearchHistory.select(SearchHistory.query_folded, latest)
               .where((SearchHistory.user == user_id) & matching)
               .group_by(SearchHistory.query_folded).order_by(latest.desc()).limit(SUGGEST_SCAN).tuples())
        found = [query for query, _ in own] + found
    return list(dict.fromkeys(found))[:limit]


def prune(now=None):
    """Delete the searches older than ``RETENTION_DAYS``, ``PRUNE_BATCH`` rows per statement;
    how many were deleted."""
    before = (now_ms() if now is None else now) - RETENTION_DAYS * DAY_MS
    deleted = 0
    while True:
        batch = (SearchHistory.select(SearchHistory.id).where(SearchHistory.created_at < before)
                 .order_by(SearchHistory.created_at).limit(PRUNE_BATCH))
        count = SearchHistory.delete().where(SearchHistory.id.in_(batch)).execute()
        deleted += count
        if count < PRUNE_BATCH:
            return deleted
