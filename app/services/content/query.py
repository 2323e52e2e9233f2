"""Content reads: who sees what, list parameters, and the two-query list (count + page).

Visibility (``Scope``):

* the public (anonymous callers and viewers) sees published, non-deleted content only,
  of active collections (only holders of ``content.publish`` read a deactivated one's);
  asking for another status or for deleted items is refused (``NotPermitted``);
* holders of ``content.publish`` (editors, admins) may ask for any status
  (``?status=draft``, ``?status=draft,archived``, ``?status=all``) and for soft-deleted
  items (``?include_deleted=true``);
* holders of ``content.update`` without ``content.publish`` (authors) may ask too, but
  beyond published content they see only their own items;
* a scope may leave deactivated collections out for its managers too (``Scope.active_only``):
  the admin's list across the collections being edited; its total is still the kept counts;
* the public filters and sorts on the public item's columns only
  (``fields.PUBLIC_COLUMNS``): workflow, review, scheduling and deletion columns are
  unknown fields (400) to callers who cannot see drafts.

The public's lists are ``status=published``; callers who may read drafts (editors, admins,
authors for their own) get every status but deleted items unless they pass ``status=``.
A list costs two queries whatever its size: its total, then one page query joining author,
collection and featured image. The total of an unfiltered list is read from the counts the
database's triggers keep per collection, status and deletion (``content_counts``), and so
is a list of one collection filtered on one string value of a field its schema declares
indexed (``content_counts_values``); another filtered list counts its matches up to
``COUNT_LIMIT`` and, past it, reports ``COUNT_LIMIT`` with ``meta.totalIsEstimate: true``.
Pagination is ``limit`` (or SonicJS's ``pageSize``; default 50, at most 1000) with ``offset`` or ``page``, or an
opaque ``cursor`` (keyset on the sort keys + id) that stays fast at any depth; each page
with more rows after it carries ``meta.nextCursor``.

The list's SQL is compiled once per shape and reused with each request's values
(``statements.py``: the user, collection, filter values, search text, cursor, limit and
offset are bound parameters, but for a page's LIMIT on PostgreSQL, written into the text:
``page_limit``; ``list_shape`` says what else the SQL depends on), and so is
``get_item``'s; the Peewee expressions of a stored shape are not even built. Rows are read
from the database cursor into items in one pass, only ``data`` decoded
(``serialize.items_from_rows``). A ListParams makes its cache key once.
Editors' lists (every status or one, per collection or not, last edited first) read live-row
indexes in their order (migration 0022), as the public's do (0012, 0014).

A page is also bounded in bytes: when its items' JSON passes ``RESPONSE_BUDGET_BYTES``, it
is cut after the last item that fits (one item at least), with ``meta.truncated: true``,
``hasNext`` and a ``nextCursor`` that continues right after the last item returned. An
offset or page request cut this way carries that cursor too: the next ``page`` number
would skip the items cut, the cursor does not.
"""

import functools
import logging
from dataclasses import dataclass, replace

import msgspec
import peewee
from peewee import SQL, Select, fn

from app.db.database import is_postgres, pg_fold_collation
from app.db.derived import FTS_TABLE, VALUE_LENGTH
from app.db.models import Collection, Content, ContentCount, ContentCountedField, ContentValueCount, database
from app.db.prepared import prepared_sql
from app.services.content.cursors import decode_cursor, encode_cursor, keyset, sort_terms
from app.services.content.errors import SearchIndexMissing
from app.services.content.fields import PUBLIC_COLUMNS, SCORE, TIME, Field, fail, is_bare_data_name
from app.services.content.filters import (
    Group,
    SortKey,
    is_data_filter,
    parse_filter_params,
    parse_where,
    sort_keys,
    sort_specs,
)
from app.services.content.serialize import (
    ITEM_KEYS,
    WIDTH,
    column_converters,
    convert_row,
    items_from_rows,
    joined_select,
)
from app.services.content.sql import SqlBuilder, builder, is_plain_text
from app.services.content.statements import Binder, execute, prepared
from app.services.content.values import element_candidates
from app.services.field_indexes import declared_fields
from app.services.pagination import pagination_meta

log = logging.getLogger("sonicpy.content")

DEFAULT_LIMIT = 50
MAX_LIMIT = 1000
MAX_SEARCH_LENGTH = 200
# The most item JSON one list response carries: 1000 items of full ``data`` could otherwise
# hold a worker's memory (and the cache's) at hundreds of megabytes per anonymous request.
RESPONSE_BUDGET_BYTES = 8 * 1024 * 1024
# A filtered list counts its matches up to this many; past it ``meta.total`` is this number
# and ``meta.totalIsEstimate`` is true.
COUNT_LIMIT = 1_000
# Past this many published items in a collection (or in all, for a list across them), the
# public may filter and sort on data fields only where the schema declares an index.
PUBLIC_SCAN_LIMIT = 5_000
# Filter operators no field index answers (they test every candidate's text).
SCANNING_OPERATORS = frozenset({"like", "contains", "all"})
STATUSES = ("draft", "published", "archived")
RELEVANCE = Field("relevance", SCORE)
ALL_STATUSES = ("all", "any")


