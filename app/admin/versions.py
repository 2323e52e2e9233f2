"""Content versions: the list, a field-level diff against the current version, and restore.

* ``GET /admin/content/{collection}/{id}/versions``: every version, newest first;
* ``GET .../versions/{version}``: that version beside the current one, field by field
  (title, slug, status, SEO fields and each data field), changed fields marked;
* ``POST .../versions/{version}/restore``: bring it back as a new version
  (``writes.restore_version``, with the ``version_number`` the page showed: a stale restore
  is a conflict, as for a save). A version whose slug another item holds now is refused
  with the refusal's message and, below it, the slug's problem with the slug (whether the
  holder is in the trash, to be restored or purged first).

An item whose ``version_number`` is NULL (a row written by hand with SQL) lists the versions
it has, none of them current; a version is compared with the item as stored, and its restore
posts no version (``writes.UNVERSIONED``) and numbers the item as a save does.

Who may read versions is the service's rule (the item's editors), under the API's
``content.update`` access rule.
"""

import json

import falcon

from app.admin.content import collection_or_404, expected_version, status_of
from app.admin.pages import form_as_typed, one, problems_in_words, redirect
from app.api.access import access
from app.services.cache import Namespace, invalidate
from app.services.content import writes
from app.services.content.errors import ContentConflict, ContentInvalid, VersionConflict
from app.services.content.versions import current_version, get_version, list_versions

LIST_LIMIT = 100
TOP_FIELDS = ("title", "slug", "status", "meta_title", "meta_description", "featured_image_id")


def shown(value):
    """A value as the diff shows it: text as it is, anything else as JSON."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


def field_diff(old, new):
    """``[{field, old, new, changed}]`` of two full version snapshots."""
    rows = [(name, old.get(name), new.get(name)) for name in TOP_FIELDS]
    old_data, new_data = old.get("data") or {}, new.get("data") or {}
    for key in sorted(set(old_data) | set(new_data)):
        rows.append((f"data.{key}", old_data.get(key), new_data.get(key)))
    return [{"field": name, "old": shown(a), "new": shown(b), "changed": a != b} for name, a, b in rows]


def problem_lines(details):
    """A line per field's problem in a refusal's ``details`` (``[{field, message}]``; details
    of another shape give none): ``field: message``, with the value it is about when the
    detail carries it under the field's own name (a taken slug's: ``slug "news": ...``)."""
    if not isinstance(details, list):
        return []
    lines = []
    for detail in details:
        if not (isinstance(detail, dict) and detail.get("field") and detail.get("message")):
            continue
        value = detail.get(detail["field"])
        about = f'{detail["field"]} "{value}"' if isinstance(value, str) and value else detail["field"]
        lines.append(f"{about}: {detail['message']}")
    return lines


def _item(collection, content_id):
    found = collection_or_404(collection)
    content = writes.load_for_write(content_id, include_deleted=True)
    if content.collection_id != found.id:
        raise falcon.HTTPNotFound()
    return found, content


class VersionsPage:
    """``GET /admin/content/{collection}/{id}/versions``."""

    def __init__(self, renderer):
        self._renderer = renderer

    @access("content.update")
    def on_get(self, req, resp, collection, id):
        found, content = _item(collection, id)
        versions = list_versions(req.context.user, id, LIST_LIMIT, 0)
        self._renderer.page(req, resp, "versions.html", collection=found, content=content,
                            versions=versions["data"], total=versions["meta"]["total"])


class VersionPage:
    """``GET /admin/content/{collection}/{id}/versions/{version}``: the diff; ``POST`` (``/restore``) restores."""

    def __init__(self, renderer, cache):
        self._renderer = renderer
        self._cache = cache

    def render(self, req, resp, found, content, version, status=falcon.HTTP_200, message=None, problems=()):
        """The diff page of ``version``, with a refused restore's ``message`` and ``problems``
        (``problem_lines``) when there is one."""
        user = req.context.user
        chosen = get_version(user, content.id, version)
        current = current_version(user, content.id)
        if chosen is None or current is None:
            raise falcon.HTTPNotFound()
        self._renderer.page(req, resp, "version.html", status=status, collection=found, content=content,
                            chosen=chosen, diff=field_diff(chosen, current), message=message,
                            problems=list(problems))

    @access("content.update")
    def on_get(self, req, resp, collection, id, version):
        found, content = _item(collection, id)
        self.render(req, resp, found, content, version)

    @access("content.update")
    def on_post_restore(self, req, resp, collection, id, version):
        found, content = _item(collection, id)
        form, refused = form_as_typed(req)
        if refused:  # a NUL in the button's form (forged: a browser sends none): the page says so
            self.render(req, resp, found, content, version, falcon.HTTP_422, problems_in_words(refused))
            return
        expected = expected_version(one(form, "version_number"))
        try:
            writes.restore_version(req.context.user, id, version, expected)
        except ContentConflict as ex:
            if isinstance(ex, VersionConflict):
                self.render(req, resp, found, content, version, status_of(ex),
                            "The item changed since this page was opened; compare again before restoring.")
                return
            # Another conflict names its field (the version's slug, taken since): what the
            # editor has to do is in the field's own message (a trashed holder: restore or purge it).
            self.render(req, resp, found, content, version, status_of(ex), ex.message, problem_lines(ex.details))
            return
        except ContentInvalid as ex:
            # The version no longer fits the collection's schema: say which fields and why, a
            # line each as a taken slug's (the refusal's own words when it names none).
            lines = problem_lines(ex.details)
            self.render(req, resp, found, content, version, status_of(ex),
                        "This version does not fit the collection's schema now"
                        + (":" if lines else f" ({ex.message})."), lines)
            return
        invalidate(self._cache, Namespace.CONTENT)
        redirect(resp, f"/admin/content/{found.name}/{id}?moved=version-restored")
