"""The ``otp-login`` and ``magic-link-auth`` plugins: signing in with a mailed code or link.

Request-level, on both databases: the mail goes through the real SMTP server of
``tests/fixtures/smtp.py`` (or the recording ``Outbox`` where only the secret matters); time
passes by moving a row's ``expires_at`` or ``created_at``, as the reset-token tests do.
"""

import hashlib
import hmac
import threading
from dataclasses import replace
from urllib.parse import parse_qs, urlsplit

import pytest

from app.app import build_services, create_app
from app.db.models import MagicLink, OtpCode, User, bind_models, now_ms
from app.runtime.context import ExecutionContext, ScheduledEvent
from app.runtime.entry import Worker
from app.scheduled import purge_sign_in_secrets
from app.services import passwordless
from app.services.mail import MailSettings, SmtpMailer
from app.services.secret_keys import derived_key
from app.services.users import deactivate_user, update_user
from tests.fixtures.app import TEST_JWT_SECRET, settings_for_tests
from tests.fixtures.auth import concurrently, fast_client, json_request, reload
from tests.fixtures.conformance import ConformingTestApp
from tests.fixtures.mail import Outbox
from tests.fixtures.users import bearer, create_user, token_for
from tests.plugins import sign_in_recorder

pytestmark = pytest.mark.backends

BASE = "https://cms.example.org"
OTP = "otp-login"
MAGIC = "magic-link-auth"
SAME_ORIGIN = {"Sec-Fetch-Site": "same-origin"}
RECORDER = "tests.plugins.sign_in_recorder"
HOUR_MS = 3600 * 1000
DAY_MS = 24 * HOUR_MS


@pytest.fixture
def admin(env):
    bind_models(env.DB.db)
    return bearer(token_for(create_user("admin")))


@pytest.fixture
def web(env, outbox):
    """A client whose mail lands in ``outbox``, with a rate limit loose enough to reach the plugins' own."""
    bind_models(env.DB.db)
    return fast_client(env, outbox, public_base_url=BASE, rate_limit_attempts=50)


@pytest.fixture
def person(env):
    bind_models(env.DB.db)
    return create_user("editor", email="person@example.com")


def activate(client, admin, name, **settings):
    client.post(f"/admin/api/plugins/{name}/activate", headers=admin, status=200)
    if settings:
        client.patch_json(f"/admin/api/plugins/{name}", {"settings": settings}, headers=admin, status=200)


def codes(outbox):
    return [mail.link for mail in outbox.sent if mail.kind == "sign_in_code"]


def link_tokens(outbox):
    return outbox.tokens("magic_link")


def request_code(client, email="person@example.com", path="/auth/otp/request", **kwargs):
    return client.post_json(path, {"email": email}, status=202, **kwargs)


def verify_code(client, code, email="person@example.com", status=200, ip="127.0.0.1"):
    return client.post_json("/auth/otp/verify", {"email": email, "code": code}, status=status,
                            extra_environ={"REMOTE_ADDR": ip})


def wrong_for(code):
    return "0" * len(code) if code != "0" * len(code) else "1" * len(code)


def assert_envelope(response, status, error):
    assert response.status_int == status
    assert set(response.json) <= {"error", "details"} and response.json["error"] == error


def smtp_client(env, smtp_server):
    """A client mailing through a real SMTP server: ``(client, inbox)``."""
    port, inbox, _ = smtp_server("none")
    mail = MailSettings(backend="smtp", host="127.0.0.1", port=port, security="none", sender="cms@cms.example.org")
    settings = settings_for_tests(public_base_url=BASE, mail=mail, scrypt_n=2**14)
    services = replace(build_services(env, settings), mailer=SmtpMailer(mail))
    return ConformingTestApp(Worker(lambda: env, lambda e: create_app(e, settings, services))), inbox


# -- both plugins --------------------------------------------------------------------------


