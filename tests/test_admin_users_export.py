"""The users list's CSV download (/admin/users/export): its columns, the list's filters, no
secrets, cells a spreadsheet will not run, who may have it, and the list's link to it."""

import csv
import io
from datetime import UTC, datetime
from urllib.parse import parse_qs, urlsplit

import pytest

from app.db.models import User
from tests.fixtures.admin import csrf_headers
from tests.fixtures.auth import hashed
from tests.fixtures.users import create_user
from tests.test_admin_users import grant

pytestmark = pytest.mark.backends

T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z
HOUR_MS = 3_600_000
COLUMNS = ["id", "email", "username", "first_name", "last_name", "role", "status", "created_at", "last_login_at"]
INVITATION_DIGEST = "invitation-digest-never-exported"
RESET_DIGEST = "reset-digest-never-exported"


def exported(response):
    """The download's rows as dicts by column (the header row checked to be ``COLUMNS``)."""
    header, *rows = csv.reader(io.StringIO(response.text))
    assert header == COLUMNS
    return [dict(zip(header, row, strict=True)) for row in rows]


def emails_in(response):
    return [row["email"] for row in exported(response)]


def listed_emails(page):
    """The emails in the users page's table, top to bottom."""
    return [row.select("td")[1].text for row in page.html.select("tbody tr")]


def seed_people():
    """An active author, an inactive editor and an invited viewer, an hour apart (newest last)."""
    return (
        create_user("author", email="ann@example.com", username="ann", first_name="Ann", last_name="Lee",
                    password_hash=hashed(), created_at=T0, last_login_at=T0 + 90_061_000),
        create_user("editor", email="bob@example.com", username="bob", first_name="Bob", last_name="Dormant",
                    is_active=False, created_at=T0 + HOUR_MS),
        create_user("viewer", email="cat@example.com", username="cat", first_name="Cat", last_name="Invited",
                    is_active=False, invitation_token=INVITATION_DIGEST, invited_at=T0 + 2 * HOUR_MS,
                    created_at=T0 + 2 * HOUR_MS),
    )


def test_the_export_is_a_csv_of_the_users_with_the_columns_a_person_expects(browser, signed_in_as):
    admin = signed_in_as("admin", email="me@example.com")
    ann, bob, cat = seed_people()
    response = browser.get("/admin/users/export")
    assert response.headers["Content-Type"] == "text/csv; charset=utf-8"
    today = datetime.now(UTC).date().isoformat()
    assert response.headers["Content-Disposition"] == f'attachment; filename="users-{today}.csv"'
    assert response.headers["X-Export-Truncated"] == "false" and response.headers["Cache-Control"] == "no-store"
    rows = exported(response)
    assert [row["email"] for row in rows] == ["me@example.com", "cat@example.com", "bob@example.com",
                                              "ann@example.com"]  # newest first, as the list
    assert rows[-1] == {"id": ann.id, "email": "ann@example.com", "username": "ann", "first_name": "Ann",
                        "last_name": "Lee", "role": "author", "status": "active",
                        "created_at": "2026-01-01T00:00:00Z", "last_login_at": "2026-01-02T01:01:01Z"}
    assert [(row["id"], row["status"], row["last_login_at"]) for row in rows[1:3]] == [
        (cat.id, "invited", ""), (bob.id, "inactive", "")]
    assert rows[0]["id"] == admin.id and rows[0]["last_login_at"].endswith("Z")  # signed in just now


def test_the_export_holds_no_secret(browser, signed_in_as):
    signed_in_as("admin")
    _, _, cat = seed_people()
    secret = create_user("editor", password_hash=hashed(), password_reset_token=RESET_DIGEST,
                         two_factor_secret="totp-seed-never-exported", email_verification_token="verify-never-exported")
    stored = User.get_by_id(secret.id)
    body = browser.get("/admin/users/export").text
    assert stored.password_hash and stored.password_hash not in body
    assert INVITATION_DIGEST not in body and User.get_by_id(cat.id).invitation_token == INVITATION_DIGEST
    for value in (RESET_DIGEST, "totp-seed-never-exported", "verify-never-exported", "scrypt", "token"):
        assert value not in body


@pytest.mark.parametrize("query", ["search=ANN", "search=%20%20lee%20", "role=editor", "status=inactive",
                                   "status=active&role=author", "role=viewer&status=inactive&search=cat",
                                   "role=king", "status=asleep", "search=nobody", ""])
def test_the_export_holds_the_users_the_list_shows_with_the_same_filters(browser, signed_in_as, query):
    """Every filter the page reads, read as the page reads it: an unknown role or status is no
    filter on either (the page shows All), a search is trimmed."""
    signed_in_as("admin", email="me@example.com")
    seed_people()
    listed = listed_emails(browser.get(f"/admin/users?{query}"))
    assert emails_in(browser.get(f"/admin/users/export?{query}")) == listed


