"""Collections: public GET /api/collections and the admin API /admin/api/collections."""

import json

import pytest

from app.db.models import Collection, Content, Workflow, now_ms

pytestmark = pytest.mark.backends

BLOG_SCHEMA = {
    "type": "object",
    "properties": {
        "title": {"type": "string", "title": "Title", "required": True, "maxLength": 200},
        "body": {"type": "richtext", "title": "Body"},
        "category": {"type": "select", "enum": ["news", "howto"], "enumLabels": ["News", "How-to"]},
        "author": {"type": "reference", "collection": "authors"},
        "tags": {"type": "array", "items": {"type": "string"}},
        "seo": {"type": "object", "properties": {"description": {"type": "textarea", "maxLength": 160}}},
    },
    "required": ["title"],
}

EMPTY_SCHEMA = {"type": "object", "properties": {}}


def make_collection(name="blog", managed=False, active=True, schema=None):
    now = now_ms()
    return Collection.create(
        id=f"col-{name}", name=name, display_name=name.title(), description=f"{name} things",
        schema=schema or BLOG_SCHEMA, is_active=active, managed=managed, created_at=now, updated_at=now,
    )


def test_public_list_shows_active_collections_with_parsed_schema(app_client):
    make_collection("blog")
    make_collection("hidden", active=False)
    response = app_client.get("/api/collections")
    assert response.json["meta"]["count"] == 1 and isinstance(response.json["meta"]["timestamp"], str)
    [item] = response.json["data"]
    assert item["name"] == "blog" and item["schema"] == BLOG_SCHEMA and item["is_active"] == 1


PAGE_KEYS = ("count", "page", "limit", "total", "pages", "hasNext", "hasPrev")


def test_public_list_meta_says_the_same_of_no_collections_as_of_some(app_client, make_user):
    """A list answered whole says its length as ``limit``: 0 when it is empty, with 0 pages as
    an empty paged list says, not a page size of 1 with nothing in it."""
    _, admin = make_user("admin")
    empty = app_client.get("/api/collections").json["meta"]
    assert {key: empty[key] for key in PAGE_KEYS} == {
        "count": 0, "page": 1, "limit": 0, "total": 0, "pages": 0, "hasNext": False, "hasPrev": False}
    for name in ("news", "blog"):
        app_client.post_json("/admin/api/collections", {"name": name, "displayName": name}, headers=admin, status=201)
    some = app_client.get("/api/collections").json["meta"]
    assert {key: some[key] for key in PAGE_KEYS} == {
        "count": 2, "page": 1, "limit": 2, "total": 2, "pages": 1, "hasNext": False, "hasPrev": False}


def test_public_list_is_cached_and_every_write_invalidates_it(app_client, make_user):
    _, admin = make_user("admin")
    first = app_client.get("/api/collections")
    assert first.headers["X-Cache-Status"] == "MISS" and first.headers["X-Cache-Source"] == "database"
    second = app_client.get("/api/collections")
    assert second.headers["X-Cache-Status"] == "HIT" and second.json["meta"]["cache"]["hit"] is True
    created = app_client.post_json("/admin/api/collections", {"name": "news", "displayName": "News"}, headers=admin, status=201)
    listed = app_client.get("/api/collections")
    assert listed.headers["X-Cache-Status"] == "MISS" and [c["name"] for c in listed.json["data"]] == ["news"]
    app_client.patch_json(f"/admin/api/collections/{created.json['id']}", {"display_name": "Newsroom"}, headers=admin)
    assert app_client.get("/api/collections").json["data"][0]["display_name"] == "Newsroom"
    app_client.delete(f"/admin/api/collections/{created.json['id']}", headers=admin)
    assert app_client.get("/api/collections").json["data"] == []


