"""Application settings read from the env's vars and secrets (never from code).

Each setting has a default suited to development; production sets them in ``[vars]`` or,
for secrets such as ``JWT_SECRET``, in the process environment or ``.dev.vars``.
"""

import contextlib
import os
import re
import secrets

import msgspec

from app.runtime.binding_values import shown
from app.runtime.config import ConfigError, flag_setting, plugin_paths
from app.runtime.logs import ACCESS_LOG_VAR
from app.runtime.private import PRIVATE_FILE_MODE, private_folder
from app.services.cache_memory import DEFAULT_MAX_BYTES, DEFAULT_MAX_ENTRY_BYTES
from app.services.mail import MailSettings, mail_settings_from_config

MIB = 1024 * 1024
DEFAULT_MEDIA_STORE_CONCURRENCY = 2
DEFAULT_MEDIA_STORE_BREAKER_SECONDS = 5
DEFAULT_MEDIA_STORE_WAIT_MS = 500
DEFAULT_MEDIA_SWEEP_GRACE_SECONDS = 3600
# How long a shared cache may serve a published file without asking again: a file can be
# withdrawn (content unpublished or deleted, file deleted) at any time.
DEFAULT_MEDIA_PUBLIC_MAX_AGE_SECONDS = 300
# As long as SQLite's busy timeout lets a write wait for the database's write lock.
DEFAULT_SCHEMA_TURN_WAIT_MS = 5000
# How long a session may be kept alive by refreshing before its user must sign in again:
# a month of daily use asks for the password once, and a stolen session (cookie or bearer
# token) is good for that long at most, however often its thief refreshes it.
DEFAULT_SESSION_MAX_AGE_SECONDS = 30 * 24 * 3600
# How long one session token (and its cookie) is good for before it must be refreshed, as
# SonicJS's: a day's work needs no refresh, and a token copied out of a log or a proxy stops
# working within a day even if its session goes on.
DEFAULT_SESSION_TOKEN_TTL_SECONDS = 24 * 3600
# How recent a sign-in must be to create a credential that outlives its session (an API
# token) without typing the password again: long enough to sign in and go on to do it.
DEFAULT_RECENT_SIGN_IN_SECONDS = 600
DEFAULT_TURNSTILE_VERIFY_URL = "https://challenges.cloudflare.com/turnstile/v0/siteverify"


