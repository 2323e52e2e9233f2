"""The response bodies of the API as msgspec Structs: the OpenAPI document's success schemas.

Each ``@describe(response=...)`` names one of these; the document turns it into JSON Schema
(``msgspec.json.schema_components``), and the tests check every answer they receive against
it. Objects the API builds itself are closed (``forbid_unknown_fields``: the schema says
``additionalProperties: false``), so a key added to a response without its Struct fails
the tests; what users write (content ``data``, a collection ``schema``, plugin
``settings``, log ``data``) stays an open ``dict``.

Casing follows what each object has always answered (SonicJS's names where SonicJS has
the field): ``created_at`` in rows, ``firstName`` in the login user, ``mimeType`` in
media files. Times in rows are epoch milliseconds (``Ms``); ISO 8601 strings are named so.

Shared shapes live here; ``schemas_content`` and ``schemas_admin`` hold the areas'.
"""

from typing import Any, Generic, Literal, TypeVar

import msgspec

T = TypeVar("T")
Ms = int
"""A time as epoch milliseconds, as the schema stores it."""

ROLES = Literal["admin", "editor", "author", "viewer"]


class Closed(msgspec.Struct, forbid_unknown_fields=True):
    """A response object whose keys are all listed (``additionalProperties: false``)."""


class PageMeta(msgspec.Struct):
    """The pagination block every list answers in ``meta``; a list may add keys of its own
    (``timestamp``, ``cache``, ``offset``, ...)."""

    total: int
    page: int | None  # None for a page read by cursor
    limit: int
    pages: int
    hasNext: bool
    hasPrev: bool
    count: int | msgspec.UnsetType = msgspec.UNSET
    message: str | msgspec.UnsetType = msgspec.UNSET  # why a list is empty, when it names what does not exist


class Listed(msgspec.Struct, Generic[T]):
    """One page of a list: ``{data: [...], meta: {total, page, limit, pages, hasNext, hasPrev}}``."""

    data: list[T]
    meta: PageMeta


class One(Closed, Generic[T]):
    """A single object: ``{data: {...}}``."""

    data: T


class Message(Closed):
    """A confirmation with nothing else to return."""

    message: str


class SuccessOf(Closed, Generic[T]):
    """``{success: true, data: {...}}``, as SonicJS answers some writes."""

    success: bool
    data: T


# ------------------------------------------------------------------ users and sessions


class SessionUser(Closed):
    """The user as login, register and accept-invitation return it (SonicJS's camelCase)."""

    id: str
    email: str
    username: str
    firstName: str
    lastName: str
    role: ROLES


class Session(Closed):
    """A signed-in session: the user and the JWT (also set as the ``auth_token`` cookie)."""

    user: SessionUser
    token: str


class TokenOnly(Closed):
    """A new JWT for the same session."""

    token: str


class PasswordChanged(Closed):
    """The password changed: a new JWT (other sessions ended)."""

    message: str
    token: str


class ResetRequested(Closed):
    """The same answer whether or not the address has an account."""

    success: bool
    message: str


class MeUser(Closed):
    """The signed-in caller as ``GET /auth/me`` returns it."""

    id: str
    email: str
    username: str
    first_name: str
    last_name: str
    role: ROLES
    created_at: Ms


class Me(Closed):
    """``{user: {...}}``."""

    user: MeUser


class AdminUser(Closed):
    """A user as the admin API shows it: profile and status, never a hash or a token."""

    id: str
    email: str
    username: str
    first_name: str
    last_name: str
    role: ROLES
    is_active: bool
    email_verified: bool
    invitation_pending: bool
    invited_by: str | None
    invited_at: Ms | None
    accepted_invitation_at: Ms | None
    last_login_at: Ms | None
    created_at: Ms
    updated_at: Ms


class UserMessage(Closed):
    """A user changed, and what happened (deactivated, invitation sent)."""

    message: str
    data: AdminUser


class InvitationCancelled(Closed):
    """An invitation withdrawn: ``deleted`` says whether the invited account went with it
    (false: other records refer to it, so it stays, inactive and without an invitation)."""

    message: str
    deleted: bool


# ------------------------------------------------------------------ API tokens


class ApiToken(Closed):
    """An API token's public view (never its stored hash)."""

    id: str
    name: str
    user_id: str
    permissions: list[str]
    expires_at: Ms | None
    last_used_at: Ms | None
    created_at: Ms


class NewApiToken(ApiToken):
    """A token just created, with its ``sp_`` secret (shown this once)."""

    token: str


class TokenCreated(Closed):
    """``{data: token with its secret, message}``."""

    data: NewApiToken
    message: str


class OpenAPIDocument(msgspec.Struct):
    """This API's OpenAPI 3.1 document."""

    openapi: str
    info: dict[str, Any]
    paths: dict[str, Any]
    components: dict[str, Any]