def test_both_plugins_start_inactive_and_their_routes_answer_404(web, admin, person, outbox):
    listed = {p["name"]: p for p in web.get("/admin/api/plugins", headers=admin).json["data"]}
    assert listed[OTP]["status"] == listed[MAGIC]["status"] == "inactive"
    assert listed[OTP]["settings"] == {"codeLength": 6, "codeExpiryMinutes": 10, "maxAttempts": 3,
                                       "rateLimitPerHour": 5, "maxFailuresPerDay": 10}
    assert listed[MAGIC]["settings"] == {"linkExpiryMinutes": 15, "rateLimitPerHour": 5}
    for path in ("/auth/otp/request", "/auth/otp/resend", "/auth/magic-link/request"):
        web.post_json(path, {"email": "person@example.com"}, status=404)
    web.post_json("/auth/otp/verify", {"email": "person@example.com", "code": "123456"}, status=404)
    web.get("/auth/magic-link/verify?token=anything", status=404)
    assert outbox.sent == [] and OtpCode.select().count() == MagicLink.select().count() == 0
    activate(web, admin, OTP)
    request_code(web)
    web.post(f"/admin/api/plugins/{OTP}/deactivate", headers=admin, status=200)
    verify_code(web, codes(outbox)[0], status=404)


def test_settings_are_validated(web, admin):
    for name, bad in ((OTP, {"codeLength": 4}), (OTP, {"maxAttempts": 0}), (OTP, {"unknown": 1}),
                      (MAGIC, {"linkExpiryMinutes": 61})):
        web.patch_json(f"/admin/api/plugins/{name}", {"settings": bad}, headers=admin, status=422)


def send_and_hold(client, path, email):
    """Send ``path`` ``{email}`` through the Worker and read the answer, its after-response work
    not run yet: ``(status, body, run)``, ``run()`` running that work."""
    ctx, answer = ExecutionContext(request_id="held"), {}

    def start_response(status, headers, exc_info=None):
        answer["status"] = status

    body = client.app.fetch(json_request(path, {"email": email}).environ, start_response, ctx=ctx)
    return answer["status"], b"".join(body), body.close


def test_the_request_routes_answer_before_any_lookup_or_write(web, admin, person, outbox):
    # Done within the request for real accounts only, the lookup and the write made their
    # answers measurably slower than an unknown address's: all of it comes after the answer.
    create_user("viewer", email="gone@example.com", is_active=False)
    activate(web, admin, OTP)
    activate(web, admin, MAGIC)
    for path in ("/auth/otp/request", "/auth/otp/resend", "/auth/magic-link/request"):
        answers = set()
        for email in ("person@example.com", "nobody@example.com", "gone@example.com"):
            rows, sent = OtpCode.select().count() + MagicLink.select().count(), len(outbox.sent)
            status, body, run = send_and_hold(web, path, email)
            answers.add((status, body))
            assert OtpCode.select().count() + MagicLink.select().count() == rows and len(outbox.sent) == sent
            run()
        assert len(answers) == 1 and answers.pop()[0] == "202 Accepted"
        assert [mail.email for mail in outbox.sent][-1:] == ["person@example.com"]
    assert len(codes(outbox)) == 2 and len(link_tokens(outbox)) == 1


def test_requests_from_one_address_do_not_hold_back_the_account_they_name(env, admin, person):
    # A limit per address asked for would let one client refuse the owner's own requests.
    outbox = Outbox()
    client = fast_client(env, outbox, rate_limit_attempts=3)
    activate(client, admin, OTP, rateLimitPerHour=20)
    activate(client, admin, MAGIC, rateLimitPerHour=20)
    attacker, owner = {"REMOTE_ADDR": "203.0.113.9"}, {"REMOTE_ADDR": "198.51.100.7"}
    for path in ("/auth/otp/request", "/auth/otp/resend", "/auth/magic-link/request"):
        client.post_json(path, {"email": "person@example.com"}, status=202, extra_environ=attacker)
    refused = client.post_json("/auth/magic-link/request", {"email": "person@example.com"}, status=429,
                               extra_environ=attacker)
    assert_envelope(refused, 429, refused.json["error"])
    request_code(client, extra_environ=owner)
    client.post_json("/auth/magic-link/request", {"email": "person@example.com"}, status=202, extra_environ=owner)
    assert len(codes(outbox)) == 3 and len(link_tokens(outbox)) == 2
    verify_code(client, codes(outbox)[-1], ip=owner["REMOTE_ADDR"])


