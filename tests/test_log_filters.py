"""The system log filters SonicJS documents: level and category lists, a date range, a source,
and ``POST /admin/logs/search``, on the API's list and export, the admin page and its search."""

import re
from urllib.parse import parse_qsl

import pytest

from app.db.models import SystemLog
from tests.fixtures.admin import csrf_token
from tests.fixtures.app import client_for
from tests.fixtures.users import create_user

pytestmark = pytest.mark.backends

DAY_MS = 24 * 3600 * 1000
DAY0 = 1_741_564_800_000  # 2025-03-10 00:00 UTC; the tests' own request logs come much later
MID = DAY0 + (10 * 3600 + 30 * 60 + 15) * 1000 + 500  # 2025-03-10 10:30:15.500 UTC
DAY = "end_date=2025-03-10"  # bounds each list to rows the tests wrote themselves
LIST, EXPORT = "/admin/api/logs", "/admin/api/logs/export"


def add_log(message, created_at=DAY0, category="system", level="info", **fields):
    return SystemLog.create(level=level, category=category, message=message, created_at=created_at, **fields)


def listed(client, headers, query):
    return [entry["message"] for entry in client.get(f"{LIST}?{query}", headers=headers).json["data"]]


def exported(client, headers, query):
    return [entry["message"] for entry in client.get(f"{EXPORT}?format=json&{query}", headers=headers).json["data"]]


def refusal(client, headers, path, query):
    body = client.get(f"{path}?{query}", headers=headers, status=400).json
    assert body["error"] == "Invalid query parameters"
    return body["details"]


@pytest.fixture
def levels():
    for offset, level in enumerate(("debug", "info", "warn", "error", "fatal")):
        add_log(f"a {level}", created_at=DAY0 + offset, level=level)


@pytest.fixture
def day():
    """Rows on each side of 2025-03-10 (UTC) and inside it, at its first and last millisecond."""
    add_log("before", created_at=DAY0 - 1)
    add_log("first", created_at=DAY0)
    add_log("mid", created_at=MID)
    add_log("last", created_at=DAY0 + DAY_MS - 1)
    add_log("after", created_at=DAY0 + DAY_MS)


# ---------------------------------------------------------------- level and category lists


@pytest.mark.parametrize("query", ["level=error,warn", "level=warn&level=error", "level=%20warn%20,error,"])
def test_a_level_list_matches_any_of_its_levels(client, as_editor, levels, query):
    _, headers = as_editor
    assert listed(client, headers, f"{query}&{DAY}") == ["a error", "a warn"]
    assert exported(client, headers, f"{query}&{DAY}") == ["a error", "a warn"]


def test_one_level_still_matches_that_level(client, as_editor, levels):
    _, headers = as_editor
    assert listed(client, headers, f"level=fatal&{DAY}") == ["a fatal"]


def test_a_category_list_matches_any_of_its_categories(client, as_editor):
    _, headers = as_editor
    for offset, category in enumerate(("auth", "security", "system", "workflow")):
        add_log(f"in {category}", created_at=DAY0 + offset, category=category)
    assert listed(client, headers, f"category=security,auth&{DAY}") == ["in security", "in auth"]
    assert exported(client, headers, f"category=security&category=workflow&{DAY}") == ["in workflow", "in security"]


@pytest.mark.parametrize("path", [LIST, EXPORT])
@pytest.mark.parametrize("query, parameter, allowed", [
    ("level=error,loud", "level", ["debug", "info", "warn", "error", "fatal"]),
    ("level=ERROR", "level", ["debug", "info", "warn", "error", "fatal"]),
    ("category=api,nope", "category", ["auth", "api", "workflow", "plugin", "media", "system", "security", "error"]),
])
def test_a_list_with_an_unknown_value_is_a_400_naming_it(client, as_editor, path, query, parameter, allowed):
    _, headers = as_editor
    [problem] = refusal(client, headers, path, query)
    assert problem["parameter"] == parameter and problem["allowed"] == allowed
    assert "must be one of" in problem["message"]


# ---------------------------------------------------------------- the date range


