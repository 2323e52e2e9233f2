"""Log administration over the JSON API: one row, the categories' settings, export and cleanup."""

import csv
import io
import re

import pytest

from app.db.models import LogConfig, SystemLog, now_ms
from app.services.log_buffer import flush_process_buffer
from tests.fixtures.app import client_for

pytestmark = pytest.mark.backends

DAY_MS = 24 * 3600 * 1000
T0 = 1_767_225_600_000  # 2026-01-01 00:00 UTC
FILENAME = re.compile(r'attachment; filename="sonicpy-logs-\d{8}T\d{6}Z\.(csv|json)"')


def add_log(message, category="system", level="info", created_at=T0, **fields):
    return SystemLog.create(level=level, category=category, message=message, created_at=created_at, **fields)


def csv_rows(response):
    return list(csv.reader(io.StringIO(response.text)))


# ---------------------------------------------------------------- one row


def test_one_row_is_the_lists_row(client, as_editor):
    _, headers = as_editor
    row = add_log("GET /api/nope 404", category="api", level="warn", status_code=404, url="/api/nope",
                  method="GET", data={"status": 404, "duration_ms": 3})
    listing = client.get("/admin/api/logs?category=api&search=nope", headers=headers)
    listed = listing.json["data"]
    one = client.get(f"/admin/api/logs/{row.id}", headers=headers)
    assert one.json == {"data": listed[0]} and listed[0]["id"] == row.id
    assert one.headers["Cache-Control"] == listing.headers["Cache-Control"] == "no-store"
    assert client.get("/admin/api/logs/config", headers=headers).headers["Cache-Control"] == "no-store"


def test_an_unknown_row_is_a_404(client, as_editor):
    _, headers = as_editor
    refused = client.get("/admin/api/logs/no-such-row", headers=headers, status=404).json
    assert refused == {"error": "Log entry not found"}


def test_secret_parameters_never_show_even_when_stored_unfiltered(client, as_editor):
    _, headers = as_editor
    # A writer that skipped the filter (request rows are filtered when written).
    row = add_log("GET /admin/reset-password 200", category="api", url="/admin/reset-password?token=raw-secret&x=1")
    shown = client.get(f"/admin/api/logs/{row.id}", headers=headers).json["data"]
    assert shown["url"] == "/admin/reset-password?token=[FILTERED]&x=1"
    exported = client.get("/admin/api/logs/export?format=csv&category=api", headers=headers)
    assert "raw-secret" not in exported.text and "token=[FILTERED]&x=1" in exported.text
    assert "raw-secret" not in client.get("/admin/api/logs/export?format=json", headers=headers).text


def test_a_requests_secret_is_filtered_before_it_reaches_the_export(client, as_editor, held):
    _, headers = as_editor
    client.get("/api/collections?token=mailed-secret&apiKey=k-secret&accessTokens=t-secret&pin=p-secret"
               "&passphrase=s-secret&page=1", status=200)
    flush_process_buffer()
    exported = client.get("/admin/api/logs/export?format=json&search=/api/collections", headers=headers).json
    [entry] = [entry for entry in exported["data"] if entry["url"].startswith("/api/collections?")]
    assert entry["url"] == ("/api/collections?token=[FILTERED]&apiKey=[FILTERED]&accessTokens=[FILTERED]"
                            "&pin=[FILTERED]&passphrase=[FILTERED]&page=1")


def test_a_secret_parameter_whose_name_is_percent_encoded_is_filtered_too(client, as_editor, held):
    _, headers = as_editor
    # The app reads %74oken as token; no other text of the query names a secret.
    client.get("/api/collections?%74oken=mailed1&page=1", status=200)
    flush_process_buffer()
    exported = client.get("/admin/api/logs/export?format=json&search=/api/collections", headers=headers).json
    [entry] = [entry for entry in exported["data"] if entry["url"].startswith("/api/collections?")]
    assert entry["url"] == "/api/collections?%74oken=[FILTERED]&page=1"
    assert SystemLog.get_by_id(entry["id"]).url == entry["url"]  # filtered as written, not only as shown
    assert set(entry) == set(client.get(f"/admin/api/logs/{entry['id']}", headers=headers).json["data"])


# ---------------------------------------------------------------- settings


