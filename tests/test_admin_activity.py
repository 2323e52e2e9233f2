"""The admin's activity page, ``/admin/activity-logs``, and its export: who did what, newest
first, filtered, paged by position, per role."""

import csv
import io
from urllib.parse import parse_qs, urlsplit

import pytest

from app.db.database import is_postgres
from app.db.models import Collection, Content, Permission, Plugin, PluginActivity, RolePermission, WorkflowHistory
from app.db.models import now_ms as now
from tests.fixtures.app import client_for

pytestmark = pytest.mark.backends

PAGE = "/admin/activity-logs"
T0 = 1_767_225_600_000  # 2026-01-01 00:00 UTC
MINUTE = 60_000


def plugin_id():
    return Plugin.get(Plugin.name == "request-logs").id


def plugin_entry(action="settings", created_at=T0, user=None, **fields):
    return PluginActivity.create(plugin=plugin_id(), action=action, user_id=user.id if user else None,
                                 created_at=created_at, **fields)


def new_item(client, headers, title="First"):
    return client.post_json("/api/content", {"collectionId": "blog", "title": title, "data": {"title": title}},
                            headers=headers, status=201).json["data"]


def dated(item, created_at):
    """Move ``item``'s history rows to ``created_at`` (a fixed time, earlier than the tests' own)."""
    WorkflowHistory.update(created_at=created_at).where(WorkflowHistory.content == item["id"]).execute()


def rows(page):
    """Each table row's cells' text."""
    return [[cell.get_text(strip=True) for cell in row.select("td")] for row in page.html.select("table.activity tbody tr")]


def grant(role, *names):
    """Give ``role`` the permissions ``names`` (before the app first reads the role's set)."""
    for name in names:
        RolePermission.create(role=role, permission=Permission.get(Permission.name == name))


# ---------------------------------------------------------------- the table


def test_the_page_lists_who_did_what_newest_first_with_links(browser, signed_in_as, client, blog_collection,
                                                             as_editor):
    signed_in_as("admin")
    editor, headers = as_editor
    item = new_item(client, headers)
    client.put_json(f"/api/content/{item['id']}", {"title": "Second", "data": {"title": "Second"}},
                    headers=headers, status=200)
    plugin_entry("deactivate", created_at=now() + MINUTE, user=editor)
    page = browser.get(PAGE)
    listed = rows(page)
    name = f"{editor.first_name} {editor.last_name}"
    assert [row[1:] for row in listed[:3]] == [
        [name, "plugin", "deactivate", plugin_id()], [name, "content", "updated", "Second"],
        [name, "content", "created", "Second"]]  # the item's title now
    assert listed[0][0].endswith("UTC")
    user_links = page.html.select("td.activity-user a")
    assert {link["href"] for link in user_links} == {f"/admin/users/{editor.id}"}
    resource_links = page.html.select("td.activity-resource a")
    assert [link["href"] for link in resource_links] == [f"/admin/content/blog/{item['id']}"] * 2
    assert not page.html.select("tbody tr:first-child td.activity-resource a")  # a plugin: plain text


def test_a_viewer_who_may_not_see_users_gets_their_names_without_links(browser, signed_in_as, client,
                                                                       blog_collection, as_editor):
    grant("author", "logs.read")
    signed_in_as("author")
    editor, headers = as_editor
    new_item(client, headers)
    page = browser.get(PAGE)
    assert rows(page)[0][1] == f"{editor.first_name} {editor.last_name}"
    assert not page.html.select("td.activity-user a") and page.html.select("td.activity-resource a")


def test_no_account_shows_as_system_unlinked(browser, signed_in_as):
    signed_in_as("admin")
    plugin_entry("activate")
    page = browser.get(PAGE)
    assert rows(page)[0][1:3] == ["System", "plugin"] and not page.html.select("td.activity-user a")


