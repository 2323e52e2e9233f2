"""Scheduling (A7): the API, and the cron job running each due action exactly once."""

import json
import os
import subprocess
import sys
import threading
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner

from app.cli import cli
from app.db.models import (
    Collection,
    Content,
    ContentVersion,
    ScheduledContent,
    User,
    WorkflowHistory,
    bind_models,
    now_ms,
)
from app.runtime.context import ScheduledEvent
from app.scheduled import run_scheduled
from app.services.content.scheduling import TOKEN_GONE, run_due
from tests.fixtures.app import PROJECT_ROOT, client_for, make_env
from tests.fixtures.busy_database import wait_for_a_lock_wait
from tests.fixtures.users import bearer, create_user, token_for
from tests.fixtures.workflow import content_row, history_rows, insert_content, insert_schedule, workflow_logs

pytestmark = pytest.mark.backends

HOUR_MS = 3600 * 1000


def iso_in(ms_from_now):
    """An ISO 8601 UTC date-time ``ms_from_now`` milliseconds ahead, and its epoch ms (whole seconds)."""
    ms = (now_ms() + ms_from_now) // 1000 * 1000
    return datetime.fromtimestamp(ms / 1000, tz=UTC).isoformat(), ms


def schedule(client, item, headers, expect=201, **body):
    return client.post_json(f"/api/content/{item.id}/schedule", body, headers=headers, status=expect)


def assert_envelope(resp, status_code):
    assert resp.status_code == status_code
    assert set(resp.json) <= {"error", "details"} and isinstance(resp.json["error"], str)


def cron_at(env, ms):
    """Fire the real cron handler as if the trigger ran at ``ms``."""
    return run_scheduled(ScheduledEvent("*/1 * * * *", ms), env)["run_scheduled_content"]


# --- creating schedules -----------------------------------------------------------------------


def test_schedule_publish_with_an_offset(client, make_user, make_content_row):
    author, _ = make_user("author")
    editor, headers = make_user("editor")
    item = make_content_row(author)
    text, ms = iso_in(2 * HOUR_MS)

    resp = schedule(client, item, headers, action="publish", scheduled_at=text)

    data = resp.json["data"]
    assert (data["action"], data["scheduled_at"], data["timezone"], data["status"]) == ("publish", ms, "UTC", "pending")
    assert data["user"]["id"] == editor.id and data["content"]["id"] == item.id
    assert data["scheduled_at_iso"] == text
    assert content_row(item.id)["scheduled_publish_at"] == ms
    assert ScheduledContent.get_by_id(data["id"]).scheduled_at == ms


def test_racing_schedules_leave_the_earliest_in_the_content_columns(env, make_user, make_content_row):
    """Two schedules of one item made at once: the mirror column holds the earlier one, whichever
    transaction commits last (on PostgreSQL each computed its minimum without the other's row)."""
    from app.services.content.scheduling import create_schedule

    author, _ = make_user("author")
    editor, _ = make_user("editor")
    item = make_content_row(author)
    db = env.DB.db
    earlier, later = iso_in(2 * HOUR_MS), iso_in(3 * HOUR_MS)
    first_made, second_started, failures = threading.Event(), threading.Event(), []

    def first():
        try:
            with db.atomic():  # the earlier schedule, committed only after the other has begun
                create_schedule(db, item.id, editor, "publish", earlier[0])
                first_made.set()
                second_started.wait(5)
                time.sleep(0.3)  # let the second reach its update (it waits on PostgreSQL's row lock)
        except Exception as ex:  # reported below
            failures.append(ex)
        finally:
            first_made.set()
            db.close()

    def second():
        try:
            first_made.wait(5)
            second_started.set()
            create_schedule(db, item.id, editor, "publish", later[0])
        except Exception as ex:  # reported below
            failures.append(ex)
        finally:
            db.close()

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(15)
    assert not failures, failures
    assert content_row(item.id)["scheduled_publish_at"] == earlier[1]


@pytest.mark.parametrize("db_backend", ["postgres"], indirect=True)  # SQLite's writers take turns: no row locks
def test_a_schedule_locks_its_item_before_it_inserts(env, make_user, make_content_row, monkeypatch):
    """On PostgreSQL the insert's foreign key check share-locks the item: locking it for the
    mirror columns only after that would let two schedules of one item deadlock."""
    from app.services.content.scheduling import create_schedule
    from tests.fixtures.app import record_statements

    author, _ = make_user("author")
    editor, _ = make_user("editor")
    item = make_content_row(author)
    recorded = record_statements(env.DB.db, monkeypatch)
    create_schedule(env.DB.db, item.id, editor, "publish", iso_in(2 * HOUR_MS)[0])
    statements = [sql for sql, _params in recorded]
    insert = next(n for n, sql in enumerate(statements) if sql.startswith('INSERT INTO "scheduled_content"'))
    assert any("FOR UPDATE" in sql and '"content"' in sql for sql in statements[:insert]), statements


