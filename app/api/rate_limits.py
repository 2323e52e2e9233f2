"""Rate limits over HTTP: the ``Guard`` that counts sign-in, registration, reset and token
attempts, for the ``/auth/*`` routes and the admin's forms alike.
"""

from typing import NamedTuple

from app.api.authentication import client_ip
from app.api.errors import too_many_requests
from app.services.accounts import normalize_email
from app.services.ratelimit import bucket


class Attempt(NamedTuple):
    """An attempt the ``Guard`` counted: its buckets and their limits, to refund it by."""

    keys: tuple
    limits: dict


class Guard:
    """Rate-limit checks shared by the auth resources (login, register, resets) and the admin's forms.

    An attempt is counted *before* the slow work it guards (``acquire``) and given back
    when it went well (``refund``): counted afterwards, a burst of parallel guesses would
    all pass the check while the first ones were still hashing. Each call keeps the
    caller's ``Quota`` in ``req.context.rate_limit``.

    Sign-in (``acquire_login``) is limited so that nobody can lock an account by failing
    on purpose: the client address is limited (``RATE_LIMIT_ATTEMPTS`` failures per window,
    whichever accounts they name), the account is not, so its owner signs in from any
    other address. An account's failures from all addresses are counted too; past
    ``RATE_LIMIT_ACCOUNT_ATTEMPTS`` in a window (a guess spread over many addresses) each
    address gets one failure for that account per window instead: the attack slows to one
    guess per address while a correct password from a client that has not failed still
    signs in.
    """

    def __init__(self, limiter, settings):
        self._limiter = limiter
        self._proxies = settings.trusted_proxy_count
        self._account_ceiling = settings.rate_limit_account_attempts

    def buckets(self, req, action, account=None):
        """The IP bucket of ``action`` and, with ``account``, the account's bucket."""
        keys = [bucket(f"{action}-ip", client_ip(req, self._proxies))]
        if account is not None:
            keys.append(bucket(f"{action}-account", normalize_email(account)))
        return keys

    def login_buckets(self, req, account):
        """The sign-in buckets of ``req``: its address, ``account``, and the two together."""
        address, account = client_ip(req, self._proxies), normalize_email(account)
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
        return self._count(req, Attempt(tuple(self.buckets(req, action, account)), {}))

    def refund(self, req, attempt):
        """Give back the ``attempt`` counted: only failures count against the limit."""
        req.context.rate_limit = self._limiter.refund(*attempt.keys, limits=attempt.limits)

    def clear(self, keys):
        """Forget ``keys`` (an account proved it holds its mailbox)."""
        self._limiter.clear(*keys)

    def standing(self, req, action):
        """The ``Quota`` of ``req``'s address for ``action``, counting nothing."""
        return self._limiter.quota(*self.buckets(req, action))

    def _count(self, req, attempt):
        quota = req.context.rate_limit = self._limiter.acquire(*attempt.keys, limits=attempt.limits)
        if quota.retry_after is not None:
            raise too_many_requests(quota.retry_after)
        return attempt
