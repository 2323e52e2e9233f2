"""Contract of the MEDIA_BUCKET binding: one suite, run against every backend.

``bucket`` is parametrized over the local folder backend and the boto3 backend talking to
a real S3-compatible server (moto_server over HTTP). Backend-specific tests follow the
contract: path escapes on the local folder, several processes on one folder, outages and
hangs of the S3 endpoint.
"""

import email.utils
import hashlib
import io
import multiprocessing
import os
import re
import socket
import threading
import time
from datetime import UTC, datetime, timedelta, timezone

import pytest

from app.runtime.r2 import FixedLengthStream, R2Error, R2Object, R2ObjectBody, StoreUnreachable, open_bucket
from app.runtime.r2.s3 import S3Backend, decode_metadata_name, encode_metadata_name
from tests.fixtures.s3 import (
    ACCESS_KEY_ENV,
    CREDENTIALS,
    SECRET_KEY_ENV,
    admin_client,
    create_bucket,
    s3_binding,
)

HEX32 = re.compile(r"^[0-9a-f]{32}$")
BODY_USED = "Body has already been used"
TRICKY_KEYS = [
    "../../etc/passwd",
    "/etc/passwd",
    "a/../../b",
    "..\\..\\windows\\win.ini",
    "x\x00y",
    "sp ace/ü/é",
    "a//b",
    "%41?x=1#frag",
]


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def open_local(state_dir, bucket_name="media"):
    return open_bucket({"binding": "MEDIA_BUCKET", "bucket_name": bucket_name}, state_dir, {})


@pytest.fixture(params=["local", "s3"])
def bucket(request, tmp_path):
    """A fresh, empty bucket on each backend."""
    if request.param == "local":
        return open_local(tmp_path / "state")
    endpoint_url = request.getfixturevalue("s3_server")
    binding = s3_binding(endpoint_url, create_bucket(endpoint_url))
    return open_bucket(binding, tmp_path / "state", os.environ)


class ReadRecorder(io.BytesIO):
    """A seekable file that remembers the largest single read asked of it."""

    largest_read = 0

    def read(self, size=-1):
        data = super().read(size)
        self.largest_read = max(self.largest_read, len(data))
        return data


class OneWayStream(io.RawIOBase):
    """A readable that cannot seek (like a WSGI request body)."""

    def __init__(self, data: bytes):
        super().__init__()
        self._data = io.BytesIO(data)

    def readable(self):
        return True

    def read(self, size=-1):
        return self._data.read(size)


# -- put / get / head -------------------------------------------------------------------


def test_put_returns_the_stored_object(bucket):
    before = datetime.now(UTC).replace(microsecond=0)
    obj = bucket.put("notes/hello.txt", b"hello world")
    assert isinstance(obj, R2Object)
    assert obj.key == "notes/hello.txt"
    assert obj.size == 11
    assert obj.etag == md5(b"hello world")
    assert obj.http_etag == f'"{obj.etag}"'
    assert obj.checksums == {"md5": obj.etag}
    assert HEX32.match(obj.version)
    assert obj.uploaded.tzinfo is not None and obj.uploaded.utcoffset() == timedelta(0)
    assert before - timedelta(seconds=2) <= obj.uploaded <= datetime.now(UTC)


def test_get_returns_the_content_and_the_same_metadata_as_head(bucket):
    put = bucket.put("doc.json", '{"a": [1, 2]}')
    got = bucket.get("doc.json")
    head = bucket.head("doc.json")
    assert isinstance(got, R2ObjectBody)
    assert got.json() == {"a": [1, 2]}
    for field in ("key", "version", "size", "etag", "uploaded"):
        assert getattr(got, field) == getattr(put, field) == getattr(head, field), field
    # As R2 reports it: a full get and a head cover the whole object.
    assert got.range == head.range == {"offset": 0, "length": 13}
    assert got.storage_class == head.storage_class == put.storage_class == "Standard"


def test_missing_keys_give_none(bucket):
    assert bucket.get("nope") is None
    assert bucket.head("nope") is None
    assert bucket.get("nope", range={"offset": 1}) is None
    assert bucket.get("nope", only_if={"etag_does_not_match": "x"}) is None


@pytest.mark.parametrize(
    "value, stored",
    [
        ("héllo", "héllo".encode()),
        (None, b""),
        (b"", b""),
        (bytearray(b"abc"), b"abc"),
        (memoryview(b"xyz"), b"xyz"),
    ],
)
def test_put_value_types(bucket, value, stored):
    obj = bucket.put("value", value)
    assert obj.size == len(stored)
    assert bucket.get("value").bytes() == stored


def test_put_streams_a_file_from_its_current_position(bucket, tmp_path):
    data = os.urandom(3 * 1024 * 1024 + 17)
    source = ReadRecorder(b"skipped" + data)
    source.seek(7)
    obj = bucket.put("big.bin", source)
    assert obj.size == len(data)
    assert obj.etag == md5(data)
    # Streamed in pieces, never read whole into memory.
    assert 0 < source.largest_read <= 1024 * 1024
    body = bucket.get("big.bin")
    chunks = list(body.body)
    assert len(chunks) > 1
    assert b"".join(chunks) == data
    assert body.body_used


def test_put_accepts_a_real_file(bucket, tmp_path):
    path = tmp_path / "upload.bin"
    path.write_bytes(b"from disk" * 1000)
    with open(path, "rb") as handle:
        obj = bucket.put("upload.bin", handle)
    assert obj.size == 9000
    assert bucket.get("upload.bin").bytes() == path.read_bytes()


def test_put_refuses_a_stream_of_unknown_length(bucket):
    with pytest.raises(TypeError, match="must have a known length"):
        bucket.put("stream", OneWayStream(b"data"))
    assert bucket.head("stream") is None


def test_put_takes_a_fixed_length_stream(bucket):
    data = os.urandom(200_000)
    obj = bucket.put("stream", FixedLengthStream(OneWayStream(data + b"extra"), len(data)))
    assert obj.size == len(data)
    assert bucket.get("stream").bytes() == data


