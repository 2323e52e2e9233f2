"""Content writes: create, update, soft delete, restore, purge, restore a version.

Each write is ONE transaction (``database.atomic()``: ``BEGIN IMMEDIATE`` on SQLite) that
changes the content row, records a ``content_versions`` row (for edits) and a
``workflow_history`` row (always), so an item never exists without its history. The
cache is invalidated only after the commit (``write_transaction``, or the API after the
service returns). A create reads and validates everything before its transaction, which
then only inserts (rows in ``rows.py``): on SQLite the write lock is held for three
INSERTs, not for validation and slug look-ups.

A status in a create or update body is a workflow move, never a plain column write: it
goes through ``app.services.content.workflow.transition`` inside the same transaction, so
``workflow_transitions`` and the caller's permissions decide (409 when the workflow has
no such move from the current state, 403 when the caller may not make it) and the move
writes its history and ``system_logs`` rows. A create starts in ``draft``; any other
status is the move out of draft the workflow allows this caller (an editor may create
published content; nobody creates archived content: there is no draft -> archived edge).

Versions record every change of the item: each create, update, version restore and
workflow move bumps ``version_number`` and stores a snapshot ``{title, slug, status,
workflow_state_id, data, meta_title, meta_description, featured_image_id,
published_at}``, so a client holding an old ``version_number`` gets a 409 whatever
changed meanwhile. An update that also moves the status records ONE version (the move
runs with ``versioned=False``), and a create that moves out of draft keeps version 1. Such
a write announces its move once it is complete (``workflow.announce``): its own
``after_content_create`` or ``after_content_update`` hooks first, then the move's
(``after_content_workflow``, ``after_content_publish``/``unpublish``), then the end of an
assignment, each with the row the write left, so every one carries its version. Soft
delete sets ``deleted_at`` (status unchanged) and restore clears it; both are history
entries; ownership is checked as for edits.

Edits and restores by someone who cannot publish follow ``app.services.content.review``:
an approved or published item goes back to review before the edit is written, and a
restored item comes back as a draft when its state was one only a publisher may give.

Slugs: a slug the client gives must be free in the collection (409 otherwise); a slug
generated from the title takes the first free ``-2``, ``-3``... suffix instead, also when
a concurrent create takes it first.

Concurrency: every write locks the item's row before checking it (``locks.py``), so two
writers of one item take turns: without a version each applies in turn (last writer
wins), with a version the second one finds it stale (409). An item whose
``version_number`` is NULL (a row written by hand with SQL) counts as version 1 (its next
write numbers it 2, or past the highest version it has stored: ``history.next_version``);
a client that read it so expects ``UNVERSIONED``, current only while the column is still
NULL. A write that validated ``data`` confirms in its transaction,
before it writes, that the collection's schema is still the one it validated against, and
validates again against the new one when a save changed it meanwhile (``locks.py``): no
value of a field's old type is stored after the save that changed the type committed.
Likewise a write naming a file it did not hold looks it up again in its transaction, the
file's row locked (``locks.hold_media``): a media purge committing after validation cannot
leave the item naming a file that is gone (the write's 422), nor go through once the
write holds the file (the purge's 409).

Services raise ``ContentError`` subclasses (``app.services.content.errors``) and the
workflow's ``WorkflowError``, never HTTP errors.
"""

from contextlib import contextmanager

import msgspec
import peewee

from app.db.models import Collection, Content, ContentVersion, database, new_id, now_ms
from app.db.rows import columns_of, fetch_models, insert_row, insert_rows, instance_row
from app.services.cache import Namespace, invalidate
from app.services.collections import SchemaChangeInProgress
from app.services.content import review, scheduling
from app.services.content.assignment_ends import TRASHED, assigned_to, end_assignment, end_on_purge
from app.services.content.defaults import defaults_added, fields_with_defaults, title_default_settled
from app.services.content.errors import (
    ContentConflict,
    ContentForbidden,
    ContentInvalid,
    ContentNotFound,
    VersionConflict,
)
from app.services.content.history import (
    DEFAULT_WORKFLOW_ID,
    WORKFLOW_OF,
    at_read_version,
    creation_row,
    next_version,
    record_creation,
    record_history,
    record_version,
    state_of,
    version_row,
    workflow_id_for,
)
from app.services.content.locks import (
    collection_while_unchanged,
    hold_media,
    hold_schema,
    hold_source,
    lock_row,
    schema_hold,
)
from app.services.content.prepare import COPIED, expected_slug, new_media, prepare_fields, slug_is_given
from app.services.content.query import Scope, get_item, is_visible, item_of, item_statement
from app.services.content.slugs import free_slug, slug_taken
from app.services.content.validation import schema_properties
from app.services.content.workflow import announce, transition
from app.services.plugins import hooks

