"""The ``AI`` binding: an OpenAI-compatible embeddings endpoint, declared as wrangler declares Workers AI.

bindings.toml names it with wrangler's one table (not an array of tables), plus the keys that
say where the model is, since sonicpy runs on its users' servers::

    [ai]
    binding = "AI"
    url = "http://127.0.0.1:11434/v1"      # the base URL: requests go to {url}/embeddings
    model = "nomic-embed-text"
    api_key_env = "AI_API_KEY"             # optional: the variable holding the key
    dimensions = 768                       # optional: asked for, and checked in every answer
    timeout = 30                           # optional: seconds a whole request may take
    connect_timeout = 5                    # optional: seconds to wait for a connection
    batch_size = 32                        # optional: texts per request (at most 256)
    max_input_chars = 8000                 # optional: characters of an item's text sent

The protocol is ``POST {url}/embeddings`` with ``{"model", "input": [texts]}``, answered
``{"data": [{"index", "embedding": [floats]}]}``: Ollama, OpenAI, vLLM, LocalAI and
Cloudflare's Workers AI OpenAI-compatible endpoint all speak it. The key, when there is one,
goes in ``Authorization: Bearer``; it is never written in a message or a log line. A
``user:password@`` in the URL is sent as Basic auth (when there is no key), never as part of
the URL (httpx logs each request's URL at INFO).

An answer 400, 413 or 422 says the model refused what it was sent (a text too long for it,
an empty one): ``EmbeddingRefused``, so a caller can tell one bad text from a model that is
down. Any other failure is ``EmbeddingUnavailable``. ``timeout`` bounds a whole request: the
clock is checked while the answer is read, so a server trickling bytes is cut off too (one
read still waits at most ``timeout``). The outcome of the last request is kept
(``last_outcome``), so ``/health`` can report the model without calling it.

The client ignores HTTP(S)_PROXY, NO_PROXY and SSL_CERT_FILE (``trust_env=False``): a
model on the loopback or the private network is reached directly whatever the process's
proxy settings; a model behind a private CA needs its certificate in the system store.

httpx is the HTTP client: already installed with the project (Datasette depends on it), with
separate connect and read timeouts and a connection pool that is safe to share between a
worker's threads. It is imported on first use, so a process that never embeds never loads it.
"""

import math
import os
import threading
import time
from urllib.parse import urlsplit, urlunsplit

import msgspec

from app.runtime.binding_values import seconds, whole_number

DEFAULT_TIMEOUT = 30.0
DEFAULT_CONNECT_TIMEOUT = 5.0
MAX_TIMEOUT = 600  # seconds: the longest timeout or connect_timeout the binding may set
DEFAULT_BATCH_SIZE = 32
# Characters of an item's text sent to the model: about 2,000 tokens, within what common
# embedding models read (longer texts are cut, not split into chunks).
DEFAULT_MAX_INPUT_CHARS = 8000
MAX_INPUT_CHARS = 1_000_000
# The answers saying the model refused the input itself (too long, empty, malformed), not
# that it is down, unauthorised or rate limited.
REFUSED_STATUSES = frozenset({400, 413, 422})
# Beyond float32: such a value cannot be stored, and squaring it overflows the norm.
MAX_COMPONENT = 3.4e38
MAX_BATCH_SIZE = 256
# An answer bigger than this is refused before it is parsed (a batch of 256 vectors of 8192
# dimensions written as JSON floats is about 50 MiB).
MAX_ANSWER_BYTES = 64 * 1024 * 1024
MAX_DIMENSIONS = 16384
_DETAIL_LENGTH = 200


class EmbeddingUnavailable(Exception):
    """The embeddings model could not answer (unreachable, timed out, refused, malformed)."""


class EmbeddingRefused(EmbeddingUnavailable):
    """The model answered that it cannot embed what it was sent (HTTP 400, 413 or 422)."""


