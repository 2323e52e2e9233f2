"""A circuit breaker: after a failure, stop calling a dependency for a while, then probe it.

A dependency that hangs (a frozen memcached, an S3 endpoint that accepts and never answers)
costs every caller its full timeout. The breaker makes that one timeout per period: after a
failure it stays open for ``seconds``; when that time is up, ONE caller is let through as a
probe while the others keep being refused, and the breaker closes when a call succeeds.
"""

import threading
import time


class CircuitBreaker:
    """Whether a dependency may be called now, from the outcome of the previous calls.

    Args:
        seconds: how long the breaker stays open after a failure (and after a probe starts).
        clock: monotonic seconds (tests pass a fake clock to let the time pass).
    """

    def __init__(self, seconds=1.0, clock=time.monotonic):
        self.seconds = seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._failing = False
        self._open_until = 0.0

    @property
    def is_open(self):
        """True while calls are refused (after a failure, or while a probe runs)."""
        return self._clock() < self._open_until

    def remaining(self):
        """Seconds until a caller may be let through again (0 when calls go through now)."""
        return max(0.0, self._open_until - self._clock())

    def allow(self):
        """Whether the caller may call now; once the open time is up, only the first caller is allowed."""
        with self._lock:
            now = self._clock()
            if now < self._open_until:
                return False
            if self._failing:
                # This caller is the probe: the others wait for its outcome.
                self._open_until = now + self.seconds
            return True

    def succeeded(self):
        """A call went through: close the breaker."""
        if self._failing:
            with self._lock:
                self._failing = False
                self._open_until = 0.0

    def failed(self):
        """A call failed (unreachable, timed out): open the breaker for ``seconds``."""
        with self._lock:
            self._failing = True
            self._open_until = self._clock() + self.seconds
