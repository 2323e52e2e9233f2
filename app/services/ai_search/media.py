"""Media files found by a search, when the ``ai-search`` plugin's ``index_media`` is on.

A file is found when every word of the query (``search=``'s words, ``parse_search``) is in
its original name, alt text, caption or one of its tags (each tag's value, as the media
library's search reads them: ``tag_match``), in any case, as a whole word or a part of one
(``bik`` finds ``bike.jpg``). The caller sees the files the media library shows them
(``app.services.media.visibility``): the editorial team every file, anyone else the files
live published content uses, plus, with ``media.read``, their own uploads. The trash is
never searched.

Cost: only the ``SCAN`` most recently uploaded live files are looked at, read in the order
of the library's own index (``idx_media_live_uploaded``), so that no search, however many
files a library holds, reads more rows than that (a file's tags are read from its own
row, ``tag_match``); whether a file is public is asked only of the files whose words
match (two index lookups each, ``visible_condition``). Older files are not found. A
full-text index of media (a table kept by triggers on both databases) would find them too,
at the price of one more derived structure to keep right on every write path; a library's
newest files are the ones a search is asked for.
"""

import functools
import operator

from app.db.models import Media
from app.db.text_match import contains_any_case
from app.services.content.search import parse_search
from app.services.media.tag_match import tag_contains
from app.services.media.visibility import sees_own_uploads, sees_whole_library, visible_condition

# The newest live files a search looks at (the most rows one reads).
SCAN = 1000


def found_media(query, user, limit):
    """``{media, media_total}``: at most ``limit`` files ``user`` may see whose metadata holds
    every word of ``query``, newest first, and how many of the ``SCAN`` newest live files match.

    Args:
        query: the search text (``search=``'s syntax; a text without a word finds nothing).
        user: the caller's Principal, or None when anonymous.
        limit: the most files answered.
    """
    words = [word for term in parse_search(query) for word in term.words]
    if not words:
        return {"media": [], "media_total": 0}
    where = _matching(words)
    visible = visible_condition(user)
    if visible is not None:
        where &= visible
    window = _newest_live()
    matches = Media.select().where(Media.id.in_(window) & where)
    rows = matches.order_by(Media.uploaded_at.desc(), Media.id.desc()).limit(limit)
    return {"media": [media_result(row) for row in rows], "media_total": matches.count()}


def _newest_live():
    """The ids of the ``SCAN`` newest live files, read from the library's index."""
    newest = Media.alias("newest")
    return (newest.select(newest.id).where(newest.deleted_at.is_null())
            .order_by(newest.uploaded_at.desc(), newest.id.desc()).limit(SCAN))


def _matching(words):
    """Every word in the file's original name, alt text or caption, or in one of its tags."""
    return functools.reduce(operator.and_, [_holds(word) for word in words])


def _holds(word):
    return (contains_any_case(Media.original_name, word) | contains_any_case(Media.alt, word)
            | contains_any_case(Media.caption, word) | tag_contains(word))


def sees_public_media_only(user):
    """Whether ``user`` (None: anonymous) finds the files the public finds, and no other."""
    return not sees_whole_library(user) and not sees_own_uploads(user)


def media_result(row):
    """One file found: its metadata and its URLs (the ``/files`` URLs, which answer the caller
    as the search did)."""
    return {
        "id": row.id,
        "filename": row.filename,
        "original_name": row.original_name,
        "mime_type": row.mime_type,
        "alt": row.alt,
        "caption": row.caption,
        "tags": row.tags if isinstance(row.tags, list) else [],
        "url": row.public_url,
        "thumbnail_url": row.thumbnail_url,
        "width": row.width,
        "height": row.height,
        "uploaded_at": row.uploaded_at,
    }
