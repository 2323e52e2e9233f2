"""Content writes: create, update, soft delete, restore, purge, restore a version.

Each write is ONE transaction (``database.atomic()``: ``BEGIN IMMEDIATE`` on SQLite) that
changes the content row, records a ``content_versions`` row (for edits) and a
``workflow_history`` row (always), so an item never exists without its history. The
cache is invalidated only after the commit (``write_transaction``).

Status and workflow state are kept consistent: ``content.status`` is the publication
status public reads filter on (draft, published, archived) and ``workflow_state_id`` the
fine-grained state (draft, pending-review, approved, published, rejected, archived):
the states ``published`` and ``archived`` have the status of the same name, every other
state has status ``draft``; setting a status sets the state of the same name.
``published_at`` is set the first time an item is published and kept afterwards.

Versions record edits (title, slug, data, SEO fields, featured image): each create,
update and version restore bumps ``version_number`` and stores a snapshot
``{title, slug, status, workflow_state_id, data, meta_title, meta_description,
featured_image_id, published_at}``. Status-only moves (``set_status``, the workflow
engine) write history but no version, so they never make an editor's ``version_number``
stale. Soft delete sets ``deleted_at`` (status unchanged) and restore clears it; both are
history entries.

The helpers ``record_version``, ``record_history``, ``set_status`` and
``set_workflow_state`` run inside the caller's transaction, for the workflow and
scheduling services. Services raise ``ContentError`` subclasses, never HTTP errors.
"""

from contextlib import contextmanager

import peewee

from app.db.models import Collection, Content, ContentVersion, Workflow, WorkflowHistory, database, new_id, now_ms
from app.services.cache import invalidate
from app.services.content.errors import (  # noqa: F401 - re-exported for callers of this module
    ContentConflict, ContentError, ContentForbidden, ContentInvalid, ContentNotFound,
)
from app.services.content.prepare import prepare_fields
from app.services.content.slugs import slug_taken

DEFAULT_WORKFLOW_ID = "default-workflow"
STATUSES = ("draft", "published", "archived")
# Fields a version restore brings back (status is the workflow's, not the editor's).
RESTORED_FIELDS = ("title", "slug", "data", "meta_title", "meta_description", "featured_image_id")


# ---------------------------------------------------------------- helpers for other services


def status_of_state(state):
    """The publication status of a workflow state."""
    return state if state in ("published", "archived") else "draft"


def state_of(content):
    """The workflow state of ``content`` (its status's state when the column is empty)."""
    return content.workflow_state_id or content.status or "draft"


def workflow_id_for(collection_id):
    """The active workflow of the collection, else the default one (migration 0005)."""
    found = (
        Workflow.select(Workflow.id)
        .where((Workflow.is_active == 1) & ((Workflow.collection == collection_id) | Workflow.collection.is_null()))
        .order_by(Workflow.collection.is_null(), Workflow.created_at, Workflow.id)
        .first()
    )
    return found.id if found else DEFAULT_WORKFLOW_ID


def snapshot(content):
    """What a content_versions row stores for ``content``."""
    return {
        "title": content.title,
        "slug": content.slug,
        "status": content.status,
        "workflow_state_id": content.workflow_state_id,
        "data": content.data,
        "meta_title": content.meta_title,
        "meta_description": content.meta_description,
        "featured_image_id": content.featured_image_id,
        "published_at": content.published_at,
    }


def record_version(content, user_id, now=None):
    """Insert the content_versions row of ``content.version_number`` (inside the caller's transaction)."""
    return ContentVersion.create(
        id=new_id(), content=content.id, version=content.version_number, data=snapshot(content),
        author=user_id, created_at=now or now_ms(),
    )


def record_history(content, from_state, to_state, user_id, comment=None, metadata=None, now=None, workflow_id=None):
    """Insert a workflow_history row for ``content`` (inside the caller's transaction).

    Args:
        content: the Content (its ``id`` and ``collection_id`` are used).
        from_state: the previous workflow state id (None for the creation entry).
        to_state: the new (or unchanged) workflow state id.
        user_id: who acted.
        comment: free text shown in the history.
        metadata: JSON-serialisable dict (``action``, ``version``...).
        workflow_id: default: the collection's workflow (``workflow_id_for``).

    Returns:
        The WorkflowHistory row. ``created_at`` is strictly increasing per item, so
        "newest first" is exact even for writes within the same millisecond.
    """
    now = now or now_ms()
    last = (
        WorkflowHistory.select(peewee.fn.MAX(WorkflowHistory.created_at))
        .where(WorkflowHistory.content == content.id)
        .scalar()
    )
    return WorkflowHistory.create(
        id=new_id(), content=content.id, workflow=workflow_id or workflow_id_for(content.collection_id),
        from_state=from_state, to_state=to_state, user=user_id, comment=comment, metadata=metadata,
        created_at=max(now, (last or 0) + 1),
    )


