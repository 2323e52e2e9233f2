"""The response headers the OpenAPI document declares are the ones real answers carry.

For each real request below, the answer is compared with the document's response for its
operation and status (``default`` when the status is not named):

* every header the document declares as ``required`` is on the answer;
* every header of ``WATCHED`` the answer carries is declared there.

Headers declared ``required: false`` are sent only sometimes (their description says when):
the requests below include ones that make each such header appear, and assert that it did
(a write refused by a busy database for ``Retry-After``), and a write whose bookmark cannot
be read, which answers without ``x-d1-bookmark``. HEAD
answers are checked against the document's ``head`` operations as GET answers are.
"""

import pytest
import webtest

from app.db.database import open_database
from app.db.models import bind_models
from app.runtime.config import ConfigError
from app.runtime.d1.database import D1Database
from app.runtime.d1.replicas import Replica
from app.runtime.entry import Worker
from tests.fixtures import media as samples
from tests.fixtures.app import app_for
from tests.fixtures.auth import fast_client, login
from tests.fixtures.busy_database import database_held, short_wait_env
from tests.fixtures.conformance import Conformance, ConformingTestApp
from tests.fixtures.content import insert_items
from tests.fixtures.media import upload
from tests.fixtures.postgres import _admin_connection
from tests.fixtures.users import bearer, create_user, token_for

pytestmark = pytest.mark.backends

# The headers clients act on: caching and concurrency, creation, back-off, cache diagnostics
# and D1 sessions. Lower case, as compared.
WATCHED = {
    "etag", "location", "retry-after", "x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-reset",
    "x-cache-status", "x-cache-source", "x-d1-bookmark",
}
EVERY_RESPONSE = {"x-request-id", "x-response-time"}  # declared required everywhere; checked, not returned


@pytest.fixture
def doc(client):
    return client.get("/api/openapi.json").json


@pytest.fixture
def served(client, doc):
    """The served document's operations, matched as the app's routes match (a file's key spans '/')."""
    return Conformance(doc, client.conformance().spanning)


def declared(served, method, path, status):
    """``{lower-case name: Header Object}`` the document declares for ``method path`` answering ``status``."""
    _, operation = served.operation(method, path)
    responses = operation["responses"]
    response = responses.get(str(status), responses["default"])
    headers = {}
    for name, header in response.get("headers", {}).items():
        if "$ref" in header:
            header = served.document["components"]["headers"][header["$ref"].rsplit("/", 1)[1]]
        headers[name.lower()] = header
    return headers


def checked(served, response):
    """The WATCHED headers ``response`` carries, once checked against the document (see the module notes)."""
    request = response.request
    found = declared(served, request.method, request.path_info, response.status_int)
    sent = {name.lower() for name in response.headers}
    where = f"{request.method} {request.path_info} answered {response.status_int}"
    assert (sent & WATCHED) - set(found) == set(), f"{where}: sent but not declared"
    assert {name for name, header in found.items() if header["required"]} - sent == set(), f"{where}: declared, not sent"
    assert set(found) >= EVERY_RESPONSE, f"{where}: {EVERY_RESPONSE - set(found)} not declared"
    return sent & WATCHED


@pytest.fixture
def item(blog_collection, as_author):
    author, _ = as_author
    [item_id] = insert_items(blog_collection, author, 1)
    return item_id


READ = {"etag", "x-cache-status", "x-cache-source"}


@pytest.mark.parametrize("url", [
    "/api/content", "/api/content/{item}", "/api/collections/blog/content", "/api/collections/blog/content/item-0",
])
def test_content_reads_and_their_304(client, served, item, as_editor, url):
    url = url.format(item=item)
    first = client.get(url)
    assert checked(served, first) == READ
    assert checked(served, client.get(url)) == READ  # now from the cache
    etag = first.headers["ETag"]
    assert checked(served, client.get(url, headers={"If-None-Match": etag}, status=304)) == READ
    assert checked(served, client.head(url)) == READ
    assert checked(served, client.head(url, headers={"If-None-Match": etag}, status=304)) == READ
    # An editor's answer is never cached; it says so with the same headers.
    _, editor = as_editor
    assert checked(served, client.get(url, headers=editor)) == READ


