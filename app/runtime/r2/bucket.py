"""The MEDIA_BUCKET binding: R2's Workers API over a pluggable storage backend.

``R2Bucket`` validates every call with R2's rules and messages (``options``), then hands a
normalised request to a backend: ``LocalBackend`` (a folder under the state folder) or
``S3Backend`` (boto3 against R2, S3 or MinIO). ``open_bucket`` picks one from the binding's
table in bindings.toml, as the DB and CACHE_KV bindings do.
"""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from .multipart import R2MultipartUpload
from .objects import INVALID_ARGUMENT, BodyStream, R2Error, R2Object, R2ObjectBody
from .options import (
    MAX_DELETE_KEYS,
    Conditional,
    RangeRequest,
    ReadPlan,
    check_checksum,
    check_custom_metadata,
    check_folder_name,
    check_http_metadata,
    check_include,
    check_key,
    check_limit,
    check_md5,
    check_optional_str,
)
from .payload import FixedLengthStream, to_payload


@dataclass
class ReadResult:
    """What a backend found for a ``get``.

    ``selection`` is the ``(offset, length)`` served, or ``None`` with no ``body`` when the
    ``only_if`` condition failed.
    """

    obj: R2Object
    selection: tuple | None
    body: BodyStream | None


@dataclass
class ListPage:
    """One page of a listing, in key order; ``cursor`` is set only when more remain."""

    objects: list = field(default_factory=list)
    delimited_prefixes: list = field(default_factory=list)
    cursor: str | None = None


@dataclass(frozen=True)
class PutRequest:
    """A validated ``put``: the stream to store and what to store with it."""

    key: str
    payload: FixedLengthStream
    http_metadata: dict
    custom_metadata: dict
    md5: str | None
    only_if: Conditional | None
    checksum: tuple | None = None  # ("sha256", hex) to check and store


class Backend(Protocol):
    """Storage behind an ``R2Bucket``; inputs arrive already validated."""

    def head(self, key: str) -> R2Object | None:
        """Metadata of ``key``, or ``None``."""

    def read(self, key: str, plan: ReadPlan) -> ReadResult | None:
        """Read ``key`` as ``plan`` selects, or ``None`` when it does not exist."""

    def write(self, request: PutRequest) -> R2Object | None:
        """Store an object; ``None`` when ``request.only_if`` does not hold."""

    def delete(self, keys: list) -> None:
        """Remove ``keys`` (at most 1000); missing keys are fine."""

    def list(
        self,
        prefix: str | None,
        delimiter: str | None,
        cursor: str | None,
        start_after: str | None,
        limit: int,
        include: frozenset,
    ) -> ListPage:
        """A page of keys after ``start_after``/``cursor``, ``include`` saying which metadata."""

    def ping(self) -> None:
        """One round trip to the store; raise ``R2Error`` when it does not answer."""

    def describe(self) -> str:
        """Where the objects are, in a few words and without credentials."""


