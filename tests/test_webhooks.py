"""Webhooks: registration, signed deliveries after the response, retries by the cron handler, the log."""

import hashlib
import hmac
import http.server
import json
import socket
import ssl
import threading
import time

import pytest

from app.app import create_app
from app.db.models import Webhook, WebhookDelivery, bind_models, now_ms
from app.runtime.context import ScheduledEvent
from app.runtime.entry import Worker
from app.scheduled import run_scheduled
from app.services import webhooks
from app.services.cache import GENERATION_TTL_SECONDS, ThreeTierCache
from app.services.metrics import request_metrics
from tests.fixtures.app import env_with_copy, record_statements, settings_for_tests
from tests.fixtures.conformance import ConformingTestApp
from tests.fixtures.content import create_collection
from tests.fixtures.users import bearer, create_user, token_for
from tests.fixtures.webhook_receiver import Receiver

SECRET = "a-webhook-secret-of-some-length"
MINUTE_MS = 60_000


@pytest.fixture
def receiver():
    receiver = Receiver()
    yield receiver
    receiver.server.shutdown()


def client_for_env(env, **settings):
    app_settings = settings_for_tests(**settings)
    return ConformingTestApp(Worker(lambda: env, lambda e: create_app(e, app_settings)))


@pytest.fixture
def env(tmp_path, migrated_template):
    """An env whose bindings.toml allows private targets (the receiver is on loopback): the
    cron handler reads it from there."""
    env = env_with_copy(tmp_path / "app", migrated_template, vars={"WEBHOOKS_ALLOW_PRIVATE_TARGETS": "true"})
    yield env
    env.DB.db.close()


@pytest.fixture
def web(env):
    bind_models(env.DB.db)
    return client_for_env(env, webhooks_allow_private_targets=True)


@pytest.fixture
def admin(env):
    bind_models(env.DB.db)
    return bearer(token_for(create_user("admin")))


def register(web, admin, url, events=("content.published",), status=201, **extra):
    body = {"url": url, "events": list(events), "secret": SECRET, **extra}
    return web.post_json("/admin/api/webhooks", body, headers=admin, status=status).json


def publish(web, admin):
    create_collection("pages")
    item = web.post_json("/api/content", {"collectionId": "pages", "title": "Hello"}, headers=admin, status=201)
    item_id = item.json["data"]["id"]
    web.post_json(f"/api/content/{item_id}/workflow", {"action": "publish"}, headers=admin, status=200)
    return item_id


