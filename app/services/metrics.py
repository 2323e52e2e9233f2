"""Prometheus metrics of the process: requests per route template and status, their latency,
cached reads by the tier that answered them, webhook delivery attempts by outcome.

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

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)

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
        self.cache_reads = Counter("sonicpy_cache_reads", "Cached reads by the tier that answered",
                                   ["source"], registry=self.registry)
        self.webhook_attempts = Counter("sonicpy_webhook_attempts", "Webhook delivery attempts by outcome",
                                        ["outcome"], registry=self.registry)

    def observe(self, method, route, status, seconds, cache_source=None):
        """Count one request of ``route`` (its URI template), how long it took and, for a
        cached read, the tier that answered (``memory``, ``kv`` or ``database``)."""
        self.requests.labels(method, route, str(status)).inc()
        self.latency.labels(method, route).observe(seconds)
        if cache_source:
            self.cache_reads.labels(cache_source).inc()

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