def test_local_time_with_iana_timezone_is_stored_as_utc(client, make_user, make_content_row):
    author, _ = make_user("author")
    _, headers = make_user("editor")
    item = make_content_row(author, state="published")

    resp = schedule(client, item, headers, action="unpublish", scheduled_at="2035-07-01T09:00:00",
                    timezone="Europe/Paris")

    data = resp.json["data"]
    expected = int(datetime(2035, 7, 1, 7, 0, tzinfo=UTC).timestamp() * 1000)  # CEST is UTC+2
    assert (data["scheduled_at"], data["timezone"]) == (expected, "Europe/Paris")
    assert data["local_time"] == "2035-07-01T09:00:00+02:00"
    assert content_row(item.id)["scheduled_unpublish_at"] == expected


def test_epoch_milliseconds_are_accepted(client, make_user, make_content_row):
    author, _ = make_user("author")
    _, headers = make_user("editor")
    item = make_content_row(author, state="published")
    when = now_ms() + HOUR_MS

    assert schedule(client, item, headers, action="archive", scheduled_at=when).json["data"]["scheduled_at"] == when


@pytest.mark.parametrize("body, field, message", [
    ({"action": "publish", "scheduled_at": "2001-01-01T00:00:00Z"}, "scheduled_at",
     "scheduled_at must be in the future"),
    ({"action": "publish", "scheduled_at": 1000}, "scheduled_at", "scheduled_at must be in the future"),
    ({"action": "publish", "scheduled_at": 2**70}, "scheduled_at", None),
    ({"action": "publish", "scheduled_at": "2035-01-01T09:00:00Z", "timezone": "Europe/Paris\x00"}, "timezone", None),
    ({"action": "publish", "scheduled_at": "2035-01-01T09:00:00", "timezone": "Mars/Olympus"}, "timezone",
     "Unknown time zone 'Mars/Olympus' (expected an IANA name such as Europe/Paris)"),
    ({"action": "publish", "scheduled_at": "2035-01-01T09:00:00", "timezone": "../../etc/passwd"}, "timezone", None),
    ({"action": "publish", "scheduled_at": "2035-01-01T09:00:00"}, "scheduled_at",
     "scheduled_at has no UTC offset: add one or give a timezone"),
    ({"action": "publish", "scheduled_at": "next tuesday"}, "scheduled_at",
     "scheduled_at must be an ISO 8601 date-time or epoch milliseconds"),
    ({"action": "publish", "scheduled_at": "2035-03-25T02:30:00", "timezone": "Europe/Paris"}, "scheduled_at",
     "2035-03-25T02:30:00 does not exist in Europe/Paris (daylight-saving gap)"),
    ({"action": "publish", "scheduled_at": "9999-12-31T23:00:00-05:00"}, "scheduled_at",
     "scheduled_at must be before 9999-12-30"),
    ({"action": "publish", "scheduled_at": 253_402_300_799_999, "timezone": "Pacific/Kiritimati"}, "scheduled_at",
     "scheduled_at must be before 9999-12-30"),
    ({"action": "publish", "scheduled_at": "9999-12-31T23:59:59", "timezone": "America/New_York"}, "scheduled_at",
     "scheduled_at must be before 9999-12-30"),
    ({"action": "explode", "scheduled_at": "2035-01-01T09:00:00Z"}, "action", None),
    ({"action": "publish"}, None, None),
    ({"action": "publish", "scheduled_at": "2035-01-01T09:00:00Z", "status": "completed"}, None, None),
])
def test_invalid_schedules_are_422(client, make_user, make_content_row, body, field, message):
    author, _ = make_user("author")
    _, headers = make_user("editor")
    item = make_content_row(author)

    resp = schedule(client, item, headers, expect=422, **body)

    assert_envelope(resp, 422)
    if field:
        assert resp.json["details"][0]["field"] == field
    if message:
        assert resp.json["details"][0]["message"] == message
    assert ScheduledContent.select().count() == 0


def test_scheduling_needs_content_publish(client, make_user, make_content_row):
    author, author_headers = make_user("author")
    _, viewer_headers = make_user("viewer")
    item = make_content_row(author)
    body = {"action": "publish", "scheduled_at": iso_in(HOUR_MS)[0]}

    assert_envelope(schedule(client, item, author_headers, expect=403, **body), 403)
    assert_envelope(schedule(client, item, viewer_headers, expect=403, **body), 403)
    assert_envelope(client.post_json(f"/api/content/{item.id}/schedule", body, status=401), 401)
    assert_envelope(client.get("/api/schedules", headers=author_headers, status=403), 403)
    assert ScheduledContent.select().count() == 0


