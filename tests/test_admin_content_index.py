"""The admin's content index: under the collections, every item across them, last edited
first, filtered by collection, status and search, in numbered pages, each as its
collection's list shows it and only where the reader may read it. Through the real app,
with a browser's Accept header, on both databases."""

import pytest

from app.db.models import Collection, now_ms
from app.services.content import query
from tests.fixtures.content import create_collection
from tests.fixtures.users import bearer, create_user, token_for
from tests.fixtures.workflow import insert_content

pytestmark = pytest.mark.backends

INDEX = "/admin/content"
DAY = 86_400_000
JAN_1 = 1_767_225_600_000  # 2026-01-01 00:00 UTC


@pytest.fixture
def posts(browser):
    return create_collection("posts", display_name="Blog posts")


@pytest.fixture
def pages(browser):
    return create_collection("pages", display_name="Site pages")


def listed_rows(page):
    """``[[cell text, ...], ...]`` of the All content table, top to bottom."""
    section = page.html.select_one("section.all-content")
    return [[td.get_text(" ", strip=True) for td in row.select("td")] for row in section.select("tbody tr")]


def listed_links(page):
    section = page.html.select_one("section.all-content")
    return [a["href"] for a in section.select("tbody td.col-title a")]


def listed_titles(page):
    return [row[0].split(" ")[0] for row in listed_rows(page)]


def page_numbers(page):
    return [a.get_text(strip=True) for a in page.html.select(".pager .page-numbers a")]


def message(page):
    found = page.html.select_one("section.all-content .message.error")
    return found.get_text(strip=True) if found else None


def count(page):
    return page.html.select_one("section.all-content p.count").get_text(strip=True)


def selected(page, name):
    return page.html.select_one(f"select[name={name}] option[selected]")["value"]


def test_an_editor_sees_items_of_every_collection_last_edited_first(browser, signed_in_as, posts, pages):
    editor = signed_in_as("editor", first_name="Ed", last_name="Itor")
    older = insert_content(editor, posts, "published", title="Older", slug="older", updated_at=JAN_1)
    newer = insert_content(editor, pages, "draft", title="Newer", slug="newer", updated_at=JAN_1 + DAY)
    page = browser.get(INDEX)
    assert listed_rows(page) == [
        ["Newer newer", "Site pages", "draft", "Ed Itor", "2026-01-02 00:00 UTC"],
        ["Older older", "Blog posts", "published", "Ed Itor", "2026-01-01 00:00 UTC"],
    ]
    assert listed_links(page) == [f"/admin/content/pages/{newer.id}", f"/admin/content/posts/{older.id}"]
    assert browser.get(listed_links(page)[0]).status_int == 200  # the link opens the item's edit page


def test_the_first_page_holds_the_twenty_last_edited(browser, signed_in_as, posts):
    editor = signed_in_as("editor")
    for n in range(22):
        insert_content(editor, posts, "draft", title=f"T{n:02}", updated_at=JAN_1 + n * DAY)
    assert listed_titles(browser.get(INDEX)) == [f"T{n:02}" for n in range(21, 1, -1)]


def test_a_viewer_sees_published_items_only(browser, signed_in_as, posts, pages):
    author = create_user("author")
    insert_content(author, posts, "published", title="Out", updated_at=JAN_1)
    insert_content(author, pages, "draft", title="Draft", updated_at=JAN_1 + DAY)
    signed_in_as("viewer")
    assert listed_titles(browser.get(INDEX)) == ["Out"]


def test_an_author_sees_their_own_drafts_and_not_another_authors(browser, signed_in_as, posts, pages):
    other = create_user("author")
    insert_content(other, posts, "draft", title="Theirs", updated_at=JAN_1 + 2 * DAY)
    insert_content(other, pages, "published", title="Public", updated_at=JAN_1)
    me = signed_in_as("author")
    insert_content(me, pages, "draft", title="Mine", updated_at=JAN_1 + DAY)
    assert listed_titles(browser.get(INDEX)) == ["Mine", "Public"]


