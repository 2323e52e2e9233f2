"""Collection sync (D3): `collections sync` against a real migrated SQLite database.

Each test gets a project folder: bindings.toml, a copy of the migrated database, and a copy
of the shipped app/collections files in ``collections/`` (named by ``[vars] COLLECTIONS_DIR``).
"""

import json
import shutil
import sqlite3

import msgspec
import pytest

from app.cli.common import Runtime
from app.cli.devsetup import prepare_local_state
from app.db.models import bind_models
from app.services.collection_schema import (
    CollectionConfigError,
    parse_collection_config,
    parse_schema,
    schema_to_builtins,
)
from app.services.collection_sync import load_collection_files, sync_collections
from tests.fixtures.app import (
    PROJECT_ROOT,
    CliProject,
    env_with_copy,
    make_env,
)

EXAMPLES = PROJECT_ROOT / "app" / "collections"


class Project(CliProject):
    """A project folder: its config, state folder, collections folder and database file."""

    def __init__(self, folder, env):
        super().__init__(folder, env)
        self.collections = folder / "collections"

    def sync(self, *args):
        return self.cli("collections", "sync", *args)

    def query(self, sql, params=()):
        conn = sqlite3.connect(self.db_path)
        conn.row_factory = sqlite3.Row
        try:
            return [dict(row) for row in conn.execute(sql, params)]
        finally:
            conn.close()

    def execute(self, sql, params=()):
        conn = sqlite3.connect(self.db_path)
        try:
            with conn:
                conn.execute(sql, params)
        finally:
            conn.close()

    def rows(self):
        return {row["name"]: row for row in self.query("SELECT * FROM collections")}

    def edit(self, name, change):
        path = self.collections / f"{name}.json"
        data = json.loads(path.read_text())
        change(data)
        path.write_text(json.dumps(data, indent=2))


@pytest.fixture
def project(tmp_path, migrated_template):
    folder = tmp_path / "project"
    env = env_with_copy(folder, migrated_template)
    env.DB.db.close()
    with (folder / "bindings.toml").open("a") as handle:
        handle.write('\n[vars]\nCOLLECTIONS_DIR = "collections"\n')
    shutil.copytree(EXAMPLES, folder / "collections")
    return Project(folder, env)


def test_sync_creates_both_example_collections(project):
    result = project.sync()
    assert result.exit_code == 0, result.output
    assert "created     blog-posts" in result.output
    assert "created     pages" in result.output
    assert "2 created, 0 updated, 0 unchanged, 0 deactivated, 0 errors" in result.output

    rows = project.rows()
    assert set(rows) == {"blog-posts", "pages"}
    blog, pages = rows["blog-posts"], rows["pages"]
    assert blog["display_name"] == "Blog Posts"
    assert blog["id"].startswith("col-blog-posts-")
    assert (blog["managed"], blog["is_active"]) == (1, 1)
    assert blog["created_at"] == blog["updated_at"] > 0
    schema = json.loads(blog["schema"])
    assert schema["type"] == "object"
    # Field order is the file's (it is the form's order).
    assert list(schema["properties"]) == list(json.loads((EXAMPLES / "blog-posts.json").read_text())
                                              ["schema"]["properties"])
    assert schema["properties"]["content"]["type"] == "richtext"
    assert schema["properties"]["featured_image"]["type"] == "media"
    assert schema["properties"]["category"]["enum"][0] == "news"
    assert set(schema["required"]) == {"title", "slug", "content"}
    page_fields = json.loads(pages["schema"])["properties"]
    assert page_fields["parent"] == {"type": "reference", "title": "Parent Page", "collection": "pages",
                                     "helpText": "Leave empty for a top-level page."}
    assert page_fields["template"]["type"] == "select"
    assert page_fields["show_in_nav"]["type"] == "boolean"
    assert page_fields["sort_order"]["type"] == "number"


def test_resync_is_unchanged_and_does_not_rewrite(project):
    assert project.sync().exit_code == 0
    before = project.rows()

    result = project.sync()
    assert result.exit_code == 0, result.output
    assert "0 created, 0 updated, 2 unchanged" in result.output
    assert project.rows() == before  # updated_at and everything else untouched


