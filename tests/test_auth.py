"""/auth/*: register, login, sessions (logout, refresh, me), passwords, resets, rate limits."""

import hashlib
import json
import logging
import time
import types

import jwt
import pytest

from app.api import auth as auth_api
from app.db.models import User, bind_models, now_ms
from app.runtime.kv import open_kv
from app.services.identity import issue_jwt
from app.services.passwords import PasswordHasher
from app.services.ratelimit import Quota, RateLimiter, bucket
from app.settings import settings_from_config
from tests.fixtures.app import TEST_JWT_SECRET, env_with_copy, make_env, settings_for_tests
from tests.fixtures.auth import (
    PASSWORD,
    accounts_for_tests,
    concurrently,
    fast_client,
    hashed,
    json_request,
    login,
    reload,
)
from tests.fixtures.users import bearer, create_user

pytestmark = pytest.mark.backends


def assert_envelope(response, status, error=None):
    assert response.status_int == status
    assert response.content_type == "application/json"
    assert set(response.json) <= {"error", "details"} and isinstance(response.json["error"], str)
    if error is not None:
        assert response.json["error"] == error


def cookie_header(response):
    return next(h for h in response.headers.getall("Set-Cookie") if h.startswith("auth_token="))


# -- register ------------------------------------------------------------------------------


def test_register_creates_a_viewer_and_signs_in(app_client):
    response = app_client.post_json(
        "/auth/register",
        {"email": "New@Example.com", "password": PASSWORD, "username": "newbie", "firstName": "N", "lastName": "B"},
        status=201,
    )
    assert response.json["user"] == {
        "id": response.json["user"]["id"], "email": "new@example.com", "username": "newbie",
        "firstName": "N", "lastName": "B", "role": "viewer",
    }
    me = app_client.get("/auth/me", headers=bearer(response.json["token"])).json["user"]
    assert me["email"] == "new@example.com" and me["role"] == "viewer"
    stored = User.get(User.email == "new@example.com")
    assert stored.password_hash.startswith("scrypt$") and PASSWORD not in stored.password_hash


def test_register_refuses_a_role_field_and_stores_nothing(app_client):
    response = app_client.post_json(
        "/auth/register", {"email": "sneaky@example.com", "password": PASSWORD, "role": "admin"}, status=422
    )
    assert_envelope(response, 422, "Validation failed")
    assert response.json["details"][0]["field"] == "role"
    assert not User.select().where(User.email == "sneaky@example.com").exists()


@pytest.mark.parametrize("body, field", [
    ({"email": "a@example.com", "password": "short"}, "password"),
    ({"email": "not-an-email", "password": PASSWORD}, "email"),
    ({"email": "a@example.com"}, "password"),
    ({"email": "a@example.com", "password": PASSWORD, "username": "x"}, "username"),
    ({"email": "a@example.com", "password": 12345678}, "password"),
])
def test_register_validation_names_the_field(app_client, body, field):
    response = app_client.post_json("/auth/register", body, status=422)
    assert_envelope(response, 422, "Validation failed")
    assert response.json["details"][0]["field"] == field


@pytest.mark.parametrize("path, body", [
    ("/auth/register", {"email": "not-an-email", "password": PASSWORD}),
    ("/auth/login", {"email": "not-an-email", "password": PASSWORD}),
    ("/auth/request-password-reset", {"email": "a@b"}),
])
def test_a_malformed_email_is_refused_in_words_not_by_quoting_the_pattern(app_client, path, body):
    response = app_client.post_json(path, body, status=422)
    assert response.json["details"] == [{"field": "email", "message": "must be an email address"}]


def test_register_duplicate_email_is_a_conflict_whatever_the_case(app_client, user_with_password):
    user, _ = user_with_password(email="taken@example.com")
    response = app_client.post_json("/auth/register", {"email": "TAKEN@example.com", "password": PASSWORD}, status=409)
    assert_envelope(response, 409)
    assert response.json["details"] == [{"field": "email", "message": "A user with this email already exists"}]
    response = app_client.post_json(
        "/auth/register", {"email": "other@example.com", "password": PASSWORD, "username": user.username}, status=409
    )
    assert_envelope(response, 409)


def test_registration_switched_off_by_settings(env):
    client = fast_client(env, registration_enabled=False)
    response = client.post_json("/auth/register", {"email": "a@example.com", "password": PASSWORD}, status=403)
    assert_envelope(response, 403, "Registration is currently disabled")
    assert User.select().count() == 0


# -- login and sessions -------------------------------------------------------------------


class EndlessBody:
    """A wsgi.input that would stream forever: reading any byte of it fails the test."""

    def read(self, size=-1):
        assert size == 0, f"the app read {size} bytes of a body without Content-Length"
        return b""

    readline = read


def test_bodies_over_one_mib_are_refused_unread(app_client):
    body = json.dumps({"email": "big@example.com", "password": "x" * 1024 * 1024})
    response = app_client.post("/auth/login", body, content_type="application/json", status=413)
    assert_envelope(response, 413, "Request body too large")
    assert response.json["details"] == {"max_bytes": 1024 * 1024}
    at_the_limit = json.dumps({"email": "big@example.com", "password": "x"}).ljust(1024 * 1024)
    app_client.post("/auth/login", at_the_limit, content_type="application/json", status=401)
    # No Content-Length (a chunked body): nothing is read, so an endless stream cannot hang a worker.
    environ = json_request("/auth/login", {}).environ
    del environ["CONTENT_LENGTH"]
    environ["wsgi.input"] = EndlessBody()
    statuses = []
    body = app_client.app(environ, lambda status, headers, exc_info=None: statuses.append(status))
    assert statuses == ["400 Bad Request"] and json.loads(b"".join(body))["error"]