def test_scheduling_unknown_content_is_404(client, make_user):
    _, headers = make_user("editor")

    resp = client.post_json("/api/content/missing/schedule", {"action": "publish", "scheduled_at": iso_in(HOUR_MS)[0]},
                            headers=headers, status=404)

    assert resp.json == {"error": "Content not found"}


# --- listing and cancelling -------------------------------------------------------------------


def test_list_filters_and_paginates(client, make_user, make_content_row):
    author, _ = make_user("author")
    _, headers = make_user("admin")
    first, second = make_content_row(author), make_content_row(author, state="published")
    for hours in (3, 1, 2):
        schedule(client, first, headers, action="publish", scheduled_at=iso_in(hours * HOUR_MS)[0])
    cancelled = schedule(client, second, headers, action="unpublish", scheduled_at=iso_in(HOUR_MS)[0]).json["data"]
    client.delete(f"/api/schedules/{cancelled['id']}", headers=headers)

    everything = client.get("/api/schedules", headers=headers).json
    assert everything["meta"] == {"page": 1, "limit": 20, "total": 4, "pages": 1, "hasNext": False, "hasPrev": False}
    pending = client.get("/api/schedules", {"status": "pending"}, headers=headers).json["data"]
    assert [s["content_id"] for s in pending] == [first.id] * 3
    assert [s["scheduled_at"] for s in pending] == sorted(s["scheduled_at"] for s in pending)
    by_content = client.get("/api/schedules", {"content_id": second.id}, headers=headers).json["data"]
    assert [(s["id"], s["status"]) for s in by_content] == [(cancelled["id"], "cancelled")]
    page2 = client.get("/api/schedules", {"status": "pending", "limit": 2, "page": 2}, headers=headers).json
    assert page2["meta"] == {"page": 2, "limit": 2, "total": 3, "pages": 2, "hasNext": False, "hasPrev": True}
    assert page2["data"][0]["id"] == pending[2]["id"]
    assert client.get(f"/api/schedules/{pending[0]['id']}", headers=headers).json["data"] == pending[0]


@pytest.mark.parametrize("params", [{"status": "done"}, {"limit": "0"}, {"limit": "101"}, {"page": "x"},
                                    {"action": "delete"}])
def test_list_rejects_bad_parameters(client, make_user, params):
    _, headers = make_user("editor")

    assert_envelope(client.get("/api/schedules", params, headers=headers, status=400), 400)


def test_cancel_only_pending(client, make_user, make_content_row):
    author, author_headers = make_user("author")
    _, headers = make_user("editor")
    item = make_content_row(author)
    data = schedule(client, item, headers, action="publish", scheduled_at=iso_in(HOUR_MS)[0]).json["data"]
    url = f"/api/schedules/{data['id']}"

    assert_envelope(client.delete(url, headers=author_headers, status=403), 403)
    resp = client.delete(url, headers=headers)
    assert resp.json["data"]["status"] == "cancelled"
    assert content_row(item.id)["scheduled_publish_at"] is None
    again = client.delete(url, headers=headers, status=409)
    assert again.json == {"error": "Only pending schedules can be cancelled; this one is cancelled",
                          "details": {"status": "cancelled"}}
    assert client.delete("/api/schedules/nope", headers=headers, status=404).json == {"error": "Schedule not found"}


def test_completed_schedules_cannot_be_cancelled(client, env, make_user, make_content_row):
    author, _ = make_user("author")
    editor, headers = make_user("editor")
    row = insert_schedule(make_content_row(author), editor)
    cron_at(env, now_ms())

    assert_envelope(client.delete(f"/api/schedules/{row.id}", headers=headers, status=409), 409)


# --- the cron job -----------------------------------------------------------------------------


def test_due_publish_runs_through_the_cron_handler(client, env, make_user, make_content_row):
    author, _ = make_user("author")
    editor, headers = make_user("editor")
    item = make_content_row(author)
    data = schedule(client, item, headers, action="publish", scheduled_at=iso_in(HOUR_MS)[0]).json["data"]

    assert cron_at(env, now_ms())["due"] == 0  # not yet
    report = cron_at(env, data["scheduled_at"])

    assert report["completed"] == 1 and report["items"] == [
        {"id": data["id"], "content_id": item.id, "action": "publish", "status": "completed"}]
    row = content_row(item.id)
    assert (row["status"], row["workflow_state"], row["scheduled_publish_at"]) == ("published", "published", None)
    assert row["published_at"] is not None
    [history] = history_rows(item.id)
    assert history.user_id == editor.id
    assert history.metadata == {"schedule_id": data["id"], "scheduled_at": data["scheduled_at"], "action": "publish",
                                "source": "schedule"}
    [log] = workflow_logs(item.id)
    assert (log.source, log.data["schedule_id"], log.user_id) == ("schedule", data["id"], editor.id)
    done = client.get(f"/api/schedules/{data['id']}", headers=headers).json["data"]
    assert done["status"] == "completed" and done["executed_at"] is not None and done["error_message"] is None
    assert cron_at(env, data["scheduled_at"])["due"] == 0  # never twice


