"""Cache invalidations CACHE_KV could not take, kept in the database until it takes them.

A write made in a request invalidates through its worker's cache, which keeps a bump KV
refused and writes it before its next lookup (``ThreeTierCache.invalidate``). A write made
elsewhere (a scheduled publication, the semantic index's scheduled job, a CLI command) has no
process that lives on to retry: without a record, its bump would be dropped and the entries
cached before it would live their whole TTL (a search's: hours). So ``invalidate_or_record``
records in ``cache_invalidations`` what KV did not take, and the next scheduled run
(``app.scheduled``, every minute) or CLI invalidation that reaches KV writes it. Readers are
unchanged: a cached hit reads no database, and stale entries last until that write, not
their TTL.
"""

from app.db.models import CacheInvalidation, now_ms
from app.services.cache import invalidate_namespaces, namespace_of


def recorded():
    """``{namespace name: bumps}`` of the invalidations recorded and not written yet."""
    return {row.namespace: row.bumps for row in CacheInvalidation.select()}


def invalidate_or_record(kv, namespaces):
    """Bump ``namespaces`` in ``kv`` after a committed write made outside a request, with
    the bumps recorded earlier; record what ``kv`` did not take.

    Args:
        kv: the CACHE_KV binding, or None when it could not be opened (all is recorded).
        namespaces: ``Namespace`` members or names (ValueError for others, before any bump).

    Returns:
        The namespaces of ``namespaces`` whose bump did not reach KV (recorded; empty when
        all did).
    """
    namespaces = [namespace_of(namespace) for namespace in namespaces]
    earlier = recorded()
    wanted = list(dict.fromkeys([*namespaces, *(namespace_of(name) for name in earlier)]))
    failed = set(wanted if kv is None else invalidate_namespaces(kv, wanted))
    for name, bumps in earlier.items():
        if name not in failed:
            _forget(name, bumps)
    lost = [namespace for namespace in namespaces if namespace in failed]
    _record(lost)
    return lost


def replay(kv):
    """Write to ``kv`` the bumps recorded earlier; the namespaces written (their rows deleted)."""
    earlier = recorded()
    if not earlier:
        return []
    failed = set(invalidate_namespaces(kv, earlier))
    written = [name for name in earlier if name not in failed]
    for name in written:
        _forget(name, earlier[name])
    return written


def _forget(name, bumps):
    # Only the bumps that were read: one recorded since (bumps moved on) is written next time.
    (CacheInvalidation.delete()
     .where((CacheInvalidation.namespace == name) & (CacheInvalidation.bumps == bumps))
     .execute())


def _record(namespaces):
    now = now_ms()
    for namespace in namespaces:
        (CacheInvalidation.insert(namespace=str(namespace), bumps=1, recorded_at=now)
         .on_conflict(conflict_target=[CacheInvalidation.namespace],
                      update={CacheInvalidation.bumps: CacheInvalidation.bumps + 1,
                              CacheInvalidation.recorded_at: now})
         .execute())
