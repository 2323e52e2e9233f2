"""User accounts: creation, login, password changes and resets, invitations, and the mailer.

Used by the auth and users APIs and by the CLI (``users create-admin``) alike, so the rules
live once: emails are stored and looked up in one normal form (``normalize_email``: NFKC,
invisible characters removed, lower-case), so look-alike spellings of one address meet as
one account, and a new address whose letters mix scripts (a Cyrillic "а" among Latin
letters) is refused, since NFKC does not fold those; passwords have a minimum length and
are hashed with scrypt; one-time tokens (password reset, invitation) are 256-bit random
strings of which only the SHA-256 is stored, and they reach the user only through the
``mailer`` hook, never an HTTP response. A token is consumed by the same conditional UPDATE
that sets the new password (``WHERE token = ? AND still valid``, one row or none), so two
requests racing with one token cannot both succeed. Every event that should end existing
sessions (password change or reset, logout, role change, deactivation) bumps
``users.token_version``; a new password, however it is set, also deletes the user's API
tokens in the same transaction, since whoever knew the old password may have made them.
Each such write then invalidates the read cache's ``users`` namespace, where sessions'
accounts are kept (``app.services.identity``).

Errors are domain exceptions (``AccountError`` subclasses); the API maps them to HTTP.
"""

import logging
import re
import secrets
import unicodedata
from dataclasses import dataclass
from typing import Annotated

import msgspec
import peewee

from app.db.database import release_connection
from app.db.models import User, database, now_ms
from app.services.api_tokens import revoke_tokens_of
from app.services.cache import Namespace, invalidate
from app.services.errors import INVALID, ServiceError, pattern_in_words
from app.services.identity import LEAST_PRIVILEGED_ROLE, ROLES, hash_token
from app.services.passwords import PasswordHasher
from app.services.plugins import hooks
from app.services.usernames import free_username, same_username

log = logging.getLogger("sonicpy.accounts")

# msgspec runs EMAIL_PATTERN with re.search, where "$" also matches before a final "\n":
# "(?!\n)" makes it the end of the text, and stays valid for JSON Schema (ECMA-262) in the
# OpenAPI document, which has no "\Z". USERNAME_PATTERN is checked by ``is_username`` with
# fullmatch (the rule's words are the refusal, not msgspec's), where the guard changes nothing.
EMAIL_PATTERN = pattern_in_words(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]+(?!\n)$", "must be an email address")
USERNAME_PATTERN = r"^[A-Za-z0-9_.-]{3,50}(?!\n)$"
USERNAME_RULE = "3 to 50 of A-Z, a-z, 0-9, '_', '.', '-'"
MAX_EMAIL_LENGTH = 254  # as typed, and again once normalised: NFKC can make it longer ("㎒" is "MHz")
MAX_PASSWORD_LENGTH = 1024  # scrypt cost does not depend on it, but a cap avoids silly bodies
# An address as a body takes it (the API's sign-in and user bodies, a form's notify list):
# one declaration, so every layer refuses the same strings with the same message.
Email = Annotated[str, msgspec.Meta(pattern=EMAIL_PATTERN, max_length=MAX_EMAIL_LENGTH)]
# An address in an edit of a user: the stored one sent back exactly is kept even when it
# predates today's rules (an old database, a backup); the service checks a new one against
# them (``edited_email``), a 422 on ``email`` in the pattern's words.
EditedEmail = Annotated[str, msgspec.Meta(max_length=MAX_EMAIL_LENGTH,
                                          description="A new email must be an email address")]
# A write the database refused for a unique key that no other user holds by the time it is
# asked again (the holder was deleted meanwhile).
EITHER_TAKEN = "A user with this email or username already exists"
# Concurrent sign-ups of one mailbox name (ed@a.example, ed@b.example) race for one derived
# username; the losers take the next free one, this many times at most.
USERNAME_ATTEMPTS = 5
# Characters that render as nothing (soft hyphen, zero-width and direction marks, word
# joiners, the BOM): an address holding one looks exactly like the address without it.
INVISIBLE_CHARACTERS = re.compile("[\u00ad\u034f\u061c\u180e\u200b-\u200f\u202a-\u202e\u2060-\u206f\ufeff]")
# Scripts that are written together: Latin with the Chinese, Japanese and Korean ones.
MIXABLE_SCRIPTS = frozenset({"LATIN", "CJK", "HIRAGANA", "KATAKANA", "HANGUL", "BOPOMOFO"})


