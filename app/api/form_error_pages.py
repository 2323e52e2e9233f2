"""A browser's HTML form refused: a page saying so, not JSON.

Some routes outside the admin's pages take a browser's form post: the page of a mailed
sign-in link posts its button there (``/auth/magic-link/verify``), SonicJS's sign-in forms
post to ``/auth/login/form`` and ``/auth/register/form``, its password-reset pages to
``/auth/request-password-reset`` and ``/auth/reset-password``, a public form's page to itself
(``/forms/{name}``), a page on any site to a form's submit route (``/forms/{name}/submit``).
Such a post may be refused before the route answers: by the rate limit (429, with
``Retry-After``) or by the cross-origin check (403); or by the route itself, for what was
typed (400, 422). The browser would then show the JSON envelope as text. A resource names the
refusals a browser's form sees as a page (``browser_form_refusals = frozenset({403, 429})``):
unless the route answered a page of its own (the public form's page shows itself again), this
middleware answers the app's error page (the admin's ``error.html`` in the sign-in pages'
layout), with the same status and headers. A 400 or 422 page says what the envelope says (its
``error``, and each problem of its ``details``). Every such page links to the resource's
``browser_form_page`` when it names one: the admin's page of the same form, to try again.

Whether a request gets the page is read from the request (``is_browser_form_post``: a form
body, and a navigation that prefers HTML): a script or an API client posting to the same
route keeps the JSON envelope. The admin's own pages answer their refusals themselves.
"""

import falcon

from app.api.cross_origin import refused_cross_origin
from app.api.errors import envelope_lines
from app.api.sign_in_redirect import is_browser_form_post

REFUSALS_ATTR = "browser_form_refusals"
FORM_PAGE_ATTR = "browser_form_page"
TEMPLATE = "error.html"
JSON = "application/json"
# The refusals a visitor's form may see as a page (a 403 only when the cross-origin check
# made it), and the title of each.
TITLES = {400: "Bad request", 403: "Forbidden", 422: "Invalid input", 429: "Too many requests"}
# The route's own refusals of what was typed: the page says what the envelope says.
OF_THE_FORM = frozenset({400, 422})
CROSS_ORIGIN = "The form did not come from this site. Go back to the page, reload it and try again."
# A limit may count the visitor's address, the account a form names (a reset request counts
# both) or a public form's posts: the sentence fits each, and names none of them.
TOO_MANY = "Too many attempts. Try again in {wait}"  # a page ends the sentence


def browser_form_refusals(resource):
    """The statuses (of ``TITLES``) a browser's form post to ``resource`` sees as a page."""
    return getattr(resource, REFUSALS_ATTR, frozenset())


def _shown_as_page(req, code, refusals):
    return code in refusals and (code != 403 or refused_cross_origin(req))


def too_many_message(retry_after):
    """What a page says of a 429 whose ``Retry-After`` is ``retry_after`` (None: not said)."""
    wait = "1 second" if retry_after == "1" else f"{retry_after} seconds" if retry_after else "a moment"
    return TOO_MANY.format(wait=wait)


def _message(code, resp):
    return CROSS_ORIGIN if code == 403 else too_many_message(resp.get_header("Retry-After")) + "."


class FormErrorPages:
    """Middleware: the error page instead of the JSON refusal (of ``TITLES``) of a browser's form post.

    Args:
        pages: the app's ``PublicPages`` (``Services.pages``), which renders the page.
    """

    def __init__(self, pages):
        self._pages = pages

    def process_response(self, req, resp, resource, req_succeeded):
        refusals = browser_form_refusals(resource) if resource is not None else ()
        if not refusals:
            return
        code = falcon.http_status_to_code(resp.status)
        if not _shown_as_page(req, code, refusals) or not (resp.content_type or "").startswith(JSON):
            return
        if not is_browser_form_post(req):
            return
        values = {"message": _message(code, resp), "retry": getattr(resource, FORM_PAGE_ATTR, None)}
        if code in OF_THE_FORM:
            lines = envelope_lines(resp)  # the envelope's reason, then each of its details
            values["message"], values["reasons"] = (lines[0], lines[1:]) if lines else (TITLES[code], [])
        resp.media = None
        resp.data = None
        # The status, Retry-After and the quota headers stay; the page brings its own policy.
        self._pages.page(req, resp, TEMPLATE, status=resp.status, title=TITLES[code], **values)
