"""The ``ai-search`` core plugin: ``POST /api/search`` (keyword mode, the ai fallback), its
suggestions and analytics, request-level on SQLite and PostgreSQL.

A search reads what ``/api/content`` shows the same caller: anonymous callers never see a
draft nor an author's email; editors may ask for drafts.
"""

import pytest

from app.db.database import is_postgres
from app.db.models import Content, SearchHistory, User, now_ms
from app.db.time_travel.triggers import armed_tables, log_tables
from app.runtime.context import ScheduledEvent
from app.scheduled import prune_search_history
from app.services.ai_search.history import DAY_MS, PRUNE_BATCH, RETENTION_DAYS, SUGGEST_MIN_CLIENTS, prune
from app.services.ai_search.service import NO_INDEX
from app.services.content import statements
from tests.fixtures.app import record_statements
from tests.fixtures.auth import clocked_client
from tests.fixtures.content import create_collection, insert_items
from tests.test_query_depth import plan
from tests.test_rate_limit_headers import START, Clock, quota

pytestmark = pytest.mark.backends

DOCS = [  # (slug, title, body, tags)
    ("bikes", "Red bikes", "Red bikes and red wheels: red everywhere, the red bike guide.", ["cycling"]),
    ("cars", "Cars", "A red car parked beside a blue one, near the old station by the river.", ["driving"]),
    ("boats", "Boats", "Sailing boats on a calm blue sea.", ["sailing", "cycling"]),
]


@pytest.fixture
def site(env, as_author):
    """``blog`` (three published posts, one draft) and ``news`` (one published item)."""
    author, _ = as_author
    blog = create_collection("blog", display_name="Blog Posts")
    for i, (slug, title, body, tags) in enumerate(DOCS):
        insert_items(blog, author, 1, slug_prefix=slug, start=1_700_000_000_000 + i * DAY_MS, title=title,
                     data=lambda _, body=body, tags=tags: {"body": f"<p>{body}</p>", "tags": tags})
    insert_items(blog, author, 1, status="draft", slug_prefix="secret", title="Secret red plan",
                 data=lambda _: {"body": "The red draft nobody may read."})
    insert_items(create_collection("news", display_name="News"), author, 1, slug_prefix="daily", start=1_700_000_000_000 + 5 * DAY_MS,
                 title="Daily news",
                 data=lambda _: {"body": "News about a red balloon floating over the town square today."})
    return author


def search(client, query, status=200, headers=None, **body):
    return client.post_json("/api/search", {"query": query, **body}, headers=headers or {}, status=status).json


def slugs(answer):
    return [result["slug"] for result in answer["data"]["results"]]


def test_keyword_search_ranks_by_relevance(client, site):
    answer = search(client, "red")
    assert answer["success"] is True and answer["data"]["mode"] == "keyword"
    assert slugs(answer)[0] == "bikes-0"  # red in its title and four times in its text
    assert sorted(slugs(answer)) == ["bikes-0", "cars-0", "daily-0"]
    assert answer["data"]["total"] == 3
    first = answer["data"]["results"][0]
    assert first["collection_name"] == "Blog Posts" and first["url"] == f"/api/content/{first['id']}"
    assert first["snippet"].startswith("Red bikes and red wheels") and "<p>" not in first["snippet"]
    assert first["relevance_score"] is None and first["status"] == "published"


def test_a_snippet_keeps_the_words_after_a_lone_angle_bracket_as_the_index_does(client, as_author):
    author, _ = as_author
    insert_items(create_collection("notes"), author, 1, slug_prefix="maths", title="Maths",
                 data=lambda _: {"body": "If x < y then <b>zebra</b> &eacute;t&eacute; &amp;lt;", "x": "tail>"})
    [found] = search(client, "zebra")["data"]["results"]
    # The '<' before "y" opens no tag: the index finds the words after it, and the snippet shows them.
    assert found["snippet"] == "If x < y then zebra été &lt; tail>"
    assert search(client, "y")["data"]["results"][0]["slug"] == "maths-0"


def test_the_search_syntax_is_the_lists(client, site):
    assert slugs(search(client, '"blue sea"')) == ["boats-0"]
    assert slugs(search(client, "sail*")) == ["boats-0"]
    assert slugs(search(client, "red blue")) == ["cars-0"]


