"""A reference field names collections that exist (or its own): the collections API and
``collections sync`` refuse one naming a collection there is not, naming the field; a target
deleted or deactivated since the save stays, and the saves that leave it alone go on."""

import json

import pytest

from app.db.models import Collection
from tests.fixtures.content import create_collection, sync_collections

pytestmark = pytest.mark.backends

URL = "/admin/api/collections"


def schema_with(**fields):
    return {"type": "object", "properties": {"title": {"type": "string"}, **fields}}


def missing(path, name):
    return {"field": path, "message": f"there is no collection named {name!r}; a reference names an existing "
                                      "collection or its own"}


def test_a_reference_to_no_collection_is_refused_naming_the_field(app_client, make_user):
    _, admin = make_user("admin")
    create_collection("people")
    schema = schema_with(
        owner={"type": "reference", "collection": ["people", "peeple"]},
        links={"type": "array", "items": {"type": "reference", "collection": "nowhere"}},
        body={"type": "array", "blocks": {"card": {"properties": {"see": {"type": "reference", "collection": "gone"}}}}},
    )
    refused = app_client.post_json(URL, {"name": "posts", "displayName": "Posts", "schema": schema}, headers=admin,
                                   status=422).json
    assert refused["details"] == [
        missing("schema.properties.owner.collection", "peeple"),
        missing("schema.properties.links.items.collection", "nowhere"),
        missing("schema.properties.body.blocks.card.properties.see.collection", "gone"),
    ]
    assert not Collection.select().where(Collection.name == "posts").exists()


def test_a_reference_may_name_its_own_collection_and_any_other_by_name_or_id(app_client, make_user):
    _, admin = make_user("admin")
    people = create_collection("people", is_active=False)
    schema = schema_with(related={"type": "reference", "collection": "posts", "multiple": True},
                         owner={"type": "reference", "collection": [people.id]})
    created = app_client.post_json(URL, {"name": "posts", "displayName": "Posts", "schema": schema}, headers=admin,
                                   status=201).json
    schema["properties"]["parent"] = {"type": "reference", "collection": created["id"]}
    app_client.patch_json(f"{URL}/posts", {"schema": schema}, headers=admin, status=200)
    schema["properties"]["parent"]["collection"] = "pots"
    refused = app_client.patch_json(f"{URL}/posts", {"schema": schema}, headers=admin, status=422).json
    assert refused["details"] == [missing("schema.properties.parent.collection", "pots")]
    assert "parent" in Collection.get(Collection.name == "posts").schema["properties"]
    assert Collection.get(Collection.name == "posts").schema["properties"]["parent"]["collection"] == created["id"]


def test_a_referenced_collection_may_be_deactivated_and_deleted_and_the_reference_stays(app_client, make_user):
    _, admin = make_user("admin")
    app_client.post_json(URL, {"name": "people", "displayName": "People"}, headers=admin, status=201)
    schema = schema_with(owner={"type": "reference", "collection": "people"})
    app_client.post_json(URL, {"name": "posts", "displayName": "Posts", "schema": schema}, headers=admin, status=201)
    app_client.patch_json(f"{URL}/people", {"is_active": False}, headers=admin, status=200)
    app_client.delete(f"{URL}/people", headers=admin, status=200)
    # A save leaving the field as it was keeps its target; one pointing it elsewhere is checked.
    schema["properties"]["summary"] = {"type": "textarea"}
    app_client.patch_json(f"{URL}/posts", {"schema": schema}, headers=admin, status=200)
    assert Collection.get(Collection.name == "posts").schema["properties"]["owner"]["collection"] == "people"
    schema["properties"]["owner"]["collection"] = ["people", "staff"]
    refused = app_client.patch_json(f"{URL}/posts", {"schema": schema}, headers=admin, status=422).json
    assert refused["details"] == [missing("schema.properties.owner.collection", "staff")]


def write_definition(folder, name, schema):
    (folder / f"{name}.json").write_text(json.dumps({"name": name, "displayName": name.title(), "schema": schema}))


def test_collections_sync_refuses_a_file_referencing_no_collection(tmp_path, env):
    folder = tmp_path / "definitions"
    folder.mkdir()
    write_definition(folder, "posts", schema_with(owner={"type": "reference", "collection": "peeple"},
                                                  related={"type": "reference", "collection": "posts"}))
    # A collection another file of the sync defines may be named, whichever file comes first.
    write_definition(folder, "authors", schema_with(posts={"type": "reference", "collection": ["posts", "tags"]}))
    write_definition(folder, "tags", schema_with())
    result = sync_collections(env, folder)
    assert result.exit_code == 1
    assert ("posts.json: schema.properties.owner.collection: there is no collection named 'peeple'; a reference "
            "names an existing collection or its own") in result.output
    # authors names posts, whose file is refused: it is refused too, not saved naming nothing.
    assert ("authors.json: schema.properties.posts.collection: there is no collection named 'posts'"
            in result.output)
    assert sorted(row.name for row in Collection.select()) == ["tags"]
    write_definition(folder, "posts", schema_with(owner={"type": "reference", "collection": "authors"}))
    assert sync_collections(env, folder).exit_code == 0
    assert sorted(row.name for row in Collection.select()) == ["authors", "posts", "tags"]


def test_a_schema_written_by_hand_before_the_save_is_no_obstacle(app_client, make_user):
    _, admin = make_user("admin")
    create_collection("posts", {"type": "object", "properties": {
        "owner": {"type": "reference", "collection": 5}, "body": {"type": "array", "blocks": [1], "properties": "x"}}})
    schema = schema_with(owner={"type": "reference", "collection": "nobody"})
    refused = app_client.patch_json(f"{URL}/posts", {"schema": schema}, headers=admin, status=422).json
    assert refused["details"] == [missing("schema.properties.owner.collection", "nobody")]
    schema["properties"]["owner"]["collection"] = "posts"
    app_client.patch_json(f"{URL}/posts", {"schema": schema}, headers=admin, status=200)
