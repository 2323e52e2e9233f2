"""Duplicating an item: a new draft made through the create's own path.

The copy is a create (``writes.create_and_read``) whose fields come from the source, so it
is validated against the collection's schema as it is now, starts as version 1 with its
creation history entry, runs the ``content_create`` hooks (and so the webhooks) and is
logged as any create is. Its author is whoever duplicates; its status is ``draft``
whatever the source's, and the source's schedules stay with the source.

What it copies: the title followed by `` (copy)``, the data as it is stored but for the
values of fields the schema no longer declares (``writes.fields_the_schema_has``, as a
version restore leaves them out: the source keeps them), the SEO fields and the featured
image (a featured image moved to the trash since is refused as a create refuses it: 422).
The references of its data are the source's: one naming content or a file deleted since is
copied as the source holds it, not refused (``prepare.prepare_fields``'s ``held``). The copy
is written only while the source is live and as it was read (``locks.hold_source``), else
made again from the source as it is now: a file the source dropped meanwhile may have been
purged, and the copy would name it.
Its slug is the first free one of ``<slug>-copy``, ``<slug>-copy-2``...
(``slugs.free_copy_slug``); a concurrent create taking it first sends the copy to the next
one. A collection keeping the title and slug in its data too (SonicJS's schemas) gets the
copy's in the copy's data wherever they repeated the source's.
"""

import copy

from app.services.content import writes
from app.services.content.errors import ContentConflict, ContentNotFound, VersionConflict
from app.services.content.prepare import MAX_TITLE_LENGTH
from app.services.content.query import Scope, is_visible
from app.services.content.slugs import free_copy_slug

COPY_TITLE = " (copy)"


def duplicate(user, content_id, scope, request_id=None):
    """Create a draft copy of item ``content_id`` as ``user``.

    Args:
        user: the acting Principal (its permission to create is the caller's to check).
        content_id: the source's id.
        scope: the ``Scope`` the copy is read with for the answer (``writes.create_and_read``).
        request_id: the request's id, for the log rows.

    Returns:
        ``(content, the copy as scope reads it, or None)``.

    Raises:
        ContentNotFound: no such item, in the trash, or one ``user`` may not read.
        ContentInvalid, ContentConflict: as a create of the same fields would.
    """
    # Each kind of retry has its own budget, so that the answer says which one ran out.
    slug_clashes = source_changes = 0
    while True:
        source = writes.load_for_write(content_id)  # refuses items in the trash too
        if not is_visible(Scope.of(user), source.id):
            raise ContentNotFound("Content not found")
        fields = copy_fields(source, free_copy_slug(source.collection_id, source.slug))
        try:
            return writes.create_and_read(user, source.collection_id, fields, scope, request_id, source=source)
        except VersionConflict:
            # The source changed since it was read: copied as it is now (or gone: 404), unless
            # it changes at every try (the 409 saying so).
            source_changes += 1
            if source_changes >= writes.MAX_SLUG_ATTEMPTS:
                raise
        except ContentConflict as ex:
            if not _slug_taken_meanwhile(ex):
                raise
            slug_clashes += 1
            if slug_clashes >= writes.MAX_SLUG_ATTEMPTS:
                raise writes.slug_race_lost("Too many concurrent writers took this item's copy slugs; retry") from ex


def copy_title(title):
    """``title`` followed by `` (copy)``, cut short to stay within ``MAX_TITLE_LENGTH``."""
    return (title or "")[:MAX_TITLE_LENGTH - len(COPY_TITLE)].rstrip() + COPY_TITLE


def copy_fields(source, slug):
    """The create's fields of a copy of ``source`` taking ``slug``."""
    title = copy_title(source.title)
    data = copy.deepcopy(source.data) if isinstance(source.data, dict) else {}
    data = writes.fields_the_schema_has(source.collection.schema, data)
    # Title and slug repeated in data (SonicJS-style schemas) follow the copy's; the create
    # would otherwise read the source's slug from data and store a copy that says otherwise.
    if "title" in data and data["title"] == source.title:
        data["title"] = title
    if "slug" in data and data["slug"] == source.slug:
        data["slug"] = slug
    fields = {"title": title, "slug": slug, "data": data}
    for name in ("meta_title", "meta_description", "featured_image_id"):
        value = getattr(source, name)
        if value is not None:
            fields[name] = value
    return fields


def _slug_taken_meanwhile(conflict):
    """Whether a create's 409 says another item took the slug (then the next one is tried)."""
    details = conflict.details if isinstance(conflict.details, list) else []
    return any(isinstance(problem, dict) and problem.get("field") == "slug" for problem in details)
