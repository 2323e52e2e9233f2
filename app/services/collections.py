"""Collections as the API manages them: list, look up, create, update, delete.

The schema a caller sends is validated before it reaches here (``app.services.collection_schema``);
these functions own the rules about stored rows:

* names obey the rule for names (``NAME_RULE``), are unique, and none is one the admin's
  pages take (``RESERVED_NAMES``);
* managed collections (``managed = 1``, defined by a file and kept by ``collections sync``)
  are read-only: the file would overwrite any change at the next sync;
* a collection that still has content (soft-deleted items included: they still reference
  it) or that a workflow points at cannot be deleted;
* a schema change that leaves items holding values a field's new type does not accept is
  refused (``app.services.type_changes``; a field added is checked too, as items keep a
  removed field's values), checked in the update's transaction;
* ``list_fields`` (the admin list's columns, ``listFields``) names fields of the schema it is
  saved with, or the item's own columns (``collection_schema.LIST_COLUMNS``), each once; an
  empty list is stored as None (the default columns). A schema change that removes a field
  the stored list names drops that name from it in the same write (the list is left
  meaningful, and a file or an API caller that sends the list with the schema is checked
  against that schema instead).
* a reference field names collections that exist (by name or id, active or not) or the
  collection saved itself (a post's related posts), else 422 naming the field
  (``ReferenceTargetUnknown``); a target the same field had before the save is kept
  whether or not it exists. Deleting or deactivating a collection that other schemas
  reference stays allowed: it has no content left when deleted, so no item points into it,
  and the references left behind are theirs to change (a reference field then takes no
  value, as one whose items were all deleted).

A schema's ``indexed``/``sortable`` fields get their indexes in the same transaction as the
write that declares them, and lose them with the last collection declaring them
(``app.services.field_indexes``). Each write is one transaction; one that may change a
schema or the indexes takes its turn first (``app.db.schema_turns``), waiting at most the
``turn_wait_ms`` the caller gives (a web request's ``SCHEMA_TURN_WAIT_MS``): past it, the
write is refused with nothing written (``SchemaChangeInProgress``, 503 with ``Retry-After``).
Refusals are ServiceErrors (404, 409, 422, 503) with a message for the client.
"""

import math
import secrets
from contextlib import contextmanager

from app.db.models import Collection, Content, Workflow, database, now_ms
from app.db.rows import columns_of, fetch_models
from app.db.schema_turns import SchemaTurnBusy, take_schema_turn
from app.db.text_match import contains_any_case
from app.services.collection_schema import (
    check_list_fields,
    collection_name_problem,
    known_list_fields,
    unknown_reference_message,
    unknown_reference_targets,
)
from app.services.content.validation import schema_properties
from app.services.errors import CONFLICT, INVALID, NOT_FOUND, UNAVAILABLE, ServiceError
from app.services.field_indexes import lock_for_drops, sync_field_indexes
from app.services.type_changes import check_type_changes, for_schema_change

# A collection's content list looks the collection up by name on every request: a fixed
# statement, not a query Peewee compiles each time.
_BY_NAME = f'SELECT {columns_of(Collection)} FROM "collections" WHERE "name" = {{p}} LIMIT 1'


class CollectionNotFound(ServiceError):
    """No collection has that id."""

    kind = NOT_FOUND

    def __init__(self, message="Collection not found", details=None):
        super().__init__(message, details)


class CollectionConflict(ServiceError):
    """The change conflicts with what is stored (taken name, managed collection, content left)."""

    kind = CONFLICT


def _name_conflict(message):
    """The 409 of a name another collection holds: ``details`` names the field with the
    reason, ``[{field, message}]`` as every field's problem is given."""
    return CollectionConflict(message, [{"field": "name", "message": message}])


class SchemaChangeInProgress(ServiceError):
    """Another schema change (a save, ``collections sync``, a migration, an import, a restore)
    kept its turn longer than a request waits: nothing was written (503, ``Retry-After``)."""

    kind = UNAVAILABLE

    def __init__(self, wait_ms):
        self.retry_after = max(1, math.ceil(wait_ms / 1000))
        super().__init__(
            "Another change to the collection schemas is in progress (a collection save, a sync, a migration, "
            "an import or a restore); nothing was changed: try again shortly", {"retry_after": self.retry_after})


class ListFieldsInvalid(ServiceError):
    """``listFields`` names what the schema does not know, or a name twice: 422 naming it."""

    kind = INVALID

    def __init__(self, errors):
        details = [{"field": "listFields", "message": error.partition(": ")[2]} for error in errors]
        super().__init__("Validation failed", details)


def checked_list_fields(names, schema):
    """``names`` to store as ``list_fields`` for ``schema``: None when empty; ListFieldsInvalid
    when one is neither a top-level field of ``schema`` nor an item column, or is listed twice."""
    errors = check_list_fields(names, schema_properties(schema) or {})
    if errors:
        raise ListFieldsInvalid(errors)
    return list(names) if names else None