def test_deactivation_ends_live_codes_and_links_and_reactivation_revives_none(web, admin, person, outbox):
    activate(web, admin, OTP)
    activate(web, admin, MAGIC)
    request_code(web)
    web.post_json("/auth/magic-link/request", {"email": "person@example.com"}, status=202)
    [code], [token] = codes(outbox), link_tokens(outbox)
    deactivate_user(person.id)
    update_user(person.id, {"is_active": True})
    assert web.get("/auth/magic-link/verify", {"token": token}, status=303).location.endswith("link=invalid")
    web.post_json("/auth/magic-link/verify", {"token": token}, status=400)
    verify_code(web, code, status=401)
    # What the reactivated account asks for now works.
    request_code(web)
    verify_code(web, codes(outbox)[-1])


def test_a_new_password_ends_live_codes_and_links(web, admin, person, outbox):
    activate(web, admin, OTP)
    activate(web, admin, MAGIC)
    request_code(web)
    web.post_json("/auth/magic-link/request", {"email": "person@example.com"}, status=202)
    update_user(person.id, {"password_hash": "scrypt$elsewhere"})
    web.post_json("/auth/magic-link/verify", {"token": link_tokens(outbox)[0]}, status=400)
    verify_code(web, codes(outbox)[0], status=401)


def test_passwordless_sign_ins_run_the_after_auth_login_hooks(env, admin, person):
    outbox = Outbox()
    client = fast_client(env, outbox, plugins=(RECORDER,))
    activate(client, admin, "sign-in-recorder")
    activate(client, admin, OTP)
    activate(client, admin, MAGIC)
    sign_in_recorder.SIGNED_IN.clear()
    request_code(client)
    verify_code(client, codes(outbox)[0])
    assert sign_in_recorder.SIGNED_IN == ["person@example.com"]
    client.post_json("/auth/magic-link/request", {"email": "person@example.com"}, status=202)
    client.post_json("/auth/magic-link/verify", {"token": link_tokens(outbox)[0]}, status=200)
    assert sign_in_recorder.SIGNED_IN == ["person@example.com", "person@example.com"]


# -- one-time codes ------------------------------------------------------------------------


def test_a_mailed_code_signs_in_once_as_login_does(env, admin, person, smtp_server):
    client, inbox = smtp_client(env, smtp_server)
    activate(client, admin, OTP)
    answer = request_code(client)
    assert answer.json == {"success": True, "message": "If an account exists for this email, a sign-in code has "
                                                       "been sent", "expiresIn": 600}
    [(_, recipients, message)] = inbox.messages
    assert recipients == ["person@example.com"] and message["Subject"] == "Your sign-in code"
    [code] = [line.strip() for line in message.get_content().splitlines() if line.strip().isdigit()]
    assert len(code) == 6
    # Only a keyed digest is stored: neither the code nor its plain SHA-256.
    [row] = OtpCode.select()
    assert code not in row.code_hash and row.code_hash != hashlib.sha256(code.encode()).hexdigest()

    session = verify_code(client, code)
    assert session.json["user"]["email"] == "person@example.com" and session.json["user"]["role"] == "editor"
    assert session.headers["Cache-Control"] == "no-store"
    cookie = next(h for h in session.headers.getall("Set-Cookie") if h.startswith("auth_token="))
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
    assert client.get("/auth/me", headers=bearer(session.json["token"])).json["user"]["email"] == "person@example.com"
    assert reload(person).last_login_at is not None
    assert_envelope(verify_code(client, code, status=401), 401, "Invalid or expired code")  # used


def test_a_code_digest_is_keyed_with_a_key_of_its_own_not_the_app_secret(web, admin, person, outbox):
    """The app's secret signs session tokens: an HMAC under it here could be one a token check takes."""
    activate(web, admin, OTP)
    request_code(web)
    [code], row = codes(outbox), OtpCode.get()
    message = f"{row.id}:{code}".encode()
    assert row.code_hash != hmac.new(TEST_JWT_SECRET.encode(), message, hashlib.sha256).hexdigest()
    key = derived_key(TEST_JWT_SECRET, passwordless.CODE_KEY_PURPOSE)
    assert row.code_hash == hmac.new(key, message, hashlib.sha256).hexdigest()
    verify_code(web, code)