class Settings(msgspec.Struct, kw_only=True):
    """Tunable behaviour of the app.

    Attributes:
        jwt_secret: HS256 signing key (secret ``JWT_SECRET``); required outside the default env.
        session_token_ttl_seconds: the lifetime of one session token and of its cookie
            (``SESSION_TOKEN_TTL_SECONDS``, default 24 h, as SonicJS); ``POST /auth/refresh``
            gives a new one. Never past the session's end, so a value above
            ``session_max_age_seconds`` is allowed and simply capped by it.
        session_max_age_seconds: the absolute lifetime of a session, from the sign-in that
            started it (``SESSION_MAX_AGE_SECONDS``, default 30 days): every request with a
            token of the session is refused past it (401, ``POST /auth/refresh`` included),
            and no token of the session expires later.
        recent_sign_in_seconds: how recent the session's sign-in (``auth_time``) must be for
            an action that needs proof of the user (creating an API token) to go ahead without
            the current password (``RECENT_SIGN_IN_SECONDS``, default 600; 0 always asks
            for the password; a value of ``session_max_age_seconds`` or more never does,
            as every live session is that recent; ``app.api.reauth``).
        registration_enabled: ``POST /auth/register`` open to the public (``REGISTRATION_ENABLED``).
        password_min_length: minimum password length at register and change.
        max_upload_bytes: media upload limit (``MEDIA_MAX_UPLOAD_BYTES``, default 50 MiB).
        public_base_url: prefix of media public URLs (``PUBLIC_BASE_URL``), default relative.
        cookie_secure: the ``Secure`` flag of the auth and CSRF cookies: on in every named
            environment, off in the default (development) one, which ``dev`` serves over plain
            http where a browser reached by a LAN address would drop a ``Secure`` cookie.
        rate_limit_attempts: failed sign-ins per window from one address (whatever the
            account), and register and reset attempts per address and per account
            (``RATE_LIMIT_ATTEMPTS``, default 10).
        rate_limit_account_attempts: failed sign-ins on one account per window, from all
            addresses together, past which each address gets one failure on that account
            per window (``RATE_LIMIT_ACCOUNT_ATTEMPTS``, default 100); it slows a spread-out
            guess, never refusing a correct password from an address that has not failed.
        rate_limit_window_seconds: the rate-limit window (``RATE_LIMIT_WINDOW_SECONDS``,
            default 300); the KV key lives at least 60 s (KV's minimum TTL) but the window
            itself is kept by the limiter's clock, so shorter windows work too.
        scrypt_n, scrypt_r, scrypt_p: password hashing cost (``app.services.passwords``);
            not read from vars: production keeps these defaults, tests may lower n to 2**14.
        password_reset_ttl_seconds: lifetime of a password-reset link (1 h).
        invitation_ttl_seconds: lifetime of an invitation link (7 days).
        trusted_proxy_count: proxies in front of gunicorn (``TRUSTED_PROXY_COUNT``); the
            client IP for rate limits is taken that many hops back in ``X-Forwarded-For``
            (0: the socket's address, since the header is client-controlled).
        api_token_default_ttl_days: lifetime of an API token created without ``expires_at``
            (``API_TOKEN_DEFAULT_TTL_DAYS``, default 90).
        api_token_max_ttl_days: the furthest ``expires_at`` a new API token may have
            (``API_TOKEN_MAX_TTL_DAYS``, default 365).
        cache_memory_max_bytes: what each worker's in-memory cache tier may hold
            (``CACHE_MEMORY_MAX_BYTES``, default 32 MiB; 0 turns the tier off).
        cors_allow_origins: origins a browser may call the API from (``CORS_ALLOW_ORIGINS``):
            ``("*",)`` for anyone without credentials, or a list of origins allowed with
            credentials (``app.api.cors``).
        cache_memory_max_entry_bytes: the largest response (JSON bytes) that tier keeps
            (``CACHE_MEMORY_MAX_ENTRY_BYTES``, default 1 MiB); larger ones come from KV.
        media_store_concurrency: calls to a remote MEDIA_BUCKET allowed at once per worker
            process (``MEDIA_STORE_CONCURRENCY``, default 2); one more waits for a slot
            (``media_store_wait_ms``), then answers 503. Keep it below gunicorn's threads
            per worker so other routes keep a thread.
        media_store_wait_ms: how long a call past that limit waits for a slot before it
            answers 503 (``MEDIA_STORE_WAIT_MS``, default 500; 0 refuses at once).
        media_store_breaker_seconds: after a call to the bucket got no answer, media
            requests answer 503 at once for this long (``MEDIA_STORE_BREAKER_SECONDS``,
            default 5).
        media_sweep_grace_seconds: how old a pending object write or an unnamed object must
            be before ``media sweep`` and the cron handler remove it
            (``MEDIA_SWEEP_GRACE_SECONDS``, default 3600).
        media_public_max_age_seconds: the ``max-age`` of a published file's answer at
            ``/files`` (``MEDIA_PUBLIC_MAX_AGE_SECONDS``, default 300): how long a CDN or a
            browser may keep serving it, after its content is unpublished too, before it
            revalidates (a 304 while the file is still public).
        schema_turn_wait_ms: how long a collection save, create or delete from a request
            waits on PostgreSQL while another schema change (a save, a sync, a migration, an
            import, a restore) holds its turn, before it answers 503 with ``Retry-After``
            (``SCHEMA_TURN_WAIT_MS``, default 5000; ``app.db.schema_turns``).
        plugins: dotted module paths of plugins to load besides the core ones and the
            ``sonicpy.plugins`` entry points (``PLUGINS``: comma-separated, or a TOML list).
        webhooks_allow_private_targets: webhook URLs on loopback or private addresses are
            accepted (``WEBHOOKS_ALLOW_PRIVATE_TARGETS``; default refused).
        metrics_token: the Bearer token ``GET /metrics`` wants (secret ``METRICS_TOKEN``);
            None turns the route off (404).
        mail: how mail is sent (``MAILER``, ``SMTP_*``, ``MAIL_FROM``; ``app.services.mail``).
        turnstile_site_key: Cloudflare Turnstile's site key (``TURNSTILE_SITE_KEY``), public:
            the widget of a form that turns Turnstile on needs it.
        turnstile_secret_key: Turnstile's secret key (secret ``TURNSTILE_SECRET_KEY``), sent to
            siteverify only. A form may turn Turnstile on only while both keys are set.
        turnstile_verify_url: the siteverify endpoint (``TURNSTILE_VERIFY_URL``, Cloudflare's by
            default; http or https).
    """

    jwt_secret: str | None = None
    session_token_ttl_seconds: int = DEFAULT_SESSION_TOKEN_TTL_SECONDS
    session_max_age_seconds: int = DEFAULT_SESSION_MAX_AGE_SECONDS
    recent_sign_in_seconds: int = DEFAULT_RECENT_SIGN_IN_SECONDS
    registration_enabled: bool = True
    password_min_length: int = 8
    max_upload_bytes: int = 50 * MIB
    public_base_url: str = ""
    cookie_secure: bool = True
    rate_limit_attempts: int = 10
    rate_limit_window_seconds: int = 300
    rate_limit_account_attempts: int = 100
    scrypt_n: int = 2**15
    scrypt_r: int = 8
    scrypt_p: int = 3
    password_reset_ttl_seconds: int = 3600
    invitation_ttl_seconds: int = 7 * 24 * 3600
    trusted_proxy_count: int = 0
    api_token_default_ttl_days: int = 90
    api_token_max_ttl_days: int = 365
    cache_memory_max_bytes: int = DEFAULT_MAX_BYTES
    cache_memory_max_entry_bytes: int = DEFAULT_MAX_ENTRY_BYTES
    media_store_concurrency: int = DEFAULT_MEDIA_STORE_CONCURRENCY
    media_store_breaker_seconds: int = DEFAULT_MEDIA_STORE_BREAKER_SECONDS
    media_store_wait_ms: int = DEFAULT_MEDIA_STORE_WAIT_MS
    media_sweep_grace_seconds: int = DEFAULT_MEDIA_SWEEP_GRACE_SECONDS
    media_public_max_age_seconds: int = DEFAULT_MEDIA_PUBLIC_MAX_AGE_SECONDS
    schema_turn_wait_ms: int = DEFAULT_SCHEMA_TURN_WAIT_MS
    cors_allow_origins: tuple[str, ...] = ("*",)
    plugins: tuple[str, ...] = ()
    webhooks_allow_private_targets: bool = False
    metrics_token: str | None = None
    mail: MailSettings = msgspec.field(default_factory=MailSettings)
    turnstile_site_key: str | None = None
    turnstile_secret_key: str | None = None
    turnstile_verify_url: str = DEFAULT_TURNSTILE_VERIFY_URL