class NotPermitted(Exception):
    """The caller asked for content its scope does not cover (status, deleted items)."""


@dataclass(frozen=True)
class Scope:
    """What a caller may read.

    Attributes:
        user_id: the caller's id (None: anonymous).
        see_all: any status and deleted items (``content.publish`` or admin).
        see_own: beyond published content, the caller's own items (``content.update``).
        show_email: authors' emails in items (``users.read``).
        active_only: leave deactivated collections' items out even where ``see_all`` would
            read them (a list across the collections being edited, as the admin's index is).
    """

    user_id: str | None = None
    see_all: bool = False
    see_own: bool = False
    show_email: bool = False
    active_only: bool = False

    @classmethod
    def of(cls, user):
        """The Scope of a Principal (or None for anonymous callers)."""
        if user is None:
            return cls()
        see_all = user.is_admin or user.can("content.publish")
        return cls(user.id, see_all, not see_all and user.can("content.update"), user.can("users.read"))

    def of_active_collections(self):
        """This scope with ``active_only``: what the admin's lists across collections read,
        where a deactivated collection's items would lead to pages its managers cannot open
        either (its list and edit pages are not found)."""
        return replace(self, active_only=True)

    @property
    def hides_inactive(self):
        """True when deactivated collections' items are out of reach: for all but their
        managers (``see_all``), and for those too when the scope says ``active_only``."""
        return self.active_only or not self.see_all

    @property
    def public_shape(self):
        """True when the caller sees exactly what the public sees (same items, same fields)."""
        return not (self.see_all or self.see_own)

    @property
    def public(self):
        """True when responses for this caller equal the anonymous ones (so they may be cached)."""
        return self.public_shape and not self.show_email


@dataclass(frozen=True)
class ListParams:
    """A validated list request; ``cache_key()`` is equal for equal requests."""

    statuses: tuple | None = ("published",)
    include_deleted: bool = False
    collection_id: str | None = None
    collection_name: str | None = None
    where: object = None
    filters: object = None
    search: str | None = None
    sort: tuple = ()
    limit: int = DEFAULT_LIMIT
    offset: int = 0
    paged: bool = True
    cursor: tuple | None = None
    fields: tuple | None = None
    declared: frozenset = frozenset()

    def cache_key(self):
        """A canonical, msgspec-encodable description of this request (made once per instance)."""
        key = self.__dict__.get("_cache_key")
        if key is None:
            key = self.__dict__["_cache_key"] = repr(self)
        return key


def parse_list_params(params, scope, *, collection_id=None, schema=None):
    """Validate query parameters of a content list.

    Args:
        params: ``req.params`` (values are str, or lists for repeated keys).
        scope: the caller's Scope.
        collection_id: set by the per-collection route (then ``collection`` is refused).
        schema: the collection's schema, to type ``filter[data.x]`` values.

    Raises:
        QueryError: a parameter is invalid (400); NotPermitted: outside the caller's scope.
    """
    for key, value in params.items():
        if "\x00" in key or any("\x00" in text for text in (value if isinstance(value, list) else [value])):
            fail(key, "NUL characters are not allowed")  # PostgreSQL cannot even compare them
    # Parameters it does not know are left out, as SonicJS and every other list here do: a
    # cache buster (``_=``), a tracking tag (``utm_source``) or a SonicJS client's ``order``
    # must not fail the request. They are no part of the cache key either, so a cache
    # buster still gets the cached answer.
    one = _single(params)
    # Callers who may read drafts get every status by default (deleted items stay out).
    statuses = _statuses(params.get("status"), ("published",) if scope.public_shape else None)
    include_deleted = _flag(one("include_deleted"), "include_deleted")
    if scope.public_shape and (statuses != ("published",) or include_deleted):
        raise NotPermitted("Only published content is public; other statuses need content.publish or content.update")
    # Workflow, review, scheduling and deletion columns describe unpublished work.
    columns = PUBLIC_COLUMNS if scope.public_shape else None
    search = one("search")
    specs = sort_specs(one("sort"))
    sort = _relevance_sort(specs, search) or sort_keys(specs, columns) or _default_sort(statuses)
    limit = _page_size(one("limit"), one("pageSize"))
    offset, page, cursor = one("offset"), one("page"), one("cursor")
    if sum(value is not None for value in (offset, page, cursor)) > 1:
        fail("offset", "use only one of offset, page and cursor")
    if page is not None:
        offset = (_bounded_int(page, "page", 1, 1, 10**9) - 1) * limit
    else:
        offset = _bounded_int(offset, "offset", 0, 0, 10**12)
    if search is not None and not (0 < len(search.strip()) <= MAX_SEARCH_LENGTH):
        fail("search", f"must be 1 to {MAX_SEARCH_LENGTH} characters")
    if collection_id is not None and (params.get("collection") or params.get("collection_id")):
        fail("collection", "the collection is already given by the path")
    # An empty value names no collection: the parameter is left out, as on the per-collection route.
    named_id, named = (None, None) if collection_id is not None else (one("collection_id") or None,
                                                                      one("collection") or None)
    if schema is None and collection_id is None and _names_data_fields(params):
        # The collection named by id or name types the data filters' values and declares
        # their indexes, as the per-collection route's does. Only lists on data fields need
        # it: a cached list must not pay a lookup.
        schema = _schema_of(named_id, named)
    where, filters = parse_where(one("where"), schema, columns), parse_filter_params(params, schema, columns)
    indexed, sortable = frozenset(), frozenset()
    if any(c.field.is_data for c in [*_conditions(where), *_conditions(filters)]) or any(
            key.field.is_data for key in sort):
        indexed, sortable = declared_fields(schema)
    if scope.public_shape and collection_id != "-":  # "-": a first parse, before the collection is known
        _refuse_scans(where, filters, sort, indexed, sortable, collection_id or named_id, named)
    return ListParams(
        statuses=statuses,
        include_deleted=include_deleted,
        collection_id=collection_id or named_id,
        collection_name=named,
        where=where,
        filters=filters,
        search=search.strip() if search else None,
        sort=sort,
        limit=limit,
        offset=offset if cursor is None else 0,
        paged=cursor is None,
        cursor=decode_cursor(cursor, sort) if cursor is not None else None,
        fields=_fields(one("fields")),
        declared=indexed | sortable,
    )


