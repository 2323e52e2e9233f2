"""A plugin for the tests of ``before_content_update``: a change it makes, and the updates it hears of.

It is loaded by module path (``Settings.plugins``) and activated through the plugins API.
An update sending ``data.excerpt`` that is one of ``CHANGES`` has its fields changed by the
hook; ``UPDATED`` records the id of each item ``after_content_update`` is called for.
"""

from app.services.plugins import PluginInfo, hookimpl

UPDATED = []

plugin_info = PluginInfo(name="update-probe", display_name="Update probe",
                         description="Changes an update's fields, and records the updates made")

CHANGES = {
    "hook title": lambda fields: fields.update(title="Set by hook"),
    "hook views": lambda fields: fields["data"].update(views=7),
    "hook views as text": lambda fields: fields["data"].update(views="many"),
    "hook status": lambda fields: fields.update(status="archived"),
}


@hookimpl
def before_content_update(fields):
    data = fields.get("data")
    change = CHANGES.get(data.get("excerpt")) if isinstance(data, dict) else None
    if change is not None:
        change(fields)


@hookimpl
def after_content_update(content):
    UPDATED.append(content.id)
