"""A plugin for the tests of declared defaults: what ``before_content_create`` sees, and a change.

It is loaded by module path (``Settings.plugins``) and activated through the plugins API.
``SEEN`` records a copy of the ``fields`` each create's hook received; a create whose
``data.note`` is one of ``CHANGES`` has its fields changed by the hook.
"""

import copy

from app.services.plugins import PluginInfo, hookimpl

SEEN = []

plugin_info = PluginInfo(name="defaults-probe", display_name="Defaults probe",
                         description="Records the fields a create's hook sees")

CHANGES = {
    "more seats": lambda fields: fields["data"].update(seats=99),
    "seats as text": lambda fields: fields["data"].update(seats="many"),
    "no venue": lambda fields: fields["data"].pop("venue", None),
    "hook title": lambda fields: fields.update(title="Set by hook"),
    "hook titles": lambda fields: (fields.update(title="Set by hook"), fields["data"].update(title="Hook's data")),
}


@hookimpl
def before_content_create(fields):
    SEEN.append(copy.deepcopy(fields))
    data = fields.get("data")
    change = CHANGES.get(data.get("note")) if isinstance(data, dict) else None
    if change is not None:
        change(fields)