def _names_data_fields(params):
    """Whether ``params`` may filter or sort on a data field (a cheap look at the raw text:
    it may say yes for a ``where`` or a value that only contains ``data``, never no for a
    data field, bare names included)."""
    return any(is_data_filter(key) for key in params) or bool(params.get("where")) or _sorts_on_data(
        params.get("sort"))


def _sorts_on_data(sort):
    """Whether ``sort`` may name a data field (JSON sort keys are looked at as text)."""
    if not isinstance(sort, str):
        return False
    if "data" in sort or sort.lstrip().startswith("["):
        return True
    return any(is_bare_data_name(part.strip().lstrip("-+")) for part in sort.split(","))


def _schema_of(collection_id, name):
    """The schema of the collection with id ``collection_id`` (else named ``name``); None
    without either or such a collection."""
    found = _named_collection(collection_id, name)
    return found[0] if found else None


def _named_collection(collection_id, name):
    """``(schema,)`` of the collection with id ``collection_id`` (else named ``name``), as a
    list names it; None without either or such a collection."""
    if collection_id is not None:
        condition = Collection.id == collection_id
    elif name is not None:
        condition = Collection.name == name
    else:
        return None
    return Collection.select(Collection.schema).where(condition).tuples().first()


def _conditions(group):
    for item in group.items if group is not None else ():
        yield from _conditions(item) if isinstance(item, Group) else (item,)


def _refuse_scans(where, filters, sort, indexed, sortable, collection_id, collection_name):
    """The public's filters and sorts on data fields need an index past ``PUBLIC_SCAN_LIMIT`` items.

    Raises:
        QueryError: a filter on a field not declared ``indexed`` (or with an operator no
            index answers), or a sort on one not declared ``sortable``, over a collection
            (or, without one, all content) holding more public items than the limit.
    """
    refused = [(c.parameter, f"{c.field.name} is not indexed", "indexed")
               for c in [*_conditions(where), *_conditions(filters)]
               if c.field.is_data and (c.field.path[0] not in indexed or len(c.field.path) > 1)]
    refused += [(c.parameter, f"{c.operator} reads every item", "indexed")
                for c in [*_conditions(where), *_conditions(filters)]
                if c.field.is_data and c.operator in SCANNING_OPERATORS]
    # No index holds a list's items: only a field compared as one value is answered by one.
    refused += [(c.parameter, f"{c.field.name} may hold lists, whose items no index holds", "indexed")
                for c in [*_conditions(where), *_conditions(filters)] if c.elements]
    refused += [("sort", f"{key.field.name} is not sortable", "sortable")
                for key in sort if key.field.is_data and (key.field.path[0] not in sortable or len(key.field.path) > 1)]
    if not refused or _public_items(collection_id, collection_name) <= PUBLIC_SCAN_LIMIT:
        return
    parameter, problem, flag = refused[0]
    fail(parameter, f"{problem}: past {PUBLIC_SCAN_LIMIT} items, anonymous lists filter (equals, in, ranges) "
                    f'and sort only on data fields the collection declares "{flag}": true; '
                    "signed-in editors may use any field")


