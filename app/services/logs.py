"""System logs: writing a row as ``log_config`` allows, and reading them back with filters.

``log_config`` has one row per category (``api``, ``auth``, ``workflow``, ``plugin``,
``media``, ``system``, ``security``, ``error``): ``enabled`` turns the category off,
``level`` is the lowest level kept (debug < info < warn < error < fatal) and
``retention_days`` how long rows stay (``app.services.log_config.apply_retention`` purges
older ones, run by the cron handler and on demand). A category without a row logs
everything at every level.
"""

import operator
import re
from dataclasses import dataclass, replace
from functools import reduce
from typing import NamedTuple
from urllib.parse import unquote_plus

import msgspec
import peewee

from app.db.database import is_postgres
from app.db.models import SystemLog, User, database, now_ms
from app.db.rows import fetch_one
from app.db.text_match import contains_any_case
from app.runtime.ids import time_ordered_id
from app.services.accounts import account_of, normalize_email
from app.services.errors import NOT_FOUND, ServiceError

LEVELS = ("debug", "info", "warn", "error", "fatal")
CATEGORIES = ("auth", "api", "workflow", "plugin", "media", "system", "security", "error")
# Query parameters whose values are secrets, by a word of their names: a password reset or invitation
# link's token, a presigned URL's signature and credential, an API key. Logs keep such a
# parameter with its value replaced (as web frameworks filter parameters from their logs):
# whoever may read the logs must not be able to use a link someone else was mailed.
SECRET_WORDS = frozenset({"token", "secret", "password", "passwd", "pass", "pwd", "passphrase", "pin", "key",
                          "apikey", "auth", "authorization", "signature", "sig", "credential", "session",
                          "sessionid", "jwt", "otp", "code"})
# Their plurals: an "s" added, an "es" after a hissing end ("passes").
SECRET_PLURALS = frozenset({word + "s" for word in SECRET_WORDS}
                           | {word + "es" for word in SECRET_WORDS if word.endswith(("s", "x", "z", "ch", "sh"))})
# A name's words: runs of letters or digits, camelCase split (X-Amz-Signature, api_key, apiKey),
# an acronym's plural one word (myPINs, OTPs: not "PI" and "Ns").
_NAME_WORD = re.compile(r"[A-Z]{2,}s(?![a-z])|[A-Z]?[a-z]+|[A-Z]+(?![a-z])|[0-9]+")
SECRET_PARAMETER = re.compile("|".join(sorted(SECRET_WORDS, key=len, reverse=True)), re.I)  # a cheap first look
REDACTED = "[FILTERED]"
NUL = "\x00"
_RECORD_TEXTS = ("method", "path", "query", "ip", "user_agent")  # RequestRecord's text from the request