def test_login_returns_user_token_and_a_strict_cookie(env, user_with_password):
    user, _ = user_with_password("editor", email="ed@example.com")
    client = fast_client(env, cookie_secure=True)
    before = now_ms()
    response = login(client, "ED@Example.COM")
    assert response.json["user"]["id"] == user.id and response.json["user"]["role"] == "editor"
    assert set(response.json["user"]) == {"id", "email", "username", "firstName", "lastName", "role"}
    cookie = cookie_header(response)
    assert f"auth_token={response.json['token']}" in cookie
    for flag in ("HttpOnly", "Secure", "SameSite=Strict", "Max-Age=86400", "Path=/"):
        assert flag in cookie
    assert reload(user).last_login_at >= before


def test_the_cookie_alone_authenticates(app_client, user_with_password):
    user_with_password(email="c@example.com")
    login(app_client, "c@example.com")  # WebTest keeps the cookie
    assert app_client.get("/auth/me").json["user"]["email"] == "c@example.com"


@pytest.mark.parametrize("email, password", [
    ("known@example.com", "wrong password"),
    ("unknown@example.com", PASSWORD),
])
def test_login_failures_say_the_same_thing(app_client, user_with_password, email, password):
    user_with_password(email="known@example.com")
    response = login(app_client, email, password, status=401)
    assert_envelope(response, 401, "Invalid email or password")
    assert "auth_token=" not in str(response.headers.getall("Set-Cookie"))


def test_inactive_users_cannot_log_in(app_client, user_with_password):
    user_with_password(email="gone@example.com", is_active=False)
    assert_envelope(login(app_client, "gone@example.com", status=401), 401, "Invalid email or password")


def test_me_requires_authentication(app_client):
    assert_envelope(app_client.get("/auth/me", status=401), 401, "Authentication required")
    assert_envelope(app_client.get("/auth/me", headers=bearer("garbage"), status=401), 401)


def test_tokens_signed_with_another_secret_or_none_are_refused(app_client, user_with_password):
    user, _ = user_with_password()
    claims = {"sub": user.id, "ver": 0, "iat": int(time.time()), "exp": int(time.time()) + 60}
    forged = jwt.encode(claims, "not-the-secret-" + "y" * 40, algorithm="HS256")
    unsigned = jwt.encode(claims, None, algorithm="none")
    for token in (forged, unsigned):
        app_client.get("/auth/me", headers=bearer(token), status=401)
    valid = jwt.encode(claims, TEST_JWT_SECRET, algorithm="HS256")
    app_client.get("/auth/me", headers=bearer(valid), status=200)


def test_expired_tokens_are_refused(app_client, user_with_password):
    user, _ = user_with_password()
    claims = {"sub": user.id, "ver": 0, "iat": int(time.time()) - 100, "exp": int(time.time()) - 10}
    app_client.get("/auth/me", headers=bearer(jwt.encode(claims, TEST_JWT_SECRET, algorithm="HS256")), status=401)


def test_logout_invalidates_issued_tokens_and_clears_the_cookie(app_client, user_with_password):
    user_with_password(email="out@example.com")
    token = login(app_client, "out@example.com").json["token"]
    other_device = login(app_client, "out@example.com").json["token"]
    response = app_client.post("/auth/logout", headers=bearer(token))
    assert response.json == {"message": "Logged out successfully"}
    assert 'auth_token=""' in cookie_header(response) or "Max-Age=0" in cookie_header(response)
    for stale in (token, other_device):
        assert_envelope(app_client.get("/auth/me", headers=bearer(stale), status=401), 401)
    fresh = login(app_client, "out@example.com").json["token"]
    app_client.get("/auth/me", headers=bearer(fresh), status=200)


def test_the_logout_link_sends_to_the_confirmation_and_ends_no_session(app_client, user_with_password):
    user_with_password(email="link@example.com")
    token = login(app_client, "link@example.com").json["token"]
    response = app_client.get("/auth/logout", status=303)
    assert response.location.endswith("/admin/logout") and response.content_type == "text/html"
    assert "Set-Cookie" not in response.headers
    app_client.get("/auth/me", headers=bearer(token), status=200)


def test_logout_without_a_session_just_clears_the_cookie(app_client):
    assert app_client.post("/auth/logout").json == {"message": "Logged out successfully"}


def test_refresh_issues_a_working_token(app_client, user_with_password):
    _, headers = user_with_password()
    response = app_client.post("/auth/refresh", headers=headers)
    assert "auth_token=" in cookie_header(response)
    app_client.get("/auth/me", headers=bearer(response.json["token"]), status=200)
    app_client.cookiejar.clear()
    assert_envelope(app_client.post("/auth/refresh", status=401), 401)


# -- session lifetime ------------------------------------------------------------------------

HOUR = 3600


def claims_of(token):
    return jwt.decode(token, TEST_JWT_SECRET, algorithms=["HS256"])


def signed_in_ago(user, seconds, **settings):
    """A session token of ``user`` from a sign-in ``seconds`` ago, signed by the app's own function."""
    return issue_jwt(user, settings_for_tests(**settings), now=int(time.time()) - seconds)


def test_a_refresh_keeps_the_time_of_the_sign_in(app_client, user_with_password):
    user, _ = user_with_password(email="kept@example.com")
    signed_in = claims_of(login(app_client, "kept@example.com").json["token"])
    assert signed_in["auth_time"] == signed_in["iat"]
    old = signed_in_ago(user, HOUR)
    started = claims_of(old)["iat"]
    refreshed = app_client.post("/auth/refresh", headers=bearer(old)).json["token"]
    assert claims_of(refreshed)["auth_time"] == started and claims_of(refreshed)["iat"] >= started + HOUR
    again = app_client.post("/auth/refresh", headers=bearer(refreshed)).json["token"]
    assert claims_of(again)["auth_time"] == started


