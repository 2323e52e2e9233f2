"""The query-string parameters every paged list shares: ``page``, ``limit`` and ``offset``.

Each is parsed by Falcon's ``req.get_param_as_int`` with its bounds, so a value that is not
an integer in range answers 400 with the envelope naming the parameter, the same way on
every list. The pagination block of the response is ``app.services.pagination.pagination_meta``.
"""

from app.api.errors import invalid_param

MAX_PAGE = 1_000_000
MAX_OFFSET = 1_000_000_000


def page_param(req):
    """``page``: 1-based, default 1, at most ``MAX_PAGE``."""
    return req.get_param_as_int("page", min_value=1, max_value=MAX_PAGE, default=1)


def limit_param(req, default, maximum):
    """``limit``: the page size, from 1 to ``maximum``; ``default`` when absent."""
    return req.get_param_as_int("limit", min_value=1, max_value=maximum, default=default)


def offset_param(req):
    """``offset``: items to skip, from 0 to ``MAX_OFFSET``; 0 when absent."""
    return req.get_param_as_int("offset", min_value=0, max_value=MAX_OFFSET, default=0)


def skipped_items(req, limit):
    """The items to skip before a page of ``limit``: ``offset``, or the items of the pages
    before ``page`` (default the first); 400 naming ``offset`` when both are given."""
    if req.has_param("page") and req.has_param("offset"):
        raise invalid_param("offset", "use only one of offset and page")
    return (page_param(req) - 1) * limit if req.has_param("page") else offset_param(req)