def set_workflow_state(content, state, user_id, comment=None, metadata=None, now=None):
    """Move ``content`` to workflow ``state`` (status follows), with a history row.

    Runs inside the caller's transaction; writes no version and leaves
    ``version_number`` alone. Returns ``(from_state, to_state)``.
    """
    now = now or now_ms()
    from_state = state_of(content)
    content.workflow_state = state
    content.status = status_of_state(state)
    if content.status == "published" and content.published_at is None:
        content.published_at = now
    content.updated_at = now
    content.save(only=[Content.workflow_state, Content.status, Content.published_at, Content.updated_at])
    record_history(content, from_state, state, user_id, comment,
                   {"action": "status_changed", **(metadata or {})}, now)
    return from_state, state


def set_status(content, status, user_id, comment=None, metadata=None, now=None):
    """Set the publication ``status`` (draft, published, archived); the state of the same name follows."""
    if status not in STATUSES:
        raise ContentInvalid("Validation failed", [{"field": "status", "message": f"must be one of {', '.join(STATUSES)}"}])
    return set_workflow_state(content, status, user_id, comment, metadata, now)


@contextmanager
def write_transaction(services_or_cache=None, namespaces=("content",)):
    """``with write_transaction(services):`` one transaction, then cache invalidation after commit.

    Use it as the outermost transaction: nested in another, the invalidation would run
    before the outer commit, and a reader could cache the old rows under the new generation.
    """
    with database.atomic():
        yield
    for namespace in namespaces:
        invalidate(services_or_cache, namespace)


def may_edit(user, content):
    """Admins and publishers edit anyone's content; everyone else only their own."""
    return user.is_admin or user.can("content.publish") or content.author_id == user.id


# ---------------------------------------------------------------- the API's writes


def find_collection(ref):
    """The collection with id or name ``ref``, or None."""
    return Collection.get_or_none((Collection.id == ref) | (Collection.name == ref))


def load_for_write(content_id, include_deleted=False):
    """The content row ``content_id`` with its collection; ContentNotFound if missing (or deleted)."""
    if "\x00" in content_id:
        raise ContentNotFound("Content not found")
    content = (
        Content.select(Content, Collection)
        .join(Collection, on=(Content.collection == Collection.id))
        .where(Content.id == content_id)
        .first()
    )
    if content is None or (content.deleted_at is not None and not include_deleted):
        raise ContentNotFound("Content not found")
    return content


def create_content(user, collection_ref, fields):
    """Create content from ``fields`` (title, slug, status, data, featured_image_id,
    meta_title, meta_description) in ``collection_ref`` (id or name); returns the Content."""
    collection = find_collection(collection_ref)
    if collection is None:
        raise ContentInvalid("Validation failed", [{"field": "collectionId", "message": f"no collection {collection_ref!r}"}])
    if not collection.is_active:
        raise ContentInvalid("Validation failed", [{"field": "collectionId", "message": "the collection is inactive"}])
    status = fields.get("status") or "draft"
    if status != "draft" and not user.can("content.publish"):
        raise ContentForbidden(f"Creating content with status {status!r} requires the content.publish permission")
    content_id = new_id()
    values = prepare_fields(collection, fields, content_id, current=None)
    now = now_ms()
    content = Content(
        id=content_id, collection=collection.id, author=user.id, status=status, workflow_state=status,
        published_at=now if status == "published" else None, created_at=now, updated_at=now,
        version_number=1, **values,
    )
    content.collection = collection
    with database.atomic():
        _check_slug(collection.id, content.slug, None)
        try:
            with database.atomic():
                content.save(force_insert=True)
        except peewee.IntegrityError as ex:
            raise _slug_conflict(content.slug) from ex
        record_version(content, user.id, now)
        record_history(content, None, status, user.id, None, {"action": "created", "version": 1}, now)
    return content


def update_content(user, content_id, fields, expected_version=None, metadata=None):
    """Apply ``fields`` to content ``content_id`` (PUT semantics: ``data`` replaces data).

    Args:
        user: the acting Principal.
        content_id: the content's id.
        fields: any of title, slug, status, data, featured_image_id, meta_title, meta_description.
        expected_version: the ``version_number`` the client edited (stale: ContentConflict).
        metadata: extra history metadata.
    """
    with database.atomic():
        content = load_for_write(content_id)
        _check_editable(user, content, expected_version)
        status = fields.get("status")
        if status is not None and status != content.status and not user.can("content.publish"):
            raise ContentForbidden("Changing the status requires the content.publish permission")
        values = prepare_fields(content.collection, fields, content.id, current=content)
        return _write_update(user, content, values, status, metadata or {"action": "updated"})


