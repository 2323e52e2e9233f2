"""The CACHE_KV binding (Workers KV API) and its backends.

``open_kv(table, state_dir)`` turns a ``[[kv_namespaces]]`` table of bindings.toml into a
``KVNamespace``:

* without ``servers``: a SQLite file ``state_dir/kv/<id or binding>.sqlite`` shared by all
  worker processes (``local.py``);
* with ``servers = ["host:port", ...]``: memcached through pymemcache (``memcached.py``),
  with optional ``connect_timeout`` and ``timeout`` in seconds. memcached cannot list keys:
  ``list()`` raises ``KVError`` there.

``preview_id`` is accepted and ignored: as in Miniflare, a local namespace is named by
``id``, else by the binding name.
"""

import re
import time
from pathlib import Path

from app.runtime.binding_values import seconds, shown
from app.runtime.kv.local import LocalBackend
from app.runtime.kv.memcached import DEFAULT_TIMEOUT_SECONDS, MemcachedBackend
from app.runtime.kv.namespace import KVError, KVNamespace

__all__ = ["KVError", "KVNamespace", "open_kv"]

_FILE_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")


def open_kv(binding, state_dir, *, clock=time.time):
    """Open the KV namespace described by a ``[[kv_namespaces]]`` table.

    Nothing connects here: connections open on first use, in the process that uses them
    (after gunicorn forks its workers).

    Args:
        binding: the table: ``binding`` (name), ``id``, ``preview_id``, ``servers``,
            ``connect_timeout``, ``timeout``.
        state_dir: the local state folder; the local backend writes under ``kv/`` in it.
        clock: epoch seconds now; tests pass a fake clock to expire keys.

    Raises:
        ValueError: the table is invalid (the message names the key; ``open_binding`` adds
            file, environment and binding).
    """
    name = binding.get("binding") or "CACHE_KV"
    namespace_id = str(binding.get("id") or name)
    servers = binding.get("servers")
    if servers is None:
        backend = LocalBackend(Path(state_dir) / "kv" / f"{_file_name(namespace_id)}.sqlite")
    else:
        backend = _memcached_backend(namespace_id, binding, servers)
    return KVNamespace(backend, name=name, clock=clock)


def _file_name(namespace_id):
    # The id names a file: refuse anything that could leave the state folder.
    if not _FILE_NAME.fullmatch(namespace_id):
        raise ValueError(
            f"id {shown(namespace_id)} cannot name a local file "
            "(use letters, digits, '_', '.' and '-')"
        )
    return namespace_id


def _memcached_backend(namespace_id, binding, servers):
    if not isinstance(servers, list) or not servers:
        raise ValueError(f"servers must be a non-empty list of 'host:port' strings, not {shown(servers)}")
    return MemcachedBackend(
        servers,
        namespace_id,
        connect_timeout=seconds(binding, "connect_timeout", DEFAULT_TIMEOUT_SECONDS),
        timeout=seconds(binding, "timeout", DEFAULT_TIMEOUT_SECONDS),
    )


