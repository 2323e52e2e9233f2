"""``/admin/api/forms``: forms and their submissions, for the people who run the site.

Reading (forms, submissions, the export) needs ``forms.read``; creating, changing and
deleting forms, and changing or deleting submissions, ``forms.manage`` (admins and editors
hold both). ``{form_id}`` is a form's id or its name (the id is looked for first, and no
name has an id's shape). The definitions' rules are ``app.services.forms``'s: a 422 lists
every problem with its path (``fields.email.type``, ``settings.redirect_url``), a taken
name is a 409.

The export's CSV has one column per field of the form, then one per other key found in the
data (a field removed since); its format, row limit, truncation header and cells are every
export's (``app.api.exports``, as the logs'): what visitors type is anyone's text.
"""

import falcon
import msgspec

from app.api.access import access
from app.api.describe import LOCATION, Header, Param, describe, paged
from app.api.errors import invalid_param, nothing_to_update, read_body
from app.api.exports import EXPORT_LIMIT, FORMAT, TRUNCATED, send_export
from app.api.params import limit_param, page_param
from app.api.private import NO_STORE, no_store
from app.api.schemas import Listed, One, SuccessOf
from app.api.schemas_admin import IdOnly
from app.api.schemas_forms import FormBody, FormInfo, FormPatch, SubmissionExport, SubmissionInfo, SubmissionPatch
from app.services import form_submissions, forms
from app.services.pagination import pagination_meta

READ = "forms.read"
MANAGE = "forms.manage"
DEFAULT_LIMIT = 20
MAX_LIMIT = 100
SUBMISSION_COLUMNS = ("id", "created_at", "status", "user_id", "user_agent")
DISPOSITION = Header("Content-Disposition", 'attachment; filename="<form name>-submissions-<UTC time>.<format>"')
STATUS_PARAM = Param("status", str, "only submissions with this status: new, read or spam")


def turnstile_ready(settings):
    """Whether both Turnstile keys are configured (a form may turn it on only then)."""
    return bool(settings.turnstile_site_key and settings.turnstile_secret_key)


def status_filter(req):
    """The ``status`` parameter (None when absent); 400 for another value."""
    value = req.get_param("status")
    if value is not None and value not in form_submissions.STATUSES:
        raise invalid_param("status", "must be one of new, read, spam", allowed=list(form_submissions.STATUSES))
    return value


class FormsResource:
    """``GET`` (list) and ``POST`` (create) ``/admin/api/forms``."""

    def __init__(self, settings):
        self._settings = settings

    @access(READ)
    @describe("List forms by name", query=(*paged(DEFAULT_LIMIT, MAX_LIMIT), Param("search", str,
              "in name and display name")), response=Listed[FormInfo])
    def on_get(self, req, resp):
        page, limit = page_param(req), limit_param(req, DEFAULT_LIMIT, MAX_LIMIT)
        rows, total, counts = forms.list_forms(page, limit, (req.get_param("search") or "").strip()[:200] or None)
        resp.media = {"data": [forms.form_json(row, counts.get(row.id)) for row in rows],
                      "meta": pagination_meta(total, limit, page)}

    @access(MANAGE)
    @describe("Create a form", body=FormBody, status=201, response=One[FormInfo], headers={201: (LOCATION,)})
    @no_store
    def on_post(self, req, resp):
        body = read_body(req, FormBody)
        form = forms.create_form(msgspec.to_builtins(body), turnstile_ready(self._settings), req.context.user.id)
        resp.status = falcon.HTTP_201
        resp.location = f"/admin/api/forms/{form.id}"
        resp.media = {"data": forms.form_json(form)}


class FormResource:
    """``GET``, ``PATCH`` and ``DELETE /admin/api/forms/{form_id}`` (an id or a name)."""

    def __init__(self, settings):
        self._settings = settings

    @access(READ)
    @describe("One form, settings included", response=One[FormInfo])
    def on_get(self, req, resp, form_id):
        form = forms.get_form(form_id)
        resp.media = {"data": forms.form_json(form, forms.submission_counts([form.id]).get(form.id))}

    @access(MANAGE)
    @describe("Change a form (settings named are changed, the others kept)", body=FormPatch,
              response=One[FormInfo])
    @no_store
    def on_patch(self, req, resp, form_id):
        body = read_body(req, FormPatch)
        changes = msgspec.to_builtins(body)  # the fields named, settings too (UNSET is left out)
        if not changes:
            raise nothing_to_update()
        form = forms.update_form(form_id, changes, turnstile_ready(self._settings))
        resp.media = {"data": forms.form_json(form, forms.submission_counts([form.id]).get(form.id))}

    @access(MANAGE)
    @describe("Delete a form and its submissions", response=SuccessOf[IdOnly])
    def on_delete(self, req, resp, form_id):
        resp.media = {"success": True, "data": {"id": forms.delete_form(form_id)}}