def test_a_stream_shorter_than_declared_stores_nothing(bucket):
    with pytest.raises(ValueError, match="declared 10 bytes"):
        bucket.put("short", FixedLengthStream(OneWayStream(b"12345"), 10))
    assert bucket.head("short") is None


@pytest.mark.parametrize("value", [12, 1.5, object(), ["a"]])
def test_put_refuses_other_value_types(bucket, value):
    with pytest.raises(TypeError):
        bucket.put("k", value)


def test_body_can_be_read_once(bucket):
    bucket.put("once", "content")
    obj = bucket.get("once")
    assert not obj.body_used
    assert obj.text() == "content"
    assert obj.body_used
    with pytest.raises(TypeError, match=BODY_USED):
        obj.bytes()
    with pytest.raises(TypeError, match=BODY_USED):
        obj.text()
    partly = bucket.get("once")
    next(iter(partly.body))
    with pytest.raises(TypeError, match=BODY_USED):
        partly.array_buffer()


def test_an_unread_body_can_be_closed(bucket):
    bucket.put("closed", b"x" * 100_000)
    with bucket.get("closed") as obj:
        pass
    assert list(obj.body) == []
    assert bucket.get("closed").size == 100_000


def test_overwrite_replaces_content_metadata_and_version(bucket):
    first = bucket.put("k", "one", http_metadata={"content_type": "text/plain"},
                       custom_metadata={"a": "1"})
    second = bucket.put("k", "two!", custom_metadata={"b": "2"})
    assert second.version != first.version
    got = bucket.get("k")
    assert got.text() == "two!"
    assert got.custom_metadata == {"b": "2"}
    assert got.http_metadata.get("content_type") != "text/plain"
    assert got.version == second.version


# -- metadata ---------------------------------------------------------------------------

FULL_HTTP_METADATA = {
    "content_type": "image/png",
    "content_language": "fr-CA",
    "content_disposition": 'attachment; filename="a b.png"',
    "content_encoding": "gzip",
    "cache_control": "public, max-age=3600",
    "cache_expiry": datetime(2031, 5, 6, 7, 8, 9, tzinfo=UTC),
}


def test_http_metadata_round_trips(bucket):
    put = bucket.put("img.png", b"\x89PNG", http_metadata=FULL_HTTP_METADATA)
    assert put.http_metadata == FULL_HTTP_METADATA
    assert bucket.head("img.png").http_metadata == FULL_HTTP_METADATA
    assert bucket.get("img.png").http_metadata == FULL_HTTP_METADATA


def test_cache_expiry_is_kept_in_utc_to_the_second(bucket):
    paris = timezone(timedelta(hours=2))
    sent = datetime(2031, 5, 6, 9, 8, 9, 654321, tzinfo=paris)
    put = bucket.put("k", "v", http_metadata={"cache_expiry": sent})
    expected = datetime(2031, 5, 6, 7, 8, 9, tzinfo=UTC)
    assert put.http_metadata["cache_expiry"] == expected
    assert bucket.head("k").http_metadata["cache_expiry"] == expected
    headers = {}
    put.write_http_metadata(headers)
    assert headers["Expires"] == "Tue, 06 May 2031 07:08:09 GMT"


def test_write_http_metadata_sets_response_headers(bucket):
    bucket.put("img.png", b"\x89PNG", http_metadata=FULL_HTTP_METADATA)
    headers = {}
    bucket.head("img.png").write_http_metadata(headers)
    assert headers == {
        "Content-Type": "image/png",
        "Content-Language": "fr-CA",
        "Content-Disposition": 'attachment; filename="a b.png"',
        "Content-Encoding": "gzip",
        "Cache-Control": "public, max-age=3600",
        "Expires": "Tue, 06 May 2031 07:08:09 GMT",
    }


def test_custom_metadata_round_trips_exactly(bucket):
    custom = {
        "author": "ada",
        "Original-Name": "Résumé 2024.pdf",
        "with space": "  padded  ",
        "percent": "100% sure %41",
        "dots.and_under": "é\u4e2d\U0001f600",
        "": "empty name",
    }
    assert bucket.put("cv.pdf", b"%PDF", custom_metadata=custom).custom_metadata == custom
    assert bucket.head("cv.pdf").custom_metadata == custom
    assert bucket.get("cv.pdf").custom_metadata == custom


def test_objects_without_metadata_have_empty_dicts(bucket):
    bucket.put("plain", "x")
    head = bucket.head("plain")
    assert head.custom_metadata == {}
    assert isinstance(head.http_metadata, dict)


def test_custom_metadata_size_limit(bucket):
    bucket.put("k", "v", custom_metadata={"k": "v" * 2047})
    with pytest.raises(R2Error) as caught:
        bucket.put("k", "v", custom_metadata={"k": "v" * 2048})
    assert str(caught.value) == (
        "put: Your metadata headers exceed the maximum allowed metadata size. (10012)"
    )
    assert caught.value.code == 10012
    # Past Latin-1 a character counts twice, as on R2.
    with pytest.raises(R2Error, match=r"\(10012\)"):
        bucket.put("k", "v", custom_metadata={"k": "\u4e2d" * 1024})
    assert bucket.head("k").custom_metadata == {"k": "v" * 2047}


@pytest.mark.parametrize(
    "http_metadata, custom_metadata",
    [
        ({"contentType": "text/plain"}, None),
        ({"content_type": 5}, None),
        ({"cache_expiry": "tomorrow"}, None),
        ({"cache_expiry": datetime(2030, 1, 1)}, None),
        (None, {"a": 1}),
        (None, ["a"]),
    ],
)
def test_invalid_metadata_is_a_type_error(bucket, http_metadata, custom_metadata):
    with pytest.raises(TypeError):
        bucket.put("k", "v", http_metadata=http_metadata, custom_metadata=custom_metadata)
    assert bucket.head("k") is None


# -- keys -------------------------------------------------------------------------------


