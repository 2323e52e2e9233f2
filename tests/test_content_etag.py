"""Content reads answer a weak ETag made from their body, and a 304 without the body when
``If-None-Match`` names it: the public's cached answers and an editor's uncached ones, items
and lists alike."""

import re

import pytest

from app.db.models import Content
from tests.fixtures.content import insert_items

pytestmark = pytest.mark.backends

NOT_AN_ETAG = 'expected the ETag of a read, or "<version_number>"'
ITEM_TAG = re.compile(r'^W/"(\d+)-[0-9a-f]{16}"$')
LIST_TAG = re.compile(r'^W/"[0-9a-f]{16}"$')


@pytest.fixture
def item(blog_collection, as_author):
    """One published item of the blog collection, slug ``item-0``."""
    author, _ = as_author
    [item_id] = insert_items(blog_collection, author, 1)
    return item_id


def version_of(etag):
    """The version_number leading an item's ETag."""
    match = ITEM_TAG.match(etag)
    assert match, etag
    return int(match.group(1))


def get_304(client, url, etag, headers=None):
    """GET ``url`` with ``If-None-Match: etag``, expecting a 304; the response."""
    response = client.get(url, headers={**(headers or {}), "If-None-Match": etag}, status=304)
    assert response.body == b""
    assert "Content-Type" not in response.headers
    return response


# ---------------------------------------------------------------- what the tag says


def test_the_public_and_an_editor_get_different_etags_for_one_item(client, item, as_editor):
    _, editor_headers = as_editor
    for url in (f"/api/content/{item}", "/api/collections/blog/content/item-0"):
        public = client.get(url).headers["ETag"]
        editor = client.get(url, headers=editor_headers).headers["ETag"]
        assert version_of(public) == version_of(editor) == 1
        assert public != editor
        # Each tag names its own answer only: the other caller's tag gets the whole body.
        assert client.get(url, headers={"If-None-Match": editor}, status=200).json["data"]["id"] == item
        client.get(url, headers={**editor_headers, "If-None-Match": public}, status=200)


def test_a_soft_delete_changes_the_etag_though_not_the_version(client, item, as_editor):
    _, headers = as_editor
    url = f"/api/content/{item}"
    before = client.get(url, headers=headers).headers["ETag"]
    client.delete(url, headers=headers)
    after = client.get(url, headers={**headers, "If-None-Match": before}, status=200)
    assert after.json["data"]["deleted_at"] is not None
    assert after.headers["ETag"] != before
    assert version_of(after.headers["ETag"]) == version_of(before) == 1


def test_a_state_changed_without_a_new_version_changes_the_etag(client, item, as_editor):
    # As `d1 execute` could: the row changes, its version_number does not.
    _, headers = as_editor
    url = f"/api/content/{item}"
    before = client.get(url, headers=headers).headers["ETag"]
    Content.update(workflow_state="pending-review").where(Content.id == item).execute()
    after = client.get(url, headers={**headers, "If-None-Match": before}, status=200)
    assert after.json["data"]["workflow_state_id"] == "pending-review"
    assert after.headers["ETag"] != before and version_of(after.headers["ETag"]) == 1


def test_an_edit_answers_the_new_body_to_the_old_etag(client, item, as_editor):
    _, headers = as_editor
    url = f"/api/content/{item}"
    old = client.get(url)
    assert old.headers["X-Cache-Status"] == "MISS"
    get_304(client, url, old.headers["ETag"])  # the cached answer
    client.put_json(url, {"title": "Edited"}, headers=headers)
    new = client.get(url, headers={"If-None-Match": old.headers["ETag"]}, status=200)
    assert new.json["data"]["title"] == "Edited"
    assert new.headers["ETag"] != old.headers["ETag"] and version_of(new.headers["ETag"]) == 2
    get_304(client, url, new.headers["ETag"])


def test_a_write_and_a_read_answer_one_etag_which_writes_take_as_if_match(client, item, as_editor):
    _, headers = as_editor
    url = f"/api/content/{item}"
    etag = client.get(url).headers["ETag"]  # the public's tag: its version is what If-Match compares
    written = client.put_json(url, {"title": "First"}, headers={**headers, "If-Match": etag})
    get_304(client, url, written.headers["ETag"], headers)
    stale = client.put_json(url, {"title": "Second"}, headers={**headers, "If-Match": etag}, status=409)
    assert stale.json["details"] == {"current_version": 2, "your_version": 1}


