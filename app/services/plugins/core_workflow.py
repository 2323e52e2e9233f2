"""The ``core-workflow`` core plugin: SonicJS's "Workflow Engine" row, standing for the
content workflow, review, assignments and scheduled publishing that are built into the app.

Its row is SonicJS's (migration 0006). The workflow is the app's own (its routes, the
content service's moves, the scheduled jobs), not something a plugin adds: this plugin
only says so, so that the row is listed as loaded rather than as code missing from the app.
It cannot be deactivated (409), since deactivating it would switch nothing off, and it
declares no settings (a settings object with any key is refused).
"""

import msgspec

from app.services.plugins import PluginInfo

NAME = "core-workflow"


class WorkflowSettings(msgspec.Struct, forbid_unknown_fields=True):
    """Settings of ``core-workflow``: none."""


INFO = PluginInfo(
    name=NAME, display_name="Workflow Engine", version="1.0.0", author="SonicJS Team", category="content",
    description="Content workflow, review and scheduled publishing",
    settings_schema=WorkflowSettings, default_settings={}, active_by_default=True, is_core=True, required=True,
)


class CoreWorkflow:
    """The plugin object: no hooks, its information only."""

    plugin_info = INFO