def test_key_length_is_counted_in_utf8_bytes(bucket):
    longest = "é" * 512  # 1024 bytes
    assert bucket.put(longest, "x").key == longest
    assert bucket.get(longest).text() == "x"
    too_long = "é" * 512 + "a"
    for action, call in [
        ("put", lambda: bucket.put(too_long, "x")),
        ("get", lambda: bucket.get(too_long)),
        ("head", lambda: bucket.head(too_long)),
        ("delete", lambda: bucket.delete(too_long)),
    ]:
        with pytest.raises(R2Error) as caught:
            call()
        assert str(caught.value) == f"{action}: The specified object name is not valid. (10020)"
        assert caught.value.code == 10020


def test_empty_and_non_string_keys_are_refused(bucket):
    with pytest.raises(R2Error, match=r"\(10020\)"):
        bucket.put("", "x")
    with pytest.raises(TypeError):
        bucket.get(5)


@pytest.mark.parametrize("key", TRICKY_KEYS)
def test_any_key_is_just_a_name(bucket, key):
    bucket.put(key, key)
    assert bucket.get(key).text() == key
    assert [obj.key for obj in bucket.list()["objects"]] == [key]
    bucket.delete(key)
    assert bucket.head(key) is None


def test_lone_surrogates_become_replacement_characters(bucket):
    bucket.put("bad\ud800key", "x")
    assert bucket.head("bad\ufffdkey").size == 1


# -- ranges -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "range_, expected, served",
    [
        ({"offset": 2, "length": 3}, b"234", {"offset": 2, "length": 3}),
        ({"offset": 7}, b"789", {"offset": 7, "length": 3}),
        ({"length": 4}, b"0123", {"offset": 0, "length": 4}),
        ({"offset": 8, "length": 100}, b"89", {"offset": 8, "length": 2}),
        ({"suffix": 3}, b"789", {"offset": 7, "length": 3}),
        ({"suffix": 50}, b"0123456789", {"offset": 0, "length": 10}),
        ({"offset": 10, "length": 1}, b"", {"offset": 10, "length": 0}),
    ],
)
def test_ranged_reads(bucket, range_, expected, served):
    bucket.put("digits", b"0123456789")
    obj = bucket.get("digits", range=range_)
    assert obj.bytes() == expected
    assert obj.range == served
    assert obj.size == 10


@pytest.mark.parametrize(
    "range_", [{"offset": 11}, {"offset": 10}, {"suffix": 0}, {"length": 0}]
)
def test_unsatisfiable_ranges(bucket, range_):
    bucket.put("digits", b"0123456789")
    with pytest.raises(R2Error) as caught:
        bucket.get("digits", range=range_)
    assert str(caught.value) == "get: The requested range is not satisfiable (10039)"
    assert caught.value.code == 10039


@pytest.mark.parametrize(
    "range_, error, message",
    [
        ({"offset": -1}, ValueError,
         "Invalid range. Starting offset (-1) must be greater than or equal to 0."),
        ({"offset": 0.5}, ValueError,
         "Invalid range. Starting offset (0.5) must be an integer, not floating point."),
        ({"length": -1}, ValueError, "Invalid range. Length (-1) must be greater than or equal to 0."),
        ({"suffix": -1}, ValueError, "Invalid suffix. Suffix (-1) must be greater than or equal to 0."),
        ({"suffix": 1, "offset": 0}, TypeError, "Suffix is incompatible with offset."),
        ({"suffix": 1, "length": 1}, TypeError, "Suffix is incompatible with length."),
        ({"start": 1}, TypeError, "Unknown range field"),
    ],
)
def test_invalid_ranges_are_refused_before_any_read(bucket, range_, error, message):
    with pytest.raises(error) as caught:
        bucket.get("never-stored", range=range_)
    assert str(caught.value).startswith(message)


# -- conditions -------------------------------------------------------------------------


def test_get_only_if_etag(bucket):
    put = bucket.put("k", "content")
    assert isinstance(bucket.get("k", only_if={"etag_matches": put.etag}), R2ObjectBody)
    assert isinstance(bucket.get("k", only_if={"etag_matches": "*"}), R2ObjectBody)
    assert isinstance(bucket.get("k", only_if={"etag_does_not_match": "other"}), R2ObjectBody)
    for only_if in ({"etag_matches": "other"}, {"etag_does_not_match": put.etag},
                    {"etag_does_not_match": "*"}):
        failed = bucket.get("k", only_if=only_if)
        assert type(failed) is R2Object, only_if
        assert failed.etag == put.etag and failed.size == 7
        assert not hasattr(failed, "body")


def test_get_only_if_uploaded(bucket):
    put = bucket.put("k", "content")
    second = timedelta(seconds=1)
    assert isinstance(bucket.get("k", only_if={"uploaded_before": put.uploaded + second}),
                      R2ObjectBody)
    assert isinstance(bucket.get("k", only_if={"uploaded_after": put.uploaded - second}),
                      R2ObjectBody)
    assert type(bucket.get("k", only_if={"uploaded_before": put.uploaded})) is R2Object
    assert type(bucket.get("k", only_if={"uploaded_after": put.uploaded})) is R2Object


def test_condition_and_range_together(bucket):
    put = bucket.put("k", "0123456789")
    got = bucket.get("k", range={"suffix": 2}, only_if={"etag_matches": put.etag})
    assert got.bytes() == b"89"
    failed = bucket.get("k", range={"offset": 99}, only_if={"etag_matches": "other"})
    # The condition is checked first: a failed condition wins over a bad range.
    assert type(failed) is R2Object


# -- a request's headers as range and only_if (the standard file-serving pattern) ------------


@pytest.mark.parametrize(
    "headers, expected, served",
    [
        ({"Range": "bytes=2-4"}, b"234", {"offset": 2, "length": 3}),
        ({"RANGE": "bytes=7-"}, b"789", {"offset": 7, "length": 3}),  # falcon's req.headers
        ({"range": "bytes=-3"}, b"789", {"offset": 7, "length": 3}),
        ({"Range": "bytes=8-100"}, b"89", {"offset": 8, "length": 2}),
        ({"Range": "bytes=0-1,4-5"}, b"0123456789", {"offset": 0, "length": 10}),  # several: whole
        ({"Range": "items=0-1"}, b"0123456789", {"offset": 0, "length": 10}),
        ({"HOST": "example.com"}, b"0123456789", {"offset": 0, "length": 10}),
    ],
)
def test_get_range_from_request_headers(bucket, headers, expected, served):
    bucket.put("digits", b"0123456789")
    obj = bucket.get("digits", range=headers)
    assert obj.bytes() == expected and obj.range == served


