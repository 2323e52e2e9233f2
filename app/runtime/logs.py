"""Process logs: one JSON object a line outside the default environment, readable text in it.

``configure_logging(config)`` runs when a server loads the app (``served_app``). Every
``sonicpy.*`` logger then writes to stderr: in production as JSON (``time``, ``level``,
``logger``, ``message``, plus ``request_id``, ``method``, ``path``, ``status`` and
``duration_ms`` when the record carries them, and ``exception`` with the traceback), so a
log shipper reads fields instead of parsing text; in the default (development)
environment as one readable line. ``sonicpy.access`` logs one line per request unless the
``ACCESS_LOG`` var is false, or, when the var is not set, the server writes its own line per
request: ``serve`` and ``dev`` run gunicorn with an access logger of this app
(``app.runtime.access_log``), whose line already says the same (with the request id), so the
app's would print every request twice. A line per request is also a measurable share of a
cached hit's time.

Lines are written in batches (``BatchedStreamHandler``): writing and flushing stderr for
each line was the largest single cost of a cached hit (a system call per request). A line
below WARNING waits in memory until ``FLUSH_INTERVAL_SECONDS`` have passed since the first
line of its batch (a thread of the process writes it then) or ``FLUSH_BYTES`` are waiting; a
WARNING or worse is written at once, after every line waiting before it, so the order
is kept and an error is never held back. Nothing waiting is lost on a clean stop: the
handler is flushed when it is replaced and when the process exits (``logging.shutdown``
at exit, which a gunicorn worker's graceful stop runs). A killed process loses at most the
lines of the last ``FLUSH_INTERVAL_SECONDS``. The time of a line is formatted once per
second, not per line; both formats are otherwise ``logging``'s own.
"""

import json
import logging
import os
import sys
import threading
import time
import traceback
import weakref

from app.runtime.config import flag_setting

ACCESS_FIELDS = ("request_id", "method", "path", "status", "duration_ms")
ACCESS_LOGGER = "sonicpy.access"
ACCESS_LOG_VAR = "ACCESS_LOG"
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
JSON_TIME_FORMAT = "%Y-%m-%dT%H:%M:%S"
# How long a line below WARNING may wait before it is written, and how much may wait.
FLUSH_INTERVAL_SECONDS = 0.2
FLUSH_BYTES = 64 * 1024
_json_encoder = json.JSONEncoder(default=str)  # what json.dumps(entry, default=str) builds per call


class SecondClock:
    """``strftime(fmt, convert(seconds))`` of the last whole second seen, made once per second.

    Args:
        fmt: the ``time.strftime`` format (whole seconds only).
        convert: ``time.localtime`` or ``time.gmtime``.
    """

    def __init__(self, fmt, convert):
        self._fmt = fmt
        self._convert = convert
        self._kept = (None, "")  # (whole second, its text): replaced as one tuple, so threads agree

    def text(self, created):
        """The formatted whole second of the epoch time ``created``."""
        second = int(created)
        kept = self._kept
        if kept[0] != second:
            kept = self._kept = (second, time.strftime(self._fmt, self._convert(second)))
        return kept[1]


class TextFormatter(logging.Formatter):
    """``TEXT_FORMAT`` with ``logging.Formatter``'s own time (local, ``2024-05-01 12:00:00,123``)."""

    def __init__(self):
        super().__init__(TEXT_FORMAT)
        self._clock = SecondClock(self.default_time_format, self.converter)

    def formatTime(self, record, datefmt=None):  # noqa: N802 - logging's name
        """The record's time as ``logging.Formatter`` writes it, the whole second made once per second."""
        if datefmt:
            return super().formatTime(record, datefmt)
        return self.default_msec_format % (self._clock.text(record.created), record.msecs)

    def format_fields(self, created, levelname, name, message, fields):
        """The line ``format`` writes for a record of these values without exception (``fields`` unused)."""
        # TEXT_FORMAT with logging's "%s,%03d" time, spelled out: this runs for every access line.
        return f"{self._clock.text(created)},{int(_msecs(created)):03d} {levelname} {name}: {message}"


class JsonFormatter(logging.Formatter):
    """A record as one JSON object on one line."""

    def __init__(self):
        super().__init__()
        self._clock = SecondClock(JSON_TIME_FORMAT, time.gmtime)

    def format(self, record):
        entry = self._entry(record.created, record.msecs, record.levelname, record.name, record.getMessage())
        for field in ACCESS_FIELDS:
            if hasattr(record, field):
                entry[field] = getattr(record, field)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return _json_encoder.encode(entry)

    def format_fields(self, created, levelname, name, message, fields):
        """The line ``format`` writes for a record of these values with ``fields`` (``ACCESS_FIELDS`` only)."""
        entry = self._entry(created, _msecs(created), levelname, name, message)
        entry.update(fields)
        return _json_encoder.encode(entry)

    def _entry(self, created, msecs, levelname, name, message):
        return {"time": f"{self._clock.text(created)}.{int(msecs):03d}Z", "level": levelname.lower(),
                "logger": name, "message": message}


def _msecs(created):
    """``LogRecord.msecs`` of a record made at ``created``."""
    return int((created - int(created)) * 1000) + 0.0


