"""The memcached KV backend (``servers = ["host:port", ...]`` in bindings.toml), via pymemcache.

What it does differently from Workers KV, on purpose and loudly:

* ``list()`` is not supported: memcached cannot enumerate keys, so ``list`` raises
  ``KVError("KV list is not supported by the memcached backend: memcached cannot
  enumerate keys")`` instead of returning an empty (and wrong) page.
* Values are bounded by the server's item size (1 MiB unless memcached runs with ``-I``),
  not by KV's 25 MiB: a larger value raises ``KVError`` with a 413.
* memcached evicts under memory pressure: a key can vanish before it expires. That is
  fine for a cache, which is what this binding is for.

How it is built:

* One item per key holds a msgpack envelope (original key, value, expiration, metadata),
  so a read is one round trip. Keys are prefixed with the namespace id; a key that is
  not a safe memcached key (over 250 bytes, spaces, control or non-ASCII characters) is
  replaced by its SHA-256, and the original key in the envelope guards against mix-ups.
* The expiration is given to memcached too (its TTL frees the memory), and checked again
  on read against the namespace clock (so expiry is exact and testable).
* One server: ``pymemcache.Client``; several: ``HashClient`` (rendezvous hashing).
  Clients are created on first use, per process and thread: pymemcache clients are not
  thread-safe, and a socket shared across a gunicorn fork would interleave two workers'
  replies.
* Bounded ``connect_timeout`` and ``timeout`` (0.5 s by default) so a hung server cannot
  hold a worker; ``no_delay`` because Nagle + delayed ACK adds ~30 ms per write.
* A client keeps its connections between calls, so after memcached restarts its first call
  runs on a socket the old server closed. pymemcache's ``RetryingClient`` runs that call
  again, on a new connection, when it failed for that reason only (the server closed or
  reset the connection: ``RETRIED_ERRORS``): a restarted server answers the first request.
  Once per server: pymemcache closes the failed connection, so each retry replaces one dead
  socket, and a bulk read spanning several restarted servers meets each of them once.
  Nothing else is retried: a timeout (a frozen server would cost two), a refused connection
  (the server is down, the next attempt is refused too) or the server's own answer, an
  error or a value not stored. Every command this backend sends (get, set, delete) can run
  twice with the same outcome.
* Every write waits for the server's reply, and every failure (refused, timeout, closed
  connection, server error) raises ``KVError``: callers decide how to degrade. With
  several servers, HashClient's failover is turned off: it would answer silent misses and
  dropped writes for a while, then move a dead server's keys to the live ones, where a
  deleted (invalidated) key could later reappear from the recovered server.
"""

import hashlib
import math
import os
import re
import sys
import threading
import time

import msgspec
from pymemcache.client.base import Client
from pymemcache.client.hash import HashClient
from pymemcache.client.retrying import RetryingClient
from pymemcache.exceptions import (
    MemcacheError,
    MemcacheServerError,
    MemcacheUnexpectedCloseError,
)

from app.runtime.binding_values import shown
from app.runtime.kv.namespace import Entry, KVError

DEFAULT_TIMEOUT_SECONDS = 0.5
LIST_UNSUPPORTED = (
    "KV list is not supported by the memcached backend: memcached cannot enumerate keys"
)
MAX_MEMCACHED_KEY = 250
# The failures of a connection the server closed (a restart, an idle-connection reaper): the
# only ones a call is retried for, once, on a new connection (see the module docstring). A
# closed connection is a MemcacheServerError, which is never retried otherwise.
RETRIED_ERRORS = (MemcacheUnexpectedCloseError, BrokenPipeError, ConnectionResetError, ConnectionAbortedError)
# memcached reads an expire time above 30 days as an absolute Unix time.
MAX_RELATIVE_EXPIRE = 30 * 24 * 3600
_SAFE_KEY = re.compile(r"[\x21-\x7e]+")
_SAFE_NAMESPACE = re.compile(r"[A-Za-z0-9_.-]{1,64}")


class Envelope(msgspec.Struct, array_like=True, tag="kv1"):
    """What one memcached item holds; the tag rejects items this code did not write."""

    key: str
    value: bytes
    expiration: int | None = None
    metadata: str | None = None


_encode = msgspec.msgpack.Encoder().encode
_decode = msgspec.msgpack.Decoder(Envelope).decode


def parse_server(spec):
    """``"host:port"`` -> ``(host, port)``; ValueError with the offending text otherwise."""
    if not isinstance(spec, str):
        raise ValueError(f"memcached server must be a 'host:port' string, not {shown(spec)}")
    host, sep, port = spec.rpartition(":")
    if not sep or not host or not port.isdecimal() or not 0 < int(port) < 65536:
        raise ValueError(f"memcached server must be 'host:port', not {shown(spec)}")
    return host.strip("[]"), int(port)


