"""Which methods a route answers: HEAD wherever it answers GET, and OPTIONS naming them all.

RFC 9110 (9.3.2) asks a server that answers GET on a resource to answer HEAD too, with the
same status and headers and no content. Rather than an ``on_head`` in every resource, the
app's router (``MethodsRouter``, installed by ``create_app``) maps HEAD of a route that has
``on_get`` and no ``on_head`` of its own to that very ``on_get``: the same ``@access``
check and hooks run, the same headers are set, and Falcon sends no body for a HEAD while
keeping the Content-Length a GET would have had. The OpenAPI document lists such a HEAD
too, built from the GET's own description (``app.api.openapi``), as it lists a declared
``on_head`` (``/files``); ``head_mirrors_get`` is the one rule both follow.

OPTIONS of a route without ``on_options`` answers 200 with ``Allow`` naming every method the
route takes, OPTIONS and HEAD included (Falcon's own leaves OPTIONS out). A CORS preflight
to the JSON API never reaches it (``app.api.cors`` answers those first) but names the same
methods in ``Access-Control-Allow-Methods``.
"""

import inspect

import falcon
import falcon.inspect
from falcon.routing import CompiledRouter

# The methods that change nothing (RFC 9110's safe methods): no write, so no CSRF or
# cross-origin check, and no D1 bookmark to promise.
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def head_mirrors_get(declared):
    """Whether a route with responders for ``declared`` (upper-case method names) answers HEAD
    through its GET: it has a GET and no HEAD of its own."""
    return "GET" in declared and "HEAD" not in declared


def allowed_methods(declared):
    """The methods a route with responders for ``declared`` (method names) answers, sorted:
    those, HEAD when GET is one of them, and OPTIONS."""
    methods = {method.upper() for method in declared} - {"WEBSOCKET"}
    if "GET" in methods:
        methods.add("HEAD")
    methods.add("OPTIONS")
    return sorted(methods)


def head_from_get(on_get):
    """A HEAD responder that runs ``on_get`` (its access check and hooks included).

    Falcon sends no body for a HEAD, so a stream the GET opened (a bucket object, say) would
    never be read nor closed: it is closed here, keeping the Content-Length already set.
    """

    def on_head(req, resp, **params):
        on_get(req, resp, **params)
        close = getattr(resp.stream, "close", None)
        if close is not None:
            close()

    on_head.__dict__.update(getattr(on_get, "__dict__", {}))  # the @access rule and @describe facts
    return on_head


def options_allowing(methods):
    """An OPTIONS responder answering 200, no content, and ``Allow: <methods>``."""
    allow = ", ".join(methods)

    def on_options(req, resp, **params):
        resp.status = falcon.HTTP_200
        resp.set_header("Allow", allow)
        resp.content_length = 0

    return on_options


class MethodsRouter(CompiledRouter):
    """Falcon's router, whose method map adds HEAD from GET and an OPTIONS naming every method.

    Falcon then builds the 405 answers of the route from the same map, so their ``Allow``
    names HEAD and OPTIONS as well.
    """

    def map_http_methods(self, resource, **kwargs):
        """Falcon's map of ``resource``'s responders, plus HEAD and OPTIONS (see the module)."""
        method_map = super().map_http_methods(resource, **kwargs)
        if head_mirrors_get(method_map):
            method_map["HEAD"] = head_from_get(method_map["GET"])
        if "OPTIONS" not in method_map:
            method_map["OPTIONS"] = options_allowing(allowed_methods(method_map))
        return method_map


@falcon.inspect.register_router(MethodsRouter)
def inspect_methods_router(router):
    """``falcon.inspect`` of the app's router: the compiled router's, with the HEAD and OPTIONS
    responders made here marked internal, as Falcon marks its own default responders (no
    resource declares them)."""
    routes = falcon.inspect.inspect_compiled_router(router)
    here = inspect.getsourcefile(head_from_get)
    for route in routes:
        for method in route.methods:
            if method.source_info.rpartition(":")[0] == here:
                method.internal = True
    return routes
