"""Forms (``forms.read``, ``forms.manage``): the list, a form's editor, its submissions.

The editor builds a form's fields with the collection editor's field builder
(``app.admin.field_builder``), limited to what a form carries: the form field types
(``forms.FORM_FIELD_TYPES``, by their labels), each field's name, label, ``required``
(its own ``"required": true``), choices, minimum and maximum, lengths, placeholder, help
text, and any other setting (``pattern``, ``default``, ``enumLabels``...) as JSON; no
indexed or sortable flags and no referenced collections. Rows are added, removed and
reordered in place (``field-builder.js``), or without script by an empty row, a remove box
and positions. A row posted back as shown keeps its field exactly as stored. The settings
are controls of their own (the notification addresses one per line or separated by commas).

A save goes through the forms service, as ``POST /admin/api/forms`` does: what it refuses is
shown above the form, every problem by its path (``fields.email.type``), and a problem
about a field also on its row, marking the input it is about; what the rows cannot say
(a row without a name, a name used twice, options that are no JSON object, a minimum that
is no number) is listed with the service's problems, and so is a name another form has:
every rule is checked before anything is written. They are listed in the page's order, as
the collection editor lists its own: the name's first, then the display name's, the
description's, the fields' (the rows' own before the service's) and the settings'. What was
typed is kept.

A submission's page shows what was sent; its status (new, read, spam) changes only by its
buttons, never by opening it. The export is the API's (``GET /admin/api/forms/{id}/
submissions/export``), for the same rows.
"""

import re

import falcon

from app.admin.field_builder import (
    COLLECTION_FIELDS,
    attach_errors,
    blank_row,
    listed_problems,
    row_limit_problem,
    rows_from_form,
    rows_from_schema,
    rows_to_show,
    schema_from_rows,
)
from app.admin.pages import form_as_typed, one, page_number, problems_in_words, redirect
from app.api.access import access
from app.api.exports import FORMATS
from app.api.forms import MANAGE, READ, send_submissions_export, turnstile_ready
from app.services import form_submissions, forms
from app.services.pagination import pagination_meta

PAGE_SIZE = 50
_ADDRESS_SEPARATORS = re.compile(r"[\s,;]+")
# The rows of a form's fields: its types only, each field's own "required", no flags and no
# references (a form has neither), as many as a form may have.
FORM_FIELDS = COLLECTION_FIELDS.limited_to(forms.FORM_FIELD_TYPES, flags=(), references=False,
                                           required_list=False, max_rows=forms.MAX_FIELDS)
# The editor's parts, in the order a refusal lists their problems: the page's, and the
# collection editor's (the name's first, the fields' after it).
PROBLEM_ORDER = ("name", "display_name", "description", "fields", "settings")


def _draft(form=None):
    """The editor's values for ``form`` (a new form's when None), as the page's controls hold them."""
    if form is None:
        return {"name": "", "display_name": "", "description": "", "is_active": True,
                "success_message": forms.DEFAULT_SUCCESS_MESSAGE, "redirect_url": "", "notify_emails": "",
                "turnstile": False}
    settings = forms.form_json(form)["settings"]
    return {"name": form.name, "display_name": form.display_name, "description": form.description or "",
            "is_active": form.is_active,
            "success_message": settings["success_message"], "redirect_url": settings["redirect_url"] or "",
            "notify_emails": "\n".join(settings["notify_emails"]), "turnstile": settings["turnstile"]}


def _rows(form=None):
    """The builder rows of ``form``'s fields (none for a new form)."""
    return rows_from_schema({"properties": form.fields}, FORM_FIELDS) if form is not None else []


def _posted(posted):
    """The editor's values as ``posted`` (text as typed, boxes as booleans), the fields aside."""
    draft = {name: one(posted, name) for name in ("name", "display_name", "description",
                                                   "success_message", "redirect_url", "notify_emails")}
    draft.update(is_active=one(posted, "is_active") == "1", turnstile=one(posted, "turnstile") == "1")
    return draft


def _fields(rows):
    """``(fields, problems)`` of the builder ``rows``: the fields the rows make, and the
    ``{field, message}`` of each problem only the rows can have (put on its row too); a row
    with one is left out of the fields. Rows carrying more fields than a form has are one
    problem, and make none: the form's other parts are checked without them."""
    too_many = row_limit_problem(rows, FORM_FIELDS, where="fields")
    if too_many is not None:
        return {}, [too_many]
    schema, refused = schema_from_rows(rows)
    for row, message in refused:
        row.errors.append(message)
    return schema["properties"], listed_problems(refused, prefix="fields.")


def _values(draft, fields):
    """The create or update ``draft`` with ``fields`` stands for."""
    settings = {
        "success_message": draft["success_message"] or forms.DEFAULT_SUCCESS_MESSAGE,
        "redirect_url": draft["redirect_url"].strip() or None,
        "notify_emails": [email for email in _ADDRESS_SEPARATORS.split(draft["notify_emails"]) if email],
        "turnstile": draft["turnstile"],
    }
    return {"name": draft["name"].strip(), "display_name": draft["display_name"], "fields": fields,
            "description": draft["description"] or None, "settings": settings, "is_active": draft["is_active"]}


