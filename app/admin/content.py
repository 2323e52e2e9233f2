"""Content pages: the collections to edit, a collection's items, the create and edit forms, workflow moves.

* ``GET /admin/content``: the active collections and every item across them
  (``app.admin.content_index``);
* ``GET /admin/content/{collection}``: its items with search, status chips, sort and pages
  (the API's list: ``parse_list_params`` and ``list_content`` under the caller's Scope), in
  the collection's list columns (``app.admin.list_columns``), each row with the actions its
  reader may take (edit, move to the trash);
* ``GET``/``POST /admin/content/{collection}/new``: create (``writes.create_content``);
* ``GET``/``POST /admin/content/{collection}/{id}``: view and edit (``writes.update_content``
  with the ``version_number`` the form was rendered from, so a stale save is a conflict; the
  posted values are read against that version, ``as_opened``; an item whose version_number
  is NULL posts none, ``opened_version``);
* ``POST /admin/content/{collection}/{id}/workflow``: one workflow move
  (``workflow.transition``); the page offers exactly ``workflow.next_steps`` for the user;
* ``POST .../delete``, ``.../restore``, ``.../purge``, ``.../schedule``: soft delete,
  restore, purge (admins; only of an item in the trash, where the API purges live ones too)
  and scheduling, through the services the API's routes use; a delete posted from the list
  (``from=list``, the list's filters in its URL) goes back to that list;
* ``POST .../duplicate``: a draft copy (``copies.duplicate``, as the API's duplicate);
* ``POST .../assign``: the item's assignment (``app.admin.assignments``);
* ``POST /admin/content/{collection}/bulk``: the list's ticked items published, moved to
  draft, archived or moved to the trash, all or nothing (``bulk.apply``, as the API's
  bulk action); the list's filters ride in the form's URL, so the answer, a redirect to
  the list saying what changed or why nothing did (``bulk_outcome``), keeps them (a GET of
  the form's address is sent there too).

Permissions are the API's: each responder's ``@access`` rule and the services' own checks
(authors edit only their own items). Every write invalidates the content cache after it.
"""

import functools
from types import SimpleNamespace
from urllib.parse import urlencode

import falcon

from app.admin.assignments import ASSIGN_LABELS, NO_ASSIGN_PANEL, assign_panel
from app.admin.blocks import input_text, posted_back, textarea_text, whole_number
from app.admin.bulk_outcome import (
    BULK_DONE,
    BULK_LABELS,
    problem_query,
    refusal_query,
    refusal_shown,
    ticked_ids,
)
from app.admin.forms import (
    data_from_form,
    defaults_emptied,
    errors_by_field,
    form_fields,
    leftover_fields,
    numbering_of,
    unparsed_json,
)
from app.admin.list_columns import columns_of, rows_of
from app.admin.pages import form_as_typed, one, page_number, problems_in_words, redirect, search_of
from app.admin.picked import picked_values
from app.api.access import access
from app.api.errors import SERVICE_ERROR_STATUS
from app.services.cache import Namespace, invalidate
from app.services.content import bulk, copies, scheduling, workflow, writes
from app.services.content.defaults import with_defaults
from app.services.content.errors import ContentForbidden, ContentInvalid, ContentNotFound, VersionConflict
from app.services.content.fields import QueryError
from app.services.content.query import (
    MAX_SEARCH_LENGTH,
    NotPermitted,
    Scope,
    get_item,
    list_content,
    parse_list_params,
)
from app.services.content.scheduling import list_schedules
from app.services.content.versions import get_version
from app.services.errors import ServiceError

PAGE_SIZE = 20
STATUS_CHIPS = ("draft", "published", "archived")
# The trash: items moved to it (soft-deleted), whatever their status, for those who may see them.
TRASH = "trash"
SORTS = {
    "-updated_at": "Last edited",
    "updated_at": "Least recently edited",
    "-created_at": "Newest",
    "title": "Title A-Z",
    "-title": "Title Z-A",
    "-published_at": "Last published",
}
DEFAULT_SORT = "-updated_at"
CONFLICT_MESSAGE = (
    "Someone changed this item after you opened it, so your changes were not saved. "
    "Open the current version, then make your changes again."
)


def active_collection(name):
    """The active collection named ``name``, or None."""
    found = writes.find_collection(name)
    return found if found is not None and found.is_active and found.name == name else None


def collection_or_404(name):
    """The active collection named ``name``."""
    found = active_collection(name)
    if found is None:
        raise falcon.HTTPNotFound()
    return found


