"""Content slugs: SonicJS's normalisation, and uniqueness within a collection.

SonicJS lowercases, strips ``[^a-z0-9\\s-]`` and turns whitespace into ``-``. Here accents
are folded first (``Café`` -> ``cafe``, not ``caf``), the Latin letters that have no ASCII
decomposition are spelled out (``app.services.ascii_text``: ``Straße`` -> ``strasse``, not
``strae``), runs of dashes collapse and edge dashes go. The unique index
``idx_content_collection_slug`` (migration 0008) is the final guard against two writers
racing; ``slug_taken`` gives the friendly 409 before it.

A slug the client chose must be free (409 otherwise: the client asked for that URL). A
slug generated from the title is only a convenience, so ``free_slug`` gives it the first
free ``-2``, ``-3``... suffix instead of refusing the item.
"""

import functools
import re

from app.db.models import Content
from app.db.rows import fetch_models
from app.services.ascii_text import to_ascii

MAX_SLUG_LENGTH = 200
# Candidate slugs looked up per query by ``first_free``: the first batch covers a slug taken a
# few times, each next one is twice as large, so a slug taken a thousand times costs six.
FIRST_BATCH = 16
MAX_BATCH = 512
# What a duplicate's slug ends with: ``<slug>-copy``, then ``<slug>-copy-2``...
COPY_SUFFIX = "-copy"
_STRIP = re.compile(r"[^a-z0-9\s-]")
_SPACES = re.compile(r"\s+")
_DASHES = re.compile(r"-{2,}")


def normalize_slug(text):
    """The slug form of ``text`` ("" when nothing usable is left)."""
    slug = _STRIP.sub("", to_ascii(text).lower())
    slug = _SPACES.sub("-", slug.strip())
    slug = _DASHES.sub("-", slug).strip("-")
    return slug[:MAX_SLUG_LENGTH].rstrip("-")


def slug_from_title(title, fallback_id):
    """A slug generated from ``title``; titles without Latin letters or digits get ``item-<id>``."""
    return normalize_slug(title) or f"item-{fallback_id[:8]}"


_HOLDER = 'SELECT "id", "deleted_at" FROM "content" WHERE "collection_id" = {p} AND "slug" = {p}'
_HOLDER_OF = {
    False: _HOLDER + " LIMIT 1",
    True: _HOLDER + ' AND "id" <> {p} LIMIT 1',
}


def slug_taken(collection_id, slug, exclude_id=None, known=None):
    """Another item of the collection holding ``slug`` (deleted ones too; its ``id`` and
    ``deleted_at``), or None.

    Args:
        known: ``{slug: holder or None}`` already read for this collection (a create reads
            its expected slug's holder with its collection); other slugs are looked up.
    """
    if known is not None and exclude_id is None and slug in known:
        return known[slug]
    params = (collection_id, slug) if exclude_id is None else (collection_id, slug, exclude_id)
    found = fetch_models(Content, _HOLDER_OF[exclude_id is not None], params)
    return found[0] if found else None


def free_slug(collection_id, slug, known=None):
    """``slug`` if no item of the collection holds it, else the first free ``slug-2``, ``slug-3``...

    Deleted items count (they keep their slug until purged). A free slug costs one lookup
    in the unique index; a taken one, lookups of its next candidates (``first_free``).
    """
    if slug_taken(collection_id, slug, known=known) is None:
        return slug
    return first_free(collection_id, lambda n: _numbered(slug, n), start=2)


def _numbered(slug, n):
    suffix = f"-{n}"
    return slug[:MAX_SLUG_LENGTH - len(suffix)].rstrip("-") + suffix


def copy_slug(slug, n):
    """The ``n``-th slug a copy of ``slug`` tries: ``<slug>-copy``, then ``<slug>-copy-<n>``,
    ``slug`` cut short so that the whole fits ``MAX_SLUG_LENGTH``."""
    suffix = COPY_SUFFIX if n == 1 else f"{COPY_SUFFIX}-{n}"
    return slug[:MAX_SLUG_LENGTH - len(suffix)].rstrip("-") + suffix


def free_copy_slug(collection_id, slug):
    """The first ``copy_slug(slug, n)`` no item of the collection holds (deleted ones count).

    ``slug`` is read as a create stores it (``normalize_slug``).
    """
    return first_free(collection_id, functools.partial(copy_slug, normalize_slug(slug) or "item"))


def first_free(collection_id, candidate, start=1):
    """The first of ``candidate(start)``, ``candidate(start + 1)``... that no item of the
    collection holds (deleted ones count); the candidates must differ from each other.

    The candidates are looked up by equality, in batches (``FIRST_BATCH``, then twice as
    many each time up to ``MAX_BATCH``): each lookup of (collection, slug) is a search of
    the unique index whatever the database's collation, where a prefix pattern (``LIKE``,
    or a range of slugs) could only be read from the collection's rows on a PostgreSQL
    database with a linguistic collation (the index orders slugs by it, not by their
    characters), and a slug's ``%`` or ``_`` needs no escaping. Only exact slugs count, as
    the index compares them: a slug differing in case from a candidate leaves it free.
    """
    size = FIRST_BATCH
    while True:
        batch = [candidate(n) for n in range(start, start + size)]
        taken = {
            row[0] for row in Content.select(Content.slug)
            .where((Content.collection == collection_id) & Content.slug.in_(batch))
            .tuples()
        }
        free = next((slug for slug in batch if slug not in taken), None)
        if free is not None:
            return free
        start, size = start + size, min(size * 2, MAX_BATCH)
