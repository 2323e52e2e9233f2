"""A database without its derived objects (search index, triggers on content) fails the release
gate, ``d1 migrations list --check``, until ``d1 migrations apply`` installs them.

An SQL dump (``d1 export``) leaves them out, and ``d1 execute --file`` loads it into a new
database with every migration recorded as applied: nothing is pending there, yet search
fails and no write is counted or indexed. The check names what is missing and the command
that installs it; meanwhile a search answers 503 saying so, not a 500. On PostgreSQL (which
``d1 export`` refuses) the objects are dropped by hand, as a restore that leaves them out would.
"""

import json

import pytest

from app.db import derived
from app.db.database import is_postgres
from app.db.models import bind_models
from tests.fixtures.app import CliProject, client_for, env_with_copy, make_env, migrate, run_env_cli
from tests.fixtures.content import create_collection
from tests.fixtures.users import bearer, create_user, token_for

WORD = "quartz"


def write_through_the_api(env):
    """A collection, an admin's headers and one published item holding ``WORD``, written through the API."""
    bind_models(env.DB.db)
    create_collection("blog")
    headers = bearer(token_for(create_user("admin")))
    client_for(env).post_json("/api/content", {"collectionId": "col-blog", "title": "Harbour", "status": "published",
                                               "data": {"body": f"a {WORD} stone"}}, headers=headers, status=201)
    return headers


def searched(env, status=200):
    """The answer to a public search for ``WORD`` on ``env``'s database."""
    bind_models(env.DB.db)  # a CLI command bound the models to its own connection
    return client_for(env).get("/api/content", {"search": WORD}, status=status).json


def drafts(env, headers):
    """The total of ``?status=draft`` an admin reads."""
    bind_models(env.DB.db)
    return client_for(env).get("/api/content", {"status": "draft"}, headers=headers).json["meta"]["total"]


def check_fails_until_apply(env, headers, missing):
    """The gate fails naming ``missing`` and the command, search is refused; after the apply
    the gate passes, search finds the item and a new draft is counted."""
    checked = run_env_cli(env, "d1", "migrations", "list", "DB", "--check")
    assert checked.exit_code == 1, checked.output
    assert "✅ No migrations to apply!" in checked.output  # no migration is pending...
    assert "DB: derived objects missing or out of date: " in checked.output  # ...but the objects are
    for name in missing:
        assert name in checked.output, name
    assert "run `d1 migrations apply`, which installs them" in checked.output
    assert run_env_cli(env, "d1", "migrations", "list", "DB").exit_code == 0  # as wrangler: only --check fails

    refused = searched(env, status=503)
    assert refused["error"].startswith("Search is unavailable: this database has no search index yet")
    assert refused["details"] == {"reason": "search_index_missing"}

    applied = run_env_cli(env, "d1", "migrations", "apply", "DB")
    assert applied.exit_code == 0 and "✅ No migrations to apply!" in applied.output, applied.output
    passed = run_env_cli(env, "d1", "migrations", "list", "DB", "--check")
    assert passed.exit_code == 0 and "derived objects" not in passed.output, passed.output
    assert [item["title"] for item in searched(env)["data"]] == ["Harbour"]
    before = drafts(env, headers)
    client_for(env).post_json("/api/content", {"collectionId": "col-blog", "title": "Later", "status": "draft"},
                              headers=headers, status=201)
    assert drafts(env, headers) == before + 1


def test_a_restored_dump_fails_the_check_until_apply_installs_search_and_triggers(tmp_path, migrated_template):
    source = env_with_copy(tmp_path / "source", migrated_template)
    headers = write_through_the_api(source)
    assert [item["title"] for item in searched(source)["data"]] == ["Harbour"]
    dump = tmp_path / "dump.sql"
    exported = CliProject(tmp_path / "source", source).cli("d1", "export", "DB", "--output", dump)
    assert exported.exit_code == 0, exported.output

    restored = make_env(tmp_path / "restored")  # a new database: no migration applied
    loaded = run_env_cli(restored, "d1", "execute", "DB", "--file", dump)
    assert loaded.exit_code == 0, loaded.output
    # The load itself says what is missing and how to install it, on stderr.
    assert "DB: derived objects missing or out of date: " in loaded.stderr
    assert derived.FTS_TABLE in loaded.stderr and "run `d1 migrations apply DB`, which installs them" in loaded.stderr
    assert "derived objects" not in loaded.stdout and "command(s) executed successfully" in loaded.stdout

    check_fails_until_apply(restored, headers, [derived.FTS_SOURCE, derived.FTS_TABLE,
                                                *derived.SQLITE_TRIGGERS, *derived.SQLITE_VALUE_TRIGGERS])