def status_of(ex):
    """The HTTP status of a service's refusal."""
    return SERVICE_ERROR_STATUS[ex.kind]


def chips_for(scope):
    """The status chips a caller of ``scope`` may pick: the trash only for those who see deleted items."""
    return STATUS_CHIPS if scope.public_shape else (*STATUS_CHIPS, TRASH)


UNKNOWN_STATUS = ("That status filter is unknown, so the list is not filtered by status."
                  " The statuses to filter by are: {}.")


def unknown_status(req, scope):
    """Whether the list's URL names a status that is none of ``chips_for(scope)``."""
    status = req.get_param("status") or ""
    return status != "" and status not in chips_for(scope)


def listed_items(req, scope, load, status=falcon.HTTP_200):
    """``(result, error, status)`` of a list page: what ``load()`` answers (empty when it
    refuses), the message to show and the page's status. A status filter the reader has
    no such status for is dropped and said (shown unfiltered: the URL's own text is never
    echoed on the page); a query the service refuses is said in its words."""
    result, error = {"data": [], "meta": {}}, None
    if unknown_status(req, scope):
        error, status = UNKNOWN_STATUS.format(", ".join(chips_for(scope))), falcon.HTTP_400
    try:
        result = load()
    except NotPermitted as ex:
        error, status = str(ex), falcon.HTTP_403
    except QueryError as ex:
        error, status = str(ex), falcon.HTTP_400
    return result, error, status


def list_query(req, scope):
    """``(values shown in the filter form, parameters for parse_list_params)`` of a list request."""
    status = req.get_param("status") or ""
    if status not in chips_for(scope):
        status = ""
    sort = req.get_param("sort") or DEFAULT_SORT
    if sort not in SORTS:
        sort = DEFAULT_SORT
    search = search_of(req)
    page = page_number(req)
    shown = {"status": status, "sort": sort, "search": search, "page": page}
    if scope.public_shape:
        shown["status"] = "published"  # all a viewer may list
    params = {"status": shown["status"] or "all", "sort": sort, "limit": str(PAGE_SIZE), "page": str(page)}
    if status == TRASH:
        params.update({"status": "all", "include_deleted": "true", "filter[deleted_at][exists]": "true"})
    if search:
        params["search"] = as_you_type(search)
    return shown, params


def as_you_type(search):
    """``search`` with its last word made a prefix (``Fir`` finds First), since the list
    page searches while the editor types; a quoted phrase, a word already ending in ``*``
    and a search as long as the API takes (one more character would be refused) are left
    as they are."""
    if search.endswith(("*", '"')) or not search[-1:].isalnum() or len(search) >= MAX_SEARCH_LENGTH:
        return search
    return search + "*"


def bulk_actions_for(user, trash):
    """The bulk actions the list offers ``user``: the moves to holders of ``content.publish``
    (the default workflow's moves ask for it), the trash to holders of ``content.delete``;
    none in the trash view, whose items no action takes."""
    if trash:
        return {}
    offered = [*bulk.MOVES] if user.can("content.publish") else []
    if user.can(bulk.DELETE_PERMISSION):
        offered.append(bulk.DELETE)
    return {action: BULK_LABELS[action] for action in offered}


def filters_query(shown):
    """The query string of the list's filters and page (``list_query``'s shown values), to come back to."""
    kept = {name: shown[name] for name in ("status", "sort", "search") if shown[name]}
    if shown["page"] > 1:
        kept["page"] = shown["page"]
    return urlencode(kept)


def list_back(req, name):
    """The URL of collection ``name``'s list with the filters ``req`` carries, ready for more
    parameters (it ends with ``?`` or ``&``): where the list's own forms come back to."""
    shown, _ = list_query(req, Scope.of(req.context.user))
    return f"/admin/content/{name}?{filters_query(shown)}&".replace("?&", "?")


def bulk_done(req):
    """What the list says after a bulk action (``?done=<action>&count=<n>&unchanged=<n>``), or None.

    Only a known action and numbers are read back: no text of the URL's choosing on the page.
    """
    action, count = req.get_param("done"), req.get_param_as_int("count", min_value=0, default=None)
    if action not in BULK_DONE or count is None:
        return None
    unchanged = req.get_param_as_int("unchanged", min_value=0, default=0)
    text = f"{count} item{'' if count == 1 else 's'} {BULK_DONE[action]}."
    if unchanged:
        text += f" {unchanged} {'was' if unchanged == 1 else 'were'} so already."
    return text