class Embedder:
    """A client of one OpenAI-compatible embeddings endpoint: ``embed(texts)`` gives their vectors.

    Args:
        url: the base URL (``http://host:11434/v1``); requests go to ``{url}/embeddings``.
        model: the model name sent with every request.
        api_key: the key sent as ``Authorization: Bearer``, or None.
        dimensions: the vectors' length, asked for and checked; None: whatever the model gives
            (the same for every vector of an answer).
        timeout: seconds a whole request may take once connected (checked while reading).
        connect_timeout: seconds to wait for the connection.
        batch_size: texts per request; ``embed`` splits longer lists.
        max_input_chars: characters of an item's text the semantic index sends.
    """

    def __init__(self, url, model, api_key=None, dimensions=None, timeout=DEFAULT_TIMEOUT,
                 connect_timeout=DEFAULT_CONNECT_TIMEOUT, batch_size=DEFAULT_BATCH_SIZE, name="AI",
                 max_input_chars=DEFAULT_MAX_INPUT_CHARS):
        parts = urlsplit(url.rstrip("/"))
        self.url = display_url(url.rstrip("/"))
        # Credentials in the URL go as Basic auth, unless a key takes the Authorization header.
        credentials = parts.username or parts.password
        self._auth = (parts.username or "", parts.password or "") if credentials and not api_key else None
        self.max_input_chars = max_input_chars
        # (epoch ms, None or the error message) of the last request, for /health.
        self.last_outcome = None
        self.model = model
        self.dimensions = dimensions
        self.timeout = timeout
        self.connect_timeout = connect_timeout
        self.batch_size = batch_size
        self.name = name
        self._api_key = api_key
        self._client = None
        self._client_pid = None
        self._lock = threading.Lock()

    def __repr__(self):
        return f"Embedder({self.model!r} at {display_url(self.url)!r})"

    def embed(self, texts):
        """The vectors of ``texts``, in their order: ``[[float, ...], ...]``, all of one length.

        Raises:
            EmbeddingUnavailable: the endpoint could not be reached, timed out, refused the
                request or gave an answer of the wrong shape.
        """
        texts = list(texts)
        vectors = []
        for start in range(0, len(texts), self.batch_size):
            vectors += self._embed_batch(texts[start:start + self.batch_size])
        if vectors and any(len(vector) != len(vectors[0]) for vector in vectors):
            raise self._unavailable("answered vectors of different lengths across batches")
        return vectors

    def ping(self):
        """One real round trip: embed one word."""
        self.embed(["ping"])

    def last_known(self):
        """The outcome of this process's last request, without making one: ``(epoch ms, error)``,
        error None when it succeeded; None before the first request."""
        return self.last_outcome

    def describe(self):
        """The model and where it is (no key, no password in the URL)."""
        return f"{self.model} at {display_url(self.url)}"

    def close(self):
        """Release this process's connections (a new client is made on next use)."""
        with self._lock:
            client, self._client = self._client, None
        if client is not None and self._client_pid == os.getpid():
            client.close()

    # ------------------------------------------------------------ one request

    def _embed_batch(self, texts):
        try:
            vectors = self._request(texts)
        except EmbeddingUnavailable as ex:
            self.last_outcome = (_now_ms(), str(ex))
            raise
        self.last_outcome = (_now_ms(), None)
        return vectors

    def _request(self, texts):
        import httpx

        body = {"model": self.model, "input": texts}
        if self.dimensions is not None:
            body["dimensions"] = self.dimensions
        deadline = time.monotonic() + self.timeout
        failure = None
        # The exception is raised outside the except clause, so it keeps no __context__ (the
        # httpx error holds the request, whose headers hold the key).
        try:
            with self._http().stream("POST", f"{self.url}/embeddings", json=body, headers=self._headers(),
                                     auth=self._auth) as answer:
                payload = self._read(answer, deadline)
        except httpx.TimeoutException:
            failure = "did not answer in time"
        except httpx.HTTPError as ex:
            failure = f"could not be reached ({type(ex).__name__})"
        if failure is not None:
            raise self._unavailable(failure)
        return self._vectors(payload, len(texts))

    def _http(self):
        """The process's client: made on first use, and again after a fork (no shared socket)."""
        import httpx

        with self._lock:
            if self._client is None or self._client_pid != os.getpid():
                timeout = httpx.Timeout(self.timeout, connect=self.connect_timeout)
                self._client = httpx.Client(timeout=timeout, follow_redirects=False, trust_env=False)
                self._client_pid = os.getpid()
            return self._client

    def _headers(self):
        headers = {"Accept": "application/json"}
        if self._api_key:
            headers["Authorization"] = f"Bearer {self._api_key}"
        return headers

    def _read(self, answer, deadline):
        """The JSON of ``answer``, read up to ``MAX_ANSWER_BYTES`` before ``deadline`` (monotonic);
        an HTTP error becomes EmbeddingRefused or EmbeddingUnavailable."""
        chunks, size = [], 0
        for chunk in answer.iter_bytes():
            size += len(chunk)
            if size > MAX_ANSWER_BYTES:
                raise self._unavailable(f"answered more than {MAX_ANSWER_BYTES} bytes")
            if time.monotonic() > deadline:
                raise self._unavailable("did not answer in time")
            chunks.append(chunk)
        raw = b"".join(chunks)
        if answer.status_code != 200:
            kind = EmbeddingRefused if answer.status_code in REFUSED_STATUSES else EmbeddingUnavailable
            raise self._unavailable(f"answered HTTP {answer.status_code}{self._detail(raw)}", kind)
        try:
            return msgspec.json.decode(raw)
        except msgspec.DecodeError:
            pass
        raise self._unavailable("answered something that is not JSON")

    def _detail(self, raw):
        """The error message of an error answer, short and without the key: ``": message"`` or ""."""
        try:
            error = msgspec.json.decode(raw).get("error")
        except (msgspec.DecodeError, AttributeError):
            return ""
        message = error.get("message") if isinstance(error, dict) else error
        return f": {self._redact(str(message))[:_DETAIL_LENGTH]}" if message else ""

    def _vectors(self, payload, count):
        """The vectors of ``payload`` in input order, checked: one per text, finite numbers, one length."""
        data = payload.get("data") if isinstance(payload, dict) else None
        if not isinstance(data, list) or len(data) != count:
            found = len(data) if isinstance(data, list) else "no"
            raise self._unavailable(f"answered {found} vectors for {count} texts")
        ordered = [None] * count
        for position, item in enumerate(data):
            index = item.get("index", position) if isinstance(item, dict) else None
            if not isinstance(index, int) or isinstance(index, bool) or not 0 <= index < count or ordered[index]:
                raise self._unavailable("answered vectors with missing or repeated indexes")
            ordered[index] = self._vector(item.get("embedding"))
        lengths = {len(vector) for vector in ordered}
        if len(lengths) != 1:
            raise self._unavailable("answered vectors of different lengths")
        if self.dimensions is not None and lengths != {self.dimensions}:
            raise self._unavailable(f"answered vectors of {lengths.pop()} dimensions, not {self.dimensions}")
        return ordered

    def _vector(self, embedding):
        if not isinstance(embedding, list) or not 0 < len(embedding) <= MAX_DIMENSIONS:
            raise self._unavailable("answered an embedding that is not a list of numbers")
        if not all(isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) for x in embedding):
            raise self._unavailable("answered an embedding with a value that is not a finite number")
        if any(abs(x) > MAX_COMPONENT for x in embedding):
            raise self._unavailable("answered an embedding with a value beyond float32's range")
        return [float(x) for x in embedding]

    def _redact(self, text):
        return text.replace(self._api_key, "[redacted]") if self._api_key else text

    def _unavailable(self, what, kind=EmbeddingUnavailable):
        return kind(f"embeddings model {self.model!r} at {display_url(self.url)} {what}")


