"""Forms: the admin API, the public definition, submitting (JSON and form posts), Turnstile
through a real siteverify on a loopback port, notification mail through a real SMTP server."""

import csv
import hashlib
import hmac
import io

import pytest

from app.db.models import Form, FormSubmission, bind_models
from app.services.mail import MailSettings, SmtpMailer
from tests.fixtures.app import TEST_JWT_SECRET, client_for
from tests.fixtures.turnstile import GOOD_TOKEN, SECRET_KEY, SITE_KEY

pytestmark = pytest.mark.backends

CONTACT = {
    "name": "contact", "display_name": "Contact us", "description": "Write to us",
    "fields": {
        "email": {"type": "email", "title": "Your email", "required": True},
        "message": {"type": "textarea", "required": True, "maxLength": 200},
        "age": {"type": "integer", "min": 0},
        "topic": {"type": "select", "enum": ["sales", "support"]},
        "subscribe": {"type": "checkbox"},
    },
    "settings": {"notify_emails": ["team@example.com"], "redirect_url": "/thanks",
                 "success_message": "Thanks, we will answer soon."},
}
GOOD = {"email": "ann@example.com", "message": "Hello"}


@pytest.fixture
def admin(make_user):
    return make_user("admin")[1]


def make_form(client, headers, **changes):
    return client.post_json("/admin/api/forms", {**CONTACT, **changes}, headers=headers, status=201).json["data"]


def stored():
    return list(FormSubmission.select().order_by(FormSubmission.created_at))


# ------------------------------------------------------------------ admin API


def test_a_form_is_created_read_changed_and_deleted_with_its_submissions(client, admin):
    created = make_form(client, admin)
    assert created["settings"] == {"success_message": "Thanks, we will answer soon.", "redirect_url": "/thanks",
                                   "notify_emails": ["team@example.com"], "turnstile": False}
    assert list(created["fields"]) == ["email", "message", "age", "topic", "subscribe"]  # the order is kept
    assert client.get("/admin/api/forms/contact", headers=admin).json["data"]["id"] == created["id"]
    listed = client.get("/admin/api/forms?search=CONTACT", headers=admin).json
    assert [form["name"] for form in listed["data"]] == ["contact"] and listed["meta"]["total"] == 1
    client.post_json("/forms/contact/submit", {"data": GOOD}, status=201)
    changed = client.patch_json(f"/admin/api/forms/{created['id']}", {"settings": {"turnstile": False,
                                "success_message": "Merci"}, "is_active": False}, headers=admin).json["data"]
    assert changed["settings"]["notify_emails"] == ["team@example.com"]  # settings not named are kept
    assert changed["settings"]["success_message"] == "Merci" and changed["is_active"] is False
    assert changed["submissions"] == 1
    client.delete("/admin/api/forms/contact", headers=admin, status=200)
    client.get("/admin/api/forms/contact", headers=admin, status=404)
    assert stored() == []


def test_a_definition_is_refused_with_every_problem_named_by_its_path(client, admin):
    body = {**CONTACT, "fields": {"photo": {"type": "media"}, "_x": {"type": "string"},
                                  "n": {"type": "number", "min": 5, "max": 1}}}
    body["settings"] = {"redirect_url": "//evil.example"}
    problems = client.post_json("/admin/api/forms", body, headers=admin, status=422).json["details"]
    assert {problem["field"] for problem in problems} == {"fields.photo.type", "fields._x", "fields.n.min",
                                                         "settings.redirect_url"}
    assert "form field types: boolean, checkbox" in problems[0]["message"]
    for url in ("//evil.example", "javascript:alert(1)", "http://example.com/", "/\\evil.example",
                "https://user:pw@example.com/"):
        refused = client.post_json("/admin/api/forms", {**CONTACT, "settings": {"redirect_url": url}},
                                   headers=admin, status=422).json
        assert refused["details"][0]["field"] == "settings.redirect_url", url
    refused = client.post_json("/admin/api/forms", {**CONTACT, "settings": {"notify_emails": ["nope"]}},
                               headers=admin, status=422).json
    assert refused["details"][0]["field"].startswith("settings.notify_emails")
    refused = client.post_json("/admin/api/forms", {**CONTACT, "name": "new"}, headers=admin, status=422).json
    assert refused["details"][0]["field"] == "name"
    refused = client.post_json("/admin/api/forms", {**CONTACT, "settings": {"turnstile": True}}, headers=admin,
                               status=422).json
    assert refused["details"] == [{"field": "settings.turnstile", "message": refused["details"][0]["message"]}]
    assert "TURNSTILE_SECRET_KEY" in refused["details"][0]["message"]
    make_form(client, admin)
    taken = "A form named 'contact' exists already"
    # As every field's problem is given (a 422's, the users' 409s, a taken collection name).
    assert client.post_json("/admin/api/forms", CONTACT, headers=admin, status=409).json == {
        "error": taken, "details": [{"field": "name", "message": taken}]}
    assert client.get("/admin/api/forms", headers=admin).json["meta"]["total"] == 1


BAD_REDIRECTS = (
    "https://evil.example; script-src 'unsafe-inline' *",  # would be copied into the page's policy
    "https://evil.example;script-src",
    "https://ex\u0430mple.com/",  # a Cyrillic "а": no header can carry it
    "https://example\u3002com/",
    "https://exa\u2028mple.com/",
    "https://[evil/",  # urlsplit raises on it
    "https://example.com:99999/",
    "https://example.com:0/",
    'https://a"b.example/',
    "https://[::1]/",
)