JWT_SECRET_FILE = "jwt_secret"
# HS256 keys shorter than the hash output (32 bytes) are guessable offline from any one
# token (RFC 7518 section 3.2 requires at least that many); enforced in every environment.
MIN_JWT_SECRET_BYTES = 32
SECRET_HINT = "python -c 'import secrets; print(secrets.token_urlsafe(48))'"


def _where(config):
    return f"{config.path} (environment {config.env_label})"


def resolve_jwt_secret(config):
    """The JWT signing secret: ``JWT_SECRET`` from the process env or ``.dev.vars``.

    A secret that is given must be at least 32 bytes long in every environment, the default
    one included: a short one is a startup error (ConfigError), since anyone holding one
    token could recover it offline and sign tokens of their own. Outside the default
    environment a missing secret is a startup error too; in the default (development)
    environment one is generated once and kept in the local state folder (0600 in a 0700
    folder), so every worker process and every restart signs with the same key.
    """
    secret = config.secrets.get("JWT_SECRET")
    if not secret:
        if config.env_name is None:
            return _local_secret(config.state_dir / JWT_SECRET_FILE)
        raise ConfigError(f"{_where(config)}: {_missing_secret_advice(config, 'JWT_SECRET')}")
    if len(secret.encode("utf-8")) < MIN_JWT_SECRET_BYTES:
        raise ConfigError(
            f"{_where(config)}: secret JWT_SECRET is {len(secret.encode('utf-8'))} bytes long; "
            f"it must be at least {MIN_JWT_SECRET_BYTES} random bytes (e.g. {SECRET_HINT})"
        )
    return secret


