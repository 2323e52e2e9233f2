"""Multipart uploads for the local folder bucket: parts are blobs, the index tracks them.

Each part is stored as its own blob (written via ``tmp/`` like any object) and a row of
``parts``; ``complete`` copies the parts, in order, into one new blob and publishes it as
the object, with R2's multipart etag (MD5 of the parts' binary MD5s, then ``-<count>``).
"""

import hashlib
import json
import os
import shutil
import tempfile
import uuid
from datetime import UTC, datetime

from .bucket import PutRequest
from .multipart import no_such_upload
from .objects import R2Object, from_millis, to_millis

UPLOADS_SCHEMA = """
CREATE TABLE IF NOT EXISTS uploads (
    upload_id TEXT PRIMARY KEY,
    key TEXT NOT NULL,
    http_metadata TEXT NOT NULL,
    custom_metadata TEXT NOT NULL,
    state TEXT NOT NULL                 -- open, completed or aborted
)
"""
PARTS_SCHEMA = """
CREATE TABLE IF NOT EXISTS parts (
    upload_id TEXT NOT NULL,
    part_number INTEGER NOT NULL,
    blob TEXT NOT NULL,
    size INTEGER NOT NULL,
    etag TEXT NOT NULL,
    PRIMARY KEY (upload_id, part_number)
)
"""
COPY_CHUNK = 1024 * 1024


class LocalMultipart:
    """The multipart half of ``LocalBackend`` (see ``app.runtime.r2.multipart``)."""

    def _create_multipart_tables(self, db):
        db.execute(UPLOADS_SCHEMA)
        db.execute(PARTS_SCHEMA)

    def create_upload(self, key, http_metadata, custom_metadata):
        upload_id = uuid.uuid4().hex
        from .local import _dump_http  # the object table's encoding of http metadata

        with self._transaction() as db:
            db.execute(
                "INSERT INTO uploads (upload_id, key, http_metadata, custom_metadata, state)"
                " VALUES (?, ?, ?, ?, 'open')",
                (upload_id, key, _dump_http(http_metadata), json.dumps(custom_metadata)),
            )
        return upload_id

    def _open_upload(self, db, key, upload_id, action):
        row = db.execute(
            "SELECT http_metadata, custom_metadata FROM uploads WHERE upload_id = ? AND key = ? AND state = 'open'",
            (upload_id, key),
        ).fetchone()
        if row is None:
            raise no_such_upload(action)
        return row

    def upload_part(self, key, upload_id, part_number, payload):
        self._open_upload(self._db(), key, upload_id, "uploadPart")
        request = PutRequest(key=key, payload=payload, http_metadata={}, custom_metadata={}, md5=None, only_if=None)
        blob, size, etag, _ = self._store_blob(request)
        replaced = None
        try:
            with self._transaction() as db:
                self._open_upload(db, key, upload_id, "uploadPart")  # not finished meanwhile
                old = db.execute(
                    "SELECT blob FROM parts WHERE upload_id = ? AND part_number = ?", (upload_id, part_number)
                ).fetchone()
                replaced = old[0] if old else None
                db.execute(
                    "INSERT OR REPLACE INTO parts (upload_id, part_number, blob, size, etag) VALUES (?, ?, ?, ?, ?)",
                    (upload_id, part_number, blob, size, etag),
                )
        except BaseException:
            self._remove_blob(blob)
            raise
        if replaced:
            self._remove_blob(replaced)
        return etag

    def upload_parts(self, key, upload_id):
        db = self._db()
        self._open_upload(db, key, upload_id, "completeMultipartUpload")
        rows = db.execute("SELECT part_number, etag, size FROM parts WHERE upload_id = ?", (upload_id,))
        return {number: (etag, size) for number, etag, size in rows}

    def complete_upload(self, key, upload_id, parts):
        from .local import _load_http

        db = self._db()
        http_metadata, custom_metadata = self._open_upload(db, key, upload_id, "completeMultipartUpload")
        blobs = dict(db.execute("SELECT part_number, blob FROM parts WHERE upload_id = ?", (upload_id,)).fetchall())
        blob, size = self._join_parts([blobs[number] for number, _ in parts])
        joined_md5 = hashlib.md5(b"".join(bytes.fromhex(etag) for _, etag in parts)).hexdigest()
        obj = R2Object(
            key=key,
            version=uuid.uuid4().hex,
            size=size,
            etag=f"{joined_md5}-{len(parts)}",
            uploaded=from_millis(to_millis(datetime.now(UTC))),
            http_metadata=_load_http(http_metadata),
            custom_metadata=json.loads(custom_metadata),
        )
        try:
            _, replaced = self._publish(obj, blob, None)
        except BaseException:
            self._remove_blob(blob)
            raise
        if replaced:
            self._remove_blob(replaced)
        self._finish(upload_id, "completed")
        return obj

    def _join_parts(self, part_blobs):
        """Copy the part blobs, in order, into one new blob; return (name, size)."""
        fd, tmp_name = tempfile.mkstemp(dir=self.tmp)
        try:
            with os.fdopen(fd, "wb") as out:
                for part_blob in part_blobs:
                    with open(self._blob_path(part_blob), "rb") as source:
                        shutil.copyfileobj(source, out, COPY_CHUNK)
                size = out.tell()
            blob = uuid.uuid4().hex
            os.replace(tmp_name, self.blobs / blob)
        except BaseException:
            if os.path.exists(tmp_name):
                os.unlink(tmp_name)
            raise
        return blob, size

    def abort_upload(self, key, upload_id):
        row = self._db().execute(
            "SELECT state FROM uploads WHERE upload_id = ? AND key = ?", (upload_id, key)
        ).fetchone()
        if row is None:
            raise no_such_upload("abortMultipartUpload")
        if row[0] == "open":
            self._finish(upload_id, "aborted")

    def _finish(self, upload_id, state):
        """Mark the upload finished and drop its parts (used or not)."""
        with self._transaction() as db:
            blobs = [row[0] for row in db.execute("SELECT blob FROM parts WHERE upload_id = ?", (upload_id,))]
            db.execute("DELETE FROM parts WHERE upload_id = ?", (upload_id,))
            db.execute("UPDATE uploads SET state = ? WHERE upload_id = ?", (state, upload_id))
        for blob in blobs:
            self._remove_blob(blob)
