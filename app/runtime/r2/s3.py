"""The boto3 backend of MEDIA_BUCKET: R2, S3 or MinIO through the S3 API.

Choices that come from measurements on this stack and from known breakages:

* One client per process, made on first use and remade when ``os.getpid()`` changes, so a
  client is never shared across a gunicorn fork. boto3 clients are thread-safe.
* Short timeouts and two attempts in all: boto3's 60 s defaults with retries hold a worker
  past gunicorn's 30 s timeout when the store hangs. Reads (HEAD, GET, LIST) wait
  ``read_timeout`` (2 s by default) for each answer; writes (PUT, DELETE) at least 5 s,
  since a store answers a PUT only once it has taken in and checked every byte. So a hung
  store holds a reading thread for about 4 s, not 10; ``app.runtime.r2.guard`` bounds how
  many threads it can hold at all.
* A call the store never answered (refused, reset, timed out) raises ``StoreUnreachable``;
  an error the store answered with raises a plain ``R2Error``.
* ``request_checksum_calculation``/``response_checksum_validation`` ``when_required``:
  botocore >= 1.36 default checksums break R2 and MinIO.
* Path-style addressing: works with every S3-compatible server, whatever its DNS.

How R2's model maps onto S3:

* ``etag`` is S3's ETag unquoted (the MD5 for single-part uploads); ``uploaded`` is
  LastModified, which S3 keeps to the second. ``version`` is derived from both (S3 has no
  version id without bucket versioning), so it changes with every upload and is the same
  from ``put``, ``head``, ``get`` and ``list``.
* Custom metadata is S3 user metadata. S3 lowercases names and only carries ASCII, so names
  other than ``[a-z0-9-]`` are escaped as ``.xx`` per UTF-8 byte and values are
  percent-encoded where they are not printable ASCII; plain lowercase names and ASCII
  values are stored unchanged, readable by any S3 tool.
* Conditions: S3 cannot evaluate R2's ``uploaded_before``/``uploaded_after``, so ``put``
  heads the object, evaluates ``only_if`` here, then writes with ``If-Match`` on the etag
  it saw (or ``If-None-Match: *`` when there was none). A writer that slips in between
  makes the put fail its precondition (``None``) instead of being overwritten. A ranged
  ``get`` likewise heads, then reads with ``If-Match`` so the bytes belong to the version
  that was checked. A plain ``get`` checks the condition on the GET's own answer.
* ``list(include=...)`` needs one HEAD per object (S3 listings carry no metadata), so such
  pages are capped at 100 entries, which R2's contract allows ("may return fewer").
"""

import hashlib
import os
import shutil
import tempfile
import threading
from collections.abc import Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from urllib.parse import quote, unquote

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError
from urllib3.exceptions import HTTPError as Urllib3Error

from app.runtime.binding_values import seconds, whole_number

from .bucket import ListPage, PutRequest, ReadResult
from .multipart import NO_SUCH_UPLOAD, no_such_upload
from .objects import (
    BAD_DIGEST,
    ENTITY_TOO_LARGE,
    INTERNAL_ERROR,
    INVALID_ARGUMENT,
    INVALID_OBJECT_NAME,
    INVALID_RANGE,
    METADATA_TOO_LARGE,
    NO_SUCH_BUCKET,
    BodyStream,
    R2Error,
    R2Object,
    StoreUnreachable,
)
from .options import ReadPlan, checksum_mismatch, md5_base64
from .payload import FixedLengthStream

DEFAULT_CONNECT_TIMEOUT = 2.0
DEFAULT_READ_TIMEOUT = 2.0
# Writes wait at least this long for the store's answer (see the module notes).
MIN_WRITE_TIMEOUT = 5.0
DEFAULT_MAX_ATTEMPTS = 2
WRITE_OPERATIONS = frozenset({
    "put_object", "delete_object", "delete_objects", "upload_part", "complete_multipart_upload",
})
CHUNK_SIZE = 64 * 1024
SPOOL_IN_MEMORY = 8 * 1024 * 1024
LIST_WITH_METADATA_LIMIT = 100
CONSISTENT_READ_ATTEMPTS = 3