def test_filters(client, site):
    assert sorted(slugs(search(client, "red", filters={"collections": ["news"]}))) == ["daily-0"]
    news_id = "col-news"
    assert slugs(search(client, "red", filters={"collections": [news_id]})) == ["daily-0"]
    tagged = search(client, "blue", filters={"tags": ["cycling"]})
    assert slugs(tagged) == ["boats-0"]
    dated = search(client, "red", filters={"collections": ["blog"], "dateRange": {
        "start": 1_700_000_000_000 + DAY_MS, "field": "created_at"}})
    assert slugs(dated) == ["cars-0"]
    iso = search(client, "red", filters={"dateRange": {"end": "2023-11-14"}})
    assert slugs(iso) == ["bikes-0"]  # 1_700_000_000_000 is 2023-11-14T22:13:20Z


def test_author_filter(client, site, make_user):
    other, _ = make_user("author")
    insert_items(Content.collection.rel_model.get_by_id("col-blog"), other, 1, slug_prefix="other",
                 title="Another red post", data=lambda _: {"body": "red"})
    assert slugs(search(client, "red", filters={"author": other.id})) == ["other-0"]
    assert "other-0" not in slugs(search(client, "red", filters={"author": site.id}))


def test_pagination(client, site):
    every = slugs(search(client, "red", limit=3))
    first, second = search(client, "red", limit=2), search(client, "red", limit=2, offset=2)
    assert slugs(first) + slugs(second) == every
    assert first["data"]["total"] == second["data"]["total"] == 3


def test_anonymous_callers_never_see_drafts_nor_emails(client, site):
    answer = search(client, "red")
    assert "secret-0" not in slugs(answer)
    assert site.email not in str(answer) and "email" not in str(answer)
    assert all(result["author_name"] == f"{site.first_name} {site.last_name}" for result in answer["data"]["results"])
    refused = search(client, "red", status=401, filters={"status": ["draft"]})
    assert "error" in refused  # as /api/content?status=draft answers the public


def test_editors_may_search_drafts(client, site, as_editor):
    _, headers = as_editor
    answer = search(client, "red", headers=headers, filters={"status": ["draft"]})
    assert slugs(answer) == ["secret-0"]
    assert "secret-0" in slugs(search(client, "red", headers=headers))  # every status, as /api/content
    assert site.email not in str(answer)


def test_unknown_collection_is_named(client, site):
    answer = search(client, "red", status=422, filters={"collections": ["blog", "nope"]})
    assert "nope" in answer["error"] and answer["details"][0]["field"] == "filters.collections"


@pytest.mark.parametrize("body", [
    {"query": ""}, {"query": "   "}, {"query": "x" * 201}, {"query": "red", "mode": "magic"},
    {"query": "red", "limit": 0}, {"query": "red", "limit": 101}, {"query": "red", "offset": -1},
    {"query": "red", "offset": 10_001}, {"query": "red", "unknown": 1},
    {"query": "red", "filters": {"status": ["deleted"]}}, {"query": "red", "filters": {"dateRange": {"field": "x"}}},
    {"limit": 5},
])
def test_bad_bodies_are_422(client, site, body):
    answer = client.post_json("/api/search", body, status=422).json
    assert set(answer) == {"error", "details"}


@pytest.mark.parametrize("query", ["", "   ", "x" * 201, " " + "x" * 201])
def test_a_blank_or_too_long_query_is_a_422_naming_query(client, site, query):
    # Its bounds apply to the trimmed text: the refusal names the body's field as a
    # missing query's does, never the body as a whole (``field: null``).
    answer = client.post_json("/api/search", {"query": query}, status=422).json
    assert [problem["field"] for problem in answer["details"]] == ["query"]


def test_a_bad_date_is_400_naming_the_field(client, site):
    # A body field's problem is a ``field``, as a 422 of the same body names one: the
    # filters are no query parameters, though the content list's parsing reads them.
    answer = search(client, "red", status=400, filters={"dateRange": {"start": "yesterday"}})
    assert answer["error"] == "Invalid search filters"
    assert [problem["field"] for problem in answer["details"]] == ["filters.dateRange.start"]
    assert not any("parameter" in problem for problem in answer["details"])