def test_an_item_deleted_or_in_a_deactivated_collection_is_named_without_a_link(
        browser, signed_in_as, client, blog_collection, as_editor):
    signed_in_as("editor")
    _, headers = as_editor
    gone = new_item(client, headers, "Gone")
    new_item(client, headers, "Kept")
    Content.update(deleted_at=now()).where(Content.id == gone["id"]).execute()
    page = browser.get(PAGE)
    assert [link.get_text() for link in page.html.select("td.activity-resource a")] == ["Kept"]
    assert "Gone" in [row[4] for row in rows(page)]
    Collection.update(is_active=False).where(Collection.id == blog_collection.id).execute()
    page = browser.get(PAGE)
    assert not page.html.select("td.activity-resource a") and {row[4] for row in rows(page)} == {"Gone", "Kept"}


# ---------------------------------------------------------------- who may see it


@pytest.mark.parametrize("path", [PAGE, PAGE + "/export"])
@pytest.mark.parametrize(("role", "status"), [("viewer", 403), ("author", 403), ("editor", 200), ("admin", 200)])
def test_it_needs_logs_read(browser, signed_in_as, path, role, status):
    signed_in_as(role)
    page = browser.get(path, status=status)
    if status == 403:
        assert "Your role does not allow this." in page.text


@pytest.mark.parametrize("path", [PAGE, PAGE + "/export"])
def test_a_visitor_is_sent_to_sign_in(env, path):
    response = client_for(env).get(path, headers={"Accept": "text/html"})
    assert response.status_int in (302, 303) and "/admin/login" in response.location
    client_for(env).get(path, status=401)


def test_the_dashboard_and_the_logs_page_link_it_for_those_who_may_see_it(browser, signed_in_as):
    signed_in_as("editor")
    assert browser.get("/admin").html.select_one("#all-activity")["href"] == PAGE
    assert browser.get("/admin/logs").html.select_one("#activity-link")["href"] == PAGE
    # The nav has no item of its own for it: Logs, which leads there, is marked as the current one.
    assert browser.get(PAGE).html.select_one("nav a[aria-current=page]")["href"] == "/admin/logs"
    browser.reset()
    signed_in_as("author")
    assert browser.get("/admin").html.select_one("#all-activity") is None


# ---------------------------------------------------------------- filters


@pytest.fixture
def history(client, blog_collection, as_editor, make_user):
    """Four entries at known times: two content (created by the editor at T0, updated at T0 +
    2 min), two plugin (a settings change by ``other`` at T0 + 1 min, an activation by nobody
    at the next day)."""
    editor, headers = as_editor
    other, _ = make_user("admin", email="other@example.com")
    item = new_item(client, headers)
    dated(item, T0)
    client.put_json(f"/api/content/{item['id']}", {"title": "Second", "data": {"title": "Second"}},
                    headers=headers, status=200)
    WorkflowHistory.update(created_at=T0 + 2 * MINUTE).where(WorkflowHistory.created_at > T0).execute()
    plugin_entry("settings", created_at=T0 + MINUTE, user=other)
    plugin_entry("activate", created_at=T0 + 24 * 60 * MINUTE)
    return editor, other


def actions(page):
    return [row[3] for row in rows(page)]


@pytest.mark.parametrize(("query", "expected"), [
    ("", ["activate", "updated", "settings", "created"]),
    ("type=plugin", ["activate", "settings"]),
    ("type=content", ["updated", "created"]),
    ("action=updated", ["updated"]),
    ("action=settings", ["settings"]),
    ("type=content&action=settings", []),
    ("user=other@example.com", ["settings"]),
    ("user=OTHER@example.com", ["settings"]),
    # Read as sign-in reads an address: spaces around, fullwidth letters and at sign (NFKC).
    ("user=%20other@example.com%20", ["settings"]),
    ("user=%EF%BD%8Fther%EF%BC%A0example.com", ["settings"]),
    ("start_date=2026-01-01T00:01&end_date=2026-01-01T00:02", ["updated", "settings"]),
    ("start_date=2026-01-02", ["activate"]),
    ("end_date=2026-01-01", ["updated", "settings", "created"]),
    ("type=content&type=&user=", ["updated", "created"]),  # an empty copy does not undo the value
])
def test_the_filters_select_the_entries(browser, signed_in_as, history, query, expected):
    signed_in_as("editor")
    page = browser.get(f"{PAGE}?{query}")
    assert actions(page) == expected
    if not expected:
        assert "No activity matches." in page.text


