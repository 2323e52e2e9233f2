"""The mailer: how password-reset, invitation and sign-in links (and sign-in codes) reach people.

Backends, chosen by ``MAILER``:

* ``log``: the link is written to the process log at WARNING (``accounts.log_mailer``), for
  the operator to pass on. The default in the default (development) environment only: any other environment
  refuses to start unless ``MAILER`` names a backend, so a production deployment never
  drops its mail into a log by accident (``MAILER = "log"`` still chooses it explicitly).
* ``smtp``: the standard library's ``smtplib`` to ``SMTP_HOST``:``SMTP_PORT`` with
  ``SMTP_SECURITY`` ``starttls`` (default, port 587), ``tls`` (implicit TLS, port 465) or
  ``none`` (a relay on localhost); ``SMTP_USERNAME`` and the secret ``SMTP_PASSWORD``
  when the server wants a login; ``MAIL_FROM`` as the sender. Links are absolute, so
  ``PUBLIC_BASE_URL`` is required with it.

A mailer is any callable taking a ``Mail`` (``app.services.accounts``); the API calls it
through ``ctx.wait_until``, after the response, so a slow SMTP server never delays one.
"""

import email.utils
import logging
import smtplib
import ssl
from email.message import EmailMessage

import msgspec

from app.runtime.binding_values import shown
from app.runtime.config import ConfigError

log = logging.getLogger("sonicpy.mail")

BACKENDS = ("log", "smtp")
SECURITY_MODES = ("starttls", "tls", "none")
DEFAULT_PORTS = {"starttls": 587, "tls": 465, "none": 25}

SUBJECTS = {
    "password_reset": "Reset your password",
    "invitation": "You are invited",
    "magic_link": "Your sign-in link",
    "sign_in_code": "Your sign-in code",
    "form_submission": "New form submission",
}
BODIES = {
    "password_reset": "Someone asked to reset the password of this account.\n\n"
                      "To choose a new password, open this link (it works once, for a limited time):\n\n{link}\n\n"
                      "If it was not you, ignore this message: your password stays as it is.\n",
    "invitation": "You have been invited to join.\n\n"
                  "To accept and choose your password, open this link (it works once):\n\n{link}\n",
    "magic_link": "Someone asked to sign in to this account by email.\n\n"
                  "To sign in, open this link (it works once, for a few minutes):\n\n{link}\n\n"
                  "If it was not you, ignore this message: nobody can sign in without the link.\n",
    "sign_in_code": "Someone asked to sign in to this account by email.\n\n"
                    "Your sign-in code (it works once, for a few minutes):\n\n{link}\n\n"
                    "If it was not you, ignore this message, and never tell anyone the code.\n",
    "form_submission": "A form of your site received a new submission.\n\n"
                       "Read it in the admin (sign-in required):\n\n{link}\n",
}


class MailSettings(msgspec.Struct, kw_only=True):
    """How mail is sent (see the module docstring for the variables).

    Attributes:
        backend: ``log`` or ``smtp``.
        host, port, security: the SMTP server and how the connection is secured.
        username, password: the SMTP login (none when ``username`` is empty).
        sender: the ``From`` address.
        timeout: seconds for each SMTP network operation.
    """

    backend: str = "log"
    host: str = ""
    port: int = 587
    security: str = "starttls"
    username: str = ""
    password: str = ""
    sender: str = ""
    timeout: float = 10.0

    def __repr__(self):
        # Settings are printed in tracebacks and debug logs: never the SMTP password.
        return (f"MailSettings(backend={self.backend!r}, host={self.host!r}, port={self.port}, "
                f"security={self.security!r})")


def compose(mail, sender):
    """The ``EmailMessage`` of ``mail`` (subject and text by its kind) from ``sender``."""
    message = EmailMessage()
    message["From"] = sender
    message["To"] = mail.email
    message["Subject"] = SUBJECTS.get(mail.kind, mail.subject.capitalize())
    message["Date"] = email.utils.formatdate(localtime=False)
    message["Message-ID"] = email.utils.make_msgid(domain=email.utils.parseaddr(sender)[1].partition("@")[2] or None)
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(BODIES.get(mail.kind, "{link}\n").format(link=mail.link))
    return message


