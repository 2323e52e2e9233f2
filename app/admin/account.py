"""``/admin/account``: the signed-in user's profile (names and username), with the links to
their password and API tokens pages.

The same rules as ``PATCH /auth/me``: every role edits its own names and username, never its
role, active state or email; a password session only. Sessions go on, as none of these
fields is a credential.
"""

import falcon

from app.admin.pages import form_as_typed, one, problems_in_words, redirect
from app.admin.user_edit import form_problem, typed
from app.api.access import access
from app.api.errors import SERVICE_ERROR_STATUS
from app.services import users
from app.services.accounts import DuplicateAccount
from app.services.cache import Namespace, invalidate
from app.services.errors import ServiceError

FIELDS = ("first_name", "last_name", "username")
# The labels the form shows for its fields (its template writes them from these), and so
# the words a refusal names a field by, as the user forms do.
LABELS = {"first_name": "First name", "last_name": "Last name", "username": "Username"}


class AccountPage:
    """``GET /admin/account``: the profile form; ``POST``: save it."""

    def __init__(self, renderer, cache):
        self._renderer = renderer
        self._cache = cache

    def render(self, req, resp, values, error=None, status=falcon.HTTP_200):
        """The page with the form's ``values`` and an ``error`` to show."""
        me = users.get_user(req.context.user.id)
        self._renderer.page(req, resp, "account.html", status=status, me=me, values=values, error=error, labels=LABELS,
                            done=req.get_param("done") == "1")

    @access(authenticated=True)
    def on_get(self, req, resp):
        me = users.get_user(req.context.user.id)
        self.render(req, resp, {name: getattr(me, name) for name in FIELDS})

    @access(authenticated=True)
    def on_post(self, req, resp):
        caller = req.context.user
        if caller.via != "jwt":
            raise falcon.HTTPForbidden()
        form, refused = form_as_typed(req)
        values = {name: one(form, name).strip() for name in FIELDS}
        # Only a new username is the form's to judge: an older install's, kept, saves the names.
        typed_values = typed(users.get_user(caller.id), values)
        problem = (problems_in_words(refused, LABELS) or form_problem(typed_values)
                   or (None if values["username"] else "Choose a username."))
        if problem:
            self.render(req, resp, values, problem, falcon.HTTP_422)
            return
        try:
            users.update_user(caller.id, typed_values)  # a kept username is left as stored
        except DuplicateAccount as ex:
            self.render(req, resp, values, str(ex), falcon.HTTP_409)
            return
        except ServiceError as ex:  # judged again on the locked row, which may have changed meanwhile
            self.render(req, resp, values, str(ex), SERVICE_ERROR_STATUS[ex.kind])
            return
        invalidate(self._cache, Namespace.USERS)
        redirect(resp, "/admin/account?done=1")