def test_no_token_outlives_its_session(env, user_with_password):
    user, _ = user_with_password(email="short@example.com")
    client = fast_client(env, session_max_age_seconds=2 * HOUR)
    response = login(client, "short@example.com")
    claims = claims_of(response.json["token"])
    assert claims["exp"] == claims["auth_time"] + 2 * HOUR and "Max-Age=7200" in cookie_header(response)
    # A session begun an hour ago: its new token ends with it, in an hour, not in 24.
    old = signed_in_ago(user, HOUR, session_max_age_seconds=2 * HOUR)
    response = client.post("/auth/refresh", headers=bearer(old))
    claims = claims_of(response.json["token"])
    assert claims["exp"] == claims_of(old)["iat"] + 2 * HOUR
    assert f"Max-Age={claims['exp'] - claims['iat']}" in cookie_header(response)


def test_a_session_past_its_lifetime_is_refused_on_every_request(env, user_with_password):
    """Lowering SESSION_MAX_AGE_SECONDS ends older sessions at once, not when their token expires."""
    user, _ = user_with_password(email="stolen@example.com")
    client = fast_client(env, session_max_age_seconds=HOUR)
    # Signed two hours ago (under a longer lifetime, so the token itself has not expired).
    old = signed_in_ago(user, 2 * HOUR)
    assert claims_of(old)["exp"] > time.time()
    for refused in (client.get("/auth/me", headers=bearer(old), status=401),
                    client.post("/auth/refresh", headers=bearer(old), status=401)):
        assert_envelope(refused, 401, "Invalid or expired token")
    within = signed_in_ago(user, HOUR - 60)
    client.get("/auth/me", headers=bearer(within), status=200)
    client.post("/auth/refresh", headers=bearer(within), status=200)


def test_a_session_that_reached_its_end_has_no_token_left_to_refresh_with(env, user_with_password):
    # Signed in two hours ago under the one-hour lifetime: the token expired with its session.
    user, _ = user_with_password(email="ended@example.com")
    client = fast_client(env, session_max_age_seconds=HOUR)
    ended = signed_in_ago(user, 2 * HOUR, session_max_age_seconds=HOUR)
    claims = jwt.decode(ended, TEST_JWT_SECRET, algorithms=["HS256"], options={"verify_exp": False})
    assert claims["exp"] == claims["auth_time"] + HOUR < time.time()
    assert_envelope(client.post("/auth/refresh", headers=bearer(ended), status=401), 401, "Invalid or expired token")


def test_a_token_without_auth_time_counts_from_its_iat_and_is_not_refreshed(app_client, env, user_with_password):
    """Tokens issued before they carried ``auth_time`` are accepted until ``iat`` plus the
    lifetime, but not refreshed: their ``iat`` as the new token's ``auth_time`` would pass for
    a recent sign-in (an API token without the password)."""
    user, _ = user_with_password(email="legacy@example.com")
    issued = int(time.time()) - 2 * HOUR
    legacy = jwt.encode({"sub": user.id, "email": user.email, "role": user.role, "ver": 0, "iat": issued,
                         "exp": issued + 24 * HOUR, "jti": "legacy"}, TEST_JWT_SECRET, algorithm="HS256")
    app_client.get("/auth/me", headers=bearer(legacy), status=200)
    refused = app_client.post("/auth/refresh", headers=bearer(legacy), status=401)
    assert_envelope(refused, 401, "Invalid or expired token")
    assert "Set-Cookie" not in refused.headers
    short = fast_client(env, session_max_age_seconds=HOUR)
    assert_envelope(short.get("/auth/me", headers=bearer(legacy), status=401), 401, "Invalid or expired token")


def test_a_refresh_on_a_lagging_clock_issues_no_token_from_before_the_sign_in(env, user_with_password, monkeypatch):
    """Signed in on a host whose clock is ahead, refreshed on one 30 seconds behind it: the new
    token's ``iat`` is the sign-in's, not earlier, so every host accepts it."""
    user, _ = user_with_password(email="skewed@example.com")
    client = fast_client(env)
    signed_in = int(time.time())
    token = issue_jwt(user, settings_for_tests(), now=signed_in)
    monkeypatch.setattr(auth_api, "time", types.SimpleNamespace(time=lambda: signed_in - 30))
    refreshed = client.post("/auth/refresh", headers=bearer(token)).json["token"]
    claims = claims_of(refreshed)
    assert claims["auth_time"] == claims["iat"] == signed_in
    assert claims["exp"] == signed_in + 24 * HOUR
    client.get("/auth/me", headers=bearer(refreshed), status=200)


def signed_claims(user, **claims):
    """Bearer headers of a token signed with the app's secret: a session of ``user`` issued
    now, with ``claims`` added or replaced."""
    now = int(time.time())
    payload = {"sub": user.id, "email": user.email, "role": user.role, "ver": user.token_version, "iat": now,
               "exp": now + HOUR, "auth_time": now, "jti": "crafted", **claims}
    return bearer(jwt.encode(payload, TEST_JWT_SECRET, algorithm="HS256"))


@pytest.mark.parametrize("claims", [
    lambda now: {"auth_time": "abc"}, lambda now: {"auth_time": None}, lambda now: {"auth_time": [1]},
    lambda now: {"auth_time": {}}, lambda now: {"auth_time": True}, lambda now: {"auth_time": now - 0.5},
    lambda now: {"auth_time": str(now)}, lambda now: {"iat": str(now)}, lambda now: {"iat": True},
    lambda now: {"auth_time": now + 1}, lambda now: {"auth_time": 10**12},
], ids=["text", "null", "list", "object", "bool", "float", "digits", "iat-digits", "iat-bool", "after-iat",
                                 "far-future"])
def test_a_session_token_with_a_malformed_or_later_auth_time_is_refused(app_client, user_with_password, claims):
    """Such a token is not issued by the app: with a secret that leaked, a later auth_time
    would make a session that never ends and always counts as a recent sign-in."""
    user, _ = user_with_password("admin", email="crafted@example.com")
    headers = signed_claims(user, **claims(int(time.time())))
    assert_envelope(app_client.get("/auth/me", headers=headers, status=401), 401, "Invalid or expired token")
    app_client.post_json("/api/tokens", {"name": "x", "permissions": []}, headers=headers, status=401)
    app_client.get("/auth/me", headers=signed_claims(user), status=200)  # the same token, as the app signs it