class SubmissionsResource:
    """``GET /admin/api/forms/{form_id}/submissions``: newest first."""

    @access(READ)
    @describe("A form's submissions, newest first", query=(*paged(DEFAULT_LIMIT, MAX_LIMIT), STATUS_PARAM),
              response=Listed[SubmissionInfo])
    def on_get(self, req, resp, form_id):
        page, limit = page_param(req), limit_param(req, DEFAULT_LIMIT, MAX_LIMIT)
        rows, total = form_submissions.list_submissions(forms.get_form(form_id), page, limit, status_filter(req))
        resp.media = {"data": [form_submissions.submission_json(row) for row in rows],
                      "meta": pagination_meta(total, limit, page)}
        resp.cache_control = [NO_STORE]  # what visitors sent: names, addresses, messages


class SubmissionResource:
    """``GET``, ``PATCH`` (status) and ``DELETE /admin/api/forms/{form_id}/submissions/{submission_id}``."""

    @access(READ)
    @describe("One submission", response=One[SubmissionInfo])
    @no_store
    def on_get(self, req, resp, form_id, submission_id):
        row = form_submissions.get_submission(forms.get_form(form_id), submission_id)
        resp.media = {"data": form_submissions.submission_json(row)}

    @access(MANAGE)
    @describe("Mark a submission new, read or spam", body=SubmissionPatch, response=One[SubmissionInfo])
    @no_store
    def on_patch(self, req, resp, form_id, submission_id):
        body = read_body(req, SubmissionPatch)
        row = form_submissions.set_status(forms.get_form(form_id), submission_id, body.status)
        resp.media = {"data": form_submissions.submission_json(row)}

    @access(MANAGE)
    @describe("Delete a submission", response=SuccessOf[IdOnly])
    def on_delete(self, req, resp, form_id, submission_id):
        deleted = form_submissions.delete_submission(forms.get_form(form_id), submission_id)
        resp.media = {"success": True, "data": {"id": deleted}}


def _submission_rows(form, entries):
    """``entries`` (``submission_json`` rows) as the CSV's rows: the submission's columns, then
    one per field of ``form`` and one per other key its data holds."""
    names = list(form.fields)
    names += sorted({key for entry in entries for key in entry["data"]} - set(names))
    return [[*SUBMISSION_COLUMNS, *names],
            *([*(entry[column] for column in SUBMISSION_COLUMNS), *(entry["data"].get(name) for name in names)]
              for entry in entries)]


def send_submissions_export(req, resp, form):
    """Answer ``form``'s submissions as a CSV or JSON download (``format``; 400 for another)."""

    def read(limit):
        rows, truncated = form_submissions.export_submissions(form, limit)
        return [form_submissions.submission_json(row) for row in rows], truncated

    send_export(req, resp, read, lambda entries: _submission_rows(form, entries), f"{form.name}-submissions")


class SubmissionsExportResource:
    """``GET /admin/api/forms/{form_id}/submissions/export``."""

    @access(READ)
    @describe(f"Download a form's submissions, newest first (CSV or JSON, at most {EXPORT_LIMIT:,})",
              query=(FORMAT,), response=SubmissionExport, alternatives=("text/csv",),
              headers={200: (DISPOSITION, TRUNCATED)})
    def on_get(self, req, resp, form_id):
        send_submissions_export(req, resp, forms.get_form(form_id))


def register(routes):
    """Mount ``/admin/api/forms`` and its submissions."""
    settings = routes.settings
    routes.add("/admin/api/forms", FormsResource(settings))
    routes.add("/admin/api/forms/{form_id}", FormResource(settings))
    routes.add("/admin/api/forms/{form_id}/submissions", SubmissionsResource())
    routes.add("/admin/api/forms/{form_id}/submissions/export", SubmissionsExportResource())
    routes.add("/admin/api/forms/{form_id}/submissions/{submission_id}", SubmissionResource())
