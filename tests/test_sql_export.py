"""`d1 export` (D7): wrangler's SQL dump format, restored by `d1 execute --file`.

The round trip is the contract: export a migrated database holding awkward rows, run the
file into a fresh empty database with `d1 execute --file`, export that, and get the same
bytes, and the same rows.
"""

import sqlite3

import pytest
from click.testing import CliRunner

from app.cli import cli
from app.db.derived import is_installed_on_apply
from app.db.splitter import split_statements
from app.services.sql_dump import dump_statements, quote_text, sql_literal
from tests.fixtures.app import CliProject, env_with_copy, make_env

AWKWARD = [
    "it's a \"quoted\" string; with a semicolon",
    "line one\nline two\n",
    "windows\r\nline\r\n",
    "literal backslash-n \\n next to a real\nnewline",
    "both \\n and \\012 markers\nused",
    "unicode: héllo wörld — 日本語 🎉",
    "",
    "-- not a comment; /* nor this */",
    "END; BEGIN",
    "nul\x00inside",
]


class Project(CliProject):
    """The project a dump is taken from or restored into."""

    def connect(self):
        conn = sqlite3.connect(self.db_path)
        conn.execute("PRAGMA foreign_keys = ON")
        return conn


def _fill(conn):
    """Real rows in the app's tables plus a table with a blob, a REAL, AUTOINCREMENT and a trigger."""
    with conn:
        for n, text in enumerate(AWKWARD):
            conn.execute(
                "INSERT INTO users (id, email, username, first_name, last_name, password_hash, role, bio,"
                " phone, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, 'editor', ?, NULL, ?, ?)",
                (f"u{n}", f"user{n}@example.com", f"user{n}", text, "O'Brien", "scrypt$abc$def", text,
                 1_700_000_000_000 + n, 1_700_000_000_000 + n),
            )
        conn.execute(
            "INSERT INTO collections (id, name, display_name, description, schema, is_active, managed,"
            " created_at, updated_at) VALUES ('c1', 'pages', 'Pages', ?, ?, 1, 1, 1, 2)",
            ("multi\nline description", '{"type": "object", "properties": {"body": {"type": "richtext"}}}'),
        )
        for n, text in enumerate(AWKWARD):
            conn.execute(
                "INSERT INTO content (id, collection_id, slug, title, data, status, author_id, created_at,"
                " updated_at, published_at) VALUES (?, 'c1', ?, ?, ?, 'published', 'u0', 1, 2, NULL)",
                (f"p{n}", f"page-{n}", text or "untitled", '{"body": "' + text.replace("\n", "\\n") + '"}'),
            )
        conn.execute("CREATE TABLE attachments (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT, body BLOB,"
                     " ratio REAL, big INTEGER)")
        conn.execute("CREATE TABLE audit (attachment_id INTEGER, note TEXT)")
        conn.execute("CREATE TRIGGER attachments_audit AFTER INSERT ON attachments BEGIN"
                     " INSERT INTO audit (attachment_id, note) VALUES (new.id, 'added; ' || new.name); END")
        conn.execute("CREATE VIEW published_titles AS SELECT title FROM content WHERE status = 'published'")
        rows = [("zero", bytes(range(256)), 1.0, 2**62), ("empty", b"", 0.1, -1), ("none", None, None, None),
                ("weird\nname", b"\x00'\n", 1e300, 0)]
        conn.executemany("INSERT INTO attachments (name, body, ratio, big) VALUES (?, ?, ?, ?)", rows)


@pytest.fixture
def source(tmp_path, migrated_template):
    project = Project(tmp_path / "source", env_with_copy(tmp_path / "source", migrated_template))
    conn = project.connect()
    _fill(conn)  # as another program: sonicpy's transaction marks (app.db.tx_marks) did not run
    conn.close()
    return project


@pytest.fixture
def empty(tmp_path):
    return Project(tmp_path / "empty", make_env(tmp_path / "empty"))


