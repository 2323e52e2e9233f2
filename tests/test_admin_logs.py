"""The admin's log pages beyond the list: a row's page, exports, settings and cleanup, per role."""

import csv
import io
from urllib.parse import parse_qs, urlsplit

import pytest

from app.db.models import LogConfig, SystemLog, now_ms
from tests.fixtures.admin import csrf_token

pytestmark = pytest.mark.backends

DAY_MS = 24 * 3600 * 1000
T0 = 1_767_225_600_000  # 2026-01-01 00:00 UTC
UNTIL = "end_date=2026-01-02T00:00"  # the request logs of the tests' own visits are later


def add_log(message, category="system", created_at=T0, **fields):
    return SystemLog.create(level=fields.pop("level", "info"), category=category, message=message,
                            created_at=created_at, **fields)


def config_form(page, category):
    return page.forms[f"config-{category}"]


# ---------------------------------------------------------------- a row's page


def test_each_row_links_to_its_own_page(browser, signed_in_as):
    editor = signed_in_as("editor")
    row = add_log("GET /api/nope 404", category="api", level="warn", user=editor.id, method="GET",
                  url="/api/nope", status_code=404, duration=12, request_id="req-1", data={"status": 404})
    listed = browser.get(f"/admin/logs?category=api&{UNTIL}")
    [link] = listed.html.select("table.logs a.log-link")
    page = browser.get(link["href"])
    assert link["href"] == f"/admin/logs/{row.id}"
    assert page.html.select_one("#log-message").get_text() == "GET /api/nope 404"
    assert page.html.select_one("#log-request").get_text(strip=True) == "GET /api/nope"
    assert '"status": 404' in page.html.select_one("#log-data").get_text()
    assert editor.email in page.text and "req-1" in page.text and "12 ms" in page.text


def test_an_unknown_row_is_a_404_page(browser, signed_in_as):
    signed_in_as("editor")
    assert "Not found" in browser.get("/admin/logs/no-such-row", status=404).text


def test_a_rows_page_shows_no_secret(browser, signed_in_as):
    signed_in_as("editor")
    row = add_log("stored unfiltered", url="/admin/reset-password?password=hunter2&next=/admin")
    page = browser.get(f"/admin/logs/{row.id}")
    assert "hunter2" not in page.text and "password=[FILTERED]&amp;next=/admin" in page.text


def test_a_rows_page_needs_logs_read(browser, signed_in_as):
    signed_in_as("author")
    browser.get(f"/admin/logs/{add_log('hidden').id}", status=403)
    browser.get("/admin/logs/config", status=403)
    browser.get("/admin/logs/export", status=403)


# ---------------------------------------------------------------- exports


def test_the_export_links_keep_the_pages_filters(browser, signed_in_as):
    signed_in_as("editor")
    add_log("keep me", created_at=T0 + 60_000)
    add_log("keep me too", created_at=T0 + 120_000)
    add_log("not this one")
    add_log("keep me, other category", category="auth")
    page = browser.get(f"/admin/logs?category=system&search=keep&{UNTIL}")
    csv_link = page.html.select_one("#export-csv")["href"]
    parts = urlsplit(csv_link)
    assert parts.path == "/admin/logs/export"
    assert parse_qs(parts.query) == {"category": ["system"], "search": ["keep"], "end_date": ["2026-01-02T00:00"],
                                     "format": ["csv"]}
    exported = browser.get(csv_link)
    assert exported.content_type == "text/csv" and exported.headers["Content-Disposition"].startswith("attachment;")
    header, *rows = csv.reader(io.StringIO(exported.text))
    assert [row[header.index("message")] for row in rows] == ["keep me too", "keep me"]
    as_json = browser.get(page.html.select_one("#export-json")["href"]).json
    assert [entry["message"] for entry in as_json["data"]] == ["keep me too", "keep me"]


def test_an_export_refuses_a_filter_it_cannot_read(client, browser, signed_in_as, make_user):
    add_log("any row")
    _, headers = make_user("editor")
    query = f"format=json&status=many&start_date=2026-01-40&{UNTIL}"
    refused = client.get(f"/admin/logs/export?{query}", headers=headers, status=400).json
    assert refused["error"] == "Invalid query parameters"
    assert [problem["parameter"] for problem in refused["details"]] == ["status", "start_date"]
    signed_in_as("editor")
    page = browser.get(f"/admin/logs/export?{query}", status=400)
    assert page.content_type == "text/html" and "any row" not in page.text
    shown = [item.get_text() for item in page.html.select("ul.refusal li")]
    assert shown[0] == "Invalid query parameters"
    assert [line.split(":")[0] for line in shown[1:]] == ["status", "start_date"]
    assert shown[1:] == [f"{problem['parameter']}: {problem['message']}" for problem in refused["details"]]


def test_the_export_links_leave_out_what_the_page_left_out(browser, signed_in_as):
    signed_in_as("editor")
    add_log("a 404", status_code=404)
    add_log("a 500", status_code=500)
    page = browser.get(f"/admin/logs?status=404&search=a&start_date=2026-01-40&{UNTIL}")
    assert "left out of the filter: start_date" in page.text
    link = page.html.select_one("#export-json")["href"]
    assert "start_date" not in parse_qs(urlsplit(link).query)
    assert [entry["message"] for entry in browser.get(link).json["data"]] == ["a 404"]


def test_an_unknown_export_format_is_a_400_page(browser, signed_in_as):
    signed_in_as("editor")
    assert "Bad request" in browser.get("/admin/logs/export?format=xlsx", status=400).text