def test_a_publication_is_delivered_signed(web, admin, receiver):
    hook = register(web, admin, receiver.url)["data"]
    assert hook["secret"] == SECRET and hook["events"] == ["content.published"]
    item_id = publish(web, admin)
    [(headers, body)] = receiver.received  # content.created is not wanted: one delivery
    payload = json.loads(body)
    assert payload["event"] == "content.published" and payload["data"]["id"] == item_id
    assert headers["Content-Type"] == "application/json" and headers["X-Sonicpy-Event"] == "content.published"
    timestamp, signature = (part.split("=", 1)[1] for part in headers["X-Sonicpy-Signature"].split(","))
    expected = hmac.new(SECRET.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(signature, expected)
    [delivery] = web.get(f"/admin/api/webhooks/{hook['id']}/deliveries", headers=admin).json["data"]
    assert (delivery["status"], delivery["attempts"], delivery["response_status"]) == ("delivered", 1, 204)


def test_a_failing_receiver_is_retried_with_backoff_by_the_cron_handler(env, web, admin, receiver):
    receiver.fail = 2
    hook = register(web, admin, receiver.url, events=["*"])["data"]
    web.post_json(f"/admin/api/webhooks/{hook['id']}", {}, headers=admin, status=405)
    test = web.post(f"/admin/api/webhooks/{hook['id']}/test", headers=admin, status=202).json["data"]
    row = WebhookDelivery.get_by_id(test["id"])
    assert (row.status, row.attempts, row.last_error) == ("pending", 1, "HTTP 500")
    first_retry = row.next_attempt_at
    run_scheduled(ScheduledEvent("* * * * *", first_retry - 1), env)
    assert WebhookDelivery.get_by_id(test["id"]).attempts == 1  # not due yet
    run_scheduled(ScheduledEvent("* * * * *", first_retry), env)
    row = WebhookDelivery.get_by_id(test["id"])
    assert (row.status, row.attempts) == ("pending", 2)
    assert row.next_attempt_at == first_retry + 2 * MINUTE_MS  # backoff doubles
    run_scheduled(ScheduledEvent("* * * * *", row.next_attempt_at), env)
    log = web.get(f"/admin/api/webhooks/{hook['id']}/deliveries", headers=admin).json
    [delivery] = log["data"]
    assert (delivery["status"], delivery["attempts"], delivery["response_status"]) == ("delivered", 3, 204)
    assert receiver.events() == ["webhook.test"] * 3 and log["meta"]["total"] == 1
    registry = request_metrics().registry
    assert registry.get_sample_value("sonicpy_webhook_attempts_total", {"outcome": "failed"}) >= 2
    assert registry.get_sample_value("sonicpy_webhook_attempts_total", {"outcome": "delivered"}) >= 1


def test_retries_pause_while_the_plugin_is_inactive_and_resume_after(env, web, admin, receiver):
    receiver.fail = 1
    hook = register(web, admin, receiver.url, events=["*"])["data"]
    delivery_id = web.post(f"/admin/api/webhooks/{hook['id']}/test", headers=admin, status=202).json["data"]["id"]
    due = WebhookDelivery.get_by_id(delivery_id).next_attempt_at
    web.post("/admin/api/plugins/webhooks/deactivate", headers=admin, status=200)
    result = run_scheduled(ScheduledEvent("* * * * *", due), env)["retry_webhook_deliveries"]
    assert result == {"webhook_deliveries": {"paused": 1}}
    row = WebhookDelivery.get_by_id(delivery_id)
    assert (row.status, row.attempts, len(receiver.received)) == ("pending", 1, 1)
    web.post("/admin/api/plugins/webhooks/activate", headers=admin, status=200)
    run_scheduled(ScheduledEvent("* * * * *", due + MINUTE_MS), env)
    row = WebhookDelivery.get_by_id(delivery_id)
    assert (row.status, row.attempts, len(receiver.received)) == ("delivered", 2, 2)


def test_gives_up_after_the_last_attempt(env, web, admin, receiver):
    receiver.fail = 99
    hook = register(web, admin, receiver.url, events=["*"])["data"]
    delivery_id = web.post(f"/admin/api/webhooks/{hook['id']}/test", headers=admin, status=202).json["data"]["id"]
    for hours in range(1, webhooks.MAX_ATTEMPTS + 2):
        run_scheduled(ScheduledEvent("* * * * *", now_ms() + hours * 3_600_000), env)
    row = WebhookDelivery.get_by_id(delivery_id)
    assert (row.status, row.attempts, row.next_attempt_at) == ("failed", webhooks.MAX_ATTEMPTS, None)


@pytest.fixture
def broken_receiver():
    broken = Receiver(answer="garbage")
    yield broken
    broken.server.shutdown()


def test_a_malformed_answer_is_a_failed_attempt_and_the_other_deliveries_still_go(env, web, admin, receiver,
                                                                                  broken_receiver):
    register(web, admin, broken_receiver.url, events=["content.created"])
    register(web, admin, receiver.url, events=["content.created"])
    web.post_json("/api/content", {"collectionId": create_collection("pages").id, "title": "A"}, headers=admin,
                  status=201)
    assert receiver.events() == ["content.created"]  # sent although the first endpoint's answer was garbage
    [bad] = WebhookDelivery.select().where(WebhookDelivery.status == "pending")
    assert bad.attempts == 1 and bad.last_error and bad.next_attempt_at is not None
    for hours in range(1, webhooks.MAX_ATTEMPTS + 1):
        report = run_scheduled(ScheduledEvent("* * * * *", now_ms() + hours * 3_600_000), env)
        assert "error" not in report["retry_webhook_deliveries"]
    bad = WebhookDelivery.get_by_id(bad.id)
    assert (bad.status, bad.attempts) == ("failed", webhooks.MAX_ATTEMPTS)
    assert len(broken_receiver.received) == webhooks.MAX_ATTEMPTS


def test_an_event_is_queued_for_every_endpoint_or_for_none(env, web, admin, receiver):
    register(web, admin, receiver.url, events=["content.created"])
    second = register(web, admin, receiver.url, events=["content.created"])["data"]["id"]
    # The database refuses the second endpoint's delivery: a real fault mid-fan-out.
    env.DB.db.execute_sql("CREATE TRIGGER refuse_second BEFORE INSERT ON webhook_deliveries"
                          f" WHEN NEW.webhook_id = '{second}' BEGIN SELECT RAISE(ABORT, 'refused'); END")
    web.post_json("/api/content", {"collectionId": create_collection("pages").id, "title": "A"}, headers=admin,
                  status=201)
    assert WebhookDelivery.select().count() == 0 and receiver.received == []
    env.DB.db.execute_sql("DROP TRIGGER refuse_second")
    web.post_json("/api/content", {"collectionId": "pages", "title": "B"}, headers=admin, status=201)
    assert WebhookDelivery.select().count() == 2 and receiver.events() == ["content.created"] * 2


def test_an_attempt_gets_the_timeout_in_all_however_slowly_the_answer_trickles(env, admin, monkeypatch):
    slow = Receiver(answer="trickle")
    try:
        monkeypatch.setattr(webhooks, "TIMEOUT_SECONDS", 1)
        hook = webhooks.create_webhook(slow.url, ["*"], True)
        [delivery] = webhooks.enqueue(webhooks.TEST_EVENT, {}, [hook.id])
        assert webhooks.attempt(delivery.id, True) == "pending"
        row = WebhookDelivery.get_by_id(delivery.id)
        assert row.last_error == "no complete answer within 1 s"
    finally:
        slow.server.shutdown()


def test_an_https_attempt_is_cut_at_the_timeout_even_when_the_handshake_ends_past_it(env, admin, tls_files,
                                                                                     monkeypatch):
    """A slow connect plus a slow handshake outlast the deadline: the answer must still be cut."""
    cert, key = tls_files
    monkeypatch.setattr(webhooks, "TIMEOUT_SECONDS", 1)
    trusting = ssl.create_default_context
    monkeypatch.setattr(webhooks.ssl, "create_default_context", lambda: trusting(cafile=str(cert)))
    connect = socket.create_connection

    def distant(*args, **kwargs):  # half the budget spent reaching the receiver
        time.sleep(0.5)
        return connect(*args, **kwargs)

    monkeypatch.setattr(socket, "create_connection", distant)
    listener = socket.create_server(("127.0.0.1", 0))
    outcome = []

    def trickling_receiver():
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(str(cert), str(key))
        raw, _ = listener.accept()
        time.sleep(0.6)  # the handshake ends after the deadline
        try:
            with context.wrap_socket(raw, server_side=True) as tls:
                tls.recv(65536)
                tls.sendall(b"HTTP/1.1 200 OK\r\n")
                for _ in range(40):  # 12 s of a header trickled a byte at a time
                    tls.sendall(b"X")
                    time.sleep(0.3)
            outcome.append("trickled to the end")
        except OSError:  # ssl.SSLError included: the client cut the handshake or the answer
            outcome.append("cut")

    thread = threading.Thread(target=trickling_receiver, daemon=True)
    thread.start()
    hook = webhooks.create_webhook(f"https://127.0.0.1:{listener.getsockname()[1]}/hook", ["*"], True)
    [delivery] = webhooks.enqueue(webhooks.TEST_EVENT, {}, [hook.id])
    webhooks.attempt(delivery.id, True)
    thread.join(30)
    listener.close()
    assert outcome == ["cut"]
    assert WebhookDelivery.get_by_id(delivery.id).last_error == "no complete answer within 1 s"


def refused_dials(monkeypatch):
    """The addresses the attempt dials from now on, each refused: nothing leaves the machine."""
    dialed = []

    def refuse(address, *args, **kwargs):
        dialed.append(address)
        raise ConnectionRefusedError("not in this test")

    monkeypatch.setattr(socket, "create_connection", refuse)
    return dialed


def test_the_attempt_connects_to_the_address_that_was_checked(env, admin, receiver, monkeypatch):
    """DNS rebinding: a name answering a public address to the check and loopback after."""
    hook = webhooks.create_webhook(receiver.url, ["*"], True)
    type(hook).update(url=receiver.url.replace("127.0.0.1", "rebind.example")).execute()
    answers = iter(["93.184.216.34", "127.0.0.1", "127.0.0.1"])
    monkeypatch.setattr(socket, "getaddrinfo", lambda host, port, **kw: [
        (socket.AF_INET, socket.SOCK_STREAM, 6, "", (next(answers), port))])
    dialed = refused_dials(monkeypatch)
    [delivery] = webhooks.enqueue(webhooks.TEST_EVENT, {}, [hook.id])
    webhooks.attempt(delivery.id, False)
    assert [host for host, _ in dialed] == ["93.184.216.34"] and receiver.received == []


@pytest.mark.parametrize(("url", "said"), [
    ("http://example.com:99999/x", "not a valid URL"), ("http://[::1/x", "not a valid URL"),
    ("ftp://example.com/x", "http or https"), ("http://example.com:0/x", "port 0"),
    ("https://user:hunter2@example.com/x", "user name or password"),
    ("https://token@example.com/x", "user name or password"), ("https://@example.com/x", "user name or password"),
    ("https://example.com/x\r\nX-Injected: 1", "spaces or control characters"),
    ("https://example.com/a b", "spaces or control characters"), ("https://example.com/\x7f", "control characters"),
])
def test_a_malformed_url_is_a_422(web, admin, receiver, url, said):
    response = web.post_json("/admin/api/webhooks", {"url": url, "events": ["*"]}, headers=admin, status=422)
    [problem] = response.json["details"]
    assert problem["field"] == "url" and said in problem["message"] and "hunter2" not in response.text
    hook = register(web, admin, receiver.url, events=["*"])
    web.patch_json(f"/admin/api/webhooks/{hook['data']['id']}", {"url": url}, headers=admin, status=422)
    assert [kept["url"] for kept in web.get("/admin/api/webhooks", headers=admin).json["data"]] == [receiver.url]


def test_an_endpoint_stored_with_credentials_keeps_its_url_through_an_edit_that_sends_it_back(web, admin, receiver):
    # Saved before such URLs were refused: sent back as it is with another change, it stands.
    hook = register(web, admin, receiver.url, events=["*"])["data"]
    stored = receiver.url.replace("http://", "http://user:pw@")
    Webhook.update(url=stored).where(Webhook.id == hook["id"]).execute()
    edited = web.patch_json(f"/admin/api/webhooks/{hook['id']}", {"url": stored, "events": ["content.published"]},
                            headers=admin, status=200).json["data"]
    assert (edited["url"], edited["events"]) == (stored, ["content.published"])


def test_an_edit_that_takes_a_published_item_offline_says_so(web, admin, receiver):
    """The review rule's move (an author's edit of a live item) is a workflow move like any other."""
    author = bearer(token_for(create_user("author")))
    create_collection("pages")
    item_id = web.post_json("/api/content", {"collectionId": "pages", "title": "Mine"}, headers=author,
                            status=201).json["data"]["id"]
    web.post_json(f"/api/content/{item_id}/workflow", {"action": "publish"}, headers=admin, status=200)
    register(web, admin, receiver.url, events=["*"])
    web.put_json(f"/api/content/{item_id}", {"title": "Mine, edited"}, headers=author, status=200)
    web.get(f"/api/content/{item_id}", status=404)  # offline until published again
    assert sorted(receiver.events()) == ["content.unpublished", "content.updated", "content.workflow"]


def test_an_update_that_changes_nothing_sends_no_event(web, admin, receiver):
    create_collection("pages")
    item = web.post_json("/api/content", {"collectionId": "pages", "title": "Same"}, headers=admin,
                         status=201).json["data"]
    register(web, admin, receiver.url, events=["*"])
    web.put_json(f"/api/content/{item['id']}", {}, headers=admin, status=200)
    web.put_json(f"/api/content/{item['id']}", {"title": "Same", "data": item["data"]}, headers=admin, status=200)
    assert receiver.events() == []
    web.put_json(f"/api/content/{item['id']}", {"title": "Changed"}, headers=admin, status=200)
    assert receiver.events() == ["content.updated"]


def test_purging_a_live_published_item_says_it_is_deleted_and_offline(web, admin, receiver):
    item_id = publish(web, admin)
    register(web, admin, receiver.url, events=["*"])
    web.delete(f"/api/content/{item_id}?hard=true", headers=admin, status=200)
    assert sorted(receiver.events()) == ["content.deleted", "content.unpublished"]
    trashed = web.post_json("/api/content", {"collectionId": "pages", "title": "Trashed"}, headers=admin,
                            status=201).json["data"]["id"]
    web.delete(f"/api/content/{trashed}", headers=admin, status=200)
    before = len(receiver.received)
    web.delete(f"/api/content/{trashed}?hard=true", headers=admin, status=200)
    assert len(receiver.received) == before  # its deletion was told when it went to the trash


def test_private_targets_are_refused_unless_allowed(env, admin, receiver):
    strict = client_for_env(env)
    for url in (receiver.url, "http://10.1.2.3/x", "http://169.254.169.254/latest", "ftp://example.com/x"):
        response = strict.post_json("/admin/api/webhooks", {"url": url, "events": ["*"]}, headers=admin, status=422)
        assert response.json["details"][0]["field"] == "url"


# Not globally reachable, though Python 3.11 calls them global: IETF Protocol Assignments
# (192.0.0.0/24, but for two anycast services), the IPv6 dummy and documentation prefixes and
# SRv6's segment identifiers.
@pytest.mark.parametrize("address", ["192.0.0.8", "192.0.0.200", "[100:0:0:1::1]", "[3fff::1]", "[5f00::1]"])
def test_addresses_reserved_for_special_purposes_are_refused(env, admin, address):
    strict = client_for_env(env)
    response = strict.post_json("/admin/api/webhooks", {"url": f"http://{address}/", "events": ["*"]},
                                headers=admin, status=422)
    assert response.json["details"] == [{"field": "url", "message": f"{address.strip('[]')} is a private or "
                                                                    "loopback address; "
                                                                    "WEBHOOKS_ALLOW_PRIVATE_TARGETS allows it"}]


@pytest.mark.parametrize("address", ["192.0.0.9", "192.0.0.10"])
def test_the_globally_reachable_protocol_assignments_are_accepted(env, admin, address):
    strict = client_for_env(env)
    strict.post_json("/admin/api/webhooks", {"url": f"http://{address}/", "events": ["*"]}, headers=admin,
                     status=201)


# IPv6 forms Python calls global although they reach a private IPv4 address, or are never
# routed on the internet: IPv4-compatible loopback, site-local, NAT64 and 6to4 of the
# metadata address, Teredo with the metadata server and a private client, SIIT's
# IPv4-translated loopback and metadata address; and a global multicast group.
DISGUISED_PRIVATE = ["::127.0.0.1", "fec0::1", "64:ff9b::a9fe:a9fe", "64:ff9b:1::a9fe:a9fe", "2002:a9fe:a9fe::1",
                     "2001:0:a9fe:a9fe::f5ff:fffe", "::ffff:169.254.169.254", "::ffff:0:7f00:1",
                     "::ffff:0:a9fe:a9fe", "ff0e::1"]


@pytest.mark.parametrize("address", DISGUISED_PRIVATE)
def test_ipv6_addresses_embedding_private_ones_are_refused(env, admin, address):
    strict = client_for_env(env)
    response = strict.post_json("/admin/api/webhooks", {"url": f"http://[{address}]/hook", "events": ["*"]},
                                headers=admin, status=422)
    assert response.json["details"] == [{"field": "url", "message": f"{address} is a private or loopback address; "
                                                                    "WEBHOOKS_ALLOW_PRIVATE_TARGETS allows it"}]


@pytest.mark.parametrize("address", ["2606:4700:4700::1111", "64:ff9b::808:808", "2002:808:808::1"])
def test_global_ipv6_targets_are_accepted(env, admin, address):
    strict = client_for_env(env)
    strict.post_json("/admin/api/webhooks", {"url": f"http://[{address}]/hook", "events": ["*"]},
                     headers=admin, status=201)


@pytest.mark.parametrize("address", ["64:ff9b::a9fe:a9fe", "2002:a9fe:a9fe::1", "fec0::1"])
def test_an_attempt_to_a_name_now_answering_a_disguised_private_address_is_not_made(env, admin, monkeypatch,
                                                                                    address):
    hook = webhooks.create_webhook("http://hooks.example/in", ["*"], True)
    monkeypatch.setattr(socket, "getaddrinfo", lambda host, port, **kw: [
        (socket.AF_INET6, socket.SOCK_STREAM, 6, "", (address, port, 0, 0))])
    dialed = refused_dials(monkeypatch)
    [delivery] = webhooks.enqueue(webhooks.TEST_EVENT, {}, [hook.id])
    webhooks.attempt(delivery.id, False)
    assert dialed == []
    assert WebhookDelivery.get_by_id(delivery.id).last_error == (
        "hooks.example is a private or loopback address; WEBHOOKS_ALLOW_PRIVATE_TARGETS allows it")


def test_responses_showing_the_secret_are_not_stored(web, admin, receiver):
    created = web.post_json("/admin/api/webhooks", {"url": receiver.url, "events": ["*"], "secret": SECRET},
                            headers=admin, status=201)
    assert created.json["data"]["secret"] == SECRET and created.headers["Cache-Control"] == "no-store"
    replaced = web.patch_json(f"/admin/api/webhooks/{created.json['data']['id']}", {"secret": SECRET[::-1]},
                              headers=admin)
    assert replaced.json["data"]["secret"] == SECRET[::-1] and replaced.headers["Cache-Control"] == "no-store"


def test_crud_and_validation(web, admin, receiver):
    created = register(web, admin, receiver.url, description="mine")["data"]
    assert web.get(f"/admin/api/webhooks/{created['id']}", headers=admin).json["data"].get("secret") is None
    listed = web.get("/admin/api/webhooks", headers=admin).json
    assert [h["id"] for h in listed["data"]] == [created["id"]] and listed["meta"]["total"] == 1
    patched = web.patch_json(f"/admin/api/webhooks/{created['id']}", {"active": False, "events": ["media.uploaded"]},
                             headers=admin).json["data"]
    assert (patched["active"], patched["events"]) == (False, ["media.uploaded"])
    register(web, admin, receiver.url, events=["content.nope"], status=422)
    register(web, admin, receiver.url, events=[], status=422)
    web.post_json("/admin/api/webhooks", {"url": receiver.url, "events": ["*"], "secret": "short"},
                  headers=admin, status=422)
    web.delete(f"/admin/api/webhooks/{created['id']}", headers=admin, status=200)
    web.get(f"/admin/api/webhooks/{created['id']}", headers=admin, status=404)


def test_events_are_stored_once_each_and_the_test_event_is_not_subscribed_to(web, admin, receiver):
    twice = register(web, admin, receiver.url, events=["content.created", "media.uploaded", "content.created"])
    assert twice["data"]["events"] == ["content.created", "media.uploaded"]
    everything = register(web, admin, receiver.url, events=["content.created", "*"])["data"]
    assert everything["events"] == ["*"]
    patched = web.patch_json(f"/admin/api/webhooks/{everything['id']}", {"events": ["media.deleted"] * 2},
                             headers=admin).json["data"]
    assert patched["events"] == ["media.deleted"]
    # The test button sends webhook.test to an endpoint whatever it wants: it is no event to want,
    # left out of what is stored, also from an endpoint stored with it and sent back as read.
    refused = register(web, admin, receiver.url, events=["webhook.test"], status=422)
    assert refused["details"][0]["field"] == "events" and "at least one event" in refused["details"][0]["message"]
    Webhook.update(events=["content.published", "webhook.test"]).where(Webhook.id == everything["id"]).execute()
    read = web.get(f"/admin/api/webhooks/{everything['id']}", headers=admin).json["data"]
    sent_back = web.patch_json(f"/admin/api/webhooks/{everything['id']}", {"events": read["events"], "active": False},
                               headers=admin).json["data"]
    assert sent_back["events"] == ["content.published"]


def test_a_url_with_letters_beyond_ascii_is_delivered_to_percent_encoded(web, admin, receiver):
    register(web, admin, f"{receiver.url}/café?for=zoë")
    publish(web, admin)
    assert receiver.paths == ["/hook/caf%C3%A9?for=zo%C3%AB"]


def test_inactive_endpoints_get_nothing(web, admin, receiver):
    register(web, admin, receiver.url, events=["*"], active=False)
    publish(web, admin)
    assert receiver.received == []


def test_a_retry_to_an_endpoint_deactivated_since_is_not_sent(env, web, admin, receiver):
    receiver.fail = 1
    hook = register(web, admin, receiver.url, events=["content.created"])["data"]
    web.post_json("/api/content", {"collectionId": create_collection("pages").id, "title": "A"}, headers=admin,
                  status=201)
    [row] = WebhookDelivery.select()
    assert (row.status, row.attempts, len(receiver.received)) == ("pending", 1, 1)
    web.patch_json(f"/admin/api/webhooks/{hook['id']}", {"active": False}, headers=admin, status=200)
    run_scheduled(ScheduledEvent("* * * * *", row.next_attempt_at), env)
    row = WebhookDelivery.get_by_id(row.id)
    assert (row.status, row.attempts, row.last_error) == ("failed", 1, webhooks.DEACTIVATED)
    assert len(receiver.received) == 1


def test_an_attempt_being_made_is_not_sent_again_by_the_cron(env, web, admin):
    """The write's own attempt holds its claim while it waits for the receiver: a cron run
    meanwhile finds nothing to send."""
    arrived, answer, received = threading.Event(), threading.Event(), []

    class Slow(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            received.append(self.headers["X-Sonicpy-Delivery"])
            arrived.set()
            answer.wait(30)
            self.send_response(204)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Slow)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        hook = register(web, admin, f"http://127.0.0.1:{server.server_address[1]}/hook", events=["*"])["data"]
        [delivery] = webhooks.enqueue(webhooks.TEST_EVENT, {}, webhook_ids=[hook["id"]])
        first = threading.Thread(target=webhooks.attempt, args=(delivery.id, True))
        first.start()
        assert arrived.wait(30)
        outcome = run_scheduled(ScheduledEvent("* * * * *", now_ms()), env)["retry_webhook_deliveries"]
        answer.set()
        first.join(30)
    finally:
        answer.set()
        server.shutdown()
    assert outcome == {"webhook_deliveries": {}} and received == [delivery.id]
    row = WebhookDelivery.get_by_id(delivery.id)
    assert (row.status, row.attempts) == ("delivered", 1)


def test_webhook_routes_are_for_admins_and_follow_the_plugin(web, admin, env):
    editor = bearer(token_for(create_user("editor")))
    web.get("/admin/api/webhooks", headers=editor, status=403)
    web.get("/admin/api/webhooks", status=401)
    web.post("/admin/api/plugins/webhooks/deactivate", headers=admin, status=200)
    web.get("/admin/api/webhooks", headers=admin, status=404)


def test_a_down_receiver_never_fails_the_write(web, admin):
    from tests.fixtures.process import free_port

    register(web, admin, f"http://127.0.0.1:{free_port()}/gone", events=["*"])
    publish(web, admin)
    assert {row.status for row in WebhookDelivery.select()} == {"pending"}


def test_webhooks_on_postgres(tmp_path, migrated_postgres_url, receiver):
    from tests.fixtures.app import make_env

    env = make_env(tmp_path / "pg", database_url=migrated_postgres_url,
                   vars={"WEBHOOKS_ALLOW_PRIVATE_TARGETS": "true"})
    bind_models(env.DB.db)
    web = client_for_env(env, webhooks_allow_private_targets=True)
    admin = bearer(token_for(create_user("admin")))
    receiver.fail = 1
    hook = register(web, admin, receiver.url, events=["content.published", "content.created"])["data"]
    publish(web, admin)
    assert receiver.events() == ["content.created", "content.published"]
    run_scheduled(ScheduledEvent("* * * * *", now_ms() + 2 * MINUTE_MS), env)
    log = web.get(f"/admin/api/webhooks/{hook['id']}/deliveries", headers=admin).json["data"]
    assert sorted((d["event"], d["status"], d["attempts"]) for d in log) == [
        ("content.created", "delivered", 2), ("content.published", "delivered", 1)]
    web.delete(f"/admin/api/webhooks/{hook['id']}", headers=admin, status=200)
    assert WebhookDelivery.select().count() == 0
    env.DB.db.close()


def test_a_scheduled_publication_is_delivered_by_the_cron_process(env, web, admin, receiver):
    """``python worker.py scheduled`` serves no app: the handler loads the plugins itself."""
    from app.services.plugins import hooks

    register(web, admin, receiver.url)
    create_collection("pages")
    item_id = web.post_json("/api/content", {"collectionId": "pages", "title": "Later"}, headers=admin).json["data"]["id"]
    when = now_ms() + MINUTE_MS
    web.post_json(f"/api/content/{item_id}/schedule", {"action": "publish", "scheduled_at": when}, headers=admin,
                  status=201)
    hooks.set_process_default(None)  # as in a process that built no app
    run_scheduled(ScheduledEvent("* * * * *", when + 1), env)
    assert receiver.events() == ["content.published"]


# ------------------------------------------------------------------ the cached "any endpoint active?"


def test_an_endpoint_registered_after_writes_saw_none_gets_the_next_events(web, admin, receiver, env,
                                                                             monkeypatch):
    create_collection("pages")
    web.post_json("/api/content", {"collectionId": "pages", "title": "Before"}, headers=admin, status=201)
    statements = record_statements(env.DB.db, monkeypatch)
    web.post_json("/api/content", {"collectionId": "pages", "title": "Unseen"}, headers=admin, status=201)
    assert not [sql for sql, _ in statements if '"webhooks"' in sql]  # the cache knows there is none

    hook = register(web, admin, receiver.url, events=["content.created"])["data"]
    web.post_json("/api/content", {"collectionId": "pages", "title": "Seen"}, headers=admin, status=201)
    assert [json.loads(body)["data"]["title"] for _, body in receiver.received] == ["Seen"]

    web.patch_json(f"/admin/api/webhooks/{hook['id']}", {"active": False}, headers=admin, status=200)
    web.post_json("/api/content", {"collectionId": "pages", "title": "Off"}, headers=admin, status=201)
    web.patch_json(f"/admin/api/webhooks/{hook['id']}", {"active": True}, headers=admin, status=200)
    web.post_json("/api/content", {"collectionId": "pages", "title": "On"}, headers=admin, status=201)
    web.delete(f"/admin/api/webhooks/{hook['id']}", headers=admin, status=200)
    web.post_json("/api/content", {"collectionId": "pages", "title": "Gone"}, headers=admin, status=201)
    assert [json.loads(body)["data"]["title"] for _, body in receiver.received] == ["Seen", "On"]


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def test_another_workers_change_is_seen_within_the_generation_ttl(env, admin):
    # Two workers' caches over one CACHE_KV: a change made through one reaches the other once
    # the generations it trusts expire; a stale "some endpoint is active" costs a read, never
    # a delivery to an endpoint that is gone.
    clock = Clock()
    mine, other = (ThreeTierCache(env.CACHE_KV, clock=clock) for _ in range(2))
    assert webhooks.any_active(mine) is False

    hook = webhooks.create_webhook("http://127.0.0.1:9/in", ["*"], True, cache=other)
    assert webhooks.any_active(other) is True
    assert webhooks.any_active(mine) is False and webhooks.enqueue("content.created", {}, cache=mine) == []
    clock.now += GENERATION_TTL_SECONDS
    assert webhooks.any_active(mine) is True

    webhooks.update_webhook(hook.id, {"is_active": False}, True, cache=other)
    assert webhooks.any_active(mine) is True and webhooks.enqueue("content.created", {}, cache=mine) == []
    clock.now += GENERATION_TTL_SECONDS
    assert webhooks.any_active(mine) is False

    webhooks.update_webhook(hook.id, {"is_active": True}, True, cache=other)
    clock.now += GENERATION_TTL_SECONDS
    assert [row.webhook_id for row in webhooks.enqueue("content.created", {}, cache=mine)] == [hook.id]
    webhooks.delete_webhook(hook.id, cache=other)
    assert webhooks.enqueue("content.created", {}, cache=mine) == []


def test_without_a_cache_every_event_reads_the_endpoints(env):
    bind_models(env.DB.db)
    assert webhooks.any_active(None) is False
    hook = webhooks.create_webhook("http://127.0.0.1:9/in", ["content.created"], True)
    assert webhooks.any_active(None) is True
    assert [row.webhook_id for row in webhooks.enqueue("content.created", {})] == [hook.id]