def test_filters_too_long_as_a_list_filter_name_the_body_field(client, site):
    # Twenty tags of a hundred escaped characters each fit the body's types but not the
    # list's where text the filters become: the refusal names the body's filters, never
    # the list's ``where`` the body has no field of.
    answer = search(client, "red", status=400, filters={"tags": ["\x01" * 100] * 20})
    assert [problem["field"] for problem in answer["details"]] == ["filters"]


def test_disabled_search_finds_nothing(client, site, as_admin):
    _, admin = as_admin
    client.patch_json("/admin/api/plugins/ai-search", {"settings": {"enabled": False}}, headers=admin, status=200)
    answer = search(client, "red")
    assert answer["data"]["results"] == [] and answer["data"]["total"] == 0


def test_selected_collections_narrow_every_search(client, site, as_admin):
    _, admin = as_admin
    client.patch_json("/admin/api/plugins/ai-search", {"settings": {"selected_collections": ["col-news"]}},
                      headers=admin, status=200)
    assert slugs(search(client, "red")) == ["daily-0"]
    assert slugs(search(client, "red", filters={"collections": ["blog"]})) == []


def test_settings_are_validated(client, site, as_admin):
    _, admin = as_admin
    answer = client.patch_json("/admin/api/plugins/ai-search", {"settings": {"results_limit": 5}},
                               headers=admin, status=422).json
    assert "results_limit" in str(answer["details"])
    client.patch_json("/admin/api/plugins/ai-search", {"settings": {"cache_duration": 25}}, headers=admin, status=422)
    plugin = client.get("/admin/api/plugins/ai-search", headers=admin).json["data"]
    assert (plugin["status"], plugin["is_core"], plugin["display_name"]) == ("active", True, "AI Search")
    assert plugin["settings"]["results_limit"] == 20 and plugin["settings"]["ai_mode_enabled"] is True


def test_results_limit_is_the_default_page_size(client, site, as_admin, as_author):
    author, _ = as_author
    insert_items(create_collection("many"), author, 12, data=lambda i: {"body": "green"})
    _, admin = as_admin
    assert len(search(client, "green")["data"]["results"]) == 12
    client.patch_json("/admin/api/plugins/ai-search", {"settings": {"results_limit": 10}}, headers=admin, status=200)
    answer = search(client, "green")
    assert len(answer["data"]["results"]) == 10 and answer["data"]["total"] == 12


def test_inactive_plugin_routes_are_404(client, site, as_admin):
    _, admin = as_admin
    client.post("/admin/api/plugins/ai-search/deactivate", headers=admin, status=200)
    search(client, "red", status=404)
    client.get("/api/search/suggest", {"q": "red"}, status=404)
    client.get("/api/search/analytics", headers=admin, status=404)


def test_ai_mode_falls_back_to_keywords_without_a_binding(client, site):
    answer = search(client, "red", mode="ai")["data"]
    assert answer["mode"] == "keyword" and answer["fallback"] == NO_INDEX
    assert sorted(result["slug"] for result in answer["results"]) == ["bikes-0", "cars-0", "daily-0"]
    assert "fallback" not in search(client, "red")["data"]


def test_each_search_is_recorded(client, site, as_editor):
    editor, headers = as_editor
    before = now_ms()
    red = search(client, "  red  ")["data"]
    blue = search(client, "blue", headers=headers, mode="ai")["data"]
    rows = sorted(SearchHistory.select(), key=lambda row: row.query)
    assert [(row.query, row.query_folded, row.mode, row.results_count, row.user_id, row.public) for row in rows] == [
        ("blue", "blue", "keyword", 2, editor.id, False), ("red", "red", "keyword", 3, None, True)]
    # the time the answer gave, and when it was asked
    assert [row.query_time_ms for row in rows] == [blue["query_time_ms"], red["query_time_ms"]]
    assert all(before <= row.created_at <= now_ms() for row in rows)


def suggest(client, q, headers=None):
    return client.get("/api/search/suggest", {"q": q}, headers=headers or {}, status=200).json["data"]