PURGED_NOTICE = "The item was deleted permanently."
TRASHED_NOTICE = "The item was moved to the trash."


def list_notice(req):
    """What the list says after an action that landed on it: a bulk action's outcome
    (``bulk_done``), a purge's (``?purged=1``) or a row's move to the trash (``?trashed=1``),
    or None."""
    if req.get_param("purged") == "1":
        return PURGED_NOTICE
    if req.get_param("trashed") == "1":
        return TRASHED_NOTICE
    return bulk_done(req)


def landing_past_the_end(shown, meta):
    """The last page, when an action landed on a page its own change emptied; else None.

    Trashing (or purging, or bulk-moving) the only rows of the last page sends the reader back
    to a page that is now past the end: they land on the last page instead, with the notice.
    Only with an exact total: past a lower bound the last page is unknown.
    """
    if meta.get("totalIsEstimate") or shown["page"] <= 1:
        return None
    last = max(meta.get("pages") or 1, 1)
    return last if shown["page"] > last else None


def row_actions(user, item):
    """``{"edit": bool, "trash": bool}``: what the list's row of ``item`` offers ``user``, by
    the rules the routes check again (``content.update``, ``content.delete``, and authors
    only on their own items); nothing but opening it for an item in the trash."""
    live = item.get("deleted_at") is None
    own_or_overseen = writes.may_edit(user, SimpleNamespace(author_id=(item.get("author") or {}).get("id")))
    return {"edit": live and own_or_overseen and user.can("content.update"),
            "trash": live and own_or_overseen and user.can("content.delete")}


# Said in place of a collection's list when no active collection has its name: the same
# words for a deactivated collection as for an unknown one, so the page tells nobody which
# inactive collections exist (the API's list is a 404 for them alike).
NO_ACTIVE_COLLECTION = ("No active collection has this name: it may have been deactivated or deleted,"
                        " so there is no list to show.")


class ContentListPage:
    """``GET /admin/content/{collection}``.

    A name that is no active collection's answers 404 with a page whose list region says so
    and links to All content, in place of the admin's error page: a filter or refresh sent
    by the list after its collection was deactivated swaps that region in for the list
    (admin.js, as for a refused filter), rather than leaving rows that no longer open.
    """

    def __init__(self, renderer):
        self._renderer = renderer

    @access("content.read")
    def on_get(self, req, resp, collection):
        found = active_collection(collection)
        if found is None:
            self._renderer.page(req, resp, "content_list_gone.html", status=falcon.HTTP_404,
                                message=NO_ACTIVE_COLLECTION)
            return
        self.render(req, resp, found)

    def render(self, req, resp, found, status=falcon.HTTP_200):
        """The list of ``found``'s items as the query string asks, with what a bulk action
        that landed here says (done, or refused with the boxes it ticked still ticked)."""
        user = req.context.user
        scope = Scope.of(user)
        shown, params = list_query(req, scope)
        result, error, status = listed_items(
            req, scope, lambda: list_content(parse_list_params(params, scope, collection_id=found.id), scope), status)
        done = list_notice(req)
        last = landing_past_the_end(shown, result["meta"]) if done and error is None else None
        if last is not None:
            redirect(resp, f"{req.path}?{urlencode({**req.params, 'page': last}, doseq=True)}")
            return
        columns = columns_of(found)
        rows = [(item, cells, row_actions(user, item))
                for item, cells in rows_of(columns, result["data"], scope, user.can("media.read"))]
        self._renderer.page(
            req, resp, "content_list.html", status=status, collection=found, items=result["data"],
            columns=columns, rows=rows,
            meta=result["meta"], shown=shown, sorts=SORTS, chips=chips_for(scope), error=error,
            can_create=user.can("content.create"), public_only=scope.public_shape,
            bulk_actions=bulk_actions_for(user, shown["status"] == TRASH), done=done,
            refusal=refusal_shown(req, user), selected=frozenset(ticked_ids(req)), query=filters_query(shown),
        )