def _reversed_keys(obj, key=None):
    """``obj`` with the keys of each object in reverse order, except the field maps
    (``properties``), whose order is the form's order and so does count."""
    if not isinstance(obj, dict):
        return obj
    keys = list(obj) if key == "properties" else list(reversed(list(obj)))
    return {k: _reversed_keys(obj[k], k) for k in keys}


def test_key_order_and_whitespace_do_not_count(project):
    assert project.sync().exit_code == 0
    before = project.rows()
    # Rewrite the file with the keys of every object reversed and another indentation.
    path = project.collections / "pages.json"
    path.write_text(json.dumps(_reversed_keys(json.loads(path.read_text())), indent=7))
    # And store the row's schema the way another writer might: other key order, spaces.
    stored = json.loads(before["blog-posts"]["schema"])
    project.execute("UPDATE collections SET schema = ? WHERE name = 'blog-posts'",
                    (json.dumps({"required": stored["required"], "properties": stored["properties"], "type": "object"},
                                indent=4, sort_keys=False),))
    written = project.rows()["blog-posts"]["schema"]

    result = project.sync()
    assert "2 unchanged" in result.output, result.output
    after = project.rows()
    assert after["pages"] == before["pages"]
    assert after["blog-posts"]["schema"] == written  # compared by value, not rewritten
    assert after["blog-posts"]["updated_at"] == before["blog-posts"]["updated_at"]


def test_editing_a_file_reports_updated(project):
    assert project.sync().exit_code == 0
    project.execute("UPDATE collections SET updated_at = 1")

    def add_field(data):
        data["displayName"] = "Articles"
        data["schema"]["properties"]["reading_time"] = {"type": "number", "title": "Reading time", "min": 0}

    project.edit("blog-posts", add_field)
    result = project.sync()
    assert result.exit_code == 0, result.output
    assert "updated     blog-posts" in result.output
    assert "changed: schema, displayName" in result.output
    assert "0 created, 1 updated, 1 unchanged" in result.output
    rows = project.rows()
    assert rows["blog-posts"]["display_name"] == "Articles"
    assert json.loads(rows["blog-posts"]["schema"])["properties"]["reading_time"]["min"] == 0
    assert rows["blog-posts"]["updated_at"] > 1
    assert rows["pages"]["updated_at"] == 1


def test_list_fields_are_stored_and_a_change_to_them_alone_is_an_update(project):
    assert project.sync().exit_code == 0
    rows = project.rows()
    assert json.loads(rows["blog-posts"]["list_fields"]) == ["title", "author_name", "category", "published_date",
                                                             "status"]
    project.execute("UPDATE collections SET updated_at = 1")

    project.edit("blog-posts", lambda data: data.update(listFields=["category", "author", "updated_at"]))
    project.edit("pages", lambda data: data.pop("listFields"))
    result = project.sync()

    assert result.exit_code == 0, result.output
    assert "changed: listFields" in result.output
    assert "0 created, 2 updated, 0 unchanged" in result.output
    rows = project.rows()
    assert json.loads(rows["blog-posts"]["list_fields"]) == ["category", "author", "updated_at"]
    assert rows["pages"]["list_fields"] is None  # no listFields: the default columns
    assert rows["blog-posts"]["updated_at"] > 1


def test_an_empty_list_fields_is_stored_as_the_default_columns(project):
    project.edit("pages", lambda data: data.update(listFields=[]))
    assert project.sync().exit_code == 0
    assert project.rows()["pages"]["list_fields"] is None
    assert "0 created, 0 updated, 2 unchanged" in project.sync().output


def test_reordering_fields_is_an_update(project):
    assert project.sync().exit_code == 0
    project.edit("pages", lambda data: data["schema"].update(
        properties=dict(reversed(list(data["schema"]["properties"].items())))))
    result = project.sync()
    assert "updated     pages" in result.output
    assert list(json.loads(project.rows()["pages"]["schema"])["properties"])[0] == "sort_order"


