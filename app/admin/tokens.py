"""API tokens of the signed-in user: list, create (shown once), revoke.

The same service and rules as ``/api/tokens``: a token's permissions must be ones the
user's role holds (the service checks), only a password session manages tokens, creating
one needs a recent sign-in or the current password (``app.api.reauth``), and a token's
plaintext appears once, in the page that answers its creation, never again.
"""

import falcon

from app.admin.blocks import form_values
from app.admin.pages import form_as_typed, one, page_number, problems_in_words, redirect
from app.admin.session import keep_retry_after, proof_refusal
from app.api.access import access
from app.api.reauth import PASSWORD_FIELD
from app.services import role_permissions
from app.services.api_tokens import NO_PERMISSIONS, SessionEnded, TokenRequestError, token_json
from app.services.pagination import pagination_meta

MAX_NAME = 100
# The label the form shows for its name field (its template writes it from this), and so
# the word a refusal names it by, as the user forms do.
TOKEN_LABELS = {"name": "Name", "permissions": "Permissions"}
PAGE_SIZE = 50


def _password_session(user):
    if user.via != "jwt":
        raise falcon.HTTPForbidden()


class TokensPage:
    """``GET /admin/account/tokens``: the user's tokens; ``POST``: create one and show it once.

    The form always has a current-password field; it may be left empty while the sign-in
    is recent, and a password typed in it is always checked.
    """

    def __init__(self, renderer, tokens, reauth):
        self._renderer = renderer
        self._tokens = tokens
        self._reauth = reauth

    def render(self, req, resp, status=falcon.HTTP_200, created=None, errors=None, name="", chosen=(),
               password_error=None):
        """The page; after a refusal, ``name`` and the ``chosen`` permissions are shown as typed."""
        user = req.context.user
        page = page_number(req)
        rows, total = self._tokens.list_for(user.id, page, PAGE_SIZE)
        described = {row.name: row.description for row in role_permissions.permissions()}
        self._renderer.page(
            req, resp, "tokens.html", status=status, tokens=[token_json(row) for row in rows],
            meta=pagination_meta(total, PAGE_SIZE, page),
            permissions=[(name, described.get(name)) for name in sorted(user.permissions)],
            created=created, errors=errors or [], name=name, chosen=set(chosen),
            revoked=req.get_param("revoked") == "1", password_error=password_error, labels=TOKEN_LABELS,
            recent_sign_in=self._reauth.is_recent(user),
        )

    @access(authenticated=True)
    def on_get(self, req, resp):
        _password_session(req.context.user)
        self.render(req, resp)

    @access(authenticated=True)
    def on_post(self, req, resp):
        user = req.context.user
        _password_session(user)
        form, refused = form_as_typed(req)
        name = one(form, "name").strip()
        wanted = form_values(form.get("permissions"))
        # A NUL pasted: said by its field (the current password's on that field), nothing made.
        on_password = [problem["message"] for problem in refused if problem["field"] == PASSWORD_FIELD]
        errors = [problems_in_words([problem], TOKEN_LABELS) for problem in refused
                  if problem["field"] != PASSWORD_FIELD]
        if on_password:
            self.render(req, resp, falcon.HTTP_422, errors=errors, name=name[:MAX_NAME], chosen=wanted,
                        password_error=on_password[0])
            return
        if not name or len(name) > MAX_NAME:
            errors.append(f"Give the token a name of 1 to {MAX_NAME} characters.")
        if not wanted:
            errors.append(NO_PERMISSIONS + ".")  # the service refuses it too; said before the password is asked for
        if errors:
            self.render(req, resp, falcon.HTTP_422, errors=errors, name=name[:MAX_NAME], chosen=wanted)
            return
        try:
            self._reauth.require(req, user, one(form, PASSWORD_FIELD) or None, "create an API token")
        except falcon.HTTPError as ex:
            keep_retry_after(resp, ex)
            message = proof_refusal(ex)
            self.render(req, resp, ex.status, name=name, chosen=wanted, password_error=message)
            return
        try:
            row, plaintext = self._tokens.create(user, name, wanted)
        except TokenRequestError as ex:
            self.render(req, resp, falcon.HTTP_422, errors=[p["message"] for p in ex.problems], name=name,
                        chosen=wanted)
            return
        except SessionEnded as ex:
            raise falcon.HTTPUnauthorized(title="Unauthorized", description=str(ex)) from None
        self.render(req, resp, falcon.HTTP_201, created={**token_json(row), "token": plaintext})


class RevokeTokenAction:
    """``POST /admin/account/tokens/{token_id}/revoke``: one of the user's own tokens."""

    def __init__(self, tokens):
        self._tokens = tokens

    @access(authenticated=True)
    def on_post(self, req, resp, token_id):
        user = req.context.user
        _password_session(user)
        row = self._tokens.get(token_id)
        if row is None or row.user_id != user.id:
            raise falcon.HTTPNotFound()  # someone else's token is reported missing
        self._tokens.revoke(row.id)
        redirect(resp, "/admin/account/tokens?revoked=1")