def test_a_date_range_holds_both_whole_days(client, as_editor, day):
    _, headers = as_editor
    assert listed(client, headers, "start_date=2025-03-10&end_date=2025-03-10") == ["last", "mid", "first"]
    assert exported(client, headers, "start_date=2025-03-10&end_date=2025-03-10") == ["last", "mid", "first"]
    assert listed(client, headers, "start_date=2025-03-09&end_date=2025-03-10") == ["last", "mid", "first", "before"]
    assert listed(client, headers, "end_date=2025-03-09") == ["before"]


@pytest.mark.parametrize("query, shown", [
    # The end holds the whole of the last unit it names; the start begins at the instant it names.
    ("start_date=2025-03-10T10:30&end_date=2025-03-10T10:30", ["mid"]),
    ("start_date=2025-03-10T10:30:15&end_date=2025-03-10T10:30:15", ["mid"]),
    ("start_date=2025-03-10T10:30:15.500&end_date=2025-03-10T10:30:15.500", ["mid"]),
    ("start_date=2025-03-10T10:30:15.501&end_date=2025-03-10", ["last"]),
    ("start_date=2025-03-10T00:00:00.001&end_date=2025-03-10T10:30:15.499", []),
    ("start_date=2025-03-10T10:29&end_date=2025-03-10T10:29", []),
    # RFC 3339 senders (.NET, Java, Go) write up to 9 fraction digits.
    ("start_date=2025-03-10T10:30:15.5000000Z&end_date=2025-03-10T10:30:15.500999999Z", ["mid"]),
    ("start_date=2025-03-10T10:30:15.501000000Z&end_date=2025-03-10", ["last"]),
    # A zone is converted to UTC; none means UTC.
    ("start_date=2025-03-10T12:30%2B02:00&end_date=2025-03-10T12:30%2B02:00", ["mid"]),
    ("start_date=2025-03-10T10:30:15Z&end_date=2025-03-10T05:30:15-05:00", ["mid"]),
    ("start_date=2025-03-10T11:30:16%2B01:00&end_date=2025-03-10", ["last"]),
    # A "+" left unencoded arrives as a space: before a final offset, that is what it was.
    ("start_date=2025-03-10T12:30+02:00&end_date=2025-03-10+12:30:15.5+02:00", ["mid"]),
    ("start_date=2025-03-10T11:30:16%2001:00&end_date=2025-03-10", ["last"]),
])
def test_date_times_bound_to_the_precision_written(client, as_editor, day, query, shown):
    _, headers = as_editor
    assert listed(client, headers, query) == shown


@pytest.mark.parametrize("query, shown", [
    # The end holds the unit of its fraction's last digit: .5 is .500 to .599, .50 .500 to .509.
    ("start_date=2025-03-10T10:30:15.4&end_date=2025-03-10T10:30:15.5", [".599", ".509", ".501", ".500"]),
    ("start_date=2025-03-10T10:30:15.5&end_date=2025-03-10T10:30:15.50", [".509", ".501", ".500"]),
    ("start_date=2025-03-10T10:30:15.501&end_date=2025-03-10T10:30:15.5", [".599", ".509", ".501"]),
    ("start_date=2025-03-10T10:30:15.51&end_date=2025-03-10T10:30:15.6Z", [".600", ".599"]),
    ("start_date=2025-03-10T10:30:15.4&end_date=2025-03-10T10:30:15.4", []),
    ("start_date=2025-03-10T10:30:15.5&end_date=2025-03-10T10:30:15.500", [".500"]),
])
def test_an_end_with_a_fraction_holds_its_last_digits_unit(client, as_editor, query, shown):
    _, headers = as_editor
    for offset in (0, 1, 9, 99, 100):
        add_log(f".{500 + offset}", created_at=MID + offset)
    assert listed(client, headers, query) == exported(client, headers, query) == shown


def test_the_narrower_of_the_dates_and_the_epoch_bounds_wins(client, as_editor, day):
    _, headers = as_editor
    query = f"start_date=2025-03-10&since={DAY0 + 1}&end_date=2025-03-10&until={DAY0 + DAY_MS - 2}"
    assert listed(client, headers, query) == ["mid"]
    query = f"start_date=2025-03-10T10:30&since={DAY0}&end_date=2025-03-11&until={DAY0 + DAY_MS - 1}"
    assert listed(client, headers, query) == ["last", "mid"]


