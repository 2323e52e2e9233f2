"""The ``email`` core plugin: the mailer's state, and a ``From`` address an admin may change.

The mailer itself is configured by the deployment (``MAILER``, ``SMTP_*``, ``MAIL_FROM``, the
secret ``SMTP_PASSWORD``); ``GET /admin/api/plugins/email`` shows what it is (``state``:
backend, server, security, whether it logs in, the ``From`` address in use), never the
password. The one setting, ``from_address``, replaces ``MAIL_FROM`` for the ``smtp``
backend (``Name <address>`` or a bare address); it is read through the cached plugin state
when a message is sent, so every worker follows a change. Secrets never go into settings.

It cannot be deactivated (409): password-reset and invitation links travel by mail, and a
deactivated mailer would lose them without a word.
"""

import email.utils
import logging

import msgspec

from app.db.database import release_connection
from app.db.models import database
from app.services.plugins import PluginInfo, ReadsOwnSettings, SettingError, hookimpl

NAME = "email"
log = logging.getLogger("sonicpy.mail")


class EmailSettings(msgspec.Struct, forbid_unknown_fields=True):
    """Settings of ``email``.

    Attributes:
        from_address: the ``From`` of every message (``smtp``); None: ``MAIL_FROM``.
    """

    from_address: str | None = None

    def __post_init__(self):
        if self.from_address is not None and not valid_from_address(self.from_address):
            raise SettingError("from_address", "from_address must be an email address, optionally as 'Name <address>'")


def valid_from_address(value):
    """Whether ``value`` is one ``From`` address (no line breaks: it becomes a header)."""
    if len(value) > 320 or any(ch in value for ch in "\r\n\0"):
        return False
    _name, address = email.utils.parseaddr(value)
    local, _, domain = address.rpartition("@")
    return bool(local) and "." in domain and " " not in address


INFO = PluginInfo(
    name=NAME, display_name="Email", version="1.0.0", author="sonicpy", category="communication",
    description="Sends password-reset and invitation mail (log or SMTP, configured by the deployment)",
    settings_schema=EmailSettings, default_settings=msgspec.to_builtins(EmailSettings()),
    active_by_default=True, is_core=True, required=True,
)


class Email(ReadsOwnSettings):
    """The plugin object (one per app): it gives the SMTP mailer its ``From`` and reports its state."""

    plugin_info = INFO

    def __init__(self):
        super().__init__()
        self._mail = None
        self._mailer = None

    @hookimpl
    def startup(self, settings, services):
        self.attach(services)
        self._mail = settings.mail
        self._mailer = services.mailer
        if hasattr(services.mailer, "sender_source"):
            services.mailer.sender_source = self.from_address

    def from_address(self):
        """The ``from_address`` setting, or None; never raises (the mail goes out from ``MAIL_FROM``)."""
        db = database.obj
        opened_here = db is not None and db.is_closed()  # after the response the request's is gone
        try:
            return self.own_settings().get("from_address") or None
        except Exception:
            log.exception("email plugin settings could not be read; sending from MAIL_FROM")
            return None
        finally:
            if opened_here:
                release_connection(db)

    def state(self):
        """What the API shows of the mailer: no password, no username."""
        mail = self._mail
        if mail is None:
            return {}
        if mail.backend != "smtp":
            return {"backend": mail.backend, "sender": None}
        sender = getattr(self._mailer, "sender", mail.sender)
        return {"backend": "smtp", "host": mail.host, "port": mail.port, "security": mail.security,
                "login": bool(mail.username), "sender": sender}
