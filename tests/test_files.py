"""GET/HEAD /files/<key>: streaming, ETag, Range and conditional GET, on both bucket backends."""

import email.utils
from datetime import UTC, datetime, timedelta

import pytest

from app.app import create_app
from app.db.models import Media, bind_models
from app.runtime.entry import Worker
from tests.fixtures import media as samples
from tests.fixtures.app import TEST_JWT_SECRET
from tests.fixtures.conformance import ConformingTestApp
from tests.fixtures.media import publish_media, upload
from tests.fixtures.users import bearer, create_user, token_for

pytestmark = pytest.mark.backends

# A published file's answer: kept five minutes (MEDIA_PUBLIC_MAX_AGE_SECONDS), then revalidated.
PUBLIC = "public, max-age=300, must-revalidate"


@pytest.fixture
def env(media_env):
    return media_env


@pytest.fixture
def author(make_user):
    return make_user("author")


@pytest.fixture
def stored(client, author):
    """A text file of 100 known bytes, uploaded into a nested folder."""
    data = bytes(range(48, 58)) * 10  # "0123456789" x 10
    record = upload(client, author[1], "digits.txt", data, folder="docs/2024").json["file"]
    publish_media(record["id"])
    return record, data


def test_whole_file_with_its_headers(client, env, stored):
    record, data = stored
    response = client.get(record["publicUrl"], status=200)  # anonymous: files are public
    assert response.body == data
    obj = env.MEDIA_BUCKET.head(record["r2_key"])
    assert response.headers["ETag"] == obj.http_etag
    assert response.headers["Content-Length"] == str(len(data))
    assert response.headers["Content-Type"] == "text/plain; charset=utf-8"
    assert response.headers["Cache-Control"] == PUBLIC
    assert response.headers["Accept-Ranges"] == "bytes"
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    exposed = {name.strip() for name in response.headers["Access-Control-Expose-Headers"].split(",")}
    assert {"ETag", "Content-Range", "X-Request-ID", "X-Response-Time"} <= exposed
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Last-Modified"] == email.utils.format_datetime(obj.uploaded, usegmt=True)
    assert response.headers["Content-Disposition"].startswith('inline; filename="digits.txt"')


def test_no_error_about_a_published_file_is_cached(client, env, stored, monkeypatch):
    """A CDN keeping a 416, a 412, a 404 or a bucket's 503 would hide the file."""
    record, _ = stored
    url = record["publicUrl"]
    for headers, status in (({"Range": "bytes=100-"}, 416), ({"If-Match": '"other"'}, 412)):
        response = client.get(url, headers=headers, status=status)
        assert response.headers["Cache-Control"] == "no-store", status
    head = client.head(url, headers={"If-Match": '"other"'}, status=412)
    assert head.headers["Cache-Control"] == "no-store"
    assert client.get(url, headers={"If-None-Match": client.get(url).headers["ETag"]}, status=304).headers[
        "Cache-Control"] == PUBLIC  # a 304 is the file's answer
    env.MEDIA_BUCKET.delete(record["r2_key"])  # the row names an object the bucket lost
    for response in (client.get(url, status=404), client.head(url, status=404)):
        assert response.headers["Cache-Control"] == "no-store"


def test_a_published_file_is_cached_briefly_then_revalidated(client, env, stored, author):
    """Whether a file is public can change at any time: no cache may keep it for a year."""
    record, _ = stored
    response = client.get(record["publicUrl"], status=200)
    assert response.headers["Cache-Control"] == PUBLIC
    assert "immutable" not in client.head(record["publicUrl"], status=200).headers["Cache-Control"]
    # Revalidating stays cheap: the ETag answers a 304, which renews the same lifetime.
    renewed = client.get(record["publicUrl"], headers={"If-None-Match": response.headers["ETag"]}, status=304)
    assert renewed.headers["Cache-Control"] == PUBLIC
    client.get(record["publicUrl"], headers={"If-Modified-Since": response.headers["Last-Modified"]}, status=304)
    # The object itself claims nothing either, for whoever serves the bucket directly.
    image = upload(client, author[1], "a.png", samples.png((400, 300))).json["file"]
    for key in (record["r2_key"], image["r2_key"], image["thumbnailUrl"].removeprefix("/files/")):
        assert env.MEDIA_BUCKET.head(key).http_metadata["cache_control"] == "no-cache", key


def test_a_revalidation_after_the_file_is_deleted_gets_the_404(client, stored, author):
    record, _ = stored
    etag = client.get(record["publicUrl"], status=200).headers["ETag"]
    client.delete(f"/api/media/{record['id']}", headers=author[1], status=200)
    response = client.get(record["publicUrl"], headers={"If-None-Match": etag}, status=404)
    assert response.headers["Cache-Control"] == "no-store"


