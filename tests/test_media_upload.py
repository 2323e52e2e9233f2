"""POST /api/media/upload and /upload-multiple, on both bucket backends (local folder, S3).

Every test runs through ``media_env``: on SQLite with the local bucket and with the R2
binding over boto3 against a real moto S3 server, and on PostgreSQL with S3.
"""

import io
import sqlite3
import time

import filetype
import pytest
import webtest
from PIL import Image

from app.app import create_app
from app.db.models import Media, MediaPendingObject, bind_models
from app.runtime.entry import Worker
from app.services.media import sniff, uploads
from tests.fixtures import media as samples
from tests.fixtures.app import TEST_JWT_SECRET, client_for, env_with_copy
from tests.fixtures.media import bucket_keys, env_on_backend, upload, upload_many
from tests.fixtures.s3 import admin_client, create_bucket
from tests.fixtures.s3_proxy import S3FaultProxy
from tests.fixtures.users import bearer, create_user, token_for

pytestmark = pytest.mark.backends

RECORD_KEYS = {
    "id", "filename", "originalName", "mimeType", "size", "width", "height", "folder", "r2_key",
    "publicUrl", "thumbnailUrl", "alt", "caption", "tags", "uploadedBy", "uploadedAt", "updatedAt", "deletedAt",
}


@pytest.fixture
def env(media_env):
    """Every request of this module goes to the bucket-parametrized env."""
    return media_env


@pytest.fixture
def author(make_user):
    return make_user("author")


def assert_nothing_stored(env):
    assert Media.select().count() == 0
    assert bucket_keys(env) == []


@pytest.mark.parametrize("name, make, mime, extension, dimensions", samples.ALLOWED_SAMPLES,
                         ids=[sample[0] for sample in samples.ALLOWED_SAMPLES])
def test_each_allowed_type_is_stored_under_a_generated_key(
    client, env, author, name, make, mime, extension, dimensions
):
    user, headers = author
    data = make()
    started = int(time.time() * 1000)
    # The client's declared type is a lie on purpose: only the bytes count.
    body = upload(client, headers, name, data, mimetype="application/octet-stream").json
    assert body["success"] is True
    record = body["file"]
    assert set(record) == RECORD_KEYS
    assert record["mimeType"] == mime
    assert record["size"] == len(data)
    assert record["originalName"] == name
    assert record["r2_key"] == f"uploads/{record['id']}.{extension}"
    assert record["filename"] == f"{record['id']}.{extension}"
    assert record["publicUrl"] == f"/files/{record['r2_key']}"
    assert record["folder"] == "uploads" and record["uploadedBy"] == user.id
    assert (record["width"], record["height"]) == (dimensions or (None, None))
    assert started <= record["uploadedAt"] <= int(time.time() * 1000)  # epoch milliseconds
    stored = env.MEDIA_BUCKET.get(record["r2_key"])
    assert stored.bytes() == data
    assert stored.http_metadata["content_type"].startswith(mime)
    row = Media.get_by_id(record["id"])
    assert (row.mime_type, row.size, row.r2_key) == (mime, len(data), record["r2_key"])


def test_every_allowed_type_has_an_upload_sample():
    # A type added to the allow-list without a sample (so without an upload test) fails here,
    # as does a signature filetype maps to an allowed type (APNG, M4V) that no sample has.
    assert {mime for _, _, mime, _, _ in samples.ALLOWED_SAMPLES} == {t.mime for t in sniff.ALLOWED_TYPES}
    guessed = {filetype.guess(make()) for _, make, *_ in samples.ALLOWED_SAMPLES}
    assert {kind.mime for kind in guessed if kind} == set(sniff.ALLOWED_BY_SIGNATURE)


def test_progressive_jpeg_sample_really_is_progressive():
    # SOF2 is the progressive frame marker; SonicJS reads SOF0 (baseline) only.
    assert b"\xff\xc2" in samples.jpeg(progressive=True)
    assert b"\xff\xc2" not in samples.jpeg()


def test_type_comes_from_content_not_name_or_header(client, author):
    _, headers = author
    record = upload(client, headers, "report.pdf", samples.png((5, 4)), mimetype="application/pdf").json["file"]
    assert record["mimeType"] == "image/png"
    assert record["r2_key"].endswith(".png")
    assert (record["width"], record["height"]) == (5, 4)


