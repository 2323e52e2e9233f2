"""The admin's content list: the collection's list columns and their values, the per-row
actions (edit, move to the trash) per role, numbered pages, and the collection form's
"List columns" fieldset. Through the real app, with a browser's Accept header, on both databases."""

import json
from datetime import UTC, datetime
from urllib.parse import parse_qs

import peewee
import pytest

from app.db.models import Collection, Content, Media, now_ms
from app.services.collection_sync import display_path, sync_collections
from app.services.content import query
from tests.fixtures.admin import csrf_headers
from tests.fixtures.content import create_collection, insert_items
from tests.fixtures.users import create_user
from tests.fixtures.workflow import insert_content

pytestmark = pytest.mark.backends

LIST = "/admin/content/posts"
SCHEMA = {
    "type": "object",
    "properties": {
        "title": {"type": "string", "required": True},
        "featured": {"type": "boolean", "title": "Featured"},
        "day": {"type": "date", "title": "Day"},
        "starts": {"type": "datetime"},
        "category": {"type": "select", "enum": ["news", "tech"], "enumLabels": ["News", "Technology"]},
        "topics": {"type": "multiselect", "enum": ["a", "b"], "enumLabels": ["Alpha", "Beta"]},
        "summary": {"type": "textarea"},
        "body": {"type": "richtext"},
        "views": {"type": "number"},
        "related": {"type": "reference", "collection": "posts"},
        "image": {"type": "media"},
    },
    "required": ["title"],
}


@pytest.fixture
def posts(browser):
    return create_collection("posts", SCHEMA, display_name="Posts")


def listing(posts, *names):
    """Give ``posts`` the list columns ``names`` (as a sync or the API stores them)."""
    Collection.update(list_fields=list(names)).where(Collection.id == posts.id).execute()


def headers(page):
    return [th.get_text(strip=True) for th in page.html.select("thead th[data-column]")]


def cells(page, item):
    """The texts of ``item``'s row, its column cells only (no box, no actions)."""
    row = page.html.select_one(f"tbody tr:has(a[href='{LIST}/{item.id}'])")
    return [td.get_text(" ", strip=True) for td in row.select("td")
            if not td.select("input[type=checkbox]") and "row-actions" not in (td.get("class") or [])]


def row_actions(page, item):
    row = page.html.select_one(f"tbody tr:has(a[href='{LIST}/{item.id}'])")
    return row.select_one("td.row-actions")


# ---------------------------------------------------------------- columns


def test_without_list_fields_the_list_shows_the_default_columns(browser, signed_in_as, posts):
    editor = signed_in_as("editor", first_name="Ed", last_name="Itor")
    item = insert_content(editor, posts, title="Hello", slug="hello", updated_at=1_767_225_600_000)
    page = browser.get(LIST)
    assert headers(page) == ["Title", "Status", "Author", "Edited"]
    assert cells(page, item) == ["Hello hello", "draft", "Ed Itor", "2026-01-01 00:00 UTC"]


def test_list_fields_are_the_columns_with_values_as_people_read_them(browser, signed_in_as, posts):
    editor = signed_in_as("editor", first_name="Ed", last_name="Itor")
    owner = create_user("editor")
    image = Media.create(filename="a.png", original_name="Sunset.png", mime_type="image/png", size=1, r2_key="a",
                         public_url="/files/a", uploaded_by=owner.id)
    target = insert_content(editor, posts, title="Target post", state="published")
    item = insert_content(editor, posts, title="Shown", data={
        "featured": True, "day": "2026-03-04", "starts": "2026-03-04T10:30:00Z", "category": "tech",
        "topics": ["a", "b"], "summary": "word " * 40, "body": "<p>Rich &amp; <b>bold</b></p>", "views": 12,
        "related": target.id, "image": image.id})
    plain = insert_content(editor, posts, title="Plain", data={"featured": False})
    listing(posts, "title", "featured", "day", "starts", "category", "topics", "summary", "body", "views",
            "related", "image", "created_at", "author")

    page = browser.get(LIST)

    assert headers(page) == ["Title", "Featured", "Day", "starts", "category", "topics", "summary", "body", "views",
                             "related", "image", "Created", "Author"]
    shown = cells(page, item)
    created = datetime.fromtimestamp(item.created_at / 1000, UTC).strftime("%Y-%m-%d %H:%M UTC")
    assert shown[:6] == ["Shown " + item.slug, "Yes", "2026-03-04", "2026-03-04 10:30 UTC", "Technology",
                         "Alpha, Beta"]
    assert len(shown[6]) == 80 and shown[6].endswith("…")  # long text cut
    assert shown[7:] == ["Rich & bold", "12", "Target post", "Sunset.png", created, "Ed Itor"]
    assert cells(page, plain)[1:5] == ["No", "", "", ""]


