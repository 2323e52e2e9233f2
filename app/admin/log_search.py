"""``POST /admin/logs/search``: the newest log rows a search form selects, as table rows (htmx).

SonicJS's logs page posts its filters here and swaps the answer into its table: the newest
``SEARCH_LIMIT`` matching rows as ``<tr>`` elements, the logs page's own rows (an empty
match is one row saying so). The body is a URL-encoded form or JSON holding the logs
page's filters, read as the page reads them (``app.admin.logs.page_query``): ``level`` and
``category`` as comma-separated text or a list, ``status``, ``user`` (an email address or a
user id), ``source``, ``start_date``, ``end_date`` (``since`` and ``until`` standing for
them, as in the page's older links: dates, not epoch milliseconds), ``search``. In JSON
any of them may be a list, which htmx's json-enc sends for a field the form holds several
times: read as that field given several times.

Values it cannot read are a 400 naming each: ``{error, details: [{parameter, message}]}``,
or for a browser or htmx (``wants_html``) one ``<tr>`` listing them, in place of the admin's
error page, which names nothing and is no table row. htmx swaps no 4xx answer unless told
to (as everywhere in the admin, its ``htmx:responseError`` is reported in the page's alert
region, which says the row's text); a page that wants the row shown says so in its htmx
``responseHandling``. A browser's or htmx's body holding NUL (a form, or htmx's json-enc JSON)
gets that row too, naming each field that held one, with the 422 the API gives any body
holding one.

A form is read as the page reads its query string: other fields are ignored (what htmx
sends with a form: its named submit button, ``page``, a second ``csrf_token``) and a field
given twice means its last non-empty value (a list's values are all kept). A JSON body (htmx's
json-enc sends every field of the form too) has its other fields ignored as well, but a
filter of the wrong type is a 422.

Needs ``logs.read``, as the list. It is an admin POST like the others: the page's CSRF token
(a form's ``csrf_token`` field, or the ``X-CSRF-Token`` header, the only place a JSON body's
token counts) and the cross-origin check, unless the caller's credential is in a header.
"""

import falcon
import msgspec

from app.admin.blocks import form_values
from app.admin.logs import filters_of, page_query
from app.admin.pages import form_as_typed, read_form, wants_html
from app.api.access import access
from app.api.errors import bad_request, read_body
from app.api.request_guard import BODY_MESSAGE, RefusedBody
from app.services.logs import emails_of, export_logs, log_json
from app.services.numbers import NUMBER_MESSAGE

SEARCH_LIMIT = 20  # SonicJS's
INVALID_FILTERS = "Invalid search filters"
# Said after the filter's name in the row, as its other problems are.
NUL_MESSAGE = "must not hold a NUL character"
# A JSON body's refusals (``refused_value``'s words) as the row says them after the filter's name.
_ROW_WORDS = {BODY_MESSAGE: NUL_MESSAGE, NUMBER_MESSAGE: "holds a number out of range"}


class LogSearchBody(msgspec.Struct):
    """The filters of a search (each optional), as a JSON object names them; other fields are ignored."""

    level: str | list[str] | None = None
    category: str | list[str] | None = None
    # A list: each value of a field the form holds several times, as htmx's json-enc sends it.
    status: int | str | list[str] | None = None
    user: str | list[str] | None = None
    source: str | list[str] | None = None
    since: str | list[str] | None = None  # the page's older name of start_date
    until: str | list[str] | None = None  # the page's older name of end_date
    start_date: str | list[str] | None = None
    end_date: str | list[str] | None = None
    search: str | list[str] | None = None


def body_values(body):
    """``page_query``'s ``given`` of a search body: each field's text, or its texts."""

    def values(name):
        value = getattr(body, name)
        if value is None:
            return []
        return [str(item) for item in value] if isinstance(value, list) else [str(value)]

    return values


def search_values(req):
    """``(given, refused)``: ``page_query``'s ``given`` of the request's body, a form's or
    JSON's, and for a browser's or htmx's body holding NUL (or, in JSON, a number past what
    a database stores), a problem naming each field that held one (``{parameter, message}``,
    as the row lists the filters it could not read).

    Raises:
        RefusedBody: an API client's body holding NUL (the API's 422 naming the field).
        msgspec.ValidationError: a JSON filter of the wrong type (-> 422).
        APIError: 415 for a body neither a form nor JSON; 413 over the size allowed.
    """
    if (req.content_type or "").startswith(falcon.MEDIA_URLENCODED):
        form, refused = form_as_typed(req) if wants_html(req) else (read_form(req), [])
        return (lambda name: form_values(form.get(name))), [
            {"parameter": problem["field"], "message": NUL_MESSAGE} for problem in refused]
    try:
        return body_values(read_body(req, LogSearchBody)), []
    except RefusedBody as ex:
        if not wants_html(req):
            raise
        # htmx's json-enc: the row names the filter, as for a form, not the error page.
        return None, [{"parameter": problem["field"], "message": _ROW_WORDS.get(problem["message"], problem["message"])}
                      for problem in ex.details]


class LogSearchAction:
    """``POST /admin/logs/search``."""

    def __init__(self, renderer):
        self._renderer = renderer

    @access("logs.read")
    def on_post(self, req, resp):
        given, refused = search_values(req)
        if refused:  # a NUL pasted: the row names its filter, 422 as any body holding one; nothing searched
            self._renderer.page(req, resp, "_log_search.html", status=falcon.HTTP_422, problems=refused)
            return
        filters, problems = filters_of(page_query(given))
        if problems and not wants_html(req):
            raise bad_request(INVALID_FILTERS, problems)
        if problems:
            self._renderer.page(req, resp, "_log_search.html", status=falcon.HTTP_400, problems=problems)
            return
        rows, _ = export_logs(filters, SEARCH_LIMIT)  # the newest, without counting every match
        logs = [log_json(row) for row in rows]
        self._renderer.page(req, resp, "_log_search.html", logs=logs, problems=(),
                            emails=emails_of(entry["user_id"] for entry in logs))
