"""Log settings (``logs.read`` to see, ``settings.update`` to change): one form per category.

Each form posts to ``/admin/logs/config/{category}`` (SonicJS's path for it) the four
editable fields; they are read as ``PUT /admin/api/logs/config/{category}`` reads its body
(``LogConfigChange``), so a value out of range is refused with the API's message, shown
beside its field with what was typed, and nothing is saved. A change applies to the next
row every worker writes.
"""

import falcon
import msgspec

from app.admin.pages import form_as_typed, one, redirect
from app.api.access import access
from app.api.log_config import MAX_RETENTION_DAYS, WRITE_PERMISSION, LogConfigChange, changes_of
from app.services import log_config
from app.services.errors import validation_detail
from app.services.logs import CATEGORIES, LEVELS

DONE = "Settings of {category} saved."
# The labels each form shows for its fields (its template writes them from these), and so
# the words its message names a field by, as the user forms do.
LABELS = {"enabled": "Logged", "level": "Lowest level kept", "retention_days": "Days kept",
          "max_size_mb": "Size limit (MB)"}


def posted_values(form):
    """The four fields a category's form posts: ``enabled`` a bool (a checkbox), the others text."""
    values = {name: one(form, name).strip() for name in log_config.EDITABLE}
    return {**values, "enabled": values["enabled"] == "on"}


def changes_from(posted):
    """``(changes, problem)``: the ``{column: value}`` that ``posted`` (``posted_values``) asks
    for, or None and ``{field, message}`` for the first value that is not valid."""
    try:
        return changes_of(msgspec.convert(posted, LogConfigChange, strict=False)), None
    except msgspec.ValidationError as ex:
        return None, validation_detail(ex)


class LogConfigPage:
    """``GET /admin/logs/config``; ``render`` also shows a refused form again."""

    def __init__(self, renderer):
        self._renderer = renderer

    def render(self, req, resp, status=falcon.HTTP_200, refused=None):
        """The page; ``refused`` is ``{category, posted, problem}`` of a form that was not saved."""
        category = req.get_param("done")
        done = DONE.format(category=category) if category in CATEGORIES else None
        self._renderer.page(
            req, resp, "log_config.html", status=status, configs=log_config.all_configs(), levels=LEVELS,
            editable=req.context.user.can(WRITE_PERMISSION), done=done, refused=refused,
            max_retention=MAX_RETENTION_DAYS, labels=LABELS,
        )

    @access("logs.read")
    def on_get(self, req, resp):
        self.render(req, resp)


class LogConfigAction:
    """``POST /admin/logs/config/{category}``: save one category's form, back to the page."""

    def __init__(self, page):
        self._page = page

    @access(WRITE_PERMISSION)
    def on_post(self, req, resp, category):
        log_config.require_category(category)
        form, refused = form_as_typed(req)
        posted = posted_values(form)
        # A NUL pasted is its field's problem, the rest shown as typed; nothing is saved.
        changes, problem = (None, refused[0]) if refused else changes_from(posted)
        if problem is not None:
            self._page.render(req, resp, falcon.HTTP_422, {"category": category, "posted": posted, "problem": problem})
            return
        log_config.update_config(category, changes)
        redirect(resp, f"/admin/logs/config?done={category}")
