"""The AI Search plugin's admin page, ``/admin/plugins/ai-search``: who may open it, what it
shows (the binding's model, the collections and their index, the analytics, a search to
try), its "Re-index now" button, the new-collection notices with their "Add to search" and
"Dismiss", and the generic plugin page while the plugin is inactive.

The env's ``[ai]`` binding is the test's embeddings server (tests/fixtures/embeddings.py).
"""

import pytest
import webob

from app.admin.ai_search import INACTIVE
from app.db.models import Content, Media, Plugin, SearchEmbedding, SearchHistory, bind_models
from app.services.ai_search.history import folded
from app.services.ai_search.overview import REINDEX_BATCH, REINDEX_CHECKED, REINDEX_CHUNK
from app.services.ai_search.semantic import semantic_index_for
from app.services.log_buffer import flush_process_buffer
from tests.fixtures.admin import BROWSER, browser_for, csrf_token, sign_in
from tests.fixtures.auth import PASSWORD, hashed
from tests.fixtures.browser import WAIT_SECONDS, critical_violations, navigate, screenshot, severe_console_errors
from tests.fixtures.cache import past_generation_bound
from tests.fixtures.content import create_collection, insert_items
from tests.fixtures.embeddings import API_KEY, KEY_VARIABLE, MODEL, ai_env_fixture
from tests.fixtures.users import create_user

pytestmark = pytest.mark.backends

PAGE = "/admin/plugins/ai-search"


# The test's stack with an ``[ai]`` binding on the test's embeddings server.
env = ai_env_fixture(batch_size=8)  # the default timeout: no test here waits on a hanging model


@pytest.fixture
def site(env, make_user):
    """``blog`` (two published items and a draft, the first two indexed) and an empty ``news``."""
    author, _ = make_user("author")
    blog = create_collection("blog", display_name="Blog Posts")
    cats, dogs = insert_items(blog, author, 2, slug_prefix="pet", data=lambda i: {"body": ["cats purr", "dogs bark"][i]})
    Content.update(title="Cats").where(Content.id == cats).execute()
    Content.update(title="Dogs").where(Content.id == dogs).execute()
    insert_items(blog, author, 1, status="draft", slug_prefix="draft", title="Draft cats", data=lambda _: {"body": "cats"})
    create_collection("news")
    semantic_index_for(env).index_items([cats, dogs])
    return {"cats": cats, "dogs": dogs}


def row(page, collection_id):
    """``{column class: text}`` of a collection's row of the page."""
    tr = page.html.find("tr", id=f"collection-{collection_id}")
    return {td["class"][0]: td.get_text(strip=True) for td in tr.find_all("td") if td.get("class")}


def test_who_may_open_the_page(browser, signed_in_as, env):
    answer = browser.get(PAGE, status=303)
    assert "/admin/login" in answer.location
    for role in ("author", "viewer", "editor"):
        other = browser_for(env)
        assert sign_in(other, create_user(role, password_hash=hashed())).status_int == 303
        other.get(PAGE, status=403)
        other.post(f"{PAGE}/reindex/col-blog", {"csrf_token": csrf_token(other)}, status=403)
    signed_in_as("admin")
    assert browser.get(PAGE).status_int == 200


def test_the_page_shows_the_model_the_collections_and_their_index(browser, signed_in_as, site, env):
    signed_in_as("admin")
    page = browser.get(PAGE)
    availability = page.html.find(id="semantic-availability").get_text()
    assert availability.startswith("Available") and MODEL in availability
    assert API_KEY not in page.text and KEY_VARIABLE not in page.text
    assert row(page, "col-blog") == {"items": "3", "searched": "yes", "indexed": "2", "stale": "0", "missing": "1", "failed": "0"}
    assert row(page, "col-news") == {"items": "0", "searched": "yes", "indexed": "0", "stale": "0", "missing": "0", "failed": "0"}
    assert "plugin-settings" in page.forms and "reindex-col-blog" in page.forms
    assert page.html.find("h1").get_text() == "AI Search"

    # The generic settings form is the plugin's page's own: it saves and shows what it narrows.
    form = page.forms["plugin-settings"]
    form["settings.selected_collections"] = "col-news\n"
    saved = form.submit(status=303)
    assert saved.location.endswith(f"{PAGE}?done=1")
    page = saved.follow()
    assert page.html.find(id="ai-search-done").get_text() == "Settings saved."
    assert row(page, "col-blog")["searched"] == "no" and row(page, "col-news")["searched"] == "yes"