class ContentBulkAction:
    """``POST /admin/content/{collection}/bulk``: ``action`` on the ticked ``ids``, all or nothing.

    Done or refused, the answer is a redirect to the list with its filters, saying what
    happened (``bulk_outcome``); this address opened (a bookmark of an older page) is the
    list with the same filters too.
    """

    def __init__(self, list_page, cache):
        self._list = list_page
        self._cache = cache

    @access("content.read")
    def on_get(self, req, resp, collection):
        found = collection_or_404(collection)
        query = req.query_string
        redirect(resp, f"/admin/content/{found.name}" + (f"?{query}" if query else ""))

    @access(authenticated=True)
    def on_post(self, req, resp, collection):
        found = collection_or_404(collection)
        form, refused = form_as_typed(req)
        action, ids = one(form, "action"), _values(form.get("ids"))
        back = list_back(req, found.name)
        if refused:  # the list says so, the boxes still ticked (without the NULs), nothing changed
            redirect(resp, back + problem_query("nul", ids[:bulk.MAX_ITEMS]))
            return
        if action not in bulk.ACTIONS:  # the empty "Choose an action" (or a forged one)
            redirect(resp, back + problem_query("no-action", ids))
            return
        try:
            result = bulk.apply(req.context.user, action, ids, collection_id=found.id, source="admin",
                                request_id=req.context.request_id)
        except bulk.BulkRefused as ex:
            redirect(resp, back + refusal_query(action, ids, ex.refusals))
            return
        except ServiceError as ex:  # no box ticked, too many, no content.delete
            problem = ("no-items" if not ids else "too-many" if len(ids) > bulk.MAX_ITEMS
                       else "forbidden" if isinstance(ex, ContentForbidden) else "invalid")
            redirect(resp, back + problem_query(problem, ids[:bulk.MAX_ITEMS]))
            return
        invalidate(self._cache, Namespace.CONTENT)
        done = urlencode({"done": result.action, "count": len(result.changed), "unchanged": len(result.unchanged)})
        redirect(resp, back + done)


def _values(value):
    """A form field's values as a list (none, one, or repeated)."""
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]


def controls_for(collection, item, errors, user, numbering=None):
    """The form's controls for ``item``, with what its media and reference values point at
    (``numbering``: how a refused form numbered its blocks, see ``forms.numbering_of``)."""
    picked = picked_values(collection.schema, item["data"], user)
    return form_fields(collection.schema, item["data"], errors, picked, numbering)


# The SEO fields, each read as its control posts it: an input, a textarea.
SEO_FIELDS = {"meta_title": input_text, "meta_description": textarea_text}


def posted_fields(collection, form, current):
    """The service's fields (title, slug, data, the SEO fields) from a posted form.

    Args:
        current: the item as stored (``{}`` for a new one): its title, data, and SEO values
            that a form posting them back unchanged leaves as they are.
    """
    title = one(form, "title")
    # An input cannot hold a line break: a stored title posted back without its own is kept.
    fields = {"title": current["title"] if posted_back(title, current.get("title")) else title,
              "data": data_from_form(collection.schema, form, current.get("data"))}
    slug = one(form, "slug").strip()
    if slug:
        fields["slug"] = slug
    for name, read in SEO_FIELDS.items():
        raw = one(form, name, None)
        stored = current.get(name) or ""
        text = stored if raw is None else read(raw, stored)
        if text != stored:
            fields[name] = text.strip() or None
    return fields


def shown_as_posted(item, fields):
    """``item`` as a refused form shows it again: with the title, data and SEO fields as
    ``posted_fields`` read them, so what was typed stays on the page."""
    shown = {**item, "title": fields["title"], "data": fields["data"]}
    shown.update({name: fields[name] for name in SEO_FIELDS if name in fields})
    return shown


# What a version's snapshot holds of the values the form edits.
FORM_VALUES = ("title", "slug", "data", "meta_title", "meta_description")
# The columns hold 64-bit integers: a version past them is no item's (the save is a conflict).
MAX_VERSION = 2**63


def opened_version(text):
    """The ``version_number`` a posted form was opened at: a number; None for an item that
    had none (NULL, written by hand with SQL), whose form posts it empty; -1, which no item
    has, for anything else (the save is then a conflict)."""
    if text == "":
        return None
    number = whole_number(text, MAX_VERSION)
    return -1 if number is None else number


def expected_version(text):
    """The ``expected_version`` of a write from a form opened at ``text`` (``opened_version``):
    ``writes.UNVERSIONED`` for an item that had none."""
    version = opened_version(text)
    return writes.UNVERSIONED if version is None else version


def as_opened(user, item, version):
    """``item`` as the form that posted ``version`` showed it, to read the posted values
    against: that version's snapshot when the item changed since (the save is a conflict,
    and the form shown again must hold what the editor saw and typed, not the other change);
    the item itself when ``version`` is its current one or no snapshot of it is kept (none
    is of an item without a version)."""
    if version == item["version_number"] or version is None:
        return item
    try:
        snapshot = get_version(user, item["id"], version)
    except ServiceError:
        snapshot = None  # the save itself says why it is refused
    if snapshot is None:
        return item
    return {**item, **{name: snapshot.get(name) for name in FORM_VALUES}, "version_number": version}


