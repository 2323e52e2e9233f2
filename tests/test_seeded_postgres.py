"""The PostgreSQL database the request-level tests share is handed to each test as migrated.

It outlives the test (``tests/fixtures/backends.py``), so whatever a test changes in it must
be undone before the next one: rows, tables, and indexes. A field index a test declared
(``"indexed": true``) casts every live row's data to jsonb, so left behind it made a later
test's write of a row whose data is not JSON fail ("invalid input syntax for type json").
"""

import pytest

pytestmark = pytest.mark.postgres

# A declared field's index as a test leaves it behind (``app.services.field_indexes``).
LEFT_BEHIND = ("CREATE INDEX idx_content_field_kind ON content (collection_id, status,"
               " ((CAST(data AS jsonb) -> 'kind'))) WHERE deleted_at IS NULL")


def indexes(database):
    """``{name: definition}`` of the indexes of the database's schema."""
    with database.admin.cursor() as cursor:
        cursor.execute("SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'public'")
        return dict(cursor.fetchall())


def test_a_reset_drops_the_indexes_a_test_made_and_makes_again_those_it_dropped_or_changed(seeded_postgres):
    seeded_postgres.reset()
    migrated = indexes(seeded_postgres)
    assert "idx_content_slug" in migrated and "idx_content_field_kind" not in migrated
    assert "DESC" not in migrated["idx_content_published"]
    try:
        seeded_postgres.execute(LEFT_BEHIND)
        seeded_postgres.execute("DROP INDEX idx_content_slug")
        seeded_postgres.execute("DROP INDEX idx_content_published")  # and made again otherwise
        seeded_postgres.execute("CREATE INDEX idx_content_published ON content (published_at DESC)")
    finally:
        seeded_postgres.reset()
    assert indexes(seeded_postgres) == migrated