def test_a_refresh_as_the_session_ends_is_refused(env, user_with_password, monkeypatch):
    """Let in just before its session's end, handled just after: no token that expires as it is issued."""
    user, _ = user_with_password(email="ending@example.com")
    client = fast_client(env, session_max_age_seconds=HOUR)
    ending = signed_in_ago(user, HOUR - 60)
    session_end = claims_of(ending)["auth_time"] + HOUR
    monkeypatch.setattr(auth_api, "time", types.SimpleNamespace(time=lambda: session_end))
    refused = client.post("/auth/refresh", headers=bearer(ending), status=401)
    assert_envelope(refused, 401, "Invalid or expired token")
    assert "Set-Cookie" not in refused.headers
    monkeypatch.setattr(auth_api, "time", types.SimpleNamespace(time=lambda: session_end - 1))
    last = client.post("/auth/refresh", headers=bearer(ending))
    claims = jwt.decode(last.json["token"], TEST_JWT_SECRET, algorithms=["HS256"], options={"verify_iat": False})
    assert (claims["iat"], claims["exp"]) == (session_end - 1, session_end) and "Max-Age=1" in cookie_header(last)


def test_the_session_lifetime_is_a_setting(tmp_path):
    assert settings_from_config(make_env(tmp_path / "default").config).session_max_age_seconds == 30 * 24 * HOUR
    config = make_env(tmp_path / "set", vars={"SESSION_MAX_AGE_SECONDS": "86400"}).config
    assert settings_from_config(config).session_max_age_seconds == 24 * HOUR


def test_the_session_token_lifetime_is_a_setting(env, user_with_password, tmp_path):
    """SESSION_TOKEN_TTL_SECONDS sets each token's expiry and its cookie's Max-Age, at sign-in
    and at refresh; the session's end still caps it."""
    assert settings_from_config(make_env(tmp_path / "default").config).session_token_ttl_seconds == 24 * HOUR
    config = make_env(tmp_path / "set", vars={"SESSION_TOKEN_TTL_SECONDS": 7200}).config
    assert settings_from_config(config).session_token_ttl_seconds == 2 * HOUR
    user, _ = user_with_password(email="ttl@example.com")
    client = fast_client(env, session_token_ttl_seconds=2 * HOUR)
    response = login(client, "ttl@example.com")
    claims = claims_of(response.json["token"])
    assert claims["exp"] == claims["iat"] + 2 * HOUR and "Max-Age=7200" in cookie_header(response)
    refreshed = client.post("/auth/refresh", headers=bearer(response.json["token"]))
    claims = claims_of(refreshed.json["token"])
    assert claims["exp"] == claims["iat"] + 2 * HOUR and "Max-Age=7200" in cookie_header(refreshed)
    capped = fast_client(env, session_token_ttl_seconds=2 * HOUR, session_max_age_seconds=HOUR)
    claims = claims_of(login(capped, "ttl@example.com").json["token"])
    assert claims["exp"] == claims["auth_time"] + HOUR


# -- passwords ------------------------------------------------------------------------------


def test_password_change_needs_the_current_password_and_ends_sessions(app_client, user_with_password):
    user_with_password(email="pw@example.com")
    old = login(app_client, "pw@example.com").json["token"]
    body = {"current_password": "not it at all", "new_password": "a brand new secret"}
    response = app_client.post_json("/auth/change-password", body, headers=bearer(old), status=422)
    assert response.json["details"][0]["field"] == "current_password"
    body["current_password"] = PASSWORD
    response = app_client.post_json("/auth/change-password", body, headers=bearer(old))
    assert_envelope(app_client.get("/auth/me", headers=bearer(old), status=401), 401)
    app_client.get("/auth/me", headers=bearer(response.json["token"]), status=200)
    login(app_client, "pw@example.com", PASSWORD, status=401)
    login(app_client, "pw@example.com", "a brand new secret")


def test_password_change_enforces_the_minimum_length(app_client, user_with_password):
    _, headers = user_with_password()
    body = {"current_password": PASSWORD, "new_password": "short"}
    response = app_client.post_json("/auth/change-password", body, headers=headers, status=422)
    assert response.json["details"][0]["field"] == "new_password"


def test_hashes_are_salted_self_describing_scrypt():
    hasher = PasswordHasher(n=2**14, r=8, p=1)
    first, second = hasher.hash("same password"), hasher.hash("same password")
    assert first != second
    scheme, n, r, p, salt, key = first.split("$")
    assert (scheme, n, r, p) == ("scrypt", "16384", "8", "1") and salt and key
    assert hasher.verify("same password", first) and not hasher.verify("other", first)
    assert not hasher.verify("same password", "sha256$abc") and not hasher.verify("x", None)
    assert PasswordHasher().needs_rehash(first) and not hasher.needs_rehash(first)
    with pytest.raises(ValueError):
        PasswordHasher(n=2**12)


def test_login_rehashes_a_password_stored_with_an_older_cost(env, user_with_password):
    user, _ = user_with_password(email="old@example.com")
    client = fast_client(env, scrypt_n=2**15, scrypt_p=1)
    login(client, "old@example.com")
    assert reload(user).password_hash.startswith("scrypt$32768$8$1$")


# -- password reset -----------------------------------------------------------------------


def test_reset_request_answers_the_same_for_unknown_emails(app_client, user_with_password, outbox):
    user_with_password(email="known@example.com")
    known = app_client.post_json("/auth/request-password-reset", {"email": "known@example.com"}, status=202)
    unknown = app_client.post_json("/auth/request-password-reset", {"email": "nobody@example.com"}, status=202)
    assert known.json == unknown.json == {
        "success": True, "message": "If an account exists for this email, a password reset link has been sent",
    }
    tokens = outbox.tokens("password_reset")
    assert len(tokens) == 1
    assert tokens[0] not in known.text and "token" not in known.json
    stored = User.get(User.email == "known@example.com")
    assert stored.password_reset_token == hashlib.sha256(tokens[0].encode()).hexdigest()
    assert now_ms() + 3500_000 < stored.password_reset_expires <= now_ms() + 3600_000


