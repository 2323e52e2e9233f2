"""GET /api/content, /api/content/{id}, /api/collections/{name}/content[/{slug}]: who sees
what, the item shape, pagination with true totals, and cursors over 1,000 items."""

import base64

import msgspec
import pytest

from app.db.models import Content, Media, new_id, now_ms
from tests.fixtures.content import create_collection, insert_items

pytestmark = pytest.mark.backends


@pytest.fixture
def mixed(env, blog_collection, as_author, make_user):
    """Published, draft, archived and soft-deleted items by two authors."""
    author, _ = as_author
    other, _ = make_user("author")
    published = insert_items(blog_collection, author, 3, status="published")
    drafts = insert_items(blog_collection, author, 2, status="draft", start=1_800_000_000_000, slug_prefix="draft")
    archived = insert_items(blog_collection, other, 1, status="archived", slug_prefix="archived")
    others_draft = insert_items(blog_collection, other, 1, status="draft", slug_prefix="other")
    deleted = insert_items(blog_collection, author, 1, deleted_at=now_ms(), slug_prefix="gone")
    return {"published": published, "drafts": drafts, "archived": archived, "others_draft": others_draft,
            "deleted": deleted}


def ids(response):
    return {item["id"] for item in response.json["data"]}


# ---------------------------------------------------------------- visibility


def test_anonymous_callers_see_published_live_content_only(client, mixed):
    response = client.get("/api/content")
    assert ids(response) == set(mixed["published"])
    assert response.json["meta"]["total"] == 3
    for hidden in mixed["drafts"] + mixed["archived"] + mixed["deleted"]:
        assert client.get(f"/api/content/{hidden}", status=404).json == {"error": "Content not found"}
    client.get("/api/collections/blog/content/gone-0", status=404)
    assert ids(client.get("/api/collections/blog/content")) == set(mixed["published"])


def test_anonymous_callers_cannot_ask_for_other_statuses(client, mixed):
    assert client.get("/api/content?status=draft", status=401).json["error"].startswith("Only published content")
    client.get("/api/content?include_deleted=true", status=401)
    client.get("/api/content?status=all", status=401)
    assert ids(client.get("/api/content?status=published")) == set(mixed["published"])


def test_filters_cannot_widen_what_the_public_sees(client, mixed):
    where = '{"or":[{"field":"status","operator":"equals","value":"draft"},{"field":"status","operator":"not_equals","value":"x"}]}'
    assert ids(client.get("/api/content", {"where": where})) == set(mixed["published"])
    assert ids(client.get("/api/content?filter[status]=draft")) == set()


def test_viewers_see_what_the_public_sees(client, mixed, as_viewer):
    _, headers = as_viewer
    assert ids(client.get("/api/content", headers=headers)) == set(mixed["published"])
    forbidden = client.get("/api/content?status=draft", headers=headers, status=403)
    assert forbidden.json["error"] == "Insufficient permissions"
    item = client.get(f"/api/content/{mixed['published'][0]}", headers=headers).json["data"]
    assert "email" not in item["author"] and "deleted_at" not in item


def test_editors_may_ask_for_any_status_and_deleted_items(client, mixed, as_editor):
    _, headers = as_editor
    assert ids(client.get("/api/content?status=draft", headers=headers)) == set(mixed["drafts"] + mixed["others_draft"])
    assert ids(client.get("/api/content?status=draft,archived", headers=headers)) == set(
        mixed["drafts"] + mixed["others_draft"] + mixed["archived"])
    everything = client.get("/api/content?status=all&include_deleted=true", headers=headers)
    assert everything.json["meta"]["total"] == 8
    assert everything.headers["Cache-Control"] == "private, no-store"
    deleted = client.get(f"/api/content/{mixed['deleted'][0]}", headers=headers).json["data"]
    assert deleted["deleted_at"] is not None
    assert client.get("/api/content?status=pending", headers=headers, status=400).json["details"][0]["parameter"] == "status"