HTTP_PARAMETERS = (
    ("content_type", "ContentType"),
    ("content_language", "ContentLanguage"),
    ("content_disposition", "ContentDisposition"),
    ("content_encoding", "ContentEncoding"),
    ("cache_control", "CacheControl"),
    ("cache_expiry", "Expires"),
)

# S3 error codes with an R2 equivalent: (v4 code, R2's wording).
S3_ERRORS = {
    "NoSuchBucket": (NO_SUCH_BUCKET, "The specified bucket does not exist."),
    "InvalidRange": (INVALID_RANGE, "The requested range is not satisfiable"),
    "BadDigest": (BAD_DIGEST, "The MD5 checksum you specified did not match what we received."),
    "InvalidDigest": (BAD_DIGEST, "The MD5 checksum you specified did not match what we received."),
    "EntityTooLarge": (ENTITY_TOO_LARGE, "Your proposed upload exceeds the maximum allowed object size."),
    "MetadataTooLarge": (METADATA_TOO_LARGE, "Your metadata headers exceed the maximum allowed metadata size."),
    "KeyTooLongError": (INVALID_OBJECT_NAME, "The specified object name is not valid."),
    "InvalidArgument": (INVALID_ARGUMENT, None),
}
NETWORK_ERRORS = (BotoCoreError, Urllib3Error, OSError)

# Underscores are escaped too: WSGI-based servers (moto, for one) drop headers with "_",
# which the CGI environ cannot tell apart from "-".
_NAME_PLAIN = frozenset("abcdefghijklmnopqrstuvwxyz0123456789-")
_VALUE_SAFE = "".join(chr(code) for code in range(0x21, 0x7F) if chr(code) != "%")


# -- errors ---------------------------------------------------------------------------


def _status(ex: ClientError) -> int:
    return ex.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)


def to_r2_error(action: str, ex: Exception) -> R2Error:
    """An ``R2Error`` for a failed S3 call: R2's code and wording where one exists."""
    if isinstance(ex, ClientError):
        error = ex.response.get("Error", {})
        code = error.get("Code", "Unknown")
        v4_code, message = S3_ERRORS.get(code, (INTERNAL_ERROR, None))
        message = message or f"{error.get('Message') or code} (S3 {code}, HTTP {_status(ex)})"
        return R2Error(action, message, v4_code)
    return StoreUnreachable(action, f"The object store did not answer: {ex}", INTERNAL_ERROR)


# -- metadata mapping -------------------------------------------------------------------


def encode_metadata_name(name: str) -> str:
    """A custom metadata name as an S3 user metadata name (``[a-z0-9.-]``, reversible)."""
    if not name:
        return "."
    return "".join(
        char if char in _NAME_PLAIN else "".join(f".{byte:02x}" for byte in char.encode("utf-8"))
        for char in name
    )


def decode_metadata_name(name: str) -> str:
    """Undo ``encode_metadata_name`` (S3 may have changed the letters' case)."""
    name = name.lower()
    if name == ".":
        return ""
    out, index = bytearray(), 0
    while index < len(name):
        if name[index] == "." and index + 3 <= len(name):
            try:
                out.append(int(name[index + 1 : index + 3], 16))
                index += 3
                continue
            except ValueError:
                pass
        out += name[index].encode("utf-8")
        index += 1
    return out.decode("utf-8", errors="replace")


def encode_custom_metadata(custom_metadata: Mapping[str, str]) -> dict:
    """Custom metadata as boto3's ``Metadata`` parameter."""
    return {
        encode_metadata_name(name): quote(value, safe=_VALUE_SAFE)
        for name, value in custom_metadata.items()
    }


# User metadata names that hold a checksum given to put: ".s" is no escape that
# encode_metadata_name makes, so no custom metadata name can collide with them.
CHECKSUM_PREFIX = "r2.sha"


def checksum_metadata(checksum: tuple | None) -> dict:
    """``("sha256", hex)`` as the S3 user metadata that keeps it with the object."""
    return {f"r2.{checksum[0]}": checksum[1]} if checksum else {}