def test_every_category_has_its_settings(client, as_editor):
    _, headers = as_editor
    LogConfig.delete().where(LogConfig.category == "media").execute()
    configs = client.get("/admin/api/logs/config", headers=headers).json["data"]
    assert [config["category"] for config in configs] == [
        "auth", "api", "workflow", "plugin", "media", "system", "security", "error"]
    by_name = {config["category"]: config for config in configs}
    assert by_name["security"] == {"category": "security", "enabled": True, "level": "warn", "retention_days": 180,
                                   "max_size_mb": 100, "configured": True, "updated_at": 1735689600000}
    # No row: everything logged and kept, as the request log treats it.
    assert by_name["media"] == {"category": "media", "enabled": True, "level": "debug", "retention_days": None,
                                "max_size_mb": None, "configured": False, "updated_at": None}


def test_a_change_keeps_the_fields_it_does_not_name(client, as_admin):
    _, headers = as_admin
    before = now_ms()
    changed = client.put_json("/admin/api/logs/config/auth", {"level": "error", "retention_days": 7},
                              headers=headers).json["data"]
    assert {key: changed[key] for key in ("enabled", "level", "retention_days", "max_size_mb")} == {
        "enabled": True, "level": "error", "retention_days": 7, "max_size_mb": 50}
    assert changed["updated_at"] >= before
    row = LogConfig.get(LogConfig.category == "auth")
    assert (row.level, row.retention_days, row.max_size_mb) == ("error", 7, 50)
    # SonicJS posts the change; camelCase is read too, as everywhere in the API.
    client.post_json("/admin/api/logs/config/auth", {"enabled": False, "maxSizeMb": 10}, headers=headers, status=200)
    row = LogConfig.get(LogConfig.category == "auth")
    assert (row.enabled, row.level, row.max_size_mb) == (False, "error", 10)


def test_a_category_without_a_row_gets_one(client, as_admin):
    _, headers = as_admin
    LogConfig.delete().where(LogConfig.category == "plugin").execute()
    refused = client.put_json("/admin/api/logs/config/plugin", {"enabled": True}, headers=headers, status=422).json
    assert refused["details"][0]["field"] == "retention_days"
    assert not LogConfig.select().where(LogConfig.category == "plugin").exists()
    changed = client.put_json("/admin/api/logs/config/plugin", {"retention_days": 3}, headers=headers).json["data"]
    # Logged at every level, as it was without a row: only the retention named changes what it keeps.
    assert (changed["configured"], changed["enabled"], changed["level"], changed["retention_days"]) == (
        True, True, "debug", 3)
    assert LogConfig.select().where(LogConfig.category == "plugin").count() == 1


@pytest.mark.parametrize("body, field", [
    ({"level": "loud"}, "level"),
    ({"retention_days": -1}, "retention_days"),
    ({"retention_days": 0}, "retention_days"),
    ({"retention_days": 36_501}, "retention_days"),
    ({"max_size_mb": 0}, "max_size_mb"),
    ({"enabled": "yes"}, "enabled"),
    ({"category": "api"}, "category"),
])
def test_a_bad_value_is_a_422_naming_its_field(client, as_admin, body, field):
    _, headers = as_admin
    refused = client.put_json("/admin/api/logs/config/api", body, headers=headers, status=422).json
    assert refused["error"] == "Validation failed" and refused["details"][0]["field"] == field
    assert LogConfig.get(LogConfig.category == "api").updated_at == 1735689600000  # unchanged


def test_an_unknown_category_is_a_404_and_an_empty_change_a_400(client, as_admin):
    _, headers = as_admin
    refused = client.put_json("/admin/api/logs/config/nope", {"level": "loud"}, headers=headers, status=404).json
    assert refused["error"] == "Unknown log category: nope" and "api" in refused["details"]["categories"]
    assert client.put_json("/admin/api/logs/config/api", {}, headers=headers, status=400).json == {
        "error": "No fields to update"}


