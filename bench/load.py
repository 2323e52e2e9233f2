"""A bounded keep-alive HTTP load generator for the benchmarks (wrk is not used, even when installed).

Each connection is a thread writing prepared request bytes on one socket and reading the
response by its ``Content-Length``; the threads are spread over a few processes so the
client's own interpreter lock does not cap the rate. Every request's latency is kept, so
percentiles are exact. It speaks only what gunicorn answers (HTTP/1.1, Content-Length).
"""

import multiprocessing
import os
import socket
import threading
import time


def get(path, headers=None):
    """A request factory for ``GET path``: the same bytes every time."""
    data = _head("GET", path, headers, 0)
    return lambda n: data


def post_json(path, template, headers=None):
    """A request factory for ``POST path`` with ``template % n`` as the JSON body (``n`` unique per request)."""
    def make(n):
        body = (template % n).encode()
        return _head("POST", path, {**(headers or {}), "Content-Type": "application/json"}, len(body)) + body
    return make


def _head(method, path, headers, length):
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1"]
    lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
    if length or method != "GET":
        lines.append(f"Content-Length: {length}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def drive(port, factory, seconds, connections, processes=2, ok_status=(200,)):
    """Load ``127.0.0.1:port`` for ``seconds`` with ``connections`` keep-alive connections.

    Returns:
        ``{"rate": successful requests/s, "errors": count, "p50_ms", "p99_ms"}``.
    """
    processes = max(1, min(processes, connections))
    shares = [connections // processes + (i < connections % processes) for i in range(processes)]
    deadline = time.time() + seconds
    context = multiprocessing.get_context("fork")  # the factories are closures: inherited, not pickled
    queue = context.Queue()
    children = [context.Process(target=_process, args=(port, factory, deadline, share, ok_status, queue))
                for share in shares]
    for child in children:
        child.start()
    results = [queue.get(timeout=seconds + 120) for _ in children]
    for child in children:
        child.join()
    ok = sum(r[0] for r in results)
    errors = sum(r[1] for r in results)
    latencies = sorted(latency for r in results for latency in r[2])
    return {"rate": ok / seconds, "errors": errors, "p50_ms": _percentile(latencies, 0.50),
            "p99_ms": _percentile(latencies, 0.99)}


def _percentile(values, share):
    if not values:
        return float("nan")
    return values[min(len(values) - 1, int(len(values) * share))] * 1000


def _process(port, factory, deadline, threads, ok_status, queue):
    results = []
    workers = [threading.Thread(target=_connection, args=(port, factory, deadline, ok_status, results,
                                                          (os.getpid() * 100 + n) * 10_000_000))
               for n in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    queue.put((sum(r[0] for r in results), sum(r[1] for r in results), [x for r in results for x in r[2]]))


def _connection(port, factory, deadline, ok_status, results, first_n):
    ok = errors = 0
    latencies = []
    n = first_n
    sock, reader = _connect(port)
    while time.time() < deadline:
        n += 1
        data = factory(n)
        started = time.perf_counter()
        try:
            sock.sendall(data)
            status, close = _read_response(reader)
        except OSError:
            errors += 1
            sock, reader = _connect(port)
            continue
        latencies.append(time.perf_counter() - started)
        if status in ok_status:
            ok += 1
        else:
            errors += 1
        if close:
            sock, reader = _connect(port)
    sock.close()
    results.append((ok, errors, latencies))


def _connect(port):
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock, sock.makefile("rb")


def _read_response(reader):
    status_line = reader.readline()
    if not status_line:
        raise ConnectionResetError("closed")
    status = int(status_line.split()[1])
    length, close = 0, False
    while True:
        line = reader.readline()
        if line in (b"\r\n", b"\n", b""):
            break
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            length = int(value)
        elif name == b"connection" and b"close" in value.lower():
            close = True
    reader.read(length)
    return status, close
