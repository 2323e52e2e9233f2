"""Assignments in the admin: the edit page's assign form and the "My assignments" page.

* ``POST /admin/content/{collection}/{id}/assign``: ``user_id`` (empty: unassign), ``due_date``
  (a date, due at the end of that day, UTC) and ``note``, through ``assignments.assign`` as
  ``POST /api/workflow/content/{id}/assign``; a refusal shows the edit page with the reason.
* ``GET /admin/workflow/assignments``: the items assigned to the signed-in user that they
  can read, soonest due first, each with its state now.
"""

import falcon

from app.admin.pages import one, page_number, read_form, redirect
from app.api.access import access
from app.api.errors import SERVICE_ERROR_STATUS
from app.services.content import assignments, workflow
from app.services.content.query import Scope
from app.services.pagination import pagination_meta

PAGE_SIZE = 20


def assign_panel(user, content, roles):
    """What the edit page's assignment panel shows ``user`` for ``content``: the assignment
    (when they may see it), whether they may change it, and whom they may choose."""
    live = content.deleted_at is None
    row = assignments.assignment_of(content.id) if live else None
    can_assign = live and assignments.may_assign(user, content)
    return {
        "assignment": row if row is not None and assignments.may_see(user, content, row) else None,
        "can_assign": can_assign,
        "assignees": assignments.assignee_choices(content, roles) if can_assign else [],
    }


NO_ASSIGN_PANEL = {"assignment": None, "can_assign": False, "assignees": []}


class ContentAssignAction:
    """``POST /admin/content/{collection}/{id}/assign``."""

    def __init__(self, edit_page, db, roles):
        self._edit = edit_page
        self._db = db
        self._roles = roles

    @access("content.read")
    def on_post(self, req, resp, collection, id):
        found, item, content = self._edit.load(req, collection, id)
        form = read_form(req)
        try:
            assignments.assign(self._db, id, req.context.user, self._roles,
                               assignee_id=one(form, "user_id").strip() or None,
                               due_at=one(form, "due_date").strip() or None, note=one(form, "note"))
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
        rows, total = assignments.list_assignments(Scope.of(user), user.id, page, PAGE_SIZE)
        self._renderer.page(
            req, resp, "assignments.html", status=falcon.HTTP_200, rows=rows,
            states={row.content_id: workflow.current_state(row.content) for row in rows},
            overdue={row.content_id for row in rows if assignments.is_overdue(row)},
            meta=pagination_meta(total, PAGE_SIZE, page),
        )
