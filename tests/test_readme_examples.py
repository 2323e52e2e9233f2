"""The README's request/response examples, checked against the generated OpenAPI document.

An example is an HTML comment ``<!-- example: METHOD /path/{template} STATUS -->`` followed
by one or two JSON blocks: for methods with a body the first is the request body; the last
(or only, for GET and DELETE) is the response, unless a write example gives its body only.
"""

import json
import re

import pytest
from jsonschema import Draft202012Validator

from tests.fixtures.app import PROJECT_ROOT

EXAMPLE = re.compile(r"<!-- example: (\w+) (\S+) (\d{3}) -->\n((?:```json\n.*?\n```\n?)+)", re.S)
BLOCK = re.compile(r"```json\n(.*?)\n```", re.S)
BODY_METHODS = {"POST", "PUT", "PATCH"}


def readme_examples():
    text = (PROJECT_ROOT / "README.md").read_text()
    found = []
    for method, path, status, blocks in EXAMPLE.findall(text):
        found.append((method, path, status, [json.loads(b) for b in BLOCK.findall(blocks)]))
    return found


EXAMPLES = readme_examples()


@pytest.fixture(scope="module")
def doc(tmp_path_factory, migrated_template):
    from tests.fixtures.app import client_for, env_with_copy

    env = env_with_copy(tmp_path_factory.mktemp("readme"), migrated_template)
    yield client_for(env).get("/api/openapi.json").json
    env.DB.db.close()


def check(doc, schema, instance):
    """Validate ``instance`` against ``schema``, whose refs point into the document."""
    errors = sorted(Draft202012Validator({**schema, "components": doc["components"]}).iter_errors(instance), key=str)
    assert not errors, "\n".join(f"{list(e.absolute_path)}: {e.message}" for e in errors)


def test_the_readme_has_an_example_per_area():
    assert len(EXAMPLES) >= 10
    assert {path.split("/")[2] if path.startswith("/api/") else path.split("/")[1] for _, path, _, _ in EXAMPLES} >= {
        "health", "auth", "tokens", "content", "media", "admin",
    }


@pytest.mark.parametrize("method, path, status, blocks", EXAMPLES, ids=[f"{m} {p} {s}" for m, p, s, _ in EXAMPLES])
def test_each_example_matches_the_document(doc, method, path, status, blocks):
    operation = doc["paths"][path][method.lower()]
    if method in BODY_METHODS:
        check(doc, operation["requestBody"]["content"]["application/json"]["schema"], blocks[0])
        blocks = blocks[1:]
    response = operation["responses"].get(status) or operation["responses"]["default"]
    for body in blocks:
        check(doc, response["content"]["application/json"]["schema"], body)
