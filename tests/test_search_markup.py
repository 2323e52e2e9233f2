"""Full-text search (``search=``) finds rich text by its words, not by its markup: a string
value's tags (names, attributes) and common named entities are not indexed, on SQLite and
PostgreSQL alike, whichever path wrote the item (the API, plain SQL as ``d1 execute --file``
runs it) and after an update."""

import pytest

from app.db import derived
from app.db.database import is_postgres
from tests.fixtures.content import insert_items

pytestmark = pytest.mark.backends

RICH = ('<p>Hello <strong class="x">world</strong> &amp; more&nbsp;text</p>'
        '<a href="https://example.com/page">link</a>')
WORDS = ["hello", "world", "more", "text", "link"]
MARKUP = ["strong", "class", "x", "p", "a", "href", "https", "example", "page", "amp", "nbsp"]


def found(client, words):
    return sorted(item["slug"] for item in client.get("/api/content", {"search": words}).json["data"])


def create(client, headers, slug, data):
    return client.post_json("/api/content", {"collectionId": "pages", "title": "Untitled", "slug": slug,
                                             "status": "published", "data": data},
                            headers=headers, status=201).json["data"]


def test_rich_text_is_found_by_its_words_and_not_by_its_markup(client, pages_collection, as_editor):
    _, headers = as_editor
    create(client, headers, "rich", {"body": RICH, "blocks": [{"html": "<em>nested</em>"}]})
    for word in [*WORDS, "nested"]:
        assert found(client, word) == ["rich"], word
    for word in [*MARKUP, "em"]:
        assert found(client, word) == [], word
    assert found(client, '"world more text"') == ["rich"]  # tags and entities between words part them


def test_plain_text_with_a_lone_angle_bracket_keeps_its_words(client, pages_collection, as_editor):
    _, headers = as_editor
    # The '<' before "beta" opens no tag: a piece without '>' is kept whole (a pattern taking
    # "< beta <b>" for a tag would lose "beta"); the tag after it is dropped.
    create(client, headers, "lone", {"body": "alpha < beta <b>bold</b>", "more": "gamma>delta", "end": "epsilon<"})
    for word in ("alpha", "beta", "bold", "gamma", "delta", "epsilon"):
        assert found(client, word) == ["lone"], word
    assert found(client, "b") == []
    # What an escaped bracket stands for is text, read after the tags are gone.
    create(client, headers, "escaped", {"body": "&lt;zeta&gt; &amp;lt;eta&amp;gt;"})
    assert found(client, "zeta") == found(client, "eta") == ["escaped"]
    assert found(client, "lt") == found(client, "gt") == ["escaped"]  # "&amp;lt;" is the text "&lt;"
    assert found(client, "amp") == []


def test_an_update_removes_the_words_it_took_out(client, env, pages_collection, as_editor):
    _, headers = as_editor
    item = create(client, headers, "edited", {"body": "<p>keep <b>gone</b> a&nbsp;&lt;b&gt;</p>"})
    assert found(client, "gone") == found(client, "keep") == ["edited"]
    client.put_json(f"/api/content/{item['id']}", {"title": "Untitled", "data": {"body": "<p>keep <i>fresh</i></p>"}},
                    headers=headers, status=200)
    assert found(client, "gone") == found(client, "b") == found(client, "i") == []
    assert found(client, "keep") == found(client, "fresh") == ["edited"]
    assert index_matches_content(env.DB.db)


def test_other_entities_and_a_comment_holding_a_closing_bracket_are_read_by_the_rule(client, pages_collection,
                                                                                     as_editor):
    """README's search syntax says so: only the common named entities, written in lower case,
    are read as what they stand for (``&#233;`` is the word "233", ``&AMP;`` the word "amp"),
    and a comment ends at its first '>' as a tag does, so the words after it are indexed."""
    _, headers = as_editor
    for slug, body in [("numeric", "<p>caf&#233;</p>"), ("named", "<p>caf&eacute;</p>"), ("upper", "fish &AMP; chips"),
                       ("comment", "before <!-- hidden > shown --> after")]:
        create(client, headers, slug, {"body": body})
    answers = {word: found(client, word) for word in ("café", "caf", "233", "eacute", "amp", "hidden", "shown", "after")}
    assert answers == {"café": [], "caf": ["named", "numeric"], "233": ["numeric"], "eacute": ["named"],
                       "amp": ["upper"], "hidden": [], "shown": ["comment"], "after": ["comment"]}


def index_matches_content(db):
    """Whether the search index holds exactly the words of the rows there now. SQLite's
    external-content index reads a row's text from its view when it needs it (a rebuild), so
    the view must read the text the triggers indexed: every word the index keeps (its
    position, column and row) is compared with those a fresh index of the view's text holds."""
    if is_postgres(db):
        return db.execute_sql(
            f"SELECT count(*) FROM content c FULL JOIN {derived.FTS_TABLE} f ON f.id = c.id WHERE c.id IS NULL"
            f" OR f.id IS NULL OR f.vector IS DISTINCT FROM {derived.PG_SEARCH_FUNCTION}(c.title, c.data)").fetchone()[0] == 0
    statements = ["CREATE VIRTUAL TABLE temp.fresh_fts USING fts5(title, body, tokenize='unicode61 remove_diacritics 0')",
                  f"INSERT INTO temp.fresh_fts (rowid, title, body) SELECT rowid, title, body FROM {derived.FTS_SOURCE}",
                  f"CREATE VIRTUAL TABLE temp.kept_words USING fts5vocab(main, {derived.FTS_TABLE}, instance)",
                  "CREATE VIRTUAL TABLE temp.read_words USING fts5vocab(temp, fresh_fts, instance)"]
    for statement in statements:
        db.execute_sql(statement)
    try:
        kept, read = (db.execute_sql(f"SELECT term, doc, col, offset FROM temp.{words} ORDER BY 1, 2, 3, 4").fetchall()
                      for words in ("kept_words", "read_words"))
        return kept == read and kept != []
    finally:
        for table in ("read_words", "kept_words", "fresh_fts"):
            db.execute_sql(f"DROP TABLE temp.{table}")


def test_plain_sql_writes_are_indexed_by_the_same_rule(client, env, pages_collection, as_editor):
    user, _ = as_editor
    insert_items(pages_collection, user, 1, slug_prefix="bulk", data=lambda i: {"body": RICH})
    for word in WORDS:
        assert found(client, word) == ["bulk-0"], word
    for word in MARKUP:
        assert found(client, word) == [], word


def test_both_databases_take_the_same_text_of_a_value(env):
    """The SQL each database runs on a string value gives the same text (SQLite's triggers,
    PostgreSQL's search vector function) as the rule's Python twin, which semantic search
    embeds: the same words are indexed on both, and embedded."""
    db = env.DB.db
    expression = derived.pg_search_text("%s") if is_postgres(db) else derived.sqlite_search_text("?")
    values = [RICH, "alpha < beta", "a <b> c", "", "<", "x<", "<<b>>y", 'say "hi"\n<i>it</i>\\', "&amp;lt; &amp;nbsp;",
              "é<b>ü</b>ß", "<!-- note > aside --> after", "tab\there <br/>", "a > b", "&lt;<b>&gt;</b>",
              "caf&#233; caf&eacute; &AMP; &Amp;lt; &#x3c;b&#62;"]
    for value in values:
        text = db.execute_sql(f"SELECT {expression}", (value,) * expression.count("%s" if is_postgres(db) else "?"))
        assert text.fetchone()[0] == derived.search_text(value), value
