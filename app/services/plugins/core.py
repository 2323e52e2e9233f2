"""The plugins built into sonicpy, registered through the same hooks as any other.

Optional behaviours live here as plugins an admin may deactivate or configure like any
other; the passwordless sign-ins (``otp-login``, ``magic-link-auth``) start inactive.
``core_plugins()`` makes fresh objects for each app, so two apps in one process (tests, an
embedder's sites) never share a plugin's state.
"""

from app.services.plugins.ai_search_plugin import AISearch
from app.services.plugins.core_auth import CoreAuth
from app.services.plugins.core_cache import CoreCache
from app.services.plugins.core_media import CoreMedia
from app.services.plugins.core_workflow import CoreWorkflow
from app.services.plugins.email_plugin import Email
from app.services.plugins.magic_link import MagicLinkAuth
from app.services.plugins.otp_login import OtpLogin
from app.services.plugins.request_logs import RequestLogs
from app.services.plugins.webhooks_plugin import Webhooks


def core_plugins():
    """New instances of every core plugin, for one app."""
    return [RequestLogs(), Webhooks(), CoreAuth(), CoreCache(), CoreMedia(), CoreWorkflow(), Email(), OtpLogin(),
            MagicLinkAuth(), AISearch()]