@pytest.mark.postgres
def test_a_postgres_database_without_the_derived_objects_fails_the_check_until_apply(tmp_path, migrated_postgres_url):
    env = make_env(tmp_path, database_url=migrated_postgres_url)
    try:
        headers = write_through_the_api(env)
        db = env.DB.db
        db.execute_sql(f"DROP TABLE {derived.FTS_TABLE}")  # its index with it
        for name in [*derived.PG_SEARCH_TRIGGERS, *derived.PG_COUNT_TRIGGERS]:
            db.execute_sql(f"DROP TRIGGER {name} ON content")
        check_fails_until_apply(env, headers, [derived.FTS_TABLE, derived.PG_SEARCH_INDEX,
                                               *derived.PG_SEARCH_TRIGGERS, *derived.PG_COUNT_TRIGGERS])
    finally:
        env.DB.db.close()


@pytest.mark.backends
def test_sql_run_from_a_file_warns_on_stderr_when_it_leaves_derived_objects_missing(tmp_path, env):
    script = tmp_path / "drop.sql"
    script.write_text("UPDATE collections SET description = 'x';\n")
    quiet = run_env_cli(env, "d1", "execute", "DB", "--file", script)
    assert quiet.exit_code == 0 and quiet.stderr == "", quiet.output  # nothing missing: nothing said
    db = env.DB.db
    dropped = [next(iter(derived.PG_SEARCH_TRIGGERS if is_postgres(db) else derived.SQLITE_TRIGGERS))]
    on_content = " ON content" if is_postgres(db) else ""
    script.write_text(f"DROP TRIGGER {dropped[0]}{on_content};\n")
    try:
        loaded = run_env_cli(env, "d1", "execute", "DB", "--file", script, "--json")
        assert loaded.exit_code == 0, loaded.output
        assert json.loads(loaded.stdout)[0]["success"] is True  # stdout is the JSON alone
        assert loaded.stderr.startswith(f"⚠️  DB: derived objects missing or out of date: {dropped[0]};")
        assert loaded.stderr.rstrip().endswith("run `d1 migrations apply DB`, which installs them.")
    finally:
        migrate(env)  # as an apply with nothing pending: PostgreSQL's test database outlives the test
    assert derived.outdated_objects(db) == []


def installed(db):
    """The names of every derived object the database holds now, read from its catalog by the
    names install gives them, not from the install's own lists."""
    if not is_postgres(db):
        return {name for (name,) in db.execute_sql(
            "SELECT name FROM sqlite_master WHERE name LIKE ? OR name = ? OR name = ?",
            (f"{derived.TRIGGER_PREFIX}%", derived.FTS_TABLE, derived.FTS_SOURCE)).fetchall()}
    schema = "(SELECT oid FROM pg_namespace WHERE nspname = current_schema())"
    return {name for (name,) in db.execute_sql(
        "SELECT tgname FROM pg_trigger WHERE tgrelid = 'content'::regclass AND tgname LIKE %s"
        f" UNION SELECT proname FROM pg_proc WHERE proname LIKE 'sonicpy%%' AND pronamespace = {schema}"
        f" UNION SELECT relname FROM pg_class WHERE relnamespace = {schema}"
        " AND (relname = %s OR relname = %s OR relname LIKE 'idx_content_live_%%_nl')",
        (f"{derived.TRIGGER_PREFIX}%", derived.FTS_TABLE, derived.PG_SEARCH_INDEX)).fetchall()}


def drop(db, names):
    """Drop every object of ``names`` (``installed``'s) that is still there."""
    for name in sorted(names):
        if is_postgres(db):
            kind = db.execute_sql("SELECT CASE relkind WHEN 'i' THEN 'INDEX' ELSE 'TABLE' END FROM pg_class"
                                  " WHERE relname = %s AND relnamespace = current_schema()::regnamespace",
                                  (name,)).fetchone()
            if name.startswith(derived.TRIGGER_PREFIX):
                db.execute_sql(f"DROP TRIGGER IF EXISTS {name} ON content")
            if name.startswith("sonicpy"):
                db.execute_sql(f"DROP FUNCTION IF EXISTS {name} CASCADE")
            if kind is not None:
                db.execute_sql(f"DROP {kind[0]} IF EXISTS {name}")
        else:
            kind = db.execute_sql("SELECT type FROM sqlite_master WHERE name = ?", (name,)).fetchone()
            if kind is not None:
                db.execute_sql(f'DROP {kind[0].upper()} "{name}"')


@pytest.mark.backends
def test_the_check_names_every_derived_object_the_install_made(env):
    # An object the install makes and the check does not read would pass the gate missing.
    db = env.DB.db
    made = installed(db)
    assert derived.FTS_TABLE in made and len(made) > 10
    assert derived.outdated_objects(db) == []
    drop(db, made)
    try:
        assert installed(db) == set()
        named = derived.outdated_objects(db)
        assert set(named) == made and len(named) == len(made)  # each named once
    finally:
        migrate(env)  # as an apply with nothing pending: PostgreSQL's test database outlives the test
    assert installed(db) == made and derived.outdated_objects(db) == []