def _tables(conn):
    names = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
             if not is_installed_on_apply(r[0])]
    return {name: sorted(map(repr, conn.execute(f'SELECT * FROM "{name}"'))) for name in names}


def test_export_execute_export_is_byte_identical(source, empty, tmp_path):
    first = tmp_path / "first.sql"
    result = source.cli("d1", "export", "DB", "--output", first)
    assert result.exit_code == 0, result.output
    assert "users: 10 row(s)" in result.stderr  # progress, per table, on stderr
    assert result.stdout == ""

    restored = empty.cli("d1", "execute", "DB", "--file", first)
    assert restored.exit_code == 0, restored.output

    second = tmp_path / "second.sql"
    assert empty.cli("d1", "export", "test-db", "--output", second).exit_code == 0
    assert second.read_bytes() == first.read_bytes()

    # Same rows, table by table, byte for byte (blobs, floats, NULLs, newlines, unicode). The
    # copy holds time travel's transaction mark as the source's next transaction leaves it.
    assert source.cli("d1", "execute", "DB", "--command", "SELECT 1").exit_code == 0
    with source.connect() as a, empty.connect() as b:
        assert _tables(a) == _tables(b)
        assert b.execute("SELECT body FROM attachments WHERE name = 'zero'").fetchone()[0] == bytes(range(256))
        assert b.execute("SELECT typeof(ratio), ratio FROM attachments WHERE name = 'zero'").fetchone() == ("real", 1.0)
        assert [r[0] for r in b.execute("SELECT bio FROM users ORDER BY id")] == [
            AWKWARD[int(r[0][1:])] for r in b.execute("SELECT id FROM users ORDER BY id")]
        # The trigger came back and works; it did not fire again during the restore.
        assert b.execute("SELECT count(*) FROM audit").fetchone()[0] == 4
        b.execute("INSERT INTO attachments (name) VALUES ('later')")
        assert b.execute("SELECT note FROM audit WHERE attachment_id = 5").fetchall() == [("added; later",)]
        # AUTOINCREMENT's counter came back with the rows.
        assert b.execute("SELECT seq FROM sqlite_sequence WHERE name = 'attachments'").fetchone() == (5,)
        # The search index is not in the dump: `d1 migrations apply` puts it back.
        assert b.execute("SELECT name FROM sqlite_master WHERE name LIKE 'content_fts%'").fetchall() == []
    assert empty.cli("d1", "migrations", "apply", "DB").exit_code == 0
    with source.connect() as a, empty.connect() as b:
        counts = "SELECT * FROM content_counts ORDER BY collection_id, status, deleted"
        assert b.execute(counts).fetchall() == a.execute(counts).fetchall()
        search = "SELECT rowid FROM content_fts WHERE content_fts MATCH 'begin' ORDER BY rowid"
        assert b.execute(search).fetchall() == a.execute(search).fetchall() != []


def test_a_dump_after_another_programs_writes_is_the_dump_of_the_next_read(source, tmp_path):
    """Time travel's transaction mark is dumped as a mark leaves it: ``info`` (which marks as it
    begins, writing no row) does not change the next dump."""
    first, second = tmp_path / "first.sql", tmp_path / "second.sql"
    assert source.cli("d1", "export", "DB", "--output", first).exit_code == 0
    assert source.cli("d1", "time-travel", "info", "DB").exit_code == 0
    assert source.cli("d1", "export", "DB", "--output", second).exit_code == 0

    assert second.read_text() == first.read_text()
    with source.connect() as conn:
        next_seq = conn.execute("SELECT MAX(seq) + 1 FROM d1_changes").fetchone()[0]
    history_rows = [line for line in first.read_text().splitlines() if line.startswith('INSERT INTO "d1_time_travel"')]
    assert len(history_rows) == 1 and history_rows[0].endswith(f",{next_seq});")  # current_tx: the next change's