def test_create_with_a_schema(app_client, make_user):
    _, admin = make_user("admin")
    make_collection("authors", active=False, schema=EMPTY_SCHEMA)  # a reference may name an inactive collection
    body = {"name": "blog-posts", "displayName": "Blog posts", "description": "<script>x</script>", "schema": BLOG_SCHEMA}
    created = app_client.post_json("/admin/api/collections", body, headers=admin, status=201).json
    assert created["name"] == "blog-posts" and created["displayName"] == "Blog posts"
    assert created["description"] == "<script>x</script>"
    detail = app_client.get(f"/admin/api/collections/{created['id']}", headers=admin).json
    assert detail["schema"] == BLOG_SCHEMA and detail["managed"] is False
    assert [f["field_name"] for f in detail["fields"]] == list(BLOG_SCHEMA["properties"])
    assert detail["fields"][0]["is_required"] and detail["fields"][2]["field_options"]["enum"] == ["news", "howto"]
    assert app_client.get("/api/collections").json["data"][0]["schema"] == BLOG_SCHEMA


def test_the_options_content_validation_knows_are_accepted_in_a_schema(app_client, make_user):
    """``integer``, ``multiple`` and ``minItems``/``maxItems`` are validated on content: a schema may say them."""
    _, admin = make_user("admin")
    schema = {"type": "object", "properties": {
        "title": {"type": "string"},
        "n": {"type": "integer"},
        "related": {"type": "reference", "collection": "lists", "multiple": True},
        "tags": {"type": "array", "items": {"type": "string"}, "minItems": 1, "maxItems": 2},
    }}
    body = {"name": "lists", "displayName": "Lists", "schema": schema}
    stored = app_client.post_json("/admin/api/collections", body, headers=admin, status=201).json
    assert stored["schema"]["properties"]["tags"]["minItems"] == 1

    def create(data, status):
        return app_client.post_json("/api/content", {"collectionId": "lists", "title": "T", "data": data},
                                    headers=admin, status=status)

    first = create({"n": 2, "tags": ["a"]}, 201).json["data"]["id"]
    create({"n": 2, "tags": ["a"], "related": [first]}, 201)
    for data, field in (({"n": 1.5, "tags": ["a"]}, "data.n"), ({"tags": ["a", "b", "c"]}, "data.tags"),
                        ({"tags": ["a"], "related": first}, "data.related")):
        assert create(data, 422).json["details"][0]["field"] == field


def test_a_name_that_is_another_collections_id_is_refused(app_client, make_user):
    """Collections are found by id or name, the id first: such a name would reach the other one."""
    _, admin = make_user("admin")
    blog = app_client.post_json("/admin/api/collections", {"name": "blog", "displayName": "Blog"}, headers=admin,
                                status=201).json
    body = {"name": blog["id"], "displayName": "Impostor"}
    response = app_client.post_json("/admin/api/collections", body, headers=admin, status=409)
    message = f"'{blog['id']}' is another collection's id"
    assert response.json == {"error": message, "details": [{"field": "name", "message": message}]}
    assert Collection.select().count() == 1


def test_create_without_a_schema_gets_title_and_content_but_no_status_field(app_client, make_user):
    """SonicJS's default also has a status select, which would contradict the item's own status."""
    _, admin = make_user("admin")
    created = app_client.post_json(
        "/admin/api/collections", {"name": "pages", "display_name": "Pages"}, headers=admin, status=201
    ).json
    assert list(created["schema"]["properties"]) == ["title", "content"]
    assert list(Collection.get(Collection.name == "pages").schema["properties"]) == ["title", "content"]


@pytest.mark.parametrize("name", ["Blog", "blog posts", "<script>", "x" * 65, "", "blog;drop", "../etc", "blog\n"])
def test_invalid_names_are_422(app_client, make_user, name):
    _, admin = make_user("admin")
    response = app_client.post_json("/admin/api/collections", {"name": name, "displayName": "X"}, headers=admin, status=422)
    assert response.json["details"] == [
        {"field": "name", "message": "A collection name must use lower-case letters, digits, - and _, up to 64 characters"}]