STATUSES = ("draft", "published", "archived")
# Concurrent creates with one title each take the next suffix; this bounds the retries.
MAX_SLUG_ATTEMPTS = 50
# Schema saves landing between a create's read of its collection and its INSERT, each of
# which sends the create back to validate again: past this many, the create gives up.
MAX_SCHEMA_CHANGES = 5
# The wait a create refused so suggests (``Retry-After``): saves in a row end soon.
SCHEMA_RETRY_MS = 1000
# Fields a version restore brings back (status is the workflow's, not the editor's).
RESTORED_FIELDS = ("title", "slug", "data", "meta_title", "meta_description", "featured_image_id")
# Why ``purge(..., trashed_only=True)`` refuses a live item.
PURGE_LIVE_REFUSAL = "Only an item in the trash can be deleted permanently: move it to the trash first."
# What a schedule cancelled by its item's soft delete says (its ``error_message``).
TRASHED_SCHEDULE_REASON = "Cancelled: the item was moved to the trash; schedule it again once it is restored"


@contextmanager
def write_transaction(cache=None, namespaces=(Namespace.CONTENT,)):
    """``with write_transaction(cache):`` one transaction, then cache invalidation after commit.

    Use it as the outermost transaction: nested in another, the invalidation would run
    before the outer commit, and a reader could cache the old rows under the new generation.
    """
    with database.atomic():
        yield
    for namespace in namespaces:
        invalidate(cache, namespace)


def may_edit(user, content):
    """Admins and publishers edit anyone's content; everyone else only their own."""
    return user.is_admin or user.can("content.publish") or content.author_id == user.id


# ---------------------------------------------------------------- the API's writes


_COLLECTION_BY_REF = f'SELECT {columns_of(Collection)} FROM "collections" WHERE "id" = {{p}} OR "name" = {{p}} LIMIT 1'


# What a create reads in one query: its collection (and its schema as stored, the text the
# create's INSERT compares with: ``locks.collection_while_unchanged``), the collection's
# workflow (NULL: the default one) and the item holding the slug the create expects to
# take, if any (the unique index on collection and slug finds it). Parameters: the slug,
# then the ref twice.
_COLLECTION_ID = '"collections"."id"'
_COLLECTION_FOR_CREATE = (
    f'SELECT {columns_of(Collection, "collections")}, "collections"."schema" AS "schema_text"'
    + f', ({WORKFLOW_OF.format(collection=_COLLECTION_ID)}) AS "workflow_id",'
    ' "holder"."id" AS "slug_holder_id", "holder"."deleted_at" AS "slug_holder_deleted_at"'
    ' FROM "collections" LEFT JOIN "content" AS "holder"'
    ' ON "holder"."collection_id" = "collections"."id" AND "holder"."slug" = {p}'
    ' WHERE "collections"."id" = {p} OR "collections"."name" = {p} LIMIT 1')


def find_collection(ref):
    """The collection with id or name ``ref``, or None."""
    found = fetch_models(Collection, _COLLECTION_BY_REF, (ref, ref))
    return found[0] if found else None


def _collection_for_create(ref, slug):
    """``(collection, its workflow's id, {slug: its holder or None})`` for a create in ``ref``
    (id or name) expecting ``slug`` (None: nothing known); ``(None, None, None)`` without such a collection."""
    found = fetch_models(Collection, _COLLECTION_FOR_CREATE, (slug or "", ref, ref))
    if not found:
        return None, None, None
    collection = found[0]
    holder = None
    if collection.slug_holder_id is not None:
        holder = Content(id=collection.slug_holder_id, deleted_at=collection.slug_holder_deleted_at)
    return collection, collection.workflow_id or DEFAULT_WORKFLOW_ID, None if slug is None else {slug: holder}


