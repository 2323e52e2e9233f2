"""Every transaction that changes collection schemas or the field indexes waits for another
that holds its turn: the collections API's writes, ``collections sync``, the JSON backup
import, the field indexes followed after ``d1 execute``, the migrations, a time-travel
restore and a rebuild from a bucket. Otherwise two of them could each hold a lock on
``content`` the other's ``DROP INDEX`` waits for (PostgreSQL answers ``deadlock detected``);
SQLite's write transactions take turns by themselves."""

import json
import threading

import pytest

from app.cli.d1 import follow_schemas
from app.db.migrations import MigrationRunner
from app.db.models import Collection
from app.db.schema_turns import take_schema_turn
from app.db.time_travel import current_bookmark, restore, restore_from_bucket, ship
from app.services.backup import encode_backup, export_backup, import_backup
from app.services.collection_sync import sync_collections
from tests.fixtures.app import MIGRATIONS
from tests.fixtures.content import create_collection

pytestmark = pytest.mark.backends

HOLD_SECONDS = 0.5
SCHEMA = {"type": "object", "properties": {"title": {"type": "string"}, "price": {"type": "string", "indexed": True}}}


def waits_for_the_turn(db, action):
    """Run ``action`` while another thread's transaction holds the schema turn for a while;
    True when ``action`` ended after that transaction did (it waited), False if before."""
    events, taken = [], threading.Event()

    def hold():
        with db.atomic():
            take_schema_turn(db)
            taken.set()
            threading.Event().wait(HOLD_SECONDS)
            events.append("released")
        db.close()

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        assert taken.wait(10)
        action()
        events.append("done")
    finally:
        holder.join(10)
    return events == ["released", "done"]


@pytest.fixture
def shop(app_client):
    return create_collection("shop", SCHEMA)


def test_the_collections_api_writes_wait(app_client, as_admin, env, shop):
    _, headers = as_admin
    new = {"type": "object", "properties": {"title": {"type": "string"}, "price": {"type": "number"}}}
    writes = {
        "update": lambda: app_client.patch_json(f"/admin/api/collections/{shop.id}", {"schema": new},
                                                headers=headers, status=200),
        "create": lambda: app_client.post_json("/admin/api/collections", {"name": "store", "display_name": "Store",
                                                                          "schema": SCHEMA}, headers=headers, status=201),
        "delete": lambda: app_client.delete("/admin/api/collections/store", headers=headers, status=200),
    }
    waited = {name: waits_for_the_turn(env.DB.db, write) for name, write in writes.items()}
    assert waited == {"update": True, "create": True, "delete": True}


def test_collections_sync_waits(app_client, env, shop, tmp_path):
    (tmp_path / "notes.json").write_text(json.dumps({"name": "notes", "displayName": "Notes", "schema": SCHEMA}))
    reports = []
    assert waits_for_the_turn(env.DB.db, lambda: reports.append(sync_collections(tmp_path)))
    assert reports[0].ok, reports[0].results
    assert Collection.get_or_none(Collection.name == "notes")


def test_a_backup_import_waits(app_client, env, shop):
    backup = encode_backup(export_backup(env.DB.db))
    assert waits_for_the_turn(env.DB.db, lambda: import_backup(env.DB.db, backup))


def test_following_the_schemas_after_d1_execute_waits(app_client, env, shop):
    assert waits_for_the_turn(env.DB.db, lambda: follow_schemas(env.DB.db))


def test_the_migrations_wait(app_client, env, shop):
    assert waits_for_the_turn(env.DB.db, lambda: MigrationRunner(env.DB.db, MIGRATIONS).apply())


def test_a_time_travel_restore_waits(app_client, env, shop):
    bookmark = current_bookmark(env.DB.db)
    create_collection("store", SCHEMA)
    assert waits_for_the_turn(env.DB.db, lambda: restore(env.DB.db, bookmark))
    assert Collection.get_or_none(Collection.name == "store") is None


def test_a_rebuild_from_a_bucket_waits(app_client, env, shop):
    ship(env.DB.db, env.MEDIA_BUCKET, "history/", 7)
    assert waits_for_the_turn(env.DB.db, lambda: restore_from_bucket(env.DB.db, env.MEDIA_BUCKET, "history/"))
    assert Collection.get_or_none(Collection.name == "shop")
