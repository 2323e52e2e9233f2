"""Objects without a row: the intent log, ``media sweep`` and the cron handler, on both databases.

The failures are real: a trigger makes the database refuse the media row (what a crash
between storing the object and writing its row leaves behind, once the cleanup also
fails), and an ``S3FaultProxy`` in front of the suite's moto server refuses the cleanup's
DeleteObjects or loses the answer to a thumbnail's PUT after the store took it.
"""

import logging
import uuid

import pytest
from click.testing import CliRunner

from app.cli import cli
from app.db.models import Media, MediaPendingObject, bind_models, now_ms
from app.runtime.context import ScheduledEvent
from app.scheduled import run_scheduled
from app.services.media import MediaConflict, MediaLibrary, pending
from tests.fixtures import media as samples
from tests.fixtures.app import client_for, env_with_copy, make_env, settings_for_tests
from tests.fixtures.media import bucket_keys, upload
from tests.fixtures.s3 import create_bucket
from tests.fixtures.s3_proxy import LOSE_ANSWER, S3FaultProxy
from tests.fixtures.users import bearer, create_user, token_for

TWO_HOURS_MS = 2 * 3600 * 1000

REFUSE_ROWS = {
    "sqlite": ["CREATE TRIGGER refuse_media BEFORE INSERT ON media BEGIN SELECT RAISE(ABORT, 'refused'); END"],
    "postgres": [
        "CREATE FUNCTION refuse_media() RETURNS trigger LANGUAGE plpgsql AS "
        "$$ BEGIN RAISE EXCEPTION 'refused' USING ERRCODE = 'check_violation'; END $$",
        "CREATE TRIGGER refuse_media BEFORE INSERT ON media FOR EACH ROW EXECUTE FUNCTION refuse_media()",
    ],
}
ALLOW_ROWS = {
    "sqlite": ["DROP TRIGGER refuse_media"],
    "postgres": ["DROP TRIGGER refuse_media ON media", "DROP FUNCTION refuse_media()"],
}


class Site:
    """An app whose MEDIA_BUCKET is reached through a fault proxy, on SQLite or PostgreSQL."""

    def __init__(self, kind, folder, env, proxy, bucket_name):
        self.kind, self.folder, self.env, self.proxy, self.bucket_name = kind, folder, env, proxy, bucket_name
        self.client = client_for(env)
        bind_models(env.DB.db)
        self.admin = bearer(token_for(create_user("admin")))

    def sql(self, statements):
        for statement in statements:
            self.env.DB.db.execute_sql(statement)

    def crash_between_object_and_row(self, name):
        """Upload ``name`` while the row cannot be written and the cleanup cannot delete:
        its objects stay in the bucket, named by no row. Returns their keys."""
        before = set(bucket_keys(self.env))
        self.sql(REFUSE_ROWS[self.kind])
        self.proxy.fail("POST", "/" + self.bucket_name)  # DeleteObjects, the cleanup
        try:
            upload(self.client, self.admin, name, samples.png((400, 300)), status=409)
        finally:
            self.proxy.faults.clear()
            self.sql(ALLOW_ROWS[self.kind])
        left = sorted(set(bucket_keys(self.env)) - before)
        assert len(left) == 2  # the file and its thumbnail
        return left

    def lose_thumbnail_answer(self, name):
        """Upload ``name`` while the store takes thumbnails but their answers are lost."""
        self.proxy.fail("PUT", ".thumb.webp", LOSE_ANSWER)
        try:
            record = upload(self.client, self.admin, name, samples.png((400, 300))).json["file"]
        finally:
            self.proxy.faults.clear()
        assert record["thumbnailUrl"] is None
        thumb = f"uploads/{record['id']}.thumb.webp"
        assert thumb in bucket_keys(self.env)  # stored, though the app was told it failed
        return record, thumb

    def cli(self, *args):
        result = CliRunner().invoke(
            cli, [*args, "--config", str(self.folder / "bindings.toml"), "--persist-to", str(self.folder / "state")],
            catch_exceptions=False)
        bind_models(self.env.DB.db)  # the command bound the models to a database of its own
        return result

    def cron(self, later_ms=TWO_HOURS_MS):
        return run_scheduled(ScheduledEvent("*/5 * * * *", now_ms() + later_ms), self.env)["sweep_media_orphans"]


