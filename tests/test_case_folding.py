"""Case folding of ``search=`` and of the case-insensitive filters (``like``, ``contains``):
the same letters fold on SQLite, on PostgreSQL, and on a PostgreSQL database whose locale is
"C" (whose own ``lower()`` folds ASCII letters only)."""

import pytest

from app.db.models import bind_models
from tests.fixtures.app import client_for, make_env, migrate
from tests.fixtures.content import create_collection, insert_items
from tests.fixtures.users import create_user

# The last one holds U+1FBE (prosgegrammeni), which SQLite's tokenizer folds to iota.
BODIES = ["ÉLAN vital", "ΣΊΣΥΦΟΣ", "σίσυφος", "İSTANBUL", "Straße", "plain ascii", "\u03b1\u1fbe\u03b2"]


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres),
                        pytest.param("postgres-c", marks=pytest.mark.postgres)])
def client(request, tmp_path):
    server = request.getfixturevalue("postgres_server") if request.param != "sqlite" else None
    url = server.create_database("case_folding", locale="C" if request.param == "postgres-c" else None) \
        if server else None
    env = make_env(tmp_path, database_url=url)
    migrate(env)
    bind_models(env.DB.db)
    insert_items(create_collection("words"), create_user("author"), len(BODIES),
                 data=lambda i: {"body": BODIES[i]})
    yield client_for(env)
    env.DB.db.close()
    if server:
        server.drop_database("case_folding")


def bodies(client, params):
    return sorted(BODIES[int(item["slug"].split("-")[1])] for item in client.get("/api/content", params).json["data"])


@pytest.mark.parametrize("words, expected", [
    ("élan", ["ÉLAN vital"]),
    ("ÉLAN", ["ÉLAN vital"]),
    ("Élan*", ["ÉLAN vital"]),
    # Final sigma and sigma are one letter to SQLite's tokenizer: to PostgreSQL's search too.
    ("σίσυφος", ["ΣΊΣΥΦΟΣ", "σίσυφος"]),
    ("ΣΊΣΥΦΟΣ", ["ΣΊΣΥΦΟΣ", "σίσυφος"]),
    ("σίσυφοσ", ["ΣΊΣΥΦΟΣ", "σίσυφος"]),
    ("İstanbul", ["İSTANBUL"]),
    ("STRAẞE", ["Straße"]),
    ("PLAIN", ["plain ascii"]),
    ("\u03b1\u03b9\u03b2", ["\u03b1\u1fbe\u03b2"]),
    ("\u03b1\u1fbe\u03b2", ["\u03b1\u1fbe\u03b2"]),
])
def test_search_folds_the_same_letters_on_every_database(client, words, expected):
    assert bodies(client, {"search": words}) == expected


@pytest.mark.parametrize("operator, value, expected", [
    ("contains", "élan", ["ÉLAN vital"]),
    ("like", "VITAL élan", ["ÉLAN vital"]),
    ("contains", "ΣΊΣΥΦΟΣ", ["ΣΊΣΥΦΟΣ", "σίσυφος"]),
    ("contains", "σίσυφος", ["ΣΊΣΥΦΟΣ", "σίσυφος"]),
    ("contains", "istanbul", []),  # İ lower-cases to i and a combining dot, on both
    ("contains", "İstanbul", ["İSTANBUL"]),
    ("contains", "STRAẞE", ["Straße"]),
])
def test_case_insensitive_filters_fold_the_same_letters_on_every_database(client, operator, value, expected):
    assert bodies(client, {f"filter[data.body][{operator}]": value}) == expected


@pytest.mark.postgres
def test_a_process_serving_servers_with_and_without_icu_compiles_each_one_s_lists(postgres_server, tmp_path):
    # The list SQL compiled for one server's case-insensitive filter names the ICU collation;
    # a database without it (a server built without ICU) must not be sent that SQL.
    clients, names = [], ("fold_icu", "fold_plain")
    try:
        for name in names:
            url = postgres_server.create_database(name)
            env = make_env(tmp_path / name, database_url=url)
            if name == "fold_plain":
                env.DB.db.execute_sql('DROP COLLATION pg_catalog."und-x-icu"')
            migrate(env)
            bind_models(env.DB.db)
            insert_items(create_collection("words"), create_user("author"), 1, data=lambda i: {"body": "ÉLAN"})
            clients.append((env, client_for(env)))
        for _, client in clients * 2:
            found = client.get("/api/content", {"filter[data.body][contains]": "LAN"}).json["data"]
            assert [item["data"]["body"] for item in found] == ["ÉLAN"]
    finally:
        for env, _ in clients:
            env.DB.db.close()
        for name in names:
            postgres_server.drop_database(name)
