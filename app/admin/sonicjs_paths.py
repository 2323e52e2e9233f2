"""SonicJS's admin page URLs that are the same page here under another path: permanent redirects.

Bookmarks and links into a SonicJS admin keep working after a move. Each ``Alias`` names
SonicJS's path, ours, and how its query string translates: a parameter SonicJS names
otherwise is renamed, one we have no equivalent for is dropped, and the rest are kept. Only
pages that mean the same are aliased; the README lists SonicJS's admin pages that have no
equivalent here, and those served here under SonicJS's own path need no alias.

The answer is ``308 Permanent Redirect`` (a GET stays a GET; HEAD mirrors it). The redirect
itself is public: the page it leads to applies its own access rule, so a signed-out browser
goes on to the sign-in page from there.
"""

from dataclasses import dataclass, field
from urllib.parse import parse_qsl, quote, urlencode

import falcon

from app.api.access import access


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

# SonicJS lists a collection's items at ``/admin/content?model=<name>``; that path is our
# index of collections, which sends a ``model`` on to the collection's own list.
CONTENT_LIST = Alias(
    "/admin/content", "/admin/content/{model}",
    params={"model": None, "limit": None},  # the name goes into the path; our pages have one size
    # "all" is our list's default; SonicJS's deleted items are those in our trash (its "trash" chip).
    values={"status": {"all": None, "deleted": "trash"}},
)


def translated_query(alias, query_string):
    """``query_string`` with SonicJS's parameter names and values put as ``alias`` says ours are."""
    pairs = []
    for name, value in parse_qsl(query_string, keep_blank_values=True):
        ours = alias.params.get(name, name)
        if ours is None:
            continue
        value = alias.values.get(ours, {}).get(value, value)
        if value is not None:
            pairs.append((ours, value))
    return urlencode(pairs)


def target_of(alias, req, fields):
    """Our URL for ``req`` to SonicJS's path: ``alias.ours`` with ``fields`` and the translated query."""
    path = alias.ours.format(**{name: quote(value, safe="") for name, value in fields.items()})
    query = translated_query(alias, req.query_string)
    return f"{path}?{query}" if query else path


def moved(resp, location):
    """Answer ``308 Permanent Redirect`` to ``location``."""
    resp.status = falcon.HTTP_308
    resp.location = location
    resp.text = ""


class AliasRedirect:
    """``GET`` of SonicJS's path of an ``Alias``: 308 to ours."""

    def __init__(self, alias):
        self._alias = alias

    @access(public=True)
    def on_get(self, req, resp, **fields):
        moved(resp, target_of(self._alias, req, fields))


def content_list_target(req):
    """Our collection list for SonicJS's ``/admin/content?model=<name>``, or None without a model."""
    model = (req.get_param("model") or "").strip()
    return target_of(CONTENT_LIST, req, {"model": model}) if model else None


def register(routes):
    """Mount a redirect for every alias."""
    for alias in ALIASES:
        routes.add_page(alias.sonicjs, AliasRedirect(alias))
