"""core-media and email: settings that narrow uploads and change the sender, state shown, deactivation refused."""

import pytest

from app.db.models import Media
from app.services.mail import MailSettings
from tests.fixtures import media as samples
from tests.fixtures.app import client_for, settings_for_tests
from tests.fixtures.cache import past_generation_bound
from tests.fixtures.media import upload
from tests.test_mail import BASE, client_with, token_of

pytestmark = pytest.mark.backends


@pytest.fixture
def admin(make_user):
    return make_user("admin")[1]


def patch(client, admin, name, settings, status=200):
    return client.patch_json(f"/admin/api/plugins/{name}", {"settings": settings}, headers=admin, status=status).json


@pytest.mark.parametrize("name", ["core-media", "email"])
def test_required_core_plugins_cannot_be_deactivated(env, admin, name):
    client = client_for(env)
    listed = {p["name"]: p for p in client.get("/admin/api/plugins", headers=admin).json["data"]}
    assert (listed[name]["loaded"], listed[name]["is_core"], listed[name]["can_deactivate"]) == (True, True, False)
    body = client.post(f"/admin/api/plugins/{name}/deactivate", headers=admin, status=409).json
    assert body["error"] == f"The plugin {name} is required and cannot be deactivated"
    assert client.get(f"/admin/api/plugins/{name}", headers=admin).json["data"]["status"] == "active"
    client.post(f"/admin/api/plugins/{name}/activate", headers=admin, status=200)
    assert listed["webhooks"]["can_deactivate"] is True


def test_upload_limits_follow_the_core_media_settings_in_every_worker(env, admin, make_user):
    first, second = client_for(env), client_for(env)
    author = make_user("author")[1]
    patch(first, admin, "core-media", {"max_upload_bytes": 40})
    past_generation_bound()
    assert upload(second, author, "big.txt", b"x" * 41, status=413).json["details"]["max_bytes"] == 40
    upload(second, author, "small.txt", b"x" * 40, status=201)
    patch(first, admin, "core-media", {"max_upload_bytes": None, "allowed_types": ["image/*", "text/plain"]})
    past_generation_bound()
    refused = upload(second, author, "doc.pdf", samples.pdf(), status=415).json
    assert refused["details"]["allowed"] == ["image/*", "text/plain"]
    upload(second, author, "a.png", samples.png(), status=201)
    assert Media.select().count() == 2
    patch(first, admin, "core-media", {"allowed_types": ["image/*"]})
    past_generation_bound()
    # An empty file has no type to refuse: it is refused as empty, as without the setting.
    empty = upload(second, author, "empty.txt", b"", status=422).json
    assert empty["details"][0]["message"] == "the file is empty"
    patch(first, admin, "core-media", {"allowed_types": None})
    past_generation_bound()
    upload(second, author, "doc.pdf", samples.pdf(), status=201)


def test_core_media_cannot_raise_the_deployment_cap(env, admin, make_user):
    client = client_for(env, max_upload_bytes=30)
    patch(client, admin, "core-media", {"max_upload_bytes": 10_000})
    upload(client, make_user("author")[1], "big.txt", b"x" * 31, status=413)


@pytest.mark.parametrize("settings", [{"max_upload_bytes": 0}, {"allowed_types": ["application/x-msdownload"]},
                                      {"allowed_types": ["font/*"]}, {"allowed_types": "image/png"}, {"quota": 1}])
def test_core_media_settings_are_validated(env, admin, settings):
    body = patch(client_for(env), admin, "core-media", settings, status=422)
    assert body["details"][0]["field"].startswith("settings")


@pytest.mark.parametrize("value", ["not an address", "a@b.example\r\nBcc: x@y.example", "Name <nobody>"])
def test_email_from_address_is_validated(env, admin, value):
    patch(client_for(env), admin, "email", {"from_address": value}, status=422)


def test_email_state_shows_the_log_mailer(env, admin):
    data = client_for(env).get("/admin/api/plugins/email", headers=admin).json["data"]
    assert data["state"] == {"backend": "log", "sender": None} and data["settings"] == {"from_address": None}


def test_the_from_address_setting_reaches_the_mail_and_the_password_never_shows(env, admin, make_user, smtp_server):
    make_user("editor", email="person@example.com")
    port, inbox, _ = smtp_server("none")
    mail = MailSettings(backend="smtp", host="127.0.0.1", port=port, security="none", username="",
                        password="smtp-secret-value", sender="no-reply@cms.example.org")
    settings = settings_for_tests(public_base_url=BASE, scrypt_n=2**14, mail=mail)
    client = client_with(env, settings)  # the SmtpMailer the app builds from its settings
    patch(client, admin, "email", {"from_address": "Site Team <team@cms.example.org>"})
    client.post_json("/auth/request-password-reset", {"email": "person@example.com"}, status=202)
    [(sender, _, message)] = inbox.messages
    assert (sender, message["From"]) == ("team@cms.example.org", "Site Team <team@cms.example.org>")
    assert token_of(message)
    response = client.get("/admin/api/plugins/email", headers=admin)
    assert response.json["data"]["state"] == {"backend": "smtp", "host": "127.0.0.1", "port": port, "security": "none",
                                              "login": False, "sender": "Site Team <team@cms.example.org>"}
    assert "smtp-secret-value" not in response.text
    patch(client, admin, "email", {"from_address": None})
    client.post_json("/auth/request-password-reset", {"email": "person@example.com"}, status=202)
    assert inbox.messages[-1][2]["From"] == "no-reply@cms.example.org"
