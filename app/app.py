"""The composition root: ``create_app(env)`` wires middleware, error handling and routes.

Everything the app needs comes from ``env`` (the bindings) and ``settings``; nothing is read
from globals, so tests build as many apps as they like, each with its own env.
"""

import falcon
import falcon.media
import msgspec

from app.api.access import check_routes
from app.api.authentication import AuthenticationMiddleware
from app.api.errors import install_error_handling
from app.api.middleware import DatabaseMiddleware, RequestContextMiddleware
from app.api.routes import ROUTE_MODULES, Routes
from app.db.models import bind_models
from app.services import Services
from app.services.identity import RolePermissions
from app.settings import settings_from_env


def _json_handler():
    # msgspec encodes rows about 10x faster than json.dumps (reference/pitfalls.md).
    return falcon.media.JSONHandler(dumps=lambda obj: msgspec.json.encode(obj).decode(), loads=msgspec.json.decode)


def create_app(env, settings=None):
    """Build the Falcon WSGI app serving ``env``.

    Args:
        env: the Env of bindings (``app.runtime.env.build_env``).
        settings: Settings; default read from the env's vars and secrets.
    """
    settings = settings or settings_from_env(env)
    db = env.DB.db
    bind_models(db)  # the default for code outside requests; each request binds its own app's
    services = Services()
    services.extras["roles"] = RolePermissions()
    app = falcon.App(
        middleware=[
            RequestContextMiddleware(env),
            DatabaseMiddleware(db),
            AuthenticationMiddleware(settings, services.roles, token_resolvers=services.token_resolvers),
        ],
        cors_enable=False,
    )
    handler = _json_handler()
    app.req_options.media_handlers.update({falcon.MEDIA_JSON: handler})
    app.resp_options.media_handlers.update({falcon.MEDIA_JSON: handler})
    app.req_options.strip_url_path_trailing_slash = True
    install_error_handling(app)
    routes = Routes(app, env, settings, services)
    for module in ROUTE_MODULES:
        module.register(routes)
    check_routes(routes.added)
    return app