def _public_items(collection_id, collection_name):
    """How many published, live items a collection (or all of them) holds, from the kept counts."""
    query = ContentCount.select(fn.SUM(ContentCount.n)).where(
        (ContentCount.status == "published") & (ContentCount.deleted == 0))
    if collection_id is not None:
        query = query.where(ContentCount.collection_id == collection_id)
    elif collection_name is not None:
        query = query.where(ContentCount.collection_id.in_(
            Collection.select(Collection.id).where(Collection.name == collection_name)))
    return int(query.scalar() or 0)


def _single(params):
    def one(name):
        value = params.get(name)
        if isinstance(value, list):
            fail(name, "give this parameter once")
        return value

    return one


def _statuses(raw, default):
    if raw is None:
        return default
    values = []
    for chunk in raw if isinstance(raw, list) else [raw]:
        values += [part.strip() for part in chunk.split(",") if part.strip()]
    if not values:  # ``status=`` names none: as if left out, as SonicJS reads it
        return default
    if any(value in ALL_STATUSES for value in values):
        return None
    bad = [value for value in values if value not in STATUSES]
    if bad:
        fail("status", f"unknown status {bad[0]!r}; use {', '.join(STATUSES)} or all")
    return tuple(sorted(set(values)))


def _relevance_sort(specs, search):
    """``sort=relevance``: best search matches first (ties by id); only with ``search=``.

    ``-relevance``, ``+relevance`` and the JSON form, either order, say the same: there is no
    worst-first. Relevance is the only key of its sort: its pages are read by score alone.
    """
    if not any(name == RELEVANCE.name for name, _descending in specs):
        return None
    if len(specs) > 1:
        fail("sort", "relevance must be the only sort key" + ("" if search else " (and needs search=)"))
    if not search:
        fail("sort", "relevance needs search=")
    return (SortKey(RELEVANCE, True),)


def _default_sort(statuses):
    # The public list is newest-published first (an index returns it in order); lists
    # that include unpublished items have no published_at to sort on: last edited first.
    name = "published_at" if statuses == ("published",) else "updated_at"
    return (SortKey(Field(name, TIME), True),)


def _page_size(limit, page_size):
    """The page size from ``limit`` or SonicJS's ``pageSize`` (the same thing: one of them
    only); a larger one than ``MAX_LIMIT`` is served as it, however many digits it has, as
    SonicJS clamps it."""
    if limit is not None and page_size is not None:
        fail("pageSize", "use only one of limit and pageSize (the same thing)")
    if page_size is not None:
        return _bounded_int(page_size, "pageSize", DEFAULT_LIMIT, 1, None, ceiling=MAX_LIMIT)
    return _bounded_int(limit, "limit", DEFAULT_LIMIT, 1, None, ceiling=MAX_LIMIT)


def _flag(raw, name):
    if raw in (None, "", "false", "0"):
        return False
    if raw in ("true", "1"):
        return True
    fail(name, "must be true or false")


def _bounded_int(raw, name, default, low, high, ceiling=None):
    """The whole number ``raw`` within ``low`` and ``high`` (None: no upper bound), else a 400;
    a value above ``ceiling`` is served as ``ceiling`` instead of refused."""
    if raw is None or raw == "":
        return default
    if not raw.isdecimal():  # isdecimal, not isdigit: int() refuses "²"
        fail(name, "must be a whole number")
    digits = raw.lstrip("0")
    # A value this long is past every bound: int() is not asked to read thousands of digits.
    value = int(digits or "0") if len(digits) <= 13 else None
    if ceiling is not None and (value is None or value > ceiling):
        return ceiling
    if value is None or value < low or (high is not None and value > high):
        fail(name, f"must be at least {low}" + (f" and at most {high}" if high is not None else ""))
    return value


def _fields(raw):
    if not raw:
        return None
    names = tuple(dict.fromkeys(part.strip() for part in raw.split(",") if part.strip()))
    unknown = [name for name in names if name not in ITEM_KEYS]
    if unknown:
        fail("fields", f"unknown field {unknown[0]!r}; choose from {', '.join(ITEM_KEYS)}")
    return names


# ---------------------------------------------------------------- queries


def visibility(scope, statuses=("published",), include_deleted=False, user=None):
    """The WHERE clause limiting rows to what ``scope`` may see.

    Args:
        user: what stands for the caller's id in the SQL (a ``Binder`` slot); None: the id itself.
    """
    user = scope.user_id if user is None else user
    clauses = []
    if scope.hides_inactive:
        # A deactivated collection's content is withdrawn from everyone but its managers.
        # NOT IN the (few) inactive ones rather than IN the active ones: the planner keeps
        # choosing the content index as it would without this clause.
        clauses.append(Content.collection.not_in(_inactive_collection_ids()))
    if statuses is not None:
        clauses.append(Content.status.in_(list(statuses)) if len(statuses) > 1 else Content.status == statuses[0])
    if scope.see_own:
        clauses.append((Content.status == "published") | (Content.author == user))
    if not include_deleted:
        clauses.append(Content.deleted_at.is_null())
    elif scope.see_own:
        clauses.append(Content.deleted_at.is_null() | (Content.author == user))
    return _and(clauses)