class AccountError(Exception):
    """Base of the account errors; the message is safe to show to the client."""


class DuplicateAccount(AccountError):
    """The email or username is already taken; ``field`` says which (None when a race left
    it unknown), for the 409's ``details``."""

    def __init__(self, message, field=None):
        super().__init__(message)
        self.field = field

    @property
    def details(self):
        """``[{field, message}]`` on the field taken, the shape of every field's problem, with
        the error's own words, as a taken collection or form name says it (None when it is
        unknown which field)."""
        if self.field is None:
            return None
        return [{"field": self.field, "message": str(self)}]


class InvalidUsername(AccountError, ServiceError):
    """The username breaks ``USERNAME_PATTERN``: a 422 naming the field, as the API's own
    check of a request body answers (``Validation failed``, ``details`` on ``username``)."""

    kind = INVALID

    def __init__(self, message=f"Username must be {USERNAME_RULE}"):
        super().__init__("Validation failed", [{"field": "username", "message": message}])

    def __str__(self):
        return self.details[0]["message"]


class WeakPassword(AccountError):
    """The password breaks the policy (too short or too long)."""


class InvalidEmail(AccountError):
    """The email mixes letters of scripts that look alike (Latin and Cyrillic, say), or is
    no email once invisible characters are removed."""


class InvalidCredentials(AccountError):
    """A password (current password, login) did not match."""


class InvalidToken(AccountError):
    """A reset or invitation token is unknown, used or expired."""


@dataclass(frozen=True)
class Mail:
    """A message for the mailer hook.

    Attributes:
        kind: ``"password_reset"``, ``"invitation"``, ``"magic_link"``, ``"sign_in_code"`` or
            ``"form_submission"`` (its link: the submission's page in the admin).
        email: the recipient.
        link: the one-time link (carries the plaintext token); for a ``sign_in_code``, the code.
    """

    kind: str
    email: str
    link: str

    @property
    def subject(self):
        """A short human label: "password reset", "invitation"."""
        return self.kind.replace("_", " ")


def log_mailer(mail):
    """The default mailer: logs the link at WARNING so the operator can pass it on.

    Any callable taking a ``Mail`` can replace it: pass ``create_app`` a ``Services`` whose
    ``mailer`` is that callable.
    """
    log.warning("%s for %s: %s", mail.subject, mail.email, mail.link)


def mail_issued(issue, mailer, *args):
    """Run ``issue(*args)``, a lookup of an address's account that writes a one-time secret
    and gives the Mail carrying it (or None), then send that mail with ``mailer``.

    Queued with ``ctx.wait_until`` for every address alike: the lookup and the write happen
    after the response, so the answer takes the same time whether or not the address has
    an account. The connection goes back to the pool before the mail is sent, so a slow
    mail server holds none.
    """
    db = database.obj
    try:
        mail = issue(*args)
    finally:
        if db is not None:
            release_connection(db)
    if mail is not None:
        mailer(mail)


def normalize_email(email):
    """The one form an email is stored and looked up in.

    NFKC folds compatibility look-alikes (fullwidth letters, ligatures) into the plain
    letters, invisible characters are removed, and emails compare case-insensitively.
    """
    return INVISIBLE_CHARACTERS.sub("", unicodedata.normalize("NFKC", email)).strip().lower()


def same_email(address):
    """The condition on users whose email is ``address`` (normalised) in any case.

    A database may hold an email stored before emails were normalised (``Admin@Example.com``),
    or one a backup brought: it is the same address, and it must sign in and be taken. The
    index on ``lower(email)`` answers the condition on both databases: the normalised
    address is compared with ``lower(email)`` as is, as the backup import asks, so on
    PostgreSQL the comparison takes the column's collation, the index's. SQLite's ``lower()``
    folds A-Z only, so a stored non-ASCII capital is matched on PostgreSQL alone.
    """
    return peewee.fn.LOWER(User.email) == address


