"""A plugin for the tests of the admin's settings form: a choice whose options include the
empty text and a text of blanks only, beside the setting's "not set" (null). No hooks: only the form is under test."""

from typing import Literal

import msgspec

from app.services.plugins import PluginInfo


class BlankChoice(msgspec.Struct, forbid_unknown_fields=True):
    """The plugin's settings."""

    tone: Literal["", " ", "loud"] | None = ""


plugin_info = PluginInfo(
    name="blank-choice",
    display_name="Blank choice",
    description="A setting chosen from the empty text, a blank and a word",
    author="tests",
    settings_schema=BlankChoice,
    default_settings={"tone": ""},
)