def _inactive_collection_ids():
    """The subquery of the deactivated collections' ids (few: a list leaves them out by it)."""
    return Collection.select(Collection.id).where(Collection.is_active == False)  # noqa: E712


def _and(clauses):
    clauses = [clause for clause in clauses if clause is not None]
    if not clauses:
        return SQL("1 = 1")
    combined = clauses[0]
    for clause in clauses[1:]:
        combined = combined & clause
    return combined


def list_content(params, scope):
    """Run a list: ``{"data": [...], "meta": {...}}`` (timestamp and cache added by the API).

    An empty list of a collection that does not exist says so in ``meta.message``, as
    SonicJS does (``Collection '<name>' not found``): a typo in a name is otherwise an
    empty list like any other.
    """
    listed = _list_readable(params, scope)
    named = params.collection_id or params.collection_name
    if not listed["data"] and named is not None and _named_collection(params.collection_id,
                                                                      params.collection_name) is None:
        listed["meta"]["message"] = f"Collection '{named}' not found"
    return listed


def _list_readable(params, scope):
    """``_list``, run again past rows whose ``data`` is not JSON.

    A row whose ``data`` is not JSON (written by hand: ``d1 execute``, a restored backup)
    makes the database refuse any query reading ``data``. Such rows must not take the
    list down for everyone: the list runs again with their data read as empty, and each
    one is logged for the operator to repair. A search on a database without its search
    index (loaded from an SQL dump, not migrated since) is refused as unavailable
    (``SearchIndexMissing``) rather than failing as an unexpected error.
    """
    try:
        if not database.in_transaction():
            return _list(params, scope, builder(declared=params.declared))
        with database.atomic():  # a savepoint: a failed statement would abort the transaction
            return _list(params, scope, builder(declared=params.declared))
    except peewee.DatabaseError:
        if params.search and not database.table_exists(FTS_TABLE):
            raise SearchIndexMissing() from None
        unreadable = invalid_data_rows()
        if not unreadable:
            raise
        for content_id in unreadable:
            log.warning("content %s: data is not JSON; read as empty by filters, sorts and search", content_id)
        return _list(params, scope, builder(skip=unreadable))


def _list(params, scope, sql):
    # Only what binds a value is built before the statements are asked for (the slots must
    # be made in the same order by every request of a shape): the rest of the SQL's
    # expressions are built in the ``build`` callbacks, which run only when a shape's
    # statement is compiled. Filters, search, a relevance sort and a cursor bind their
    # values as their expressions are built, so those are built each time.
    bind = sql.bind
    user = bind(scope.user_id) if scope.see_own else None
    collection = bind(params.collection_id) if params.collection_id is not None else None
    named = bind(params.collection_name) if params.collection_name is not None else None
    filters = [sql.group(group) for group in (params.where, params.filters) if group is not None]
    ranked = any(term.field.kind == SCORE for term in sort_terms(params.sort))
    searched = sql.search(params.search, ranked=ranked) if params.search else None
    # The count may read the full-text index by another plan than the page (sql.search).
    counting = sql.search(params.search, counting=True) if params.search else None

    def where(search):
        clauses = [visibility(scope, params.statuses, params.include_deleted, user)]
        if collection is not None:
            clauses.append(Content.collection == collection)
        if named is not None:
            # A name is unique: ``= (subquery)`` is an equality both planners seek a collection's
            # index with, in its order; ``IN (subquery)`` had them read the rows and sort them.
            clauses.append(Content.collection == Collection.select(Collection.id).where(Collection.name == named))
        return _and(clauses + filters + ([search] if search is not None else []))

    shape = list_shape(params, scope, sql)
    total, estimated = total_of(params, scope, sql, lambda: where(counting), shape)
    terms = sort_terms(params.sort)

    def selected():
        # The sort terms are selected too: the next page's cursor carries the last row's.
        extra = [sql.term(term).alias(f"_k{i}") for i, term in enumerate(terms)]
        nulls = any(term.nullable for term in terms)
        return extra, [sql.order(term, nulls) for term in terms]

    # A relevance term binds the search query: built now, in the order of the slots.
    prebuilt = selected() if any(term.field.kind == SCORE for term in terms) else None

    def page(part, condition, limit, offset=None):
        def build():
            extra, orders = prebuilt or selected()
            query = sql.reading_data(joined_select(*extra)).order_by(*orders)
            # An int is written into the text (Peewee would bind it): see ``page_limit``.
            return query.where(condition()).limit(SQL(str(limit)) if isinstance(limit, int) else limit).offset(offset)

        key = shape and (shape, part, limit if isinstance(limit, int) else None)
        return execute(key, bind.values, build).fetchall()

    if params.cursor is None:
        rows = page("page", lambda: where(searched), page_limit(sql, bind, params.limit + 1),
                    bind(params.offset) if params.offset else None)
    else:
        main, tail = keyset(sql, terms, params.cursor)
        rows = page("after", lambda: where(searched) & main, page_limit(sql, bind, params.limit + 1))
        if tail is not None and len(rows) <= params.limit:
            rows += page("tail", lambda: where(searched) & tail, bind(params.limit + 1 - len(rows)))
    has_next = len(rows) > params.limit
    rows = rows[:params.limit]
    items = items_from_rows(rows, scope, params.fields)
    kept = _items_within_budget(items)
    truncated = kept < len(items)
    if truncated:
        rows, items, has_next = rows[:kept], items[:kept], True
    page_number = params.offset // params.limit + 1 if params.paged else None
    has_prev = params.offset > 0 if params.paged else True
    meta = {"count": len(rows)}
    meta.update(pagination_meta(total, params.limit, page_number, has_next=has_next, has_prev=has_prev))
    if params.paged:
        meta["offset"] = params.offset
    if has_next:
        last = convert_row(rows[-1], _extra_converters(sql.postgres, terms))
        meta["nextCursor"] = encode_cursor(params.sort, last[WIDTH:])
    if truncated:
        meta["truncated"] = True
    if estimated:
        meta["totalIsEstimate"] = True
    return {"data": items, "meta": meta}