def test_an_email_change_between_the_lookup_and_the_write_mails_nothing(web, admin, person, outbox, monkeypatch):
    """The secret would go to the old address, stamped with the version the change gave the
    account: it would sign in whoever still reads the old mailbox."""
    activate(web, admin, OTP)
    activate(web, admin, MAGIC)
    looked_up = passwordless.active_user

    def then_changed(email):
        user = looked_up(email)
        if user is not None:
            update_user(user.id, {"email": "moved@example.com"})
        return user

    with monkeypatch.context() as patch:
        patch.setattr(passwordless, "active_user", then_changed)
        request_code(web)
        update_user(person.id, {"email": "person@example.com"})
        web.post_json("/auth/magic-link/request", {"email": "person@example.com"}, status=202)
    assert outbox.sent == []
    assert OtpCode.select().count() == MagicLink.select().count() == 0


def test_unknown_and_inactive_addresses_get_the_same_answer_and_no_mail(web, admin, person, outbox, env):
    create_user("viewer", email="gone@example.com", is_active=False)
    activate(web, admin, OTP)
    activate(web, admin, MAGIC)
    known = request_code(web).json
    for email in ("nobody@example.com", "gone@example.com"):
        assert request_code(web, email).json == known
        assert request_code(web, email, path="/auth/otp/resend").json == known
        verify_code(web, "123456", email=email, status=401)
        unknown_link = web.post_json("/auth/magic-link/request", {"email": email}, status=202).json
    assert unknown_link == web.post_json("/auth/magic-link/request", {"email": "person@example.com"}, status=202).json
    assert [mail.email for mail in outbox.sent] == ["person@example.com", "person@example.com"]


def test_a_wrong_code_is_401_and_the_code_dies_after_max_attempts(web, admin, person, outbox):
    activate(web, admin, OTP)
    request_code(web)
    [code] = codes(outbox)
    wrong = "000000" if code != "000000" else "111111"
    assert_envelope(verify_code(web, wrong, status=401), 401, "Invalid or expired code")
    verify_code(web, code)  # two tries left: the right one works
    request_code(web)
    code = codes(outbox)[-1]
    wrong = "000000" if code != "000000" else "111111"
    for _ in range(3):
        verify_code(web, wrong, status=401)
    verify_code(web, code, status=401)  # three tries spent: dead, even with the right code
    assert OtpCode.get(OtpCode.used_at.is_null()).attempts == 3


def test_an_expired_code_is_refused(web, admin, person, outbox):
    activate(web, admin, OTP)
    request_code(web)
    OtpCode.update(expires_at=now_ms() - 1).execute()
    verify_code(web, codes(outbox)[0], status=401)


def test_a_new_code_voids_the_earlier_one(web, admin, person, outbox):
    activate(web, admin, OTP)
    request_code(web)
    request_code(web, path="/auth/otp/resend")
    first, second = codes(outbox)
    if first != second:
        verify_code(web, first, status=401)
    verify_code(web, second)


def test_codes_per_hour_are_capped_silently(web, admin, person, outbox):
    activate(web, admin, OTP, rateLimitPerHour=2, codeLength=8, codeExpiryMinutes=5)
    answers = [request_code(web).json for _ in range(3)]
    assert answers[0] == answers[2] and answers[0]["expiresIn"] == 300
    assert len(codes(outbox)) == 2 and all(len(code) == 8 for code in codes(outbox))
    # The third was not sent: the second code is still the live one.
    verify_code(web, codes(outbox)[1])
    OtpCode.update(created_at=OtpCode.created_at - HOUR_MS).execute()  # an hour passes
    request_code(web)
    assert len(codes(outbox)) == 3


