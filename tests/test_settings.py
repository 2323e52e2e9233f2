"""Settings from [vars] and secrets: numbers, the JWT secret, and a clear error for each mistake."""

import pytest

from app.runtime.config import ConfigError, load_config
from app.settings import MIB, settings_from_config

LOCAL = """\
name = "site"
main = "worker.py"

{vars}

[secrets]
required = ["JWT_SECRET"]

[[d1_databases]]
binding = "DB"
database_name = "site"

[env.staging]
{staging_vars}

[env.staging.secrets]
required = ["JWT_SECRET"]

[[env.staging.d1_databases]]
binding = "DB"
database_name = "site-staging"
"""

STRONG_SECRET = "s" * 32


def config_for(tmp_path, vars="", staging_vars="", env_name=None, environ=None):
    path = tmp_path / "bindings.toml"
    path.write_text(LOCAL.format(vars=vars, staging_vars=staging_vars))
    return load_config(path, env_name=env_name, environ=environ or {}, persist_to=tmp_path / "state")


def test_defaults(tmp_path):
    settings = settings_from_config(config_for(tmp_path))
    assert (settings.rate_limit_attempts, settings.rate_limit_window_seconds) == (10, 300)
    assert (settings.max_upload_bytes, settings.trusted_proxy_count) == (50 * MIB, 0)


def test_numbers_come_from_vars_or_the_environment(tmp_path):
    vars = (
        "[vars]\nRATE_LIMIT_ATTEMPTS = 3\nRATE_LIMIT_WINDOW_SECONDS = 120\nMEDIA_MAX_UPLOAD_BYTES = 1024\n"
        "TRUSTED_PROXY_COUNT = 0\n"  # declared: the process variable below overrides it
    )
    settings = settings_from_config(config_for(tmp_path, vars, environ={"TRUSTED_PROXY_COUNT": " 2 "}))
    assert (settings.rate_limit_attempts, settings.rate_limit_window_seconds) == (3, 120)
    assert (settings.max_upload_bytes, settings.trusted_proxy_count) == (1024, 2)
    staging = config_for(
        tmp_path, staging_vars='[env.staging.vars]\nRATE_LIMIT_ATTEMPTS = "7"\nMAILER = "log"\n', env_name="staging",
        environ={"JWT_SECRET": STRONG_SECRET},
    )
    assert settings_from_config(staging).rate_limit_attempts == 7


def test_media_store_and_sweep_settings(tmp_path):
    defaults = settings_from_config(config_for(tmp_path))
    assert (defaults.media_store_concurrency, defaults.media_store_breaker_seconds, defaults.media_store_wait_ms,
            defaults.media_sweep_grace_seconds) == (2, 5, 500, 3600)
    vars = ("[vars]\nMEDIA_STORE_CONCURRENCY = 3\nMEDIA_STORE_BREAKER_SECONDS = 0\nMEDIA_STORE_WAIT_MS = 0\n"
            "MEDIA_SWEEP_GRACE_SECONDS = 600\n")
    settings = settings_from_config(config_for(tmp_path, vars))
    assert (settings.media_store_concurrency, settings.media_store_breaker_seconds, settings.media_store_wait_ms,
            settings.media_sweep_grace_seconds) == (3, 0, 0, 600)


def test_the_public_media_max_age(tmp_path):
    assert settings_from_config(config_for(tmp_path)).media_public_max_age_seconds == 300
    vars = "[vars]\nMEDIA_PUBLIC_MAX_AGE_SECONDS = 0\n"  # 0: revalidate every time
    assert settings_from_config(config_for(tmp_path, vars)).media_public_max_age_seconds == 0


def test_the_schema_turn_wait(tmp_path):
    assert settings_from_config(config_for(tmp_path)).schema_turn_wait_ms == 5000
    assert settings_from_config(config_for(tmp_path, "[vars]\nSCHEMA_TURN_WAIT_MS = 250\n")).schema_turn_wait_ms == 250


@pytest.mark.parametrize("name, value, message", [
    ("RATE_LIMIT_ATTEMPTS", '"ten"', "RATE_LIMIT_ATTEMPTS must be a whole number, not 'ten'"),
    ("RATE_LIMIT_WINDOW_SECONDS", "1.5", "RATE_LIMIT_WINDOW_SECONDS must be a whole number, not 1.5"),
    ("MEDIA_MAX_UPLOAD_BYTES", '"50MB"', "MEDIA_MAX_UPLOAD_BYTES must be a whole number, not '50MB'"),
    ("TRUSTED_PROXY_COUNT", "true", "TRUSTED_PROXY_COUNT must be a whole number, not True"),
    ("RATE_LIMIT_ATTEMPTS", "0", "RATE_LIMIT_ATTEMPTS must be at least 1, not 0"),
    ("TRUSTED_PROXY_COUNT", "-1", "TRUSTED_PROXY_COUNT must be at least 0, not -1"),
    ("MEDIA_STORE_CONCURRENCY", "0", "MEDIA_STORE_CONCURRENCY must be at least 1, not 0"),
    ("MEDIA_STORE_BREAKER_SECONDS", '"5s"', "MEDIA_STORE_BREAKER_SECONDS must be a whole number, not '5s'"),
    ("MEDIA_SWEEP_GRACE_SECONDS", "-60", "MEDIA_SWEEP_GRACE_SECONDS must be at least 0, not -60"),
    ("MEDIA_STORE_WAIT_MS", "-1", "MEDIA_STORE_WAIT_MS must be at least 0, not -1"),
    ("SCHEMA_TURN_WAIT_MS", "0", "SCHEMA_TURN_WAIT_MS must be at least 1, not 0"),
    ("MEDIA_PUBLIC_MAX_AGE_SECONDS", '"5m"', "MEDIA_PUBLIC_MAX_AGE_SECONDS must be a whole number, not '5m'"),
    ("MEDIA_PUBLIC_MAX_AGE_SECONDS", "-1", "MEDIA_PUBLIC_MAX_AGE_SECONDS must be at least 0, not -1"),
    ("SESSION_TOKEN_TTL_SECONDS", "0", "SESSION_TOKEN_TTL_SECONDS must be at least 1, not 0"),
    ("SESSION_TOKEN_TTL_SECONDS", '"1d"', "SESSION_TOKEN_TTL_SECONDS must be a whole number, not '1d'"),
    ("RECENT_SIGN_IN_SECONDS", "-1", "RECENT_SIGN_IN_SECONDS must be at least 0, not -1"),
])
def test_a_bad_number_is_a_config_error_naming_the_variable(tmp_path, name, value, message):
    config = config_for(tmp_path, f"[vars]\n{name} = {value}\n")
    with pytest.raises(ConfigError) as raised:
        settings_from_config(config)
    assert str(raised.value) == f"{config.path} (environment default): {message}"