def test_a_due_publish_numbers_an_item_without_a_version_number_past_its_versions(env, make_user, make_content_row):
    # version_number emptied by hand after versions 1 and 2 were stored: the move numbers it 3.
    author, _ = make_user("author")
    editor, _ = make_user("editor")
    item = make_content_row(author, version_number=None)
    for number in (1, 2):
        ContentVersion.create(content=item.id, version=number, data={"title": item.title}, author=author.id)
    row = insert_schedule(item, editor)

    report = cron_at(env, now_ms())

    assert report["items"] == [{"id": row.id, "content_id": item.id, "action": "publish", "status": "completed"}]
    assert (content_row(item.id)["status"], content_row(item.id)["version_number"]) == ("published", 3)


def test_an_edit_by_someone_who_cannot_publish_withdraws_the_scheduled_publication(
        client, env, make_user, make_content_row):
    """A publisher scheduled the text they saw: an author's later text is not published unreviewed."""
    author, author_headers = make_user("author")
    _, editor_headers = make_user("editor")
    item = make_content_row(author)
    first = schedule(client, item, editor_headers, action="publish", scheduled_at=iso_in(HOUR_MS)[0]).json["data"]
    offline = schedule(client, item, editor_headers, action="archive", scheduled_at=iso_in(2 * HOUR_MS)[0]).json["data"]
    client.put_json(f"/api/content/{item.id}", {"title": "UNREVIEWED TEXT"}, headers=author_headers)
    cancelled = client.get(f"/api/schedules/{first['id']}", headers=editor_headers).json["data"]
    assert cancelled["status"] == "cancelled" and "cannot publish (role author)" in cancelled["error_message"]
    assert client.get(f"/api/schedules/{offline['id']}", headers=editor_headers).json["data"]["status"] == "pending"
    assert content_row(item.id)["scheduled_publish_at"] is None
    assert cron_at(env, first["scheduled_at"])["due"] == 0
    assert content_row(item.id)["status"] == "draft"
    client.get(f"/api/content/{item.id}", status=404)  # nothing unreviewed went public

    # An editor's own edit keeps the schedule.
    third = schedule(client, item, editor_headers, action="publish", scheduled_at=iso_in(HOUR_MS)[0]).json["data"]
    client.put_json(f"/api/content/{item.id}", {"title": "Reviewed text"}, headers=editor_headers)
    assert cron_at(env, third["scheduled_at"])["completed"] == 1
    assert client.get(f"/api/content/{item.id}").json["data"]["title"] == "Reviewed text"


def test_a_soft_delete_cancels_the_item_s_pending_schedules_and_a_restore_leaves_them_cancelled(
        client, env, make_user, make_content_row):
    """A trashed item is neither published nor taken offline by what was planned for it
    before; restored, it does not get those plans back."""
    author, _ = make_user("author")
    _, headers = make_user("editor")
    item, other = make_content_row(author), make_content_row(author)
    publish = schedule(client, item, headers, action="publish", scheduled_at=iso_in(HOUR_MS)[0]).json["data"]
    archive = schedule(client, item, headers, action="archive", scheduled_at=iso_in(2 * HOUR_MS)[0]).json["data"]
    untouched = schedule(client, other, headers, action="publish", scheduled_at=iso_in(HOUR_MS)[0]).json["data"]

    client.delete(f"/api/content/{item.id}", headers=headers, status=200)

    for data in (publish, archive):
        cancelled = client.get(f"/api/schedules/{data['id']}", headers=headers).json["data"]
        assert cancelled["status"] == "cancelled" and "moved to the trash" in cancelled["error_message"]
        assert cancelled["executed_at"] is None
    assert client.get(f"/api/schedules/{untouched['id']}", headers=headers).json["data"]["status"] == "pending"
    row = content_row(item.id)
    assert (row["scheduled_publish_at"], row["scheduled_unpublish_at"]) == (None, None)
    deleted = history_rows(item.id)[-1].metadata
    assert (deleted["action"], deleted["cancelled_schedules"]) == ("deleted", 2)

    restored = client.post(f"/api/content/{item.id}/restore", headers=headers, status=200).json["data"]
    assert restored["status"] == "draft"
    report = cron_at(env, archive["scheduled_at"])
    assert [ran["id"] for ran in report["items"]] == [untouched["id"]]
    assert content_row(item.id)["status"] == "draft"
    for data in (publish, archive):
        assert client.get(f"/api/schedules/{data['id']}", headers=headers).json["data"]["status"] == "cancelled"


