"""The local folder backend of MEDIA_BUCKET, shared safely by every worker process.

Layout under the bucket's folder (``.wrangler/state/r2/<bucket>`` by default)::

    index.sqlite3    one row per object: key, blob name, etag, size, metadata (like Miniflare)
    blobs/<32 hex>   the content of one upload, never modified once in place
    tmp/             uploads being written

Keys never become file names: a blob is named by a random id, so ``../../etc/passwd``,
absolute keys, backslashes or NUL in a key cannot reach outside the folder. An upload is
written to ``tmp/``, moved into ``blobs/`` with ``os.replace``, then published by one SQLite
transaction (``BEGIN IMMEDIATE``, so conditional puts are atomic across processes); the
blob it replaces is removed after the commit. Readers open the blob named by the row they
read, so a body always matches its metadata; if a writer removed that blob in between, the
reader simply reads the row again.
"""

import base64
import contextlib
import hashlib
import json
import os
import sqlite3
import tempfile
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from ..private import private_folder, private_sqlite_file
from .bucket import ListPage, PutRequest, ReadResult
from .local_multipart import LocalMultipart
from .objects import (
    BAD_DIGEST,
    INTERNAL_ERROR,
    INVALID_ARGUMENT,
    BodyStream,
    R2Error,
    R2Object,
    from_millis,
    to_millis,
)
from .options import ReadPlan, checksum_mismatch

CHUNK_SIZE = 64 * 1024
BUSY_TIMEOUT_MS = 5000
READ_ATTEMPTS = 5

SCHEMA = """
CREATE TABLE IF NOT EXISTS objects (
    key TEXT PRIMARY KEY,
    blob TEXT NOT NULL,
    version TEXT NOT NULL,
    size INTEGER NOT NULL,
    etag TEXT NOT NULL,
    uploaded INTEGER NOT NULL,          -- milliseconds since the epoch, UTC
    http_metadata TEXT NOT NULL,        -- JSON; cache_expiry in milliseconds
    custom_metadata TEXT NOT NULL,      -- JSON
    checksums TEXT NOT NULL DEFAULT '{}'  -- JSON: a SHA checksum given to put, hex
) WITHOUT ROWID
"""
# Folders made before checksums were kept get the column on open.
ADD_CHECKSUMS = "ALTER TABLE objects ADD COLUMN checksums TEXT NOT NULL DEFAULT '{}'"
COLUMNS = "key, blob, version, size, etag, uploaded, http_metadata, custom_metadata, checksums"


def _dump_http(http_metadata: dict) -> str:
    stored = dict(http_metadata)
    if "cache_expiry" in stored:
        stored["cache_expiry"] = to_millis(stored["cache_expiry"])
    return json.dumps(stored)


def _load_http(text: str) -> dict:
    http_metadata = json.loads(text)
    if "cache_expiry" in http_metadata:
        http_metadata["cache_expiry"] = from_millis(http_metadata["cache_expiry"])
    return http_metadata


def _row_to_object(row: tuple) -> R2Object:
    key, _blob, version, size, etag, uploaded, http_metadata, custom_metadata, checksums = row
    return R2Object(
        stored_checksums=json.loads(checksums),
        key=key,
        version=version,
        size=size,
        etag=etag,
        uploaded=from_millis(uploaded),
        http_metadata=_load_http(http_metadata),
        custom_metadata=json.loads(custom_metadata),
    )


def key_successor(text: str) -> str | None:
    """The smallest string greater than every string that starts with ``text``.

    ``None`` when there is none (``text`` is all U+10FFFF). Surrogates are skipped because
    SQLite stores UTF-8, which cannot hold them.
    """
    while text:
        code = ord(text[-1]) + 1
        if code == 0xD800:
            code = 0xE000
        if code <= 0x10FFFF:
            return text[:-1] + chr(code)
        text = text[:-1]
    return None


def _encode_cursor(kind: str, value: str) -> str:
    return base64.urlsafe_b64encode(json.dumps([kind, value]).encode("utf-8")).decode("ascii")


def _decode_cursor(cursor: str) -> tuple:
    try:
        kind, value = json.loads(base64.urlsafe_b64decode(cursor.encode("ascii")))
        if kind in ("key", "prefix") and isinstance(value, str):
            return kind, value
    except (ValueError, TypeError, UnicodeError):
        pass
    raise R2Error("list", "The provided cursor is not valid.", INVALID_ARGUMENT)


