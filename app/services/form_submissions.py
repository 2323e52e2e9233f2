"""What visitors send through forms: reading a post, checking it, keeping it, telling people.

A browser's form post carries text only: ``from_form_post`` turns it into the values the
fields take (a number field's text into a number, read as JSON writes one, a ticked box into
``true``, a multiselect's repeated values into a list, an option's text into the option
itself), so a post and a JSON body are checked by the same rules (``check``: the content
validation of ``app.services.content.validation``, a number within a double's range as a
JSON body's, and a required box must be ticked, ``true``), each problem naming its field as
``data.<name>``.

A submission is stored with a keyed hash of the client's address (HMAC-SHA256 under a key
derived from the app's secret for this use alone: two submissions from one address can be
told apart from others, but the address cannot be read back, nor found by hashing every
IPv4 address), the user agent cut to
``MAX_USER_AGENT`` characters, and the submitter's user id when a bearer token named one.
Each address in the form's ``notify_emails`` is then mailed a link to the submission in the
admin, never its content: what a visitor typed stays behind the admin's sign-in instead of
travelling in plain mail and into the log of the ``log`` mailer.
"""

import hashlib
import hmac

from app.db.models import FormSubmission, database
from app.services.accounts import Mail
from app.services.content.validation import validate_data
from app.services.content.values import BOOLEAN_FIELD_TYPES
from app.services.enums import option_text
from app.services.errors import INVALID, NOT_FOUND, ServiceError
from app.services.numbers import NUMBER_MESSAGE, out_of_range, posted_number
from app.services.plugins import hooks
from app.services.secret_keys import derived_key

STATUSES = ("new", "read", "spam")
MAX_USER_AGENT = 256
MAX_PROBLEMS = 50  # listed in a refusal; past it, one more entry says how many are left out
MAIL_KIND = "form_submission"
TRUE_TEXTS = frozenset({"on", "true", "1", "yes"})
UNTICKED = "is required: it must be ticked (true)"
CHOICE_TYPES = frozenset({"select", "multiselect", "radio"})
IP_HASH_PURPOSE = "sonicpy form ip hash"  # what the key for address hashes is derived with


class SubmissionNotFound(ServiceError):
    """No such submission of this form."""

    kind = NOT_FOUND

    def __init__(self, message="Submission not found", details=None):
        super().__init__(message, details)


class InvalidSubmission(ServiceError):
    """Data the form's fields refuse; ``details`` lists ``{field, message}`` for each."""

    kind = INVALID

    def __init__(self, details):
        super().__init__("Validation failed", details)


def _number(text, integer):
    """``text`` as a number, read as JSON writes one (``posted_number``): an int when it writes
    a whole number (a ``number`` field's ``41`` is stored as a JSON submission's ``41`` is, not
    as ``41.0``), else a float; the text itself when it writes no number, or a fraction or an
    exponent for an ``integer`` field (validation says what it must be). A number past a
    double's range is kept as read, for ``check`` to refuse as a JSON body's is."""
    number = posted_number(text)
    if number is None or (integer and type(number) is not int and not out_of_range(number)):
        return text
    return number


def _option(text, enum):
    """The option of ``enum`` a control's ``text`` stands for (``text`` when none does)."""
    return next((option for option in enum or () if option_text(option) == text), text)


def _field_value(config, values):
    """The value of one field from its posted texts ``values`` (None: not given)."""
    kind = config.get("type")
    if kind in BOOLEAN_FIELD_TYPES:
        return bool(values) and values[-1].strip().lower() in TRUE_TEXTS
    if kind == "multiselect" or (kind == "select" and config.get("multiple")):
        return [_option(text, config.get("enum")) for text in values if text != ""]
    text = values[-1] if values else ""
    if text == "":
        return None  # an empty control is no value: required says so, optional passes
    if kind in ("number", "integer"):
        return _number(text.strip(), kind == "integer")
    if kind in CHOICE_TYPES:
        return _option(text, config.get("enum"))
    return text


def from_form_post(fields, form):
    """``data`` from a URL-encoded post (``{name: str or [str, ...]}``) for ``fields``.

    Declared fields take their typed value (an empty one left out); any other name is kept as
    posted, so validation names it as unknown rather than it being dropped unseen.
    """
    data = {}
    for name, raw in form.items():
        values = raw if isinstance(raw, list) else [raw]
        config = fields.get(name)
        if config is None:
            data[name] = raw
            continue
        value = _field_value(config, values)
        if value is not None:
            data[name] = value
    for name, config in fields.items():  # an unticked box is not posted at all: it is false
        if name not in data and config.get("type") in BOOLEAN_FIELD_TYPES:
            data[name] = False
    return data


def _unticked_boxes(fields, data):
    """A problem for each required box ``data`` leaves unticked (``false``).

    Content's rules take ``false`` as a value given, so a required boolean passes them with
    either value; on a form a required box is an "I agree" a visitor must tick, and an
    unticked box (which a browser does not post, read as ``false``) agrees to nothing.
    """
    return [{"field": f"data.{name}", "message": UNTICKED} for name, config in fields.items()
            if isinstance(config, dict) and config.get("type") in BOOLEAN_FIELD_TYPES and config.get("required") is True
            and data.get(name) is False]