@pytest.mark.parametrize("path", [LIST, EXPORT])
@pytest.mark.parametrize("query, parameter", [
    ("start_date=yesterday", "start_date"),
    ("end_date=2025-02-30", "end_date"),
    ("end_date=2025-03-10T24:00", "end_date"),
    ("end_date=2025-03-10T10:30%2B25:00", "end_date"),
    # Each field within its range, whatever the Python version's fromisoformat would take.
    ("end_date=2025-03-10T10:30%2B00:99", "end_date"),
    ("start_date=2025-03-10T10:30-00:60", "start_date"),
    ("start_date=2025-03-10T10:60", "start_date"),
    ("end_date=2025-03-10T10:30:60Z", "end_date"),
    ("start_date=2025-13-01", "start_date"),
    ("end_date=2025-03-10T10:30:15.1234567890", "end_date"),
    ("end_date=2025-03-10T10:30++02:00", "end_date"),
    ("start_date=10/03/2025", "start_date"),
    ("start_date=%EF%BC%92025-03-10", "start_date"),  # a full-width digit is no ASCII digit
    ("end_date=1741564800000", "end_date"),
    ("end_date=2025-03-10T10:30.5", "end_date"),  # a fraction follows seconds: ISO reads this as a decimal minute
    # Past the years 0001 to 9999 once in UTC.
    ("start_date=0001-01-01T00:00%2B00:01", "start_date"),
    ("end_date=9999-12-31T23:59-00:01", "end_date"),
])
def test_a_date_that_cannot_bound_the_range_is_a_400_naming_it(client, as_editor, path, query, parameter):
    _, headers = as_editor
    [problem] = refusal(client, headers, path, query)
    assert problem["parameter"] == parameter and problem["message"]


@pytest.mark.parametrize("path", [LIST, EXPORT])
@pytest.mark.parametrize("query", ["start_date=2025-03-11&end_date=2025-03-10",
                                   "start_date=2025-03-10T10:31&end_date=2025-03-10T10:30"])
def test_a_start_after_the_end_is_a_400_naming_both(client, as_editor, path, query):
    _, headers = as_editor
    assert refusal(client, headers, path, query) == [
        {"parameter": "start_date", "message": "must not be after end_date"},
        {"parameter": "end_date", "message": "must not be before start_date"}]


def test_a_range_of_one_instant_is_no_inverted_range(client, as_editor, day):
    _, headers = as_editor
    assert listed(client, headers, "start_date=2025-03-10T23:59:59.999&end_date=2025-03-10") == ["last"]


def test_every_bad_filter_is_named_at_once(client, as_editor):
    _, headers = as_editor
    details = refusal(client, headers, LIST, "level=loud&category=api&start_date=2025-13-01&status=1")
    assert [problem["parameter"] for problem in details] == ["level", "status", "start_date"]


@pytest.mark.parametrize("name, value", [
    ("level", "warn"), ("level", "warn,error"), ("level", " warn , error ,"), ("level", ","), ("level", "warn,,fatal"),
    ("level", "warn\t"), ("level", "WARN"), ("level", "warn error"), ("level", "warn;error"), ("category", " api"),
    ("category", "api,nope"), ("start_date", "2025-03-10"), ("start_date", "2025-03-10T10:30:15.123456789Z"),
    ("start_date", "2025-03-10 10:30 02:00"), ("start_date", "2025-03-10T10:30+00:99"), ("end_date", "2025-03-10T24:00"),
    ("end_date", "2025-03-10T10:30:15.1234567890"), ("end_date", "2025-3-10"), ("end_date", "2025-03-10T10:30.5"),
])
def test_the_documented_patterns_take_what_the_list_takes(client, as_editor, name, value):
    _, headers = as_editor
    parameters = client.get("/api/openapi.json").json["paths"][LIST]["get"]["parameters"]
    [pattern] = [parameter["schema"]["pattern"] for parameter in parameters if parameter["name"] == name]
    answer = client.get(LIST, {"end_date": "2025-03-10", name: value}, headers=headers, expect_errors=True)
    assert answer.status_int in (200, 400)
    assert (answer.status_int == 200) == (re.fullmatch(pattern, value) is not None)


# ---------------------------------------------------------------- source


