"""Property-based fuzzing of the whole API from its own OpenAPI document (schemathesis).

Every documented operation gets generated requests, valid and invalid, sent to the real
app (the Worker over a migrated SQLite database with a collection and content), once
signed in as an admin, so the checks behind authentication run too, and again as an
editor, an author, a viewer and anonymously, so the refusals (401, 403, 404) are fuzzed
as well. No answer may be a 5xx, and each must conform to the document (status, content
type, body schema, and the response headers: each one declared required is sent, and each
declared one sent has a value its schema allows; the refusals are documented per
operation). Bounded so the whole module stays within about two minutes on two cores: the
admin run gets the most examples.
"""

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from app.db.models import bind_models
from app.runtime.entry import Worker
from tests.fixtures.app import app_for, env_with_copy
from tests.fixtures.auth import FAST_SCRYPT
from tests.fixtures.content import BLOG_SCHEMA, create_collection, insert_items
from tests.fixtures.users import create_user, token_for

# (role or None for anonymous, examples per operation)
RUNS = [("admin", 25), ("editor", 6), ("author", 6), ("viewer", 6), (None, 6)]
# Answers, not input strictness: the document cannot state every rule a body obeys (a NUL
# refused, a collection that must exist), so a valid-looking request may well be a 4xx.
CHECKS = [
    not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance,
    response_headers_conformance,
]


@pytest.fixture(scope="module")
def fuzzed(tmp_path_factory, migrated_template):
    """``(schema, {role: headers})``: the document of a seeded app and each role's credentials."""
    env = env_with_copy(tmp_path_factory.mktemp("fuzz"), migrated_template)
    bind_models(env.DB.db)
    users = {role: create_user(role) for role, _ in RUNS if role}
    blog = create_collection("blog", BLOG_SCHEMA)
    insert_items(blog, users["admin"], 5)
    insert_items(blog, users["author"], 2, status="draft", slug_prefix="draft")
    worker = Worker(lambda: env, lambda e: app_for(e, **FAST_SCRYPT))
    schema = schemathesis.openapi.from_wsgi("/api/openapi.json", worker)
    headers = {role: {"Authorization": f"Bearer {token_for(user)}"} for role, user in users.items()}
    yield schema, {**headers, None: {}}
    env.DB.db.close()


def fuzz(operation, headers, max_examples):
    """Run ``operation`` through hypothesis; the failure found, as text, or None."""

    @given(case=operation.as_strategy())
    @settings(
        max_examples=max_examples, deadline=None, database=None, derandomize=True,
        suppress_health_check=list(HealthCheck), phases=[Phase.explicit, Phase.generate],
    )
    def run(case):
        case.call_and_validate(headers=headers, checks=CHECKS)

    try:
        run()
    except (Exception, BaseExceptionGroup) as ex:
        return f"{operation.method.upper()} {operation.path}: {ex}"
    return None


@pytest.mark.parametrize(("role", "max_examples"), RUNS, ids=[role or "anonymous" for role, _ in RUNS])
def test_no_request_gets_a_server_error_or_breaks_the_document(fuzzed, role, max_examples):
    schema, headers = fuzzed
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) > 40
    failures = [failure for failure in (fuzz(op, headers[role], max_examples) for op in operations) if failure]
    assert not failures, "\n\n".join(failures)
