"""The ``X-RateLimit-*`` headers of the rate-limited routes: what they count, across workers, and
where they are not sent.

The limiter reads a fake clock (``clocked_client``): a window ends when a test moves it.
"""

import math

import pytest

from tests.fixtures.admin import browser_for
from tests.fixtures.auth import PASSWORD, clocked_client, fast_client, login

pytestmark = pytest.mark.backends

START = 2_000_000_000  # epoch seconds on the limiter's clock when a test begins
WINDOW = 120
QUOTA = ("X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset")


class Clock:
    """Epoch seconds that move only when a test says so."""

    def __init__(self, now=START):
        self.now = now

    def __call__(self):
        return self.now


def quota(response):
    """``(limit, remaining, reset)`` from ``response``'s headers."""
    return tuple(int(response.headers[name]) for name in QUOTA)


def quota_sent(response):
    """The ``X-RateLimit-*`` headers ``response`` carries (lower case)."""
    return {name.lower() for name in response.headers} & {name.lower() for name in QUOTA}


@pytest.fixture
def clock():
    return Clock()


def test_sign_in_counts_down_failures_and_the_429_says_when(env, clock, user_with_password):
    user_with_password(email="owner@example.com")
    client = clocked_client(env, clock, rate_limit_attempts=3, rate_limit_window_seconds=WINDOW)
    reset = START + WINDOW
    # A success is given back: it leaves the allowance whole.
    assert quota(login(client, "owner@example.com")) == (3, 3, reset)
    clock.now += 10
    assert quota(login(client, "owner@example.com", "wrong", status=401)) == (3, 2, reset)
    assert quota(login(client, "owner@example.com")) == (3, 2, reset)
    assert quota(login(client, "owner@example.com", "wrong", status=401)) == (3, 1, reset)
    assert quota(login(client, "other@example.com", "wrong", status=401)) == (3, 0, reset)  # per address
    clock.now = START + 30.5
    refused = login(client, "owner@example.com", status=429)  # the right password, from a limited address
    retry_after = int(refused.headers["Retry-After"])
    assert quota(refused) == (3, 0, reset)
    assert retry_after == math.ceil(reset - clock.now) == refused.json["details"]["retry_after"]
    assert abs(reset - retry_after - clock.now) < 1  # Reset is when Retry-After counts down to
    clock.now = reset  # a new window
    assert quota(login(client, "owner@example.com", "wrong", status=401)) == (3, 2, reset + WINDOW)


def test_answers_refused_before_counting_carry_the_count_unchanged(env, clock):
    client = clocked_client(env, clock, rate_limit_attempts=5, rate_limit_window_seconds=WINDOW)
    assert quota(login(client, "a@example.com", "wrong", status=401)) == (5, 4, START + WINDOW)
    clock.now += 5
    invalid = client.post_json("/auth/login", {"email": "not an email", "password": "x"}, status=422)
    assert quota(invalid) == (5, 4, START + WINDOW)
    form = client.post("/auth/login", {"email": "a@example.com", "password": "x"}, status=415)
    assert quota(form) == (5, 4, START + WINDOW)
    not_signed_in = client.post_json("/auth/change-password", {"current_password": "x", "new_password": "y"},
                                     status=401)
    assert quota(not_signed_in) == (5, 4, START + WINDOW)  # change-password counts as sign-in does
    assert quota(login(client, "a@example.com", "wrong", status=401)) == (5, 3, START + WINDOW)
    # An address that never tried stands at a whole window from now.
    fresh = client.post_json("/auth/login", {"email": "bad"}, status=422, extra_environ={"REMOTE_ADDR": "192.0.2.9"})
    assert quota(fresh) == (5, 5, START + 5 + WINDOW)