def load_for_write(content_id, include_deleted=False, lock=False):
    """The content row ``content_id`` with its collection; ContentNotFound if missing (or deleted).

    Args:
        content_id: the content's id.
        include_deleted: find soft-deleted items too.
        lock: inside a write's transaction, lock the row until it ends (``locks.lock_row``).
    """
    if "\x00" in content_id:
        raise ContentNotFound("Content not found")
    query = (
        Content.select(Content, Collection)
        .join(Collection, on=(Content.collection == Collection.id))
        .where(Content.id == content_id)
    )
    content = lock_row(query).first() if lock else query.first()
    if content is None or (content.deleted_at is not None and not include_deleted):
        raise ContentNotFound("Content not found")
    return content


def create_content(user, collection_ref, fields, request_id=None):
    """Create content from ``fields`` (title, slug, status, data, featured_image_id,
    meta_title, meta_description) in ``collection_ref`` (id or name); returns the Content.

    Everything that only reads (the collection, validation, the slug, the workflow, the
    version's snapshot) is done before the transaction, so the transaction holds the
    write lock only to insert the item, its history entry and its version. A ``status``
    other than draft is the workflow's move out of draft, made in the same transaction
    (``transition``: 409 without such an edge, 403 without its permission).
    """
    return create_and_read(user, collection_ref, fields, None, request_id)[0]


def create_and_read(user, collection_ref, fields, scope, request_id=None, source=None):
    """``create_content``, and the new item as a caller of ``scope`` reads it then:
    ``(content, get_item(scope, content_id=content.id))``.

    A draft's read rides with its INSERTs (``insert_rows``: on PostgreSQL in the same
    round trip, the SELECT seeing the rows its own transaction wrote); a create that moves
    out of draft reads the item once its transaction committed. The read is the item as
    the create wrote it: the ``after_content_create`` hooks run after it (the core ones
    defer their work past the response and change no item).

    Args:
        scope: the reader's ``Scope``, or None to read nothing (the item is then None).
        source: the item a duplicate copies (``fields`` come from it): the reference values
            its ``data`` holds are not refused when gone (``prepare.prepare_fields``), and
            the copy is written only while the source is live and unchanged
            (``locks.hold_source``; VersionConflict otherwise).
    """
    held = None if source is None else source.data
    content_id = new_id()
    collection, workflow_id, known = _collection_for_create(collection_ref, expected_slug(fields, content_id))
    _check_writable(collection, collection_ref)
    status = fields.get("status") or "draft"
    # The hooks see the item as it will be stored, defaults filled in; what they change is
    # validated with the rest (``_prepare_new``). A title a hook gives replaces a title
    # default in data, as one sent by the client would have kept it out.
    sent = fields
    fields = fields_with_defaults(collection.schema, sent)
    hooks.before("content_create", user=user, collection=collection, fields=fields)
    fields = title_default_settled(collection.schema, sent, fields)
    now = now_ms()
    content = Content(
        id=content_id, collection=collection, author=user.id, status="draft", workflow_state="draft",
        created_at=now, updated_at=now, version_number=1,
    )
    generated = not slug_is_given(fields)
    named = _prepare_new(collection, fields, content, generated, known, held)
    # Each kind of refusal has its own budget, so that the answer says which one ran out.
    slug_clashes = schema_changes = 0
    while True:
        try:
            return _write_new(user, collection, content, status, workflow_id, request_id, now, scope, named, source)
        except peewee.IntegrityError as ex:
            changed = _collection_now(collection, ex)
            if changed is not None:
                schema_changes += 1
                if schema_changes > MAX_SCHEMA_CHANGES:
                    raise SchemaChangeInProgress(SCHEMA_RETRY_MS) from ex
                # A save changed the schema since it was read: nothing was written; the
                # fields are validated against the new schema (its new fields' defaults
                # filled in) and written under it, or refused by it.
                fields = defaults_added(collection.schema, changed.schema, fields)
                collection = content.collection = changed
                named = _prepare_new(collection, fields, content, generated, held=held)
                continue
            # A slug still free means the database refused something else (a foreign key,
            # a trigger): that error stands, its transaction rolled back. Only a concurrent
            # create taking a generated slug is retried (with the next free suffix); a taken
            # slug the client chose is its 409, saying what frees it as a later create's would.
            holder = slug_taken(collection.id, content.slug)
            if holder is None:
                raise
            if not generated:
                raise _slug_conflict(content.slug, deleted=holder.deleted_at is not None) from ex
            slug_clashes += 1
            if slug_clashes >= MAX_SLUG_ATTEMPTS:
                raise slug_race_lost("Too many concurrent writers took this title's slugs; retry") from ex
            named = _prepare_new(collection, fields, content, generated, held=held)  # now sees the slug taken


