"""What the content list says after a refused bulk action, carried in the list's URL.

A refused bulk action sends the browser back to the list (a redirect, so the address bar
holds the list, not the bulk form's address), with the action, each refused item's id and
a code for why (``refusal_query``). The list reads them back (``refusal_shown``) and words
each reason for an editor from the code and what it reads itself: the item's title and
state where the user may read it. Only known codes and actions are read back, so no text of
the URL's choosing is ever on the page.
"""

from urllib.parse import urlencode

from app.services.content import bulk, workflow
from app.services.content.query import Scope, readable_titles
from app.services.errors import ErrorKind
from app.services.plugins import HookVeto

# The list's bulk actions: each one's option label and what is said once done (or not).
BULK_LABELS = {"publish": "Publish", "draft": "Move to draft", "archive": "Archive", "delete": "Move to trash"}
BULK_DONE = {"publish": "published", "draft": "moved to draft", "archive": "archived", "delete": "moved to the trash"}

# Refusals of the whole request, before any item was looked at: ``?problem=<code>``.
PROBLEMS = {
    "no-action": "Choose an action to apply to the ticked items.",
    "no-items": "Tick the items to change first.",
    "too-many": f"Tick at most {bulk.MAX_ITEMS} items at a time.",
    "forbidden": "You are not allowed to move these items to the trash.",
    "invalid": "These items cannot be changed together: reload the list and tick them again.",
    # A select and boxes send no typed text: only a forged post holds a NUL.
    "nul": "The form sent a NUL character, which is not allowed: nothing was changed.",
}
# Why one item refused: ``?why=<id>:<code>``, worded by ``_reason``.
NOT_FOUND, FORBIDDEN, STATE, VETO, OTHER = "gone", "forbidden", "state", "veto", "other"
REASON_CODES = frozenset({NOT_FOUND, FORBIDDEN, STATE, VETO, OTHER})
# How an item's workflow state reads in a sentence ("while it is a draft").
STATE_WORDS = {"draft": "a draft", "pending-review": "waiting for review", "approved": "approved",
               "published": "published", "archived": "archived"}


def reason_code(error):
    """The code of one item's refusal (a ``ServiceError`` or a plugin's ``HookVeto``)."""
    if isinstance(error, HookVeto):
        return VETO
    kind = getattr(error, "kind", None)
    if kind == ErrorKind.NOT_FOUND:
        return NOT_FOUND
    if kind == ErrorKind.FORBIDDEN:
        return FORBIDDEN
    if kind == ErrorKind.CONFLICT:
        return STATE  # the item's workflow has no such move from its state
    return OTHER


def refusal_query(action, ids, refusals):
    """The query string (no ``?``) saying that ``action`` on ``ids`` was refused for ``refusals``
    (``[(id, error)]``), the ticked ``ids`` kept ticked."""
    why = [f"{content_id}:{reason_code(error)}" for content_id, error in refusals]
    return urlencode({"refused": action, "why": why, "ids": list(ids)}, doseq=True)


def problem_query(code, ids):
    """The query string (no ``?``) of a refusal of the whole request (``PROBLEMS``)."""
    return urlencode({"problem": code, "ids": list(ids)}, doseq=True)


def ticked_ids(req):
    """The ids the URL keeps ticked (at most ``bulk.MAX_ITEMS``)."""
    return [value for value in req.get_param_as_list("ids") or () if len(value) <= bulk.MAX_ID_LENGTH][:bulk.MAX_ITEMS]


def refusal_shown(req, user):
    """``(message, [reason, ...])`` of the refusal the URL carries, or None."""
    problem = req.get_param("problem")
    if problem in PROBLEMS:
        return PROBLEMS[problem], []
    action = req.get_param("refused")
    if action not in BULK_DONE:
        return None
    coded = []
    for entry in (req.get_param_as_list("why") or ())[:bulk.MAX_ITEMS]:
        content_id, _, code = entry.rpartition(":")
        if content_id and code in REASON_CODES and len(content_id) <= bulk.MAX_ID_LENGTH:
            coded.append((content_id, code))
    if not coded:
        return None
    titles = readable_titles(Scope.of(user), [content_id for content_id, _ in coded])
    states = workflow.current_states(titles)
    count = len(coded)
    message = (f"Nothing was changed: {count} of the ticked items could not be {BULK_DONE[action]}."
               if count > 1 else f"Nothing was changed: one of the ticked items could not be {BULK_DONE[action]}.")
    return message, [_reason(action, titles.get(content_id), states.get(content_id), code)
                     for content_id, code in coded]


def _reason(action, title, state, code):
    """One refused item's line: its title (or "An item you cannot open") and why, for an editor."""
    done = BULK_DONE[action]
    if title is None or code == NOT_FOUND:
        return f"{title or 'An item you cannot open'}: not found in this collection (deleted, or moved to the trash)."
    if code == FORBIDDEN:
        return f"{title}: you are not allowed to change this item."
    if code == STATE and state is not None:
        return f"{title}: it cannot be {done} while it is {STATE_WORDS.get(state, 'in the state ' + state)}."
    if code == VETO:
        return f"{title}: a plugin refused the change."
    return f"{title}: it cannot be {done} as it is now; open it to see why."
