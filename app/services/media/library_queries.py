"""The media library's reads and row-only writes: filtered pages, lookups, metadata, bulk delete.

Writes that touch the bucket too (upload, purge) live in ``storage`` and ``uploads``; so does
a move (and an edit that moves too), which writes the row only but must not race a purge.
The callers invalidate the ``media`` cache namespace after these writes commit
(``MediaLibrary.changed``).
"""

import operator
from dataclasses import dataclass
from functools import reduce

import peewee

from app.db.database import locked
from app.db.models import Media, database, now_ms
from app.db.text_match import contains_any_case
from app.services.media.errors import changed_meanwhile
from app.services.media.tag_match import tag_contains
from app.services.media.visibility import published_condition

MAX_ID_LENGTH = 64
SORT_FIELDS = {"uploadedAt": Media.uploaded_at, "size": Media.size, "name": Media.original_name}
DEFAULT_SORT = "-uploadedAt"
# ``original_name`` is the name shown and downloaded; renaming never touches the stored key.
METADATA_FIELDS = {"alt": Media.alt, "caption": Media.caption, "tags": Media.tags, "original_name": Media.original_name}


@dataclass(frozen=True)
class MediaFilter:
    """Which files ``list_media`` returns, and in what order.

    Attributes:
        deleted: the trash (soft-deleted files) instead of the live files.
        uploaded_by: only the uploads of this user id.
        folder: only files in this folder (exact).
        type_prefixes: only files whose MIME type starts with one of these.
        search: only files with this text in their original name, alt or caption, or in
            one of their tags (``tag_match``).
        sort: a name of ``SORT_FIELDS``, prefixed with ``-`` for descending.
        visible_to: when set (a user id), only published files and that user's uploads
            (``visibility``: callers outside the editorial team).
    """

    deleted: bool = False
    uploaded_by: str | None = None
    folder: str | None = None
    type_prefixes: tuple = ()
    search: str | None = None
    sort: str = DEFAULT_SORT
    visible_to: str | None = None


def list_media(filters, page, limit):
    """A page of the files ``filters`` selects: ``(rows, total)``; ties broken by id, newest first."""
    return list_media_from(filters, (page - 1) * limit, limit)


def list_media_from(filters, offset, limit):
    """``limit`` files ``filters`` selects after the first ``offset``: ``(rows, total)``, in
    ``list_media``'s order."""
    where = reduce(operator.and_, _conditions(filters))
    total = Media.select().where(where).count()
    rows = Media.select().where(where).order_by(_order(filters.sort), Media.id.desc()).limit(limit).offset(offset)
    return list(rows), total


def _conditions(filters):
    conditions = [Media.deleted_at.is_null(not filters.deleted)]
    if filters.uploaded_by is not None:
        conditions.append(Media.uploaded_by == filters.uploaded_by)
    if filters.visible_to is not None:
        conditions.append(published_condition() | (Media.uploaded_by == filters.visible_to))
    if filters.folder:
        conditions.append(Media.folder == filters.folder)
    if filters.type_prefixes:
        conditions.append(reduce(operator.or_, [Media.mime_type.startswith(p) for p in filters.type_prefixes]))
    if filters.search:
        # In any case, every letter's (SQLite's LIKE folds ASCII only); % and _ match themselves.
        conditions.append(
            contains_any_case(Media.original_name, filters.search) | contains_any_case(Media.alt, filters.search)
            | contains_any_case(Media.caption, filters.search) | tag_contains(filters.search)
        )
    return conditions


def _order(sort):
    column = SORT_FIELDS[sort.lstrip("-")]
    return column.desc() if sort.startswith("-") else column.asc()


def find(media_id):
    """The media row ``media_id`` (deleted or not), or None."""
    if len(media_id) > MAX_ID_LENGTH:
        return None
    return Media.get_or_none(Media.id == media_id)


def rows_by_id(ids, live_only=False):
    """``{id: row}`` of the rows among ``ids`` that exist (and are live, with ``live_only``)."""
    query = Media.select().where(Media.id.in_(ids))
    if live_only:
        query = query.where(Media.deleted_at.is_null())
    return {row.id: row for row in query}


def folders(visible_to=None):
    """``[(folder, live file count)]`` by folder name; with ``visible_to`` (a user id), only
    the folders of files that user may see (published files and their own uploads)."""
    where = Media.deleted_at.is_null()
    if visible_to is not None:
        where &= published_condition() | (Media.uploaded_by == visible_to)
    count = peewee.fn.COUNT(Media.id)
    query = Media.select(Media.folder, count.alias("files")).where(where).group_by(Media.folder).order_by(Media.folder)
    return [(row.folder, row.files) for row in query]


def _live_in_id_order(ids):
    """The live rows of ``ids`` in the order of their ids, which is the order PostgreSQL locks
    them in: every write locking several files (a content write holding the files it names
    does too) takes them in that one order, so two of them never wait for each other in a
    circle. Without it the plan's order (a folder index's) decides."""
    return Media.select().where(Media.id.in_(ids), Media.deleted_at.is_null()).order_by(Media.id)


def _lock_all_live(ids):
    """The live rows of ``ids``, locked, inside the caller's transaction; MediaConflict
    unless every one of them is there and live (moved to the trash or purged since the
    caller judged them: the whole write is refused)."""
    live = list(locked(_live_in_id_order(ids)))
    if len(live) != len(set(ids)):
        raise changed_meanwhile()
    return live


def soft_delete_all(ids):
    """Soft-delete every row of ``ids`` in one transaction, or none of them.

    Returns:
        The rows deleted, as they are now.

    Raises:
        MediaConflict: one of them is gone or in the trash already; nothing was changed.
    """
    stamp = now_ms()
    with database.atomic():
        live = _lock_all_live(ids)
        Media.update(deleted_at=stamp, updated_at=stamp).where(Media.id.in_([row.id for row in live])).execute()
    for row in live:
        row.deleted_at, row.updated_at = stamp, stamp
    return live


def move_all(ids, folder):
    """Put every row of ``ids`` in ``folder`` (a checked name) in one transaction, or none.

    Only the rows change, as for one move: keys and URLs stay as they are. A row already in
    ``folder`` is left as it is.

    Returns:
        The rows that changed folder, as they are now.

    Raises:
        MediaConflict: one of them is gone or in the trash; nothing was changed.
    """
    stamp = now_ms()
    with database.atomic():
        moving = [row for row in _lock_all_live(ids) if row.folder != folder]
        if moving:
            Media.update(folder=folder, updated_at=stamp).where(Media.id.in_([row.id for row in moving])).execute()
    for row in moving:
        row.folder, row.updated_at = folder, stamp
    return moving


def soft_delete_many(ids):
    """Soft-delete the live rows among ``ids``, all in one transaction.

    Returns:
        The rows this call deleted (as they are now), so each gets its ``after_media_delete``
        hook once: a row another request deleted meanwhile is not among them.
    """
    stamp = now_ms()
    with database.atomic():
        # Locked, then updated by id: the rows read are exactly the rows changed.
        live = list(locked(_live_in_id_order(ids)))
        if live:
            Media.update(deleted_at=stamp, updated_at=stamp).where(Media.id.in_([row.id for row in live])).execute()
    for row in live:
        row.deleted_at, row.updated_at = stamp, stamp
    return live