def test_the_filters_select_the_rows(browser, signed_in_as):
    """The comparison above holds for a list that filters nothing too: here, what each selects."""
    signed_in_as("admin", email="me@example.com")
    seed_people()
    assert emails_in(browser.get("/admin/users/export?search=%20LEE")) == ["ann@example.com"]
    assert emails_in(browser.get("/admin/users/export?role=editor&status=inactive")) == ["bob@example.com"]
    assert emails_in(browser.get("/admin/users/export?status=inactive")) == ["cat@example.com", "bob@example.com"]
    assert emails_in(browser.get("/admin/users/export?role=author&status=inactive")) == []


def test_a_cell_a_spreadsheet_would_run_starts_with_an_apostrophe(browser, signed_in_as):
    signed_in_as("admin")
    create_user("viewer", email="-x@example.com", username="@mention", first_name='=HYPERLINK("http://evil")',
                last_name="+1+1")
    create_user("viewer", email="tab@example.com", username="tabbed", first_name="\tTab", last_name="\rReturn")
    rows = {row["username"]: row for row in exported(browser.get("/admin/users/export?role=viewer"))}
    assert (rows["'@mention"]["email"], rows["'@mention"]["first_name"], rows["'@mention"]["last_name"]) == (
        "'-x@example.com", """'=HYPERLINK("http://evil")""", "'+1+1")
    assert (rows["tabbed"]["first_name"], rows["tabbed"]["last_name"]) == ("'\tTab", "'\rReturn")


@pytest.mark.parametrize("role, status", [("viewer", 403), ("author", 403), ("editor", 200), ("admin", 200)])
def test_the_export_is_for_whoever_may_see_the_users_page(browser, signed_in_as, role, status):
    signed_in_as(role)
    assert browser.get("/admin/users", status="*").status_int == status
    answer = browser.get("/admin/users/export", status=status)
    assert (answer.content_type == "text/csv") is (status == 200)


def test_a_signed_out_browser_goes_to_sign_in_as_from_the_users_page(browser):
    page = browser.get("/admin/users?role=admin", status=303)
    answer = browser.get("/admin/users/export?role=admin", status=303)
    assert page.location.endswith("/admin/login?next=%2Fadmin%2Fusers%3Frole%3Dadmin&reason=required")
    assert answer.location.endswith("/admin/login?next=%2Fadmin%2Fusers%2Fexport%3Frole%3Dadmin&reason=required")


def test_the_export_follows_the_permission_not_the_role(browser, signed_in_as):
    grant("author", "users.read")
    signed_in_as("author")
    browser.get("/admin/users", status=200)
    assert browser.get("/admin/users/export").content_type == "text/csv"


def test_the_list_links_to_the_export_of_what_it_shows(browser, signed_in_as):
    signed_in_as("admin")
    seed_people()
    page = browser.get("/admin/users?search=+b%C3%B6b&role=editor&status=inactive&page=2")
    link = page.html.select_one("#export-csv")
    assert link.has_attr("download") and "10,000" in link.parent.text
    parts = urlsplit(link["href"])
    assert parts.path == "/admin/users/export"
    assert parse_qs(parts.query) == {"search": ["böb"], "role": ["editor"], "status": ["inactive"]}
    User.update(last_name="Böb").where(User.email == "bob@example.com").execute()
    assert emails_in(browser.get(link["href"])) == ["bob@example.com"]
    # What the page reads as no filter is not in the link: the page shows every user.
    unfiltered = browser.get("/admin/users?role=king&status=asleep&search=%20").html.select_one("#export-csv")
    assert unfiltered["href"] == "/admin/users/export"


def test_the_export_is_a_get_only(browser, signed_in_as):
    signed_in_as("admin")
    browser.post("/admin/users/export", headers=csrf_headers(browser), status=405)


def seed_users(count):
    """``count`` viewers ``bulk-00000``... one millisecond apart from T0, in one INSERT ... SELECT."""
    database = User._meta.database
    p = database.param
    database.execute_sql(
        f"WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < {p})"
        " INSERT INTO users (id, email, username, first_name, last_name, role, is_active, created_at, updated_at)"
        " SELECT 'bulk-' || substr(CAST(100000 + i AS TEXT), 2), 'bulk' || CAST(i AS TEXT) || '@example.com',"
        f" 'bulk' || CAST(i AS TEXT), 'Bulk', 'User', 'viewer', 1, {p} + i, {p} + i FROM n", (count - 1, T0, T0))


def test_the_export_holds_ten_thousand_users_and_says_when_more_matched(browser, signed_in_as):
    signed_in_as("admin")
    seed_users(10_001)
    response = browser.get("/admin/users/export?role=viewer")
    rows = exported(response)
    assert response.headers["X-Export-Truncated"] == "true" and len(rows) == 10_000
    assert (rows[0]["id"], rows[-1]["id"]) == ("bulk-10000", "bulk-00001")  # the newest
    User.delete().where(User.id == "bulk-00000").execute()
    assert browser.get("/admin/users/export?role=viewer").headers["X-Export-Truncated"] == "false"
