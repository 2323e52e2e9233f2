"""The pagination block every list answers with in ``meta`` (paged or whole)."""


def pagination_meta(total, limit, page=None, *, has_next=None, has_prev=None):
    """``{page, limit, total, pages, hasNext, hasPrev}`` of one page of a list.

    Args:
        total: how many items the list holds in all.
        limit: the page size.
        page: the 1-based page number; None for a page read by cursor (then ``has_next``
            and ``has_prev`` must be given).
        has_next, has_prev: what the reader knows better than ``page`` implies: a cursor
            page knows whether more follow; a page read at an offset between two page
            boundaries has items before it.
    """
    return {
        "page": page,
        "limit": limit,
        "total": total,
        "pages": -(-total // limit),
        "hasNext": page * limit < total if has_next is None else has_next,
        "hasPrev": page > 1 if has_prev is None else has_prev,
    }


def whole_list_meta(count):
    """The block of a list answered whole (one page holding every item), with ``count``.

    Its ``limit`` is its length, as every item fits the one page: 0 for an empty list,
    which has 0 pages, as an empty paged list says.
    """
    return {"count": count, **pagination_meta(count, max(count, 1), 1), "limit": count}
