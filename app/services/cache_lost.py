"""Cache invalidations CACHE_KV could not take, kept in the database until it takes them.

A write made elsewhere than in a request (a scheduled publication, the semantic index's
scheduled job, a CLI command) has no process that lives on to retry: without a record, its
bump would be dropped and the entries cached before it would live their whole TTL (a
search's: hours). So ``invalidate_or_record`` records in ``cache_invalidations`` what KV did
not take, and the next scheduled run (``app.scheduled``, every minute) or CLI invalidation
that reaches KV writes it. A write made in a request invalidates through its worker's cache,
which keeps a bump KV refused and writes it before its next lookup
(``ThreeTierCache.invalidate``); that worker may exit first, and the others do not know of
it, so the app's cache records it too (``record_lost_bump``, its ``record_lost``). Readers
are unchanged: a cached hit reads no database, and stale entries last until that write, not
their TTL.
"""

import logging

import peewee

from app.db.models import CacheInvalidation, database, now_ms
from app.services.cache import ALL_NAMESPACES, invalidate_namespaces, namespace_of

log = logging.getLogger("sonicpy.cache")


def recorded():
    """``{namespace name: bumps}`` of the invalidations recorded and not written yet."""
    return {name: bumps - written for name, (bumps, written) in _pending().items()}


def _pending():
    """``{namespace name: (bumps, written)}`` of the namespaces with bumps to write (both
    counts since the first was recorded; neither restarts)."""
    # A namespace a later version no longer has is left alone: nothing reads it any more.
    known = [str(namespace) for namespace in ALL_NAMESPACES]
    rows = CacheInvalidation.select().where((CacheInvalidation.bumps > CacheInvalidation.written)
                                            & CacheInvalidation.namespace.in_(known))
    return {row.namespace: (row.bumps, row.written) for row in rows}


def invalidate_or_record(kv, namespaces):
    """Bump ``namespaces`` in ``kv`` after a committed write made outside a request; record
    what ``kv`` did not take, or else write the bumps recorded earlier.

    KV is told first: a bump never waits on the database, so a database that cannot be
    read (a deploy whose migration has not run yet) still lets the write reach readers.

    Args:
        kv: the CACHE_KV binding, or None when it could not be opened (all is recorded).
        namespaces: ``Namespace`` members or names (ValueError for others, before any bump).

    Returns:
        The namespaces of ``namespaces`` whose bump did not reach KV (recorded; empty when
        all did).

    Raises:
        peewee.PeeweeException: a bump KV did not take could not be recorded either.
    """
    namespaces = [namespace_of(namespace) for namespace in namespaces]
    failed = set(namespaces if kv is None else invalidate_namespaces(kv, namespaces))
    lost = [namespace for namespace in namespaces if namespace in failed]
    if lost:
        _record(lost)
    else:
        _replay_if_readable(kv)
    return lost


def record_lost_bump(namespace):
    """Record the bump of ``namespace`` a worker's cache could not write to KV after a
    request's committed write (``ThreeTierCache``'s ``record_lost``), for the next scheduled
    run to write.

    Never raises for the database: the write has committed, and its request must not fail
    now. A database that cannot record it (down, or a deploy whose migration has not run
    yet) is logged; the bump then waits in that worker only, as before records existed.
    """
    try:
        _record([namespace])
    except peewee.PeeweeException as ex:
        # The text only: a record holding the exception would keep its frames' connections.
        log.warning("cache invalidation of %s not recorded, only its worker will write it: %s",
                    namespace, str(ex).strip())


def replay(kv):
    """Write to ``kv`` the bumps recorded earlier; the namespaces written."""
    earlier = _pending()
    if not earlier:
        return []
    failed = set(invalidate_namespaces(kv, earlier))
    written = [name for name in earlier if name not in failed]
    for name in written:
        _forget(name, earlier[name][0])
    return written


def _replay_if_readable(kv):
    # KV answers: a good moment for the bumps recorded earlier. A database that cannot be
    # read now keeps them for the scheduled job, which tries every minute.
    try:
        replay(kv)
    except peewee.PeeweeException as ex:
        # The text only: a record holding the exception would keep its frames' connections.
        log.warning("recorded cache invalidations not written now: %s", str(ex).strip())


def _forget(name, bumps):
    # Marks as written the bumps that were read, never fewer than another writer marked: a
    # bump recorded since (bumps moved on, and never restarts) stays pending for next time.
    (CacheInvalidation.update(written=bumps)
     .where((CacheInvalidation.namespace == name) & (CacheInvalidation.written < bumps))
     .execute())


def _record(namespaces):
    now = now_ms()
    # One transaction: all are recorded or none, and a failure inside a caller's transaction
    # rolls back to its savepoint instead of aborting the caller's (PostgreSQL).
    with database.atomic():
        for namespace in namespaces:
            (CacheInvalidation.insert(namespace=str(namespace), bumps=1, written=0, recorded_at=now)
             .on_conflict(conflict_target=[CacheInvalidation.namespace],
                          update={CacheInvalidation.bumps: CacheInvalidation.bumps + 1,
                                  CacheInvalidation.recorded_at: now})
             .execute())