@pytest.mark.parametrize("name, make", [("photo.png", samples.elf), ("photo.jpg", samples.windows_exe)])
def test_renamed_executable_is_refused(client, env, author, name, make):
    _, headers = author
    body = upload(client, headers, name, make(), mimetype="image/png", status=415).json
    assert body["error"] == "Unsupported file type"
    assert body["details"]["filename"] == name
    assert "image/png" in body["details"]["allowed"]
    assert_nothing_stored(env)


@pytest.mark.parametrize("data", [
    "café".encode("latin-1") * 10,  # not UTF-8
    b"plain text\x00with a NUL",
], ids=["latin-1", "nul"])
def test_binary_that_is_not_utf8_text_is_refused(client, env, author, data):
    _, headers = author
    upload(client, headers, "notes.txt", data, status=415)
    assert_nothing_stored(env)


def test_empty_file_is_refused(client, env, author):
    _, headers = author
    body = upload(client, headers, "empty.txt", b"", status=422).json
    assert body["error"] == "File validation failed"
    assert body["details"] == [{"field": "file", "message": "the file is empty"}]
    assert_nothing_stored(env)


def test_oversize_upload_refused_from_content_length(env, author):
    _, headers = author
    client = client_for(env, max_upload_bytes=1000)
    body = upload(client, headers, "big.png", samples.png((900, 900)) + b"\x00" * 300_000, status=413).json
    assert body == {"error": "File too large", "details": {"max_bytes": 1000}}
    assert_nothing_stored(env)


def test_a_too_large_upload_names_its_limit_as_a_too_large_json_body_does(env, author):
    _, headers = author
    client = client_for(env, max_upload_bytes=1000)
    file_refusal = upload(client, headers, "notes.txt", b"a" * 1001, status=413).json
    body_refusal = client.post("/api/media/create-folder", b'{"folderName": "' + b"a" * 1024 * 1024 + b'"}',
                               headers=headers, content_type="application/json", status=413).json
    assert file_refusal["details"] == {"max_bytes": 1000}
    assert body_refusal["details"] == {"max_bytes": 1024 * 1024}


def test_oversize_upload_refused_while_counting(env, author):
    # 1001 bytes fit in the declared-length allowance for form fields: the counting stops it.
    _, headers = author
    client = client_for(env, max_upload_bytes=1000)
    body = upload(client, headers, "notes.txt", b"a" * 1001, status=413).json
    assert body["error"] == "File too large"
    assert_nothing_stored(env)
    record = upload(client, headers, "notes.txt", b"a" * 1000).json["file"]
    assert record["size"] == 1000


@pytest.mark.parametrize("backend", samples.BACKENDS)
def test_max_upload_bytes_from_bindings_vars(request, tmp_path, migrated_template, backend):
    # The app as deployed: settings read from the env ([vars] in bindings.toml), none passed in.
    env = env_on_backend(request, backend, tmp_path / "vars", migrated_template,
                         vars={"MEDIA_MAX_UPLOAD_BYTES": "1000"}, environ={"JWT_SECRET": TEST_JWT_SECRET})
    try:
        client = webtest.TestApp(Worker(lambda: env, create_app))
        bind_models(env.DB.db)
        headers = bearer(token_for(create_user("author")))
        body = upload(client, headers, "notes.txt", b"a" * 1001, status=413).json
        assert body == {"error": "File too large", "details": {"max_bytes": 1000}}
        assert_nothing_stored(env)
        record = upload(client, headers, "notes.txt", b"a" * 1000).json["file"]
        assert record["size"] == 1000
        assert bucket_keys(env) == [record["r2_key"]]
    finally:
        env.DB.db.close()


def chunked_upload(client, headers, url, files):
    """POST a multipart body the way a streaming client does: chunked, no Content-Length."""
    content_type, body = client.encode_multipart([], files)
    environ = {"REQUEST_METHOD": "POST", "CONTENT_TYPE": content_type, "HTTP_TRANSFER_ENCODING": "chunked",
               "wsgi.input": io.BytesIO(body)}
    request = webtest.TestRequest.blank(url, environ, headers=headers)
    request.environ.pop("CONTENT_LENGTH", None)
    return client.do_request(request, status="*")


@pytest.mark.parametrize("url, field", [("/api/media/upload", "file"), ("/api/media/upload-multiple", "files")])
def test_upload_without_content_length_is_411(client, env, author, url, field):
    _, headers = author
    response = chunked_upload(client, headers, url, [(field, "notes.txt", b"hello")])
    assert response.status_int == 411
    assert response.json == {"error": "Content-Length required"}
    assert_nothing_stored(env)