def _service_problems(values, ready, form):
    """The ``{field, message}`` of each rule of the forms service ``values`` break (the
    create's, or ``form``'s update), checked without writing."""
    try:
        forms.prepare(values, ready, current=form)
    except forms.InvalidForm as ex:
        return list(ex.details)
    return []


def _part_of(problem):
    """Where ``problem`` stands in ``PROBLEM_ORDER``, by the first step of its path
    (``fields`` for ``fields.email.type``); a part the editor does not know comes last."""
    part = str(problem.get("field") or "").split(".", 1)[0]
    return PROBLEM_ORDER.index(part) if part in PROBLEM_ORDER else len(PROBLEM_ORDER)


def _in_page_order(row_problems, problems):
    """Every problem of a refusal, in ``PROBLEM_ORDER``: ``row_problems`` (the rows' own,
    some named by the row's place, "Field 2", rather than a path) are the fields', before the
    service's; ``problems`` (the service's and a taken name's) go by their paths. Problems of
    one part keep the order they were found in."""
    fields = PROBLEM_ORDER.index("fields")
    ranked = [*((fields, problem) for problem in row_problems), *((_part_of(problem), problem) for problem in problems)]
    return [problem for _, problem in sorted(ranked, key=lambda pair: pair[0])]


def _name_conflict(name, form):
    """The problem of ``name`` when another form than ``form`` has it (none when it is free)."""
    return forms.FormExists(name).details if forms.name_taken(name, form) else []


class FormsPage:
    """``GET /admin/forms``: every form, with its submission count."""

    def __init__(self, renderer):
        self._renderer = renderer

    @access(READ)
    def on_get(self, req, resp):
        page = page_number(req)
        rows, total, counts = forms.list_forms(page, PAGE_SIZE)
        self._renderer.page(req, resp, "site_forms.html", forms=rows, counts=counts,
                            meta=pagination_meta(total, PAGE_SIZE, page), can_manage=req.context.user.can(MANAGE))


class FormEditor:
    """What the new-form and edit pages share: rendering the editor, with problems."""

    def __init__(self, renderer, settings):
        self._renderer = renderer
        self._settings = settings

    def show(self, req, resp, draft, rows, form=None, problems=(), status=falcon.HTTP_200):
        """Render the editor of ``draft`` and the field ``rows`` (``form``: the stored one being
        edited, else None); one who may change it also gets an empty row for a new field."""
        can_manage = req.context.user.can(MANAGE)
        shown = rows_to_show(rows, FORM_FIELDS, _rows(form)) if can_manage else rows
        self._renderer.page(req, resp, "site_form.html", status=status, draft=draft, form=form,
                            problems=list(problems), can_manage=can_manage, rows=shown, editable=can_manage,
                            template_row=blank_row(shown, FORM_FIELDS),
                            turnstile_ready=turnstile_ready(self._settings))

    def save(self, req, resp, form=None):
        """Create (``form`` None) or update ``form`` from the post; back to its page, or the editor
        again with every problem, the rows as posted."""
        posted, refused = form_as_typed(req)  # a NUL pasted: one more problem, the rest as typed
        draft = _posted(posted)
        rows = rows_from_form(posted, _rows(form), FORM_FIELDS)
        fields, row_problems = _fields(rows)
        ready = turnstile_ready(self._settings)
        values = _values(draft, fields)
        # Every problem is found before anything is written, so one refusal lists them all:
        # the rows', the service's rules, and a name another form has (``_in_page_order``).
        problems = [*refused, *_service_problems(values, ready, form)]
        conflict = _name_conflict(values["name"], form)
        if row_problems or problems or conflict:
            # A taken name alone is a conflict (409); with anything else, one more problem.
            status = falcon.HTTP_422 if row_problems or problems else falcon.HTTP_409
            self.refuse(req, resp, draft, rows, form, row_problems, [*problems, *conflict], status)
            return
        try:
            saved = (forms.update_form(form.id, values, ready) if form is not None
                     else forms.create_form(values, ready, req.context.user.id))
        except forms.FormExists as ex:  # taken by another save since the check
            self.refuse(req, resp, draft, rows, form, [], list(ex.details), falcon.HTTP_409)
            return
        except forms.InvalidForm as ex:  # the write checks again: a change since the check
            self.refuse(req, resp, draft, rows, form, [], list(ex.details), falcon.HTTP_422)
            return
        redirect(resp, f"/admin/forms/{saved.name}?saved=1")

    def refuse(self, req, resp, draft, rows, form, row_problems, problems, status):
        """The editor again, nothing saved: the rows' own problems (on their rows already)
        and the others', each about a field put on its row too; all listed in the page's
        order (``_in_page_order``)."""
        # A row with a problem of its own was left out of the fields: the service's problems
        # are the others' (a second row named "email" is not the one checked).
        attach_errors([row for row in rows if not row.errors], problems, prefix="fields.")
        self.show(req, resp, draft, rows, form, _in_page_order(row_problems, problems), status)


