"""One guard at the request boundary against oversized query strings, NUL and other
control characters.

A query string over ``MAX_QUERY_STRING_LENGTH`` characters (as sent, percent-encoded) is
a 400 naming the limit. The limit sits below gunicorn's request line limit (8190 bytes,
method, path and protocol included), so that a client gets this API's error envelope
rather than the server's bare refusal, and so that behind any other server a query's
total size stays bounded as well.

PostgreSQL can neither store nor compare a NUL character (the driver refuses such a
parameter outright), and nothing the API takes in a path or a query string has a use for
control characters. They are refused here, once, before any resource runs, instead of in
each resource that might pass one to the database:

* in the path and in the query string (names and values, after percent-decoding): 400;
* in the strings and keys of a JSON or URL-encoded body, once decoded: 422 naming the
  field, like any other invalid field. Only NUL is refused in bodies: their text may
  carry other control characters (tabs and newlines in a document), which every database
  stores as they are.

A JSON integer too large for a double (past about 1.8e308) is refused in bodies too, 422
naming the field, as the JSON decoder refuses such a float: SQLite reads it back as
infinity, so it would sort and page differently from PostgreSQL, which reads it exactly
(``app.services.numbers``, whose rule also bounds the numbers typed into forms).

A URL-encoded body is ASCII whose percent-escapes write UTF-8 text, as a browser encodes a
form: a raw byte past ASCII, or escapes that are no UTF-8 (``%E9``, a Latin-1 "é"), are a
malformed body (400), never text with U+FFFD put in place of what was sent. The query
string follows the same rule for its escapes: a name or value whose bytes, escapes decoded,
are no UTF-8 text is a 400 naming the parameter (by its name as sent, in ASCII, when the name
itself is the one refused), checked before any route reads it; the message never repeats
what was sent. Raw bytes (some clients send a query unescaped) are read as their escapes
would be (``Utf8QueryRequest``): UTF-8 text as the text it writes, other bytes refused. A path
whose bytes, escapes decoded, are no UTF-8 text is refused too (400), never routed with U+FFFD.

Multipart uploads are read part by part by the media API, which checks their text fields.
"""

import re
from urllib.parse import unquote_to_bytes

import falcon
import falcon.media

from app.api.errors import APIError, bad_request, invalid_param
from app.services.numbers import NUMBER_MESSAGE, out_of_range

# C0 controls and DEL; tab, line feed and carriage return pass (pasted search text).
CONTROL_CHARACTERS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
# What can decode to one of those in a query string: the character itself or its
# percent-escape (UTF-8 never encodes them inside a longer sequence). A query string
# without either needs no look at its decoded parameters.
MAYBE_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]|%(?:0[0-8bcefBCEF]|1[0-9a-fA-F]|7[fF])")
NUL = "\x00"
URL_MESSAGE = "NUL and other control characters are not allowed"
BODY_MESSAGE = "NUL characters are not allowed"
MAX_QUERY_STRING_LENGTH = 6144
NOT_UTF8 = "its percent-escapes must write UTF-8 text, as a browser encodes a form"
URL_NOT_UTF8 = "its bytes and percent-escapes must write UTF-8 text, as a browser encodes a URL"
# What can make a query string no UTF-8 text: an escape of a byte past ASCII (raw ones are
# escaped before: ``Utf8QueryRequest``). A query string without one needs no look at its parts.
MAYBE_NOT_UTF8 = re.compile(r"%[89a-fA-F][0-9a-fA-F]")
# Falcon reads a path's bytes that are no UTF-8 as this character; only a path holding it
# needs a look at the bytes sent.
REPLACEMENT = "\ufffd"