def test_source_matches_exactly(client, as_editor):
    _, headers = as_editor
    add_log("requests", source="request-logs")
    add_log("longer", created_at=DAY0 + 1, source="request-logs-2")
    add_log("cased", created_at=DAY0 + 2, source="Request-Logs")
    add_log("none", created_at=DAY0 + 3)
    add_log("wildcard", created_at=DAY0 + 4, source="request%")
    assert listed(client, headers, f"source=request-logs&{DAY}") == ["requests"]
    assert listed(client, headers, f"source=request%25&{DAY}") == ["wildcard"]
    assert exported(client, headers, f"source=Request-Logs&{DAY}") == ["cased"]
    assert listed(client, headers, f"source=&{DAY}") == ["wildcard", "none", "cased", "longer", "requests"]


def test_filters_combine(client, as_editor):
    _, headers = as_editor
    add_log("kept", created_at=MID, level="error", category="auth", source="sso")
    add_log("other source", created_at=MID, level="error", category="auth", source="form")
    add_log("other level", created_at=MID, level="info", category="auth", source="sso")
    add_log("other day", created_at=MID - DAY_MS, level="error", category="auth", source="sso")
    query = "level=warn,error&category=auth,api&source=sso&start_date=2025-03-10&end_date=2025-03-10"
    assert listed(client, headers, query) == exported(client, headers, query) == ["kept"]


# ---------------------------------------------------------------- the admin page


def page_messages(page):
    return [row.select("td")[3].contents[0].strip() for row in page.html.select("table.logs tbody tr")]


def filter_form(page):
    [form] = [form for form in page.forms.values() if form.action == "/admin/logs" and form.method.upper() == "GET"]
    return form


def test_the_pages_form_offers_the_new_filters(browser, signed_in_as, levels):
    signed_in_as("editor")
    add_log("a warn from sso", created_at=DAY0 + 10, level="warn", source="sso")
    form = filter_form(browser.get("/admin/logs"))
    form["level"] = ["warn", "error"]
    form["source"] = "sso"
    form["start_date"] = "2025-03-10T00:00"
    form["end_date"] = "2025-03-10T00:00"
    page = form.submit()
    assert page_messages(page) == ["a warn from sso"]
    assert {option["value"] for option in page.html.select("#l-level option[selected]")} == {"warn", "error"}
    assert page.html.select_one("#l-source")["value"] == "sso"
    assert page.html.select_one("#l-end")["value"] == "2025-03-10T00:00"
    exported_rows = browser.get(page.html.select_one("#export-json")["href"]).json["data"]
    assert [entry["message"] for entry in exported_rows] == ["a warn from sso"]
    form = filter_form(page)
    form["source"] = ""
    assert page_messages(form.submit()) == ["a warn from sso", "a error", "a warn"]


def test_the_page_takes_comma_lists_and_dates_and_names_what_it_cannot_read(browser, signed_in_as, levels, day):
    signed_in_as("editor")
    assert page_messages(browser.get(f"/admin/logs?level=warn,fatal&{DAY}")) == ["a fatal", "a warn"]
    assert page_messages(browser.get("/admin/logs?start_date=2025-03-10T10:00&end_date=2025-03-10T10:30")) == ["mid"]
    assert page_messages(browser.get("/admin/logs?since=2025-03-10T10:00&until=2025-03-10T10:30")) == ["mid"]
    page = browser.get("/admin/logs?category=system&level=loud,info&start_date=2025-03-11&end_date=2025-03-10")
    assert "left out of the filter: level, start_date, end_date" in page.text
    page = browser.get("/admin/logs?end_date=2025-03-40")
    assert "left out of the filter: end_date" in page.text
    for query in ("start_date=0001-01-01T00:00 23:59", "end_date=9999-12-31T23:59-00:01"):  # past UTC's calendar
        page = browser.get(f"/admin/logs?{query}")
        assert "left out of the filter: " + query.split("=")[0] in page.text


def range_shown(page):
    return [(page.html.select_one(f"#l-{side}")["value"], page.html.select_one(f"#l-{side}").get("step"))
            for side in ("start", "end")]


