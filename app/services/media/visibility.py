"""Who sees which media file: the library's visibility rule.

A CMS embeds its files in public pages, so the files of published content must keep
working for anonymous readers; a file used only by drafts is unpublished work and must
not leak through the library or ``/files``.

* A file is *published* when live published content (not soft-deleted, in an active
  collection) uses it: as its featured image, or by naming the file's id (a ``media``
  field) or its storage key (an embedded ``/files/<key>`` URL, which a thumbnail's key also
  contains the id of) anywhere in its ``data``.
* The editorial team, holders of ``media.upload`` (admin, editor, author), sees the whole
  library: they pick files for content that is not published yet.
* Everyone else (viewers) lists and reads only published files and their own uploads;
  anonymous callers get only published files from ``/files``.

Whether a file is published is two correlated ``EXISTS`` over published content: first as
featured image, a lookup in ``content.featured_image_id``'s index, which answers for most
public files; only then by its id or key in ``data``, which reads the published rows' JSON
until one names it. Callers that answer anonymous traffic cache the answer in the
``content`` namespace, which every content and media write invalidates.
"""

from peewee import SQL, fn

from app.db.database import is_postgres
from app.db.models import Collection, Content, Media, database

LIBRARY_PERMISSION = "media.upload"
READ_PERMISSION = "media.read"  # without it (an API token scoped to other things) one's own uploads are not read


def sees_whole_library(user):
    """Whether ``user`` (a Principal, or None when anonymous) sees every file."""
    return user is not None and (user.is_admin or user.can(LIBRARY_PERMISSION))


def published_condition():
    """A condition on ``Media`` rows: some live published content uses the file."""
    contains = fn.strpos if is_postgres(database.obj) else fn.instr  # (haystack, needle) on both
    # A deactivated collection's content is withdrawn from the public, and so are its files
    # (NOT IN the few inactive ones, as content lists say it).
    withdrawn = Collection.select(Collection.id).where(Collection.is_active == False)  # noqa: E712
    live = (Content.status == "published") & Content.deleted_at.is_null() & Content.collection.not_in(withdrawn)
    # Apart: in one EXISTS the OR kept the featured image from being looked up by its index.
    featured = Content.select(SQL("1")).where(live & (Content.featured_image == Media.id))
    named = Content.select(SQL("1")).where(
        live & ((contains(Content.data, Media.id) > 0) | (contains(Content.data, Media.r2_key) > 0))
    )
    return fn.EXISTS(featured) | fn.EXISTS(named)


def visible_condition(user):
    """A condition limiting ``Media`` rows to what ``user`` may see; None for the whole library."""
    if sees_whole_library(user):
        return None
    if user is None:
        return published_condition()
    return published_condition() | (Media.uploaded_by == user.id)


def is_published(media_id):
    """Whether the file ``media_id`` is used by live published content."""
    return Media.select(Media.id).where((Media.id == media_id) & published_condition()).exists()


def team_or_uploader(user, row):
    """Whether ``user`` sees media ``row`` whether or not it is published: the team, and the
    uploader while their credential grants reading media (a narrowly scoped API token does not)."""
    if sees_whole_library(user):
        return True
    return user is not None and row.uploaded_by_id == user.id and user.can(READ_PERMISSION)


def may_see(user, row, published=None):
    """Whether ``user`` may see media ``row``.

    Args:
        user: the caller's Principal, or None.
        row: the Media row.
        published: a callable ``(media_id) -> bool`` (default ``is_published``), so that
            callers may put a cache in front of it.
    """
    return team_or_uploader(user, row) or (published or is_published)(row.id)