class RequestGuard:
    """Middleware: 400 for a query string too long or not UTF-8 text, or a path or query string
    holding a control character."""

    def process_request(self, req, resp):
        sent = req.sent_query_length
        if sent > MAX_QUERY_STRING_LENGTH:
            raise bad_request(
                "Query string too long",
                f"a query string takes at most {MAX_QUERY_STRING_LENGTH} characters, not {sent}",
            )
        refused = not_utf8_parameter(req.query_string)
        if refused is not None:
            raise invalid_param(refused, URL_NOT_UTF8)
        if CONTROL_CHARACTERS.search(req.path):
            raise bad_request("Invalid path", URL_MESSAGE)
        if REPLACEMENT in req.path and not _is_utf8(req.env.get("PATH_INFO", "")):
            raise bad_request("Invalid path", URL_NOT_UTF8)
        if not MAYBE_CONTROL.search(req.query_string):
            return
        for name, value in req.params.items():
            values = value if isinstance(value, list) else [value]
            if any(CONTROL_CHARACTERS.search(text) for text in [name, *values]):
                raise invalid_param(name, URL_MESSAGE)


class Utf8QueryRequest(falcon.Request):
    """A Request reading a query string's raw bytes past ASCII as the UTF-8 text they write,
    as it reads escapes. The WSGI server hands the query over as Latin-1 text of the bytes
    sent, which Falcon would take character by character (a raw ``café`` read as ``cafÃ©``);
    each such byte is escaped first, so it is decoded, or refused by ``RequestGuard``, as its
    escape would be."""

    __slots__ = ("sent_query_length",)

    def __init__(self, env, options=None):
        query = env.get("QUERY_STRING", "")
        # Its length as sent, which the guard limits: escaping a raw byte makes it three.
        self.sent_query_length = len(query)
        if not query.isascii():
            env["QUERY_STRING"] = escaped_past_ascii(query)
        super().__init__(env, options)


def escaped_past_ascii(text):
    """``text`` (Latin-1 text of the bytes sent, as the WSGI server hands a query string over)
    with each byte past ASCII percent-escaped: what a browser would have sent, so no raw byte
    is read, logged or shown."""
    return "".join(char if char.isascii() else f"%{ord(char):02X}" for char in text)


def not_utf8_parameter(query_string):
    """The name of the first parameter of ``query_string`` whose name or value is no UTF-8 text
    once its escapes are decoded (Falcon would read it with U+FFFD in place of what was sent),
    or None. A name refused itself is given as sent (``s%E9``, a raw byte escaped): decoded
    it would be one of those U+FFFD, and the error and its logs stay ASCII."""
    if not MAYBE_NOT_UTF8.search(query_string):
        return None
    for field in query_string.split("&"):  # Falcon's separator: the names it reads
        name, _, value = field.partition("=")
        try:
            decoded_name = _decoded(name)
        except UnicodeError:
            return escaped_past_ascii(name)
        try:
            _decoded(value)
        except UnicodeError:
            return decoded_name
    return None


def _is_utf8(path_info):
    """Whether ``path_info`` (Latin-1 text of the path's bytes, escapes decoded by the WSGI
    server) is UTF-8 text, rather than bytes Falcon would read with U+FFFD in their place."""
    try:
        path_info.encode("latin-1").decode("utf-8")
    except UnicodeError:
        return False
    return True


def _decoded(part):
    """A query string's name or value (Latin-1 text of the bytes sent) as text: its bytes,
    escapes decoded, read as UTF-8. UnicodeError when they are no UTF-8 (or a character past
    Latin-1 is there, which no WSGI server hands over)."""
    return unquote_to_bytes(part.replace("+", " ").encode("latin-1")).decode("utf-8")


class RefusedBody(APIError):
    """422 naming the field of a decoded body that holds a value no database stores
    (``refused_value``), like any other invalid field.

    It keeps the body as decoded (``media``): a route that answers with what was sent, such as
    a form's page showing the values typed, still has them, since the request re-raises this
    refusal on every later read of its media.
    """

    def __init__(self, path, message, media):
        super().__init__(falcon.HTTP_422, "Validation failed", [{"field": path or None, "message": message}])
        self.media = media


def _texts(raw):
    """A posted name's texts: one, or each of a repeated name's."""
    return raw if isinstance(raw, list) else [raw]