@pytest.mark.parametrize("query, shown, rows", [
    # A date alone: its first minute, and its last (which as an end means up to 23:59:59.999).
    ("start_date=2025-03-10&end_date=2025-03-10", [("2025-03-10T00:00", None), ("2025-03-10T23:59", None)],
     ["last", "mid", "first"]),
    # A zone or an offset: the same instant in UTC, to the second or millisecond it names.
    ("start_date=2025-03-10T12:30:15%2B02:00&end_date=2025-03-10T10:30:15.5Z",
     [("2025-03-10T10:30:15", "1"), ("2025-03-10T10:30:15.599", "0.001")], ["mid"]),
    ("since=2025-03-10T10:30:15.500-00:00&until=2025-03-11T00:59:58%2B01:00",
     [("2025-03-10T10:30:15.500", "0.001"), ("2025-03-10T23:59:58", "1")], ["mid"]),
    ("start_date=2025-03-10T10:30:15.500000Z&end_date=2025-03-11T00:59:59%2B01:00",  # ends with the minute
     [("2025-03-10T10:30:15.500", "0.001"), ("2025-03-10T23:59", None)], ["last", "mid"]),
    ("end_date=2025-03-09T19:00-05:00", [("", None), ("2025-03-10T00:00", None)], ["first", "before"]),
])
def test_the_pages_range_inputs_show_the_range_applied_and_apply_it_again(browser, signed_in_as, day, query,
                                                                         shown, rows):
    signed_in_as("editor")
    page = browser.get(f"/admin/logs?{query}")
    assert range_shown(page) == shown and page_messages(page) == rows
    again = filter_form(page).submit()
    assert range_shown(again) == shown and page_messages(again) == rows


def test_the_pages_selects_show_the_lists_applied(browser, signed_in_as, levels):
    signed_in_as("editor")
    page = browser.get(f"/admin/logs?level=loud,info&category=system,&category=%20auth&{DAY}")
    assert "left out of the filter: level" in page.text
    assert page.html.select("#l-level option[selected]") == []  # info was not applied: not shown chosen
    assert [option["value"] for option in page.html.select("#l-category option[selected]")] == ["auth", "system"]


# A single-valued filter given several times: the last non-empty value, on every surface.
REPEATED = [
    ("status=404&status=", ["a 404"]),
    ("status=500&status=404&status=", ["a 404"]),
    ("status=&status=500", ["a 500"]),
    ("source=sso&source=", ["a 404"]),
    ("search=500&search=", ["a 500"]),
    ("start_date=2025-03-10T00:00:00.001&start_date=", ["a 500"]),
    # Whitespace alone is no value either, and the text filters are read trimmed.
    ("status=404&status=%20", ["a 404"]),
    ("user=logs-user&user=%20", ["a 404"]),
    ("source=sso&source=%20", ["a 404"]),
    ("source=%20sso", ["a 404"]),
    ("user=%20logs-user%20", ["a 404"]),
]


@pytest.fixture
def statuses():
    create_user("viewer", id="logs-user")
    add_log("a 404", status_code=404, level="warn", source="sso", user="logs-user")
    add_log("a 500", created_at=DAY0 + 1, status_code=500, level="error")


@pytest.mark.parametrize("query, messages", REPEATED)
def test_the_list_takes_a_repeated_filters_last_non_empty_value(client, as_editor, statuses, query, messages):
    _, headers = as_editor
    assert listed(client, headers, f"{DAY}&{query}") == exported(client, headers, f"{DAY}&{query}") == messages


@pytest.mark.parametrize("query, messages", REPEATED)
def test_the_page_takes_a_repeated_filters_last_non_empty_value_as_the_list_does(browser, signed_in_as, statuses,
                                                                                 query, messages):
    signed_in_as("editor")
    page = browser.get(f"/admin/logs?{DAY}&{query}")
    assert page_messages(page) == messages
    for export in (page.html.select_one("#export-json")["href"], f"/admin/logs/export?format=json&{DAY}&{query}"):
        assert [entry["message"] for entry in browser.get(export).json["data"]] == messages


