"""Peewee expressions for parsed filters, search and sort terms, per database dialect.

Both databases must give the same answers, so every rule below is spelled out for each.

``data.<field>`` is read from the TEXT column ``data``: ``json_extract``/``json_type`` on
SQLite, ``CAST(data AS jsonb) #> path`` and ``jsonb_typeof`` on PostgreSQL. Every value and
JSON path is a bound parameter; the values a request brings (filter values, LIKE patterns,
search queries, cursor values) go through ``SqlBuilder.bind``, so that the compiled SQL can
be reused with another request's values (``statements.py``).

* **No value**: a key that is missing and a key holding JSON ``null`` are the same thing,
  SQL NULL (PostgreSQL's ``#>`` gives a jsonb ``null`` that is not SQL NULL: it is mapped
  to it with ``NULLIF``). ``equals null`` matches items without a value, ``not_equals`` and
  ``not_in`` are the exact complements of ``equals`` and ``in`` (so "not X" includes items
  without a value, and ``not_in [null]`` excludes them).
* **Types**: a comparison applies to values of the filter value's JSON type only: ``equals
  1`` never matches ``true`` (SQLite's ``json_extract`` reads it as 1), ``gt 1`` matches
  numbers only (PostgreSQL orders every boolean, array and object above every number,
  SQLite every string), ``gt "2025-01-01"`` strings only. ``like``, ``contains`` and
  ``all`` match string values only (PostgreSQL's ``#>>`` would turn ``true`` into text).
* **Lists**: a condition whose field may hold a list (``Condition.elements``) matches a
  list by its items, each compared as a scalar value would be: ``equals`` / ``in`` match a
  list holding an equal item (of the same JSON type), ``not_equals`` / ``not_in`` a list
  holding none (their complements), ``like`` / ``contains`` a list with a string item that
  contains the text, ``all`` a list holding an item equal to every value (a string, or the
  number or boolean the value writes); a string value keeps ``all``'s "contains every
  value". Ranges and ``exists`` read lists as before (a list is a value; it is never in a
  range).
* **Text order** is by code point on both (PostgreSQL compares with ``COLLATE "C"``, as
  SQLite's BINARY does); **case folding** in ``like`` and ``search`` is Unicode-aware on
  both (SQLite's LIKE folds ASCII only, so the text goes through Python's ``str.lower``).
* **Data that is not JSON** (a row written by hand) makes the database raise; the list is
  then run again with those rows' data read as empty (``skip``), see ``query.py``.

``search=`` matches words of the title and of the string VALUES of ``data`` at any depth,
never its keys or JSON punctuation, through the full-text index (``app.db.derived``; the
query syntax is in ``search.py``). LIKE patterns escape ``%``, ``_`` and ``\\``.
"""

import msgspec
from peewee import JOIN, SQL, Case, Cast, Column, EnclosedNodeList, Expression, NodeList, Select, Value, fn

from app.db.database import is_postgres
from app.db.derived import FTS_TABLE
from app.db.models import Content, database
from app.db.text_match import contains_any_case
from app.services.content.fields import COLUMNS, INT, SCORE, TIME
from app.services.content.filters import Group
from app.services.content.search import fts5_query, parse_search, tsquery
from app.services.content.statements import Binder
from app.services.content.values import RANGE_SQL, element_candidates, json_kind

# Text sort keys compare their first characters only, so a cursor (which carries the
# last row's sort values) stays short whatever the text; ties go to the id.
SORT_TEXT_LENGTH = 100
# Where a data value's JSON type puts it in a sort: no value first, then these.
TYPE_RANKS = {"boolean": 1, "number": 2, "string": 3, "array": 4, "object": 5}
# SQLite's json_type names per JSON type (it tells true from false, integer from real).
SQLITE_TYPES = {
    "boolean": ("true", "false"), "number": ("integer", "real"), "string": ("text",),
    "array": ("array",), "object": ("object",),
}
# The item of a list a filter reads (``SqlBuilder._holds``): json_each's columns on SQLite
# (``type`` names the JSON type as json_type does), jsonb_array_elements' one on PostgreSQL.
ITEM_ALIAS = '"list_item"'
ITEM_VALUE = f"{ITEM_ALIAS}.value"
ITEM_TYPE = f"{ITEM_ALIAS}.type"
# Text columns ordered (and range-compared) by code point on PostgreSQL too.
COLLATED_COLUMNS = frozenset({"title", "slug", "status", "meta_title", "meta_description"})
BOUNDED_COLUMNS = frozenset({"title"})
# Search plans (``SqlBuilder.search``), by how many rows of the full-text index match:
# reading the matches costs about one row lookup each, testing the list's rows in order
# about one index lookup each (some 50 times a lookup) until a page is full.
SEARCH_DRIVEN_UP_TO = 2_000
SEARCH_PROBE_FROM = 50_000


