"""``tail``: stream the request log of a running deployment, as ``wrangler tail`` does.

Every worker of every host writes its requests to ``system_logs`` (the ``request-logs``
plugin), so tailing the selected environment's database sees all of them. The command
polls that table every ``--interval`` seconds for rows it has not printed yet and prints
each one that passes the filters, until Ctrl-C or SIGTERM (exit 0), or, for scripts,
until ``--max-lines`` rows were printed or, with ``--once``, when the rows written so far
are printed.

A row's ``created_at`` is taken before its transaction commits, so a row can become
visible after a newer one was printed; each poll therefore looks back ``LATE_ROW_MS``
before the newest request row and skips the ids it saw already.
"""

import json
import os
import random
import re
import signal
import sys
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime

import click
import peewee

from app.cli.common import runtime_options
from app.cli.time_travel import parse_timestamp
from app.db.database import release_connection
from app.db.models import DAY_MS, HOUR_MS, SystemLog, bind_models
from app.services.logs import log_json

LATE_ROW_MS = 10_000
PAGE = 500
_STATUS_CLASS = re.compile(r"([1-5])xx")
_STATUS_CODE = re.compile(r"[1-5]\d\d")
_AGO = re.compile(r"(\d+)([smhd])")
_UNIT_MS = {"s": 1000, "m": 60_000, "h": HOUR_MS, "d": DAY_MS}


@dataclass(frozen=True)
class TailFilters:
    """What ``tail`` prints; an empty tuple or None lets everything through.

    Attributes:
        statuses: ``ok`` (below 500), ``error`` (500 and above), a class (``5xx``) or a code.
        methods: HTTP methods, upper case.
        paths: URL path prefixes.
        search: text found in the message or the URL.
        ips: client addresses.
    """

    statuses: tuple = ()
    methods: tuple = ()
    paths: tuple = ()
    search: str | None = None
    ips: tuple = ()

    def conditions(self):
        """Peewee expressions (values bound, never interpolated) for the database to filter on."""
        yield SystemLog.category == "api"
        if self.statuses:
            yield _any(_status_condition(status) for status in self.statuses)
        if self.methods:
            yield SystemLog.method.in_(self.methods)
        if self.paths:
            # SUBSTR compares exactly (paths are case-sensitive; LIKE is not, and treats _ as a wildcard).
            yield _any(peewee.fn.SUBSTR(SystemLog.url, 1, len(path)) == path for path in self.paths)
        if self.search:
            yield SystemLog.message.contains(self.search) | SystemLog.url.contains(self.search)
        if self.ips:
            yield SystemLog.ip_address.in_(self.ips)


def _any(conditions):
    conditions = list(conditions)
    combined = conditions[0]
    for condition in conditions[1:]:
        combined |= condition
    return combined


def _status_condition(status):
    if status == "ok":
        return SystemLog.status_code < 500
    if status == "error":
        return SystemLog.status_code >= 500
    match = _STATUS_CLASS.fullmatch(status)
    if match:
        low = int(match.group(1)) * 100
        return SystemLog.status_code.between(low, low + 99)
    return SystemLog.status_code == int(status)


def check_status(ctx, param, values):
    """``--status`` values, lower case; a value that is none of the accepted forms is a usage error."""
    values = tuple(value.strip().lower() for value in values)
    for value in values:
        if value not in ("ok", "error") and not _STATUS_CLASS.fullmatch(value) and not _STATUS_CODE.fullmatch(value):
            raise click.BadParameter(f"{value!r}: use ok, error, a class such as 5xx, or a code such as 404")
    return values


def parse_since(text):
    """Epoch ms of ``--since``: ``10m``/``2h``/``30s``/``1d`` ago, Unix seconds or RFC 3339."""
    match = _AGO.fullmatch(text.strip())
    if match:
        return round(time.time() * 1000) - int(match.group(1)) * _UNIT_MS[match.group(2)]
    return parse_timestamp(text, param_hint="--since")


@dataclass
class LogCursor:
    """Where the next read starts (``floor_ms``) and the rows already seen since then (``seen``).

    The floor follows the newest request row of any kind, ``LATE_ROW_MS`` behind it, so a
    read covers a few seconds of rows however rarely the filters match.
    """

    floor_ms: int
    seen: dict = field(default_factory=dict)  # id -> created_at, for the rows at or after floor_ms

    def unseen(self, filters):
        """The rows matching ``filters`` not seen yet, oldest first; marks them seen."""
        rows = [row for row in _rows_from(self.floor_ms, filters) if row.id not in self.seen]
        self.seen.update((row.id, row.created_at) for row in rows)
        newest = (SystemLog.select(peewee.fn.MAX(SystemLog.created_at))
                  .where((SystemLog.category == "api") & (SystemLog.created_at >= self.floor_ms)).scalar())
        if newest is not None:
            self.floor_ms = max(self.floor_ms, newest - LATE_ROW_MS)
            self.seen = {key: at for key, at in self.seen.items() if at >= self.floor_ms}
        return rows


def _rows_from(low, filters):
    """Every matching row with ``created_at >= low``, oldest first, read page by page."""
    query = SystemLog.select().order_by(SystemLog.created_at, SystemLog.id)
    for condition in filters.conditions():
        query = query.where(condition)
    page = list(query.where(SystemLog.created_at >= low).limit(PAGE))
    while page:
        yield from page
        if len(page) < PAGE:
            return
        last = page[-1]
        after = (SystemLog.created_at > last.created_at) | (
            (SystemLog.created_at == last.created_at) & (SystemLog.id > last.id))
        page = list(query.where(after).limit(PAGE))