def test_wrong_codes_count_against_the_sign_in_limit(env, admin, person):
    outbox = Outbox()
    client = fast_client(env, outbox, rate_limit_attempts=3)
    activate(client, admin, OTP, maxAttempts=10)
    request_code(client)
    for _ in range(3):
        verify_code(client, "99999999", status=401, ip="203.0.113.9")
    response = verify_code(client, codes(outbox)[0], status=429, ip="203.0.113.9")
    assert response.headers["X-RateLimit-Remaining"] == "0" and "Retry-After" in response.headers
    verify_code(client, codes(outbox)[0], ip="198.51.100.7")  # another address is not held back


def test_wrong_tries_are_budgeted_per_day_across_new_codes(web, admin, person, outbox):
    # Without a budget that outlives the code, a new code every few guesses would give
    # maxAttempts x rateLimitPerHour guesses an hour, for ever.
    activate(web, admin, OTP, maxAttempts=4, maxFailuresPerDay=6)
    request_code(web)
    verify_code(web, codes(outbox)[-1])  # a sign-in spends none of the budget
    request_code(web)
    for _ in range(4):
        verify_code(web, wrong_for(codes(outbox)[-1]), status=401)
    request_code(web)  # the earlier code is dead; its four failures stay counted
    for _ in range(2):
        verify_code(web, wrong_for(codes(outbox)[-1]), status=401)
    refused = verify_code(web, codes(outbox)[-1], status=401)  # the right code, past the budget
    assert_envelope(refused, 401, "Invalid or expired code")
    request_code(web)
    verify_code(web, codes(outbox)[-1], status=401)  # a new code buys no new guesses
    # Refused before counting: the newest code has no attempt.
    assert [row.attempts for row in OtpCode.select().order_by(OtpCode.created_at)] == [1, 4, 2, 0]
    OtpCode.update(created_at=OtpCode.created_at - DAY_MS).execute()  # the day passes
    request_code(web)
    verify_code(web, codes(outbox)[-1])


def test_parallel_wrong_guesses_never_exceed_max_attempts(web, admin, person, outbox):
    activate(web, admin, OTP, maxAttempts=3, maxFailuresPerDay=100)
    request_code(web)
    [code] = codes(outbox)
    guess = {"email": "person@example.com", "code": wrong_for(code)}
    statuses = concurrently(web.app, [json_request("/auth/otp/verify", guess, ip=f"203.0.113.{n}")
                                      for n in range(1, 9)])
    assert statuses == [401] * 8
    assert OtpCode.get().attempts == 3
    verify_code(web, code, status=401)  # the three tries are spent: dead


def test_verify_takes_json_only(web, admin, person):
    activate(web, admin, OTP)
    web.post("/auth/otp/verify", {"email": "person@example.com", "code": "123456"}, status=415)


@pytest.mark.parametrize("code", ["12345a", "123456\n", ""])
def test_a_code_is_digits_only(web, admin, person, code):
    activate(web, admin, OTP)
    refused = web.post_json("/auth/otp/verify", {"email": "person@example.com", "code": code}, status=422).json
    assert refused["details"][0]["field"] == "code"


# -- magic links ---------------------------------------------------------------------------


def link_path(link):
    parts = urlsplit(link)
    assert f"{parts.scheme}://{parts.netloc}" == BASE and parts.path == "/auth/magic-link/verify"
    return f"{parts.path}?{parts.query}"


def test_a_mailed_link_opens_a_page_whose_button_signs_in_once(env, admin, person, smtp_server):
    client, inbox = smtp_client(env, smtp_server)
    activate(client, admin, MAGIC)
    answer = client.post_json("/auth/magic-link/request", {"email": "person@example.com"}, status=202)
    assert answer.json["expiresIn"] == 900
    [(_, recipients, message)] = inbox.messages
    assert recipients == ["person@example.com"] and message["Subject"] == "Your sign-in link"
    link = next(line for line in message.get_content().splitlines() if line.startswith(BASE))
    token = parse_qs(urlsplit(link).query)["token"][0]
    assert MagicLink.get().token_hash == hashlib.sha256(token.encode()).hexdigest()

    page = client.get(link_path(link) + "&next=/admin/content", status=200)
    assert page.content_type == "text/html" and page.headers["Referrer-Policy"] == "no-referrer"
    form = page.forms[0]
    assert form.method.lower() == "post" and form["token"].value == token and form["next"].value == "/admin/content"
    client.get(link_path(link), status=200)  # opening it twice (a mail scanner) spends nothing
    assert MagicLink.get().used_at is None

    signed_in = form.submit(headers=SAME_ORIGIN, status=303)
    assert signed_in.location.endswith("/admin/content")
    assert any(h.startswith("auth_token=") for h in signed_in.headers.getall("Set-Cookie"))
    assert reload(person).last_login_at is not None
    assert client.get("/auth/me").json["user"]["email"] == "person@example.com"  # the cookie
    again = client.get(link_path(link), status=303)
    assert again.location.endswith("/admin/login?link=invalid")
    client.cookiejar.clear()  # signed in, the sign-in page would send the browser on
    assert "invalid, expired or already used" in client.get("/admin/login?link=invalid").text


