"""Find and remove media objects that no row names: ``media sweep`` and the cron handler.

Two passes, both leaving alone anything younger than the grace period (an upload may still
be on its way to writing the row that names its object):

* **pending records** (``pending``) older than the grace period. A record whose key a media
  row names is settled; one whose object the bucket does not hold was a write that never
  landed; the others are orphans: the object is deleted, then the record. One index range
  and a HEAD per record: cheap enough for every cron run.
* **the whole bucket** (``scan=True``, what ``media sweep`` does by default): every object
  whose key has the library's shape (``<folder>/<32 hex digits>.<ext>``, or its
  ``.thumb.webp``; the folder part is the one it was uploaded to, which a move does not
  change) that no media row names, uploaded before the grace period and with no
  recent pending record. It finds what the log cannot know of: objects written before the
  log existed, or put by hand. Keys of any other shape are never touched.

Every orphan is logged on ``sonicpy.media`` at WARNING, with its key ("orphaned object
<key> removed: <why>"); a dry run logs each as found and changes nothing.
"""

import logging
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime

from app.db.models import Media
from app.runtime.r2.objects import to_millis

from . import pending, storage

log = logging.getLogger("sonicpy.media")

PENDING_BATCH = 200
# Listing pages this size keep each page's IN (...) lists well inside every SQLite's limit.
SCAN_PAGE = 500
SEGMENT = storage.FOLDER_SEGMENT.pattern
MEDIA_KEY = re.compile(
    rf"{SEGMENT}(?:/{SEGMENT}){{0,{storage.MAX_FOLDER_DEPTH - 1}}}/([0-9a-f]{{32}})\.(?:thumb\.webp|[a-z0-9]+)"
)


@dataclass
class SweepReport:
    """What a sweep did.

    Attributes:
        orphans: keys of the orphans removed (or, in a dry run, found).
        settled: pending records dropped with nothing to delete (a row names the key, or
            the object was never stored).
        scanned: objects listed by the bucket scan (0 without one).
        foreign: listed keys that do not have a media key's shape (never touched).
        dry_run: nothing was changed.
    """

    orphans: list = field(default_factory=list)
    settled: int = 0
    scanned: int = 0
    foreign: int = 0
    dry_run: bool = False

    def to_dict(self):
        """The report as JSON-ready values (the cron handler's result)."""
        return {
            "orphans_removed" if not self.dry_run else "orphans_found": len(self.orphans),
            "pending_settled": self.settled,
            "objects_scanned": self.scanned,
            "foreign_keys": self.foreign,
        }


def sweep(bucket, now_ms, grace_seconds, scan=True, dry_run=False):
    """Remove orphaned media objects from ``bucket``; see the module notes.

    Args:
        bucket: the MEDIA_BUCKET binding.
        now_ms: the time the grace period counts back from (epoch milliseconds).
        grace_seconds: how old a record or an object must be to be swept.
        scan: also list the whole bucket (the pending records are always swept).
        dry_run: log and report the orphans, delete nothing.

    Raises:
        R2Error: the bucket failed; what was removed until then stays removed.
    """
    report = SweepReport(dry_run=dry_run)
    cutoff = now_ms - grace_seconds * 1000
    sweep_pending(bucket, cutoff, report)
    if scan:
        sweep_bucket(bucket, cutoff, report)
    return report


def sweep_pending(bucket, cutoff_ms, report):
    """The pending-records pass: every record made before ``cutoff_ms``."""
    after = ""
    while records := pending.older_than(cutoff_ms, after, PENDING_BATCH):
        for record in records:
            _settle(bucket, record, report)
        after = records[-1].key


def _settle(bucket, record, report):
    row, _ = storage.find_by_key(record.key)
    if row is not None or bucket.head(record.key) is None:
        report.settled += 1
        if not report.dry_run:
            pending.clear([record.key])
        return
    since = datetime.fromtimestamp(record.created_at / 1000, UTC).isoformat(timespec="seconds")
    _remove(bucket, [record.key], f"pending {record.reason} of media {record.media_id} since {since}", report)


def sweep_bucket(bucket, cutoff_ms, report):
    """The scan pass: every object of the bucket, a listing page at a time."""
    cursor = None
    while True:
        page = bucket.list(cursor=cursor, limit=SCAN_PAGE)
        report.scanned += len(page["objects"])
        orphans = unnamed_keys(page["objects"], cutoff_ms, report)
        if orphans:
            _remove(bucket, orphans, "no media row names it", report)
        if not page["truncated"]:
            return
        cursor = page["cursor"]


def unnamed_keys(objects, cutoff_ms, report):
    """Keys among the listed ``objects`` that are orphans: media-shaped, uploaded before
    ``cutoff_ms``, named by no row and not recorded as pending since ``cutoff_ms``."""
    candidates = []
    for obj in objects:
        if MEDIA_KEY.fullmatch(obj.key) is None:
            report.foreign += 1
        elif to_millis(obj.uploaded) < cutoff_ms:
            candidates.append(obj.key)
    if not candidates:
        return []
    named = _named(candidates)
    recent = pending.recorded_since(candidates, cutoff_ms)
    known = set(report.orphans)  # a dry run's pending pass found these already
    return [key for key in candidates if key not in named and key not in recent and key not in known]


def _named(keys):
    """Which of ``keys`` a media row names, as its file or as its thumbnail."""
    named = {row.r2_key for row in Media.select(Media.r2_key).where(Media.r2_key.in_(keys))}
    thumbnails = [key for key in keys if key.endswith(storage.THUMBNAIL_SUFFIX)]
    if thumbnails:
        ids = [MEDIA_KEY.fullmatch(key).group(1) for key in thumbnails]
        rows = Media.select(Media.r2_key, Media.thumbnail_url).where(Media.id.in_(ids))
        named |= {storage.thumbnail_key_of(row) for row in rows}
    return named


def _remove(bucket, keys, why, report):
    if report.dry_run:
        for key in keys:
            log.warning("orphaned object %s found (dry run, kept): %s", key, why)
        report.orphans += keys
        return
    bucket.delete(keys)
    for key in keys:
        log.warning("orphaned object %s removed: %s", key, why)
    pending.clear(keys)
    report.orphans += keys