class RequestRecord(NamedTuple):
    """What one finished request was, as the ``after_request`` hook receives it.

    Immutable; a named tuple rather than a dataclass because one is built for every request.

    Attributes:
        method, path, query: the request line (the query string without ``?``, secrets
            filtered out by ``redact_query``).
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


class RequestInfo(NamedTuple):
    """What a request asks, as the ``before_request`` hook receives it (before routing).

    Attributes:
        method, path, query: the request line (the query string without ``?``, secrets
            filtered out by ``redact_query``).
        ip: the client's address (``TRUSTED_PROXY_COUNT`` hops back in ``X-Forwarded-For``).
        user_agent: the ``User-Agent`` header, or None.
        request_id: the request's id (``X-Request-ID``).
    """

    method: str
    path: str
    query: str
    ip: str | None
    user_agent: str | None
    request_id: str | None


def redact_query(query):
    """``query`` (a query string without ``?``) with the value of each ``SECRET_PARAMETER``
    replaced by ``REDACTED``; the other parameters, their order and their encoding as they were
    (a request's raw bytes past ASCII are escaped before anything reads it:
    ``app.api.request_guard.Utf8QueryRequest``)."""
    # The cheap look reads the raw text, so only a query without escapes may skip the parts:
    # a name may be percent-encoded (``%74oken``), which the app reads as ``token``.
    if not query or ("%" not in query and not SECRET_PARAMETER.search(query)):
        return query
    parts = query.split("&")
    for index, part in enumerate(parts):
        name, equals, _value = part.partition("=")
        if equals and _names_a_secret(unquote_plus(name)):
            parts[index] = f"{name}={REDACTED}"
    return "&".join(parts)


def _names_a_secret(name):
    """Whether a word of ``name`` is one of ``SECRET_WORDS`` or its plural (``author`` and
    ``zipcode`` are not)."""
    return any(_secret_word(word.lower()) for word in _NAME_WORD.findall(name))


def _secret_word(word):
    return word in SECRET_WORDS or word in SECRET_PLURALS


def level_of_status(status):
    """``error`` for 5xx, ``warn`` for 4xx, ``info`` otherwise."""
    if status >= 500:
        return "error"
    if status >= 400:
        return "warn"
    return "info"


def log_enabled(category, level):
    """Whether ``log_config`` keeps a row of ``category`` at ``level``."""
    lowest = lowest_level_kept(category)
    return lowest is not None and LEVELS.index(level) >= lowest


def lowest_level_kept(category):
    """The index in ``LEVELS`` of the lowest level ``log_config`` keeps for ``category``; None when off.

    Read once per request log batch: its SQL is written once per parameter style, since
    Peewee compiling the query took a quarter of what writing a hundred rows did.
    """
    found = fetch_one(_LOG_CONFIG, (category,))
    if found is None:
        return 0
    enabled, level = found
    if not enabled:
        return None
    return LEVELS.index(level if level in LEVELS else "info")


_LOG_CONFIG = 'SELECT "enabled", "level" FROM "log_config" WHERE "category" = {p} LIMIT 1'


def storable(record):
    """``record`` with each NUL in its text replaced by U+FFFD. A request refused for holding
    NUL is logged too, and PostgreSQL stores no NUL: one such row would fail its whole batch."""
    if not any(text and NUL in text for text in (record.method, record.path, record.query, record.ip,
                                                  record.user_agent)):
        return record
    texts = {name: getattr(record, name) for name in _RECORD_TEXTS}
    return record._replace(**{name: text.replace(NUL, "\ufffd") for name, text in texts.items() if text})


def request_log_row(record, created_at=None):
    """The ``system_logs`` row (category ``api``) of a finished request, as column values.

    Args:
        created_at: when the request finished (epoch ms); default now.
    """
    record = storable(record)
    level = level_of_status(record.status)
    url = f"{record.path}?{record.query}" if record.query else record.path
    return {
        "level": level, "category": "api", "message": f"{record.method} {record.path} {record.status}",
        "data": {"status": record.status, "duration_ms": record.duration_ms}, "user": record.user_id,
        "request_id": record.request_id, "ip_address": record.ip, "user_agent": record.user_agent,
        "method": record.method, "url": url, "status_code": record.status, "duration": record.duration_ms,
        "source": "request-logs", "created_at": now_ms() if created_at is None else created_at,
    }


def request_log_values(record, created_at):
    """The bound values of ``record``'s row for the request log INSERT (``_insert_sql``): a new id,
    then ``request_log_row``'s fields in ``REQUEST_LOG_FIELDS`` order, ``data`` as JSON text.

    Built straight from the record (no row dict): the request log's writer thread makes one
    for every logged request.
    """
    record = storable(record)
    status, duration, path = record.status, record.duration_ms, record.path
    if type(status) is int and type(duration) is int:  # exact ints (not bools) print as JSON does
        data = f'{{"status":{status},"duration_ms":{duration}}}'
    else:
        data = msgspec.json.encode({"status": status, "duration_ms": duration}).decode()
    return (
        time_ordered_id(), level_of_status(status), "api", f"{record.method} {path} {status}", data, record.user_id,
        record.request_id, record.ip, record.user_agent, record.method,
        f"{path}?{record.query}" if record.query else path, status, duration, "request-logs", created_at,
    )


def write_request_log(record):
    """Write ``record`` to ``system_logs`` now if ``log_config`` allows; True if written."""
    return insert_request_records([(record, now_ms())]) == 1


# Rows per INSERT: 15 columns each stays under SQLite's oldest limit of 999 bound values.
ROWS_PER_STATEMENT = 50
# The fields of a request log row (``request_log_row``), in the column order of the INSERT
# written for them; ``user`` is the ``user_id`` column, ``data`` is stored as JSON text.
REQUEST_LOG_FIELDS = ("level", "category", "message", "data", "user", "request_id", "ip_address", "user_agent",
                      "method", "url", "status_code", "duration", "source", "created_at")
_INSERT_SQL = {}  # (parameter mark, rows) -> the INSERT of that many request log rows


def insert_request_records(entries):
    """Write the rows of ``(RequestRecord, created_at)`` entries that ``log_config`` keeps,
    in one transaction; returns how many.

    ``log_config`` is read once for the whole batch, when it is written, so a change to it
    applies to every row not yet written. A caller deleted meanwhile is logged anonymously
    (``system_logs.user_id`` references users).
    """
    lowest = lowest_level_kept("api") if entries else None
    if lowest is None:
        return 0
    kept = [entry for entry in entries if LEVELS.index(level_of_status(entry[0].status)) >= lowest]
    if not kept:
        return 0
    try:
        _insert_records(kept)
    except peewee.IntegrityError:
        _insert_records(_without_deleted_users(kept))
    return len(kept)


def _insert_records(entries):
    """Insert the rows of ``entries`` in one transaction: multi-row INSERTs written once per row count.

    Request log rows are written for nearly every request, and Peewee compiling a 50-row
    INSERT cost about 100 us a row, ten times what the database took to store it.
    """
    db = database.obj
    with database.atomic():
        for chunk in peewee.chunked(entries, ROWS_PER_STATEMENT):
            values = [value for record, created_at in chunk for value in request_log_values(record, created_at)]
            db.execute_sql(_insert_sql(db.param, len(chunk)), values)


def _insert_sql(mark, count):
    """``INSERT INTO system_logs`` of ``count`` request log rows with ``mark`` placeholders (made once)."""
    key = (mark, count)
    sql = _INSERT_SQL.get(key)
    if sql is None:
        fields = SystemLog._meta.fields
        columns = ", ".join(f'"{fields[name].column_name}"' for name in ("id", *REQUEST_LOG_FIELDS))
        row = "(" + ", ".join([mark] * (len(REQUEST_LOG_FIELDS) + 1)) + ")"
        sql = _INSERT_SQL[key] = f'INSERT INTO "{SystemLog._meta.table_name}" ({columns}) VALUES ' + ", ".join(
            [row] * count)
    return sql


def _without_deleted_users(entries):
    ids = {record.user_id for record, _ in entries if record.user_id is not None}
    known = {user_id for (user_id,) in User.select(User.id).where(User.id.in_(list(ids))).tuples()} if ids else set()
    return [(record if record.user_id is None or record.user_id in known else record._replace(user_id=None), created_at)
            for record, created_at in entries]


@dataclass(frozen=True)
class LogFilters:
    """Filters of ``GET /admin/api/logs``; None means no filter.

    Attributes:
        level, category: the values a row may have (any one of them).
        status: an exact status code.
        user_id: the acting user's id.
        source: an exact source (``request-logs``...).
        since, until: ``created_at`` bounds in epoch milliseconds (inclusive).
        search: text found in the message or the URL.
    """

    level: tuple[str, ...] | None = None
    category: tuple[str, ...] | None = None
    status: int | None = None
    user_id: str | None = None
    source: str | None = None
    since: int | None = None
    until: int | None = None
    search: str | None = None


NEWEST_FIRST = (SystemLog.created_at.desc(), SystemLog.id.desc())


class LogNotFound(ServiceError):
    """No log row has that id."""

    kind = NOT_FOUND

    def __init__(self):
        super().__init__("Log entry not found")


def list_logs(filters, page, limit):
    """A page of log rows matching ``filters``, newest first: ``(rows, total)``."""
    total = _matching(filters).count()
    rows = list(_newest(filters, (page - 1) * limit, limit))
    return rows, total


def get_log(log_id):
    """The log row ``log_id``; LogNotFound otherwise."""
    row = SystemLog.get_or_none(SystemLog.id == log_id)
    if row is None:
        raise LogNotFound()
    return row


def export_logs(filters, limit):
    """Up to ``limit`` log rows matching ``filters``, newest first: ``(rows, truncated)``.

    ``truncated`` says whether more rows matched: one row past ``limit`` is read to know,
    rather than counting every match again.
    """
    rows = list(_newest(filters, 0, limit + 1))
    return rows[:limit], len(rows) > limit


def _newest(filters, offset, limit):
    """The query of the ``limit`` rows matching ``filters`` from ``offset`` on, newest first.

    One category (or none, or every one: ``_chosen_categories``) reads its rows in order from
    an index: ``(category, created_at)`` or ``created_at``. Several, in one ``IN``, are read
    differently by each database. PostgreSQL walks ``created_at`` newest first and tests each
    row's category, stopping at the page's end: the single query it keeps (split, it read 3 to
    300 times the buffers). SQLite reads the categories' stretches of ``(category,
    created_at)`` one after the other and then sorts every matching row of the range to take
    a page. So there each category is an arm of a UNION ALL, and the compound is ordered and
    paged: SQLite answers a compound's ORDER BY by merging its arms, each read newest first
    from ``(category, created_at)`` and pulled only as far as the page's end needs, so the
    page reads about ``offset + limit`` rows in all. The page is the one the single query
    would answer, ties included (``id`` ends the order: no two rows compare equal). An arm
    given its own ORDER BY and LIMIT would read ``offset + limit`` rows each and sort them
    again, 3 to 7 times the work.
    """
    categories = _chosen_categories(filters)
    if categories is None or len(categories) == 1 or is_postgres(database):
        return _matching(filters).order_by(*NEWEST_FIRST).limit(limit).offset(offset)
    heads = [_matching(replace(filters, category=(category,))) for category in categories]
    return reduce(operator.add, heads).order_by(*NEWEST_FIRST).limit(limit).offset(offset)


def _chosen_categories(filters):
    """The categories ``filters`` keeps, each once, in the order given; None for no condition.

    ``category`` is NOT NULL and its CHECK allows ``CATEGORIES`` only (migration 0009), so a
    list of every one of them keeps every row: no condition, and the page walks ``created_at``
    alone rather than testing each row's category or merging eight stretches.
    """
    if not filters.category:
        return None
    chosen = tuple(dict.fromkeys(filters.category))
    return None if set(chosen) >= set(CATEGORIES) else chosen


def _matching(filters):
    query = SystemLog.select()
    for condition in _conditions(filters):
        query = query.where(condition)
    return query


def _conditions(filters):
    if filters.level:
        yield SystemLog.level.in_(filters.level)
    categories = _chosen_categories(filters)
    if categories:
        # IN over the listed categories: SQLite reads each one's stretch of idx_system_logs_category_created.
        yield SystemLog.category.in_(categories)
    if filters.status is not None:
        yield SystemLog.status_code == filters.status
    if filters.user_id is not None:
        yield SystemLog.user == filters.user_id
    if filters.source is not None:
        yield SystemLog.source == filters.source
    if filters.since is not None:
        yield SystemLog.created_at >= filters.since
    if filters.until is not None:
        yield SystemLog.created_at <= filters.until
    if filters.search:
        # In any case, every letter's (SQLite's LIKE folds ASCII only); wildcards match themselves.
        yield contains_any_case(SystemLog.message, filters.search) | contains_any_case(SystemLog.url, filters.search)


def redact_url(url):
    """``url`` with its query string through ``redact_query``: rows are filtered when written,
    and again when shown, so a row some other writer stored unfiltered shows no secret either."""
    if not url or "?" not in url:
        return url
    path, _, query = url.partition("?")
    return f"{path}?{redact_query(query)}"


def log_json(row):
    """A log row as the API shows it (its URL's secret parameters filtered, ``redact_url``;
    the session id and the stack trace are never shown)."""
    return {
        "id": row.id, "level": row.level, "category": row.category, "message": row.message, "data": row.data,
        "user_id": row.user_id, "request_id": row.request_id, "ip_address": row.ip_address,
        "user_agent": row.user_agent, "method": row.method, "url": redact_url(row.url), "status_code": row.status_code,
        "duration": row.duration, "source": row.source, "created_at": row.created_at,
    }


def typed_email(text):
    """The email address a filter ``text`` names, normalised as sign-in normalises what is
    typed (``normalize_email``: a fullwidth letter or ``＠``, spaces around, capitals); None
    when it names none (no ``@``): a user id, then."""
    address = normalize_email(text)
    return address if "@" in address else None


def user_id_of(text):
    """The id of the user with this email address or id (a filter as typed); None when there is none."""
    address = typed_email(text)
    if address is not None:
        user = account_of(address)  # the account sign-in finds, an email stored in capitals too
    else:
        user = User.select(User.id).where(User.id == text).first()
    return user.id if user else None


def emails_of(user_ids):
    """``{user id: email}`` of the users among ``user_ids`` (rows' ``user_id``) that exist (one query)."""
    wanted = {user_id for user_id in user_ids if user_id}
    if not wanted:
        return {}
    return dict(User.select(User.id, User.email).where(User.id.in_(sorted(wanted))).tuples())
