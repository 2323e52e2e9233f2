"""A busy or unreachable database answers 503 with ``Retry-After``, in the header and the envelope.

Busy: SQLite's busy timeout ran out while another connection held the write lock, or every
connection of PostgreSQL's pool stayed taken past the pool's wait: come back in a second.
Unreachable: the server refused the connection, or the file could not be opened: come back
in five. Each case is made real here (a lock held, a pool taken, a port nobody listens on),
and the same request then succeeds once the database is free.
"""

import pytest

from app.db.models import User, bind_models
from tests.fixtures.admin import browser_for, sign_in
from tests.fixtures.app import client_for, make_env
from tests.fixtures.auth import hashed
from tests.fixtures.busy_database import database_held, short_wait_env
from tests.fixtures.mail import Outbox
from tests.fixtures.process import free_port
from tests.fixtures.users import bearer, create_user, token_for

pytestmark = pytest.mark.backends

UNAVAILABLE = "Service temporarily unavailable"


@pytest.fixture
def busy_env(stack, tmp_path, request):
    """An env whose database gives up on a held lock (or pool) after a short wait."""
    env = short_wait_env(stack, tmp_path / "app", request)
    bind_models(env.DB.db)
    return env


def assert_retry_after(response, seconds):
    """``response`` is the 503 envelope saying to come back in ``seconds``, in the header and the body."""
    assert response.status_int == 503, response.text
    assert response.headers["Retry-After"] == str(seconds)
    assert response.json == {"error": UNAVAILABLE, "details": {"request_id": response.headers["X-Request-ID"],
                                                               "retry_after": seconds}}


def test_a_write_kept_waiting_by_a_busy_database_is_told_to_retry_in_a_second(busy_env):
    admin = bearer(token_for(create_user("admin")))
    client = client_for(busy_env)
    body = {"name": "blog", "displayName": "Blog"}
    with database_held(busy_env):
        refused = client.post_json("/admin/api/collections", body, headers=admin, status=503)
    assert_retry_after(refused, 1)
    # Nothing was written, and the same request goes through once the database is free.
    client.post_json("/admin/api/collections", body, headers=admin, status=201)


def test_an_admin_page_kept_waiting_by_a_busy_database_says_when_to_retry(busy_env):
    browser = browser_for(busy_env)
    assert sign_in(browser, create_user("admin", password_hash=hashed())).status_int == 303
    form = browser.get("/admin/collections/new").forms["collection-form"]
    form["name"] = "blog"
    form["display_name"] = "Blog"
    with database_held(busy_env):
        page = form.submit(status=503)
    assert page.headers["Retry-After"] == "1"
    assert page.content_type == "text/html"
    assert "Try again in 1 second." in page.text


def test_an_unreachable_database_server_is_told_to_retry_in_five_seconds(tmp_path):
    # A PostgreSQL URL where nothing listens: every request that needs the database fails to connect.
    env = make_env(tmp_path / "down", database_url=f"postgresql://sonicpy@127.0.0.1:{free_port()}/gone")
    client = client_for(env)
    assert_retry_after(client.get("/api/collections", status=503), 5)
    assert_retry_after(client.get("/api/content", status=503), 5)


@pytest.mark.parametrize("db_backend", ["postgres"], indirect=True)  # SQLite's readers never wait for a writer
def test_a_read_kept_waiting_for_a_pooled_connection_is_told_to_retry_in_a_second(busy_env):
    admin = bearer(token_for(create_user("admin")))
    client = client_for(busy_env)
    with database_held(busy_env):
        assert_retry_after(client.get("/admin/api/users", headers=admin, status=503), 1)
    # The refused request took no connection with it: the pool serves the next one.
    assert client.get("/admin/api/users", headers=admin).json["data"][0]["id"] == User.get().id


@pytest.mark.parametrize("page", [False, True], ids=["api", "admin page"])
def test_a_reset_request_is_answered_before_its_account_is_looked_up(busy_env, page):
    # The lookup, the reset token's write and the mail all come after the answer, for every
    # address alike, so nothing about the account can show in it: not its timing, and not a
    # busy database that only a known account's write would have met.
    user = create_user("author")
    outbox = Outbox()
    if page:
        client = browser_for(busy_env, outbox)
        form = client.get("/admin/forgot-password").forms[0]
        form["email"] = user.email
        request = form.submit
    else:
        client = client_for(busy_env, outbox)
        def request(status):
            return client.post_json("/auth/request-password-reset", {"email": user.email}, status=status)
    with database_held(busy_env):
        request(status=200 if page else 202)
    assert outbox.sent == []  # the write after the answer gave up on the held database
    request(status=200 if page else 202)
    assert [mail.email for mail in outbox.sent] == [user.email]
