"""Checking and normalising what callers pass to the bucket, with R2's rules and messages.

Everything here runs before a backend is touched, so both backends reject the same input
with the same error: ``TypeError``/``ValueError`` where R2 throws ``TypeError``/``RangeError``
in the caller, ``R2Error`` where the R2 service answers with an error code.
"""

import base64
import binascii
import email.utils
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Optional

from app.runtime.binding_values import shown

from .objects import (
    BAD_DIGEST,
    INVALID_MAX_KEYS,
    INVALID_OBJECT_NAME,
    INVALID_RANGE,
    METADATA_TOO_LARGE,
    R2Error,
    R2Object,
    to_millis,
)

MAX_KEY_BYTES = 1024
MAX_CUSTOM_METADATA_SIZE = 2048
MAX_LIST_LIMIT = 1000
MAX_DELETE_KEYS = 1000
INCLUDE_FIELDS = ("http_metadata", "custom_metadata")
HTTP_METADATA_FIELDS = (
    "content_type",
    "content_language",
    "content_disposition",
    "content_encoding",
    "cache_control",
    "cache_expiry",
)
ONLY_IF_FIELDS = (
    "etag_matches",
    "etag_does_not_match",
    "uploaded_before",
    "uploaded_after",
    "seconds_granularity",
)


def check_key(action: str, key: Any) -> str:
    """Return ``key`` as R2 stores it, or raise ``R2Error`` 10020 for an unusable name.

    Lone surrogates become U+FFFD as JavaScript's string conversion does. The empty key is
    refused too: on S3 it would address the bucket itself.
    """
    if not isinstance(key, str):
        raise TypeError(f"{action}: key must be a string, not {type(key).__name__}")
    try:
        encoded = key.encode("utf-8")
    except UnicodeEncodeError:
        key = key.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
        encoded = key.encode("utf-8")
    if not encoded or len(encoded) > MAX_KEY_BYTES:
        raise R2Error(action, "The specified object name is not valid.", INVALID_OBJECT_NAME)
    return key


def _aware(name: str, value: Any) -> datetime:
    """``value`` if it is a timezone-aware datetime; naive ones are ambiguous, so refused."""
    if not isinstance(value, datetime) or value.tzinfo is None:
        raise TypeError(f"{name} must be a timezone-aware datetime")
    return value


def check_http_metadata(value: Mapping | None) -> dict:
    """Validate ``http_metadata`` (snake_case keys, str values, aware ``cache_expiry``)."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise TypeError("http_metadata must be a dict")
    unknown = set(value) - set(HTTP_METADATA_FIELDS)
    if unknown:
        raise TypeError(f"Unknown http_metadata field(s): {', '.join(sorted(map(str, unknown)))}")
    checked = {}
    for name, item in value.items():
        if item is None:
            continue
        if name == "cache_expiry":
            # An Expires header holds whole seconds: store what every backend can return.
            expiry = _aware("cache_expiry", item).astimezone(UTC)
            checked[name] = expiry.replace(microsecond=0)
        elif isinstance(item, str):
            checked[name] = item
        else:
            raise TypeError(f"http_metadata.{name} must be a string")
    return checked


def _serialised_length(text: str) -> int:
    # R2 counts a string twice over as soon as one character is outside Latin-1.
    return len(text) * 2 if any(ord(char) >= 256 for char in text) else len(text)


def check_custom_metadata(value: Mapping | None) -> dict:
    """Validate ``custom_metadata`` (str to str, at most 2048 bytes as R2 counts them)."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise TypeError("custom_metadata must be a dict of strings")
    size = 0
    for name, item in value.items():
        if not isinstance(name, str) or not isinstance(item, str):
            raise TypeError("custom_metadata keys and values must be strings")
        size += _serialised_length(name) + _serialised_length(item)
    if size > MAX_CUSTOM_METADATA_SIZE:
        raise R2Error(
            "put",
            "Your metadata headers exceed the maximum allowed metadata size.",
            METADATA_TOO_LARGE,
        )
    return dict(value)


def check_md5(value: Any) -> str | None:
    """The expected MD5 as lowercase hex, from 16 raw bytes or 32 hex characters."""
    if value is None:
        return None
    if isinstance(value, (bytes, bytearray, memoryview)):
        if len(value) != 16:
            raise TypeError(f"MD5 is 16 bytes, not {len(value)}")
        return bytes(value).hex()
    if isinstance(value, str):
        if len(value) != 32:
            raise TypeError(f"MD5 is 32 hex characters, not {len(value)}")
        try:
            return binascii.unhexlify(value).hex()
        except binascii.Error as ex:
            raise TypeError("Provided MD5 wasn't a valid hex string") from ex
    raise TypeError("md5 must be bytes or a hex string")


