"""The public side of forms: a form's definition, its page, and sending it.

* ``GET /api/forms/{name}``, ``/forms/{name}/schema`` and ``/api/forms/{name}/schema``: what the
  public may know of an active form (``forms.public_json``): its fields, the success message,
  Turnstile's site key when the form uses it; never its notification addresses or redirect
  (which is no secret: the page's policy names its origin, a stored post's 303 its URL).
* ``GET /forms/{name}/turnstile-config`` (and under ``/api``): ``{enabled, site_key}``.
* ``POST /forms/{name}/submit`` and ``/api/forms/{name}/submit``: a JSON body ``{data,
  turnstile_token?}`` answers 201 ``{success, message, id}``; a URL-encoded form (a page on
  any site may post one) answers 303 to the form's redirect, or to its page saying the
  success message. Refusals are the error envelope (a field's at ``data.<name>``, NUL in a
  form post's included), but for a browser's form post past the address's limit (429): the
  app's error page, saying when to try again (``app.api.form_error_pages``).
* ``GET /forms/{name}``: the form as a plain HTML page (a text box carries its field's
  pattern when a browser reads it as the server does: ``pattern_attribute``), whose form
  posts to the page itself (``POST /forms/{name}``): the same checks, but a refusal the
  visitor can fix (a field, a NUL in one, the Turnstile check) shows the page again with the
  messages and the values typed (NULs taken out). That post takes the page's URL-encoded form
  only: a body that cannot be read as one shows the page with a 400, one over the bound with
  a 413 (without the values, which are never read), any other type (JSON included) is a 415
  envelope. A browser's post past the address's limit (429) is the page again too, saying
  when to try again; a script's keeps the envelope.

Every submission counts against the caller's address (``RATE_LIMIT_ATTEMPTS`` per
``RATE_LIMIT_WINDOW_SECONDS``, 429 past it), whatever becomes of it. The body is bounded
(``MAX_SUBMISSION_BYTES``, 413). A post whose honeypot (``_gotcha``, a control no person
sees) holds text answers as a success would, and nothing is stored or sent. When the form
uses Turnstile, its token is checked with siteverify before the data (400 when refused, 503
when siteverify cannot be asked or the keys are not configured). The submission is stored,
then each notification address is mailed a link to it after the response, and the
``after_form_submit`` hooks run.

These routes never act with the session cookie (``ignores_session_cookie``): forms are
posted from other sites by design, and such a post must not carry the visitor's session. A
bearer token or API key in a header does name the submitter.
"""

import functools
import uuid
from pathlib import Path

import falcon

from app.api.access import access
from app.api.authentication import client_ip
from app.api.describe import REDIRECT_PAGE, Header, describe
from app.api.errors import APIError, payload_too_large, read_body
from app.api.form_error_pages import too_many_message
from app.api.private import no_store
from app.api.rate_limits import Guard, rate_limited
from app.api.redirects import redirect
from app.api.request_guard import NUL, RefusedBody, nul_problems, without_nul
from app.api.schemas import Closed
from app.api.schemas_forms import PublicForm, SubmitBody, Submitted, TurnstileConfig
from app.api.sign_in_redirect import is_browser_form_post
from app.services import form_submissions, forms, turnstile
from app.services.errors import ServiceError
from app.services.pattern_attribute import html_pattern

ACTION = "form-submit"
MAX_SUBMISSION_BYTES = 64 * 1024
HONEYPOT = "_gotcha"
TOKEN_FIELD = "cf-turnstile-response"  # the field Turnstile's widget adds to its form
TURNSTILE_ORIGIN = "https://challenges.cloudflare.com"
TURNSTILE_SCRIPT = f"{TURNSTILE_ORIGIN}/turnstile/v0/api.js"
TEMPLATES = Path(__file__).resolve().parent / "templates"
UNREADABLE = "The form could not be read; please send it again from this page"
TOO_LONG = (f"The form is too long to send (at most {MAX_SUBMISSION_BYTES // 1024} KiB): please shorten what you "
            "wrote and send it again")
SEE_OTHER = {303: (Header("Location", "the form's redirect, else its page saying the success message"),)}
# The types whose text box the server checks a pattern on: an <input> a browser applies
# ``pattern`` to (a colour picker and a text area take none).
PATTERN_TYPES = frozenset({"string", "text", "email", "url"})


class PublicFormBody(Closed):
    """``{data: {...}}``: the form's public definition."""

    data: PublicForm


