"""Shipping history to an R2 bucket, and rebuilding a database from it on another host.

The change log lives in the database, so a lost host loses it. With ``time_travel_bucket``
naming an R2 binding, each shipping pass (the cron handler, ``d1 time-travel ship``) writes
under ``d1-time-travel/<database_name>/``, one folder per base snapshot::

    <snapshot at ms, 13 digits>-<seq, 16 hex>/snapshot.jsonl.gz   every table's rows
    .../segment-<last seq, 16 hex>.jsonl.gz                        changes since, with the rows they left
    .../head.json                                                  how far the folder reaches

A new snapshot is taken when there is none, when the last is older than
``time_travel_snapshot_hours`` (default 24), or when it no longer describes the database
(a migration re-armed history, or the log was replaced by a restore from the bucket);
otherwise the pass ships the changes since the last one, if any, and moves ``head.json``
forward. So the bucket holds a snapshot a day plus what was written, and reaches as close
to now as the last pass (the cron runs every minute).

Restoring at time T takes the newest snapshot at or before T and replays its segments'
changes of the transactions committed by T (a transaction whose last change is later is
left out whole), in one transaction, into a database migrated to the same schema.
Segments shipped before changes named their transaction hold one change per transaction.
Folders no point of the retention window needs are deleted by the shipping pass.

Two passes may run at once (two hosts' crons, a cron and ``d1 time-travel ship``). Each
moves ``head.json`` only if it is still the one the pass read (a conditional put on its
etag), so the head never moves back; the loser's segment stays, and the changes two
segments both hold are replayed once (by ``seq``).
"""

import gzip
import json
import re
from contextlib import contextmanager
from dataclasses import dataclass

from app.db import derived
from app.db.database import read_snapshot, refresh_statistics
from app.db.models import DAY_MS, HOUR_MS
from app.db.schema_turns import take_schema_turn
from app.db.time_travel import forward, snapshot, transactions, triggers
from app.db.time_travel.history import (
    Bookmark,
    TimeTravelError,
    _foreign_keys_deferred,
    _lock,
    _now_ms,
    check_armed,
    iso,
    read_history,
)
from app.db.time_travel.undo import HistoryMismatch

PREFIX = "d1-time-travel"
_FOLDER = re.compile(r"(\d{13})-([0-9a-f]{16})")
FORMAT = 1


@dataclass(frozen=True)
class Shipped:
    """What one shipping pass wrote."""

    snapshots: int = 0
    changes: int = 0
    folders_deleted: int = 0


@dataclass(frozen=True)
class Rebuilt:
    """What a restore from the bucket did: the bookmark reached, from which snapshot, changes replayed."""

    bookmark: Bookmark
    snapshot_at: int
    replayed: int


def prefix_for(binding_table):
    """The key prefix of one database's history in the bucket."""
    return f"{PREFIX}/{binding_table.get('database_name') or binding_table['binding']}/"


# --------------------------------------------------------------------------- bucket layout

def _folders(bucket, prefix):
    """``[(at_ms, seq, folder prefix)]`` of the snapshots under ``prefix``, oldest first."""
    folders, cursor = [], None
    while True:
        page = bucket.list(prefix=prefix, delimiter="/", cursor=cursor)
        for name in page["delimited_prefixes"]:
            match = _FOLDER.fullmatch(name[len(prefix):].rstrip("/"))
            if match:
                folders.append((int(match.group(1)), int(match.group(2), 16), name))
        if not page["truncated"]:
            return sorted(folders)
        cursor = page["cursor"]


def _keys(bucket, prefix):
    keys, cursor = [], None
    while True:
        page = bucket.list(prefix=prefix, cursor=cursor)
        keys += [obj.key for obj in page["objects"]]
        if not page["truncated"]:
            return keys
        cursor = page["cursor"]


def _lines_object(key, lines):
    """``(key, gzip of JSON lines, metadata)``, an object to put."""
    return (key, gzip.compress("".join(json.dumps(line) + "\n" for line in lines).encode()),
            {"content_type": "application/jsonl", "content_encoding": "gzip"})


def _head_object(folder, history, snapshot_at, seq, through):
    head = {"log_id": history.log_id, "armed_at": history.armed_at, "snapshot_at": snapshot_at,
            "seq": seq, "through_ms": through}
    return folder + "head.json", json.dumps(head).encode(), {"content_type": "application/json"}