def test_a_listed_field_the_schema_lost_is_left_out(browser, signed_in_as, posts):
    editor = signed_in_as("editor")
    item = insert_content(editor, posts, title="Kept", data={"views": 3})
    listing(posts, "ghost", "views", "title")
    page = browser.get(LIST)
    assert headers(page) == ["views", "Title"]
    assert cells(page, item)[0] == "3"
    listing(posts, "ghost")  # nothing left: the default columns
    assert headers(browser.get(LIST)) == ["Title", "Status", "Author", "Edited"]


def test_a_reference_is_named_only_where_the_reader_may_read_it(browser, signed_in_as, posts):
    signed_in_as("viewer")
    editor = create_user("editor")
    draft = insert_content(editor, posts, title="Secret draft")
    item = insert_content(editor, posts, title="Live", state="published", data={"related": draft.id})
    listing(posts, "title", "related")
    assert cells(browser.get(LIST), item) == ["Live " + item.slug, draft.id]
    browser.reset()
    signed_in_as("editor")
    assert cells(browser.get(LIST), item) == ["Live " + item.slug, "Secret draft"]


def test_a_datetime_too_late_to_convert_shows_as_written(browser, signed_in_as, posts):
    editor = signed_in_as("editor")
    # Valid ISO 8601, accepted by the API, yet past the last UTC moment Python can hold.
    item = insert_content(editor, posts, title="Far", data={"starts": "9999-12-31T23:59:59-05:00"})
    listing(posts, "title", "starts")
    assert cells(browser.get(LIST), item) == ["Far " + item.slug, "9999-12-31T23:59:59-05:00"]


def test_a_reference_into_a_deactivated_collection_is_named_only_for_its_managers(browser, signed_in_as, posts):
    signed_in_as("viewer")
    editor = create_user("editor")
    archive = create_collection("archive", SCHEMA, is_active=False)
    withdrawn = insert_content(editor, archive, title="Withdrawn page", state="published")
    item = insert_content(editor, posts, title="Live", state="published", data={"related": withdrawn.id})
    listing(posts, "title", "related")
    assert cells(browser.get(LIST), item) == ["Live " + item.slug, withdrawn.id]
    browser.reset()
    signed_in_as("author")  # reads the published and their own: not this one either
    assert cells(browser.get(LIST), item) == ["Live " + item.slug, withdrawn.id]
    browser.reset()
    signed_in_as("editor")  # may publish: sees every collection's content, as the API shows it
    assert cells(browser.get(LIST), item) == ["Live " + item.slug, "Withdrawn page"]


def test_an_id_holding_a_nul_shows_as_written_and_the_others_are_named(browser, signed_in_as, posts):
    editor = signed_in_as("editor")
    target = insert_content(editor, posts, title="Target", state="published")
    image = Media.create(filename="c.png", original_name="c.png", mime_type="image/png", size=1, r2_key="c",
                         public_url="/files/c", uploaded_by=editor.id)
    odd = insert_content(editor, posts, title="Odd", data={"related": "bad\x00id", "image": "pic\x00id"})
    fine = insert_content(editor, posts, title="Fine", data={"related": target.id, "image": image.id})
    listing(posts, "title", "related", "image")
    page = browser.get(LIST)  # PostgreSQL refuses NUL in a parameter: never sent
    assert cells(page, odd)[1:] == ["bad\x00id", "pic\x00id"]
    assert cells(page, fine)[1:] == ["Target", "c.png"]


