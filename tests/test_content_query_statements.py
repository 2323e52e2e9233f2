"""List and item SQL is compiled once per shape and reused: a repeated list with other values
(offset, page, cursor, collection, filter value, search text, user) runs the SQL and the
parameters a fresh compile gives, without running Peewee's compiler again.

Each case is a pair of requests of one shape with different values: the first compiles
(and stores) the statements, the second must reuse them. The second request's statements
and answer are compared with those of the same request compiled afresh (cache emptied).
On PostgreSQL a page's LIMIT is part of its SQL text, a statement per page size, so there
the first request of a pair also runs at the second's page size before the second runs.
"""

import pytest

from app.db.database import is_postgres
from app.db.models import Content, bind_models, database, now_ms
from app.services.content import query, serialize, statements
from app.services.content.fields import QueryError
from app.services.content.query import NotPermitted, Scope, get_item, list_content, parse_list_params
from tests.fixtures.content import BLOG_SCHEMA, create_collection, insert_items
from tests.fixtures.users import create_user

pytestmark = pytest.mark.backends

WHERE_A = ('{"or":[{"field":"data.views","operator":"gte","value":3},'
           '{"and":[{"field":"title","operator":"like","value":"item 1"},{"field":"status","operator":"in",'
           '"value":["published","draft"]}]}]}')
WHERE_B = WHERE_A.replace('"value":3', '"value":7').replace("item 1", "item 2")