def test_removed_file_deactivates_and_returning_file_reactivates(project):
    assert project.sync().exit_code == 0
    original = (project.collections / "pages.json").read_text()
    (project.collections / "pages.json").unlink()

    result = project.sync()
    assert result.exit_code == 0, result.output
    assert "deactivated pages" in result.output
    assert "0 created, 0 updated, 1 unchanged, 1 deactivated" in result.output
    pages = project.rows()["pages"]
    assert (pages["is_active"], pages["managed"]) == (0, 1)  # the row is still there

    again = project.sync()
    assert "1 unchanged, 0 deactivated" in again.output  # already inactive: nothing to do

    (project.collections / "pages.json").write_text(original)
    result = project.sync()
    assert "updated     pages" in result.output and "reactivated" in result.output
    assert project.rows()["pages"]["is_active"] == 1


def test_unmanaged_collections_are_left_alone(project):
    project.execute(
        "INSERT INTO collections (id, name, display_name, schema, is_active, managed, created_at, updated_at)"
        " VALUES ('c1', 'made-in-ui', 'UI', '{\"type\":\"object\",\"properties\":{}}', 1, 0, 5, 5)")
    result = project.sync()
    assert "made-in-ui" not in result.output
    assert project.rows()["made-in-ui"]["is_active"] == 1


def test_invalid_file_names_file_and_field_and_others_still_sync(project):
    (project.collections / "gallery.json").write_text(json.dumps({
        "name": "gallery", "displayName": "Gallery",
        "schema": {"type": "object", "properties": {
            "hero": {"type": "picture"},
            "size": {"type": "number", "min": 10, "max": 1},
            "kind": {"type": "select"},
            "owner": {"type": "reference"},
            "code": {"type": "string", "pattern": "(unclosed"},
            "title": {"type": "string", "requird": True},
        }},
    }))
    result = project.sync()
    assert result.exit_code == 1
    output = result.output
    assert "gallery.json: schema.properties.hero.type: unknown field type 'picture'" in output
    assert "gallery.json: schema.properties.title.requird: unknown key" in output
    assert "gallery.json: schema.properties.size.min: must not be greater than max" in output
    assert "gallery.json: schema.properties.kind.enum: a select field needs a non-empty enum" in output
    assert "gallery.json: schema.properties.owner.collection: a reference field needs" in output
    assert "gallery.json: schema.properties.code.pattern: not a valid regular expression" in output
    assert "2 created, 0 updated, 0 unchanged, 0 deactivated, 1 error" in output
    assert set(project.rows()) == {"blog-posts", "pages"}


def test_broken_file_of_an_existing_collection_keeps_it_active(project):
    assert project.sync().exit_code == 0
    before = project.rows()["pages"]
    project.edit("pages", lambda data: data["schema"]["properties"]["title"].update(type="picture"))
    result = project.sync()
    assert result.exit_code == 1
    assert "pages.json: schema.properties.title.type: unknown field type 'picture'" in result.output
    assert project.rows()["pages"] == before


def test_unreadable_file_blocks_deactivation(project):
    assert project.sync().exit_code == 0
    (project.collections / "pages.json").unlink()
    (project.collections / "broken.json").write_text('{"name": "pages", ')
    result = project.sync()
    assert result.exit_code == 1
    assert "broken.json: line 1, column 19: invalid JSON: the file ends before the JSON does" in result.output
    assert "no collection was deactivated" in result.output
    assert project.rows()["pages"]["is_active"] == 1


@pytest.mark.parametrize("text, where, reason", [
    ('{\n  "name": "notes",\n  "displayName": ,\n}\n', "line 3, column 18", "invalid character"),
    ('{\n  "name": "notes",\n  "displayName": "Nötes"\n  "schema": {}\n}\n', "line 4, column 3", "expected ',' or '}'"),
    ('{"name": "notes"}\n\n{}', "line 3", "trailing characters"),
    ("", None, "the file is empty"),
])
def test_invalid_json_is_reported_with_line_and_column(project, text, where, reason):
    # Where an editor puts the cursor: line and column (in characters), not a byte offset.
    (project.collections / "notes.json").write_text(text, encoding="utf-8")
    result = project.sync()
    assert result.exit_code == 1
    prefix = f"notes.json: {where}" if where else "notes.json: "
    assert prefix in result.output and f"invalid JSON: {reason}" in result.output
    assert "byte" not in result.output