class LocalBackend(LocalMultipart):
    """Objects in a folder: blobs as files, metadata in one SQLite index.

    Args:
        root: The bucket's folder; created when missing.
    """

    def __init__(self, root: Path):
        self.root = Path(root).resolve()
        self.blobs = self.root / "blobs"
        self.tmp = self.root / "tmp"
        self.index_path = self.root / "index.sqlite3"
        self._local = threading.local()
        for folder in (self.root, self.blobs, self.tmp):
            private_folder(folder)
        private_sqlite_file(self.index_path)
        with self._transaction() as db:
            db.execute(SCHEMA)
            self._create_multipart_tables(db)
            if "checksums" not in {row[1] for row in db.execute("PRAGMA table_info(objects)")}:
                db.execute(ADD_CHECKSUMS)

    def __repr__(self) -> str:
        return f"LocalBackend({str(self.root)!r})"

    def describe(self) -> str:
        """``folder <path>``."""
        return f"folder {self.root}"

    # -- connections -------------------------------------------------------------------

    def _db(self) -> sqlite3.Connection:
        """This thread's connection; a forked worker opens its own (SQLite is not fork-safe)."""
        pid = os.getpid()
        if getattr(self._local, "pid", None) != pid:
            db = sqlite3.connect(
                self.index_path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None
            )
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            db.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
            self._local.db, self._local.pid = db, pid
        return self._local.db

    @contextmanager
    def _transaction(self):
        # IMMEDIATE takes the write lock up front: a deferred BEGIN that upgrades later fails
        # at once with "database is locked" when several workers write.
        db = self._db()
        db.execute("BEGIN IMMEDIATE")
        try:
            yield db
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")

    def _row(self, db: sqlite3.Connection, key: str) -> tuple | None:
        return db.execute(f"SELECT {COLUMNS} FROM objects WHERE key = ?", (key,)).fetchone()

    def _blob_path(self, blob: str) -> Path:
        path = (self.blobs / blob).resolve()
        # Blob names come from uuid4, but the index is a file anyone could edit: stay inside.
        if path.parent != self.blobs:
            raise R2Error("get", "The local index names a blob outside the bucket.", INTERNAL_ERROR)
        return path

    # -- reads -------------------------------------------------------------------------

    def head(self, key: str) -> R2Object | None:
        """Metadata of ``key`` or ``None``."""
        row = self._row(self._db(), key)
        return None if row is None else _row_to_object(row)

    def read(self, key: str, plan: ReadPlan) -> ReadResult | None:
        """Check ``plan`` against the current row and stream the matching blob."""
        for _ in range(READ_ATTEMPTS):
            row = self._row(self._db(), key)
            if row is None:
                return None
            obj = _row_to_object(row)
            selection = plan.select(obj)
            if selection is None:
                return ReadResult(obj, None, None)
            try:
                handle = open(self._blob_path(row[1]), "rb")
            except FileNotFoundError:
                continue  # replaced between the SELECT and the open: read the new row
            offset, length = selection
            handle.seek(offset)
            return ReadResult(obj, selection, BodyStream(_chunks(handle, length), handle.close))
        raise R2Error("get", "The object kept changing while being read.", INTERNAL_ERROR)

    # -- writes ------------------------------------------------------------------------

    def write(self, request: PutRequest) -> R2Object | None:
        """Stream the payload to a new blob, then publish it in one transaction."""
        # Checking first avoids streaming a large upload only to throw it away; the check
        # is repeated under the write lock below, where it decides.
        if request.only_if is not None and not request.only_if.passes(self.head(request.key)):
            return None
        blob, size, etag, checksums = self._store_blob(request)
        obj = R2Object(
            stored_checksums=checksums,
            key=request.key,
            version=uuid.uuid4().hex,
            size=size,
            etag=etag,
            # Stored in milliseconds: round now so put's answer equals a later head's.
            uploaded=from_millis(to_millis(datetime.now(UTC))),
            http_metadata=request.http_metadata,
            custom_metadata=request.custom_metadata,
        )
        try:
            accepted, replaced = self._publish(obj, blob, request.only_if)
        except BaseException:
            self._remove_blob(blob)
            raise
        if not accepted:
            self._remove_blob(blob)
            return None
        if replaced is not None:
            self._remove_blob(replaced)
        return obj

    def _store_blob(self, request: PutRequest) -> tuple:
        """Copy the payload into ``blobs/`` via ``tmp/``; return (name, size, md5 hex, checksums)."""
        digest = hashlib.md5()
        extra = hashlib.new(request.checksum[0]) if request.checksum else None
        size = 0
        fd, tmp_name = tempfile.mkstemp(dir=self.tmp)
        try:
            with os.fdopen(fd, "wb") as out:
                while chunk := request.payload.read(CHUNK_SIZE):
                    digest.update(chunk)
                    if extra is not None:
                        extra.update(chunk)
                    size += len(chunk)
                    out.write(chunk)
            etag = digest.hexdigest()
            if request.md5 is not None and request.md5 != etag:
                raise R2Error(
                    "put",
                    "The MD5 checksum you specified did not match what we received.",
                    BAD_DIGEST,
                )
            if extra is not None and extra.hexdigest() != request.checksum[1]:
                raise checksum_mismatch(request.checksum[0])
            blob = uuid.uuid4().hex
            os.replace(tmp_name, self.blobs / blob)
        except BaseException:
            _unlink(tmp_name)
            raise
        return blob, size, etag, dict([request.checksum]) if request.checksum else {}

    def _publish(self, obj: R2Object, blob: str, only_if) -> tuple:
        """Point ``obj.key`` at ``blob`` if ``only_if`` holds now.

        Returns:
            ``(accepted, name of the blob replaced or None)``.
        """
        with self._transaction() as db:
            current = self._row(db, obj.key)
            if only_if is not None and not only_if.passes(
                None if current is None else _row_to_object(current)
            ):
                return False, None
            db.execute(
                f"INSERT OR REPLACE INTO objects ({COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    obj.key,
                    blob,
                    obj.version,
                    obj.size,
                    obj.etag,
                    to_millis(obj.uploaded),
                    _dump_http(obj.http_metadata),
                    json.dumps(obj.custom_metadata),
                    json.dumps(obj.stored_checksums),
                ),
            )
        return True, None if current is None else current[1]

    def delete(self, keys: list) -> None:
        """Remove the rows, then the blobs they named."""
        with self._transaction() as db:
            marks = ",".join("?" * len(keys))
            blobs = [
                row[0]
                for row in db.execute(f"SELECT blob FROM objects WHERE key IN ({marks})", keys)
            ]
            db.execute(f"DELETE FROM objects WHERE key IN ({marks})", keys)
        for blob in blobs:
            self._remove_blob(blob)

    def _remove_blob(self, blob: str) -> None:
        _unlink(self._blob_path(blob))

    # -- listing -----------------------------------------------------------------------

    def list(self, prefix, delimiter, cursor, start_after, limit, include) -> ListPage:
        """Keys in order from the index, read in batches.

        A delimited prefix ends the batch and the next query starts past every key under
        it, so a folder of a million keys costs one query, not a million rows.
        """
        prefix = prefix or ""
        lower = self._lower_bound(prefix, cursor, start_after)
        upper = key_successor(prefix) if prefix else None
        page, count, last = ListPage(), 0, None
        db = self._db()
        while lower is not None:
            rows = self._rows(db, lower, upper, limit - count + 1)
            if not rows:
                break
            for row in rows:
                if count == limit:
                    # One more entry exists past the page: hand out a cursor.
                    page.cursor = _encode_cursor(*last)
                    return page
                count += 1
                key = row[0]
                split = key.find(delimiter, len(prefix)) if delimiter else -1
                if split >= 0:
                    group = key[: split + len(delimiter)]
                    page.delimited_prefixes.append(group)
                    last, lower = ("prefix", group), key_successor(group)
                    break
                page.objects.append(_row_to_object(row))
                last, lower = ("key", key), key + "\0"
        return page

    @staticmethod
    def _lower_bound(prefix: str, cursor: str | None, start_after: str | None):
        """The smallest key the page may start at (``key + "\\0"`` is just after ``key``);
        ``None`` when nothing can follow the cursor."""
        bounds = [prefix]
        if start_after is not None:
            bounds.append(start_after + "\0")
        if cursor is not None:
            kind, value = _decode_cursor(cursor)
            bound = value + "\0" if kind == "key" else key_successor(value)
            if bound is None:
                return None
            bounds.append(bound)
        return max(bounds)

    @staticmethod
    def _rows(db: sqlite3.Connection, lower: str, upper: str | None, limit: int) -> list:
        if upper is None:
            sql, args = "key >= ?", (lower, limit)
        else:
            sql, args = "key >= ? AND key < ?", (lower, upper, limit)
        return db.execute(
            f"SELECT {COLUMNS} FROM objects WHERE {sql} ORDER BY key LIMIT ?", args
        ).fetchall()

    def ping(self) -> None:
        """Touch the index; raises ``R2Error`` if the folder or database is unusable."""
        try:
            self._db().execute("SELECT 1 FROM objects LIMIT 1").fetchall()
        except sqlite3.Error as ex:
            raise R2Error("ping", f"local bucket unavailable: {ex}", INTERNAL_ERROR) from ex


def _chunks(handle, length: int) -> Iterator[bytes]:
    """Up to ``length`` bytes of ``handle`` in chunks; closes it when done or abandoned."""
    try:
        while length > 0:
            chunk = handle.read(min(CHUNK_SIZE, length))
            if not chunk:
                return
            length -= len(chunk)
            yield chunk
    finally:
        handle.close()


def _unlink(path) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)
