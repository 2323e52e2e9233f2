"""The CACHE_KV binding: Workers KV's API and limits in front of a storage backend.

``KVNamespace`` does everything a real KV namespace checks before and around I/O (key
names, value types and sizes, TTLs, metadata size, list limits, cursors) with the error
messages of workerd and Miniflare, so code written against it behaves the same on
Cloudflare. Storage is delegated to a backend (``local.LocalBackend``: a SQLite file;
``memcached.MemcachedBackend``: pymemcache) with this small interface:

* ``get_many(keys, now) -> dict[str, Entry]``: live entries only; missing keys absent.
* ``put(entry, now) -> None``: store or replace one entry.
* ``delete(key) -> None``: a missing key is not an error.
* ``list(prefix, after, limit, now) -> list[Entry]``: live keys in UTF-8 byte order,
  ``value`` left empty; backends that cannot enumerate keys raise ``KVError``.
* ``close() -> None``.

Backends raise ``KVError`` for every service failure; they never validate input.
"""

import base64
import binascii
import io
import json
import math
import os
import secrets
import socket
import threading
import time

import msgspec

MAX_KEY_SIZE = 512
MAX_VALUE_SIZE = 25 * 1024 * 1024
MAX_METADATA_SIZE = 1024
MIN_EXPIRATION_TTL = 60
MAX_LIST_KEYS = 1000
MAX_BULK_KEYS = 100

MIN_CACHE_TTL = 60  # KV's documented minimum for cacheTtl (Miniflare accepts 30)

# "arrayBuffer" is KV's own name for bytes; accepted so code ported from JS keeps working.
# "stream" gives a binary file-like object (JS: a ReadableStream).
VALUE_TYPES = ("text", "json", "bytes", "arrayBuffer", "stream")
BULK_VALUE_TYPES = ("text", "json")


class KVError(Exception):
    """A KV service error: a limit the service enforces, or the backend failing.

    The message follows workerd's format, e.g. ``KV PUT failed: 413 Value length of ...``.
    Client-side mistakes (empty key, wrong value type) raise ``TypeError`` as in workerd.
    """


class Entry(msgspec.Struct, frozen=True):
    """One stored key: raw value bytes, absolute expiry (epoch seconds) and metadata JSON."""

    key: str
    value: bytes
    expiration: int | None = None
    metadata: str | None = None

    def is_live(self, now):
        """Whether the entry is still visible at ``now`` (KV: expired keys do not exist)."""
        return self.expiration is None or self.expiration > now