@pytest.fixture(params=["sqlite", "postgres"])
def site(request, tmp_path, migrated_template, s3_server):
    proxy = S3FaultProxy(s3_server)
    bucket_name = create_bucket(s3_server)
    folder = tmp_path / "app"
    if request.param == "sqlite":
        env = env_with_copy(folder, migrated_template, s3=proxy.endpoint_url, bucket_name=bucket_name)
    else:
        env = make_env(folder, s3=proxy.endpoint_url, bucket_name=bucket_name,
                       database_url=request.getfixturevalue("migrated_postgres_url"))
    yield Site(request.param, folder, env, proxy, bucket_name)
    proxy.close()
    env.DB.db.close()


def pending_keys():
    return sorted(record.key for record in MediaPendingObject.select())


def orphan_lines(caplog):
    return sorted(r.getMessage().split()[2] for r in caplog.records
                  if r.name == "sonicpy.media" and r.getMessage().startswith("orphaned object ")
                  and " removed: " in r.getMessage())


def test_sweep_removes_exactly_the_orphans_and_leaves_live_objects(site, caplog):
    live = upload(site.client, site.admin, "live.png", samples.png((400, 300))).json["file"]
    live_thumb = f"uploads/{live['id']}.thumb.webp"
    assert pending_keys() == []  # a stored upload leaves no record behind
    thumbless, lost_thumb = site.lose_thumbnail_answer("thumbless.png")
    crashed = site.crash_between_object_and_row("crashed.png")
    orphans = sorted([lost_thumb, *crashed])
    assert pending_keys() == orphans  # each recorded before its object was written
    assert Media.select().count() == 2

    # Younger than the grace period (an hour by default): possibly still on their way.
    kept = site.cli("media", "sweep")
    assert kept.exit_code == 0 and kept.output.startswith("0 orphaned objects removed")
    dry = site.cli("media", "sweep", "--grace", "0", "--dry-run")
    assert sorted(line.split()[-1] for line in dry.output.splitlines() if line.startswith("would remove")) == orphans
    assert pending_keys() == orphans

    with caplog.at_level(logging.WARNING, logger="sonicpy.media"):
        swept = site.cli("media", "sweep", "--grace", "0")
    assert swept.exit_code == 0, swept.output
    assert sorted(line.split()[-1] for line in swept.output.splitlines() if line.startswith("removed ")) == orphans
    assert "3 orphaned objects removed" in swept.output
    assert orphan_lines(caplog) == orphans  # every orphan logged with its key
    assert bucket_keys(site.env) == sorted([live["r2_key"], live_thumb, thumbless["r2_key"]])
    assert pending_keys() == []
    assert site.client.get(live["thumbnailUrl"], headers=site.admin).content_type == "image/webp"
    assert site.client.get(thumbless["publicUrl"], headers=site.admin).body == samples.png((400, 300))
    again = site.cli("media", "sweep", "--grace", "0")
    assert again.output.startswith("0 orphaned objects removed")


def test_cron_sweeps_pending_records_and_the_scan_finds_what_has_none(site):
    live = upload(site.client, site.admin, "live.png", samples.png()).json["file"]
    crashed = site.crash_between_object_and_row("crashed.png")
    by_hand = f"uploads/{uuid.uuid4().hex}.png"  # shaped like a media key, written past the app
    site.env.MEDIA_BUCKET.put(by_hand, b"stray")
    site.env.MEDIA_BUCKET.put("notes/readme.txt", b"not the library's")

    assert site.cron(later_ms=0) == {"orphans_removed": 0, "pending_settled": 0, "objects_scanned": 0,
                                     "foreign_keys": 0}  # within the grace period
    assert site.cron() == {"orphans_removed": 2, "pending_settled": 0, "objects_scanned": 0, "foreign_keys": 0}
    assert not set(crashed) & set(bucket_keys(site.env))
    assert by_hand in bucket_keys(site.env)  # no record: the cron does not list the bucket

    swept = site.cli("media", "sweep", "--grace", "0")
    assert swept.output.splitlines() == [
        f"removed {by_hand}",
        "1 orphaned objects removed; 0 pending records settled; 4 objects scanned, 1 other keys left alone.",
    ]
    assert bucket_keys(site.env) == sorted(["notes/readme.txt", live["r2_key"], f"uploads/{live['id']}.thumb.webp"])


