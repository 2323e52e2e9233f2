"""``GET /files/<key>``: media files streamed from MEDIA_BUCKET, public, as in SonicJS.

Only keys that a live media row names are served (the file, or its thumbnail): a key with
no row, or a soft-deleted file, is 404 even though its object may still be in the bucket.
Who gets a file follows ``app.services.media.visibility``: a file that live published
content uses is served to anyone (pages embed it); any other file only to the editorial
team (``media.upload``) and its uploader, signed in by bearer token or cookie, and to
everyone else it is the same 404 as a missing key, sent with ``Cache-Control: no-store``
so that no cache keeps the 404 once the file is published.

Responses carry what a CDN and a browser need: ``ETag`` (the object's), ``Last-Modified``,
``Cache-Control: public, max-age=<MEDIA_PUBLIC_MAX_AGE_SECONDS>, must-revalidate`` for
published files (``private, no-cache`` for the others, so no shared cache keeps them) and
``Accept-Ranges``. A key's bytes never change, but whether it is published does: content
is unpublished or deleted, a file is deleted, and from then on the file is a 404. So a
cache keeps a public file's answer a short while only, then asks again: while the file is
still public that costs a 304 (the ETag matches), and once it is withdrawn the cache gets
the 404. The Cache-Control stored with the object is not sent: this header is computed
for each answer. As in R2's pattern for
serving files, the request's own headers go to the bucket as ``get(key, range=headers,
only_if=headers)``: a single ``Range`` is a 206 (416 with ``Content-Range: bytes */<size>``
when the file cannot satisfy it); a failed ``If-None-Match`` / ``If-Modified-Since`` is a
304 and a failed ``If-Match`` / ``If-Unmodified-Since`` a 412, decided by the bucket so
neither costs a body transfer. ``If-Range``, which R2 does not take, is checked here.

Content-Type is the type sniffed at upload, with ``X-Content-Type-Options: nosniff`` so a
browser never second-guesses it; SVG (which can carry script) is sent as an attachment
under a sandboxing Content-Security-Policy.
"""

import email.utils
import logging
from contextlib import contextmanager
from datetime import UTC, datetime

import falcon

from app.api.access import access
from app.api.describe import STORE_CALLED, Header, describe
from app.api.errors import APIError, not_found
from app.runtime.r2 import R2Error, R2ObjectBody
from app.runtime.r2.objects import INVALID_RANGE
from app.runtime.r2.options import Conditional, RangeRequest
from app.services.media import storage, visibility

log = logging.getLogger("sonicpy.media")

SVG_TYPE = "image/svg+xml"
SVG_POLICY = "default-src 'none'; style-src 'unsafe-inline'; sandbox"
READ_HEADERS = ("range", "if-match", "if-none-match", "if-modified-since", "if-unmodified-since")
PRECONDITION_HEADERS = ("if-match", "if-unmodified-since")
CORS_HEADERS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Expose-Headers": "Accept-Ranges, Content-Length, Content-Range, ETag, Last-Modified, "
                                     "X-Request-ID, X-Response-Time",
}
PRIVATE_CACHE = "private, no-cache"


def public_cache_control(max_age):
    """The Cache-Control of a published file's answer: kept ``max_age`` seconds by any
    cache, then revalidated (never ``immutable``: the file may be withdrawn)."""
    return f"public, max-age={max_age}, must-revalidate"

FILE_ETAG = Header("ETag", "the stored object's (strong) ETag, for If-None-Match, If-Match and If-Range")
# The answers that describe the file (``_describe``), and the 412 that names its ETag; a
# 503 may say when the store will answer again.
HEAD_HEADERS = {200: (FILE_ETAG,), 304: (FILE_ETAG,), 412: (FILE_ETAG,), **STORE_CALLED}
GET_HEADERS = {**HEAD_HEADERS, 206: (FILE_ETAG,)}
METHODS = "GET, HEAD, OPTIONS"
PREFLIGHT_HEADERS = {
    "Allow": METHODS,  # what any OPTIONS answers (app.api.methods), preflight or not
    "Access-Control-Allow-Methods": METHODS,
    "Access-Control-Allow-Headers": "Range, If-Match, If-None-Match, If-Modified-Since, If-Unmodified-Since, If-Range",
    "Access-Control-Max-Age": "86400",
}


