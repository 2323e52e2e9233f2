"""Numbers typed into forms (a public form's page and submit route, the admin content editor)
are read as a JSON body writes them and bound as a JSON body's are: a number past a double's
range is refused with the API's message, the form shown again as typed, and nothing stored
that the API could not take back."""

import pytest

from app.db.models import Content, FormSubmission
from tests.fixtures.content import create_collection
from tests.fixtures.workflow import insert_content

pytestmark = pytest.mark.backends

OUT_OF_RANGE = "the number is out of range"
NOT_A_NUMBER = "must be a number"
URLENCODED = {"Content-Type": "application/x-www-form-urlencoded"}
HUGE = "1" + "0" * 400  # past a double's 1.8e308
# Past a double's range however it is written: long enough for int() to refuse, a float's overflow.
PAST_RANGE = (HUGE, "-" + HUGE, "9" * 5000, "1e400", "-1e999")
# Python reads these as numbers; JSON (and a browser's number input) does not.
NO_JSON_NUMBER = ("1_000", "1_0.5", "+5", "\u0663", "\uff17", "5.", "0x10", "Infinity", "NaN", "1e")
# Accepted as typed by a browser's number input: spaces around, leading zeros, a leading point.
READ_AS_NUMBERS = ((" 7 ", 7), ("0005", 5), (".5", 0.5), ("-0", 0), ("1e5", 100000.0), ("-2.50", -2.5))


@pytest.fixture
def admin(make_user):
    return make_user("admin")[1]


@pytest.fixture
def numbers_form(client, admin):
    fields = {"x": {"type": "number"}, "n": {"type": "integer"}, "note": {"type": "string"}}
    client.post_json("/admin/api/forms", {"name": "nums", "display_name": "Numbers", "fields": fields},
                     headers=admin, status=201)


def stored():
    return [row.data for row in FormSubmission.select().order_by(FormSubmission.created_at)]


@pytest.mark.parametrize("typed", PAST_RANGE)
@pytest.mark.parametrize("field", ["x", "n"])
def test_the_form_page_refuses_a_number_past_the_range_and_shows_it_as_typed(client, numbers_form, field, typed):
    form = client.get("/forms/nums").forms[0]
    form[field], form["note"] = typed, "kept"
    refused = form.submit(status=422)
    assert refused.html.select_one(f"#{field}-error").text == OUT_OF_RANGE
    again = refused.forms[0]
    assert again[field].value == typed and again["note"].value == "kept"
    assert stored() == []


@pytest.mark.parametrize("path", ["/forms/nums/submit", "/api/forms/nums/submit"])
def test_a_form_post_to_the_submit_route_is_refused_as_the_json_body_is(client, numbers_form, path):
    body = f"x={HUGE}&n=-{HUGE}".encode()
    refused = client.post(path, body, headers=URLENCODED, status=422).json
    assert refused["details"] == [{"field": "data.x", "message": OUT_OF_RANGE},
                                  {"field": "data.n", "message": OUT_OF_RANGE}]
    as_json = client.post(path, f'{{"data": {{"x": {HUGE}}}}}'.encode(),
                          headers={"Content-Type": "application/json"}, status=422).json
    assert as_json["details"] == [{"field": "data.x", "message": OUT_OF_RANGE}]
    assert stored() == []


def test_the_largest_double_is_still_a_number(client, numbers_form):
    largest = str(int(1.7976931348623157e308))
    client.post("/forms/nums/submit", f"n={largest}&x=-1.7976931348623157e308".encode(), headers=URLENCODED,
                status=303)
    assert stored() == [{"n": int(largest), "x": -1.7976931348623157e308}]


@pytest.mark.parametrize("typed", NO_JSON_NUMBER)
def test_text_python_reads_as_a_number_but_json_does_not_is_no_number(client, numbers_form, typed):
    form = client.get("/forms/nums").forms[0]
    form["x"] = typed
    refused = form.submit(status=422)
    assert refused.html.select_one("#x-error").text == NOT_A_NUMBER
    assert refused.forms[0]["x"].value == typed
    assert stored() == []