def test_a_row_longer_than_a_query_is_restored_from_its_dump(source, empty, tmp_path):
    """A dump writes each row as one INSERT: ``execute --file`` loads it as wrangler imports a
    file, past the 100,000 bytes a query (``--command``, the binding) may hold."""
    body = "y" * 150_000
    with source.connect() as conn:
        conn.execute("CREATE TABLE long_rows (v TEXT)")
        conn.execute("INSERT INTO long_rows VALUES (?)", (body,))
    dump = tmp_path / "long.sql"
    assert source.cli("d1", "export", "DB", "--output", dump).exit_code == 0
    restored = empty.cli("d1", "execute", "DB", "--file", dump)
    assert restored.exit_code == 0, restored.output
    with empty.connect() as conn:
        assert conn.execute("SELECT v FROM long_rows").fetchone()[0] == body
    refused = empty.cli("d1", "execute", "DB", "--command", f"SELECT '{body}'")
    assert refused.exit_code == 1 and "statement too long" in refused.output


def test_dump_has_wranglers_shape(source, tmp_path):
    out = tmp_path / "dump.sql"
    assert source.cli("d1", "export", "DB", "--output", out).exit_code == 0
    text = out.read_text(encoding="utf-8")
    lines = text.split("\n")
    assert lines[0] == "PRAGMA defer_foreign_keys=TRUE;"
    assert not text.endswith("\n")  # wrangler joins statements with newlines, nothing after
    # The tracking table is kept; its quoted name gets IF NOT EXISTS as sqlite's .dump does.
    assert lines[1].startswith('CREATE TABLE IF NOT EXISTS "d1_migrations"')
    assert ('INSERT INTO "d1_migrations" ("id","name","applied_at","checksum") VALUES(1,'
            "'0001_initial_schema.sql',") in text
    assert """INSERT INTO "attachments" ("id","name","body","ratio","big") VALUES(2,'empty',X'',0.1,-1);""" in text
    assert "VALUES(3,'none',NULL,NULL,NULL);" in text
    assert "VALUES(4,replace('weird\\nname','\\n',char(10)),X'00270a',1e+300,0);" in text
    assert "replace(replace('windows\\r\\nline\\r\\n','\\r',char(13)),'\\n',char(10))" in text
    assert "replace('literal backslash-n \\n next to a real\\012newline','\\012',char(10))" in text
    assert "replace('both \\n and \\012 markers(\\n0)used','(\\n0)',char(10))" in text
    assert "'it''s a \"quoted\" string; with a semicolon'" in text
    # Order: tables in creation order, sqlite_sequence last, then indexes, triggers, views.
    create_users = text.index("CREATE TABLE users")
    create_attachments = text.index("CREATE TABLE attachments")
    sequence = text.index("DELETE FROM sqlite_sequence;")
    first_index = text.index("CREATE INDEX")
    trigger = text.index("CREATE TRIGGER attachments_audit")
    view = text.index("CREATE VIEW published_titles")
    assert create_users < create_attachments < sequence < first_index < trigger < view
    assert 'INSERT INTO "sqlite_sequence" ("name","seq") VALUES(\'attachments\',4);' in text
    assert "sqlite_autoindex" not in text
    # d1 execute's splitter finds exactly the statements written (semicolons and comment
    # markers inside literals, the trigger's BEGIN ... END body, multi-line CREATEs).
    import peewee
    with peewee.SqliteDatabase(source.db_path) as db:
        written = [statement[:-1] for statement in dump_statements(db)]
    assert split_statements(text) == written