class R2Bucket:
    """An R2 bucket binding (``env.MEDIA_BUCKET``) with R2's Workers API in snake_case.

    Args:
        backend: Where objects are stored.
        binding: The binding's name, for messages and ``repr``.
    """

    def __init__(self, backend: Backend, binding: str = "MEDIA_BUCKET"):
        self.backend = backend
        self.binding = binding

    def __repr__(self) -> str:
        return f"<R2Bucket {self.binding} on {self.backend!r}>"

    def describe(self) -> str:
        """The backend in a few words (``folder /path``, ``S3 bucket at endpoint``)."""
        return self.backend.describe()

    def head(self, key: str, only_if: Mapping | None = None) -> R2Object | None:
        """Metadata of ``key`` without its content, or ``None`` when it does not exist.

        ``only_if`` (as for ``get``, or a request's headers) is accepted, as R2's binding
        accepts it, and does not change the answer: a head always describes the object.
        """
        key = check_key("head", key)
        Conditional.parse(only_if)
        obj = self.backend.head(key)
        if obj is not None:
            obj.range = {"offset": 0, "length": obj.size}
        return obj

    def get(
        self, key: str, range: Mapping | None = None, only_if: Mapping | None = None
    ) -> R2ObjectBody | R2Object | None:
        """Read an object.

        Args:
            key: The object's key.
            range: ``{"offset": n, "length": n}`` (either may be left out) or ``{"suffix": n}``,
                or a request's headers (their ``Range``: one range of bytes; several give
                the whole object, as on R2).
            only_if: ``etag_matches``, ``etag_does_not_match`` (unquoted etags or ``"*"``),
                ``uploaded_before``, ``uploaded_after`` (aware datetimes), or a request's
                headers (``If-Match``, ``If-None-Match``, ``If-Modified-Since``,
                ``If-Unmodified-Since``): the standard way to serve a file.

        Returns:
            ``R2ObjectBody`` with the content; ``None`` when the key does not exist; a plain
            ``R2Object`` (no body) when ``only_if`` does not hold.

        Raises:
            R2Error: 10039 for a range outside the object, 10001 when the store fails.
        """
        plan = ReadPlan(Conditional.parse(only_if), RangeRequest.parse(range))
        result = self.backend.read(check_key("get", key), plan)
        if result is None:
            return None
        if result.body is None:
            return result.obj
        offset, length = result.selection
        result.obj.range = {"offset": offset, "length": length}
        return R2ObjectBody(result.obj, result.body)

    def put(
        self,
        key: str,
        value: Any,
        http_metadata: Mapping | None = None,
        custom_metadata: Mapping | None = None,
        only_if: Mapping | None = None,
        md5: str | bytes | None = None,
        sha1: str | bytes | None = None,
        sha256: str | bytes | None = None,
        sha384: str | bytes | None = None,
        sha512: str | bytes | None = None,
    ) -> R2Object | None:
        """Store ``value`` under ``key``, replacing any object there.

        Args:
            value: ``bytes``, ``str`` (stored as UTF-8), ``None`` (empty) or a file-like
                object whose length is known (seekable, or wrapped in ``FixedLengthStream``).
                File-like values are streamed, never read whole into memory.
            http_metadata: ``content_type``, ``content_language``, ``content_disposition``,
                ``content_encoding``, ``cache_control`` (str), ``cache_expiry`` (datetime).
            custom_metadata: str to str, at most 2048 bytes in all.
            only_if: As for ``get``; when it does not hold nothing is stored.
            md5: Expected MD5 (hex or 16 bytes); a mismatch stores nothing.
            sha1, sha256, sha384, sha512: An expected SHA digest (hex or bytes), checked like
                ``md5`` and kept in the object's ``checksums``; one algorithm per put.

        Raises:
            R2Error: 10037 when the content does not match the checksum given.

        Returns:
            The stored object's metadata, or ``None`` when ``only_if`` did not hold.
        """
        request = PutRequest(
            key=check_key("put", key),
            http_metadata=check_http_metadata(http_metadata),
            custom_metadata=check_custom_metadata(custom_metadata),
            only_if=Conditional.parse(only_if),
            md5=check_md5(md5),
            checksum=check_checksum(md5, sha1=sha1, sha256=sha256, sha384=sha384, sha512=sha512),
            payload=to_payload(value),
        )
        return self.backend.write(request)

    def create_multipart_upload(
        self, key: str, http_metadata: Mapping | None = None, custom_metadata: Mapping | None = None
    ) -> R2MultipartUpload:
        """Start a multipart upload of ``key`` (parts of at least 5 MiB but the last, all one size)."""
        key = check_key("createMultipartUpload", key)
        upload_id = self.backend.create_upload(
            key, check_http_metadata(http_metadata), check_custom_metadata(custom_metadata)
        )
        return R2MultipartUpload(self.backend, key, upload_id)

    def resume_multipart_upload(self, key: str, upload_id: str) -> R2MultipartUpload:
        """The upload ``upload_id`` of ``key``, without checking it exists (as R2: the next call will)."""
        if not isinstance(upload_id, str) or not upload_id:
            raise TypeError("upload_id must be a non-empty string")
        return R2MultipartUpload(self.backend, check_key("resumeMultipartUpload", key), upload_id)

    def delete(self, key_or_keys: str | Iterable[str]) -> None:
        """Delete one key or a list of up to 1000 keys; missing keys are not an error."""
        if isinstance(key_or_keys, str):
            key_or_keys = [key_or_keys]
        keys = [check_key("delete", key) for key in key_or_keys]
        if len(keys) > MAX_DELETE_KEYS:
            raise R2Error(
                "delete", "You can delete at most 1000 objects in one call.", INVALID_ARGUMENT
            )
        if keys:
            self.backend.delete(keys)

    def list(
        self,
        prefix: str | None = None,
        delimiter: str | None = None,
        cursor: str | None = None,
        limit: int = 1000,
        start_after: str | None = None,
        include: Iterable[str] | None = None,
    ) -> dict:
        """List objects in lexicographic key order.

        Returns:
            ``{"objects": [R2Object], "truncated": bool, "delimited_prefixes": [str]}``
            plus ``"cursor"`` when truncated. A page may hold fewer than ``limit`` entries
            even when truncated: loop while ``truncated``. Without ``include`` the listed
            objects carry no metadata (``None``), as on R2.
        """
        include = check_include(include)
        page = self.backend.list(
            prefix=check_optional_str("prefix", prefix),
            delimiter=check_optional_str("delimiter", delimiter),
            cursor=check_optional_str("cursor", cursor),
            start_after=check_optional_str("start_after", start_after),
            limit=check_limit(limit),
            include=include,
        )
        result = {
            "objects": [obj.with_metadata(include) for obj in page.objects],
            "truncated": page.cursor is not None,
            "delimited_prefixes": list(page.delimited_prefixes),
        }
        if page.cursor is not None:
            result["cursor"] = page.cursor
        return result

    def ping(self) -> None:
        """A real round trip to the store, for ``/health``; raises ``R2Error`` when down."""
        self.backend.ping()


def open_bucket(binding: Mapping, state_dir: Path, environ: Mapping[str, str]) -> R2Bucket:
    """Build the bucket a ``[[r2_buckets]]`` table of bindings.toml describes.

    Args:
        binding: The table: ``binding``, ``bucket_name``; with ``endpoint_url`` also
            ``region_name`` (default ``"auto"``), ``access_key_id_env`` and
            ``secret_access_key_env`` (names of environment variables, never the secrets),
            ``connect_timeout`` and ``read_timeout`` (seconds).
        state_dir: The local state folder; the local bucket lives in
            ``state_dir / "r2" / (bucket_name or binding)``.
        environ: Where the credential variables are looked up.

    Raises:
        ValueError: The table is unusable (unsafe name, missing credential variable ...).
    """
    name = binding.get("binding") or "MEDIA_BUCKET"
    if binding.get("endpoint_url"):
        # Imported here so a local-only setup never pays for importing boto3.
        from .s3 import S3Backend

        return R2Bucket(S3Backend.from_binding(binding, environ), binding=name)
    from .local import LocalBackend

    folder = check_folder_name(binding.get("bucket_name") or name)
    return R2Bucket(LocalBackend(Path(state_dir) / "r2" / folder), binding=name)
