"""``/api/tokens``: create, list and revoke API tokens (absent from SonicJS; asked for in #450).

Who may do what: every signed-in user manages their *own* tokens (a token can never exceed
its owner's rights, so this grants nothing new); ``api_tokens.manage`` (admins) is needed
to list or revoke someone else's. Token management needs a password session: an API
token cannot mint or list tokens, so a leaked token cannot outlive its own revocation by
creating a successor. Creating one needs proof of the user besides (``app.api.reauth``): a
sign-in within ``RECENT_SIGN_IN_SECONDS``, or ``current_password`` in the body, checked
under the sign-in rate limits; a stolen session alone cannot turn itself into a credential
that outlives it.

Every token expires: ``expires_at`` (epoch milliseconds) defaults to 90 days from now and
may be at most 365 days ahead (``API_TOKEN_DEFAULT_TTL_DAYS``, ``API_TOKEN_MAX_TTL_DAYS``).
Every response is ``no-store``: it lists tokens, or carries a new one.
"""

from typing import Annotated

import falcon
import msgspec

from app.api.access import access
from app.api.auth import Password
from app.api.describe import Param, describe, paged
from app.api.errors import forbidden, not_found, read_body, unauthorized, unprocessable
from app.api.params import limit_param, page_param
from app.api.private import no_store
from app.api.rate_limits import Guard, rate_limited
from app.api.reauth import PROOF_NEEDED, Reauthentication
from app.api.schemas import ApiToken, Listed, Message, TokenCreated
from app.services.api_tokens import SessionEnded, TokenRequestError, token_json
from app.services.pagination import pagination_meta

MANAGE_OTHERS = "api_tokens.manage"
DEFAULT_LIMIT = 50
MAX_LIMIT = 100
MAX_EPOCH_MS = 2**53  # beyond any date; keeps the value a safe JSON integer and a BIGINT

PermissionName = Annotated[str, msgspec.Meta(min_length=1, max_length=100)]


class TokenBody(msgspec.Struct, forbid_unknown_fields=True):
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=100)]
    permissions: Annotated[list[PermissionName], msgspec.Meta(max_length=100)]
    expires_at: Annotated[int, msgspec.Meta(ge=0, le=MAX_EPOCH_MS)] | None = None
    current_password: Password | None = None


def _password_session(user):
    if user.via != "jwt":
        raise forbidden("API tokens cannot manage API tokens; sign in with a password")


class TokensResource:
    """``GET /api/tokens`` (own; ``?user_id=`` with api_tokens.manage) and ``POST /api/tokens``.

    Args:
        tokens: the ApiTokens service.
        reauth: the Reauthentication a creation must pass.
    """

    def __init__(self, tokens, reauth):
        self._tokens = tokens
        self._reauth = reauth

    @access(authenticated=True)
    @describe(
        "List API tokens (own; another user's with api_tokens.manage)",
        query=(Param("user_id", str, "whose tokens"), *paged(DEFAULT_LIMIT, MAX_LIMIT)), response=Listed[ApiToken],
    )
    @no_store
    def on_get(self, req, resp):
        caller = req.context.user
        _password_session(caller)
        user_id = req.get_param("user_id") or caller.id
        if user_id != caller.id and not caller.can(MANAGE_OTHERS):
            raise forbidden()
        page, limit = page_param(req), limit_param(req, DEFAULT_LIMIT, MAX_LIMIT)
        rows, total = self._tokens.list_for(user_id, page, limit)
        resp.media = {
            "data": [token_json(r) for r in rows], "meta": {"count": len(rows), **pagination_meta(total, limit, page)},
        }

    @access(authenticated=True)
    @rate_limited("login")
    @describe(
        "Create an API token (shown once)", body=TokenBody, status=201, response=TokenCreated,
        description="Needs a password session that proves its user: a sign-in within `RECENT_SIGN_IN_SECONDS` "
                    "(10 minutes by default), or `current_password` in the body. Without either: 403 "
                    f"`{PROOF_NEEDED}`; a wrong password: 422 on `current_password`, counted as a failed "
                    "sign-in (429 past the limit).",
    )
    @no_store
    def on_post(self, req, resp):
        caller = req.context.user
        _password_session(caller)
        body = read_body(req, TokenBody)
        self._reauth.require(req, caller, body.current_password, "create an API token")
        try:
            row, plaintext = self._tokens.create(caller, body.name, body.permissions, body.expires_at)
        except TokenRequestError as ex:
            raise unprocessable("Validation failed", ex.problems) from None
        except SessionEnded as ex:
            raise unauthorized(str(ex)) from None
        resp.status = falcon.HTTP_201
        resp.media = {
            "data": {**token_json(row), "token": plaintext},
            "message": "Copy the token now: it is stored hashed and will not be shown again",
        }


class TokenResource:
    """``DELETE /api/tokens/{token_id}``: revoke (delete) a token."""

    def __init__(self, tokens):
        self._tokens = tokens

    @access(authenticated=True)
    @describe("Revoke an API token", response=Message)
    @no_store
    def on_delete(self, req, resp, token_id):
        caller = req.context.user
        _password_session(caller)
        row = self._tokens.get(token_id)
        # Someone else's token is reported missing, so ids of other users' tokens leak nothing.
        if row is None or (row.user_id != caller.id and not caller.can(MANAGE_OTHERS)):
            raise not_found("Token not found")
        self._tokens.revoke(row.id)
        resp.media = {"message": "Token revoked"}


def register(routes):
    """Mount ``/api/tokens``."""
    services, settings = routes.services, routes.settings
    tokens = services.api_tokens
    reauth = Reauthentication(services.accounts, Guard(services.rate_limiter, settings), settings)
    routes.add("/api/tokens", TokensResource(tokens, reauth))
    routes.add("/api/tokens/{token_id}", TokenResource(tokens))