def test_form_fields_are_stored(client, env, author):
    _, headers = author
    record = upload(
        client, headers, "cat.png", samples.png(), folder="blog/2024/cats", alt=" A cat ",
        caption="On the sofa", tags='["cats", "pets", "cats"]',
    ).json["file"]
    assert record["folder"] == "blog/2024/cats"
    assert record["r2_key"].startswith("blog/2024/cats/")
    assert (record["alt"], record["caption"], record["tags"]) == ("A cat", "On the sofa", ["cats", "pets"])
    assert bucket_keys(env)[0].startswith("blog/2024/cats/")
    record = upload(client, headers, "dog.png", samples.png(), tags="dogs, pets ,,").json["file"]
    assert record["tags"] == ["dogs", "pets"]


@pytest.mark.parametrize("folder", ["../etc", "/abs", "Uploads", "a/b/c/d", "a//b", "a/", "-x", "a.b", "x" * 65])
def test_invalid_folder_is_refused_before_storing(client, env, author, folder):
    _, headers = author
    body = upload(client, headers, "a.png", samples.png(), folder=folder, status=422).json
    assert body["error"] == "Invalid folder name"
    assert body["details"][0]["field"] == "folder"
    assert_nothing_stored(env)


def test_invalid_tags_are_refused(client, env, author):
    _, headers = author
    body = upload(client, headers, "a.png", samples.png(), tags='["ok", 3]', status=422).json
    assert body["details"][0]["field"] == "tags"
    assert_nothing_stored(env)


def test_request_without_a_file(client, author):
    _, headers = author
    body = client.post("/api/media/upload", params={"folder": "x"}, upload_files=[], headers=headers,
                       content_type="multipart/form-data", status=400).json
    assert body == {"error": "No file provided"}
    body = client.post_json("/api/media/upload", {"file": "x"}, headers=headers, status=415).json
    assert body == {"error": "Expected multipart/form-data"}


def test_malformed_multipart_is_400(client, env, author):
    _, headers = author
    headers = {**headers, "Content-Type": "multipart/form-data; boundary=xyz"}
    body = client.post("/api/media/upload", b"not a form", headers=headers, status=400).json
    assert set(body) == {"error", "details"}
    assert_nothing_stored(env)


def test_two_files_on_the_single_upload_route(client, env, author):
    _, headers = author
    client.post("/api/media/upload", upload_files=[("file", "a.png", samples.png()), ("file", "b.png", samples.png())],
                headers=headers, status=400)
    assert_nothing_stored(env)


def test_who_may_upload(client, env, make_user):
    body = upload(client, {}, "a.png", samples.png(), status=401).json
    assert body == {"error": "Authentication required"}
    _, viewer = make_user("viewer")
    assert upload(client, viewer, "a.png", samples.png(), status=403).json == {"error": "Insufficient permissions"}
    assert_nothing_stored(env)
    for role in ("author", "editor", "admin"):
        _, headers = make_user(role)
        upload(client, headers, "a.png", samples.png())
    assert Media.select().count() == 3


@pytest.mark.parametrize("make, message", [
    (lambda: samples.png_claiming(20000, 20000), "Image too large to process"),  # Pillow's own bomb check
    (lambda: samples.png_claiming(9000, 9000), "Image too large to process"),  # our lower limit
    (lambda: samples.PNG_SIGNATURE + b"\x00" * 64, "File validation failed"),  # signature, no image
])
def test_images_that_cannot_be_processed_are_refused(client, env, author, make, message):
    _, headers = author
    assert upload(client, headers, "bomb.png", make(), status=422).json["error"] == message
    assert_nothing_stored(env)


# Every JPEG frame marker but baseline (C0, the one SonicJS reads) and progressive (C2, the
# progressive sample): C4, C8 and CC are not frames (Huffman tables, reserved, arithmetic).
SOF_MARKERS = [0xC1, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF]


@pytest.mark.parametrize("marker", SOF_MARKERS, ids=[f"SOF{m - 0xC0}" for m in SOF_MARKERS])
def test_jpeg_dimensions_for_every_sof_marker(client, author, marker):
    _, headers = author
    data = samples.jpeg_with_sof(marker, (37, 23))
    assert bytes([0xFF, marker]) in data and b"\xff\xc0" not in data
    record = upload(client, headers, "frame.jpg", data).json["file"]
    assert record["mimeType"] == "image/jpeg"
    assert (record["width"], record["height"]) == (37, 23)