def refusal(problems):
    """InvalidSubmission listing the first ``MAX_PROBLEMS`` of ``problems`` and then, at
    ``data``, how many more there are (a 64 KiB post of thousands of unknown names must not be
    answered by a list many times its size)."""
    if len(problems) > MAX_PROBLEMS:
        more = len(problems) - MAX_PROBLEMS
        problems = [*problems[:MAX_PROBLEMS], {"field": "data", "message": f"and {more} more problems, not listed"}]
    return InvalidSubmission(problems)


def _unranged_numbers(data):
    """A problem for each value of ``data`` that is a number past a double's range: one typed
    into a form (``_number``), refused as the same number in a JSON body is as it is read."""
    return [{"field": f"data.{name}", "message": NUMBER_MESSAGE} for name, value in data.items()
            if out_of_range(value)]


def check(fields, data):
    """``data`` when valid for ``fields``; otherwise the ``refusal`` of its problems (a number
    out of range named by that alone: the field's other rules cannot judge it)."""
    problems = validate_data({"type": "object", "properties": fields}, data, look_up_references=False)
    if isinstance(data, dict):
        unranged = _unranged_numbers(data)
        named = {problem["field"] for problem in unranged}
        problems = [*unranged, *(problem for problem in problems if problem["field"] not in named),
                    *_unticked_boxes(fields, data)]
    if problems:
        raise refusal(problems)
    return data


def address_hash(secret, address):
    """The keyed hash kept instead of the client's ``address``.

    The key is derived from the app's ``secret`` for this use alone (``derived_key`` with
    ``IP_HASH_PURPOSE``): the secret itself signs tokens, and a value computed under it here
    must never be one another part of the app would take. The stored hashes were made under
    this key, so neither the derivation nor the purpose may change.
    """
    key = derived_key(secret, IP_HASH_PURPOSE)
    return hmac.new(key, address.encode("utf-8"), hashlib.sha256).hexdigest()[:32]


def record(form, data, user_id, ip_hash, user_agent, user=None):
    """Store a submission of ``form`` (``data`` checked already), in one transaction; the
    ``after_form_submit`` hooks run once it is committed (``user``: the submitter's Principal)."""
    with database.atomic():
        row = FormSubmission.create(form=form.id, data=data, user=user_id, ip_hash=ip_hash,
                                    user_agent=(user_agent or "")[:MAX_USER_AGENT] or None)
        hooks.after("form_submit", user=user, form=form, submission=row)
    return row


def _of_form(form):
    return FormSubmission.select().where(FormSubmission.form == form.id)


def list_submissions(form, page, limit, status=None):
    """A page of ``form``'s submissions, newest first: ``(rows, total)``."""
    query = _of_form(form)
    if status is not None:
        query = query.where(FormSubmission.status == status)
    rows = query.order_by(FormSubmission.created_at.desc(), FormSubmission.id.desc()).paginate(page, limit)
    return list(rows), query.count()


def get_submission(form, submission_id):
    """The submission ``submission_id`` of ``form``; SubmissionNotFound otherwise."""
    row = _of_form(form).where(FormSubmission.id == submission_id).first()
    if row is None:
        raise SubmissionNotFound()
    return row


def set_status(form, submission_id, status):
    """Mark a submission ``new``, ``read`` or ``spam``; the submission as stored."""
    if status not in STATUSES:
        raise InvalidSubmission([{"field": "status", "message": f"one of {', '.join(STATUSES)}"}])
    row = get_submission(form, submission_id)
    FormSubmission.update(status=status).where(FormSubmission.id == row.id).execute()
    return get_submission(form, row.id)


def delete_submission(form, submission_id):
    """Delete one submission of ``form``; its id."""
    row = get_submission(form, submission_id)
    row.delete_instance()
    return row.id


def export_submissions(form, limit):
    """``form``'s submissions, newest first, at most ``limit``: ``(rows, truncated)``."""
    rows = list(_of_form(form).order_by(FormSubmission.created_at.desc(), FormSubmission.id.desc())
                .limit(limit + 1))
    return rows[:limit], len(rows) > limit


def submission_json(row):
    """A submission as the admin API shows it (the address hash left out)."""
    return {
        "id": row.id, "form_id": row.form_id, "data": row.data, "status": row.status, "user_id": row.user_id,
        "user_agent": row.user_agent, "created_at": row.created_at,
    }


def notifications(form, submission, base_url):
    """The mail telling each of ``form``'s ``notify_emails`` of ``submission``: a link to it."""
    link = f"{base_url.rstrip('/')}/admin/forms/{form.name}/submissions/{submission.id}"
    return [Mail(MAIL_KIND, email, link) for email in form.settings.get("notify_emails") or ()]