def test_the_max_age_is_media_public_max_age_seconds(stack, tmp_path, bucket_backend):
    # The app as deployed: the setting read from [vars], none passed in.
    env = stack.env(tmp_path / "vars", bucket=bucket_backend, vars={"MEDIA_PUBLIC_MAX_AGE_SECONDS": "60"},
                    environ={"JWT_SECRET": TEST_JWT_SECRET})
    client = ConformingTestApp(Worker(lambda: env, create_app))
    bind_models(env.DB.db)
    record = upload(client, bearer(token_for(create_user("author"))), "a.txt", b"text").json["file"]
    publish_media(record["id"])
    assert client.get(record["publicUrl"], status=200).headers["Cache-Control"] == "public, max-age=60, must-revalidate"


@pytest.mark.parametrize("header, status, start, end", [
    ("bytes=10-19", 206, 10, 19),
    ("bytes=95-", 206, 95, 99),
    ("bytes=-5", 206, 95, 99),
    ("bytes=90-500", 206, 90, 99),  # clamped to the end
    ("bytes=0-0", 206, 0, 0),
    ("bytes=5-1", 200, 0, 99),  # invalid: ignored
    ("bytes=0-1,5-6", 200, 0, 99),  # several ranges: the whole file
    ("items=0-5", 200, 0, 99),
])
def test_range_requests_return_the_exact_bytes(client, stored, header, status, start, end):
    record, data = stored
    response = client.get(record["publicUrl"], headers={"Range": header}, status=status)
    assert response.body == data[start:end + 1]
    assert response.headers["Content-Length"] == str(end - start + 1)
    if status == 206:
        assert response.headers["Content-Range"] == f"bytes {start}-{end}/100"
    else:
        assert "Content-Range" not in response.headers


@pytest.mark.parametrize("header", ["bytes=100-", "bytes=100-150", "bytes=500-", "bytes=-0"])
def test_unsatisfiable_range_is_416(client, stored, header):
    record, _ = stored
    response = client.get(record["publicUrl"], headers={"Range": header}, status=416)
    assert response.headers["Content-Range"] == "bytes */100"
    assert response.json == {"error": "Range Not Satisfiable"}


def test_if_range(client, stored):
    record, data = stored
    etag = client.get(record["publicUrl"]).headers["ETag"]
    response = client.get(record["publicUrl"], headers={"Range": "bytes=0-3", "If-Range": etag}, status=206)
    assert response.body == data[:4]
    response = client.get(record["publicUrl"], headers={"Range": "bytes=0-3", "If-Range": '"stale"'}, status=200)
    assert response.body == data


def test_if_none_match(client, stored):
    record, data = stored
    etag = client.get(record["publicUrl"]).headers["ETag"]
    for value in (etag, f"W/{etag}", f'"other", {etag}', "*"):
        response = client.get(record["publicUrl"], headers={"If-None-Match": value}, status=304)
        assert response.body == b""
        assert response.headers["ETag"] == etag
        assert response.headers["Cache-Control"] == PUBLIC
    response = client.get(record["publicUrl"], headers={"If-None-Match": '"other", "more"'}, status=200)
    assert response.body == data
    # If-None-Match wins over Range: a cached copy is still valid.
    client.get(record["publicUrl"], headers={"If-None-Match": etag, "Range": "bytes=0-1"}, status=304)


def test_if_modified_since(client, stored):
    record, data = stored
    last_modified = client.get(record["publicUrl"]).headers["Last-Modified"]
    client.get(record["publicUrl"], headers={"If-Modified-Since": last_modified}, status=304)
    earlier = email.utils.parsedate_to_datetime(last_modified) - timedelta(seconds=5)
    earlier = email.utils.format_datetime(earlier, usegmt=True)
    response = client.get(record["publicUrl"], headers={"If-Modified-Since": earlier})
    assert response.status_int == 200 and response.body == data
    # An unparseable date is ignored; If-None-Match (not matching) beats If-Modified-Since.
    client.get(record["publicUrl"], headers={"If-Modified-Since": "yesterday"}, status=200)
    client.get(record["publicUrl"], headers={"If-Modified-Since": last_modified, "If-None-Match": '"x"'}, status=200)


def test_head(client, stored):
    record, _ = stored
    response = client.head(record["publicUrl"], status=200)
    assert response.body == b""
    assert response.headers["Content-Length"] == "100"
    assert response.headers["Content-Type"] == "text/plain; charset=utf-8"
    client.head(record["publicUrl"], headers={"If-None-Match": response.headers["ETag"]}, status=304)


@pytest.mark.parametrize("headers", [
    {"Range": "bytes=0-1"},  # a download manager's probe
    {"If-Unmodified-Since": "garbage"},  # an unparsable date is no condition
    {"Range": "bytes=0-1", "If-Range": '"x"'},
])
def test_head_without_a_condition_answers_the_files_headers(client, stored, headers):
    record, _ = stored
    response = client.head(record["publicUrl"], headers=headers, status=200)
    assert response.headers["Content-Length"] == "100" and response.headers["ETag"]


def test_cors_preflight(client, stored):
    record, _ = stored
    response = client.options(record["publicUrl"], headers={"Origin": "https://site.example"}, status=204)
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert "Range" in response.headers["Access-Control-Allow-Headers"]