def test_two_files_with_one_name(project):
    shutil.copy(project.collections / "pages.json", project.collections / "pages-copy.json")
    result = project.sync()
    assert result.exit_code == 1
    assert "pages.json: name: collection 'pages' is already defined by" in result.output
    assert project.rows()["pages"]["is_active"] == 1


def test_missing_folder_is_an_error(project, tmp_path):
    result = project.sync("--dir", str(tmp_path / "nope"))
    assert result.exit_code == 1
    assert "collections folder not found" in result.output
    assert project.rows() == {}


def test_dir_option_and_empty_folder_deactivate_all_managed(project, tmp_path):
    assert project.sync().exit_code == 0
    empty = tmp_path / "empty"
    empty.mkdir()
    result = project.sync("--dir", str(empty))
    assert "2 deactivated" in result.output
    assert {r["is_active"] for r in project.rows().values()} == {0}


def test_dev_start_migrates_syncs_and_creates_the_first_admin(project):
    lines = []
    prepare_local_state(Runtime(project.config, None, project.state), lines.append, url="http://127.0.0.1:8787")
    assert any("Collection sync: 2 created" in str(line) for line in lines), lines
    assert set(project.rows()) == {"blog-posts", "pages"}
    assert any("Created the first admin: admin@example.com" in str(line) for line in lines), lines


def test_default_folder_is_app_collections_beside_bindings(project):
    text = project.config.read_text().replace('COLLECTIONS_DIR = "collections"', "")
    project.config.write_text(text)
    default = project.folder / "app" / "collections"
    default.mkdir(parents=True)
    shutil.copy(EXAMPLES / "pages.json", default)
    result = project.sync()
    assert result.exit_code == 0, result.output
    assert set(project.rows()) == {"pages"}


def test_function_api_timestamps(project):
    from app.runtime.config import load_config
    from app.runtime.env import build_env

    env = build_env(load_config(project.config, persist_to=project.state))
    bind_models(env.DB.db)
    try:
        first = sync_collections(project.collections, now=1000)
        assert first.counts()["created"] == 2 and first.ok
        project.edit("pages", lambda data: data.update(description="Changed"))
        second = sync_collections(project.collections, now=2000)
        assert second.by_name()["pages"].status == "updated"
        assert second.by_name()["blog-posts"].status == "unchanged"
    finally:
        env.DB.db.close()
    rows = project.rows()
    assert (rows["pages"]["created_at"], rows["pages"]["updated_at"], rows["pages"]["description"]) == (1000, 2000,
                                                                                                      "Changed")
    assert rows["blog-posts"]["updated_at"] == 1000


def test_sync_on_postgres(tmp_path, migrated_postgres_url):
    env = make_env(tmp_path / "pg", database_url=migrated_postgres_url)
    collections = tmp_path / "collections"
    shutil.copytree(EXAMPLES, collections)
    try:
        bind_models(env.DB.db)
        assert sync_collections(collections, now=1000).counts()["created"] == 2
        assert sync_collections(collections, now=2000).counts()["unchanged"] == 2
        (collections / "pages.json").unlink()
        report = sync_collections(collections, now=3000)
        assert report.by_name()["pages"].status == "deactivated"
        rows = env.DB.prepare("SELECT name, is_active, updated_at FROM collections ORDER BY name").all()["results"]
        listed = env.DB.prepare("SELECT name, list_fields FROM collections ORDER BY name").all()["results"]
    finally:
        env.DB.db.close()
    assert rows == [{"name": "blog-posts", "is_active": 1, "updated_at": 1000},
                    {"name": "pages", "is_active": 0, "updated_at": 3000}]
    for row in listed:
        assert json.loads(row["list_fields"]) == json.loads((EXAMPLES / f"{row['name']}.json").read_text())["listFields"]


def test_load_collection_files_shipped_examples_are_valid():
    configs, errors = load_collection_files(EXAMPLES)
    assert errors == []
    assert [c.config.name for c in configs] == ["blog-posts", "pages"]