def test_get_range_header_beyond_the_object_is_not_satisfiable(bucket):
    bucket.put("digits", b"0123456789")
    with pytest.raises(R2Error, match=r"\(10039\)$"):
        bucket.get("digits", range={"Range": "bytes=10-"})


def test_get_only_if_from_request_headers(bucket):
    put = bucket.put("k", "content")
    last_modified = email.utils.format_datetime(put.uploaded, usegmt=True)
    earlier = email.utils.format_datetime(put.uploaded - timedelta(seconds=5), usegmt=True)
    holds = [
        {"If-Match": put.http_etag}, {"If-Match": f'"other", {put.http_etag}'}, {"If-Match": "*"},
        {"If-None-Match": '"other"'}, {"IF-MODIFIED-SINCE": earlier},
        {"If-Unmodified-Since": last_modified}, {"If-Modified-Since": "not a date"},
    ]
    fails = [
        {"If-Match": '"other"'}, {"If-Match": f"W/{put.http_etag}"},  # If-Match compares strongly
        {"If-None-Match": put.http_etag}, {"If-None-Match": f"W/{put.http_etag}"}, {"If-None-Match": "*"},
        {"If-Modified-Since": last_modified}, {"If-Unmodified-Since": earlier},
        # An If-None-Match that holds overrides If-Modified-Since.
    ]
    for headers in holds:
        assert isinstance(bucket.get("k", only_if=headers), R2ObjectBody), headers
    for headers in fails:
        failed = bucket.get("k", only_if=headers)
        assert type(failed) is R2Object and failed.etag == put.etag, headers
    assert isinstance(bucket.get("k", only_if={"If-None-Match": '"other"', "If-Modified-Since": last_modified}),
                      R2ObjectBody)
    assert bucket.head("k", only_if={"If-None-Match": put.http_etag}).etag == put.etag


def test_put_only_if_absent(bucket):
    first = bucket.put("k", "first", only_if={"etag_does_not_match": "*"})
    assert first is not None
    assert bucket.put("k", "second", only_if={"etag_does_not_match": "*"}) is None
    assert bucket.get("k").text() == "first"


def test_put_only_if_unchanged(bucket):
    first = bucket.put("k", "first")
    second = bucket.put("k", "second", only_if={"etag_matches": first.etag})
    assert second is not None and second.etag == md5(b"second")
    assert bucket.put("k", "third", only_if={"etag_matches": first.etag}) is None
    assert bucket.put("missing", "x", only_if={"etag_matches": "*"}) is None
    assert bucket.head("missing") is None
    assert bucket.get("k").text() == "second"


@pytest.mark.parametrize(
    "only_if, message",
    [
        ({"etag_matches": '"abc"'}, 'Conditional ETag should not be wrapped in quotes ("abc").'),
        ({"etag_does_not_match": '"abc"'},
         'Conditional ETag should not be wrapped in quotes ("abc").'),
        ({"uploaded_before": "2020-01-01"}, "uploaded_before must be a timezone-aware datetime"),
        ({"uploaded_after": datetime(2020, 1, 1)},
         "uploaded_after must be a timezone-aware datetime"),
        ({"etagMatches": "abc"}, "Unknown only_if field"),
    ],
)
def test_invalid_conditions_are_type_errors(bucket, only_if, message):
    bucket.put("k", "v")
    with pytest.raises(TypeError) as caught:
        bucket.get("k", only_if=only_if)
    assert str(caught.value).startswith(message)
    with pytest.raises(TypeError):
        bucket.put("k", "other", only_if=only_if)
    assert bucket.get("k").text() == "v"


# -- md5 --------------------------------------------------------------------------------


def test_put_with_matching_md5(bucket):
    assert bucket.put("k", b"data", md5=md5(b"data")).etag == md5(b"data")
    assert bucket.put("k", b"data", md5=hashlib.md5(b"data").digest()) is not None


def test_put_with_wrong_md5_stores_nothing(bucket):
    bucket.put("k", b"old")
    with pytest.raises(R2Error) as caught:
        bucket.put("k", b"new", md5=md5(b"something else"))
    assert caught.value.code == 10037
    assert str(caught.value).startswith("put: ")
    with pytest.raises(R2Error, match=r"\(10037\)"):
        bucket.put("k", FixedLengthStream(OneWayStream(b"new"), 3), md5=md5(b"other"))
    assert bucket.get("k").text() == "old"


@pytest.mark.parametrize(
    "value, message",
    [("abc", "MD5 is 32 hex characters, not 3"), (b"\x00" * 15, "MD5 is 16 bytes, not 15"),
     ("z" * 32, "Provided MD5 wasn't a valid hex string")],
)
def test_malformed_md5_is_a_type_error(bucket, value, message):
    with pytest.raises(TypeError, match=re.escape(message)):
        bucket.put("k", b"data", md5=value)


# -- sha1 / sha256 / sha384 / sha512 checksums --------------------------------------------------


@pytest.mark.parametrize("algorithm", ["sha1", "sha256", "sha384", "sha512"])
def test_put_checksum_is_checked_and_stored(bucket, algorithm):
    digest = hashlib.new(algorithm, b"data")
    put = bucket.put("k", b"data", custom_metadata={"a": "b"}, **{algorithm: digest.hexdigest()})
    expected = {"md5": md5(b"data"), algorithm: digest.hexdigest()}
    assert put.checksums == expected
    assert bucket.head("k").checksums == bucket.get("k").checksums == expected
    assert bucket.head("k").custom_metadata == {"a": "b"}  # the checksum is not custom metadata
    (listed,) = bucket.list(include=["custom_metadata"])["objects"]
    assert listed.custom_metadata == {"a": "b"}
    assert bucket.put("k", b"data", **{algorithm: digest.digest()}).checksums[algorithm] == digest.hexdigest()
    assert bucket.put("k", b"data").checksums == {"md5": md5(b"data")}  # a later put without one