def test_failing_actions_are_recorded_while_others_complete(env, make_user, make_content_row):
    author, _ = make_user("author")
    editor, _ = make_user("editor")
    former, _ = make_user("editor")
    publish_ok = insert_schedule(make_content_row(author), editor, scheduled_at=now_ms() - 4000)
    not_allowed = insert_schedule(make_content_row(author), editor, action="unpublish", scheduled_at=now_ms() - 3000)
    deleted = insert_schedule(make_content_row(author, deleted_at=now_ms()), editor, scheduled_at=now_ms() - 2000)
    inactive = insert_schedule(make_content_row(author), former, scheduled_at=now_ms() - 1500)
    User.update(is_active=False).where(User.id == former.id).execute()
    archive_ok = insert_schedule(make_content_row(author, state="published"), editor, action="archive",
                                 scheduled_at=now_ms() - 1000)

    report = cron_at(env, now_ms())

    assert (report["due"], report["completed"], report["failed"]) == (5, 2, 3)
    status = {row.id: (row.status, row.error_message) for row in ScheduledContent.select()}
    assert status[publish_ok.id] == ("completed", None)
    assert status[archive_ok.id] == ("completed", None)
    assert status[not_allowed.id] == ("failed", "Cannot unpublish content in state draft")
    assert status[deleted.id] == ("failed", "Content not found")
    assert status[inactive.id] == ("failed", "The user who scheduled this action is no longer active")
    assert ScheduledContent.get_by_id(not_allowed.id).executed_at is not None
    assert content_row(not_allowed.content_id)["status"] == "draft"
    assert history_rows(not_allowed.content_id) == [] and history_rows(deleted.content_id) == []
    assert content_row(archive_ok.content_id)["status"] == "archived"


def test_a_user_who_lost_publish_rights_cannot_publish_by_schedule(env, make_user, make_content_row):
    author, _ = make_user("author")
    editor, _ = make_user("editor")
    row = insert_schedule(make_content_row(author), editor)
    User.update(role="author").where(User.id == editor.id).execute()

    cron_at(env, now_ms())

    assert ScheduledContent.get_by_id(row.id).error_message == (
        "The user who scheduled this action may no longer schedule it (role author lacks content.publish)")


# --- whose rights a schedule runs with --------------------------------------------------------


def make_token(client, headers, permissions=("content.read", "content.publish"), **extra):
    """``(token id, Bearer headers)`` of a new API token of the user signed in by ``headers``."""
    body = {"name": "publisher script", "permissions": list(permissions), **extra}
    data = client.post_json("/api/tokens", body, headers=headers, status=201).json["data"]
    return data["id"], bearer(data["token"])


def refusal_logs(client, admin_headers, schedule_id):
    """The system log entries saying why schedule ``schedule_id`` did not run, read as an admin does."""
    entries = client.get("/admin/api/logs", {"category": "workflow", "source": "schedule", "level": "warn"},
                         headers=admin_headers).json["data"]
    return [entry for entry in entries if (entry["data"] or {}).get("schedule_id") == schedule_id]


def assert_not_run(client, env, item, data, headers, admin_headers, reason):
    """Run the cron at ``data``'s time: the schedule fails saying ``reason``, the item is as it
    was, and a warning in the system log says why."""
    before = content_row(item.id)
    report = cron_at(env, data["scheduled_at"])

    assert (report["completed"], report["failed"]) == (0, 1)
    assert content_row(item.id) == dict(before, scheduled_publish_at=None, scheduled_unpublish_at=None)
    assert history_rows(item.id) == [] and [log.level for log in workflow_logs(item.id)] == ["warn"]
    failed = client.get(f"/api/schedules/{data['id']}", headers=headers).json["data"]
    assert (failed["status"], failed["error_message"]) == ("failed", reason)
    assert failed["executed_at"] is not None
    [entry] = refusal_logs(client, admin_headers, data["id"])
    assert entry["message"] == f"Scheduled {data['action']} of {item.title} not run: {reason}"
    assert (entry["data"]["content_id"], entry["data"]["reason"]) == (item.id, reason)
    return entry


