"""Collection pages: the list, the editor with its field builder, activate and deactivate.

* ``GET /admin/collections``: every collection, config-managed ones marked read-only;
* ``GET``/``POST /admin/collections/new``: create (``collections.create``);
* ``GET``/``POST /admin/collections/{name}``: view (``collections.read``) and edit
  (``collections.update``); a config-managed collection is shown read-only, since its file
  would overwrite any change at the next sync;
* ``POST /admin/collections/{name}/active``: activate or deactivate.

A save goes through what ``/admin/api/collections`` uses: its body Structs, its schema
validation (so every message is the API's, with the same field paths), the collections
service, and the same cache invalidation.
"""

import falcon
import msgspec

from app.admin.blocks import input_text, textarea_text
from app.admin.field_builder import (
    attach_errors,
    blank_row,
    listed_problems,
    renamed_fields,
    row_limit_problem,
    rows_from_form,
    rows_from_schema,
    rows_to_show,
    schema_from_rows,
)
from app.admin.list_columns import UNCHANGED, column_choices, posted_list_fields
from app.admin.pages import form_as_typed, one, redirect, search_of
from app.api.access import access
from app.api.collections import (
    CollectionCreate,
    CollectionPatch,
    create_problems,
    default_schema,
    validated_schema,
)
from app.api.errors import SERVICE_ERROR_STATUS, APIError
from app.services import collections
from app.services.cache import Namespace, invalidate
from app.services.content.validation import schema_properties
from app.services.errors import ServiceError, validation_detail

# The labels the editor shows for the collection's own fields (its template writes them from
# these), and so the words its list of problems names them by, as the user forms do; a
# field row's problem keeps its path (``schema.properties.<name>...``), as the API's.
LABELS = {"name": "Name", "display_name": "Display name", "description": "Description"}
DONE = {"created": "Collection created.", "saved": "Saved.", "activated": "Collection activated.",
        "deactivated": "Collection deactivated."}


class FormProblem(Exception):
    """A save refused: the status, a message, the API's ``{field, message}`` details, and
    the seconds after which to try again (``Retry-After``) when the refusal says so;
    ``on_rows`` when the details are the rows' own problems, on their rows already."""

    def __init__(self, status, message, details=(), retry_after=None, on_rows=False):
        super().__init__(message)
        self.status, self.message, self.details = status, message, list(details)
        self.retry_after, self.on_rows = retry_after, on_rows


def refuse_nul(problems):
    """A FormProblem (422) for the fields of a post that held NUL (``form_as_typed``'s
    ``problems``): the editor shows them in its list, with the rest as typed."""
    if problems:
        raise FormProblem(falcon.HTTP_422, "Validation failed", problems)


def collection_or_404(name):
    """The collection named ``name`` (active or not)."""
    found = collections.find_by_name(name)
    if found is None:
        raise falcon.HTTPNotFound()
    return found


def _posted(form, stored=None):
    """``(name, display name, description or None, builder rows)`` of a posted editor form.

    Args:
        stored: the collection edited (None for a new one): its display name, description
            and field labels posted back unchanged are kept as stored, spaces and all.
    """
    stored_description = stored.description if stored else None
    description = textarea_text(one(form, "description"), stored_description)
    if description != stored_description:
        description = description.strip()  # typed: trimmed
    display_name = input_text(one(form, "display_name"), stored.display_name if stored else None)
    rows = rows_from_form(form, rows_from_schema(stored.schema) if stored else ())
    return one(form, "name").strip(), display_name, description or None, rows


def _names_by_id():
    """``{id: name}`` of every collection, active or not (a reference may point to either,
    by its name or its id)."""
    return {row.id: row.name for row in collections.list_collections(include_inactive=True)}


def _schema(rows, own_name, stored=None, found=()):
    """The validated, canonical schema of ``rows``; FormProblem with the API's 422 otherwise,
    or the editor's own when the rows carry more fields than it saves (``MAX_ROWS``, or
    as many as ``stored`` holds).

    Args:
        own_name: the collection's name: its fields may refer to it (a post's related posts)
            before it exists.
        stored: the schema edited (None for a new collection): its ``required`` list keeps
            its order.
        found: the form's other problems (a new collection's name), listed first in the
            422, which they make even when the rows are right.
    """
    too_many = row_limit_problem(rows, stored=len(schema_properties(stored) or {}))
    if too_many is not None:
        # Nothing more is checked: each row is shown again as typed, and the limit says what to do.
        raise FormProblem(falcon.HTTP_422, "Validation failed", [*found, too_many])
    required_order = stored.get("required") if isinstance(stored, dict) else None
    # A reference may name a collection by its name or its id, as the API takes it.
    raw, problems = schema_from_rows(rows, {*collections.collection_keys(), own_name},
                                     required_order if isinstance(required_order, list) else ())
    for row, message in problems:
        row.errors.append(message)
    if problems:
        # Said above the form too, by path as the API's refusals are (a new row has no name
        # yet: its place on the page, as the row's legend says).
        raise FormProblem(falcon.HTTP_422, "Validation failed", [*found, *listed_problems(problems)], on_rows=True)
    return validated_schema(raw, found=found)


