"""``GET /files/<key>``: media files streamed from MEDIA_BUCKET, public, as in SonicJS.

Only keys that a live media row names are served (the file, or its thumbnail): a key with
no row, or a soft-deleted file, is 404 even though its object may still be in the bucket.
Who gets a file follows ``app.services.media.visibility``: a file that live published
content uses is served to anyone (pages embed it); any other file only to the editorial
team (``media.upload``) and its uploader, signed in by bearer token or cookie, and to
everyone else it is the same 404 as a missing key, sent with ``Cache-Control: no-store``
so that no cache keeps the 404 once the file is published.

Responses carry what a CDN and a browser need: ``ETag`` (the object's), ``Last-Modified``,
``Cache-Control: public, max-age=31536000, immutable`` for published files (keys are
unique per upload, so the bytes behind a URL never change; ``private, no-cache`` for
the others, so no shared cache keeps them), ``Accept-Ranges``, single ``Range`` requests (206, or 416
with ``Content-Range: bytes */<size>``), and ``If-None-Match`` / ``If-Modified-Since``
(304), evaluated by the bucket itself (``only_if``) so a 304 costs no body transfer.

Content-Type is the type sniffed at upload, with ``X-Content-Type-Options: nosniff`` so a
browser never second-guesses it; SVG (which can carry script) is sent as an attachment
under a sandboxing Content-Security-Policy.
"""

import email.utils
import logging
import re
from datetime import UTC, datetime

import falcon

from app.api.access import access
from app.api.describe import describe
from app.api.errors import APIError, not_found
from app.runtime.r2 import R2Error, R2ObjectBody
from app.runtime.r2.objects import INVALID_RANGE
from app.runtime.r2.options import Conditional
from app.services.media import storage, visibility

log = logging.getLogger("sonicpy.media")

SVG_TYPE = "image/svg+xml"
SVG_POLICY = "default-src 'none'; style-src 'unsafe-inline'; sandbox"
SINGLE_RANGE = re.compile(r"bytes=(\d*)-(\d*)")
CORS_HEADERS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Expose-Headers": "Accept-Ranges, Content-Length, Content-Range, ETag, Last-Modified",
}
PRIVATE_CACHE = "private, no-cache"
PREFLIGHT_HEADERS = {
    "Access-Control-Allow-Methods": "GET, HEAD, OPTIONS",
    "Access-Control-Allow-Headers": "Range, If-None-Match, If-Modified-Since, If-Range",
    "Access-Control-Max-Age": "86400",
}


def parse_range(header):
    """R2's ``range`` for a single ``bytes=`` range; None to serve the whole file.

    Syntactically invalid and multi-range headers are ignored (RFC 9110 allows it). A range
    the object cannot satisfy is left for the bucket to reject.
    """
    match = SINGLE_RANGE.fullmatch((header or "").strip())
    if match is None or match.groups() == ("", ""):
        return None
    first, last = match.groups()
    if not first:
        return {"suffix": int(last)}
    if not last:
        return {"offset": int(first)}
    if int(last) < int(first):
        return None
    return {"offset": int(first), "length": int(last) - int(first) + 1}


def entity_tags(header):
    """The entity tags of an ``If-None-Match`` header, unquoted, weakness dropped."""
    tags = []
    for item in (header or "").split(","):
        item = item.strip().removeprefix("W/").strip()
        if item:
            tags.append(item[1:-1] if len(item) >= 2 and item[0] == item[-1] == '"' else item)
    return tags


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


def validators(req):
    """``(only_if, tags)``: the bucket condition for a conditional GET, and the etags asked for.

    ``If-None-Match`` wins over ``If-Modified-Since`` (RFC 9110 13.2.2). Several etags
    cannot be one R2 condition; the caller compares them itself (``tags``).
    """
    tags = entity_tags(req.get_header("If-None-Match"))
    if len(tags) == 1 or "*" in tags:
        return {"etag_does_not_match": "*" if "*" in tags else tags[0]}, tags
    if tags:
        return None, tags
    since = http_date(req.get_header("If-Modified-Since"))
    if since is not None:
        return {"uploaded_after": since, "seconds_granularity": True}, tags
    return None, tags


class FilesResource:
    """Serves ``/files/{key:path}``: GET, HEAD and the CORS preflight.

    Args:
        library: the MediaLibrary, whose guard bounds the calls to the bucket (503 with
            ``Retry-After`` while the store is not answering or too busy).
    """

    def __init__(self, library):
        self._library = library

    @access(public=True)
    @describe("A media file's bytes (Range, conditional requests)", media_type="*/*",
              others={206: "*/*", 304: None})
    def on_get(self, req, resp, key):
        resp.set_headers(CORS_HEADERS)
        row, is_thumbnail = self._locate(req, resp, key)
        bucket = self._library.bucket(req.context.env.MEDIA_BUCKET)
        only_if, tags = validators(req)
        byte_range = parse_range(req.get_header("Range"))
        if len(tags) > 1 or (byte_range and req.get_header("If-Range")):
            # Rare cases R2's get cannot express: decide on the object's metadata first.
            current = self._head(bucket, key)
            if current.etag in tags:
                self._describe(resp, row, is_thumbnail, current)
                resp.status = falcon.HTTP_304
                return
            if byte_range and not self._if_range_holds(req.get_header("If-Range"), current):
                byte_range = None
        try:
            obj = bucket.get(key, range=byte_range, only_if=only_if)
        except R2Error as ex:
            if ex.code != INVALID_RANGE:
                raise
            raise self._unsatisfiable(self._head(bucket, key).size) from None
        if obj is None:
            log.warning("media %s names %s, which is not in the bucket", row.id, key)
            raise not_found()
        self._describe(resp, row, is_thumbnail, obj)
        if not isinstance(obj, R2ObjectBody):
            resp.status = falcon.HTTP_304
            return
        self._content_type(resp, row, is_thumbnail, obj)
        self._send(resp, obj, byte_range)

    @access(public=True)
    @describe("A media file's headers", media_type=None)
    def on_head(self, req, resp, key):
        resp.set_headers(CORS_HEADERS)
        row, is_thumbnail = self._locate(req, resp, key)
        obj = self._head(self._library.bucket(req.context.env.MEDIA_BUCKET), key)
        self._describe(resp, row, is_thumbnail, obj)
        only_if, tags = validators(req)
        if obj.etag in tags or (only_if is not None and not Conditional.parse(only_if).passes(obj)):
            resp.status = falcon.HTTP_304
            return
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
        resp.set_header("Cache-Control", storage.IMMUTABLE if published else PRIVATE_CACHE)
        return row, is_thumbnail

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

    def _send(self, resp, obj, byte_range):
        length = obj.size
        if byte_range is not None and obj.range is not None:
            offset, length = obj.range["offset"], obj.range["length"]
            if length == 0:  # R2 serves an empty range at the very end; HTTP calls it unsatisfiable
                obj.close()
                raise self._unsatisfiable(obj.size)
            resp.status = falcon.HTTP_206
            resp.set_header("Content-Range", f"bytes {offset}-{offset + length - 1}/{obj.size}")
        resp.content_length = length
        resp.stream = obj.body


def register(routes):
    """Mount ``/files/{key:path}`` (the key may contain '/')."""
    routes.add("/files/{key:path}", FilesResource(routes.services.media))