def test_a_redirect_is_printable_ascii_to_a_domain_name_and_a_real_port(client, admin):
    for url in BAD_REDIRECTS:
        refused = client.post_json("/admin/api/forms", {**CONTACT, "settings": {"redirect_url": url}},
                                   headers=admin, status=422).json
        assert [problem["field"] for problem in refused["details"]] == ["settings.redirect_url"], url
    made = make_form(client, admin, settings={"redirect_url": "https://WWW.example.com:8443/thanks?a=1;b=2"})
    client.patch_json(f"/admin/api/forms/{made['id']}", {"settings": {"redirect_url": "https://[evil/"}},
                      headers=admin, status=422)
    policy = client.get("/forms/contact").headers["Content-Security-Policy"]
    assert "form-action 'self' https://www.example.com:8443;" in policy


@pytest.mark.parametrize("url", BAD_REDIRECTS)
def test_a_redirect_saved_before_the_check_is_never_trusted_as_it_stands(client, admin, url):
    made = make_form(client, admin)
    Form.update(settings={**made["settings"], "redirect_url": url}).where(Form.id == made["id"]).execute()
    page = client.get("/forms/contact", status=200)
    assert page.headers["Content-Security-Policy"] == "default-src 'none'; form-action 'self'; base-uri 'none'"
    done = client.post("/forms/contact", GOOD, status=303)
    assert done.location.endswith("/forms/contact?submitted=1")


ODD_DEFINITIONS = (  # (declaration, the path its 422 names)
    ({"type": ["email"]}, "fields.f.type"),
    ({"type": {"email": True}}, "fields.f.type"),
    ({"type": 3}, "fields.f.type"),
    ({"type": "select", "enum": [["a"]]}, "fields.f.enum[0]"),
    ({"type": "select", "enum": [{"a": 1}]}, "fields.f.enum[0]"),
    ({"type": "select", "enum": "a,b"}, "fields.f.enum"),
    ({"type": "select", "enum": ["a"], "enumLabels": {"a": "A"}}, "fields.f.enumLabels"),
    ({"type": "select", "options": ["a"]}, "fields.f.options"),
    ({"type": "string", "required": "yes"}, "fields.f.required"),
    ({"type": "string", "required": ["f"]}, "fields.f.required"),
    ({"type": "number", "min": "1"}, "fields.f.min"),
    ({"type": "number", "max": [1]}, "fields.f.max"),
    ({"type": "number", "min": True}, "fields.f.min"),
    ({"type": "string", "minLength": "2"}, "fields.f.minLength"),
    ({"type": "string", "maxLength": False}, "fields.f.maxLength"),
    ({"type": "string", "pattern": ["a"]}, "fields.f.pattern"),
    (["email"], "fields.f"),
)


@pytest.mark.parametrize(("declaration", "path"), ODD_DEFINITIONS)
def test_a_declaration_of_the_wrong_shape_is_a_422_naming_it(client, admin, declaration, path):
    refused = client.post_json("/admin/api/forms", {**CONTACT, "fields": {"f": declaration}}, headers=admin,
                               status=422).json
    assert [problem["field"] for problem in refused["details"]] == [path]


def test_a_name_is_checked_whole_and_the_export_names_a_safe_file(client, admin):
    refused = client.post_json("/admin/api/forms", {**CONTACT, "name": "contact\n"}, headers=admin, status=422)
    assert [problem["field"] for problem in refused.json["details"]] == ["name"]
    made = make_form(client, admin)
    Form.update(name='we"ird; x=y\u00e9').where(Form.id == made["id"]).execute()  # saved before the rule
    answer = client.get(f"/admin/api/forms/{made['id']}/submissions/export", headers=admin)
    filename = answer.headers["Content-Disposition"].removeprefix('attachment; filename="').removesuffix('"')
    assert filename.startswith("we_ird__x_y_-submissions-") and filename.endswith(".csv")


NAME_REFUSED = {"error": "Validation failed", "details": [
    {"field": "name", "message": "A form name must use lower-case letters, digits, - and _, up to 64 characters"}]}


@pytest.mark.parametrize("name", ["x" * 65, "Contact", ""])
def test_a_name_against_the_rule_is_refused_in_the_rule_s_words_on_create_and_change(client, admin, name):
    """Too long, too short or the wrong letters: the service's rule says why, on POST and PATCH alike."""
    assert client.post_json("/admin/api/forms", {**CONTACT, "name": name}, headers=admin, status=422).json == \
        NAME_REFUSED
    made = make_form(client, admin)
    assert client.patch_json(f"/admin/api/forms/{made['id']}", {"name": name}, headers=admin, status=422).json == \
        NAME_REFUSED
    assert [form.name for form in Form.select()] == ["contact"]
    assert make_form(client, admin, name="x" * 64)["name"] == "x" * 64  # the longest name the rule takes


def test_a_form_is_found_by_its_id_before_any_name_and_no_name_looks_like_an_id(client, admin):
    refused = client.post_json("/admin/api/forms", {**CONTACT, "name": "0123456789abcdef0123456789abcdef"},
                               headers=admin, status=422).json
    assert [problem["field"] for problem in refused["details"]] == ["name"]
    taken = "a" * 32
    # A form named like another's id, saved before such names were refused, made first.
    Form.create(name=taken, display_name="Squatter", fields={})
    Form.create(id=taken, name="contact", display_name="Contact", fields={})
    assert client.get(f"/admin/api/forms/{taken}", headers=admin).json["data"]["name"] == "contact"
    client.delete(f"/admin/api/forms/{taken}", headers=admin, status=200)
    assert [form.name for form in Form.select()] == [taken]