def _get_lines(bucket, key):
    body = bucket.get(key)
    if body is None:
        raise TimeTravelError(f"{key} is missing from the bucket")
    return [json.loads(line) for line in gzip.decompress(body.bytes()).decode().splitlines()]


def _head(bucket, folder):
    return _head_and_etag(bucket, folder)[0]


def _head_and_etag(bucket, folder):
    """``(head, its etag)`` of ``folder``, ``(None, None)`` when it has none."""
    body = bucket.get(folder + "head.json")
    return (None, None) if body is None else (body.json(), body.etag)


# -------------------------------------------------------------------------------- shipping

def ship(db, bucket, prefix, retention_days, snapshot_hours=24):
    """Ship what the bucket lacks: a new snapshot, or the changes since the last pass.

    Raises:
        TimeTravelError: the database keeps no history, or its schema changed outside
            migrations (history cannot be read consistently then).
    """
    folders = _folders(bucket, prefix)
    head, head_etag = _head_and_etag(bucket, folders[-1][2]) if folders else (None, None)
    with _consistent_read(db):
        history = read_history(db)
        check_armed(db, history)
        now = _now_ms(db)
        if _needs_snapshot(head, history, now, snapshot_hours):
            shipped, objects = Shipped(snapshots=1), _snapshot_objects(db, prefix, history, now)
            head_etag = None  # a new folder: its head must not exist yet
        else:
            changes, objects = _change_objects(db, folders[-1][2], head, history, now)
            shipped = Shipped(changes=changes)
    # Written after the read ends (on PostgreSQL writers wait while it lasts), head.json last:
    # a pass that fails half-way leaves the folder reaching only as far as it did.
    *contents, (head_key, head_data, head_metadata) = objects
    for key, data, metadata in contents:
        bucket.put(key, data, http_metadata=metadata)
    unchanged = {"etag_matches": head_etag} if head_etag else {"etag_does_not_match": "*"}
    if bucket.put(head_key, head_data, http_metadata=head_metadata, only_if=unchanged) is None:
        # Another pass moved the head since this one read it: it reaches at least as far.
        shipped = Shipped(shipped.snapshots, 0)
    return Shipped(shipped.snapshots, shipped.changes, _prune(bucket, prefix, now - retention_days * DAY_MS))


@contextmanager
def _consistent_read(db):
    """One snapshot of every table and the log, with no writer between its change and commit.

    PostgreSQL hands out ``seq`` before commit: the SHARE lock, taken before the first
    read of a REPEATABLE READ transaction, waits for writers in flight, so no change below
    the shipped ``seq`` commits later. SQLite's read transaction sees one state already.
    """
    with read_snapshot(db):
        _lock(db)  # PostgreSQL only
        yield


def _needs_snapshot(head, history, now, snapshot_hours):
    if head is None or head["log_id"] != history.log_id or head["armed_at"] != history.armed_at:
        return True
    if head["seq"] > history.current_seq or head["seq"] < history.purged_seq:
        return True  # the log was replaced, or changes were purged before being shipped
    return now - head["snapshot_at"] >= snapshot_hours * HOUR_MS


def _snapshot_objects(db, prefix, history, now):
    tables = snapshot.snapshot_tables(db, set(history.excluded))
    folder = f"{prefix}{now:013d}-{history.current_seq:016x}/"
    header = {"format": FORMAT, "seq": history.current_seq, "at_ms": now, "log_id": history.log_id,
              "fingerprint": history.fingerprint, "excluded": list(history.excluded), "tables": tables}

    def lines():
        yield header
        for table in tables:
            for row in snapshot.table_rows(db, table):
                yield [table, row]

    return [_lines_object(folder + "snapshot.jsonl.gz", lines()),
            _head_object(folder, history, now, history.current_seq, now)]


def _change_objects(db, folder, head, history, now):
    """``(changes shipped, objects)``: a segment of the changes since ``head`` (if any) and the head."""
    changes = forward.read_changes(db, head["seq"], history.current_seq)
    objects = []
    if changes:
        specs = triggers.table_specs(db, set(history.excluded))
        try:
            lines = forward.with_new_rows(db, changes, specs)
        except HistoryMismatch as ex:
            raise TimeTravelError(f"changes cannot be shipped: {ex}") from None
        objects.append(_lines_object(f"{folder}segment-{history.current_seq:016x}.jsonl.gz", lines))
    objects.append(_head_object(folder, history, head["snapshot_at"], history.current_seq, now))
    return len(changes), objects