NAME_RULE = "A collection name must use lower-case letters, digits, - and _, up to 64 characters"
BAD_SCHEMA = {"type": "object", "properties": {"title": {"type": "sring"}}}


@pytest.mark.parametrize("schema_first", [False, True], ids=["name-first", "schema-first"])
def test_a_bad_name_is_reported_with_the_schemas_problems_the_names_first(app_client, make_user, schema_first):
    """The name is checked before the schema: a bad name never hides behind a bad schema (one
    422 lists both, the name's first), whatever order the body gives them in."""
    _, admin = make_user("admin")
    body = {"schema": BAD_SCHEMA, "name": "Bad Name"} if schema_first else {"name": "Bad Name", "schema": BAD_SCHEMA}
    details = app_client.post_json("/admin/api/collections", {**body, "displayName": "X"}, headers=admin,
                                   status=422).json["details"]
    assert [detail["field"] for detail in details] == ["name", "schema.properties.title.type"]
    assert details[0]["message"] == NAME_RULE
    # With the display name missing too: name, display name, schema.
    del body["name"]
    details = app_client.post_json("/admin/api/collections", {**body, "name": "new"}, headers=admin,
                                   status=422).json["details"]
    assert [detail["field"] for detail in details] == ["name", "display_name", "schema.properties.title.type"]
    # Each alone is still refused alone.
    good = {"name": "blog", "displayName": "Blog"}
    alone = app_client.post_json("/admin/api/collections", {**good, "schema": BAD_SCHEMA}, headers=admin,
                                 status=422).json["details"]
    assert [detail["field"] for detail in alone] == ["schema.properties.title.type"]
    alone = app_client.post_json("/admin/api/collections", {**good, "name": "Bad Name",
                                                            "schema": {"type": "object", "properties": {}}},
                                 headers=admin, status=422).json["details"]
    assert alone == [{"field": "name", "message": NAME_RULE}]
    deep = {"type": "object", "properties": {}}
    for _ in range(25):  # past MAX_SCHEMA_DEPTH containers
        deep = {"type": "object", "properties": {"a": deep}}
    nested = app_client.post_json("/admin/api/collections", {**good, "name": "Bad Name", "schema": deep},
                                  headers=admin, status=422).json["details"]
    assert [detail["field"] for detail in nested] == ["name", "schema"], "a schema nested too deep as well"
    # A display name of spaces only is none, as a PATCH and `collections sync` read it.
    blank = app_client.post_json("/admin/api/collections", {**good, "displayName": " \t "}, headers=admin,
                                 status=422).json["details"]
    assert blank == [{"field": "display_name", "message": "display_name (or displayName) is required"}]
    assert Collection.select().count() == 0


def test_a_name_the_admin_pages_take_is_422(app_client, make_user):
    _, admin = make_user("admin")
    response = app_client.post_json("/admin/api/collections", {"name": "new", "displayName": "New"}, headers=admin,
                                    status=422)
    assert response.json["details"] == [
        {"field": "name", "message": "'new' is reserved: /admin/collections/new is the admin's page for a new collection"}]
    assert not Collection.select().where(Collection.name == "new").exists()
    app_client.post_json("/admin/api/collections", {"name": "news", "displayName": "News"}, headers=admin, status=201)


def test_duplicate_names_and_missing_display_name(app_client, make_user):
    _, admin = make_user("admin")
    make_collection("blog")
    taken = app_client.post_json("/admin/api/collections", {"name": "blog", "displayName": "B"}, headers=admin,
                                 status=409).json
    message = "A collection named 'blog' already exists"
    assert taken == {"error": message, "details": [{"field": "name", "message": message}]}, (
        "a taken name is named as every field's problem is, the forms' 409 alike")
    response = app_client.post_json("/admin/api/collections", {"name": "other"}, headers=admin, status=422)
    assert response.json["details"][0]["field"] == "display_name"