def test_reindex_now_embeds_the_missing_and_stale_items_of_one_collection(browser, signed_in_as, site,
                                                                          embeddings_server):
    signed_in_as("admin")
    # Edited as the app edits (updated_at and version move): its vector is now stale.
    Content.update(title="Lions", updated_at=Content.updated_at + 1,
                   version_number=Content.version_number + 1).where(Content.id == site["cats"]).execute()
    page = browser.get(PAGE)
    assert row(page, "col-blog") == {"items": "3", "searched": "yes", "indexed": "1", "stale": "1", "missing": "1", "failed": "0"}
    asked = len(embeddings_server.texts)

    done = page.forms["reindex-col-blog"].submit(status=303).follow()
    assert row(done, "col-blog") == {"items": "3", "searched": "yes", "indexed": "3", "stale": "0", "missing": "0", "failed": "0"}
    assert done.html.find(id="ai-search-done").get_text().startswith(
        "Blog Posts: 3 item(s) checked, 2 embedded, 0 refused by the model.")
    assert sorted(embeddings_server.texts[asked:]) == ["Draft cats cats", "Lions cats purr"]

    # Nothing left: pressing again asks the model nothing.
    again = done.forms["reindex-col-blog"].submit(status=303).follow()
    assert "3 item(s) checked, 0 embedded" in again.html.find(id="ai-search-done").get_text()
    assert len(embeddings_server.texts) == asked + 2


def test_reindex_now_embeds_a_bounded_batch(browser, signed_in_as, site, embeddings_server):
    signed_in_as("admin")
    insert_items(Content.collection.rel_model.get_by_id("col-news"), create_user("author"), REINDEX_BATCH + 30,
                 slug_prefix="bulk")
    page = browser.get(PAGE)
    asked = len(embeddings_server.texts)
    done = page.forms["reindex-col-news"].submit(status=303).follow()
    assert len(embeddings_server.texts) - asked == REINDEX_BATCH
    assert row(done, "col-news")["missing"] == "30"
    done = done.forms["reindex-col-news"].submit(status=303).follow()
    assert row(done, "col-news")["missing"] == "0" and row(done, "col-news")["indexed"] == str(REINDEX_BATCH + 30)