def test_exif_rotation_is_applied_to_dimensions(client, author):
    _, headers = author
    record = upload(client, headers, "phone.jpg", samples.jpeg((40, 20), orientation=6)).json["file"]
    assert (record["width"], record["height"]) == (20, 40)


@pytest.mark.parametrize("make, size", [
    (lambda: samples.png((800, 600)), (320, 240)),
    (lambda: samples.jpeg((600, 900), progressive=True), (213, 320)),
    (lambda: samples.gif((100, 50)), (100, 50)),
    (lambda: samples.webp((640, 640)), (320, 320)),
])
def test_thumbnail_is_created_and_served(client, env, author, make, size):
    _, headers = author
    record = upload(client, headers, "big", make()).json["file"]
    thumb_key = f"uploads/{record['id']}.thumb.webp"
    assert record["thumbnailUrl"] == f"/files/{thumb_key}"
    assert bucket_keys(env) == sorted([record["r2_key"], thumb_key])
    response = client.get(record["thumbnailUrl"], headers=headers, status=200)
    assert response.content_type == "image/webp"
    with Image.open(io.BytesIO(response.body)) as image:
        assert image.format == "WEBP" and image.size == size


@pytest.mark.parametrize("size", [(100, 80), (6000, 5000)], ids=["pixels-missing", "too-large-to-decode"])
def test_thumbnail_failure_does_not_fail_the_upload(client, env, author, size):
    # The header claims the size, the pixel data is that of a 1x1 image: the dimensions are
    # read, the thumbnail cannot be made (decode error, or skipped past 25 megapixels).
    _, headers = author
    record = upload(client, headers, "odd.png", samples.png_claiming(*size)).json["file"]
    assert (record["width"], record["height"]) == size
    assert record["thumbnailUrl"] is None
    assert bucket_keys(env) == [record["r2_key"]]


def test_no_thumbnail_for_other_types(client, env, author):
    _, headers = author
    record = upload(client, headers, "paper.pdf", samples.pdf()).json["file"]
    assert record["thumbnailUrl"] is None
    assert bucket_keys(env) == [record["r2_key"]]


def test_public_base_url_prefixes_urls(env, author):
    _, headers = author
    client = client_for(env, public_base_url="https://cdn.example.com")
    record = upload(client, headers, "a.png", samples.png((400, 400))).json["file"]
    assert record["publicUrl"] == f"https://cdn.example.com/files/{record['r2_key']}"
    assert record["thumbnailUrl"] == f"https://cdn.example.com/files/uploads/{record['id']}.thumb.webp"


def test_original_name_is_cleaned(client, author):
    _, headers = author
    record = upload(client, headers, "C:\\Users\\me\\holiday photo.png", samples.png()).json["file"]
    assert record["originalName"] == "holiday photo.png"


def test_row_insert_failure_removes_the_stored_object(client, env, stack, author):
    # A trigger makes the INSERT fail after the object is in the bucket: the object must go.
    _, headers = author
    stack.refuse_inserts(env, "media")
    body = upload(client, headers, "a.png", samples.png((400, 300)), status=409).json
    assert body["error"] == "The request conflicts with existing data"
    assert_nothing_stored(env)


# -- upload-multiple ------------------------------------------------------------------------


def test_upload_multiple_reports_each_file(client, env, author):
    _, headers = author
    body = upload_many(client, headers, [
        ("a.png", samples.png()), ("evil.png", samples.elf()), ("notes.txt", samples.text()),
    ], folder="batch").json
    assert body["success"] is False
    assert [f["originalName"] for f in body["uploaded"]] == ["a.png", "notes.txt"]
    assert all(f["folder"] == "batch" for f in body["uploaded"])
    assert len(body["errors"]) == 1
    assert body["errors"][0]["filename"] == "evil.png"
    assert body["errors"][0]["error"] == "Unsupported file type"
    assert body["summary"] == {"total": 3, "successful": 2, "failed": 1}
    assert Media.select().count() == 2
    assert len(bucket_keys(env)) == 3  # two files and the PNG's thumbnail


def test_upload_multiple_all_good(client, author):
    _, headers = author
    body = upload_many(client, headers, [("a.gif", samples.gif()), ("b.pdf", samples.pdf())]).json
    assert body["success"] is True and body["errors"] == []
    assert body["summary"] == {"total": 2, "successful": 2, "failed": 0}