def test_references_and_media_are_looked_up_once_per_page_not_per_row(browser, signed_in_as, posts, monkeypatch):
    editor = signed_in_as("editor")
    image = Media.create(filename="b.png", original_name="b.png", mime_type="image/png", size=1, r2_key="b",
                         public_url="/files/b", uploaded_by=editor.id)
    target = insert_content(editor, posts, title="Target")
    listing(posts, "title", "related", "image")
    statements = []
    real = peewee.Database.execute_sql

    def counted(self, sql, params=None, *args, **kwargs):
        statements.append(sql)
        return real(self, sql, params, *args, **kwargs)

    def statements_of_a_list_of(rows):
        insert_items(posts, editor, rows, status="draft", slug_prefix=f"batch{rows}",
                     data=lambda i: {"related": target.id, "image": image.id})
        browser.get(LIST)  # warm: what a first request prepares once
        statements.clear()
        monkeypatch.setattr(peewee.Database, "execute_sql", counted)
        page = browser.get(LIST)
        monkeypatch.undo()
        named = [td.get_text(strip=True) for td in page.html.select("tbody td")]
        assert named.count("Target") == rows and named.count("b.png") == rows
        return len(statements)

    few = statements_of_a_list_of(1)
    Content.update(deleted_at=now_ms()).where(Content.id != target.id).execute()  # out of the list
    many = statements_of_a_list_of(15)
    assert many == few


# ---------------------------------------------------------------- row actions


def test_an_editor_edits_or_trashes_a_row_and_comes_back_to_the_list(browser, signed_in_as, posts):
    editor = signed_in_as("editor")
    item = insert_content(create_user("author"), posts, title="Doomed")
    page = browser.get(f"{LIST}?sort=title&search=Doo")
    actions = row_actions(page, item)
    assert actions.select_one("a.row-edit")["href"] == f"{LIST}/{item.id}"
    form = page.forms[f"trash-{item.id}"]
    assert form.html.form["data-confirm"].startswith("Move “Doomed” to the trash?")  # admin.js asks first
    assert actions.select_one("button.row-trash")["form"] == f"trash-{item.id}"

    response = form.submit(status=303)

    assert response.location.endswith(f"{LIST}?sort=title&search=Doo&trashed=1")
    assert Content.get_by_id(item.id).deleted_at is not None
    back = response.follow()
    assert back.html.select_one("#bulk-done").text == "The item was moved to the trash."
    assert f"{LIST}/{item.id}" not in back.text
    # The trash view offers no row action but opening the item.
    trash = browser.get(f"{LIST}?status=trash")
    assert not trash.html.select("button.row-trash") and not trash.html.select("a.row-edit")
    assert row_actions(trash, item).select_one("a.row-open") is not None
    assert Content.get_by_id(item.id).author_id != editor.id  # an editor trashes anyone's


def test_trashing_the_last_pages_only_row_lands_on_the_new_last_page(browser, signed_in_as, posts):
    editor = signed_in_as("editor")
    insert_items(posts, editor, 20, status="draft")
    last = insert_content(editor, posts, title="Alone", slug="alone", updated_at=1)  # oldest: page 2 of 2, by itself
    page = browser.get(f"{LIST}?search=&page=2")
    assert len(page.html.select("tbody tr")) == 1

    landed = page.forms[f"trash-{last.id}"].submit(status=303).follow()

    assert landed.status_int == 303 and landed.location.startswith(f"{LIST}?")
    assert parse_qs(landed.location.split("?")[1]) == {"sort": ["-updated_at"], "page": ["1"], "trashed": ["1"]}
    back = landed.follow()
    assert back.html.select_one("#bulk-done").text == "The item was moved to the trash."
    assert len(back.html.select("tbody tr")) == 20 and "past the last page" not in back.text
    # Opened by hand, a page past the end still says so: only a landing is moved.
    assert "Page 2 is past the last page (1)" in browser.get(f"{LIST}?page=2").text


def test_the_edit_pages_trash_button_still_lands_on_the_item(browser, signed_in_as, posts):
    editor = signed_in_as("editor")
    item = insert_content(editor, posts, title="Mine")
    response = browser.post(f"{LIST}/{item.id}/delete", headers=csrf_headers(browser), status=303)
    assert response.location.endswith(f"{LIST}/{item.id}?moved=deleted")


