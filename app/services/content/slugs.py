"""Content slugs: SonicJS's normalisation, and uniqueness within a collection.

SonicJS lowercases, strips ``[^a-z0-9\\s-]`` and turns whitespace into ``-``. Here accents
are folded first (``Café`` -> ``cafe``, not ``caf``), runs of dashes collapse and edge
dashes go. The unique index ``idx_content_collection_slug`` (migration 0008) is the final
guard against two writers racing; ``slug_taken`` gives the friendly 409 before it.

A slug the client chose must be free (409 otherwise: the client asked for that URL). A
slug generated from the title is only a convenience, so ``free_slug`` gives it the first
free ``-2``, ``-3``... suffix instead of refusing the item.
"""

import re
import unicodedata

from app.db.models import Content

MAX_SLUG_LENGTH = 200
# Room kept for a "-<n>" suffix when a long generated slug is made unique.
SUFFIX_ROOM = 10
_STRIP = re.compile(r"[^a-z0-9\s-]")
_SPACES = re.compile(r"\s+")
_DASHES = re.compile(r"-{2,}")


def normalize_slug(text):
    """The slug form of ``text`` ("" when nothing usable is left)."""
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    slug = _STRIP.sub("", folded.lower())
    slug = _SPACES.sub("-", slug.strip())
    slug = _DASHES.sub("-", slug).strip("-")
    return slug[:MAX_SLUG_LENGTH].rstrip("-")


def slug_from_title(title, fallback_id):
    """A slug generated from ``title``; titles without Latin letters or digits get ``item-<id>``."""
    return normalize_slug(title) or f"item-{fallback_id[:8]}"


def slug_taken(collection_id, slug, exclude_id=None):
    """The id of another item of the collection holding ``slug`` (deleted ones too), or None."""
    query = Content.select(Content.id, Content.deleted_at).where(
        (Content.collection == collection_id) & (Content.slug == slug)
    )
    if exclude_id is not None:
        query = query.where(Content.id != exclude_id)
    return query.first()


def free_slug(collection_id, slug):
    """``slug`` if no item of the collection holds it, else the first free ``slug-2``, ``slug-3``...

    Deleted items count (they keep their slug until purged). One query fetches every
    slug sharing the prefix, so a title used a hundred times costs no more than one.
    """
    prefix = slug[:MAX_SLUG_LENGTH - SUFFIX_ROOM]
    taken = {
        row[0] for row in Content.select(Content.slug)
        .where((Content.collection == collection_id) & Content.slug.startswith(prefix))
        .tuples()
    }
    n = 1
    candidate = slug
    while candidate in taken:
        n += 1
        suffix = f"-{n}"
        candidate = slug[:MAX_SLUG_LENGTH - len(suffix)].rstrip("-") + suffix
    return candidate
