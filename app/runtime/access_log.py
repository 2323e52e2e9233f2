"""gunicorn's access log in two shapes: one short coloured line for ``dev``, JSON for ``serve``.

gunicorn loads these by name (``--logger-class app.runtime.access_log.DevAccessLogger``):
each replaces only ``access()``, the line written after every response, and keeps
gunicorn's error log as it is.

Both record the method, the path, the status, the duration and the request id (the
``X-Request-ID`` the app answers with, which its error log lines carry too). The query
string is left out on purpose: links such as ``/auth/accept-invitation?token=...`` carry
secrets, and a log is no place for them.

Set up before the app loads (in gunicorn's master, inherited by its workers), either
tells the app to leave its own ``sonicpy.access`` line off unless ``ACCESS_LOG`` asks for
it, so each request is one line.
"""

import datetime
import os
import sys
import time

import msgspec
from gunicorn.glogging import Logger

from app.runtime.logs import server_logs_requests

REQUEST_ID_HEADER = "x-request-id"
STATUS_COLOURS = {2: "32", 3: "36", 4: "33", 5: "31"}  # green, cyan, yellow, red


def access_entry(resp, environ, request_time):
    """What one response's log line says, as a dict (the JSON shape)."""
    return {
        "time": datetime.datetime.now(datetime.UTC).isoformat(timespec="milliseconds"),
        "method": environ.get("REQUEST_METHOD", "-"),
        "path": environ.get("PATH_INFO", "") or "/",
        "status": _status_code(resp.status),
        "duration_ms": round(request_time.total_seconds() * 1000, 1),
        "bytes": getattr(resp, "sent", None),
        "request_id": _header(resp.headers, REQUEST_ID_HEADER),
        "remote_addr": environ.get("REMOTE_ADDR"),
    }


def _status_code(status):
    if isinstance(status, int):
        return status
    try:
        return int(str(status).split(None, 1)[0])
    except (ValueError, IndexError):
        return 0


def _header(headers, name):
    items = headers.items() if hasattr(headers, "items") else headers
    return next((value for key, value in items if key.lower() == name), None)


def _printable(text):
    # A path is decoded from the request line: control characters (an escape sequence
    # in a terminal) are shown, not sent.
    return "".join(c if c.isprintable() else f"\\x{ord(c):02x}" for c in text)


def dev_line(entry, clock, colour=False):
    """``12:03:04 GET /api/content 200 3.1 ms 9f2c...`` (coloured by status class when asked).

    Args:
        entry: ``access_entry``'s dict.
        clock: the local time to show (``HH:MM:SS``).
        colour: add ANSI colours (status: 2xx green, 3xx cyan, 4xx yellow, 5xx red).
    """
    status = str(entry["status"])
    duration = f"{entry['duration_ms']:.1f} ms"
    request_id = entry["request_id"] or "-"
    method, path = entry["method"], _printable(entry["path"])
    if not colour:
        return f"{clock} {method} {path} {status} {duration} {request_id}"

    def paint(code, text):
        return f"\033[{code}m{text}\033[0m"

    status = paint(STATUS_COLOURS.get(entry["status"] // 100, "0"), status)
    return f"{paint('2', clock)} {paint('1', method)} {path} {status} {duration} {paint('2', request_id)}"


def json_line(entry):
    """The entry as one line of JSON."""
    return msgspec.json.encode(entry).decode()


def use_colour(stream=None):
    """Colour when writing to a terminal, unless ``$NO_COLOR`` is set (no-color.org)."""
    stream = stream or sys.stdout
    return not os.environ.get("NO_COLOR") and hasattr(stream, "isatty") and stream.isatty()


class RequestLineLogger(Logger):
    """A gunicorn logger whose access line replaces the app's own."""

    def setup(self, cfg):
        super().setup(cfg)
        server_logs_requests()


class DevAccessLogger(RequestLineLogger):
    """``dev``: one short line per request, coloured on a terminal."""

    def setup(self, cfg):
        super().setup(cfg)
        self._colour = use_colour()

    def access(self, resp, req, environ, request_time):
        if getattr(self, "access_log_enabled", True):
            entry = access_entry(resp, environ, request_time)
            self.access_log.info(dev_line(entry, time.strftime("%H:%M:%S"), self._colour))


class JsonAccessLogger(RequestLineLogger):
    """``serve``: one JSON object per request, for log collectors."""

    def access(self, resp, req, environ, request_time):
        if getattr(self, "access_log_enabled", True):
            self.access_log.info(json_line(access_entry(resp, environ, request_time)))
