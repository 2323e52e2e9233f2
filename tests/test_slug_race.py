"""Two creates taking one slug in one collection at once: the unique index decides, and
the loser answers as a create coming second would, never a 500 nor a second item with the
slug. A slug the client gave is its 409 (README: "A content item with this slug already
exists in this collection", ``details`` on ``slug``); a slug made from the title takes the
next free ``-2``.

A create reads whether its slug is free before its transaction, so another create can take
the slug in between: each test lets one in at that moment, a real request on another thread
(its own connection). On PostgreSQL the other create may also be in its transaction, its
row inserted but not committed: the loser's INSERT then waits on the unique index for that
commit, and fails only once it is made.
"""

import pytest

from app.db.database import is_postgres
from app.db.models import Content, bind_models
from tests.fixtures.content import create_collection
from tests.fixtures.races import run_after, start_after

pytestmark = pytest.mark.backends

TAKEN = {
    "error": "A content item with this slug already exists in this collection",
    "details": [{"field": "slug", "message": "another item of this collection has this slug", "slug": "same"}],
}


@pytest.fixture
def free(env):
    """A collection without a schema."""
    bind_models(env.DB.db)
    return create_collection("free")


@pytest.fixture
def editor(make_user):
    return make_user("editor")[1]


def create(client, headers, **fields):
    return client.post_json("/api/content", {"collectionId": "free", **fields}, headers=headers, expect_errors=True)


def slugs(collection):
    return sorted(item.slug for item in Content.select().where(Content.collection == collection.id))


def after_the_slug_read(env, monkeypatch, action):
    """Run ``action()`` on another thread, to its end, once this thread's create has read its
    collection and who holds the slug it expects (once); returns ``action``'s answers."""
    return run_after(env, monkeypatch, lambda sql: '"slug_holder_id"' in sql, action)


@pytest.mark.parametrize("other", ["given", "from the title"])
def test_a_given_slug_taken_after_it_was_read_free_is_a_409(client, env, free, editor, monkeypatch, other):
    # The other create takes "same" (given, or made from its title "Same") once this one has
    # found it free: this one's INSERT meets the unique index.
    taker = {"title": "Other", "slug": "same"} if other == "given" else {"title": "Same"}
    others = after_the_slug_read(env, monkeypatch, lambda: create(client, editor, **taker))

    answer = create(client, editor, title="Mine", slug="same")

    assert others and others[0].status_int == 201, others[0].text
    assert answer.status_int == 409, answer.text
    assert answer.json == TAKEN
    assert slugs(free) == ["same"]


def test_a_title_slug_taken_after_it_was_read_free_takes_the_next(client, env, free, editor, monkeypatch):
    others = after_the_slug_read(env, monkeypatch, lambda: create(client, editor, title="Same Title"))

    answer = create(client, editor, title="Same Title")

    assert others and others[0].status_int == 201, others[0].text
    assert answer.status_int == 201, answer.text
    assert answer.json["data"]["slug"] == "same-title-2"
    assert slugs(free) == ["same-title", "same-title-2"]


def while_inserted_uncommitted(env, monkeypatch, action):
    """Once this thread's create has inserted its content row, its transaction still open,
    start ``action()`` on another thread, and go on once it waits for this transaction (or
    is done). Returns a list that then holds its Future (PostgreSQL)."""
    return start_after(env, monkeypatch, lambda sql: sql.startswith('INSERT INTO "content"'), action)


@pytest.mark.parametrize("mine", ["given", "from the title"])
def test_a_create_waiting_on_an_uncommitted_slug_answers_once_it_commits(client, env, free, editor, monkeypatch,
                                                                         mine):
    # The first create publishes (several statements in its transaction: it can be held
    # after its INSERT); the second reads "same" free, and its INSERT waits for the first.
    if not is_postgres(env.DB.db):
        pytest.skip("SQLite's write lock keeps a second create out until the first one commits")
    fields = {"title": "Mine", "slug": "same"} if mine == "given" else {"title": "Same"}
    second = while_inserted_uncommitted(env, monkeypatch, lambda: create(client, editor, **fields))

    first = create(client, editor, title="First", slug="same", status="published")

    answer = second[0].result(30)
    assert first.status_int == 201, first.text
    if mine == "given":
        assert answer.status_int == 409, answer.text
        assert answer.json == TAKEN
        assert slugs(free) == ["same"]
    else:
        assert answer.status_int == 201, answer.text
        assert answer.json["data"]["slug"] == "same-2"
        assert slugs(free) == ["same", "same-2"]


def test_a_slug_taken_meanwhile_by_an_item_now_in_the_trash_says_so(client, env, free, editor, monkeypatch):
    # As a create coming second would: the 409 says what frees the slug.
    def take_and_trash():
        other = create(client, editor, title="Other", slug="same").json["data"]
        return client.delete(f"/api/content/{other['id']}", headers=editor, expect_errors=True)

    trashed = after_the_slug_read(env, monkeypatch, take_and_trash)

    answer = create(client, editor, title="Mine", slug="same")

    assert trashed and trashed[0].status_int == 200, trashed[0].text
    assert answer.status_int == 409, answer.text
    assert answer.json["details"] == [{"field": "slug", "slug": "same",
                                       "message": "a deleted item holds this slug: restore or purge it first"}]
    assert slugs(free) == ["same"]


def after_the_update_checks_its_slug(env, monkeypatch, action):
    """Run ``action()`` on another thread, to its end, once this thread's update has found its
    new slug free, in its transaction (once); returns ``action``'s answers."""
    return run_after(env, monkeypatch, lambda sql: sql.startswith('SELECT "id", "deleted_at" FROM "content"'), action)


@pytest.mark.parametrize("holder", ["live", "in the trash"])
def test_an_update_to_a_slug_a_create_takes_meanwhile_is_a_409(client, env, free, editor, monkeypatch, holder):
    # PostgreSQL: the update checks its slug in its transaction, and a create commits the
    # slug before the UPDATE meets the unique index.
    if not is_postgres(env.DB.db):
        pytest.skip("SQLite's write lock keeps the create out of the update's transaction")
    item = create(client, editor, title="Mine").json["data"]

    def take():
        other = create(client, editor, title="Other", slug="same").json["data"]
        if holder == "in the trash":
            client.delete(f"/api/content/{other['id']}", headers=editor, status=200)
        return other

    others = after_the_update_checks_its_slug(env, monkeypatch, take)

    answer = client.put_json(f"/api/content/{item['id']}", {"slug": "same"}, headers=editor, expect_errors=True)

    assert others, "the update checked no slug"
    assert answer.status_int == 409, answer.text
    message = ("another item of this collection has this slug" if holder == "live"
               else "a deleted item holds this slug: restore or purge it first")
    assert answer.json == {**TAKEN, "details": [{**TAKEN["details"][0], "message": message}]}
    assert slugs(free) == ["mine", "same"]
    assert client.get(f"/api/content/{item['id']}", headers=editor).json["data"]["version_number"] == 1