@pytest.mark.parametrize("algorithm, label", [("sha1", "SHA-1"), ("sha256", "SHA-256"), ("sha512", "SHA-512")])
def test_put_with_wrong_checksum_stores_nothing(bucket, algorithm, label):
    bucket.put("k", b"old")
    wrong = hashlib.new(algorithm, b"other").hexdigest()
    with pytest.raises(R2Error) as caught:
        bucket.put("k", b"new", **{algorithm: wrong})
    assert str(caught.value) == f"put: The {label} checksum you specified did not match what we received. (10037)"
    with pytest.raises(R2Error, match=r"\(10037\)"):
        bucket.put("k", FixedLengthStream(OneWayStream(b"new"), 3), **{algorithm: wrong})
    assert bucket.get("k").text() == "old"


def test_put_takes_one_hashing_algorithm(bucket):
    with pytest.raises(TypeError, match="You cannot specify multiple hashing algorithms."):
        bucket.put("k", b"data", md5=md5(b"data"), sha256=hashlib.sha256(b"data").hexdigest())
    with pytest.raises(TypeError, match="sha256 must be 32 bytes or 64 hex characters"):
        bucket.put("k", b"data", sha256="abc")


# -- delete -----------------------------------------------------------------------------


def test_delete_one_or_many(bucket):
    for key in ("a", "b", "c", "d"):
        bucket.put(key, key)
    bucket.delete("a")
    bucket.delete(["b", "c", "never-existed"])
    bucket.delete("never-existed")
    bucket.delete([])
    assert [obj.key for obj in bucket.list()["objects"]] == ["d"]


def test_delete_at_most_1000_keys(bucket):
    bucket.put("keep", "x")
    with pytest.raises(R2Error):
        bucket.delete([f"k{i}" for i in range(1001)])
    bucket.delete([f"k{i}" for i in range(1000)])
    assert bucket.head("keep") is not None


# -- list -------------------------------------------------------------------------------


def keys_of(result):
    return [obj.key for obj in result["objects"]]


def list_all(bucket, **options):
    """Follow cursors to the end; return (keys, prefixes, pages)."""
    keys, prefixes, pages, cursor = [], [], 0, None
    while True:
        result = bucket.list(cursor=cursor, **options)
        pages += 1
        keys += keys_of(result)
        prefixes += result["delimited_prefixes"]
        if not result["truncated"]:
            assert "cursor" not in result
            return keys, prefixes, pages
        cursor = result["cursor"]
        assert isinstance(cursor, str) and cursor


def test_list_is_lexicographic_by_key(bucket):
    keys = ["b", "a/z", "a", "A", "a/b", "é", "z", "\u4e2d", "a0", "a-"]
    for key in keys:
        bucket.put(key, key)
    # Code-point order is UTF-8 byte order, the order R2 and S3 use.
    assert keys_of(bucket.list()) == sorted(keys)
    assert sorted(keys, key=lambda k: k.encode("utf-8")) == sorted(keys)


def test_list_result_shape(bucket):
    bucket.put("x", "1")
    result = bucket.list()
    assert set(result) == {"objects", "truncated", "delimited_prefixes"}
    assert result["truncated"] is False
    assert result["delimited_prefixes"] == []


def test_list_prefix(bucket):
    for key in ("img/a.png", "img/b.png", "imgs/c.png", "doc/a.pdf", "im"):
        bucket.put(key, "x")
    assert keys_of(bucket.list(prefix="img/")) == ["img/a.png", "img/b.png"]
    assert keys_of(bucket.list(prefix="img")) == ["img/a.png", "img/b.png", "imgs/c.png"]
    assert keys_of(bucket.list(prefix="nothing")) == []


def test_list_delimiter_groups_keys_into_prefixes(bucket):
    for key in ("top.txt", "img/a.png", "img/2024/b.png", "img/2024/c.png", "doc/x.pdf"):
        bucket.put(key, "x")
    result = bucket.list(delimiter="/")
    assert keys_of(result) == ["top.txt"]
    assert result["delimited_prefixes"] == ["doc/", "img/"]
    result = bucket.list(prefix="img/", delimiter="/")
    assert keys_of(result) == ["img/a.png"]
    assert result["delimited_prefixes"] == ["img/2024/"]


def test_list_pages_cover_every_key_once(bucket):
    keys = sorted(f"k{i:03d}" for i in range(25))
    for key in keys:
        bucket.put(key, "x")
    first = bucket.list(limit=10)
    assert len(first["objects"]) <= 10 and first["truncated"]
    listed, _, pages = list_all(bucket, limit=10)
    assert listed == keys
    assert pages >= 3


def test_list_pages_with_delimiter(bucket):
    for group in "abcde":
        for i in range(3):
            bucket.put(f"{group}/{i}", "x")
        bucket.put(f"{group}-file", "x")
    keys, prefixes, _ = list_all(bucket, delimiter="/", limit=2)
    assert keys == [f"{group}-file" for group in "abcde"]
    assert prefixes == [f"{group}/" for group in "abcde"]


def test_list_start_after(bucket):
    for key in ("a", "b", "c", "d"):
        bucket.put(key, "x")
    assert keys_of(bucket.list(start_after="b")) == ["c", "d"]
    assert keys_of(bucket.list(start_after="bb")) == ["c", "d"]
    assert keys_of(bucket.list(start_after="d")) == []


@pytest.mark.parametrize("limit", [0, 1001, -1, 1.5, True])
def test_list_limit_bounds(bucket, limit):
    with pytest.raises(R2Error) as caught:
        bucket.list(limit=limit)
    assert str(caught.value) == "list: MaxKeys params must be positive integer <= 1000. (10022)"
    assert caught.value.code == 10022


