"""Body fields in either casing, at any depth of what the API declares; user data as written.

The API's own fields (a Struct's, and those of Structs nested in it) are accepted as
``camelCase`` or ``snake_case``; the keys of user data (content ``data``, a collection's
``schema``) are the user's names and are stored exactly as sent.
"""

import msgspec
import pytest

from app.api.errors import APIError, either_casing
from tests.fixtures.content import create_collection

pytestmark = pytest.mark.backends


class Limits(msgspec.Struct, forbid_unknown_fields=True):
    max_items: int
    displayName: str = ""


class Settings(msgspec.Struct, forbid_unknown_fields=True):
    one_limit: Limits | None = None
    all_limits: list[Limits] = []
    named_limits: dict[str, Limits] = {}
    free_form: dict = {}


def test_nested_api_fields_accept_either_casing():
    body = {
        "oneLimit": {"maxItems": 1, "display_name": "one"},
        "allLimits": [{"maxItems": 2}, {"max_items": 3}],
        "namedLimits": {"someName": {"maxItems": 4}},
        "freeForm": {"someKey": {"maxItems": 5}},
    }
    settings = msgspec.convert(either_casing(body, Settings), Settings)
    assert settings.one_limit == Limits(1, "one")
    assert [limit.max_items for limit in settings.all_limits] == [2, 3]
    assert settings.named_limits == {"someName": Limits(4)}  # dict keys are the user's names
    assert settings.free_form == {"someKey": {"maxItems": 5}}  # a plain dict is user data


def test_both_casings_of_a_nested_field_is_refused():
    with pytest.raises(APIError) as caught:
        either_casing({"allLimits": [{"max_items": 1}, {"maxItems": 1, "max_items": 2}]}, Settings)
    assert caught.value.details == [
        {"field": "all_limits[1].max_items", "message": "give max_items in one casing only"},
    ]


def test_content_data_keys_are_stored_as_written(app_client, make_user):
    admin, headers = make_user("admin")
    create_collection("notes")
    data = {"someField": 1, "other_field": {"innerKey": 2, "inner_key_two": 3}}
    created = app_client.post_json("/api/content", {"collection_id": "notes", "title": "Hi", "data": data},
                                   headers=headers, status=201).json["data"]
    assert created["data"] == data
    assert app_client.get(f"/api/content/{created['id']}", headers=headers).json["data"]["data"] == data


def test_collection_schema_keys_are_stored_as_written(app_client, make_user):
    admin, headers = make_user("admin")
    schema = {"type": "object", "properties": {"bodyText": {"type": "string", "maxLength": 80},
                                               "sub_title": {"type": "string"}}}
    created = app_client.post_json("/admin/api/collections",
                                   {"name": "posts", "displayName": "Posts", "schema": schema},
                                   headers=headers, status=201).json
    assert created["schema"] == schema
    detail = app_client.get(f"/admin/api/collections/{created['id']}", headers=headers).json
    assert {field["field_name"] for field in detail["fields"]} == {"bodyText", "sub_title"}