def test_a_read_echoes_the_bookmark_it_was_sent(client, served, item, as_editor):
    _, editor = as_editor
    written = client.put_json(f"/api/content/{item}", {"title": "Changed"}, headers=editor)
    bookmark = written.headers["x-d1-bookmark"]
    read = client.get(f"/api/content/{item}", headers={"x-d1-bookmark": bookmark})
    assert checked(served, read) == READ | {"x-d1-bookmark"}
    not_modified = client.get(f"/api/content/{item}", headers={"x-d1-bookmark": bookmark,
                                                                  "If-None-Match": read.headers["ETag"]}, status=304)
    assert checked(served, not_modified) == READ | {"x-d1-bookmark"}
    missing = client.get("/api/content/no-such-item", headers={"x-d1-bookmark": bookmark}, status=404)
    assert checked(served, missing) == {"x-d1-bookmark"}


def test_content_writes(client, served, blog_collection, as_editor):
    _, editor = as_editor
    created = client.post_json("/api/content", {"collectionId": "blog", "title": "New", "data": {"title": "New"}},
                               headers=editor, status=201)
    assert checked(served, created) == {"location", "etag", "x-d1-bookmark"}
    url = created.headers["Location"]
    updated = client.put_json(url, {"title": "Newer"}, headers={**editor, "If-Match": created.headers["ETag"]})
    assert checked(served, updated) == {"etag", "x-d1-bookmark"}
    stale = client.put_json(url, {"title": "Stale"}, headers={**editor, "If-Match": created.headers["ETag"]},
                            status=409)
    assert checked(served, stale) == set()
    assert checked(served, client.delete(url, headers=editor)) == {"x-d1-bookmark"}
    restored = client.post(f"{url}/restore", headers=editor)
    assert checked(served, restored) == {"etag", "x-d1-bookmark"}


def test_collections_list_says_where_it_came_from(client, served, blog_collection):
    assert checked(served, client.get("/api/collections")) == {"x-cache-status", "x-cache-source"}
    assert checked(served, client.get("/api/collections")) == {"x-cache-status", "x-cache-source"}
    assert checked(served, client.head("/api/collections")) == {"x-cache-status", "x-cache-source"}


def test_a_head_refused_for_want_of_a_caller_is_documented(client, served):
    refused = client.head("/admin/api/users", status=401)
    assert refused.body == b"" and checked(served, refused) == set()
    assert "401" in served.operation("HEAD", "/admin/api/users")[1]["responses"]


def test_a_browser_sent_to_sign_in_gets_what_the_document_declares(client, served, blog_collection):
    navigation = {"Accept": "text/html"}
    for path, query in (("/admin/api/users", ""), ("/api/content", "?status=draft"),
                        ("/api/collections/blog/content", "?status=draft")):
        for response in (client.get(path + query, headers=navigation, status=303),
                         client.head(path + query, headers=navigation, status=303)):
            assert checked(served, response) == {"location"}
            assert served.operation(response.request.method, path)[1]["responses"]["303"]


QUOTA = {"x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-reset"}


def test_rate_limited_sign_in_says_where_the_caller_stands_and_when_to_retry(env, served, user_with_password):
    client = fast_client(env, rate_limit_attempts=1)
    user_with_password(email="limited@example.com")
    assert checked(served, login(client, "limited@example.com")) == QUOTA | {"x-d1-bookmark"}  # a write
    invalid = client.post_json("/auth/login", {"email": "limited@example.com"}, status=422)
    assert checked(served, invalid) == QUOTA
    assert checked(served, login(client, "limited@example.com", "wrong", status=401)) == QUOTA
    refused = login(client, "limited@example.com", "wrong", status=429)
    assert checked(served, refused) == QUOTA | {"retry-after"}


