"""Where a ``next`` parameter may send a browser: only to a path on this site.

The API's sign-in link page and the admin's pages take the same guard, so an open redirect
closed in one is closed in both.
"""

from urllib.parse import unquote, urlsplit

MAX_TARGET_LENGTH = 2000  # longer than any page of ours; a longer one is refused, not echoed


def same_site_path(target, default, under="/"):
    """``target`` when it is a path on this site inside ``under``, else ``default``.

    Inside means ``under`` itself, or ``under`` followed by ``/``, ``?`` or ``#`` (a fragment
    stays on the page: ``/admin#recent`` is ``/admin``): ``/adminx``, ``/admin.evil.example``
    and ``/admin%23x`` (an encoded ``#`` is part of the path) are not inside ``/admin``.
    Refused besides, a fragment included: ``//host`` (another site), any backslash (browsers
    read ``/\\host`` as ``//host``), any ``.`` or ``..`` segment of the path, percent-encoded
    or not (the browser resolves them, so ``/admin/../auth`` is outside ``/admin``), a target
    longer than ``MAX_TARGET_LENGTH``, and any control character (browsers drop tabs and
    newlines, so ``/\\t/host`` would be ``//host``). For CR and LF the refusal is hardening:
    Falcon percent-encodes them in ``resp.location``, so they could not split the Location
    header, and refusing them means the header never relies on that.
    """
    if not target or len(target) > MAX_TARGET_LENGTH or not _inside(target, under):
        return default
    if target.startswith("//") or "\\" in target or any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in target):
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or _has_dot_segment(parts.path):
        return default
    return target


def _inside(target, under):
    base = under.rstrip("/")  # "" for "/", so every path is inside it
    return target.startswith("/") and (target == under or target.startswith((base + "/", base + "?", base + "#")))


def _has_dot_segment(path):
    """True when a segment of ``path`` is ``.`` or ``..`` once percent-decoded, as often as it
    decodes (``%2e``, and ``%252e`` for a server that decodes twice)."""
    decoded = unquote(path)
    while decoded != path:
        path, decoded = decoded, unquote(decoded)
    return any(segment in (".", "..") for segment in decoded.split("/"))