# (scope, first request, second request of the same shape with other values)
CASES = [
    ("public", {}, {"limit": "7"}),
    ("public", {"limit": "5", "offset": "5"}, {"limit": "3", "offset": "9"}),
    ("public", {"page": "2", "limit": "4"}, {"page": "3", "limit": "2"}),
    ("public", {"collection": "blog"}, {"collection": "pages"}),
    ("public", {"collection_id": "col-blog"}, {"collection_id": "col-pages"}),
    ("public", {"fields": "title,slug"}, {"fields": "title", "limit": "2"}),
    ("editor", {}, {"limit": "20"}),
    ("editor", {"limit": "20", "page": "2"}, {"limit": "10", "page": "4"}),
    ("editor", {"status": "draft", "offset": "2"}, {"status": "draft", "offset": "1"}),
    ("editor", {"status": "draft,archived"}, {"status": "archived,draft", "limit": "2"}),
    ("editor", {"status": "all", "include_deleted": "true"}, {"status": "all", "include_deleted": "true", "limit": "3"}),
    ("editor", {"collection": "blog", "sort": "-updated_at"}, {"collection": "pages", "sort": "-updated_at"}),
    ("editor", {"sort": "title", "offset": "1"}, {"sort": "title", "offset": "3"}),
    ("editor", {"sort": "-data.views,title"}, {"sort": "-data.views,title", "limit": "4"}),
    ("editor", {"filter[title][like]": "item 1"}, {"filter[title][like]": "item 2"}),
    ("editor", {"filter[title][like]": "ite"}, {"filter[title][like]": "tem"}),
    ("editor", {"filter[data.views][gt]": "5"}, {"filter[data.views][gt]": "2"}),
    ("editor", {"filter[data.views][lte]": "4.5"}, {"filter[data.views][lte]": "8.5"}),
    ("editor", {"filter[data.category][in]": "news,tech"}, {"filter[data.category][in]": "life,news"}),
    ("editor", {"filter[data.category][not_in]": "news"}, {"filter[data.category][not_in]": "tech"}),
    ("editor", {"filter[data.category][equals]": "news"}, {"filter[data.category][equals]": "life"}),
    ("editor", {"filter[data.category][not_equals]": "news"}, {"filter[data.category][not_equals]": "life"}),
    ("editor", {"filter[data.featured][equals]": "true"}, {"filter[data.featured][equals]": "true", "limit": "2"}),
    ("editor", {"filter[data.views][exists]": "true"}, {"filter[data.views][exists]": "true", "limit": "2"}),
    ("editor", {"filter[version_number][gte]": "1"}, {"filter[version_number][gte]": "2"}),
    ("editor", {"filter[slug][in]": "item-1,item-2"}, {"filter[slug][in]": "item-3,item-4"}),
    ("editor", {"filter[title][contains]": "Item"}, {"filter[title][contains]": "1"}),
    ("editor", {"filter[updated_at][gt]": "1700000003000"}, {"filter[updated_at][gt]": "1700000001000"}),
    ("editor", {"where": WHERE_A}, {"where": WHERE_B}),
    ("editor", {"search": "item"}, {"search": "blog"}),
    ("editor", {"search": "item", "sort": "relevance"}, {"search": "news", "sort": "relevance"}),
    ("public", {"search": "item", "collection": "blog"}, {"search": "tech", "collection": "pages"}),
    ("author", {"page": "3", "limit": "2"}, {"offset": "2"}),
    ("author", {"status": "draft"}, {"status": "draft", "limit": "1"}),
    ("author", {"include_deleted": "true", "page": "3"}, {"include_deleted": "true", "page": "2", "limit": "3"}),
    ("author", {"filter[title][like]": "item"}, {"filter[title][like]": "draft"}),
    ("editor", {"limit": "3", "cursor": 1}, {"limit": "3", "cursor": 2}),
    ("editor", {"limit": "3", "sort": "title", "cursor": 1}, {"limit": "3", "sort": "title", "cursor": 2}),
    ("editor", {"limit": "3", "sort": "-data.views", "cursor": 1}, {"limit": "3", "sort": "-data.views", "cursor": 2}),
    ("public", {"limit": "2", "sort": "published_at", "cursor": 1}, {"limit": "2", "sort": "published_at", "cursor": 2}),
    ("editor", {"limit": "2", "sort": "data.category", "cursor": 1}, {"limit": "2", "sort": "data.category", "cursor": 2}),
    ("editor", {"limit": "2", "sort": "-data.category", "cursor": 1}, {"limit": "2", "sort": "-data.category", "cursor": 3}),
    # Lists that bind many values, in the order every request of a shape must make them: the
    # user (twice in the SQL), the collection, filter values, the search text, the cursor's
    # values, the limit; the tail page after a descending nullable key's last value.
    ("author", {"include_deleted": "true", "collection": "blog", "filter[title][like]": "item 1", "limit": "2",
                "cursor": 1},
     {"include_deleted": "true", "collection": "pages", "filter[title][like]": "item 2", "limit": "1", "cursor": 1}),
    ("author", {"collection_id": "col-blog", "search": "item", "sort": "-data.views", "limit": "10", "cursor": 1},
     {"collection_id": "col-pages", "search": "news", "sort": "-data.views", "limit": "1", "cursor": 2}),
    ("public", {"collection": "blog", "search": "news", "sort": "relevance", "limit": "2", "cursor": 1},
     {"collection": "pages", "search": "item", "sort": "relevance", "limit": "1", "cursor": 1}),
    ("editor", {"filter[data.views][gt]": "2", "sort": "-data.category", "limit": "2", "cursor": 1},
     {"filter[data.views][gt]": "3", "sort": "-data.category", "limit": "2", "cursor": 1}),
    ("editor", {"sort": "-published_at", "limit": "5", "cursor": 2}, {"sort": "-published_at", "limit": "4", "cursor": 3}),
]


