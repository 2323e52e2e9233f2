"""``/api/system/*``: SonicJS's system routes (health, ping, info, stats, env), in its shapes.

SonicJS serves them all without authentication. Here ``stats`` reveals how much unpublished
work there is, so it needs ``content.publish``, as the dashboard's numbers do; the others
say nothing ``/health`` does not already say to anyone.

``health`` groups the bindings as SonicJS names them: ``database`` (D1), ``cache`` (KV)
and ``storage`` (R2), each ``healthy`` when every binding of that kind answered a round
trip. Without the database nothing works, so its failure is a 503 ``unhealthy`` (with the
error envelope); a cache or bucket down leaves reads working, which is a 200
``degraded``. ``uptime`` is, as in SonicJS, the milliseconds the checks took.
"""

import time
from typing import Any, Literal

import falcon
import msgspec

from app import NAME, __version__
from app.api.access import access
from app.api.describe import STARTUP_FAILED, ErrorBody, describe
from app.api.errors import DATABASE_BUSY_RETRY_AFTER, DATABASE_UNREACHABLE_RETRY_AFTER, retry_later
from app.api.health import bindings_to_check, check_bindings, iso_now, probe_binding
from app.runtime.bindings import BindingKind
from app.runtime.outages import Outage, database_outage
from app.services.stats import dashboard_stats

# SonicJS's name for each kind of binding in its health checks.
CHECK_NAMES = {BindingKind.D1: "database", BindingKind.KV: "cache", BindingKind.R2: "storage"}
DESCRIPTION = "A headless CMS backend built the way a Cloudflare Worker is built"
ENDPOINTS = {
    "api": "/api", "auth": "/auth", "health": "/health", "openapi": "/api/openapi.json", "admin": "/admin",
}
FEATURES = dict.fromkeys(("content", "media", "auth", "collections", "caching", "storage"), True)
MEGABYTE = 1024 * 1024


class SystemCheck(msgspec.Struct):
    """The bindings of one kind: ``healthy`` when each answered; the slowest round trip in ms."""

    status: Literal["healthy", "unhealthy"]
    latency: float


class SystemHealth(msgspec.Struct):
    """What ``GET /api/system/health`` answers (200, or 503 ``unhealthy`` with ``error`` and ``details``)."""

    status: Literal["healthy", "degraded", "unhealthy"]
    timestamp: str
    uptime: float
    checks: dict[Literal["database", "cache", "storage"], SystemCheck]
    environment: str
    error: str | msgspec.UnsetType = msgspec.UNSET
    details: Any | msgspec.UnsetType = msgspec.UNSET


class Pong(msgspec.Struct):
    """``GET /api/system/ping``: a database round trip's latency in ms."""

    pong: bool
    latency: float
    timestamp: str


class SystemInfo(msgspec.Struct):
    """``GET /api/system/info``: what this server is and where its parts are."""

    name: str
    version: str
    description: str
    endpoints: dict[str, str]
    features: dict[str, bool]
    timestamp: str


class Total(msgspec.Struct):
    """A count."""

    total: int


class MediaTotals(msgspec.Struct):
    """Live media files and their size."""

    total_files: int
    total_size_bytes: int
    total_size_mb: float


class SystemStats(msgspec.Struct):
    """``GET /api/system/stats``: live content items, live media and active users."""

    content: Total
    media: MediaTotals
    users: Total
    timestamp: str


class SystemEnv(msgspec.Struct):
    """``GET /api/system/env``: the environment's name and which bindings SonicJS knows it has."""

    environment: str
    features: dict[str, bool]
    timestamp: str


def grouped_checks(checks):
    """SonicJS's ``checks`` of ``check_bindings``' answer: per kind, healthy only when every binding is."""
    grouped = {}
    for check in checks.values():
        name = CHECK_NAMES.get(check["type"])
        if name is None:
            continue
        kept = grouped.get(name, {"status": "healthy", "latency": 0.0})
        grouped[name] = {
            "status": "healthy" if kept["status"] == "healthy" and check["status"] == "ok" else "unhealthy",
            "latency": max(kept["latency"], check["latency_ms"]),
        }
    return grouped


