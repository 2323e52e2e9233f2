"""Assignments in the admin: the edit page's assign form and the "My assignments" page.

* ``POST /admin/content/{collection}/{id}/assign``: ``user_id`` (empty: unassign), ``due_date``
  (a date, due at the end of that day, UTC) and ``note``, through ``assignments.assign`` as
  ``POST /api/workflow/content/{id}/assign``; a refusal shows the edit page with the reason.
  The form comes filled in with the assignment as it is (its assignee always among the
  choices, its due date and note), so saving it unchanged changes nothing: a due date left
  as shown keeps its exact moment (``due_kept``), even one already past. A published or
  archived item has no form but a line saying to move it back to draft first; a form sent
  from a page drawn before the item was published is refused (409) with that reason.
* ``GET /admin/workflow/assignments``: the items assigned to the signed-in user that they
  can read in the active collections, soonest due first, each with its state now.
"""

from datetime import UTC, datetime

import falcon

from app.admin.pages import form_as_typed, one, page_number, problems_in_words, redirect
from app.api.access import access
from app.api.errors import SERVICE_ERROR_STATUS
from app.services.content import assignments, workflow
from app.services.content.assignment_ends import ENDING_STATES
from app.services.content.query import Scope
from app.services.pagination import pagination_meta

PAGE_SIZE = 20


def assign_panel(user, content, roles):
    """What the edit page's assignment panel shows ``user`` for ``content``: the assignment
    (when they may see it), whether they may change it, and whom they may choose.

    An unassigned item done with (published, archived) cannot be assigned: instead of a
    form that could only be refused, ``assign_closed`` names its state, for the panel to say
    so. One still assigned (from before assigning such items was refused) keeps the form,
    to unassign it."""
    live = content.deleted_at is None
    row = assignments.assignment_of(content.id) if live else None
    can_assign = live and assignments.may_assign(user, content, row)
    state = workflow.current_state(content)
    closed = state if can_assign and row is None and state in ENDING_STATES else None
    choices = assignments.assignee_choices(content, roles) if can_assign and not closed else []
    if can_assign and row is not None and all(person.id != row.assignee_id for person in choices):
        # Past the cap, or no longer eligible: still shown, so saving the form keeps them.
        choices.append(row.assignee)
    return {
        "assignment": row if row is not None and assignments.may_see(user, content, row) else None,
        "can_assign": can_assign,
        "assign_closed": closed,
        "assignees": choices,
        "due_date": due_date(row.due_at) if row is not None and row.due_at is not None else "",
    }


def due_date(ms):
    """The UTC date (``YYYY-MM-DD``) of epoch ms ``ms``, as the form's date field shows it."""
    return datetime.fromtimestamp(ms / 1000, UTC).date().isoformat()


def posted_due(form):
    """The due date the form asks for: the kept moment (``due_kept``) when the date shown was
    left as it was, else the date entered (None: none)."""
    text = one(form, "due_date").strip()
    kept = one(form, "due_kept").strip()
    if text and kept.isdigit() and len(kept) <= 16 and due_date(int(kept)) == text:
        return int(kept)
    return text or None


# The labels the assign form shows for its fields (the edit page's template writes them from
# these), and so the words a refusal names a field by.
ASSIGN_LABELS = {"user_id": "Who should act on it", "due_date": "Due (end of day, UTC)", "note": "Note"}
NO_ASSIGN_PANEL = {"assignment": None, "can_assign": False, "assign_closed": None, "assignees": [], "due_date": ""}


class ContentAssignAction:
    """``POST /admin/content/{collection}/{id}/assign``."""

    def __init__(self, edit_page, db, roles):
        self._edit = edit_page
        self._db = db
        self._roles = roles

    @access("content.read")
    def on_post(self, req, resp, collection, id):
        found, item, content = self._edit.load(req, collection, id)
        form, refused = form_as_typed(req)
        if refused:  # a NUL pasted: said by its field, the form as typed, nothing assigned
            typed = {name: one(form, name) for name in ("user_id", "due_date", "note")}
            self._edit.render(req, resp, found, item, content, falcon.HTTP_422,
                              message=problems_in_words(refused, ASSIGN_LABELS), assign_typed=typed)
            return
        assignee_id = one(form, "user_id").strip() or None
        # Nobody chosen: the due date and note shown with the assignment go with it.
        due_at, note = (posted_due(form), one(form, "note").replace("\r\n", "\n")) if assignee_id else (None, None)
        try:
            assignments.assign(self._db, id, req.context.user, self._roles,
                               assignee_id=assignee_id, due_at=due_at, note=note)
        except workflow.WorkflowError as ex:
            self._edit.render(req, resp, found, item, content, SERVICE_ERROR_STATUS[ex.kind], message=ex.message)
            return
        redirect(resp, f"/admin/content/{found.name}/{id}?moved=assigned")


class AssignmentsPage:
    """``GET /admin/workflow/assignments``: the signed-in user's assignments."""

    def __init__(self, renderer):
        self._renderer = renderer

    @access("content.read")
    def on_get(self, req, resp):
        user = req.context.user
        page = page_number(req)
        # In the active collections only, as All content and the dashboard list items: a
        # deactivated collection's edit pages are not found, for its managers too.
        scope = Scope.of(user).of_active_collections()
        rows, total = assignments.list_assignments(scope, user.id, page, PAGE_SIZE)
        self._renderer.page(
            req, resp, "assignments.html", status=falcon.HTTP_200, rows=rows,
            states={row.content_id: workflow.current_state(row.content) for row in rows},
            overdue={row.content_id for row in rows if assignments.is_overdue(row)},
            meta=pagination_meta(total, PAGE_SIZE, page),
        )