@pytest.fixture
def site(env):
    """Two collections with items of every status, by two authors; the scopes of the cases."""
    bind_models(env.DB.db)
    author, other = create_user("author"), create_user("author")
    blog, pages = create_collection("blog", BLOG_SCHEMA), create_collection("pages")
    categories = ["news", "tech", "life", None]

    def data(i):
        values = {"title": f"Item {i}", "views": i % 9, "featured": i % 3 == 0}
        if categories[i % 4]:
            values["category"] = categories[i % 4]
        return values

    insert_items(blog, author, 12, data=data)
    insert_items(blog, other, 4, status="draft", slug_prefix="draft", data=data)
    insert_items(pages, author, 5, status="archived", slug_prefix="page", data=data)
    insert_items(pages, other, 3, slug_prefix="p", data=data)
    insert_items(blog, author, 2, slug_prefix="gone", deleted_at=now_ms(), data=data)
    insert_items(blog, author, 3, status="draft", slug_prefix="mine", data=data)
    scopes = {"public": Scope(), "editor": Scope("editor-id", see_all=True, show_email=True),
              "author": Scope(author.id, see_own=True)}
    return scopes


def run(scope, params):
    """The list answer and every ``(sql, params)`` it sent, for ``params`` (cursor: the n-th page's)."""
    params = dict(params)
    if "cursor" in params:
        page = {key: value for key, value in params.items() if key != "cursor"}
        for _ in range(params.pop("cursor")):
            meta = list_content(parse_list_params(page, scope), scope)["meta"]
            page["cursor"] = meta["nextCursor"]
        params["cursor"] = page["cursor"]
    sent, original = [], database.obj.execute_sql

    def execute_sql(sql, values=None, *args, **kwargs):
        sent.append((sql, list(values or ())))
        return original(sql, values, *args, **kwargs)

    database.obj.execute_sql = execute_sql
    try:
        answer = list_content(parse_list_params(params, scope), scope)
    finally:
        del database.obj.execute_sql
    return answer, sent


@pytest.mark.parametrize("scope, first, second", CASES, ids=[str(i) for i in range(len(CASES))])
def test_a_list_of_the_same_shape_reuses_the_compiled_sql(site, scope, first, second):
    statements.clear()
    run(site[scope], first)
    if is_postgres(database.obj) and first.get("limit") != second.get("limit"):
        # A page size is a statement of its own there: the first request's values at the second's size.
        run(site[scope], {**{key: value for key, value in first.items() if key != "limit"},
                          **({"limit": second["limit"]} if "limit" in second else {})})
    compiled = statements.stats()["compiled"]
    reused_answer, reused_sql = run(site[scope], second)
    assert statements.stats()["compiled"] == compiled, "the second request compiled SQL again"
    statements.clear()
    fresh_answer, fresh_sql = run(site[scope], second)
    assert statements.stats()["compiled"] > 0
    assert reused_sql == fresh_sql
    assert reused_answer == fresh_answer


def test_a_stored_statement_keeps_none_of_its_first_requests_values(site):
    """Each request fills every slot: a value kept in the store would only hold memory (a
    search's matching ids) and one caller's words."""
    statements.clear()
    run(site["editor"], {"search": "item", "filter[data.category][in]": "news,tech", "filter[title][like]": "item 1"})
    stored = [param for statement in statements._statements.values() for param in statement.params]
    assert stored and not [param for param in stored if isinstance(param, str) and
                           any(word in param for word in ("item", "news", "tech"))]
    assert all(param is None for statement in statements._statements.values()
               for _, position, _ in statement.places for param in [statement.params[position]])


def test_each_page_size_is_one_statement_on_postgresql_and_a_bound_value_on_sqlite(site):
    """PostgreSQL keeps one generic plan for a prepared statement only when it costs no more
    than planning anew, and it costs a bound LIMIT as a tenth of the matching rows: the page
    size is in the SQL text there (a statement per size, each reused), a parameter on SQLite."""
    statements.clear()
    pages = {}
    for limit in ("3", "5", "3", "5"):
        answer, sent = run(site["public"], {"limit": limit})
        assert answer["meta"]["count"] == int(limit)
        page_sql, page_params = sent[-1]
        pages.setdefault(limit, set()).add(page_sql)
        if is_postgres(database.obj):
            assert f"LIMIT {int(limit) + 1}" in page_sql and int(limit) + 1 not in page_params
        else:
            assert "LIMIT ?" in page_sql and page_params[-1] == int(limit) + 1
    assert all(len(texts) == 1 for texts in pages.values())
    assert (pages["3"] != pages["5"]) == is_postgres(database.obj)
    assert statements.stats()["compiled"] == (3 if is_postgres(database.obj) else 2)  # one count, the pages


