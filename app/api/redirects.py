"""Where a ``next`` parameter may send a browser: only to a path on this site.

The API's sign-in link page and the admin's pages take the same guard, so an open redirect
closed in one is closed in both.
"""

from urllib.parse import urlsplit


def same_site_path(target, default, under="/"):
    """``target`` when it is a path on this site starting with ``under``, else ``default``.

    Refused besides: ``//host`` (another site), any backslash (browsers read ``/\\host`` as
    ``//host``) and any control character (browsers drop tabs and newlines, so
    ``/\\t/host`` would be ``//host``; a CR or LF would also split the Location header).
    """
    if not target or not target.startswith(under) or target.startswith("//") or "\\" in target:
        return default
    if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in target):
        return default
    parts = urlsplit(target)
    return default if parts.scheme or parts.netloc else target
