"""Suite-wide fixtures: real servers (memcached, S3-compatible, PostgreSQL) and app builders."""

import pytest

from app.services.log_buffer import flush_process_buffer

pytest_plugins = [
    "tests.fixtures.embeddings",  # first: tests.fixtures.app imports it
    "tests.fixtures.memcached",
    "tests.fixtures.s3",
    "tests.fixtures.s3_proxy",
    "tests.fixtures.postgres",
    "tests.fixtures.postgres_replica",
    "tests.fixtures.app",
    "tests.fixtures.backends",
    "tests.fixtures.users",
    "tests.fixtures.auth",
    "tests.fixtures.mail",
    "tests.fixtures.workflow",
    "tests.fixtures.media",
    "tests.fixtures.content",
    "tests.fixtures.smtp",
    "tests.fixtures.turnstile",
    "tests.fixtures.admin",
    "tests.fixtures.browser",
    "tests.fixtures.logs",
]


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_teardown(item):
    """Write the request-log rows a test's apps still hold before its fixtures end: pytest
    removes a passed test's folder, its SQLite database with it, once the test ends, and a
    row written later would fail (an ERROR logged during some other test)."""
    flush_process_buffer()
