"""Reading content versions: the list (newest first) and one version's full snapshot.

Versions may hold unpublished work: only callers who may edit the item read them (its
author, publishers, admins); soft-deleted items' versions only for publishers.
"""

from app.db.models import ContentVersion, User
from app.services.content.errors import ContentNotFound
from app.services.content.history import snapshot
from app.services.content.query import Scope
from app.services.content.writes import load_for_write, may_edit, refuse
from app.services.display_names import display_name
from app.services.pagination import pagination_meta


def _version_row(row, current, full):
    saved = row.data if isinstance(row.data, dict) else {}
    version = {
        "version": row.version,
        "content_id": row.content_id,
        "created_at": row.created_at,
        "author": {"id": row.author_id, "name": display_name(row.author.first_name, row.author.last_name,
                                                             row.author.username)},
        "is_current": row.version == current,
        "title": saved.get("title"),
        "slug": saved.get("slug"),
        "status": saved.get("status"),
    }
    if full:
        for name in (
            "data", "workflow_state_id", "meta_title", "meta_description", "featured_image_id", "published_at",
        ):
            version[name] = saved.get(name)
    return version


def _versions_query(content_id):
    return (
        ContentVersion.select(ContentVersion, User.id, User.first_name, User.last_name, User.username)
        .join(User, on=(ContentVersion.author == User.id))
        .where(ContentVersion.content == content_id)
    )


def list_versions(user, content_id, limit, offset):
    """``{"data": [...], "meta": {...}}`` of the versions of ``content_id``, newest first."""
    content = _content_for_versions(user, content_id)
    total = ContentVersion.select().where(ContentVersion.content == content_id).count()
    rows = _versions_query(content_id).order_by(ContentVersion.version.desc()).limit(limit).offset(offset or None)
    data = [_version_row(row, content.version_number, False) for row in rows]
    return {
        "data": data,
        "meta": {"count": len(data), **pagination_meta(total, limit, offset // limit + 1, has_prev=offset > 0,
                                                       has_next=offset + len(data) < total),
                 "offset": offset, "current_version": content.version_number},
    }


def get_version(user, content_id, version):
    """One version of ``content_id`` with its full snapshot; None when it does not exist."""
    content = _content_for_versions(user, content_id)
    row = _versions_query(content_id).where(ContentVersion.version == version).first()
    return None if row is None else _version_row(row, content.version_number, True)


def current_version(user, content_id):
    """The item ``content_id`` as it stands, with the snapshot fields of ``get_version``: its
    current version; for an item whose ``version_number`` is NULL (a row written by hand with
    SQL), which no version row holds, the row itself (``version`` None); None when the
    version row of a numbered item is missing."""
    content = _content_for_versions(user, content_id)
    if content.version_number is not None:
        return get_version(user, content_id, content.version_number)
    return {"version": None, "content_id": content.id, "created_at": content.updated_at, "is_current": True,
            **snapshot(content)}


def _content_for_versions(user, content_id):
    content = load_for_write(content_id, include_deleted=Scope.of(user).see_all)
    if not may_edit(user, content):
        refuse(user, content, "You may only read the versions of your own content")
    if content.deleted_at is not None and not Scope.of(user).see_all:
        raise ContentNotFound("Content not found")
    return content