def test_trashed_items_and_a_deactivated_collections_are_left_out(browser, signed_in_as, posts):
    author = create_user("author")
    archive = create_collection("archive", is_active=False)
    insert_content(author, posts, "published", title="Live", updated_at=JAN_1)
    insert_content(author, posts, "published", title="Trashed", updated_at=JAN_1 + DAY, deleted_at=now_ms())
    insert_content(author, archive, "published", title="Withdrawn", updated_at=JAN_1 + 2 * DAY)
    signed_in_as("viewer")
    assert listed_titles(browser.get(INDEX)) == ["Live"]


def test_an_editor_does_not_see_a_deactivated_collections_items_or_trashed_ones(browser, signed_in_as, posts):
    editor = signed_in_as("editor")
    archive = create_collection("archive", is_active=False)
    insert_content(editor, posts, "draft", title="Live", updated_at=JAN_1)
    insert_content(editor, posts, "draft", title="Trashed", updated_at=JAN_1 + DAY, deleted_at=now_ms())
    insert_content(editor, archive, "draft", title="Withdrawn", updated_at=JAN_1 + 2 * DAY)
    assert listed_titles(browser.get(INDEX)) == ["Live"]


def test_with_deactivated_collections_an_editors_total_stays_exact_past_the_count_limit(
        browser, signed_in_as, posts, monkeypatch):
    """Deactivated collections are left out of the kept counts summed, not by a filter whose
    matches are counted: past the count limit the total is still exact, not "At least"."""
    monkeypatch.setattr(query, "COUNT_LIMIT", 3)
    editor = signed_in_as("editor")
    for n in range(5):
        insert_content(editor, posts, "draft", title=f"T{n}", updated_at=JAN_1 + n * DAY)
    for name in ("archive", "bygone"):
        insert_content(editor, create_collection(name, is_active=False), "draft", title=name,
                       updated_at=JAN_1 + 9 * DAY)
    page = browser.get(INDEX)
    assert count(page) == "5 items, last edited first"
    assert listed_titles(page) == ["T4", "T3", "T2", "T1", "T0"]
    # The API's list is the editor's whole scope, deactivated collections' items with it, as before.
    answer = browser.get("/api/content?status=all", headers={**bearer(token_for(editor)), "Accept": "application/json"})
    assert answer.json["meta"]["total"] == 7 and "totalIsEstimate" not in answer.json["meta"]


def test_nothing_readable_says_so(browser, signed_in_as, posts):
    insert_content(create_user("author"), posts, "draft", title="Hidden")
    signed_in_as("viewer")
    page = browser.get(INDEX)
    assert listed_rows(page) == []
    assert "No items you can read have been edited yet." in page.html.select_one("section.all-content").text


def test_without_collections_the_table_is_empty(browser, signed_in_as):
    signed_in_as("editor")
    page = browser.get(INDEX)
    assert "There are no collections yet." in page.text
    assert listed_rows(page) == []


# ---------------------------------------------------------------- filters, search and pages


def test_the_collection_filter_lists_that_collections_items_only(browser, signed_in_as, posts, pages):
    editor = signed_in_as("editor")
    insert_content(editor, posts, "draft", title="Post", updated_at=JAN_1 + DAY)
    insert_content(editor, pages, "draft", title="Page1", updated_at=JAN_1)
    insert_content(editor, pages, "published", title="Page2", updated_at=JAN_1 + 2 * DAY)
    page = browser.get(INDEX + "?collection=pages")
    assert listed_titles(page) == ["Page2", "Page1"]
    assert count(page).startswith("2 items") and selected(page, "collection") == "pages"
    options = [option["value"] for option in page.html.select("select[name=collection] option")]
    assert options == ["", "pages", "posts"]
    # The empty choice is every collection.
    assert listed_titles(browser.get(INDEX + "?collection=")) == ["Page2", "Post", "Page1"]


