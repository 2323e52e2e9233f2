"""The binding types of bindings.toml, each described once.

A ``BindingType`` says everything the rest of the runtime needs to know about one kind of
binding: the table name in bindings.toml (``d1_databases``...), the keys its tables accept,
how to open one, how to check that it answers (``/health``) and how to release what this
process holds for it. Config validation (``app.runtime.config``), env building
(``app.runtime.env``), ``/health`` and the CLI all read ``BINDING_TYPES``; adding a binding
type means adding a ``BindingKind`` member and its ``BindingType`` here, nowhere else.
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

from app.runtime.ai import open_ai
from app.runtime.d1 import open_d1
from app.runtime.kv import open_kv
from app.runtime.r2 import open_bucket

# Embedded backends keep their files here, under the state folder, as Miniflare does.
STATE_SUBDIR = "v3"


class BindingKind(StrEnum):
    """A binding type, by the name of its array of tables in bindings.toml."""

    D1 = "d1_databases"
    R2 = "r2_buckets"
    KV = "kv_namespaces"
    AI = "ai"


@dataclass(frozen=True)
class BindingType:
    """One kind of binding and what can be done with it.

    Attributes:
        kind: the ``BindingKind`` (its value is the bindings.toml array name).
        label: how messages name it (``D1``, ``R2``, ``KV``).
        keys: the keys its tables accept: wrangler's own plus the ones that pick a backend.
        opener: ``opener(table, state_dir, secrets)`` returns the binding; raises ValueError
            or TypeError for a value it cannot use.
        pinger: ``pinger(binding)`` makes one real round trip; raises when it is down.
        closer: ``closer(binding)`` releases what this process and thread hold for it.
        describer: ``describer(binding)`` names its backend in a few words, without
            credentials (``SQLite /path``, ``memcached host:port``), for ``dev``'s banner.
        alias_key: a second key the CLI finds a binding by, as wrangler does
            (``database_name``, ``bucket_name``), or None.
        path_defaults: keys holding paths relative to bindings.toml, with their defaults.
        single: declared as one table (``[ai]``), as wrangler declares it, not as an array
            of tables; the Config still holds a list (of that one table).
    """

    kind: BindingKind
    label: str
    keys: frozenset
    opener: Callable
    pinger: Callable
    closer: Callable
    describer: Callable
    alias_key: str | None = None
    path_defaults: dict = field(default_factory=dict)
    single: bool = False

    def table_syntax(self, prefix=""):
        """How bindings.toml opens one of these tables: ``[[d1_databases]]``, ``[ai]``."""
        return f"[{prefix}{self.kind}]" if self.single else f"[[{prefix}{self.kind}]]"

    def open(self, table, config):
        """Open the binding ``table`` of ``config`` (state folder and secrets from it)."""
        return self.opener(table, Path(config.state_dir) / STATE_SUBDIR, config.credentials)

    def ping(self, binding):
        """One real round trip to ``binding``; raises when it does not answer."""
        self.pinger(binding)

    def describe(self, binding):
        """The backend of ``binding`` in a few words (no credentials)."""
        return self.describer(binding)

    def close(self, binding):
        """Release this process's connections to ``binding`` (it reopens on next use)."""
        self.closer(binding)

    def resolve_paths(self, table, base_dir):
        """``table`` with its path keys made absolute against ``base_dir`` (defaults filled in)."""
        resolved = dict(table)
        for key, default in self.path_defaults.items():
            resolved[key] = str(Path(base_dir) / table.get(key, default))
        return resolved

    def names(self, table):
        """The names the CLI finds ``table`` by: its binding, and its alias if it has one."""
        alias = table.get(self.alias_key) if self.alias_key else None
        return (table["binding"], alias) if alias else (table["binding"],)


def _ping(binding):
    binding.ping()


def _describe(binding):
    return binding.describe()


def _close_d1(d1):
    d1.close()


def _close_kv(kv):
    kv.close()


def _close(binding):
    binding.close()


def _close_r2(bucket):
    # Nothing to release: the local bucket's index connection and the S3 client are per
    # process and thread already, and remade after a fork.
    return None


BINDING_TYPES = {
    binding_type.kind: binding_type
    for binding_type in (
        BindingType(
            BindingKind.D1, "D1",
            frozenset({
                "binding", "database_name", "database_id", "preview_database_id", "migrations_dir",
                "migrations_table", "migrations_pattern", "database_internal_env", "remote",
                "database_url", "database_url_env", "time_travel_retention_days", "time_travel",
                "time_travel_bucket", "time_travel_snapshot_hours",
                "read_replica_urls", "read_replica_urls_env", "sqlite_cache_kib", "sqlite_memory_limit_mib",
            }),
            opener=open_d1, pinger=_ping, closer=_close_d1, describer=_describe,
            alias_key="database_name", path_defaults={"migrations_dir": "migrations"},
        ),
        BindingType(
            BindingKind.R2, "R2",
            frozenset({
                "binding", "bucket_name", "preview_bucket_name", "jurisdiction", "remote", "local_dev",
                "endpoint_url", "region_name", "access_key_id_env", "secret_access_key_env",
                "connect_timeout", "read_timeout", "max_attempts",
            }),
            opener=open_bucket, pinger=_ping, closer=_close_r2, describer=_describe, alias_key="bucket_name",
        ),
        BindingType(
            BindingKind.KV, "KV",
            frozenset({"binding", "id", "preview_id", "remote", "servers", "connect_timeout", "timeout"}),
            opener=lambda table, state_dir, secrets: open_kv(table, state_dir),
            pinger=_ping, closer=_close_kv, describer=_describe,
        ),
        # Pinged with one real embedding (the protocol has nothing cheaper every server answers);
        # /health reports the last request's outcome instead (app.api.health).
        BindingType(
            BindingKind.AI, "AI",
            frozenset({"binding", "remote", "url", "model", "api_key_env", "dimensions", "timeout",
                       "connect_timeout", "batch_size", "max_input_chars"}),
            opener=open_ai, pinger=_ping, closer=_close, describer=_describe, single=True,
        ),
    )
}