def test_list_without_include_has_empty_metadata(bucket):
    bucket.put("k", "v", http_metadata={"content_type": "text/plain"}, custom_metadata={"a": "b"})
    (obj,) = bucket.list()["objects"]
    assert obj.http_metadata == {} and obj.custom_metadata == {}
    assert obj.size == 1 and obj.etag == md5(b"v") and HEX32.match(obj.version)
    assert obj.storage_class == "Standard"
    headers = {}
    obj.write_http_metadata(headers)  # writes nothing: the listing did not ask for it
    assert headers == {}


def test_list_include(bucket):
    put = bucket.put("k", "v", http_metadata={"content_type": "text/plain"},
                     custom_metadata={"a": "b"})
    (both,) = bucket.list(include=["http_metadata", "custom_metadata"])["objects"]
    assert both.http_metadata["content_type"] == "text/plain"
    assert both.custom_metadata == {"a": "b"}
    assert (both.version, both.uploaded, both.etag) == (put.version, put.uploaded, put.etag)
    (custom_only,) = bucket.list(include=["custom_metadata"])["objects"]
    assert custom_only.http_metadata == {} and custom_only.custom_metadata == {"a": "b"}


def test_list_include_rejects_other_names(bucket):
    with pytest.raises(ValueError, match="Unsupported include value httpMetadata"):
        bucket.list(include=["httpMetadata"])


def test_list_rejects_a_forged_cursor(bucket):
    bucket.put("k", "v")
    with pytest.raises(R2Error):
        bucket.list(cursor="not-a-cursor")


def test_ping(bucket):
    bucket.ping()


# -- local folder backend ---------------------------------------------------------------


def files_under(folder):
    return {path for path in folder.rglob("*") if path.is_file()}


@pytest.mark.parametrize("key", TRICKY_KEYS)
def test_local_keys_never_reach_outside_the_bucket_folder(tmp_path, key):
    state = tmp_path / "deep" / "er" / "state"
    bucket = open_local(state)
    root = (state / "r2" / "media").resolve()
    outside_before = files_under(tmp_path) - files_under(root)
    bucket.put(key, "payload")
    bucket.put(key + "/child", "payload")
    assert files_under(tmp_path) - files_under(root) == outside_before
    for path in files_under(root):
        assert path.resolve().is_relative_to(root)
        # Keys never become file names.
        assert "passwd" not in path.name and "win.ini" not in path.name
    assert bucket.get(key).text() == "payload"


def test_local_unsafe_bucket_names_are_refused(tmp_path):
    for name in ("../escape", "a/b", "..", "/abs", "a\\b", "nul\x00"):
        with pytest.raises(ValueError):
            open_local(tmp_path, name)
    assert not (tmp_path / "escape").exists()


def test_local_folder_layout_and_persistence(tmp_path):
    bucket = open_bucket({"binding": "MEDIA_BUCKET"}, tmp_path, {})
    put = bucket.put("k", "kept", custom_metadata={"a": "b"})
    assert (tmp_path / "r2" / "MEDIA_BUCKET" / "index.sqlite3").is_file()
    named = open_local(tmp_path, "media")
    assert named.head("k") is None  # another bucket, another folder
    reopened = open_bucket({"binding": "MEDIA_BUCKET"}, tmp_path, {})
    got = reopened.get("k")
    assert got.text() == "kept" and got.version == put.version
    assert got.custom_metadata == {"a": "b"}


def test_local_replaced_and_deleted_blobs_are_removed(tmp_path):
    bucket = open_local(tmp_path)
    blobs = tmp_path / "r2" / "media" / "blobs"
    bucket.put("k", "one")
    bucket.put("k", "two")
    assert len(files_under(blobs)) == 1
    assert bucket.put("k", "three", only_if={"etag_matches": "stale"}) is None
    with pytest.raises(R2Error):
        bucket.put("k", "four", md5=md5(b"x"))
    assert len(files_under(blobs)) == 1
    assert files_under(tmp_path / "r2" / "media" / "tmp") == set()
    bucket.delete("k")
    assert files_under(blobs) == set()


def _writer(state_dir, worker, rounds, results):
    bucket = open_local(state_dir)
    created = 0
    for i in range(rounds):
        bucket.put("shared", f"{worker}:{i}" * 100)
        if bucket.put(f"once/{i}", str(worker), only_if={"etag_does_not_match": "*"}):
            created += 1
    results.put(created)


def test_local_several_processes_share_one_folder(tmp_path):
    open_local(tmp_path)  # create the folder and index before the workers start
    context = multiprocessing.get_context("fork")
    results = context.Queue()
    workers = [
        context.Process(target=_writer, args=(tmp_path, worker, 20, results))
        for worker in range(4)
    ]
    for process in workers:
        process.start()
    for process in workers:
        process.join(60)
        assert process.exitcode == 0
    # Every conditional create happened exactly once across the processes.
    assert sum(results.get(timeout=5) for _ in workers) == 20
    bucket = open_local(tmp_path)
    text = bucket.get("shared").text()
    assert re.fullmatch(r"(\d+:\d+)\1{99}", text)
    assert len(list_all(bucket, prefix="once/")[0]) == 20
    assert len(files_under(tmp_path / "r2" / "media" / "blobs")) == 21


def test_local_readers_see_whole_versions_while_a_writer_replaces(tmp_path):
    bucket = open_local(tmp_path)
    versions = [bytes([65 + i]) * 200_000 for i in range(5)]
    bucket.put("k", versions[0])
    stop = threading.Event()

    def write():
        i = 0
        while not stop.is_set():
            i += 1
            bucket.put("k", versions[i % len(versions)])

    writer = threading.Thread(target=write)
    writer.start()
    try:
        for _ in range(50):
            obj = bucket.get("k")
            data = obj.bytes()
            assert data in versions and md5(data) == obj.etag
    finally:
        stop.set()
        writer.join()


# -- S3 backend -------------------------------------------------------------------------