def account_of(address, *conditions):
    """The user the normalised ``address`` names among those meeting ``conditions``, or None.

    Two users whose emails differ only in case may both exist from before emails were
    normalised: the one holding the address as normalised wins, then the first by id (the
    backup import's rule), so every sign-in way and every reset reaches the same account.
    """
    query = User.select().where(same_email(address), *conditions)
    return query.order_by(User.email != address, User.id).first()


def check_email_scripts(email):
    """Raise InvalidEmail when a part of ``email`` (the local part, a domain label) mixes scripts.

    A part in one script is accepted, whatever the script ("иван@пример.рф" is a real
    address); Latin may mix with the Chinese, Japanese and Korean scripts, which are written
    together. Any other mix (a Cyrillic "а" in "pаypal") is how a look-alike of another
    address is made, and NFKC does not fold it.
    """
    local, _, domain = email.rpartition("@")
    for part in (local, *domain.split(".")):
        scripts = {_script(ch) for ch in part if ch.isalpha()}
        if len(scripts) > 1 and not scripts <= MIXABLE_SCRIPTS:
            raise InvalidEmail("Email mixes letters of different scripts (for example Latin and Cyrillic)")


def _script(letter):
    """The script of ``letter`` as the first word of its Unicode name (LATIN, CYRILLIC, GREEK...)."""
    return unicodedata.name(letter, "UNKNOWN").split(" ", 1)[0]


