"""A NUL pasted into an admin editor's field is that field's problem: the form comes back
(422, HTML) saying so, with what was typed less the NUL, and nothing is stored."""

import pytest

from app.db.models import ApiToken, Collection, Content, Plugin, User
from tests.fixtures.admin import csrf_headers
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


def test_an_invitation_with_nul_shows_the_invite_form_again(browser, signed_in_as, outbox):
    signed_in_as("admin")
    form = browser.get("/admin/users").forms["invite-form"]
    form["email"], form["first_name"] = "invitee@example.com", "Ada\x00"
    response = form.submit(status=422)
    again = shown_again(response, "invite-form")
    assert response.html.select_one("p.message.error").text == f"First name: {MESSAGE}"
    assert (again["email"].value, again["first_name"].value) == ("invitee@example.com", "Ada")
    assert not User.select().where(User.email == "invitee@example.com").exists() and not outbox.sent


def list_form(page, action):
    return next(form for form in page.forms.values() if form.action == action)


def test_a_role_change_with_nul_is_said_on_the_list(browser, signed_in_as):
    signed_in_as("admin")
    person = create_user("author")
    form = list_form(browser.get("/admin/users"), f"/admin/users/{person.id}/role")
    form["role"].force_value("editor\x00")
    response = form.submit(status=422)
    assert "\x00" not in response.text and "Invalid input" not in response.text
    assert response.html.select_one("p.message.error").text == f"Role: {MESSAGE}"
    assert User.get_by_id(person.id).role == "author"


def test_a_reactivation_with_nul_in_the_password_is_said_by_the_field(browser, signed_in_as):
    signed_in_as("admin")
    person = create_user("admin", is_active=False)
    response = browser.post(f"/admin/users/{person.id}/reactivate", {"current_password": "pass\x00word"},
                            headers=csrf_headers(browser), status=422)
    assert "\x00" not in response.text and "Invalid input" not in response.text
    assert response.html.select_one(f"#reactivate-password-{person.id}-error").text == MESSAGE
    assert not User.get_by_id(person.id).is_active


def test_an_api_token_with_nul_shows_the_form_again(browser, signed_in_as):
    signed_in_as("author")
    form = browser.get("/admin/account/tokens").forms["token-form"]
    form["name"] = "ci\x00"
    form.set("permissions", True, index=0)
    response = form.submit(status=422)
    assert shown_again(response, "token-form")["name"].value == "ci"
    assert [p.text for p in response.html.select("p.message.error")] == [f"Name: {MESSAGE}"]
    assert ApiToken.select().count() == 0


def test_a_profile_with_nul_shows_the_form_again(browser, signed_in_as):
    me = signed_in_as("author")
    form = browser.get("/admin/account").forms["profile-form"]
    form["first_name"] = "Gr\x00ace"
    response = form.submit(status=422)
    assert shown_again(response, "profile-form")["first_name"].value == "Grace"
    assert response.html.select_one("p.message.error").text == f"First name: {MESSAGE}"
    assert User.get_by_id(me.id).first_name == me.first_name


def test_a_plugin_setting_with_nul_is_said_by_its_field(browser, signed_in_as):
    signed_in_as("admin")
    before = Plugin.get(Plugin.name == "core-auth").settings
    form = browser.get("/admin/plugins/core-auth").forms["plugin-settings"]
    form["settings.registration"] = '{"enabled": false, "defaultRole": "view\x00er"}'
    response = form.submit(status=422)
    again = shown_again(response, "plugin-settings")
    assert again["settings.registration"].value == '{"enabled": false, "defaultRole": "viewer"}'
    assert response.html.select_one("#s-registration-error").text == MESSAGE
    assert Plugin.get(Plugin.name == "core-auth").settings == before