class TurnstileNotConfigured(ServiceError):
    """A form uses Turnstile but its keys are gone from the configuration: fail closed."""

    kind = turnstile.UNAVAILABLE
    retry_after = turnstile.RETRY_AFTER_SECONDS

    def __init__(self):
        super().__init__("Turnstile is not configured", {"retry_after": turnstile.RETRY_AFTER_SECONDS})


def _urlencoded(req):
    return (req.content_type or "").split(";")[0].strip().lower() == falcon.MEDIA_URLENCODED


def read_post(req, form_only=False):
    """``(data or None, form values or None, token)`` of a JSON body or a URL-encoded form.

    Args:
        req: the request.
        form_only: take a URL-encoded form only (the page's own post), never JSON.

    Raises:
        APIError: 413 over ``MAX_SUBMISSION_BYTES``; 415 for another type (JSON too when
            ``form_only``); 422 for a JSON body that is not ``SubmitBody``.
        InvalidSubmission: a form holding NUL, at ``data.<name>`` of each name holding it.
        falcon.MediaMalformedError: a form body that is not URL-encoded ASCII (400).
    """
    if not _urlencoded(req):
        if form_only:
            raise APIError(falcon.HTTP_415, "Unsupported media type",
                           f"this page takes its own form ({falcon.MEDIA_URLENCODED}); JSON goes to its submit route")
        body = read_body(req, SubmitBody, max_bytes=MAX_SUBMISSION_BYTES)
        return body.data, None, body.turnstile_token
    if (req.content_length or 0) > MAX_SUBMISSION_BYTES:
        raise payload_too_large(MAX_SUBMISSION_BYTES)
    try:
        values = dict(req.get_media(default_when_empty={}) or {})
    except RefusedBody as ex:  # refused as it was read, before Turnstile: named as the fields' own problems are
        raise form_submissions.refusal(nul_problems(ex.media, prefix="data.")) from None
    token = values.pop(TOKEN_FIELD, None)
    return None, values, token[-1] if isinstance(token, list) else token


def _values_sent(req):
    """The page's form values of ``req`` (without NUL) when its body reads as one within the
    bound, else none."""
    if not _urlencoded(req) or (req.content_length or 0) > MAX_SUBMISSION_BYTES:
        return {}
    try:
        form = req.get_media(default_when_empty={}) or {}
    except RefusedBody as ex:  # a NUL refused as the body was read: the rest is shown again
        form = ex.media
    except falcon.MediaMalformedError:
        return {}
    return without_nul(form)


class Receiver:
    """What every submit route shares: the checks, the write, the mail after the response.

    Args:
        settings: the app's Settings (Turnstile keys, proxies, the app's secret, base URL).
        guard: the rate-limit ``Guard``.
        mailer: the app's mailer.
    """

    def __init__(self, settings, guard, mailer):
        self._settings = settings
        self._guard = guard
        self._mailer = mailer

    def receive(self, req, name, form_only=False):
        """Count the attempt, check and store the post; ``(form, submission id, values)``.

        The submission id is a new random one, stored nowhere, for a post caught by the
        honeypot: a bot learns nothing from the answer. ``form_only``: see ``read_post``.
        """
        self._guard.acquire(req, ACTION)
        form = forms.public_form(name)
        data, values, token = read_post(req, form_only)
        trap = (values if values is not None else data).pop(HONEYPOT, None)
        if trap not in (None, "", [""]):
            return form, uuid.uuid4().hex, values
        if form.settings.get("turnstile"):
            forms.hand_back_connection()
            self._verify(req, token)
        if values is not None:
            data = form_submissions.from_form_post(form.fields, values)
        row = self._store(req, form, form_submissions.check(form.fields, data))
        return form, row.id, values

    def _verify(self, req, token):
        secret = self._settings.turnstile_secret_key
        if not (secret and self._settings.turnstile_site_key):
            raise TurnstileNotConfigured()
        turnstile.verify(token, secret, self._settings.turnstile_verify_url, self._address(req))

    def _address(self, req):
        return client_ip(req, self._settings.trusted_proxy_count)

    def _store(self, req, form, data):
        user = req.context.user
        row = form_submissions.record(
            form, data, user.id if user is not None else None,
            form_submissions.address_hash(self._settings.jwt_secret, self._address(req)),
            req.get_header("User-Agent"), user)
        for mail in form_submissions.notifications(form, row, self._settings.public_base_url):
            req.context.ctx.wait_until(self._mailer, mail)  # one failing address stops no other
        return row


def success_location(form):
    """Where a browser goes once its post is stored: the redirect (when it passes today's
    check), else the form's page."""
    return forms.usable_redirect(form.settings.get("redirect_url")) or f"/forms/{form.name}?submitted=1"


