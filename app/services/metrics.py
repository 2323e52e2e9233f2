"""Prometheus metrics of the process: requests per route template and status, their latency,
cached reads by the tier that answered them, database query time by statement kind,
webhook delivery attempts by outcome.

Under gunicorn every worker is a process of its own: ``serve`` points
``PROMETHEUS_MULTIPROC_DIR`` at a fresh folder before the workers start, each worker's
values go to files there, and ``GET /metrics`` adds up the files of every worker, so
whichever worker answers reports them all. Without that variable (tests, one process) the
values stay in this process's memory.

The metrics are created once per process (prometheus-client keeps one value per label set
and process), whatever number of apps the process builds. Every request is counted, so the
child of each label set is looked up once and kept (``labels()`` checks and joins the
label values on every call); the children are prometheus-client's own, so the exposition,
multiprocess files included, is the same. A request's counts go straight to the children's
values (``counting``, ``observing``): the same additions ``inc()`` and ``observe()`` make,
without their checks (a child is always observable, the amounts never negative), which
were most of what counting a request cost.
"""

import bisect
import contextvars
import functools
import os
import threading
import time

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)

from app.db.database import is_postgres

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
STATEMENTS = ("SELECT", "INSERT", "UPDATE", "DELETE")
# Most statements take well under a millisecond on SQLite: the default buckets (from 5 ms)
# would put nearly all of them in the first one.
QUERY_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
_lock = threading.Lock()
# The database time of the request being served: a one-item list of seconds, made per
# request (``start_query_clock``) in the request's own context.
_query_seconds = contextvars.ContextVar("sonicpy_query_seconds", default=None)


class RequestMetrics:
    """The request counter and latency histogram, in a registry of their own."""

    def __init__(self):
        self._children = {}  # (method, route, status) or (id of a metric, label values) -> children
        self._reads = {}  # cache source -> its counting()
        self.registry = CollectorRegistry()
        self.requests = Counter("sonicpy_http_requests", "HTTP requests served", ["method", "route", "status"],
                                registry=self.registry)
        self.latency = Histogram("sonicpy_http_request_duration_seconds", "Time to build a response",
                                 ["method", "route"], registry=self.registry)
        self.cache_reads = Counter("sonicpy_cache_reads", "Cached reads by the tier that answered",
                                   ["source"], registry=self.registry)
        self.db_queries = Histogram("sonicpy_db_query_duration_seconds", "Time the database took per statement",
                                    ["backend", "statement"], buckets=QUERY_BUCKETS, registry=self.registry)
        self.webhook_attempts = Counter("sonicpy_webhook_attempts", "Webhook delivery attempts by outcome",
                                        ["outcome"], registry=self.registry)

    def observe(self, method, route, status, seconds, cache_source=None):
        """Count one request of ``route`` (its URI template), how long it took and, for a
        cached read, the tier that answered (``memory``, ``kv`` or ``database``)."""
        counted = self._children.get((method, route, status))
        if counted is None:
            counted = (counting(self.requests.labels(method, route, str(status))),
                       observing(self.latency.labels(method, route)))
            self._children[(method, route, status)] = counted
        counted[0]()
        counted[1](seconds)
        if cache_source:
            read = self._reads.get(cache_source)
            if read is None:
                read = self._reads[cache_source] = counting(self.child(self.cache_reads, cache_source))
            read()

    def child(self, metric, *labels):
        """``metric.labels(*labels)``, looked up once per label values and kept."""
        key = (id(metric), labels)
        found = self._children.get(key)
        if found is None:
            found = self._children[key] = metric.labels(*labels)
        return found

    def exposition(self):
        """The Prometheus text format of every worker's values (this process's without multiprocess)."""
        if os.environ.get(MULTIPROC_ENV):
            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)
            return generate_latest(registry)
        return generate_latest(self.registry)


def counting(counter):
    """A function adding 1 to the Counter child ``counter``, as ``counter.inc()`` does."""
    value = getattr(counter, "_value", None)
    if value is None:  # a prometheus-client laid out otherwise: its own method
        return counter.inc
    return functools.partial(value.inc, 1)


def observing(histogram):
    """A function ``observe(seconds)`` adding to the Histogram child ``histogram`` as its ``observe`` does."""
    try:
        total, buckets, bounds = histogram._sum, histogram._buckets, tuple(histogram._upper_bounds)
    except AttributeError:  # a prometheus-client laid out otherwise: its own method
        return histogram.observe
    adds = tuple(bucket.inc for bucket in buckets)
    add_total = total.inc

    def observe(seconds):
        add_total(seconds)
        # The first bucket whose upper bound is at least ``seconds`` (the last one is +Inf).
        adds[bisect.bisect_left(bounds, seconds)](1)

    return observe


@functools.cache
def request_metrics():
    """The process's RequestMetrics (created on first use)."""
    with _lock:
        return RequestMetrics()


def time_queries(db):
    """Time every statement the Peewee database ``db`` runs, into ``sonicpy_db_query_duration_seconds``.

    Each statement's time is also added to the request's clock (``start_query_clock``),
    which answers ``meta.timing.execution``.

    Labels: ``backend`` (``sqlite`` or ``postgresql``) and ``statement`` (``SELECT``,
    ``INSERT``, ``UPDATE``, ``DELETE`` or ``other``), never the SQL itself. Peewee runs
    every statement through ``execute_sql``; this wraps that method of ``db`` only, once,
    however many apps are built over it.

    Returns:
        ``db``.
    """
    if getattr(db, "_sonicpy_timed", False):
        return db
    metrics = request_metrics()
    backend = "postgresql" if is_postgres(db) else "sqlite"
    by_kind = {kind: observing(metrics.child(metrics.db_queries, backend, kind)) for kind in (*STATEMENTS, "other")}
    run = db.execute_sql

    def execute_sql(sql, params=None):
        started = time.perf_counter()
        try:
            return run(sql, params)
        finally:
            took = time.perf_counter() - started
            by_kind[statement_kind(sql)](took)
            spent = _query_seconds.get()
            if spent is not None:
                spent[0] += took

    db.execute_sql = execute_sql
    db._sonicpy_timed = True
    return db


def start_query_clock():
    """Start adding up the time the database takes for the request being served.

    Returns:
        a one-item list whose item is the seconds the database has taken since, in the
        caller's ``contextvars`` context (each request is served in its own).
    """
    spent = [0.0]
    _query_seconds.set(spent)
    return spent


def statement_kind(sql):
    """``SELECT``, ``INSERT``, ``UPDATE``, ``DELETE`` or ``other``: the first word of ``sql``."""
    # The head is enough (a statement is often kilobytes): unless it is mostly blanks.
    head = sql[:64].lstrip(" \n\t(")
    if len(head) < 16:
        head = sql.lstrip(" \n\t(")
    word = head.split(None, 1)[0].upper() if head.strip() else ""
    return word if word in STATEMENTS else "other"
