"""A form's ``settings`` are the API's own object: each key in camelCase or snake_case, an
unknown one named by its path (``settings.<key>``), the keys declared in the OpenAPI
document; stored and answered as before, in snake_case."""

import pytest

from app.db.models import Form

pytestmark = pytest.mark.backends

FIELDS = {"email": {"type": "email"}}
SETTINGS = {"success_message": "Thanks!", "redirect_url": "/thanks", "notify_emails": ["team@example.com"],
            "turnstile": False}
CAMEL = {"successMessage": "Thanks!", "redirectUrl": "/thanks", "notifyEmails": ["team@example.com"],
         "turnstile": False}


@pytest.fixture
def admin(make_user):
    return make_user("admin")[1]


def create(client, admin, settings, status=201):
    body = {"name": "contact", "displayName": "Contact", "fields": FIELDS, "settings": settings}
    return client.post_json("/admin/api/forms", body, headers=admin, status=status).json


def test_settings_in_camel_case_are_stored_and_answered_as_in_snake_case(client, admin):
    created = create(client, admin, CAMEL)["data"]
    assert created["settings"] == SETTINGS
    assert client.get(f"/admin/api/forms/{created['id']}", headers=admin).json["data"]["settings"] == SETTINGS


def test_a_change_names_settings_in_either_casing_and_keeps_the_others(client, admin):
    form_id = create(client, admin, {"success_message": "Thanks!"})["data"]["id"]
    changed = client.patch_json(f"/admin/api/forms/{form_id}", {"settings": {"redirectUrl": "/thanks"}},
                                headers=admin).json["data"]
    assert changed["settings"]["redirect_url"] == "/thanks" and changed["settings"]["success_message"] == "Thanks!"
    changed = client.patch_json(f"/admin/api/forms/{form_id}", {"settings": {"notifyEmails": ["a@example.com"],
                                                                             "redirect_url": None}},
                                headers=admin).json["data"]
    assert changed["settings"] == {**SETTINGS, "redirect_url": None, "notify_emails": ["a@example.com"]}


@pytest.mark.parametrize("method", ["post", "patch"])
def test_an_unknown_setting_is_named_by_its_path(client, admin, method):
    if method == "post":
        refused = create(client, admin, {"successMessage": "x", "colour": "red"}, status=422)
    else:
        form_id = create(client, admin, {})["data"]["id"]
        refused = client.patch_json(f"/admin/api/forms/{form_id}", {"settings": {"colour": "red"}}, headers=admin,
                                    status=422).json
    assert refused["details"] == [{"field": "settings.colour", "message": "Object contains unknown field `colour`"}]


def test_an_unknown_key_of_a_stored_row_is_named_by_its_path_as_the_apis(client, admin):
    """A row whose settings were written by hand is checked by the service when a change merges
    them: its refusal names the key as the API names one sent in a body."""
    form_id = create(client, admin, {"successMessage": "x"})["data"]["id"]
    stored = {**SETTINGS, "colour": "red"}
    Form.update(settings=stored).where(Form.id == form_id).execute()
    refused = client.patch_json(f"/admin/api/forms/{form_id}", {"settings": {"successMessage": "y"}}, headers=admin,
                                status=422).json
    assert refused["details"] == [{"field": "settings.colour", "message": "Object contains unknown field `colour`"}]
    assert Form.get_by_id(form_id).settings == stored
    # The API's refusal of a wrong value in a stored row names its path too, as before.
    Form.update(settings={**SETTINGS, "turnstile": "yes"}).where(Form.id == form_id).execute()
    refused = client.patch_json(f"/admin/api/forms/{form_id}", {"settings": {"successMessage": "y"}}, headers=admin,
                                status=422).json
    assert refused["details"] == [{"field": "settings.turnstile", "message": "Expected `bool`, got `str`"}]


def test_one_setting_in_both_casings_is_refused(client, admin):
    refused = create(client, admin, {"successMessage": "a", "success_message": "b"}, status=422)
    assert refused["details"][0]["field"].startswith("settings.")
    assert "one casing only" in refused["details"][0]["message"]


def test_a_settings_value_refused_names_its_path_in_either_casing(client, admin):
    refused = create(client, admin, {"redirectUrl": "javascript:alert(1)"}, status=422)
    assert [problem["field"] for problem in refused["details"]] == ["settings.redirect_url"]
    refused = create(client, admin, {"notifyEmails": ["x"] * 11}, status=422)
    assert [problem["field"] for problem in refused["details"]] == ["settings.notify_emails"]


def test_the_openapi_document_declares_the_settings_keys(client):
    document = client.get("/api/openapi.json").json
    schemas = document["components"]["schemas"]
    for body in ("FormBody", "FormPatch"):
        settings = schemas[body]["properties"]["settings"]
        refs = [option["$ref"] for option in settings.get("anyOf", [settings]) if "$ref" in option]
        [declared] = [schemas[ref.rsplit("/", 1)[-1]] for ref in refs]
        assert set(declared["properties"]) == {"success_message", "redirect_url", "notify_emails", "turnstile"}
        assert declared["additionalProperties"] is False
        assert declared["properties"]["redirect_url"]["description"] == "also accepted as `redirectUrl` (not both: a 422)"