def test_cases_hold_items(site):
    """The cases are not vacuous: most of them list items (so rows are read and converted)."""
    listed = [bool(run(site[scope], second)[0]["data"]) for scope, _, second in CASES]
    assert sum(listed) >= len(CASES) - 6


@pytest.mark.parametrize("scope", ["public", "editor", "author"])
def test_get_item_reuses_its_sql(site, scope):
    live = (Content.status == "published") & Content.deleted_at.is_null()  # what every scope sees
    first, second = [row.id for row in Content.select(Content.id).where(live).order_by(Content.slug).limit(2)]
    statements.clear()
    assert get_item(site[scope], content_id=first)["id"] == first
    compiled = statements.stats()["compiled"]
    item = get_item(site[scope], content_id=second)
    assert statements.stats()["compiled"] == compiled and item["id"] == second
    by_slug = get_item(site[scope], collection_name="blog", slug="item-2")
    assert by_slug["slug"] == "item-2"
    statements.clear()
    assert get_item(site[scope], content_id=second) == item
    assert get_item(site[scope], collection_name="blog", slug="item-2") == by_slug
    assert get_item(site[scope], collection_name="blog", slug="no-such-item") is None


def test_a_list_makes_its_cache_key_once_and_its_errors_stay(site):
    editor, public = site["editor"], site["public"]
    first = parse_list_params({"limit": "20", "status": "draft"}, editor)
    assert first.cache_key() is first.cache_key()
    # The same parameters mean other lists to the public and to editors.
    assert parse_list_params({}, public).statuses == ("published",) and parse_list_params({}, editor).statuses is None
    for _ in range(2):
        with pytest.raises(QueryError) as caught:
            parse_list_params({"limit": "abc"}, editor)
        assert caught.value.problems[0]["parameter"] == "limit"
        with pytest.raises(QueryError):
            parse_list_params({"limit": ["1", "2"]}, editor)
        with pytest.raises(QueryError):
            parse_list_params({"search": "a\x00b"}, editor)
        with pytest.raises(NotPermitted):
            parse_list_params({"status": "draft"}, public)


@pytest.mark.parametrize("db_backend", ["sqlite"], indirect=True)
def test_a_value_of_another_type_reads_as_peewee_reads_it(site):
    """SQLite keeps what a hand-written UPDATE gives a column: such values still get the
    field's conversion (2.5 in an integer column reads as 2, as Peewee's int() gives)."""
    database.execute_sql("UPDATE content SET version_number = 2.5, title = 'Odd' WHERE slug = 'item-3'")
    items = {item["slug"]: item for item in run(site["editor"], {"limit": "100"})[0]["data"]}
    assert items["item-3"]["version_number"] == 2 and items["item-4"]["version_number"] == 1
    assert get_item(site["editor"], collection_name="blog", slug="item-3")["version_number"] == 2


def test_the_store_of_statements_is_bounded(site, monkeypatch):
    monkeypatch.setattr(statements, "MAX_STATEMENTS", 3)
    statements.clear()
    for sort in ("title", "-title", "slug", "-slug", "created_at", "-created_at"):
        run(site["editor"], {"sort": sort})
    assert statements.stats()["stored"] == 3
    # The newest are kept: the last list's page is reused (its count was pushed out).
    compiled = statements.stats()["compiled"]
    run(site["editor"], {"sort": "-created_at"})
    assert statements.stats()["compiled"] == compiled + 1