def _check_writable(collection, collection_ref):
    """Refuse a create into ``collection`` (found by ``collection_ref``; None: not found) when
    it does not exist or is inactive (ContentInvalid)."""
    if collection is None:
        raise ContentInvalid("Validation failed", [{"field": "collectionId",
                                                    "message": f"no collection {collection_ref!r}"}])
    if not collection.is_active:
        raise ContentInvalid("Validation failed", [{"field": "collectionId", "message": "the collection is inactive"}])


def _collection_now(collection, refusal):
    """``collection`` as stored now when its schema is no longer the one read before (a
    create's INSERT then found no collection and was refused), else None.

    Raises:
        ContentInvalid: the collection was deleted or deactivated meanwhile (``refusal`` is its cause).
    """
    now, _, _ = _collection_for_create(collection.id, None)
    try:
        _check_writable(now, collection.id)
    except ContentInvalid as ex:
        raise ex from refusal
    return now if now.schema_text != collection.schema_text else None


def _prepare_new(collection, fields, content, generated, known=None, held=None):
    """Validate ``fields`` into the new ``content`` (ContentInvalid) and check a given slug is
    free (409); the files it newly names (``prepare.new_media``), for ``_write_new`` to hold.

    ``known`` (``{slug: holder or None}``, read with the collection) saves looking that slug up
    again; ``held`` is ``create_and_read``'s.
    """
    values = prepare_fields(collection, fields, content.id, current=None,
                            unique_slug=lambda slug: free_slug(collection.id, slug, known), held=held)
    for name, value in values.items():
        setattr(content, name, value)
    if not generated:
        _check_slug(collection.id, content.slug, None, known)
    return new_media(collection, values, held=held)


def _write_new(user, collection, content, status, workflow_id, request_id, now, scope, named, source=None):
    """The create's transaction: the content row, its creation entry and its version (and a
    first move); ``(content, the item as scope reads it, or None)``.

    The content row is written only under the schema ``content`` was validated against
    (``_new_row``); under another one the INSERT is refused (IntegrityError) and nothing
    is written. The files it newly names (``named``) are looked up again under their lock
    first (``locks.hold_media``): one purged or trashed since is ContentInvalid; a copy's
    ``source`` is held too (``locks.hold_source``). A draft needs no move: its three rows go
    in through ``insert_rows`` (one round trip on PostgreSQL, the collection's lock and the
    item's read included, when it names no new file and copies nothing), and the ``after``
    hooks run once they are committed, as they would inside ``atomic()``.
    """
    if status == "draft":
        read = None if scope is None else item_statement(scope, content_id=content.id)
        rows = [_new_row(collection, content), creation_row(content, user.id, now, workflow_id),
                version_row(content, user.id, now)]
        if named or source is not None:
            with database.atomic():
                hold_schema(collection.id)
                if source is not None:
                    hold_source(source)
                hold_media(named)
                found = insert_rows(rows, then=read)
        else:
            found = insert_rows(rows, then=read, first=schema_hold(collection.id))
        hooks.after("content_create", user=user, content=content)
        return content, None if scope is None else item_of(found, scope)
    with database.atomic():
        hold_schema(collection.id)
        if source is not None:
            hold_source(source)
        hold_media(named)
        insert_row(*_new_row(collection, content))
        record_creation(content, user.id, now, workflow_id)
        move = transition(database, content.id, user, to_state=status, request_id=request_id, versioned=False,
                          announced=False)
        content = load_for_write(content.id)
        record_version(content, user.id, now)
        # Created before moved: a receiver hears of the item before its publication.
        hooks.after("content_create", user=user, content=content)
        announce(move, user, content)
    return content, None if scope is None else get_item(scope, content_id=content.id)


def _new_row(collection, content):
    """``(Content, values)`` of the new ``content``, naming ``collection`` only while its
    schema is the one read with it (``locks.collection_while_unchanged``)."""
    model, values = instance_row(content)
    return model, {**values, "collection": collection_while_unchanged(collection)}


class _Unversioned:
    """The type of ``UNVERSIONED``."""

    def __repr__(self):
        return "UNVERSIONED"


# The ``expected_version`` of a client that read an item whose ``version_number`` is NULL:
# None already means "no version given" (no check), and a number would never match NULL.
UNVERSIONED = _Unversioned()


