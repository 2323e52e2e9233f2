"""Responses that no cache may keep: tokens and personal data.

A shared cache (a CDN, a corporate proxy) or the browser's own disk cache must not store
a response carrying a session or API token or someone's account details, so those
responders are decorated with ``@no_store`` (under their ``@access`` rule).
"""

import falcon

NO_STORE = "no-store"


def _mark_no_store(req, resp, resource, *args):
    resp.cache_control = [NO_STORE]


def no_store(responder):
    """Decorate ``responder`` so that its response carries ``Cache-Control: no-store``."""
    return falcon.after(_mark_no_store)(responder)
