"""`d1 import` of a backup whose rows do not fit together (edited by hand, or pieced together
from several): references to rows that are nowhere, ids and collection names held twice, a
user the database will not take. On SQLite and on PostgreSQL, through the real CLI."""

import json

import pytest

from app.db.migrations import MigrationRunner
from tests.fixtures.app import MIGRATIONS, CliProject, env_with_copy, make_env
from tests.test_backup import TABLES, Project, _parsed, _seed


class PostgresProject(CliProject):
    """The migrated project on a PostgreSQL database of its own, read and written as ``Project``."""

    def __init__(self, folder, url):
        self.url = url
        env = make_env(folder, database_url=url)
        MigrationRunner(env.DB.db, MIGRATIONS).apply()
        super().__init__(folder, env)

    def _query(self, sql, params=()):
        env = make_env(self.folder, database_url=self.url)
        try:
            with env.DB.db.atomic():
                cursor = env.DB.db.execute_sql(sql.replace("?", "%s"), params)
                names = [column[0] for column in cursor.description or ()]
                return [dict(zip(names, row)) for row in (cursor.fetchall() if names else ())]
        finally:
            env.DB.db.close()

    def execute(self, sql, params=()):
        self._query(sql, params)

    def snapshot(self):
        return {table: [_parsed(table, row) for row in self._query(f"SELECT * FROM {table} ORDER BY id")]
                for table in TABLES}


@pytest.fixture(params=["sqlite", "postgres"])
def target(request, tmp_path, migrated_template):
    """An empty migrated project to import into, on each database."""
    if request.param == "postgres":
        return PostgresProject(tmp_path / "target", request.getfixturevalue("fresh_postgres_url"))
    return Project(tmp_path / "target", env_with_copy(tmp_path / "target", migrated_template))


@pytest.fixture
def backup(tmp_path, migrated_template):
    """The seeded source's backup, as a dict to edit: users u-admin, u-early (invited by
    u-late), u-late; collections c-pages and c-news; media m1; content p0, p1 (reviewed by
    u-admin), p2."""
    folder = tmp_path / "source"
    project = Project(folder, env_with_copy(folder, migrated_template))
    _seed(project)
    path = tmp_path / "backup.json"
    assert project.cli("d1", "backup", "DB", "--output", path).exit_code == 0
    return json.loads(path.read_text())


def _import(target, backup, tmp_path):
    path = tmp_path / "edited.json"
    path.write_text(json.dumps(backup))
    return target.cli("d1", "import", "DB", path)


def _row(backup, table, row_id):
    return next(row for row in backup["data"][table] if row["id"] == row_id)


def _refused(target, backup, tmp_path, message):
    """The import is refused with ``message``, exit status 1, and nothing is written."""
    before = target.snapshot()
    result = _import(target, backup, tmp_path)
    assert result.exit_code == 1, result.output
    assert message in result.output
    assert target.snapshot() == before


# -- the same id or collection name twice ------------------------------------------------------


def test_two_collections_of_one_name_are_refused(target, backup, tmp_path):
    backup["data"]["collections"].append({**_row(backup, "collections", "c-news"), "id": "c-news-2"})
    backup["data"]["content"].append({**_row(backup, "content", "p2"), "id": "p3", "collection_id": "c-news-2"})
    _refused(target, backup, tmp_path, "Error: data.collections[0] and data.collections[2] have the same name 'news':"
                                       " a backup holds each collection name once")


@pytest.mark.parametrize("table, row_id, message", [
    ("users", "u-late", "data.users[2] and data.users[3] have the same id 'u-late': a backup holds each user id once"),
    ("collections", "c-news", "data.collections[0] and data.collections[2] have the same id 'c-news'"),
    ("content", "p1", "data.content[1] and data.content[3] have the same id 'p1': a backup holds each content id"
                      " once"),
    ("media", "m1", "data.media[0] and data.media[1] have the same id 'm1': a backup holds each media id once"),
])
def test_an_id_held_twice_is_refused(target, backup, tmp_path, table, row_id, message):
    twin = {**_row(backup, table, row_id)}
    # Unique keys of its own, so only the id is shared.
    twin.update({"users": {"email": "twin@example.com", "username": "twin"}, "collections": {"name": "twin"},
                 "content": {"slug": "twin"}, "media": {"r2_key": "uploads/twin.png"}}[table])
    backup["data"][table].append(twin)
    _refused(target, backup, tmp_path, message)
