"""Every list answers one envelope: ``{data: [...], meta: {total, page, limit, pages, hasNext, hasPrev}}``.

The list routes are found in the OpenAPI document (their success body has a ``data`` array
and the ``PageMeta`` block, or one extending it, as ``meta``), so
a new list route is walked as soon as it declares itself a list; a test also fails when a
route that answers a list does not declare it.
"""

import re

import pytest

from app.services import forms, webhooks
from tests.fixtures.content import create_collection, insert_items

PAGE_KEYS = {"total", "page", "limit", "pages", "hasNext", "hasPrev"}


def _schema(doc, schema):
    return doc["components"]["schemas"].get(schema.get("$ref", "").rsplit("/", 1)[-1], {})


def _is_list(doc, schema):
    """Whether ``schema`` is a ``data`` array with the page block (``PageMeta``, or a block
    that adds keys to it) as ``meta``."""
    properties = _schema(doc, schema).get("properties", {})
    meta = _schema(doc, properties.get("meta", {}))
    return properties.get("data", {}).get("type") == "array" and set(meta.get("required", ())) >= PAGE_KEYS


def list_operations(doc):
    """``[path]`` of every GET whose success body is the list envelope."""
    found = []
    for path, item in doc["paths"].items():
        get = item.get("get")
        if get and _is_list(doc, get["responses"].get("200", {}).get("content", {}).get("application/json", {})
                            .get("schema", {})):
            found.append(path)
    return sorted(found)


@pytest.fixture
def site(app_client, make_user):
    admin, headers = make_user("admin")
    blog = create_collection("blog")
    ids = insert_items(blog, admin, 3)
    hook = webhooks.create_webhook("https://hooks.example.com/in", ["*"], True, None, True, None, admin.id)
    form = forms.create_form({"name": "contact", "display_name": "Contact", "fields": {}}, False, admin.id)
    return app_client, headers, {"name": "blog", "id": ids[0], "webhook_id": hook.id, "form_id": form.id}


def test_the_list_routes_are_the_expected_ones(app_client):
    doc = app_client.get("/api/openapi.json").json
    assert list_operations(doc) == [
        "/admin/api/collections", "/admin/api/forms", "/admin/api/forms/{form_id}/submissions", "/admin/api/logs",
        "/admin/api/plugins", "/admin/api/users", "/admin/api/webhooks", "/admin/api/webhooks/{webhook_id}/deliveries",
        "/api/collections", "/api/collections/{name}/content",
        "/api/content", "/api/content/{id}/history", "/api/content/{id}/versions", "/api/media",
        "/api/schedules", "/api/tokens", "/api/workflow/assignments",
    ]


def test_every_list_answers_the_one_envelope(site):
    client, headers, values = site
    doc = client.get("/api/openapi.json").json
    for path in list_operations(doc):
        body = client.get(path.format(**values), headers=headers, status=200).json
        assert set(body) >= {"data", "meta"}, path
        assert isinstance(body["data"], list), path
        assert set(body["meta"]) >= PAGE_KEYS, (path, body["meta"])
        meta = body["meta"]
        assert meta["total"] >= len(body["data"]) and meta["limit"] >= len(body["data"]) and meta["pages"] >= 0, path
        # A list answered whole says its length as limit: 0 only when empty, with no pages.
        assert meta["limit"] >= 1 or (meta["total"] == 0 and meta["pages"] == 0), (path, meta)
        assert isinstance(meta["hasNext"], bool) and isinstance(meta["hasPrev"], bool), path


def test_a_paged_list_counts_its_pages(site):
    client, headers, _ = site
    meta = client.get("/api/content?limit=2", headers=headers).json["meta"]
    assert {k: meta[k] for k in PAGE_KEYS} == {
        "total": 3, "page": 1, "limit": 2, "pages": 2, "hasNext": True, "hasPrev": False,
    }
    meta = client.get("/api/content/{}/versions?limit=1".format(site[2]["id"]), headers=headers).json["meta"]
    assert meta["page"] == 1 and meta["limit"] == 1


def test_single_users_are_data_objects(site):
    client, headers, _ = site
    me = client.get("/auth/me", headers=headers).json["user"]
    assert client.get(f"/admin/api/users/{me['id']}", headers=headers).json["data"]["id"] == me["id"]


def test_list_timestamps_are_iso_and_rows_keep_epoch_ms(site):
    client, headers, _ = site
    body = client.get("/api/content").json
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", body["meta"]["timestamp"])
    assert isinstance(body["data"][0]["created_at"], int)
    assert re.fullmatch(r"\d{4}-.*Z", client.get("/api/collections").json["meta"]["timestamp"])