class KVNamespace:
    """A Workers KV namespace (``env.CACHE_KV``) with synchronous, snake_case methods.

    Args:
        backend: the storage backend (see the module docstring).
        name: the binding name, for ``repr`` and health reports.
        clock: returns the current time in epoch seconds; tests pass a fake clock to make
            keys expire without sleeping. Backends compare expirations with this clock.
    """

    def __init__(self, backend, *, name="CACHE_KV", clock=time.time):
        self._backend = backend
        self.name = name
        self._clock = clock

    def __repr__(self):
        return f"<KVNamespace {self.name} on {self._backend!r}>"

    @property
    def backend(self):
        """The storage backend (for diagnostics and backend-specific tests)."""
        return self._backend

    @property
    def clock(self):
        """The clock, in epoch seconds, this namespace measures expirations with."""
        return self._clock

    def describe(self):
        """The backend in a few words (``SQLite /path``, ``memcached host:port``)."""
        return self._backend.describe()

    def _now(self):
        # KV works in whole seconds, as Miniflare does (floor of the clock).
        return math.floor(self._clock())

    def get(self, key, type="text", cache_ttl=None):
        """Read one key, or several when ``key`` is a list.

        Args:
            key: a key name, or a list of 1 to 100 key names (bulk read).
            type: ``"text"`` (str), ``"json"`` (parsed), ``"bytes"``/``"arrayBuffer"``
                (bytes), ``"stream"`` (a binary file-like object); bulk reads accept only
                ``"text"`` and ``"json"``. As in JS, an options dict
                (``{"type": "json", "cacheTtl": 300}``) may be given instead.
            cache_ttl: seconds a read may be served from a cache, at least 60 (KV's rule).
                Checked only: this binding has one location, so every read is fresh.

        Returns:
            The value, or None when the key is missing or expired; for a bulk read a dict
            key -> value (None for missing keys) in the order requested.
        """
        type, cache_ttl = _read_options(type, cache_ttl)
        if isinstance(key, (list, tuple)):
            return {
                name: (None if entry is None else entry["value"])
                for name, entry in self._get_bulk(key, type).items()
            }
        entry = self._get_one(key)
        return None if entry is None else _decode_value(entry.value, type)

    def get_with_metadata(self, key, type="text", cache_ttl=None):
        """Read a key with its metadata: ``{"value", "metadata", "cache_status"}``.

        A missing key gives ``{"value": None, "metadata": None, "cache_status": None}``.
        With a list of keys, returns a dict key -> ``{"value", "metadata"}`` (None when
        missing), with the bulk rules of ``get``; ``type`` and ``cache_ttl`` as in ``get``.
        """
        type, cache_ttl = _read_options(type, cache_ttl)
        if isinstance(key, (list, tuple)):
            return self._get_bulk(key, type)
        entry = self._get_one(key)
        if entry is None:
            return {"value": None, "metadata": None, "cache_status": None}
        return {
            "value": _decode_value(entry.value, type),
            "metadata": _decode_metadata(entry.metadata),
            "cache_status": None,
        }

    def _get_one(self, key):
        _check_key("GET", key)
        now = self._now()
        return self._backend.get_many([key], now).get(key)

    def _get_bulk(self, keys, type):
        keys = _check_bulk_keys(keys, type)
        now = self._now()
        found = self._backend.get_many(keys, now)
        results = {}
        for key in keys:
            entry = found.get(key)
            results[key] = None if entry is None else {
                "value": _decode_bulk_value(entry.value, type),
                "metadata": _decode_metadata(entry.metadata),
            }
        return results

    def put(self, key, value, expiration=None, expiration_ttl=None, metadata=None):
        """Store ``value`` under ``key``, replacing any previous value and metadata.

        Args:
            key: the key name (1 to 512 UTF-8 bytes, not ``.`` or ``..``).
            value: str (stored as UTF-8), bytes, bytearray or memoryview; at most 25 MiB.
            expiration: absolute expiry in epoch seconds, at least 60 s in the future.
            expiration_ttl: expiry in seconds from now, at least 60; wins over
                ``expiration`` when both are given (as in Miniflare).
            metadata: any JSON-serialisable value, at most 1024 bytes once serialised.

        Raises:
            TypeError: bad key name or value type.
            KVError: a KV limit is exceeded or the backend fails.
        """
        _check_key("PUT", key)
        data = _encode_value(value)
        now = self._now()
        expires = _resolve_expiration(now, expiration, expiration_ttl)
        metadata_json = _encode_metadata(metadata)
        if len(data) > MAX_VALUE_SIZE:
            raise KVError(
                f"KV PUT failed: 413 Value length of {len(data)} exceeds limit of "
                f"{MAX_VALUE_SIZE}."
            )
        self._backend.put(Entry(key, data, expires, metadata_json), now)

    def delete(self, key):
        """Delete ``key``; deleting a missing key is not an error."""
        _check_key("DELETE", key)
        self._backend.delete(key)

    def list(self, prefix=None, limit=MAX_LIST_KEYS, cursor=None):
        """List live keys in UTF-8 byte order, a page at a time.

        Args:
            prefix: only keys starting with this string.
            limit: page size, 1 to 1000.
            cursor: the ``cursor`` of the previous page (pass the same ``prefix``).

        Returns:
            ``{"keys": [{"name", "expiration"?, "metadata"?}], "list_complete": bool,
            "cursor": str (only when not complete), "cache_status": None}``.

        Raises:
            KVError: bad limit, prefix or cursor, or a backend that cannot list keys
                (memcached).
        """
        _check_list_limit(limit)
        if prefix is not None:
            _check_key_length("GET", _utf8(prefix))
        after = None if cursor is None else _decode_cursor(cursor)
        now = self._now()
        # One extra row tells whether another page exists without a second query.
        entries = self._backend.list(prefix or None, after, limit + 1, now)
        page = entries[:limit]
        result = {"keys": [_list_item(entry) for entry in page], "list_complete": True}
        if len(entries) > limit:
            result["list_complete"] = False
            result["cursor"] = _encode_cursor(page[-1].key)
        result["cache_status"] = None
        return result

    def ping(self):
        """A real round trip to the backend for /health: write, read back and delete a key.

        Raises:
            KVError: the backend is unreachable or did not return what was written.
        """
        # One key per process and thread, so concurrent health checks never collide.
        key = f"__health__/{socket.gethostname()}/{os.getpid()}/{threading.get_ident()}"
        token = secrets.token_bytes(8)
        now = self._now()
        # Straight to the backend: a 60 s expiry (the KV minimum) bounds a leftover key.
        self._backend.put(Entry(key, token, now + MIN_EXPIRATION_TTL), now)
        entry = self._backend.get_many([key], now).get(key)
        self._backend.delete(key)
        if entry is None or entry.value != token:
            raise KVError(f"KV health check failed: {self._backend!r} lost a fresh write")

    def close(self):
        """Release this thread's backend connection (a new one opens on next use)."""
        self._backend.close()


