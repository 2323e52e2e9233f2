"""The in-process tier of the read cache: an LRU bounded in bytes, not in entries.

Each entry is kept as the JSON bytes of its value (a hit decodes them: msgspec reads JSON at
about a gigabyte a second), so the bound counts exactly what the tier holds. A count bound
would not: one public list can be a thousand items with full ``data``, and a Python object
tree costs several times its JSON. Each entry is charged its JSON, its key and a fixed
overhead; an entry over the per-entry limit is never kept, and the least recently used
entries go first when a new one would exceed the total.
"""

import threading
import time
from collections import OrderedDict

MIB = 1024 * 1024
DEFAULT_MAX_BYTES = 32 * MIB
DEFAULT_MAX_ENTRY_BYTES = 1 * MIB
# What an entry costs beyond its JSON and key text: its OrderedDict slot, the tuple, the
# expiry and size numbers and the bytes and str headers (about 300 bytes under tracemalloc).
ENTRY_OVERHEAD_BYTES = 320


class MemoryTier:
    """A thread-safe LRU of ``key -> JSON bytes`` with a TTL per entry, bounded in bytes.

    Args:
        max_bytes: the most the tier holds, overhead included (0 turns the tier off).
        max_entry_bytes: the largest JSON value kept; larger ones are refused.
        clock: monotonic seconds (tests pass a fake clock to expire entries).
    """

    def __init__(self, max_bytes=DEFAULT_MAX_BYTES, max_entry_bytes=DEFAULT_MAX_ENTRY_BYTES, clock=time.monotonic):
        self.max_bytes = max_bytes
        self.max_entry_bytes = max_entry_bytes
        self._clock = clock
        self._lock = threading.Lock()
        self._entries = OrderedDict()  # key -> (expires_at, raw JSON, charged bytes)
        self._total = 0

    @property
    def total_bytes(self):
        """What the live and not yet evicted entries are charged, in bytes."""
        return self._total

    def get(self, key):
        """The JSON bytes under ``key`` if they have not expired, else None."""
        found = self.get_with_ttl(key)
        return None if found is None else found[0]

    def get_with_ttl(self, key):
        """``(JSON bytes, seconds left)`` under ``key`` if they have not expired, else None.

        ``get``, also answering how long the entry has left: its expiry is in hand already.
        """
        with self._lock:
            found = self._entries.get(key)
            if found is None:
                return None
            left = found[0] - self._clock()
            if left <= 0:
                self._remove(key)
                return None
            self._entries.move_to_end(key)
            return found[1], left

    def put(self, key, raw, ttl):
        """Keep ``raw`` (JSON bytes) for ``ttl`` seconds, evicting least recently used entries.

        Returns:
            Whether the entry was kept (False: over the per-entry limit or the total).
        """
        charged = len(raw) + len(key) + ENTRY_OVERHEAD_BYTES
        with self._lock:
            self._remove(key)
            if len(raw) > self.max_entry_bytes or charged > self.max_bytes:
                return False
            while self._total + charged > self.max_bytes:
                self._remove(next(iter(self._entries)))
            self._entries[key] = (self._clock() + ttl, raw, charged)
            self._total += charged
            return True

    def drop_prefix(self, prefix):
        """Forget every entry whose key starts with ``prefix``."""
        with self._lock:
            for key in [k for k in self._entries if k.startswith(prefix)]:
                self._remove(key)

    def _remove(self, key):
        found = self._entries.pop(key, None)
        if found is not None:
            self._total -= found[2]

    def usage(self):
        """``{prefix: (entries, bytes)}`` of the entries held now, by their key's text up to
        the first ``:`` (the cache's namespace); expired entries not yet removed count too."""
        usage = {}
        with self._lock:
            for key, (_expires, _raw, charged) in self._entries.items():
                prefix = key.partition(":")[0]
                entries, held = usage.get(prefix, (0, 0))
                usage[prefix] = (entries + 1, held + charged)
        return usage

    def held_keys(self):
        """The keys held now, oldest use first."""
        with self._lock:
            return list(self._entries)

    def __len__(self):
        return len(self._entries)