def test_authors_see_their_own_unpublished_items_only(client, mixed, as_author):
    _, headers = as_author
    drafts = client.get("/api/content?status=draft", headers=headers)
    assert ids(drafts) == set(mixed["drafts"])
    client.get(f"/api/content/{mixed['others_draft'][0]}", headers=headers, status=404)
    assert client.get(f"/api/content/{mixed['drafts'][0]}", headers=headers).json["data"]["status"] == "draft"
    with_deleted = client.get("/api/content?status=all&include_deleted=true", headers=headers)
    assert ids(with_deleted) == set(mixed["published"] + mixed["drafts"] + mixed["deleted"])


# ---------------------------------------------------------------- shape


def test_item_shape_joins_author_collection_and_featured_image(client, blog_collection, as_author, as_editor):
    author, _ = as_author
    image = Media.create(
        id=new_id(), filename="c.png", original_name="c.png", mime_type="image/png", size=5, r2_key="k",
        public_url="/files/k", uploaded_by=author.id, uploaded_at=now_ms(),
    )
    (item_id,) = insert_items(blog_collection, author, 1, featured_image=image.id, meta_title="SEO")
    response = client.get(f"/api/content/{item_id}")
    item = response.json["data"]
    assert response.headers["ETag"].startswith('W/"1-')
    assert set(item) == {
        "id", "title", "slug", "status", "collectionId", "data", "created_at", "updated_at", "published_at",
        "version_number", "meta_title", "meta_description", "author", "collection", "featuredImage",
    }
    assert item["author"] == {"id": author.id, "name": f"{author.first_name} {author.last_name}"}
    assert item["collection"] == {"id": blog_collection.id, "name": "blog", "display_name": "Blog Posts"}
    assert item["featuredImage"]["url"] == "/files/k"
    assert item["meta_title"] == "SEO"
    assert set(response.json["meta"]) == {"timestamp", "cache", "timing"}
    _, editor_headers = as_editor
    private = client.get(f"/api/content/{item_id}", headers=editor_headers).json["data"]
    assert private["author"]["email"] == author.email
    assert private["workflow_state_id"] == "published" and private["deleted_at"] is None
    Media.update(deleted_at=now_ms()).where(Media.id == image.id).execute()
    assert client.get(f"/api/content/{item_id}", headers=editor_headers).json["data"]["featuredImage"] is None


def test_fields_selects_returned_fields(client, blog_collection, as_author):
    author, _ = as_author
    insert_items(blog_collection, author, 2)
    response = client.get("/api/content?fields=title,slug")
    assert [set(item) for item in response.json["data"]] == [{"id", "title", "slug"}] * 2
    bad = client.get("/api/content?fields=title,password_hash", status=400)
    assert bad.json["details"] == [{"parameter": "fields", "message": bad.json["details"][0]["message"]}]
    assert "password_hash" in bad.json["details"][0]["message"]


def test_meta_never_exposes_sql(client, mixed):
    meta = client.get("/api/content?filter[data.n][gte]=1").json["meta"]
    assert set(meta) == {"count", "total", "page", "limit", "pages", "hasNext", "hasPrev", "offset", "timestamp", "cache", "timing"}
    assert "SELECT" not in str(meta)


# ---------------------------------------------------------------- collections


def test_collection_route_lists_one_collection_with_its_meta(client, blog_collection, as_author):
    author, _ = as_author
    other = create_collection("news")
    insert_items(blog_collection, author, 2)
    insert_items(other, author, 3)
    response = client.get("/api/collections/blog/content")
    assert response.json["meta"]["total"] == 2
    assert response.json["meta"]["collection"]["name"] == "blog"
    assert response.json["meta"]["collection"]["schema"]["properties"]["views"]["type"] == "number"
    assert client.get("/api/content?collection=news").json["meta"]["total"] == 3
    assert client.get("/api/content?collection=nothing").json["meta"]["total"] == 0
    assert client.get("/api/collections/nothing/content", status=404).json == {"error": "Collection not found"}
    clash = client.get("/api/collections/blog/content?collection=news", status=400)
    assert clash.json["details"][0]["parameter"] == "collection"
    # An empty value names no collection, on either route.
    for empty in ("collection=", "collection_id=", "collection=&collection_id="):
        assert client.get(f"/api/collections/blog/content?{empty}").json["meta"]["total"] == 2
        assert client.get(f"/api/content?{empty}").json["meta"]["total"] == 5


