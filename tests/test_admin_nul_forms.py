"""A NUL pasted into an admin editor's field is that field's problem: the form comes back
(422, HTML) saying so, with what was typed less the NUL, and nothing is stored."""

import pytest

from app.db.models import Collection, Content, User
from tests.fixtures.content import create_collection
from tests.fixtures.users import create_user
from tests.fixtures.workflow import insert_content

pytestmark = pytest.mark.backends

MESSAGE = "NUL characters are not allowed"
SCHEMA = {"type": "object", "properties": {"title": {"type": "string", "required": True},
                                           "body": {"type": "textarea"}}}


@pytest.fixture
def posts(browser):
    return create_collection("posts", SCHEMA, display_name="Posts")


def shown_again(response, form_id):
    """The form of a refused post, checked to be the page itself without a raw NUL."""
    assert response.content_type == "text/html"
    assert "\x00" not in response.text and "Invalid input" not in response.text
    return response.forms[form_id]


def test_a_new_item_with_nul_shows_the_form_again_as_typed(browser, signed_in_as, posts):
    signed_in_as("editor")
    form = browser.get("/admin/content/posts/new").forms["content-form"]
    form["title"], form["data.body"] = "Pasted\x00 title", "Some\x00 text"
    response = form.submit(status=422)
    again = shown_again(response, "content-form")
    assert again["title"].value == "Pasted title" and again["data.body"].value == "Some text"
    assert response.html.select_one("#f-title-error").text == MESSAGE
    assert MESSAGE in response.html.select_one("textarea[name='data.body']").find_parent().text
    assert Content.select().count() == 0, "nothing stored"
    again.submit(status=303)  # sent again, without the NULs, it saves
    assert Content.get().title == "Pasted title"


def test_an_edit_with_nul_shows_the_form_again_and_keeps_the_item(browser, signed_in_as, posts):
    editor = signed_in_as("editor")
    item = insert_content(editor, posts, title="Clean", data={"title": "Clean", "body": "Kept"})
    form = browser.get(f"/admin/content/posts/{item.id}").forms["content-form"]
    form["title"] = "Changed\x00 title"
    response = form.submit(status=422)
    again = shown_again(response, "content-form")
    assert again["title"].value == "Changed title"
    assert response.html.select_one("#f-title-error").text == MESSAGE
    stored = Content.get_by_id(item.id)
    assert (stored.title, stored.version_number) == ("Clean", item.version_number), "nothing written"


def test_a_new_user_with_nul_shows_the_form_again(browser, signed_in_as):
    signed_in_as("admin")
    form = browser.get("/admin/users/new").forms["new-user-form"]
    form["email"], form["password"] = "fresh@example.com", "a long enough password"
    form["first_name"] = "Ada\x00"
    response = form.submit(status=422)
    again = shown_again(response, "new-user-form")
    assert f"First name: {MESSAGE}" in response.html.select_one("p.message.error").text
    assert (again["first_name"].value, again["email"].value) == ("Ada", "fresh@example.com")
    assert not User.select().where(User.email == "fresh@example.com").exists()


def test_a_user_edit_with_nul_shows_the_form_again(browser, signed_in_as):
    signed_in_as("admin")
    member = create_user("author", first_name="Grace")
    form = browser.get(f"/admin/users/{member.id}").forms["user-form"]
    form["first_name"] = "Gr\x00ace Hopper"
    response = form.submit(status=422)
    again = shown_again(response, "user-form")
    assert f"First name: {MESSAGE}" in response.html.select_one("p.message.error").text
    assert again["first_name"].value == "Grace Hopper"
    assert User.get_by_id(member.id).first_name == "Grace"


def test_a_collection_with_nul_shows_the_editor_again(browser, signed_in_as, posts):
    signed_in_as("admin")
    form = browser.get("/admin/collections/posts").forms["collection-form"]
    form["display_name"] = "Articles\x00"
    response = form.submit(status=422)
    again = shown_again(response, "collection-form")
    assert [li.text for li in response.html.select("#form-message li")] == [f"Display name: {MESSAGE}"]
    assert again["display_name"].value == "Articles"
    assert Collection.get(Collection.name == "posts").display_name == "Posts"
