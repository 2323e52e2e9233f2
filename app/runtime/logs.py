"""Process logs: one JSON object a line outside the default environment, readable text in it.

``configure_logging(config)`` runs when a server loads the app (``served_app``). Every
``sonicpy.*`` logger then writes to stderr: in production as JSON (``time``, ``level``,
``logger``, ``message``, plus ``request_id``, ``method``, ``path``, ``status`` and
``duration_ms`` when the record carries them, and ``exception`` with the traceback), so a
log shipper reads fields instead of parsing text; in the default (development)
environment as one readable line. ``sonicpy.access`` logs one line per request unless the
``ACCESS_LOG`` var is false: behind ``serve`` or ``dev``, gunicorn's own access line already
says the same (with the request id), and a line per request is a measurable share of a
cached hit's time.
"""

import json
import logging
import sys
import time

ACCESS_FIELDS = ("request_id", "method", "path", "status", "duration_ms")
ACCESS_LOGGER = "sonicpy.access"
ACCESS_LOG_VAR = "ACCESS_LOG"
FALSE_WORDS = {"0", "false", "no", "off"}
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class JsonFormatter(logging.Formatter):
    """A record as one JSON object on one line."""

    def format(self, record):
        entry = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for field in ACCESS_FIELDS:
            if hasattr(record, field):
                entry[field] = getattr(record, field)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def configure_logging(config, stream=None):
    """Send the ``sonicpy`` loggers to ``stream`` (stderr): JSON outside the default env, text in it.

    Returns:
        The handler installed (replacing one installed before).
    """
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter() if config.env_name is not None else logging.Formatter(TEXT_FORMAT))
    logger = logging.getLogger("sonicpy")
    for old in [h for h in logger.handlers if getattr(h, "sonicpy_handler", False)]:
        logger.removeHandler(old)
    handler.sonicpy_handler = True
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logging.getLogger(ACCESS_LOGGER).setLevel(logging.INFO if access_log_enabled(config) else logging.WARNING)
    return handler


def access_log_enabled(config):
    """Whether ``config``'s ``ACCESS_LOG`` var (default true) keeps the per-request line."""
    setting = getattr(config, "setting", None)
    value = setting(ACCESS_LOG_VAR) if setting is not None else None
    return value is None or str(value).strip().lower() not in FALSE_WORDS