def update_content(user, content_id, fields, expected_version=None, metadata=None, request_id=None,
                   collection_refs=()):
    """Apply ``fields`` to content ``content_id`` (PUT semantics: ``data`` replaces data).

    Args:
        user: the acting Principal.
        content_id: the content's id.
        fields: any of title, slug, status, data, featured_image_id, meta_title, meta_description.
        expected_version: the ``version_number`` the client edited (stale: VersionConflict),
            ``UNVERSIONED`` when it had none, or a tuple of them when any one will do (an
            ``If-Match`` list).
        metadata: extra history metadata.
        request_id: the request's id, for the log row of a status change.
        collection_refs: ``(field, id or name)`` pairs naming the item's collection, as a
            client sending back the item it read gives them; one naming another collection
            is ContentInvalid (an update moves no item to another collection).

    A ``status`` different from the current one is a workflow move (``transition``) in
    the same transaction; with nothing else to change, the move alone is the new version.
    The fields are validated against the row and its collection's schema as read before
    the transaction; the row locked inside it is checked again, and only a row or a schema
    changed in between is prepared again, under the locks (an update with ``data``, a
    ``title`` or a ``slug``, which may change ``data``, holds the schema first: ``locks.hold_schema``;
    so does any update while a ``before_content_update`` hook may add them).

    The ``before_content_update`` hooks may change ``fields`` (not its ``status``: the move
    is the caller's), as ``before_content_create``'s may: what they change is validated with
    the rest, and written.

    An update that changes nothing (no status move, every value as stored: an empty body,
    the item sent back as read) writes nothing: no version, no history entry, no
    ``after_content_update`` hooks; the item is returned as it is. Its ``expected_version``
    is checked all the same. With a status move, such values make no edit: the move alone
    is the new version.
    """
    status = fields.get("status")
    edits = _edits(fields)
    seen = load_for_write(content_id)
    _check_editable(user, seen, expected_version)
    _check_same_collection(seen.collection, collection_refs)
    values = prepare_fields(seen.collection, edits, seen.id, current=seen)
    workflow_id = workflow_id_for(seen.collection_id)
    hooked = hooks.before_running("content_update")
    with database.atomic():
        # A new title or slug may be copied into data (prepare.py): data is written then too.
        if _may_change_data(edits) or hooked:
            hold_schema(seen.collection_id)  # before anything touches content (locks.py)
        content = load_for_write(content_id, lock=True)
        _check_editable(user, content, expected_version)
        # As JSON, not a deep copy: a hook may change values nested in the fields, and data
        # may be nested deeper than a recursive copy goes.
        sent = _as_json(edits) if hooked else None
        hooks.before("content_update", user=user, content=content, fields=fields)
        if hooked and _as_json(_edits(fields)) != sent:
            edits = _edits(fields)
            values = prepare_fields(content.collection, edits, content.id, current=content)
        elif _changed_since(seen, content):
            values = prepare_fields(content.collection, edits, content.id, current=content)
        # Values sent back as stored are no edit: with a move, the move alone is the version.
        edited = not _changes_nothing(content, values)
        if edited:
            hold_media(new_media(content.collection, values, current=content))
        if status is None or status == content.status:
            if not edited:
                return content
            move = review.before_edit(database, content, user, request_id) if edits else None
            if move:
                content = load_for_write(content.id)
            return _write_update(user, content, values, metadata or {"action": "updated"}, workflow_id, move)
        if edited:
            review.withdraw_scheduled_publication(content, user)
        # Edited too, the move is announced by the edit, which numbers the row (_write_update).
        move = transition(database, content.id, user, to_state=status, request_id=request_id,
                          versioned=not edited, announced=not edited)
        moved = load_for_write(content.id)
        if not edited:
            return moved
        return _write_update(user, moved, values, metadata or {"action": "updated"}, workflow_id, move)


