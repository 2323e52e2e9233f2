"""``GET /docs``: Swagger UI over ``/api/openapi.json``, served by the app from a vendored copy.

No CDN: the page and its assets come from ``app/static`` (the pinned Swagger UI build in
``app/static/vendor/``, see its README), so the explorer works offline and under a
Content-Security-Policy that allows scripts from this origin only. The page has no inline
script; a small ``init.js`` starts the UI. Styles allow ``'unsafe-inline'`` because Swagger
UI sets style attributes as it renders; scripts never do.
"""

from pathlib import Path

from app.api.access import access
from app.api.describe import describe
from app.api.errors import not_found

STATIC_DIR = Path(__file__).resolve().parent.parent / "static"
VENDOR_DIR = STATIC_DIR / "vendor" / "swagger-ui-dist-5.35.0"

CSP = "; ".join((
    "default-src 'none'",
    "script-src 'self'",
    "style-src 'self' 'unsafe-inline'",
    "img-src 'self' data:",
    "font-src 'self' data:",
    "connect-src 'self'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
))
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}

# The only files /docs/assets serves: name -> (file, content type).
ASSETS = {
    "init.js": (STATIC_DIR / "docs" / "init.js", "text/javascript; charset=utf-8"),
    "swagger-ui-bundle.js": (VENDOR_DIR / "swagger-ui-bundle.js", "text/javascript; charset=utf-8"),
    "swagger-ui.css": (VENDOR_DIR / "swagger-ui.css", "text/css; charset=utf-8"),
}
PAGE = STATIC_DIR / "docs" / "index.html"


class _Files:
    """File bytes read once per process, on first use."""

    def __init__(self):
        self._read = {}

    def get(self, path):
        if path not in self._read:
            self._read[path] = path.read_bytes()
        return self._read[path]


class DocsPageResource:
    """The explorer page."""

    def __init__(self, files):
        self._files = files

    @access(public=True)
    @describe("The interactive API explorer (Swagger UI)", media_type="text/html")
    def on_get(self, req, resp):
        resp.set_headers(SECURITY_HEADERS)
        resp.content_type = "text/html; charset=utf-8"
        resp.cache_control = ["no-cache"]
        resp.data = self._files.get(PAGE)


class DocsAssetResource:
    """The explorer's scripts and styles (a fixed list; anything else is 404)."""

    def __init__(self, files):
        self._files = files

    @access(public=True)
    @describe("A script or style of the explorer", media_type="text/*")
    def on_get(self, req, resp, name):
        found = ASSETS.get(name)
        if found is None:
            raise not_found()
        path, content_type = found
        resp.set_headers(SECURITY_HEADERS)
        resp.content_type = content_type
        resp.cache_control = ["public", "max-age=3600"]
        resp.data = self._files.get(path)


def register(routes):
    """Mount ``/docs`` and ``/docs/assets/{name}``."""
    files = _Files()
    routes.add("/docs", DocsPageResource(files))
    routes.add("/docs/assets/{name}", DocsAssetResource(files))
