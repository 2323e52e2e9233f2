"""Prometheus metrics of the process: requests per route template and status, and their latency.

Under gunicorn every worker is a process of its own: ``serve`` points
``PROMETHEUS_MULTIPROC_DIR`` at a fresh folder before the workers start, each worker's
values go to files there, and ``GET /metrics`` adds up the files of every worker, so
whichever worker answers reports them all. Without that variable (tests, one process) the
values stay in this process's memory.

The metrics are created once per process (prometheus-client keeps one value per label set
and process), whatever number of apps the process builds.
"""

import functools
import os
import threading

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client import multiprocess

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
_lock = threading.Lock()


class RequestMetrics:
    """The request counter and latency histogram, in a registry of their own."""

    def __init__(self):
        self.registry = CollectorRegistry()
        self.requests = Counter("sonicpy_http_requests", "HTTP requests served", ["method", "route", "status"],
                                registry=self.registry)
        self.latency = Histogram("sonicpy_http_request_duration_seconds", "Time to build a response",
                                 ["method", "route"], registry=self.registry)

    def observe(self, method, route, status, seconds):
        """Count one request of ``route`` (its URI template) and record how long it took."""
        self.requests.labels(method, route, str(status)).inc()
        self.latency.labels(method, route).observe(seconds)

    def exposition(self):
        """The Prometheus text format of every worker's values (this process's without multiprocess)."""
        if os.environ.get(MULTIPROC_ENV):
            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)
            return generate_latest(registry)
        return generate_latest(self.registry)


@functools.cache
def request_metrics():
    """The process's RequestMetrics (created on first use)."""
    with _lock:
        return RequestMetrics()
