"""``GET /health`` and ``GET /api/health``: name, version, env and a real round trip per binding.

``/health`` answers the shape of SonicJS's ``/health`` (``name``, ``version``, ``status:
"running"``, an ISO 8601 ``timestamp``) plus ``worker``, ``env`` and ``bindings``, one check
per binding. When a binding is down the answer is 503 with ``status: "degraded"`` and the
error envelope's ``error`` and ``details`` (the names of the bindings down) besides the same
fields.

``/api/health`` answers the shape of SonicJS's ``/api/health`` (``status: "healthy"``,
``timestamp``, ``schemas``) with the same extras. SonicJS lists the names of its schema
definitions in ``schemas``; here they are the names of the active collections (what
``GET /api/collections`` already tells anyone), sorted. It is 503 whenever ``/health`` is
(a load balancer may probe either), with ``status: "unhealthy"`` when the database is down
(and ``schemas`` empty: nothing can read them) and ``"degraded"`` when only another binding
is, the words SonicJS's ``/api/system/health`` uses.

Each binding is checked by its type's ``ping`` (``app.runtime.bindings``), so a new binding
type is reported here without a change to this module. The media bucket is pinged through
the media library's guard: a hung object store then costs a health check no more than any
media call (an open breaker reports the bucket down at once), instead of the client's full
timeout on every probe, which would hold a worker thread per check.

The ``AI`` binding (the embeddings model of semantic search) is optional to serving content:
its check never makes the answer 503, so a model that is down does not take the content API
out of a load balancer. Nor is the model called per probe (a billed request, rate limits, a
hung model holding a worker): its check reports the outcome of this process's last request to
it (``last_known``), ``down`` with the error's class when that request failed, ``ok`` when it
succeeded or none was made yet.
"""

import time
from datetime import UTC, datetime
from typing import Any, Literal

import falcon
import msgspec

from app import NAME, __version__
from app.api.access import access
from app.api.describe import STARTUP_FAILED, ErrorBody, describe
from app.runtime.ai import EmbeddingUnavailable
from app.runtime.bindings import BindingKind
from app.services.collections import active_collection_names

# Whatever a ping raises means the binding is down; its class name is reported.
CHECK_ERRORS = (Exception,)
# Bindings reported but not counted as down: serving content does not need them.
OPTIONAL_KINDS = frozenset({BindingKind.AI})


class LastKnownModel:
    """The ``AI`` binding as ``/health`` checks it: ``ping`` raises the last request's failure
    instead of making a request."""

    def __init__(self, embedder):
        self._embedder = embedder

    def ping(self):
        """Raise ``EmbeddingUnavailable`` when the last request to the model failed."""
        outcome = self._embedder.last_known()
        if outcome is not None and outcome[1] is not None:
            raise EmbeddingUnavailable(outcome[1])

    def describe(self):
        """What the embedder describes."""
        return self._embedder.describe()


# The model is never called by a check: its last request's outcome is reported.
DEFAULT_GUARDS = {BindingKind.AI: LastKnownModel}


def probe_binding(binding_type, binding):
    """Ping ``binding`` through its ``binding_type``: ``(check, error)``, the check as
    ``check_binding`` gives it and what the ping raised (None when it answered), for a
    caller that tells a busy database from an unreachable one."""
    started = time.perf_counter()
    try:
        binding_type.ping(binding)
    except CHECK_ERRORS as ex:
        return {"status": "down", "latency_ms": _ms(started), "error": type(ex).__name__}, ex
    return {"status": "ok", "latency_ms": _ms(started)}, None


def check_binding(binding_type, binding):
    """Ping ``binding`` through its ``binding_type``; ``{"status": "ok"|"down", "latency_ms", "error"?}``."""
    return probe_binding(binding_type, binding)[0]


class BindingCheck(msgspec.Struct):
    """One binding's check; ``type`` names its table array in bindings.toml."""

    type: BindingKind
    status: Literal["ok", "down"]
    latency_ms: float
    error: str | msgspec.UnsetType = msgspec.UNSET


class HealthBody(msgspec.Struct):
    """What ``/health`` answers (200, or 503 with ``error`` and ``details``)."""

    name: str
    version: str
    status: Literal["running", "degraded"]
    timestamp: str
    worker: str
    env: str
    bindings: dict[str, BindingCheck]
    error: str | msgspec.UnsetType = msgspec.UNSET
    details: Any | msgspec.UnsetType = msgspec.UNSET