def builder(skip=(), declared=frozenset()):
    """A SqlBuilder for the database the models are bound to.

    Args:
        skip: ids of content rows whose ``data`` is not JSON: read as empty.
        declared: top-level data fields with an index (``field_indexes``): their
            expressions are written exactly as the index's, literals included.
    """
    return SqlBuilder(is_postgres(database.obj), skip, declared)


def _sqlite_search_plan(match):
    """``driven``, ``in`` or ``probe``: the plan for a page searching ``match`` (an FTS5 query)."""
    sql = f"SELECT count(*) FROM (SELECT 1 FROM {FTS_TABLE} WHERE {FTS_TABLE} MATCH ? LIMIT ?)"
    found = database.execute_sql(sql, (match, SEARCH_PROBE_FROM)).fetchone()[0]
    if found <= SEARCH_DRIVEN_UP_TO:
        return "driven"
    return "probe" if found >= SEARCH_PROBE_FROM else "in"


def _pg_search_matches(query):
    """The ids of the rows whose stored vector matches ``query`` (a tsquery's text) when at
    most ``SEARCH_DRIVEN_UP_TO`` do (the ``driven`` plan), else None (``tsvector``). Cheap
    either way: the GIN index for a rare word, the table's first rows for a common one
    (whose ids are not sent: NULL).

    The ids come as the text of a PostgreSQL array (``{a,b}``, quoted where an id needs it)
    and go back as it, cast to ``text[]``: a thousand ids parsed into a Python list and
    quoted again cost the client as much as the server saved by not reading them again.
    """
    sql = (f"SELECT count(*), CASE WHEN count(*) <= %s THEN coalesce(array_agg(id), '{{}}')::text END"
           f" FROM (SELECT id FROM {FTS_TABLE} WHERE vector @@ to_tsquery('simple', %s) LIMIT %s) AS m")
    found, ids = database.execute_sql(sql, (SEARCH_DRIVEN_UP_TO, query, SEARCH_DRIVEN_UP_TO + 1)).fetchone()
    return None if found > SEARCH_DRIVEN_UP_TO else ids


def is_plain_text(value):
    """True for a string SQLite's ``json_extract`` gives only for a JSON string (see ``_equals``)."""
    return isinstance(value, str) and not value.startswith(("[", "{"))


def balanced(parts, combine):
    """``parts`` joined by ``combine`` as a balanced tree: nesting grows with log2 of their
    number, never linearly (a left-deep chain of many terms overflows SQLite's parser)."""
    if len(parts) == 1:
        return parts[0]
    middle = len(parts) // 2
    return combine(balanced(parts[:middle], combine), balanced(parts[middle:], combine))