class SubmitResource:
    """``POST /forms/{name}/submit`` and ``/api/forms/{name}/submit``."""

    ignores_session_cookie = True
    # A page on any site may post here: a browser past the limit sees the app's error page
    # (app.api.form_error_pages), with the same status and headers; a script keeps the envelope.
    browser_form_refusals = frozenset({429})

    def __init__(self, receiver):
        self._receiver = receiver

    @access(public=True)
    @rate_limited(ACTION)
    @describe("Send a form", body=SubmitBody, status=201, response=Submitted, others={303: REDIRECT_PAGE},
              headers=SEE_OTHER,
              description="JSON `{data, turnstile_token?}` answers 201; a URL-encoded form (the fields by name, "
                          f"`{TOKEN_FIELD}` for Turnstile) answers 303. 404 for an unknown or inactive form, "
                          "422 with a problem per field (50 at most, then their count), 400 when Turnstile "
                          "refuses, 429 past the address's limit (a browser's form post gets a page saying when to "
                          f"try again), 413 over {MAX_SUBMISSION_BYTES // 1024} KiB. "
                          "The session cookie is ignored.")
    @no_store
    def on_post(self, req, resp, name):
        form, submission_id, values = self._receiver.receive(req, name)
        if values is not None:
            redirect(resp, success_location(form))
            return
        resp.status = falcon.HTTP_201
        resp.media = {"success": True, "message": form.settings.get("success_message")
                      or forms.DEFAULT_SUCCESS_MESSAGE, "id": submission_id}


class DefinitionResource:
    """``GET /api/forms/{name}``, ``/forms/{name}/schema``, ``/api/forms/{name}/schema``."""

    def __init__(self, settings):
        self._site_key = settings.turnstile_site_key

    @access(public=True)
    @describe("A form's public definition", response=PublicFormBody,
              description="Fields, labels, the success message and Turnstile's site key when the form uses it. "
                          "404 for an unknown or inactive form.")
    def on_get(self, req, resp, name):
        resp.media = {"data": forms.public_json(forms.public_form(name), self._site_key)}


class TurnstileConfigResource:
    """``GET /forms/{name}/turnstile-config`` and ``/api/forms/{name}/turnstile-config``."""

    def __init__(self, settings):
        self._site_key = settings.turnstile_site_key

    @access(public=True)
    @describe("Whether Turnstile guards a form, and its site key", response=TurnstileConfig)
    def on_get(self, req, resp, name):
        resp.media = forms.turnstile_config(forms.public_form(name), self._site_key)


@functools.cache
def _templates():
    import jinja2  # only a worker that serves a form page holds Jinja

    return jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True,
                              undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)


def pattern_attributes(fields):
    """``{field name: pattern attribute}`` of the text boxes whose pattern a browser would read
    as the server does, and quickly for a value as long as the field allows (``html_pattern``);
    any other pattern is the server's check alone."""
    attributes = {}
    for name, field in fields.items():
        if isinstance(field, dict) and field.get("type") in PATTERN_TYPES:
            attribute = html_pattern(field.get("pattern"), field.get("maxLength"))
            if attribute is not None:
                attributes[name] = attribute
    return attributes


def page_policy(form, uses_turnstile):
    """The page's Content-Security-Policy: nothing but the form, posting to this site (and its
    redirect's origin, which the browser is sent on to), and Turnstile's script and frame
    when the form uses it."""
    actions = ["'self'"]
    origin = forms.redirect_origin(form.settings.get("redirect_url"))
    if origin is not None:
        actions.append(origin)  # built from the checked host and port, never the raw text
    directives = ["default-src 'none'", f"form-action {' '.join(actions)}", "base-uri 'none'"]
    if uses_turnstile:
        directives += [f"script-src {TURNSTILE_ORIGIN}", f"frame-src {TURNSTILE_ORIGIN}",
                       f"connect-src {TURNSTILE_ORIGIN}"]
    return "; ".join(directives)


