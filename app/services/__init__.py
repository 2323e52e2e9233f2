"""Business logic shared by the API and the CLI, and ``Services``: what one app's resources share."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from app.admin.public import PublicPages
    from app.services.accounts import Accounts, Mail
    from app.services.api_tokens import ApiTokens
    from app.services.cache import ThreeTierCache
    from app.services.identity import RolePermissions
    from app.services.media import MediaLibrary
    from app.services.plugins.registry import PluginRegistry
    from app.services.ratelimit import RateLimiter


@dataclass(frozen=True)
class Services:
    """The long-lived objects one app's resources share, built once before its routes.

    ``app.app.build_services`` makes the default set; ``create_app`` hands each resource the
    ones it uses. A caller may pass its own, for instance the defaults with one replaced:
    ``dataclasses.replace(build_services(env, settings), mailer=outbox)``.

    Attributes:
        roles: the permissions of each role, cached briefly.
        accounts: sign-up, sign-in, password changes and resets, invitations.
        api_tokens: create, list and revoke API tokens; resolves a Bearer token to a caller.
        rate_limiter: attempt counters in CACHE_KV (sign-in, registration, resets, tokens).
        cache: the three-tier read cache over CACHE_KV, or None for an env without CACHE_KV.
        media: the media library (files in MEDIA_BUCKET and their rows).
        mailer: ``mailer(mail)`` delivers a password-reset or invitation ``Mail``; it runs
            after the response is sent.
        plugins: the plugin registry: the pluggy manager and hook runner, which plugins
            are active (cached across workers) and their settings.
        pages: renders the app's pages (``app.admin.public``): the admin's, and those outside
            it in its sign-in layout (a mailed sign-in link's page).
    """

    roles: RolePermissions
    accounts: Accounts
    api_tokens: ApiTokens
    rate_limiter: RateLimiter
    cache: ThreeTierCache | None
    media: MediaLibrary
    mailer: Callable[[Mail], None]
    plugins: PluginRegistry
    pages: PublicPages