def _prune(bucket, prefix, cutoff):
    """Delete the folders older than the newest snapshot taken at or before ``cutoff``."""
    folders = _folders(bucket, prefix)
    kept_from = max((index for index, (at, _, _) in enumerate(folders) if at <= cutoff), default=0)
    for _, _, folder in folders[:kept_from]:
        keys = _keys(bucket, folder)
        for start in range(0, len(keys), 1000):
            bucket.delete(keys[start:start + 1000])
    return kept_from


# ------------------------------------------------------------------------------- rebuilding

def reach(bucket, prefix):
    """``(earliest, latest)`` epoch ms the bucket can restore to, or None when it holds nothing."""
    folders = _folders(bucket, prefix)
    if not folders:
        return None
    head = _head(bucket, folders[-1][2])
    return folders[0][0], (head or {}).get("through_ms", folders[-1][0])


def restore_from_bucket(db, bucket, prefix, at_ms=None):
    """Rebuild ``db`` as it was at ``at_ms`` (default: the latest point shipped), in ONE transaction.

    ``db`` must be migrated to the schema the snapshot was taken under; everything in
    its tables is replaced.

    Raises:
        TimeTravelError: the bucket holds nothing for that time, the schema differs, or
            a change cannot be replayed (nothing changed then).
    """
    folder, snapshot_at, through = _pick_folder(bucket, prefix, at_ms)
    target = through if at_ms is None else at_ms
    lines = _get_lines(bucket, folder + "snapshot.jsonl.gz")
    header, rows = lines[0], lines[1:]
    # Segments of passes that ran at once overlap; a change is the same in each (by seq).
    unique = {change[0]: forward.from_line(change) for key in sorted(_keys(bucket, folder + "segment-"))
              for change in _get_lines(bucket, key)}
    # The transactions committed by the target, whole: one still writing then is left out.
    changes, last = transactions.committed_by([unique[seq] for seq in sorted(unique)], target)
    last = header["seq"] if last is None else last
    try:
        with db.atomic():
            take_schema_turn(db)  # every table is rewritten, collections included
            _rebuild(db, header, rows, changes)
    except HistoryMismatch as ex:
        raise TimeTravelError(f"the bucket's history cannot be replayed: {ex}; nothing was restored") from None
    refresh_statistics(db)  # every table was just rewritten
    return Rebuilt(Bookmark(last, target, header["log_id"]), snapshot_at, len(changes))


def _pick_folder(bucket, prefix, at_ms):
    folders = _folders(bucket, prefix)
    if not folders:
        raise TimeTravelError(f"the bucket holds no history under {prefix}: nothing was shipped there yet")
    eligible = folders if at_ms is None else [folder for folder in folders if folder[0] <= at_ms]
    if not eligible:
        raise TimeTravelError(f"the bucket's history starts at {iso(folders[0][0])}: "
                              f"it holds nothing as old as {iso(at_ms)}")
    snapshot_at, _, folder = eligible[-1]
    through = (_head(bucket, folder) or {}).get("through_ms", snapshot_at)
    if at_ms is not None and at_ms > through:
        raise TimeTravelError(f"the bucket's history under that snapshot reaches {iso(through)}, "
                              f"before {iso(at_ms)}: pick an earlier time (or ship more often)")
    return folder, snapshot_at, through


def _rebuild(db, header, rows, changes):
    specs = triggers.table_specs(db, set(header["excluded"]))
    if triggers.fingerprint(specs) != header["fingerprint"]:
        raise TimeTravelError("this database's schema is not the one the snapshot was taken under: migrate it "
                              "to the same migrations (`d1 migrations apply` with the same code) and try again")
    missing = set(header["tables"]) - set(db.get_tables())
    if missing:
        raise TimeTravelError(f"tables missing here: {', '.join(sorted(missing))}; run `d1 migrations apply` first")
    _lock(db, specs, "EXCLUSIVE")
    triggers.drop_triggers(db)  # the snapshot's log rows and the replayed ones are the original's
    # The search index is left to the rebuild below, which indexes each item once, rather
    # than for every row loaded or change replayed and then again.
    with derived.search_vectors_deferred(db), _foreign_keys_deferred(db, set(header["tables"])):
        snapshot.clear_tables(db, header["tables"])
        for table, row in rows:
            snapshot.load_row(db, table, row)
        for change in changes:
            forward.replay(db, change, specs)
    # The counts followed the loaded content through their own triggers; recomputing them
    # (and the search index) makes them exact whatever order the rows came in.
    derived.rebuild(db)
    triggers.create_triggers(db, specs)
    snapshot.reset_sequences(db)
