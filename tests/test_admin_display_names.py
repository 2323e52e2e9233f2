"""How the admin names a person: first and last name, else username, else email, on every
page that shows who someone is (a user made without names, as `dev` makes the first admin)."""

import pytest

from app.services.display_names import display_name, person_name
from tests.fixtures.content import create_titled_posts
from tests.fixtures.users import bearer, create_user, token_for
from tests.fixtures.workflow import insert_content

pytestmark = pytest.mark.backends

LIST = "/admin/content/posts"


@pytest.fixture
def posts(browser):
    return create_titled_posts()


@pytest.mark.parametrize("parts, expected", [
    (("Ada", "Lovelace", "ada", "a@example.com"), "Ada Lovelace"),
    (("Ada", "", "ada", "a@example.com"), "Ada"),
    (("", "Lovelace", "ada", "a@example.com"), "Lovelace"),
    (("  ", None, "ada", "a@example.com"), "ada"),
    (("", "", "", "a@example.com"), "a@example.com"),
    ((None, None, None, None), ""),
])
def test_display_name_takes_the_names_else_the_username_else_the_email(parts, expected):
    assert display_name(*parts) == expected
    keys = ("first_name", "last_name", "username", "email")
    assert person_name(dict(zip(keys, parts, strict=True))) == expected


def test_a_user_without_names_is_named_by_username_on_every_page(browser, signed_in_as, posts):
    admin = signed_in_as("admin", first_name="", last_name="", username="rootadmin")
    item = insert_content(admin, posts, title="Nameless post")
    # A save through the API makes a version whose author is the admin.
    browser.put_json(f"/api/content/{item.id}", {"title": "Nameless post, saved"},
                     headers=bearer(token_for(admin)))

    listing = browser.get(LIST)
    assert [cell.get_text(strip=True) for cell in listing.html.select("tbody tr td")
            if cell.get_text(strip=True) == "rootadmin"], "the Author column names the admin"
    page = browser.get(f"{LIST}/{item.id}")
    assert "· by rootadmin" in " ".join(page.html.get_text().split())
    options = [text for _, _, text in page.forms["assign-form"]["user_id"].options]
    assert "rootadmin (rootadmin, admin)" in options

    versions = browser.get(f"{LIST}/{item.id}/versions")
    assert "rootadmin" in [cell.get_text(strip=True) for cell in versions.html.select("tbody td")]

    form = page.forms["assign-form"]
    form["user_id"] = admin.id
    page = form.submit(status=303).follow()
    assert page.html.select_one("#assignment strong").get_text(strip=True) == "rootadmin"
    mine = browser.get("/admin/workflow/assignments")
    assert "rootadmin" in [cell.get_text(strip=True) for cell in mine.html.select("tbody td")]

    users = browser.get("/admin/users")
    assert users.html.select_one(f"a[href='/admin/users/{admin.id}']").get_text(strip=True) == "rootadmin"
    assert browser.get(f"/admin/users/{admin.id}").html.h1.get_text(" ", strip=True).startswith("rootadmin ")


def test_the_api_names_an_author_without_names_by_username_to_staff_never_by_email(browser, posts):
    # A username is derived from the email's local part unless one is chosen: the public
    # gets the names only, those who may read unpublished content the username too.
    author = create_user("author", first_name="", last_name="", username="plainauthor")
    item = insert_content(author, posts, state="published", title="Public post")
    public = browser.get(f"/api/content/{item.id}", headers={"Accept": "application/json"}).json["data"]
    assert public["author"] == {"id": author.id, "name": ""}
    staff = bearer(token_for(create_user("editor")))
    seen = browser.get(f"/api/content/{item.id}", headers={"Accept": "application/json", **staff}).json["data"]
    assert (seen["author"]["id"], seen["author"]["name"]) == (author.id, "plainauthor")
