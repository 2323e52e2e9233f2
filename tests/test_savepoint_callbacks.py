"""What a write queues for after its commit (plugin hooks, webhooks, cache bumps) runs only
if the write commits: a savepoint rolled back drops what was queued inside it, while the
transaction around it goes on and commits the rest, on SQLite and PostgreSQL."""

import peewee
import pytest

from app.db.models import ContentAssignment, ScheduledContent, Webhook, WebhookDelivery
from app.runtime.context import ScheduledEvent
from app.scheduled import run_scheduled
from app.services.content import assignment_ends
from tests.fixtures.users import create_user
from tests.fixtures.workflow import content_row, insert_schedule

pytestmark = pytest.mark.backends


def test_a_savepoint_rolled_back_drops_the_callbacks_it_queued(env):
    db = env.DB.db
    ran = []
    with db.atomic():
        db.after_commit(lambda: ran.append("before"))
        with pytest.raises(RuntimeError), db.atomic():
            db.after_commit(lambda: ran.append("undone"))
            with db.atomic():  # released into the one rolled back: undone with it
                db.after_commit(lambda: ran.append("undone inside"))
            raise RuntimeError
        with db.atomic() as savepoint:
            db.after_commit(lambda: ran.append("rolled back by hand"))
            savepoint.rollback()  # and begun again: what follows is kept
            db.after_commit(lambda: ran.append("after the rollback"))
        db.after_commit(lambda: ran.append("after"))
        assert ran == []
    assert ran == ["before", "after the rollback", "after"]


def test_a_scheduled_publication_that_fails_announces_nothing(env, make_user, make_content_row, monkeypatch):
    # The run's savepoint undoes the publication when the end of its assignment fails: the
    # move's hooks, queued before, must not announce it once the run commits.
    author, _ = make_user("author")
    editor, _ = make_user("editor")
    item = make_content_row(author)
    ContentAssignment.create(content=item.id, assignee=create_user("editor").id, assigned_by=editor.id,
                             assigned_at=1, due_at=None)
    Webhook.create(url="http://127.0.0.1:9/hook", secret="s",
                   events=["content.published", "content.workflow", "content.assigned"])
    schedule = insert_schedule(item, editor, scheduled_at=1)

    def refuse(*args, **kwargs):
        raise peewee.OperationalError("disk I/O error")

    monkeypatch.setattr(assignment_ends, "record_history", refuse)
    report = run_scheduled(ScheduledEvent("*/1 * * * *", 2), env)["run_scheduled_content"]

    assert (report["due"], report["failed"]) == (1, 1), report
    assert content_row(item.id)["status"] == "draft"
    assert [row.status for row in ScheduledContent.select().where(ScheduledContent.id == schedule.id)] == ["failed"]
    assert list(WebhookDelivery.select()) == []