def test_s3_credentials_come_from_the_named_variables(s3_server, tmp_path):
    binding = s3_binding(s3_server)
    with pytest.raises(ValueError, match=ACCESS_KEY_ENV):
        open_bucket(binding, tmp_path, {SECRET_KEY_ENV: "x"})
    with pytest.raises(ValueError, match="both"):
        open_bucket({**binding, "secret_access_key_env": None}, tmp_path, CREDENTIALS)
    with pytest.raises(ValueError, match="bucket_name"):
        open_bucket({**binding, "bucket_name": ""}, tmp_path, CREDENTIALS)
    open_bucket(binding, tmp_path, CREDENTIALS).ping()


def test_s3_objects_are_plain_s3_objects(s3_server, tmp_path):
    name = create_bucket(s3_server)
    bucket = open_bucket(s3_binding(s3_server, name), tmp_path, CREDENTIALS)
    bucket.put("media/a.txt", "hi", http_metadata={"content_type": "text/plain"},
               custom_metadata={"author": "ada", "Title": "Zoë"})
    head = admin_client(s3_server).head_object(Bucket=name, Key="media/a.txt")
    assert head["ContentType"] == "text/plain"
    assert head["Metadata"]["author"] == "ada"  # plain names stay readable by S3 tools
    assert decode_metadata_name(encode_metadata_name("Title")) == "Title"
    admin_client(s3_server).put_object(Bucket=name, Key="foreign", Body=b"from elsewhere")
    assert bucket.get("foreign").text() == "from elsewhere"


def test_s3_missing_bucket_is_an_error_not_none(s3_server, tmp_path):
    bucket = open_bucket(s3_binding(s3_server, "no-such-bucket"), tmp_path, CREDENTIALS)
    with pytest.raises(R2Error) as caught:
        bucket.ping()
    assert caught.value.code == 10006
    with pytest.raises(R2Error):
        bucket.get("k")


@pytest.fixture
def racing_s3(s3_server, tmp_path, monkeypatch):
    """An S3 bucket plus ``race(action, body)``: the next HEAD the binding makes for
    ``action`` is followed at once by another client writing ``body`` to the same key, as a
    concurrent worker could."""
    name = create_bucket(s3_server)
    bucket = open_bucket(s3_binding(s3_server, name), tmp_path, CREDENTIALS)
    real_head = S3Backend.head
    pending = {}

    def head_then_someone_writes(self, key, action="head"):
        seen = real_head(self, key, action)
        if action in pending:
            admin_client(s3_server).put_object(Bucket=name, Key=key, Body=pending.pop(action))
        return seen

    monkeypatch.setattr(S3Backend, "head", head_then_someone_writes)
    return bucket, pending.__setitem__


def test_s3_conditional_put_never_overwrites_a_writer_that_slipped_in(racing_s3):
    bucket, race = racing_s3
    first = bucket.put("k", "first")
    race("put", b"theirs")
    assert bucket.put("k", "mine", only_if={"etag_matches": first.etag}) is None
    assert bucket.get("k").text() == "theirs"
    race("put", b"created by them")
    assert bucket.put("new", "mine", only_if={"etag_does_not_match": "*"}) is None
    assert bucket.get("new").text() == "created by them"


def test_s3_ranged_get_returns_bytes_of_the_version_it_checked(racing_s3):
    bucket, race = racing_s3
    bucket.put("k", "old content")
    race("get", b"new content!")
    obj = bucket.get("k", range={"offset": 0, "length": 3})
    assert (obj.etag, obj.size, obj.bytes()) == (md5(b"new content!"), 12, b"new")


def test_s3_client_is_recreated_after_fork(s3_server, tmp_path, monkeypatch):
    bucket = open_bucket(s3_binding(s3_server), tmp_path, CREDENTIALS)
    backend = bucket.backend
    parent_client = backend.client
    assert backend.client is parent_client
    monkeypatch.setattr(os, "getpid", lambda: -12345)  # what a forked worker would see
    child_client = backend.client
    assert child_client is not parent_client
    bucket.ping()


def test_s3_client_settings(s3_server, tmp_path):
    binding = s3_binding(s3_server, connect_timeout=1.5, read_timeout=3)
    config = open_bucket(binding, tmp_path, CREDENTIALS).backend.client.meta.config
    assert (config.connect_timeout, config.read_timeout) == (1.5, 3.0)
    assert config.retries == {"total_max_attempts": 2, "mode": "standard"}
    assert config.request_checksum_calculation == "when_required"
    assert config.response_checksum_validation == "when_required"
    assert config.s3 == {"addressing_style": "path"}
    # Writes wait at least 5 s for the store's answer; a longer read_timeout serves both.
    writer = open_bucket(binding, tmp_path, CREDENTIALS).backend.writer.meta.config
    assert (writer.connect_timeout, writer.read_timeout) == (1.5, 5.0)
    longer = open_bucket(s3_binding(s3_server, read_timeout=8), tmp_path, CREDENTIALS).backend
    assert (longer.client.meta.config.read_timeout, longer.writer.meta.config.read_timeout) == (8.0, 8.0)
    default = open_bucket(s3_binding(s3_server), tmp_path, CREDENTIALS).backend
    assert (default.client.meta.config.connect_timeout, default.client.meta.config.read_timeout) == (2.0, 2.0)
    assert default.writer.meta.config.read_timeout == 5.0


def test_s3_reads_and_writes_use_their_own_client(s3_server, tmp_path, monkeypatch):
    backend = open_bucket(s3_binding(s3_server), tmp_path, CREDENTIALS).backend
    reader, writer = backend.client, backend.writer
    assert reader is not writer
    monkeypatch.setattr(os, "getpid", lambda: -12345)  # a forked worker makes both anew
    assert backend.client is not reader and backend.writer is not writer