def test_a_schedule_made_with_a_revoked_token_does_not_run(client, env, make_user, make_content_row):
    """Revoking a token withdraws what it may do, later included: a script's schedules stop with it."""
    author, _ = make_user("author")
    editor, editor_headers = make_user("editor")
    _, admin_headers = make_user("admin")
    item = make_content_row(author)
    token_id, token = make_token(client, editor_headers)
    data = schedule(client, item, token, action="publish", scheduled_at=iso_in(HOUR_MS)[0]).json["data"]
    assert data["user"]["id"] == editor.id

    client.delete(f"/api/tokens/{token_id}", headers=editor_headers, status=200)

    entry = assert_not_run(client, env, item, data, editor_headers, admin_headers, TOKEN_GONE)
    assert (entry["user_id"], entry["data"]["api_token_id"]) == (editor.id, token_id)
    client.get(f"/api/content/{item.id}", status=404)  # still unpublished


def test_a_schedule_made_with_a_token_its_owners_new_password_deleted_does_not_run(
        client, env, make_user, make_content_row):
    """A new password deletes the user's tokens without anyone revoking them: the reason
    says the token is gone, not that it was revoked."""
    author, _ = make_user("author")
    editor, editor_headers = make_user("editor")
    _, admin_headers = make_user("admin")
    item = make_content_row(author)
    _, token = make_token(client, editor_headers)
    data = schedule(client, item, token, action="publish", scheduled_at=iso_in(HOUR_MS)[0]).json["data"]

    client.patch_json(f"/admin/api/users/{editor.id}", {"password": "a brand new password"}, headers=admin_headers)

    assert_not_run(client, env, item, data, admin_headers, admin_headers,
                   "The API token this action was scheduled with no longer exists: revoked, or deleted with all "
                   "its owner's tokens by a password or email change or a deactivation")


def test_a_token_cannot_schedule_past_its_own_expiry(client, make_user, make_content_row):
    """Such a schedule could only fail when it came due: it is refused while someone can fix it."""
    author, _ = make_user("author")
    _, editor_headers = make_user("editor")
    item = make_content_row(author)
    expires_at = (now_ms() + 2 * HOUR_MS) // 1000 * 1000
    _, token = make_token(client, editor_headers, expires_at=expires_at)

    for when in (iso_in(3 * HOUR_MS)[0], expires_at):
        resp = schedule(client, item, token, expect=422, action="publish", scheduled_at=when)
        expiry = datetime.fromtimestamp(expires_at / 1000, tz=UTC).isoformat()
        assert resp.json["details"] == [{"field": "scheduled_at", "message": (
            f"scheduled_at is after this API token expires ({expiry}): "
            "a schedule made with a token runs only while the token lasts")}]
    assert ScheduledContent.select().count() == 0
    schedule(client, item, token, action="publish", scheduled_at=expires_at - 1000)
    schedule(client, item, editor_headers, action="archive", scheduled_at=iso_in(3 * HOUR_MS)[0])  # a session may


def test_a_schedule_made_with_a_token_that_has_expired_does_not_run(client, env, make_user, make_content_row):
    author, _ = make_user("author")
    _, editor_headers = make_user("editor")
    _, admin_headers = make_user("admin")
    item = make_content_row(author, state="published")
    _, token = make_token(client, editor_headers, expires_at=now_ms() + 2 * HOUR_MS)
    data = schedule(client, item, token, action="archive", scheduled_at=iso_in(HOUR_MS)[0]).json["data"]

    # The runner comes round only after the token has expired (a cron that was down meanwhile).
    data["scheduled_at"] += 2 * HOUR_MS
    assert_not_run(client, env, item, data, editor_headers, admin_headers,
                   "The API token this action was scheduled with has expired")


def test_a_schedule_made_with_a_live_token_runs_with_the_token_s_rights(client, env, make_user, make_content_row):
    author, _ = make_user("author")
    editor, editor_headers = make_user("editor")
    item = make_content_row(author)
    _, token = make_token(client, editor_headers)
    data = schedule(client, item, token, action="publish", scheduled_at=iso_in(HOUR_MS)[0]).json["data"]

    assert cron_at(env, data["scheduled_at"])["completed"] == 1

    assert content_row(item.id)["status"] == "published"
    assert history_rows(item.id)[0].user_id == editor.id


def publish_scheduled_by_an_editor(client, make_user, make_content_row, made_with):
    """An author's item whose publication an editor scheduled an hour ahead, with a session or
    with an API token (``made_with``): ``(editor, admin headers, item, the schedule)``."""
    author, _ = make_user("author")
    editor, editor_headers = make_user("editor")
    _, admin_headers = make_user("admin")
    item = make_content_row(author)
    maker = editor_headers if made_with == "session" else make_token(client, editor_headers)[1]
    data = schedule(client, item, maker, action="publish", scheduled_at=iso_in(HOUR_MS)[0]).json["data"]
    return editor, admin_headers, item, data