def test_an_unknown_collection_is_an_empty_list_that_says_so(client, blog_collection, as_author):
    author, _ = as_author
    body = client.get("/api/content?collection=nope").json
    assert body["data"] == [] and body["meta"]["message"] == "Collection 'nope' not found"
    assert client.get("/api/content?collection_id=col-nope").json["meta"]["message"] == (
        "Collection 'col-nope' not found")
    # collection_id takes ids: a name there names no collection, as the (empty) list reads it.
    assert client.get("/api/content?collection_id=blog").json["meta"]["message"] == "Collection 'blog' not found"
    # An existing collection with nothing to show, and a list naming none, say nothing.
    assert "message" not in client.get("/api/content?collection=blog").json["meta"]
    assert "message" not in client.get(f"/api/content?collection_id={blog_collection.id}").json["meta"]
    assert "message" not in client.get("/api/content").json["meta"]
    insert_items(blog_collection, author, 1)
    assert "message" not in client.get("/api/content?collection=blog").json["meta"]


def test_item_by_slug_within_a_collection(client, blog_collection, as_author):
    author, _ = as_author
    (item_id,) = insert_items(blog_collection, author, 1)
    assert client.get("/api/collections/blog/content/item-0").json["data"]["id"] == item_id
    client.get("/api/collections/pages/content/item-0", status=404)
    client.get("/api/collections/blog/content/item-9", status=404)


# ---------------------------------------------------------------- pagination


@pytest.fixture
def hundred(blog_collection, as_author):
    author, _ = as_author
    return insert_items(blog_collection, author, 100)


def test_pages_carry_true_totals(client, hundred):
    first = client.get("/api/content?limit=30").json
    assert first["meta"] | {"timestamp": 0, "cache": 0, "timing": 0, "nextCursor": 0} == {
        "count": 30, "total": 100, "page": 1, "limit": 30, "pages": 4, "hasNext": True, "hasPrev": False,
        "offset": 0, "nextCursor": 0, "timestamp": 0, "cache": 0, "timing": 0,
    }
    # Newest published first by default.
    assert [item["title"] for item in first["data"][:2]] == ["Item 99", "Item 98"]
    last = client.get("/api/content?limit=30&page=4").json["meta"]
    assert (last["count"], last["page"], last["hasNext"], last["hasPrev"]) == (10, 4, False, True)
    assert "nextCursor" not in last
    beyond = client.get("/api/content?limit=30&page=9").json
    assert beyond["data"] == [] and beyond["meta"]["total"] == 100
    by_offset = client.get("/api/content?limit=5&offset=95").json["meta"]
    assert (by_offset["count"], by_offset["page"], by_offset["hasNext"]) == (5, 20, False)


def test_limit_defaults_to_50_and_is_capped_at_1000(client, hundred):
    assert client.get("/api/content").json["meta"]["limit"] == 50
    assert client.get("/api/content?limit=5000").json["meta"]["limit"] == 1000


@pytest.mark.parametrize("query", ["limit=9007199254740991", "pageSize=99999999999999999999", "limit=1" + "0" * 500])
def test_a_limit_of_any_length_is_capped_at_1000_as_sonicjs_clamps_it(client, hundred, query):
    """A client asking for everything (JavaScript's ``Number.MAX_SAFE_INTEGER``) gets 1000
    items, as a 5000 does, not a 400 saying its whole number is none."""
    body = client.get(f"/api/content?{query}").json
    assert (body["meta"]["limit"], len(body["data"])) == (1000, 100)


def test_an_offset_of_too_many_digits_is_a_400_naming_its_bound(client, hundred):
    response = client.get("/api/content?offset=99999999999999999999", status=400)
    assert response.json["details"] == [{"parameter": "offset", "message": "must be at least 0 and at most 1000000000000"}]
    assert client.get("/api/content?offset=0000000000000000095&limit=10").json["meta"]["count"] == 5


