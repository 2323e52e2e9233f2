"""``dev``'s own cron timer and the ``clock`` process: CronClock fires each ``[triggers] crons``
expression when its time comes, and the real cron handler then runs what is due.

Time is faked by passing ``now`` (seconds) to the constructor and to ``tick``; everything
else is real: the bindings.toml, the migrated SQLite file, the scheduled_content rows.
"""

import signal
import subprocess
import sys
import time

import pytest

from app.cli.clock import CronClock
from app.cli.common import Runtime
from app.db.models import Content, ScheduledContent, bind_models, now_ms
from tests.fixtures.app import PROJECT_ROOT, bindings_text, env_with_copy, make_env
from tests.fixtures.content import create_collection
from tests.fixtures.process import stop_process
from tests.fixtures.users import create_user
from tests.fixtures.workflow import insert_content, insert_schedule

EVERY_MINUTE = "*/1 * * * *"
HOUR_MS = 3600 * 1000


@pytest.fixture
def clock_env(tmp_path, migrated_template):
    """An env whose bindings.toml has ``[triggers] crons``, and a CLI Runtime over the same files."""
    folder = tmp_path / "clock"
    env = env_with_copy(folder, migrated_template, crons=[EVERY_MINUTE])
    bind_models(env.DB.db)
    runtime = Runtime(str(folder / "bindings.toml"), None, str(folder / "state"))
    yield env, runtime
    env.DB.db.close()


def minute_start_plus_one():
    """One second past the start of the current minute (the cron's next time is 59 s ahead)."""
    return (time.time() // 60) * 60 + 1


def test_a_tick_fires_only_when_the_cron_is_due_and_runs_due_schedules(clock_env):
    env, runtime = clock_env
    author, editor = create_user("author"), create_user("editor")
    collection = create_collection("clocked")
    due = insert_schedule(insert_content(author, collection), editor, scheduled_at=now_ms() - 1000)
    later_item = insert_content(author, collection)
    later = insert_schedule(later_item, editor, scheduled_at=now_ms() + HOUR_MS)
    lines = []
    t0 = minute_start_plus_one()
    clock = CronClock(runtime, lines.append, now=t0)

    assert clock.tick(t0) == 0
    assert clock.tick(t0 + 30) == 0
    bind_models(env.DB.db)
    assert ScheduledContent.get_by_id(due.id).status == "pending"
    assert lines == []

    assert clock.tick(t0 + 61) == 1
    bind_models(env.DB.db)
    assert ScheduledContent.get_by_id(due.id).status == "completed"
    assert Content.get_by_id(due.content_id).status == "published"
    assert ScheduledContent.get_by_id(later.id).status == "pending"
    assert Content.get_by_id(later_item.id).status == "draft"
    [line] = lines
    assert line.startswith(f"⏰ {EVERY_MINUTE}: ") and '"completed": 1' in line

    # Fired once per due time: the same minute does not fire again, the next one does.
    assert clock.tick(t0 + 62) == 0
    assert clock.tick(t0 + 121) == 1
    assert len(lines) == 2


def test_without_crons_nothing_is_scheduled(tmp_path, migrated_template):
    folder = tmp_path / "nocron"
    env = env_with_copy(folder, migrated_template)
    runtime = Runtime(str(folder / "bindings.toml"), None, str(folder / "state"))
    lines = []
    clock = CronClock(runtime, lines.append, now=1000.0)
    assert clock.tick(10**10) == 0 and lines == []
    env.DB.db.close()


def test_quiet_reports_only_runs_that_did_something(clock_env):
    # dev's clock: an idle minute prints nothing; a run that published something says what.
    env, runtime = clock_env
    author, editor = create_user("author"), create_user("editor")
    lines = []
    t0 = minute_start_plus_one()
    clock = CronClock(runtime, lines.append, now=t0, quiet=True)
    assert clock.tick(t0 + 61) == 1
    assert lines == []
    bind_models(env.DB.db)
    insert_schedule(insert_content(author, create_collection("quiet")), editor, scheduled_at=now_ms() - 1000)
    assert clock.tick(t0 + 121) == 1
    assert lines == [f"⏰ {EVERY_MINUTE}: run_scheduled_content: due 1, completed 1"]


def test_quiet_still_reports_errors(tmp_path):
    # An unmigrated database: every job fails, and each failure is one line (the webhook job
    # first asks whether its plugin is active).
    folder = tmp_path / "unmigrated"
    env = make_env(folder, crons=[EVERY_MINUTE])
    runtime = Runtime(str(folder / "bindings.toml"), None, str(folder / "state"))
    lines = []
    t0 = minute_start_plus_one()
    CronClock(runtime, lines.append, now=t0, quiet=True).tick(t0 + 61)
    assert lines == [
        f"❌ {EVERY_MINUTE}: write_lost_cache_invalidations failed: no such table: cache_invalidations",
        f"❌ {EVERY_MINUTE}: purge_expired_logs failed: no such table: log_config",
        f"❌ {EVERY_MINUTE}: run_scheduled_content failed: no such table: scheduled_content",
        f"❌ {EVERY_MINUTE}: sweep_media_orphans failed: no such table: media_pending_objects",
        f"❌ {EVERY_MINUTE}: retry_webhook_deliveries failed: no such table: plugins",
        f"❌ {EVERY_MINUTE}: purge_sign_in_secrets failed: no such table: otp_codes",
        f"❌ {EVERY_MINUTE}: prune_search_history failed: no such table: search_history",
    ]
    env.DB.db.close()


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_the_clock_process_stops_cleanly(tmp_path, signum):
    # Ctrl-C (SIGINT) or the platform's SIGTERM: exit 0, no "Aborted!".
    path = tmp_path / "bindings.toml"
    path.write_text(bindings_text(crons=[EVERY_MINUTE]))
    proc = subprocess.Popen(
        [sys.executable, "worker.py", "clock", "--config", str(path), "--persist-to", str(tmp_path / "state")],
        cwd=PROJECT_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        assert proc.stdout.readline().startswith("⏰ Running 1 cron trigger(s)")
        proc.send_signal(signum)
        out, err = proc.communicate(timeout=30)
    finally:
        stop_process(proc)
    assert proc.returncode == 0, err
    assert out == "⏰ Clock stopped.\n" and "Aborted" not in err