class SqlBuilder:
    """Builds Peewee expressions for one database dialect (SQLite or PostgreSQL)."""

    def __init__(self, postgres, skip=(), declared=frozenset()):
        self.postgres = postgres
        self.skip = tuple(skip)
        # With rows to skip the document is a CASE, which no index expression is.
        self.declared = frozenset() if self.skip else frozenset(declared)
        self._parsed = None
        self._searching = ()  # the search terms, once a search condition was built
        self.search_plan = None  # how the page's search condition reads the index (see search)
        self._driven = set()  # which conditions (page: False, count: True) lead with the index
        self._matches = None  # PostgreSQL, ``driven``: the text of the array of the matches' ids
        # Every value a request of the same shape may change is bound through ``bind``, so
        # the compiled SQL can be reused with new values (``statements.py``).
        self.bind = Binder()

    def _is_declared(self, field):
        """True when ``field`` is indexed: its expressions must match the index's."""
        return field.is_data and len(field.path) == 1 and field.path[0] in self.declared

    def _literal(self, value, field):
        """``value`` inline for a declared field (an index matches literals, not parameters)."""
        if not self._is_declared(field):
            return value if not isinstance(value, (str, int)) else Value(value)
        return SQL(str(value)) if isinstance(value, int) else SQL("'" + value.replace("'", "''") + "'")

    def _declared_raw(self, field, operator="->"):
        name = field.path[0]  # an identifier (fields.IDENTIFIER): safe as a literal
        if self.postgres:
            return Expression(Cast(Content.data, "jsonb"), operator, SQL(f"'{name}'"))
        return fn.json_extract(Content.data, SQL(f"'$.{name}'")).coerce(False)

    # ------------------------------------------------------------ data access

    def _document(self):
        """The row's data as a JSON document (NULL for the rows in ``skip``)."""
        document = Cast(Content.data, "jsonb") if self.postgres else Content.data
        if self.skip:
            document = Case(None, [(Content.id.in_(list(self.skip)), None)], document)
        if not self.postgres:
            return document
        if self._parsed is None:
            # Parsed once per row: a filter and a sort read the document many times, and
            # each CAST would parse the whole text again. OFFSET 0 keeps the planner from
            # folding the subquery back into every reference.
            self._parsed = Select(columns=[document.alias("doc")]).offset(0).lateral().alias("content_json")
        return self._parsed.c.doc

    def reading_data(self, query, counting=False):
        """``query`` (FROM content) joined with the parsed documents its expressions read, if any,
        and led by the full-text index when its search condition is ``driven`` (``counting``:
        the count's condition, else the page's; on PostgreSQL joined with the stored vectors
        whenever it searches)."""
        if counting in self._driven:
            query = query.from_(NodeList((SQL(f'"{FTS_TABLE}" CROSS JOIN'), *query._from_list)))
        return query if self._parsed is None else query.join(self._parsed, JOIN.CROSS)

    def _raw(self, field):
        """The JSON value at ``field`` (PostgreSQL: jsonb, JSON null included)."""
        if self._is_declared(field):
            return self._declared_raw(field)
        if self.postgres:
            return Expression(self._document(), "#>", Value(list(field.path), unpack=False))
        return fn.json_extract(self._document(), _sqlite_path(field)).coerce(False)

    def value_expression(self, field):
        """The expression a filter compares ``field``'s value with (what a field index holds)."""
        return self._raw(field)

    def value(self, field):
        """``field``'s value; SQL NULL when there is none (missing key or JSON null)."""
        if self.postgres:
            return fn.NULLIF(self._raw(field), Cast(Value("null"), "jsonb"))
        return self._raw(field)

    def _type(self, field):
        if self.postgres:
            return fn.jsonb_typeof(self._raw(field))
        if self._is_declared(field):
            return fn.json_type(Content.data, SQL(f"'$.{field.path[0]}'"))
        return fn.json_type(self._document(), _sqlite_path(field))

    def _type_names(self, kind):
        """This database's names for JSON type ``kind`` (jsonb_typeof uses the JSON names)."""
        return (kind,) if self.postgres else SQLITE_TYPES[kind]

    def is_type(self, field, kind):
        """True when ``field`` holds a value of JSON type ``kind`` (``number``, ``string``...)."""
        names = self._type_names(kind)
        return self._type(field) == names[0] if len(names) == 1 else self._type(field).in_(list(names))

    def _by_type(self, field, results):
        """``CASE <field's JSON type> WHEN ... END``: ``results`` maps JSON types to expressions."""
        whens = [(self._literal(name, field), result)
                 for kind, result in results.items() for name in self._type_names(kind)]
        return Case(self._type(field), whens, None)

    def text(self, field):
        """``field``'s value when it is a string (NULL otherwise)."""
        if self.postgres and self._is_declared(field):
            text = self._declared_raw(field, "->>")
        elif self.postgres:
            text = Expression(self._document(), "#>>", Value(list(field.path), unpack=False))
        else:
            text = self._raw(field)
        return self._by_type(field, {"string": text})

    def target(self, field):
        """The SQL expression of a column, or the value of a data field."""
        return COLUMNS[field.name][0] if not field.is_data else self.value(field)

    def _data_literal(self, value):
        bind = self.bind
        if self.postgres:
            return Cast(bind(msgspec.json.encode(value).decode()), "jsonb")
        if isinstance(value, bool):
            return bind(int(value))  # json_extract gives 1/0 for true/false
        if isinstance(value, int) and not -(2**63) <= value < 2**63:
            return bind(float(value))  # SQLite reads such integers as REAL too
        if isinstance(value, (dict, list)):
            return bind(msgspec.json.encode(value).decode())  # json_extract gives objects as JSON text
        return bind(value)

    def _collated(self, expr):
        return NodeList((expr, SQL('COLLATE "C"'))) if self.postgres else expr

    # ------------------------------------------------------------ filters

    def group(self, group):
        """The expression of a Group (None when it holds nothing)."""
        parts = [self.group(item) if isinstance(item, Group) else self.condition(item) for item in group.items]
        parts = [part for part in parts if part is not None]
        if not parts:
            return None
        return balanced(parts, (lambda a, b: a & b) if group.kind == "and" else (lambda a, b: a | b))

    def condition(self, cond):
        """The expression of one Condition (with ``cond.elements``, a list's items match too)."""
        field, op, value = cond.field, cond.operator, cond.value
        if op == "exists":
            return self._exists(field) if value else ~self._exists(field)
        if op in ("like", "contains", "all"):
            target = self.text(field) if field.is_data else COLUMNS[field.name][0]
            words = value.split() if op == "like" else ([value] if op == "contains" else list(value))
            matches = balanced([self.like(target, word) for word in words or [value]], lambda a, b: a & b)
            if not cond.elements:
                return matches
            if op == "all":
                return matches | self._holds_all(field, value)
            return matches | self._holds(field, self._item_contains(words or [value]))
        if op in ("equals", "not_equals"):
            matches, listed = self._equals(field, value), [value]
        elif op in ("in", "not_in"):
            matches, listed = self._in(field, value), list(value)
        else:
            return self._range(field, RANGE_SQL[op], value)
        listed = [item for item in listed if item is not None]
        if cond.elements and listed:
            matches = matches | self._holds(field, self._item_in(listed))
        return matches if op in ("equals", "in") else _not_true(matches)

    # ------------------------------------------------------------ items of lists

    def _holds(self, field, predicate):
        """``field`` holds a list with an item for which ``predicate`` (on ``ITEM``) is true.

        SQLite reads the items with ``json_each`` (which would read an object's members, or
        a scalar as its one row: the type test keeps it to lists), PostgreSQL with
        ``jsonb_array_elements`` of the value when it is an array (of NULL, no rows, where
        the function would raise on anything but an array).
        """
        if self.postgres:
            raw = self._raw(field)
            listed = Case(None, [(fn.jsonb_typeof(raw) == "array", raw)], None)
            source = fn.jsonb_array_elements(listed)
        else:
            source = fn.json_each(self._document(), _sqlite_path(field))
        exists = NodeList((SQL("EXISTS (SELECT 1 FROM"), source, SQL(f"AS {ITEM_ALIAS} WHERE"), predicate, SQL(")")))
        return exists if self.postgres else self.is_type(field, "array") & exists

    def _holds_all(self, field, texts):
        """``all`` on a list: it holds, for each text, an item equal to it (or to the number
        or boolean it writes: ``values.element_candidates``)."""
        return balanced([self._holds(field, self._item_in(list(element_candidates(text)))) for text in texts],
                        lambda a, b: a & b)

    def _item_in(self, values):
        """The list item equals one of ``values`` (not null), as a scalar does: of the same JSON type.

        Values of one JSON type make one ``IN`` (as ``_in`` does for a scalar), not one
        comparison each: a hundred values are one lookup per item, not a hundred.
        """
        if len(values) == 1:
            return self._item_equals(values[0])
        if self.postgres:  # jsonb equality keeps the types apart
            return Expression(SQL(ITEM_VALUE), "IN", EnclosedNodeList([self._data_literal(v) for v in values]))
        parts = [self._item_equals(value) for value in values if isinstance(value, bool)]
        kinds = dict.fromkeys(json_kind(value) for value in values if not isinstance(value, bool))
        for kind in kinds:
            same = [v for v in values if not isinstance(v, bool) and json_kind(v) == kind]
            same_type = Expression(SQL(ITEM_TYPE), "IN", EnclosedNodeList([Value(name) for name in SQLITE_TYPES[kind]]))
            literals = EnclosedNodeList([self._data_literal(v) for v in same])
            parts.append(same_type & Expression(SQL(ITEM_VALUE), "IN", literals))
        return balanced(parts, lambda a, b: a | b)

    def _item_equals(self, value):
        if self.postgres:
            return Expression(SQL(ITEM_VALUE), "=", self._data_literal(value))  # jsonb: 1 != true != "1"
        if isinstance(value, bool):
            return Expression(SQL(ITEM_TYPE), "=", "true" if value else "false")
        names = SQLITE_TYPES[json_kind(value)]
        same_type = Expression(SQL(ITEM_TYPE), "IN", EnclosedNodeList([Value(name) for name in names]))
        return same_type & Expression(SQL(ITEM_VALUE), "=", self._data_literal(value))

    def _item_contains(self, words):
        """The list item is a string holding every one of ``words``, in any case."""
        if self.postgres:
            is_text, text = fn.jsonb_typeof(SQL(ITEM_VALUE)) == "string", SQL(f"{ITEM_VALUE} #>> '{{}}'")
        else:
            is_text, text = Expression(SQL(ITEM_TYPE), "=", "text"), SQL(ITEM_VALUE)
        return balanced([is_text] + [self.like(text, word) for word in words], lambda a, b: a & b)

    def _equals(self, field, value):
        if value is None:
            return self.target(field).is_null()
        if not field.is_data:
            return self.target(field) == self.bind(value)
        if self.postgres:
            return self._raw(field) == self._data_literal(value)  # jsonb: 1 != true != "1"
        if isinstance(value, bool):
            return self._type(field) == ("true" if value else "false")
        if is_plain_text(value):
            # Only a JSON string reads as such text (numbers read as numbers, arrays and
            # objects as JSON text starting with [ or {): no type test, which would read
            # every matching row besides the field's index.
            return self._raw(field) == self._data_literal(value)
        return self.is_type(field, json_kind(value)) & (self._raw(field) == self._data_literal(value))

    def _in(self, field, values):
        listed = [value for value in values if value is not None]
        parts = [self.target(field).is_null()] if None in values else []
        if listed and (not field.is_data or self.postgres):
            literals = [self._data_literal(v) if field.is_data else self.bind(v) for v in listed]
            target = self._raw(field) if field.is_data else self.target(field)
            parts.append(Expression(target, "IN", EnclosedNodeList(literals)))
        elif listed:
            parts += [self._equals(field, value) for value in listed if isinstance(value, bool)]
            for kind in ("number", "string"):
                same = [v for v in listed if not isinstance(v, bool) and json_kind(v) == kind]
                if same:
                    literals = EnclosedNodeList([self._data_literal(v) for v in same])
                    matches = Expression(self._raw(field), "IN", literals)
                    parts.append(matches if all(map(is_plain_text, same)) else self.is_type(field, kind) & matches)
        return balanced(parts, lambda a, b: a | b)

    def _range(self, field, op, value):
        if not field.is_data:
            target = self.target(field)
            if field.name in COLLATED_COLUMNS:
                return Expression(self._collated(target), op, self.bind(value))
            return Expression(target, op, self.bind(value))
        kind = json_kind(value)
        if kind == "string":
            return Expression(self._collated(self.text(field)), op, self.bind(value))
        return self.is_type(field, kind) & Expression(self._raw(field), op, self._data_literal(value))

    def _exists(self, field):
        if field.kind in (INT, TIME):
            return COLUMNS[field.name][0].is_null(False)
        if field.is_data:
            # A value other than null and the empty string.
            return self.value(field).is_null(False) & (self.text(field).is_null() | (self.text(field) != ""))
        target = COLUMNS[field.name][0]
        return target.is_null(False) & (target != "")

    def like(self, target, text):
        """``target`` contains ``text``, case-insensitively (every letter), with %, _ and \\ escaped.

        Every list with a LIKE builds this condition (its value is bound here), so SQLite's
        folding function is registered before the statement runs, stored or not.
        """
        return contains_any_case(target, text, self.bind)

    def search(self, text, counting=False, ranked=False):
        """``search=``: the item's title or string values of ``data`` hold the query's terms
        (``search.py``), answered by the full-text index (``app.db.derived``).

        On SQLite the condition takes one of three forms, by how many rows of the index
        match (``search_plan``; counted first, up to ``SEARCH_PROBE_FROM``):

        * ``driven`` (at most ``SEARCH_DRIVEN_UP_TO`` matches, and always for the count):
          the query reads the matches from the index first (``FROM content_fts CROSS JOIN
          content``: CROSS fixes that order) and each one's row by rowid, then sorts them.
          A count stops after ``COUNT_LIMIT`` visible matches, so it reads few rows even
          for a word every item holds;
        * ``in``: ``rowid IN (matches)``: the planner reads the list's index in order and
          tests each row against the matches, kept in a temporary index;
        * ``probe`` (``SEARCH_PROBE_FROM`` matches or more): the list's index in order,
          each row tested with an index lookup of its own; a common word fills a page
          within its first rows, where reading every match would cost the most.

        The three give the same rows; ``reading_data`` adds the index to FROM for ``driven``.
        A page sorted by relevance (``ranked``) is always ``driven``: it scores every match
        anyway, and with the index in FROM each match's score is computed once, by the row
        the index gives (``_relevance``), not by a MATCH of its own per row.

        On PostgreSQL the stored vectors (``content_fts``) join content (``reading_data``),
        and the planner starts from the GIN index or from the list's own by its statistics;
        a relevance page ranks the vector it read. Except for a page whose words few rows
        hold (``driven``): the statement that picks the plan reads the matches' ids from the
        index (``_pg_search_matches``, at most ``SEARCH_DRIVEN_UP_TO`` + 1), and the page and
        its count take them as one bound array (``id = ANY(...)``), reading only their rows
        (and for a relevance page their vectors) by id: the index and the vectors' table are
        read once per list, not once by each of the three statements (at 1M items, for a
        word 1,000 of them hold, a quarter less of the server's time per list; the rest is
        reading those 1,000 rows by id, for the count and for the page). Joined, the planner
        priced each of those row reads with the visibility check's own start-up cost, and
        walked the list's index instead, probing a vector per row (250 ms at 1M items for a
        word 1,000 of them hold, 10 ms reading the ids first), or read every vector to rank
        them (120 ms, 20 reading the ids first). The ids are those matching when the plan
        was picked, a moment before the page reads its rows (a row whose words changed in
        between is listed by its words of then, as a cached answer would be); the rows'
        other conditions (status, deleted, filters) are the page's own.
        """
        terms = parse_search(text)
        if not terms:
            self.search_plan = "none"
            return SQL("1 = 0")
        self._searching = terms
        if self.postgres:
            joined = (Content.id, SQL(f'= "{FTS_TABLE}".id'))
            if not counting:
                self._matches = _pg_search_matches(tsquery(terms))
                self.search_plan = "tsvector" if self._matches is None else "driven"
            if self._matches is not None:
                # One bound value, read through a subquery: the planner does not know how
                # many ids it holds, and reads their rows by id. Told their number, it may
                # walk the list's index in order, testing each row, which takes as long as
                # the list is long when the ids' rows are among its last.
                matches = NodeList((Content.id, NodeList((
                    SQL("= ANY(ARRAY(SELECT unnest("), self.bind(self._matches), SQL("::text[])))")), glue="")))
                if counting or not ranked:
                    return matches
                self._driven.add(counting)  # the vectors to rank, read by id
                return NodeList((matches, SQL("AND"), *joined))
            self._driven.add(counting)
            return NodeList((self._search_vector(), SQL("@@"), self._tsquery(terms), SQL("AND"), *joined))
        match = fts5_query(terms)
        plan = "driven" if counting or ranked else _sqlite_search_plan(match)
        if not counting:
            self.search_plan = plan
        rowid = Column(Content._meta.table, "rowid")
        if plan == "driven":
            self._driven.add(counting)
            return NodeList((SQL(f'"{FTS_TABLE}" MATCH'), self.bind(match), SQL("AND"), rowid,
                             SQL(f'= "{FTS_TABLE}".rowid')))
        if plan == "probe":
            return NodeList((SQL(f"EXISTS (SELECT 1 FROM {FTS_TABLE} WHERE {FTS_TABLE} MATCH"), self.bind(match),
                             SQL("AND rowid ="), rowid, SQL(")")))
        return NodeList((rowid, SQL(f"IN (SELECT rowid FROM {FTS_TABLE} WHERE"),
                         SQL(f"{FTS_TABLE} MATCH"), self.bind(match), SQL(")")))

    def _relevance(self):
        """How well the row matches the search, higher is better (``sort=relevance``).

        The title weighs more than ``data``: BM25 with weights 10 and 1 on SQLite (negated:
        FTS5 gives better matches lower scores), ``ts_rank`` over the A (title) and B (data)
        weights on PostgreSQL.
        """
        if not self._searching:
            # A search without a word matches nothing; its score must still be an expression:
            # a bare integer in ORDER BY names a column by position on both databases.
            return Cast(SQL("0"), "float8" if self.postgres else "REAL")
        if self.postgres:
            return Cast(fn.ts_rank(self._search_vector(), self._tsquery(self._searching)), "float8")
        if False in self._driven:
            # The page reads its matches from the index (``search``): the score of the row it
            # gives, computed once per match.
            return SQL(f'-bm25("{FTS_TABLE}", 10.0, 1.0)')
        return NodeList((SQL(f"(SELECT -bm25({FTS_TABLE}, 10.0, 1.0) FROM {FTS_TABLE} WHERE {FTS_TABLE} MATCH"),
                         self.bind(fts5_query(self._searching)), SQL("AND rowid ="),
                         Column(Content._meta.table, "rowid"), SQL(")")))

    def _search_vector(self):
        return SQL(f'"{FTS_TABLE}".vector')

    def _tsquery(self, terms):
        return fn.to_tsquery(SQL("'simple'"), self.bind(tsquery(terms)))

    # ------------------------------------------------------------ sort terms

    def term(self, term):
        """The SQL expression of a sort term (``cursors.Term``)."""
        field = term.field
        if field.kind == SCORE:
            return self._relevance()
        if term.part == "column":
            column = COLUMNS[field.name][0]
            if field.name in BOUNDED_COLUMNS:
                column = fn.SUBSTR(column, 1, SORT_TEXT_LENGTH)
            return self._collated(column) if field.name in COLLATED_COLUMNS else column
        if term.part == "rank":
            # Literal numbers, so that PostgreSQL types the CASE as an integer.
            return self._by_type(field, {kind: SQL(str(rank)) for kind, rank in TYPE_RANKS.items()})
        if term.part == "number":
            return self._by_type(field, {"number": self._raw(field), "boolean": self._raw(field)})
        return self._collated(fn.SUBSTR(self.text(field), self._literal(1, field),
                                        self._literal(SORT_TEXT_LENGTH, field)))

    def term_literal(self, term, value):
        """A bound value comparable with ``term(term)``."""
        if term.part == "number":
            return self._data_literal(value)
        return self.bind(value)

    def order(self, term, nulls=True):
        """The ORDER BY item of a sort term; NULLs sort as the smallest value on both databases.

        Args:
            nulls: False when no term of the sort can be NULL: PostgreSQL then gets no
                NULLS clause, so that a plain ``DESC`` index (NULLS FIRST to PostgreSQL)
                gives the order, as it does on SQLite. With a NULLS clause on some terms
                only, no index would match them all.
        """
        target = self.term(term)
        if not self.postgres:
            if self.search_plan == "driven":
                # Not the column itself, so no index can give the order: SQLite keeps
                # starting from the search's few matches and sorts them, instead of walking
                # the whole list in order and testing every row against them.
                target = NodeList((SQL("+"), target), glue="")
            return target.desc() if term.descending else target.asc()
        if not nulls:
            return target.desc() if term.descending else target.asc()
        return target.desc(nulls="LAST") if term.descending else target.asc(nulls="FIRST")


def _sqlite_path(field):
    return "$." + ".".join(field.path)


def _not_true(expr):
    """``expr IS NOT TRUE``: the complement of ``expr``, counting NULL (no value) as not true."""
    return NodeList((EnclosedNodeList((expr,)), SQL("IS NOT TRUE")))