def test_the_status_filter_and_the_trash(browser, signed_in_as, posts, pages):
    editor = signed_in_as("editor")
    insert_content(editor, posts, "draft", title="Draft", updated_at=JAN_1)
    insert_content(editor, pages, "published", title="Out", updated_at=JAN_1 + DAY)
    insert_content(editor, pages, "archived", title="Old", updated_at=JAN_1 + 2 * DAY)
    insert_content(editor, posts, "published", title="Binned", updated_at=JAN_1 + 3 * DAY, deleted_at=now_ms())
    assert listed_titles(browser.get(INDEX + "?status=published")) == ["Out"]
    assert listed_titles(browser.get(INDEX + "?status=draft")) == ["Draft"]
    trash = browser.get(INDEX + "?status=trash")
    assert listed_titles(trash) == ["Binned"] and selected(trash, "status") == "trash"
    # Both filters at once.
    assert listed_titles(browser.get(INDEX + "?status=published&collection=posts")) == []
    assert "No items match." in browser.get(INDEX + "?status=published&collection=posts").text


def test_search_finds_items_across_collections_as_you_type(browser, signed_in_as, posts, pages):
    editor = signed_in_as("editor")
    insert_content(editor, posts, "draft", title="Apple pie", updated_at=JAN_1)
    insert_content(editor, pages, "published", title="Apple tart", updated_at=JAN_1 + DAY)
    insert_content(editor, pages, "draft", title="Banana", updated_at=JAN_1 + 2 * DAY)
    page = browser.get(INDEX + "?search=Appl")
    assert listed_titles(page) == ["Apple", "Apple"]
    assert [row[0] for row in listed_rows(page)][0].startswith("Apple tart")
    assert page.html.select_one("input[name=search]")["value"] == "Appl"
    assert [row[1] for row in listed_rows(browser.get(INDEX + "?search=Appl&collection=posts"))] == ["Blog posts"]
    assert "No items match." in browser.get(INDEX + "?search=Cherry").text


def test_a_search_as_long_as_the_box_takes_is_searched_not_refused(browser, signed_in_as, posts):
    """The box takes 200 characters, the API's limit: the prefix star must not make it 201."""
    editor = signed_in_as("editor")
    title = "a" * 199 + "b"
    insert_content(editor, posts, "draft", title=title, updated_at=JAN_1)
    page = browser.get(INDEX + "?search=" + title, status=200)
    assert listed_titles(page) == [title]


def test_numbered_pages_keep_the_filters(browser, signed_in_as, posts, pages):
    editor = signed_in_as("editor")
    for n in range(45):
        insert_content(editor, posts if n % 2 else pages, "draft", title=f"T{n:02}", updated_at=JAN_1 + n * DAY)
    first = browser.get(INDEX)
    assert count(first).startswith("45 items") and page_numbers(first) == ["1", "2", "3"]
    assert listed_titles(first) == [f"T{n:02}" for n in range(44, 24, -1)]
    last = browser.get(first.html.select_one(".pager a[aria-label='Page 3']")["href"])
    assert listed_titles(last) == [f"T{n:02}" for n in range(4, -1, -1)]
    filtered = browser.get(INDEX + "?collection=posts&status=draft")
    assert count(filtered).startswith("22 items")
    following = filtered.html.select_one(".pager a[rel=next]")["href"]
    assert "collection=posts" in following and "status=draft" in following and following.endswith("&page=2")
    assert listed_titles(browser.get(following)) == ["T03", "T01"]


def test_a_page_past_the_end_says_so(browser, signed_in_as, posts):
    editor = signed_in_as("editor")
    for n in range(25):
        insert_content(editor, posts, "draft", title=f"T{n:02}", updated_at=JAN_1 + n * DAY)
    past = browser.get(INDEX + "?page=9", status=200)
    assert listed_rows(past) == [] and "Page 9 is past the last page (2)" in past.text
    assert past.html.select_one(".pager a[rel=prev]")["href"].endswith("&page=2")
    # A page that is no number is the first, as on the collection lists.
    assert len(listed_rows(browser.get(INDEX + "?page=x"))) == 20


