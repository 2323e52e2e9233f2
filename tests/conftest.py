"""Suite-wide fixtures: real servers (memcached, S3-compatible, PostgreSQL) and app builders."""

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
]
