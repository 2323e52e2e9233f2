"""SonicJS's admin page URLs that are the same page here under another path: permanent redirects.

Bookmarks and links into a SonicJS admin keep working after a move. Each ``Alias`` names
SonicJS's path, ours, and how its query string translates: a parameter SonicJS names
otherwise is renamed, one we have no equivalent for is dropped, and the rest are kept. Only
pages that mean the same are aliased; the README lists SonicJS's admin pages that have no
equivalent here, and those served here under SonicJS's own path need no alias.

The answer is ``308 Permanent Redirect`` (a GET stays a GET; HEAD mirrors it), kept by the
browser for an hour only (``REDIRECT_CACHE``): a browser keeps a 308 without a lifetime for
good, and this table may still change. The redirect itself is public: the page it leads to
applies its own access rule, so a signed-out browser goes on to the sign-in page from there.
"""

from dataclasses import dataclass, field
from urllib.parse import parse_qsl, quote, urlencode

import falcon

from app.admin.blocks import capped_number
from app.admin.pages import LAST_PAGE
from app.api.access import access
from app.api.redirects import redirect


@dataclass(frozen=True)
class Alias:
    """SonicJS's page ``sonicjs`` (a route template) is ours at ``ours`` (its fields filled in).

    Attributes:
        params: SonicJS's query parameter -> ours, or None where ours has no equivalent.
        values: our parameter -> {SonicJS's value -> ours, or None to drop the parameter}.
    """

    sonicjs: str
    ours: str
    params: dict = field(default_factory=dict)
    values: dict = field(default_factory=dict)


ALIASES = (
    Alias("/admin/dashboard", "/admin"),
    Alias("/admin/profile", "/admin/account"),
    Alias("/admin/users/{user_id}/edit", "/admin/users/{user_id}"),
    Alias("/admin/api-reference", "/docs"),
)

# A browser keeps a 308 it was given no lifetime for as long as it likes: an hour, so that a
# redirect this table no longer makes (or makes otherwise) stops being followed. Private: the
# content list's redirect is answered to signed-in users only.
REDIRECT_CACHE = "private, max-age=3600"

# SonicJS lists a collection's items at ``/admin/content?model=<name>``; that path is our
# index of collections, which sends a ``model`` on to the collection's own list.
CONTENT_LIST = Alias(
    "/admin/content", "/admin/content/{model}",
    # The name goes into the path; SonicJS's page and limit become our page (``our_page``).
    params={"model": None, "limit": None, "page": None},
    # "all" is our list's default; SonicJS's deleted items are those in our trash (its "trash"
    # chip). Our list filters on the item's status only (draft, published, archived): SonicJS's
    # "review" (our workflow's pending-review, which keeps the status draft) and "scheduled" (a
    # pending publish schedule) have no filter here, and are dropped rather than ignored unseen.
    values={"status": {"all": None, "deleted": "trash", "review": None, "scheduled": None}},
)
# SonicJS's "All Models" choice, its list's default: every collection's items in one list,
# which is our index's All content list, translated as a collection's list is.
ALL_MODELS = "all"
ALL_CONTENT = Alias("/admin/content", "/admin/content", params=CONTENT_LIST.params, values=CONTENT_LIST.values)
SONICJS_PAGE_SIZE = 20  # SonicJS's list without a ``limit``
# SonicJS's page or limit at or past this is read as this: its items start past our last
# readable page whatever our page size, so the redirect goes to that page, not to the first.
BEYOND = 10**12


def translated_query(alias, query_string):
    """``query_string`` with SonicJS's parameter names and values put as ``alias`` says ours
    are; an alias that translates nothing passes it on as it came, byte for byte."""
    if not alias.params and not alias.values:
        return query_string
    pairs = []
    for name, value in parse_qsl(query_string, keep_blank_values=True):
        ours = alias.params.get(name, name)
        if ours is None:
            continue
        value = alias.values.get(ours, {}).get(value, value)
        if value is not None:
            pairs.append((ours, value))
    return urlencode(pairs)


def target_of(alias, req, fields, extra=()):
    """Our URL for ``req`` to SonicJS's path: ``alias.ours`` with ``fields``, the translated
    query and the ``extra`` pairs of our parameters."""
    path = alias.ours.format(**{name: quote(value, safe="") for name, value in fields.items()})
    query = "&".join(part for part in (translated_query(alias, req.query_string), urlencode(extra)) if part)
    return f"{path}?{query}" if query else path


def moved(resp, location):
    """Answer ``308 Permanent Redirect`` to ``location``, kept by the browser for an hour."""
    redirect(resp, location, falcon.HTTP_308)
    resp.set_header("Cache-Control", REDIRECT_CACHE)


class AliasRedirect:
    """``GET`` of SonicJS's path of an ``Alias``: 308 to ours."""

    def __init__(self, alias):
        self._alias = alias

    @access(public=True)
    def on_get(self, req, resp, **fields):
        moved(resp, target_of(self._alias, req, fields))


def sonicjs_number(req, name, default):
    """SonicJS's positive whole number ``name`` of ``req``: ``default`` when it is missing, zero
    or no number, and ``BEYOND`` when it is that or more, however many digits it has (more
    than Python converts are not read)."""
    return capped_number(req.get_param(name) or "", BEYOND) or default


def our_page(req, page_size):
    """Our list's page (of ``page_size`` items) holding the first item of SonicJS's page of ``req``:
    ``?page=3&limit=50`` starts at item 101, on our page 6 of 20 items. Past our last readable
    page, that page: the list there says it is past its last page and links back to it."""
    first = (sonicjs_number(req, "page", 1) - 1) * sonicjs_number(req, "limit", SONICJS_PAGE_SIZE)
    return min(first // page_size + 1, LAST_PAGE)


def content_list_target(req, page_size):
    """Our list for SonicJS's ``/admin/content?model=<name>``: the collection's, or for SonicJS's
    ``all`` (or an empty model) our index's list of every collection's items, with our
    parameters; None without a model (our own index's URL, whose parameters are ours).
    ``page_size`` is our lists'."""
    model = req.get_param("model")
    if model is None:
        return None
    page = our_page(req, page_size)
    extra = [("page", page)] if page > 1 else []
    if model.strip() in ("", ALL_MODELS):
        return target_of(ALL_CONTENT, req, {}, extra)
    return target_of(CONTENT_LIST, req, {"model": model.strip()}, extra)


def register(routes):
    """Mount a redirect for every alias."""
    for alias in ALIASES:
        routes.add_page(alias.sonicjs, AliasRedirect(alias))
