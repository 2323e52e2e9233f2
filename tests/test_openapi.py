"""The OpenAPI document: generated from the mounted routes, complete, valid, served at two paths."""

import re

import falcon.inspect
import jsonschema_rs
import pytest
from openapi_spec_validator import validate

from app.api.openapi import openapi_path
from tests.fixtures.app import app_for

_CONVERTED = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*):[^}]*\}")


def mounted_operations(app):
    """``{(path, method)}`` of every API responder the app mounts, and the HEAD the router
    answers with a GET (Falcon's own defaults and the admin UI's HTML pages left out)."""
    found = set()
    for route in falcon.inspect.inspect_routes(app):
        if "/app/admin/" in route.source_info:
            continue
        path = _CONVERTED.sub(r"{\1}", route.path)
        methods = {m.method.lower() for m in route.methods if not m.internal}
        found |= {(path, method) for method in methods | ({"head"} if "get" in methods else set())}
    return found


def documented_operations(doc):
    return {(path, method) for path, item in doc["paths"].items() for method in item}


@pytest.fixture
def doc(client):
    return client.get("/api/openapi.json").json


# Plugins whose rows start inactive: their routes are mounted but left out of the document.
INACTIVE_BY_DEFAULT = {"otp-login": {"/auth/otp/request", "/auth/otp/resend", "/auth/otp/verify"},
                       "magic-link-auth": {"/auth/magic-link/request", "/auth/magic-link/verify"}}


def test_every_mounted_route_is_documented_and_nothing_else(env, client, doc, make_user):
    mounted = mounted_operations(app_for(env))
    documented = documented_operations(doc)
    hidden = set().union(*INACTIVE_BY_DEFAULT.values())
    assert {path for path, _ in mounted - documented} == hidden
    assert documented - mounted == set()
    assert ("/api/content/{id}/versions/{version}", "get") in documented
    _, admin = make_user("admin")
    for name in INACTIVE_BY_DEFAULT:
        client.post(f"/admin/api/plugins/{name}/activate", headers=admin, status=200)
    assert documented_operations(client.get("/api/openapi.json").json) == mounted


def test_the_document_is_valid_openapi_3_1(doc):
    assert doc["openapi"].startswith("3.1")
    validate(doc)


def test_get_api_serves_the_same_document(client, doc):
    response = client.get("/api")
    assert response.content_type == "application/json"
    assert response.json == doc
    assert client.get("/api/").json == doc


def test_an_inactive_plugins_routes_leave_the_document(client, doc, make_user):
    _, admin = make_user("admin")
    assert "/admin/api/cache" in doc["paths"] and "/admin/api/cache/purge" in doc["paths"]
    client.post("/admin/api/plugins/core-cache/deactivate", headers=admin, status=200)
    client.get("/admin/api/cache", headers=admin, status=404)
    without = client.get("/api/openapi.json").json
    assert set(doc["paths"]) - set(without["paths"]) == {
        "/admin/api/cache", "/admin/api/cache/purge", "/admin/api/cache/clear", "/admin/api/cache/clear/{namespace}",
        "/admin/api/cache/stats", "/admin/api/cache/stats/{namespace}", "/admin/api/cache/warm",
        "/admin/api/cache/warm/{namespace}",
    }
    client.post("/admin/api/plugins/core-cache/activate", headers=admin, status=200)
    assert client.get("/api/openapi.json").json == doc


def test_security_follows_the_access_rule(doc):
    public = doc["paths"]["/api/content"]["get"]
    assert {} in public["security"]
    create = doc["paths"]["/api/content"]["post"]
    assert {} not in create["security"]
    assert create["x-permission"] == "content.create"
    assert {"apiKey": []} in create["security"]
    me = doc["paths"]["/auth/me"]["get"]
    assert {} not in me["security"] and "x-permission" not in me


