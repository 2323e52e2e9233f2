"""``plugins deactivate|activate NAME``: the admin's switch, from the server, on SQLite and PostgreSQL.

The project's apps load the lifecycle plugin (which records the hooks it hears) and the
veto-all plugin (which refuses every request it is asked about) by the ``PLUGINS`` var the
CLI reads; the test apps are given the same list.
"""

import pytest
from click.testing import CliRunner

from app.cli import cli
from app.db.models import Plugin, PluginActivity, bind_models
from tests.fixtures.app import TEST_JWT_SECRET, client_for
from tests.fixtures.users import bearer, create_user, token_for
from tests.plugins import lifecycle_plugin

pytestmark = pytest.mark.backends

PLUGINS = ("tests.plugins.lifecycle_plugin", "tests.plugins.veto_plugin")
# The process env a server's shell would have: the app's secret, the S3 credentials bindings.toml names.
SHELL = {"JWT_SECRET": TEST_JWT_SECRET, "TEST_S3_KEY": "testing", "TEST_S3_SECRET": "testing"}


@pytest.fixture
def project(tmp_path, stack):
    folder = tmp_path / "app"
    env = stack.env(folder, vars={"PLUGINS": ",".join(PLUGINS)})
    bind_models(env.DB.db)
    lifecycle_plugin.CALLS.clear()
    return env, folder


def app(env):
    """A new worker's app: nothing cached in its memory yet, so it reads what CACHE_KV says."""
    return client_for(env, plugins=PLUGINS)


def run(folder, *args):
    return CliRunner().invoke(cli, [*args, "--config", str(folder / "bindings.toml"), "--persist-to",
                                    str(folder / "state")], env=SHELL, catch_exceptions=False)


def status(name):
    return Plugin.get(Plugin.name == name).status


def test_deactivate_lets_the_admin_back_in_as_the_admin_s_switch_would(project):
    env, folder = project
    client = app(env)
    admin = {**bearer(token_for(create_user("admin"))), "Accept": "application/json"}
    for name in ("lifecycle", "veto-all"):
        client.post(f"/admin/api/plugins/{name}/activate", headers=admin, status=200)
    client.get("/admin/api/users", headers=admin, status=403)
    lifecycle_plugin.CALLS.clear()
    result = run(folder, "plugins", "deactivate", "veto-all")
    assert result.exit_code == 0, result.output
    assert result.output == "✅ Plugin veto-all is inactive; running apps see it on their next request.\n"
    assert status("veto-all") == "inactive"
    # The lifecycle hook ran, on the active plugins, as after the admin's switch.
    assert lifecycle_plugin.CALLS == [("on_plugin_deactivate", "veto-all")]
    [activity] = PluginActivity.select().where(PluginActivity.plugin == "veto-all",
                                               PluginActivity.action == "deactivate")
    assert activity.user_id is None
    app(env).get("/admin/api/users", headers=admin, status=200)
    result = run(folder, "plugins", "activate", "veto-all")
    assert result.exit_code == 0, result.output
    assert "veto-all is active" in result.output and lifecycle_plugin.CALLS[-1] == ("on_plugin_activate", "veto-all")
    app(env).get("/admin/api/users", headers=admin, status=403)


def test_a_required_or_unknown_plugin_is_a_clean_error(project):
    env, folder = project
    result = run(folder, "plugins", "deactivate", "core-auth")
    assert result.exit_code == 1
    assert result.output == "Error: The plugin core-auth is required and cannot be deactivated\n"
    assert status("core-auth") == "active"
    result = run(folder, "plugins", "deactivate", "nope")
    assert result.exit_code == 1 and result.output.startswith("Error: no plugin named 'nope'; plugins: ")
    assert "veto-all" in result.output and "core-auth" in result.output


def test_a_bad_setting_is_a_clean_error_naming_it(project):
    env, folder = project
    (folder / ".dev.vars").write_text("SESSION_MAX_AGE_SECONDS=abc\n")
    result = CliRunner().invoke(cli, ["plugins", "deactivate", "veto-all", "--config", str(folder / "bindings.toml"),
                                      "--persist-to", str(folder / "state")], env=SHELL)
    assert result.exit_code == 1 and result.exception is not None and isinstance(result.exception, SystemExit)
    assert result.output.startswith("Error: ") and "SESSION_MAX_AGE_SECONDS" in result.output
    assert "Traceback" not in result.output and len(result.output.splitlines()) == 1


def test_the_switch_is_one_transaction(project, stack):
    env, folder = project
    for name in ("lifecycle", "veto-all"):
        assert run(folder, "plugins", "activate", name).exit_code == 0
    lifecycle_plugin.CALLS.clear()
    stack.refuse_inserts(env, "plugin_activity_log", message="activity refused")
    result = run(folder, "plugins", "deactivate", "veto-all")
    assert result.exit_code == 1 and "activity refused" in result.output
    assert status("veto-all") == "active" and lifecycle_plugin.CALLS == []


def test_help_texts():
    output = CliRunner().invoke(cli, ["plugins", "--help"]).output
    assert "activate" in output and "deactivate" in output
    output = CliRunner().invoke(cli, ["plugins", "deactivate", "--help"]).output
    assert "NAME" in output and "Example: plugins deactivate" in output and "--env" in output