def check_typed(data, refused=()):
    """Refuse a post whose fields held NUL (``refused``: ``form_as_typed``'s problems) or whose
    ``data`` holds text typed into a JSON textarea that is no JSON, as the service refuses
    invalid data: the form shows each on its field, as typed (without the NULs)."""
    problems = [*refused, *unparsed_json(data)]
    if problems:
        raise ContentInvalid("Validation failed", problems)


# The labels the edit page's action forms show for their fields (its template writes them from
# these), and so the words a refusal names a field by, as the user forms do.
# The move's action is the pressed button's value, which no label names: a forged NUL in it
# is named as posted.
WORKFLOW_LABELS = {"comment": "Note (required to reject)"}
SCHEDULE_LABELS = {"action": "Action", "scheduled_at": "When (local time)", "timezone": "Time zone"}
ACTION_LABELS = {"workflow": WORKFLOW_LABELS, "schedule": SCHEDULE_LABELS, "assign": ASSIGN_LABELS}


def new_item(collection):
    """A new item as its form first shows it: empty but for the defaults its schema declares
    (a ``title`` field's default fills the title input, as the service would fill the title)."""
    data = with_defaults(collection.schema, {})
    title = data.get("title")
    return {"title": title if isinstance(title, str) else "", "slug": "", "data": data, "version_number": ""}


class ContentNewPage:
    """``GET``/``POST /admin/content/{collection}/new``: the form starts from the schema's defaults."""

    def __init__(self, renderer, cache):
        self._renderer = renderer
        self._cache = cache

    def _form(self, req, resp, collection, item, status=falcon.HTTP_200, errors=None, message=None, numbering=None):
        fields = controls_for(collection, item, errors, req.context.user, numbering)
        self._renderer.page(
            req, resp, "content_form.html", status=status, collection=collection, item=item, is_new=True,
            fields=fields, errors=errors or {}, message=message, refused=message is not None,
            editable=True, transitions=[], state=None, moved=None, saved=False, deleted=False, can_delete=False,
            can_purge=False, can_duplicate=False, can_schedule=False, schedules=[], leftovers=(), comment="",
            assign_typed=None, action_labels=ACTION_LABELS, **NO_ASSIGN_PANEL,
        )

    @access("content.create")
    def on_get(self, req, resp, collection):
        found = collection_or_404(collection)
        self._form(req, resp, found, new_item(found))

    @access("content.create")
    def on_post(self, req, resp, collection):
        found = collection_or_404(collection)
        form, refused = form_as_typed(req)
        # The form was shown with the defaults: a box left ticked or a read-only value is kept,
        # an emptied input is saved empty rather than given its default again.
        blank = new_item(found)
        fields = posted_fields(found, form, blank)
        fields["data"] = defaults_emptied(found.schema, fields["data"])
        try:
            check_typed(fields["data"], refused)
            content = writes.create_content(req.context.user, found.id, fields, req.context.request_id)
        except ContentInvalid as ex:
            item = {**shown_as_posted(blank, fields), "slug": one(form, "slug")}
            self._form(req, resp, found, item, status_of(ex), errors_by_field(ex.details), ex.message,
                       numbering_of(found.schema, form, blank["data"]))
            return
        invalidate(self._cache, Namespace.CONTENT)
        redirect(resp, f"/admin/content/{found.name}/{content.id}")