def test_only_the_rate_limited_operations_declare_the_quota_on_every_status(doc):
    limited = {("/auth/login", "post"), ("/auth/register", "post"), ("/auth/change-password", "post"),
               ("/auth/request-password-reset", "post"), ("/auth/reset-password", "post"),
               ("/auth/accept-invitation", "post"), ("/api/tokens", "post"),
               # The current password that giving the admin role may take counts as a sign-in.
               ("/admin/api/users", "post"), ("/admin/api/users/invite", "post"),
               ("/admin/api/users/{user_id}", "patch"), ("/admin/api/users/{user_id}/invitation", "post"),
               # Forms: each post counts against the caller's address.
               ("/forms/{name}/submit", "post"), ("/api/forms/{name}/submit", "post"), ("/forms/{name}", "post"),
               # AI Search: every search and suggestion counts against the caller's address.
               ("/api/search", "post"), ("/api/search/suggest", "get"), ("/api/search/suggest", "head")}
    for path, item in doc["paths"].items():
        for method, operation in item.items():
            for status, response in operation["responses"].items():
                headers = {name.lower(): header for name, header in response["headers"].items()}
                if (path, method) not in limited:
                    assert not set(headers) & QUOTA, (method, path, status)
                    continue
                declared = {name for name in QUOTA if name in headers}
                required = {name for name in QUOTA if headers.get(name, {}).get("required")}
                # The request guard refuses a path holding a control character before any route
                # (and quota) is known: a path with parameters may answer that 400 without them.
                guarded = "{" in path and status in ("400", "default")
                assert declared == QUOTA and required == (set() if guarded else QUOTA), (method, path, status)
                # A 503 says when to come back too (a busy or unreachable database).
                assert ("retry-after" in headers) == (status in ("429", "503")), (method, path, status)
            if (path, method) in limited:
                assert operation["responses"]["429"]["headers"]["Retry-After"]["required"] is True


def test_sign_out_link_and_webhook_creation_name_where_to_go(client, served, make_user):
    assert checked(served, client.get("/auth/logout", status=303)) == {"location"}
    _, admin = make_user("admin")
    created = client.post_json("/admin/api/webhooks", {"url": "https://93.184.215.14/hook", "events": ["*"]},
                               headers=admin, status=201)
    assert checked(served, created) == {"location", "x-d1-bookmark"}


def test_files_answer_their_etag(client, served, make_user):
    _, admin = make_user("admin")
    stored = upload(client, admin, "a.png", samples.png())
    assert checked(served, stored) == {"x-d1-bookmark"}
    url = stored.json["file"]["publicUrl"]
    whole = client.get(url, headers=admin)
    assert checked(served, whole) == {"etag"}
    etag = whole.headers["ETag"]
    assert checked(served, client.get(url, headers={**admin, "Range": "bytes=0-3"}, status=206)) == {"etag"}
    assert checked(served, client.get(url, headers={**admin, "If-None-Match": etag}, status=304)) == {"etag"}
    assert checked(served, client.get(url, headers={**admin, "If-Match": '"other"'}, status=412)) == {"etag"}
    assert checked(served, client.head(url, headers=admin)) == {"etag"}
    assert checked(served, client.head(url, headers={**admin, "If-Match": '"other"'}, status=412)) == {"etag"}


def test_every_response_declares_the_bookmark_and_writes_their_own(doc):
    for path, item in doc["paths"].items():
        for method, operation in item.items():
            for status, response in operation["responses"].items():
                ref = response["headers"]["x-d1-bookmark"]["$ref"]
                written = method not in ("get", "head", "options") and status != "default" and int(status) < 400
                assert ref.endswith("/D1BookmarkAfterWrite" if written else "/D1Bookmark"), (method, path, status)
    # Not even a write promises it: its bookmark is read after the answer, which may fail.
    assert {name: header["required"] for name, header in doc["components"]["headers"].items()
            if name.startswith("D1Bookmark")} == {"D1Bookmark": False, "D1BookmarkAfterWrite": False}


@pytest.fixture
def replicated_env(env, postgres_replica):
    """``env`` whose DB has the suite's streaming replica: a write's bookmark is then the
    primary's position, read from the primary once the write has answered."""
    primary = env.DB
    replica = Replica(D1Database(open_database(postgres_replica.url(primary.db.database))))
    env.bindings["DB"] = D1Database(primary.db, primary.config, replicas=[replica])
    yield env
    replica.close()
    env.bindings["DB"] = primary


class PrimaryGoneAfterWrite:
    """Has the server end the request's connection to the primary once a write has answered.
    Added last, its ``process_response`` runs before the D1 session's, which then asks that
    dead connection for the bookmark: a real outage, as after a restart of the server."""

    def __init__(self, server_port):
        self._port = server_port

    def process_response(self, req, resp, resource, req_succeeded):
        if req.method in ("GET", "HEAD"):
            return
        db = req.context.env.DB.db
        pid = db.connection().get_backend_pid()
        conn = _admin_connection(self._port, db.database)
        try:
            with conn.cursor() as cursor:
                # Waits (up to 10 s) until the backend has exited, so the next query finds it gone.
                cursor.execute("SELECT pg_terminate_backend(%s, 10000)", (pid,))
                assert cursor.fetchone()[0] is True
        finally:
            conn.close()


