"""Who sees which media file: the library's visibility rule.

A CMS embeds its files in public pages, so the files of published content must keep
working for anonymous readers; a file used only by drafts is unpublished work and must
not leak through the library or ``/files``.

* A file is *published* when live published content (not soft-deleted, in an active
  collection) uses it: as its featured image, or by naming it in its ``data``: a string
  value that is the file's id or key (a ``media`` field, a list of ids), or that holds a
  ``/files/<key>`` URL of the file or of its thumbnail (rich text, absolute URLs). The
  exact rule is ``app.db.content_media``'s.
* The editorial team, holders of ``media.upload`` (admin, editor, author), sees the whole
  library: they pick files for content that is not published yet.
* Everyone else (viewers) lists and reads only published files and their own uploads;
  anonymous callers get only published files from ``/files``.

Whether a file is published is one correlated ``EXISTS`` of two queries, each answered by
indexes at any depth: first as featured image, a lookup in ``content.featured_image_id``'s
index, which answers for most public files; then through ``content_media``, the files each
content row names (kept by triggers on content), looked up by the file's id, each row found
checked in content's primary key for being live and published. A viewer's library page and
its count evaluate it per file, so it may not read content's JSON (that was a scan of every
published row for each file named by none), nor pass over content once per request (what
PostgreSQL chose for two separate ``EXISTS``, see ``published_condition``). Callers that
answer anonymous traffic cache the answer in the ``content`` namespace, which every content
and media write invalidates.
"""

from peewee import SQL, fn

from app.db.models import Collection, Content, ContentMedia, Media

LIBRARY_PERMISSION = "media.upload"
READ_PERMISSION = "media.read"  # without it (an API token scoped to other things) one's own uploads are not read


def sees_whole_library(user):
    """Whether ``user`` (a Principal, or None when anonymous) sees every file."""
    return user is not None and (user.is_admin or user.can(LIBRARY_PERMISSION))


def published_condition():
    """A condition on ``Media`` rows: some live published content uses the file."""
    # A deactivated collection's content is withdrawn from the public, and so are its files
    # (NOT IN the few inactive ones, as content lists say it).
    withdrawn = Collection.select(Collection.id).where(Collection.is_active == False)  # noqa: E712
    live = (Content.status == "published") & Content.deleted_at.is_null() & Content.collection.not_in(withdrawn)
    # Apart: in one WHERE the OR kept the featured image from being looked up by its index.
    featured = Content.select(SQL("1")).where(live & (Content.featured_image == Media.id))
    # The rows naming the file first, each then checked by content's primary key: as a
    # join, SQLite (no statistics) walked every published row and probed for the file.
    live_row = Content.select(SQL("1")).where((Content.id == ContentMedia.content_id) & live)
    named = ContentMedia.select(SQL("1")).where((ContentMedia.media_id == Media.id) & fn.EXISTS(live_row))
    # One EXISTS of a UNION ALL, not two EXISTS: PostgreSQL may answer a simple EXISTS
    # under an OR with a hash of every match, built by one pass over published content per
    # request, which it chose for a library's count (and page) from a few thousand items
    # on. A UNION ALL cannot be made such a hash, so both databases look each file up by
    # the indexes above; the featured image is still asked first, and the first row found
    # ends the EXISTS.
    return fn.EXISTS(featured + named)


def sees_own_uploads(user):
    """Whether ``user`` sees the files they uploaded, published or not: while their credential
    grants reading media (a narrowly scoped API token does not)."""
    return user is not None and user.can(READ_PERMISSION)


def visible_condition(user):
    """A condition limiting ``Media`` rows to what ``user`` may see (``may_see``'s rule); None
    for the whole library."""
    if sees_whole_library(user):
        return None
    if sees_own_uploads(user):
        return published_condition() | (Media.uploaded_by == user.id)
    return published_condition()


def is_published(media_id):
    """Whether the file ``media_id`` is used by live published content."""
    return Media.select(Media.id).where((Media.id == media_id) & published_condition()).exists()


def team_or_uploader(user, row):
    """Whether ``user`` sees media ``row`` whether or not it is published: the team, and the
    uploader while their credential grants reading media (a narrowly scoped API token does not)."""
    if sees_whole_library(user):
        return True
    return sees_own_uploads(user) and row.uploaded_by_id == user.id


def may_see(user, row, published=None):
    """Whether ``user`` may see media ``row``.

    Args:
        user: the caller's Principal, or None.
        row: the Media row.
        published: a callable ``(media_id) -> bool`` (default ``is_published``), so that
            callers may put a cache in front of it.
    """
    return team_or_uploader(user, row) or (published or is_published)(row.id)