@pytest.mark.parametrize("query, messages", REPEATED)
def test_the_search_takes_a_repeated_filters_last_non_empty_value_as_the_list_does(client, browser, signed_in_as,
                                                                                   make_user, statuses, query,
                                                                                   messages):
    signed_in_as("editor")
    fields = parse_qsl(f"{DAY}&{query}", keep_blank_values=True)
    answer = browser.post("/admin/logs/search", [("csrf_token", csrf_token(browser)), *fields])
    assert row_messages(answer) == messages
    # As htmx's json-enc sends a form: a field given several times as a list of its values.
    body = {name: [value for given, value in fields if given == name] for name, _ in fields}
    body = {name: values[0] if len(values) == 1 else values for name, values in body.items()}
    _, headers = make_user("editor")
    assert row_messages(client.post_json("/admin/logs/search", body, headers=headers)) == messages


def test_the_pages_older_range_names_take_their_last_non_empty_value(browser, signed_in_as, day):
    signed_in_as("editor")
    query = "since=2025-03-10T10:00&since=&until=2025-03-10T10:30&until="
    assert page_messages(browser.get(f"/admin/logs?{query}")) == ["mid"]


# ---------------------------------------------------------------- POST /admin/logs/search


def row_messages(response):
    return [row.select("td")[3].contents[0].strip() for row in response.html.select("tr")]


def test_the_search_answers_the_newest_twenty_rows_of_a_form(browser, signed_in_as):
    signed_in_as("editor")
    for number in range(25):
        add_log(f"entry {number:02}", created_at=DAY0 + number, level=("warn", "error")[number % 2])
    add_log("elsewhere", category="auth", level="error")
    answer = browser.post("/admin/logs/search", [
        ("csrf_token", csrf_token(browser)), ("level", "warn"), ("level", "error"), ("category", "system"),
        ("end_date", "2025-03-10")])
    assert answer.content_type == "text/html" and "<html" not in answer.text
    assert row_messages(answer) == [f"entry {number:02}" for number in range(24, 4, -1)]
    assert answer.html.select_one("tr a.log-link")["href"].startswith("/admin/logs/")


def test_the_search_takes_a_json_body_from_htmx_and_api_clients(client, browser, signed_in_as, make_user, day):
    signed_in_as("editor")
    add_log("mid from sso", created_at=MID + 1, source="sso")
    body = {"category": ["system"], "source": "sso", "start_date": "2025-03-10", "end_date": "2025-03-10"}
    htmx = {"X-CSRF-Token": csrf_token(browser), "HX-Request": "true"}
    assert row_messages(browser.post_json("/admin/logs/search", body, headers=htmx)) == ["mid from sso"]
    _, editor = make_user("editor")
    answer = client.post_json("/admin/logs/search", {"level": "info", "startDate": "2025-03-10T10:30",
                                                      "end_date": "2025-03-10T10:30", "search": "mid"}, headers=editor)
    assert row_messages(answer) == ["mid from sso", "mid"]
    empty = client.post_json("/admin/logs/search", {"end_date": "2000-01-01"}, headers=editor)
    assert empty.html.select_one("td").get_text() == "No log entries match."


def test_the_search_reads_the_user_and_the_range_as_the_page_does(client, browser, signed_in_as, make_user, day):
    editor = signed_in_as("editor")
    add_log("mid by the editor", created_at=MID + 1, user=editor.id)
    add_log("late by the editor", created_at=DAY0 + DAY_MS - 2, user=editor.id)
    form = {"csrf_token": csrf_token(browser), "user": editor.email, "since": "2025-03-10T10:00",
            "until": "2025-03-10T10:30"}
    assert row_messages(browser.post("/admin/logs/search", form)) == ["mid by the editor"]
    page = browser.get("/admin/logs", {name: value for name, value in form.items() if name != "csrf_token"})
    assert page_messages(page) == ["mid by the editor"]
    _, headers = make_user("editor")
    body = {"user": editor.id, "since": "2025-03-10T10:31", "end_date": "2025-03-10"}
    assert row_messages(client.post_json("/admin/logs/search", body, headers=headers)) == ["late by the editor"]
    refused = client.post_json("/admin/logs/search", {"since": "1741564800000"}, headers=headers, status=400).json
    assert [problem["parameter"] for problem in refused["details"]] == ["start_date"]  # as the page names it


