"""wrangler's ``--local`` and ``--remote`` on the commands wrangler accepts them.

``--local`` changes nothing (the selected environment's bindings are always used);
``--remote`` stops before anything is opened or written, saying what to use instead.
"""

import json

import pytest
from click.testing import CliRunner

from app.cli import cli
from tests.fixtures.app import bindings_text

WITH_LOCATION = [
    ("d1", "execute"), ("d1", "export"), ("d1", "migrations", "list"), ("d1", "migrations", "apply"),
    ("kv", "key", "get"), ("kv", "key", "put"), ("kv", "key", "list"), ("kv", "key", "delete"),
    ("r2", "object", "get"), ("r2", "object", "put"), ("r2", "object", "delete"),
]


@pytest.fixture
def config(tmp_path):
    path = tmp_path / "bindings.toml"
    path.write_text(bindings_text())
    return path


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


def command_at(path):
    command = cli
    for name in path:
        command = command.commands[name]
    return command


@pytest.mark.parametrize("path", WITH_LOCATION, ids=" ".join)
def test_wrangler_commands_take_local_and_remote(path):
    options = {opt for param in command_at(path).params for opt in getattr(param, "opts", [])}
    assert {"--local", "--remote"} <= options


def test_local_is_a_no_op(config):
    assert run("d1", "execute", "DB", "--local", "--config", config, "--command",
               "CREATE TABLE t (a INTEGER); INSERT INTO t VALUES (1)").exit_code == 0
    result = run("d1", "execute", "DB", "--config", config, "--json", "--command", "SELECT a FROM t")
    assert json.loads(result.output)[0]["results"] == [{"a": 1}]
    assert run("kv", "key", "put", "k", "v", "--local", "--config", config).exit_code == 0
    assert run("kv", "key", "get", "k", "--text", "--config", config).output == "v\n"
    listed = run("d1", "migrations", "list", "DB", "--local", "--config", config)
    assert listed.exit_code == 0 and "0001_initial_schema.sql" in listed.output


def test_remote_is_refused_before_anything_is_written(config):
    refused = run("d1", "execute", "DB", "--remote", "--config", config, "--command", "CREATE TABLE t (a INTEGER)")
    assert refused.exit_code == 2
    assert "--remote: sonicpy has no remote account" in refused.output and "--env production" in refused.output
    tables = run("d1", "execute", "DB", "--config", config, "--json", "--command",
                 "SELECT name FROM sqlite_master WHERE name = 't'")
    assert json.loads(tables.output)[0]["results"] == []

    assert run("kv", "key", "put", "k", "v", "--remote", "--config", config).exit_code == 2
    assert run("kv", "key", "get", "k", "--config", config).output == "Value not found\n"
    assert run("r2", "object", "delete", "MEDIA_BUCKET/x", "--remote", "--config", config).exit_code == 2