def page_limit(sql, bind, rows):
    """The LIMIT of a page of ``rows`` rows: a bound value on SQLite, part of the SQL text on PostgreSQL.

    PostgreSQL plans a prepared statement for its values five times, then keeps one
    generic plan when that plan costs no more. A generic plan does not know a bound LIMIT
    and reckons with a tenth of the matching rows, so past some thousands of items the
    page's generic plan looked dearer than planning anew, and every page paid its planning
    (0.3 to 0.6 ms, more than running it). With the LIMIT in the text (an int the
    parameters bounded, one statement per page size) the generic plan is costed for the
    rows it reads, and kept. SQLite plans each statement for its SQL alone.

    Returns:
        An int (the caller puts it in the shape's key) or the ``bind`` slot.
    """
    if sql.postgres:
        return int(rows)
    return bind(rows)


@functools.lru_cache(maxsize=256)
def _extra_converters(postgres, terms):
    """``column_converters`` of the sort terms ``_list`` selects after COLUMNS (per dialect and terms).

    Which terms are plain columns depends on those two only, so a scratch builder tells.
    """
    scratch = SqlBuilder(postgres)
    return column_converters([scratch.term(term) for term in terms], WIDTH)


def list_shape(params, scope, sql):
    """What the SQL of a list depends on besides its bound values (None: compile afresh).

    Values bound as parameters (through ``sql.bind``: user, collection, filter values,
    search text, cursor values, limit and offset) are left out (a page's LIMIT written
    into the text on PostgreSQL joins the key of that page: ``page_limit``); whatever changes the SQL
    text is in: which clauses exist, each filter's field and operator and its value's JSON
    type (a boolean or null value itself), the number of words of ``like``, the search's
    plan (``sql.search``), which cursor values are null, and whether there is an offset.
    On PostgreSQL, the collation a case-insensitive filter names (``pg_fold_collation``):
    a process may serve servers with ICU and without.
    """
    if sql.skip:
        return None  # the fallback for rows whose data is not JSON: rare, compiled each time
    return (
        "list", sql.postgres and pg_fold_collation(database.obj), sql.declared, scope.see_all, scope.see_own,
        scope.hides_inactive,
        params.statuses, params.include_deleted,
        params.collection_id is not None, params.collection_name is not None,
        _group_shape(params.where), _group_shape(params.filters),
        sql.search_plan, params.sort,
        None if params.cursor is None else tuple(value is None for value in params.cursor), bool(params.offset),
    )


def _group_shape(group):
    if group is None:
        return None
    return (group.kind, tuple(_group_shape(item) if isinstance(item, Group) else _condition_shape(item)
                              for item in group.items))


def _condition_shape(condition):
    value = condition.value
    shape = len(value.split()) if condition.operator == "like" else _value_shape(value)
    if condition.elements and condition.operator == "all":
        # Each value matches a list's items as the string, number or boolean it writes.
        shape = tuple(_value_shape(element_candidates(text)) for text in value)
    return condition.field, condition.operator, shape, condition.elements


