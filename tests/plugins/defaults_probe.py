"""A plugin for the tests of declared defaults: what ``before_content_create`` sees, and a change.

It is loaded by module path (``Settings.plugins``) and activated through the plugins API.
``SEEN`` records a copy of the ``fields`` each create's hook received; an item whose
``data.note`` is one of ``CHANGES`` has its data changed by the hook.
"""

import copy

from app.services.plugins import PluginInfo, hookimpl

SEEN = []

plugin_info = PluginInfo(name="defaults-probe", display_name="Defaults probe",
                         description="Records the fields a create's hook sees")

CHANGES = {
    "more seats": lambda data: data.update(seats=99),
    "seats as text": lambda data: data.update(seats="many"),
    "no venue": lambda data: data.pop("venue", None),
}


@hookimpl
def before_content_create(fields):
    SEEN.append(copy.deepcopy(fields))
    data = fields.get("data")
    change = CHANGES.get(data.get("note")) if isinstance(data, dict) else None
    if change is not None:
        change(data)
