"""A role, its permissions or a user changed by hand-written SQL (``d1 execute``) reach the
sessions of a running app at once: the command makes the read cache's ``users`` generation
stale after it commits, so no worker keeps answering with the account or grants it cached
(``app.services.identity``)."""

import json

import pytest

from tests.fixtures.app import run_env_cli
from tests.fixtures.cache import past_generation_bound
from tests.fixtures.content import create_collection, insert_items

pytestmark = pytest.mark.backends

STATS = "/admin/api/stats"  # content.publish: editors and admins
SCHEDULES = "/api/schedules"  # content.publish, for any role granted it


def run_sql(env, *options):
    """``d1 execute DB`` on ``env``'s bindings.toml and state folder, as an operator runs it."""
    result = run_env_cli(env, "d1", "execute", "DB", *options)
    assert result.exit_code == 0, result.output
    return result


@pytest.fixture
def editor(make_user, client):
    user, headers = make_user("editor")
    for _ in range(2):  # the account and the role's grants are cached now
        client.get(STATS, headers=headers, status=200)
    return user, headers


def test_a_permission_revoked_by_sql_is_refused_at_once(env, client, editor):
    _, headers = editor
    run_sql(env, "--command", "DELETE FROM role_permissions WHERE role = 'editor' AND permission_id = "
                                    "'perm_content_publish'")
    past_generation_bound()
    client.get(STATS, headers=headers, status=403)


def test_a_permission_granted_by_sql_from_a_file_is_allowed_at_once(env, client, make_user, tmp_path):
    _, headers = make_user("viewer")
    client.get(SCHEDULES, headers=headers, status=403)
    sql = tmp_path / "grant.sql"
    sql.write_text("INSERT INTO role_permissions (id, role, permission_id, created_at)\n"
                   "VALUES ('rp_viewer_content_publish', 'viewer', 'perm_content_publish', 0);\n")
    run_sql(env, "--file", str(sql))
    past_generation_bound()
    client.get(SCHEDULES, headers=headers, status=200)


def test_a_role_changed_by_sql_is_the_sessions_role_at_once(env, client, editor):
    user, headers = editor
    run_sql(env, "--command", f"UPDATE users SET role = 'viewer' WHERE id = '{user.id}'")
    past_generation_bound()
    client.get(STATS, headers=headers, status=403)
    assert client.get("/auth/me", headers=headers).json["user"]["role"] == "viewer"


def test_a_user_deactivated_by_sql_is_signed_out_at_once(env, client, editor):
    user, headers = editor
    run_sql(env, "--command", f"UPDATE users SET is_active = 0 WHERE id = '{user.id}'")
    past_generation_bound()
    assert client.get(STATS, headers=headers, status=401).json["error"] == "Invalid or expired token"


def test_sql_whose_field_index_is_refused_still_reaches_the_sessions(env, client, editor):
    """The SQL commits before the declared fields' indexes follow it: when an index cannot
    read a row's data the command fails, and the caches are made stale all the same."""
    user, headers = editor
    news = create_collection("news")
    (item,) = insert_items(news, user, 1)
    declaring = json.dumps({"type": "object", "properties": {"n": {"type": "number", "indexed": True}}})
    result = run_env_cli(
        env, "d1", "execute", "DB", "--command",
        f"UPDATE users SET role = 'viewer' WHERE id = '{user.id}';"
        f" UPDATE content SET data = 'not json {{' WHERE id = '{item}';"
        " INSERT INTO collections (id, name, display_name, schema, created_at, updated_at)"
        f" VALUES ('c-shop', 'shop', 'Shop', '{declaring}', 5, 5)")
    assert result.exit_code == 1 and "the field indexes were not changed" in result.output, result.output
    past_generation_bound()
    client.get(STATS, headers=headers, status=403)
