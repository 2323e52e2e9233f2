"""Every transaction that changes collection schemas or the field indexes waits for another
that holds its turn: the collections API's writes, ``collections sync``, the JSON backup
import, the field indexes followed after ``d1 execute``, the migrations, a time-travel
restore and a rebuild from a bucket. Otherwise two of them could each hold a lock on
``content`` the other's ``DROP INDEX`` waits for (PostgreSQL answers ``deadlock detected``);
SQLite's write transactions take turns by themselves. A web request waits for its turn only
``SCHEMA_TURN_WAIT_MS``, then answers 503 with ``Retry-After`` having written nothing."""

import json
import threading

import pytest

from app.cli.d1 import follow_schemas
from app.db.database import is_postgres
from app.db.migrations import MigrationRunner
from app.db.models import Collection
from app.db.schema_turns import take_schema_turn
from app.db.time_travel import current_bookmark, restore, restore_from_bucket, ship
from app.services.backup import encode_backup, export_backup
from app.services.backup_import import import_backup
from app.services.collection_sync import sync_collections
from tests.fixtures.admin import browser_for, sign_in
from tests.fixtures.app import MIGRATIONS
from tests.fixtures.auth import fast_client, hashed
from tests.fixtures.content import create_collection
from tests.fixtures.users import create_user

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


# ---------------------------------------------------------- a request waits only so long


WAIT_MS = 200
# The holder lets the turn go after this at the latest, so a request that would wait for
# it (nothing bounding its wait) ends too, with the wrong answer.
HOLDER_GIVES_UP_SECONDS = 5
BUSY = ("Another change to the collection schemas is in progress (a collection save, a sync, a migration, an "
        "import or a restore); nothing was changed: try again shortly")


@pytest.fixture
def postgres(env):
    if not is_postgres(env.DB.db):
        pytest.skip("SQLite's busy timeout bounds the wait for its write lock (5 s by default)")


def holding_the_turn(db):
    """Take the schema turn in another thread's transaction; ``release()`` commits it."""
    taken, release = threading.Event(), threading.Event()

    def hold():
        with db.atomic():
            take_schema_turn(db)
            taken.set()
            release.wait(HOLDER_GIVES_UP_SECONDS)
        db.close()

    holder = threading.Thread(target=hold)
    holder.start()
    assert taken.wait(10)

    def let_go():
        release.set()
        holder.join(10)

    return let_go


def test_a_request_waits_for_the_turn_only_so_long_then_answers_503(env, make_user, shop, postgres):
    client = fast_client(env, schema_turn_wait_ms=WAIT_MS)
    _, headers = make_user("admin")
    new = {"type": "object", "properties": {"title": {"type": "string"}, "price": {"type": "number"}}}
    stored = Collection.get_by_id(shop.id)
    writes = {
        "update": lambda status: client.patch_json(f"/admin/api/collections/{shop.id}", {"schema": new},
                                                   headers=headers, status=status),
        "create": lambda status: client.post_json("/admin/api/collections", {"name": "store", "display_name": "Store",
                                                                            "schema": SCHEMA}, headers=headers,
                                                  status=status),
        "delete": lambda status: client.delete("/admin/api/collections/store", headers=headers, status=status),
    }

    release = holding_the_turn(env.DB.db)
    try:
        refused = {name: write(503) for name, write in writes.items() if name != "delete"}
    finally:
        release()

    for answer in refused.values():
        assert answer.headers["Retry-After"] == "1"
        assert answer.json == {"error": BUSY, "details": {"retry_after": 1}}
    after = Collection.get_by_id(shop.id)
    assert (after.schema, after.updated_at) == (stored.schema, stored.updated_at)
    assert Collection.get_or_none(Collection.name == "store") is None
    # Once the turn is free, the same writes go through (the delete refused while held too).
    writes["update"](200)
    writes["create"](201)
    release = holding_the_turn(env.DB.db)
    try:
        assert writes["delete"](503).headers["Retry-After"] == "1"
        assert Collection.get_or_none(Collection.name == "store") is not None
    finally:
        release()
    writes["delete"](200)
    assert Collection.get_by_id(shop.id).schema == new


def test_the_admin_editor_shows_the_refusal_and_keeps_the_form(env, outbox, shop, postgres):
    browser = browser_for(env, outbox, schema_turn_wait_ms=WAIT_MS)
    assert sign_in(browser, create_user("admin", password_hash=hashed())).status_int == 303
    form = browser.get("/admin/collections/shop").forms["collection-form"]
    form["display_name"] = "Store"

    release = holding_the_turn(env.DB.db)
    try:
        page = form.submit(status=503)
    finally:
        release()

    assert BUSY in page.text and page.headers["Retry-After"] == "1"
    assert page.forms["collection-form"]["display_name"].value == "Store"
    assert Collection.get_by_id(shop.id).display_name == "Shop"
    assert browser.get("/admin/collections/shop").forms["collection-form"].submit(status=303)


def test_only_the_wait_for_the_turn_is_bounded(env, shop, postgres):
    # The save's later locks (content in SHARE mode, DROP INDEX) wait as they always did.
    db = env.DB.db
    with db.atomic():
        take_schema_turn(db, WAIT_MS)
        assert db.execute_sql("SHOW lock_timeout").fetchone()[0] == "0"