def test_json_clients_post_the_token_for_a_session(web, admin, person, outbox):
    activate(web, admin, MAGIC)
    web.post_json("/auth/magic-link/request", {"email": "person@example.com"}, status=202)
    [token] = link_tokens(outbox)
    session = web.post_json("/auth/magic-link/verify", {"token": token}, status=200)
    assert session.json["user"]["email"] == "person@example.com" and session.json["token"]
    assert_envelope(web.post_json("/auth/magic-link/verify", {"token": token}, status=400), 400,
                    "Invalid or expired sign-in link")
    json_page = web.get(f"/auth/magic-link/verify?token={token}", headers={"Accept": "application/json"}, status=400)
    assert_envelope(json_page, 400, "Invalid or expired sign-in link")


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/x", "/\\evil.example", "/\t/evil.example",
                                    "javascript:alert(1)", "admin"])
def test_next_never_leaves_the_site(web, admin, person, outbox, target):
    activate(web, admin, MAGIC)
    web.post_json("/auth/magic-link/request", {"email": "person@example.com"}, status=202)
    [token] = link_tokens(outbox)
    form = web.get("/auth/magic-link/verify", {"token": token, "next": target}).forms[0]
    assert form["next"].value == "/admin"
    posted = web.post("/auth/magic-link/verify", {"token": token, "next": target}, headers=SAME_ORIGIN, status=303)
    assert urlsplit(posted.location).path == "/admin" and urlsplit(posted.location).netloc in ("", "localhost")


def test_a_form_from_another_origin_signs_nobody_in(web, admin, person, outbox):
    activate(web, admin, MAGIC)
    web.post_json("/auth/magic-link/request", {"email": "person@example.com"}, status=202)
    [token] = link_tokens(outbox)
    for headers in ({"Sec-Fetch-Site": "cross-site"}, {"Sec-Fetch-Site": "same-site"},
                    {"Origin": "https://evil.example"}):
        refused = web.post("/auth/magic-link/verify", {"token": token}, headers=headers, status=403)
        assert_envelope(refused, 403, "Cross-origin request refused")
    assert MagicLink.get().used_at is None
    web.post("/auth/magic-link/verify", {"token": token}, headers=SAME_ORIGIN, status=303)


def test_expired_and_replaced_links_are_refused(web, admin, person, outbox):
    activate(web, admin, MAGIC)
    for _ in range(2):
        web.post_json("/auth/magic-link/request", {"email": "person@example.com"}, status=202)
    first, second = link_tokens(outbox)
    assert web.get("/auth/magic-link/verify", {"token": first}, status=303).location.endswith("link=invalid")
    MagicLink.update(expires_at=now_ms() - 1).execute()
    web.get("/auth/magic-link/verify", {"token": second}, status=303)
    web.post_json("/auth/magic-link/verify", {"token": second}, status=400)
    refused = web.post("/auth/magic-link/verify", {"token": second}, headers=SAME_ORIGIN, status=303)
    assert refused.location.endswith("/admin/login?link=invalid")


def held_together(db, monkeypatch, prefix, parties=2):
    """Make the first ``parties`` statements of ``db`` starting with ``prefix`` wait for one
    another before they run: requests that checked a secret all get to consume it at once,
    whatever the backend (SQLite's one writer would otherwise let each finish alone)."""
    barrier, waited, lock = threading.Barrier(parties, timeout=30), [], threading.Lock()
    original = db.execute_sql

    def execute_sql(sql, *args, **kwargs):
        with lock:
            wait = sql.startswith(prefix) and len(waited) < parties
            waited.append(sql) if wait else None
        if wait:
            barrier.wait()
        return original(sql, *args, **kwargs)

    monkeypatch.setattr(db, "execute_sql", execute_sql)
    return waited


