"""A JWT's account is kept in the read cache's ``users`` namespace: a session's requests
after the first read no user row, and every write that ends sessions (logout, password
change, role change, deactivation) refuses the old token at once, in every worker."""

import time

import jwt
import pytest

from app.db.models import User, bind_models
from app.services.cache import ThreeTierCache
from app.services.identity import RolePermissions, VerifiedTokens, principal_from_jwt, session_account
from tests.fixtures.app import TEST_JWT_SECRET, is_request_log, settings_for_tests
from tests.fixtures.auth import PASSWORD, fast_client, login
from tests.fixtures.cache import past_generation_bound
from tests.fixtures.users import bearer

pytestmark = pytest.mark.backends


@pytest.fixture
def workers(env, outbox):
    """Two apps over one env (two workers: own memory tiers, one CACHE_KV, one database)."""
    bind_models(env.DB.db)
    return fast_client(env, outbox), fast_client(env, outbox)


@pytest.fixture
def user_selects(env, monkeypatch):
    """``user_selects()`` -> how many SELECTs on ``users`` ran since the last call."""
    db = env.DB.db
    seen = []
    original = db.execute_sql

    def execute_sql(sql, params=None, *args, **kwargs):
        if not is_request_log(sql) and sql.startswith("SELECT") and 'FROM "users"' in sql:
            seen.append(sql)
        return original(sql, params, *args, **kwargs)

    monkeypatch.setattr(db, "execute_sql", execute_sql)

    def take():
        count = len(seen)
        seen.clear()
        return count

    return take


def test_a_sessions_account_is_read_once(workers, user_with_password, user_selects):
    first, _ = workers
    _, headers = user_with_password("editor")
    first.get("/api/content", headers=headers, status=200)
    assert user_selects() == 1
    for _ in range(3):
        first.get("/api/content", headers=headers, status=200)
    assert user_selects() == 0


def test_logout_in_one_worker_refuses_the_token_in_the_other(workers, user_with_password):
    first, second = workers
    user_with_password(email="two@example.com")
    token = login(first, "two@example.com").json["token"]
    second.get("/auth/me", headers=bearer(token), status=200)  # cached in the second worker
    first.post("/auth/logout", headers=bearer(token), status=200)
    past_generation_bound()
    second.get("/auth/me", headers=bearer(token), status=401)


def test_a_password_change_refuses_older_tokens_everywhere(workers, user_with_password):
    first, second = workers
    user_with_password(email="pw@example.com")
    old = login(first, "pw@example.com").json["token"]
    second.get("/auth/me", headers=bearer(old), status=200)
    body = {"current_password": PASSWORD, "new_password": PASSWORD + "-new", "confirm_password": PASSWORD + "-new"}
    new = first.post_json("/auth/change-password", body, headers=bearer(old)).json["token"]
    past_generation_bound()
    second.get("/auth/me", headers=bearer(old), status=401)
    second.get("/auth/me", headers=bearer(new), status=200)


@pytest.mark.parametrize("change", [{"role": "viewer"}, {"is_active": False}])
def test_role_change_and_deactivation_refuse_the_cached_session(workers, user_with_password, change):
    first, second = workers
    _, admin = user_with_password("admin")
    target, headers = user_with_password("editor")
    assert second.get("/auth/me", headers=headers).json["user"]["role"] == "editor"
    if "role" in change:
        first.patch_json(f"/admin/api/users/{target.id}", change, headers=admin, status=200)
    else:
        first.delete(f"/admin/api/users/{target.id}", headers=admin, status=200)
    past_generation_bound()
    second.get("/auth/me", headers=headers, status=401)


def test_without_a_cache_the_row_is_read_every_time(env, user_selects):
    bind_models(env.DB.db)
    user = User.create(email="n@example.com", username="nocache", first_name="N", last_name="C", role="author")
    assert session_account(user.id, 0) == {"id": user.id, "email": "n@example.com", "role": "author"}
    assert session_account(user.id, 1) is None
    User.update(is_active=False).where(User.id == user.id).execute()
    assert session_account(user.id, 0) is None
    assert user_selects() == 3


def test_a_verified_token_is_refused_once_it_expires(env):
    bind_models(env.DB.db)
    user = User.create(email="exp@example.com", username="expiring", first_name="E", last_name="X", role="author")
    issued = int(time.time())
    token = jwt.encode({"sub": user.id, "ver": 0, "iat": issued, "exp": issued + 60}, TEST_JWT_SECRET,
                       algorithm="HS256")
    now = [float(issued)]
    tokens = VerifiedTokens(settings_for_tests(), clock=lambda: now[0])
    roles, cache = RolePermissions(), ThreeTierCache(env.CACHE_KV)
    first = principal_from_jwt(token, settings_for_tests(), roles, cache, tokens)
    assert first.id == user.id
    # Verified once: the next requests reuse the answer, Principal included.
    assert principal_from_jwt(token, settings_for_tests(), roles, cache, tokens) is first
    now[0] = issued + 60  # PyJWT's rule: expired once exp <= now
    assert principal_from_jwt(token, settings_for_tests(), roles, cache, tokens) is None
    assert tokens.verified(token) is None


def test_a_verified_token_is_refused_once_its_session_ends(env, user_selects):
    """A token kept by the memo stops at its session's end (SESSION_MAX_AGE_SECONDS after
    ``auth_time``) though its ``exp`` is later, with no user row read for it."""
    bind_models(env.DB.db)
    user = User.create(email="ends@example.com", username="ending", first_name="E", last_name="N", role="author")
    signed_in = int(time.time())
    token = jwt.encode({"sub": user.id, "ver": 0, "iat": signed_in, "auth_time": signed_in - 50,
                        "exp": signed_in + 3600}, TEST_JWT_SECRET, algorithm="HS256")
    settings = settings_for_tests(session_max_age_seconds=60)
    now = [float(signed_in)]
    tokens = VerifiedTokens(settings, clock=lambda: now[0])
    roles, cache = RolePermissions(), ThreeTierCache(env.CACHE_KV)
    assert principal_from_jwt(token, settings, roles, cache, tokens).id == user.id
    now[0] = signed_in + 10  # auth_time + 60: the session's end
    user_selects()
    assert principal_from_jwt(token, settings, roles, cache, tokens) is None
    assert tokens.verified(token) is None
    assert user_selects() == 0


def test_only_tokens_that_verify_are_kept(env):
    tokens = VerifiedTokens(settings_for_tests(), size=2)
    forged = jwt.encode({"sub": "x", "iat": 1, "exp": int(time.time()) + 60}, "not-the-secret-" + "y" * 40,
                        algorithm="HS256")
    assert tokens.verified(forged) is None
    assert tokens.verified("garbage") is None
    assert tokens._tokens == {}