class Accounts:
    """Account operations bound to the app's settings.

    Args:
        settings: Settings (password policy, scrypt cost, token lifetimes, base URL).
        hasher: a PasswordHasher; default from ``settings``.
        cache: the app's ThreeTierCache, whose ``users`` namespace a write ending
            sessions invalidates (None: nothing cached to invalidate).
    """

    def __init__(self, settings, hasher=None, cache=None):
        self._settings = settings
        self.hasher = hasher or PasswordHasher.from_settings(settings)
        self._cache = cache
        # Set by the core-auth plugin: () -> whether its stored settings leave registration open.
        self.registration_source = None

    def registration_open(self):
        """Whether ``POST /auth/register`` is enabled: ``Settings.registration_enabled`` and,
        when the core-auth plugin is loaded, its ``registration.enabled`` setting both allow it."""
        if not self._settings.registration_enabled:
            return False
        return self.registration_source() if self.registration_source is not None else True

    def _sessions_changed(self):
        """After a committed write to a user's version or activity: cached sessions are stale."""
        invalidate(self._cache, Namespace.USERS)

    # -- creation -------------------------------------------------------------------------

    def check_password(self, password):
        """Raise WeakPassword unless ``password`` meets the policy."""
        if len(password) < self._settings.password_min_length:
            raise WeakPassword(f"Password must be at least {self._settings.password_min_length} characters")
        if len(password) > MAX_PASSWORD_LENGTH:
            raise WeakPassword(f"Password must be at most {MAX_PASSWORD_LENGTH} characters")

    def create_user(self, email, password, role=LEAST_PRIVILEGED_ROLE, username=None, first_name="", last_name=""):
        """Create an active user; raise DuplicateAccount, WeakPassword, InvalidEmail or InvalidUsername.

        Args:
            email: stored normalised (``normalize_email``); refused if it mixes scripts.
            password: checked against the policy, stored as a scrypt hash.
            role: one of ROLES (registration passes the least privileged one; an admin's create may
                name any role the caller may grant).
            username: obeys ``USERNAME_PATTERN``; default derived from the email, made unique.
        """
        if role not in ROLES:
            raise ValueError(f"unknown role {role!r}")
        self.check_password(password)
        return self._insert(
            email=new_email(email), username=username, role=role, first_name=first_name,
            last_name=last_name, password_hash=self.hasher.hash(password), is_active=True,
        )

    def create_admin(self, email, password, username=None, first_name="", last_name="", update_existing=False):
        """Create an admin (the CLI's ``users create-admin`` and ``dev`` use this).

        With ``update_existing``, an existing account of that email becomes an active
        admin with this password and its sessions and API tokens end, and a pending
        invitation of it is withdrawn (its link would otherwise set the admin's username and
        password); otherwise it is a DuplicateAccount.
        """
        existing = account_of(normalize_email(email))
        if existing is None:
            return self.create_user(email, password, "admin", username, first_name, last_name)
        if not update_existing:
            raise DuplicateAccount(f"A user with email {existing.email} already exists", "email")
        self.check_password(password)
        self._set_password(existing.id, password, role="admin", is_active=True, invitation_token=None)
        return User.get_by_id(existing.id)

    def create_dev_admin(self, email="admin@example.com"):
        """For ``dev``: when the database has no admin yet, create one with a random password.

        Returns:
            ``(user, password)`` to print, or None when an admin already exists.
        """
        if User.select().where(User.role == "admin").exists():
            return None
        password = secrets.token_urlsafe(12)
        return self.create_admin(email, password), password

    def _insert(self, username=None, **fields):
        if username is not None:
            check_username(username)
        with database.atomic():
            taken = duplicate_account(fields["email"], username)
            if taken is not None:
                raise taken
            now = now_ms()
            for _ in range(USERNAME_ATTEMPTS):
                try:
                    with database.atomic():  # a savepoint: PostgreSQL's transaction survives a refused insert
                        return User.create(
                            username=username or free_username(fields["email"]), created_at=now, updated_at=now,
                            **fields)
                except peewee.IntegrityError:
                    # Another request took the email or the username between the check and the
                    # insert: a generated username takes the next free one, anything else is taken.
                    if username is not None or User.select().where(same_email(fields["email"])).exists():
                        break
            raise duplicate_account(fields["email"], username) or DuplicateAccount(EITHER_TAKEN)

    # -- sessions -------------------------------------------------------------------------

    def authenticate(self, email, password):
        """The active user with this email and password (last login recorded), or None.

        Unknown emails cost one scrypt run too, so timing does not reveal which exist. Of
        two users whose emails differ only in case, the active one ``account_of`` names
        signs in: an old deactivated one must not shut out the other.
        """
        user = account_of(normalize_email(email), User.is_active == True)  # noqa: E712
        if user is None or not user.password_hash:
            self.hasher.burn(password)  # the same time for an unknown or inactive account
            return None
        if not self.hasher.verify(password, user.password_hash):
            return None
        changes = {}
        if self.hasher.needs_rehash(user.password_hash):
            changes["password_hash"] = self.hasher.hash(password)
        return self.record_sign_in(user, **changes)

    def record_sign_in(self, user, **changes):
        """After ``user`` proved who they are (a password, a mailed code or link): record the
        sign-in (``last_login_at``, with any ``changes``), run the ``after_auth_login`` hooks,
        and return the user as stored now."""
        User.update(last_login_at=now_ms(), **changes).where(User.id == user.id).execute()
        hooks.after("auth_login", user=user)
        return User.get_by_id(user.id)

    def end_sessions(self, user_id):
        """Invalidate every JWT issued to ``user_id`` so far (bump ``token_version``)."""
        User.update(token_version=User.token_version + 1, updated_at=now_ms()).where(User.id == user_id).execute()
        self._sessions_changed()

    def confirm_password(self, user_id, password):
        """Check that ``password`` is the current password of ``user_id`` (proof of the user
        before an action a stolen session must not take).

        Raises:
            InvalidCredentials: it is not, or the account has no password.
        """
        user = User.get_or_none(User.id == user_id)
        if user is None or not user.password_hash:
            self.hasher.burn(password)  # the same time as a wrong password
            raise InvalidCredentials("Current password is incorrect")
        if not self.hasher.verify(password, user.password_hash):
            raise InvalidCredentials("Current password is incorrect")

    def change_password(self, user_id, current_password, new_password):
        """Change a password after checking the current one; ends every session and API token.

        Raises:
            InvalidCredentials: ``current_password`` is wrong.
            WeakPassword: ``new_password`` breaks the policy.
        """
        user = User.get_by_id(user_id)
        if not self.hasher.verify(current_password, user.password_hash):
            raise InvalidCredentials("Current password is incorrect")
        self.check_password(new_password)
        self._set_password(user.id, new_password)
        hooks.after("auth_password_change", user=user, reason="change")
        return User.get_by_id(user.id)

    def _set_password(self, user_id, password, **extra):
        password_hash = self.hasher.hash(password)
        with database.atomic():
            User.update(
                password_hash=password_hash, token_version=User.token_version + 1, updated_at=now_ms(), **extra,
            ).where(User.id == user_id).execute()
            revoke_tokens_of(user_id)
        self._sessions_changed()

    def _reset_token_holder(self, token):
        """The active user whose live reset token is ``token``, or None (a cheap pre-check)."""
        user = User.get_or_none(User.password_reset_token == hash_token(token))
        if user is None or not user.is_active or (user.password_reset_expires or 0) <= now_ms():
            return None
        return user

    # -- password reset -------------------------------------------------------------------

    def request_password_reset(self, email):
        """Create a reset token for an active account: the Mail to send, or None.

        The caller answers the same way in both cases, so the response does not reveal
        whether the email has an account. The token is stored only while the account still
        has that address (and is active): an email change committing between the lookup and
        the write clears reset tokens, and this one must not reach the old address after it.
        The account is the one ``authenticate`` signs in (``account_of``, among active users),
        and the mail goes to its address as stored.
        """
        active = User.is_active == True  # noqa: E712
        user = account_of(normalize_email(email), active)
        if user is None:
            return None
        token = secrets.token_urlsafe(32)
        stored = User.update(
            password_reset_token=hash_token(token),
            password_reset_expires=now_ms() + self._settings.password_reset_ttl_seconds * 1000,
        ).where((User.id == user.id) & (User.email == user.email) & active).execute()
        if stored != 1:
            return None
        return Mail("password_reset", user.email, self._link("/admin/reset-password", token))

    def reset_password(self, token, new_password):
        """Set a new password with a reset token (single use); ends every session and API token.

        Raises:
            InvalidToken: the token is unknown, used or expired.
            WeakPassword: the password breaks the policy.
        """
        # The lookup spares the KDF for unknown tokens; the conditional UPDATE decides who wins.
        user = self._reset_token_holder(token)
        if user is None:
            raise InvalidToken("Invalid or expired reset token")
        self.check_password(new_password)
        password_hash = self.hasher.hash(new_password)
        with database.atomic():
            consumed = User.update(
                password_hash=password_hash, token_version=User.token_version + 1, updated_at=now_ms(),
                password_reset_token=None, password_reset_expires=None,
            ).where(
                (User.id == user.id) & (User.password_reset_token == hash_token(token))
                & (User.password_reset_expires > now_ms()) & (User.is_active == True)  # noqa: E712
            ).execute()
            if consumed != 1:
                raise InvalidToken("Invalid or expired reset token")
            revoke_tokens_of(user.id)
        self._sessions_changed()
        hooks.after("auth_password_change", user=user, reason="reset")
        return User.get_by_id(user.id)

    # -- invitations ----------------------------------------------------------------------

    def invite(self, email, role, invited_by, first_name="", last_name=""):
        """Create an inactive user with an invitation token: ``(user, Mail)``.

        Raises:
            DuplicateAccount: the email already has an account.
            InvalidEmail: the email mixes scripts.
        """
        if role not in ROLES:
            raise ValueError(f"unknown role {role!r}")
        token = secrets.token_urlsafe(32)
        user = self._insert(
            email=new_email(email), role=role, first_name=first_name, last_name=last_name,
            password_hash=None, is_active=False, invitation_token=hash_token(token),
            invited_by=invited_by, invited_at=now_ms(),
        )
        return user, Mail("invitation", user.email, self._link("/admin/accept-invitation", token))

    def reinvite(self, user_id, role):
        """A new link for ``user_id``'s pending invitation to ``role``, its lifetime restarted:
        ``(user, Mail)``.

        The previous link stops working. None when there is no pending invitation (accepted,
        cancelled, never sent), the account is active (made an admin by ``create_admin``,
        say: its link would set an active user's username and password), or its role is no
        longer ``role``, the one the caller's right and proof were checked for. The
        conditional UPDATE decides, so a resend racing an acceptance or a role change finds
        the invitation gone or changed.
        """
        token = secrets.token_urlsafe(32)
        now = now_ms()
        renewed = User.update(invitation_token=hash_token(token), invited_at=now, updated_at=now).where(
            (User.id == user_id) & User.pending_invitation() & (User.role == role)
        ).execute()
        if renewed != 1:
            return None
        user = User.get_by_id(user_id)
        return user, Mail("invitation", user.email, self._link("/admin/accept-invitation", token))

    def accept_invitation(self, token, username, password):
        """Set username and password of an invited user and activate the account.

        Raises:
            InvalidToken: unknown, used or expired invitation.
            InvalidUsername, WeakPassword, DuplicateAccount: the username or the password is
                not acceptable.
        """
        user = User.get_or_none(User.invitation_token == hash_token(token))
        if user is None or self._invitation_expired(user.invited_at):
            raise InvalidToken("Invalid or expired invitation")
        check_username(username)
        self.check_password(password)
        password_hash = self.hasher.hash(password)
        with database.atomic():
            taken = duplicate_account(username=username, other_than=user.id)
            if taken is not None:
                raise taken
            now = now_ms()
            try:
                # Consumes the invitation: one request wins, a second one with the same token
                # (or one racing it) updates no row; nor does a token of an account that is
                # active already, whose username and password are its own.
                consumed = User.update(
                    username=username, password_hash=password_hash, is_active=True,
                    invitation_token=None, accepted_invitation_at=now, email_verified=True,
                    last_login_at=now, updated_at=now,
                ).where(
                    (User.id == user.id) & (User.invitation_token == hash_token(token)) & User.pending_invitation()
                    & (User.invited_at > now - self._settings.invitation_ttl_seconds * 1000)
                ).execute()
            except peewee.IntegrityError:
                raise DuplicateAccount("A user with this username already exists", "username") from None
            if consumed != 1:
                raise InvalidToken("Invalid or expired invitation")
        self._sessions_changed()
        return User.get_by_id(user.id)

    def _invitation_expired(self, invited_at):
        return (invited_at or 0) + self._settings.invitation_ttl_seconds * 1000 <= now_ms()

    def _link(self, path, token):
        return f"{self._settings.public_base_url.rstrip('/')}{path}?token={token}"