@pytest.mark.parametrize("db_backend", ["postgres"], indirect=True)  # replicas are PostgreSQL's
def test_a_write_whose_bookmark_cannot_be_read_answers_without_it(replicated_env, postgres_server, served, item,
                                                                   as_editor, caplog):
    _, editor = as_editor
    client = ConformingTestApp(Worker(lambda: replicated_env, app_for))
    written = client.put_json(f"/api/content/{item}", {"title": "Changed"}, headers=editor)
    assert checked(served, written) == {"etag", "x-d1-bookmark"}  # the bookmark, while the primary answers

    def build(env):
        app = app_for(env)
        app.add_middleware(PrimaryGoneAfterWrite(postgres_server.port))
        return app

    faulty = ConformingTestApp(Worker(lambda: replicated_env, build))
    written = faulty.put_json(f"/api/content/{item}", {"title": "Changed again"}, headers=editor)
    assert checked(served, written) == {"etag"}  # written, answered, and the document allows it
    assert any("no x-d1-bookmark for PUT" in record.getMessage() for record in caplog.records)
    assert client.get(f"/api/content/{item}").json["data"]["title"] == "Changed again"


def test_routes_that_call_the_media_store_declare_its_retry_after(doc):
    for path, method in (("/files/{key}", "get"), ("/files/{key}", "head"), ("/api/media/upload", "post"),
                         ("/api/media/upload-multiple", "post"), ("/api/media/{media_id}", "delete"),
                         ("/api/media/{media_id}/purge", "delete")):
        unavailable = doc["paths"][path][method]["responses"]["503"]
        assert unavailable["headers"]["Retry-After"]["required"] is False


def test_the_content_create_declares_its_retry_after_of_a_schema_that_kept_changing(doc):
    retry_after = doc["paths"]["/api/content"]["post"]["responses"]["503"]["headers"]["Retry-After"]
    assert "schema kept changing" in retry_after["description"]


# The operations that answer a health report of their own as their 503.
HEALTH_REPORTS = {("/health", "get"), ("/api/health", "get"), ("/api/system/health", "get")}


def test_every_operation_declares_the_retry_after_of_a_busy_or_unreachable_database(doc):
    for path, item in doc["paths"].items():
        for method, operation in item.items():
            unavailable = operation["responses"]["503"]
            twin = "get" if method == "head" else method
            if (path, twin) in HEALTH_REPORTS:
                # Their 503 is their report, or the envelope of a worker that could not start.
                retry_after = unavailable["headers"]["Retry-After"]
                assert retry_after["required"] is False and "could not start" in retry_after["description"]
                continue
            retry_after = unavailable["headers"]["Retry-After"]
            assert retry_after["required"] is False and retry_after["schema"] == {"type": "integer"}, (method, path)
            assert "the database is busy (1) or unreachable (5)" in retry_after["description"], (method, path)
            if method != "head":
                schema = unavailable["content"]["application/json"]["schema"]
                assert schema == operation["responses"]["default"]["content"]["application/json"]["schema"]


def test_a_busy_database_answers_the_retry_after_the_document_declares(stack, tmp_path, request, served):
    busy = short_wait_env(stack, tmp_path / "busy", request)
    bind_models(busy.DB.db)
    admin = bearer(token_for(create_user("admin")))
    client = ConformingTestApp(Worker(lambda: busy, app_for))
    with database_held(busy):
        refused = client.post_json("/admin/api/collections", {"name": "blog", "displayName": "Blog"},
                                   headers=admin, status=503)
    assert checked(served, refused) == {"retry-after"}


def test_a_health_check_of_a_worker_that_cannot_start_answers_what_the_document_declares(served):
    def cannot_build_env():
        raise ConfigError("bindings.toml: the database cannot be opened yet")

    client = webtest.TestApp(Worker(cannot_build_env, app_for))
    for path in ("/health", "/api/health", "/api/system/health"):
        refused = client.get(path, status=503)
        served.check("GET", path, 503, refused.content_type, refused.body, refused.json)  # the envelope, allowed
        retry_after = declared(served, "GET", path, 503)["retry-after"]
        assert refused.headers["Retry-After"] == "5" and retry_after["schema"] == {"type": "integer"}
        # Every header the document requires of every answer, X-Response-Time too.
        assert checked(served, refused) == {"retry-after"}