def test_a_write_that_never_landed_is_settled_without_a_delete(site):
    site.proxy.fail("PUT", ".png")  # the store refuses the file
    upload(site.client, site.admin, "a.png", samples.png(), status=503)
    site.proxy.faults.clear()
    assert len(pending_keys()) == 1 and bucket_keys(site.env) == [] and Media.select().count() == 0
    assert site.cron() == {"orphans_removed": 0, "pending_settled": 1, "objects_scanned": 0, "foreign_keys": 0}
    assert pending_keys() == []
    assert not any(method in ("DELETE", "POST") for method, _ in site.proxy.requests)


def test_a_moved_file_is_no_orphan_to_the_cron_or_the_scan(site):
    # Its key still names the folder it was uploaded to: the sweep goes by the keys rows
    # name, never by comparing a key's prefix with the row's folder.
    record = upload(site.client, site.admin, "a.png", samples.png((400, 300))).json["file"]
    keys = sorted([record["r2_key"], f"uploads/{record['id']}.thumb.webp"])
    site.proxy.requests.clear()
    moved = site.client.patch_json(f"/api/media/{record['id']}", {"folder": "archive"}, headers=site.admin).json["file"]
    assert (moved["folder"], moved["r2_key"]) == ("archive", record["r2_key"])
    assert site.proxy.requests == []  # the move never reached the store
    assert pending_keys() == []
    assert site.cron() == {"orphans_removed": 0, "pending_settled": 0, "objects_scanned": 0, "foreign_keys": 0}
    swept = site.cli("media", "sweep", "--grace", "0")
    assert swept.exit_code == 0 and swept.output.startswith("0 orphaned objects removed"), swept.output
    assert bucket_keys(site.env) == keys
    assert site.client.get(record["publicUrl"], headers=site.admin).body == samples.png((400, 300))
    site.client.get(record["thumbnailUrl"], status=200, headers=site.admin)


def test_a_purge_leaves_no_record_and_nothing_to_sweep(site):
    record = upload(site.client, site.admin, "a.png", samples.png((400, 300))).json["file"]
    site.client.delete(f"/api/media/{record['id']}/purge", headers=site.admin, status=200)
    assert pending_keys() == [] and bucket_keys(site.env) == []


def test_a_purge_of_a_row_read_before_a_move_removes_everything(site):
    # A move changes no key, so the keys the purge read are still the objects to delete.
    record = upload(site.client, site.admin, "a.png", samples.png((400, 300))).json["file"]
    stale = Media.get_by_id(record["id"])
    site.client.patch_json(f"/api/media/{record['id']}", {"folder": "archive"}, headers=site.admin, status=200)
    MediaLibrary(settings_for_tests()).purge(site.env.MEDIA_BUCKET, stale)
    assert Media.get_or_none(Media.id == record["id"]) is None
    assert bucket_keys(site.env) == [] and pending_keys() == []


def test_a_key_recorded_again_takes_the_new_record(site):
    # A purge re-records a key whose upload record is still pending (its clearing failed).
    pending.record(["uploads/k.png", None], "m1", pending.UPLOAD)
    pending.record(["uploads/k.png"], "m2", pending.PURGE)
    (record,) = MediaPendingObject.select()
    assert (record.key, record.media_id, record.reason) == ("uploads/k.png", "m2", "purge")


def test_a_move_from_a_stale_read_is_a_conflict_and_changes_nothing(site):
    # The row moved, or was purged, after this move read it: refused, never applied.
    record = upload(site.client, site.admin, "a.png", samples.png((400, 300))).json["file"]
    keys = bucket_keys(site.env)
    stale = Media.get_by_id(record["id"])
    site.client.patch_json(f"/api/media/{record['id']}", {"folder": "archive"}, headers=site.admin, status=200)
    library = MediaLibrary(settings_for_tests())
    with pytest.raises(MediaConflict):
        library.move(stale, "elsewhere")
    row = Media.get_by_id(record["id"])
    assert (row.folder, row.r2_key) == ("archive", record["r2_key"])
    assert bucket_keys(site.env) == keys
    assert site.client.get(record["publicUrl"], headers=site.admin).body == samples.png((400, 300))
    site.client.delete(f"/api/media/{record['id']}/purge", headers=site.admin, status=200)
    with pytest.raises(MediaConflict):
        library.move(row, "elsewhere")