def _utf8(text):
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError as ex:
        raise TypeError(f"Key name is not valid Unicode: {ex}") from None


def _check_key(op, key):
    """Workerd's client-side key checks; ``op`` labels the error like workerd does."""
    if not isinstance(key, str):
        raise TypeError(f"Key name must be a string, not {key.__class__.__name__}.")
    if key == "":
        raise TypeError("Key name cannot be empty.")
    if key in (".", ".."):
        raise TypeError(f'"{key}" is not allowed as a key name.')
    _check_key_length(op, _utf8(key))


def _check_key_length(op, encoded):
    if len(encoded) > MAX_KEY_SIZE:
        raise KVError(
            f"KV {op} failed: 414 UTF-8 encoded length of {len(encoded)} exceeds key "
            f"length limit of {MAX_KEY_SIZE}."
        )


def _check_bulk_keys(keys, type):
    """The bulk endpoint's checks, with its own (server-side) messages."""
    if len(keys) < 1:
        raise KVError("KV GET_BULK failed: 400 You must request a minimum of 1 key")
    if len(keys) > MAX_BULK_KEYS:
        raise KVError(
            f"KV GET_BULK failed: 400 You can request a maximum of {MAX_BULK_KEYS} keys"
        )
    if type not in BULK_VALUE_TYPES:
        raise KVError(f'KV GET_BULK failed: 400 "{type}" is not a valid type. Use "json" or "text"')
    for key in keys:
        if not isinstance(key, str):
            raise TypeError(f"Key name must be a string, not {key.__class__.__name__}.")
        if key in ("", ".", ".."):
            raise KVError(f"KV GET_BULK failed: 400 Key name {key} is not legal")
        length = len(_utf8(key))
        if length > MAX_KEY_SIZE:
            raise KVError(f"KV GET_BULK failed: 414 Encoded length of {length} is too long")
    # Duplicates are asked for once; the result is a dict anyway.
    return list(dict.fromkeys(keys))


def _read_options(type, cache_ttl):
    """``(type, cache_ttl)`` from get's arguments or a JS-style options dict, checked."""
    if isinstance(type, dict):
        options = type
        type = options.get("type", "text")
        cache_ttl = options.get("cacheTtl", options.get("cache_ttl", cache_ttl))
    _check_type(type)
    _check_cache_ttl(cache_ttl)
    return type, cache_ttl


def _check_type(type):
    if type not in VALUE_TYPES:
        raise TypeError(
            'Unknown response type. Possible types are "text", "json", "bytes", and "stream".'
        )


def _check_cache_ttl(cache_ttl):
    if cache_ttl is None:
        return
    if isinstance(cache_ttl, bool) or not isinstance(cache_ttl, (int, float)) or cache_ttl != int(cache_ttl):
        raise KVError(f"KV GET failed: 400 Invalid cache_ttl of {cache_ttl}. Please specify integer greater than 0.")
    if cache_ttl < MIN_CACHE_TTL:
        raise KVError(
            f"KV GET failed: 400 Invalid cache_ttl of {int(cache_ttl)}. Cache TTL must be at least {MIN_CACHE_TTL}."
        )


def _encode_value(value):
    if isinstance(value, str):
        return value.encode("utf-8")
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    raise TypeError(
        "KV put() accepts only strings, bytes, bytearrays, and memoryviews as values."
    )


