"""The composition root: ``build_services`` and ``create_app(env)``.

Everything the app needs comes from ``env`` (the bindings), ``settings`` and ``services``;
nothing is read from globals, so tests build as many apps as they like, each with its own
env, and hand in services of their own (a mailer that records what it is given).
"""

import falcon
import falcon.media
import msgspec

from app.admin import register as register_admin
from app.admin.assets import Assets
from app.admin.public import PublicPages
from app.api.access import check_routes
from app.api.authentication import AuthenticationMiddleware
from app.api.cors import CORSMiddleware
from app.api.cross_origin import CrossOriginProtection
from app.api.d1_session import D1SessionMiddleware
from app.api.errors import install_error_handling
from app.api.form_error_pages import FormErrorPages
from app.api.methods import MethodsRouter
from app.api.metrics import MetricsMiddleware
from app.api.middleware import PluginMiddleware, RequestContextMiddleware
from app.api.rate_limits import Guard, RateLimitHeaders
from app.api.request_guard import RequestGuard, Utf8QueryRequest, guard_request_bodies
from app.api.routes import ROUTE_MODULES, Routes
from app.api.sign_in_redirect import install as install_sign_in_redirect
from app.db.middleware import DatabaseMiddleware
from app.db.models import bind_models
from app.services import Services
from app.services.accounts import Accounts
from app.services.api_tokens import ApiTokens
from app.services.cache import ThreeTierCache
from app.services.cache_lost import record_lost_bump
from app.services.identity import RolePermissions
from app.services.mail import mailer_for
from app.services.media import MediaLibrary
from app.services.metrics import time_queries
from app.services.plugins import hooks
from app.services.plugins.core import core_plugins
from app.services.plugins.registry import PluginRegistry, load_manager
from app.services.ratelimit import RateLimiter
from app.settings import settings_from_env


def _json_handler():
    # msgspec encodes rows about 10x faster than json.dumps; it answers bytes, which falcon
    # sends as they are (a dumps answering str is encoded a second time on every response).
    return falcon.media.JSONHandler(dumps=msgspec.json.encode, loads=msgspec.json.decode)


def build_services(env, settings):
    """The services one app shares, each built once.

    Args:
        env: the Env of bindings; CACHE_KV backs the read cache and the rate limiter.
        settings: the app's Settings.
    """
    kv = env.get("CACHE_KV")
    # A bump KV refuses is recorded in the database too: the worker keeping it may exit first.
    cache = ThreeTierCache.from_settings(kv, settings, record_lost=record_lost_bump) if kv is not None else None
    roles = RolePermissions(cache=cache)
    manager, plugin_infos = load_manager(core_plugins(), settings.plugins)
    return Services(
        roles=roles,
        accounts=Accounts(settings, cache=cache),
        api_tokens=ApiTokens.from_settings(roles, settings),
        rate_limiter=RateLimiter(kv, settings.rate_limit_attempts, settings.rate_limit_window_seconds),
        cache=cache,
        media=MediaLibrary(settings, cache),
        mailer=mailer_for(settings),
        plugins=PluginRegistry(manager, plugin_infos, cache),
        pages=PublicPages(Assets),  # the static files are read on first use
    )


def create_app(env, settings=None, services=None):
    """Build the Falcon WSGI app serving ``env``.

    Args:
        env: the Env of bindings (``app.runtime.env.build_env``).
        settings: Settings; default read from the env's vars and secrets.
        services: Services; default ``build_services(env, settings)``.
    """
    settings = settings or settings_from_env(env)
    services = services or build_services(env, settings)
    db = env.DB.db
    bind_models(db)  # the default for code outside requests; each request binds its own app's
    time_queries(db)  # query durations for /metrics
    authentication = AuthenticationMiddleware(settings, services.roles, token_resolvers=[services.api_tokens.resolve],
                                              cache=services.cache)
    app = falcon.App(
        middleware=[
            RequestContextMiddleware(env),
            MetricsMiddleware(),
            RequestGuard(),
            DatabaseMiddleware(db),
            D1SessionMiddleware(),
            PluginMiddleware(services.plugins, settings),
            authentication,
        ],
        cors_enable=False,
        router=MethodsRouter(),  # HEAD wherever GET is, and an Allow naming every method
        request_type=Utf8QueryRequest,
    )
    handler = _json_handler()
    guard_request_bodies(app, handler)
    app.resp_options.media_handlers.update({falcon.MEDIA_JSON: handler})
    app.req_options.strip_url_path_trailing_slash = True
    install_error_handling(app)
    routes = Routes(app, env, settings, services, identify=authentication.identify)
    # A browser that must sign in gets the sign-in page, not a JSON 401; a page's route reads
    # its Accept as the admin's pages do (``routes.is_page``, asked at request time).
    install_sign_in_redirect(app, routes.is_page)
    # After authentication, before the admin's CSRF check (it reads no body); it asks
    # ``routes`` at request time which resources are pages, so pages mounted below count.
    app.add_middleware(CrossOriginProtection(settings, routes.is_page))
    # A browser's form post refused by that check or the rate limit sees a page, not JSON.
    app.add_middleware(FormErrorPages(services.pages))
    for module in ROUTE_MODULES:
        module.register(routes)
    services.plugins.mount_routes(routes)
    register_admin(routes)  # the web UI at /admin, over the same services and access rules
    check_routes(routes.added)
    hooks.set_process_default(services.plugins.hooks)  # for hooks fired outside requests (cron, CLI)
    services.plugins.start(env, settings, services)
    # Last: they need every mounted route, CORS for its preflight answers, the rate-limit
    # headers to know which responders are rate-limited.
    app.add_middleware(RateLimitHeaders(Guard(services.rate_limiter, settings), routes.added))
    app.add_middleware(CORSMiddleware(settings.cors_allow_origins, routes.added))
    return app