def test_suggest_titles_the_caller_may_read(client, site, as_editor):
    assert suggest(client, "re") == ["Red bikes"]
    assert suggest(client, "r") == []
    assert suggest(client, "DAILY n") == ["Daily news"]
    assert suggest(client, '"re*') == suggest(client, "re!") == ["Red bikes"]  # the words of q, not its signs
    _, headers = as_editor
    assert sorted(suggest(client, "se", headers)) == ["Secret red plan"]
    assert suggest(client, "se") == []  # the draft's title is not the public's


def test_suggest_is_empty_when_autocomplete_is_off(client, site, as_admin):
    _, admin = as_admin
    client.patch_json("/admin/api/plugins/ai-search", {"settings": {"autocomplete_enabled": False}},
                      headers=admin, status=200)
    assert suggest(client, "re") == []


def from_address(address):
    return {"REMOTE_ADDR": address}


def asked_by_clients(client, query, clients, headers=None, **body):
    """``query`` searched three times from each of ``clients`` addresses."""
    for n in range(clients):
        for _ in range(3):
            client.post_json("/api/search", {"query": query, **body}, headers=headers or {},
                             extra_environ=from_address(f"192.0.2.{n + 1}"), status=200)


def test_past_queries_are_suggested_without_leaking_private_ones(client, site, as_editor):
    editor, headers = as_editor
    # asked by many clients, by a signed-in editor (who reads drafts): still theirs alone
    asked_by_clients(client, "secret", SUGGEST_MIN_CLIENTS, headers, filters={"status": ["draft"]})
    asked_by_clients(client, "wheels", SUGGEST_MIN_CLIENTS - 1)
    assert suggest(client, "se") == [] and suggest(client, "wh") == []
    assert suggest(client, "se", headers) == ["Secret red plan", "secret"]  # the draft's title, their own query
    client.post_json("/api/search", {"query": "wheels"}, headers={"X-Forwarded-For": "198.51.100.1"},
                     extra_environ=from_address("192.0.2.1"))  # no proxy trusted: the same client
    assert suggest(client, "wh") == []
    asked_by_clients(client, "Wheels", SUGGEST_MIN_CLIENTS)
    assert suggest(client, "wh") == ["wheels"]
    assert suggest(client, "wh", headers) == ["wheels"]


def test_one_client_cannot_plant_a_suggestion(client, site):
    planted = "red >>> !!! $$$ ### ☠☠☠ zebra ;-)"
    asked_by_clients(client, planted, 1)
    client.post_json("/api/search", {"query": planted}, extra_environ=from_address("2001:db8::1"))
    client.post_json("/api/search", {"query": planted}, extra_environ=from_address("2001:db8::2"))  # the same /64
    assert suggest(client, "red z") == []
    asked_by_clients(client, "red cars", SUGGEST_MIN_CLIENTS)
    # what is suggested is the words the search read, case-folded: never the raw text
    assert suggest(client, "RED!") == ["Red bikes", "red cars"]


def test_searches_finding_nothing_are_never_suggested(client, site):
    asked_by_clients(client, "zebra", SUGGEST_MIN_CLIENTS)
    assert suggest(client, "ze") == []


def test_a_deleted_users_private_queries_stay_private(client, site, as_editor):
    editor, headers = as_editor
    asked_by_clients(client, "red draft", SUGGEST_MIN_CLIENTS, headers, filters={"status": ["draft"]})
    assert suggest(client, "red d", headers) == ["red draft"]  # found the draft: their own
    User.delete().where(User.id == editor.id).execute()
    assert SearchHistory.select().where(SearchHistory.user.is_null()).count() == 3 * SUGGEST_MIN_CLIENTS
    assert suggest(client, "red d") == []


def test_clients_are_kept_as_keyed_hashes(client, site):
    asked_by_clients(client, "red", 2)
    rows = list(SearchHistory.select())
    keys = {row.client_key for row in rows}
    assert len(keys) == 2 and all(key and "192.0.2" not in key for key in keys)
    assert all(row.public and row.query_folded == "red" for row in rows)