def _refusal(ex):
    """A FormProblem of an API error, a msgspec validation error or a service's refusal."""
    if isinstance(ex, APIError):
        return FormProblem(ex.status, ex.title, ex.details or [])
    if isinstance(ex, msgspec.ValidationError):
        return FormProblem(falcon.HTTP_422, "Validation failed", [validation_detail(ex)])
    # Field-level details (``[{field, message}]``) are shown next to their fields: a type
    # change items refuse, on the row of each field (``schema.properties.<name>.type``, or
    # ``.multiple`` or ``.enum`` when that key narrowed it).
    fields = ex.details if isinstance(ex.details, list) else []
    # A detail saying only what the message says (a taken name's) is not said twice.
    fields = [detail for detail in fields if not (isinstance(detail, dict) and detail.get("message") == ex.message)]
    return FormProblem(SERVICE_ERROR_STATUS[ex.kind], ex.message, fields, ex.retry_after)


class CollectionsPage:
    """``GET /admin/collections``: every collection, config-managed ones marked as read-only."""

    def __init__(self, renderer):
        self._renderer = renderer

    @access("collections.read")
    def on_get(self, req, resp):
        search = search_of(req)
        rows = collections.list_collections(include_inactive=True, search=search or None)
        self._renderer.page(req, resp, "collections.html", collections=rows, search=search,
                            can_create=req.context.user.can("collections.create"))


class _Editor:
    """What the new and edit pages share: rendering the editor with its rows and messages.

    Args:
        turn_wait_ms: how long a save waits for the schema turn (``SCHEMA_TURN_WAIT_MS``):
            past it, the form comes back with the 503's message, as posted.
    """

    def __init__(self, renderer, cache, turn_wait_ms):
        self._renderer = renderer
        self._cache = cache
        self._turn_wait_ms = turn_wait_ms

    def render(self, req, resp, values, rows, collection=None, problem=None, status=falcon.HTTP_200, typed=True):
        """The editor showing ``values`` and ``rows``; after a refusal, ``problem`` says why and
        ``typed`` whether they are what was typed (stored nowhere) or the stored collection's."""
        user = req.context.user
        managed = bool(collection is not None and collection.managed)
        editable = not managed and user.can("collections.update" if collection else "collections.create")
        details = problem.details if problem else []
        if not (problem and problem.on_rows):
            # The rows' own problems are on their rows: by their paths, a second row named
            # as the first would put its problem on the first too.
            attach_errors(rows, details)
        stored = rows_from_schema(collection.schema) if collection is not None else ()
        shown = rows_to_show(rows, stored=stored) if editable else rows
        # A collection's fields may refer to it: a new one's posted name is offered too.
        own_name = collection.name if collection is not None else (values.get("name") or "").strip()
        by_id = _names_by_id()
        names = sorted({*by_id.values(), *([own_name] if own_name else [])})
        self._renderer.page(
            req, resp, "collection_form.html", status=problem.status if problem else status,
            collection=collection, values=values, rows=shown, collection_names=names, own_name=own_name,
            names_by_id=by_id,
            editable=editable, managed=managed,
            message=problem.message if problem else None, details=details, refused=problem is not None and typed,
            can_toggle=collection is not None and not managed and user.can("collections.update"),
            done=DONE.get(req.get_param("done") or ""), template_row=blank_row(shown),
            list_columns=column_choices(collection, values.get("list_fields", UNCHANGED)), labels=LABELS,
        )
        if problem is not None and problem.retry_after is not None:
            resp.set_header("Retry-After", str(problem.retry_after))