def _config(**fields):
    base = {"name": "things", "displayName": "Things", "schema": {"type": "object", "properties": {}}}
    base.update(fields)
    return base


def _field(**options):
    return _config(schema={"type": "object", "properties": {"f": options}})


@pytest.mark.parametrize("raw, message", [
    (_config(name="Things"), "name: invalid collection name 'Things'"),
    (_config(name="has space"), "name: invalid collection name"),
    (_config(name="a" * 65), "name: invalid collection name"),  # the API's 64 too
    (_field(type="number", default="abc"), "schema.properties.f.default: must be a number"),
    (_field(type="string", maxLength=3, default="long"), "schema.properties.f.default: must be at most 3"),
    (_config(name="new"), "name: 'new' is reserved: /admin/collections/new"),
    (_config(displayName=" "), "displayName: must not be empty"),
    (_config(displayName=3), "displayName: Expected `str`, got `int`"),
    (_config(extra=1), "extra: unknown key"),
    (_config(schema={"type": "array", "properties": {}}), "schema.type: Invalid enum value 'array'"),
    (_config(schema={"type": "object"}), "schema.properties: required"),
    (_config(schema={"type": "object", "properties": {}, "required": ["ghost"]}),
     "schema.required: unknown field 'ghost'"),
    (_config(listFields=["ghost"]), "listFields: unknown field 'ghost'"),
    (_config(listFields=["title", "title"]), "listFields: lists a field more than once"),
    (_config(listFields=["author_id"]), "listFields: unknown field 'author_id'; list the schema's fields or author"),
    (_config(defaultSortOrder="up"), "defaultSortOrder: Invalid enum value 'up'"),
    (_field(type="radio", enum=[]), "schema.properties.f.enum: a radio field needs a non-empty enum"),
    (_field(type="select", enum=["a", "a"]), "schema.properties.f.enum: lists a value more than once"),
    (_field(type="select", enum=["a"], enumLabels=["A", "B"]), "schema.properties.f.enumLabels: needs one label"),
    (_field(type="select", enum=[1, True, 1.0]), "schema.properties.f.enum: lists a value more than once"),
    (_field(type="select", enum=[1, None]), "schema.properties.f.enum[1]: Expected `bool | int | float | str`"),
    (_field(type="radio", enum=[1, 2], enumLabels=["One"]), "schema.properties.f.enumLabels: needs one label"),
    (_field(type="select", enum=[1, 2], default="2"), "schema.properties.f.default: must be one of: 1, 2"),
    (_field(type="select", enum=["a"], default="b"), "schema.properties.f.default: must be one of: a"),
    (_field(type="multiselect", enum=["a"], default=["a", "z"]), "schema.properties.f.default[1]: must be one of: a"),
    (_field(type="multiselect", enum=["a"], default="a"), "schema.properties.f.default: must be a list of options"),
    (_field(type="multiselect", enum=["a"], default=["a", "a"]), "schema.properties.f.default: must not repeat"),
    (_field(type="select", enum=["a"], multiple=True, default="a"), "schema.properties.f.default: must be a list"),
    (_field(type="reference", collection="people", default=7),
     "schema.properties.f.default: must be the id of a content item"),
    (_field(type="reference", collection="people", multiple=True, default=["x", {"id": "y"}]),
     "schema.properties.f.default[1]: must be the id of a content item"),
    (_field(type="media", default=["x"]), "schema.properties.f.default: must be the id of a media file"),
    (_field(type="file", multiple=True, default="x"), "schema.properties.f.default: must be a list"),
    (_field(type="array", items={"type": "number"}, default=[1, "x"]), "schema.properties.f.default[1]: must be a number"),
    (_field(type="reference", collection=[]), "schema.properties.f.collection: a reference field needs"),
    (_field(type="string", minLength=5, maxLength=2), "schema.properties.f.minLength: must not be greater"),
    (_field(type="string", minLength=-1), "schema.properties.f.minLength: Expected `int` >= 0"),
    (_field(type="string", blocks={}), "schema.properties.f.blocks: only an array field can have blocks"),
    (_field(type="array", items={"type": "nope"}), "schema.properties.f.items.type: unknown field type 'nope'"),
    (_field(type="object", properties={"inner": {"type": "string", "max": "x"}}),
     "schema.properties.f.properties.inner.max: Expected `int | float | null`, got `str`"),
    (_field(type="array", blocks={"hero": {"properties": {"x": {"type": "bad"}}}}),
     "schema.properties.f.blocks.hero.properties.x.type: unknown field type 'bad'"),
    (_config(schema={"type": "object", "properties": {"1st": {"type": "string"}}}),
     "schema.properties.1st: invalid field name"),
    (_config(name="posts\n"), "name: invalid collection name"),
])
def test_definition_rules(raw, message):
    with pytest.raises(CollectionConfigError) as caught:
        parse_collection_config(raw)
    assert any(error.startswith(message) for error in caught.value.errors), caught.value.errors


