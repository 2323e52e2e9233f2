"""What the content form's pickers and its Markdown editor fetch (htmx fragments, not pages).

* ``GET /admin/pickers/media?target=<input id>&search=&page=``: the live media library as a
  grid of thumbnails (raster images only; an SVG is never shown inline), ``media.read``,
  with the files the API's list would give the caller;
* ``GET /admin/pickers/reference/{collection}/{field}?target=&search=``: content of the
  collection(s) that field references, read under the caller's Scope (``content.read``);
* ``POST /admin/preview/markdown?field=<input name>``: that input's Markdown as HTML, the
  HTML it holds kept but sanitised (``render_preview``: no script, style, frame or event
  attribute; unsafe links, ``javascript:``..., refused).

Each choice is a button carrying the value and the id of the input it fills; the form's
script copies it there. Without script the inputs take a typed id.
"""

import functools
import re

import falcon

from app.admin.content import as_you_type, collection_or_404
from app.admin.html_clean import clean_html
from app.admin.pages import form_as_typed, one, page_number, search_of
from app.admin.picked import media_choice
from app.api.access import access
from app.services.content.fields import QueryError
from app.services.content.query import NotPermitted, Scope, list_content, parse_list_params
from app.services.content.validation import schema_properties
from app.services.content.writes import find_collection
from app.services.media import visibility
from app.services.media.library_queries import MediaFilter, list_media
from app.services.pagination import pagination_meta

# The input a picker fills: any field name a collection may declare (no length limit there).
TARGET = re.compile(r"^f-data-[A-Za-z_][A-Za-z0-9_]*$")
MEDIA_PAGE_SIZE = 12
REFERENCE_LIMIT = "10"
MAX_MARKDOWN = 200_000


@functools.cache
def markdown():
    """CommonMark with raw HTML passed through (``render_preview`` sanitises the result), made
    by the first preview a worker renders."""
    from markdown_it import MarkdownIt

    return MarkdownIt("commonmark", {"html": True})


def render_preview(text):
    """``text``, Markdown or HTML or both, as sanitised HTML: markdown-it renders it with its
    raw HTML kept, then ``html_clean.clean_html`` keeps only what a preview may show."""
    return clean_html(markdown().render(text))


def target_of(req):
    """The id of the input a choice fills (only ids the form itself uses)."""
    target = req.get_param("target") or ""
    if not TARGET.match(target):
        raise falcon.HTTPBadRequest(title="Bad request", description="Unknown target")
    return target


def referenced_collections(config):
    """The names or ids a reference field's ``collection`` allows."""
    allowed = config.get("collection")
    return [allowed] if isinstance(allowed, str) else [name for name in allowed or () if isinstance(name, str)]


class MediaPicker:
    """``GET /admin/pickers/media``."""

    def __init__(self, renderer):
        self._renderer = renderer

    @access("media.read")
    def on_get(self, req, resp):
        target, page = target_of(req), page_number(req)
        search = search_of(req)
        user = req.context.user
        # The API's rule: outside the editorial team, published files and one's own uploads only.
        filters = MediaFilter(search=search or None,
                              visible_to=None if visibility.sees_whole_library(user) else user.id)
        rows, total = list_media(filters, page, MEDIA_PAGE_SIZE)
        self._renderer.page(req, resp, "_media_picker.html", target=target, search=search,
                            files=[media_choice(row) for row in rows],
                            meta=pagination_meta(total, MEDIA_PAGE_SIZE, page))


class ReferencePicker:
    """``GET /admin/pickers/reference/{collection}/{field}``."""

    def __init__(self, renderer):
        self._renderer = renderer

    @access("content.read")
    def on_get(self, req, resp, collection, field):
        config = (schema_properties(collection_or_404(collection).schema) or {}).get(field)
        if not isinstance(config, dict) or config.get("type") != "reference":
            raise falcon.HTTPNotFound()
        target = target_of(req)
        search = search_of(req)
        scope = Scope.of(req.context.user)
        items = []
        for ref in referenced_collections(config):
            found = find_collection(ref)
            if found is None:
                continue
            # The picker searches on each keystroke: the last word is a prefix, as the list page's.
            params = {"limit": REFERENCE_LIMIT, "sort": "-updated_at"}
            if search:
                params["search"] = as_you_type(search)
            try:
                items += list_content(parse_list_params(params, scope, collection_id=found.id), scope)["data"]
            except (NotPermitted, QueryError):
                continue  # nothing of that collection this user may list
        self._renderer.page(req, resp, "_reference_picker.html", target=target, search=search, items=items,
                            collection=collection, field=field)


class MarkdownPreview:
    """``POST /admin/preview/markdown?field=data.<name>``: the posted field rendered."""

    def __init__(self, renderer):
        self._renderer = renderer

    @access(authenticated=True)
    def on_post(self, req, resp):
        form, refused = form_as_typed(req)
        if refused:  # a NUL pasted: said beside the field (htmx's alert region), as its save would say it
            self._renderer.page(req, resp, "_markdown_preview.html", status=falcon.HTTP_422,
                                refused=refused[0]["message"])
            return
        text = one(form, req.get_param("field") or "")
        if len(text) > MAX_MARKDOWN:
            raise falcon.HTTPContentTooLarge()
        self._renderer.page(req, resp, "_markdown_preview.html", html=render_preview(text), refused=None)
