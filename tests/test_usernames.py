"""Usernames derived from the email: invitations, registration without a username, create-admin."""

import re

import pytest

from app.api.errors import SERVICE_ERROR_STATUS
from app.db.models import User, bind_models
from app.services import users
from app.services.accounts import USERNAME_PATTERN, InvalidUsername
from app.services.usernames import MAX_LENGTH, free_username, username_base
from tests.fixtures.app import client_for, make_env
from tests.fixtures.auth import PASSWORD, accounts_for_tests
from tests.fixtures.users import bearer, create_user, token_for


def taken_from(names):
    return lambda batch: set(batch) & set(names)


@pytest.mark.parametrize("email, expected", [
    ("ed.jones@example.com", "ed.jones"),
    ("Ed.Jones@Example.com", "ed.jones"),
    ("ed+cms@example.com", "ed1"),
    ("zoë@example.com", "zoe"),
    ("straße@example.com", "strasse"),  # as in slugs: letters without an ASCII decomposition spelled out
    ("Bjørn.Łukasz@example.com", "bjorn.lukasz"),
    ("o'brien@example.com", "obrien"),
    ("a@example.com", "a01"),
    ("!!!@example.com", "user"),
    ("x" * 64 + "@example.com", "x" * MAX_LENGTH),
])
def test_the_local_part_becomes_a_valid_username(email, expected):
    username = free_username(email, taken_from([]))
    assert username == expected
    assert re.fullmatch(USERNAME_PATTERN, username)


def test_taken_names_get_the_next_number():
    assert free_username("sam@example.com", taken_from(["sam"])) == "sam2"
    assert free_username("sam@example.com", taken_from(["sam", "sam2", "sam3"])) == "sam4"
    assert free_username("ed@example.com", taken_from(["ed1"])) == "ed2"
    many = ["sam"] + [f"sam{n}" for n in range(2, 45)]
    assert free_username("sam@example.com", taken_from(many)) == "sam45"


def test_a_number_never_makes_a_long_name_too_long():
    base = "y" * MAX_LENGTH
    username = free_username(f"{base}@example.com", taken_from([base]))
    assert username == "y" * (MAX_LENGTH - 1) + "2"


def test_the_base_keeps_only_allowed_characters():
    assert username_base("first last@example.com") == "firstlast"
    assert username_base("under_score-dash.dot@example.com") == "under_score-dash.dot"


def invite(client, headers, email):
    return client.post_json("/admin/api/users/invite", {"email": email}, headers=headers, status=201).json["data"]


def test_invitations_take_the_local_part_then_a_number(env):
    bind_models(env.DB.db)
    admin = create_user("admin")
    headers = bearer(token_for(admin))
    client = client_for(env)
    create_user("viewer", username="ed1")
    assert invite(client, headers, "sam@example.com")["username"] == "sam"
    assert invite(client, headers, "sam@example.org")["username"] == "sam2"
    assert invite(client, headers, "ed@example.com")["username"] == "ed2"


def test_registration_and_create_admin_on_postgresql(tmp_path, migrated_postgres_url):
    env = make_env(tmp_path / "pg", database_url=migrated_postgres_url)
    bind_models(env.DB.db)
    try:
        assert accounts_for_tests().create_admin("kim@example.com", PASSWORD).username == "kim"
        client = client_for(env)
        body = {"email": "kim@example.org", "password": PASSWORD}
        user = client.post_json("/auth/register", body, status=201).json["user"]
        assert user["username"] == "kim2"
        assert User.select().where(User.username.startswith("kim")).count() == 2
    finally:
        env.DB.db.close()


@pytest.mark.backends
def test_a_derived_username_taken_meanwhile_takes_the_next_one(env, monkeypatch):
    """Two sign-ups of one mailbox name at once derive the same username; the one whose insert
    is refused takes the next free name (on PostgreSQL too, where the refusal would otherwise
    abort the transaction)."""
    import app.services.accounts as accounts

    bind_models(env.DB.db)
    create_user("viewer", username="ed1", email="ed@one.example")
    derived, stale = accounts.free_username, ["ed1"]  # as computed before the other sign-up committed
    monkeypatch.setattr(accounts, "free_username", lambda email: stale.pop() if stale else derived(email))
    user = client_for(env).post_json("/auth/register", {"email": "ed@two.example", "password": PASSWORD},
                                     status=201).json["user"]
    assert user["username"] == "ed2" and stale == []
    taken = client_for(env).post_json("/auth/register", {"email": "ed@two.example", "password": PASSWORD},
                                      status=409).json
    assert "already exists" in taken["error"]


@pytest.mark.backends
@pytest.mark.parametrize("username", ["ÄDMIN", "Zoë", "two words"])
def test_the_services_refuse_a_username_breaking_the_rule(env, username):
    """The API's bodies and the admin's forms check the rule first; the services hold it for
    every other caller. It keeps usernames ASCII, the letters SQLite's lower() folds, so the
    case-blind unique index means the same on both databases."""
    bind_models(env.DB.db)
    accounts = accounts_for_tests()
    for create in (accounts.create_user, accounts.create_admin):
        with pytest.raises(InvalidUsername, match=r"Username must be 3 to 50 of A-Z, a-z, 0-9"):
            create("new@example.com", PASSWORD, username=username)
    plain = create_user("viewer", username="plain")
    with pytest.raises(InvalidUsername):
        users.update_user(plain.id, {"username": username, "first_name": "Changed"})
    invited, mail = accounts.invite("guest@example.com", "viewer", None)
    with pytest.raises(InvalidUsername):
        accounts.accept_invitation(mail.link.split("token=")[1], username, PASSWORD)
    assert not User.select().where(User.email == "new@example.com").exists()
    assert (User.get_by_id(plain.id).username, User.get_by_id(plain.id).first_name) == ("plain", plain.first_name)
    assert User.get_by_id(invited.id).invitation_pending


def test_a_username_the_services_refuse_is_answered_as_the_api_refuses_one(env):
    bind_models(env.DB.db)
    body = {"email": "new@example.com", "password": PASSWORD, "username": "Zoë"}
    answer = client_for(env).post_json("/auth/register", body, status=422).json
    refusal = InvalidUsername()
    assert SERVICE_ERROR_STATUS[refusal.kind] == "422 Unprocessable Entity"
    assert refusal.message == answer["error"] == "Validation failed"
    assert [detail["field"] for detail in refusal.details] == [detail["field"] for detail in answer["details"]]
