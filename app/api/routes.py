"""Where the app's routes come from: each API module's ``register(routes)``, in order.

``Routes`` records every route it adds so ``create_app`` can check that each responder
declares an access rule (see ``app.api.access``).
"""

from app.api import (
    activity,
    api_tokens,
    auth,
    collections,
    content,
    explorer,
    files,
    forms,
    forms_public,
    health,
    log_config,
    log_export,
    logs,
    media,
    metrics,
    migrations,
    openapi,
    plugins,
    references,
    schedules,
    stats,
    system,
    users,
    workflow,
    workflow_assignments,
)

ROUTE_MODULES = [
    health, system,
    auth, users, api_tokens, collections,
    workflow, workflow_assignments,
    schedules,
    media, files,
    content, stats, references, activity,
    forms, forms_public,
    plugins, logs, log_export, log_config, metrics, migrations,
    openapi, explorer,
]


class Routes:
    """Adds routes to a Falcon app and remembers them; carries what resources need.

    Attributes:
        app: the Falcon app.
        env: the env of bindings.
        settings: the app's Settings.
        services: the app's Services; ``register`` hands each resource the ones it uses.
        identify: ``(req) -> None``, sets ``req.context.user`` from the request's credentials
            where no route matched (the authentication middleware does it for every route).
    """

    def __init__(self, app, env, settings, services, identify=None):
        self.app = app
        self.identify = identify or _identify_nobody
        self.env = env
        self.settings = settings
        self.services = services
        self.added = []
        self._pages = set()  # ids of the resources that answer HTML pages

    def add(self, template, resource, suffix=None):
        """``app.add_route`` that remembers ``(template, resource, suffix)``."""
        if suffix:
            self.app.add_route(template, resource, suffix=suffix)
        else:
            self.app.add_route(template, resource)
        self.added.append((template, resource, suffix))

    def add_page(self, template, resource, suffix=None):
        """``add`` for a resource answering HTML pages (the admin UI): the OpenAPI document
        leaves it out, and the admin's middleware gives it CSRF checks and page refusals."""
        self._pages.add(id(resource))
        self.add(template, resource, suffix)

    def is_page(self, resource):
        """Whether ``resource`` was mounted with ``add_page``."""
        return id(resource) in self._pages

    @property
    def api_routes(self):
        """The ``(template, resource, suffix)`` of every route but the pages."""
        return [route for route in self.added if not self.is_page(route[1])]


def _identify_nobody(req):
    req.context.user = None
