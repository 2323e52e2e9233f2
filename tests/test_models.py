"""The Peewee models describe exactly the schema the migrations build (D2)."""

import pytest

from app.db.derived import is_derived
from app.db.models import MODELS, JSONField, User, bind_models
from tests.fixtures.app import make_env, migrate

TRACKING_TABLES = {"d1_migrations", "d1_changes", "d1_time_travel"}  # bookkeeping, no models


@pytest.fixture(scope="module")
def migrated_db(tmp_path_factory):
    env = make_env(tmp_path_factory.mktemp("models"))
    migrate(env)
    bind_models(env.DB.db)
    yield env.DB.db
    env.DB.db.close()


def test_every_table_has_a_model(migrated_db):
    modelled = {model._meta.table_name for model in MODELS}
    # The search index's tables are SQLite's own (FTS5), read through SQL, not a model.
    tables = {name for name in migrated_db.get_tables() if not is_derived(name) or name.startswith(("content_counts", "content_media", "search_embeddings"))}
    assert tables - TRACKING_TABLES == modelled


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.__name__)
def test_model_columns_match_the_table(migrated_db, model):
    columns = {column.name for column in migrated_db.get_columns(model._meta.table_name)}
    fields = {field.column_name for field in model._meta.sorted_fields}
    assert fields == columns


def test_json_columns_round_trip_python_values(migrated_db):
    field = JSONField()
    assert field.python_value(field.db_value({"a": [1, "é"]})) == {"a": [1, "é"]}
    assert field.python_value("not json") == "not json"


def test_flags_read_back_as_bool(migrated_db):
    user = User.create(email="m@example.com", username="m", first_name="M", last_name="M", is_active=False)
    assert User.get_by_id(user.id).is_active is False
