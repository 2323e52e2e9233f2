"""Rate limits over HTTP: the ``Guard`` that counts sign-in, registration, reset and token
attempts (for the ``/auth/*`` routes and the admin's forms alike), the ``@rate_limited``
mark on the API responders it guards, and their ``X-RateLimit-*`` headers.

Every answer of a responder marked ``@rate_limited(action)`` carries, whatever its status:

* ``X-RateLimit-Limit``: the attempts the caller's address may make per window (an
  account's limit once that account has no attempts left: ``RateLimiter``'s quota);
* ``X-RateLimit-Remaining``: the attempts it has left in the current window after this
  request (0 on a 429);
* ``X-RateLimit-Reset``: the epoch second that window ends (as GitHub's and SonicJS's
  ``X-RateLimit-Reset``); on a 429 it is the moment ``Retry-After`` (seconds, as HTTP has
  it) counts down to.

The numbers are those the ``Guard`` read and wrote when it counted (``app.services.ratelimit``:
the counters every worker shares). An answer given before anything was counted (a body
that is not JSON or fails validation, a caller not signed in) reads the address's count
instead, one KV read. The admin's HTML forms share the counters but send no such headers:
they say how long to wait in the page, and the headers are part of the JSON API's contract
(its OpenAPI document declares them on every status of the marked operations).
"""

from typing import NamedTuple

from app.api.access import responders
from app.api.authentication import client_ip
from app.api.describe import Header
from app.api.errors import too_many_requests
from app.services.accounts import normalize_email
from app.services.addresses import limit_key
from app.services.ratelimit import bucket

RATE_LIMIT_ATTR = "__sonicpy_rate_limit__"

LIMIT = Header("X-RateLimit-Limit", "attempts allowed per window to the caller (its address, and on sign-in the "
                                    "account it names)", int)
REMAINING = Header("X-RateLimit-Remaining", "attempts the caller has left in the current window after this request "
                                            "(0 on a 429)", int)
RESET = Header("X-RateLimit-Reset", "when the current window ends, in Unix epoch seconds (on a 429, the moment "
                                    "`Retry-After` counts down to)", int)
QUOTA_HEADERS = (LIMIT, REMAINING, RESET)
# Actions counting every request (not failures), by address: requests allowed per minute of
# the window (``RATE_LIMIT_WINDOW_SECONDS``), so that the limit scales with it. A search is
# a few statements and, in ``ai`` mode, a model call; a suggestion is asked as one types.
PER_MINUTE = {"search": 60, "search-suggest": 240}


class Attempt(NamedTuple):
    """An attempt the ``Guard`` counted: its buckets and their limits, to refund it by."""

    keys: tuple
    limits: dict