def test_the_mail_names_the_recipient_and_links_to_the_reset_page(app_client, user_with_password, outbox):
    user_with_password(email="mixed@example.com")
    app_client.post_json("/auth/request-password-reset", {"email": "MIXED@example.com"}, status=202)
    [mail] = outbox.sent
    assert (mail.kind, mail.email) == ("password_reset", "mixed@example.com")
    assert mail.link.startswith("/admin/reset-password?token=")  # the page a person opens
    page = app_client.get(mail.link, headers={"Accept": "text/html"}, status=200)
    assert page.content_type == "text/html" and "password" in page.text.lower()


def test_the_default_mailer_logs_the_link_for_the_operator(env, user_with_password, caplog):
    user_with_password(email="logged@example.com")
    client = fast_client(env)  # no mailer given: the app's default one
    with caplog.at_level(logging.WARNING, logger="sonicpy.accounts"):
        client.post_json("/auth/request-password-reset", {"email": "logged@example.com"}, status=202)
    [record] = [r for r in caplog.records if r.name == "sonicpy.accounts"]
    assert record.levelno == logging.WARNING
    assert record.getMessage().startswith("password reset for logged@example.com: ")
    assert "/admin/reset-password?token=" in record.getMessage()


def test_reset_request_and_reset_accept_a_form_like_sonicjs(app_client, user_with_password, outbox):
    user_with_password(email="form@example.com")
    app_client.post("/auth/request-password-reset", {"email": "form@example.com"}, status=202)
    [token] = outbox.tokens("password_reset")
    form = {"token": token, "password": "a new form password", "confirm_password": "a new form password"}
    app_client.post("/auth/reset-password", form, status=200)  # SonicJS's reset page posts this
    login(app_client, "form@example.com", "a new form password")


def test_reset_password_sets_the_password_once_and_ends_sessions(app_client, user_with_password, outbox):
    _, headers = user_with_password(email="reset@example.com")
    app_client.post_json("/auth/request-password-reset", {"email": "reset@example.com"}, status=202)
    [token] = outbox.tokens("password_reset")
    app_client.post_json("/auth/reset-password", {"token": token, "password": "short"}, status=422)
    app_client.post_json("/auth/reset-password", {"token": token, "password": "the new password"}, status=200)
    app_client.get("/auth/me", headers=headers, status=401)
    login(app_client, "reset@example.com", "the new password")
    again = app_client.post_json("/auth/reset-password", {"token": token, "password": "yet another one"}, status=400)
    assert_envelope(again, 400, "Invalid or expired reset token")


def test_a_reset_token_is_single_use_even_under_a_race(env, app_client, user_with_password, outbox):
    user, _ = user_with_password(email="race@example.com")
    app_client.post_json("/auth/request-password-reset", {"email": "race@example.com"}, status=202)
    [token] = outbox.tokens("password_reset")
    passwords = ["first new password", "second new password"]
    # Both requests find the token valid, then hash for ~50 ms: only the UPDATE that still
    # finds the token consumes it; the other one changes nothing.
    statuses = concurrently(app_client.app, [
        json_request("/auth/reset-password", {"token": token, "password": p}) for p in passwords
    ])
    assert sorted(statuses) == [200, 400]
    winner = passwords[statuses.index(200)]
    assert reload(user).token_version == user.token_version + 1 and reload(user).password_reset_token is None
    login(app_client, "race@example.com", winner)
    login(app_client, "race@example.com", passwords[statuses.index(400)], status=401)
    # And sequentially: the used token is refused.
    app_client.post_json("/auth/reset-password", {"token": token, "password": "third new password"}, status=400)


def test_expired_reset_tokens_are_refused(app_client, user_with_password, outbox):
    user, _ = user_with_password(email="late@example.com")
    app_client.post_json("/auth/request-password-reset", {"email": "late@example.com"}, status=202)
    [token] = outbox.tokens("password_reset")
    User.update(password_reset_expires=now_ms() - 1).where(User.id == user.id).execute()
    response = app_client.post_json("/auth/reset-password", {"token": token, "password": "the new password"}, status=400)
    assert_envelope(response, 400, "Invalid or expired reset token")
    login(app_client, "late@example.com")


# -- rate limits ----------------------------------------------------------------------------


def test_wrong_passwords_limit_the_attackers_address_not_the_owners_account(env, stack, user_with_password):
    user_with_password(email="target@example.com")
    client = fast_client(env, rate_limit_attempts=3, rate_limit_window_seconds=120)
    for _ in range(3):
        login(client, "target@example.com", "wrong", status=401, ip="203.0.113.66")
    response = login(client, "target@example.com", "wrong", status=429, ip="203.0.113.66")
    assert_envelope(response, 429, "Too many attempts, try again later")
    retry = int(response.headers["Retry-After"])
    assert 0 < retry <= 120 and response.json["details"]["retry_after"] == retry
    # The owner, from another address, signs in with the right password: no lockout.
    login(client, "target@example.com", PASSWORD, ip="198.51.100.10")
    # The attacker's address stays limited, even with the right password (no oracle).
    login(client, "target@example.com", PASSWORD, status=429, ip="203.0.113.66")
    stack.expire_kv(env, "ratelimit:")  # the window is over
    login(client, "target@example.com", PASSWORD, ip="203.0.113.66")


def test_look_alike_spellings_of_an_email_count_against_one_account(env, user_with_password):
    user_with_password(email="twin@example.com")
    client = fast_client(env, rate_limit_attempts=5, rate_limit_account_attempts=2)
    login(client, "twin@example.com", "wrong", status=401, ip="203.0.113.70")
    login(client, "TW\u200bIN@example.com", "wrong", status=401, ip="203.0.113.71")
    # The account is past its ceiling: 203.0.113.71 has had its one failure, however spelt.
    login(client, "t\u200dwin@example.com", "wrong", status=429, ip="203.0.113.71")