# The hashes put() can check besides MD5, with their digest sizes in bytes.
CHECKSUM_SIZES = {"sha1": 20, "sha256": 32, "sha384": 48, "sha512": 64}
CHECKSUM_LABELS = {"sha1": "SHA-1", "sha256": "SHA-256", "sha384": "SHA-384", "sha512": "SHA-512"}


def check_checksum(md5: Any, **hashes: Any) -> tuple | None:
    """The one SHA checksum given to ``put`` as ``(algorithm, lowercase hex)``, or ``None``.

    As R2: one hashing algorithm per put (MD5 included), as raw bytes or hex of the right size.
    """
    given = {name: value for name, value in hashes.items() if value is not None}
    if len(given) + (md5 is not None) > 1:
        raise TypeError("You cannot specify multiple hashing algorithms.")
    if not given:
        return None
    ((name, value),) = given.items()
    size = CHECKSUM_SIZES[name]
    if isinstance(value, (bytes, bytearray, memoryview)):
        if len(value) != size:
            raise TypeError(f"{name} is {size} bytes, not {len(value)}")
        return name, bytes(value).hex()
    if isinstance(value, str) and len(value) == size * 2:
        try:
            return name, binascii.unhexlify(value).hex()
        except binascii.Error as ex:
            raise TypeError(f"Provided {name} wasn't a valid hex string") from ex
    raise TypeError(f"{name} must be {size} bytes or {size * 2} hex characters")


def checksum_mismatch(algorithm: str) -> R2Error:
    """R2's BadDigest (10037) for a ``put`` whose content does not match its checksum."""
    label = CHECKSUM_LABELS.get(algorithm, algorithm.upper())
    return R2Error("put", f"The {label} checksum you specified did not match what we received.", BAD_DIGEST)


def md5_base64(hex_digest: str) -> str:
    """The ``Content-MD5`` header form of a hex digest."""
    return base64.b64encode(bytes.fromhex(hex_digest)).decode("ascii")


def check_limit(limit: Any) -> int:
    """Validate a list ``limit`` (1..1000) with R2's error 10022."""
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_LIST_LIMIT:
        raise R2Error("list", "MaxKeys params must be positive integer <= 1000.", INVALID_MAX_KEYS)
    return limit


def check_include(include: Any) -> frozenset:
    """Validate ``include``; anything but the two metadata names is a ``ValueError``."""
    if include is None:
        return frozenset()
    if isinstance(include, str):
        raise TypeError("include must be a list, e.g. ['http_metadata']")
    for name in include:
        if name not in INCLUDE_FIELDS:
            raise ValueError(f"Unsupported include value {name}")
    return frozenset(include)


def check_optional_str(name: str, value: Any) -> str | None:
    """``value`` if it is ``None`` or a string (prefix, delimiter, cursor, start_after)."""
    if value is not None and not isinstance(value, str):
        raise TypeError(f"{name} must be a string")
    return value or None


# ---------------------------------------------------------------------------------------
# A request's headers in place of range / only_if

REQUEST_HEADERS = {"range", "if-match", "if-none-match", "if-modified-since", "if-unmodified-since"}


def request_headers(value: Any) -> dict | None:
    """``value`` as ``{lowercase name: value}`` when it is a request's headers, else ``None``.

    Headers are any header object that is not a dict (``wsgiref``, ``requests``), or a dict
    with a header-like name: ``Range``/``If-Match``... in any case, a name with a dash, or
    an all-capitals one (falcon's ``req.headers``). Options dicts use snake_case names
    (``offset``, ``etag_matches``), so a misspelt option is still an error.
    """
    if not hasattr(value, "items"):
        return None
    items = list(value.items())
    if isinstance(value, dict) and not any(_header_name(name) for name, _ in items):
        return None
    return {str(name).lower(): item for name, item in items}


def _header_name(name: Any) -> bool:
    return isinstance(name, str) and (name.lower() in REQUEST_HEADERS or "-" in name or name.isupper())


def _http_date(text: Any) -> datetime | None:
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    return when if when.tzinfo is not None else None