def pretty_line(row):
    """One readable line: time, method, URL, status, duration, client, request id."""
    moment = datetime.fromtimestamp(row.created_at / 1000, UTC).isoformat(timespec="milliseconds")
    parts = [moment.replace("+00:00", "Z"), row.method or "-", row.url or "-", str(row.status_code or "-")]
    if row.duration is not None:
        parts.append(f"{row.duration}ms")
    parts.append(row.ip_address or "-")
    if row.request_id:
        parts.append(f"id={row.request_id}")
    return " ".join(parts)


def json_line(row):
    """The row as ``GET /admin/api/logs`` shows it, on one line."""
    return json.dumps(log_json(row), separators=(",", ":"))


@contextmanager
def _stop_on_signals():
    """An Event set by Ctrl-C or SIGTERM: the loop finishes its poll and the command exits 0.

    A second signal while a poll hangs (a database that stopped answering) interrupts it.
    The previous handlers come back when the command ends.
    """
    stopping = threading.Event()

    def stop(signum, frame):
        if stopping.is_set():
            raise KeyboardInterrupt
        stopping.set()

    previous = {signum: signal.signal(signum, stop) for signum in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield stopping
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


@dataclass
class Printer:
    """Prints rows with ``render``, keeping ``sampling_rate`` of them, until ``max_lines`` were printed."""

    render: object
    sampling_rate: float = 1.0
    max_lines: int | None = None
    printed: int = 0

    def show(self, row):
        """Print ``row`` unless sampled out; True once ``max_lines`` rows were printed."""
        if self.sampling_rate < 1 and random.random() >= self.sampling_rate:
            return False
        click.echo(self.render(row))
        self.printed += 1
        return self.max_lines is not None and self.printed >= self.max_lines


@click.command("tail")
@click.option("--database", default="DB", show_default=True, help="D1 binding (or database_name) holding the logs.")
@click.option("--format", "output_format", type=click.Choice(["pretty", "json"]), default="pretty",
              show_default=True, help="pretty: one readable line a request; json: one JSON object a line.")
@click.option("--status", "statuses", multiple=True, callback=check_status,
              help="ok (below 500), error (500 and above), a class such as 5xx, or a code such as 404; repeatable.")
@click.option("--method", "methods", multiple=True, help="Only this HTTP method (repeatable).")
@click.option("--path", "paths", multiple=True, help="Only URLs starting with this path (repeatable).")
@click.option("--search", default=None, help="Only requests whose message or URL contains this text.")
@click.option("--ip", "ips", multiple=True, help="Only requests from this client address (repeatable).")
@click.option("--sampling-rate", type=click.FloatRange(0, 1), default=1.0, show_default=True,
              help="Print only this share of the matching requests, chosen at random.")
@click.option("--since", default=None,
              help="Start from this point: 10m, 2h, 30s or 1d ago, Unix seconds, or RFC 3339 (default: now).")
@click.option("--interval", type=click.FloatRange(0.2, 30), default=1.0, show_default=True,
              help="Seconds between two reads of the log.")
@click.option("--max-lines", type=click.IntRange(min=1), default=None,
              help="Exit 0 after printing this many requests (for scripts).")
@click.option("--once", is_flag=True, help="Print the requests logged so far (from --since) and exit.")
@runtime_options
def tail(runtime, database, output_format, statuses, methods, paths, search, ips, sampling_rate, since, interval,
         max_lines, once):
    """Stream the environment's request log live, from every worker and host, until Ctrl-C.

    Reads what the request-logs plugin writes to system_logs (4xx and 5xx always; its
    sample_rate and log_config decide about the rest).

    Example: sonicpy tail --env production --status 5xx --method POST --format json
    """
    filters = TailFilters(statuses, tuple(m.upper() for m in methods), paths, search, ips)
    cursor = LogCursor(parse_since(since) if since else round(time.time() * 1000))
    _, d1 = runtime.database(database)
    bind_models(d1.db)
    printer = Printer(json_line if output_format == "json" else pretty_line, sampling_rate, max_lines)
    try:
        with _stop_on_signals() as stopping:
            rows = _poll(d1.db, cursor, filters, first=True)
            # Said once the log was read and the signals are ours: from here Ctrl-C ends it cleanly.
            click.echo(f"Tailing the request log of {database} ({runtime.config.env_label}); Ctrl-C to stop.",
                       err=True)
            _stream(d1.db, cursor, filters, printer, rows, None if once else interval, stopping)
    except BrokenPipeError:
        # The reader went away (`sonicpy tail | head -3`): stop quietly, as a shell tool does.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


def _stream(db, cursor, filters, printer, rows, interval, stopping):
    """Print ``rows``, then those of each poll, until stopped or the printer is done; no polls without ``interval``."""
    while not any(printer.show(row) for row in rows):
        if interval is None or stopping.wait(interval):
            return
        rows = _poll(db, cursor, filters, first=False)


def _poll(db, cursor, filters, first):
    """One read of the log; a database error stops the command on the first read, later ones are retried."""
    try:
        return cursor.unseen(filters)
    except (peewee.DatabaseError, peewee.InterfaceError) as ex:  # a server restarting, a dropped connection
        message = str(ex).strip().splitlines()[0] if str(ex).strip() else type(ex).__name__
        if first:
            raise click.ClickException(f"cannot read the request log: {message} (are the migrations applied?)") \
                from None
        click.echo(f"⚠ reading the request log failed, retrying: {message}", err=True)
        return []
    finally:
        release_connection(db)