def test_a_viewer_sees_no_row_action_and_the_server_refuses_the_trash(browser, signed_in_as, posts):
    signed_in_as("viewer")
    item = insert_content(create_user("editor"), posts, title="Live", state="published")
    page = browser.get(LIST)
    actions = row_actions(page, item)
    assert not actions.select("a.row-edit") and not actions.select("button.row-trash")
    assert actions.select_one("a.row-open")["href"] == f"{LIST}/{item.id}"
    assert f"trash-{item.id}" not in page.forms
    browser.post(f"{LIST}/{item.id}/delete", {"from": "list"}, headers=csrf_headers(browser), status=403)
    assert Content.get_by_id(item.id).deleted_at is None


def test_an_author_trashes_only_their_own_rows(browser, signed_in_as, posts):
    author = signed_in_as("author")
    mine = insert_content(author, posts, title="Mine")
    theirs = insert_content(create_user("author"), posts, title="Theirs", state="published")
    page = browser.get(LIST)
    assert row_actions(page, mine).select_one("button.row-trash") is not None
    assert row_actions(page, mine).select_one("a.row-edit") is not None
    assert row_actions(page, theirs).select_one("button.row-trash") is None
    assert row_actions(page, theirs).select_one("a.row-edit") is None
    browser.post(f"{LIST}/{theirs.id}/delete", {"from": "list"}, headers=csrf_headers(browser), status=403)
    assert Content.get_by_id(theirs.id).deleted_at is None
    page.forms[f"trash-{mine.id}"].submit(status=303)
    assert Content.get_by_id(mine.id).deleted_at is not None


def test_a_row_trash_without_the_csrf_token_is_refused(browser, signed_in_as, posts):
    editor = signed_in_as("editor")
    item = insert_content(editor, posts, title="Kept")
    browser.post(f"{LIST}/{item.id}/delete", {"from": "list"}, status=403)
    assert Content.get_by_id(item.id).deleted_at is None


# ---------------------------------------------------------------- numbered pages


def page_numbers(page):
    return [a.get_text(strip=True) for a in page.html.select(".pager .page-numbers a")]


def test_pages_are_numbered_around_the_current_one_with_the_first_and_last(browser, signed_in_as, posts):
    editor = signed_in_as("editor")
    insert_items(posts, editor, 141, status="draft")  # 8 pages of 20
    first = browser.get(LIST)
    assert page_numbers(first) == ["1", "2", "3", "8"] and "Page 1 of 8" in first.text
    assert first.html.select_one(".pager a[aria-current=page]").text == "1"
    middle = browser.get(f"{LIST}?page=5&sort=title")
    assert page_numbers(middle) == ["1", "3", "4", "5", "6", "7", "8"]
    link = middle.html.select_one(".pager a[aria-label='Page 8, the last']")["href"]
    assert link.endswith("&page=8") and "sort=title" in link
    assert len(browser.get(link).html.select("tbody tr")) == 1
    past = browser.get(f"{LIST}?page=12")
    assert "past the last page (8)" in past.text and not page_numbers(past)


def test_a_page_past_those_numbered_is_past_the_last_not_the_first(browser, signed_in_as, posts):
    """However many digits it has, a page past the last one read (999999) is that one."""
    editor = signed_in_as("editor")
    insert_items(posts, editor, 21, status="draft")
    for page in ("1000000", "1" + "0" * 5000):
        past = browser.get(f"{LIST}?sort=title&page={page}")
        assert "The page asked for is past the last page (2)" in past.text and not past.html.select("tbody tr")
        back = past.html.select_one(".pager a[rel=prev]")["href"]
        assert back.endswith("&page=2") and "sort=title" in back
    assert len(browser.get(f"{LIST}?page=-2").html.select("tbody tr")) == 20  # no number: the first


def test_one_page_has_no_pager(browser, signed_in_as, posts):
    editor = signed_in_as("editor")
    insert_items(posts, editor, 3, status="draft")
    assert not browser.get(LIST).html.select(".pager")


def test_a_total_counted_only_so_far_names_no_last_page(browser, signed_in_as, posts, monkeypatch):
    editor = signed_in_as("editor")
    insert_items(posts, editor, 70, status="draft")
    monkeypatch.setattr(query, "COUNT_LIMIT", 30)
    page = browser.get(f"{LIST}?search=Item&page=2")
    assert "At least 30 items" in page.text and "Page 2 of at least 2" in page.text
    assert page_numbers(page) == ["1", "2"]  # no last page: it is not known
    assert page.html.select_one(".pager a[rel=next]")["href"].endswith("&page=3")