def test_a_bad_number_from_the_environment_too(tmp_path):
    with pytest.raises(ConfigError, match="TRUSTED_PROXY_COUNT must be a whole number, not 'two'"):
        settings_from_config(
            config_for(tmp_path, "[vars]\nTRUSTED_PROXY_COUNT = 1\n", environ={"TRUSTED_PROXY_COUNT": "two"})
        )


def test_an_undeclared_process_variable_is_not_a_setting(tmp_path):
    settings = settings_from_config(config_for(tmp_path, environ={"TRUSTED_PROXY_COUNT": "2"}))
    assert settings.trusted_proxy_count == 0


def test_outside_the_default_env_the_jwt_secret_is_required_and_long(tmp_path):
    with pytest.raises(ConfigError, match="environment staging.*secret JWT_SECRET is not set"):
        settings_from_config(config_for(tmp_path, env_name="staging"))
    with pytest.raises(ConfigError, match="JWT_SECRET is 31 bytes long; it must be at least 32 random bytes"):
        settings_from_config(config_for(tmp_path, env_name="staging", environ={"JWT_SECRET": "s" * 31}))
    staging_vars = '[env.staging.vars]\nMAILER = "log"\n'
    environ = {"JWT_SECRET": STRONG_SECRET}
    settings = settings_from_config(config_for(tmp_path, staging_vars=staging_vars, env_name="staging", environ=environ))
    assert settings.jwt_secret == STRONG_SECRET


def test_cookies_are_secure_outside_the_default_env(tmp_path):
    assert settings_from_config(config_for(tmp_path)).cookie_secure is False
    staging_vars = '[env.staging.vars]\nMAILER = "log"\n'
    environ = {"JWT_SECRET": STRONG_SECRET}
    staging = settings_from_config(config_for(tmp_path, staging_vars=staging_vars, env_name="staging", environ=environ))
    assert staging.cookie_secure is True


def test_the_default_env_generates_and_keeps_a_secret(tmp_path):
    first = settings_from_config(config_for(tmp_path)).jwt_secret
    assert len(first) >= 32 and settings_from_config(config_for(tmp_path)).jwt_secret == first
    assert (tmp_path / "state" / "jwt_secret").read_text().strip() == first
    given = settings_from_config(config_for(tmp_path, environ={"JWT_SECRET": STRONG_SECRET})).jwt_secret
    assert given == STRONG_SECRET


def test_a_short_jwt_secret_is_refused_in_the_default_env_too(tmp_path):
    # Anyone holding one token could recover a short key offline, development or not.
    with pytest.raises(ConfigError) as raised:
        settings_from_config(config_for(tmp_path, environ={"JWT_SECRET": "dev"}))
    assert str(raised.value).startswith(f"{tmp_path / 'bindings.toml'} (environment default): secret JWT_SECRET is 3 bytes")
    assert not (tmp_path / "state" / "jwt_secret").exists()  # nothing generated in its place


def test_the_new_numbers_have_defaults_and_read_vars(tmp_path):
    settings = settings_from_config(config_for(tmp_path))
    assert (settings.rate_limit_account_attempts, settings.api_token_default_ttl_days) == (100, 90)
    assert settings.api_token_max_ttl_days == 365
    vars = "[vars]\nRATE_LIMIT_ACCOUNT_ATTEMPTS = 40\nAPI_TOKEN_DEFAULT_TTL_DAYS = 7\nAPI_TOKEN_MAX_TTL_DAYS = 30\n"
    settings = settings_from_config(config_for(tmp_path, vars))
    assert (settings.rate_limit_account_attempts, settings.api_token_default_ttl_days) == (40, 7)
    assert settings.api_token_max_ttl_days == 30


def test_the_session_numbers_have_defaults_and_read_vars(tmp_path):
    settings = settings_from_config(config_for(tmp_path))
    assert (settings.session_token_ttl_seconds, settings.recent_sign_in_seconds) == (86400, 600)
    vars = "[vars]\nSESSION_TOKEN_TTL_SECONDS = 3600\nRECENT_SIGN_IN_SECONDS = 0\n"
    settings = settings_from_config(config_for(tmp_path, vars))
    assert (settings.session_token_ttl_seconds, settings.recent_sign_in_seconds) == (3600, 0)