def restore_version(user, content_id, version, expected_version=None):
    """Bring back version ``version``'s title, slug, data and SEO fields as a NEW version.

    The data is validated inside the transaction, with the schema held (``locks.hold_schema``);
    its references are those the version holds, so content or files deleted since do not
    refuse it (``prepare.prepare_fields``'s ``held``)."""
    seen = load_for_write(content_id)  # its collection, whose schema is held first
    with database.atomic():
        hold_schema(seen.collection_id)
        content = load_for_write(content_id, lock=True)
        _check_editable(user, content, expected_version)
        row = ContentVersion.get_or_none((ContentVersion.content == content.id) & (ContentVersion.version == version))
        if row is None:
            raise ContentNotFound("Version not found")
        saved = row.data if isinstance(row.data, dict) else {}
        fields = {name: saved.get(name) for name in RESTORED_FIELDS if name in saved}
        fields["data"] = fields_the_schema_has(content.collection.schema, fields.get("data") or {})
        # What the version names was the item's: restored, it is no new reference.
        values = prepare_fields(content.collection, fields, content.id, current=content, saved=True,
                                held=saved.get("data"))
        hold_media(new_media(content.collection, values, current=content, held=saved.get("data")))
        move = review.before_edit(database, content, user)
        if move:
            content = load_for_write(content.id)
        return _write_update(user, content, values, {"action": "version_restored", "restored_from": version},
                             move=move)


def soft_delete(user, content_id, expected_version=None):
    """Set ``deleted_at``: the item disappears from reads until restored. Returns the Content.

    Its pending schedules are cancelled with it (each says why; the history entry counts
    them), and a restore does not bring them back: what was planned for the item may no
    longer hold by the time it leaves the trash.
    """
    with database.atomic():
        content = load_for_write(content_id, lock=True)
        check_trashable(user, content, expected_version)
        return trash(user, content)


def check_trashable(user, content, expected_version=None):
    """Refuse ``user`` moving ``content`` (locked in the caller's transaction) to the trash
    as ``soft_delete`` would (ContentNotFound, ContentForbidden, ContentConflict); then the
    ``before_content_delete`` hooks, whose ``HookVeto`` propagates. Writes nothing itself."""
    _check_editable(user, content, expected_version)
    hooks.before("content_delete", user=user, content=content)


def trash(user, content):
    """The soft delete's writes, in the caller's transaction, for ``content`` that passed
    ``check_trashable``: its pending schedules cancelled, ``deleted_at`` set, the history
    entry, its assignment ended (``assignment_ends``); the ``after_content_delete`` hooks
    once it commits. Returns the Content."""
    withdrawn = scheduling.withdraw_all(content.id, TRASHED_SCHEDULE_REASON)
    if withdrawn:
        content.scheduled_publish_at = content.scheduled_unpublish_at = None
    counted = {"cancelled_schedules": withdrawn} if withdrawn else {}
    trashed = _mark_deleted(user, content, now_ms(), "deleted", counted)
    end_assignment(trashed, user, state_of(trashed), TRASHED, trashed.updated_at)
    return trashed


def restore_deleted(user, content_id):
    """Clear ``deleted_at`` of a soft-deleted item. Returns the Content.

    The review rule may bring it back as a draft (``review.after_restore``): the
    ``after_content_restore`` hooks then see the draft, and that move's hooks follow them.
    """
    with database.atomic():
        content = load_for_write(content_id, include_deleted=True, lock=True)
        _check_editable(user, content, None)
        if content.deleted_at is None:
            raise ContentConflict("Content is not deleted")
        hooks.before("content_restore", user=user, content=content)
        restored = _mark_deleted(user, content, None, "restored", announced=False)
        move = review.after_restore(database, content, user)
        if move:
            restored = load_for_write(content.id)
        hooks.after("content_restore", user=user, content=restored)
        if move:
            announce(move, user, restored)
        return restored


def purge(user, content_id, *, trashed_only=False, expected_version=None):
    """Delete content for good, with its versions, history and schedules. Returns its id.

    With ``expected_version`` (an ``If-Match``), an item at another version is refused
    (VersionConflict): a purge is the last write an item gets, and must not follow one the
    caller has not seen.

    With ``trashed_only`` (the admin's button), an item not in the trash is refused
    (ContentConflict), checked on the locked row so a restore just before cannot slip through.

    An item purged without going through the trash first is deleted as a soft delete
    would be, hooks included (``before_content_delete`` may veto it; ``after_content_delete``
    and, for a published item, ``after_content_unpublish`` follow): otherwise a published
    page would vanish with no event at all. One purged from the trash had its delete hooks then.
    An assignment the item still has ends with it: its ``after_content_assign`` hooks follow
    (``ended_by`` ``purged``), as the trash's would.
    """
    with database.atomic():
        content = load_for_write(content_id, include_deleted=True, lock=True)
        _check_version(content, expected_version)
        live = content.deleted_at is None
        if live and trashed_only:
            raise ContentConflict(PURGE_LIVE_REFUSAL)
        if live:
            hooks.before("content_delete", user=user, content=content)
        assignee_id = assigned_to(content)  # read before the cascade takes it
        ContentVersion.delete().where(ContentVersion.content == content.id).execute()
        # workflow_history, scheduled_content and content_assignments rows go by ON DELETE CASCADE.
        Content.delete().where(Content.id == content.id).execute()
        if live:
            hooks.after("content_delete", user=user, content=content)
            if content.status == "published":
                hooks.after("content_unpublish", user=user, content=content)
        # After the delete's hooks: the end of the assignment follows what ended it.
        end_on_purge(content, user, assignee_id)
    return content.id