def test_a_page_past_the_counted_ones_is_at_least_itself(browser, signed_in_as, posts, monkeypatch):
    editor = signed_in_as("editor")
    insert_items(posts, editor, 70, status="draft")
    monkeypatch.setattr(query, "COUNT_LIMIT", 30)
    page = browser.get(f"{LIST}?search=Item&page=3")  # 2 pages counted; page 3 holds items 41-60
    assert "Page 3 of at least 3" in page.text and len(page.html.select("tbody tr")) == 20
    assert page.html.select_one(".pager a[rel=next]")["href"].endswith("&page=4")


def test_an_empty_page_past_an_uncounted_end_links_back(browser, signed_in_as, posts, monkeypatch):
    editor = signed_in_as("editor")
    insert_items(posts, editor, 70, status="draft")
    monkeypatch.setattr(query, "COUNT_LIMIT", 30)
    page = browser.get(f"{LIST}?search=Item&page=6")  # 70 items: 4 pages, the 6th is empty
    assert "No items match." in page.text and "Page 6 is past the last page" in page.text
    back = page.html.select_one(".pager a[rel=prev]")
    assert back.text == "Back to page 2" and back["href"].endswith("&page=2")
    assert not page.html.select(".pager a[rel=next]") and not page_numbers(page)


# ---------------------------------------------------------------- the collection form's "List columns"


def ticked(page):
    return [box["value"] for box in page.html.select("#list-columns input[name=list_fields]") if box.has_attr("checked")]


def tick(form, names):
    for box in form.fields["list_fields"]:
        box.checked = box._value in names


def test_the_form_chooses_the_list_columns(browser, signed_in_as, posts):
    admin = signed_in_as("admin")
    insert_content(admin, posts, title="Listed")
    page = browser.get("/admin/collections/posts")
    offered = [box["value"] for box in page.html.select("#list-columns input[name=list_fields]")]
    assert offered[:7] == ["title", "slug", "status", "author", "created_at", "updated_at", "published_at"]
    assert offered[7:] == [name for name in SCHEMA["properties"] if name != "title"]
    assert ticked(page) == []
    form = page.forms["collection-form"]
    tick(form, {"views", "status", "category"})
    form.submit(status=303)
    # Ticked boxes post in the order shown.
    assert Collection.get_by_id(posts.id).list_fields == ["status", "category", "views"]
    again = browser.get("/admin/collections/posts")
    assert ticked(again) == ["status", "category", "views"]  # the chosen first, in their order
    assert headers(browser.get(LIST)) == ["Status", "category", "views"]
    form = again.forms["collection-form"]
    tick(form, set())
    form.submit(status=303)
    assert Collection.get_by_id(posts.id).list_fields is None


def test_a_field_removed_in_the_same_save_leaves_the_list(browser, signed_in_as, posts):
    signed_in_as("admin")
    listing(posts, "views", "title")
    form = browser.get("/admin/collections/posts").forms["collection-form"]
    row = next(key.split(".")[0] for key in form.fields if key and key.endswith(".name") and form[key].value == "views")
    form[f"{row}.remove"] = True
    form.submit(status=303)
    stored = Collection.get_by_id(posts.id)
    assert "views" not in stored.schema["properties"] and stored.list_fields == ["title"]


def test_a_field_renamed_in_the_same_save_stays_listed_by_its_new_name(browser, signed_in_as, posts):
    """The tick was on the field, whatever it is now called: it keeps its place in the list."""
    signed_in_as("admin")
    listing(posts, "views", "title")
    form = browser.get("/admin/collections/posts").forms["collection-form"]
    row = next(key.split(".")[0] for key in form.fields if key and key.endswith(".name") and form[key].value == "views")
    form[f"{row}.name"] = "readers"
    form.submit(status=303)
    stored = Collection.get_by_id(posts.id)
    assert "readers" in stored.schema["properties"] and stored.list_fields == ["readers", "title"]