def test_reindex_now_is_bounded_when_the_model_refuses_every_text(browser, signed_in_as, site, embeddings_server):
    """Refused texts count toward the bound: one press sends a bounded number of requests
    (each batch, a ping, then each text alone), however long the collection."""
    signed_in_as("admin")
    news = Content.collection.rel_model.get_by_id("col-news")
    insert_items(news, create_user("author"), 300, slug_prefix="long", data=lambda i: {"body": f"toolong text {i}"})
    embeddings_server.refuse = "toolong"
    page = browser.get(PAGE)
    asked = len(embeddings_server.requests)
    done = page.forms["reindex-col-news"].submit(status=303).follow()
    worked = REINDEX_BATCH + REINDEX_CHUNK - 1  # items embedded or refused, at most
    batches = -(-worked // 8)  # the env's batch_size
    assert len(embeddings_server.requests) - asked <= worked + 2 * batches
    message = done.html.find(id="ai-search-done").get_text()
    assert message.startswith(f"News: {REINDEX_BATCH} item(s) checked, 0 embedded, {REINDEX_BATCH} refused")
    assert row(done, "col-news")["failed"] == str(REINDEX_BATCH)


def test_reindex_now_checks_a_bounded_number_of_fresh_items_and_moves_on(env, browser, signed_in_as, site,
                                                                          embeddings_server):
    """Items whose vector is fresh cost no request but are checked: at most REINDEX_CHECKED a
    press, the ones that look stale first, so a press reaches them past a fresh collection."""
    signed_in_as("admin")
    news = Content.collection.rel_model.get_by_id("col-news")
    author = create_user("author")
    old = insert_items(news, author, 3, slug_prefix="old")
    Content.update(updated_at=1).where(Content.id.in_(old)).execute()  # the oldest: checked last by date
    fresh = insert_items(news, author, REINDEX_CHECKED, slug_prefix="fresh")
    semantic_index_for(env).index_items(fresh)
    page = browser.get(PAGE)
    asked = len(embeddings_server.texts)
    done = page.forms["reindex-col-news"].submit(status=303).follow()
    assert len(embeddings_server.texts) - asked == 3
    assert done.html.find(id="ai-search-done").get_text().startswith(
        f"News: {REINDEX_CHECKED} item(s) checked, 3 embedded, 0 refused")


def test_reindex_now_is_only_for_the_collections_the_plugin_wants_vectors_of(browser, signed_in_as, site,
                                                                              embeddings_server):
    signed_in_as("admin")
    form = browser.get(PAGE).forms["plugin-settings"]
    form["settings.selected_collections"] = "col-blog\n"
    page = form.submit(status=303).follow()
    assert "reindex-col-blog" in page.forms and "reindex-col-news" not in page.forms
    assert row(page, "col-news")["searched"] == "no"
    asked = len(embeddings_server.requests)
    refused = browser.post(f"{PAGE}/reindex/col-news", {"csrf_token": csrf_token(browser)}, status=409)
    assert "not indexed" in refused.text

    form = page.forms["plugin-settings"]
    form["settings.ai_mode_enabled"] = False
    page = form.submit(status=303).follow()
    assert "reindex-col-blog" not in page.forms and "reindex-col-news" not in page.forms
    browser.post(f"{PAGE}/reindex/col-blog", {"csrf_token": csrf_token(browser)}, status=409)
    assert len(embeddings_server.requests) == asked


def test_reindex_with_the_model_down_says_so(browser, signed_in_as, site, embeddings_server):
    signed_in_as("admin")
    page = browser.get(PAGE)
    embeddings_server.answer = 503
    done = page.forms["reindex-col-blog"].submit(status=303).follow()
    assert "could not answer" in done.html.find(id="ai-search-done").get_text()
    assert API_KEY not in done.text
    assert row(done, "col-blog")["missing"] == "1"


def test_the_message_after_a_reindex_names_only_a_collection_and_counts(browser, signed_in_as, site):
    signed_in_as("admin")
    crafted = "Your session expired. Sign in again at https://evil.example"
    for query in ({"reindexed": crafted, "failed": "1"},
                  {"reindexed": crafted, "checked": "1", "embedded": "1", "refused": "0"},
                  {"reindexed": "col-blog", "checked": "1", "embedded": crafted, "refused": "0"},
                  {"reindexed": "col-blog", "checked": "²", "embedded": "1", "refused": "0"}):
        page = browser.get(PAGE, params=query)
        assert page.html.find(id="ai-search-done") is None
        assert "evil.example" not in page.text
    page = browser.get(PAGE, params={"reindexed": "col-blog", "failed": "1"})
    assert page.html.find(id="ai-search-done").get_text().startswith("Re-indexing Blog Posts stopped")


def test_reindex_needs_the_csrf_token_and_a_collection(browser, signed_in_as, site):
    signed_in_as("admin")
    browser.post(f"{PAGE}/reindex/col-blog", status=403)  # the session cookie alone
    browser.post(f"{PAGE}/reindex/col-nope", {"csrf_token": csrf_token(browser)}, status=404)


def notices(page):
    """``{collection id: notice text}`` of the page's new-collection notices."""
    return {div["id"].removeprefix("new-collection-"): div.find("p").get_text(strip=True)
            for div in page.html.select("div[id^=new-collection-]")}


def test_new_collections_are_offered_until_added_or_dismissed(browser, signed_in_as, site, env):
    signed_in_as("admin")
    create_collection("pets", description="Our animals")
    create_collection("old", is_active=False)
    page = browser.get(PAGE)
    assert notices(page) == {}  # nothing selected: every collection is searched, none is new

    form = page.forms["plugin-settings"]
    form["settings.selected_collections"] = "col-blog\n"
    page = form.submit(status=303).follow()
    assert notices(page) == {"col-news": "New collection available: 'News' (0 items) - add to search?",
                             "col-pets": "New collection available: 'Pets' (0 items) - add to search?"}

    page = page.forms["add-col-news"].submit(status=303).follow()
    assert page.html.find(id="ai-search-done").get_text() == "News is searched now. Press its Re-index now to embed its items."
    assert row(page, "col-news")["searched"] == "yes" and "reindex-col-news" in page.forms
    assert list(notices(page)) == ["col-pets"]

    page = page.forms["dismiss-col-pets"].submit(status=303).follow()
    assert page.html.find(id="ai-search-done").get_text() == "Pets was dismissed: it is not offered for search again."
    assert notices(page) == {} and row(page, "col-pets")["searched"] == "no"  # dismissed: still not searched
    settings = page.forms["plugin-settings"]
    assert settings["settings.selected_collections"].value.split() == ["col-blog", "col-news"]
    assert settings["settings.dismissed_collections"].value.split() == ["col-pets"]
    assert notices(browser.get(PAGE)) == {}


def test_adding_to_an_empty_selection_changes_nothing(browser, signed_in_as, site):
    """An empty selection searches every collection: adding one would narrow it to that one."""
    signed_in_as("admin")
    done = browser.post(f"{PAGE}/collections/col-news/add", {"csrf_token": csrf_token(browser)}, status=303).follow()
    assert done.html.find(id="ai-search-done").get_text() == "News is searched already."
    assert done.forms["plugin-settings"]["settings.selected_collections"].value == ""
    assert row(done, "col-blog")["searched"] == "yes"


def test_adding_an_inactive_collection_is_refused_and_writes_nothing(browser, signed_in_as, site, client, make_user):
    """No notice offers an inactive collection: "Add to search" of one is a 400 that changes
    no setting, said on the page to a browser and in the error envelope to an API client."""
    signed_in_as("admin")
    create_collection("old", display_name="Old", is_active=False)
    form = browser.get(PAGE).forms["plugin-settings"]
    form["settings.selected_collections"] = "col-blog\n"
    form.submit(status=303)
    before = Plugin.get(Plugin.name == "ai-search").settings

    page = browser.post(f"{PAGE}/collections/col-old/add", {"csrf_token": csrf_token(browser)}, status=400)
    assert page.html.find(id="ai-search-error").get_text() == INACTIVE
    assert row(page, "col-old")["searched"] == "no"
    answer = client.post(f"{PAGE}/collections/col-old/add", headers=make_user("admin")[1], status=400)
    assert answer.json == {"error": INACTIVE, "details": {"collection_id": "col-old"}}
    assert Plugin.get(Plugin.name == "ai-search").settings == before

    client.post(f"{PAGE}/collections/col-news/add", headers=make_user("admin")[1], status=303)  # an active one still is
    assert Plugin.get(Plugin.name == "ai-search").settings["selected_collections"] == ["col-blog", "col-news"]


def test_the_notice_actions_need_an_admin_the_csrf_token_a_collection_and_the_plugin(browser, signed_in_as,
                                                                                     site, env):
    for role in ("editor", "author"):
        other = browser_for(env)
        assert sign_in(other, create_user(role, password_hash=hashed())).status_int == 303
        for action in ("add", "dismiss"):
            other.post(f"{PAGE}/collections/col-news/{action}", {"csrf_token": csrf_token(other)}, status=403)
    signed_in_as("admin")
    for action in ("add", "dismiss"):
        browser.post(f"{PAGE}/collections/col-news/{action}", status=403)  # the session cookie alone
        browser.post(f"{PAGE}/collections/col-nope/{action}", {"csrf_token": csrf_token(browser)}, status=404)
    browser.post("/admin/plugins/ai-search/deactivate", {"csrf_token": csrf_token(browser)}, status=303)
    for action in ("add", "dismiss"):
        browser.post(f"{PAGE}/collections/col-news/{action}", {"csrf_token": csrf_token(browser)}, status=404)
    browser.post("/admin/plugins/ai-search/activate", {"csrf_token": csrf_token(browser)}, status=303)
    browser.post(f"{PAGE}/collections/col-news/dismiss", {"csrf_token": csrf_token(browser)}, status=303)
    assert browser.get(PAGE).forms["plugin-settings"]["settings.dismissed_collections"].value == "col-news"


def test_the_analytics_escape_every_query(browser, signed_in_as, site):
    signed_in_as("admin")
    markup = '<script>alert("x")</script><b>bold</b>'
    for mode in ("ai", "keyword", "keyword"):
        SearchHistory.create(query=markup, query_folded=folded(markup), mode=mode, results_count=1, query_time_ms=4)
    page = browser.get(PAGE)
    assert page.html.find(id="total-queries").get_text() == "3"
    assert page.html.find(id="ai-queries").get_text() == "1"
    assert page.html.find(id="keyword-queries").get_text() == "2"
    assert page.html.find(id="average-time").get_text() == "4.0 ms"
    assert markup not in page.text and "<b>bold</b>" not in page.text
    cells = [td.get_text() for td in page.html.select("table.ai-search-popular td")]
    assert cells == ["script alert x script b bold b", "3"]  # its words, as the search read them


def test_try_a_search_as_the_signed_in_user_sees_it(browser, signed_in_as, site):
    signed_in_as("admin")
    form = browser.get(PAGE).forms["try-search"]
    form["q"] = "cats purr"
    form["mode"] = "ai"
    page = form.submit()
    links = [a.get_text() for a in page.html.select("#try-results li a")]
    assert links == ["Cats", "Dogs"]  # the draft has no vector yet: ranked once indexed
    assert "answered in ai mode" in page.html.find(id="try-results").get_text()
    assert page.html.select("#try-results li a")[0]["href"] == f"/admin/content/blog/{site['cats']}"

    form = page.forms["try-search"]
    form["q"] = "cats"
    form["mode"] = "keyword"
    links = [a.get_text() for a in form.submit().html.select("#try-results li a")]
    assert sorted(links) == ["Cats", "Draft cats"]  # an admin sees drafts, as /api/search shows them
    assert SearchHistory.select().count() == 0  # trying is not recorded


def test_try_a_search_lists_the_media_files_it_finds(browser, signed_in_as, site):
    """With ``index_media`` on, the files the admin's search finds are listed, linked to their
    pages: the whole library, as the admin sees it (this draft-only file is not public)."""
    admin = signed_in_as("admin")
    Media.create(id="m-cat", filename="cat.png", original_name="purring-cat.png", mime_type="image/png", size=10,
                 r2_key="uploads/cat.png", public_url="/files/uploads/cat.png", alt="A cat", uploaded_by=admin.id)
    form = browser.get(PAGE).forms["plugin-settings"]
    form["settings.index_media"] = True
    form = form.submit(status=303).follow().forms["try-search"]
    form["q"] = "purring"
    page = form.submit()
    files = page.html.select("#try-results ul[aria-labelledby=try-media] a")
    assert [(a.get_text(), a["href"]) for a in files] == [("purring-cat.png", "/admin/media/m-cat")]
    assert "Media files found (1)" in page.html.find(id="try-media").get_text()


def test_while_the_plugin_is_inactive_the_page_is_the_generic_one(browser, signed_in_as, site):
    signed_in_as("admin")
    page = browser.get("/admin/plugins/ai-search")
    page.forms["plugin-deactivate"].submit(status=303)
    # The Plugins list links here: the generic page answers, with its Activate button.
    page = browser.get(PAGE, status=200)
    assert page.html.find(id="plugin-status").get_text(strip=True) == "inactive"
    activate = page.html.find("form", action=f"{PAGE}/activate")
    assert activate is not None and activate.find("button").get_text() == "Activate"
    assert page.html.find(id="semantic-availability") is None and "reindex-col-blog" not in page.forms
    browser.post(f"{PAGE}/reindex/col-blog", {"csrf_token": csrf_token(browser)}, status=404)
    # Its button activates it, and the other plugins keep their generic page.
    browser.post("/admin/plugins/ai-search/activate", {"csrf_token": csrf_token(browser)}, status=303)
    assert browser.get(PAGE).html.find(id="semantic-availability") is not None
    assert browser.get("/admin/plugins/core-cache").status_int == 200


def test_without_an_ai_binding_the_page_says_so(tmp_path, stack):
    plain = stack.env(tmp_path / "plain")
    bind_models(plain.DB.db)
    try:
        author = create_user("author")
        insert_items(create_collection("blog"), author, 2)
        browser = browser_for(plain)
        assert sign_in(browser, create_user("admin", password_hash=hashed())).status_int == 303
        page = browser.get(PAGE)
        assert page.html.find(id="semantic-availability").get_text().startswith("Unavailable")
        assert row(page, "col-blog") == {"items": "2", "searched": "yes"}
        assert "reindex-col-blog" not in page.forms
        browser.post(f"{PAGE}/reindex/col-blog", {"csrf_token": csrf_token(browser)}, status=404)
    finally:
        flush_process_buffer()
        plain.DB.db.close()


def test_content_saved_in_the_admin_is_indexed_after_the_response(env, browser, signed_in_as, site,
                                                                  embeddings_server):
    """The save is called as a WSGI server calls it: its whole body is read before the
    response is closed, and only the close (after the response) embeds the item."""
    signed_in_as("editor")
    form = browser.get("/admin/content/blog/new").forms["content-form"]
    form["title"] = "Parrots squawk"
    fields = dict(form.submit_fields())
    request = webob.Request.blank(form.action, method="POST", POST=fields, environ=dict(BROWSER))
    request.headers["Cookie"] = "; ".join(f"{name}={value}" for name, value in browser.cookies.items())
    asked = len(embeddings_server.texts)
    status, _, body = request.call_application(browser.app)
    assert status.startswith("303") and b"".join(body) is not None
    item = Content.get(Content.title == "Parrots squawk")  # saved, and the response sent...
    assert len(embeddings_server.texts) == asked and SearchEmbedding.get_or_none(SearchEmbedding.content == item.id) is None
    body.close()  # ...then indexed once the server closes it
    assert embeddings_server.texts[asked:] == ["Parrots squawk"]
    assert semantic_index_for(env).rank("parrots squawk", ["col-blog"])[0][0] == item.id


@pytest.mark.parametrize("db_backend", ["sqlite"], indirect=True)
def test_the_page_in_a_browser_has_no_critical_accessibility_violation(served_admin, chromium, site):
    """Under the real Content-Security-Policy: no console error, and axe-core finds nothing critical."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    SearchHistory.create(query="<i>cats</i>", query_folded="i cats i", mode="ai", results_count=2, query_time_ms=3)
    admin = create_user("admin", password_hash=hashed())
    wait = WebDriverWait(chromium, WAIT_SECONDS)
    chromium.get(served_admin + "/admin/login")
    wait.until(ec.presence_of_element_located((By.ID, "email"))).send_keys(admin.email)
    chromium.find_element(By.ID, "password").send_keys(PASSWORD)
    navigate(chromium, wait, chromium.find_element(By.CSS_SELECTOR, "form[action='/admin/login'] button[type=submit]"))
    wait.until(ec.text_to_be_present_in_element((By.TAG_NAME, "h1"), "Dashboard"))

    # Only blog selected: news is offered, its notice audited with the rest.
    chromium.get(served_admin + PAGE)
    wait.until(ec.presence_of_element_located((By.NAME, "settings.selected_collections"))).send_keys("col-blog")
    navigate(chromium, wait, chromium.find_element(By.CSS_SELECTOR, "#plugin-settings button[type=submit]"))
    wait.until(ec.presence_of_element_located((By.ID, "new-collection-col-news")))

    chromium.get(served_admin + PAGE + "?q=cats+purr&mode=ai")
    wait.until(ec.presence_of_element_located((By.ID, "try-results")))
    assert chromium.find_element(By.ID, "add-col-news").is_displayed()
    audited = critical_violations(chromium)
    screenshot(chromium, "admin-ai-search")
    assert severe_console_errors(chromium) == []
    assert audited == []


def test_adds_and_dismisses_on_two_workers_at_once_keep_each_other(env):
    """Each action changes the list as the locked row holds it, not as its worker last read
    it: two admins pressing "Add to search" (or "Dismiss") on two notices, one request on
    each worker within the cache's generation bound, add both."""
    for name in ("blog", "news", "pets", "shop", "misc"):
        create_collection(name)
    admin = create_user("admin", password_hash=hashed())
    first, second = browser_for(env), browser_for(env)  # two workers: two apps, one CACHE_KV
    for browser in (first, second):
        assert sign_in(browser, admin).status_int == 303
    tokens = {browser: csrf_token(browser) for browser in (first, second)}
    form = first.get(PAGE).forms["plugin-settings"]
    form["settings.selected_collections"] = "col-blog\n"
    form.submit(status=303)
    past_generation_bound()
    second.get(PAGE)  # the second worker has read the settings as they are now
    for action, ids in (("add", ("col-news", "col-pets")), ("dismiss", ("col-shop", "col-misc"))):
        for browser, collection_id in zip((first, second), ids, strict=True):
            browser.post(f"{PAGE}/collections/{collection_id}/{action}", {"csrf_token": tokens[browser]}, status=303)
    stored = Plugin.get(Plugin.name == "ai-search").settings
    assert sorted(stored["selected_collections"]) == ["col-blog", "col-news", "col-pets"]
    assert sorted(stored["dismissed_collections"]) == ["col-misc", "col-shop"]



def test_adding_or_dismissing_drops_the_ids_of_deleted_collections(browser, signed_in_as, site):
    """The lists are bounded (200 ids): the ids of collections deleted since go with the next
    add or dismiss, so they never fill them."""
    signed_in_as("admin")
    form = browser.get(PAGE).forms["plugin-settings"]
    form["settings.selected_collections"] = "col-blog\ncol-gone\n"
    form["settings.dismissed_collections"] = "col-gone\n"
    form.submit(status=303)
    create_collection("pets")
    for action in ("add", "dismiss"):
        browser.post(f"{PAGE}/collections/col-pets/{action}", {"csrf_token": csrf_token(browser)}, status=303)
    stored = Plugin.get(Plugin.name == "ai-search").settings
    assert stored["selected_collections"] == ["col-blog", "col-pets"]
    assert stored["dismissed_collections"] == ["col-pets"]


def test_the_settings_form_asks_before_unsaved_changes_are_left(browser, signed_in_as, site):
    """A refused save shows the settings as typed (stored nowhere): the page starts as changed;
    a refused action shows them as stored. The asking itself runs in the browser (admin.js)."""
    signed_in_as("admin")
    create_collection("old", display_name="Old", is_active=False)
    page = browser.get(PAGE)
    assert page.html.select_one("form#plugin-settings")["data-warn-unsaved"] == ""
    form = page.forms["plugin-settings"]
    form["settings.selected_collections"] = "col-blog\x00\n"
    refused = form.submit(status=422)
    assert row(refused, "col-blog")["searched"] == "yes", "the active plugin's own page"
    assert refused.html.select_one("form#plugin-settings")["data-warn-unsaved"] == "changed"

    page = browser.post(f"{PAGE}/collections/col-old/add", {"csrf_token": csrf_token(browser)}, status=400)
    assert page.html.select_one("form#plugin-settings")["data-warn-unsaved"] == ""