@pytest.mark.parametrize("query, parameter", [
    ("limit=0", "limit"), ("limit=ten", "limit"), ("page=0", "page"), ("offset=-1", "offset"),
    ("limit=%C2%B2", "limit"), ("page=%C2%B2", "page"), ("offset=%C2%B2", "offset"),  # "²" is a digit int() refuses
    ("page=2&offset=10", "offset"), ("cursor=abc&page=2", "offset"), ("limit=1&limit=2", "limit"),
    ("cursor=!!!", "cursor"), ("cursor=eyJ2IjoxfQ", "cursor"), ("sort=pass-word", "sort"),
    ("include_deleted=maybe", "include_deleted"), ("search=", "search"),
])
def test_bad_pagination_parameters_are_400_naming_the_parameter(client, hundred, query, parameter):
    response = client.get(f"/api/content?{query}", status=400)
    assert response.json["error"] == "Invalid query parameters"
    assert response.json["details"][0]["parameter"] == parameter
    assert set(response.json["details"][0]) == {"parameter", "message"}


@pytest.mark.parametrize("url", ["/api/content", "/api/collections/pages/content"])
def test_a_cursor_nested_too_deeply_for_the_decoder_is_a_400(client, hundred, url):
    cursor = base64.urlsafe_b64encode(b"[" * 1100).rstrip(b"=").decode()
    response = client.get(url, {"cursor": cursor}, status=400)
    assert response.json["error"] == "Invalid query parameters"
    (detail,) = response.json["details"]
    assert detail["parameter"] == "cursor" and "nested too deeply" in detail["message"]


def test_parameters_a_list_does_not_know_are_left_out_as_sonicjs_does(client, hundred):
    """A cache buster, a tracking tag, a SonicJS client's ``order``: none fails the request."""
    plain = client.get("/api/content?limit=5").json
    for extra in ("_=1733400000", "utm_source=newsletter", "order=desc", "status=", "per_page=10"):
        answer = client.get(f"/api/content?limit=5&{extra}")
        assert answer.json["data"] == plain["data"], extra
    assert client.get("/api/content?limit=5&_=1").headers["X-Cache-Status"] == "HIT"  # the same cache entry


def walk(client, url, limit):
    seen, pages, cursor = [], 0, None
    while pages < 1000 // limit + 2:  # a broken cursor must fail the test, not loop forever
        response = client.get(url, {"limit": limit, **({"cursor": cursor} if cursor else {})}).json
        seen += [item["id"] for item in response["data"]]
        pages += 1
        assert response["meta"]["total"] == 1000
        cursor = response["meta"].get("nextCursor")
        if not cursor:
            assert response["meta"]["hasNext"] is False
            return seen, pages
        assert response["meta"]["hasNext"] is True
    raise AssertionError(f"still paging after {pages} pages")


def test_cursor_walks_1000_items_without_gaps_or_repeats(client, blog_collection, as_author):
    author, _ = as_author
    # One insert_many for all 1,000 rows: runs of 7 equal timestamps force the id tie-breaker.
    everything = insert_items(blog_collection, author, 1000, step=1)
    # Rounded down to a multiple of 7 (peewee's % is LIKE, so integer division does it).
    Content.update(published_at=Content.published_at / 7 * 7).execute()
    expected = [row.id for row in Content.select(Content.id).order_by(Content.published_at.desc(), Content.id.desc())]
    seen, pages = walk(client, "/api/content", 97)
    assert pages == 11
    assert seen == expected
    assert len(set(seen)) == 1000 == len(everything)


