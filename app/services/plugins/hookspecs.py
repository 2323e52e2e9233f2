"""The hook specifications: every hook a plugin may implement, with its arguments.

A plugin implements any of them with ``@hookimpl`` and may take any subset of the
arguments, by name. Five kinds:

* ``before_*`` run before a write: a create before its transaction, an update, delete or
  restore inside it, once the row is loaded and the caller's right to change it checked
  (keep them quick: the write waits). One may refuse the write by raising
  ``HookVeto(status, message)``: nothing is written and the client receives that 4xx;
  any other exception is logged with the request id and ignored.
* ``after_*`` run once the write has committed (never for a write rolled back). Their
  exceptions are logged with the request id and ignored: the write stands, the response is
  unchanged. Work that talks to the network belongs in ``ctx.wait_until`` (see the
  ``ctx`` argument), after the response.
* ``on_*`` hooks hear of something that happened (a request that failed, a plugin
  activated, installed...): like ``after_*`` hooks they run after any transaction commits,
  and their exceptions are logged and ignored.
* request hooks: ``before_request`` at the start of every request (it may veto the request
  as a ``before_*`` hook vetoes a write), ``after_request`` and ``on_request_error`` after
  the response.
* app hooks: ``register_routes``, ``register_admin_pages`` and ``startup``, called once
  when the app is built.

``user`` is the acting ``Principal`` (or the ``User`` row for the auth hooks, but for
``after_auth_logout``, which gets the signed-out ``Principal``); ``content`` is
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
    """Before ``content`` (as stored) is changed by ``fields``.

    A change the hook makes to ``fields`` is validated with the rest and written, as for
    ``before_content_create``; a ``status`` it sets is ignored (a workflow move is the
    caller's). An update that changes nothing, the hook's changes included, writes nothing
    and runs no ``after_content_update``.
    """


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
    """After a workflow move of ``content`` (``action`` such as ``submit``, ``publish``).

    A move made within a create, an edit or a restore (a status in the write, the review
    rule's moves) runs after that write's own ``after_content_*`` hook, with the same
    ``content``: the row the whole write left, its version included.
    """


@hookspec
def after_content_assign(user, content, assignee_id, due_at, previous_assignee_id, ended_by, ctx):
    """After the assignment of ``content`` changed (``assignee_id`` None: now unassigned).

    ``ended_by`` is None for a change someone asked for (assigning, unassigning), and says
    what ended the assignment otherwise: the workflow action that took the item into
    ``published`` or ``archived`` (``publish``, ``archive``), ``deleted`` (the trash) or
    ``purged`` (deleted for good, the hooks then running after the item is gone).
    """


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
def after_auth_logout(user, ctx):
    """After a person signed out (``POST /auth/logout`` or the admin's sign-out) and their
    sessions ended; ``user`` is the ``Principal`` that signed out. Not called for a caller
    that had no session to end (an API token, or nobody)."""


@hookspec
def after_auth_password_change(user, reason, ctx):
    """After a password changed; ``reason`` is ``change`` or ``reset``."""


# ------------------------------------------------------------------ plugin lifecycle
# Each is called on the plugin ``name`` itself (whether active or not) and on every active
# plugin, once the change has committed.


@hookspec
def on_plugin_install(name, ctx):
    """After plugin ``name`` got its row: the first time the app loaded it, or after an
    uninstall, when its code is still loaded and it starts over. A plugin creates what it
    needs here (it starts inactive)."""


@hookspec
def on_plugin_uninstall(name, ctx):
    """After plugin ``name``'s row, settings, activity and registrations were deleted
    (``POST /admin/api/plugins/{name}/uninstall``). A plugin removes what it made here."""


@hookspec
def on_plugin_activate(name, ctx):
    """After plugin ``name`` was activated."""


@hookspec
def on_plugin_deactivate(name, ctx):
    """After plugin ``name`` was deactivated (it is called even so)."""


# ------------------------------------------------------------------ requests


@hookspec
def before_request(req_info, ctx):
    """At the start of every request, before routing, authentication and the responder.

    ``req_info`` is an ``app.services.logs.RequestInfo`` (method, path, query with secrets
    filtered, client ip, user agent, request id). Raising ``HookVeto(status, message)``
    answers that 4xx at once; nothing else runs. Costs nothing while no active plugin
    implements it; one that does runs on every request, so it must be quick.

    So that a plugin refusing too much cannot lock the admins out, it is never asked about
    CORS preflights (``OPTIONS``), the health checks (``/health``, ``/api/health``,
    ``/api/system/health``, ``/api/system/ping``), signing in and out (``/auth/*``,
    ``/admin/login``, ``/admin/logout``, ``/admin/static/*``) or the plugin administration
    (``/admin/api/plugins*``, ``/admin/plugins*``), where it is switched off.
    """


@hookspec
def on_request_error(record, error, ctx):
    """After a request answered a 5xx, once its response has been sent (after ``after_request``).

    ``record`` is the ``RequestRecord`` ``after_request`` receives; ``error`` the exception
    that went unhandled (or that the database or a binding raised), None for a 5xx the app
    answered on purpose. It cannot change the response.
    """


# ------------------------------------------------------------------ app


@hookspec
def register_routes(env, settings, services):
    """Routes of the plugin: a list of ``(uri_template, resource)`` or ``(uri_template, resource, suffix)``.

    Each responder declares ``@access(...)`` like the app's own. The routes are mounted
    when the app is built and answer 404 while the plugin is inactive.
    """


@hookspec
def register_admin_pages(env, settings, services):
    """Admin pages of the plugin: a list of ``app.services.plugins.AdminPage``.

    Each is served at ``/admin/plugins/<plugin name>/pages/<slug>`` inside the admin's
    layout, to a signed-in user holding the page's ``permission``, and listed in the nav
    to such a user; both only while the plugin is active (its pages answer 404 otherwise).
    """


@hookspec
def after_request(record, ctx):
    """After every request, once its response has been sent (it runs through ``ctx.wait_until``).

    ``record`` is an ``app.services.logs.RequestRecord``.
    """


@hookspec
def startup(env, settings, services):
    """Once, when the app is built (in each worker)."""


# ------------------------------------------------------------------ forms


@hookspec
def after_form_submit(user, form, submission, ctx):
    """After a visitor's ``submission`` (a ``FormSubmission`` row) of ``form`` was stored;
    ``user`` is the submitter named by a bearer token, or None (a post caught by the
    honeypot stores nothing and runs no hook)."""
