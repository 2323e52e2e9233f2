"""SonicJS's sign-in pages under ``/auth``, sent on to the admin's own pages.

SonicJS serves HTML at ``GET /auth/login``, ``/auth/register``, ``/auth/reset-password``
and ``/auth/accept-invitation``; links and bookmarks to them, and the mailed links of a
SonicJS install, keep working here: each answers ``303 See Other`` to the admin's page with
the query string kept (``token``, ``next``). The admin has no sign-up page (accounts come
from invitations, or ``POST /auth/register`` for a client of the API), so ``/auth/register``
leads to the sign-in page, as SonicJS's does when registration is closed.

SonicJS's HTML forms post to ``/auth/login/form`` and ``/auth/register/form``. Those posts
cannot be honoured: the admin's forms take a CSRF token such a form never carries, and a
sign-in from a form any site can post would let another site sign a visitor in to an
account of its choosing. They answer ``303`` to the sign-in page, which the browser then
shows: nothing is read, nobody is signed in, the password is dropped.
"""

from urllib.parse import quote

from app.api.access import access
from app.api.describe import REDIRECT_PAGE, Header, describe
from app.api.redirects import redirect

SIGN_IN_PAGE = "/admin/login"


# What a query string may hold as it is: the URI's reserved and unreserved characters, and
# "%" of an escape already made by the client (bytes outside them are escaped here).
_QUERY_AS_SENT = "!#$%&'()*+,/:;=?@[]~"


def to_page(req, resp, page):
    """Answer ``303 See Other`` to ``page`` with the query string of ``req``."""
    # Set as sent, not through ``resp.location``: that one escapes the "%" of escapes the
    # client already made (``next=%2Fadmin`` would arrive as ``next=%252Fadmin``). The
    # WSGI server hands the query over as Latin-1 text of the bytes sent: a raw UTF-8
    # byte is escaped as that byte, not as the UTF-8 of its Latin-1 letter.
    query = quote(req.query_string.encode("latin-1"), safe=_QUERY_AS_SENT)
    redirect(resp, f"{page}?{query}" if query else page, as_sent=True)
    # The query may hold a one-time token: no cache keeps the answer.
    resp.set_header("Cache-Control", "no-store")


def page_redirect(page, what):
    """An ``on_get`` responder for SonicJS's page of ``what``, answering 303 to the admin's ``page``."""

    @access(public=True)
    @describe(f"SonicJS's {what} page: on to the admin's", status=303, media_type=REDIRECT_PAGE,
              headers={303: (Header("Location", f"{page}, with the query string kept"),)},
              description=f"Answers `303 See Other` to `{page}`, keeping the query string (a `token`, "
                          "`next`), so SonicJS's links and bookmarks work.")
    def on_get(self, req, resp):
        to_page(req, resp, page)

    return on_get


class FormPostRedirect:
    """``POST /auth/login/form`` and ``/auth/register/form`` (SonicJS's HTML forms): 303 to the
    sign-in page; nothing is read or signed in (see the module's docstring)."""

    browser_form_refusals = frozenset({403})  # a page for a browser (app.api.form_error_pages)

    @access(public=True)
    @describe("SonicJS's HTML form post: on to the sign-in page, nothing signed in", status=303,
              media_type=REDIRECT_PAGE, headers={303: (Header("Location", SIGN_IN_PAGE),)},
              description=f"Answers `303 See Other` to `{SIGN_IN_PAGE}` without reading the form: the "
                          "admin's sign-in form carries a CSRF token SonicJS's forms lack. Use "
                          "`POST /auth/login` or `POST /auth/register` (JSON) from a client of your own.")
    def on_post(self, req, resp):
        redirect(resp, SIGN_IN_PAGE)
        resp.set_header("Cache-Control", "no-store")


def register(routes):
    """Mount SonicJS's form posts (its pages' GETs are the ``/auth/*`` resources' ``on_get``)."""
    form_post = FormPostRedirect()
    routes.add("/auth/login/form", form_post)
    routes.add("/auth/register/form", form_post)