@pytest.mark.parametrize("schema, field", [
    ({"type": "array", "properties": {}}, "schema.type"),
    ({"type": "object"}, "schema.properties"),
    ({"type": "object", "properties": {"a": {"type": "weird"}}}, "schema.properties.a.type"),
    ({"type": "object", "properties": {"a": {"type": "string", "color": "red"}}}, "schema.properties.a.color"),
    ({"type": "object", "properties": {"a": {"type": "reference"}}}, "schema.properties.a.collection"),
    ({"type": "object", "properties": {"a": {"type": "select"}}}, "schema.properties.a.enum"),
    ({"type": "object", "properties": {"a": {"type": "string", "pattern": "(["}}}, "schema.properties.a.pattern"),
    ({"type": "object", "properties": {"a": {"type": "number", "min": 5, "max": 1}}}, "schema.properties.a.min"),
    ({"type": "object", "properties": {"a": {"type": "string"}}, "required": ["b"]}, "schema.required"),
    ({"type": "object", "properties": {"bad name": {"type": "string"}}}, "schema.properties.bad name"),
    ({"type": "object", "properties": {"title\n": {"type": "string"}}}, "schema.properties.title\n"),
    ({"type": "object", "properties": {"a": {"type": "object", "properties": {"b": {"type": "x"}}}}}, "schema.properties.a.properties.b.type"),
    ({"type": "object", "properties": {"a": "string"}}, "schema.properties.a"),
    ({"type": "object", "properties": {"a": {"type": "array", "items": {"type": "select"}}}}, "schema.properties.a.items.enum"),
    ({"type": "object", "properties": {}, "extra": 1}, "schema.extra"),
    ({"type": "object", "properties": {"a": {"type": "select", "enum": [1, None]}}}, "schema.properties.a.enum[1]"),
    ({"type": "object", "properties": {"a": {"type": "select", "enum": [{"b": 1}]}}}, "schema.properties.a.enum[0]"),
    ({"type": "object", "properties": {"a": {"type": "select", "enum": [1, 1.0]}}}, "schema.properties.a.enum"),
    ({"type": "object", "properties": {"a": {"type": "radio", "enum": [1, True], "enumLabels": ["One"]}}},
     "schema.properties.a.enumLabels"),
])
def test_invalid_schemas_are_422_with_the_path(app_client, make_user, schema, field):
    _, admin = make_user("admin")
    body = {"name": "x", "displayName": "X", "schema": schema}
    response = app_client.post_json("/admin/api/collections", body, headers=admin, status=422)
    assert response.json["error"] == "Validation failed"
    assert response.json["details"][0]["field"] == field
    assert Collection.select().count() == 0


def test_an_enum_keeps_the_json_type_of_each_option(app_client, make_user):
    """Content validation, the admin's forms and filters take a number or boolean option as
    itself: the API accepts them and stores each option as its JSON type, ``true`` apart from
    ``1`` and ``"1"``."""
    _, admin = make_user("admin")
    schema = {"type": "object", "properties": {
        "size": {"type": "select", "enum": [1, 2.5, "3"], "enumLabels": ["Small", "Medium", "Large"]},
        "flag": {"type": "radio", "enum": [True, 1, "1"]},
        "marks": {"type": "multiselect", "enum": [False, 0]},
    }}
    body = {"name": "sizes", "displayName": "Sizes", "schema": schema}
    created = app_client.post_json("/admin/api/collections", body, headers=admin, status=201).json
    detail = app_client.get(f"/admin/api/collections/{created['id']}", headers=admin).json
    assert json.dumps(detail["schema"]) == json.dumps(schema)  # == would take True for 1
    assert json.dumps(Collection.get_by_id(created["id"]).schema) == json.dumps(schema)
    data = {"size": 2.5, "flag": True, "marks": [0, False]}
    item = app_client.post_json("/api/content", {"collectionId": created["id"], "title": "One", "data": data},
                                headers=admin, status=201).json["data"]
    refused = app_client.post_json("/api/content", {"collectionId": created["id"], "title": "Two",
                                                    "data": {"size": "2.5"}}, headers=admin, status=422)
    assert refused.json["details"] == [{"field": "data.size", "message": "must be one of: 1, 2.5, 3"}]
    app_client.patch_json(f"/admin/api/collections/{created['id']}", {"schema": detail["schema"]}, headers=admin,
                          status=200)
    assert json.dumps(Collection.get_by_id(created["id"]).schema) == json.dumps(schema)
    assert json.dumps(app_client.get(f"/api/content/{item['id']}", headers=admin).json["data"]["data"]) == json.dumps(data)