def decode_custom_metadata(metadata: Mapping[str, str]) -> dict:
    """boto3's ``Metadata`` answer as custom metadata (checksums kept by put left out)."""
    return {
        decode_metadata_name(name): unquote(value)
        for name, value in metadata.items()
        if not name.lower().startswith(CHECKSUM_PREFIX)
    }


def decode_checksums(metadata: Mapping[str, str]) -> dict:
    """The checksums put stored in boto3's ``Metadata`` answer, by algorithm."""
    return {
        name.lower()[3:]: value for name, value in metadata.items() if name.lower().startswith(CHECKSUM_PREFIX)
    }


def http_parameters(http_metadata: Mapping) -> dict:
    """R2 http metadata as PutObject parameters (ContentType, ..., Expires)."""
    return {param: http_metadata[name] for name, param in HTTP_PARAMETERS if name in http_metadata}


def _expiry(response: Mapping) -> datetime | None:
    # botocore >= 1.36 keeps the raw header in ExpiresString (Expires may be None if odd).
    raw = response.get("ExpiresString")
    if raw:
        try:
            return parsedate_to_datetime(raw).astimezone(UTC)
        except (TypeError, ValueError):
            return None
    expires = response.get("Expires")
    return expires.astimezone(UTC) if isinstance(expires, datetime) else None


def http_metadata_from(response: Mapping) -> dict:
    """R2 http metadata from a HeadObject/GetObject answer."""
    metadata = {
        name: response[param]
        for name, param in HTTP_PARAMETERS
        if name != "cache_expiry" and response.get(param)
    }
    expiry = _expiry(response)
    if expiry is not None:
        metadata["cache_expiry"] = expiry
    return metadata


def _uploaded(last_modified: datetime) -> datetime:
    # HEAD answers to the second while listings may carry milliseconds: keep seconds so
    # every call reports the same instant (and the same derived version).
    return last_modified.astimezone(UTC).replace(microsecond=0)


def derive_version(etag: str, uploaded: datetime) -> str:
    """A 32-hex version that changes with each upload (S3 keeps no id without versioning)."""
    return hashlib.md5(f"{etag}@{uploaded.isoformat()}".encode()).hexdigest()


def _object(key: str, etag: str, size: int, last_modified: datetime) -> R2Object:
    etag = etag.strip('"')
    uploaded = _uploaded(last_modified)
    return R2Object(
        key=key, version=derive_version(etag, uploaded), size=size, etag=etag, uploaded=uploaded
    )


def object_from_response(key: str, response: Mapping) -> R2Object:
    """An ``R2Object`` from a HeadObject or (whole) GetObject answer."""
    obj = _object(key, response["ETag"], response["ContentLength"], response["LastModified"])
    obj.http_metadata = http_metadata_from(response)
    obj.custom_metadata = decode_custom_metadata(response.get("Metadata", {}))
    obj.stored_checksums = decode_checksums(response.get("Metadata", {}))
    return obj


# -- clients per process ---------------------------------------------------------------

# Keyed by pid: a lock inherited through fork may be held by a thread that does not exist
# in the child, and a session must not be shared with the parent.
_LOCKS = {}
_SESSIONS = {}


def _process_lock() -> threading.Lock:
    return _LOCKS.setdefault(os.getpid(), threading.Lock())


def _process_session() -> boto3.session.Session:
    """One boto3 session per process, used under ``_process_lock`` only.

    boto3 sessions are not thread-safe and the default one is global state; clients made
    from one private session reuse its loaded service model (about 10 ms a client instead
    of 80). The clients themselves are thread-safe.
    """
    pid = os.getpid()
    if pid not in _SESSIONS:
        _SESSIONS[pid] = boto3.session.Session()
    return _SESSIONS[pid]


def _attempts(binding: Mapping) -> int:
    """The binding's ``max_attempts``: a whole number, at least 1 (the call itself), or ValueError."""
    return whole_number(binding, "max_attempts", DEFAULT_MAX_ATTEMPTS, least=1, unit="attempts in all")