def http_date(value):
    """An aware datetime from an HTTP date, or None when invalid or in the future (RFC 9110)."""
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return None if when > datetime.now(UTC) else when


def format_http_date(when):
    """``when`` as an HTTP date (``Last-Modified``)."""
    return email.utils.format_datetime(when.astimezone(UTC), usegmt=True)


def read_headers(req):
    """The request's Range and conditional headers, as R2's ``get`` takes them, or None without any.

    An If-Modified-Since that is not a valid date, or lies in the future, is left out: HTTP
    says to ignore it (R2 would compare with it).
    """
    headers = {name: req.get_header(name) for name in READ_HEADERS if req.get_header(name) is not None}
    if "if-modified-since" in headers and http_date(headers["if-modified-since"]) is None:
        del headers["if-modified-since"]
    return headers or None


def failed_status(headers, obj):
    """412 when If-Match or If-Unmodified-Since failed (they are checked first), else 304."""
    preconditions = {name: headers[name] for name in PRECONDITION_HEADERS if name in headers}
    condition = Conditional.from_headers(preconditions)
    return falcon.HTTP_412 if condition is not None and not condition.passes(obj) else falcon.HTTP_304


class FilesResource:
    """Serves ``/files/{key:path}``: GET, HEAD and the CORS preflight.

    Args:
        library: the MediaLibrary, whose guard bounds the calls to the bucket (503 with
            ``Retry-After`` while the store is not answering or too busy).
        public_max_age: seconds a cache may keep a published file's answer before it
            revalidates (``MEDIA_PUBLIC_MAX_AGE_SECONDS``).
    """

    def __init__(self, library, public_max_age):
        self._library = library
        self._public_cache = public_cache_control(public_max_age)

    @access(public=True)
    @describe("A media file's bytes (Range, conditional requests)", media_type="*/*",
              others={206: "*/*", 304: None}, headers=GET_HEADERS)
    def on_get(self, req, resp, key):
        resp.set_headers(CORS_HEADERS)
        with _no_store_on_error(resp):
            self._get(req, resp, key)

    def _get(self, req, resp, key):
        row, is_thumbnail = self._locate(req, resp, key)
        bucket = self._library.bucket(req.context.env.MEDIA_BUCKET)
        headers = read_headers(req)
        if_range = req.get_header("If-Range")
        # If-Range is no part of R2's get: decide on the object's metadata first.
        if headers and "range" in headers and if_range and not self._if_range_holds(if_range, self._head(bucket, key)):
            del headers["range"]
        try:
            # R2's file-serving pattern: the request's own headers as range and only_if.
            obj = bucket.get(key, range=headers, only_if=headers)
        except R2Error as ex:
            if ex.code != INVALID_RANGE:
                raise
            raise self._unsatisfiable(self._head(bucket, key).size) from None
        if obj is None:
            log.warning("media %s names %s, which is not in the bucket", row.id, key)
            raise not_found()
        if not isinstance(obj, R2ObjectBody):  # a condition failed: no body
            self._condition_failed(resp, row, is_thumbnail, headers, obj)
            return
        self._describe(resp, row, is_thumbnail, obj)
        self._content_type(resp, row, is_thumbnail, obj)
        self._send(resp, obj, ranged=RangeRequest.from_header((headers or {}).get("range")) is not None)

    @access(public=True)
    @describe("A media file's headers", media_type=None, others={304: None, 412: None},
              headers=HEAD_HEADERS)
    def on_head(self, req, resp, key):
        resp.set_headers(CORS_HEADERS)
        with _no_store_on_error(resp):
            self._head_answer(req, resp, key)

    def _head_answer(self, req, resp, key):
        row, is_thumbnail = self._locate(req, resp, key)
        headers = read_headers(req)
        obj = self._head(self._library.bucket(req.context.env.MEDIA_BUCKET), key)
        # Range alone (a download manager's probe) or an unparsable date makes no condition:
        # the file's headers are answered, as a GET without the range would send them.
        condition = Conditional.parse(headers) if headers else None
        if condition is not None and not condition.passes(obj):
            self._condition_failed(resp, row, is_thumbnail, headers, obj)
            return
        self._describe(resp, row, is_thumbnail, obj)
        self._content_type(resp, row, is_thumbnail, obj)
        resp.content_length = obj.size

    @access(public=True)
    @describe("CORS preflight", status=204, media_type=None)
    def on_options(self, req, resp, key):
        resp.set_headers({**CORS_HEADERS, **PREFLIGHT_HEADERS})
        resp.status = falcon.HTTP_204

    def _locate(self, req, resp, key):
        """The live row serving ``key`` if this caller may have it (else 404); sets Cache-Control."""
        row, is_thumbnail = storage.find_by_key(key)
        live = row is not None and row.deleted_at is None
        published = live and self._library.is_published(row.id)
        if not published and not (live and visibility.team_or_uploader(getattr(req.context, "user", None), row)):
            raise APIError(falcon.HTTP_404, "Not Found", headers={"Cache-Control": "no-store"})
        resp.set_header("Cache-Control", self._public_cache if published else PRIVATE_CACHE)
        return row, is_thumbnail

    def _condition_failed(self, resp, row, is_thumbnail, headers, obj):
        """Answer a failed condition: 412 (If-Match, If-Unmodified-Since), else 304 with the file's headers."""
        if failed_status(headers, obj) == falcon.HTTP_412:
            raise APIError(falcon.HTTP_412, "Precondition Failed", headers={"ETag": obj.http_etag})
        self._describe(resp, row, is_thumbnail, obj)
        resp.status = falcon.HTTP_304

    @staticmethod
    def _head(bucket, key):
        obj = bucket.head(key)
        if obj is None:
            raise not_found()
        return obj

    @staticmethod
    def _if_range_holds(value, obj):
        value = value.strip()
        if value.startswith('"'):
            return value == obj.http_etag  # If-Range compares strongly
        when = http_date(value)
        return when is not None and format_http_date(when) == format_http_date(obj.uploaded)

    @staticmethod
    def _unsatisfiable(size):
        return APIError(falcon.HTTP_416, "Range Not Satisfiable", headers={"Content-Range": f"bytes */{size}"})

    @staticmethod
    def _content_type(resp, row, is_thumbnail, obj):
        """Content-Type of a response with content (a 304 has none)."""
        stored_type = (obj.http_metadata or {}).get("content_type")
        resp.content_type = stored_type or (storage.THUMBNAIL_TYPE if is_thumbnail else row.mime_type)

    @staticmethod
    def _describe(resp, row, is_thumbnail, obj):
        """Headers shared by 200, 206, 304 and HEAD."""
        svg = not is_thumbnail and row.mime_type == SVG_TYPE
        resp.set_headers({
            "ETag": obj.http_etag,
            "Last-Modified": format_http_date(obj.uploaded),
            "Accept-Ranges": "bytes",
            "X-Content-Type-Options": "nosniff",
            "Content-Disposition": storage.content_disposition(
                None if is_thumbnail else row.original_name, attachment=svg
            ),
        })
        if svg:
            resp.set_header("Content-Security-Policy", SVG_POLICY)

    def _send(self, resp, obj, ranged):
        length = obj.size
        if ranged:
            offset, length = obj.range["offset"], obj.range["length"]
            if length == 0:  # R2 serves an empty range at the very end; HTTP calls it unsatisfiable
                obj.close()
                raise self._unsatisfiable(obj.size)
            resp.status = falcon.HTTP_206
            resp.set_header("Content-Range", f"bytes {offset}-{offset + length - 1}/{obj.size}")
        resp.content_length = length
        resp.stream = obj.body


@contextmanager
def _no_store_on_error(resp):
    """Any error answer is ``no-store``: the shared cache of a published file's answer
    (set once the file is found) must not keep a 404, 412, 416 or a bucket's 503 at a CDN."""
    try:
        yield
    except Exception:
        resp.set_header("Cache-Control", "no-store")
        raise


def register(routes):
    """Mount ``/files/{key:path}`` (the key may contain '/')."""
    routes.add("/files/{key:path}",
               FilesResource(routes.services.media, routes.settings.media_public_max_age_seconds))