def test_overlong_patterns_are_refused(app_client, make_user):
    _, admin = make_user("admin")
    fine, long = "^[a-z]+$", "a" * 257
    schema = {"type": "object", "properties": {
        "ok": {"type": "string", "pattern": fine},
        "code": {"type": "string", "pattern": long},
        "tags": {"type": "array", "items": {"type": "string", "pattern": long}},
        "seo": {"type": "object", "properties": {"slug": {"type": "string", "pattern": "b" * 256}}},
    }}
    body = {"name": "long", "displayName": "Long", "schema": schema}
    response = app_client.post_json("/admin/api/collections", body, headers=admin, status=422)
    assert response.json["details"] == [
        {"field": f"schema.properties.{name}.pattern", "message": "a pattern may be at most 256 characters"}
        for name in ("code", "tags.items")
    ]
    row = make_collection("short")
    patch = {"schema": {"type": "object", "properties": {"code": {"type": "string", "pattern": long}}}}
    app_client.patch_json(f"/admin/api/collections/{row.id}", patch, headers=admin, status=422)
    del schema["properties"]["code"], schema["properties"]["tags"]
    app_client.post_json("/admin/api/collections", body, headers=admin, status=201)


def test_deeply_nested_schemas_are_refused(app_client, make_user):
    _, admin = make_user("admin")
    field = {"type": "string"}
    for _ in range(40):
        field = {"type": "array", "items": field}
    body = {"name": "deep", "displayName": "Deep", "schema": {"type": "object", "properties": {"a": field}}}
    response = app_client.post_json("/admin/api/collections", body, headers=admin, status=422)
    assert "nest" in response.json["details"][0]["message"]


def test_admin_list_search_and_inactive(app_client, make_user):
    _, editor = make_user("editor")
    make_collection("blog")
    make_collection("faq", active=False)
    listed = app_client.get("/admin/api/collections", headers=editor).json
    assert [c["name"] for c in listed["data"]] == ["blog"] and listed["count"] == 1
    assert listed["data"][0]["field_count"] == len(BLOG_SCHEMA["properties"])
    both = app_client.get("/admin/api/collections?includeInactive=true", headers=editor).json
    assert {c["name"] for c in both["data"]} == {"blog", "faq"}
    assert app_client.get("/admin/api/collections?includeInactive=true&search=fa", headers=editor).json["count"] == 1
    assert app_client.get("/admin/api/collections?search=%25", headers=editor).json["count"] == 0


def test_admin_list_search_folds_every_letters_case(app_client, make_user):
    _, editor = make_user("editor")
    make_collection("blog")
    Collection.update(display_name="émile", description="Über alles").where(Collection.name == "blog").execute()
    for term in ("ÉMILE", "émile", "über"):
        listed = app_client.get("/admin/api/collections", {"search": term}, headers=editor).json
        assert [c["name"] for c in listed["data"]] == ["blog"], term


def test_patch_updates_and_validates(app_client, make_user):
    _, admin = make_user("admin")
    row = make_collection("blog")
    response = app_client.patch_json(
        f"/admin/api/collections/{row.id}", {"display_name": "The Blog", "is_active": False}, headers=admin
    )
    assert response.json["message"] == "Collection updated successfully"
    assert response.json["data"]["display_name"] == "The Blog" and response.json["data"]["is_active"] is False
    assert app_client.get("/api/collections").json["data"] == []
    app_client.patch_json(f"/admin/api/collections/{row.id}", {}, headers=admin, status=400)
    app_client.patch_json(f"/admin/api/collections/{row.id}", {"name": "renamed"}, headers=admin, status=422)
    app_client.patch_json(f"/admin/api/collections/{row.id}", {"schema": {"type": "object"}}, headers=admin, status=422)
    app_client.patch_json("/admin/api/collections/nope", {"description": "x"}, headers=admin, status=404)