def test_what_a_browsers_number_input_sends_is_read_as_its_number(client, numbers_form):
    for typed, _ in READ_AS_NUMBERS:
        client.post("/forms/nums/submit", {"x": typed}, status=303)
    client.post("/forms/nums/submit", {"n": " 0041 "}, status=303)
    assert stored() == [*({"x": number} for _, number in READ_AS_NUMBERS), {"n": 41}]
    assert [type(data["x"]) for data in stored()[:2]] == [int, int]


# ------------------------------------------------------------------ admin content editor

SCHEMA = {
    "type": "object",
    "properties": {
        "title": {"type": "string", "required": True},
        "x": {"type": "number"},
        "n": {"type": "integer"},
        "extra": {"type": "object"},
        "sections": {"type": "array", "blocks": {
            "quote": {"label": "Quote", "properties": {"said": {"type": "string"}, "stars": {"type": "number"}}},
        }},
    },
}


@pytest.fixture
def posts(browser):
    return create_collection("posts", SCHEMA, display_name="Posts")


@pytest.mark.parametrize("typed", PAST_RANGE)
@pytest.mark.parametrize("field", ["x", "n"])
def test_the_editor_refuses_a_number_past_the_range_and_shows_it_as_typed(
        browser, signed_in_as, posts, field, typed):
    signed_in_as("editor")
    form = browser.get("/admin/content/posts/new").forms["content-form"]
    form["title"], form[f"data.{field}"] = "Huge", typed
    refused = form.submit(status=422)
    assert refused.html.select_one(f"#f-data-{field}-error").text == OUT_OF_RANGE
    again = refused.forms["content-form"]
    assert again[f"data.{field}"].value == typed and again["title"].value == "Huge"
    assert Content.select().count() == 0


def test_an_edit_past_the_range_writes_nothing_and_one_within_it_saves(browser, signed_in_as, posts):
    editor = signed_in_as("editor")
    item = insert_content(editor, posts, title="Edit me", data={"title": "Edit me", "x": 1})
    form = browser.get(f"/admin/content/posts/{item.id}").forms["content-form"]
    form["data.x"] = HUGE
    form.submit(status=422)
    assert Content.get_by_id(item.id).data["x"] == 1, "nothing written"
    form["data.x"], form["data.n"] = "1.5e308", "-0005"
    form.submit(status=303)
    assert {key: Content.get_by_id(item.id).data[key] for key in ("x", "n")} == {"x": 1.5e308, "n": -5}


def test_a_blocks_number_and_a_json_textarea_are_bound_alike(browser, signed_in_as, posts):
    editor = signed_in_as("editor")
    data = {"title": "Blocks", "sections": [{"blockType": "quote", "said": "Hi", "stars": 3}]}
    item = insert_content(editor, posts, title="Blocks", data=data)
    form = browser.get(f"/admin/content/posts/{item.id}").forms["content-form"]
    form["data.sections.0.stars"] = HUGE
    form["data.extra"] = f'{{"big": {HUGE}}}'
    refused = form.submit(status=422)
    assert [item.text for item in refused.html.select("ul.form-problems li")] == [
        f"Extra: {OUT_OF_RANGE}", f"Sections: sections[0].stars: {OUT_OF_RANGE}"]
    again = refused.forms["content-form"]
    assert again["data.sections.0.stars"].value == HUGE and again["data.extra"].value == f'{{"big": {HUGE}}}'
    assert Content.get_by_id(item.id).data == data, "nothing written"


@pytest.mark.parametrize("typed", NO_JSON_NUMBER)
def test_the_editor_takes_no_number_json_would_not(browser, signed_in_as, posts, typed):
    signed_in_as("editor")
    form = browser.get("/admin/content/posts/new").forms["content-form"]
    form["title"], form["data.x"] = "Odd", typed
    refused = form.submit(status=422)
    assert refused.html.select_one("#f-data-x-error").text == NOT_A_NUMBER
    assert refused.forms["content-form"]["data.x"].value == typed
    assert Content.select().count() == 0