def _missing_secret_advice(config, name):
    """Why secret ``name`` is missing outside the default env, and what to do about it: a process
    variable reaches the settings only when the environment's ``[secrets] required`` names it."""
    table = f"[env.{config.env_name}.secrets]"
    if config.credentials.get(name):
        return (f"secret {name} is set in the process environment but {table} does not declare it, "
                f'and only declared names reach the app: add required = ["{name}"] there '
                f"(secrets are not inherited from the top level), or set it in .dev.vars.{config.env_name}")
    return (f"secret {name} is not set; declare it ({table} required = [\"{name}\"]) and set it in the "
            f"process environment, or set it in .dev.vars.{config.env_name} (e.g. {SECRET_HINT})")


def _local_secret(path):
    """Read the secret at ``path``, creating it atomically (write aside, then link) if absent."""
    private_folder(path.parent)
    if path.exists():
        os.chmod(path, PRIVATE_FILE_MODE)  # an older version left it readable by everyone
        return path.read_text().strip()
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, PRIVATE_FILE_MODE)
    with os.fdopen(fd, "w") as fh:
        fh.write(secrets.token_urlsafe(48))
    # link() fails if another worker won the race; then theirs is the one everybody uses.
    with contextlib.suppress(FileExistsError):
        os.link(tmp, path)
    tmp.unlink()
    return path.read_text().strip()


def int_setting(config, name, default, minimum=0):
    """The integer var or secret ``name`` of ``config`` (``default`` when unset or empty).

    Raises:
        ConfigError: the value is not a whole number, or is below ``minimum``; the message
            names the variable, so a bad ``[vars]`` entry stops the start with a clear line.
    """
    raw = config.setting(name)
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return default
    value = _whole_number(raw)
    if value is None:
        raise ConfigError(f"{_where(config)}: {name} must be a whole number, not {shown(raw)}")
    if value < minimum:
        raise ConfigError(f"{_where(config)}: {name} must be at least {minimum}, not {value}")
    return value


def _whole_number(raw):
    """``raw`` (a TOML int or a string from the environment) as an int, or None."""
    if isinstance(raw, bool) or not isinstance(raw, (int, str)):
        return None  # TOML true/1.5/[...]: not a count
    if isinstance(raw, int):
        return raw
    try:
        return int(raw.strip(), 10)
    except ValueError:
        return None


def media_sweep_grace_seconds(config):
    """``MEDIA_SWEEP_GRACE_SECONDS`` of ``config``: read alone by the CLI and the cron handler,
    which need no JWT secret."""
    return int_setting(config, "MEDIA_SWEEP_GRACE_SECONDS", DEFAULT_MEDIA_SWEEP_GRACE_SECONDS)
_ORIGIN = re.compile(r"^https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?$")


def cors_origins_setting(config):
    """``CORS_ALLOW_ORIGINS``: ``*`` (the default) or origins separated by commas or spaces.

    Raises:
        ConfigError: ``*`` mixed with origins (credentials are never allowed for ``*``), or
            a value that is not an origin (``https://host[:port]``, no path, no trailing slash).
    """
    raw = config.setting("CORS_ALLOW_ORIGINS", "*")
    values = raw if isinstance(raw, list) else re.split(r"[,\s]+", str(raw or "*"))
    origins = tuple(dict.fromkeys(str(v).strip() for v in values if str(v).strip())) or ("*",)
    if origins == ("*",):
        return origins
    bad = [origin for origin in origins if not _ORIGIN.match(origin)]
    if bad:
        raise ConfigError(
            f"{_where(config)}: CORS_ALLOW_ORIGINS must be * or origins like https://app.example.com, "
            f"not {shown(bad[0])}"
        )
    return origins


def verify_url_setting(config):
    """``TURNSTILE_VERIFY_URL`` (Cloudflare's siteverify by default); ConfigError unless http(s)."""
    url = str(config.setting("TURNSTILE_VERIFY_URL") or DEFAULT_TURNSTILE_VERIFY_URL).strip()
    if not re.match(r"^https?://[^\s/]+", url):
        raise ConfigError(f"{_where(config)}: TURNSTILE_VERIFY_URL must be an http(s) URL, not {shown(url)}")
    return url