def test_svg_cannot_run_script(client, author):
    record = upload(client, author[1], "logo.svg", samples.svg()).json["file"]
    publish_media(record["id"])
    response = client.get(record["publicUrl"], status=200)
    assert response.content_type == "image/svg+xml"
    assert response.headers["Content-Security-Policy"] == "default-src 'none'; style-src 'unsafe-inline'; sandbox"
    assert response.headers["Content-Disposition"].startswith("attachment;")
    assert response.body == samples.svg()


def test_binary_file_and_non_ascii_name(client, author):
    data = samples.png((30, 30))
    record = upload(client, author[1], "été \"1\".png", data).json["file"]
    publish_media(record["id"])
    response = client.get(record["publicUrl"], status=200)
    assert response.content_type == "image/png" and response.body == data
    assert response.headers["Content-Disposition"] == (
        "inline; filename=\"_t_ _1_.png\"; filename*=UTF-8''%C3%A9t%C3%A9%20%221%22.png"
    )


def test_unknown_key_is_404(client, env, stored):
    client.get("/files/uploads/nothing.png", status=404)
    # An object the bucket holds but no media row names is not served either.
    env.MEDIA_BUCKET.put("uploads/stray.txt", b"stray")
    assert client.get("/files/uploads/stray.txt", status=404).json == {"error": "Not Found"}
    client.get("/files/", status=404)


def test_soft_deleted_file_and_its_thumbnail_are_404(client, env, author):
    headers = author[1]
    record = upload(client, headers, "a.png", samples.png((500, 500))).json["file"]
    publish_media(record["id"])
    client.get(record["thumbnailUrl"], status=200)
    client.delete(f"/api/media/{record['id']}", headers=headers, status=200)
    client.get(record["publicUrl"], status=404)
    client.get(record["thumbnailUrl"], status=404)
    client.head(record["publicUrl"], status=404)
    assert env.MEDIA_BUCKET.head(record["r2_key"]) is not None  # kept for restore
    client.post(f"/api/media/{record['id']}/restore", headers=headers, status=200)
    client.get(record["publicUrl"], status=200)
    client.get(record["thumbnailUrl"], status=200)


def test_thumbnail_key_of_another_media_is_not_served(client, author):
    headers = author[1]
    with_thumb = upload(client, headers, "a.png", samples.png((400, 400))).json["file"]
    without = upload(client, headers, "b.pdf", samples.pdf()).json["file"]
    publish_media(with_thumb["id"], without["id"])
    client.get(with_thumb["thumbnailUrl"], status=200)
    # A thumbnail-shaped key for a media item that has none (or in another folder): 404.
    client.get(f"/files/uploads/{without['id']}.thumb.webp", status=404)
    client.get(f"/files/other/{with_thumb['id']}.thumb.webp", status=404)
    assert Media.select().count() == 2


def test_if_match_and_if_unmodified_since_failing_are_412(client, stored):
    record, data = stored
    first = client.get(record["publicUrl"])
    etag, last_modified = first.headers["ETag"], first.headers["Last-Modified"]
    response = client.get(record["publicUrl"], headers={"If-Match": '"other"'}, status=412)
    assert response.json == {"error": "Precondition Failed"}
    assert response.headers["ETag"] == etag
    earlier = email.utils.format_datetime(
        email.utils.parsedate_to_datetime(last_modified) - timedelta(seconds=5), usegmt=True)
    client.get(record["publicUrl"], headers={"If-Unmodified-Since": earlier}, status=412)
    client.head(record["publicUrl"], headers={"If-Match": '"other"'}, status=412)
    # Holding preconditions serve the file, and a range with them.
    assert client.get(record["publicUrl"], headers={"If-Match": etag}, status=200).body == data
    assert client.get(record["publicUrl"], headers={"If-Unmodified-Since": last_modified}, status=200).body == data
    ranged = client.get(record["publicUrl"], headers={"If-Match": etag, "Range": "bytes=0-3"}, status=206)
    assert ranged.body == data[:4]
    # If-Match is decided before If-None-Match: a failing one is 412, not 304.
    client.get(record["publicUrl"], headers={"If-Match": '"other"', "If-None-Match": etag}, status=412)


def test_weak_etags_never_satisfy_if_match(client, stored):
    record, _ = stored
    etag = client.get(record["publicUrl"]).headers["ETag"]
    client.get(record["publicUrl"], headers={"If-Match": f"W/{etag}"}, status=412)
    client.get(record["publicUrl"], headers={"If-Match": f'"other", {etag}'}, status=200)


def test_an_if_modified_since_in_the_future_is_ignored(client, stored):
    record, data = stored
    future = email.utils.format_datetime(datetime.now(UTC) + timedelta(days=1), usegmt=True)
    assert client.get(record["publicUrl"], headers={"If-Modified-Since": future}, status=200).body == data


def test_head_answers_304_for_if_modified_since(client, stored):
    record, _ = stored
    last_modified = client.head(record["publicUrl"]).headers["Last-Modified"]
    response = client.head(record["publicUrl"], headers={"If-Modified-Since": last_modified}, status=304)
    assert response.headers["Last-Modified"] == last_modified
