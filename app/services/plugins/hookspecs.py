"""The hook specifications: every hook a plugin may implement, with its arguments.

A plugin implements any of them with ``@hookimpl`` and may take any subset of the
arguments, by name. Three kinds:

* ``before_*`` run before a write: a create before its transaction, an update, delete or
  restore inside it, once the row is loaded and the caller's right to change it checked
  (keep them quick: the write waits). One may refuse the write by raising
  ``HookVeto(status, message)``: nothing is written and the client receives that 4xx;
  any other exception is logged with the request id and ignored.
* ``after_*`` run once the write has committed (never for a write rolled back). Their
  exceptions are logged with the request id and ignored: the write stands, the response is
  unchanged. Work that talks to the network belongs in ``ctx.wait_until`` (see the
  ``ctx`` argument), after the response.
* app hooks: ``register_routes`` and ``startup``, called once when the app is built.

``user`` is the acting ``Principal`` (or the ``User`` row for auth hooks); ``content`` is
the ``Content`` row; ``media`` the ``Media`` row; ``ctx`` is the request's execution
context, or None outside a request (CLI, cron).
"""

from app.services.plugins import hookspec

# ------------------------------------------------------------------ content


@hookspec
def before_content_create(user, collection, fields, ctx):
    """Before content is created in ``collection`` from ``fields``.

    ``fields`` is the create as it will be stored: its ``data`` has the defaults the schema
    declares filled in. A change the hook makes to it is validated with the rest; a
    ``title`` it sets replaces a ``title`` field's default in ``data``, as the client's would.
    """


@hookspec
def after_content_create(user, content, ctx):
    """After ``content`` was created."""


@hookspec
def before_content_update(user, content, fields, ctx):
    """Before ``content`` (as stored) is changed by ``fields``."""


@hookspec
def after_content_update(user, content, ctx):
    """After ``content`` was changed (a new version)."""


@hookspec
def before_content_delete(user, content, ctx):
    """Before ``content`` is soft-deleted."""


@hookspec
def after_content_delete(user, content, ctx):
    """After ``content`` was soft-deleted."""


@hookspec
def before_content_restore(user, content, ctx):
    """Before soft-deleted ``content`` is restored."""


@hookspec
def after_content_restore(user, content, ctx):
    """After ``content`` was restored."""


@hookspec
def after_content_workflow(user, content, action, from_state, to_state, ctx):
    """After a workflow move of ``content`` (``action`` such as ``submit``, ``publish``)."""


@hookspec
def after_content_publish(user, content, ctx):
    """After ``content`` moved to ``published`` (by the API, an edit or a schedule)."""


@hookspec
def after_content_unpublish(user, content, ctx):
    """After published ``content`` moved out of ``published``."""


# ------------------------------------------------------------------ media


@hookspec
def after_media_upload(user_id, media, ctx):
    """After a file was stored and its ``media`` row inserted."""


@hookspec
def after_media_delete(media, purged, ctx):
    """After ``media`` was soft-deleted (``purged`` False) or deleted for good (True)."""


# ------------------------------------------------------------------ auth


@hookspec
def after_auth_register(user, ctx):
    """After a person registered (``POST /auth/register``)."""


@hookspec
def after_auth_login(user, ctx):
    """After a successful sign-in."""


@hookspec
def after_auth_password_change(user, reason, ctx):
    """After a password changed; ``reason`` is ``change`` or ``reset``."""


# ------------------------------------------------------------------ app


@hookspec
def register_routes(env, settings, services):
    """Routes of the plugin: a list of ``(uri_template, resource)`` or ``(uri_template, resource, suffix)``.

    Each responder declares ``@access(...)`` like the app's own. The routes are mounted
    when the app is built and answer 404 while the plugin is inactive.
    """


@hookspec
def after_request(record, ctx):
    """After every request, once its response has been sent (it runs through ``ctx.wait_until``).

    ``record`` is an ``app.services.logs.RequestRecord``.
    """


@hookspec
def startup(env, settings, services):
    """Once, when the app is built (in each worker)."""
