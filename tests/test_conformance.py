"""The check every request-level test runs on its answers (tests/fixtures/conformance.py) catches drift.

Each test hands the checker of the real document an answer the API could drift to: a
missing or extra key, a wrong type, an undocumented status or content type.
"""

import pytest
from falcon.routing.converters import IntConverter, PathConverter

from tests.fixtures.conformance import DocumentDrift, spanning_parameters


@pytest.fixture
def checker(client):
    client.get("/health")
    return client.conformance()


def _user():
    return {"id": "u1", "email": "a@example.com", "username": "a", "firstName": "A", "lastName": "B",
            "role": "viewer"}


def test_a_conforming_answer_passes(checker):
    checker.check("POST", "/auth/login", 200, "application/json", b"{}", {"user": _user(), "token": "t"})


def test_a_missing_required_key_is_drift(checker):
    with pytest.raises(DocumentDrift, match="token"):
        checker.check("POST", "/auth/login", 200, "application/json", b"{}", {"user": _user()})


def test_an_undocumented_key_is_drift(checker):
    with pytest.raises(DocumentDrift, match="password_hash"):
        checker.check("POST", "/auth/login", 200, "application/json", b"{}",
                      {"user": {**_user(), "password_hash": "x"}, "token": "t"})


def test_a_wrong_type_is_drift(checker):
    with pytest.raises(DocumentDrift, match="role"):
        checker.check("POST", "/auth/login", 200, "application/json", b"{}",
                      {"user": {**_user(), "role": "root"}, "token": "t"})


def test_an_error_must_be_the_envelope(checker):
    checker.check("GET", "/api/content/x", 404, "application/json", b"{}", {"error": "Not Found"})
    with pytest.raises(DocumentDrift):
        checker.check("GET", "/api/content/x", 404, "application/json", b"{}", {"message": "Not Found"})


def test_another_content_type_is_drift(checker):
    with pytest.raises(DocumentDrift, match="text/html"):
        checker.check("GET", "/api/content", 200, "text/html", b"<p>", None)


def test_the_literal_path_wins_over_the_template(checker):
    template, _ = checker.operation("GET", "/api/content/stats")
    assert template == "/api/content/stats"
    assert checker.operation("GET", "/api/content/abc")[0] == "/api/content/{id}"
    assert checker.operation("GET", "/admin/login") is None


def test_request_level_answers_are_checked(client):
    # The client itself checks: a request-level test sees drift without asking for it.
    response = client.get("/api/content", status=200)
    assert response.json["data"] == []
    assert client.conformance() is not None


def test_a_file_key_spans_segments_and_other_parameters_do_not(checker):
    # /files/{key:path} takes a key holding '/', as every media key does; {id} takes one segment.
    assert checker.operation("GET", "/files/uploads/abc/photo.jpg")[0] == "/files/{key}"
    assert checker.operation("HEAD", "/files/uploads/abc/photo.jpg")[0] == "/files/{key}"
    assert checker.operation("GET", "/api/content/a/b/c") is None


def test_a_file_answer_is_checked(checker):
    checker.check("GET", "/files/uploads/abc/photo.jpg", 404, "application/json", b"{}", {"error": "Not Found"})
    with pytest.raises(DocumentDrift, match="/files/{key}"):
        checker.check("GET", "/files/uploads/abc/photo.jpg", 404, "application/json", b"{}", {"message": "x"})


def test_any_converter_that_takes_several_segments_spans_them():
    class Rest:  # an app's own converter, as Falcon lets one declare
        CONSUME_MULTIPLE_SEGMENTS = True

    converters = {"int": IntConverter, "path": PathConverter, "rest": Rest}
    templates = ["/a/{id:int(min=1)}/{tail:rest}", "/files/{key:path}", "/b/{name}"]
    assert spanning_parameters(templates, converters) == {"/a/{id}/{tail}": {"tail"}, "/files/{key}": {"key"}}


def test_a_head_answer_is_checked_as_its_operation(checker):
    # Every GET has its HEAD in the document: a HEAD answer is matched and checked too.
    template, operation = checker.operation("HEAD", "/api/content/abc")
    assert template == "/api/content/{id}" and operation["operationId"] == "head_api_content_id"
    checker.check("HEAD", "/api/content/abc", 404, "application/json", b"", None)
    with pytest.raises(DocumentDrift, match="a HEAD answered a body"):
        checker.check("HEAD", "/api/content", 200, "application/json", b"{}", {})