def test_a_change_applies_to_the_next_rows_of_every_worker(env, client, as_admin, held):
    _, headers = as_admin
    other = client_for(env)  # another app over the same database: another worker
    other.get("/api/collections?before=1", status=200)
    client.put_json("/admin/api/logs/config/api", {"level": "warn"}, headers=headers, status=200)
    other.get("/api/collections?after=1", status=200)
    other.get("/api/content/missing-one", headers=headers, status=404)
    flush_process_buffer()  # log_config is read as the batch is written: the rows before the change too
    written = {row.url for row in SystemLog.select().where(SystemLog.category == "api")}
    assert "/api/content/missing-one" in written
    assert not {"/api/collections?before=1", "/api/collections?after=1"} & written
    client.put_json("/admin/api/logs/config/api", {"enabled": False}, headers=headers, status=200)
    other.get("/api/content/missing-two", headers=headers, status=404)
    flush_process_buffer()
    assert not SystemLog.select().where(SystemLog.url == "/api/content/missing-two").exists()


# ---------------------------------------------------------------- export


def test_the_export_is_the_filtered_list_as_csv(client, as_editor):
    _, headers = as_editor
    add_log("first", created_at=T0)
    add_log("second", created_at=T0 + 1, level="warn", status_code=404, url="/api/x?y=1", data={"k": [1, 2]})
    add_log("other category", category="auth", created_at=T0 + 2)
    response = client.get("/admin/api/logs/export?format=csv&category=system&until=" + str(T0 + DAY_MS),
                          headers=headers)
    assert response.content_type == "text/csv" and response.charset == "utf-8"
    assert FILENAME.fullmatch(response.headers["Content-Disposition"]).group(1) == "csv"
    assert response.headers["X-Export-Truncated"] == "false" and response.headers["Cache-Control"] == "no-store"
    header, *rows = csv_rows(response)
    listed = client.get("/admin/api/logs?category=system&until=" + str(T0 + DAY_MS), headers=headers).json["data"]
    assert header == list(listed[0]) and [row[header.index("message")] for row in rows] == ["second", "first"]
    second = dict(zip(header, rows[0], strict=True))
    assert (second["level"], second["status_code"], second["url"], second["data"]) == (
        "warn", "404", "/api/x?y=1", '{"k":[1,2]}')
    assert second["user_id"] == "" and second["created_at"] == str(T0 + 1)


@pytest.mark.parametrize("text", ["=HYPERLINK(\"http://evil.example\")", "+1+2", "-2+3", "@SUM(A1)", "\tx", "\rx", "\nx"])
def test_csv_cells_a_spreadsheet_would_run_start_with_a_quote(client, as_editor, text):
    _, headers = as_editor
    add_log(text, user_agent=text)
    add_log("plain 1-2 = 3", created_at=T0 + 1)
    _, *rows = csv_rows(client.get("/admin/api/logs/export?category=system", headers=headers))
    messages = [row[3] for row in rows]
    assert messages == ["plain 1-2 = 3", "'" + text] and rows[1][8] == "'" + text


def test_a_csv_cell_reads_as_the_json_value_as_in_the_forms_export(client, as_editor):
    _, headers = as_editor
    add_log("yes", data=True)
    add_log("no", data=False, created_at=T0 + 1)
    add_log("nothing", created_at=T0 + 2)
    header, *rows = csv_rows(client.get("/admin/api/logs/export?category=system", headers=headers))
    cells = {row[header.index("message")]: row[header.index("data")] for row in rows}
    assert cells == {"yes": "true", "no": "false", "nothing": ""}
    exported = client.get("/admin/api/logs/export?format=json&category=system", headers=headers).json["data"]
    assert [entry["data"] for entry in exported] == [None, False, True]


def test_the_json_export_says_what_it_holds(client, as_editor):
    _, headers = as_editor
    add_log("only", level="error")
    response = client.get("/admin/api/logs/export?format=json&level=error", headers=headers)
    assert FILENAME.fullmatch(response.headers["Content-Disposition"]).group(1) == "json"
    body = response.json
    assert [entry["message"] for entry in body["data"]] == ["only"]
    assert body["meta"]["count"] == 1 and body["meta"]["limit"] == 10_000 and body["meta"]["truncated"] is False
    assert abs(body["meta"]["exported_at"] - now_ms()) < DAY_MS


def seed_media_rows(count):
    """``count`` media rows ``bulk-00000``... (``row 0``...), one millisecond apart from T0, in
    one INSERT ... SELECT: the database makes the rows, no statement is built per row."""
    database = SystemLog._meta.database
    p = database.param
    database.execute_sql(
        f"WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < {p})"
        " INSERT INTO system_logs (id, level, category, message, created_at)"
        " SELECT 'bulk-' || substr(CAST(100000 + i AS TEXT), 2), 'info', 'media', 'row ' || CAST(i AS TEXT),"
        f" {p} + i FROM n", (count - 1, T0))


