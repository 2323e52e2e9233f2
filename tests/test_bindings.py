"""One registry of binding types: config checks, env opens, /health pings, the CLI finds.

Every registered type is exercised in each of those places, and a type added to the
registry (a test-only ``queues`` type here) reaches all of them without another change.
"""

import re

import click
import pytest
import webtest

from app.app import create_app
from app.cli.common import Runtime
from app.cli.startup import banner_lines
from app.runtime.bindings import BINDING_TYPES, BindingKind, BindingType
from app.runtime.config import ConfigError, load_config
from app.runtime.entry import Worker
from app.runtime.env import build_env
from tests.fixtures.app import settings_for_tests

# One local table per registered type; a type without one here fails the first test.
SAMPLES = {
    BindingKind.D1: {"binding": "DB", "database_name": "site-db"},
    BindingKind.R2: {"binding": "MEDIA_BUCKET", "bucket_name": "site-media"},
    BindingKind.KV: {"binding": "CACHE_KV", "id": "site-cache"},
    # Its url is the test's embeddings server (tests/fixtures/embeddings.py), set by ``samples``.
    BindingKind.AI: {"binding": "AI", "url": "http://127.0.0.1:9/v1", "model": "test-embed"},
}


@pytest.fixture(autouse=True)
def samples(monkeypatch, embeddings_server):
    """Point the AI sample at a real embeddings server, so pinging it is a real round trip."""
    monkeypatch.setitem(SAMPLES, BindingKind.AI, {**SAMPLES[BindingKind.AI], "url": embeddings_server.url})


def header(kind, prefix=""):
    """How bindings.toml opens a table of ``kind``: ``[[d1_databases]]``, ``[ai]`` (a registered
    type, or a test-only one, which is an array of tables)."""
    binding_type = BINDING_TYPES.get(kind)
    return binding_type.table_syntax(prefix) if binding_type else f"[[{prefix}{kind}]]"


def toml(tables, prefix=""):
    """bindings.toml text declaring ``tables`` (``[(kind, {key: str value})]``)."""
    lines = ['name = "site"', 'main = "worker.py"']
    for kind, table in tables:
        lines.append(header(kind, prefix))
        lines += [f"{key} = {value!r}".replace("'", '"') for key, value in table.items()]
    return "\n".join(lines) + "\n"


def config_for(tmp_path, tables, text=None):
    path = tmp_path / "bindings.toml"
    path.write_text(text or toml(tables))
    return load_config(path, environ={}, persist_to=tmp_path / "state")


@pytest.fixture
def every_type(tmp_path):
    """An Env with one binding of each registered type, on local backends."""
    env = build_env(config_for(tmp_path, SAMPLES.items()))
    yield env
    env.close()


def test_every_registered_type_has_a_sample_and_a_complete_entry():
    assert set(SAMPLES) == set(BINDING_TYPES) == set(BindingKind)
    for kind, binding_type in BINDING_TYPES.items():
        assert binding_type.kind is kind
        assert "binding" in binding_type.keys
        assert set(SAMPLES[kind]) <= binding_type.keys
        assert binding_type.alias_key is None or binding_type.alias_key in binding_type.keys


@pytest.mark.parametrize("kind", list(BINDING_TYPES))
def test_config_checks_the_keys_of_every_type(tmp_path, kind):
    table = {**SAMPLES[kind], "bogus": "1"}
    allowed = ", ".join(sorted(BINDING_TYPES[kind].keys))
    label = re.escape(kind if BINDING_TYPES[kind].single else f"{kind}[0]")
    with pytest.raises(ConfigError, match=f"{label} \\({table['binding']}\\): unknown key 'bogus'; "
                                         f"allowed keys: {allowed}$"):
        config_for(tmp_path, [(kind, table)])


@pytest.mark.parametrize("kind", list(BINDING_TYPES))
def test_config_requires_every_type_redeclared_in_an_environment(tmp_path, kind):
    text = toml([(kind, SAMPLES[kind])]) + "[env.production]\n"
    path = tmp_path / "bindings.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=f"not in \\[env.production\\].*{re.escape(header(kind, 'env.production.'))}"):
        load_config(path, env_name="production", environ={})