def test_a_search_form_is_read_as_the_pages_query_string(browser, signed_in_as):
    signed_in_as("editor")
    add_log("a 404", status_code=404, level="warn")
    add_log("a 500", created_at=DAY0 + 1, status_code=500, level="error")
    token = csrf_token(browser)
    answer = browser.post("/admin/logs/search", [
        # htmx sends every field of the form: its named submit button, its page, a second token.
        ("csrf_token", token), ("apply", ""), ("page", "2"), ("limit", "5"), ("csrf_token", token),
        ("status", "404"), ("status", "500"), ("level", "warn"), ("level", "error"), ("end_date", "2025-03-10")])
    assert row_messages(answer) == ["a 500"]  # the last status given; every level
    answer = browser.post("/admin/logs/search", [
        ("csrf_token", token), ("status", "404"), ("status", ""), ("end_date", "2025-03-10")])
    assert row_messages(answer) == ["a 404"]  # an empty copy does not undo the value before it


@pytest.mark.parametrize("body, parameters", [
    ({"level": "loud"}, ["level"]),
    ({"category": ["api", "nope"], "end_date": "2025-02-30"}, ["category", "end_date"]),
    ({"start_date": "2025-03-11", "end_date": "2025-03-10"}, ["start_date", "end_date"]),
    ({"status": "many"}, ["status"]),
])
def test_a_search_with_a_bad_filter_is_a_400_naming_it(client, make_user, body, parameters):
    _, editor = make_user("editor")
    refused = client.post_json("/admin/logs/search", body, headers=editor, status=400).json
    assert refused["error"] == "Invalid search filters"
    assert [problem["parameter"] for problem in refused["details"]] == parameters


@pytest.mark.parametrize("headers", [{}, {"HX-Request": "true", "Accept": "*/*"}])
def test_a_browser_or_htmx_is_answered_a_bad_filter_as_a_row_naming_it(browser, signed_in_as, headers):
    signed_in_as("editor")
    add_log("not searched")
    form = {"csrf_token": csrf_token(browser), "level": "loud,info", "start_date": "2025-03-11", "end_date": "2025-03-10"}
    refused = browser.post("/admin/logs/search", form, headers=headers, status=400)
    assert refused.content_type == "text/html" and "<html" not in refused.text
    [row] = refused.html.select("tr")
    assert [item.code.get_text() for item in row.select("li")] == ["level", "start_date", "end_date"]
    assert "must be one of debug, info" in row.get_text() and "not searched" not in refused.text


@pytest.mark.parametrize("body, field", [({"level": 5}, "level"), ({"status": True}, "status"),
                                         ({"since": 1741564800000}, "since")])
def test_a_search_filter_of_another_type_is_a_422(client, make_user, body, field):
    _, editor = make_user("editor")
    refused = client.post_json("/admin/logs/search", body, headers=editor, status=422).json
    assert refused["details"][0]["field"] == field


def test_a_json_search_ignores_the_other_fields_json_enc_sends(client, make_user):
    _, editor = make_user("editor")
    add_log("kept row", level="error")
    add_log("other row", level="info")
    body = {"level": "error", "csrf_token": "x", "apply": "", "page": "1", "levels": "info"}
    found = client.post_json("/admin/logs/search", body, headers=editor)
    assert "kept row" in found.text and "other row" not in found.text


def test_the_search_is_an_admin_post_like_the_others(env, browser, signed_in_as, make_user):
    signed_in_as("editor")
    add_log("secret row")
    form = {"level": "info", "end_date": "2025-03-10"}
    browser.post("/admin/logs/search", form, status=403)  # no CSRF token
    refused = browser.post("/admin/logs/search", {**form, "csrf_token": csrf_token(browser)},
                           headers={"Sec-Fetch-Site": "same-site", "Origin": "https://evil.example.com"}, status=403)
    assert "secret row" not in refused.text
    assert row_messages(browser.post("/admin/logs/search", {**form, "csrf_token": csrf_token(browser)})) == [
        "secret row"]
    anonymous = client_for(env)
    anonymous.post_json("/admin/logs/search", form, headers={"X-CSRF-Token": csrf_token(anonymous)}, status=401)
    for role in ("viewer", "author"):
        _, headers = make_user(role)
        assert "secret row" not in anonymous.post_json("/admin/logs/search", form, headers=headers, status=403).text