def test_every_rate_limited_route_counts_its_attempts_in_its_headers(env, clock, user_with_password):
    _, signed_in = user_with_password(email="member@example.com")
    client = clocked_client(env, clock, rate_limit_attempts=4, rate_limit_window_seconds=WINDOW)
    attempts = [
        lambda: client.post_json("/auth/register", {"email": "new@example.com", "password": PASSWORD}, status=201),
        lambda: client.post_json("/auth/register", {"email": "new@example.com", "password": PASSWORD}, status=409),
        lambda: client.post_json("/auth/request-password-reset", {"email": "member@example.com"}, status=202),
        lambda: client.post_json("/auth/reset-password", {"token": "nope", "password": PASSWORD}, status=400),
        lambda: client.post_json("/auth/accept-invitation", {"token": "nope", "username": "newbie",
                                                             "password": PASSWORD}, status=400),
        lambda: client.post_json("/auth/change-password", {"current_password": "wrong", "new_password": PASSWORD},
                                 headers=signed_in, status=422),
    ]
    # (register counts per address and per account; the others have counts of their own)
    assert [quota(attempt())[1] for attempt in attempts] == [3, 2, 3, 3, 2, 3]
    assert quota(client.post_json("/auth/register", {"email": "x@example.com", "password": PASSWORD}))[1] == 1


def test_other_addresses_attempts_on_an_account_are_not_told(env, clock):
    """A reset counts per address and per account; the account's count, from every address,
    shows only once it refuses: until then it would tell anyone how many attempts others
    made on that email this window."""
    client = clocked_client(env, clock, rate_limit_attempts=4, rate_limit_window_seconds=WINDOW)
    for _ in range(2):
        client.post_json("/auth/request-password-reset", {"email": "victim@example.com"}, status=202)
    elsewhere = {"REMOTE_ADDR": "192.0.2.77"}

    def reset_from_elsewhere(status=202):
        return client.post_json("/auth/request-password-reset", {"email": "victim@example.com"}, status=status,
                                extra_environ=elsewhere)

    assert quota(reset_from_elsewhere()) == (4, 3, START + WINDOW)  # its own count: the account is at 3 of 4
    assert quota(reset_from_elsewhere()) == (4, 0, START + WINDOW)  # the account's last: the next is refused
    assert quota(reset_from_elsewhere(status=429))[1] == 0


def test_a_request_refused_before_routing_carries_the_count(env, clock):
    client = clocked_client(env, clock, rate_limit_attempts=5, rate_limit_window_seconds=WINDOW)
    assert quota(login(client, "a@example.com", "wrong", status=401)) == (5, 4, START + WINDOW)
    malformed = client.post("/auth/login?x=%00", status=400)
    assert quota(malformed) == (5, 4, START + WINDOW)


def test_the_counts_are_shared_by_every_worker(env, clock):
    # Two apps over one CACHE_KV, each with its own limiter: two gunicorn workers.
    first, second = (clocked_client(env, clock, rate_limit_attempts=4, rate_limit_window_seconds=WINDOW)
                     for _ in range(2))
    remaining = [quota(login(worker, "x@example.com", "wrong", status=401))[1] for worker in (first, second) * 2]
    assert remaining == [3, 2, 1, 0]
    assert quota(login(second, "x@example.com", "wrong", status=429))[1] == 0
    assert quota(login(first, "x@example.com", "wrong", status=429))[1] == 0


def test_routes_without_a_limit_send_none(env, clock, user_with_password):
    _, signed_in = user_with_password(email="member@example.com")
    client = clocked_client(env, clock)
    answers = [
        client.get("/auth/me", headers=signed_in),
        client.post("/auth/refresh", headers=signed_in),
        client.post("/auth/logout"),
        client.get("/api/collections"),
        client.options("/auth/login", headers={"Origin": "https://app.example.com",
                                               "Access-Control-Request-Method": "POST"}, status=204),
        client.get("/auth/login", status=303),  # SonicJS's sign-in page, on to the admin's
    ]
    assert [quota_sent(answer) for answer in answers] == [set()] * len(answers)
    assert quota_sent(login(client, "x@example.com", "wrong", status=401)) == {name.lower() for name in QUOTA}


def test_the_admin_sign_in_form_shares_the_count_but_sends_no_headers(env):
    # The form is for a browser, which reads the wait in the page; the headers are the JSON API's.
    browser = browser_for(env, rate_limit_attempts=3)
    page = browser.get("/admin/login")
    form = page.forms[0]
    form["email"], form["password"] = "x@example.com", "wrong"
    failed = form.submit(status=401)
    assert quota_sent(page) == quota_sent(failed) == set()
    # The same address's next attempt through the API sees the form's failure.
    api = fast_client(env, rate_limit_attempts=3)
    assert quota(login(api, "x@example.com", "wrong", status=401))[1] == 1
