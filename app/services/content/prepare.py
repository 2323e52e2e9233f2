"""Turning a request's fields into validated content columns, for create and update.

* ``title`` falls back to ``data.title``; it is required (non-blank, at most 500 chars).
* ``slug`` falls back to ``data.slug``, else (on create) is generated from the title and
  made unique by ``unique_slug`` (``-2``, ``-3``...); a given slug is normalised
  (``slugs.normalize_slug``), must keep letters or digits, and is never renamed.
* ``data`` of a new item comes with the defaults its schema declares already filled in
  (``defaults.fields_with_defaults``, before the create's hooks); a create without
  ``data`` has empty data, and an update's data is taken as given;
* ``data`` is validated against the collection schema (``validation.validate_data``);
  when the schema declares its own ``title``/``slug`` fields and ``data`` leaves them
  empty, they are filled from the item's, so SonicJS-style schemas stay consistent; an
  update's new ``title`` or ``slug`` also replaces a ``data.title`` or ``data.slug`` that was
  the old one's copy, the stored one when no ``data`` is sent (``_copies_followed``,
  ``_stored_data_followed``).
* ``featured_image_id`` must name a live media file, unless it is the one the updated item
  has already;
* a reference, media or file value of ``data`` that the item already holds (``held``: the
  updated item's stored data, a duplicated item's, a restored version's) is not refused
  for naming content or a file deleted since (``validation.held_references``): only new
  values are looked up, so an item sent back as read saves whatever became of what it names.

Every problem is collected and raised at once as ContentInvalid.
"""

from app.db.models import Media
from app.services.content.errors import ContentInvalid
from app.services.content.slugs import MAX_SLUG_LENGTH, normalize_slug, slug_from_title
from app.services.content.validation import (
    held_references,
    media_references,
    missing_media,
    schema_properties,
    validate_data,
)

MAX_TITLE_LENGTH = 500
# The item's own fields a schema may repeat in ``data`` (SonicJS's schemas do): kept in step.
COPIED = ("title", "slug")


def prepare_fields(collection, fields, content_id, current=None, unique_slug=None, saved=False, held=None):
    """Validated column values for a create (``current`` None) or an update of ``current``.

    Args:
        collection: the Collection (its ``schema``).
        fields: title, slug, data, featured_image_id, meta_title, meta_description (any);
            a create's ``data`` with its defaults filled in (``defaults.fields_with_defaults``).
        content_id: the item's id (a generated slug may use it).
        current: the Content being updated, or None.
        unique_slug: ``slug -> free slug``, applied to a slug generated on create (never
            to one the client gave, whose clash is the caller's 409).
        saved: whether ``fields`` are a saved version's, restored as they were: its
            ``data.title`` is not the copy of the current title a client sends back, and
            does not follow the version's title (``_copies_followed``).
        held: stored data whose reference values ``data`` may keep though what they name
            is gone; None: ``current``'s data (nothing on create).

    Returns:
        ``{column name: value}`` for ``title``, ``slug`` and what ``fields`` holds.
    """
    errors = []
    data = fields.get("data")
    if current is None and data is None:
        data = {}
    title = _title(fields, data, current)
    if not title:
        errors.append({"field": "title", "message": "is required"})
    elif len(title) > MAX_TITLE_LENGTH:
        errors.append({"field": "title", "message": f"must be at most {MAX_TITLE_LENGTH} characters long"})
    slug = _slug(fields, data, title, content_id, current, errors, unique_slug)
    values = {"title": title, "slug": slug}
    # The item's title or slug this update changes, each with its new value (one sent back
    # as it is changes nothing, and must not make the write rewrite or judge the data).
    renamed = {} if current is None else {name: values[name] for name in COPIED
                                           if fields.get(name) is not None and values[name] != getattr(current, name)}
    if data is not None:
        if renamed and not saved:
            data = _copies_followed(collection.schema, data, renamed, current)
        data = _synced(collection.schema, data, title, slug)
        if held is None and current is not None:
            held = current.data
        errors += validate_data(collection.schema, data, held=held)
        values["data"] = data
    elif renamed and (stored := _stored_data_followed(collection.schema, renamed, current)) is not None:
        # Only the copied fields change: the rest of the stored data is not this write's, and
        # a schema changed since it was saved must not refuse a new title or slug for it.
        changed = {name: value for name, value in stored.items() if current.data.get(name) != value}
        properties = schema_properties(collection.schema)
        errors += validate_data({"properties": {name: properties[name] for name in changed}}, changed)
        values["data"] = stored
    for name in ("meta_title", "meta_description"):
        if name in fields:
            values[name] = fields[name]
    if "featured_image_id" in fields:
        image = fields["featured_image_id"]
        kept = current is not None and image == current.featured_image_id
        live = Media.select().where((Media.id == image) & Media.deleted_at.is_null())
        if image is not None and not kept and not live.exists():
            errors.append(_no_featured_image(image))
        values["featured_image"] = image
    if errors:
        raise ContentInvalid("Validation failed", errors)
    return values