def test_no_schema_no_data_and_tables(source, tmp_path):
    data_only = tmp_path / "data.sql"
    assert source.cli("d1", "export", "DB", "--output", data_only, "--no-schema").exit_code == 0
    text = data_only.read_text()
    assert "CREATE" not in text and "DELETE FROM sqlite_sequence" not in text
    assert 'INSERT INTO "users"' in text and 'INSERT INTO "sqlite_sequence"' in text

    schema_only = tmp_path / "schema.sql"
    assert source.cli("d1", "export", "DB", "--output", schema_only, "--no-data").exit_code == 0
    text = schema_only.read_text()
    assert "INSERT INTO \"" not in text  # no rows (the trigger's body has its own INSERT)
    assert "CREATE TABLE users" in text and "CREATE INDEX idx_users_email" in text

    users = tmp_path / "users.sql"
    result = source.cli("d1", "export", "DB", "--output", users, "--table", "users", "--table", "attachments")
    assert result.exit_code == 0, result.output
    text = users.read_text()
    assert "CREATE TABLE users" in text and "CREATE TABLE attachments" in text
    assert "CREATE TABLE collections" not in text and 'INSERT INTO "content"' not in text
    assert "CREATE INDEX idx_users_email" in text and "CREATE TRIGGER attachments_audit" in text
    assert "idx_content_" not in text

    both = source.cli("d1", "export", "DB", "--output", tmp_path / "x.sql", "--no-schema", "--no-data")
    assert both.exit_code == 2
    assert "--no-schema and --no-data" in both.output


def test_output_errors(source, tmp_path):
    result = source.cli("d1", "export", "DB", "--output", tmp_path)
    assert result.exit_code == 2 and "is a directory" in result.output
    result = source.cli("d1", "export", "DB", "--output", tmp_path / "t.sql", "--table", "nope")
    assert result.exit_code == 1 and "no such table: nope" in result.output
    assert not (tmp_path / "t.sql").exists()  # nothing half-written
    missing = source.cli("d1", "export", "NOPE", "--output", tmp_path / "t.sql")
    assert missing.exit_code == 1 and "Couldn't find a D1 DB" in missing.output


def test_output_to_stdout(source):
    result = source.cli("d1", "export", "DB", "--output", "-", "--table", "attachments")
    assert result.exit_code == 0
    assert result.stdout.startswith("PRAGMA defer_foreign_keys=TRUE;\nCREATE TABLE attachments")
    assert "row(s)" in result.stderr and "row(s)" not in result.stdout


def test_virtual_tables_are_refused(source, tmp_path):
    conn = source.connect()
    try:
        conn.execute("CREATE VIRTUAL TABLE docs USING fts5(body)")
    except sqlite3.OperationalError:
        pytest.skip("this SQLite has no fts5")
    finally:
        conn.close()
    result = source.cli("d1", "export", "DB", "--output", tmp_path / "v.sql")
    assert result.exit_code == 1
    assert "cannot export databases with Virtual Tables" in result.output


def test_postgres_is_refused_with_advice(tmp_path, fresh_postgres_url):
    make_env(tmp_path / "pg", database_url=fresh_postgres_url).DB.db.close()
    result = CliRunner().invoke(cli, ["d1", "export", "DB", "--output", str(tmp_path / "pg.sql"),
                                      "--config", str(tmp_path / "pg" / "bindings.toml")])
    assert result.exit_code == 1
    assert "pg_dump" in result.output and "d1 backup" in result.output
    assert not (tmp_path / "pg.sql").exists()


@pytest.mark.parametrize("text", AWKWARD + ["\r", "\n\n", "(\\n0)\\n\\012\n", "'", "\x00", "\x00\n\x00"])
def test_literals_read_back_as_the_same_text(text):
    conn = sqlite3.connect(":memory:")
    assert conn.execute(f"SELECT {quote_text(text)}").fetchone()[0] == text


@pytest.mark.parametrize("value", [None, 0, -2**63, 2**63 - 1, 1.5, 1.0, -0.25, 1e-300, 1e300, float("inf"),
                                   float("-inf"), b"", b"\x00\xff", "x"])
def test_value_literals(value):
    conn = sqlite3.connect(":memory:")
    assert conn.execute(f"SELECT {sql_literal(value)}").fetchone()[0] == value