def test_if_match_takes_a_list_of_tags_any_of_which_will_do(client, item, as_editor):
    """RFC 9110's list: the write goes through when the item is at a version any tag names;
    a read's weak tags match by their version, as a single one does."""
    _, headers = as_editor
    url = f"/api/content/{item}"
    read = client.get(url, headers=headers).headers["ETag"]
    assert read.startswith('W/"1-')
    written = client.put_json(url, {"title": "First"}, headers={**headers, "If-Match": f'"7", {read}'})
    assert version_of(written.headers["ETag"]) == 2
    stale = client.put_json(url, {"title": "Lost"}, headers={**headers, "If-Match": f'{read}, "3", "1"'}, status=409)
    assert stale.json["details"] == {"current_version": 2, "your_versions": [1, 3]}
    # Empty members are skipped, as a list may have them; the body's version may be one listed.
    client.put_json(url, {"title": "Second", "version_number": 2}, headers={**headers, "If-Match": ' , "5", "2" ,'})
    restored = client.post(f"{url}/versions/2/restore", headers={**headers, "If-Match": '"1", "3"'})
    assert version_of(restored.headers["ETag"]) == 4
    assert version_of(client.put_json(url, {"title": "Any"}, headers={**headers, "If-Match": "*"}).headers["ETag"]) == 5
    client.delete(url, headers={**headers, "If-Match": '"3", "4"'}, status=409)
    client.delete(url, headers={**headers, "If-Match": '"4", "5"'})
    client.put_json("/api/content/missing", {"title": "Nowhere"}, headers={**headers, "If-Match": "*"}, status=404)


@pytest.mark.parametrize("url", ["/api/content/{id}?hard=true", "/api/content/{id}/purge"])
def test_a_purge_takes_if_match_as_every_write_does(client, item, as_admin, as_editor, url):
    """A purge is the item's last write: against a version the caller has not seen it is the
    409 any write gets, and the item stays; against the item's own it goes through."""
    _, admin = as_admin
    _, editor = as_editor
    client.put_json(f"/api/content/{item}", {"title": "Changed"}, headers=editor)
    stale = client.delete(url.format(id=item), headers={**admin, "If-Match": '"1"'}, status=409)
    assert stale.json["details"] == {"current_version": 2, "your_version": 1}
    assert Content.get_by_id(item).title == "Changed"
    client.delete(url.format(id=item), headers={**admin, "If-Match": 'bad'}, status=400)
    client.delete(url.format(id=item), headers={**admin, "If-Match": '"1", "2"'})
    assert not Content.select().where(Content.id == item).exists()


@pytest.mark.parametrize("header, message", [
    ('"2", yesterday', 'tag 2 of the list: expected the ETag of a read, or "<version_number>"'),
    ('*, "1"', 'tag 1 of the list: expected the ETag of a read, or "<version_number>"'),
    (" , ", 'expected the ETag of a read, or "<version_number>"'),
])
def test_an_if_match_list_with_a_tag_that_is_none_is_a_400(client, item, as_editor, header, message):
    _, headers = as_editor
    bad = client.put_json(f"/api/content/{item}", {"title": "B"}, headers={**headers, "If-Match": header}, status=400)
    assert bad.json == {"error": "Invalid If-Match header", "details": [{"field": "If-Match", "message": message}]}
    assert client.get(f"/api/content/{item}").json["data"]["title"] != "B"


@pytest.mark.parametrize("header, message", [
    ('"1', NOT_AN_ETAG),  # an unbalanced quote
    ('1"', NOT_AN_ETAG),
    ("1", NOT_AN_ETAG),  # a version without the quotes of a tag
    ("W/", NOT_AN_ETAG),
    ('W/"1-0a1b', NOT_AN_ETAG),
    ('"1" "1"', NOT_AN_ETAG),  # two tags without the comma between them
    ('"1", "1', f"tag 2 of the list: {NOT_AN_ETAG}"),
])
def test_an_if_match_that_is_no_entity_tag_is_a_400_even_when_its_digits_are_the_version(
        client, item, as_editor, header, message):
    """Only RFC 9110's grammar is read: a tag is quoted whole (``W/`` before it for a weak one),
    and tags are separated by commas. A header read loosely could pass for the item's version."""
    _, headers = as_editor
    url = f"/api/content/{item}"
    bad = client.put_json(url, {"title": "B"}, headers={**headers, "If-Match": header}, status=400)
    assert bad.json == {"error": "Invalid If-Match header", "details": [{"field": "If-Match", "message": message}]}
    client.delete(url, headers={**headers, "If-Match": header}, status=400)
    stored = client.get(url, headers=headers).json["data"]
    assert (stored["title"], stored["version_number"], stored["deleted_at"]) == ("Item 0", 1, None)