def test_the_export_holds_ten_thousand_rows_and_says_when_more_matched(client, as_editor):
    _, headers = as_editor
    seed_media_rows(10_001)
    response = client.get("/admin/api/logs/export?format=csv&category=media", headers=headers)
    _, *exported = csv_rows(response)
    assert response.headers["X-Export-Truncated"] == "true" and len(exported) == 10_000
    assert exported[0][0] == "bulk-10000" and exported[-1][0] == "bulk-00001"  # the newest
    body = client.get("/admin/api/logs/export?format=json&category=media", headers=headers).json
    assert body["meta"]["truncated"] is True and body["meta"]["count"] == len(body["data"]) == 10_000
    SystemLog.delete().where(SystemLog.id == "bulk-00000").execute()
    exactly = client.get("/admin/api/logs/export?format=json&category=media", headers=headers)
    assert exactly.headers["X-Export-Truncated"] == "false" and exactly.json["meta"]["truncated"] is False


@pytest.mark.parametrize("query, parameter", [("format=xml", "format"), ("format=", None), ("level=loud", "level")])
def test_a_bad_export_parameter_is_a_400(client, as_editor, query, parameter):
    _, headers = as_editor
    if parameter is None:  # an empty format is the default, CSV
        assert client.get(f"/admin/api/logs/export?{query}", headers=headers).content_type == "text/csv"
        return
    refused = client.get(f"/admin/api/logs/export?{query}", headers=headers, status=400).json
    assert refused["error"] == "Invalid query parameters" and refused["details"][0]["parameter"] == parameter


# ---------------------------------------------------------------- cleanup


def test_cleanup_applies_every_categorys_retention_now(client, as_admin):
    _, headers = as_admin
    now = now_ms()
    expired_api = add_log("old api", category="api", created_at=now - 31 * DAY_MS)  # api keeps 30 days
    kept_api = add_log("recent api", category="api", created_at=now - 29 * DAY_MS)
    expired_auth = add_log("old auth", category="auth", created_at=now - 91 * DAY_MS)  # auth keeps 90
    kept_auth = add_log("recent auth", category="auth", created_at=now - 89 * DAY_MS)
    LogConfig.delete().where(LogConfig.category == "media").execute()
    unconfigured = add_log("old media", category="media", created_at=now - 9999 * DAY_MS)  # no row: kept
    answer = client.post("/admin/api/logs/cleanup", headers=headers).json
    assert answer["success"] is True and answer["data"]["total"] == 2
    assert answer["data"]["deleted"] == {"auth": 1, "api": 1, "workflow": 0, "plugin": 0, "system": 0,
                                         "security": 0, "error": 0}
    remaining = {row.id for row in SystemLog.select(SystemLog.id)}
    assert {kept_api.id, kept_auth.id, unconfigured.id} <= remaining
    assert not {expired_api.id, expired_auth.id} & remaining
    assert client.post("/admin/api/logs/cleanup", headers=headers).json["data"]["total"] == 0


# ---------------------------------------------------------------- who may


def test_reading_needs_logs_read_and_writing_an_admin(env, client, make_user):
    row = add_log("a row", created_at=now_ms() - 400 * DAY_MS)
    reads = ["/admin/api/logs/" + row.id, "/admin/api/logs/config", "/admin/api/logs/export"]
    anonymous = client_for(env)
    for path in reads:
        anonymous.get(path, status=401)
    for role in ("viewer", "author"):
        _, headers = make_user(role)
        for path in reads:
            client.get(path, headers=headers, status=403)
    _, editor = make_user("editor")
    for path in reads:
        client.get(path, headers=editor, status=200)
    for role in ("viewer", "author", "editor"):
        _, headers = make_user(role)
        client.put_json("/admin/api/logs/config/system", {"level": "error"}, headers=headers, status=403)
        client.post_json("/admin/api/logs/config/system", {"level": "error"}, headers=headers, status=403)
        client.post("/admin/api/logs/cleanup", headers=headers, status=403)
    anonymous.post("/admin/api/logs/cleanup", status=401)
    assert LogConfig.get(LogConfig.category == "system").level == "info"
    assert SystemLog.get_or_none(SystemLog.id == row.id) is not None  # no cleanup ran
