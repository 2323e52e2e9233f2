"""A browser's HTML form refused before its route answered: a page saying so, not JSON.

Some routes outside the admin's pages take a browser's form post: the page of a mailed
sign-in link posts its button there (``/auth/magic-link/verify``), SonicJS's sign-in forms
post to ``/auth/login/form`` and ``/auth/register/form``. A resource says so with
``takes_browser_forms = True``. Such a post may be refused before the route answers: by the
rate limit (429, with ``Retry-After``) or by the cross-origin check (403). The browser would
then show the JSON envelope as text; it gets the app's error page instead (the admin's
``error.html`` in the sign-in pages' layout), with the same status and headers.

Whether a request gets the page is read from the request (``is_browser_form_post``: a form
body, and a navigation that prefers HTML): a script or an API client posting to the same
route keeps the JSON envelope. The admin's own pages answer their refusals themselves.
"""

import falcon

from app.api.cross_origin import refused_cross_origin
from app.api.sign_in_redirect import is_browser_form_post

TAKES_FORMS_ATTR = "takes_browser_forms"
TEMPLATE = "error.html"
JSON = "application/json"
# The refusals a visitor's form meets before its route runs (a 403 only when the
# cross-origin check made it), and what the page says of each.
TITLES = {403: "Forbidden", 429: "Too many requests"}
CROSS_ORIGIN = "The form did not come from this site. Go back to the page, reload it and try again."
TOO_MANY = "Too many attempts from this address. Try again in {wait}."


def takes_browser_forms(resource):
    """Whether ``resource`` takes a browser's HTML form post (see the module docstring)."""
    return getattr(resource, TAKES_FORMS_ATTR, False)


def _refused_before_the_route(req, code):
    return code == 429 or (code == 403 and refused_cross_origin(req))


def _message(code, resp):
    if code == 403:
        return CROSS_ORIGIN
    seconds = resp.get_header("Retry-After") or "a moment"
    return TOO_MANY.format(wait="1 second" if seconds == "1" else f"{seconds} seconds")


class FormErrorPages:
    """Middleware: the error page instead of the JSON 403 or 429 of a browser's form post.

    Args:
        pages: the app's ``PublicPages`` (``Services.pages``), which renders the page.
    """

    def __init__(self, pages):
        self._pages = pages

    def process_response(self, req, resp, resource, req_succeeded):
        if resource is None or not takes_browser_forms(resource):
            return
        code = falcon.http_status_to_code(resp.status)
        if not _refused_before_the_route(req, code) or not (resp.content_type or "").startswith(JSON):
            return
        if not is_browser_form_post(req):
            return
        resp.media = None
        resp.data = None
        # The status, Retry-After and the quota headers stay; the page brings its own policy.
        self._pages.page(req, resp, TEMPLATE, status=resp.status, title=TITLES[code], message=_message(code, resp))