def _value_shape(value):
    """A value's type as the SQL sees it (booleans and null are part of the SQL text)."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, (list, tuple)):
        return tuple(_value_shape(item) for item in value)
    if isinstance(value, int) and not -(2**63) <= value < 2**63:
        return "bigint"
    if isinstance(value, str):
        return "text" if is_plain_text(value) else "json text"  # SQLite tests the JSON type of the latter
    return type(value).__name__


def total_of(params, scope, sql, where, shape=None):
    """``(total, is_estimate)`` of a list, without counting every matching row.

    An unfiltered list reads the counts the triggers keep (``content_counts``), and so does
    one filtered on a counted value (``content_counts_values``, ``_counted_condition``).
    Another filtered one counts its matches up to ``COUNT_LIMIT``; past it, the total is
    ``COUNT_LIMIT`` and marked as an estimate (a lower bound): counting a million matches
    would cost more than the page itself.

    Args:
        where: returns the list's WHERE clause (called only to compile the count's SQL).
    """
    if params.where is None and params.filters is None and not params.search and not scope.see_own:
        return _counted(params, scope), False
    condition = _counted_condition(params, scope)
    if condition is not None:
        found = _counted_value(params, scope, condition)
        if found is not None:
            return found, False

    def build():
        matching = sql.reading_data(Content.select(SQL("1")), counting=True).where(where()).limit(COUNT_LIMIT + 1)
        # LIMIT 1: the SQL Peewee's scalar() sent (the statement must stay the same).
        return Select([matching.alias("matching")], [fn.COUNT(SQL("*"))]).limit(1)

    found = execute(shape and (shape, "count"), sql.bind.values, build).fetchone()[0]
    return (COUNT_LIMIT, True) if found > COUNT_LIMIT else (found, False)


def _counted(params, scope):
    """The total of an unfiltered list, summed from ``content_counts``."""
    bind = Binder()
    collection = bind(params.collection_id) if params.collection_id is not None else None
    named = bind(params.collection_name) if params.collection_name is not None else None

    def build():
        clauses = []
        if scope.hides_inactive:  # the kept counts of the other collections only: still exact
            clauses.append(ContentCount.collection_id.not_in(_inactive_collection_ids()))
        if params.statuses is not None:
            clauses.append(ContentCount.status.in_(list(params.statuses)))
        if not params.include_deleted:
            clauses.append(ContentCount.deleted == 0)
        if collection is not None:
            clauses.append(ContentCount.collection_id == collection)
        if named is not None:
            clauses.append(ContentCount.collection_id.in_(
                Collection.select(Collection.id).where(Collection.name == named)))
        # LIMIT 1: the SQL Peewee's scalar() sent (the statement must stay the same).
        return ContentCount.select(fn.SUM(ContentCount.n)).where(_and(clauses)).limit(1)

    shape = ("counted", is_postgres(database.obj), scope.hides_inactive, params.statuses, params.include_deleted,
             collection is not None, named is not None)
    summed = execute(shape, bind.values, build)
    return int(summed.fetchone()[0] or 0)


def _counted_condition(params, scope):
    """The list's one condition when its total may be read from the kept value counts, else None.

    That is a list of one collection (by id or by name) whose only filter is
    ``data.<field> equals "<text>"`` (no ``where``, no search, a scope with no "own items"
    part): its matches are the rows whose field holds that JSON string, which is what
    ``content_counts_values`` counts.
    """
    if params.where is not None or params.filters is None or params.search or scope.see_own:
        return None
    if (params.collection_id is None) == (params.collection_name is None):  # none, or both (an id and a name)
        return None
    if len(params.filters.items) != 1 or isinstance(params.filters.items[0], Group):
        return None
    condition = params.filters.items[0]
    field, value = condition.field, condition.value
    if condition.operator != "equals" or not field.is_data or len(field.path) != 1 or condition.elements:
        return None  # the counts are of string values: a list's items are not among them
    return condition if isinstance(value, str) and len(value) <= VALUE_LENGTH else None


def _counted_value(params, scope, condition):
    """The exact total of a list filtered on one counted value (``_counted_condition``), or
    None when the collection's field is not counted (then the matches are counted)."""
    bind = Binder()
    collection = bind(params.collection_id) if params.collection_id is not None else None
    named = bind(params.collection_name) if params.collection_name is not None else None
    field, value = bind(condition.field.path[0]), bind(condition.value)

    def build():
        counted, tracked = ContentValueCount, ContentCountedField
        clauses = [counted.collection_id == tracked.collection_id, counted.field == tracked.field,
                   counted.value == value]
        if params.statuses is not None:
            clauses.append(counted.status.in_(list(params.statuses)))
        if not params.include_deleted:
            clauses.append(counted.deleted == 0)
        summed = counted.select(fn.COALESCE(fn.SUM(counted.n), 0)).where(_and(clauses))
        which = collection if collection is not None else Collection.select(Collection.id).where(
            Collection.name == named)
        pair = [tracked.collection_id == which, tracked.field == field]
        if scope.hides_inactive:  # a deactivated collection's list is empty to the public: counted as such
            pair.append(tracked.collection_id.not_in(_inactive_collection_ids()))
        return tracked.select(summed).where(_and(pair)).limit(1)

    shape = ("counted value", is_postgres(database.obj), scope.hides_inactive, params.statuses, params.include_deleted,
             collection is not None)
    row = execute(shape, bind.values, build).fetchone()
    return None if row is None else int(row[0])


