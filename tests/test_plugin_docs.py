"""The README documents every hook a plugin can implement (a new hook without docs fails here)."""

import inspect
from pathlib import Path

import pytest

from app.services.plugins import hookspecs

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()
HOOKS = [name for name, fn in inspect.getmembers(hookspecs, inspect.isfunction) if fn.__module__ == hookspecs.__name__]


def test_there_are_hooks():
    assert "after_content_create" in HOOKS and "register_routes" in HOOKS


@pytest.mark.parametrize("name", HOOKS)
def test_hook_is_documented_with_its_arguments(name):
    arguments = ", ".join(inspect.signature(getattr(hookspecs, name)).parameters)
    assert f"`{name}({arguments})`" in README