def test_managed_collections_are_read_only(app_client, make_user):
    _, admin = make_user("admin")
    row = make_collection("docs", managed=True)
    for response in (
        app_client.patch_json(f"/admin/api/collections/{row.id}", {"description": "x"}, headers=admin, status=409),
        app_client.delete(f"/admin/api/collections/{row.id}", headers=admin, status=409),
    ):
        assert "managed by a definition file" in response.json["error"]
    assert Collection.get_by_id(row.id).description == "docs things"
    assert app_client.get(f"/admin/api/collections/{row.id}", headers=admin).json["managed"] is True


def test_delete_refuses_collections_with_content(app_client, make_user):
    author, admin = make_user("admin")
    row = make_collection("blog")
    Content.insert(
        id="c1", collection_id=row.id, slug="hello", title="Hello", data="{}", status="draft",
        author_id=author.id, created_at=now_ms(), updated_at=now_ms(),
    ).execute()
    response = app_client.delete(f"/admin/api/collections/{row.id}", headers=admin, status=409)
    assert response.json["details"] == {"content_count": 1, "deleted_count": 0}
    assert response.json["error"] == "Collection 'blog' still has 1 content item(s); delete and purge them first"
    # Soft-deleted content still references the collection: the answer says to purge it.
    Content.update(deleted_at=now_ms()).execute()
    response = app_client.delete(f"/admin/api/collections/{row.id}", headers=admin, status=409)
    assert response.json == {
        "error": "Collection 'blog' still has 1 deleted content item(s) in the trash; "
                 "purge them (DELETE /api/content/{id}/purge) first",
        "details": {"content_count": 1, "deleted_count": 1},
    }
    Content.delete().execute()
    assert app_client.delete(f"/admin/api/collections/{row.id}", headers=admin).json == {
        "message": "Collection deleted successfully"
    }
    app_client.get(f"/admin/api/collections/{row.id}", headers=admin, status=404)


def test_delete_refuses_collections_used_by_a_workflow(app_client, make_user):
    _, admin = make_user("admin")
    row = make_collection("blog")
    Workflow.insert(id="wf1", name="Blog review", collection_id=row.id).execute()
    app_client.delete(f"/admin/api/collections/{row.id}", headers=admin, status=409)
    assert Collection.get_or_none(Collection.id == row.id) is not None


def test_list_fields_are_created_read_and_patched(app_client, make_user):
    _, admin = make_user("admin")
    make_collection("authors", schema=EMPTY_SCHEMA)
    body = {"name": "blog", "displayName": "Blog", "schema": BLOG_SCHEMA,
            "listFields": ["title", "category", "author", "updated_at"]}
    created = app_client.post_json("/admin/api/collections", body, headers=admin, status=201).json
    assert created["listFields"] == ["title", "category", "author", "updated_at"]
    url = f"/admin/api/collections/{created['id']}"
    assert app_client.get(url, headers=admin).json["listFields"] == ["title", "category", "author", "updated_at"]
    assert Collection.get_by_id(created["id"]).list_fields == ["title", "category", "author", "updated_at"]

    patched = app_client.patch_json(url, {"listFields": ["status", "tags"]}, headers=admin).json
    assert patched["data"]["listFields"] == ["status", "tags"]
    # null and [] are the default columns, both stored as NULL.
    for default in (None, []):
        assert app_client.patch_json(url, {"listFields": default}, headers=admin).json["data"]["listFields"] is None
        assert Collection.get_by_id(created["id"]).list_fields is None