def _now_ms():
    return time.time_ns() // 1_000_000


def display_url(url):
    """``url`` without its user and password, for messages and the banner."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = f"[{host}]" if ":" in host else host
    if parts.port:
        netloc += f":{parts.port}"
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def open_ai(table, state_dir, environ):
    """Build the Embedder an ``[ai]`` table of bindings.toml describes.

    Args:
        table: ``binding``, ``url``, ``model``; optional ``api_key_env`` (the name of the
            variable holding the key), ``dimensions``, ``timeout``, ``connect_timeout``,
            ``batch_size``, ``max_input_chars``.
        state_dir: unused (nothing is kept locally).
        environ: where the key's variable is looked up (the process environment over ``.dev.vars``).

    Raises:
        ValueError: a key is missing or has a value it cannot use (the message names it,
            never the key's value).
    """
    name = table.get("binding") or "AI"
    url = table.get("url")
    if not isinstance(url, str) or urlsplit(url).scheme not in ("http", "https") or not urlsplit(url).hostname:
        raise ValueError('url must be an http(s) base URL such as "http://127.0.0.1:11434/v1"')
    model = table.get("model")
    if not isinstance(model, str) or not model:
        raise ValueError('model must name the embeddings model, e.g. "nomic-embed-text"')
    return Embedder(
        url, model, api_key=_api_key(table, environ),
        dimensions=_whole(table, "dimensions", None, 1, MAX_DIMENSIONS),
        timeout=_seconds(table, "timeout", DEFAULT_TIMEOUT),
        connect_timeout=_seconds(table, "connect_timeout", DEFAULT_CONNECT_TIMEOUT),
        batch_size=_whole(table, "batch_size", DEFAULT_BATCH_SIZE, 1, MAX_BATCH_SIZE), name=name,
        max_input_chars=_whole(table, "max_input_chars", DEFAULT_MAX_INPUT_CHARS, 1, MAX_INPUT_CHARS),
    )


def _api_key(table, environ):
    variable = table.get("api_key_env")
    if variable is None:
        return None
    if not isinstance(variable, str) or not variable:
        raise ValueError("api_key_env must name an environment variable")
    if not environ.get(variable):
        raise ValueError(f"api_key_env names {variable}, which is not set")
    return environ[variable]


def _whole(table, key, default, low, high):
    if table.get(key, default) is None:
        return None  # dimensions left out: the model's own
    return whole_number(table, key, default, least=low, most=high)


def _seconds(table, key, default):
    return seconds(table, key, default, most=MAX_TIMEOUT)