def test_a_user_filter_takes_an_id_and_the_form_shows_what_is_applied(browser, signed_in_as, history):
    editor, _ = history
    signed_in_as("editor")
    page = browser.get(f"{PAGE}?user={editor.id}&type=content&start_date=2026-01-01&action=created")
    assert actions(page) == ["created"]
    form = page.forms["activity-filters"]
    assert (form["user"].value, form["type"].value, form["action"].value) == (editor.id, "content", "created")
    assert form["start_date"].value == "2026-01-01T00:00"


def test_a_moved_entry_is_the_one_whose_history_names_no_action(browser, signed_in_as, history, env):
    signed_in_as("editor")
    db = env.DB.db
    db.execute_sql("UPDATE workflow_history SET metadata = " + db.param + " WHERE created_at = " + db.param,
                   ("not JSON at all", T0))
    assert actions(browser.get(f"{PAGE}?action=moved")) == ["moved"]
    assert actions(browser.get(f"{PAGE}?action=updated")) == ["updated"]


@pytest.mark.parametrize("metadata", ['{"action": 5}', '{"action": 0}', '{"action": false}', '{"action": null}',
                                      '{"action": {"name": "x"}}', '{"action": ["updated"]}', '{"action": ""}'])
def test_an_action_that_is_no_string_shows_as_moved_and_is_found_by_it(browser, signed_in_as, history, env,
                                                                        metadata):
    signed_in_as("editor")
    db = env.DB.db
    db.execute_sql("UPDATE workflow_history SET metadata = " + db.param + " WHERE created_at = " + db.param,
                   (metadata, T0))
    assert actions(browser.get(f"{PAGE}?type=content")) == ["updated", "moved"]
    assert actions(browser.get(f"{PAGE}?action=moved")) == ["moved"]
    assert actions(browser.get(f"{PAGE}?action=5")) == []
    assert actions(browser.get(f"{PAGE}?action=updated")) == ["updated"]


@pytest.mark.parametrize(("query", "names"), [
    ("type=everything", ["type"]),
    ("action=drop%20table", ["action"]),
    ("user=nobody@example.com", ["user"]),
    ("user=%EF%BC%A0", ["user"]),  # a fullwidth at sign alone: an address, of no one
    ("start_date=yesterday", ["start_date"]),
    ("end_date=2026-02-30", ["end_date"]),
    ("start_date=2026-01-03&end_date=2026-01-02", ["start_date", "end_date"]),
    ("before=not-a-position", ["before"]),
    ("before=12:", ["before"]),
    ("before=9223372036854775808:x", ["before"]),  # past a BIGINT
    ("type=x&action=!", ["type", "action"]),
])
def test_a_value_it_cannot_read_is_a_400_naming_it_and_the_rest_still_filters(browser, signed_in_as, history,
                                                                             query, names):
    signed_in_as("editor")
    page = browser.get(f"{PAGE}?{query}&type=plugin" if "type" not in query else f"{PAGE}?{query}", status=400)
    problems = page.html.select_one("#activity-problems")
    assert [code.get_text() for code in problems.select("code")] == names
    if "type" not in names:
        assert actions(page) == ["activate", "settings"]
    # Its export links leave the value out, as the page did: the file holds what it lists.
    assert not set(names) & set(parse_qs(urlsplit(page.html.select_one("#export-csv")["href"]).query))


# ---------------------------------------------------------------- paging