class ContentEditPage:
    """``GET``/``POST /admin/content/{collection}/{id}``: read-only unless the user may edit the item."""

    def __init__(self, renderer, cache, roles):
        self._renderer = renderer
        self._cache = cache
        self._roles = roles

    def load(self, req, collection, content_id):
        """``(collection, item as the API shows it, Content row)`` if the user may read the item.

        An item in the trash is shown to whoever may read it there (editors and admins, authors
        their own), so the page can offer the restore.
        """
        found = collection_or_404(collection)
        user = req.context.user
        item = get_item(Scope.of(user), content_id=content_id)
        if item is None or item["collection"]["id"] != found.id:
            raise falcon.HTTPNotFound()
        return found, item, writes.load_for_write(content_id, include_deleted=True)

    def render(self, req, resp, collection, item, content, status=falcon.HTTP_200, errors=None, message=None,
               schedule=None, numbering=None, refused=False, comment="", assign_typed=None):
        """The edit page of ``item``, with the workflow moves the user may make now.

        Args:
            refused: the form shows a refused save's typed values (a conflict's too), which
                leaving the page would lose.
            schedule: the schedule form's values as posted (a refused schedule is shown as typed).
            numbering: how a refused form numbered its blocks (``forms.numbering_of``).
            comment: the workflow form's note as posted (a refused move's, shown as typed).
            assign_typed: the assign form's ``user_id``, ``due_date`` and ``note`` as posted
                (a refused assignment's, shown as typed); None shows the assignment as it is.
        """
        user = req.context.user
        try:
            chosen = workflow.workflow_for(content.collection_id)
            transitions = [] if content.deleted_at else workflow.next_steps(content, user, chosen)
        except workflow.NotAllowed:
            transitions = []  # no active workflow: the item can be edited but not moved
        own_or_overseen = writes.may_edit(user, content)
        deleted = content.deleted_at is not None
        self._renderer.page(
            req, resp, "content_form.html", status=status, collection=collection, item=item, is_new=False,
            fields=controls_for(collection, item, errors, user, numbering), errors=errors or {}, message=message,
            leftovers=leftover_fields(collection.schema, item["data"]),
            editable=user.can("content.update") and own_or_overseen and not deleted, deleted=deleted,
            can_delete=user.can("content.delete") and own_or_overseen, can_purge=user.can("content.purge") and deleted,
            can_schedule=user.can("content.publish") and not deleted,
            can_duplicate=user.can("content.create") and not deleted,
            schedules=list_schedules(status="pending", content_id=content.id)[0],
            schedule=schedule or {"action": "publish", "scheduled_at": "", "timezone": "UTC"},
            transitions=transitions, state=workflow.current_state(content), moved=_known_action(req.get_param("moved")),
            saved=status == falcon.HTTP_200 and req.get_param("saved") == "1", refused=refused,
            comment=comment, assign_typed=assign_typed, action_labels=ACTION_LABELS,
            **assign_panel(user, content, self._roles),
        )

    @access("content.read")
    def on_get(self, req, resp, collection, id):
        self.render(req, resp, *self.load(req, collection, id))

    @access("content.update")
    def on_post(self, req, resp, collection, id):
        found, item, content = self.load(req, collection, id)
        form, refused = form_as_typed(req)
        version = opened_version(one(form, "version_number"))
        opened = as_opened(req.context.user, item, version)
        fields = posted_fields(found, form, opened)
        expected = writes.UNVERSIONED if version is None else version
        try:
            check_typed(fields["data"], refused)
            writes.update_content(req.context.user, id, fields, expected, request_id=req.context.request_id)
        except ServiceError as ex:
            if isinstance(ex, ContentNotFound | ContentForbidden):
                raise
            shown = {**shown_as_posted(opened, fields), "slug": one(form, "slug")}
            conflict = isinstance(ex, VersionConflict)
            if conflict:
                # The typed values are shown with the version they were made on: saving them
                # again is refused again, never a silent overwrite of the other change.
                shown["version_number"] = one(form, "version_number")
            message = CONFLICT_MESSAGE if conflict else ex.message
            self.render(req, resp, found, shown, content, status_of(ex), errors_by_field(ex.details), message,
                        numbering=numbering_of(found.schema, form, opened["data"]), refused=True)
            return
        invalidate(self._cache, Namespace.CONTENT)
        redirect(resp, f"/admin/content/{found.name}/{id}?saved=1")


DONE_MESSAGES = {"deleted": "Moved to the trash.", "restored": "Restored from the trash.",
                 "scheduled": "Scheduled.", "cancelled": "The schedule was cancelled.",
                 "assigned": "The assignment was saved.",
                 "version-restored": "The version was restored as a new version.",
                 "duplicated": "This is the new copy, a draft: edit it and save."}


# What the edit page says after each workflow move (``workflow.ACTIONS``), in an editor's words.
MOVED_MESSAGES = {"submit": "Submitted for review.", "approve": "Approved.",
                  "reject": "Rejected: sent back to its author.", "publish": "Published.",
                  "unpublish": "Unpublished: back to draft.", "archive": "Archived.",
                  "restore-draft": "Moved back to draft."}