def test_a_collection_without_list_fields_has_the_default_columns(app_client, make_user):
    _, admin = make_user("admin")
    created = app_client.post_json("/admin/api/collections", {"name": "news", "displayName": "News"},
                                   headers=admin, status=201).json
    assert created["listFields"] is None
    assert app_client.get(f"/admin/api/collections/{created['id']}", headers=admin).json["listFields"] is None


@pytest.mark.parametrize("names, message", [
    (["ghost"], "unknown field 'ghost'"),
    (["seo.description"], "unknown field 'seo.description'"),  # top-level fields only
    (["title", "title"], "lists a field more than once"),
])
def test_list_fields_naming_what_the_schema_lacks_are_422(app_client, make_user, names, message):
    _, admin = make_user("admin")
    row = make_collection("blog")
    body = {"name": "other", "displayName": "Other", "schema": BLOG_SCHEMA, "listFields": names}
    refused = app_client.post_json("/admin/api/collections", body, headers=admin, status=422).json
    assert refused["details"][0]["field"] == "listFields" and message in refused["details"][0]["message"]
    assert Collection.get_or_none(Collection.name == "other") is None
    refused = app_client.patch_json(f"/admin/api/collections/{row.id}", {"listFields": names, "description": "x"},
                                    headers=admin, status=422).json
    assert refused["details"][0]["field"] == "listFields" and message in refused["details"][0]["message"]
    assert (Collection.get_by_id(row.id).description, Collection.get_by_id(row.id).list_fields) == ("blog things", None)


def test_list_fields_that_are_no_list_of_names_are_422(app_client, make_user):
    _, admin = make_user("admin")
    row = make_collection("blog")
    for bad in ("title", [1], ["x" * 201]):
        app_client.patch_json(f"/admin/api/collections/{row.id}", {"listFields": bad}, headers=admin, status=422)


def test_a_schema_change_drops_the_removed_fields_from_the_list(app_client, make_user):
    _, admin = make_user("admin")
    row = make_collection("blog")
    url = f"/admin/api/collections/{row.id}"
    app_client.patch_json(url, {"listFields": ["category", "tags", "status"]}, headers=admin)
    without_category = {**BLOG_SCHEMA, "properties": {k: v for k, v in BLOG_SCHEMA["properties"].items()
                                                      if k != "category"}}
    patched = app_client.patch_json(url, {"schema": without_category}, headers=admin).json
    assert patched["data"]["listFields"] == ["tags", "status"]
    assert Collection.get_by_id(row.id).list_fields == ["tags", "status"]
    # Sent with the schema, the list is checked against that schema.
    refused = app_client.patch_json(url, {"schema": BLOG_SCHEMA, "listFields": ["ghost"]}, headers=admin, status=422)
    assert refused.json["details"][0]["field"] == "listFields"
    assert app_client.patch_json(url, {"schema": BLOG_SCHEMA, "listFields": ["category"]},
                                 headers=admin).json["data"]["listFields"] == ["category"]


def test_a_stored_list_naming_a_gone_field_is_read_without_it(app_client, make_user):
    _, admin = make_user("admin")
    row = make_collection("blog")
    Collection.update(list_fields=["ghost", "category", "category", "title"]).where(Collection.id == row.id).execute()
    assert app_client.get(f"/admin/api/collections/{row.id}", headers=admin).json["listFields"] == ["category", "title"]
    Collection.update(list_fields={"not": "a list"}).where(Collection.id == row.id).execute()
    assert app_client.get(f"/admin/api/collections/{row.id}", headers=admin).json["listFields"] is None


def test_managed_collections_refuse_list_fields_from_the_api(app_client, make_user):
    _, admin = make_user("admin")
    row = make_collection("docs", managed=True)
    app_client.patch_json(f"/admin/api/collections/{row.id}", {"listFields": ["title"]}, headers=admin, status=409)
    assert Collection.get_by_id(row.id).list_fields is None