@pytest.mark.parametrize("header, yours", [
    ('"abc"', []),
    ('W/"zzz"', []),
    ('"1-not-ours"', []),
    ('"a,b"', []),  # a comma inside the quotes is the tag's own
    ('"abc", "7", W/"zzz"', [7]),
])
def test_an_if_match_naming_no_tag_of_ours_is_stale_as_an_old_version_is(client, item, as_editor, header, yours):
    """A well-formed tag this API never handed out (a list's, another server's) matches no
    version: the 409 a stale tag gets, listing only the versions the header could name."""
    _, headers = as_editor
    url = f"/api/content/{item}"
    stale = {"error": "Version conflict: the content was changed since you read it",
             "details": {"current_version": 1, "your_versions": yours}}
    assert client.put_json(url, {"title": "B"}, headers={**headers, "If-Match": header}, status=409).json == stale
    # The body's version does not make a tag of another's match.
    assert client.put_json(url, {"title": "B", "version_number": 1}, headers={**headers, "If-Match": '"abc"'},
                           status=409).json["details"] == {"current_version": 1, "your_versions": []}
    assert client.post(f"{url}/versions/1/restore", headers={**headers, "If-Match": header}, status=409).json == stale
    assert client.delete(url, headers={**headers, "If-Match": header}, status=409).json == stale
    stored = client.get(url, headers=headers).json["data"]
    assert (stored["title"], stored["version_number"], stored["deleted_at"]) == ("Item 0", 1, None)


def test_a_tag_of_ours_among_others_matches_as_it_would_alone(client, item, as_editor, as_admin):
    _, headers = as_editor
    _, admin = as_admin
    url = f"/api/content/{item}"
    read = client.get(url, headers=headers).headers["ETag"]
    list_tag = client.get("/api/content").headers["ETag"]
    written = client.put_json(url, {"title": "First"}, headers={**headers, "If-Match": f'"abc", {read}, {list_tag}'})
    assert version_of(written.headers["ETag"]) == 2
    client.put_json(url, {"title": "Second", "version_number": 2}, headers={**headers, "If-Match": 'W/"zzz", "2"'})
    client.delete(f"{url}?hard=true", headers={**admin, "If-Match": '"3", "abc"'})
    assert not Content.select().where(Content.id == item).exists()


def test_an_if_match_list_not_naming_the_bodys_version_is_a_400(client, item, as_editor):
    _, headers = as_editor
    both = client.put_json(f"/api/content/{item}", {"title": "B", "version_number": 1},
                           headers={**headers, "If-Match": '"2", "3"'}, status=400)
    assert both.json == {"error": "If-Match and version_number disagree", "details": [{
        "field": "version_number",
        "message": "is 1 where If-Match names version 2 or version 3: send only one of the two"}]}


def test_an_item_without_a_version_number_is_tagged_so_and_written_with_that_tag(client, item, as_editor):
    # A row written by hand with SQL may hold no version_number: its tag says so, a write
    # taking it as If-Match goes through while the item is still unnumbered, and is stale after.
    _, headers = as_editor
    url = f"/api/content/{item}"
    Content.update(version_number=None).where(Content.id == item).execute()
    read = client.get(url, headers=headers)
    etag = read.headers["ETag"]
    assert re.fullmatch(r'W/"n-[0-9a-f]{16}"', etag), etag
    get_304(client, url, etag, headers)
    written = client.put_json(url, {"title": "First"}, headers={**headers, "If-Match": etag})
    assert version_of(written.headers["ETag"]) == 2
    stale = client.put_json(url, {"title": "Second"}, headers={**headers, "If-Match": etag}, status=409)
    assert stale.json["details"] == {"current_version": 2, "your_version": None}
    disagreeing = client.put_json(url, {"title": "Third", "version_number": 2}, headers={**headers, "If-Match": etag},
                                  status=400)
    assert disagreeing.json["error"] == "If-Match and version_number disagree"
    assert Content.get_by_id(item).title == "First"