def settings_from_config(config, **overrides):
    """Build Settings from ``config``'s vars and secrets; keyword ``overrides`` win (tests).

    Raises:
        ConfigError: a required secret is missing or weak, or a numeric var is not a
            number; ``worker.app`` calls this when a server loads it, so gunicorn refuses
            to boot instead of answering every request with a 500.
    """
    get = config.setting
    values = {
        "jwt_secret": overrides.get("jwt_secret") or resolve_jwt_secret(config),
        "session_max_age_seconds": int_setting(
            config, "SESSION_MAX_AGE_SECONDS", DEFAULT_SESSION_MAX_AGE_SECONDS, minimum=1),
        "session_token_ttl_seconds": int_setting(
            config, "SESSION_TOKEN_TTL_SECONDS", DEFAULT_SESSION_TOKEN_TTL_SECONDS, minimum=1),
        "recent_sign_in_seconds": int_setting(config, "RECENT_SIGN_IN_SECONDS", DEFAULT_RECENT_SIGN_IN_SECONDS),
        "registration_enabled": flag_setting(config, "REGISTRATION_ENABLED", True),
        "max_upload_bytes": int_setting(config, "MEDIA_MAX_UPLOAD_BYTES", 50 * MIB, minimum=1),
        "public_base_url": get("PUBLIC_BASE_URL", "") or "",
        "cookie_secure": config.env_name is not None,
        "trusted_proxy_count": int_setting(config, "TRUSTED_PROXY_COUNT", 0),
        "rate_limit_attempts": int_setting(config, "RATE_LIMIT_ATTEMPTS", 10, minimum=1),
        "rate_limit_window_seconds": int_setting(config, "RATE_LIMIT_WINDOW_SECONDS", 300, minimum=1),
        "rate_limit_account_attempts": int_setting(config, "RATE_LIMIT_ACCOUNT_ATTEMPTS", 100, minimum=1),
        "api_token_default_ttl_days": int_setting(config, "API_TOKEN_DEFAULT_TTL_DAYS", 90, minimum=1),
        "api_token_max_ttl_days": int_setting(config, "API_TOKEN_MAX_TTL_DAYS", 365, minimum=1),
        "cache_memory_max_bytes": int_setting(config, "CACHE_MEMORY_MAX_BYTES", DEFAULT_MAX_BYTES),
        "cache_memory_max_entry_bytes": int_setting(config, "CACHE_MEMORY_MAX_ENTRY_BYTES", DEFAULT_MAX_ENTRY_BYTES),
        "media_store_concurrency": int_setting(
            config, "MEDIA_STORE_CONCURRENCY", DEFAULT_MEDIA_STORE_CONCURRENCY, minimum=1),
        "media_store_breaker_seconds": int_setting(
            config, "MEDIA_STORE_BREAKER_SECONDS", DEFAULT_MEDIA_STORE_BREAKER_SECONDS, minimum=0),
        "media_store_wait_ms": int_setting(config, "MEDIA_STORE_WAIT_MS", DEFAULT_MEDIA_STORE_WAIT_MS, minimum=0),
        "media_sweep_grace_seconds": media_sweep_grace_seconds(config),
        "media_public_max_age_seconds": int_setting(
            config, "MEDIA_PUBLIC_MAX_AGE_SECONDS", DEFAULT_MEDIA_PUBLIC_MAX_AGE_SECONDS, minimum=0),
        "schema_turn_wait_ms": int_setting(config, "SCHEMA_TURN_WAIT_MS", DEFAULT_SCHEMA_TURN_WAIT_MS, minimum=1),
        "cors_allow_origins": cors_origins_setting(config),
        "plugins": plugin_paths(get("PLUGINS")),
        "webhooks_allow_private_targets": flag_setting(config, "WEBHOOKS_ALLOW_PRIVATE_TARGETS", False),
        "metrics_token": get("METRICS_TOKEN") or None,
        "turnstile_site_key": get("TURNSTILE_SITE_KEY") or None,
        "turnstile_secret_key": get("TURNSTILE_SECRET_KEY") or None,
        "turnstile_verify_url": verify_url_setting(config),
    }
    values.update(overrides)
    # Read by the logging set-up, not kept here: checked now so `serve` refuses a bad one
    # before its server starts.
    flag_setting(config, ACCESS_LOG_VAR, None)
    if "mail" not in values:
        values["mail"] = mail_settings_from_config(config, values["public_base_url"])
    return Settings(**values)


def settings_from_env(env, **overrides):
    """Build Settings from ``env``'s config (see ``settings_from_config``)."""
    return settings_from_config(env.config, **overrides)