def test_cursor_walks_in_any_sort_including_nulls_and_data_fields(client, blog_collection, as_author, as_editor):
    author, _ = as_author
    insert_items(blog_collection, author, 600, step=1, data=lambda i: {"title": "x", "n": i % 5})
    insert_items(blog_collection, author, 400, status="draft", start=1_900_000_000_000, slug_prefix="draft")
    _, headers = as_editor
    for sort in ("-published_at", "published_at", "title,-created_at", "-data.n", "data.n,-id"):
        seen, cursor = [], None
        for _ in range(10):  # 1,000 rows in pages of 150: a broken cursor fails, never loops
            params = {"limit": 150, "status": "all", "sort": sort, **({"cursor": cursor} if cursor else {})}
            response = client.get("/api/content", params, headers=headers).json
            seen += [item["id"] for item in response["data"]]
            cursor = response["meta"].get("nextCursor")
            if not cursor:
                break
        assert len(seen) == 1000 and len(set(seen)) == 1000, sort
        offset_order = []
        for page in range(1, 8):
            offset_order += [item["id"] for item in client.get(
                "/api/content", {"limit": 150, "status": "all", "sort": sort, "page": page}, headers=headers).json["data"]]
        assert seen == offset_order, sort


def forged(cursor, position, value):
    """``cursor`` with its ``position``-th term value replaced by ``value``."""
    payload = msgspec.json.decode(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    payload["k"][position] = value
    return base64.urlsafe_b64encode(msgspec.json.encode(payload)).rstrip(b"=").decode()


@pytest.mark.parametrize("sort, position, value", [
    ("version_number", 0, 2**31),  # an INTEGER column: PostgreSQL would fail on it
    ("data.n", 1, 10**400),  # a data field's number term: SQLite could not bind it
], ids=["version_number", "data-number"])
def test_a_forged_cursor_past_what_a_term_holds_is_a_400(client, hundred, sort, position, value):
    cursor = client.get(f"/api/content?limit=10&sort={sort}").json["meta"]["nextCursor"]
    response = client.get(f"/api/content?limit=10&sort={sort}&cursor={forged(cursor, position, value)}", status=400)
    assert response.json["details"] == [{"parameter": "cursor", "message": "not a cursor this API issued"}]


def test_a_cursor_is_tied_to_its_sort(client, hundred):
    cursor = client.get("/api/content?limit=10").json["meta"]["nextCursor"]
    response = client.get(f"/api/content?limit=10&sort=title&cursor={cursor}", status=400)
    assert response.json["details"] == [
        {"parameter": "cursor", "message": "was issued for another sort order; repeat the sort it came with"}
    ]
    page = client.get(f"/api/content?limit=10&cursor={cursor}").json
    assert page["meta"]["page"] is None and page["meta"]["hasPrev"] is True
    assert page["data"][0]["title"] == "Item 89"


VERSIONS = ["1.0", "1.00", "0", "-0", "1e2", "1E2"]  # texts one number could stand for


def test_a_text_fields_values_that_read_as_one_number_stay_apart(client, blog_collection, as_author):
    """A field the schema types as text compares as sent, and each list, cached for the public
    one after the other, is its own: a cache key typed by look would make 1.0 and 1.00 one."""
    author, _ = as_author
    codes = create_collection("codes", {"type": "object", "properties": {"version": {"type": "string"}}})
    insert_items(codes, author, len(VERSIONS), data=lambda i: {"version": VERSIONS[i]}, slug_prefix="code")
    for version in VERSIONS:
        for path, params in (("/api/collections/codes/content", {}), ("/api/content", {"collection": "codes"})):
            response = client.get(path, {**params, "filter[data.version]": version})
            assert [item["data"]["version"] for item in response.json["data"]] == [version], (path, version)
    again = client.get("/api/collections/codes/content", {"filter[data.version]": "1.00"})
    assert again.headers["X-Cache-Status"] == "HIT" and again.json["data"][0]["data"]["version"] == "1.00"


@pytest.mark.parametrize("kind", ["string", "markdown", "easymde"])
def test_a_text_fields_value_in_quotes_is_compared_as_sent(client, blog_collection, as_author, kind):
    """Quotes make a value text where the schema does not say; a text field's value is text
    already, so its quotes are part of it."""
    author, _ = as_author
    notes = create_collection("notes", {"type": "object", "properties": {"body": {"type": kind}}})
    bodies = ['"quoted"', "quoted"]
    insert_items(notes, author, len(bodies), data=lambda i: {"body": bodies[i]}, slug_prefix="note")
    for body in bodies:
        response = client.get("/api/collections/notes/content", {"filter[data.body]": body})
        assert [item["data"]["body"] for item in response.json["data"]] == [body]