def test_who_may_read_and_manage_forms(client, make_user, admin):
    make_form(client, admin)
    _, editor = make_user("editor", email="ed@example.com")
    _, author = make_user("author", email="au@example.com")
    _, viewer = make_user("viewer", email="vi@example.com")
    client.get("/admin/api/forms", status=401)
    for refused in (author, viewer):
        client.get("/admin/api/forms", headers=refused, status=403)
        client.get("/admin/api/forms/contact/submissions", headers=refused, status=403)
        client.post_json("/admin/api/forms", {**CONTACT, "name": "other"}, headers=refused, status=403)
        client.patch_json("/admin/api/forms/contact", {"is_active": False}, headers=refused, status=403)
        client.delete("/admin/api/forms/contact", headers=refused, status=403)
    assert client.get("/admin/api/forms/contact", headers=editor).json["data"]["is_active"] is True
    assert client.get("/admin/api/forms/contact/submissions", headers=editor).json["data"] == []
    client.patch_json("/admin/api/forms/contact", {"display_name": "Write to us"}, headers=editor, status=200)


def test_submissions_are_listed_marked_and_deleted(client, admin):
    make_form(client, admin)
    first = client.post_json("/forms/contact/submit", {"data": GOOD}, status=201).json["id"]
    second = client.post_json("/api/forms/contact/submit", {"data": {**GOOD, "age": 30}}, status=201).json["id"]
    listed = client.get("/admin/api/forms/contact/submissions?limit=1", headers=admin).json
    assert [entry["id"] for entry in listed["data"]] == [second] and listed["meta"]["total"] == 2
    marked = client.patch_json(f"/admin/api/forms/contact/submissions/{first}", {"status": "spam"},
                               headers=admin).json["data"]
    assert marked["status"] == "spam" and marked["data"] == GOOD
    spam = client.get("/admin/api/forms/contact/submissions?status=spam", headers=admin).json["data"]
    assert [entry["id"] for entry in spam] == [first]
    client.get("/admin/api/forms/contact/submissions?status=junk", headers=admin, status=400)
    client.patch_json(f"/admin/api/forms/contact/submissions/{first}", {"status": "junk"}, headers=admin,
                      status=422)
    client.delete(f"/admin/api/forms/contact/submissions/{first}", headers=admin, status=200)
    client.get(f"/admin/api/forms/contact/submissions/{first}", headers=admin, status=404)
    assert client.get(f"/admin/api/forms/contact/submissions/{second}", headers=admin).json["data"]["data"] == {
        **GOOD, "age": 30}


