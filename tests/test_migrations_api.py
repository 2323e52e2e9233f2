"""``/admin/api/migrations/*``: SonicJS's status, validate and run, over the binding's own files."""

import shutil

import pytest

from app.db import derived
from app.db.migrations import MigrationRunner
from tests.fixtures.app import MIGRATIONS, client_for

pytestmark = pytest.mark.backends


@pytest.fixture
def own_migrations(env, tmp_path):
    """The env's DB reads its migrations from a copy of the real folder, which a test may add to."""
    folder = tmp_path / "migrations"
    shutil.copytree(MIGRATIONS, folder)
    env.DB.config["migrations_dir"] = str(folder)
    return folder


def test_status_lists_every_file_as_applied(client, as_admin, own_migrations):
    _, headers = as_admin
    body = client.get("/admin/api/migrations/status", headers=headers).json
    files = sorted(path.name for path in own_migrations.glob("*.sql"))
    data = body["data"]
    assert body["success"] is True
    assert (data["totalMigrations"], data["appliedMigrations"], data["pendingMigrations"]) == (len(files), len(files), 0)
    assert [entry["filename"] for entry in data["migrations"]] == files and data["lastApplied"] == files[-1]
    first = data["migrations"][0]
    assert (first["id"], first["name"], first["description"]) == ("0001", "initial schema", "initial schema")
    assert first["applied"] is True and first["status"] == "applied" and first["appliedAt"]
    assert first["size"] == (own_migrations / files[0]).stat().st_size


def test_a_new_file_is_pending_invalid_and_applied_by_run(client, as_admin, own_migrations):
    _, headers = as_admin
    (own_migrations / "9001_add_notes.sql").write_text("-- Migration 9001: a notes table\nCREATE TABLE notes (id TEXT PRIMARY KEY);\n")
    data = client.get("/admin/api/migrations/status", headers=headers).json["data"]
    assert data["pendingMigrations"] == 1 and data["migrations"][-1]["status"] == "pending"
    assert data["migrations"][-1]["appliedAt"] is None and data["migrations"][-1]["description"] == "a notes table"
    validation = client.get("/admin/api/migrations/validate", headers=headers).json["data"]
    assert validation == {"valid": False, "issues": ["9001_add_notes.sql is not applied"]}
    ran = client.post("/admin/api/migrations/run", headers=headers).json
    assert ran == {"success": True, "message": "Applied 1 migration(s)", "applied": ["9001"]}
    assert client.get("/admin/api/migrations/validate", headers=headers).json["data"] == {"valid": True, "issues": []}
    assert client.post("/admin/api/migrations/run", headers=headers).json["applied"] == []


def test_a_failing_file_is_a_409_and_leaves_nothing_half_applied(client, env, as_admin, own_migrations):
    _, headers = as_admin
    (own_migrations / "9001_broken.sql").write_text(
        "CREATE TABLE half_done (id TEXT PRIMARY KEY);\nINSERT INTO no_such_table VALUES (1);\n")
    body = client.post("/admin/api/migrations/run", headers=headers, status=409).json
    assert "9001_broken.sql" in body["error"] and body["details"]["migration"] == "9001_broken.sql"
    assert [status.name for status in MigrationRunner(env.DB.db, own_migrations).pending()] == ["9001_broken.sql"]
    assert "half_done" not in env.DB.db.get_tables()


def test_changed_and_missing_files_are_issues(client, as_admin, own_migrations):
    _, headers = as_admin
    last = sorted(own_migrations.glob("*.sql"))[-1]
    last.write_text(last.read_text() + "\n-- edited\n")
    first = sorted(own_migrations.glob("*.sql"))[0]
    first.unlink()
    issues = client.get("/admin/api/migrations/validate", headers=headers).json["data"]["issues"]
    assert issues == [f"{first.name} was applied but its file is gone", f"{last.name} was changed after it was applied"]
    entry = client.get("/admin/api/migrations/status", headers=headers).json["data"]["migrations"][0]
    assert (entry["status"], entry["size"]) == ("missing", None)


def test_missing_derived_objects_are_an_issue_until_run_installs_them(client, env, as_admin, own_migrations):
    # A database loaded from an SQL dump has every file applied and no search index.
    _, headers = as_admin
    env.DB.db.execute_sql(f"DROP TABLE {derived.FTS_TABLE}")
    issues = client.get("/admin/api/migrations/validate", headers=headers).json["data"]["issues"]
    assert len(issues) == 1 and issues[0].startswith(f"the derived objects {derived.FTS_TABLE}")
    assert "running the migrations installs them" in issues[0]
    assert client.post("/admin/api/migrations/run", headers=headers).json["applied"] == []
    assert client.get("/admin/api/migrations/validate", headers=headers).json["data"] == {"valid": True, "issues": []}


def test_reading_needs_settings_read_and_running_settings_update(client, as_editor, as_admin, env):
    _, editor = as_editor
    for path in ("/admin/api/migrations/status", "/admin/api/migrations/validate"):
        client.get(path, status=401)
        client.get(path, headers=editor, status=403)
    client.post("/admin/api/migrations/run", headers=editor, status=403)
    client_for(env).post("/admin/api/migrations/run", status=401)
