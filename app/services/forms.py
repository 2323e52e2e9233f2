"""Forms the public fills in (SonicJS's Forms, without its Form.io builder): definitions.

A form has a ``name`` (its slug in ``/forms/<name>``: lowercase letters, digits, ``_`` and
``-``, as a collection's, but never 32 hexadecimal characters: the admin finds a form by its
id, a uuid4's hex, or its name, the id first), a ``display_name``, a ``description``, its ``fields`` and its
``settings``, and is active or not (an inactive form is unknown to the public).

``fields`` is an object of field name -> field declaration in the order the page shows them:
the declarations of collection schemas (``app.services.collection_schema``: ``type``,
``title``, ``required``, ``minLength``, ``pattern``, ``enum``...), checked by the same
rules, and a submission is validated as content ``data`` is
(``app.services.content.validation``). Only the types a plain HTML form carries are taken
(``FORM_FIELD_TYPES``): no references, media, files, objects, arrays or JSON. A name starting
with ``_`` is refused: the page's own controls (the honeypot) use those.

``settings`` holds what the visitor sees after sending (``success_message``, or a
``redirect_url``: a path on this site or an https URL), the addresses told of each
submission (``notify_emails``) and whether Cloudflare Turnstile guards the form
(``turnstile``). The public definition (``public_json``) never holds the addresses, the
redirect or who made it. The redirect is no secret, though: the form's page names its origin
in its Content-Security-Policy, and a stored post's 303 names the URL itself.
"""

import re
from typing import Annotated
from urllib.parse import urlsplit

import msgspec
import peewee

from app.db.database import release_connection
from app.db.models import Form, FormSubmission, database, now_ms
from app.db.text_match import contains_any_case
from app.services.accounts import Email
from app.services.collection_schema import (
    NAME_PATTERN,
    NAME_RULE,
    CollectionConfigError,
    parse_schema,
    schema_to_builtins,
)
from app.services.errors import CONFLICT, INVALID, NOT_FOUND, ServiceError, validation_detail

FORM_FIELD_TYPES = frozenset({
    "string", "text", "textarea", "email", "url", "number", "integer", "boolean", "checkbox",
    "select", "multiselect", "radio", "date", "datetime", "color",
})
# A form is reached by its id or its name (uuid4 hex): a name shaped like an id is refused.
_ID_LIKE = re.compile(r"[0-9a-f]{32}")
# /admin/forms/new is the admin's page for a new form: a form named "new" could never be edited.
RESERVED_NAMES = frozenset({"new"})
MAX_FIELDS = 100
MAX_NOTIFY_EMAILS = 10
MAX_DISPLAY_NAME = 200
MAX_DESCRIPTION = 2000
DEFAULT_SUCCESS_MESSAGE = "Thank you! Your submission has been received."
# The keys of a collection's fields a form's are refused: flags for its queries, a reference's targets.
COLLECTIONS_ONLY = "indexed, sortable and collection are for collections"
TURNSTILE_UNSET = "TURNSTILE_SITE_KEY and TURNSTILE_SECRET_KEY must be set before a form can use Turnstile"


# The types of the settings' values, which the API's body declares too.
SuccessMessage = Annotated[str, msgspec.Meta(min_length=1, max_length=1000)]
RedirectUrl = Annotated[str, msgspec.Meta(max_length=2000)]
NotifyEmails = Annotated[list[Email], msgspec.Meta(max_length=MAX_NOTIFY_EMAILS)]