class FormPageResource:
    """``GET /forms/{name}``: the form's page; ``POST``: send it from that page."""

    ignores_session_cookie = True
    # A browser's post past the limit sees the page again (or, when the form cannot be shown,
    # the app's error page: app.api.form_error_pages); a script keeps the envelope.
    browser_form_refusals = frozenset({429})

    def __init__(self, settings, receiver):
        self._site_key = settings.turnstile_site_key
        self._receiver = receiver

    @access(public=True)
    @describe("A form's page", media_type="text/html",
              description="Plain HTML posting to itself; with `?submitted=1`, the success message. Turnstile's "
                          "script is loaded only when the form uses it. 404 for an unknown or inactive form.")
    def on_get(self, req, resp, name):
        form = forms.public_form(name)
        self.render(resp, form, submitted=req.get_param("submitted") == "1")

    @access(public=True)
    @rate_limited(ACTION)
    @describe("Send a form from its page", media_type="text/html", others={303: REDIRECT_PAGE, 422: "text/html",
              400: "text/html", 413: "text/html"}, headers=SEE_OTHER,
              description="The page's URL-encoded form only: 303 once stored, as the submit route; a field's "
                          "problem (422, a NUL in one included), a refused Turnstile check or a body that is no "
                          "URL-encoded form (400) shows the page again, with the messages and the values typed "
                          "when there are some; so does a form over "
                          f"{MAX_SUBMISSION_BYTES // 1024} KiB (413, without its values, which are not read) and a "
                          "browser's post past the address's limit (429, with `Retry-After`), saying when to try "
                          "again. Other refusals (404, 415 for any other body, JSON included, and a script's 429) "
                          "are the error envelope.")
    @no_store
    def on_post(self, req, resp, name):
        try:
            form, _, _ = self._receiver.receive(req, name, form_only=True)
        except (form_submissions.InvalidSubmission, turnstile.TurnstileFailed) as ex:
            form = forms.public_form(name)
            values = _values_sent(req)
            status = falcon.HTTP_422 if isinstance(ex, form_submissions.InvalidSubmission) else falcon.HTTP_400
            self.render(resp, form, status=status, values=values, problems=ex.details, message=ex.message)
            return
        except falcon.MediaMalformedError:  # bytes no browser sends for a form: the page, not JSON
            self.render(resp, forms.public_form(name), status=falcon.HTTP_400, message=UNREADABLE)
            return
        except APIError as ex:
            code = falcon.http_status_to_code(ex.status)
            if code == 413:  # a form only gets so long when a visitor pastes a long text: they can shorten it
                self.render(resp, forms.public_form(name), status=falcon.HTTP_413, message=TOO_LONG)
                return
            if code != 429 or not is_browser_form_post(req):
                raise
            self._too_many(req, resp, name, ex)
            return
        redirect(resp, success_location(form))

    def _too_many(self, req, resp, name, refusal):
        """The page again for a browser's post past the address's limit: what was typed, and
        when to try again. An unknown or inactive form keeps the 429 ``refusal``."""
        try:
            form = forms.public_form(name)
        except ServiceError:
            raise refusal from None
        retry_after = refusal.headers.get("Retry-After")
        self.render(resp, form, status=falcon.HTTP_429, values=_values_sent(req), message=too_many_message(retry_after))
        resp.set_header("Retry-After", retry_after)

    def render(self, resp, form, status=falcon.HTTP_200, submitted=False, values=None, problems=None,
               message=None):
        """Answer ``form``'s page: the form, or the success message; with the values and problems of a post."""
        uses_turnstile = bool(form.settings.get("turnstile"))
        errors = {}
        for problem in problems or ():  # a name holding NUL is shown without it, as its values are
            field = problem["field"].removeprefix("data.").split(".")[0].split("[")[0].replace(NUL, "")
            errors.setdefault(field, problem["message"])
        resp.status = status
        resp.content_type = "text/html; charset=utf-8"
        resp.set_header("Content-Security-Policy", page_policy(form, uses_turnstile))
        resp.set_header("X-Content-Type-Options", "nosniff")
        resp.set_header("Referrer-Policy", "same-origin")
        resp.text = _templates().get_template("form_page.html").render(
            form=form, fields=form.fields, submitted=submitted, values=values or {}, errors=errors,
            message=message, success_message=form.settings.get("success_message") or forms.DEFAULT_SUCCESS_MESSAGE,
            turnstile_script=TURNSTILE_SCRIPT if uses_turnstile else None, site_key=self._site_key,
            honeypot=HONEYPOT, patterns=pattern_attributes(form.fields),
        )


def register(routes):
    """Mount the public form routes."""
    settings = routes.settings
    receiver = Receiver(settings, Guard(routes.services.rate_limiter, settings), routes.services.mailer)
    definition, config, submit = DefinitionResource(settings), TurnstileConfigResource(settings), \
        SubmitResource(receiver)
    routes.add("/api/forms/{name}", definition)
    routes.add("/api/forms/{name}/schema", definition)
    routes.add("/forms/{name}/schema", definition)
    routes.add("/api/forms/{name}/turnstile-config", config)
    routes.add("/forms/{name}/turnstile-config", config)
    routes.add("/api/forms/{name}/submit", submit)
    routes.add("/forms/{name}/submit", submit)
    routes.add("/forms/{name}", FormPageResource(settings, receiver))
