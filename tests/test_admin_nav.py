"""The admin's header: who is signed in, named in the nav, and what the sign-in page says
after signing out."""

import peewee
import pytest

from app.admin import session
from app.db.models import User
from app.services.display_names import display_name


def nav_user(page):
    """The nav's link naming the signed-in user."""
    return page.html.select_one("nav a.nav-user")


def test_the_nav_names_the_signed_in_user_and_links_to_their_profile(browser, signed_in_as):
    user = signed_in_as("editor", first_name="Ada", last_name="Lovelace")
    link = nav_user(browser.get("/admin"))
    assert link["href"] == "/admin/account"
    assert link.get_text(" ", strip=True) == "Signed in as Ada Lovelace"
    assert link.select_one(".visually-hidden").get_text() == "Signed in as "
    # The profile page marks it as the current page.
    assert nav_user(browser.get("/admin/account"))["aria-current"] == "page"
    assert user.email not in link.get_text()


def test_the_nav_name_follows_the_display_name_rule(browser, signed_in_as):
    user = signed_in_as("author", first_name="", last_name="", username="quill")
    assert nav_user(browser.get("/admin")).get_text(" ", strip=True) == "Signed in as quill"
    # Renamed on the profile page: the nav says the new name on the next page.
    form = browser.get("/admin/account").forms["profile-form"]
    form["first_name"], form["last_name"] = "Grace", ""
    form.submit(status=303)
    stored = User.get_by_id(user.id)
    expected = display_name(stored.first_name, stored.last_name, stored.username, stored.email)
    assert expected == "Grace"
    assert nav_user(browser.get("/admin")).get_text(" ", strip=True) == f"Signed in as {expected}"


def test_the_nav_name_is_escaped(browser, signed_in_as):
    signed_in_as("editor", first_name="<b>Bold</b>", last_name="")
    page = browser.get("/admin")
    assert "<b>Bold</b>" not in page.text and "&lt;b&gt;Bold&lt;/b&gt;" in page.text
    assert nav_user(page).get_text(" ", strip=True) == "Signed in as <b>Bold</b>"


@pytest.mark.parametrize("error", [
    peewee.OperationalError("unable to open database file"),
    peewee.InterfaceError("connection already closed"),  # no DatabaseError in peewee
])
def test_a_database_that_cannot_name_the_user_leaves_the_email(browser, signed_in_as, monkeypatch, error):
    """The name is read for every page; a failed read still draws the page, naming the email."""
    user = signed_in_as("editor")

    def database_down(user_id):
        raise error

    monkeypatch.setattr(session, "_load_nav_name", database_down)
    page = browser.get("/admin/no/such/page", status=404)
    assert nav_user(page).get_text(" ", strip=True) == f"Signed in as {user.email}"


def test_signing_out_says_so_on_the_sign_in_page(browser, signed_in_as):
    signed_in_as("editor")
    response = browser.get("/admin").forms[0].submit(status=303)
    assert response.location.endswith("/admin/login?signed_out=1")
    page = response.follow(status=200)
    status = page.html.select_one("p.message.ok[role=status]")
    assert status.get_text() == "You have signed out."
    assert page.html.select_one("nav") is None


def test_the_signed_out_notice_is_a_fixed_sentence(browser):
    # Only the flag's exact value shows the sentence; nothing of the URL reaches the page.
    for query in ("signed_out=2", "signed_out=<script>", "signed_out=You+were+hacked"):
        page = browser.get(f"/admin/login?{query}")
        assert page.html.select_one("p.message.ok") is None, query
        assert "hacked" not in page.text and "<script>" not in page.text
    assert browser.get("/admin/login?signed_out=1").html.select_one("p.message.ok").get_text() == (
        "You have signed out.")
