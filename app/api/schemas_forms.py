"""Bodies and answers of the forms routes (``app.api.forms`` and ``app.api.forms_public``)."""

from typing import Annotated, Any, Literal

import msgspec

from app.api.schemas import Closed, Ms
from app.services.collection_schema import NAME_RULE
from app.services.forms import NotifyEmails, RedirectUrl, SuccessMessage

SubmissionStatus = Literal["new", "read", "spam"]
# No length of its own: the forms service's rule (1 to 64 characters of a set) decides, and
# its refusal says the whole rule, as the admin's form editor shows it.
FormName = Annotated[str, msgspec.Meta(description=f"A form name must {NAME_RULE}")]
Text = Annotated[str, msgspec.Meta(max_length=2000)]


# The API's own object, so its keys are read in either casing and an unknown one is named
# at ``settings.<key>``; ``msgspec.to_builtins`` gives the keys named alone (UNSET is left out).
class FormSettingsBody(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """A form's ``settings``: those named are set; the others keep their value (a new form's,
    their default)."""

    success_message: SuccessMessage | msgspec.UnsetType = msgspec.UNSET
    redirect_url: RedirectUrl | None | msgspec.UnsetType = msgspec.UNSET
    notify_emails: NotifyEmails | msgspec.UnsetType = msgspec.UNSET
    turnstile: bool | msgspec.UnsetType = msgspec.UNSET


class FormBody(msgspec.Struct, forbid_unknown_fields=True):
    """``POST /admin/api/forms``: ``fields`` as a collection schema's ``properties``; ``settings``
    any of ``success_message``, ``redirect_url``, ``notify_emails``, ``turnstile``."""

    name: FormName
    display_name: Text
    fields: dict[str, Any]
    description: Text | None = None
    settings: FormSettingsBody | None = None
    is_active: bool = True


class FormPatch(msgspec.Struct, forbid_unknown_fields=True):
    """``PATCH /admin/api/forms/{form_id}``: any subset; ``settings`` names the settings it changes."""

    name: FormName | msgspec.UnsetType = msgspec.UNSET
    display_name: Text | msgspec.UnsetType = msgspec.UNSET
    description: Text | None | msgspec.UnsetType = msgspec.UNSET
    fields: dict[str, Any] | msgspec.UnsetType = msgspec.UNSET
    settings: FormSettingsBody | msgspec.UnsetType = msgspec.UNSET
    is_active: bool | msgspec.UnsetType = msgspec.UNSET


class SubmissionPatch(msgspec.Struct, forbid_unknown_fields=True):
    """``PATCH /admin/api/forms/{form_id}/submissions/{submission_id}``."""

    status: SubmissionStatus


class SubmitBody(msgspec.Struct, forbid_unknown_fields=True):
    """``POST /forms/{name}/submit`` as JSON: the values by field name, and the Turnstile
    widget's token when the form uses it."""

    data: dict[str, Any]
    turnstile_token: str | None = None


class FormSettingsInfo(Closed):
    """A form's settings as stored (defaults filled in)."""

    success_message: str
    redirect_url: str | None
    notify_emails: list[str]
    turnstile: bool


class FormInfo(Closed):
    """A form as the admin sees it; ``submissions`` is how many it holds."""

    id: str
    name: str
    display_name: str
    description: str | None
    fields: dict[str, Any]
    settings: FormSettingsInfo
    is_active: bool
    created_by: str | None
    created_at: Ms
    updated_at: Ms
    submissions: int


class SubmissionInfo(Closed):
    """One submission: what was sent, its status, the submitter's user id when a bearer token named one."""

    id: str
    form_id: str
    data: Any
    status: SubmissionStatus
    user_id: str | None
    user_agent: str | None
    created_at: Ms


class SubmissionExportMeta(Closed):
    """What a JSON export holds: ``truncated`` when the form has more submissions than ``limit``."""

    count: int
    limit: int
    truncated: bool
    exported_at: Ms


class SubmissionExport(Closed):
    """``GET /admin/api/forms/{form_id}/submissions/export?format=json``: newest first."""

    data: list[SubmissionInfo]
    meta: SubmissionExportMeta


class TurnstileConfig(Closed):
    """Whether Turnstile guards the form, and the site key its widget needs (null when it does not)."""

    enabled: bool
    site_key: str | None


class PublicForm(Closed):
    """What the public may know of a form: never its notification addresses or redirect."""

    name: str
    display_name: str
    description: str | None
    fields: dict[str, Any]
    success_message: str
    submit_url: str
    turnstile: TurnstileConfig


class Submitted(Closed):
    """A submission was received."""

    success: bool
    message: str
    id: str