def shown_list_fields(row):
    """The list columns of the collection ``row`` as its schema still knows them (None: the
    default columns); a name whose field is gone is dropped, never an error."""
    return known_list_fields(row.list_fields, schema_properties(row.schema) or {})


class ReferenceTargetUnknown(ServiceError):
    """A reference field names a collection that does not exist: 422 naming the field."""

    kind = INVALID

    def __init__(self, unknown):
        details = [{"field": path, "message": unknown_reference_message(name)} for path, name in unknown]
        super().__init__("Validation failed", details)


def collection_keys():
    """The names and ids of every collection, active or not: what a reference may name."""
    return {key for row in Collection.select(Collection.id, Collection.name).tuples() for key in row}


def check_reference_targets(schema, own, stored=None):
    """ReferenceTargetUnknown when a reference field of ``schema`` (canonical form) names a
    collection that does not exist and is not one of ``own`` (the name and id of the
    collection saved), unless the same field of ``stored`` (its schema before) named it."""
    unknown = unknown_reference_targets(schema, collection_keys() | set(own), stored)
    if unknown:
        raise ReferenceTargetUnknown(unknown)


class CollectionNameRefused(ServiceError):
    """The name breaks the rule for names, or is one the admin's pages take; ``details``
    names the field with the reason: 422."""

    kind = INVALID

    def __init__(self, message):
        super().__init__("Validation failed", [{"field": "name", "message": message}])


def name_problems(name):
    """``[{field, message}]`` of what the rule for names, or the admin's pages, refuse in a
    new collection's ``name`` (empty when it may be one): for a caller listing it with the
    other problems of the same request, the name's first."""
    problem = collection_name_problem(name)
    return [] if problem is None else CollectionNameRefused(problem).details


def active_collections():
    """The active collections, by name."""
    return list(Collection.select().where(Collection.is_active == True).order_by(Collection.name))  # noqa: E712


def active_collection_names():
    """The names of the active collections, sorted."""
    query = Collection.select(Collection.name).where(Collection.is_active == True).order_by(Collection.name)  # noqa: E712
    return [name for (name,) in query.tuples()]


def list_collections(include_inactive=False, search=None):
    """Collections, newest first; active ones only unless ``include_inactive``.

    Args:
        search: text found in the name, display name or description.
    """
    query = Collection.select()
    if not include_inactive:
        query = query.where(Collection.is_active == True)  # noqa: E712
    if search:
        # In any case, every letter's (SQLite's LIKE folds ASCII only); % and _ match themselves.
        query = query.where(
            contains_any_case(Collection.name, search) | contains_any_case(Collection.display_name, search)
            | contains_any_case(Collection.description, search)
        )
    return list(query.order_by(Collection.created_at.desc(), Collection.name))


def get_collection(collection_id):
    """The collection ``collection_id``; CollectionNotFound otherwise."""
    row = Collection.get_or_none(Collection.id == collection_id)
    if row is None:
        raise CollectionNotFound()
    return row


def find_collection(id_or_name):
    """The collection whose id, or else name, is ``id_or_name``; CollectionNotFound otherwise."""
    row = Collection.get_or_none(Collection.id == id_or_name) or find_by_name(id_or_name)
    if row is None:
        raise CollectionNotFound()
    return row


def find_by_name(name):
    """The collection named ``name`` (active or not), or None."""
    found = fetch_models(Collection, _BY_NAME, (name,))
    return found[0] if found else None


@contextmanager
def _schema_turn(wait_ms):
    """``with _schema_turn(wait_ms):`` a transaction that took its schema turn first, waiting
    at most ``wait_ms`` (None: as long as it takes); SchemaChangeInProgress past it."""
    try:
        with database.atomic():
            take_schema_turn(database.obj, wait_ms)
            yield
    except SchemaTurnBusy as ex:
        raise SchemaChangeInProgress(ex.wait_ms) from ex


def create_collection(name, display_name, description, schema, is_active=True, turn_wait_ms=None,
                      list_fields=None):
    """Create an unmanaged collection; CollectionConflict when the name is taken,
    CollectionNameRefused when it breaks the rule for names or the admin's pages take it
    (the API's body and the admin's form leave the name to this check), ListFieldsInvalid when
    ``list_fields`` names what ``schema`` does not know, ReferenceTargetUnknown when a
    reference field names a collection that does not exist (nor is this one).

    Args:
        turn_wait_ms: the longest wait for the schema turn (``app.db.schema_turns``), None:
            as long as it takes; past it, SchemaChangeInProgress.
    """
    problem = collection_name_problem(name)
    if problem is not None:
        raise CollectionNameRefused(problem)
    list_fields = checked_list_fields(list_fields, schema)
    now = now_ms()
    with _schema_turn(turn_wait_ms):
        if Collection.select().where(Collection.name == name).exists():
            raise _name_conflict(f"A collection named '{name}' already exists")
        if Collection.select().where(Collection.id == name).exists():
            # Collections are found by id or name, the id first: this name would reach the other one.
            raise _name_conflict(f"'{name}' is another collection's id")
        check_reference_targets(schema, {name})
        row = Collection.create(
            id=f"col-{name}-{secrets.token_hex(4)}", name=name, display_name=display_name,
            description=description, schema=schema, is_active=is_active, managed=False,
            list_fields=list_fields, created_at=now, updated_at=now,
        )
        sync_field_indexes(database.obj)
        return row