def _decode_value(data, type):
    if type in ("bytes", "arrayBuffer"):
        return data
    if type == "stream":
        return io.BytesIO(data)
    # Invalid UTF-8 becomes U+FFFD, as JS's TextDecoder does.
    text = data.decode("utf-8", "replace")
    # A value that is not JSON raises ValueError (JSON.parse's SyntaxError in JS).
    return json.loads(text) if type == "json" else text


def _decode_bulk_value(data, type):
    try:
        return _decode_value(data, type)
    except ValueError:
        raise KVError(
            "KV GET_BULK failed: 400 At least one of the requested keys corresponds to "
            "a non-json value"
        ) from None


def _decode_metadata(metadata_json):
    return None if metadata_json is None else json.loads(metadata_json)


def _js_number(value):
    """Format a number the way it appears in KV's messages (60, not 60.0)."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _as_seconds(name, value):
    """Miniflare's parseInt: truncate to whole seconds; None for NaN and infinities."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a number of seconds, not {value.__class__.__name__}.")
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return math.trunc(value)


def _resolve_expiration(now, expiration, expiration_ttl):
    """Absolute expiry in epoch seconds, or None; Miniflare's rules and messages."""
    if expiration_ttl is not None:
        ttl = _as_seconds("expiration_ttl", expiration_ttl)
        shown = _js_number(expiration_ttl)
        if ttl is None or ttl <= 0:
            raise KVError(
                f"KV PUT failed: 400 Invalid expiration_ttl of {shown}. "
                "Please specify integer greater than 0."
            )
        if ttl < MIN_EXPIRATION_TTL:
            raise KVError(
                f"KV PUT failed: 400 Invalid expiration_ttl of {shown}. "
                f"Expiration TTL must be at least {MIN_EXPIRATION_TTL}."
            )
        return now + ttl
    if expiration is not None:
        expires = _as_seconds("expiration", expiration)
        shown = _js_number(expiration)
        if expires is None or expires <= now:
            raise KVError(
                f"KV PUT failed: 400 Invalid expiration of {shown}. Please specify integer "
                "greater than the current number of seconds since the UNIX epoch."
            )
        if expires < now + MIN_EXPIRATION_TTL:
            raise KVError(
                f"KV PUT failed: 400 Invalid expiration of {shown}. Expiration times must "
                f"be at least {MIN_EXPIRATION_TTL} seconds in the future."
            )
        return expires
    return None


def _encode_metadata(metadata):
    """Metadata as compact JSON (the size KV counts is JSON.stringify's), or None."""
    if metadata is None:
        return None
    try:
        text = json.dumps(metadata, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError) as ex:
        raise TypeError(f"KV put() metadata must be JSON-serialisable: {ex}") from None
    length = len(text.encode("utf-8"))
    if length > MAX_METADATA_SIZE:
        raise KVError(
            f"KV PUT failed: 413 Metadata length of {length} exceeds limit of "
            f"{MAX_METADATA_SIZE}."
        )
    return text


def _check_list_limit(limit):
    if isinstance(limit, bool) or not isinstance(limit, int):
        raise TypeError(f"limit must be an integer, not {limit.__class__.__name__}.")
    if limit < 1:
        raise KVError(
            f"KV GET failed: 400 Invalid key_count_limit of {limit}. "
            "Please specify an integer greater than 0."
        )
    if limit > MAX_LIST_KEYS:
        raise KVError(
            f"KV GET failed: 400 Invalid key_count_limit of {limit}. "
            f"Please specify an integer less than {MAX_LIST_KEYS}."
        )


def _list_item(entry):
    # KV includes expiration and metadata only when they are set.
    item = {"name": entry.key}
    if entry.expiration is not None:
        item["expiration"] = entry.expiration
    if entry.metadata is not None:
        metadata = json.loads(entry.metadata)
        if metadata is not None:
            item["metadata"] = metadata
    return item


def _encode_cursor(last_key):
    """An opaque cursor: the last key returned, base64url-encoded."""
    return base64.urlsafe_b64encode(last_key.encode("utf-8")).decode("ascii")


def _decode_cursor(cursor):
    try:
        return base64.urlsafe_b64decode(cursor.encode("ascii")).decode("utf-8")
    except (AttributeError, binascii.Error, UnicodeError, ValueError):
        raise KVError("KV GET failed: 400 Invalid cursor") from None
