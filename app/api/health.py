"""``GET /health`` and ``GET /api/health``: name, version, env and a real round trip per binding.

Each binding is checked by its type's ``ping`` (``app.runtime.bindings``), so a new binding
type is reported here without a change to this module.
"""

import time

import falcon

from app import NAME, __version__
from app.api.access import access
from app.api.describe import describe

# Whatever a ping raises means the binding is down; its class name is reported.
CHECK_ERRORS = (Exception,)


def check_binding(binding_type, binding):
    """Ping ``binding`` through its ``binding_type``; ``{"status": "ok"|"down", "latency_ms", "error"?}``."""
    started = time.perf_counter()
    try:
        binding_type.ping(binding)
    except CHECK_ERRORS as ex:  # noqa: BLE001 - any failure means "down"; the kind is reported
        return {"status": "down", "latency_ms": _ms(started), "error": type(ex).__name__}
    return {"status": "ok", "latency_ms": _ms(started)}


def _ms(started):
    return round((time.perf_counter() - started) * 1000, 2)


class HealthResource:
    """Reports each binding; 503 when any is down, so a load balancer takes the worker out."""

    @access(public=True)
    @describe("Liveness and a round trip per binding (503 when one is down)")
    def on_get(self, req, resp):
        env = req.context.env
        checks = {
            name: {"type": binding_type.kind, **check_binding(binding_type, env.bindings[name])}
            for name, binding_type in env.binding_types().items()
        }
        healthy = all(check["status"] == "ok" for check in checks.values())
        resp.status = falcon.HTTP_200 if healthy else falcon.HTTP_503
        body = {
            "name": NAME,
            "version": __version__,
            "worker": env.name,
            "env": env.config.env_label,
            "status": "healthy" if healthy else "degraded",
            "timestamp": int(time.time() * 1000),
            "bindings": checks,
        }
        if not healthy:
            # A 503 carries the error envelope's "error" key like every other error response.
            down = ", ".join(name for name, check in checks.items() if check["status"] != "ok")
            body["error"] = f"Binding(s) down: {down}"
        resp.media = body


def register(routes):
    """Mount the health endpoints."""
    resource = HealthResource()
    routes.add("/health", resource)
    routes.add("/api/health", resource)