def update_collection(collection_id, changes, turn_wait_ms=None):
    """Apply ``changes`` (display_name, description, is_active, schema, list_fields); the row as stored.

    ``list_fields`` is checked against the schema the collection has after the write; a new
    schema without ``list_fields`` drops from the stored list the fields it no longer has.

    Args:
        turn_wait_ms: with a schema, the longest wait for the schema turn (None: as long as
            it takes).

    Raises:
        CollectionNotFound: no such collection.
        CollectionConflict: the collection is managed by a definition file.
        ReferenceTargetUnknown: a reference field names a collection that does not exist
            (nothing changes).
        FieldTypeConflict: items hold values a field's new type does not accept (nothing changes).
        SchemaChangeInProgress: ``turn_wait_ms`` passed without the turn (nothing changes).
        ListFieldsInvalid: ``list_fields`` names what the schema does not know (nothing changes).
    """
    changes = dict(changes)
    with _schema_turn(turn_wait_ms) if "schema" in changes else database.atomic():
        row = _writable(collection_id, schema_change="schema" in changes)
        schema = changes.get("schema", row.schema)
        if "list_fields" in changes:
            changes["list_fields"] = checked_list_fields(changes["list_fields"], schema)
        elif "schema" in changes and row.list_fields is not None:
            changes["list_fields"] = known_list_fields(row.list_fields, schema_properties(schema) or {})
        if "schema" in changes:
            check_reference_targets(changes["schema"], {row.name, row.id}, row.schema)
            lock_for_drops(database.obj, {row.id: changes["schema"]})
            check_type_changes(database.obj, row.id, row.schema, changes["schema"])
        Collection.update(updated_at=now_ms(), **changes).where(Collection.id == row.id).execute()
        if "schema" in changes:
            sync_field_indexes(database.obj)
    return Collection.get_by_id(row.id)


def delete_collection(collection_id, turn_wait_ms=None):
    """Delete a collection that no content and no workflow refers to.

    Args:
        turn_wait_ms: the longest wait for the schema turn (None: as long as it takes).

    Raises:
        CollectionNotFound: no such collection.
        CollectionConflict: managed, still has content (``details``: ``content_count`` and
            ``deleted_count``, the items in the trash), or used by a workflow.
        SchemaChangeInProgress: ``turn_wait_ms`` passed without the turn.
    """
    with _schema_turn(turn_wait_ms):
        row = _writable(collection_id)
        items = Content.select(Content.id).where(Content.collection == row.id).count()
        if items:
            trashed = (
                Content.select(Content.id)
                .where((Content.collection == row.id) & Content.deleted_at.is_null(False)).count()
            )
            raise CollectionConflict(_still_has_content(row.name, items, trashed), {
                "content_count": items, "deleted_count": trashed,
            })
        if Workflow.select(Workflow.id).where(Workflow.collection == row.id).exists():
            raise CollectionConflict(f"Collection '{row.name}' is used by a workflow; remove the workflow first")
        Collection.delete().where(Collection.id == row.id).execute()
        sync_field_indexes(database.obj)


def _writable(collection_id, schema_change=False):
    """The unmanaged collection ``collection_id``; with ``schema_change``, read locked
    against other schema saves (``type_changes.for_schema_change``)."""
    query = Collection.select().where(Collection.id == collection_id)
    row = (for_schema_change(query) if schema_change else query).first()
    if row is None:
        raise CollectionNotFound()
    if row.managed:
        raise CollectionConflict(
            f"Collection '{row.name}' is managed by a definition file; change the file and run "
            "`collections sync` instead"
        )
    return row


def _still_has_content(name, items, trashed):
    """Why a collection with content cannot go, and what to do about it."""
    purge = "purge them (DELETE /api/content/{id}/purge)"
    if trashed == items:
        return f"Collection '{name}' still has {items} deleted content item(s) in the trash; {purge} first"
    if trashed:
        return (
            f"Collection '{name}' still has {items} content item(s), {trashed} of them deleted but not "
            f"purged; delete the others, then {purge}"
        )
    return f"Collection '{name}' still has {items} content item(s); delete and purge them first"
