"""Request log rows held per worker process and written in batches by a background thread.

Writing one ``system_logs`` row per request cost most of a cached hit's time, and on SQLite
each row took the write lock that content writes need. Rows are therefore queued in memory
(the request log queues each request's record and time: its row's values are built by the
writer, off the request) and written together: one transaction (a few multi-row INSERTs) per flush, when
``max_rows`` rows are waiting or the oldest has waited ``max_age_ms``, by a thread started
on the first row of each process.

* Bounded: past ``capacity`` waiting rows the oldest is dropped; the first drop is logged at
  once and the count at the next flush, so memory never grows while the database is down.
* Never fails a request: the hook only appends; a failing write is logged (with the count
  and some request ids) and its rows are dropped, since retrying a broken table forever
  would only fill the buffer.
* Nothing queued is lost on a clean stop: the process flushes at exit (``atexit``, which
  runs when a gunicorn worker finishes its graceful shutdown), waiting for a batch the
  thread is writing. A killed process (SIGKILL, a crash) loses at most the rows waiting.
* Fork-safe: the buffer, its locks and its thread belong to the process that made them
  (keyed by pid), so a forked worker starts with an empty buffer of its own.
* Rows remember the database their request used: a process serving several envs writes
  each row where its request would have.
"""

import atexit
import logging
import os
import threading
import time
from collections import deque

log = logging.getLogger("sonicpy.request_logs")

DEFAULT_MAX_ROWS = 100
DEFAULT_MAX_AGE_MS = 1000
DEFAULT_CAPACITY = 5_000  # about 5 MB of rows at most per process


class LogBuffer:
    """Rows waiting to be written, and the thread that writes them.

    Args:
        write: ``write(db, rows)`` writes ``rows`` to ``db`` in one transaction (the request
            log queues ``(RequestRecord, created_at)`` pairs; any value the writer takes will do).
        max_rows: waiting rows that trigger a flush at once.
        max_age_ms: how long the oldest waiting row may wait.
        capacity: the most rows kept waiting; past it the oldest are dropped.
        clock: monotonic seconds (tests may pass their own).
    """

    def __init__(self, write, max_rows=DEFAULT_MAX_ROWS, max_age_ms=DEFAULT_MAX_AGE_MS,
                 capacity=DEFAULT_CAPACITY, clock=time.monotonic):
        if min(max_rows, capacity) < 1 or max_age_ms < 0:
            raise ValueError("max_rows and capacity must be at least 1, max_age_ms not negative")
        self._write = write
        self.max_rows, self.max_age_ms, self.capacity = max_rows, max_age_ms, capacity
        self._clock = clock
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        # Held while a batch is written: a flush at exit waits for the thread's batch.
        self._writing = threading.Lock()
        self._rows = deque()
        self._oldest = None
        self._dropped = 0
        self._thread = None

    def add(self, db, row):
        """Queue ``row`` for ``db``; never blocks on the database."""
        with self._lock:
            if len(self._rows) >= self.capacity:
                self._rows.popleft()
                self._dropped += 1
                if self._dropped == 1:
                    log.warning("request-logs: %d rows waiting, dropping the oldest (the database is not keeping up)",
                                self.capacity)
            self._rows.append((db, row))
            if self._oldest is None:
                self._oldest = self._clock()
                self._wake.notify()
            elif len(self._rows) == self.max_rows:
                # Once, as the batch fills: the thread re-checks under the lock before it
                # waits, so it cannot miss it, and a notify per further row (while the thread
                # waits for the interpreter to get to it) would only cost the requests.
                self._wake.notify()
            if self._thread is None:
                self._start_thread()

    def pending(self):
        """How many rows are waiting."""
        with self._lock:
            return len(self._rows)

    def flush(self):
        """Write every waiting row now, in the calling thread; returns how many were taken.

        A failing write is logged and its rows dropped; nothing is raised.
        """
        with self._writing:
            with self._lock:
                taken, self._rows, self._oldest = list(self._rows), deque(), None
                dropped, self._dropped = self._dropped, 0
            if dropped:
                log.warning("request-logs: %d rows were dropped while the buffer was full", dropped)
            for db, rows in _by_database(taken):
                self._write_logged(db, rows)
            return len(taken)

    def _write_logged(self, db, rows):
        try:
            self._write(db, rows)
        except Exception:  # any failure of the log store must stay out of requests and the exit
            ids = ", ".join(str(_request_id(row)) for row in rows[:3])
            log.exception("request-logs: writing %d rows failed (requests %s%s); they are dropped",
                          len(rows), ids, ", ..." if len(rows) > 3 else "")

    def _start_thread(self):
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="request-logs-flush", daemon=True)
            self._thread.start()

    def _run(self):
        while True:
            with self._lock:
                while not self._due():
                    self._wake.wait(self._wait_seconds())
            self.flush()

    def _due(self):
        if not self._rows:
            return False
        return len(self._rows) >= self.max_rows or self._clock() - self._oldest >= self.max_age_ms / 1000

    def _wait_seconds(self):
        """None (until a row arrives) when empty, else until the oldest row is due."""
        if self._oldest is None:
            return None
        return max(0.0, self._oldest + self.max_age_ms / 1000 - self._clock())


def _request_id(row):
    """The request id of a queued row: a dict with ``request_id``, or a ``(RequestRecord, time)`` pair."""
    if isinstance(row, dict):
        return row.get("request_id")
    return getattr(row[0], "request_id", None)


def _by_database(taken):
    """``[(db, rows)]`` in the order the databases first appear."""
    groups = {}
    for db, row in taken:
        groups.setdefault(id(db), (db, []))[1].append(row)
    return list(groups.values())


_BUFFERS = {}
_EXIT_HOOK = []


def process_buffer(write):
    """This process's buffer (made on first use, with ``write`` as its writer and a flush at exit)."""
    pid = os.getpid()
    buffer = _BUFFERS.get(pid)
    if buffer is None:
        # setdefault is atomic: of two threads racing here one buffer wins, and the other,
        # which started no thread yet, is dropped. No lock, so none can be inherited held.
        buffer = _BUFFERS.setdefault(pid, LogBuffer(write))
        if not _EXIT_HOOK:
            # Once per program: a forked child inherits it, and it flushes whichever process exits.
            _EXIT_HOOK.append(True)
            atexit.register(flush_process_buffer)
    return buffer


def flush_process_buffer():
    """Flush this process's buffer, if it has one; returns how many rows were taken."""
    buffer = _BUFFERS.get(os.getpid())
    return buffer.flush() if buffer is not None else 0
