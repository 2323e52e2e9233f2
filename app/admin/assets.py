"""The admin's static files: vendored htmx, Pico and Quill, and the admin's own stylesheet and script.

``GET /admin/static/{path}`` serves only the files found under ``app/admin/static`` when the
app starts (a fixed map, so no request path ever reaches the file system). Vendored files
live in ``vendor/<package>-<version>/`` and the admin's own files are linked with a content
hash (``?v=``), so every URL names one exact content and may be cached for a year.
"""

import functools
import hashlib
import mimetypes
from pathlib import Path

import falcon

from app.api.access import access

STATIC_DIR = Path(__file__).resolve().parent / "static"
URL_PREFIX = "/admin/static/"
LONG_CACHE = "public, max-age=31536000, immutable"
HTMX = "vendor/htmx.org-2.0.4/htmx.min.js"
PICO = "vendor/pico-2.0.6/pico.min.css"
# The content form's HTML editor (fields of type quill or tinymce), linked only where one is.
QUILL_JS = "vendor/quill-2.0.3/quill.js"
QUILL_CSS = "vendor/quill-2.0.3/quill.snow.css"
SERVED_SUFFIXES = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8"}


@functools.cache  # one copy per worker: the admin and the sign-in link's page read the same files
def load_assets(folder=STATIC_DIR):
    """``{relative path: (bytes, content type, short hash)}`` of every servable file under ``folder``
    (read once per folder; never change the mapping)."""
    assets = {}
    for path in sorted(folder.rglob("*")):
        if not path.is_file() or path.suffix not in SERVED_SUFFIXES:
            continue
        body = path.read_bytes()
        name = path.relative_to(folder).as_posix()
        content_type = SERVED_SUFFIXES.get(path.suffix) or mimetypes.guess_type(name)[0]
        assets[name] = (body, content_type, hashlib.sha256(body).hexdigest()[:12])
    return assets


class Assets:
    """The loaded files and their URLs (templates call ``url``)."""

    def __init__(self, folder=STATIC_DIR):
        self.files = load_assets(folder)

    def url(self, name):
        """The URL of asset ``name``; the admin's own files carry their content hash."""
        _, _, digest = self.files[name]
        if name.startswith("vendor/"):
            return URL_PREFIX + name  # the folder name already pins the version
        return f"{URL_PREFIX}{name}?v={digest}"


class StaticResource:
    """``GET /admin/static/{path}``: one of the loaded files, cacheable for a year."""

    def __init__(self, assets):
        self._assets = assets

    @access(public=True)
    def on_get(self, req, resp, path):
        found = self._assets.files.get(path)
        if found is None:
            raise falcon.HTTPNotFound()
        body, content_type, digest = found
        resp.data = body
        resp.content_type = content_type
        resp.set_header("Cache-Control", LONG_CACHE)
        resp.set_header("X-Content-Type-Options", "nosniff")
        resp.etag = f'"{digest}"'