def new_media(collection, values, current=None, held=None):
    """The files ``values`` (``prepare_fields``'s, given the same ``current`` and ``held``)
    names that ``prepare_fields`` looked up, as ``{media id: [the problem of its absence]}``:
    each media or file value of ``data`` that ``held`` (else ``current``'s data) does not
    hold, and a featured image other than ``current``'s. A held value is not refused when
    its file is gone (validation lets it through), so it needs no hold and is not here;
    empty when no new file is named.
    """
    named = {}
    data_refs = media_references(collection.schema, values["data"]) if "data" in values else []
    if data_refs:
        if held is None and current is not None:
            held = current.data
        kept = held_references(collection.schema, held)
        for path, ref in data_refs:
            if ("media", ref) not in kept:
                named.setdefault(ref, []).append({"field": path, "message": missing_media(ref)})
    image = values.get("featured_image")
    if image is not None and (current is None or image != current.featured_image_id):
        named.setdefault(image, []).append(_no_featured_image(image))
    return named


def _no_featured_image(image):
    return {"field": "featuredImageId", "message": f"no media {image!r}"}


def expected_slug(fields, content_id):
    """The slug a create's ``prepare_fields`` settles on before making it unique: the given one
    normalised, or the one generated from the title; None when there is none (no title)."""
    raw = _given_slug(fields, fields.get("data"))
    if raw is not None:
        return normalize_slug(raw) or None
    title = _title(fields, fields.get("data") or {}, None)
    return slug_from_title(title, content_id) if title else None


def _title(fields, data, current):
    """The stripped title: ``title``, else ``data.title``, else (on update) the current one."""
    title = fields.get("title")
    if title is None:
        title = data.get("title") if isinstance(data, dict) and isinstance(data.get("title"), str) else None
    if title is None and current is not None:
        title = current.title
    return (title or "").strip()


def slug_is_given(fields):
    """Whether the client chose the slug (``slug``, or ``data.slug``) rather than leaving it to the title."""
    return _given_slug(fields, fields.get("data")) is not None


def _given_slug(fields, data):
    raw = fields.get("slug")
    if raw is None and isinstance(data, dict) and isinstance(data.get("slug"), str) and data["slug"]:
        raw = data["slug"]
    return raw


def _slug(fields, data, title, content_id, current, errors, unique_slug):
    raw = _given_slug(fields, data)
    if raw is None or (current is not None and fields.get("slug") is None and _saved_data_slug(current) == raw):
        # Unchanged ``data.slug`` (a client sending the whole item back) keeps the item's
        # slug: normalised again, under a later version's rule, it could rename the URL.
        if current is not None:
            return current.slug
        generated = slug_from_title(title, content_id)
        return unique_slug(generated) if unique_slug else generated
    slug = normalize_slug(raw)
    if not slug:
        errors.append({"field": "slug", "message": "must contain letters or digits"})
    elif len(raw) > MAX_SLUG_LENGTH:
        errors.append({"field": "slug", "message": f"must be at most {MAX_SLUG_LENGTH} characters long"})
    return slug


def _saved_data_slug(current):
    saved = current.data
    return saved.get("slug") if isinstance(saved, dict) else None


def _copies_followed(schema, data, renamed, current):
    """An update's ``data`` whose ``title`` and ``slug`` follow the item's new ones
    (``renamed``) where they are copies of the current ones (a client sending back the item
    it read, the title or slug edited).

    A create copies the item's title and slug into the schema's own ``title`` and ``slug``
    fields when ``data`` leaves them empty (``_synced``); a data value still equal to the
    item's is that copy, not a value of its own, and an update keeps the two in step. One
    that differs is the client's, and is kept, as a create keeps it.
    """
    properties = schema_properties(schema) or {}
    if not isinstance(data, dict):
        return data
    follows = {name: value for name, value in renamed.items()
               if name in properties and data.get(name) == getattr(current, name)}
    return {**data, **follows} if follows else data


def _stored_data_followed(schema, renamed, current):
    """The item's stored data with ``data.title`` and ``data.slug`` following a new title and
    slug (``renamed``) sent without ``data``, where each mirrored the current one or was empty
    (``_copies_followed``, and ``_synced``'s fill); None when nothing changes."""
    stored = current.data
    properties = schema_properties(schema) or {}
    if not isinstance(stored, dict):
        return None
    follows = {name: value for name, value in renamed.items() if name in properties
               and stored.get(name) in (None, "", getattr(current, name)) and stored.get(name) != value}
    return {**stored, **follows} if follows else None


def _synced(schema, data, title, slug):
    """``data`` with the schema's own ``title``/``slug`` fields filled from the item's, if absent."""
    properties = schema_properties(schema) or {}
    data = dict(data)
    if "title" in properties and data.get("title") in (None, ""):
        data["title"] = title
    if "slug" in properties and data.get("slug") in (None, ""):
        data["slug"] = slug
    return data