def test_queries_are_folded_alike_on_both_databases(client, env, as_author, as_admin):
    author, _ = as_author
    insert_items(create_collection("blog"), author, 1, data=lambda _: {"body": "Über alles"})
    for n, query in enumerate(("Über", "über", "ÜBER")):
        client.post_json("/api/search", {"query": query}, extra_environ=from_address(f"192.0.2.{n + 1}"))
    assert suggest(client, "ÜB") == suggest(client, "üb") == ["über"]
    _, admin = as_admin
    popular = client.get("/api/search/analytics", headers=admin).json["data"]["popular_queries"]
    assert popular == [{"query": "über", "count": 3}]


def test_analytics_are_for_admins(client, site, as_editor, as_admin):
    _, editor = as_editor
    client.get("/api/search/analytics", headers=editor, status=403)
    client.get("/api/search/analytics", status=401)
    _, admin = as_admin
    empty = client.get("/api/search/analytics", headers=admin, status=200).json["data"]
    assert empty == {"total_queries": 0, "ai_queries": 0, "keyword_queries": 0, "popular_queries": [],
                     "average_query_time": 0}


def test_analytics_count_the_searches(client, site, as_admin):
    _, admin = as_admin
    search(client, "red")
    search(client, "Red")
    search(client, "blue", mode="ai")  # answered by keywords: counted as what answered it
    SearchHistory.create(query="old", mode="ai", created_at=now_ms() - 31 * DAY_MS)
    data = client.get("/api/search/analytics", headers=admin, status=200).json["data"]
    assert (data["total_queries"], data["ai_queries"], data["keyword_queries"]) == (3, 0, 3)
    assert data["popular_queries"] == [{"query": "red", "count": 2}, {"query": "blue", "count": 1}]
    times = [row.query_time_ms for row in SearchHistory.select().where(SearchHistory.query != "old")]
    assert data["average_query_time"] == round(sum(times) / len(times), 1)


def test_old_searches_are_pruned_by_the_scheduled_job(env, site):
    now = now_ms()
    SearchHistory.create(query="old", mode="keyword", created_at=now - (RETENTION_DAYS + 1) * DAY_MS)
    SearchHistory.create(query="recent", mode="keyword", created_at=now - DAY_MS)
    assert prune_search_history(ScheduledEvent("* * * * *", now), env) == {"search_history_pruned": 1}
    assert [row.query for row in SearchHistory.select()] == ["recent"]


def test_the_admin_settings_form_edits_the_settings(browser, signed_in_as):
    signed_in_as("admin")
    form = browser.get("/admin/plugins/ai-search").forms["plugin-settings"]
    assert form["settings.results_limit"].value == "20"
    form["settings.results_limit"] = "50"
    form["settings.selected_collections"] = "col-news\n"
    assert form.submit().status_int == 303
    form = browser.get("/admin/plugins/ai-search").forms["plugin-settings"]
    form["settings.results_limit"] = "500"
    refused = form.submit(status=422)
    assert "results_limit must be between 10 and 100" in refused.text
    settings = browser.get("/admin/api/plugins/ai-search", headers={"Accept": "application/json"}).json["data"]
    assert settings["settings"]["results_limit"] == 50 and settings["settings"]["selected_collections"] == ["col-news"]


def test_a_query_without_a_word_finds_nothing(client, site):
    answer = search(client, ")")["data"]
    assert (answer["results"], answer["total"]) == ([], 0)
    # the list it reuses: its relevance sort of such a search was a 500
    assert client.get("/api/content", {"search": ")", "sort": "relevance"}, status=200).json["data"] == []


def test_searches_are_no_part_of_time_travel(env, site):
    """A log of what was asked, like the request log: one row per anonymous search must not
    write a history row too, and a restore must not rewind the analytics."""
    assert "search_history" in log_tables(env.DB.db)
    assert "search_history" not in armed_tables(env.DB.db) and "content" in armed_tables(env.DB.db)