def test_a_secret_signs_in_once_even_under_a_race(web, admin, person, outbox, env, monkeypatch):
    activate(web, admin, OTP)
    activate(web, admin, MAGIC)
    request_code(web)
    web.post_json("/auth/magic-link/request", {"email": "person@example.com"}, status=202)
    [code], [token] = codes(outbox), link_tokens(outbox)
    body = {"email": "person@example.com", "code": code}
    with monkeypatch.context() as patch:
        waited = held_together(env.DB.db, patch, 'UPDATE "otp_codes" SET "used_at"')
        assert sorted(concurrently(web.app, [json_request("/auth/otp/verify", body) for _ in range(2)])) == [200, 401]
        assert len(waited) == 2  # both got past the comparison: the consuming UPDATE decided
    with monkeypatch.context() as patch:
        waited = held_together(env.DB.db, patch, 'UPDATE "magic_links" SET "used_at"')
        assert sorted(concurrently(web.app, [json_request("/auth/magic-link/verify", {"token": token})
                                             for _ in range(2)])) == [200, 400]
        assert len(waited) == 2


def test_a_deactivated_account_cannot_use_its_link(web, admin, person, outbox):
    activate(web, admin, MAGIC)
    web.post_json("/auth/magic-link/request", {"email": "person@example.com"}, status=202)
    [token] = link_tokens(outbox)
    User.update(is_active=False).where(User.id == person.id).execute()
    web.post_json("/auth/magic-link/verify", {"token": token}, status=400)


def test_links_per_hour_are_capped_silently(web, admin, person, outbox):
    activate(web, admin, MAGIC, rateLimitPerHour=1)
    first = web.post_json("/auth/magic-link/request", {"email": "person@example.com"}, status=202).json
    assert web.post_json("/auth/magic-link/request", {"email": "person@example.com"}, status=202).json == first
    assert len(link_tokens(outbox)) == 1
    MagicLink.update(created_at=MagicLink.created_at - HOUR_MS).execute()
    web.post_json("/auth/magic-link/request", {"email": "person@example.com"}, status=202)
    assert len(link_tokens(outbox)) == 2


def test_the_link_page_names_the_account_it_signs_in_to(web, admin, person, outbox):
    # A link its author forwards would sign the visitor in to the author's account.
    activate(web, admin, MAGIC)
    web.post_json("/auth/magic-link/request", {"email": "person@example.com"}, status=202)
    [token] = link_tokens(outbox)
    page = web.get("/auth/magic-link/verify", {"token": token}, status=200)
    assert "p\u2022\u2022\u2022@example.com" in page.text and "person@example.com" not in page.text
    assert "You are signed in as" not in page.text
    visitor = create_user("author", email="visitor@example.com")
    web.set_cookie("auth_token", token_for(visitor))
    warned = web.get("/auth/magic-link/verify", {"token": token}, status=200)
    assert "You are signed in as <strong>visitor@example.com</strong>, another account" in warned.text
    web.set_cookie("auth_token", token_for(person))
    assert "You are signed in as" not in web.get("/auth/magic-link/verify", {"token": token}, status=200).text
    assert MagicLink.get().used_at is None  # reading the account consumed nothing


def stylesheets(page):
    return [link["href"] for link in page.html.select("head link[rel=stylesheet]")]


def assert_sign_in_layout(page):
    """``page`` wears the admin's sign-in layout: its stylesheets, which are served, and its
    main column without the admin's nav."""
    assert stylesheets(page) and all(page.test_app.get(href, status=200) for href in stylesheets(page))
    assert any(href.startswith("/admin/static/admin.css?v=") for href in stylesheets(page))
    assert page.html.select_one("main#main.container > article.narrow > h1").text == "Sign in"
    assert page.html.select_one("header nav") is None