def test_past_the_account_ceiling_each_address_gets_one_failure(env, stack, user_with_password):
    # A guess spread over many addresses: past the account's ceiling it slows to one
    # failure per address per window, and a client that has not failed still signs in.
    user_with_password(email="spread@example.com")
    client = fast_client(env, rate_limit_attempts=5, rate_limit_account_attempts=3)
    for i in range(3):
        login(client, "spread@example.com", "wrong", status=401, ip=f"10.0.0.{i}")
    # Below the ceiling 10.0.0.1 had four failures left; now it has used its one.
    login(client, "spread@example.com", "wrong", status=429, ip="10.0.0.1")
    login(client, "spread@example.com", "wrong", status=401, ip="10.0.0.7")  # a new address: one try
    login(client, "spread@example.com", "wrong", status=429, ip="10.0.0.7")
    login(client, "spread@example.com", PASSWORD, ip="10.0.0.8")  # the owner, from a new address
    login(client, "someone-else@example.com", "x", status=401, ip="10.0.0.1")  # other accounts unaffected
    stack.expire_kv(env, "ratelimit:")  # the window is over
    login(client, "spread@example.com", "wrong", status=401, ip="10.0.0.1")
    login(client, "spread@example.com", "wrong", status=401, ip="10.0.0.1")


def test_login_is_rate_limited_per_ip(env, user_with_password):
    user_with_password(email="victim@example.com")
    client = fast_client(env, rate_limit_attempts=3)
    for i in range(3):
        login(client, f"guess{i}@example.com", "wrong", status=401, ip="192.0.2.7")
    assert_envelope(login(client, "victim@example.com", status=429, ip="192.0.2.7"), 429)
    login(client, "victim@example.com", ip="192.0.2.8")


def test_successful_logins_do_not_count(env, user_with_password):
    user_with_password(email="busy@example.com")
    client = fast_client(env, rate_limit_attempts=2)
    for _ in range(4):
        login(client, "busy@example.com")


def test_concurrent_wrong_logins_cannot_outrun_the_limit(env, user_with_password):
    # Each attempt is counted before the password check (the slow part), under a lock per
    # process: a burst of guesses gets exactly `limit` tries, not one per thread in flight.
    user_with_password(email="burst@example.com")
    app = fast_client(env, rate_limit_attempts=5).app
    guesses = [{"email": "burst@example.com", "password": f"guess {i}"} for i in range(40)]
    statuses = concurrently(app, [json_request("/auth/login", body, ip="198.51.100.20") for body in guesses])
    assert sorted(statuses) == [401] * 5 + [429] * 35


def test_the_limiter_counts_before_and_refunds_after(tmp_path):
    kv = open_kv({"binding": "CACHE_KV", "id": "rl"}, tmp_path)
    limiter = RateLimiter(kv, attempts=2, window_seconds=90)
    key = bucket("login-ip", "198.51.100.2")
    assert limiter.acquire(key).retry_after is None and limiter.acquire(key).retry_after is None
    assert 0 < limiter.acquire(key).retry_after <= 90  # refused, and not counted
    limiter.refund(key)
    assert limiter.acquire(key).retry_after is None
    assert limiter.acquire(key).retry_after is not None
    other = bucket("login-account", "x@example.com")
    # One limited bucket refuses the attempt in all of them, counting it in none.
    assert limiter.acquire(other, key).retry_after is not None and limiter.retry_after(other) is None
    assert limiter.acquire(other).retry_after is None


def test_the_quota_is_the_callers_bucket_s_from_the_values_counted(tmp_path):
    now = [1_000_000.0]
    kv = open_kv({"binding": "CACHE_KV", "id": "rl"}, tmp_path, clock=lambda: now[0])
    limiter = RateLimiter(kv, attempts=3, window_seconds=90, clock=lambda: now[0])
    address, account, pair = (bucket(scope, "x") for scope in ("ip", "account", "pair"))
    other_address = bucket("ip", "y")
    assert limiter.acquire(address) == Quota(3, 2, 1_000_090)
    now[0] += 10.5
    # The caller's own bucket (its address, first) binds; an unlimited one never does.
    assert limiter.acquire(address, account) == Quota(3, 1, 1_000_090)
    # The account's bucket, counted from every address, is not shown while it lets the
    # attempt through: it would tell anyone how many attempts others made.
    assert limiter.acquire(other_address, account) == Quota(3, 2, 1_000_101)
    # Refusing, it binds.
    assert limiter.acquire(account, pair, limits={account: None, pair: 1}) == Quota(1, 0, 1_000_101)
    assert limiter.refund(account, pair, limits={account: None, pair: 1}) == Quota(3, 3, 1_000_101)
    assert limiter.acquire(address) == Quota(3, 0, 1_000_090)
    # Refused: nothing left, and Retry-After counts down to Reset.
    assert limiter.acquire(address, account) == Quota(3, 0, 1_000_090, retry_after=80)
    assert limiter.quota(address) == Quota(3, 0, 1_000_090)  # reading counts nothing
    now[0] = 1_000_090
    assert limiter.quota(address) == Quota(3, 3, 1_000_180)


def test_register_is_rate_limited_per_ip(env):
    client = fast_client(env, rate_limit_attempts=2)
    for i in range(2):
        client.post_json("/auth/register", {"email": f"r{i}@example.com", "password": PASSWORD}, status=201)
    response = client.post_json("/auth/register", {"email": "r9@example.com", "password": PASSWORD}, status=429)
    assert_envelope(response, 429)
    assert "Retry-After" in response.headers