def _header_etags(text: str, weak: bool) -> tuple:
    """Unquoted etags of an If-Match (strong: weak tags never match) or If-None-Match list."""
    tags = []
    for part in str(text).split(","):
        part = part.strip()
        if part == "*":
            tags.append(part)
            continue
        if part.startswith("W/"):
            if not weak:
                continue
            part = part[2:]
        if len(part) >= 2 and part[0] == part[-1] == '"':
            tags.append(part[1:-1])
    return tuple(tags)


RANGE_HEADER = re.compile(r"\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*", re.IGNORECASE)


# ---------------------------------------------------------------------------------------
# Conditions (only_if)


@dataclass(frozen=True)
class Conditional:
    """A parsed ``only_if``: R2's conditional read/write rules (RFC 7232 flavoured)."""

    etag_matches: Any = None  # an etag, "*", or a tuple of them (from an If-Match header)
    etag_does_not_match: Any = None
    uploaded_before: datetime | None = None
    uploaded_after: datetime | None = None
    seconds_granularity: bool = False

    @classmethod
    def parse(cls, only_if: Mapping | None) -> Optional["Conditional"]:
        """Validate an ``only_if`` dict; quoted etags are a ``TypeError`` as on R2."""
        if only_if is None:
            return None
        headers = request_headers(only_if)
        if headers is not None:
            return cls.from_headers(headers)
        if not isinstance(only_if, Mapping):
            raise TypeError("only_if must be a dict")
        unknown = set(only_if) - set(ONLY_IF_FIELDS)
        if unknown:
            raise TypeError(f"Unknown only_if field(s): {', '.join(sorted(map(str, unknown)))}")
        for name in ("etag_matches", "etag_does_not_match"):
            etag = only_if.get(name)
            if etag is None:
                continue
            if not isinstance(etag, str):
                raise TypeError(f"{name} must be a string")
            if len(etag) >= 2 and etag.startswith('"') and etag.endswith('"'):
                raise TypeError(f"Conditional ETag should not be wrapped in quotes ({etag}).")
        dates = {
            name: _aware(name, only_if[name])
            for name in ("uploaded_before", "uploaded_after")
            if only_if.get(name) is not None
        }
        return cls(
            etag_matches=only_if.get("etag_matches"),
            etag_does_not_match=only_if.get("etag_does_not_match"),
            seconds_granularity=bool(only_if.get("seconds_granularity", False)),
            **dates,
        )

    @classmethod
    def from_headers(cls, headers: Mapping) -> Optional["Conditional"]:
        """The condition of a request's If-* headers (lowercase names), or ``None`` without any.

        Dates compare to the second, as HTTP dates do; an unparsable date is ignored, as
        RFC 7232 asks. If-Range is not one of them (R2 does not take it either).
        """
        fields = {}
        if headers.get("if-match") is not None:
            fields["etag_matches"] = _header_etags(headers["if-match"], weak=False)
        if headers.get("if-none-match") is not None:
            fields["etag_does_not_match"] = _header_etags(headers["if-none-match"], weak=True)
        modified_since = _http_date(headers.get("if-modified-since"))
        if modified_since is not None:
            fields["uploaded_after"] = modified_since
        unmodified_since = _http_date(headers.get("if-unmodified-since"))
        if unmodified_since is not None:
            # "Not modified after" that second: uploaded before the next one.
            fields["uploaded_before"] = unmodified_since + timedelta(seconds=1)
        return cls(seconds_granularity=True, **fields) if fields else None

    def passes(self, current: R2Object | None) -> bool:
        """Whether the condition holds for ``current`` (``None``: no such object)."""
        if current is None:
            return self.etag_matches is None and self.uploaded_after is None
        if_match = self.etag_matches is None or self._etag_in(self.etag_matches, current.etag)
        if_none_match = self.etag_does_not_match is None or not self._etag_in(
            self.etag_does_not_match, current.etag
        )
        uploaded = self._millis(current.uploaded)
        # As in RFC 7232 section 6, an etag condition that holds overrides the date one.
        if_modified_since = (
            self.uploaded_after is None
            or self._millis(self.uploaded_after) < uploaded
            or (self.etag_does_not_match is not None and if_none_match)
        )
        if_unmodified_since = (
            self.uploaded_before is None
            or uploaded < self._millis(self.uploaded_before)
            or (self.etag_matches is not None and if_match)
        )
        return if_match and if_none_match and if_modified_since and if_unmodified_since

    @staticmethod
    def _etag_in(condition: Any, etag: str) -> bool:
        if isinstance(condition, tuple):
            return "*" in condition or etag in condition
        return condition == "*" or condition == etag

    def _millis(self, when: datetime) -> int:
        millis = to_millis(when)
        return millis - millis % 1000 if self.seconds_granularity else millis