class SmtpMailer:
    """Sends each ``Mail`` through an SMTP server (a new connection per message).

    Args:
        settings: MailSettings with ``backend == "smtp"``.
        ssl_context: for ``starttls``/``tls``; default the system's trusted CAs with
            hostname checking.

    Attributes:
        sender_source: None, or a callable returning the ``From`` address to use instead of
            ``MAIL_FROM`` (None: ``MAIL_FROM``); the ``email`` plugin sets it from its settings.
    """

    def __init__(self, settings, ssl_context=None):
        self._settings = settings
        self._context = ssl_context or ssl.create_default_context()
        self.sender_source = None

    @property
    def sender(self):
        """The ``From`` address of the next message."""
        override = self.sender_source() if self.sender_source is not None else None
        return override or self._settings.sender

    def __call__(self, mail):
        """Send ``mail``; smtplib's errors propagate (``wait_until`` logs them)."""
        message = compose(mail, self.sender)
        with self._connect() as smtp:
            if self._settings.username:
                smtp.login(self._settings.username, self._settings.password)
            smtp.send_message(message)
        log.info("%s mailed to %s", mail.subject, mail.email)

    def _connect(self):
        s = self._settings
        if s.security == "tls":
            return smtplib.SMTP_SSL(s.host, s.port, timeout=s.timeout, context=self._context)
        smtp = smtplib.SMTP(s.host, s.port, timeout=s.timeout)
        if s.security == "starttls":
            smtp.starttls(context=self._context)
        return smtp


def mailer_for(settings):
    """The mailer of ``settings`` (``Settings.mail``): a SmtpMailer, or the ``log`` one."""
    if settings.mail.backend == "smtp":
        return SmtpMailer(settings.mail)
    from app.services.accounts import (
        log_mailer,  # accounts imports the models: not at import time
    )

    return log_mailer


def mail_settings_from_config(config, public_base_url):
    """MailSettings from ``config``'s vars and secrets; ConfigError for a missing or bad value."""
    get = config.setting
    where = f"{config.path} (environment {config.env_label})"
    backend = (get("MAILER") or "").strip().lower()
    if not backend:
        if config.env_name is not None:
            raise ConfigError(f"{where}: MAILER is not set; outside the default environment choose one of "
                              f"{', '.join(BACKENDS)} (smtp sends real mail; log only writes links to the log)")
        backend = "log"
    if backend not in BACKENDS:
        raise ConfigError(f"{where}: MAILER must be one of {', '.join(BACKENDS)}, not {shown(backend)}")
    if backend == "log":
        return MailSettings(backend="log")
    return _smtp_settings(config, where, public_base_url)


def _smtp_settings(config, where, public_base_url):
    get = config.setting
    security = (get("SMTP_SECURITY") or "starttls").strip().lower()
    if security not in SECURITY_MODES:
        raise ConfigError(f"{where}: SMTP_SECURITY must be one of {', '.join(SECURITY_MODES)}, not {shown(security)}")
    for name in ("SMTP_HOST", "MAIL_FROM"):
        if not get(name):
            raise ConfigError(f"{where}: MAILER = \"smtp\" needs {name}")
    if not public_base_url.startswith(("https://", "http://")):
        raise ConfigError(
            f"{where}: MAILER = \"smtp\" needs PUBLIC_BASE_URL (https://...) so mailed links are absolute"
        )
    port = get("SMTP_PORT") or DEFAULT_PORTS[security]
    try:
        port = int(port)
    except (TypeError, ValueError):
        raise ConfigError(f"{where}: SMTP_PORT must be a port number, not {shown(port)}") from None
    return MailSettings(
        backend="smtp", host=get("SMTP_HOST"), port=port, security=security,
        username=get("SMTP_USERNAME") or "", password=get("SMTP_PASSWORD") or "", sender=get("MAIL_FROM"),
    )
