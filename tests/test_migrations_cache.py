"""Applying migrations makes running apps' cached answers stale, from the CLI and the API.

A migration may change rows every worker caches (a role's grants, settings, content), as
hand-written SQL through ``d1 execute`` may: a session must not keep the grants its worker
cached before the file ran.
"""

import shutil

import pytest

from app.db.database import is_postgres
from app.services.log_buffer import flush_process_buffer
from tests.fixtures.app import MIGRATIONS, client_for, run_env_cli
from tests.fixtures.cache import past_generation_bound
from tests.fixtures.content import create_collection, insert_items
from tests.fixtures.users import create_user

pytestmark = pytest.mark.backends

STATS = "/admin/api/stats"  # content.publish: editors and admins
REVOKE = ("DELETE FROM role_permissions WHERE role = 'editor' AND permission_id = 'perm_content_publish';\n")


@pytest.fixture
def env(tmp_path, stack):
    """The suite's env, but its migrations folder holds one more file than its database
    applied: it takes ``content.publish`` from editors."""
    folder = tmp_path / "migrations"
    shutil.copytree(MIGRATIONS, folder)
    (folder / "9001_revoke_editor_publish.sql").write_text(REVOKE)
    env = stack.env(tmp_path / "app", migrations_dir=folder)
    yield env
    flush_process_buffer()  # as the suite's env fixture: request log rows land in this database
    env.DB.db.close()


@pytest.fixture
def cached_editor(env, make_user):
    """An editor whose account and grants the app has cached; the app's client."""
    client = client_for(env)
    _, headers = make_user("editor")
    for _ in range(2):
        client.get(STATS, headers=headers, status=200)
    return client, headers


def test_migrations_applied_by_the_cli_reach_cached_sessions(env, cached_editor, tmp_path):
    client, headers = cached_editor
    result = run_env_cli(env, "d1", "migrations", "apply", "DB")
    assert result.exit_code == 0, result.output
    assert "9001_revoke_editor_publish.sql" in result.output
    past_generation_bound()
    client.get(STATS, headers=headers, status=403)


def test_migrations_applied_by_the_api_reach_cached_sessions(env, cached_editor, make_user):
    client, headers = cached_editor
    _, admin = make_user("admin")
    applied = client.post("/admin/api/migrations/run", headers=admin, status=200).json["applied"]
    assert applied == ["9001"]
    past_generation_bound()
    client.get(STATS, headers=headers, status=403)


def test_a_run_with_nothing_to_apply_still_makes_recounted_totals_fresh(env, client, make_user, tmp_path):
    """With no file to apply, a run still reinstalls the derived tables' triggers and
    recounts them: a total cached before it is not kept."""
    _, admin = make_user("admin")
    assert client.post("/admin/api/migrations/run", headers=admin, status=200).json["applied"] == ["9001"]
    author = create_user("author")
    news = create_collection("news")
    insert_items(news, author, 2)
    # The insert's count trigger missing, as from a version that lacked it.
    env.DB.db.execute_sql("DROP TRIGGER sonicpy_content_count_write ON content" if is_postgres(env.DB.db)
                          else "DROP TRIGGER sonicpy_content_count_insert")
    insert_items(news, author, 1, slug_prefix="late")
    for _ in range(2):
        assert client.get("/api/content").json["meta"]["total"] == 2  # cached, as the counts say
    assert client.post("/admin/api/migrations/run", headers=admin, status=200).json["applied"] == []
    past_generation_bound()
    assert client.get("/api/content").json["meta"]["total"] == 3