def test_s3_outage_is_a_quick_r2_error(s3_server_factory, tmp_path):
    server = s3_server_factory()
    bucket = open_bucket(s3_binding(server.endpoint_url, create_bucket(server.endpoint_url)),
                         tmp_path, os.environ)
    bucket.put("k", "v")
    server.stop()
    for call in (
        lambda: bucket.get("k"),
        lambda: bucket.head("k"),
        lambda: bucket.put("k", "v2"),
        lambda: bucket.list(),
        lambda: bucket.delete("k"),
        lambda: bucket.ping(),
    ):
        started = time.monotonic()
        with pytest.raises(R2Error) as caught:
            call()
        assert time.monotonic() - started < 10
        assert caught.value.code == 10001
        assert "did not answer" in str(caught.value)
        assert isinstance(caught.value, StoreUnreachable)  # what opens the media breaker


def test_s3_outage_mid_download_is_an_r2_error(s3_server_factory, tmp_path):
    server = s3_server_factory()
    bucket = open_bucket(s3_binding(server.endpoint_url, create_bucket(server.endpoint_url)),
                         tmp_path, os.environ)
    # Larger than the loopback socket buffers, so the server cannot have sent it all.
    bucket.put("big", os.urandom(32 * 1024 * 1024))
    obj = bucket.get("big")
    next(iter(obj.body))
    server.stop()
    started = time.monotonic()
    with pytest.raises(R2Error) as caught:
        for _ in obj.body:
            pass
    assert time.monotonic() - started < 10
    assert str(caught.value).startswith("get: ")
    assert obj.body.closed


@pytest.fixture
def silent_endpoint():
    """A port that accepts connections and never answers (a hung store)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    accepted = []
    stop = threading.Event()

    def accept():
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                accepted.append(listener.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    stop.set()
    thread.join()
    for connection in accepted:
        connection.close()
    listener.close()


def test_s3_hung_endpoint_times_out(silent_endpoint, tmp_path):
    binding = s3_binding(silent_endpoint, read_timeout=1)
    bucket = open_bucket(binding, tmp_path, CREDENTIALS)
    started = time.monotonic()
    with pytest.raises(R2Error) as caught:
        bucket.head("k")
    assert time.monotonic() - started < 8  # 2 attempts x 1 s + backoff, never boto3's 60 s
    assert caught.value.code == 10001


# -- multipart uploads (createMultipartUpload, uploadPart, complete, abort) --------------------

MIB = 1024 * 1024


def multipart_etag(*parts: bytes) -> str:
    joined = b"".join(hashlib.md5(part).digest() for part in parts)
    return f"{hashlib.md5(joined).hexdigest()}-{len(parts)}"


def test_multipart_upload_complete(bucket):
    first, second, last = b"a" * (5 * MIB), b"b" * (5 * MIB), b"tail"
    upload = bucket.create_multipart_upload(
        "big.bin", http_metadata={"content_type": "application/octet-stream"}, custom_metadata={"by": "test"}
    )
    assert upload.key == "big.bin" and upload.upload_id
    # Parts may arrive in any order; a part number uploaded again replaces the part.
    part3 = upload.upload_part(3, last)
    part1 = upload.upload_part(1, b"x" * (5 * MIB))
    part1 = upload.upload_part(1, io.BytesIO(first))
    resumed = bucket.resume_multipart_upload("big.bin", upload.upload_id)
    part2 = resumed.upload_part(2, second)
    assert part2 == {"part_number": 2, "etag": md5(second)}
    obj = resumed.complete([part1, part2, part3])
    assert obj.etag == multipart_etag(first, second, last) and obj.size == len(first + second + last)
    assert "md5" not in obj.checksums  # a multipart etag is no MD5 of the content
    got = bucket.get("big.bin")
    assert got.bytes() == first + second + last and got.etag == obj.etag
    assert got.http_metadata["content_type"] == "application/octet-stream"
    assert got.custom_metadata == {"by": "test"}
    with pytest.raises(R2Error) as late:
        upload.upload_part(4, b"late")  # completed
    if not isinstance(bucket.backend, S3Backend):  # moto answers a 500 where S3 says NoSuchUpload
        assert late.value.code == 10024
    upload.abort()  # aborting after completion is fine


def test_multipart_part_rules(bucket):
    upload = bucket.create_multipart_upload("k")
    small = upload.upload_part(1, b"small")
    last = upload.upload_part(2, b"last")
    with pytest.raises(R2Error) as caught:
        upload.complete([small, last])
    assert str(caught.value) == (
        "completeMultipartUpload: Your proposed upload is smaller than the minimum allowed object size. (10011)"
    )
    with pytest.raises(R2Error, match=r"^completeMultipartUpload: One or more of the specified parts could not be found\. \(10025\)$"):
        upload.complete([{"part_number": 1, "etag": md5(b"other")}, last])
    with pytest.raises(R2Error, match=r"\(10025\)$"):
        upload.complete([small, {"part_number": 9, "etag": md5(b"last")}])
    big = upload.upload_part(1, b"a" * (6 * MIB))
    middle = upload.upload_part(2, b"b" * (5 * MIB))
    end = upload.upload_part(3, b"c")
    with pytest.raises(R2Error, match=r"^completeMultipartUpload: There was a problem with the multipart upload\. \(10048\)$"):
        upload.complete([big, middle, end])  # parts before the last differ in size
    with pytest.raises(ValueError, match="Part number must be between 1 and 10000"):
        upload.upload_part(0, b"x")
    upload.abort()
    assert bucket.head("k") is None


def test_multipart_abort(bucket):
    upload = bucket.create_multipart_upload("k")
    part = upload.upload_part(1, b"only part")
    upload.abort()
    upload.abort()  # idempotent
    with pytest.raises(R2Error) as caught:
        upload.upload_part(2, b"more")
    if not isinstance(bucket.backend, S3Backend):  # moto answers a 500 where S3 says NoSuchUpload
        assert str(caught.value) == "uploadPart: The specified multipart upload does not exist. (10024)"
    with pytest.raises(R2Error) as caught:
        upload.complete([part])
    assert str(caught.value) == "completeMultipartUpload: The specified multipart upload does not exist. (10024)"
    assert bucket.head("k") is None and bucket.list()["objects"] == []
    # resume does not check the id; the next call does.
    unknown = bucket.resume_multipart_upload("k", "no-such-upload")
    with pytest.raises(R2Error, match=r"\(10024\)$"):
        unknown.complete([part])