@pytest.mark.parametrize("made_with", ["session", "token"])
@pytest.mark.parametrize("how", ["delete", "patch"])
def test_a_schedule_of_a_deactivated_user_does_not_run(client, env, make_user, make_content_row, how, made_with):
    editor, admin_headers, item, data = publish_scheduled_by_an_editor(client, make_user, make_content_row, made_with)

    if how == "delete":
        client.delete(f"/admin/api/users/{editor.id}", headers=admin_headers, status=200)
    else:
        client.patch_json(f"/admin/api/users/{editor.id}", {"is_active": False}, headers=admin_headers, status=200)

    entry = assert_not_run(client, env, item, data, admin_headers, admin_headers,
                           "The user who scheduled this action is no longer active")
    assert entry["user_id"] == editor.id


@pytest.mark.parametrize("made_with", ["session", "token"])
def test_a_schedule_of_a_user_demoted_below_publishing_does_not_run(
        client, env, make_user, make_content_row, made_with):
    """The maker's role when it comes due decides: an editor made author may no longer publish by
    schedule what they could publish when they planned it."""
    editor, admin_headers, item, data = publish_scheduled_by_an_editor(client, make_user, make_content_row, made_with)

    client.patch_json(f"/admin/api/users/{editor.id}", {"role": "author"}, headers=admin_headers, status=200)

    reason = ("The user who scheduled this action may no longer schedule it (role author lacks content.publish)"
              if made_with == "session" else
              "The API token this action was scheduled with no longer grants content.publish (role author)")
    assert_not_run(client, env, item, data, admin_headers, admin_headers, reason)


def due_items(make_user, make_content_row, count):
    author, _ = make_user("author")
    editor, _ = make_user("editor")
    # One transaction for the rows, not one commit per row: the runners start after it anyway.
    with Content._meta.database.atomic():
        return [insert_schedule(make_content_row(author), editor).content_id for _ in range(count)]


def assert_each_ran_once(content_ids, completed=None):
    """Each of ``content_ids`` is published with one history row and one workflow log, and
    ``completed`` schedules (default: one per item) are done. Read in a few queries, not a
    few per item: the runner tests check hundreds of items."""
    done = ScheduledContent.select().where(ScheduledContent.status == "completed").count()
    assert done == (completed if completed is not None else len(content_ids))
    histories = Counter(row.content_id for row in
                        WorkflowHistory.select(WorkflowHistory.content).where(WorkflowHistory.content.in_(content_ids)))
    logs = Counter(row.data.get("content_id") for row in workflow_logs())
    statuses = dict(Content.select(Content.id, Content.status).where(Content.id.in_(content_ids)).tuples())
    for content_id in content_ids:
        assert (histories[content_id], logs[content_id], statuses.get(content_id)) == (1, 1, "published"), content_id


def test_two_overlapping_runners_in_threads_act_once(env, make_user, make_content_row):
    content_ids = due_items(make_user, make_content_row, 60)
    now = now_ms()
    start = threading.Barrier(2)
    reports = []

    def runner():
        start.wait()
        reports.append(run_due(env.DB.db, now))

    threads = [threading.Thread(target=runner) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)

    # Both runners found due rows before the other had finished: a real overlap, and every
    # row one of them claimed was skipped by the other.
    assert len(reports) == 2 and all(r["due"] > 0 for r in reports)
    assert sum(r["completed"] for r in reports) == 60
    assert sum(r["skipped"] for r in reports) == sum(r["due"] for r in reports) - 60 > 0
    assert_each_ran_once(content_ids)


def scheduled_process(folder):
    return subprocess.Popen(
        [sys.executable, "worker.py", "scheduled", "--config", str(folder / "bindings.toml"),
         "--persist-to", str(folder / "state")],
        cwd=PROJECT_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONPATH": str(PROJECT_ROOT)},
    )


def test_two_overlapping_worker_processes_act_once(env, make_user, make_content_row):
    folder = Path(env.config.path).parent
    content_ids = due_items(make_user, make_content_row, 200)

    processes = [scheduled_process(folder) for _ in range(2)]
    outputs = [proc.communicate(timeout=120) for proc in processes]

    assert [proc.returncode for proc in processes] == [0, 0], outputs
    reports = [json.loads(out)["run_scheduled_content"] for out, _ in outputs]
    assert sum(r["completed"] for r in reports) == 200
    assert all(r["failed"] == 0 and r["completed"] + r["skipped"] == r["due"] for r in reports)
    assert_each_ran_once(content_ids)


