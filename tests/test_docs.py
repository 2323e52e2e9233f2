"""The README keeps up with the code: every CLI command, bindings.toml key, setting and route.

Each list is read from the code itself (the click group, the binding registry, the names the
app reads from its config while it starts, the routes of a built app), so adding any of them
without a line in the README fails here.
"""

import re

import click
import falcon.inspect
import pytest

from app.app import create_app
from app.cli import cli
from app.runtime.bindings import BINDING_TYPES
from app.runtime.config import Config
from tests.fixtures.app import PROJECT_ROOT

README = (PROJECT_ROOT / "README.md").read_text()
README_LINES = README.splitlines()


def command_paths(group, prefix=()):
    """``("d1", "migrations", "apply")``... for every leaf command under ``group``."""
    for name, command in sorted(group.commands.items()):
        path = (*prefix, name)
        if isinstance(command, click.Group):
            yield from command_paths(command, path)
        else:
            yield path, command


COMMANDS = list(command_paths(cli))


def mentions(line, word):
    return re.search(rf"(?<![\w-]){re.escape(word)}(?![\w-])", line) is not None


@pytest.mark.parametrize(("path", "command"), COMMANDS, ids=[" ".join(path) for path, _ in COMMANDS])
def test_every_cli_command_is_in_the_readme_and_has_help(path, command):
    parent, leaf = " ".join(path[:-1]), path[-1]
    assert any(parent in line and mentions(line, leaf) for line in README_LINES), (
        f"`{' '.join(path)}` is not in README.md's CLI section"
    )
    assert (command.help or "").strip(), f"`{' '.join(path)}` has no help text"


BINDING_KEYS = sorted({key for binding_type in BINDING_TYPES.values() for key in binding_type.keys})


@pytest.mark.parametrize("key", BINDING_KEYS)
def test_every_bindings_toml_key_is_in_the_readme(key):
    assert mentions(README, key), f"bindings.toml key {key!r} is not in README.md"


@pytest.fixture
def settings_read_at_startup(env, monkeypatch):
    """The names the app reads from its vars and secrets while ``create_app`` builds it."""
    names = set()
    setting = Config.setting

    def recording_setting(self, key, default=None):
        names.add(key)
        return setting(self, key, default)

    class RecordingSecrets(dict):
        def get(self, key, default=None):
            names.add(key)
            return super().get(key, default)

        def __getitem__(self, key):
            names.add(key)
            return super().__getitem__(key)

    monkeypatch.setattr(Config, "setting", recording_setting)
    monkeypatch.setattr(env.config, "secrets", RecordingSecrets(env.config.secrets))
    create_app(env)
    return names


def test_every_setting_the_app_reads_is_in_the_readme(settings_read_at_startup):
    assert "JWT_SECRET" in settings_read_at_startup  # the recording sees what the app reads
    missing = sorted(name for name in settings_read_at_startup if not mentions(README, name))
    assert not missing, f"settings read by the app but not in README.md: {missing}"


OPTIONAL_PART = re.compile(r"\[([^\[\]]*)\]")


def documented_paths(lines=README_LINES):
    """README's API paths with ``{param}`` names blanked and ``[...]`` parts both ways, by line."""
    found = {}
    for line in lines:
        for raw in re.findall(r"(?<![\w.])(/[A-Za-z0-9_{}\[\]/.:-]*)", line):
            variants = {raw}
            # Only a closed pair is expanded: a lone "[" (a path cut at the line's end) stays.
            while any(OPTIONAL_PART.search(variant) for variant in variants):
                variants = {
                    expanded
                    for variant in variants
                    for expanded in (OPTIONAL_PART.sub(r"\1", variant, count=1),
                                     OPTIONAL_PART.sub("", variant, count=1))
                }
            for variant in variants:
                found.setdefault(normal_path(variant), []).append(line)
    return found


def normal_path(path):
    return re.sub(r"\{[^{}]*\}", "{}", path.rstrip("/.")) or "/"


def app_routes(env):
    for route in falcon.inspect.inspect_routes(create_app(env)):
        methods = sorted({m.method for m in route.methods if not m.internal and m.method != "OPTIONS"})
        if methods:
            yield route.path, methods


def test_every_route_is_in_the_readme_with_its_methods(env):
    documented = documented_paths()
    problems = []
    for path, methods in app_routes(env):
        lines = documented.get(normal_path(path))
        if not lines:
            problems.append(f"{' '.join(methods)} {path}: not in README.md")
            continue
        for method in methods:
            if not any(mentions(line, method) for line in lines):
                problems.append(f"{method} {path}: the README's line for it does not say {method}")
    assert not problems, "\n".join(problems)


def test_the_route_check_sees_the_routes():
    # The inspection finds routes, and README paths are read, or the test above proves nothing.
    assert normal_path("/api/content/{id}/versions") in documented_paths()
    assert len(COMMANDS) > 10 and len(BINDING_KEYS) > 5


def test_documented_paths_expand_closed_brackets_and_keep_a_lone_one():
    found = documented_paths(["`/api/a[/b]` and `/api/c[/d`"])
    assert {"/api/a", "/api/a/b", "/api/c[/d"} <= set(found)
