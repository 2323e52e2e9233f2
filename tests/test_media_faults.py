"""Media against a failing S3 store: wrong credentials, and single calls failing on purpose.

Wrong credentials need a server that checks them: moto accepts anything unless
``INITIAL_NO_AUTH_ACTION_COUNT`` is set, after which it verifies signatures and IAM
policies. Single failing calls go through ``S3FaultProxy`` in front of the suite's server.
A stopped server (everything failing) is tested in test_media_manage.py.
"""

import json
import logging

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from app.db.models import Media, bind_models
from tests.fixtures import media as samples
from tests.fixtures.app import client_for, env_with_copy
from tests.fixtures.media import bucket_keys, publish_media, upload
from tests.fixtures.s3 import create_bucket
from tests.fixtures.s3_proxy import LOSE_ANSWER
from tests.fixtures.users import bearer, create_user, token_for

# Calls moto serves before it starts checking credentials: the IAM set-up below.
AUTH_SETUP_CALLS = 3
AUTH_BUCKET = "media-auth"
S3_ONLY_ACCESS = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}


def s3_client(service, endpoint_url, key_id, secret):
    return boto3.client(
        service, endpoint_url=endpoint_url, region_name="us-east-1",
        aws_access_key_id=key_id, aws_secret_access_key=secret,
        config=Config(s3={"addressing_style": "path"}, request_checksum_calculation="when_required",
                      response_checksum_validation="when_required", retries={"total_max_attempts": 1}),
    )


def admin_of(env):
    """Headers of a new admin in ``env``'s database (models bound to it first)."""
    bind_models(env.DB.db)
    return bearer(token_for(create_user("admin")))


# -- credentials ------------------------------------------------------------------------------


@pytest.fixture
def checking_server(s3_server_factory):
    """``(endpoint, key_id, secret)``: a moto server that checks credentials, one IAM user's key."""
    server = s3_server_factory({"INITIAL_NO_AUTH_ACTION_COUNT": str(AUTH_SETUP_CALLS)})
    iam = s3_client("iam", server.endpoint_url, "set-up", "set-up")
    iam.create_user(UserName="sonicpy")
    key = iam.create_access_key(UserName="sonicpy")["AccessKey"]
    iam.put_user_policy(UserName="sonicpy", PolicyName="media", PolicyDocument=json.dumps(S3_ONLY_ACCESS))
    key_id, secret = key["AccessKeyId"], key["SecretAccessKey"]
    s3_client("s3", server.endpoint_url, key_id, secret).create_bucket(Bucket=AUTH_BUCKET)
    return server.endpoint_url, key_id, secret


def test_checking_server_refuses_wrong_credentials(checking_server):
    # Without this, the 503 test below could pass against a server that ignores credentials.
    endpoint, key_id, secret = checking_server
    for wrong_id, wrong_secret, code in ((key_id, "wrong", "SignatureDoesNotMatch"),
                                         ("AKIAUNKNOWN000000000", secret, "InvalidAccessKeyId")):
        with pytest.raises(ClientError) as caught:
            s3_client("s3", endpoint, wrong_id, wrong_secret).list_objects_v2(Bucket=AUTH_BUCKET)
        assert caught.value.response["Error"]["Code"] == code
    s3_client("s3", endpoint, key_id, secret).list_objects_v2(Bucket=AUTH_BUCKET)


@pytest.mark.parametrize("wrong", ["secret", "key-id"])
def test_wrong_credentials_are_503_and_store_nothing(tmp_path, migrated_template, checking_server, wrong):
    endpoint, key_id, secret = checking_server
    good = {"TEST_S3_KEY": key_id, "TEST_S3_SECRET": secret}
    env = env_with_copy(tmp_path / "good", migrated_template, s3=endpoint, bucket_name=AUTH_BUCKET, environ=good)
    try:
        # The right credentials work against this server: the 503 below is theirs.
        stored = upload(client_for(env), admin_of(env), "a.png", samples.png()).json["file"]
    finally:
        env.DB.db.close()

    bad = {**good, "TEST_S3_SECRET": "not-the-secret"} if wrong == "secret" else {**good, "TEST_S3_KEY": "AKIAWRONG00000000000"}
    env = env_with_copy(tmp_path / "bad", migrated_template, s3=endpoint, bucket_name=AUTH_BUCKET, environ=bad)
    try:
        client, admin = client_for(env), admin_of(env)
        body = upload(client, admin, "b.png", samples.png((400, 300)), status=503).json
        assert body["error"] == "Service temporarily unavailable"
        assert set(body["details"]) == {"request_id"}
        assert Media.select().count() == 0
        listed = s3_client("s3", endpoint, key_id, secret).list_objects_v2(Bucket=AUTH_BUCKET)
        assert [obj["Key"] for obj in listed["Contents"]] == [stored["r2_key"], f"uploads/{stored['id']}.thumb.webp"]
    finally:
        env.DB.db.close()


# -- single failing calls ---------------------------------------------------------------------


@pytest.fixture
def faulty(tmp_path, migrated_template, s3_server, proxy):
    """``(env, client, admin headers)`` with MEDIA_BUCKET reached through ``proxy``."""
    env = env_with_copy(tmp_path / "app", migrated_template, s3=proxy.endpoint_url,
                        bucket_name=create_bucket(s3_server))
    yield env, client_for(env), admin_of(env)
    env.DB.db.close()


@pytest.fixture
def with_thumbnail(faulty):
    """A PNG uploaded through the proxy, with its thumbnail: ``(record, file key, thumbnail key)``."""
    env, client, admin = faulty
    record = upload(client, admin, "a.png", samples.png((400, 300))).json["file"]
    thumb = f"uploads/{record['id']}.thumb.webp"
    assert bucket_keys(env) == sorted([record["r2_key"], thumb])
    return record, record["r2_key"], thumb