def test_older_pages_follow_on_without_gaps_or_repeats_even_across_equal_times(browser, signed_in_as, client,
                                                                             blog_collection, as_editor):
    signed_in_as("editor")
    _, headers = as_editor
    item = new_item(client, headers)
    dated(item, T0 + 5 * MINUTE)
    # 120 plugin entries, in threes at the same millisecond, one three at the item's.
    PluginActivity.insert_many([{"id": f"p{i:03}", "plugin": plugin_id(), "action": "settings",
                                 "created_at": T0 + (i // 3) * 1000 + (5 * MINUTE - 1000 if i // 3 == 20 else 0),
                                 "details": None} for i in range(120)]).execute()
    seen, page = [], browser.get(f"{PAGE}?end_date=2026-01-02")
    assert page.html.select_one("#activity-newest") is None
    pages = 0
    while True:
        pages += 1
        seen += [(row.select_one("time")["data-ms"], row) for row in page.html.select("table.activity tbody tr")]
        older = page.html.select_one("#activity-older")
        if older is None:
            break
        assert parse_qs(urlsplit(older["href"]).query)["end_date"] == ["2026-01-02"]
        page = browser.get(older["href"])
        assert page.html.select_one("#activity-newest")["href"] == f"{PAGE}?end_date=2026-01-02"
    assert pages == 3 and len(seen) == 121
    times = [int(ms) for ms, _ in seen]
    assert times == sorted(times, reverse=True)
    resources = [row.select("td")[4].get_text(strip=True) for _, row in seen]
    assert resources.count("First") == 1


@pytest.mark.parametrize(("last_id", "last_at"), [
    ("two\nlines", T0),
    ("x" * 300, T0),
    ("spaces, a colon: and +%&=#? in it", T0),
    ("before 1970", -5 * MINUTE),  # a time written by hand
])
def test_the_older_link_after_any_id_or_time_a_row_holds_leads_on(browser, signed_in_as, last_id, last_at):
    signed_in_as("editor")
    newer = [{"id": f"n{i:02}", "created_at": T0 + (i + 1) * MINUTE} for i in range(49)]
    older = [{"id": f"o{i:02}", "created_at": last_at - (i + 1) * MINUTE} for i in range(3)]
    PluginActivity.insert_many([{**entry, "plugin": plugin_id(), "action": "settings", "details": None}
                                for entry in [*newer, {"id": last_id, "created_at": last_at}, *older]]).execute()
    page = browser.get(PAGE)
    assert [row["data-id"] for row in page.html.select("table.activity tbody tr")][-1] == last_id
    next_page = browser.get(page.html.select_one("#activity-older")["href"])
    assert [row["data-id"] for row in next_page.html.select("table.activity tbody tr")] == ["o00", "o01", "o02"]


# ---------------------------------------------------------------- the export


def test_the_export_is_the_filtered_entries_as_csv(browser, signed_in_as, history):
    editor, other = history
    signed_in_as("editor")
    page = browser.get(f"{PAGE}?start_date=2026-01-01&end_date=2026-01-01")
    link = page.html.select_one("#export-csv")["href"]
    assert parse_qs(urlsplit(link).query) == {"start_date": ["2026-01-01"], "end_date": ["2026-01-01"],
                                              "format": ["csv"]}
    assert "up to 10,000" in page.text
    exported = browser.get(link)
    assert exported.content_type == "text/csv"
    assert exported.headers["Content-Disposition"].startswith('attachment; filename="sonicpy-activity-')
    assert exported.headers["X-Export-Truncated"] == "false"
    header, *lines = list(csv.reader(io.StringIO(exported.text)))
    assert header == ["timestamp", "type", "action", "user", "user_id", "resource_id", "title", "details"]
    assert [line[:4] for line in lines] == [
        ["2026-01-01T00:02:00.000Z", "content", "updated", f"{editor.first_name} {editor.last_name}"],
        ["2026-01-01T00:01:00.000Z", "plugin", "settings", f"{other.first_name} {other.last_name}"],
        ["2026-01-01T00:00:00.000Z", "content", "created", f"{editor.first_name} {editor.last_name}"]]
    assert lines[1][4:7] == [other.id, plugin_id(), ""] and lines[0][6] == "Second"
    json_export = browser.get(page.html.select_one("#export-json")["href"]).json
    assert [entry["action"] for entry in json_export["data"]] == ["updated", "settings", "created"]


def test_a_cell_a_spreadsheet_would_run_is_written_as_text(browser, signed_in_as, make_user):
    signed_in_as("editor")
    sneaky, _ = make_user("admin", first_name="=HYPERLINK(\"http://x\")", last_name="")
    plugin_entry("settings", user=sneaky)
    header, line = list(csv.reader(io.StringIO(browser.get(f"{PAGE}/export?end_date=2026-01-02").text)))
    assert line[header.index("user")] == "'=HYPERLINK(\"http://x\")"


def test_the_export_holds_at_most_10000_entries_and_says_when_more_matched(browser, signed_in_as):
    signed_in_as("editor")
    PluginActivity.insert_many([{"id": f"p{i:05}", "plugin": plugin_id(), "action": "settings",
                                 "created_at": T0 + i, "details": None} for i in range(10_001)]).execute()
    exported = browser.get(f"{PAGE}/export?type=plugin")
    assert exported.headers["X-Export-Truncated"] == "true"
    lines = list(csv.reader(io.StringIO(exported.text)))
    assert len(lines) == 1 + 10_000 and lines[1][0] == "2026-01-01T00:00:10.000Z"  # the newest, T0 + 10,000 ms
    assert browser.get(f"{PAGE}/export?type=plugin&start_date=2026-01-01T00:00:00.002").headers[
        "X-Export-Truncated"] == "false"


@pytest.mark.parametrize("query", ["type=x", "start_date=2026-01-03&end_date=2026-01-02", "user=no@example.com",
                                   "format=xml"])
def test_the_export_refuses_a_value_it_cannot_read(browser, signed_in_as, query):
    signed_in_as("editor")
    page = browser.get(f"{PAGE}/export?{query}", status=400)
    assert "Bad request" in page.text


def test_pages_split_equal_times_by_id_in_code_point_order_whatever_the_collation(browser, signed_in_as, env):
    # Ids of other letter cases (written by hand): a collation that reads "a" before "B" (a
    # database created with a language's locale) must not decide the order, or a page would
    # repeat or skip entries. ICU's root collation stands for such a locale here.
    signed_in_as("editor")
    if is_postgres(env.DB.db):
        env.DB.db.execute_sql('ALTER TABLE plugin_activity_log ALTER COLUMN id TYPE text COLLATE "und-x-icu"')
    ids = [f"{letter}{n:02}" for letter in "aB" for n in range(30)]
    PluginActivity.insert_many([{"id": entry_id, "plugin": plugin_id(), "action": "settings", "created_at": T0,
                                 "details": None} for entry_id in ids]).execute()
    seen, link = [], f"{PAGE}?end_date=2026-01-02"
    while link:
        page = browser.get(link)
        seen += [row["data-id"] for row in page.html.select("table.activity tbody tr")]
        older = page.html.select_one("#activity-older")
        link = older["href"] if older else None
    assert seen == sorted(ids, reverse=True)


def test_a_history_rows_metadata_title_is_not_shown_for_the_items(browser, signed_in_as, client, blog_collection,
                                                                  as_editor, env):
    signed_in_as("editor")
    _, headers = as_editor
    item = new_item(client, headers)
    db = env.DB.db
    db.execute_sql("UPDATE workflow_history SET metadata = " + db.param + " WHERE content_id = " + db.param,
                   ('{"action": "created", "title": 5}', item["id"]))
    [row] = rows(browser.get(f"{PAGE}?type=content"))
    assert row[2:] == ["content", "created", "First"]