class ApiHealthBody(msgspec.Struct):
    """What ``/api/health`` answers: SonicJS's ``{status, timestamp, schemas}`` and ``/health``'s extras."""

    status: Literal["healthy", "degraded", "unhealthy"]
    timestamp: str
    schemas: list[str]
    name: str
    version: str
    worker: str
    env: str
    bindings: dict[str, BindingCheck]
    error: str | msgspec.UnsetType = msgspec.UNSET
    details: Any | msgspec.UnsetType = msgspec.UNSET


def iso_now():
    """Now in UTC as ISO 8601 with milliseconds and ``Z``, as JavaScript's ``toISOString``."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def iso_ms(epoch_ms):
    """``epoch_ms`` (epoch milliseconds) as ``iso_now`` writes a time: ``2026-12-04T19:24:12.345Z``."""
    # Whole seconds and the milliseconds apart: a float of the milliseconds could round the last digit.
    moment = datetime.fromtimestamp(epoch_ms // 1000, UTC).replace(microsecond=epoch_ms % 1000 * 1000)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _ms(started):
    return round((time.perf_counter() - started) * 1000, 2)


def bindings_to_check(env, guards, kinds=None):
    """``(name, binding type, binding)`` of each binding of ``env`` to check.

    Args:
        guards: by ``BindingKind``, a function returning the binding as the app's own code
            reaches it (the media bucket behind its guard); other bindings are given as they are,
            but for the model, checked by its last known outcome (``DEFAULT_GUARDS``).
        kinds: the ``BindingKind``s to check (None: every binding).
    """
    for name, binding_type in env.binding_types().items():
        if kinds is not None and binding_type.kind not in kinds:
            continue
        guard = guards.get(binding_type.kind) or DEFAULT_GUARDS.get(binding_type.kind)
        yield name, binding_type, guard(env.bindings[name]) if guard else env.bindings[name]


def check_bindings(env, guards, kinds=None):
    """``{binding name: {"type", "status", "latency_ms", "error"?}}``: one round trip per binding
    of ``env`` (``guards`` and ``kinds`` as ``bindings_to_check`` takes them)."""
    return {name: {"type": binding_type.kind, **check_binding(binding_type, binding)}
            for name, binding_type, binding in bindings_to_check(env, guards, kinds)}


def health_report(env, guards):
    """``(healthy, body)``: the checks of every binding of ``env`` and the fields both health
    routes share; when one is down, the error envelope's ``error`` and ``details`` too."""
    checks = check_bindings(env, guards)
    body = {
        "name": NAME,
        "version": __version__,
        "worker": env.name,
        "env": env.config.env_label,
        "timestamp": iso_now(),
        "bindings": checks,
    }
    down = [name for name, check in checks.items() if check["status"] != "ok" and check["type"] not in OPTIONAL_KINDS]
    if down:
        # A 503 carries the error envelope like every other error response.
        body["error"] = f"Binding(s) down: {', '.join(down)}"
        body["details"] = {"down": down}
    return not down, body


class HealthResource:
    """``GET /health``: reports each binding; 503 when any is down, so a load balancer takes the worker out.

    Args:
        guards: as ``check_bindings`` takes them.
    """

    def __init__(self, guards=None):
        self._guards = guards or {}

    @access(public=True)
    @describe("Liveness and a round trip per binding (503 when one is down)", response=HealthBody,
              others={503: (HealthBody, ErrorBody)}, headers=STARTUP_FAILED)
    def on_get(self, req, resp):
        healthy, body = health_report(req.context.env, self._guards)
        resp.status = falcon.HTTP_200 if healthy else falcon.HTTP_503
        resp.media = {**body, "status": "running" if healthy else "degraded"}


class ApiHealthResource:
    """``GET /api/health``: SonicJS's shape over the same checks as ``/health`` (503 when it is).

    Args:
        guards: as ``check_bindings`` takes them.
    """

    def __init__(self, guards=None):
        self._guards = guards or {}

    @access(public=True)
    @describe("SonicJS's health check: status, the collections' names, a round trip per binding "
              "(503 when one is down)", response=ApiHealthBody, others={503: (ApiHealthBody, ErrorBody)},
              headers=STARTUP_FAILED)
    def on_get(self, req, resp):
        healthy, body = health_report(req.context.env, self._guards)
        database_up = all(check["status"] == "ok" for check in body["bindings"].values()
                          if check["type"] == BindingKind.D1)
        resp.status = falcon.HTTP_200 if healthy else falcon.HTTP_503
        status = "healthy" if healthy else "degraded" if database_up else "unhealthy"
        resp.media = {"status": status, "timestamp": body.pop("timestamp"),
                      "schemas": active_collection_names() if database_up else [], **body}


def register(routes):
    """Mount the health endpoints."""
    guards = {BindingKind.R2: routes.services.media.bucket}
    routes.add("/health", HealthResource(guards))
    routes.add("/api/health", ApiHealthResource(guards))