class Guard:
    """Rate-limit checks shared by the auth resources (login, register, resets) and the admin's forms.

    An attempt is counted *before* the slow work it guards (``acquire``) and given back
    when it went well (``refund``): counted afterwards, a burst of parallel guesses would
    all pass the check while the first ones were still hashing. Each call keeps the
    caller's ``Quota`` in ``req.context.rate_limit`` for the headers.

    Sign-in (``acquire_login``) is limited so that nobody can lock an account by failing
    on purpose: the client address is limited (``RATE_LIMIT_ATTEMPTS`` failures per window,
    whichever accounts they name), the account is not, so its owner signs in from any
    other address. An account's failures from all addresses are counted too; past
    ``RATE_LIMIT_ACCOUNT_ATTEMPTS`` in a window (a guess spread over many addresses) each
    address gets one failure for that account per window instead: the attack slows to one
    guess per address while a correct password from a client that has not failed still
    signs in.

    Every limit here counts a client by ``address``: an IPv4 address alone, an IPv6 one by
    its /64, the block a single host can pick any address from.
    """

    def __init__(self, limiter, settings):
        self._limiter = limiter
        self._proxies = settings.trusted_proxy_count
        self._account_ceiling = settings.rate_limit_account_attempts
        self._window = settings.rate_limit_window_seconds

    def limits(self, keys, action):
        """``{bucket: limit}`` of ``keys`` when ``action`` has its own (``PER_MINUTE``), else {}."""
        per_minute = PER_MINUTE.get(action)
        if per_minute is None:
            return {}
        limit = max(1, per_minute * self._window // 60)
        return dict.fromkeys(keys, limit)

    def address(self, req):
        """What ``req``'s client address is counted under: itself for IPv4, its /64 for IPv6
        (``limit_key``), so a host cannot rotate addresses to sidestep a limit."""
        return limit_key(client_ip(req, self._proxies))

    def buckets(self, req, action, account=None):
        """The IP bucket of ``action`` and, with ``account``, the account's bucket."""
        keys = [bucket(f"{action}-ip", self.address(req))]
        if account is not None:
            keys.append(bucket(f"{action}-account", normalize_email(account)))
        return keys

    def login_buckets(self, req, account):
        """The sign-in buckets of ``req``: its address, ``account``, and the two together."""
        address, account = self.address(req), normalize_email(account)
        return [
            bucket("login-ip", address), bucket("login-account", account),
            bucket("login-account-ip", f"{account} {address}"),
        ]

    def acquire_login(self, req, account):
        """Count a sign-in attempt on ``account`` (429 when limited); the ``Attempt`` to refund."""
        address_key, account_key, pair_key = keys = self.login_buckets(req, account)
        under_attack = self._limiter.count(account_key) >= self._account_ceiling
        limits = {account_key: None, pair_key: 1 if under_attack else None}
        return self._count(req, Attempt(tuple(keys), limits))

    def acquire(self, req, action, account=None):
        """Count an ``action`` attempt from ``req``'s address (and against ``account``); 429
        (with Retry-After) when one is at its limit. The ``Attempt`` to refund."""
        keys = tuple(self.buckets(req, action, account))
        return self._count(req, Attempt(keys, self.limits(keys, action)))

    def refund(self, req, attempt):
        """Give back the ``attempt`` counted: only failures count against the limit."""
        req.context.rate_limit = self._limiter.refund(*attempt.keys, limits=attempt.limits)

    def clear(self, keys):
        """Forget ``keys`` (an account proved it holds its mailbox)."""
        self._limiter.clear(*keys)

    def standing(self, req, action):
        """The ``Quota`` of ``req``'s address for ``action``, counting nothing."""
        keys = self.buckets(req, action)
        return self._limiter.quota(*keys, limits=self.limits(keys, action))

    def _count(self, req, attempt):
        quota = req.context.rate_limit = self._limiter.acquire(*attempt.keys, limits=attempt.limits)
        if quota.retry_after is not None:
            raise too_many_requests(quota.retry_after)
        return attempt


def rate_limited(action):
    """Mark the decorated responder as guarded by the ``Guard`` for ``action`` (``login``,
    ``register``, ``reset``, ``token``, ``sign-in-mail``, ``form-submit``, ``search``,
    ``search-suggest``): its answers carry
    the ``X-RateLimit-*`` headers, and the OpenAPI document declares them, with the 429 and
    its ``Retry-After``."""

    def decorate(responder):
        setattr(responder, RATE_LIMIT_ATTR, action)
        return responder

    return decorate


def rate_limit_of(responder):
    """The action ``@rate_limited`` named on ``responder``, or None."""
    return getattr(responder, RATE_LIMIT_ATTR, None)


class RateLimitHeaders:
    """Middleware: the ``X-RateLimit-*`` headers on every answer of a ``@rate_limited`` responder.

    Args:
        guard: a ``Guard`` over the app's limiter, for answers given before anything was counted.
        routes: the mounted ``(template, resource, suffix)`` triples.
    """

    def __init__(self, guard, routes):
        self._guard = guard
        self._actions = {}
        for template, resource, suffix in routes:
            for method, responder in responders(resource, suffix):
                if (action := rate_limit_of(responder)) is not None:
                    self._actions[(template, method)] = action
                    if method == "GET":  # the router answers HEAD with the GET's responder
                        self._actions.setdefault((template, "HEAD"), action)

    def process_response(self, req, resp, resource, req_succeeded):
        # A request refused before routing (RequestGuard) has no template: these routes'
        # templates are their paths.
        action = self._actions.get((req.uri_template or req.path, req.method))
        if action is None:
            return
        quota = getattr(req.context, "rate_limit", None) or self._guard.standing(req, action)
        resp.set_header(LIMIT.name, str(quota.limit))
        resp.set_header(REMAINING.name, str(quota.remaining))
        resp.set_header(RESET.name, str(quota.reset))