def test_an_item_without_a_version_number_but_with_stored_versions_is_numbered_past_them(client, item, as_editor):
    # Versions 2 and 3 were stored before someone emptied the column by hand: the next
    # write, with the unnumbered item's tag or with no If-Match at all, numbers it past them.
    _, headers = as_editor
    url = f"/api/content/{item}"
    for title in ("Two", "Three"):
        client.put_json(url, {"title": title}, headers=headers)
    Content.update(version_number=None).where(Content.id == item).execute()
    etag = client.get(url, headers=headers).headers["ETag"]
    written = client.put_json(url, {"title": "Four"}, headers={**headers, "If-Match": etag})
    assert version_of(written.headers["ETag"]) == 4
    Content.update(version_number=None).where(Content.id == item).execute()
    untagged = client.put_json(url, {"title": "Five"}, headers=headers)
    assert untagged.json["data"]["version_number"] == 5
    versions = client.get(f"{url}/versions", headers=headers).json["data"]
    assert sorted(version["version"] for version in versions) == [2, 3, 4, 5]


# ---------------------------------------------------------------- If-None-Match


@pytest.mark.parametrize("url", ["/api/content/{id}", "/api/collections/blog/content/item-0"])
def test_a_matching_if_none_match_is_a_304_from_the_cache(client, item, url):
    url = url.format(id=item)
    miss = client.get(url)
    etag = miss.headers["ETag"]
    response = get_304(client, url, etag)
    assert response.headers["ETag"] == etag
    assert (response.headers["X-Cache-Status"], response.headers["X-Cache-Source"]) == ("HIT", "memory")
    assert "Cache-Control" not in response.headers and "Cache-Control" not in miss.headers


def test_a_matching_if_none_match_is_a_304_for_an_editor_too(client, item, as_editor):
    _, headers = as_editor
    url = f"/api/content/{item}"
    etag = client.get(url, headers=headers).headers["ETag"]
    response = get_304(client, url, etag, headers)
    assert response.headers["ETag"] == etag
    assert response.headers["Cache-Control"] == "private, no-store"
    assert response.headers["X-Cache-Status"] == "MISS"


def test_if_none_match_compares_weakly_and_takes_lists_and_a_star(client, item):
    url = f"/api/content/{item}"
    etag = client.get(url).headers["ETag"]
    opaque = etag.removeprefix("W/")
    for condition in (etag, opaque, "*", f'"other", {etag}', f'W/"a,b", {opaque} , "c"', f" {etag} "):
        get_304(client, url, condition)
    for condition in ('"other"', 'W/"other", "1"', opaque.strip('"'), f'"{opaque}"', ""):
        response = client.get(url, headers={"If-None-Match": condition}, status=200)
        assert response.json["data"]["id"] == item and response.headers["ETag"] == etag
    # "*" means "any current answer": there is none for a missing item.
    client.get("/api/content/nothing-here", headers={"If-None-Match": "*"}, status=404)


# ---------------------------------------------------------------- lists


@pytest.mark.parametrize("url", ["/api/content?limit=5", "/api/collections/blog/content?limit=5"])
def test_lists_answer_a_weak_etag_and_304(client, blog_collection, as_author, as_editor, url):
    author, _ = as_author
    insert_items(blog_collection, author, 3)
    miss = client.get(url)
    etag = miss.headers["ETag"]
    assert LIST_TAG.match(etag)
    hit = get_304(client, url, etag)
    assert hit.headers["ETag"] == etag and hit.headers["X-Cache-Status"] == "HIT"
    # The timestamp differs from answer to answer; the tag does not: it is weak for that.
    assert client.get(url).headers["ETag"] == etag
    _, headers = as_editor
    editor = client.get(url, headers={**headers, "If-None-Match": etag}, status=200).headers["ETag"]
    assert editor != etag
    assert get_304(client, url, editor, headers).headers["Cache-Control"] == "private, no-store"
    # A new published item changes the list: the old tag gets the new body.
    client.post_json("/api/content", {"collectionId": "blog", "title": "New", "status": "published",
                                      "data": {"title": "New"}}, headers=headers, status=201)
    fresh = client.get(url, headers={"If-None-Match": etag}, status=200)
    assert fresh.json["meta"]["total"] == 4 and fresh.headers["ETag"] != etag
