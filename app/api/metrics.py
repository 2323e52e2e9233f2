"""``GET /metrics`` (Prometheus text format) and the middleware that feeds it.

The route answers only with ``Authorization: Bearer <METRICS_TOKEN>``; without a
``METRICS_TOKEN`` secret it answers 404, so metrics are off until an operator sets one.
Requests are counted per route template (``/api/content/{id}``, never the raw path, so
ids do not explode the label set) and status; unmatched paths count as ``unmatched``.
"""

import hmac
import time

import falcon

from app.api.access import access
from app.api.describe import describe
from app.api.errors import not_found, unauthorized
from app.services.metrics import CONTENT_TYPE, request_metrics

UNMATCHED = "unmatched"


class MetricsMiddleware:
    """Counts every response and its latency (``started`` is set by the request context middleware)."""

    def __init__(self):
        self._metrics = request_metrics()

    def process_response(self, req, resp, resource, req_succeeded):
        started = getattr(req.context, "started", None)
        if started is None:
            return
        route = (resource is not None and req.uri_template) or UNMATCHED
        self._metrics.observe(req.method, route, resp.status_code, time.perf_counter() - started,
                              resp.get_header("X-Cache-Source"))


class MetricsResource:
    """``GET /metrics``."""

    def __init__(self, token):
        self._token = token

    @access(public=True)
    @describe("Request counters (Prometheus text; needs the METRICS_TOKEN bearer)", media_type="text/plain")
    def on_get(self, req, resp):
        if not self._token:
            raise not_found()
        given = (req.get_header("Authorization") or "").removeprefix("Bearer ").strip()
        if not hmac.compare_digest(given.encode(), self._token.encode()):
            raise unauthorized("Invalid metrics token")
        resp.content_type = CONTENT_TYPE
        resp.data = request_metrics().exposition()
        resp.status = falcon.HTTP_200


def register(routes):
    """Mount ``/metrics``."""
    routes.add("/metrics", MetricsResource(routes.settings.metrics_token))