def test_searches_and_suggestions_are_rate_limited_per_address(env, site):
    """``PER_MINUTE`` of the window: with a 5 s window, 5 searches and 20 suggestions per
    address; the next is a 429 saying when to come back; another address is not limited."""
    clock = Clock()
    client = clocked_client(env, clock, rate_limit_window_seconds=5)
    reset = START + 5
    for left in range(4, -1, -1):
        assert quota(client.post_json("/api/search", {"query": "red"}, status=200)) == (5, left, reset)
    refused = client.post_json("/api/search", {"query": "red"}, status=429)
    assert quota(refused) == (5, 0, reset) and int(refused.headers["Retry-After"]) == 5
    assert refused.json["error"]
    client.post_json("/api/search", {"query": "red"}, extra_environ={"REMOTE_ADDR": "192.0.2.7"}, status=200)
    for left in range(19, 0, -1):  # suggestions have their own count
        assert quota(client.get("/api/search/suggest", {"q": "re"}, status=200)) == (20, left, reset)
    # A HEAD is answered by the GET's responder: counted, with the same headers.
    assert quota(client.head("/api/search/suggest", {"q": "re"}, status=200)) == (20, 0, reset)
    assert quota(client.get("/api/search/suggest", {"q": "re"}, status=429)) == (20, 0, reset)
    clock.now = reset
    assert quota(client.post_json("/api/search", {"query": "red"}, status=200)) == (5, 4, reset + 5)


def test_old_searches_are_pruned_in_batches(env, site, monkeypatch):
    """A flood past the retention is deleted in statements of ``PRUNE_BATCH`` rows each, so
    no one write holds SQLite's lock for long."""
    old = now_ms() - (RETENTION_DAYS + 1) * DAY_MS
    rows = [{"id": f"old-{n}", "query": "old", "query_folded": "old", "mode": "keyword", "created_at": old + n}
            for n in range(2 * PRUNE_BATCH + 5)]
    SearchHistory.insert_many(rows).execute()
    SearchHistory.create(query="recent", mode="keyword", created_at=now_ms())
    statements = record_statements(env.DB.db, monkeypatch)
    assert prune(now_ms()) == 2 * PRUNE_BATCH + 5
    deletes = [sql for sql, _ in statements if sql.startswith("DELETE")]
    assert len(deletes) == 3 and all("LIMIT" in sql for sql in deletes)
    assert [row.query for row in SearchHistory.select()] == ["recent"]


def test_suggest_reads_past_queries_by_prefix_through_an_index(env, client, site, monkeypatch):
    asked_by_clients(client, "red cars", SUGGEST_MIN_CLIENTS)
    statements = record_statements(env.DB.db, monkeypatch)
    assert suggest(client, "red c") == ["red cars"]
    reads = [(sql, params) for sql, params in list(statements) if '"search_history"' in sql]
    assert reads and all("LIKE" not in sql.upper() for sql, _ in reads)
    if not is_postgres(env.DB.db):  # PostgreSQL's collation need not order by code point: no range there
        for sql, params in reads:
            assert any("idx_search_history" in line for line in plan(env.DB.db, sql, params)), sql


def test_the_body_schema_says_what_is_accepted(client, site):
    schemas = client.get("/api/openapi.json").json["components"]["schemas"]
    query = schemas["SearchBody"]["properties"]["query"]
    assert (query["minLength"], query["maxLength"]) == (1, 200)
    assert "dateRange" in schemas["SearchFilters"]["properties"]
    assert "date_range" not in schemas["SearchFilters"]["properties"]
    assert search(client, "red", filters=None)["data"]["total"] == 3
    for key in ("dateRange", "date_range"):
        dated = search(client, "red", filters={key: {"start": 1_700_000_000_000 + 4 * DAY_MS}})
        assert slugs(dated) == ["daily-0"]


def test_collection_lists_of_any_length_share_statements(client, site, as_admin):
    """``filters.collections`` is an IN list padded to a power of two: lists of 2 to 8
    collections compile what lists of 2, 4 and 8 do."""
    names = ["blog", "news"] + [create_collection(f"extra{n}").name for n in range(6)]
    # Every search reaches the database: none is answered from the cache.
    client.patch_json("/admin/api/plugins/ai-search", {"settings": {"cache_duration": 0}}, headers=as_admin[1])

    def stored(sizes):
        statements.clear()
        for size in sizes:
            assert search(client, "red", filters={"collections": names[:size]})["data"]["total"] == 3
        return statements.stats()["stored"]

    assert stored(range(2, 9)) == stored((2, 4, 8))