def test_the_csv_export_keeps_formulas_from_running(client, admin):
    make_form(client, admin)
    client.post_json("/forms/contact/submit", {"data": {"email": "x@example.com", "message": "=HYPERLINK(\"x\")"}},
                     status=201)
    client.post_json("/forms/contact/submit", {"data": {**GOOD, "message": "-1+2", "subscribe": True}}, status=201)
    answer = client.get("/admin/api/forms/contact/submissions/export", headers=admin)
    assert answer.content_type == "text/csv" and answer.headers["X-Export-Truncated"] == "false"
    assert 'filename="contact-submissions-' in answer.headers["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(answer.text)))
    assert [row["message"] for row in rows] == ["'-1+2", "'=HYPERLINK(\"x\")"]
    assert rows[0]["subscribe"] == "true" and rows[1]["subscribe"] == ""
    exported = client.get("/admin/api/forms/contact/submissions/export?format=json", headers=admin).json
    assert exported["meta"]["count"] == 2 and exported["data"][0]["data"]["message"] == "-1+2"
    client.get("/admin/api/forms/contact/submissions/export?format=xml", headers=admin, status=400)


def test_a_csv_cell_reads_as_the_json_value_as_in_the_logs_export(client, admin):
    make_form(client, admin)
    for data in ({**GOOD, "subscribe": True}, {**GOOD, "subscribe": False}, GOOD):
        client.post_json("/forms/contact/submit", {"data": data}, status=201)
    answer = client.get("/admin/api/forms/contact/submissions/export", headers=admin)
    assert sorted(row["subscribe"] for row in csv.DictReader(io.StringIO(answer.text))) == ["", "false", "true"]


# ------------------------------------------------------------------ public routes


def test_the_public_definition_shows_no_private_setting(client, admin):
    make_form(client, admin)
    for path in ("/api/forms/contact", "/forms/contact/schema", "/api/forms/contact/schema"):
        answer = client.get(path)
        assert answer.json["data"]["fields"] == CONTACT["fields"]
        assert answer.json["data"]["success_message"] == "Thanks, we will answer soon."
        for secret in ("team@example.com", "/thanks", "notify_emails", "redirect_url", "created_by"):
            assert secret not in answer.text
    assert client.get("/forms/contact/turnstile-config").json == {"enabled": False, "site_key": None}


def test_an_inactive_or_unknown_form_is_not_found(client, admin):
    make_form(client, admin, is_active=False)
    for path in ("/api/forms/contact", "/forms/contact/schema", "/forms/contact/turnstile-config", "/forms/contact",
                 "/api/forms/nothing"):
        client.get(path, status=404)
    client.post_json("/forms/contact/submit", {"data": GOOD}, status=404)
    client.post("/forms/contact/submit", GOOD, status=404)
    assert stored() == []


def test_a_submission_is_checked_against_the_fields(client, admin):
    make_form(client, admin)
    bad = {"email": "not-an-email", "age": -1, "topic": "other", "extra": "x"}
    problems = client.post_json("/forms/contact/submit", {"data": bad}, status=422).json["details"]
    assert {problem["field"] for problem in problems} == {"data.email", "data.message", "data.age", "data.topic",
                                                         "data.extra"}
    client.post_json("/forms/contact/submit", {"data": GOOD, "other": 1}, status=422)
    client.post("/forms/contact/submit", "x", headers={"Content-Type": "text/plain"}, status=415)
    client.post_json("/forms/contact/submit", {"data": {**GOOD, "message": "x" * 70_000}}, status=413)
    assert stored() == []


AGREEING = {**CONTACT["fields"], "agree": {"type": "checkbox", "title": "I agree", "required": True},
            "adult": {"type": "boolean", "required": True}}
UNTICKED = "is required: it must be ticked (true)"


def test_a_required_box_must_be_ticked_in_json(client, admin):
    make_form(client, admin, fields=AGREEING)
    refused = client.post_json("/forms/contact/submit", {"data": {**GOOD, "agree": False, "adult": True}},
                               status=422).json
    assert refused == {"error": "Validation failed", "details": [{"field": "data.agree", "message": UNTICKED}]}
    missing = client.post_json("/forms/contact/submit", {"data": {**GOOD, "adult": False}}, status=422).json
    assert missing["details"] == [{"field": "data.agree", "message": "is required"},
                                  {"field": "data.adult", "message": UNTICKED}]
    client.post_json("/forms/contact/submit", {"data": {**GOOD, "agree": True, "adult": True}}, status=201)
    assert [row.data["agree"] for row in stored()] == [True]


def test_a_required_box_left_unticked_on_the_page_or_a_form_post_is_refused(client, admin):
    make_form(client, admin, fields=AGREEING)
    page = client.get("/forms/contact")
    form = page.forms[0]
    assert "required" in form.fields["agree"][0].attrs and "I agree (required)" in page.text
    assert "required" not in form.fields["subscribe"][0].attrs
    form["email"] = "ann@example.com"
    form["message"] = "Hello"
    form["adult"] = "true"
    shown = form.submit(status=422)  # an unticked box is not posted at all
    assert f'<strong id="agree-error" role="alert">{UNTICKED}</strong>' in shown.text
    assert "adult-error" not in shown.text
    posted = client.post("/forms/contact/submit", {**GOOD, "adult": "true"}, status=422).json
    assert posted["details"] == [{"field": "data.agree", "message": UNTICKED}]
    assert stored() == []
    form = shown.forms[0]
    form["agree"] = "true"
    form.submit(status=303)
    assert stored()[0].data == {**GOOD, "agree": True, "adult": True, "subscribe": False}


def test_a_refusal_lists_at_most_50_problems_and_counts_the_rest(client, admin):
    make_form(client, admin)
    junk = {f"k{number}": "" for number in range(5000)}  # under the body's bound as a form and as JSON
    for answer in (client.post("/forms/contact/submit", {**GOOD, **junk}, status=422),
                   client.post_json("/forms/contact/submit", {"data": {**GOOD, **junk}}, status=422)):
        details = answer.json["details"]
        assert len(details) == 51 and details[-1] == {"field": "data", "message": "and 4950 more problems, not listed"}
        assert len(answer.body) < 5000
    assert stored() == []


def test_a_form_post_is_typed_stored_and_sent_on(client, admin):
    make_form(client, admin)
    posted = client.post("/forms/contact/submit", {**GOOD, "age": "41", "topic": "support", "subscribe": "true"},
                         headers={"User-Agent": "Browser/1.0 " + "x" * 400}, status=303)
    assert posted.location.endswith("/thanks")
    [row] = stored()
    assert row.data == {**GOOD, "age": 41, "topic": "support", "subscribe": True}
    assert row.user_agent.startswith("Browser/1.0") and len(row.user_agent) == 256
    # HMAC-SHA256 of the address under a key derived from the app's secret for this use alone.
    key = hmac.new(TEST_JWT_SECRET.encode(), b"sonicpy form ip hash", hashlib.sha256).digest()
    assert row.ip_hash == hmac.new(key, b"127.0.0.1", hashlib.sha256).hexdigest()[:32]
    assert row.ip_hash != hashlib.sha256(b"127.0.0.1").hexdigest()[:32] and row.user_id is None
    problems = client.post("/forms/contact/submit", {"email": "ann@example.com", "age": "forty"}, status=422).json
    assert {problem["field"] for problem in problems["details"]} == {"data.message", "data.age"}


def test_a_form_posts_whole_number_is_stored_as_its_json_submission_is(client, admin):
    # A number field's "41" is 41, as {"data": {"rating": 41}} stores it, never 41.0 (which
    # the export would show as "41.0"); a fraction stays a fraction.
    make_form(client, admin, fields={**CONTACT["fields"], "rating": {"type": "number"}})
    client.post("/forms/contact/submit", {**GOOD, "rating": "41"}, status=303)
    client.post("/forms/contact/submit", {**GOOD, "rating": "2.5"}, status=303)
    client.post_json("/forms/contact/submit", {"data": {**GOOD, "rating": 41}}, status=201)
    assert [row.data["rating"] for row in stored()] == [41, 2.5, 41]
    assert [type(row.data["rating"]) for row in stored()] == [int, float, int]
    export = client.get("/admin/api/forms/contact/submissions/export?format=csv", headers=admin).text
    assert sorted(row["rating"] for row in csv.DictReader(io.StringIO(export))) == ["2.5", "41", "41"]


def test_a_filled_honeypot_is_answered_as_a_success_and_nothing_is_kept(client, admin, outbox, env):
    mailed = client_for(env, outbox)
    make_form(mailed, admin)
    caught = mailed.post_json("/forms/contact/submit", {"data": {**GOOD, "_gotcha": "http://spam"}}, status=201)
    assert caught.json["success"] is True and caught.json["id"]
    mailed.post("/forms/contact/submit", {**GOOD, "_gotcha": "spam"}, status=303)
    assert stored() == [] and outbox.sent == []
    mailed.post("/forms/contact/submit", {**GOOD, "_gotcha": ""}, status=303)
    assert len(stored()) == 1 and len(outbox.sent) == 1


def test_submissions_are_rate_limited_per_address(env, admin):
    client = client_for(env, rate_limit_attempts=2)
    make_form(client, admin)
    first = client.post_json("/forms/contact/submit", {"data": GOOD}, status=201)
    assert first.headers["X-RateLimit-Remaining"] == "1"
    client.post_json("/forms/contact/submit", {"data": {}}, status=422)  # a refused one counts too
    refused = client.post_json("/forms/contact/submit", {"data": GOOD}, status=429)
    assert int(refused.headers["Retry-After"]) >= 1 and refused.headers["X-RateLimit-Remaining"] == "0"
    other = {"REMOTE_ADDR": "10.0.0.9"}
    client.post_json("/forms/contact/submit", {"data": GOOD}, extra_environ=other, status=201)
    assert len(stored()) == 2


def test_an_ipv6_submitter_is_counted_by_its_64(env, admin):
    client = client_for(env, rate_limit_attempts=1)
    make_form(client, admin)
    for address, status in (("2001:db8:1:2::1", 201), ("2001:db8:1:2::2", 429), ("2001:db8:1:2:a:b:c:d", 429),
                            ("2001:db8:1:3::1", 201), ("198.51.100.4", 201), ("::ffff:198.51.100.4", 429)):
        client.post_json("/forms/contact/submit", {"data": GOOD}, extra_environ={"REMOTE_ADDR": address},
                         status=status)
        client.post("/forms/contact", GOOD, extra_environ={"REMOTE_ADDR": address}, status=429)  # the page's too
    assert len(stored()) == 3


def test_the_page_post_counts_against_the_same_limit(env, admin):
    client = client_for(env, rate_limit_attempts=2)
    make_form(client, admin)
    client.post("/forms/contact", GOOD, status=303)
    client.post("/forms/contact", {"email": "ann@example.com"}, status=422)  # a refused one counts too
    refused = client.post("/forms/contact", GOOD, status=429)
    assert refused.content_type == "application/json" and int(refused.headers["Retry-After"]) >= 1
    assert refused.headers["X-RateLimit-Remaining"] == "0"
    client.post_json("/forms/contact/submit", {"data": GOOD}, status=429)  # one count for every route
    assert len(stored()) == 1


BROWSER_FORM = {"Accept": "text/html,application/xhtml+xml,*/*;q=0.8", "Sec-Fetch-Mode": "navigate"}


def test_a_browsers_page_post_past_the_limit_sees_the_page_again(env, admin):
    """With what was typed and when to try again; a script posting there keeps the envelope."""
    client = client_for(env, rate_limit_attempts=1)
    make_form(client, admin)
    client.post("/forms/contact", GOOD, headers=BROWSER_FORM, status=303)
    typed = {**GOOD, "message": "Hello again"}
    refused = client.post("/forms/contact", typed, headers=BROWSER_FORM, status=429)
    wait = refused.headers["Retry-After"]
    assert refused.content_type == "text/html" and int(wait) >= 1 and refused.headers["X-RateLimit-Remaining"] == "0"
    assert refused.html.find(attrs={"role": "alert"}).text == (
        f"Too many attempts. Try again in {'1 second' if wait == '1' else wait + ' seconds'}.")
    form = refused.forms[0]
    assert form["message"].value == "Hello again" and form["email"].value == "ann@example.com"
    assert refused.headers["Content-Security-Policy"] == client.get("/forms/contact").headers["Content-Security-Policy"]
    script = client.post("/forms/contact", GOOD, headers={**BROWSER_FORM, "Sec-Fetch-Mode": "cors"}, status=429)
    assert script.content_type == "application/json" and script.json["details"]["retry_after"] == int(wait)
    assert len(stored()) == 1


def test_a_browsers_post_past_the_limit_to_an_unknown_form_gets_the_error_page(env, admin):
    client = client_for(env, rate_limit_attempts=1)
    make_form(client, admin)
    client.post("/forms/contact", GOOD, headers=BROWSER_FORM, status=303)
    refused = client.post("/forms/nothing", GOOD, headers=BROWSER_FORM, status=429)
    assert refused.content_type == "text/html" and "Too many attempts" in refused.html.find("main").text
    assert refused.headers["Retry-After"]


@pytest.mark.parametrize("path", ["/forms/contact/submit", "/api/forms/contact/submit"])
def test_a_browsers_form_post_to_the_submit_route_past_the_limit_gets_the_error_page(env, admin, path):
    """With the same status, Retry-After and quota headers; JSON and a script's form keep the envelope."""
    client = client_for(env, rate_limit_attempts=1)
    make_form(client, admin)
    client.post(path, GOOD, headers=BROWSER_FORM, status=303)
    refused = client.post(path, GOOD, headers=BROWSER_FORM, status=429)
    wait = refused.headers["Retry-After"]
    assert refused.content_type == "text/html" and int(wait) >= 1 and refused.headers["X-RateLimit-Remaining"] == "0"
    assert refused.headers["X-RateLimit-Limit"] == "1" and refused.headers["X-RateLimit-Reset"]
    assert (f"Too many attempts. Try again in {'1 second' if wait == '1' else wait + ' seconds'}."
            in refused.html.find("main").text)
    as_json = client.post_json(path, {"data": GOOD}, headers={"Accept": "application/json"}, status=429)
    assert as_json.content_type == "application/json" and as_json.json["error"] == "Too many attempts, try again later"
    assert as_json.headers["Retry-After"] and as_json.headers["X-RateLimit-Remaining"] == "0"
    script = client.post(path, GOOD, headers={**BROWSER_FORM, "Sec-Fetch-Mode": "cors"}, status=429)
    assert script.content_type == "application/json" and script.json["details"]["retry_after"] >= 1
    assert len(stored()) == 1


def test_the_session_cookie_never_acts_on_a_submission_but_a_bearer_token_does(client, admin, make_user):
    make_form(client, admin)
    user, headers = make_user("viewer", email="vi@example.com")
    client.set_cookie("auth_token", headers["Authorization"].split()[1])
    cross_site = {"Sec-Fetch-Site": "same-site", "Origin": "https://www.example.com"}
    client.post("/forms/contact/submit", GOOD, headers=cross_site, status=303)  # not refused as cross-origin
    client.post("/forms/contact", GOOD, headers=cross_site, status=303)
    assert [row.user_id for row in stored()] == [None, None]
    client.cookiejar.clear()
    client.post_json("/forms/contact/submit", {"data": GOOD}, headers=headers, status=201)
    assert stored()[-1].user_id == user.id


# ------------------------------------------------------------------ Turnstile


def turnstile_client(env, url, **settings):
    return client_for(env, turnstile_site_key=SITE_KEY, turnstile_secret_key=SECRET_KEY, turnstile_verify_url=url,
                      **settings)


def test_turnstile_lets_a_good_token_through_and_refuses_others(env, admin, turnstile_server):
    client = turnstile_client(env, turnstile_server.url)
    make_form(client, admin, settings={"turnstile": True})
    assert client.get("/forms/contact/turnstile-config").json == {"enabled": True, "site_key": SITE_KEY}
    assert client.get("/api/forms/contact").json["data"]["turnstile"]["site_key"] == SITE_KEY
    client.post_json("/forms/contact/submit", {"data": GOOD, "turnstileToken": GOOD_TOKEN}, status=201)
    client.post("/forms/contact/submit", {**GOOD, "cf-turnstile-response": GOOD_TOKEN}, status=303)
    assert turnstile_server.received[0] == {"secret": SECRET_KEY, "response": GOOD_TOKEN, "remoteip": "127.0.0.1"}
    refused = client.post_json("/forms/contact/submit", {"data": GOOD, "turnstile_token": "forged"}, status=400)
    assert refused.json == {"error": "Turnstile verification failed"} and SECRET_KEY not in refused.text
    client.post_json("/forms/contact/submit", {"data": GOOD}, status=400)  # no token: siteverify not even asked
    assert len(turnstile_server.received) == 3 and len(stored()) == 2


def test_the_database_connection_is_handed_back_while_siteverify_answers(env, admin, turnstile_server):
    # PostgreSQL's pool is small: a request waiting on Cloudflare must not hold one of its connections.
    if not hasattr(env.DB.db, "_in_use"):
        pytest.skip("SQLite keeps one connection per thread: no pool to hold")
    client = turnstile_client(env, turnstile_server.url)
    make_form(client, admin, settings={"turnstile": True})
    held = []
    turnstile_server.on_request = lambda: held.append(len(env.DB.db._in_use))
    client.post_json("/forms/contact/submit", {"data": GOOD, "turnstileToken": GOOD_TOKEN}, status=201)
    assert held == [0] and len(stored()) == 1


def test_turnstile_fails_closed_when_siteverify_cannot_answer(env, admin, turnstile_server, closed_url, caplog):
    client = turnstile_client(env, closed_url)
    make_form(client, admin, settings={"turnstile": True})
    down = client.post_json("/forms/contact/submit", {"data": GOOD, "turnstile_token": GOOD_TOKEN}, status=503)
    assert down.headers["Retry-After"] == "30"
    garbled = turnstile_client(env, turnstile_server.url)
    turnstile_server.answer = "garbage"
    garbled.post_json("/forms/contact/submit", {"data": GOOD, "turnstile_token": GOOD_TOKEN}, status=503)
    assert stored() == [] and SECRET_KEY not in caplog.text
    unconfigured = client_for(env)  # the keys gone from the configuration since the form was saved
    unconfigured.post_json("/forms/contact/submit", {"data": GOOD, "turnstile_token": GOOD_TOKEN}, status=503)
    assert stored() == []


# ------------------------------------------------------------------ notification mail


def test_each_address_is_mailed_a_link_to_the_submission_through_smtp(env, admin, smtp_server):
    port, inbox, _ = smtp_server("none")
    mail = MailSettings(backend="smtp", host="127.0.0.1", port=port, security="none", sender="cms@cms.example.org")
    client = client_for(env, SmtpMailer(mail), public_base_url="https://cms.example.org", mail=mail)
    make_form(client, admin, settings={"notify_emails": ["team@example.com", "boss@example.com"]})
    submitted = client.post_json("/forms/contact/submit", {"data": {**GOOD, "message": "my secret words"}},
                                 status=201).json
    assert sorted(recipients[0] for _, recipients, _ in inbox.messages) == ["boss@example.com", "team@example.com"]
    _, _, message = inbox.messages[0]
    assert message["Subject"] == "New form submission"
    body = message.get_content()
    assert f"https://cms.example.org/admin/forms/contact/submissions/{submitted['id']}" in body
    assert "my secret words" not in body and "ann@example.com" not in body


# ------------------------------------------------------------------ the public page


def test_the_page_escapes_what_it_shows_and_loads_turnstile_only_when_used(env, admin, turnstile_server):
    client = turnstile_client(env, turnstile_server.url)
    fields = {"name": {"type": "string", "title": "<script>alert(1)</script>", "required": True}}
    make_form(client, admin, fields=fields, description="<b>bold</b>")
    page = client.get("/forms/contact")
    assert page.content_type == "text/html" and "<script>alert(1)" not in page.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text and "&lt;b&gt;bold&lt;/b&gt;" in page.text
    assert "challenges.cloudflare.com" not in page.text
    assert "script-src" not in page.headers["Content-Security-Policy"]
    assert 'name="_gotcha"' in page.text and 'action="/forms/contact"' in page.text
    client.patch_json("/admin/api/forms/contact", {"settings": {"turnstile": True,
                                                                "redirect_url": "https://www.example.com/thanks"}},
                      headers=admin)
    page = client.get("/forms/contact")
    assert 'src="https://challenges.cloudflare.com/turnstile/v0/api.js"' in page.text
    assert f'data-sitekey="{SITE_KEY}"' in page.text and SECRET_KEY not in page.text
    policy = page.headers["Content-Security-Policy"]
    assert "script-src https://challenges.cloudflare.com" in policy
    assert "form-action 'self' https://www.example.com" in policy


def test_the_page_shows_its_problems_and_keeps_what_was_typed(client, admin):
    make_form(client, admin)
    form = client.get("/forms/contact").forms[0]
    form["email"] = "nope\"><i>x"
    shown = form.submit(status=422)
    assert "must be an email address" in shown.text and "is required" in shown.text
    assert 'value="nope&#34;&gt;&lt;i&gt;x"' in shown.text
    form = shown.forms[0]
    form["email"] = "ann@example.com"
    form["message"] = "Hello there"
    form["topic"] = "sales"
    done = form.submit(status=303)
    assert done.location.endswith("/thanks")
    assert stored()[0].data == {"email": "ann@example.com", "message": "Hello there", "topic": "sales",
                                "subscribe": False}
    client.patch_json("/admin/api/forms/contact", {"settings": {"redirect_url": None}}, headers=admin)
    done = client.post("/forms/contact", GOOD, status=303)
    assert done.location.endswith("/forms/contact?submitted=1")
    assert "Thanks, we will answer soon." in client.get("/forms/contact?submitted=1").text


PATTERNED = {
    "zip": {"type": "string", "pattern": r"^\d{5}$", "required": True},
    "code": {"type": "text", "pattern": '^[A-Z<>"&]{2}-\\d+$'},
    "name": {"type": "string", "pattern": r"^\w+(\s\w+)*$"},  # slow to backtrack: left to the server
    "site": {"type": "url", "pattern": r"^https://\S+$"},
    "slug": {"type": "string", "pattern": r"^[a-z-]+$"},  # a "-" the v flag reads as syntax
    "tag": {"type": "string", "pattern": r"[a-z]+"},  # searched by the server: no attribute
    "note": {"type": "textarea", "pattern": r"^\d+$"},  # a text area takes no pattern
    # Two wide quantifiers: quick enough for a declared maxLength, not for a long paste
    "mail": {"type": "email", "pattern": r"^\S+@\S+$", "maxLength": 120},
    "login": {"type": "string", "pattern": r"^\S+@\S+$"},
}


def test_the_page_puts_on_its_text_boxes_the_patterns_a_browser_reads_as_the_server(client, admin):
    make_form(client, admin, fields=PATTERNED)
    page = client.get("/forms/contact")
    attributes = {name: page.html.select_one(f"#field-{name}").get("pattern") for name in PATTERNED}
    assert attributes == {"zip": r"^\d{5}$", "code": '^[A-Z<>"&]{2}-\\d+$', "name": None,
                          "site": r"^https://[^\t\n\f\r ]+$", "slug": None, "tag": None, "note": None,
                          "mail": r"^[^\t\n\f\r ]+@[^\t\n\f\r ]+$", "login": None}
    assert 'pattern="^[A-Z&lt;&gt;&#34;&amp;]{2}-\\d+$"' in page.text  # escaped in the attribute
    form = page.forms[0]
    for name, value in {"zip": "1234", "code": "AB-x", "name": "a  b", "site": "https://a b",
                        "slug": "A", "tag": "123"}.items():
        form[name] = value
    refused = form.submit(status=422)  # whether or not the page said so, the server checks
    problems = {strong["id"].removesuffix("-error") for strong in refused.html.select("strong[role=alert]")}
    assert problems == {"zip", "code", "name", "site", "slug", "tag"} and stored() == []
    form = refused.forms[0]
    for name, value in {"zip": "12345", "code": '<"-7', "name": "ann b", "site": "https://a.example",
                        "slug": "a-b", "tag": "x1", "note": "9"}.items():
        form[name] = value
    form.submit(status=303)
    assert stored()[0].data["code"] == '<"-7'


def test_the_page_takes_its_own_form_only_and_answers_a_400_as_the_page(client, admin):
    make_form(client, admin)
    for body in (b"{", b"[" * 5000 + b"]" * 5000, b'{"data": {"email": "ann@example.com", "message": "Hi"}}'):
        refused = client.post("/forms/contact", body, headers={"Content-Type": "application/json"}, status=415)
        assert refused.content_type == "application/json" and "error" in refused.json
    unreadable = client.post("/forms/contact", b"email=\xff", headers={"Content-Type":
                             "application/x-www-form-urlencoded"}, status=400)
    assert unreadable.content_type == "text/html" and "could not be read" in unreadable.text
    assert 'action="/forms/contact"' in unreadable.text and stored() == []


def test_a_form_too_long_to_send_from_the_page_shows_the_page_again(client, admin):
    """Without the values, which are never read past the bound; the submit route keeps its envelope."""
    make_form(client, admin, fields={**CONTACT["fields"], "message": {"type": "textarea"}})  # no maxLength to hold it
    long = {**GOOD, "message": "x" * 70_000}
    shown = client.post("/forms/contact", long, headers={"Accept": "text/html"}, status=413)
    assert shown.content_type == "text/html" and 'action="/forms/contact"' in shown.text
    assert shown.html.find("p", attrs={"role": "alert"}).text == (
        "The form is too long to send (at most 64 KiB): please shorten what you wrote and send it again.")
    assert shown.forms[0]["email"].value == ""
    refused = client.post("/forms/contact/submit", long, status=413)
    assert refused.json == {"error": "Request body too large", "details": {"max_bytes": 65536}}
    assert stored() == []


URLENCODED = {"Content-Type": "application/x-www-form-urlencoded"}
NUL_MESSAGE = "NUL characters are not allowed"


def test_a_nul_typed_on_the_page_shows_the_page_again_without_it(client, admin):
    """Marked at each field holding one, with the values typed, NULs taken out: never one in the HTML."""
    make_form(client, admin)
    body = b"email=ann%40example.com&message=hi%00there&topic=su%00pport&x%00y=1"
    shown = client.post("/forms/contact", body, headers={**URLENCODED, "Accept": "text/html"}, status=422)
    assert shown.content_type == "text/html" and "\x00" not in shown.text and "&#0;" not in shown.text
    marked = {strong["id"]: strong.text for strong in shown.html.select("strong[role=alert]")}
    assert marked == {"message-error": NUL_MESSAGE, "topic-error": NUL_MESSAGE}
    assert f'<p role="alert">xy: {NUL_MESSAGE}</p>' in shown.text  # a name no field has, without its NUL
    form = shown.forms[0]
    assert form["message"].value == "hithere" and form["email"].value == "ann@example.com"
    assert form["topic"].value == "support"
    assert stored() == []
    form.submit(status=303)  # sent again as shown, it goes through
    assert stored()[0].data == {"email": "ann@example.com", "message": "hithere", "topic": "support",
                                "subscribe": False}


@pytest.mark.parametrize("path", ["/forms/contact/submit", "/api/forms/contact/submit"])
def test_a_nul_in_a_form_post_is_refused_at_data_and_its_field_as_in_json(client, admin, path):
    make_form(client, admin)
    as_json = client.post_json(path, {"data": {**GOOD, "message": "hi\u0000there"}}, status=422).json
    posted = client.post(path, b"email=ann%40example.com&message=hi%00there", headers=URLENCODED, status=422).json
    assert posted == as_json == {"error": "Validation failed",
                                 "details": [{"field": "data.message", "message": NUL_MESSAGE}]}
    every = client.post(path, b"message=a&message=b%00&topic=%00&x%00y=1&email=ann%40example.com",
                        headers=URLENCODED, status=422).json["details"]
    assert every == [{"field": name, "message": NUL_MESSAGE} for name in ("data.message", "data.topic", "data.x\x00y")]
    assert stored() == []


def test_a_browsers_page_post_with_a_nul_past_the_limit_sees_the_page_again(env, admin):
    client = client_for(env, rate_limit_attempts=1)
    make_form(client, admin)
    client.post("/forms/contact", GOOD, headers=BROWSER_FORM, status=303)
    refused = client.post("/forms/contact", b"email=ann%40example.com&message=hi%00there",
                          headers={**BROWSER_FORM, **URLENCODED}, status=429)
    assert refused.content_type == "text/html" and "\x00" not in refused.text
    assert refused.forms[0]["message"].value == "hithere"


@pytest.fixture(autouse=True)
def _models(env):
    bind_models(env.DB.db)


def test_a_choice_posted_twice_shows_one_option_ticked_the_one_kept(client, admin):
    make_form(client, admin)
    # A browser posts one value of a radio group; a crafted post may repeat it. The service
    # keeps the last, as it keeps a repeated text box's, so the page ticks that one alone.
    body = "email=ann%40example.com&topic=sales&topic=support&subscribe=true&subscribe=false"
    shown = client.post("/forms/contact", body, headers={"Content-Type": "application/x-www-form-urlencoded"},
                        status=422)
    ticked = [box["value"] for box in shown.html.select("input[name=topic][checked]")]
    assert ticked == ["support"]
    assert shown.html.select("input[name=subscribe][checked]") == []
    assert "topic-error" not in shown.text
    form = shown.forms[0]
    form["message"] = "Hello"
    form.submit(status=303)
    assert stored()[0].data == {**GOOD, "topic": "support", "subscribe": False}