def test_sonicjs_field_options_are_accepted():
    config = parse_collection_config(_config(schema={"type": "object", "properties": {
        "body": {"type": "quill", "title": "Body", "required": True, "placeholder": "...", "helpText": "h"},
        "blocks": {"type": "array", "itemTitle": "Block", "discriminator": "blockType", "collapsed": True,
                   "blocks": {"text": {"label": "Text", "description": "d",
                                       "properties": {"heading": {"type": "string"}}}}},
        "seo": {"type": "object", "objectLayout": "flat", "properties": {"t": {"type": "string"}}},
        "author": {"type": "reference", "collection": ["users", "authors"]},
        "when": {"type": "datetime", "format": "date-time", "widget": "picker", "dependsOn": "body",
                 "showWhen": {"body": "x"}, "default": None},
        "md": {"type": "mdxeditor"}, "tiny": {"type": "tinymce"}, "e": {"type": "easymde"},
    }}, icon="i", color="#fff", metadata={"anything": [1, 2]}, managed=False, isActive=False))
    assert config.schema.properties["blocks"].blocks["text"].properties["heading"].type == "string"
    assert (config.managed, config.is_active) == (False, False)
    assert parse_schema({"type": "object", "properties": {"a": {"type": "json"}}}).properties["a"].type == "json"


def test_an_enum_keeps_each_options_json_type():
    """A number or boolean option is that value, as content validation takes it, not its text."""
    config = parse_collection_config(_field(type="select", enum=[1, 2.5, True, "1"], default=2.5))
    field = config.schema.properties["f"]
    assert [(type(option), option) for option in field.enum] == [(int, 1), (float, 2.5), (bool, True), (str, "1")]
    assert msgspec.json.encode(schema_to_builtins(config.schema)) == (
        b'{"type":"object","properties":{"f":{"type":"select","default":2.5,"enum":[1,2.5,true,"1"]}}}')


def test_overlong_pattern_in_a_file_is_refused(project):
    path = project.folder / "collections" / "pages.json"
    config = json.loads(path.read_text())
    first = next(iter(config["schema"]["properties"]))
    config["schema"]["properties"][first]["pattern"] = "a" * 300
    path.write_text(json.dumps(config))
    result = project.sync()
    assert result.exit_code == 1
    assert f"schema.properties.{first}.pattern: a pattern may be at most 256 characters" in result.output


def test_pattern_re2_cannot_run_in_a_file_is_refused(project):
    path = project.collections / "pages.json"
    config = json.loads(path.read_text())
    first = next(iter(config["schema"]["properties"]))
    config["schema"]["properties"][first]["pattern"] = r"^(\w+)-\1$"
    path.write_text(json.dumps(config))
    result = project.sync()
    assert result.exit_code == 1
    assert (f"pages.json: schema.properties.{first}.pattern: not a valid regular expression "
            "(invalid escape sequence: \\1); patterns are RE2 syntax") in result.output
    assert "pages" not in project.rows()


def test_nested_quantifiers_in_a_file_are_accepted(project):
    # RE2 runs ^(a+)+$ in linear time: nothing to refuse.
    project.edit("pages", lambda data: next(iter(data["schema"]["properties"].values())).update(pattern="^(a+)+$"))
    assert project.sync().exit_code == 0
    assert "^(a+)+$" in project.rows()["pages"]["schema"]