class BatchedStreamHandler(logging.StreamHandler):
    """A StreamHandler that writes its lines in batches (see the module docstring).

    Args:
        stream: where lines go (stderr by default).
        interval: seconds the first line of a batch may wait (0: every line written at once).
        max_bytes: characters waiting that have the batch written at once.
    """

    def __init__(self, stream=None, interval=FLUSH_INTERVAL_SECONDS, max_bytes=FLUSH_BYTES):
        super().__init__(stream)
        self.interval = interval
        self.max_bytes = max_bytes
        self._lines = []
        self._size = 0
        self._due = None  # set by the first line of a batch; None until this process's thread runs
        _HANDLERS.add(self)
        self._closed = False

    def emit(self, record):
        """Queue the record's line; write the batch now for a WARNING or worse, or a full batch.

        ``Handler.handle`` calls this holding the handler's lock.
        """
        try:
            self._queue(self.format(record), record.levelno)
        except Exception:  # noqa: BLE001 - as StreamHandler.emit: reported, never raised to the caller
            self.handleError(record)

    def write_fields(self, name, message, fields):
        """Queue the INFO line a record of logger ``name`` with ``message`` and ``fields`` would make.

        The same line as through ``Logger.handle`` without making the LogRecord: for the
        access line, when this handler alone receives it (``sole_handler``).
        """
        line = self.formatter.format_fields(time.time(), "INFO", name, message, fields)
        with self.lock:
            try:
                self._queue(line, logging.INFO)
            except Exception:  # noqa: BLE001 - as emit
                self.handleError(logging.makeLogRecord({"name": name, "msg": message}))

    def _queue(self, line, level):
        """Add ``line``; write the batch now for a WARNING or worse, or a full batch (holding the lock)."""
        threaded = self._due is not None or self._start()
        lines = self._lines
        lines.append(line)
        self._size += len(line) + 1
        if level >= logging.WARNING or self._size >= self.max_bytes or self.interval <= 0 or not threaded:
            self._write()
        elif len(lines) == 1:
            self._due.set()  # the first line of a batch: the thread writes it in ``interval``

    def flush(self):
        """Write every waiting line and flush the stream."""
        with self.lock:
            self._write()

    def close(self):
        """Write what waits, then close as ``StreamHandler`` does (the stream stays open)."""
        try:
            self.flush()
        finally:
            self._closed = True
            if self._due is not None:
                self._due.set()  # its thread wakes up and ends
            super().close()

    def _write(self):
        if self._lines:
            text = self.terminator.join(self._lines) + self.terminator
            self._lines = []
            self._size = 0
            self.stream.write(text)
        if self.stream and hasattr(self.stream, "flush"):
            self.stream.flush()

    def _start(self):
        """Start this process's writer thread; False when none can start (the interpreter is exiting)."""
        due = threading.Event()
        try:
            threading.Thread(target=self._run, args=(due,), name="sonicpy-log-flush", daemon=True).start()
        except RuntimeError:  # no new thread at shutdown: the caller writes its line at once
            return False
        self._due = due
        return True

    def _forked(self):
        """In a forked child: the parent writes the lines it queued, and the child needs a thread of its own."""
        self._lines = []
        self._size = 0
        self._due = None

    def _run(self, due):
        while not self._closed:
            due.wait()
            time.sleep(self.interval)
            due.clear()  # before writing: a line queued from here on sets it again
            try:
                self.flush()
            except Exception:  # noqa: BLE001 - a broken stream must not end the thread
                if logging.raiseExceptions:
                    traceback.print_exc(file=sys.__stderr__)


def sole_handler(logger):
    """The BatchedStreamHandler that alone handles ``logger``'s INFO records, with one of this
    module's formatters and no filter on the way; else None (the record must be made).
    """
    if logger.disabled:  # Logger.handle drops every record of a disabled logger
        return None
    found = None
    current = logger
    while current is not None:
        if current.filters:
            return None
        for handler in current.handlers:
            if found is not None or type(handler) is not BatchedStreamHandler:
                return None
            found = handler
        if not current.propagate:
            break
        current = current.parent
    if found is None or found.filters or found.level > logging.INFO or type(found.formatter) not in _FORMATTERS:
        return None
    return found


def configure_logging(config, stream=None):
    """Send the ``sonicpy`` loggers to ``stream`` (stderr): JSON outside the default env, text in it.

    Returns:
        The handler installed (replacing one installed before).
    """
    handler = BatchedStreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter() if config.env_name is not None else TextFormatter())
    logger = logging.getLogger("sonicpy")
    for old in [h for h in logger.handlers if getattr(h, "sonicpy_handler", False)]:
        logger.removeHandler(old)
        old.close()  # writes the lines it still holds
    handler.sonicpy_handler = True
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logging.getLogger(ACCESS_LOGGER).setLevel(logging.INFO if access_log_enabled(config) else logging.WARNING)
    return handler


_FORMATTERS = (TextFormatter, JsonFormatter)
_HANDLERS = weakref.WeakSet()  # every BatchedStreamHandler of the process, for a fork
os.register_at_fork(after_in_child=lambda: [handler._forked() for handler in list(_HANDLERS)])


_server_logs_requests = [False]


def server_logs_requests():
    """Note that this process's server writes a line per request (``serve``'s and ``dev``'s gunicorn)."""
    _server_logs_requests[0] = True


def access_log_enabled(config):
    """Whether ``config``'s ``ACCESS_LOG`` var keeps the per-request line; when it is not set,
    whether no server writes its own (``server_logs_requests``)."""
    value = flag_setting(config, ACCESS_LOG_VAR, None) if hasattr(config, "setting") else None
    if value is None:
        return not _server_logs_requests[0]
    return value