def test_the_env_opens_pings_and_closes_every_type(every_type):
    types = every_type.binding_types()
    assert {name: binding_type.kind for name, binding_type in types.items()} == {
        table["binding"]: kind for kind, table in SAMPLES.items()
    }
    for name, binding_type in types.items():
        binding_type.ping(every_type.bindings[name])
    every_type.close()
    # Closing releases connections only: each binding reopens on its next use.
    for name, binding_type in types.items():
        binding_type.ping(every_type.bindings[name])
    assert every_type.DB.db.is_closed() is False


def test_health_pings_every_type(every_type):
    client = webtest.TestApp(Worker(lambda: every_type, lambda e: create_app(e, settings_for_tests())))
    body = client.get("/health", status=200).json
    assert {name: (check["type"], check["status"]) for name, check in body["bindings"].items()} == {
        table["binding"]: (str(kind), "ok") for kind, table in SAMPLES.items()
    }


@pytest.mark.parametrize("kind", list(BINDING_TYPES))
def test_the_cli_finds_every_type_by_binding_and_alias(tmp_path, kind):
    config_for(tmp_path, SAMPLES.items())
    runtime = Runtime(tmp_path / "bindings.toml", None, tmp_path / "state")
    table = SAMPLES[kind]
    names = [table["binding"]] + [table[key] for key in [BINDING_TYPES[kind].alias_key] if key]
    for name in names:
        found, binding = runtime.binding(kind, name)
        assert found["binding"] == table["binding"]
        BINDING_TYPES[kind].ping(binding)
    label = BINDING_TYPES[kind].label
    with pytest.raises(click.ClickException, match=f"no {label} binding named 'NOPE'.*{label} bindings: {table['binding']}"):
        runtime.binding(kind, "NOPE")


# ---------------------------------------------------------------- a new type, added in one place


class Queue:
    """A stand-in binding of a type the app does not have (think Cloudflare Queues)."""

    def __init__(self, table, state_dir):
        self.name = table["binding"]
        self.state_dir = state_dir
        self.pings = 0
        self.closes = 0

    def ping(self):
        self.pings += 1


@pytest.fixture
def queues_registered(monkeypatch):
    queues = BindingType(
        "queues", "Queue", frozenset({"binding", "queue"}),
        opener=lambda table, state_dir, secrets: Queue(table, state_dir),
        pinger=lambda queue: queue.ping(), closer=lambda queue: setattr(queue, "closes", queue.closes + 1),
        describer=lambda queue: f"queue {queue.name}", alias_key="queue",
    )
    monkeypatch.setitem(BINDING_TYPES, "queues", queues)
    return queues


def test_a_type_added_to_the_registry_reaches_config_env_health_and_cli(tmp_path, queues_registered):
    with pytest.raises(ConfigError, match="unknown key 'retries'; allowed keys: binding, queue$"):
        config_for(tmp_path, [("queues", {"binding": "JOBS", "retries": "3"})])

    tables = [*SAMPLES.items(), ("queues", {"binding": "JOBS", "queue": "jobs"})]
    env = build_env(config_for(tmp_path, tables))
    assert isinstance(env.JOBS, Queue) and env.JOBS.state_dir == tmp_path / "state" / "v3"

    client = webtest.TestApp(Worker(lambda: env, lambda e: create_app(e, settings_for_tests())))
    assert client.get("/health", status=200).json["bindings"]["JOBS"]["type"] == "queues"
    assert env.JOBS.pings == 1

    env.close()
    assert env.JOBS.closes == 1

    runtime = Runtime(tmp_path / "bindings.toml", None, tmp_path / "state")
    table, queue = runtime.binding("queues", "jobs")
    assert table["binding"] == "JOBS" and isinstance(queue, Queue)
    assert "   JOBS          Queue  queue JOBS" in banner_lines(runtime, "http://127.0.0.1:8787")


def test_the_banner_names_the_ai_model_and_its_url(tmp_path, embeddings_server):
    config_for(tmp_path, SAMPLES.items())
    runtime = Runtime(tmp_path / "bindings.toml", None, tmp_path / "state")
    width = max(len(table["binding"]) for table in SAMPLES.values())
    assert f"   {'AI':<{width}}  AI  test-embed at {embeddings_server.url}" in banner_lines(runtime, "http://127.0.0.1:8787")