def test_upload_multiple_oversized_file_is_an_item_error(env, author):
    _, headers = author
    client = client_for(env, max_upload_bytes=2000)
    body = upload_many(client, headers, [("big.txt", b"a" * 2001), ("small.txt", b"b" * 10)]).json
    assert [f["originalName"] for f in body["uploaded"]] == ["small.txt"]
    assert body["errors"] == [{"filename": "big.txt", "error": "File too large", "details": {"max_bytes": 2000}}]
    assert bucket_keys(env) == [body["uploaded"][0]["r2_key"]]


def test_upload_multiple_every_file_too_large_is_413(env, author):
    _, headers = author
    client = client_for(env, max_upload_bytes=2000)
    body = upload_many(client, headers, [("a.txt", b"a" * 2001), ("b.txt", b"b" * 5000)], status=413).json
    assert body["error"] == "File too large"
    assert body["details"]["max_bytes"] == 2000
    assert [e["filename"] for e in body["details"]["errors"]] == ["a.txt", "b.txt"]
    assert body["details"]["summary"] == {"total": 2, "successful": 0, "failed": 2}
    assert_nothing_stored(env)
    # Too large and refused for another reason: not a size problem only, so 422.
    body = upload_many(client, headers, [("a.txt", b"a" * 2001), ("x.png", samples.elf())], status=422).json
    assert body["error"] == "No file was uploaded"
    assert_nothing_stored(env)


def test_upload_multiple_nothing_uploaded(client, env, author):
    _, headers = author
    body = upload_many(client, headers, [("empty.txt", b"")], status=422).json
    assert body["error"] == "No file was uploaded"
    assert body["details"]["summary"] == {"total": 1, "successful": 0, "failed": 1}
    assert_nothing_stored(env)
    body = client.post("/api/media/upload-multiple", params={"folder": "x"}, upload_files=[], headers=headers,
                       content_type="multipart/form-data", status=400).json
    assert body == {"error": "No files provided"}


def test_upload_multiple_every_file_of_a_refused_type_is_415_as_one_upload_is(client, env, author):
    _, headers = author
    body = upload_many(client, headers, [("x.png", samples.elf()), ("y.jpg", samples.windows_exe())],
                       status=415).json
    assert body["error"] == upload(client, headers, "x.png", samples.elf(), status=415).json["error"]
    errors = body["details"]["errors"]
    assert [(e["filename"], e["error"]) for e in errors] == [("x.png", "Unsupported file type"),
                                                             ("y.jpg", "Unsupported file type")]
    assert "image/png" in errors[0]["details"]["allowed"] and errors[1]["details"]["filename"] == "y.jpg"
    assert body["details"]["summary"] == {"total": 2, "successful": 0, "failed": 2}
    assert_nothing_stored(env)


def test_upload_multiple_refused_for_several_reasons_is_422(client, env, author):
    # A type refusal and an empty file: no one reason to name, so the general 422.
    _, headers = author
    body = upload_many(client, headers, [("x.png", samples.elf()), ("empty.txt", b"")], status=422).json
    assert body["error"] == "No file was uploaded"
    assert [(e["filename"], e["error"]) for e in body["details"]["errors"]] == [
        ("x.png", "Unsupported file type"), ("empty.txt", "File validation failed")]
    assert body["details"]["summary"] == {"total": 2, "successful": 0, "failed": 2}
    assert_nothing_stored(env)


def test_upload_multiple_permissions(client, make_user):
    _, viewer = make_user("viewer")
    upload_many(client, viewer, [("a.png", samples.png())], status=403)
    upload_many(client, {}, [("a.png", samples.png())], status=401)


def test_create_folder_validates_the_name(client, make_user):
    _, headers = make_user("author")
    body = client.post_json("/api/media/create-folder", {"folderName": "blog/2024"}, headers=headers).json
    assert body["success"] is True and body["folder"] == "blog/2024"
    body = client.post_json("/api/media/create-folder", {"folderName": "../x"}, headers=headers, status=422).json
    assert body["error"] == "Invalid folder name"
    client.post_json("/api/media/create-folder", {"folder": "x"}, headers=headers, status=422)
    for blank in ("", "   "):
        refused = client.post_json("/api/media/create-folder", {"folderName": blank}, headers=headers, status=422)
        assert refused.json["details"] == [{"field": "folderName", "message": "No folder name provided"}]
    _, viewer = make_user("viewer")
    client.post_json("/api/media/create-folder", {"folderName": "x"}, headers=viewer, status=403)


