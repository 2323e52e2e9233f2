"""A field's ``default`` is checked against the field when its collection is saved: through
the collections API, the admin's field builder and ``collections sync`` alike, reference,
media and file fields included. A reference or media default is checked for its shape
only; the item or file it names is looked up by each create."""

import json

import pytest

from app.db.models import Collection
from tests.fixtures.content import create_collection, sync_collections

pytestmark = pytest.mark.backends

BAD_DEFAULTS = [
    ({"type": "reference", "collection": "people"}, 7, "default", "must be the id of a content item"),
    ({"type": "reference", "collection": "people"}, {"id": "x"}, "default", "must be the id of a content item"),
    ({"type": "reference", "collection": "people", "multiple": True}, "x", "default", "must be a list"),
    ({"type": "media"}, ["x"], "default", "must be the id of a media file"),
    ({"type": "file", "multiple": True}, ["x", 3], "default[1]", "must be the id of a media file"),
    ({"type": "select", "enum": ["a", "b"], "multiple": True}, "a", "default", "must be a list"),
    ({"type": "multiselect", "enum": ["a", "b"]}, "a", "default", "must be a list of options"),
    ({"type": "multiselect", "enum": ["a", "b"]}, ["a", "a"], "default", "must not repeat an option"),
]


def schema_with(field):
    return {"type": "object", "properties": {"title": {"type": "string"}, "f": field}}


@pytest.mark.parametrize("field, default, where, message", BAD_DEFAULTS)
def test_the_api_refuses_a_default_the_field_cannot_take(app_client, make_user, field, default, where, message):
    _, admin = make_user("admin")
    schema = schema_with({**field, "default": default})
    expected = {"error": "Validation failed", "details": [{"field": f"schema.properties.f.{where}", "message": message}]}
    body = {"name": "things", "displayName": "Things", "schema": schema}
    assert app_client.post_json("/admin/api/collections", body, headers=admin, status=422).json == expected
    assert not Collection.select().where(Collection.name == "things").exists()
    row = create_collection("kept", schema_with(field))
    patched = app_client.patch_json(f"/admin/api/collections/{row.id}", {"schema": schema}, headers=admin, status=422)
    assert patched.json == expected
    assert Collection.get_by_id(row.id).schema == schema_with(field)


def test_a_reference_or_media_default_is_saved_by_its_shape_and_each_create_looks_it_up(app_client, make_user):
    _, admin = make_user("admin")
    app_client.post_json("/admin/api/collections", {"name": "people", "displayName": "People"}, headers=admin,
                         status=201)
    person = app_client.post_json("/api/content", {"collectionId": "people", "title": "Ada"}, headers=admin,
                                  status=201).json["data"]["id"]
    schema = schema_with({"type": "reference", "collection": "people", "default": person})
    body = {"name": "posts", "displayName": "Posts", "schema": schema}
    posts = app_client.post_json("/admin/api/collections", body, headers=admin, status=201).json
    item = app_client.post_json("/api/content", {"collectionId": "posts", "title": "One"}, headers=admin,
                                status=201).json["data"]
    assert item["data"]["f"] == person
    # Ids nothing holds are saved: they may be the ids of another database (a synced file),
    # and an item or file that exists now may be deleted before the next create.
    schema = schema_with({"type": "reference", "collection": "people", "default": "no-such-item"})
    schema["properties"]["hero"] = {"type": "media", "default": "no-such-file"}
    app_client.patch_json(f"/admin/api/collections/{posts['id']}", {"schema": schema}, headers=admin, status=200)
    refused = app_client.post_json("/api/content", {"collectionId": "posts", "title": "Two"}, headers=admin,
                                   status=422).json
    assert refused["details"] == [
        {"field": "data.f", "message": "references content 'no-such-item', which does not exist"},
        {"field": "data.hero", "message": "references media 'no-such-file', which does not exist"},
    ]


def test_the_field_builder_shows_the_refused_default_on_its_row(browser, signed_in_as):
    signed_in_as("admin")
    create_collection("people", {"type": "object", "properties": {"name": {"type": "string"}}})
    form = browser.get("/admin/collections/new").forms["collection-form"]
    form["name"], form["display_name"] = "posts", "Posts"
    form["field-2.name"], form["field-2.type"], form["field-2.collection"] = "author", "reference", ["people"]
    form["field-2.options"] = '{"default": 5}'
    page = form.submit(status=422)
    assert "default: must be the id of a content item" in page.html.select_one("#field-2-errors").text
    assert not Collection.select().where(Collection.name == "posts").exists()


def test_collections_sync_refuses_a_default_the_field_cannot_take(tmp_path, env):
    folder = tmp_path / "definitions"
    folder.mkdir()
    for name, field in (("posts", {"type": "media", "default": 3}),
                        ("notes", {"type": "reference", "collection": "notes", "default": "an-id-of-elsewhere"})):
        definition = {"name": name, "displayName": name.title(), "schema": schema_with(field)}
        (folder / f"{name}.json").write_text(json.dumps(definition))
    result = sync_collections(env, folder)
    assert result.exit_code == 1
    assert "posts.json: schema.properties.f.default: must be the id of a media file" in result.output
    assert [row.name for row in Collection.select().where(Collection.managed == 1)] == ["notes"]