# ---------------------------------------------------------------- settings


def test_editors_see_the_settings_and_cannot_change_them(browser, signed_in_as):
    signed_in_as("editor")
    page = browser.get("/admin/logs/config")
    assert not page.html.select("form.log-config") and not page.html.select("form[action^='/admin/logs/config/']")
    cells = {row.select("td")[0].get_text(): [td.get_text() for td in row.select("td")[1:]]
             for row in page.html.select("table.log-config tbody tr")}
    assert cells["security"] == ["yes", "warn", "180", "100"] and len(cells) == 8
    token = csrf_token(browser)
    form = {"csrf_token": token, "enabled": "on", "level": "error", "retention_days": "1", "max_size_mb": "1"}
    browser.post("/admin/logs/config/api", form, status=403)
    assert LogConfig.get(LogConfig.category == "api").level == "info"


def test_admins_change_a_category_with_its_form(browser, signed_in_as):
    signed_in_as("admin")
    page = browser.get("/admin/logs/config")
    actions = [form["action"] for form in page.html.select("form.log-config")]
    assert actions == [f"/admin/logs/config/{name}" for name in
                       ("auth", "api", "workflow", "plugin", "media", "system", "security", "error")]
    form = config_form(page, "workflow")
    assert form["retention_days"].value == "60" and form["enabled"].checked
    form["enabled"] = False
    form["level"] = "warn"
    form["retention_days"] = "14"
    done = form.submit(status=303).follow()
    assert "Settings of workflow saved." in done.text
    row = LogConfig.get(LogConfig.category == "workflow")
    assert (row.enabled, row.level, row.retention_days, row.max_size_mb) == (False, "warn", 14, 50)
    shown = config_form(done, "workflow")
    assert not shown["enabled"].checked and shown["level"].value == "warn"


@pytest.mark.parametrize("typed, message", [("0", ">= 1"), ("-3", ">= 1"), ("many", "Expected `int`")])
def test_a_bad_value_is_shown_beside_its_field_and_nothing_is_saved(browser, signed_in_as, typed, message):
    signed_in_as("admin")
    form = config_form(browser.get("/admin/logs/config"), "api")
    form["retention_days"] = typed
    form["level"] = "debug"
    page = form.submit(status=422)
    assert "The settings of api were not saved" in page.text
    error = page.html.select_one("#c-api-error").get_text()
    assert error.startswith("Days kept: ") and message in error  # the field's label, as the form shows it
    assert config_form(page, "api")["retention_days"].value == typed  # what was typed, kept
    assert config_form(page, "api")["level"].value == "debug"
    row = LogConfig.get(LogConfig.category == "api")
    assert (row.level, row.retention_days) == ("info", 30)


def test_a_value_with_nul_is_shown_beside_its_field_and_nothing_is_saved(browser, signed_in_as):
    signed_in_as("admin")
    form = config_form(browser.get("/admin/logs/config"), "api")
    form["retention_days"] = "5\x00"
    page = form.submit(status=422)
    assert page.content_type == "text/html" and "\x00" not in page.text and "Invalid input" not in page.text
    assert page.html.select_one("#c-api-error").get_text() == "Days kept: NUL characters are not allowed"
    assert config_form(page, "api")["retention_days"].value == "5"
    assert LogConfig.get(LogConfig.category == "api").retention_days == 30


def test_setting_posts_need_the_csrf_token_and_a_known_category(browser, signed_in_as):
    signed_in_as("admin")
    form = {"enabled": "on", "level": "error", "retention_days": "5", "max_size_mb": "5"}
    browser.post("/admin/logs/config/api", form, status=403)
    assert LogConfig.get(LogConfig.category == "api").level == "info"
    browser.post("/admin/logs/config/nope", {**form, "csrf_token": csrf_token(browser)}, status=404)


# ---------------------------------------------------------------- cleanup


def test_admins_clean_up_and_are_told_how_many_rows_went(browser, signed_in_as):
    signed_in_as("admin")
    now = now_ms()
    old = [add_log("old api", category="api", created_at=now - 40 * DAY_MS),
           add_log("old system", created_at=now - 100 * DAY_MS)]
    kept = add_log("recent system", created_at=now - 10 * DAY_MS)
    page = browser.get("/admin/logs")
    done = page.forms["logs-cleanup"].submit(status=303)
    assert done.location.endswith("/admin/logs?cleaned=2")
    assert "2 rows older than their category" in done.follow().html.select_one("#cleaned").get_text()
    assert not SystemLog.select().where(SystemLog.id.in_([row.id for row in old])).exists()
    assert SystemLog.get_or_none(SystemLog.id == kept.id) is not None


def test_editors_get_no_cleanup_button_and_cannot_post_it(browser, signed_in_as):
    signed_in_as("editor")
    old = add_log("old system", created_at=now_ms() - 100 * DAY_MS)
    assert "logs-cleanup" not in browser.get("/admin/logs").forms
    browser.post("/admin/logs/cleanup", {"csrf_token": csrf_token(browser)}, status=403)
    assert SystemLog.get_or_none(SystemLog.id == old.id) is not None


def test_cleanup_needs_the_csrf_token(browser, signed_in_as):
    signed_in_as("admin")
    old = add_log("old system", created_at=now_ms() - 100 * DAY_MS)
    browser.post("/admin/logs/cleanup", status=403)
    assert SystemLog.get_or_none(SystemLog.id == old.id) is not None