def test_a_page_past_those_numbered_is_past_the_end_not_the_first(browser, signed_in_as, posts):
    """However many digits it has, a page past the last one read (999999) is that one."""
    editor = signed_in_as("editor")
    for n in range(25):
        insert_content(editor, posts, "draft", title=f"T{n:02}", updated_at=JAN_1 + n * DAY)
    for page in ("1000000", "9" * 5000):
        past = browser.get(INDEX + "?page=" + page, status=200)
        assert listed_rows(past) == [] and "The page asked for is past the last page (2)" in past.text
        assert past.html.select_one(".pager a[rel=prev]")["href"].endswith("&page=2")
    assert listed_titles(browser.get(INDEX + "?page=0000000002")) == [f"T{n:02}" for n in range(4, -1, -1)]


def test_a_page_past_the_end_does_not_say_the_list_is_empty(browser, signed_in_as, posts):
    """Past the last page the list holds items: only the pager speaks, saying the page is past it."""
    editor = signed_in_as("editor")
    for n in range(3):
        insert_content(editor, posts, "draft", title=f"T{n}", updated_at=JAN_1 + n * DAY)
    for query_string in ("page=2", "page=2&collection=posts", "page=2&search=T"):
        past = browser.get(INDEX + "?" + query_string)
        results = past.html.select_one("#results").get_text(" ", strip=True)
        assert listed_rows(past) == [] and "Page 2 is past the last page" in results
        assert "No items" not in results
    assert "No items match." in browser.get(INDEX + "?search=Cherry&page=2").text


def test_past_the_count_limit_the_total_is_at_least(browser, signed_in_as, posts, monkeypatch):
    editor = signed_in_as("editor")
    for n in range(45):
        insert_content(editor, posts, "draft", title=f"Item {n:02}", updated_at=JAN_1 + n * DAY)
    monkeypatch.setattr(query, "COUNT_LIMIT", 30)
    page = browser.get(INDEX + "?search=Item&page=2")
    assert "At least 30 items" in count(page) and "Page 2 of at least 2" in page.text
    assert page_numbers(page) == ["1", "2"]
    assert page.html.select_one(".pager a[rel=next]")["href"].endswith("&page=3")


def admin_ids(page):
    return [href.rsplit("/", 1)[1] for href in listed_links(page)]


def api_ids(browser, user, query_string):
    answer = browser.get("/api/content?sort=-updated_at&limit=20&" + query_string,
                         headers={**bearer(token_for(user)), "Accept": "application/json"})
    return [item["id"] for item in answer.json["data"]]


def test_an_author_sees_what_the_api_shows_them(browser, signed_in_as, posts, pages):
    other = create_user("author")
    insert_content(other, posts, "draft", title="Theirs", updated_at=JAN_1 + 3 * DAY)
    insert_content(other, pages, "published", title="Public", updated_at=JAN_1)
    me = signed_in_as("author")
    insert_content(me, pages, "draft", title="Mine", updated_at=JAN_1 + DAY)
    insert_content(me, posts, "archived", title="Shelved", updated_at=JAN_1 + 2 * DAY)
    insert_content(me, posts, "draft", title="Binned", updated_at=JAN_1 + 4 * DAY, deleted_at=now_ms())
    every = browser.get(INDEX)
    assert listed_titles(every) == ["Shelved", "Mine", "Public"]
    assert admin_ids(every) == api_ids(browser, me, "status=all")
    drafts = browser.get(INDEX + "?status=draft")
    assert listed_titles(drafts) == ["Mine"] and admin_ids(drafts) == api_ids(browser, me, "status=draft")
    assert listed_titles(browser.get(INDEX + "?status=trash")) == ["Binned"]  # their own, as on a collection's list
    assert listed_titles(browser.get(INDEX + "?collection=posts")) == ["Shelved"]


