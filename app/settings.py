"""Application settings read from the env's vars and secrets (never from code).

Each setting has a default suited to development; production sets them in ``[vars]`` or,
for secrets such as ``JWT_SECRET``, in the process environment or ``.dev.vars``.
"""

import contextlib
import os
import secrets

import msgspec

from app.runtime.config import ConfigError

MIB = 1024 * 1024


class Settings(msgspec.Struct, kw_only=True):
    """Tunable behaviour of the app.

    Attributes:
        jwt_secret: HS256 signing key (secret ``JWT_SECRET``); required outside the default env.
        jwt_ttl_seconds: token lifetime (24 h, as SonicJS).
        registration_enabled: ``POST /auth/register`` open to the public (``REGISTRATION_ENABLED``).
        password_min_length: minimum password length at register and change.
        max_upload_bytes: media upload limit (``MEDIA_MAX_UPLOAD_BYTES``, default 50 MiB).
        public_base_url: prefix of media public URLs (``PUBLIC_BASE_URL``), default relative.
        cookie_secure: the ``Secure`` flag of the auth cookie (always on outside tests).
        rate_limit_attempts: login/register attempts per window, per IP and per account.
        rate_limit_window_seconds: the rate-limit window (>= 60, KV's minimum TTL).
        scrypt_n, scrypt_r, scrypt_p: password hashing cost (``app.services.passwords``);
            not read from vars: production keeps these defaults, tests may lower n to 2**14.
        password_reset_ttl_seconds: lifetime of a password-reset link (1 h).
        invitation_ttl_seconds: lifetime of an invitation link (7 days).
        trusted_proxy_count: proxies in front of gunicorn (``TRUSTED_PROXY_COUNT``); the
            client IP for rate limits is taken that many hops back in ``X-Forwarded-For``
            (0: the socket's address, since the header is client-controlled).
    """

    jwt_secret: str | None = None
    jwt_ttl_seconds: int = 24 * 3600
    registration_enabled: bool = True
    password_min_length: int = 8
    max_upload_bytes: int = 50 * MIB
    public_base_url: str = ""
    cookie_secure: bool = True
    rate_limit_attempts: int = 10
    rate_limit_window_seconds: int = 300
    scrypt_n: int = 2**15
    scrypt_r: int = 8
    scrypt_p: int = 3
    password_reset_ttl_seconds: int = 3600
    invitation_ttl_seconds: int = 7 * 24 * 3600
    trusted_proxy_count: int = 0


TRUE_WORDS = {"1", "true", "yes", "on"}


def _flag(value, default):
    if value is None:
        return default
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in TRUE_WORDS


JWT_SECRET_FILE = "jwt_secret"


def resolve_jwt_secret(config):
    """The JWT signing secret: ``JWT_SECRET`` from the process env or ``.dev.vars``.

    Outside the default environment a missing secret is a startup error. In the default
    (development) environment one is generated once and kept in the local state folder,
    so every worker process and every restart signs with the same key.
    """
    secret = config.secrets.get("JWT_SECRET")
    if secret:
        return secret
    if config.env_name is not None:
        raise ConfigError(
            f"{config.path} (environment {config.env_name}): secret JWT_SECRET is not set; "
            f"set it in the process environment or in .dev.vars.{config.env_name}"
        )
    return _local_secret(config.state_dir / JWT_SECRET_FILE)


def _local_secret(path):
    """Read the secret at ``path``, creating it atomically (write aside, then link) if absent."""
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(secrets.token_urlsafe(48))
    # link() fails if another worker won the race; then theirs is the one everybody uses.
    with contextlib.suppress(FileExistsError):
        os.link(tmp, path)
    tmp.unlink()
    return path.read_text().strip()


def settings_from_env(env, **overrides):
    """Build Settings from ``env`` vars/secrets; keyword ``overrides`` win (tests use them)."""
    get = env.config.setting
    values = {
        "jwt_secret": overrides.get("jwt_secret") or resolve_jwt_secret(env.config),
        "registration_enabled": _flag(get("REGISTRATION_ENABLED"), True),
        "max_upload_bytes": int(get("MEDIA_MAX_UPLOAD_BYTES", 50 * MIB)),
        "public_base_url": get("PUBLIC_BASE_URL", "") or "",
        "trusted_proxy_count": int(get("TRUSTED_PROXY_COUNT", 0) or 0),
    }
    values.update(overrides)
    return Settings(**values)