def _items_within_budget(items):
    """How many of ``items``, from the first, fit ``RESPONSE_BUDGET_BYTES`` (always at least one).

    The items' JSON is measured as one list first (the sum of the items' sizes is the
    list's less its brackets and commas): only a page over the budget is measured item by
    item, to find where to cut it.
    """
    if len(msgspec.json.encode(items)) - 1 - max(len(items), 1) <= RESPONSE_BUDGET_BYTES:
        return len(items)
    used = 0
    for count, item in enumerate(items):
        used += len(msgspec.json.encode(item))
        if used > RESPONSE_BUDGET_BYTES:
            return max(count, 1)
    return len(items)


def invalid_data_rows():
    """Ids of the content rows whose ``data`` is not JSON the database can read.

    SQLite has ``json_valid``. PostgreSQL 15 has no test that does not raise, so a
    session-local function (``pg_temp``: nothing is added to the schema) tries the cast.
    """
    if not is_postgres(database.obj):
        query = "SELECT id FROM content WHERE json_valid(data) = 0 ORDER BY id"
        return [row[0] for row in database.execute_sql(query).fetchall()]
    with database.atomic():
        database.execute_sql(_PG_IS_JSON)
        query = "SELECT id FROM content WHERE NOT pg_temp.sonicpy_is_json(data) ORDER BY id"
        return [row[0] for row in database.execute_sql(query).fetchall()]


_PG_IS_JSON = """CREATE OR REPLACE FUNCTION pg_temp.sonicpy_is_json(value text) RETURNS boolean
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
  PERFORM CAST(value AS jsonb);
  RETURN true;
EXCEPTION WHEN others THEN
  RETURN false;
END $$"""


def get_item(scope, *, content_id=None, collection_name=None, slug=None):
    """One item by id, or by collection name and slug, if ``scope`` may see it; else None."""
    if "\x00" in (content_id or "") + (collection_name or "") + (slug or ""):
        return None  # no such item; PostgreSQL would reject the parameter
    sql, params = item_statement(scope, content_id=content_id, collection_name=collection_name, slug=slug)
    return item_of(database.execute_sql(prepared_sql(sql), params).fetchall(), scope)


def item_of(rows, scope):
    """The item of ``item_statement``'s rows, as ``get_item`` answers it (None: no row)."""
    return items_from_rows(rows[:1], scope)[0] if rows else None


def item_statement(scope, *, content_id=None, collection_name=None, slug=None):
    """``(sql, params)`` of ``get_item``'s SELECT, for a caller that sends it with other statements."""
    bind = Binder()
    keys = (bind(content_id),) if content_id is not None else (bind(collection_name), bind(slug))
    user = bind(scope.user_id) if scope.see_own else None

    def build():
        if content_id is not None:
            where = Content.id == keys[0]
        else:
            where = (Collection.name == keys[0]) & (Content.slug == keys[1])
        return joined_select().where(_visible_item(scope, where, user)).limit(1)

    shape = ("item", is_postgres(database.obj), content_id is not None, scope.see_all, scope.see_own,
             scope.hides_inactive)
    return prepared(shape, bind.values, build)


def is_visible(scope, content_id):
    """Whether ``scope`` may read item ``content_id``: True exactly when ``get_item`` finds it.

    Endpoints about an item (its workflow state, its history) answer 404 otherwise, so
    review notes and history of drafts never reach readers who cannot see the draft.
    """
    if "\x00" in content_id:
        return False
    where = _visible_item(scope, Content.id == content_id)
    return Content.select(Content.id).where(where).exists()


def visible_ids(scope, content_ids):
    """The ids among ``content_ids`` that ``scope`` may read (``is_visible`` of many, in one query)."""
    return set(readable_titles(scope, content_ids))


def readable_titles(scope, content_ids):
    """``{id: title}`` of the items among ``content_ids`` that ``scope`` may read, in one query."""
    ids = [content_id for content_id in content_ids if "\x00" not in content_id]
    if not ids:
        return {}
    where = _visible_item(scope, Content.id.in_(ids))
    return dict(Content.select(Content.id, Content.title).where(where).tuples())


def _visible_item(scope, where, user=None):
    if scope.see_all:
        return where & Content.collection.not_in(_inactive_collection_ids()) if scope.active_only else where
    return where & visibility(scope, None if scope.see_own else ("published",), scope.see_own, user)
