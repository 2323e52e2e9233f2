"""How long a request has taken: the ``X-Response-Time`` header and ``meta.timing``, as SonicJS sends them.

``total`` is the time since the request came in, ``execution`` the part the database took
(every statement of the request, ``app.services.metrics.start_query_clock``), both in
milliseconds with two decimals: SonicJS sends whole milliseconds, which a cached answer
would always round to 0.
"""

import time


def elapsed_ms(context):
    """Milliseconds since the request of ``context`` (``req.context``) came in; 0 before it is timed."""
    started = getattr(context, "started", None)
    return 0.0 if started is None else (time.perf_counter() - started) * 1000


def database_ms(context):
    """Milliseconds the database has taken for the request of ``context`` so far."""
    spent = getattr(context, "query_seconds", None)
    return 0.0 if spent is None else spent[0] * 1000


def response_time(context):
    """The ``X-Response-Time`` value of the request of ``context``: ``"<ms>ms"``."""
    return f"{elapsed_ms(context):.2f}ms"


def timing_json(context):
    """``meta.timing`` of the request of ``context`` as JSON bytes, ``{"total": <ms>,
    "execution": <ms>, "unit": "ms"}``: made without an encoder, for the cached answers'
    splice (and, as ``msgspec.Raw``, for bodies encoded whole)."""
    return b'{"total":%.2f,"execution":%.2f,"unit":"ms"}' % (elapsed_ms(context), database_ms(context))
