"""A plugin for the tests: records what the content hooks of a write see, in order.

Loaded by module path (``Settings.plugins``) and active from its first load. ``CALLS``
holds ``(hook, version_number, status, title, data)`` per call; the workflow hook's entry
names its action in place of the hook's name (``after_content_workflow:publish``).
"""

from app.services.plugins import PluginInfo, hookimpl

CALLS = []

plugin_info = PluginInfo(
    name="content-events",
    display_name="Content events",
    version="1.0.0",
    description="Records the content the content hooks are given",
    author="tests",
    active_by_default=True,
)


def _record(hook, content):
    CALLS.append((hook, content.version_number, content.status, content.title, content.data))


@hookimpl
def after_content_create(content):
    _record("after_content_create", content)


@hookimpl
def after_content_update(content):
    _record("after_content_update", content)


@hookimpl
def after_content_restore(content):
    _record("after_content_restore", content)


@hookimpl
def after_content_workflow(content, action):
    _record(f"after_content_workflow:{action}", content)


@hookimpl
def after_content_publish(content):
    _record("after_content_publish", content)


@hookimpl
def after_content_unpublish(content):
    _record("after_content_unpublish", content)


@hookimpl
def after_content_assign(content, ended_by):
    _record(f"after_content_assign:{ended_by}", content)