def _client_config(connect_timeout: float, read_timeout: float, max_attempts: int) -> Config:
    return Config(
        connect_timeout=connect_timeout,
        read_timeout=read_timeout,
        retries={"total_max_attempts": max_attempts, "mode": "standard"},
        request_checksum_calculation="when_required",
        response_checksum_validation="when_required",
        signature_version="s3v4",
        s3={"addressing_style": "path"},
    )


# -- the backend ------------------------------------------------------------------------


class S3Backend:
    """A bucket on an S3-compatible store.

    Args:
        bucket_name: The S3 bucket (it must exist).
        endpoint_url: E.g. ``https://<account>.r2.cloudflarestorage.com``.
        region_name: ``"auto"`` for R2.
        access_key_id: Credentials; both ``None`` means boto3's default lookup.
        secret_access_key: See ``access_key_id``.
        connect_timeout: Seconds to wait for a connection.
        read_timeout: Seconds a read call (HEAD, GET, LIST) waits for each read from the
            socket; writes wait at least ``MIN_WRITE_TIMEOUT``.
        max_attempts: Attempts in all for one call (retries included).
    """

    # A store across the network: ``app.runtime.r2.guard`` bounds the calls made to it.
    remote = True

    def __init__(
        self,
        bucket_name: str,
        endpoint_url: str,
        region_name: str = "auto",
        access_key_id: str | None = None,
        secret_access_key: str | None = None,
        connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
        read_timeout: float = DEFAULT_READ_TIMEOUT,
        max_attempts: int = DEFAULT_MAX_ATTEMPTS,
    ):
        self.bucket_name = bucket_name
        self.endpoint_url = endpoint_url
        self.region_name = region_name
        self._credentials = (access_key_id, secret_access_key)
        self.config = _client_config(connect_timeout, read_timeout, max_attempts)
        self.write_config = _client_config(connect_timeout, max(read_timeout, MIN_WRITE_TIMEOUT), max_attempts)
        self._state = None  # (pid, reading client, writing client)

    @classmethod
    def from_binding(cls, binding: Mapping, environ: Mapping[str, str]) -> "S3Backend":
        """Build from a bindings.toml table; credentials come from the variables it names.

        Raises:
            ValueError: No ``bucket_name``, or a named credential variable is not set.
        """
        if not binding.get("bucket_name"):
            raise ValueError("bucket_name is required with endpoint_url")
        names = (binding.get("access_key_id_env"), binding.get("secret_access_key_env"))
        if any(names) and not all(names):
            raise ValueError(
                "set both access_key_id_env and secret_access_key_env, or neither"
            )
        credentials = [None, None]
        for index, name in enumerate(names):
            if name and not environ.get(name):
                raise ValueError(f"environment variable {name} is not set")
            credentials[index] = environ.get(name) if name else None
        return cls(
            bucket_name=binding["bucket_name"],
            endpoint_url=binding["endpoint_url"],
            region_name=binding.get("region_name") or "auto",
            access_key_id=credentials[0],
            secret_access_key=credentials[1],
            connect_timeout=seconds(binding, "connect_timeout", DEFAULT_CONNECT_TIMEOUT),
            read_timeout=seconds(binding, "read_timeout", DEFAULT_READ_TIMEOUT),
            max_attempts=_attempts(binding),
        )

    def __repr__(self) -> str:
        return f"S3Backend({self.endpoint_url!r}, bucket={self.bucket_name!r})"

    def describe(self) -> str:
        """``S3 bucket <name> at <endpoint>``."""
        return f"S3 bucket {self.bucket_name} at {self.endpoint_url}"

    @property
    def client(self):
        """This process's boto3 client for reads, created on first use after any fork."""
        return self._clients()[0]

    @property
    def writer(self):
        """This process's boto3 client for writes (longer timeout), made with ``client``."""
        return self._clients()[1]

    def _clients(self) -> tuple:
        pid = os.getpid()
        state = self._state
        if state is not None and state[0] == pid:
            return state[1:]
        with _process_lock():
            if self._state is None or self._state[0] != pid:
                self._state = (pid, self._new_client(self.config), self._new_client(self.write_config))
        return self._state[1:]

    def _new_client(self, config: Config):
        return _process_session().client(
            "s3",
            endpoint_url=self.endpoint_url,
            region_name=self.region_name,
            aws_access_key_id=self._credentials[0],
            aws_secret_access_key=self._credentials[1],
            config=config,
        )

    def _call(self, action: str, operation: str, **params):
        """Run one S3 operation; network failures become ``StoreUnreachable`` (ClientError
        is kept for callers that give some answers a meaning, such as 404 or 412)."""
        client = self.writer if operation in WRITE_OPERATIONS else self.client
        try:
            return getattr(client, operation)(Bucket=self.bucket_name, **params)
        except ClientError:
            raise
        except NETWORK_ERRORS as ex:
            raise to_r2_error(action, ex) from ex

    # -- reads -------------------------------------------------------------------------

    def head(self, key: str, action: str = "head") -> R2Object | None:
        """Metadata of ``key`` or ``None``."""
        try:
            return object_from_response(key, self._call(action, "head_object", Key=key))
        except ClientError as ex:
            if _status(ex) == 404:
                return None
            raise to_r2_error(action, ex) from ex

    def read(self, key: str, plan: ReadPlan) -> ReadResult | None:
        """A whole object in one GET; a ranged one as HEAD then GET with ``If-Match``."""
        if not plan.ranged:
            return self._read_whole(key, plan)
        for _ in range(CONSISTENT_READ_ATTEMPTS):
            obj = self.head(key, "get")
            if obj is None:
                return None
            selection = plan.select(obj)
            if selection is None:
                return ReadResult(obj, None, None)
            offset, length = selection
            if length == 0:  # R2 serves an empty range at the very end; S3 would say 416
                return ReadResult(obj, selection, BodyStream(iter(()), lambda: None))
            try:
                response = self._call(
                    "get",
                    "get_object",
                    Key=key,
                    Range=f"bytes={offset}-{offset + length - 1}",
                    IfMatch=obj.http_etag,
                )
            except ClientError as ex:
                if _status(ex) in (404, 412):
                    continue  # deleted or replaced since the HEAD: look again
                raise to_r2_error("get", ex) from ex
            return ReadResult(obj, selection, self._body(response["Body"]))
        raise R2Error("get", "The object kept changing while being read.", INTERNAL_ERROR)

    def _read_whole(self, key: str, plan: ReadPlan) -> ReadResult | None:
        try:
            response = self._call("get", "get_object", Key=key)
        except ClientError as ex:
            if _status(ex) == 404 and ex.response.get("Error", {}).get("Code") != "NoSuchBucket":
                return None
            raise to_r2_error("get", ex) from ex
        obj = object_from_response(key, response)
        selection = plan.select(obj)
        if selection is None:
            response["Body"].close()
            return ReadResult(obj, None, None)
        return ReadResult(obj, selection, self._body(response["Body"]))

    @staticmethod
    def _body(streaming_body) -> BodyStream:
        """The GET body as chunks; a connection dropped mid-read raises ``R2Error``."""

        def chunks():
            try:
                yield from streaming_body.iter_chunks(CHUNK_SIZE)
            except NETWORK_ERRORS as ex:
                raise to_r2_error("get", ex) from ex

        return BodyStream(chunks(), streaming_body.close)

    # -- writes ------------------------------------------------------------------------

    def write(self, request: PutRequest) -> R2Object | None:
        """PutObject, streamed from the payload; see the module notes for ``only_if``."""
        current = None
        if request.only_if is not None:
            current = self.head(request.key, "put")
            if not request.only_if.passes(current):
                return None
        body, spool = self._seekable_body(request.payload)
        try:
            if request.md5 is not None:
                _check_md5(body, request.md5)
            if request.checksum is not None:
                _check_checksum(body, request.checksum)
            params = self._put_parameters(request, body, current)
            try:
                response = self._call("put", "put_object", **params)
            except ClientError as ex:
                if request.only_if is not None and _status(ex) in (404, 409, 412):
                    return None  # changed since our HEAD: the condition no longer holds
                raise to_r2_error("put", ex) from ex
        finally:
            if spool is not None:
                spool.close()
        return self._stored(request, response["ETag"].strip('"'))

    @staticmethod
    def _seekable_body(payload: FixedLengthStream) -> tuple:
        """A body botocore can rewind (it seeks to 0 to sign and to retry).

        A non-seekable stream is copied to a spooled temporary file first: memory up to
        8 MiB, disk beyond, never the whole upload in memory.
        """
        if payload.seekable():
            return payload, None
        spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY)
        try:
            shutil.copyfileobj(payload, spool, CHUNK_SIZE)
            spool.seek(0)
        except BaseException:
            spool.close()
            raise
        return FixedLengthStream(spool, payload.length), spool

    def _put_parameters(self, request: PutRequest, body, current: R2Object | None) -> dict:
        params = {
            "Key": request.key,
            "Body": body,
            "ContentLength": request.payload.length,
            "Metadata": {**encode_custom_metadata(request.custom_metadata), **checksum_metadata(request.checksum)},
            **http_parameters(request.http_metadata),
        }
        if request.md5 is not None:
            params["ContentMD5"] = md5_base64(request.md5)
        if request.only_if is not None:
            # Compare-and-swap on what the condition was evaluated against.
            if current is None:
                params["IfNoneMatch"] = "*"
            else:
                params["IfMatch"] = current.http_etag
        return params

    def _stored(self, request: PutRequest, etag: str) -> R2Object:
        """The stored object as R2 reports it: the store's etag, size and time, the metadata
        that was sent. PutObject does not answer LastModified, hence one HEAD."""
        try:
            obj = self.head(request.key, "put")
        except R2Error:
            obj = None  # the store took the object; failing now would misreport the put
        if obj is None or obj.etag != etag:
            # Replaced or deleted in the meantime: describe what we wrote.
            obj = _object(request.key, etag, request.payload.length, datetime.now(UTC))
        obj.http_metadata = dict(request.http_metadata)
        obj.custom_metadata = dict(request.custom_metadata)
        obj.stored_checksums = dict([request.checksum]) if request.checksum else {}
        return obj

    # -- multipart (see app.runtime.r2.multipart) -------------------------------------------

    def create_upload(self, key: str, http_metadata: dict, custom_metadata: dict) -> str:
        params = {"Key": key, "Metadata": encode_custom_metadata(custom_metadata), **http_parameters(http_metadata)}
        try:
            return self._call("createMultipartUpload", "create_multipart_upload", **params)["UploadId"]
        except ClientError as ex:
            raise to_r2_error("createMultipartUpload", ex) from ex

    def _multipart_call(self, action: str, operation: str, **params):
        try:
            return self._call(action, operation, **params)
        except ClientError as ex:
            if ex.response.get("Error", {}).get("Code") == "NoSuchUpload":
                raise no_such_upload(action) from ex
            raise to_r2_error(action, ex) from ex

    def upload_part(self, key: str, upload_id: str, part_number: int, payload: FixedLengthStream) -> str:
        body, spool = self._seekable_body(payload)
        try:
            response = self._multipart_call(
                "uploadPart", "upload_part", Key=key, UploadId=upload_id, PartNumber=part_number,
                Body=body, ContentLength=payload.length,
            )
        finally:
            if spool is not None:
                spool.close()
        return response["ETag"].strip('"')

    def upload_parts(self, key: str, upload_id: str) -> dict:
        parts, marker = {}, 0
        while True:
            page = self._multipart_call(
                "completeMultipartUpload", "list_parts", Key=key, UploadId=upload_id, PartNumberMarker=marker,
            )
            for part in page.get("Parts", []):
                parts[part["PartNumber"]] = (part["ETag"].strip('"'), part["Size"])
            if not page.get("IsTruncated"):
                return parts
            marker = page["NextPartNumberMarker"]

    def complete_upload(self, key: str, upload_id: str, parts: list) -> R2Object:
        self._multipart_call(
            "completeMultipartUpload", "complete_multipart_upload", Key=key, UploadId=upload_id,
            MultipartUpload={"Parts": [{"PartNumber": number, "ETag": f'"{etag}"'} for number, etag in parts]},
        )
        obj = self.head(key, "completeMultipartUpload")
        if obj is None:  # deleted at once by another client: still report what was made
            raise R2Error("completeMultipartUpload", "The object was removed as it was completed.", INTERNAL_ERROR)
        return obj

    def abort_upload(self, key: str, upload_id: str) -> None:
        # S3 forgets an upload once it is completed or aborted, so "no such upload" here is
        # taken as already finished: aborting stays idempotent, as on R2.
        try:
            self._multipart_call("abortMultipartUpload", "abort_multipart_upload", Key=key, UploadId=upload_id)
        except R2Error as ex:
            if ex.code != NO_SUCH_UPLOAD:
                raise

    def delete(self, keys: list) -> None:
        """DeleteObject, or DeleteObjects for several keys (quiet: missing keys are fine)."""
        try:
            if len(keys) == 1:
                self._call("delete", "delete_object", Key=keys[0])
                return
            response = self._call(
                "delete",
                "delete_objects",
                Delete={"Objects": [{"Key": key} for key in keys], "Quiet": True},
            )
        except ClientError as ex:
            raise to_r2_error("delete", ex) from ex
        errors = response.get("Errors") or []
        if errors:
            first = errors[0]
            raise R2Error(
                "delete",
                f"{len(errors)} object(s) not deleted, first {first.get('Key')!r}: "
                f"{first.get('Message') or first.get('Code')}",
                INTERNAL_ERROR,
            )

    # -- listing -----------------------------------------------------------------------

    def list(self, prefix, delimiter, cursor, start_after, limit, include) -> ListPage:
        """ListObjectsV2; its continuation token is the cursor."""
        params = {"MaxKeys": min(limit, LIST_WITH_METADATA_LIMIT) if include else limit}
        for name, value in (
            ("Prefix", prefix),
            ("Delimiter", delimiter),
            ("StartAfter", start_after),
            ("ContinuationToken", cursor),
        ):
            if value is not None:
                params[name] = value
        try:
            response = self._call("list", "list_objects_v2", **params)
        except ClientError as ex:
            raise to_r2_error("list", ex) from ex
        objects = [
            _object(item["Key"], item["ETag"], item["Size"], item["LastModified"])
            for item in response.get("Contents", [])
        ]
        if include:
            objects = self._with_metadata(objects)
        return ListPage(
            objects=objects,
            delimited_prefixes=[item["Prefix"] for item in response.get("CommonPrefixes", [])],
            cursor=response.get("NextContinuationToken") if response.get("IsTruncated") else None,
        )

    def _with_metadata(self, objects: list) -> list:
        # Objects deleted since the listing are left out, as a later listing would.
        heads = (self.head(obj.key, "list") for obj in objects)
        return [obj for obj in heads if obj is not None]

    def ping(self) -> None:
        """List one key: proves the endpoint, the credentials and the bucket."""
        try:
            self._call("ping", "list_objects_v2", MaxKeys=1)
        except ClientError as ex:
            raise to_r2_error("ping", ex) from ex


def _check_md5(body, expected: str) -> None:
    """Compare the body's MD5 with the caller's before sending anything.

    Real stores check Content-MD5 too, but not every S3-compatible server does (moto does
    not), and a mismatch must never store the object.
    """
    digest = hashlib.md5()
    while chunk := body.read(CHUNK_SIZE):
        digest.update(chunk)
    body.seek(0)
    if digest.hexdigest() != expected:
        raise R2Error(
            "put", "The MD5 checksum you specified did not match what we received.", BAD_DIGEST
        )


def _check_checksum(body, checksum: tuple) -> None:
    """Compare the body's SHA digest with the caller's before sending anything, as for MD5."""
    algorithm, expected = checksum
    digest = hashlib.new(algorithm)
    while chunk := body.read(CHUNK_SIZE):
        digest.update(chunk)
    body.seek(0)
    if digest.hexdigest() != expected:
        raise checksum_mismatch(algorithm)