def test_the_services_read_the_static_files_only_when_an_app_needs_them(env):
    settings = settings_for_tests(public_base_url=BASE)
    services = build_services(env, settings)  # all the scheduled jobs and the CLI build
    assert "assets" not in vars(services.pages)  # the static folder not read nor hashed
    web = ConformingTestApp(Worker(lambda: env, lambda e: create_app(e, settings, services)))
    page = web.get("/admin/login")
    assert stylesheets(page) and all(web.get(href, status=200) for href in stylesheets(page))
    assert "assets" in vars(services.pages)


def test_the_link_page_and_its_refusals_wear_the_sign_in_pages_layout(web, admin, person, outbox):
    activate(web, admin, MAGIC)
    login = web.get("/admin/login")
    web.post_json("/auth/magic-link/request", {"email": "person@example.com"}, status=202)
    [token] = link_tokens(outbox)
    target = '/admin/content?q="><b>x</b>'
    page = web.get("/auth/magic-link/verify", {"token": token, "next": target}, status=200)
    assert_sign_in_layout(page)
    assert stylesheets(page) == stylesheets(login)
    # The page holds a live sign-in token: it loads no script, and its policy allows none.
    assert page.headers["Content-Security-Policy"] == ("default-src 'none'; style-src 'self'; img-src data:; "
                                                       "form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
    assert page.html.select("script") == [] and login.html.select("script[src]")  # the admin's pages keep theirs
    assert page.headers["Referrer-Policy"] == "no-referrer" and page.headers["Cache-Control"] == "no-store"
    assert "admin_csrf" not in page.headers.get("Set-Cookie", "")  # the page's form needs no admin token
    assert page.html.select_one("meta[name=robots]")["content"] == "noindex"
    assert "<b>x</b>" not in page.text and "&#34;&gt;&lt;b&gt;x&lt;/b&gt;" in page.text
    form = page.forms[0]
    assert form["next"].value == target and form["token"].value == token
    assert page.html.select_one("form button[type=submit]").text == "Sign in as p\u2022\u2022\u2022@example.com"

    visitor = create_user("author", email='<i>"o&amp;x</i>@example.com')
    web.set_cookie("auth_token", token_for(visitor))
    warned = web.get("/auth/magic-link/verify", {"token": token}, status=200)
    assert_sign_in_layout(warned)
    notice = warned.html.select_one("article.narrow p.message.error[role=alert]")
    assert notice.strong.text == '<i>"o&amp;x</i>@example.com' and "<i>" not in warned.text
    assert warned.forms[0]["token"].value == token  # the nav's sign-out form is not there
    web.cookiejar.clear()

    signed_in = page.forms[0].submit(headers=SAME_ORIGIN, status=303)
    web.cookiejar.clear()  # signed in, the sign-in page would send the browser on
    for used in (web.get("/auth/magic-link/verify", {"token": token}, status=303),
                 web.post("/auth/magic-link/verify", {"token": token}, headers=SAME_ORIGIN, status=303)):
        refused = used.follow(status=200)
        assert_sign_in_layout(refused)
        assert "invalid, expired or already used" in refused.html.select_one("p.message.error[role=alert]").text
    assert urlsplit(signed_in.location).path == "/admin/content"


# -- clean-up ------------------------------------------------------------------------------


def test_the_cron_job_deletes_rows_a_day_after_their_creation(web, admin, person, outbox, env):
    activate(web, admin, OTP)
    activate(web, admin, MAGIC)
    request_code(web)
    web.post_json("/auth/magic-link/request", {"email": "person@example.com"}, status=202)
    created = OtpCode.get().created_at
    # Long expired, still counted by the daily failure budget: kept.
    assert purge_sign_in_secrets(ScheduledEvent("* * * * *", created + DAY_MS - 1000), env) == {
        "sign_in_codes_purged": 0, "sign_in_links_purged": 0}
    later = max(created, MagicLink.get().created_at) + DAY_MS + 1
    assert purge_sign_in_secrets(ScheduledEvent("* * * * *", later), env) == {
        "sign_in_codes_purged": 1, "sign_in_links_purged": 1}
    assert OtpCode.select().count() == MagicLink.select().count() == 0