def _known_action(name):
    # Only a known action is echoed back: no text of the URL's choosing on the page.
    if name in DONE_MESSAGES:
        return DONE_MESSAGES[name]
    if name in workflow.ACTIONS:
        return MOVED_MESSAGES.get(name, f"{name.replace('-', ' ').capitalize()}: done.")
    return None


class ContentWorkflowAction:
    """``POST /admin/content/{collection}/{id}/workflow``: ``action`` and an optional ``comment``."""

    def __init__(self, edit_page, db, cache):
        self._edit = edit_page
        self._db = db
        self._cache = cache

    @access(authenticated=True)
    def on_post(self, req, resp, collection, id):
        found, item, content = self._edit.load(req, collection, id)
        form, refused = form_as_typed(req)
        action = one(form, "action")
        if refused:  # a NUL pasted: said by its field, the note as typed, the item not moved
            self._edit.render(req, resp, found, item, content, falcon.HTTP_422,
                              message=problems_in_words(refused, WORKFLOW_LABELS), comment=one(form, "comment"))
            return
        comment = one(form, "comment").strip() or None
        if action not in workflow.ACTIONS:
            self._edit.render(req, resp, found, item, content, falcon.HTTP_422, message=f"Unknown action {action!r}")
            return
        try:
            workflow.transition(self._db, id, req.context.user, action=action, comment=comment, source="admin",
                                request_id=req.context.request_id)
        except workflow.WorkflowError as ex:
            self._edit.render(req, resp, found, item, content, status_of(ex), message=ex.message)
            return
        invalidate(self._cache, Namespace.CONTENT)
        redirect(resp, f"/admin/content/{found.name}/{id}?moved={action}")


class _ItemWrite:
    """Base of the POSTs that run one content write on an item, then go where it landed."""

    def __init__(self, edit_page, cache):
        self._edit = edit_page
        self._cache = cache

    def _apply(self, req, resp, collection, id, write, landing):
        """Run ``write(user, id)``, invalidate the content cache, redirect to ``landing``
        (formatted with the collection's ``name`` and the item's ``id``)."""
        found, _, _ = self._edit.load(req, collection, id)
        write(req.context.user, id)
        invalidate(self._cache, Namespace.CONTENT)
        redirect(resp, landing.format(name=found.name, id=id))


class ContentDeleteAction(_ItemWrite):
    """``POST /admin/content/{collection}/{id}/delete``: soft delete (the item can be restored).

    Posted from the edit page, the answer is that page saying the item is in the trash;
    from the list (``from=list``), the list again, with the filters its URL carries.
    """

    @access("content.delete")
    def on_post(self, req, resp, collection, id):
        landing = "/admin/content/{name}/{id}?moved=deleted"
        form, refused = form_as_typed(req)
        if refused and one(form, "from") == "list":  # forged (a browser's holds no text): the list says so
            redirect(resp, list_back(req, collection_or_404(collection).name) + problem_query("nul", ()))
            return
        if refused:  # a NUL in the button's form (forged: a browser sends none): the edit page says so
            found, item, content = self._edit.load(req, collection, id)
            self._edit.render(req, resp, found, item, content, falcon.HTTP_422, message=problems_in_words(refused))
            return
        if one(form, "from") == "list":
            # urlencode leaves no brace in the filters: the landing stays a format string.
            landing = list_back(req, "{name}") + "trashed=1"
        self._apply(req, resp, collection, id, writes.soft_delete, landing)


class ContentDuplicateAction:
    """``POST /admin/content/{collection}/{id}/duplicate``: a draft copy, then its edit page."""

    def __init__(self, edit_page, cache):
        self._edit = edit_page
        self._cache = cache

    @access("content.create")
    def on_post(self, req, resp, collection, id):
        found, item, content = self._edit.load(req, collection, id)
        try:
            copy, _ = copies.duplicate(req.context.user, id, None, req.context.request_id)
        except ServiceError as ex:  # the copy's data no longer fits the schema, the item is in the trash...
            self._edit.render(req, resp, found, item, content, status_of(ex), message=ex.message)
            return
        invalidate(self._cache, Namespace.CONTENT)
        redirect(resp, f"/admin/content/{found.name}/{copy.id}?moved=duplicated")


class ContentRestoreAction(_ItemWrite):
    """``POST /admin/content/{collection}/{id}/restore``: undo a soft delete."""

    @access("content.delete")
    def on_post(self, req, resp, collection, id):
        self._apply(req, resp, collection, id, writes.restore_deleted, "/admin/content/{name}/{id}?moved=restored")