class SystemHealthResource:
    """``GET /api/system/health``.

    Args:
        guards: as ``check_bindings`` takes them (the media bucket behind its guard).
    """

    def __init__(self, guards):
        self._guards = guards

    @access(public=True)
    @describe("SonicJS's health check: database, cache and storage (503 when the database is down)",
              response=SystemHealth, others={503: (SystemHealth, ErrorBody)}, headers=STARTUP_FAILED)
    def on_get(self, req, resp):
        env = req.context.env
        started = time.perf_counter()
        checks = grouped_checks(check_bindings(env, self._guards))
        body = {"timestamp": iso_now(), "uptime": round((time.perf_counter() - started) * 1000, 2),
                "checks": checks, "environment": env.config.env_label}
        down = sorted(name for name, check in checks.items() if check["status"] != "healthy")
        if "database" in down:
            resp.status = falcon.HTTP_503
            body.update(status="unhealthy", error="Database unreachable", details={"down": down})
        else:
            body["status"] = "degraded" if down else "healthy"
        resp.media = body


class PingResource:
    """``GET /api/system/ping``: one round trip to the database."""

    @access(public=True)
    @describe("A database round trip (503 when it fails)", response=Pong)
    def on_get(self, req, resp):
        probes = [probe_binding(binding_type, binding)
                  for _, binding_type, binding in bindings_to_check(req.context.env, {}, kinds={BindingKind.D1})]
        failed = [error for _, error in probes if error is not None]
        if failed:
            # A busy database (its lock or pool held) says so as every route does; whatever
            # else failed the round trip waits as long as an unreachable database.
            if all(database_outage(error) is Outage.BUSY for error in failed):
                raise retry_later(DATABASE_BUSY_RETRY_AFTER, req.context.request_id, message="Database busy")
            raise retry_later(DATABASE_UNREACHABLE_RETRY_AFTER, req.context.request_id, message="Database unreachable")
        latency = max((check["latency_ms"] for check, _ in probes), default=0.0)
        resp.media = {"pong": True, "latency": latency, "timestamp": iso_now()}


class InfoResource:
    """``GET /api/system/info``."""

    @access(public=True)
    @describe("The server's name, version, entry points and features", response=SystemInfo)
    def on_get(self, req, resp):
        resp.media = {"name": NAME, "version": __version__, "description": DESCRIPTION, "endpoints": ENDPOINTS,
                      "features": FEATURES, "timestamp": iso_now()}


class SystemStatsResource:
    """``GET /api/system/stats``: SonicJS's totals, counted (``app.services.stats``)."""

    @access("content.publish")
    @describe("Live content items, live media and active users", response=SystemStats)
    def on_get(self, req, resp):
        stats = dashboard_stats()
        size = stats["media"]["totalSize"]
        resp.media = {
            "content": {"total": stats["content"]["total"]},
            "media": {"total_files": stats["media"]["count"], "total_size_bytes": size,
                      "total_size_mb": round(size / MEGABYTE, 2)},
            "users": {"total": stats["users"]},
            "timestamp": iso_now(),
        }
        resp.set_header("Cache-Control", "private, no-store")


class EnvResource:
    """``GET /api/system/env``: SonicJS's feature flags, from the bindings this env declares.

    The queue, SendGrid and Cloudflare Images have no binding here, so they are false.
    """

    @access(public=True)
    @describe("The environment's name and its bindings, as SonicJS's feature flags", response=SystemEnv)
    def on_get(self, req, resp):
        env = req.context.env
        kinds = {binding_type.kind for binding_type in env.binding_types().values()}
        resp.media = {
            "environment": env.config.env_label,
            "features": {"database": BindingKind.D1 in kinds, "cache": BindingKind.KV in kinds,
                         "media_bucket": BindingKind.R2 in kinds, "email_queue": False, "sendgrid": False,
                         "cloudflare_images": False},
            "timestamp": iso_now(),
        }


def register(routes):
    """Mount ``/api/system/*``."""
    routes.add("/api/system/health", SystemHealthResource(guards={BindingKind.R2: routes.services.media.bucket}))
    routes.add("/api/system/ping", PingResource())
    routes.add("/api/system/info", InfoResource())
    routes.add("/api/system/stats", SystemStatsResource())
    routes.add("/api/system/env", EnvResource())