def restore_version(user, content_id, version, expected_version=None):
    """Bring back version ``version``'s title, slug, data and SEO fields as a NEW version."""
    with database.atomic():
        content = load_for_write(content_id)
        _check_editable(user, content, expected_version)
        row = ContentVersion.get_or_none((ContentVersion.content == content.id) & (ContentVersion.version == version))
        if row is None:
            raise ContentNotFound("Version not found")
        saved = row.data if isinstance(row.data, dict) else {}
        fields = {name: saved.get(name) for name in RESTORED_FIELDS if name in saved}
        fields.setdefault("data", {})
        values = prepare_fields(content.collection, fields, content.id, current=content)
        return _write_update(user, content, values, None, {"action": "version_restored", "restored_from": version})


def soft_delete(user, content_id, expected_version=None):
    """Set ``deleted_at``: the item disappears from reads until restored. Returns the Content."""
    with database.atomic():
        content = load_for_write(content_id)
        _check_editable(user, content, expected_version)
        return _mark_deleted(user, content, now_ms(), "deleted")


def restore_deleted(user, content_id):
    """Clear ``deleted_at`` of a soft-deleted item. Returns the Content."""
    with database.atomic():
        content = load_for_write(content_id, include_deleted=True)
        _check_editable(user, content, None)
        if content.deleted_at is None:
            raise ContentConflict("Content is not deleted")
        return _mark_deleted(user, content, None, "restored")


def purge(user, content_id):
    """Delete content for good, with its versions, history and schedules. Returns its id."""
    with database.atomic():
        content = load_for_write(content_id, include_deleted=True)
        ContentVersion.delete().where(ContentVersion.content == content.id).execute()
        # workflow_history and scheduled_content rows go by ON DELETE CASCADE.
        Content.delete().where(Content.id == content.id).execute()
    return content.id


# ---------------------------------------------------------------- internals


def _check_editable(user, content, expected_version):
    if not may_edit(user, content):
        raise ContentForbidden("You may only change your own content")
    if expected_version is not None and expected_version != content.version_number:
        raise ContentConflict(
            "Version conflict: the content was changed since you read it",
            {"current_version": content.version_number, "your_version": expected_version},
        )


def _check_slug(collection_id, slug, exclude_id):
    holder = slug_taken(collection_id, slug, exclude_id)
    if holder is not None:
        raise _slug_conflict(slug, deleted=holder.deleted_at is not None)


def _slug_conflict(slug, deleted=False):
    message = "A content item with this slug already exists in this collection"
    details = {"field": "slug", "slug": slug}
    if deleted:
        details["hint"] = "a deleted item holds this slug: restore or purge it first"
    return ContentConflict(message, details)


def _write_update(user, content, values, status, metadata):
    now = now_ms()
    from_state = state_of(content)
    if values["slug"] != content.slug:
        _check_slug(content.collection_id, values["slug"], content.id)
    changes = {getattr(Content, name): value for name, value in values.items()}
    if status is not None and status != content.status:
        changes[Content.status] = status
        changes[Content.workflow_state] = status
        if status == "published" and content.published_at is None:
            changes[Content.published_at] = now
    read_version = content.version_number
    changes[Content.version_number] = (read_version or 1) + 1
    changes[Content.updated_at] = now
    # Guarded by what was read: a concurrent write (PostgreSQL has no BEGIN IMMEDIATE to
    # serialise us) makes this match nothing instead of overwriting it.
    same_version = Content.version_number.is_null() if read_version is None else Content.version_number == read_version
    try:
        with database.atomic():
            changed = (
                Content.update(changes)
                .where((Content.id == content.id) & same_version & (Content.updated_at == content.updated_at))
                .execute()
            )
    except peewee.IntegrityError as ex:
        raise _slug_conflict(values["slug"]) from ex
    if changed != 1:
        raise ContentConflict("Version conflict: the content was changed meanwhile; reload it and retry")
    updated = load_for_write(content.id)
    record_version(updated, user.id, now)
    to_state = state_of(updated)
    record_history(updated, from_state, to_state, user.id, None,
                   {**metadata, "version": updated.version_number}, now)
    return updated


def _mark_deleted(user, content, deleted_at, action):
    now = now_ms()
    Content.update({Content.deleted_at: deleted_at, Content.updated_at: now}).where(Content.id == content.id).execute()
    content.deleted_at, content.updated_at = deleted_at, now
    state = state_of(content)
    record_history(content, state, state, user.id, None, {"action": action}, now)
    return content