def nul_problems(form, prefix="", as_shown=False):
    """A problem for each name of a posted ``form`` (``{name: str or [str, ...]}``) that holds
    NUL or whose texts do, at ``prefix + name``: the name as sent, as a JSON body's refusal
    names it, or with ``as_shown`` as a page shown again names it (without its NULs)."""
    return [{"field": prefix + (name.replace(NUL, "") if as_shown else name), "message": BODY_MESSAGE}
            for name, raw in form.items() if any(NUL in text for text in [name, *_texts(raw)])]


def without_nul(form):
    """A posted ``form`` with its NULs taken out of names and texts: what a page shows again (a
    NUL is invisible where it was pasted; the sender keeps the rest of what was typed, and
    never gets one back in the HTML)."""
    shown = {}
    for name, raw in form.items():
        texts = [text.replace(NUL, "") for text in _texts(raw)]
        shown[name.replace(NUL, "")] = texts if isinstance(raw, list) else texts[0]
    return shown


class NulGuardedHandler(falcon.media.BaseHandler):
    """A request media handler that refuses a decoded body holding NUL (or a number past a
    double's range): 422 naming the field.

    It wraps the handler that decodes the body, so the check runs where the body is read
    (after the route's access rule and size limit), on the decoded values: ``"\\u0000"``
    in JSON is caught as surely as a raw byte.

    Args:
        handler: the handler that decodes the body (JSON, URL-encoded form).
    """

    def __init__(self, handler):
        self._handler = handler
        self.exhaust_stream = handler.exhaust_stream

    def deserialize(self, stream, content_type, content_length):
        media = self._handler.deserialize(stream, content_type, content_length)
        refused = refused_value(media)
        if refused is not None:
            path, message = refused
            raise RefusedBody(path, message, media)
        return media


def refused_value(media):
    """``(path, message)`` of the first value of ``media`` no database stores as given: a
    string or key holding NUL, or a number past a double's range (``numbers.out_of_range``);
    the path reads ``a.b[0]`` (``""`` for the top-level value itself). None when there is
    none (iterative: no depth limit)."""
    stack = [(media, "")]
    while stack:
        value, path = stack.pop()
        if isinstance(value, str):
            if NUL in value:
                return path, BODY_MESSAGE
        elif isinstance(value, dict):
            for key, item in value.items():
                child = f"{path}.{key}" if path else str(key)
                if NUL in str(key):
                    return child, BODY_MESSAGE
                stack.append((item, child))
        elif isinstance(value, list):
            stack.extend((item, f"{path}[{i}]") for i, item in enumerate(value))
        elif out_of_range(value):
            return path, NUMBER_MESSAGE
    return None


class Utf8FormHandler(falcon.media.URLEncodedFormHandler):
    """Falcon's URL-encoded form handler, but for percent-escapes that write no UTF-8 text:
    falcon's decoding puts U+FFFD in their place, so what was sent would be stored as other
    text; they are a malformed body (``falcon.MediaMalformedError``, 400), as a raw byte past
    ASCII already is."""

    def _deserialize(self, body):
        media = super()._deserialize(body)  # a raw byte past ASCII is refused there
        try:
            # Names, values and their separators are ASCII, which no UTF-8 sequence holds: the
            # body decodes whole exactly when each of its names and values does.
            unquote_to_bytes(body).decode("utf-8")
        except UnicodeDecodeError:
            raise falcon.MediaMalformedError("URL-encoded") from ValueError(NOT_UTF8)
        return media


def guard_request_bodies(app, json_handler):
    """Decode JSON bodies with ``json_handler`` and URL-encoded ones strictly
    (``Utf8FormHandler``); refuse NUL in both."""
    app.req_options.media_handlers.update({
        falcon.MEDIA_JSON: NulGuardedHandler(json_handler),
        falcon.MEDIA_URLENCODED: NulGuardedHandler(Utf8FormHandler()),
    })