def test_a_viewer_filters_published_items_only(browser, signed_in_as, posts, pages):
    author = create_user("author")
    insert_content(author, posts, "published", title="Out", updated_at=JAN_1)
    insert_content(author, pages, "published", title="Also", updated_at=JAN_1 + DAY)
    insert_content(author, pages, "draft", title="Draft", updated_at=JAN_1 + 2 * DAY)
    viewer = signed_in_as("viewer")
    page = browser.get(INDEX)
    assert [option["value"] for option in page.html.select("select[name=status] option")] == ["published"]
    assert admin_ids(page) == api_ids(browser, viewer, "")
    # A draft filter shows what a viewer may list, as a collection's list does.
    assert listed_titles(browser.get(INDEX + "?status=draft&collection=pages")) == ["Also"]
    trash = browser.get(INDEX + "?status=trash", status=400)
    assert message(trash).startswith("That status filter is unknown") and listed_titles(trash) == ["Also", "Out"]


def test_a_deactivated_collection_is_no_choice_and_not_found(browser, signed_in_as, posts):
    editor = signed_in_as("editor")
    archive = create_collection("archive", is_active=False)
    insert_content(editor, posts, "draft", title="Live", updated_at=JAN_1)
    insert_content(editor, archive, "draft", title="Withdrawn", updated_at=JAN_1 + DAY)
    page = browser.get(INDEX)
    assert "archive" not in [option["value"] for option in page.html.select("select[name=collection] option")]
    assert count(page).startswith("1 item")
    refused = browser.get(INDEX + "?collection=archive", status=404)
    assert message(refused) == "That collection is unknown, so the list shows every collection."
    assert listed_titles(refused) == ["Live"] and selected(refused, "collection") == ""


def test_a_collection_deactivated_since_the_page_loaded_answers_with_the_list_and_the_collections_redrawn(
        browser, signed_in_as, posts):
    # The page's filters ask for a collection it offered; the answer (404) is what admin.js
    # swaps in: its list region saying why, and the collections the form redraws from it.
    editor = signed_in_as("editor")
    archive = create_collection("archive", display_name="Archive")
    insert_content(editor, posts, "draft", title="Live", updated_at=JAN_1)
    insert_content(editor, archive, "draft", title="Withdrawn", updated_at=JAN_1 + DAY)
    form = browser.get(INDEX).html.select_one("section.all-content form[role=search]")
    Collection.update(is_active=False).where(Collection.id == archive.id).execute()
    answer = browser.get(INDEX + "?collection=archive", headers={"HX-Request": "true"}, status=404)
    region = answer.html.select_one(form["hx-select"])
    assert region.has_attr("data-shows-refusals")
    assert region.select_one("[role=alert]").get_text(strip=True) == (
        "That collection is unknown, so the list shows every collection.")
    assert listed_titles(answer) == ["Live"]
    redrawn = [answer.html.select_one(selector.strip()) for selector in form["hx-select-oob"].split(",")]
    assert all(redrawn) and "archive" not in " ".join(str(element) for element in redrawn)
    assert [option["value"] for option in answer.html.select("#collection option")] == ["", "posts"]
    assert selected(answer, "collection") == ""


@pytest.mark.parametrize(("query_string", "status", "said"), [
    ("collection=nope", 404, "That collection is unknown"),
    ("collection=%3Cb%3Enope%3C%2Fb%3E", 404, "That collection is unknown"),
    ("status=bogus", 400, "That status filter is unknown"),
    ("status=%3Cscript%3E", 400, "That status filter is unknown"),
])
def test_bad_parameters_are_said_without_echoing_them(browser, signed_in_as, posts, query_string, status, said):
    editor = signed_in_as("editor")
    insert_content(editor, posts, "draft", title="Live", updated_at=JAN_1)
    page = browser.get(INDEX + "?" + query_string, status=status)
    assert message(page).startswith(said)
    assert "nope" not in page.text and "bogus" not in page.text and "<script>" not in page.text
    assert page.html.select_one("form[role=search]") is not None  # the filters are there to fix it