def _row(**changes):
    """A cursor row of ``joined_select`` (plus one extra sort column), with ``changes`` by column name."""
    values = {
        "id": "c1", "title": "Title", "slug": "title", "status": "draft", "collection_id": "col-blog",
        "data": '{"views": 3, "tags": ["a"]}', "created_at": 1, "updated_at": 2, "published_at": None,
        "version_number": 1, "meta_title": None, "meta_description": "", "workflow_state_id": "draft",
        "deleted_at": None, "author_id": "u1", "author_first_name": "Ada", "author_last_name": "Lovelace",
        "author_username": "ada",
        "author_email": "ada@example.com", "collection_name": "blog", "collection_display_name": "Blog",
        "media_id": None, "media_url": None, "media_thumbnail_url": None, "media_alt": None, "media_width": None,
        "media_height": None, "media_mime_type": None,
    }
    values.update(changes)
    return (*(values[name] for name, _ in serialize.COLUMNS), 2)


ODD_ROWS = [
    _row(),
    _row(author_first_name="", author_last_name="Lovelace"),
    _row(author_first_name="Ada", author_last_name=None),
    _row(author_first_name=None, author_last_name=""),
    _row(media_id="m1", media_url="/m1.png", media_width=10, media_height=20, media_mime_type="image/png"),
    _row(data="not JSON"),
    _row(data=None),
    _row(data=b'{"x": 1}'),
    _row(version_number=2.5, published_at="17", created_at=3.0),  # what a hand-written UPDATE leaves in SQLite
    _row(title=7, slug=b"bytes", media_id="m2", media_width="12"),
    _row(version_number=True, deleted_at=False),
]


@pytest.mark.parametrize("scope", ["public", "editor", "author"])
@pytest.mark.parametrize("fields", [None, ("title", "author")])
def test_items_from_rows_reads_rows_as_convert_row_and_item_from_row(scope, fields):
    """The list's one pass from rows to items gives what the two steps give, for rows of any types
    (each row read alone and in a page, so that a row of known types comes before an odd one)."""
    public = scope == "public"
    scope = {"public": Scope(), "editor": Scope("e", see_all=True, show_email=True),
             "author": Scope("a", see_own=True)}[scope]
    expected = [serialize.item_from_row(serialize.convert_row(row), scope, fields) for row in ODD_ROWS]
    assert serialize.items_from_rows(ODD_ROWS, scope, fields) == expected
    assert [serialize.items_from_rows([row], scope, fields)[0] for row in ODD_ROWS] == expected
    assert serialize.items_from_rows(ODD_ROWS, scope, fields) == expected  # the row types now known
    items = serialize.items_from_rows(ODD_ROWS, scope)
    # A nameless author's username (unless chosen, the email's local part) is not the public's.
    nameless = "" if public else "ada"
    assert [item["author"]["name"] for item in items[:4]] == ["Ada Lovelace", "Lovelace", "Ada", nameless]
    assert [item["data"] for item in items[5:8]] == ["not JSON", None, {"x": 1}]
    assert [items[8][key] for key in ("version_number", "published_at", "created_at")] == [2, 17, 3]


@pytest.mark.parametrize("scope, params", [
    ("public", {}), ("editor", {"collection": "blog", "offset": "2"}), ("author", {"include_deleted": "true"}),
    ("editor", {"collection_id": "col-blog", "sort": "-data.views"}),
])
def test_a_stored_shape_builds_no_expressions(site, monkeypatch, scope, params):
    """A list whose statements are stored makes its bound values only: its WHERE and SELECT
    expressions are built to compile a shape, never to run it again."""
    statements.clear()
    run(site[scope], {**params, "limit": "3"})
    built = []
    for name in ("visibility", "joined_select"):
        original = getattr(query, name)
        monkeypatch.setattr(query, name, lambda *args, _name=name, _original=original: built.append(_name)
                            or _original(*args))
    reused, _ = run(site[scope], {**params, "limit": "3"})
    assert built == [] and reused["data"]
    statements.clear()
    assert run(site[scope], {**params, "limit": "3"})[0] == reused
    assert "visibility" in built and "joined_select" in built  # a compile builds them (the test sees it)