# ---------------------------------------------------------------------------------------
# Ranges


def _format_number(number: Any) -> str:
    # JavaScript prints 1.0 as "1"; keep messages identical to R2's.
    if isinstance(number, float) and number.is_integer():
        return str(int(number))
    return str(number)


def _range_number(value: Any, label: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{label} must be a number")
    if value < 0:
        raise ValueError(f"{label} ({_format_number(value)}) must be greater than or equal to 0.")
    if isinstance(value, float) and not value.is_integer():
        raise ValueError(f"{label} ({_format_number(value)}) must be an integer, not floating point.")
    return int(value)


@dataclass(frozen=True)
class RangeRequest:
    """A parsed ``range``: ``{"offset", "length"}`` (either optional) or ``{"suffix"}``."""

    offset: int | None = None
    length: int | None = None
    suffix: int | None = None

    @classmethod
    def parse(cls, value: Mapping | None) -> Optional["RangeRequest"]:
        """Validate the caller's range with R2's ``RangeError``/``TypeError`` messages."""
        if value is None:
            return None
        headers = request_headers(value)
        if headers is not None:
            return cls.from_header(headers.get("range"))
        if not isinstance(value, Mapping):
            raise TypeError("range must be a dict with offset/length or suffix")
        unknown = set(value) - {"offset", "length", "suffix"}
        if unknown:
            raise TypeError(f"Unknown range field(s): {', '.join(sorted(map(str, unknown)))}")
        offset = _range_number(value.get("offset"), "Invalid range. Starting offset")
        length = _range_number(value.get("length"), "Invalid range. Length")
        if value.get("suffix") is None:
            return cls(offset=offset, length=length)
        if offset is not None:
            raise TypeError("Suffix is incompatible with offset.")
        if length is not None:
            raise TypeError("Suffix is incompatible with length.")
        return cls(suffix=_range_number(value.get("suffix"), "Invalid suffix. Suffix"))

    @classmethod
    def from_header(cls, text: Any) -> Optional["RangeRequest"]:
        """The range of a ``Range: bytes=a-b`` header; ``None`` (the whole object) without one.

        As R2 does, several ranges, another unit or a malformed header give the whole object.
        """
        match = RANGE_HEADER.fullmatch(text) if isinstance(text, str) else None
        if match is None or not (match[1] or match[2]):
            return None
        first, last = match[1], match[2]
        if not first:
            return cls(suffix=int(last))
        if not last:
            return cls(offset=int(first))
        if int(last) < int(first):
            return None
        return cls(offset=int(first), length=int(last) - int(first) + 1)

    def resolve(self, size: int) -> tuple:
        """``(offset, length)`` inside an object of ``size`` bytes, clamped as R2 clamps.

        Raises:
            R2Error: 10039 when nothing of the object can be returned.
        """
        offset, length = self.offset, self.length
        if self.suffix is not None:
            if self.suffix <= 0:
                raise _unsatisfiable()
            length = min(self.suffix, size)
            offset = size - length
        offset = 0 if offset is None else offset
        length = size - offset if length is None else length
        if offset > size or length <= 0:
            raise _unsatisfiable()
        return offset, min(length, size - offset)


def _unsatisfiable() -> R2Error:
    return R2Error("get", "The requested range is not satisfiable", INVALID_RANGE)


class ReadPlan:
    """What a ``get`` wants of the object it finds: a condition to check and a byte range.

    Backends call ``select`` with the object's metadata at the moment they read it, so the
    check and the bytes returned describe the same version of the object.
    """

    def __init__(self, only_if: Conditional | None, range_request: RangeRequest | None):
        self.only_if = only_if
        self.range_request = range_request

    @property
    def ranged(self) -> bool:
        """Whether only part of the object is wanted."""
        return self.range_request is not None

    def select(self, obj: R2Object) -> tuple | None:
        """``None`` when the condition fails, else the ``(offset, length)`` to return."""
        if self.only_if is not None and not self.only_if.passes(obj):
            return None
        if self.range_request is None:
            return 0, obj.size
        return self.range_request.resolve(obj.size)


def check_folder_name(name: str) -> str:
    """A bucket or binding name that is safe as one folder name under the state folder."""
    if (
        not isinstance(name, str)
        or not name
        or name in (".", "..")
        or any(not (char.isascii() and (char.isalnum() or char in "._-")) for char in name)
    ):
        raise ValueError(f"bucket name {shown(name)} must be letters, digits, '.', '_' or '-'")
    return name