class MemcachedBackend:
    """KV storage on one or several memcached servers.

    Args:
        servers: ``["host:port", ...]``; several servers share keys by consistent hashing.
        namespace: the namespace id, prefixed to every key so namespaces sharing servers
            never see each other's keys.
        connect_timeout: seconds to wait for a connection.
        timeout: seconds to wait for each reply.
    """

    def __init__(self, servers, namespace, connect_timeout=DEFAULT_TIMEOUT_SECONDS,
                 timeout=DEFAULT_TIMEOUT_SECONDS):
        if not servers:
            raise ValueError("memcached backend needs at least one 'host:port' server")
        self.servers = [parse_server(spec) for spec in servers]
        self.connect_timeout = connect_timeout
        self.timeout = timeout
        self._prefix = _namespace_prefix(namespace)
        self._local = threading.local()

    def __repr__(self):
        return f"MemcachedBackend({self._where()})"

    def describe(self):
        """``memcached host:port[, host:port...]``."""
        return f"memcached {self._where()}"

    def _where(self):
        return ", ".join(f"{host}:{port}" for host, port in self.servers)

    def client(self):
        """The pymemcache client of this process and thread, created on first use."""
        state = self._local
        pid = os.getpid()
        # A client made before a fork is dropped, not closed: closing only releases the
        # child's copy of the socket, and using it would mix two processes' replies.
        if getattr(state, "pid", None) != pid:
            state.client = self._new_client()
            state.pid = pid
        return state.client

    def _new_client(self):
        options = {
            "connect_timeout": self.connect_timeout,
            "timeout": self.timeout,
            "no_delay": True,
            # Wait for every reply: a write must fail loudly, never vanish.
            "default_noreply": False,
        }
        if len(self.servers) == 1:
            client = Client(self.servers[0], **options)
        else:
            # Failover off (see the module docstring): never mark a server dead (attempts
            # never run out) and retry it on every call (a negative wait is always over), so
            # each call reaches the key's own server or raises.
            client = HashClient(
                self.servers, retry_attempts=sys.maxsize, retry_timeout=-1, **options
            )
        # pymemcache closes a connection that failed, so the next attempt connects anew.
        return RetryingClient(client, attempts=len(self.servers) + 1, retry_for=RETRIED_ERRORS)

    def memcached_key(self, key):
        """The memcached key under which ``key`` is stored in this namespace."""
        candidate = f"{self._prefix}:k:{key}"
        if len(candidate) <= MAX_MEMCACHED_KEY and _SAFE_KEY.fullmatch(candidate):
            return candidate
        digest = hashlib.sha256(key.encode("utf-8")).hexdigest()
        return f"{self._prefix}:h:{digest}"

    def _call(self, op, command, *args, **kwargs):
        """Run a pymemcache command; every failure becomes a KVError naming the servers."""
        try:
            return getattr(self.client(), command)(*args, **kwargs)
        # A closed connection is a MemcacheServerError too: test for it first.
        except (MemcacheUnexpectedCloseError, OSError) as ex:
            raise KVError(
                f"KV {op} failed: memcached {self._where()} unavailable: "
                f"{ex.__class__.__name__}: {ex}"
            ) from ex
        except MemcacheServerError as ex:
            if "too large" in str(ex):
                raise KVError(
                    f"KV {op} failed: 413 value too large for the memcached item size limit"
                    f" of {self._where()} (memcached -I raises it): {ex}"
                ) from ex
            raise KVError(f"KV {op} failed: memcached {self._where()} error: {ex}") from ex
        except MemcacheError as ex:
            raise KVError(
                f"KV {op} failed: memcached {self._where()}: {ex.__class__.__name__}: {ex}"
            ) from ex

    def get_many(self, keys, now):
        """Live entries for ``keys``, keyed by name; missing and expired keys absent."""
        names = {self.memcached_key(key): key for key in keys}
        found = self._call("GET", "get_many", list(names))
        entries = {}
        for mkey, blob in found.items():
            entry = self._unpack(mkey, blob)
            # Compare with the original key: a hashed key must never return another's value.
            if entry.key == names.get(mkey) and entry.is_live(now):
                entries[entry.key] = entry
        return entries

    def _unpack(self, mkey, blob):
        try:
            envelope = _decode(blob)
        except msgspec.DecodeError as ex:
            raise KVError(f"KV GET failed: unreadable item {mkey!r} in memcached: {ex}") from ex
        return Entry(envelope.key, envelope.value, envelope.expiration, envelope.metadata)

    def put(self, entry, now):
        """Store ``entry`` in one item; memcached's own TTL matches the KV expiration."""
        blob = _encode(Envelope(entry.key, entry.value, entry.expiration, entry.metadata))
        stored = self._call(
            "PUT", "set", self.memcached_key(entry.key), blob,
            expire=_memcached_expire(entry.expiration, now), noreply=False,
        )
        if stored is not True:
            raise KVError(f"KV PUT failed: memcached {self._where()} did not store the value")

    def delete(self, key):
        """Delete ``key``; memcached answering NOT_FOUND is fine."""
        self._call("DELETE", "delete", self.memcached_key(key), noreply=False)

    def list(self, prefix, after, limit, now):
        """Always raises: memcached cannot enumerate keys (see the module docstring)."""
        raise KVError(LIST_UNSUPPORTED)

    def close(self):
        """Close this thread's connections, if this process opened them."""
        state = self._local
        if getattr(state, "pid", None) == os.getpid():
            state.client.close()
        state.client, state.pid = None, None


def _namespace_prefix(namespace):
    # Ids from bindings.toml are usually safe; anything else is hashed to stay a valid key.
    if _SAFE_NAMESPACE.fullmatch(namespace):
        return namespace
    return hashlib.sha256(namespace.encode("utf-8")).hexdigest()[:32]


def _memcached_expire(expiration, now):
    """memcached's expire argument for an absolute KV expiration (0: never).

    The remaining seconds are measured on the namespace clock, so a fake clock in tests
    and memcached's real clock agree on the time left.
    """
    if expiration is None:
        return 0
    remaining = max(1, math.ceil(expiration - now))
    if remaining <= MAX_RELATIVE_EXPIRE:
        return remaining
    return int(time.time()) + remaining