def deletes(proxy):
    return [path for method, path in proxy.requests if method == "DELETE"]


def test_purge_deletes_the_thumbnail_first_and_the_file_last(faulty, proxy, with_thumbnail):
    env, client, admin = faulty
    record, key, thumb = with_thumbnail
    client.delete(f"/api/media/{record['id']}/purge", headers=admin, status=200)
    assert [path.split("/", 2)[2] for path in deletes(proxy)] == [thumb, key]
    assert bucket_keys(env) == [] and Media.select().count() == 0


def test_purge_with_the_file_delete_refused_keeps_the_row_without_thumbnail(faulty, proxy, with_thumbnail):
    env, client, admin = faulty
    record, key, _ = with_thumbnail
    proxy.fail("DELETE", "/" + key)
    body = client.delete(f"/api/media/{record['id']}/purge", headers=admin, status=503).json
    assert body["error"] == "Service temporarily unavailable"
    assert bucket_keys(env) == [key]  # the thumbnail went first
    # The row is back, and names no deleted object.
    got = client.get(f"/api/media/{record['id']}", headers=admin).json["file"]
    assert got["thumbnailUrl"] is None
    assert {k: v for k, v in got.items() if k != "thumbnailUrl"} == {k: v for k, v in record.items() if k != "thumbnailUrl"}
    assert client.get(record["publicUrl"], headers=admin).body == samples.png((400, 300))
    client.get(record["thumbnailUrl"], status=404, headers=admin)
    proxy.faults.clear()
    client.delete(f"/api/media/{record['id']}/purge", headers=admin, status=200)
    assert bucket_keys(env) == [] and Media.select().count() == 0


def test_a_purge_that_fails_keeps_the_file_public_for_the_content_naming_it(faulty, proxy, with_thumbnail):
    # The content's reference to the file (content_media) is dropped only once its objects
    # are gone: the row put back is still named by the published content, once back from
    # the trash (live content naming the file would refuse the purge).
    _, client, admin = faulty
    record, key, _ = with_thumbnail
    item = publish_media(record["id"])
    client.delete(f"/api/content/{item.id}", headers=admin, status=200)
    proxy.fail("DELETE", "/" + key)
    client.delete(f"/api/media/{record['id']}/purge", headers=admin, status=503)
    client.post(f"/api/content/{item.id}/restore", headers=admin, status=200)
    assert client.get(record["publicUrl"]).body == samples.png((400, 300))  # anonymous


def test_purge_whose_answer_is_lost_after_the_delete_leaves_no_row(faulty, proxy, with_thumbnail):
    # The store deleted the file but the app saw an error: a restored row would name nothing.
    env, client, admin = faulty
    record, key, _ = with_thumbnail
    proxy.fail("DELETE", "/" + key, LOSE_ANSWER)
    client.delete(f"/api/media/{record['id']}/purge", headers=admin, status=503)
    assert bucket_keys(env) == []
    assert Media.select().count() == 0
    client.get(f"/api/media/{record['id']}", headers=admin, status=404)


def test_purge_with_the_thumbnail_delete_refused_changes_nothing(faulty, proxy, with_thumbnail):
    env, client, admin = faulty
    record, key, thumb = with_thumbnail
    proxy.fail("DELETE", "/" + thumb)
    client.delete(f"/api/media/{record['id']}/purge", headers=admin, status=503)
    assert not any(path.endswith("/" + key) for path in deletes(proxy))  # the file was never touched
    assert bucket_keys(env) == sorted([key, thumb])
    assert client.get(f"/api/media/{record['id']}", headers=admin).json["file"] == record
    client.get(record["thumbnailUrl"], status=200, headers=admin)


def test_purge_whose_thumbnail_answer_is_lost_keeps_the_row_without_thumbnail(faulty, proxy, with_thumbnail):
    env, client, admin = faulty
    record, key, thumb = with_thumbnail
    proxy.fail("DELETE", "/" + thumb, LOSE_ANSWER)
    client.delete(f"/api/media/{record['id']}/purge", headers=admin, status=503)
    assert bucket_keys(env) == [key]
    got = client.get(f"/api/media/{record['id']}", headers=admin).json["file"]
    assert got["thumbnailUrl"] is None and got["r2_key"] == key
    client.get(record["publicUrl"], status=200, headers=admin)


def orphan_logs(caplog):
    return [r.getMessage() for r in caplog.records if r.name == "sonicpy.media" and r.levelno == logging.ERROR
            and r.getMessage().startswith("orphaned object ")]


def test_failed_upload_cleanup_logs_each_orphaned_key(faulty, proxy, caplog):
    # The row cannot be written (a trigger refuses it) and the cleanup's DeleteObjects fails.
    env, client, admin = faulty
    env.DB.db.execute_sql(
        "CREATE TRIGGER refuse_media BEFORE INSERT ON media BEGIN SELECT RAISE(ABORT, 'refused'); END"
    )
    bucket = env.MEDIA_BUCKET.backend.bucket_name
    proxy.fail("POST", "/" + bucket)
    with caplog.at_level(logging.ERROR, logger="sonicpy.media"):
        upload(client, admin, "a.png", samples.png((400, 300)), status=409)
    assert Media.select().count() == 0
    left = bucket_keys(env)
    assert len(left) == 2  # the file and its thumbnail, named by no row
    logged = orphan_logs(caplog)
    assert len(logged) == 2
    assert all(any(message.startswith(f"orphaned object {key} ") for message in logged) for key in left)
