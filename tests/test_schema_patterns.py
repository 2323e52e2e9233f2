"""A field's ``pattern`` runs on RE2: no catastrophic backtracking, unsupported constructs refused.

A backtracking engine takes exponential time on ``^(a+)+$`` against ``aaaa...!`` and holds
the GIL meanwhile, so the whole worker stops. The ReDoS tests run under a deadline signal:
a backtracking engine is interrupted (and the request fails) long before it could finish,
while RE2 answers at once; the deadline is the failure signal, not a measure of speed.
"""

import contextlib
import signal

import pytest

from app.db.models import Collection
from tests.fixtures.content import create_collection

NESTED_QUANTIFIERS = "^(a+)+$"
DEADLINE_SECONDS = 60


@contextlib.contextmanager
def deadline(seconds=DEADLINE_SECONDS):
    """Raise TimeoutError in the block after ``seconds`` (Python's re checks signals as it runs)."""

    def expire(signum, frame):
        raise TimeoutError(f"no answer within {seconds} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def collection_body(name, **fields):
    return {"name": name, "displayName": name.title(),
            "schema": {"type": "object", "properties": fields}}


def test_nested_quantifiers_answer_at_once_on_a_long_non_matching_value(app_client, make_user):
    _, admin = make_user("admin")
    body = collection_body("codes", code={"type": "string", "pattern": NESTED_QUANTIFIERS})
    app_client.post_json("/admin/api/collections", body, headers=admin, status=201)
    with deadline():
        refused = app_client.post_json("/api/content", {
            "collectionId": "codes", "title": "Evil", "data": {"code": "a" * 5000 + "!"},
        }, headers=admin, status=422)
    assert refused.json["details"] == [{"field": "data.code", "message": f"must match the pattern {NESTED_QUANTIFIERS}"}]
    created = app_client.post_json("/api/content", {
        "collectionId": "codes", "title": "Fine", "data": {"code": "a" * 5000},
    }, headers=admin, status=201)
    assert created.json["data"]["data"]["code"] == "a" * 5000


@pytest.mark.parametrize("pattern, construct", [
    (r"^(\w+) \1$", "invalid escape sequence: \\1"),
    (r"^(?=.*\d).{8,}$", "invalid perl operator: (?="),
    (r"(?<!x)y", "invalid perl operator: (?<"),
])
def test_constructs_re2_cannot_run_are_refused_with_the_field(app_client, make_user, pattern, construct):
    _, admin = make_user("admin")
    body = collection_body("codes", ok={"type": "string", "pattern": "^[a-z]+$"},
                           tags={"type": "array", "items": {"type": "string", "pattern": pattern}})
    response = app_client.post_json("/admin/api/collections", body, headers=admin, status=422)
    [detail] = response.json["details"]
    assert detail["field"] == "schema.properties.tags.items.pattern"
    assert construct in detail["message"]
    assert "RE2 syntax, which has no backreferences, lookahead or lookbehind" in detail["message"]
    assert Collection.select().count() == 0


def test_an_update_with_an_unsupported_pattern_is_refused(app_client, make_user):
    _, admin = make_user("admin")
    row = create_collection("codes", {"type": "object", "properties": {"code": {"type": "string"}}})
    patch = {"schema": {"type": "object", "properties": {"code": {"type": "string", "pattern": r"(a)\1"}}}}
    response = app_client.patch_json(f"/admin/api/collections/{row.id}", patch, headers=admin, status=422)
    assert response.json["details"][0]["field"] == "schema.properties.code.pattern"
    assert Collection.get_by_id(row.id).schema == {"type": "object", "properties": {"code": {"type": "string"}}}


def test_patterns_match_anywhere_unless_anchored(app_client, make_user):
    _, admin = make_user("admin")
    body = collection_body("codes", digit={"type": "string", "pattern": "[0-9]"},
                           word={"type": "string", "pattern": "^[a-z]+$"})
    app_client.post_json("/admin/api/collections", body, headers=admin, status=201)
    app_client.post_json("/api/content", {
        "collectionId": "codes", "title": "One", "data": {"digit": "abc1def", "word": "abc"},
    }, headers=admin, status=201)
    refused = app_client.post_json("/api/content", {
        "collectionId": "codes", "title": "Two", "data": {"digit": "abc", "word": "abc\n"},
    }, headers=admin, status=422)
    # "$" is the end of the value: a trailing newline does not slip through an anchored pattern.
    assert [detail["field"] for detail in refused.json["details"]] == ["data.digit", "data.word"]


def test_a_stored_pattern_re2_cannot_run_answers_422_not_500(app_client, make_user):
    # A schema stored before patterns ran on RE2 may hold a lookahead: writes name the field.
    _, admin = make_user("admin")
    create_collection("legacy", {"type": "object", "properties": {"code": {"type": "string", "pattern": "^(?=a)a$"}}})
    response = app_client.post_json("/api/content", {
        "collectionId": "legacy", "title": "Old", "data": {"code": "a"},
    }, headers=admin, status=422)
    assert response.json["details"] == [
        {"field": "data.code", "message": "the collection schema's pattern for this field is invalid"}]
