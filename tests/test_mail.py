"""The mailer: SMTP delivery to a real server (plain, STARTTLS with login, TLS) and its settings."""

from dataclasses import replace
from urllib.parse import parse_qs, urlsplit

import pytest

from app.app import build_services, create_app
from app.runtime.config import ConfigError, load_config
from app.runtime.entry import Worker
from app.services.mail import MailSettings, SmtpMailer, mailer_for
from app.settings import settings_from_config, settings_from_env
from tests.fixtures.app import TEST_JWT_SECRET, env_with_copy, settings_for_tests
from tests.fixtures.auth import PASSWORD
from tests.fixtures.conformance import ConformingTestApp
from tests.fixtures.users import create_user

BASE = "https://cms.example.org"
NEW_PASSWORD = "a brand new passphrase"


@pytest.fixture
def person(env):
    from app.db.models import bind_models
    from app.services.passwords import PasswordHasher

    bind_models(env.DB.db)
    return create_user("editor", email="person@example.com", password_hash=PasswordHasher(n=2**14).hash(PASSWORD))


def client_with(env, settings, mailer=None):
    services = build_services(env, settings)
    if mailer is not None:
        services = replace(services, mailer=mailer)
    return ConformingTestApp(Worker(lambda: env, lambda e: create_app(e, settings, services)))


def token_of(message):
    link = next(line for line in message.get_content().splitlines() if line.startswith(BASE))
    assert link.startswith(f"{BASE}/admin/reset-password?token=")
    return parse_qs(urlsplit(link).query)["token"][0]


def test_reset_mail_through_a_configured_smtp_server_and_its_link_works_once(tmp_path, migrated_template, smtp_server):
    port, inbox, _ = smtp_server("none")
    vars = {"MAILER": "smtp", "SMTP_HOST": "127.0.0.1", "SMTP_PORT": port, "SMTP_SECURITY": "none",
            "MAIL_FROM": "CMS <no-reply@cms.example.org>", "PUBLIC_BASE_URL": BASE}
    env = env_with_copy(tmp_path / "app", migrated_template, vars=vars)
    from app.db.models import bind_models
    from app.services.passwords import PasswordHasher

    bind_models(env.DB.db)
    create_user("editor", email="person@example.com", password_hash=PasswordHasher(n=2**14).hash(PASSWORD))
    settings = settings_from_env(env, jwt_secret=TEST_JWT_SECRET, cookie_secure=False, scrypt_n=2**14)
    client = client_with(env, settings)  # the mailer the app builds from bindings.toml
    client.post_json("/auth/request-password-reset", {"email": "person@example.com"}, status=202)
    [(sender, recipients, message)] = inbox.messages
    assert (sender, recipients) == ("no-reply@cms.example.org", ["person@example.com"])
    assert message["From"] == "CMS <no-reply@cms.example.org>" and message["To"] == "person@example.com"
    assert message["Subject"] == "Reset your password"
    assert message["Date"] and message["Message-ID"].endswith("@cms.example.org>")
    token = token_of(message)
    body = {"token": token, "password": NEW_PASSWORD}
    client.post_json("/auth/reset-password", body, status=200)
    client.post_json("/auth/reset-password", body, status=400)
    client.post_json("/auth/login", {"email": "person@example.com", "password": NEW_PASSWORD}, status=200)
    env.DB.db.close()


def test_starttls_with_login(env, person, smtp_server, client_context):
    port, inbox, check = smtp_server("starttls", login=("mailer", "s3cret"))
    mail = MailSettings(backend="smtp", host="127.0.0.1", port=port, security="starttls",
                        username="mailer", password="s3cret", sender="no-reply@cms.example.org")
    settings = settings_for_tests(public_base_url=BASE, scrypt_n=2**14, mail=mail)
    client = client_with(env, settings, SmtpMailer(mail, ssl_context=client_context))
    client.post_json("/auth/request-password-reset", {"email": "person@example.com"}, status=202)
    assert [ok for _, _, ok in check.attempts] == [True]
    [(_, _, message)] = inbox.messages
    assert token_of(message)


def test_implicit_tls_carries_invitations(env, smtp_server, client_context):
    from app.db.models import bind_models
    from tests.fixtures.users import bearer, token_for

    bind_models(env.DB.db)
    port, inbox, _ = smtp_server("tls")
    mail = MailSettings(backend="smtp", host="127.0.0.1", port=port, security="tls", sender="cms@cms.example.org")
    settings = settings_for_tests(public_base_url=BASE, mail=mail)
    client = client_with(env, settings, SmtpMailer(mail, ssl_context=client_context))
    admin = bearer(token_for(create_user("admin")))
    client.post_json("/admin/api/users/invite", {"email": "new@example.com"}, headers=admin, status=201)
    [(_, recipients, message)] = inbox.messages
    assert recipients == ["new@example.com"] and message["Subject"] == "You are invited"
    assert f"{BASE}/admin/accept-invitation?token=" in message.get_content()