def fields_the_schema_has(schema, data):
    """``data`` without the values of top-level fields ``schema`` no longer declares (renamed
    or removed since they were saved), for a write made of stored values: a version restored
    (versions are not edited; the version keeps them) or an item's copy (the source keeps
    them). A free-form schema (no ``properties``) keeps every value."""
    declared = schema_properties(schema)
    if declared is None or not isinstance(data, dict):
        return data
    return {name: value for name, value in data.items() if name in declared}


# ---------------------------------------------------------------- internals


def _edits(fields):
    """An update's ``fields`` but its ``status`` (a workflow move, not an edit)."""
    return {name: value for name, value in fields.items() if name != "status"}


def _may_change_data(edits):
    """Whether ``edits`` may write ``data``: they send it, or a title or slug copied into it."""
    return any(edits.get(name) is not None for name in ("data", *COPIED))


def _as_json(value):
    """``value`` as JSON, keys sorted: two values stored alike have the same (Python's ``==``
    takes ``1`` for ``true`` and ``1.0`` for ``1``, which a stored document tells apart)."""
    return msgspec.json.encode(value, order="sorted")


def _same_json(one, other):
    """Whether ``one`` and ``other`` are stored as the same JSON (``_as_json``)."""
    return _as_json(one) == _as_json(other)


def _changes_nothing(content, values):
    """Whether writing ``values`` (``prepare_fields``'s) leaves ``content`` as it is stored.

    The same idea as a title or slug sent back as it is (``prepare.py``): a value equal to
    the stored one is no change, so an update made only of such values is no edit, and
    bumps no version (every edit and move does)."""
    return all(_same_json(value, getattr(content, "featured_image_id" if name == "featured_image" else name))
               for name, value in values.items())


def _changed_since(seen, content):
    """Whether the item, or its collection's schema, changed between the read ``seen`` and
    the read ``content`` made under the write's locks."""
    return ((content.version_number, content.updated_at, content.collection.schema)
            != (seen.version_number, seen.updated_at, seen.collection.schema))


def refuse(user, content, message):
    """Refuse ``user`` an item they may not change: 404 when they cannot read it either, as
    reading it answers (its existence stays hidden), else 403 with ``message``."""
    if not is_visible(Scope.of(user), content.id):
        raise ContentNotFound("Content not found")
    raise ContentForbidden(message)


def _check_editable(user, content, expected_version):
    if not content.collection.is_active and not Scope.of(user).see_all:
        # A deactivated collection's items are withdrawn from all but editors and admins,
        # for writes as for reads.
        raise ContentNotFound("Content not found")
    if not may_edit(user, content):
        refuse(user, content, "You may only change your own content")
    _check_version(content, expected_version)


def _check_version(content, expected_version):
    """Refuse a write made against another version than ``content``'s (VersionConflict)."""
    if _stale(expected_version, content.version_number):
        raise VersionConflict("Version conflict: the content was changed since you read it",
                              {"current_version": content.version_number, **_yours(expected_version)})


def _as_sent(version):
    """A version as a conflict's details give it: null for ``UNVERSIONED``."""
    return None if version is UNVERSIONED else version


def _yours(expected_version):
    """What a conflict's details say the client expected: ``your_version``, or ``your_versions``
    when it named several (an ``If-Match`` list), in the order it named them."""
    if isinstance(expected_version, tuple):
        return {"your_versions": [_as_sent(version) for version in expected_version]}
    return {"your_version": _as_sent(expected_version)}


