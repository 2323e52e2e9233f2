"""``POST /api/content/bulk-action``: publish, move to draft, archive or trash up to 100 items
at once, all or nothing (``app.services.content.bulk``).

A body that is not ``{action, ids}`` with a known action and 1 to 100 distinct ids is a 422
naming the field. When any item refuses, nothing is changed and the answer is a 409 whose
``details`` lists every refused item as ``{id, status, error, details?}``: the status and
error its single route (the workflow move, ``DELETE /api/content/{id}``) would answer (404,
403, 409, 422, or a plugin's veto). One status for the whole refusal, whatever the items':
a client reads the batch's fate from it and each item's from ``details``. The content cache
is invalidated once, after the commit.
"""

from typing import Annotated, Literal

import falcon
import msgspec

from app.api.access import access
from app.api.describe import describe
from app.api.errors import SERVICE_ERROR_STATUS, conflict, read_body
from app.api.schemas_content import BulkDone
from app.services.cache import Namespace, invalidate
from app.services.content import bulk

ContentId = Annotated[str, msgspec.Meta(min_length=1, max_length=bulk.MAX_ID_LENGTH)]


class BulkBody(msgspec.Struct, forbid_unknown_fields=True):
    """``POST /api/content/bulk-action``: what to do, and to which items."""

    action: Literal["publish", "draft", "archive", "delete"]
    ids: Annotated[list[ContentId], msgspec.Meta(min_length=1, max_length=bulk.MAX_ITEMS)]


def refusal_details(refusals):
    """``[{id, status, error, details?}]`` of ``BulkRefused.refusals``: what each item's route answers."""
    found = []
    for content_id, error in refusals:
        status = getattr(error, "status", None)  # a plugin's HookVeto names its own
        if status is None:
            status = falcon.http_status_to_code(SERVICE_ERROR_STATUS[error.kind])
        entry = {"id": content_id, "status": status, "error": error.message}
        if error.details is not None:
            entry["details"] = error.details
        found.append(entry)
    return found


class BulkActionResource:
    """``/api/content/bulk-action``."""

    def __init__(self, cache):
        self._cache = cache

    @access(authenticated=True)
    @describe("Publish, unpublish, archive or trash many items, all or nothing", body=BulkBody, response=BulkDone,
              description="`publish`, `draft` and `archive` are the workflow's moves to that state "
                          "(its rules and permissions, per item); `delete` moves the items to the trash "
                          "(`content.delete`). Items already in the state asked for are left as they are "
                          "(`unchanged`) when the caller could move them there. When any item refuses, "
                          "nothing changes: 409 with `details` "
                          "`[{id, status, error, details?}]`, one entry per refused item.")
    def on_post(self, req, resp):
        body = read_body(req, BulkBody)
        try:
            result = bulk.apply(req.context.user, body.action, body.ids, request_id=req.context.request_id)
        except bulk.BulkRefused as ex:
            raise conflict(ex.message, refusal_details(ex.refusals)) from None
        invalidate(self._cache, Namespace.CONTENT)
        resp.media = {"success": True, "action": result.action, "count": len(result.changed),
                      "ids": list(result.changed), "unchanged": list(result.unchanged)}
