"""`d1 studio`: Datasette on loopback for SQLite (a real subprocess, read over HTTP); advice for PostgreSQL."""

import json
import re
import socket
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request

import pytest

from tests.fixtures.app import PROJECT_ROOT, CliProject, env_with_copy, make_env
from tests.fixtures.process import free_port, stop_process, wait_for_port


@pytest.fixture
def project(tmp_path, migrated_template):
    folder = tmp_path / "app"
    return CliProject(folder, env_with_copy(folder, migrated_template))


@pytest.fixture
def studio(project):
    """``d1 studio DB`` running as a real process; yields ``(base URL, the line it printed)``."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, str(PROJECT_ROOT / "worker.py"), "d1", "studio", "DB", "--port", str(port),
         "--config", str(project.config), "--persist-to", str(project.state)],
        cwd=project.folder, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        first_line = proc.stdout.readline()
        wait_for_port(port, proc=proc, timeout=30)
        yield f"http://127.0.0.1:{port}", first_line
    finally:
        stop_process(proc)
        proc.stdout.close()


def get_json(url):
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.loads(response.read())


def test_studio_serves_the_tables_and_prints_its_url(studio, project):
    base, first_line = studio
    stem = project.db_path.rsplit("/", 1)[1].removesuffix(".sqlite")
    assert f"{base}/{stem}" in first_line
    listing = get_json(f"{base}/{stem}.json")
    names = {table["name"] for table in listing["tables"]}
    assert {"users", "collections", "content", "media", "d1_migrations"} <= names


def test_studio_refuses_writes(studio, project):
    base, _ = studio
    stem = project.db_path.rsplit("/", 1)[1].removesuffix(".sqlite")
    query = urllib.parse.urlencode({"sql": "DELETE FROM permissions"})
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(f"{base}/{stem}.json?{query}", timeout=10)
    assert refused.value.code == 400
    count = get_json(f"{base}/{stem}.json?" + urllib.parse.urlencode({"sql": "SELECT count(*) AS n FROM permissions",
                                                                       "_shape": "array"}))
    assert count[0]["n"] > 0


def test_studio_for_a_database_not_created_yet(tmp_path):
    project = CliProject(tmp_path, make_env(tmp_path))
    for path in project.state.rglob("*.sqlite"):
        path.unlink()
    result = project.cli("d1", "studio", "DB")
    assert result.exit_code == 1 and "does not exist yet" in result.output


def test_studio_on_postgres_prints_read_only_commands_without_the_password(tmp_path, postgres_url):
    url = postgres_url.replace("postgres@", "postgres:s3cret@")
    project = CliProject(tmp_path, make_env(tmp_path, database_url=url))
    result = project.cli("d1", "studio", "DB", "--port", "8081")
    assert result.exit_code == 0, result.output
    assert "default_transaction_read_only=on" in result.output and "psql" in result.output
    assert "pgweb --url" in result.output and "--readonly --bind 127.0.0.1 --listen 8081" in result.output
    assert "s3cret" not in result.output and "postgres:***@" in result.output


def test_studio_on_a_port_in_use_says_so_without_printing_a_url(project):
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        port = held.getsockname()[1]
        result = project.cli("d1", "studio", "DB", "--port", port)
    assert result.exit_code == 1
    assert re.fullmatch(rf"Error: port {port} is in use; try --port \d+\n", result.output), result.output