def _check_same_collection(collection, refs):
    # No need to check again under the row's lock: an item never changes collection.
    wrong = [field for field, ref in refs if ref not in (collection.id, collection.name)]
    if wrong:
        raise ContentInvalid("Validation failed", [
            {"field": field, "message": "does not name this item's collection: an item cannot move to another one"}
            for field in wrong])


def _stale(expected_version, current):
    """Whether a client that read ``expected_version`` (None: it gave none; a tuple: any one
    of them) edits a stale item now at ``current``: ``UNVERSIONED`` matches a NULL
    ``version_number`` only."""
    if expected_version is None:
        return False
    accepted = expected_version if isinstance(expected_version, tuple) else (expected_version,)
    return (UNVERSIONED if current is None else current) not in accepted


def _check_slug(collection_id, slug, exclude_id, known=None):
    holder = slug_taken(collection_id, slug, exclude_id, known)
    if holder is not None:
        raise _slug_conflict(slug, deleted=holder.deleted_at is not None)


def _slug_conflict(slug, deleted=False):
    """The 409 of a taken ``slug``: ``details`` is ``[{field, message, slug}]`` on ``slug``,
    the shape of every field's problem, the message saying what frees it when a deleted
    item holds it."""
    message = "A content item with this slug already exists in this collection"
    why = ("a deleted item holds this slug: restore or purge it first" if deleted
           else "another item of this collection has this slug")
    return ContentConflict(message, [{"field": "slug", "message": why, "slug": slug}])


def slug_race_lost(message):
    """The 409 of a generated slug taken by concurrent writers at every try (a create, a
    copy): ``details`` names ``slug``, as a taken slug's does, so a caller can tell it apart."""
    return ContentConflict(message, [{"field": "slug", "message": "taken by another write at each try; retry"}])


def _write_update(user, content, values, metadata, workflow_id=None, move=None):
    """Write ``values`` to ``content`` (locked) as its next version, with its history entry;
    the ``after_content_update`` hooks once it commits. ``move``: the workflow move made in
    the same transaction and left unannounced (``workflow.announce``), announced here with
    the row this edit numbered, after the edit's own hooks. Returns the updated Content."""
    now = now_ms()
    from_state = state_of(content)
    if values["slug"] != content.slug:
        _check_slug(content.collection_id, values["slug"], content.id)
    changes = {getattr(Content, name): value for name, value in values.items()}
    changes[Content.version_number] = next_version(content)
    changes[Content.updated_at] = now
    # Guarded by what was read, although the row is locked since (locks.py): a write that
    # bypassed the lock then makes this match nothing instead of being overwritten.
    try:
        with database.atomic():
            changed = (
                Content.update(changes)
                .where((Content.id == content.id) & at_read_version(content)
                       & (Content.updated_at == content.updated_at))
                .execute()
            )
    except peewee.IntegrityError as ex:
        # Another write took the slug since it was found free (PostgreSQL: a create
        # committing meanwhile). A slug still free means something else refused the row:
        # that error stands (the savepoint is undone, the transaction still usable).
        holder = slug_taken(content.collection_id, values["slug"], content.id)
        if holder is None:
            raise
        raise _slug_conflict(values["slug"], deleted=holder.deleted_at is not None) from ex
    if changed != 1:
        raise VersionConflict("Version conflict: the content was changed meanwhile; reload it and retry")
    updated = load_for_write(content.id)
    record_version(updated, user.id, now)
    to_state = state_of(updated)
    record_history(updated, from_state, to_state, user.id, None,
                   {**metadata, "version": updated.version_number}, now, workflow_id=workflow_id)
    hooks.after("content_update", user=user, content=updated)
    if move is not None:
        announce(move, user, updated)
    return updated


def _mark_deleted(user, content, deleted_at, action, metadata=None, announced=True):
    """Set ``deleted_at`` of ``content`` (None: restore it) with its history entry; then its
    ``after_content_delete`` or ``after_content_restore`` hooks (``announced``; False: the
    caller runs them, once the rest of its write is done). Returns ``content``, updated."""
    now = now_ms()
    Content.update({Content.deleted_at: deleted_at, Content.updated_at: now}).where(Content.id == content.id).execute()
    content.deleted_at, content.updated_at = deleted_at, now
    state = state_of(content)
    record_history(content, state, state, user.id, None, {"action": action, **(metadata or {})}, now)
    if announced:
        hooks.after("content_delete" if action == "deleted" else "content_restore", user=user, content=content)
    return content