def duplicate_account(email=None, username=None, other_than=None):
    """DuplicateAccount saying which of ``email`` and ``username`` (in any case) a user other
    than ``other_than`` holds, the email first; None when neither is held.

    Asked before a write, and again after the database refused one for a unique key: another
    request took the email or the username in between, and the answer still says which.
    """
    others = [User.id != other_than] if other_than is not None else []
    if email is not None and User.select().where(same_email(email), *others).exists():
        return DuplicateAccount("A user with this email already exists", "email")
    if username is not None and User.select().where(same_username(username), *others).exists():
        return DuplicateAccount("A user with this username already exists", "username")
    return None


def check_username(username):
    """Raise InvalidUsername unless ``username`` obeys ``USERNAME_PATTERN``.

    The API's bodies and the admin's forms check it before they call a service; the services
    check it again, for every other caller. The rule keeps usernames ASCII, the only letters
    SQLite's ``lower()`` folds, so the unique index on ``lower(username)`` means the same on
    SQLite and PostgreSQL (whose ``lower()`` folds every letter).
    """
    if not is_username(username):
        raise InvalidUsername()


def is_username(text):
    """Whether ``text`` is a string obeying ``USERNAME_PATTERN``."""
    return isinstance(text, str) and re.fullmatch(USERNAME_PATTERN, text) is not None


def edited_email(email):
    """``email`` typed as a user's new address, normalised (``new_email``); InvalidEmail in the
    pattern's words when it is no address at all, as a body typed ``Email`` refuses it."""
    if not re.search(EMAIL_PATTERN, email):
        raise InvalidEmail("must be an email address")
    return new_email(email)


def new_email(email):
    """``email`` normalised for a new account; InvalidEmail when it mixes scripts."""
    email = normalize_email(email)
    if not re.fullmatch(EMAIL_PATTERN, email):
        raise InvalidEmail("Invalid email")  # nothing but invisible characters on one side
    if len(email) > MAX_EMAIL_LENGTH:
        raise InvalidEmail(f"Email must be at most {MAX_EMAIL_LENGTH} characters")
    check_email_scripts(email)
    return email

