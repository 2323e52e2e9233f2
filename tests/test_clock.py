"""``dev``'s own cron timer and the ``clock`` process: CronClock fires each ``[triggers] crons``
expression when its time comes, and the real cron handler then runs what is due.

Time is faked by passing ``now`` (seconds) to the constructor and to ``tick``; everything
else is real: the bindings.toml, the migrated SQLite file, the scheduled_content rows.
"""

import time

import pytest

from app.cli.clock import CronClock
from app.cli.common import Runtime
from app.db.models import Content, ScheduledContent, bind_models, now_ms
from tests.fixtures.app import env_with_copy
from tests.fixtures.content import create_collection
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