def test_bodies_and_query_parameters_come_from_the_declarations(doc):
    schemas = doc["components"]["schemas"]
    create = doc["paths"]["/api/content"]["post"]
    ref = create["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    body = schemas[ref.rsplit("/", 1)[1]]
    assert "collectionId" in body["required"]
    assert "201" in create["responses"]
    users = doc["paths"]["/admin/api/users"]["get"]
    names = {p["name"]: p for p in users["parameters"]}
    assert names["limit"]["schema"] == {"type": "integer", "minimum": 1, "maximum": 100, "description": "page size (default 20)"}
    assert set(names["role"]["schema"]["enum"]) == {"admin", "editor", "author", "viewer"}
    upload = doc["paths"]["/api/media/upload"]["post"]
    assert "multipart/form-data" in upload["requestBody"]["content"]


def test_files_name_their_conditional_answers_for_get_and_head(doc):
    item = doc["paths"]["/files/{key}"]
    assert {"206", "304"} <= set(item["get"]["responses"])
    assert {"304", "412"} <= set(item["head"]["responses"])


@pytest.mark.parametrize("path", [
    "/api/content", "/api/content/{id}", "/api/collections/{name}/content", "/api/collections/{name}/content/{slug}",
])
def test_content_reads_declare_if_none_match_and_their_304(doc, path):
    get = doc["paths"][path]["get"]
    params = {p["name"]: p for p in get["parameters"]}
    assert params["If-None-Match"]["in"] == "header"
    not_modified = get["responses"]["304"]
    assert not_modified["description"] == "No body" and "content" not in not_modified
    assert {"ETag", "X-Cache-Status", "X-Cache-Source"} <= set(not_modified["headers"])


def test_header_parameters_are_declared_too(doc):
    put = {p["name"]: p for p in doc["paths"]["/api/content/{id}"]["put"]["parameters"]}
    assert put["If-Match"]["in"] == "header"


def test_path_parameters_come_from_the_template(doc):
    params = doc["paths"]["/api/content/{id}/versions/{version}"]["get"]["parameters"]
    assert params[0] == {"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}
    assert params[1]["schema"]["type"] == "integer" and params[1]["schema"]["minimum"] == 1


def test_errors_are_the_envelope(doc):
    for item in doc["paths"].values():
        for method, operation in item.items():
            if method == "head":
                continue  # never a body (test_every_get_has_a_head_twin_without_content)
            schema = operation["responses"]["default"]["content"]["application/json"]["schema"]
            assert schema == {"$ref": "#/components/schemas/ErrorBody"}


def test_the_envelope_s_details_are_the_shapes_the_api_answers(doc):
    # Served as the document says, so the conformance check of every request-level test
    # refuses a field's problem given as an object (as a taken slug's once was).
    validator = jsonschema_rs.validator_for(doc["components"]["schemas"]["ErrorBody"])
    answers = [
        {"error": "Validation failed", "details": [{"field": "slug", "message": "is taken", "slug": "same"}]},
        {"error": "Validation failed", "details": [{"field": None, "message": "NUL characters are not allowed"}]},
        {"error": "Invalid query parameters", "details": [{"parameter": "limit", "message": "must be at least 1"}]},
        {"error": "Nothing was changed", "details": [{"id": "a1", "status": 404, "error": "Content not found"}]},
        {"error": "Malformed JSON body", "details": "JSON is malformed: invalid character (byte 0)"},
        {"error": "Too many attempts, try again later", "details": {"retry_after": 30}},
        {"error": "Version conflict", "details": {"current_version": 2, "your_version": None}},
        {"error": "Not Found"},
    ]
    refused = [
        {"error": "A content item with this slug already exists", "details": {"field": "slug", "slug": "same"}},
        {"error": "Invalid query parameters", "details": {"parameter": "limit"}},
        {"error": "Validation failed", "details": [{"field": "slug"}]},
        {"error": "Too many attempts, try again later", "details": {"retry_after": "soon"}},
    ]
    assert [validator.is_valid(answer) for answer in answers] == [True] * len(answers)
    assert [validator.is_valid(answer) for answer in refused] == [False] * len(refused)


def test_every_get_has_a_head_twin_without_content(doc):
    # The router answers HEAD with the GET (app.api.methods): same parameters, security,
    # statuses and headers; a HEAD answer never has a body, so none is described.
    gets = {path for path, item in doc["paths"].items() if "get" in item}
    assert {path for path, item in doc["paths"].items() if "head" in item} == gets
    for path in gets - {"/files/{key}"}:  # /files answers HEAD itself
        get, head = doc["paths"][path]["get"], doc["paths"][path]["head"]
        assert head["parameters"] == get["parameters"], path
        assert head["security"] == get["security"], path
        assert head.get("x-permission") == get.get("x-permission"), path
        assert set(head["responses"]) == set(get["responses"]), path
        for status, response in get["responses"].items():
            assert head["responses"][status]["headers"] == response["headers"], (path, status)
        assert head["summary"] == f"{get['summary']} (headers only)"
    for path in gets:
        assert all("content" not in response for response in doc["paths"][path]["head"]["responses"].values()), path
    ids = [operation["operationId"] for item in doc["paths"].values() for operation in item.values()]
    assert len(ids) == len(set(ids))
    assert doc["paths"]["/api/content"]["head"]["operationId"] == "head_api_content"


def test_openapi_path_converts_falcon_templates():
    assert openapi_path("/a/{id}/b/{n:int(min=1, max=9)}") == (
        "/a/{id}/b/{n}",
        [("id", {"type": "string"}), ("n", {"type": "integer", "minimum": 1, "maximum": 9})],
    )


def test_the_admin_pages_are_left_out_and_really_mounted(env, doc):
    # Browser pages are not API operations; the exclusion must not hide API routes.
    paths = {route.path for route in falcon.inspect.inspect_routes(app_for(env))}
    assert {"/", "/admin", "/admin/login"} <= paths
    assert not {"/", "/admin", "/admin/login"} & set(doc["paths"])  # so no head operation for them either
    # SonicJS's JSON routes kept under /admin: its plugin settings form's, AI Search's admin API.
    sonicjs_json = {"/admin/plugins/{name}/settings", *(f"/admin/plugins/ai-search/api/{name}"
                                                        for name in ("settings", "new-collections", "status", "reindex"))}
    assert sonicjs_json <= set(doc["paths"])
    assert not any(path == "/" or path.startswith("/admin/") and not path.startswith("/admin/api/")
                   for path in doc["paths"] if path not in sonicjs_json)
    assert "/admin/api/users" in doc["paths"]


# Public routes taking a browser's HTML form: the cross-origin check's 403 is theirs too.
FORM_POSTS = {("/auth/magic-link/verify", "post"), ("/auth/login/form", "post"), ("/auth/register/form", "post"),
              ("/auth/request-password-reset", "post"), ("/auth/reset-password", "post")}


def test_operations_that_need_a_caller_name_their_refusals(doc):
    for path, item in doc["paths"].items():
        for method, operation in item.items():
            public = {} in operation["security"]
            assert ("401" in operation["responses"]) is not public, (method, path)
            assert ("403" in operation["responses"]) is (not public or (path, method) in FORM_POSTS), (method, path)
    refusal = doc["paths"]["/api/content"]["post"]["responses"]["403"]
    assert refusal["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/ErrorBody"}


# Public reads that refuse an anonymous caller asking for more than the public sees.
SIGNS_IN = {"/api/content", "/api/collections/{name}/content"}


def test_reads_that_need_a_caller_name_the_browsers_sign_in_redirect(doc):
    """A browser navigating to a GET that needs a caller is sent to sign in instead of the 401
    (app.api.sign_in_redirect): that 303 is declared on those GETs and HEADs, on the public
    lists that refuse an anonymous caller asking for drafts, and nowhere else."""
    for path, item in doc["paths"].items():
        for method, operation in item.items():
            needs_caller = {} not in operation["security"] or path in SIGNS_IN
            redirected = operation["responses"].get("303")
            if not (needs_caller and method in ("get", "head")):
                assert redirected is None or "sign-in" not in redirected["description"], (method, path)
                continue
            assert redirected is not None, (method, path)
            assert "browser" in redirected["description"] and redirected["headers"]["Location"]["required"]
            assert ("content" in redirected) is (method == "get"), (method, path)
    assert doc["paths"]["/admin/api/stats"]["get"]["responses"]["303"]["content"] == {
        "text/html": {"schema": {"type": "string"}}}
    assert "Only when an anonymous caller asks for more than published items" in \
        doc["paths"]["/api/content"]["get"]["responses"]["303"]["description"]


FORM_PAGES = {("/auth/magic-link/verify", "post"): {"403", "429"}, ("/auth/login/form", "post"): {"403"},
              ("/auth/register/form", "post"): {"403"}, ("/forms/{name}", "post"): {"429"},
              ("/forms/{name}/submit", "post"): {"429"}, ("/api/forms/{name}/submit", "post"): {"429"},
              ("/auth/request-password-reset", "post"): {"400", "403", "422", "429"},
              ("/auth/reset-password", "post"): {"400", "403", "422", "429"}}


def test_routes_taking_browser_forms_declare_their_error_pages(client, make_user):
    """Their 403 (and a rate-limited route's 429, and the password reset's 400 and 422) is the
    envelope, or an HTML page for a browser's form (app.api.form_error_pages); no other
    operation answers a 403 or 429 page."""
    _, admin = make_user("admin")
    client.post("/admin/api/plugins/magic-link-auth/activate", headers=admin, status=200)
    doc = client.get("/api/openapi.json").json
    for path, item in doc["paths"].items():
        for method, operation in item.items():
            pages = {code for code, response in operation["responses"].items()
                     if "browser's form post" in response["description"]}
            assert pages == FORM_PAGES.get((path, method), set()), (method, path)
            assert {code for code, response in operation["responses"].items()
                    if "text/html" in response.get("content", {}) and code in ("403", "429")} <= pages
            for code in pages:
                assert "browser's form post" in operation["responses"][code]["description"]
                assert operation["responses"][code]["content"]["application/json"]["schema"] == {
                    "$ref": "#/components/schemas/ErrorBody"}


def test_every_json_success_has_a_typed_schema(doc):
    # Only the document itself (an open object) and non-JSON bodies may go untyped.
    untyped = []
    for path, item in doc["paths"].items():
        for method, operation in item.items():
            for status, response in operation["responses"].items():
                schema = response.get("content", {}).get("application/json", {}).get("schema")
                # A named type, or any one of several (a health report's 503: its report or the envelope).
                typed = [schema] if schema is None or "anyOf" not in schema else schema["anyOf"]
                if schema is not None and not all("$ref" in each for each in typed):
                    untyped.append((method, path, status))
    assert untyped == []


def test_response_objects_are_closed_and_user_data_stays_open(doc):
    schemas = doc["components"]["schemas"]
    assert schemas["ContentItem"]["additionalProperties"] is False
    assert "collectionId" in schemas["ContentItem"]["required"]
    assert schemas["ContentItem"]["properties"]["data"] == {}  # the user's fields, as stored
    assert schemas["CollectionDetail"]["properties"]["schema"] == {"type": "object"}
    assert schemas["ErrorBody"]["additionalProperties"] is False
    assert set(schemas["AdminUser"]["properties"]["role"]["enum"]) == {"admin", "editor", "author", "viewer"}


@pytest.mark.parametrize("path", [
    "/api/content", "/api/content/{id}", "/api/collections/{name}/content", "/api/collections/{name}/content/{slug}",
    "/api/collections",
])
def test_public_reads_declare_their_meta_timestamp_cache_and_timing(doc, path):
    schemas = doc["components"]["schemas"]
    ref = doc["paths"][path]["get"]["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
    meta = schemas[schemas[ref.rsplit("/", 1)[1]]["properties"]["meta"]["$ref"].rsplit("/", 1)[1]]
    assert {"timestamp", "cache", "timing"} <= set(meta["required"])
    timing = schemas[meta["properties"]["timing"]["$ref"].rsplit("/", 1)[1]]
    assert set(timing["required"]) == {"total", "execution", "unit"}


@pytest.mark.parametrize("path", ["/api/content", "/api/collections/{name}/content"])
def test_content_lists_declare_sonicjs_s_page_size(doc, path):
    params = {p["name"]: p for p in doc["paths"][path]["get"]["parameters"]}
    assert params["pageSize"]["in"] == "query" and "limit" in params["pageSize"]["description"]


@pytest.mark.parametrize(("path", "field", "rule"), [
    ("/admin/api/forms", "name", "A form name must use lower-case letters, digits, - and _, up to 64 characters"),
    ("/admin/api/collections", "name",
     "A collection name must use lower-case letters, digits, - and _, up to 64 characters"),
    ("/auth/register", "username", "A username is 3 to 50 of A-Z, a-z, 0-9, '_', '.', '-'"),
    ("/admin/api/users", "username", "A username is 3 to 50 of A-Z, a-z, 0-9, '_', '.', '-'"),
    ("/auth/accept-invitation", "username", "A username is 3 to 50 of A-Z, a-z, 0-9, '_', '.', '-'"),
])
def test_names_checked_by_their_services_state_the_rule_in_words(doc, path, field, rule):
    """Their services check these names and refuse them in the rule's words: the document says
    that rule, not a pattern or a length the service's refusal would contradict."""
    ref = doc["paths"][path]["post"]["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    declared = doc["components"]["schemas"][ref.rsplit("/", 1)[1]]["properties"][field]
    declared = next((choice for choice in declared.get("anyOf", []) if choice.get("type") == "string"), declared)
    assert declared == {"type": "string", "description": rule}


def test_an_item_as_read_is_a_body_the_update_declares(client, doc, make_user, blog_collection):
    """A client that checks its requests against the document may PUT back the item it read."""
    _, admin = make_user("admin")
    created = client.post_json("/api/content", {"collectionId": "blog", "title": "Hi"}, headers=admin).json["data"]
    item = client.get(f"/api/content/{created['id']}", headers=admin).json["data"]
    assert "workflow_state_id" in item  # the private keys of the read too
    body = doc["paths"]["/api/content/{id}"]["put"]["requestBody"]["content"]["application/json"]["schema"]
    validator = jsonschema_rs.validator_for({**body, "components": doc["components"]})
    assert validator.is_valid(item)
    assert not validator.is_valid({**item, "titel": "a typo"})
    properties = doc["components"]["schemas"]["UpdateBody"]["properties"]
    assert "ignored" in properties["created_at"]["description"]
    assert "path's `id`" in properties["id"]["description"]


def body_schema(doc, path, method="post"):
    ref = doc["paths"][path][method]["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    return doc["components"]["schemas"][ref.rsplit("/", 1)[1]]


def other_spelling(described):
    """The other spelling a body property's description names (``also accepted as `x```), or None."""
    found = re.search(r"also accepted as `([^`]+)` \(not both: a 422\)", described.get("description", ""))
    return found and found.group(1)


def test_body_fields_name_the_other_casing_they_are_accepted_in(client, doc, make_user, blog_collection):
    """Every body takes its fields in camelCase and snake_case: each property says its other
    spelling in its description (one property per value, so `required` still holds), in
    nested Structs too, and a body sent in the spellings named is taken."""
    create = body_schema(doc, "/api/content")
    assert other_spelling(create["properties"]["collectionId"]) == "collection_id"
    assert "collectionId" in create["required"] and "collection_id" not in create["properties"]
    assert other_spelling(create["properties"]["title"]) is None  # one word: one spelling
    users = doc["components"]["schemas"]["UserPatch"]["properties"]
    assert other_spelling(users["first_name"]) == "firstName"
    search = doc["components"]["schemas"]["SearchFilters"]["properties"]  # nested in the search's body
    assert other_spelling(search["dateRange"]) == "date_range"
    # An answer's objects are no body: they name nothing more.
    assert not any(other_spelling(p) for p in doc["components"]["schemas"]["ContentItem"]["properties"].values())
    _, admin = make_user("admin")
    sent = {"collectionId": "blog", "title": "Hi", "metaTitle": "SEO", "metaDescription": "About"}
    renamed = {other_spelling(create["properties"][key]) or key: value for key, value in sent.items()}
    assert set(renamed) == {"collection_id", "title", "meta_title", "meta_description"}
    created = client.post_json("/api/content", renamed, headers=admin, status=201).json["data"]
    assert (created["meta_title"], created["meta_description"]) == ("SEO", "About")