def test_cli_scheduled_command_runs_due_actions(env, make_user, make_content_row):
    folder = Path(env.config.path).parent
    author, _ = make_user("author")
    editor, _ = make_user("editor")
    row = insert_schedule(make_content_row(author), editor)

    result = CliRunner().invoke(cli, ["scheduled", "--config", str(folder / "bindings.toml"),
                                      "--persist-to", str(folder / "state")])
    bind_models(env.DB.db)

    assert result.exit_code == 0, result.output
    report = json.loads(result.output)["run_scheduled_content"]
    assert (report["due"], report["completed"], report["failed"]) == (1, 1, 0)
    assert report["items"][0]["id"] == row.id
    assert Content.select(Content.status).where(Content.id == row.content_id).scalar() == "published"
    assert ScheduledContent.get_by_id(row.id).status == "completed"


def test_a_run_that_changed_content_makes_cached_content_stale(env, make_user, make_content_row):
    author, _ = make_user("author")
    editor, _ = make_user("editor")
    insert_schedule(make_content_row(author), editor)
    before = env.CACHE_KV.get("gen:content", type="text")

    assert cron_at(env, now_ms())["cache_invalidated"] is True

    after = env.CACHE_KV.get("gen:content", type="text")
    assert after and after != before
    assert "cache_invalidated" not in cron_at(env, now_ms())  # nothing ran: the cache stays warm
    assert env.CACHE_KV.get("gen:content", type="text") == after


def test_workflow_and_exactly_once_on_postgresql(tmp_path, migrated_postgres_url):
    pg_env = make_env(tmp_path / "pg", database_url=migrated_postgres_url)
    bind_models(pg_env.DB.db)
    client = client_for(pg_env)
    try:
        author = create_user("author")
        editor = create_user("editor")
        author_headers, editor_headers = bearer(token_for(author)), bearer(token_for(editor))
        collection = Collection.create(name="pg_articles", display_name="Articles", schema={})
        item = insert_content(author, collection)

        client.post_json(f"/api/content/{item.id}/workflow", {"action": "submit"}, headers=author_headers)
        client.post_json(f"/api/content/{item.id}/workflow", {"action": "approve"}, headers=editor_headers)
        assert client.post_json(f"/api/content/{item.id}/workflow", {"action": "approve"}, headers=editor_headers,
                                status=409).json["error"] == "Cannot approve content in state approved"
        data = client.post_json(f"/api/content/{item.id}/schedule",
                                {"action": "publish", "scheduled_at": iso_in(HOUR_MS)[0]}, headers=editor_headers,
                                status=201).json["data"]
        assert client.get("/api/schedules", {"status": "pending"}, headers=editor_headers).json["meta"]["total"] == 1

        others = [insert_schedule(insert_content(author, collection), editor).content_id for _ in range(20)]
        start = threading.Barrier(2)
        reports = []

        def runner():
            start.wait()
            reports.append(run_due(pg_env.DB.db, data["scheduled_at"]))

        threads = [threading.Thread(target=runner) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)

        assert sum(r["completed"] for r in reports) == 21 and sum(r["failed"] for r in reports) == 0
        assert_each_ran_once(others, completed=21)
        steps = client.get(f"/api/content/{item.id}/history", headers=editor_headers).json["data"]
        assert [s["action"] for s in steps] == ["publish", "approve", "submit"]
    finally:
        pg_env.DB.db.close_all()


@pytest.mark.parametrize("db_backend", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True)
def test_a_delete_racing_the_run_of_the_item_s_schedule_waits_for_it(env, client, make_user, make_content_row,
                                                                    monkeypatch):
    # The run holds the item's schedule while it publishes; a delete of the item at that
    # moment cancels its schedules too. Each must wait for the other in one order, never in
    # a cycle (a deadlock: one of them would fail).
    import app.services.content.scheduling as scheduling

    author, _ = make_user("author")
    editor, headers = make_user("editor")
    item = make_content_row(author)
    pending = insert_schedule(item, editor, action="publish")
    db = env.DB.db
    running, outcome = threading.Event(), {}
    real_transition = scheduling.transition

    def transition_once_the_delete_waits(*args, **kwargs):
        running.set()
        wait_for_a_lock_wait(dbname=db.database, **db.connect_params)
        return real_transition(*args, **kwargs)

    monkeypatch.setattr(scheduling, "transition", transition_once_the_delete_waits)

    def run():
        try:
            outcome["run"] = run_due(db, now_ms())
        finally:
            db.close()

    runner = threading.Thread(target=run)
    runner.start()
    running.wait(30)
    deleted = client.delete(f"/api/content/{item.id}", headers=headers, expect_errors=True)
    runner.join(30)
    assert deleted.status_int == 200, deleted.text
    assert outcome["run"]["completed"] == 1, outcome
    assert ScheduledContent.get_by_id(pending.id).status == "completed"
    assert Content.get_by_id(item.id).deleted_at is not None
