"""Multipart uploads: ``R2MultipartUpload`` and R2's part rules, the same for every backend.

A backend stores the parts (the local folder in its index and ``blobs/``, S3 through its
own multipart API) with this interface:

* ``create_upload(key, http_metadata, custom_metadata) -> upload id``
* ``upload_part(key, upload_id, part_number, payload) -> etag`` (10024 when no such upload)
* ``upload_parts(key, upload_id) -> {part number: (etag, size)}`` (10024 likewise)
* ``complete_upload(key, upload_id, [(part number, etag)]) -> R2Object``
* ``abort_upload(key, upload_id) -> None``

R2's rules, checked here before ``complete`` reaches a backend: every part but the last is
at least 5 MiB, and all of them are the same size; part numbers run 1 to 10,000.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from .objects import R2Error, R2Object
from .payload import to_payload

MIN_PART_SIZE = 5 * 1024 * 1024
MAX_PART_NUMBER = 10_000

NO_SUCH_UPLOAD = 10024
INVALID_PART = 10025
ENTITY_TOO_SMALL = 10011
MULTIPART_PROBLEM = 10048


def no_such_upload(action: str) -> R2Error:
    """R2's error for an upload id that is unknown, completed or aborted."""
    return R2Error(action, "The specified multipart upload does not exist.", NO_SUCH_UPLOAD)


def invalid_part() -> R2Error:
    return R2Error("completeMultipartUpload", "One or more of the specified parts could not be found.", INVALID_PART)


@dataclass
class R2MultipartUpload:
    """An upload in progress (R2's ``R2MultipartUpload``): ``upload_part``, ``complete``, ``abort``.

    Attributes:
        key: the object's key once completed.
        upload_id: pass it to ``R2Bucket.resume_multipart_upload`` to continue elsewhere.
    """

    backend: Any
    key: str
    upload_id: str

    def upload_part(self, part_number: int, value: Any) -> dict:
        """Store one part (bytes, str or a stream of known length); the same number replaces it.

        Returns:
            ``{"part_number": n, "etag": "..."}``, to pass to ``complete``.
        """
        if isinstance(part_number, bool) or not isinstance(part_number, int) \
                or not 1 <= part_number <= MAX_PART_NUMBER:
            raise ValueError(f"Part number must be between 1 and {MAX_PART_NUMBER} (inclusive).")
        etag = self.backend.upload_part(self.key, self.upload_id, part_number, to_payload(value))
        return {"part_number": part_number, "etag": etag}

    def complete(self, parts: Iterable[dict]) -> R2Object:
        """Join ``parts`` (what ``upload_part`` returned, in order) into the object.

        Raises:
            R2Error: 10024 for an unknown or finished upload, 10025 for a part not uploaded
                (or with another etag), 10011 for a part under 5 MiB that is not the last,
                10048 when the parts before the last differ in size.
        """
        wanted = [(int(part["part_number"]), str(part["etag"])) for part in parts]
        stored = self.backend.upload_parts(self.key, self.upload_id)
        if not wanted or any(stored.get(number, (None,))[0] != etag for number, etag in wanted):
            raise invalid_part()
        sizes = [stored[number][1] for number, _ in wanted]
        if any(size < MIN_PART_SIZE for size in sizes[:-1]):
            raise R2Error(
                "completeMultipartUpload",
                "Your proposed upload is smaller than the minimum allowed object size.",
                ENTITY_TOO_SMALL,
            )
        # As R2 (and Miniflare): parts before the last all one size, the last no larger.
        if len(set(sizes[:-1])) > 1 or (len(sizes) > 1 and sizes[-1] > sizes[0]):
            raise R2Error(
                "completeMultipartUpload", "There was a problem with the multipart upload.", MULTIPART_PROBLEM
            )
        return self.backend.complete_upload(self.key, self.upload_id, wanted)

    def abort(self) -> None:
        """Drop the upload and its parts; aborting again, or after ``complete``, is fine."""
        self.backend.abort_upload(self.key, self.upload_id)