def test_a_resent_invitation_is_mailed_again_with_a_new_link(env, smtp_server):
    from app.db.models import bind_models
    from tests.fixtures.users import bearer, token_for

    bind_models(env.DB.db)
    port, inbox, _ = smtp_server("none")
    mail = MailSettings(backend="smtp", host="127.0.0.1", port=port, security="none", sender="cms@cms.example.org")
    settings = settings_for_tests(public_base_url=BASE, mail=mail)
    client = client_with(env, settings, SmtpMailer(mail))
    admin = bearer(token_for(create_user("admin")))
    invited = client.post_json("/admin/api/users/invite", {"email": "new@example.com"}, headers=admin).json["data"]
    client.post(f"/admin/api/users/{invited['id']}/invitation", headers=admin, status=200)
    links = [next(line for line in message.get_content().splitlines() if line.startswith(BASE))
             for _, _, message in inbox.messages]
    assert [recipients for _, recipients, _ in inbox.messages] == [["new@example.com"]] * 2
    assert len(set(links)) == 2 and all(link.startswith(f"{BASE}/admin/accept-invitation?token=") for link in links)


def test_a_failing_smtp_server_never_fails_the_request(env, person, caplog):
    from tests.fixtures.process import free_port

    mail = MailSettings(backend="smtp", host="127.0.0.1", port=free_port(), security="none", sender="a@b.example")
    settings = settings_for_tests(public_base_url=BASE, scrypt_n=2**14, mail=mail)
    client = client_with(env, settings, mailer_for(settings))
    client.post_json("/auth/request-password-reset", {"email": "person@example.com"}, status=202)
    # Sent after the answer (with the lookup, mail_issued): its failure is logged, with the cause.
    [failure] = [r for r in caplog.records if r.name == "sonicpy.wait_until"]
    assert "mail_issued failed" in failure.getMessage() and isinstance(failure.exc_info[1], ConnectionRefusedError)


# -- settings --------------------------------------------------------------------------------

CONFIG = """\
name = "site"
[vars]
{top}
[[d1_databases]]
binding = "DB"
database_name = "site"
[env.production.vars]
{production}
[env.production.secrets]
required = ["JWT_SECRET", "SMTP_PASSWORD"]
[[env.production.d1_databases]]
binding = "DB"
database_name = "site-prod"
"""


def config(tmp_path, top="", production="", env_name=None):
    path = tmp_path / "bindings.toml"
    path.write_text(CONFIG.format(top=top, production=production))
    return load_config(path, env_name=env_name, environ={"JWT_SECRET": "s" * 40}, persist_to=tmp_path / "state")


def test_the_default_environment_logs_mail(tmp_path):
    settings = settings_from_config(config(tmp_path))
    assert settings.mail.backend == "log" and mailer_for(settings).__name__ == "log_mailer"


def test_production_refuses_to_start_without_a_chosen_mailer(tmp_path):
    with pytest.raises(ConfigError, match="MAILER is not set"):
        settings_from_config(config(tmp_path, env_name="production"))
    explicit = settings_from_config(config(tmp_path, production='MAILER = "log"', env_name="production"))
    assert explicit.mail.backend == "log"


@pytest.mark.parametrize("production, message", [
    ('MAILER = "pigeon"', "MAILER must be one of log, smtp"),
    ('MAILER = "smtp"\nMAIL_FROM = "a@b.example"\nPUBLIC_BASE_URL = "https://x.example"', "needs SMTP_HOST"),
    ('MAILER = "smtp"\nSMTP_HOST = "mx"\nPUBLIC_BASE_URL = "https://x.example"', "needs MAIL_FROM"),
    ('MAILER = "smtp"\nSMTP_HOST = "mx"\nMAIL_FROM = "a@b.example"', "needs PUBLIC_BASE_URL"),
    ('MAILER = "smtp"\nSMTP_HOST = "mx"\nMAIL_FROM = "a@b.example"\nPUBLIC_BASE_URL = "https://x.example"\n'
     'SMTP_SECURITY = "ssl3"', "SMTP_SECURITY must be one of"),
])
def test_bad_mail_settings_stop_start_up(tmp_path, production, message):
    with pytest.raises(ConfigError, match=message):
        settings_from_config(config(tmp_path, production=production, env_name="production"))


def test_smtp_settings_and_the_password_stays_out_of_repr(tmp_path):
    production = ('MAILER = "smtp"\nSMTP_HOST = "mx.example"\nSMTP_SECURITY = "tls"\nSMTP_USERNAME = "u"\n'
                  'MAIL_FROM = "a@b.example"\nPUBLIC_BASE_URL = "https://x.example"')
    cfg = config(tmp_path, production=production, env_name="production")
    cfg.secrets["SMTP_PASSWORD"] = "hunter2-secret"
    mail = settings_from_config(cfg).mail
    assert (mail.host, mail.port, mail.security, mail.username, mail.password) == ("mx.example", 465, "tls", "u", "hunter2-secret")
    assert "hunter2" not in repr(mail)
    assert isinstance(mailer_for(settings_from_config(cfg)), SmtpMailer)
