"""Redirects: where a ``next`` parameter may send a browser, and how every redirect answers.

``same_site_path``: only to a path on this site. The API's sign-in link page and the admin's
pages take the same guard, so an open redirect closed in one is closed in both.

``redirect``: every redirect of the app (the admin's, SonicJS's ``/auth/*`` pages, the
sign-in redirect, a mailed link's, a form's) answers its status and ``Location`` with a small
HTML page linking there, as servers answer a redirect for a client that does not follow it:
a browser asked for a page, and an empty body labelled JSON is not one.
"""

from html import escape
from urllib.parse import unquote, urlsplit

import falcon

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


def redirect(resp, location, status=falcon.HTTP_303, lead="Continue to", title="Redirecting", as_sent=False):
    """Answer ``status`` (``303 See Other`` unless told) to ``location``, with a small HTML
    page linking there (``redirect_page``).

    Args:
        resp: the response.
        location: where the browser goes.
        status: the redirect's status.
        lead, title: what the page says before its link, and its title.
        as_sent: set ``location`` as the header as it is: Falcon's ``resp.location`` escapes
            the "%" of escapes already made (a query string passed on as the client sent it).
    """
    resp.status = status
    if as_sent:
        resp.set_header("Location", location)
    else:
        resp.location = location
    resp.content_type = falcon.MEDIA_HTML
    # The link is the header's value, escaped as it was sent: the page leads where the header does.
    resp.text = redirect_page(resp.get_header("Location"), lead, title)


def redirect_page(location, lead="Continue to", title="Redirecting"):
    """The HTML body of a redirect to ``location``: ``lead`` and a link to follow, escaped."""
    href = escape(location, quote=True)
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{escape(title)}</title></head>\n'
            f'<body><p>{escape(lead)} <a href="{href}">{href}</a></p></body></html>\n')