class ContentPurgeAction(_ItemWrite):
    """``POST /admin/content/{collection}/{id}/purge``: delete for good (admins), from the trash only.

    The API purges a live item too; the admin's button is for the trash, so that one click
    never removes a page still in use: a live item is refused (409) and left as it is.
    """

    @access("content.purge")
    def on_post(self, req, resp, collection, id):
        self._apply(req, resp, collection, id, functools.partial(writes.purge, trashed_only=True),
                    "/admin/content/{name}?status=trash&purged=1")


class ContentScheduleAction:
    """``POST /admin/content/{collection}/{id}/schedule``: ``action`` at a local ``scheduled_at`` in ``timezone``."""

    def __init__(self, edit_page, db, cache):
        self._edit = edit_page
        self._db = db
        self._cache = cache

    @access("content.publish")
    def on_post(self, req, resp, collection, id):
        found, item, content = self._edit.load(req, collection, id)
        form, refused = form_as_typed(req)
        when, zone = one(form, "scheduled_at").strip(), one(form, "timezone").strip() or "UTC"
        action = one(form, "action")
        if refused:  # a NUL pasted: said by its field, the rest as typed, nothing scheduled
            self._edit.render(req, resp, found, item, content, falcon.HTTP_422,
                              message=problems_in_words(refused, SCHEDULE_LABELS),
                              schedule={"action": action, "scheduled_at": when, "timezone": zone})
            return
        try:
            check_unpublish_planned(content, action, when, zone)
            scheduling.create_schedule(self._db, id, req.context.user, action, when, zone)
        except workflow.WorkflowError as ex:
            self._edit.render(req, resp, found, item, content, status_of(ex), message=schedule_message(ex),
                              schedule={"action": action, "scheduled_at": when, "timezone": zone})
            return
        invalidate(self._cache, Namespace.CONTENT)
        redirect(resp, f"/admin/content/{found.name}/{id}?moved=scheduled")


# The API's messages about the time name its field; the form's input is "When".
SCHEDULE_FIELD_PREFIX = "scheduled_at "
UNPUBLISH_UNPLANNED = ("Only a published item can be unpublished: this one is not published and "
                       "no publish is scheduled before that time. Schedule its publish first.")


def schedule_message(error):
    """What the schedule form says of a refused schedule: the service's message, the API's
    field name ("scheduled_at must be in the future") read as the form's time."""
    if error.message.startswith(SCHEDULE_FIELD_PREFIX):
        said = "The time " + error.message.removeprefix(SCHEDULE_FIELD_PREFIX)
        return said if said.endswith(".") else said + "."
    return error.message


def check_unpublish_planned(content, action, when, zone):
    """Refuse scheduling ``unpublish`` of ``content`` when nothing will have published it
    by then: it is not published, and no pending publish of it comes before ``when`` (in
    ``zone``). A time that cannot be read, or that is past, is left for ``create_schedule``
    to refuse, in its own words."""
    if action != "unpublish" or content.status == "published":
        return
    try:
        at = scheduling.parse_schedule_time(when, zone)
    except workflow.WorkflowError:
        return
    if scheduling.is_past(at):
        return
    pending, _ = list_schedules(status="pending", content_id=content.id, action="publish", limit=100)
    if not any(row.scheduled_at < at for row in pending):
        raise workflow.NotAllowed(UNPUBLISH_UNPLANNED)


class ContentScheduleCancelAction:
    """``POST /admin/content/{collection}/{id}/schedules/{schedule_id}/cancel``: cancel a pending
    schedule of the item (as ``DELETE /api/schedules/{id}``)."""

    def __init__(self, edit_page, db, cache):
        self._edit = edit_page
        self._db = db
        self._cache = cache

    @access("content.publish")
    def on_post(self, req, resp, collection, id, schedule_id):
        found, item, content = self._edit.load(req, collection, id)
        try:
            row = scheduling.get_schedule(schedule_id)
        except workflow.NotFound:
            raise falcon.HTTPNotFound() from None
        if row.content_id != content.id or row.status != "pending":
            raise falcon.HTTPNotFound()  # not this item's pending schedule
        try:
            scheduling.cancel_schedule(self._db, schedule_id)
        except workflow.WorkflowError as ex:  # no longer pending: run or cancelled meanwhile
            self._edit.render(req, resp, found, item, content, status_of(ex), message=ex.message)
            return
        invalidate(self._cache, Namespace.CONTENT)
        redirect(resp, f"/admin/content/{found.name}/{id}?moved=cancelled")