def test_a_removed_field_named_like_an_items_own_column_leaves_that_column_listed(browser, signed_in_as, posts):
    signed_in_as("admin")
    schema = {**SCHEMA, "properties": {**SCHEMA["properties"], "slug": {"type": "string", "title": "Old slug"}}}
    Collection.update(schema=schema).where(Collection.id == posts.id).execute()
    listing(posts, "slug", "views")  # the item's own slug column, not the field
    form = browser.get("/admin/collections/posts").forms["collection-form"]
    row = next(key.split(".")[0] for key in form.fields if key and key.endswith(".name") and form[key].value == "slug")
    form[f"{row}.remove"] = True
    form.submit(status=303)
    stored = Collection.get_by_id(posts.id)
    assert "slug" not in stored.schema["properties"] and stored.list_fields == ["slug", "views"]


def test_a_forged_column_is_refused_and_nothing_is_saved(browser, signed_in_as, posts):
    signed_in_as("admin")
    form = browser.get("/admin/collections/posts").forms["collection-form"]
    form["display_name"] = "Renamed"
    fields = list(form.submit_fields())
    fields.append(("list_fields", "ghost"))
    refused = browser.post("/admin/collections/posts", fields, status=422)
    assert "listFields: unknown field 'ghost'" in refused.html.select_one("#form-message").text
    stored = Collection.get_by_id(posts.id)
    assert (stored.display_name, stored.list_fields) == ("Posts", None)


def test_a_refused_save_shows_the_columns_as_ticked(browser, signed_in_as, posts):
    signed_in_as("admin")
    form = browser.get("/admin/collections/posts").forms["collection-form"]
    form["display_name"] = ""
    tick(form, {"views", "day"})
    refused = form.submit(status=422)
    assert ticked(refused) == ["day", "views"]
    assert Collection.get_by_id(posts.id).list_fields is None


def test_a_form_without_the_fieldset_keeps_the_columns(browser, signed_in_as, posts):
    signed_in_as("admin")
    listing(posts, "views")
    form = browser.get("/admin/collections/posts").forms["collection-form"]
    form["display_name"] = "Renamed"
    fields = [(name, value) for name, value in form.submit_fields() if name not in ("list_fields", "list_fields_shown")]
    browser.post("/admin/collections/posts", fields, status=303)
    stored = Collection.get_by_id(posts.id)
    assert (stored.display_name, stored.list_fields) == ("Renamed", ["views"])


def test_a_definition_file_listing_a_column_twice_syncs_with_it_once_and_a_note(browser, signed_in_as, tmp_path):
    admin = signed_in_as("admin")
    create_collection("posts")  # what its reference field names
    definition = {"name": "docs", "displayName": "Docs", "schema": SCHEMA,
                  "listFields": ["title", "views", "title", "views", "day"]}
    (tmp_path / "docs.json").write_text(json.dumps(definition))

    report = sync_collections(tmp_path)

    assert report.ok and report.by_name()["docs"].status == "created"
    assert report.notes == [f"{display_path(tmp_path / 'docs.json')}: listFields: 'title', 'views' listed more "
                            "than once; the first of each kept"]
    docs = Collection.get(Collection.name == "docs")
    assert docs.list_fields == ["title", "views", "day"]
    insert_content(admin, docs, title="Doc")
    assert headers(browser.get("/admin/content/docs")) == ["Title", "views", "Day"]
    # (The collections API, where a person types the list, still refuses a repeated name:
    # tests/test_collections_api.py.)


def test_a_managed_collections_columns_are_shown_read_only(browser, signed_in_as):
    signed_in_as("admin")
    create_collection("docs", SCHEMA, managed=True, list_fields=["title", "views"])
    page = browser.get("/admin/collections/docs")
    assert page.html.select_one("#list-columns").has_attr("disabled") and ticked(page) == ["title", "views"]


def test_a_new_collection_is_created_with_its_columns(browser, signed_in_as):
    signed_in_as("admin")
    form = browser.get("/admin/collections/new").forms["collection-form"]
    form["name"], form["display_name"] = "notes", "Notes"
    tick(form, {"title", "updated_at"})
    form.submit(status=303)
    assert Collection.get(Collection.name == "notes").list_fields == ["title", "updated_at"]