class FormNewPage(FormEditor):
    """``GET/POST /admin/forms/new``."""

    @access(MANAGE)
    def on_get(self, req, resp):
        self.show(req, resp, _draft(), _rows())

    @access(MANAGE)
    def on_post(self, req, resp):
        self.save(req, resp)


class FormPage(FormEditor):
    """``GET /admin/forms/{name}`` (read-only without ``forms.manage``); ``POST`` saves."""

    @access(READ)
    def on_get(self, req, resp, name):
        form = forms.get_form(name)
        self.show(req, resp, _draft(form), _rows(form), form)

    @access(MANAGE)
    def on_post(self, req, resp, name):
        self.save(req, resp, forms.get_form(name))


class FormDeleteAction:
    """``POST /admin/forms/{name}/delete``: the form and its submissions."""

    @access(MANAGE)
    def on_post(self, req, resp, name):
        forms.delete_form(name)
        redirect(resp, "/admin/forms")


class SubmissionsPage:
    """``GET /admin/forms/{name}/submissions`` (``status``, ``page``)."""

    def __init__(self, renderer):
        self._renderer = renderer

    @access(READ)
    def on_get(self, req, resp, name):
        form = forms.get_form(name)
        status = req.get_param("status")
        status = status if status in form_submissions.STATUSES else None
        page = page_number(req)
        rows, total = form_submissions.list_submissions(form, page, PAGE_SIZE, status)
        self._renderer.page(req, resp, "form_submissions.html", form=form, only=status,
                            statuses=form_submissions.STATUSES, formats=FORMATS,
                            submissions=[form_submissions.submission_json(row) for row in rows],
                            meta=pagination_meta(total, PAGE_SIZE, page))


class SubmissionsExport:
    """``GET /admin/forms/{name}/submissions/export`` (``format``): the API's download."""

    @access(READ)
    def on_get(self, req, resp, name):
        send_submissions_export(req, resp, forms.get_form(name))


class SubmissionPage:
    """``GET /admin/forms/{name}/submissions/{submission_id}``."""

    def __init__(self, renderer):
        self._renderer = renderer

    def render(self, req, resp, form, submission_id, status=falcon.HTTP_200, error=None):
        """The submission's page; ``error``: why a post of its buttons changed nothing."""
        row = form_submissions.get_submission(form, submission_id)
        self._renderer.page(req, resp, "form_submission.html", status=status, form=form,
                            submission=form_submissions.submission_json(row), statuses=form_submissions.STATUSES,
                            can_manage=req.context.user.can(MANAGE), error=error)

    @access(READ)
    def on_get(self, req, resp, name, submission_id):
        self.render(req, resp, forms.get_form(name), submission_id)


class SubmissionStatusAction:
    """``POST /admin/forms/{name}/submissions/{submission_id}/status`` (``status``).

    Args:
        page: the ``SubmissionPage``, shown again when the post is refused.
    """

    def __init__(self, page):
        self._page = page

    @access(MANAGE)
    def on_post(self, req, resp, name, submission_id):
        form = forms.get_form(name)
        posted, refused = form_as_typed(req)
        if refused:  # a NUL in the button's form (forged: a browser sends none): the page says so
            self._page.render(req, resp, form, submission_id, falcon.HTTP_422, problems_in_words(refused))
            return
        form_submissions.set_status(form, submission_id, one(posted, "status"))
        redirect(resp, f"/admin/forms/{form.name}/submissions/{submission_id}")


class SubmissionDeleteAction:
    """``POST /admin/forms/{name}/submissions/{submission_id}/delete``."""

    @access(MANAGE)
    def on_post(self, req, resp, name, submission_id):
        form = forms.get_form(name)
        form_submissions.delete_submission(form, submission_id)
        redirect(resp, f"/admin/forms/{form.name}/submissions")


def register_forms(routes, renderer):
    """Mount the forms pages."""
    settings = routes.settings
    routes.add_page("/admin/forms", FormsPage(renderer))
    routes.add_page("/admin/forms/new", FormNewPage(renderer, settings))
    routes.add_page("/admin/forms/{name}", FormPage(renderer, settings))
    routes.add_page("/admin/forms/{name}/delete", FormDeleteAction())
    routes.add_page("/admin/forms/{name}/submissions", SubmissionsPage(renderer))
    routes.add_page("/admin/forms/{name}/submissions/export", SubmissionsExport())
    submission = SubmissionPage(renderer)
    routes.add_page("/admin/forms/{name}/submissions/{submission_id}", submission)
    routes.add_page("/admin/forms/{name}/submissions/{submission_id}/status", SubmissionStatusAction(submission))
    routes.add_page("/admin/forms/{name}/submissions/{submission_id}/delete", SubmissionDeleteAction())