class CollectionNewPage(_Editor):
    """``GET``/``POST /admin/collections/new``: starts with SonicJS's default fields."""

    @access("collections.create")
    def on_get(self, req, resp):
        values = {"name": "", "display_name": "", "description": ""}
        self.render(req, resp, values, rows_from_schema(default_schema()))

    @access("collections.create")
    def on_post(self, req, resp):
        form, refused = form_as_typed(req)
        name, display_name, description, rows = _posted(form)
        values = {"name": name, "display_name": display_name, "description": description or "",
                  "list_fields": posted_list_fields(form, None, None)}  # a refused form shows them again
        try:
            refuse_nul(refused)
            body = msgspec.convert({"name": name, "display_name": display_name, "description": description},
                                   CollectionCreate)
            # The name's problems and the rows' in one refusal, the name's first (as the API's).
            schema = _schema(rows, name, found=create_problems(name, display_name))
            list_fields = None if values["list_fields"] is UNCHANGED else values["list_fields"]
            row = collections.create_collection(body.name, display_name, description, schema,
                                                turn_wait_ms=self._turn_wait_ms, list_fields=list_fields)
        except (APIError, msgspec.ValidationError, ServiceError) as ex:
            self.render(req, resp, values, rows, problem=_refusal(ex))
            return
        except FormProblem as ex:
            self.render(req, resp, values, rows, problem=ex)
            return
        invalidate(self._cache, Namespace.COLLECTIONS)
        redirect(resp, f"/admin/collections/{row.name}?done=created")


class CollectionEditPage(_Editor):
    """``GET``/``POST /admin/collections/{name}``."""

    @access("collections.read")
    def on_get(self, req, resp, name):
        found = collection_or_404(name)
        values = {"name": found.name, "display_name": found.display_name, "description": found.description or ""}
        self.render(req, resp, values, rows_from_schema(found.schema), collection=found)

    @access("collections.update")
    def on_post(self, req, resp, name):
        found = collection_or_404(name)
        form, refused = form_as_typed(req)
        _, display_name, description, rows = _posted(form, found)
        values = {"name": found.name, "display_name": display_name, "description": description or "",
                  "list_fields": posted_list_fields(form, None, None)}  # a refused form shows them again
        try:
            refuse_nul(refused)
            msgspec.convert({"display_name": display_name, "description": description}, CollectionPatch)
            if not display_name:
                raise FormProblem(falcon.HTTP_422, "Validation failed", [
                    {"field": "display_name", "message": "display_name cannot be empty"}])
            schema = _schema(rows, found.name, found.schema)
            changes = {"display_name": display_name, "description": description, "schema": schema}
            list_fields = posted_list_fields(form, found.schema, changes["schema"], renamed_fields(rows))
            if list_fields is not UNCHANGED:
                changes["list_fields"] = list_fields
            collections.update_collection(found.id, changes, turn_wait_ms=self._turn_wait_ms)
        except (APIError, msgspec.ValidationError, ServiceError) as ex:
            self.render(req, resp, values, rows, collection=found, problem=_refusal(ex))
            return
        except FormProblem as ex:
            self.render(req, resp, values, rows, collection=found, problem=ex)
            return
        invalidate(self._cache, Namespace.COLLECTIONS)
        invalidate(self._cache, Namespace.CONTENT)  # content is validated against the new schema
        redirect(resp, f"/admin/collections/{found.name}?done=saved")


class CollectionActiveAction:
    """``POST /admin/collections/{name}/active``: ``is_active`` 1 activates, 0 deactivates."""

    def __init__(self, edit_page, cache):
        self._edit = edit_page
        self._cache = cache

    @access("collections.update")
    def on_post(self, req, resp, name):
        found = collection_or_404(name)
        form, refused = form_as_typed(req)
        active = one(form, "is_active") == "1"
        try:
            # A NUL in the button's form (forged: a browser sends none): the editor says so, 422.
            refuse_nul(refused)
            collections.update_collection(found.id, {"is_active": active})
        except (FormProblem, ServiceError) as ex:
            values = {"name": found.name, "display_name": found.display_name, "description": found.description or ""}
            problem = ex if isinstance(ex, FormProblem) else _refusal(ex)
            # The editor shows the stored collection: nothing typed in it is at stake.
            self._edit.render(req, resp, values, rows_from_schema(found.schema), found, problem, typed=False)
            return
        invalidate(self._cache, Namespace.COLLECTIONS)
        # Deactivating withdraws the collection's content from cached public reads too.
        invalidate(self._cache, Namespace.CONTENT)
        redirect(resp, f"/admin/collections/{found.name}?done={'activated' if active else 'deactivated'}")