# -- large files: R2 multipart uploads -----------------------------------------------------

LARGE = b"0123456789abcdef" * (11 * 1024 * 1024 // 16) + b"tail"  # 11 MiB and 4 bytes: 3 parts


def open_multipart_uploads(env):
    """Multipart uploads started in the env's bucket and neither completed nor aborted."""
    backend = env.MEDIA_BUCKET.backend
    if hasattr(backend, "endpoint_url"):
        listed = admin_client(backend.endpoint_url).list_multipart_uploads(Bucket=backend.bucket_name)
        return [upload["UploadId"] for upload in listed.get("Uploads", [])]
    index = sqlite3.connect(backend.index_path)
    try:
        return [row[0] for row in index.execute("SELECT upload_id FROM uploads WHERE state = 'open'")]
    finally:
        index.close()


def test_a_large_file_is_stored_as_a_multipart_upload(client, env, author):
    _, headers = author
    record = upload(client, headers, "big.txt", LARGE).json["file"]
    obj = env.MEDIA_BUCKET.head(record["r2_key"])
    # R2's (and S3's) etag of a multipart object: MD5 of the parts' MD5s, then the part count.
    assert obj.etag.endswith("-3") and obj.size == len(LARGE)
    assert obj.http_metadata["content_type"] == "text/plain; charset=utf-8"
    assert obj.http_metadata["cache_control"] == "no-cache"  # as a single put stores it
    assert obj.custom_metadata["mediaId"] == record["id"]
    assert client.get(record["publicUrl"], headers=headers, status=200).body == LARGE
    assert open_multipart_uploads(env) == []
    assert MediaPendingObject.select().count() == 0


def test_a_file_at_the_threshold_is_one_put(client, env, author):
    _, headers = author
    record = upload(client, headers, "edge.txt", b"a" * uploads.MULTIPART_THRESHOLD).json["file"]
    assert "-" not in env.MEDIA_BUCKET.head(record["r2_key"]).etag


def test_a_multipart_upload_that_fails_midway_is_aborted(env, author):
    # The spool holds fewer bytes than its size says: the second part cannot be read whole.
    bind_models(env.DB.db)
    spooled = uploads.spool(io.BytesIO(LARGE[:7 * 1024 * 1024]), len(LARGE), "short.txt")
    spooled.size = len(LARGE)
    bucket = env.MEDIA_BUCKET
    with pytest.raises(ValueError):
        uploads.put_multipart(bucket, "uploads/short.txt", spooled, "text/plain", {})
    spooled.close()
    assert open_multipart_uploads(env) == []
    assert bucket_keys(env) == []
    backend = bucket.backend
    if hasattr(backend, "blobs"):  # the local folder: part 1's blob is gone too
        assert list(backend.blobs.iterdir()) == []


@pytest.fixture
def proxied(tmp_path, migrated_template, s3_server):
    """``(env, client, headers, proxy)``: an S3 MEDIA_BUCKET reached through a fault proxy."""
    proxy = S3FaultProxy(s3_server)
    env = env_with_copy(tmp_path / "proxied", migrated_template, s3=proxy.endpoint_url,
                        bucket_name=create_bucket(s3_server))
    bind_models(env.DB.db)
    yield env, client_for(env), bearer(token_for(create_user("author"))), proxy
    env.DB.db.close()
    proxy.close()


def test_on_s3_a_large_upload_sends_its_parts_one_request_each(proxied):
    env, client, headers, proxy = proxied
    record = upload(client, headers, "big.txt", LARGE).json["file"]
    key_path = f"/{env.MEDIA_BUCKET.backend.bucket_name}/{record['r2_key']}"
    to_key = [method for method, path in proxy.requests if path == key_path]
    # create (POST ?uploads), three parts (PUT), complete (POST ?uploadId), then the binding's HEAD.
    assert to_key.count("PUT") == 3 and to_key.count("POST") == 2


def test_on_s3_a_failed_part_aborts_the_upload(proxied):
    env, client, headers, proxy = proxied
    proxy.fail("PUT", ".txt")  # every part is refused; creating and aborting still work
    response = upload(client, headers, "big.txt", LARGE, status="*")
    assert response.status_int >= 500 and set(response.json) <= {"error", "details"}
    assert [method for method, path in proxy.requests if path.endswith(".txt")][-1] == "DELETE"  # the abort
    assert open_multipart_uploads(env) == []
    assert bucket_keys(env) == [] and Media.select().count() == 0
