"""The admin's layout and page-wide behaviours in a real browser (Chromium via selenium).

Served and driven with the shared browser fixtures (tests/fixtures/browser.py), as the
other browser tests are. Checked:
- a filter bar's labels sit over their controls, its button and status chips are whole.
"""


from tests.fixtures.auth import hashed
from tests.fixtures.content import create_collection
from tests.fixtures.users import create_user
from tests.test_admin_browser_editing import open_page, sign_in

POSTS = {"type": "object", "properties": {
    "title": {"type": "string", "required": True},
    "hero": {"type": "media", "title": "Featured image"},
    "body": {"type": "textarea"},
}}


# Each filter's label, its control's box, and the submit button's corner radii (left, right).
FILTER_GEOMETRY = """
const form = document.querySelector("form.filters");
const box = (element) => { const r = element.getBoundingClientRect(); return [r.left, r.top, r.bottom, r.width]; };
const fields = Array.from(form.querySelectorAll("label"), (label) =>
  [label.htmlFor, box(label), box(document.getElementById(label.htmlFor))]);
const button = getComputedStyle(form.querySelector("button"));
const chips = Array.from(document.querySelectorAll(".chips .chip"), (chip) => chip.getBoundingClientRect().width);
return {fields, radii: [button.borderTopLeftRadius, button.borderTopRightRadius], chips};
"""


def test_filter_labels_sit_over_their_controls_and_buttons_are_whole(served_admin, chromium):
    admin = create_user("admin", password_hash=hashed())
    create_collection("posts", POSTS, display_name="Posts")
    chromium.set_window_size(1366, 900)
    sign_in(chromium, served_admin, admin)
    for path in ("/admin/content/posts", "/admin/users", "/admin/collections"):
        open_page(chromium, served_admin + path)
        shown = chromium.execute_script(FILTER_GEOMETRY)
        for name, (label_left, _, label_bottom, _), (left, top, _, _) in shown["fields"]:
            assert abs(label_left - left) < 2 and 0 <= top - label_bottom < 16, (path, name)
        assert shown["radii"][0] == shown["radii"][1], (path, shown["radii"])
        assert all(width < 150 for width in shown["chips"]), (path, shown["chips"])
