"""Forms (``forms.read``, ``forms.manage``): the list, a form's editor, its submissions.

The editor takes a form's fields as JSON in a text area, as ``POST /admin/api/forms`` does,
and its settings as controls (the notification addresses one per line or separated by
commas). What the service refuses is shown above the form, every problem by its path
(``fields.email.type``), with what was typed kept. A field list that is not JSON at all is
said so, with the position of the mistake. The rules are the API's (``app.services.forms``).

A submission's page shows what was sent; its status (new, read, spam) changes only by its
buttons, never by opening it. The export is the API's (``GET /admin/api/forms/{id}/
submissions/export``), for the same rows.
"""

import json
import re

import falcon

from app.admin.pages import one, page_number, read_form, redirect
from app.api.access import access
from app.api.exports import FORMATS
from app.api.forms import MANAGE, READ, send_submissions_export, turnstile_ready
from app.services import form_submissions, forms
from app.services.pagination import pagination_meta

PAGE_SIZE = 50
_ADDRESS_SEPARATORS = re.compile(r"[\s,;]+")


def _draft(form=None):
    """The editor's values for ``form`` (a new form's when None), as the page's controls hold them."""
    if form is None:
        return {"name": "", "display_name": "", "description": "", "is_active": True, "fields": "{}",
                "success_message": forms.DEFAULT_SUCCESS_MESSAGE, "redirect_url": "", "notify_emails": "",
                "turnstile": False}
    settings = forms.form_json(form)["settings"]
    return {"name": form.name, "display_name": form.display_name, "description": form.description or "",
            "is_active": form.is_active, "fields": json.dumps(form.fields, indent=2, ensure_ascii=False),
            "success_message": settings["success_message"], "redirect_url": settings["redirect_url"] or "",
            "notify_emails": "\n".join(settings["notify_emails"]), "turnstile": settings["turnstile"]}


def _posted(req):
    """The editor's values as posted (text as typed, boxes as booleans)."""
    form = read_form(req)
    draft = {name: one(form, name) for name in ("name", "display_name", "description", "fields",
                                                 "success_message", "redirect_url", "notify_emails")}
    draft.update(is_active=one(form, "is_active") == "1", turnstile=one(form, "turnstile") == "1")
    return draft


def _values(draft):
    """The create or update ``draft`` stands for; InvalidForm when its fields are not JSON."""
    try:
        fields = json.loads(draft["fields"] or "{}")
    except ValueError as ex:
        raise forms.InvalidForm([{"field": "fields", "message": f"not valid JSON ({ex})"}]) from None
    settings = {
        "success_message": draft["success_message"] or forms.DEFAULT_SUCCESS_MESSAGE,
        "redirect_url": draft["redirect_url"].strip() or None,
        "notify_emails": [email for email in _ADDRESS_SEPARATORS.split(draft["notify_emails"]) if email],
        "turnstile": draft["turnstile"],
    }
    return {"name": draft["name"].strip(), "display_name": draft["display_name"], "fields": fields,
            "description": draft["description"] or None, "settings": settings, "is_active": draft["is_active"]}


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

    def show(self, req, resp, draft, form=None, problems=(), status=falcon.HTTP_200):
        """Render the editor of ``draft`` (``form``: the stored one being edited, else None)."""
        self._renderer.page(req, resp, "site_form.html", status=status, draft=draft, form=form,
                            problems=list(problems), can_manage=req.context.user.can(MANAGE),
                            turnstile_ready=turnstile_ready(self._settings))

    def save(self, req, resp, form=None):
        """Create (``form`` None) or update ``form`` from the post; back to its page, or the editor
        again with the problems."""
        draft = _posted(req)
        ready = turnstile_ready(self._settings)
        try:
            values = _values(draft)
            saved = (forms.update_form(form.id, values, ready) if form is not None
                     else forms.create_form(values, ready, req.context.user.id))
        except forms.InvalidForm as ex:
            self.show(req, resp, draft, form, ex.details, falcon.HTTP_422)
            return
        except forms.FormExists as ex:
            self.show(req, resp, draft, form, [{"field": "name", "message": ex.message}], falcon.HTTP_409)
            return
        redirect(resp, f"/admin/forms/{saved.name}?saved=1")


class FormNewPage(FormEditor):
    """``GET/POST /admin/forms/new``."""

    @access(MANAGE)
    def on_get(self, req, resp):
        self.show(req, resp, _draft())

    @access(MANAGE)
    def on_post(self, req, resp):
        self.save(req, resp)


class FormPage(FormEditor):
    """``GET /admin/forms/{name}`` (read-only without ``forms.manage``); ``POST`` saves."""

    @access(READ)
    def on_get(self, req, resp, name):
        form = forms.get_form(name)
        self.show(req, resp, _draft(form), form)

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

    @access(READ)
    def on_get(self, req, resp, name, submission_id):
        form = forms.get_form(name)
        row = form_submissions.get_submission(form, submission_id)
        self._renderer.page(req, resp, "form_submission.html", form=form,
                            submission=form_submissions.submission_json(row), statuses=form_submissions.STATUSES,
                            can_manage=req.context.user.can(MANAGE))


class SubmissionStatusAction:
    """``POST /admin/forms/{name}/submissions/{submission_id}/status`` (``status``)."""

    @access(MANAGE)
    def on_post(self, req, resp, name, submission_id):
        form = forms.get_form(name)
        form_submissions.set_status(form, submission_id, one(read_form(req), "status"))
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
    routes.add_page("/admin/forms/{name}/submissions/{submission_id}", SubmissionPage(renderer))
    routes.add_page("/admin/forms/{name}/submissions/{submission_id}/status", SubmissionStatusAction())
    routes.add_page("/admin/forms/{name}/submissions/{submission_id}/delete", SubmissionDeleteAction())
