"""A plugin for the tests of the admin's settings form: choices whose values are not text.

Its settings are a ``msgspec.Struct`` of ``Literal`` choices (numbers, numbers beside text,
an optional one); ``typed_choices_dict`` declares the same kind of settings as a dict
schema, with a number and a boolean enum. Neither has hooks: only the form is under test.
"""

from typing import Literal

import msgspec

from app.services.plugins import PluginInfo


class TypedChoices(msgspec.Struct, forbid_unknown_fields=True):
    """The plugin's settings."""

    size: Literal[1, 2, 3] = 2
    mode: Literal["auto", 0, 1] = "auto"
    limit: Literal[10, 20] | None = None


plugin_info = PluginInfo(
    name="typed-choices",
    display_name="Typed choices",
    description="Settings chosen from numbers",
    author="tests",
    settings_schema=TypedChoices,
    default_settings={"size": 2, "mode": "auto", "limit": None},
)