def test_forwarded_for_is_ignored_unless_proxies_are_trusted(env):
    client = fast_client(env, rate_limit_attempts=1)
    login(client, "a@example.com", "x", status=401)
    # A spoofed header does not buy a fresh bucket.
    client.post_json("/auth/login", {"email": "b@example.com", "password": "x"},
                     headers={"X-Forwarded-For": "203.0.113.5"}, status=429)
    behind_proxy = fast_client(env, rate_limit_attempts=1, trusted_proxy_count=1)
    behind_proxy.post_json("/auth/login", {"email": "c@example.com", "password": "x"},
                           headers={"X-Forwarded-For": "203.0.113.5"}, status=401)


def test_an_ipv6_client_is_counted_by_its_64_and_a_mapped_ipv4_one_as_ipv4(env):
    client = fast_client(env, rate_limit_attempts=1)
    login(client, "a@example.com", "x", status=401, ip="2001:db8:1:2::1")
    # Another address of the same /64 is the same host: no fresh budget.
    login(client, "b@example.com", "x", status=429, ip="2001:db8:1:2:ffff:ffff:ffff:fffe")
    login(client, "b@example.com", "x", status=401, ip="2001:db8:1:3::1")  # the next /64 is another
    login(client, "c@example.com", "x", status=401, ip="192.0.2.1")
    login(client, "c@example.com", "x", status=429, ip="::ffff:192.0.2.1")  # that same IPv4 client
    login(client, "c@example.com", "x", status=401, ip="192.0.2.2")  # IPv4 addresses stay apart
    register = {"email": "r@example.com", "password": PASSWORD}
    client.post_json("/auth/register", register, extra_environ={"REMOTE_ADDR": "2001:db8:9:9::1"}, status=201)
    client.post_json("/auth/register", {**register, "email": "s@example.com"},
                     extra_environ={"REMOTE_ADDR": "2001:db8:9:9::2"}, status=429)


def test_a_forwarded_ipv6_client_is_counted_by_its_64(env):
    behind_proxy = fast_client(env, rate_limit_attempts=1, trusted_proxy_count=1)
    for hop, status in (("2001:db8::a", 401), ("2001:db8::b", 429), ("2001:db8:0:1::a", 401)):
        behind_proxy.post_json("/auth/login", {"email": "c@example.com", "password": "x"},
                               headers={"X-Forwarded-For": hop}, status=status)


def test_a_forwarded_address_is_counted_without_the_port_a_proxy_wrote(env):
    """Some proxies write the client's port into X-Forwarded-For: each connection would
    otherwise be a fresh budget."""
    behind_proxy = fast_client(env, rate_limit_attempts=1, trusted_proxy_count=1)
    for hop, status in (("203.0.113.5:5678", 401), ("203.0.113.5:6789", 429), ("203.0.113.5", 429),
                        ("[2001:db8::a]:443", 401), ("2001:db8::b", 429)):
        behind_proxy.post_json("/auth/login", {"email": "c@example.com", "password": "x"},
                               headers={"X-Forwarded-For": f"198.51.100.9, {hop}"}, status=status)


def test_the_window_ends_by_the_clock(tmp_path):
    """The limiter's window, against a real KV namespace, with one fake clock for both."""
    now = [1_000_000.0]
    kv = open_kv({"binding": "CACHE_KV", "id": "rl"}, tmp_path, clock=lambda: now[0])
    limiter = RateLimiter(kv, attempts=2, window_seconds=90, clock=lambda: now[0])
    key = bucket("login-ip", "198.51.100.1")
    limiter.hit(key)
    assert limiter.retry_after(key) is None
    limiter.hit(key)
    assert limiter.retry_after(key) == 90
    now[0] += 60
    assert limiter.retry_after(key) == 30
    now[0] += 30
    assert limiter.retry_after(key) is None
    limiter.hit(key)
    assert limiter.retry_after(key) is None


def test_a_kv_outage_fails_open(tmp_path, migrated_template, memcached_factory, caplog):
    server = memcached_factory()
    env = env_with_copy(tmp_path / "app", migrated_template, kv_servers=[server.address])
    bind_models(env.DB.db)
    create_user(email="open@example.com", password_hash=hashed())
    server.stop()
    client = fast_client(env, rate_limit_attempts=1)
    caplog.set_level(logging.WARNING, logger="sonicpy.ratelimit")
    for _ in range(3):
        login(client, "open@example.com", "wrong", status=401)
    login(client, "open@example.com")
    assert any("failing open" in r.getMessage() for r in caplog.records)
    env.DB.db.close()