class FormSettings(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """A form's ``settings`` (all optional; stored whole, defaults filled in)."""

    success_message: SuccessMessage = DEFAULT_SUCCESS_MESSAGE
    redirect_url: RedirectUrl | None = None
    notify_emails: NotifyEmails = msgspec.field(default_factory=list)
    turnstile: bool = False


class FormNotFound(ServiceError):
    """No such form (or, for the public, no such active form)."""

    kind = NOT_FOUND

    def __init__(self, message="Form not found", details=None):
        super().__init__(message, details)


class InvalidForm(ServiceError):
    """A definition that breaks a rule; ``details`` lists ``{field, message}`` for each."""

    kind = INVALID

    def __init__(self, details):
        super().__init__("Validation failed", details)


class FormExists(ServiceError):
    """Another form has the name already; ``details`` is ``[{field, message}]`` on ``name``,
    the shape of every field's problem (a 422's, and the other 409s naming a field)."""

    kind = CONFLICT

    def __init__(self, name):
        message = f"A form named {name!r} exists already"
        super().__init__(message, [{"field": "name", "message": message}])


# What a redirect may hold: printable ASCII, no space (anything else percent-encoded), and
# nothing a browser could read as another host (a backslash).
_PRINTABLE = re.compile(r"[\x21-\x7e]+")
# A host named in a redirect: DNS labels of ASCII letters, digits and "-" (an internationalised
# name in its xn-- form); it goes into the page's Content-Security-Policy as it stands.
_HOST = re.compile(r"(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")
_PLAIN_URL = "must be a path on this site (/thanks) or an https URL"


def _redirect_target(url):
    """``(problem, origin)`` of the redirect ``url``: why it may not be one (None when it may),
    and the ``https://host[:port]`` it leads to (None for a path on this site or a refusal)."""
    if not _PRINTABLE.fullmatch(url) or "\\" in url:
        return "printable ASCII only, without spaces or backslashes (percent-encode the rest)", None
    if url.startswith("/"):
        return ("a path on this site must not start with //" if url.startswith("//") else None), None
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:  # an unclosed "[", a port that is no number or over 65535
        return _PLAIN_URL + " with a valid host and port", None
    if parts.scheme != "https" or not parts.hostname:
        return _PLAIN_URL, None
    if parts.username is not None or parts.password is not None:
        return "must not carry a user name or password", None
    if len(parts.hostname) > 253 or not _HOST.fullmatch(parts.hostname):
        return ("the host must be a domain name: letters, digits, - and . (an internationalised name in its "
                "xn-- form)"), None
    if port == 0:
        return "the port must be 1 to 65535", None
    return None, f"https://{parts.hostname}" + (f":{port}" if port is not None else "")


def redirect_problem(url):
    """Why ``url`` may not be a form's redirect (None when it may): a path on this site
    (``/thanks``) or an absolute https URL to a domain name, in printable ASCII, nothing a
    browser could read as another scheme or another host (``//evil.example``,
    ``/\\evil.example``, ``javascript:``)."""
    return _redirect_target(url)[0]


def redirect_origin(url):
    """The origin (``https://host[:port]``) the redirect ``url`` leads to, rebuilt from its
    checked host and port; None for a path on this site, no redirect, or one the check refuses
    (a row saved before a rule was added is never trusted as it stands)."""
    return _redirect_target(url)[1] if url else None


def usable_redirect(url):
    """``url`` when it passes the redirect check; None otherwise (or when there is none)."""
    return url if url and _redirect_target(url)[0] is None else None


def _problems(errors):
    """``"<path>: <message>"`` strings as ``{field, message}`` details."""
    details = []
    for error in errors:
        path, _, message = error.partition(": ")
        details.append({"field": path, "message": message or error})
    return details


def _type_problem(name, declaration):
    kind = declaration.get("type") if isinstance(declaration, dict) else None
    known = ", ".join(sorted(FORM_FIELD_TYPES))
    if kind is None:
        return None  # no type at all is the collections' rule to name
    if not isinstance(kind, str):  # a list or an object is no type (and cannot be looked up in a set)
        return {"field": f"fields.{name}.type", "message": f"must be a string, one of the form field types: {known}"}
    if kind in FORM_FIELD_TYPES:
        return None
    return {"field": f"fields.{name}.type", "message": f"a form cannot carry a {kind!r} field; form field types: "
                                                        f"{known}"}


def check_fields(raw):
    """The canonical form of a valid ``fields`` object; InvalidForm listing every problem."""
    if not isinstance(raw, dict):
        raise InvalidForm([{"field": "fields", "message": "must be an object of field name -> declaration"}])
    if len(raw) > MAX_FIELDS:
        raise InvalidForm([{"field": "fields", "message": f"at most {MAX_FIELDS} fields"}])
    problems = [problem for name, declaration in raw.items() if (problem := _type_problem(name, declaration))]
    problems += [{"field": f"fields.{name}", "message": "a name starting with _ is kept for the page's own controls"}
                 for name in raw if name.startswith("_")]
    kept = {name: declaration for name, declaration in raw.items() if _type_problem(name, declaration) is None}
    try:
        schema = parse_schema({"type": "object", "properties": kept}, "fields")
    except CollectionConfigError as ex:
        # parse_schema names a field "fields.properties.<name>": here the object is the fields.
        problems += _problems(error.replace("fields.properties.", "fields.", 1) for error in ex.errors)
        raise InvalidForm(problems) from None
    # Each key by its own path: the admin's rows mark the input a problem is about by it. A
    # form has no references, so a target is refused whatever the field's type: stored, it
    # would be a key nothing reads.
    problems += [{"field": f"fields.{name}.{key}", "message": COLLECTIONS_ONLY}
                 for name, field in schema.properties.items() for key in ("indexed", "sortable", "collection")
                 if (field.collection is not None if key == "collection" else getattr(field, key))]
    if problems:
        raise InvalidForm(problems)
    return schema_to_builtins(schema)["properties"]


def check_settings(raw, turnstile_ready):
    """The stored form of valid ``settings`` (defaults filled in); InvalidForm otherwise.

    Args:
        raw: the settings object.
        turnstile_ready: whether the Turnstile keys are configured (a form may use it only then).
    """
    try:
        settings = msgspec.convert(raw if raw is not None else {}, FormSettings)
    except msgspec.ValidationError as ex:
        # Named as the API names a body's (an unknown key at ``settings.<key>``): a stored row
        # written by hand is checked here when a change merges its settings.
        raise InvalidForm([validation_detail(ex, "settings")]) from None
    problems = []
    if settings.redirect_url is not None and (problem := redirect_problem(settings.redirect_url)):
        problems.append({"field": "settings.redirect_url", "message": problem})
    if settings.turnstile and not turnstile_ready:
        problems.append({"field": "settings.turnstile", "message": TURNSTILE_UNSET})
    if problems:
        raise InvalidForm(problems)
    return msgspec.to_builtins(settings)


def _identity_problems(name, display_name, description):
    problems = []
    if name is not None and not NAME_PATTERN.fullmatch(name):  # match's $ passes a final newline
        problems.append({"field": "name", "message": f"A form name must {NAME_RULE}"})
    elif name in RESERVED_NAMES:
        problems.append({"field": "name", "message": f"{name!r} is reserved: /admin/forms/{name} is the admin's page "
                                                    "for a new form"})
    elif name is not None and _ID_LIKE.fullmatch(name):
        problems.append({"field": "name", "message": "32 hexadecimal characters read as a form's id where a form is "
                                                    "named by its id or its name"})
    if display_name is not None and not (0 < len(display_name.strip()) <= MAX_DISPLAY_NAME):
        problems.append({"field": "display_name", "message": f"1 to {MAX_DISPLAY_NAME} characters"})
    if description is not None and len(description) > MAX_DESCRIPTION:
        problems.append({"field": "description", "message": f"at most {MAX_DESCRIPTION} characters"})
    return problems


def prepare(values, turnstile_ready, current=None):
    """The columns to write for ``values`` (a create's, or the changes of an update to
    ``current``), every rule checked first; InvalidForm naming every problem found."""
    problems = _identity_problems(values.get("name"), values.get("display_name"), values.get("description"))
    row = {key: values[key] for key in ("name", "display_name", "description", "is_active") if key in values}
    if "fields" in values:
        try:
            row["fields"] = check_fields(values["fields"])
        except InvalidForm as ex:
            problems += ex.details
    if "settings" in values or current is None:
        # A change names the settings it changes; the others keep their values.
        merged = {**(current.settings if current is not None else {}), **(values.get("settings") or {})}
        try:
            row["settings"] = check_settings(merged, turnstile_ready)
        except InvalidForm as ex:
            problems += ex.details
    if problems:
        raise InvalidForm(problems)
    return row


def create_form(values, turnstile_ready, user_id=None):
    """Create a form from ``values`` (name, display_name, fields, optional description,
    settings, is_active); the Form. InvalidForm, or FormExists for a taken name."""
    row = prepare(values, turnstile_ready)
    row.setdefault("fields", {})
    try:
        with database.atomic():
            return Form.create(**row, created_by=user_id)
    except peewee.IntegrityError:
        raise FormExists(values["name"]) from None


def name_taken(name, current=None):
    """Whether a form other than ``current`` is named ``name``: a read, for a caller listing
    every problem before it writes (the write still finds a name taken since by the unique
    index, and raises FormExists)."""
    query = Form.select().where(Form.name == name)
    if current is not None:
        query = query.where(Form.id != current.id)
    return query.exists()


def get_form(key):
    """The form whose id is ``key``, else the one whose name is; FormNotFound otherwise.

    The id is asked first: a row named like another's id (saved before such names were
    refused) can never stand in for that form, whatever order the database returns rows in.
    """
    form = Form.get_or_none(Form.id == key) or Form.get_or_none(Form.name == key)
    if form is None:
        raise FormNotFound()
    return form


def public_form(name):
    """The active form named ``name``; FormNotFound for an unknown or inactive one."""
    form = Form.get_or_none((Form.name == name) & (Form.is_active == True))  # noqa: E712
    if form is None:
        raise FormNotFound()
    return form


def update_form(key, values, turnstile_ready):
    """Apply ``values`` (any of create's keys) to the form ``key``; the form as stored."""
    form = get_form(key)
    row = prepare(values, turnstile_ready, current=form)
    if row:
        try:
            with database.atomic():
                Form.update({**row, "updated_at": now_ms()}).where(Form.id == form.id).execute()
        except peewee.IntegrityError:
            raise FormExists(values.get("name")) from None
    return get_form(form.id)


def delete_form(key):
    """Delete the form ``key`` and its submissions, in one transaction; its id."""
    form = get_form(key)
    with database.atomic():
        FormSubmission.delete().where(FormSubmission.form == form.id).execute()
        form.delete_instance()
    return form.id


def list_forms(page, limit, search=None):
    """A page of forms by name: ``(rows, total, {form id: submission count})``."""
    query = Form.select()
    if search:
        query = query.where(contains_any_case(Form.name, search) | contains_any_case(Form.display_name, search))
    rows = list(query.order_by(Form.name).paginate(page, limit))
    return rows, query.count(), submission_counts([row.id for row in rows])


def submission_counts(form_ids):
    """``{form id: number of submissions}`` of ``form_ids`` (one query)."""
    if not form_ids:
        return {}
    counted = (FormSubmission.select(FormSubmission.form, peewee.fn.COUNT(FormSubmission.id))
               .where(FormSubmission.form.in_(form_ids)).group_by(FormSubmission.form).tuples())
    return dict(counted)


def form_json(form, submissions=None):
    """The admin's view of ``form``: everything, settings included."""
    return {
        "id": form.id, "name": form.name, "display_name": form.display_name, "description": form.description,
        "fields": form.fields, "settings": {**msgspec.to_builtins(FormSettings()), **form.settings},
        "is_active": form.is_active, "created_by": form.created_by_id, "created_at": form.created_at,
        "updated_at": form.updated_at, "submissions": submissions or 0,
    }


def public_json(form, site_key):
    """What the public may know of ``form``: its fields and labels, the success message, and
    Turnstile's site key when it guards the form; never its addresses, redirect or maker."""
    settings = {**msgspec.to_builtins(FormSettings()), **form.settings}
    return {
        "name": form.name, "display_name": form.display_name, "description": form.description,
        "fields": form.fields, "success_message": settings["success_message"],
        "submit_url": f"/forms/{form.name}/submit", "turnstile": turnstile_config(form, site_key),
    }


def turnstile_config(form, site_key):
    """``{enabled, site_key}``: whether Turnstile guards ``form``, and the key its widget needs."""
    enabled = bool(form.settings.get("turnstile"))
    return {"enabled": enabled, "site_key": site_key if enabled else None}


def hand_back_connection():
    """Give this request's pooled server connection back before it waits on another server
    (Turnstile's check, up to its timeout): the pool is small, and the next statement takes
    one again (SQLite's connection stays)."""
    db = database.obj
    if db is not None and not db.in_transaction():
        release_connection(db)