def test_the_whole_flow_on_postgresql(tmp_path, migrated_postgres_url):
    """Register, log in, tokens, users and collections against a real PostgreSQL."""
    env = make_env(tmp_path / "pg", database_url=migrated_postgres_url)
    bind_models(env.DB.db)
    accounts_for_tests().create_admin("root@example.com", PASSWORD)
    client = fast_client(env)
    try:
        client.post_json("/auth/register", {"email": "Pg@Example.com", "password": PASSWORD}, status=201)
        client.post_json("/auth/register", {"email": "pg@example.com", "password": PASSWORD}, status=409)
        client.post_json("/auth/register", {"email": "p\u200bg@example.com", "password": PASSWORD}, status=409)
        client.post_json("/auth/register", {"email": "p\u0433@example.com", "password": PASSWORD}, status=422)
        viewer = login(client, "PG@example.com").json["token"]
        admin = bearer(login(client, "root@example.com").json["token"])
        client.cookiejar.clear()
        found = client.get("/admin/api/users", {"search": "PG@"}, headers=admin).json
        assert found["meta"]["total"] == 1
        assert client.get("/admin/api/users", {"search": "%"}, headers=admin).json["meta"]["total"] == 0
        token = client.post_json("/api/tokens", {"name": "pg", "permissions": ["collections.read", "collections.create"]},
                                 headers=admin, status=201).json["data"]
        scoped = bearer(token["token"])
        created = client.post_json("/admin/api/collections", {"name": "pg-blog", "displayName": "PG"}, headers=scoped,
                                   status=201).json
        assert [c["name"] for c in client.get("/api/collections").json["data"]] == ["pg-blog"]
        client.delete(f"/admin/api/collections/{created['id']}", headers=admin, status=200)
        client.delete(f"/api/tokens/{token['id']}", headers=admin, status=200)
        client.get("/admin/api/collections", headers=scoped, status=401)
        # Deactivation and a password change delete the user's tokens.
        viewer_session = bearer(viewer)
        kept = bearer(client.post_json("/api/tokens", {"name": "v", "permissions": ["content.read"]}, headers=viewer_session,
                                       status=201).json["data"]["token"])
        viewer_id = client.get("/auth/me", headers=kept).json["user"]["id"]
        client.patch_json(f"/admin/api/users/{viewer_id}", {"is_active": False}, headers=admin)
        client.patch_json(f"/admin/api/users/{viewer_id}", {"is_active": True}, headers=admin)
        client.get("/auth/me", headers=kept, status=401)
        viewer = login(client, "PG@example.com").json["token"]
        kept = bearer(client.post_json("/api/tokens", {"name": "v", "permissions": ["content.read"]}, headers=bearer(viewer),
                                       status=201).json["data"]["token"])
        client.post_json("/auth/change-password", {"current_password": PASSWORD, "new_password": "pg new password"},
                         headers=bearer(viewer))
        client.get("/auth/me", headers=kept, status=401)
        viewer = login(client, "PG@example.com", "pg new password").json["token"]
        client.cookiejar.clear()
        client.post("/auth/logout", headers=bearer(viewer))
        client.get("/auth/me", headers=bearer(viewer), status=401)
        client.post_json("/auth/login", {"email": "a@example.com", "password": "x", "role": "admin"}, status=422)
        # PostgreSQL cannot store NUL: refused as the client's mistake, never a 500.
        client.post_json("/auth/login", {"email": "a@example.com", "password": "x\u0000"}, status=422)
        client.get("/admin/api/users", {"search": "a\x00b"}, headers=admin, status=400)
        client.get("/admin/api/users/a%00b", headers=admin, status=400)
    finally:
        env.DB.db.close()


# -- login CSRF and caching -------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/auth/login", "/auth/register", "/auth/accept-invitation"])
def test_routes_that_start_a_session_take_json_only(app_client, user_with_password, path):
    # An HTML form on any site can post these types across origins without a preflight.
    user_with_password(email="csrf@example.com")
    form = {"email": "csrf@example.com", "password": PASSWORD, "token": "t", "username": "csrf"}
    response = app_client.post(path, form, status=415)  # application/x-www-form-urlencoded
    assert_envelope(response, 415, "Unsupported media type")
    assert "Set-Cookie" not in response.headers
    multipart = app_client.post(path, form, upload_files=[("f", "f.txt", b"x")], status=415)
    assert "Set-Cookie" not in multipart.headers
    plain = app_client.post(path, json.dumps(form), content_type="text/plain", status=415)
    assert "Set-Cookie" not in plain.headers
    assert not app_client.cookies
    app_client.post("/auth/login", json.dumps({"email": "csrf@example.com", "password": PASSWORD}),
                    content_type="application/json; charset=utf-8", status=200)


def test_responses_with_tokens_or_personal_data_are_not_stored(app_client, user_with_password):
    _, headers = user_with_password(email="private@example.com")
    responses = [
        login(app_client, "private@example.com"),
        app_client.post_json("/auth/register", {"email": "fresh@example.com", "password": PASSWORD}, status=201),
        app_client.get("/auth/me", headers=headers),
        app_client.post("/auth/refresh", headers=headers),
        app_client.post_json("/auth/change-password", {"current_password": PASSWORD, "new_password": "another one!"},
                             headers=headers),
    ]
    assert [r.headers.get("Cache-Control") for r in responses] == ["no-store"] * len(responses)
    assert "Cache-Control" not in app_client.get("/health").headers


# -- look-alike emails --------------------------------------------------------------------------


def register(client, email, status=201):
    return client.post_json("/auth/register", {"email": email, "password": PASSWORD}, status=status)


@pytest.mark.parametrize("look_alike", [
    "ad\u200bmin@example.com",  # zero-width space
    "\ufeffadmin@example.com",  # byte order mark
    "adm\u00adin@example.com",  # soft hyphen
    "\uff41dmin@example.com",  # fullwidth a: NFKC folds it
    "ADMIN@EXAMPLE.COM",
])
def test_look_alike_spellings_are_one_account(app_client, look_alike):
    register(app_client, "admin@example.com")
    assert_envelope(register(app_client, look_alike, status=409), 409)
    app_client.cookiejar.clear()
    assert login(app_client, look_alike).json["user"]["email"] == "admin@example.com"


def test_an_invisible_character_is_removed_before_storing(app_client):
    assert register(app_client, "new\u200b\u2060@example.com").json["user"]["email"] == "new@example.com"
    assert User.get_or_none(User.email == "new@example.com") is not None
    response = register(app_client, "\u200b@example.com", status=422)
    assert response.json["details"] == [{"field": "email", "message": "Invalid email"}]


@pytest.mark.parametrize("mixed", [
    "\u0430dmin@example.com",  # Cyrillic a among Latin letters
    "admin@ex\u0430mple.com",  # ... in a domain label
    "p\u0430yp\u0430l@example.com",
    "\u03bfmega@example.com",  # Greek omicron
])
def test_emails_mixing_look_alike_scripts_are_refused(app_client, mixed):
    register(app_client, "admin@example.com")
    response = register(app_client, mixed, status=422)
    assert response.json["details"] == [
        {"field": "email", "message": "Email mixes letters of different scripts (for example Latin and Cyrillic)"}
    ]
    assert User.select().count() == 1


@pytest.mark.parametrize("email", ["\u0438\u0432\u0430\u043d@example.com", "\u5c71\u7530taro@example.jp"])
def test_an_address_in_one_script_or_latin_with_cjk_is_accepted(app_client, email):
    assert register(app_client, email).json["user"]["email"] == email
