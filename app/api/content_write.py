"""Content writes: ``POST /api/content``, ``PUT``/``DELETE /api/content/{id}``,
``POST /api/content/{id}/restore``, ``POST /api/content/{id}/duplicate`` and
``DELETE /api/content/{id}/purge``.

Who may write (role_permissions of migrations 0004 and 0012):

* create: ``content.create``; a duplicate also takes the source being readable by the
  caller (``app.services.content.copies``); a status other than ``draft`` is the workflow's move out
  of draft (``workflow_transitions``: draft -> published needs ``content.publish``;
  there is no draft -> archived edge, so that is a 409);
* update: ``content.update``; authors (no ``content.publish``, not admin) only their own
  items; a changed status is a workflow move from the current state (409 when the
  workflow has no such edge, e.g. pending-review -> published or archived -> published;
  403 without the edge's permission), logged and in the history like any move; an edit
  by someone without ``content.publish`` to an approved or published item sends it back
  to review first (``app.services.content.review``);
* soft delete and restore: ``content.delete`` (admins, editors and, since migration
  0015, authors), own items only for holders without ``content.publish``, whose restore
  of an approved, published or archived item brings it back as a draft;
* purge (``?hard=true`` or ``/purge``): ``content.purge`` (admins).

An update's body may be the item as its read answers it, sent back whole (``UpdateBody``): the
read's keys no update changes are taken and ignored, but for ``id`` and the collection, which
must be the item's own, so that a client editing what it read never needs to pick keys out,
while a key that is neither (a typo) is still refused.

Optimistic concurrency: an update (or delete) carrying ``version_number`` in the body or
``If-Match`` with a version that is not the current one is a 409, never an overwrite;
workflow moves bump ``version_number`` too, so a move made since the client read the item
also makes its save stale. ``If-Match`` takes the ETag of the read the client edited
(``W/"<version_number>-<digest>"``) or ``"<version_number>"``, or a comma-separated list
of them (any one will do); only the version is compared, so a change that bumps none (a
soft delete, its restore) leaves a save current. A well-formed tag that is none of those
matches no version (RFC 9110: it is not the item's), so it is stale, not malformed.
The answer's ETag is the one a read of the item by the caller answers. Every write
invalidates the ``content`` cache namespace after its commit.
"""

import dataclasses
import re
from typing import Annotated, Any, Literal

import falcon
import msgspec

from app.api.access import access
from app.api.content_read import UNNUMBERED, item_etag
from app.api.describe import IF_MATCH, LOCATION, SCHEMA_KEPT_CHANGING, Header, Param, describe
from app.api.errors import bad_request, casing_aliases, field_error, forbidden, invalid_param, not_found, read_body
from app.api.schemas import One, SuccessOf
from app.api.schemas_content import ContentItem, Removed, SlugAvailability
from app.services.cache import Namespace, invalidate
from app.services.content import copies, writes
from app.services.content.query import Scope, get_item
from app.services.content.slugs import normalize_slug, slug_taken

MAX_BODY_BYTES = 2 * 1024 * 1024
# One member of If-Match as RFC 9110 writes an entity-tag: the opaque tag quoted whole
# (visible ASCII but the quote, and obs-text), ``W/`` before a weak one. Nothing looser: a
# quote left open or a second tag without its comma is a malformed header, not a version.
_ENTITY_TAG = re.compile(r'(?:W/)?"([\x21\x23-\x7e\x80-\xff]*)"')
# The opaque tag of a read's ETag ("<version>-<digest>", "n-<digest>" when the item has no
# version) or a bare "<version>": only the version is compared.
_OUR_TAG = re.compile(rf'(\d{{1,18}}|{UNNUMBERED})(?:-[0-9a-f]{{1,64}})?')
NOT_AN_ETAG = 'expected the ETag of a read, or "<version_number>"'


# The ETag a read of the item by the caller answers, to send back as If-Match.
WRITTEN_ETAG = Header("ETag", 'the ETag a read of the item answers now (W/"<version_number>-<digest>", '
                              'W/"n-<digest>" for an item without a version_number), '
                              "for the next write's If-Match")
# Absent when the caller may not read the item it changed (``data`` is null then).
WRITTEN_ETAG_IF_READABLE = Header("ETag", WRITTEN_ETAG.description + "; absent when `data` is null",
                                  required=False)
ANSWERED_ITEM = {200: (WRITTEN_ETAG_IF_READABLE,)}

Status = Literal["draft", "published", "archived"]
Unset = msgspec.UnsetType  # a field left out of the body (as opposed to null)


class CreateBody(msgspec.Struct, forbid_unknown_fields=True):
    """``POST /api/content``: ``collectionId`` is the collection's id or name; a field of the
    schema left out of ``data`` gets the ``default`` it declares (``null`` keeps ``null``)."""

    collectionId: str
    title: str | None = None
    slug: str | None = None
    status: Status | None = None
    data: dict = {}
    featuredImageId: str | None | Unset = msgspec.UNSET
    metaTitle: str | None | Unset = msgspec.UNSET
    metaDescription: str | None | Unset = msgspec.UNSET


class UpdateFields(msgspec.Struct, forbid_unknown_fields=True):
    """What ``PUT /api/content/{id}`` changes: any subset; ``data`` replaces the data wholesale;
    ``featuredImageId: null`` removes the image."""

    title: str | None = None
    slug: str | None = None
    status: Status | None = None
    data: dict | None = None
    featuredImageId: str | None | Unset = msgspec.UNSET
    metaTitle: str | None | Unset = msgspec.UNSET
    metaDescription: str | None | Unset = msgspec.UNSET
    version_number: Annotated[int, msgspec.Meta(
        description="the version the client edited: one other than the item's current one is a 409")] | None = None


class SentCollection(msgspec.Struct):
    """An item's ``collection`` as its read gives it, sent back: only whether it names the item's own counts."""

    id: Annotated[str, msgspec.Meta(description="must be the item's collection's id")] | Unset = msgspec.UNSET
    name: Annotated[str, msgspec.Meta(description="must be the item's collection's name")] | Unset = msgspec.UNSET
    display_name: Annotated[Any, msgspec.Meta(description="ignored")] = msgspec.UNSET


# The keys of an item's read (ContentItem) that no update changes, but that must still tell
# the truth when sent back: the item's id, and its collection (an item never moves).
CHECKED_READ_KEYS = {
    "id": Annotated[str, msgspec.Meta(description="read-only: when sent, must be the path's `id`")] | Unset,
    "collectionId": Annotated[str, msgspec.Meta(
        description="read-only: when sent, must name the item's own collection (its id or name); "
                    "an update moves no item to another collection")] | Unset,
    "collection": Annotated[SentCollection, msgspec.Meta(
        description="read-only: when sent, its `id` and `name` must be the item's collection's")] | Unset,
}
# Any other key of the read no update changes (created_at, author, featuredImage...): taken and ignored.
IGNORED_READ_KEY = Annotated[Any, msgspec.Meta(description="read-only: accepted as a read gives it, and ignored")]


def _read_keys_of(editable_struct, read_struct):
    """``(name, type, default)`` of each key of ``read_struct`` that ``editable_struct`` does
    not declare as it is named, and ``{read's name: editable field}`` of those that are an
    editable field in the other casing (the read's ``meta_title`` is ``metaTitle``).

    Derived from the read's Struct, so a key the read gains is one an item sent back may
    carry too. The other casing is declared in its own right, so the document shows every
    key of the read as accepted; ``edits_as_read`` folds its value into the field.
    """
    declared = {field.encode_name: field for field in msgspec.structs.fields(editable_struct)}
    aliases = casing_aliases(editable_struct)
    read_keys = [field.encode_name for field in msgspec.structs.fields(read_struct)]
    if not CHECKED_READ_KEYS.keys() <= set(read_keys):
        raise RuntimeError(f"checked keys missing from the read: {CHECKED_READ_KEYS.keys() - set(read_keys)}")
    extra, casings = [], {}
    for name in read_keys:
        if name in declared:
            continue
        if name in aliases:
            edited = declared[aliases[name]]
            casings[name] = edited
            described = msgspec.Meta(description=f"`{edited.encode_name}` as the read names it: send one of the two")
            extra.append((name, Annotated[edited.type, described], edited.default))
        else:
            extra.append((name, CHECKED_READ_KEYS.get(name, IGNORED_READ_KEY), msgspec.UNSET))
    return extra, casings


_READ_KEYS, _READ_CASINGS = _read_keys_of(UpdateFields, ContentItem)
# ``PUT /api/content/{id}``'s body: UpdateFields, plus the other keys of the item's read, so
# that a client may PUT back the item as it read it (SonicJS ignores the keys it does not
# read). A key in neither stays an unknown field (a typo is refused).
UpdateBody = msgspec.defstruct("UpdateBody", _READ_KEYS, bases=(UpdateFields,), module=__name__,
                               forbid_unknown_fields=True)
UpdateBody.__doc__ = (
    "``PUT /api/content/{id}``: any subset of the editable fields; ``data`` replaces the data wholesale; "
    "``featuredImageId: null`` removes the image. The item as ``GET /api/content/{id}`` reads it may be sent "
    "back whole: its read-only keys are ignored, but ``id`` must be the path's and ``collectionId`` and "
    "``collection`` must name the item's own collection; ``version_number`` is the version the client edited."
)


def edits_as_read(body):
    """``body`` with the values sent under the read's casing of a field (``meta_title``) moved to
    the field (``metaTitle``); a 422 when both are sent, as for any field given in two casings."""
    moved = {}
    for read_name, field in _READ_CASINGS.items():
        value = getattr(body, read_name)
        if value is field.default:
            continue
        if getattr(body, field.name) is not field.default:
            raise field_error(read_name, f"give {field.encode_name} in one casing only")
        moved[field.name] = value
    return msgspec.structs.replace(body, **moved) if moved else body


BODY_FIELDS = (
    ("title", "title"), ("slug", "slug"), ("status", "status"), ("data", "data"),
    ("featuredImageId", "featured_image_id"), ("metaTitle", "meta_title"), ("metaDescription", "meta_description"),
)


def _fields(body):
    """The service's field names for what the body holds (null title/slug/status/data: absent)."""
    fields = {}
    for attr, name in BODY_FIELDS:
        value = getattr(body, attr)
        if value is msgspec.UNSET or (value is None and attr in ("title", "slug", "status", "data")):
            continue
        fields[name] = value
    return fields


def _body(req, struct):
    # Content carries whole documents in `data`: a larger cap than other JSON bodies.
    return read_body(req, struct, max_bytes=MAX_BODY_BYTES)


def expected_version(req, body_version=None):
    """The version the client edited: the body's ``version_number`` or ``If-Match``.

    ``If-Match`` may list several tags (``"3", "4"``): the write goes through when the item is
    at any version they name (a tuple of them is expected), and ``*`` when the item exists.
    A read's tags are weak (``W/``) and still match by their version, the one thing of the
    item they stand for that a write guards: refusing them, as the strong comparison RFC 9110
    asks of If-Match would, would refuse every tag a read hands out.

    A well-formed tag that is none of ours (a list's, another server's) matches no version,
    as RFC 9110 counts it: the versions the header names are expected as a tuple (none
    when it names only such tags, which no item matches, whatever the body says), so a
    stale write's 409 lists them as ``your_versions``.
    """
    header = req.get_header("If-Match")
    if header is None:
        return body_version
    listed = _listed_versions(header)
    if listed is None:
        return body_version
    versions, foreign = listed
    if body_version is None:
        return versions[0] if len(versions) == 1 and not foreign else versions
    if not versions:
        return versions
    if body_version not in versions:
        named = " or ".join("an item without a version_number" if version is writes.UNVERSIONED
                            else f"version {version}" for version in versions)
        raise bad_request("If-Match and version_number disagree", [{
            "field": "version_number",
            "message": f"is {body_version} where If-Match names {named}: send only one of the two"}])
    return body_version


def _listed_versions(header):
    """``(versions, foreign)`` of an ``If-Match`` header: the versions its tags of ours name,
    in its order and each once, and whether it has a tag that is none of ours; None for ``*``.

    Tags are entity-tags separated by commas (empty members skipped, as RFC 9110's lists
    allow); ``*`` stands alone. Anything else is a 400 naming the header.
    """
    tags = _list_members(header)
    if tags == ["*"]:
        return None
    if not tags:
        raise bad_request("Invalid If-Match header", [{"field": "If-Match", "message": NOT_AN_ETAG}])
    versions, foreign = [], False
    for position, tag in enumerate(tags, 1):
        quoted = _ENTITY_TAG.fullmatch(tag)
        if quoted is None:
            where = f"tag {position} of the list: " if len(tags) > 1 else ""
            raise bad_request("Invalid If-Match header", [{"field": "If-Match", "message": where + NOT_AN_ETAG}])
        ours = _OUR_TAG.fullmatch(quoted.group(1))
        if ours is None:
            foreign = True
        else:
            # An item without a version_number is tagged so: the write expects it still without one.
            versions.append(writes.UNVERSIONED if ours.group(1) == UNNUMBERED else int(ours.group(1)))
    return tuple(dict.fromkeys(versions)), foreign


def _list_members(header):
    """The members of a comma-separated header, stripped of the spaces and tabs around them,
    empty ones left out. A comma inside quotes is part of its tag (an entity-tag may hold
    one); a quote left open runs to the end, making its member malformed."""
    members, start, quoted = [], 0, False
    for at, char in enumerate(header):
        if char == '"':
            quoted = not quoted
        elif char == "," and not quoted:
            members.append(header[start:at])
            start = at + 1
    members.append(header[start:])
    return [member for member in (member.strip(" \t") for member in members) if member]


def respond_item(req, resp, content_id, status=falcon.HTTP_200):
    """Answer the item as the caller sees it now, with its ETag."""
    _answer(resp, get_item(Scope.of(req.context.user), content_id=content_id), status)


def _answer(resp, item, status):
    """Answer ``item`` (None: the caller may not see it) with its ETag."""
    resp.status = status
    resp.media = {"data": item}
    if item is not None:
        resp.set_header("ETag", item_etag(item))


def creator_scope(user):
    """The Scope a create's answer is read with: the caller's, seeing their own items at least.

    A role or API token that may create content but neither update nor publish it reads
    only published items; its new draft would otherwise be answered ``{"data": null}``.
    """
    scope = Scope.of(user)
    return scope if scope.see_all or scope.see_own else dataclasses.replace(scope, see_own=True)


class ContentCreator:
    """``POST /api/content`` (mixed into the list resource)."""

    @access("content.create")
    @describe("Create a content item", body=CreateBody, status=201, response=One[ContentItem],
              headers={201: (LOCATION, WRITTEN_ETAG), 503: (SCHEMA_KEPT_CHANGING,)},
              description="A field of the collection's schema left out of `data` gets the `default` it declares; "
                          "one sent as `null` keeps `null`.")
    def on_post(self, req, resp):
        body = _body(req, CreateBody)
        fields = _fields(body)
        user = req.context.user
        content, item = writes.create_and_read(user, body.collectionId, fields, creator_scope(user),
                                               req.context.request_id)
        invalidate(self._cache, Namespace.CONTENT)
        _answer(resp, item, falcon.HTTP_201)
        resp.location = f"/api/content/{content.id}"


class DuplicateResource:
    """``POST /api/content/{id}/duplicate``: a draft copy of the item, made as a create.

    The caller must be able to read the source (as ``GET /api/content/{id}``: 404
    otherwise, and for an item in the trash) and hold ``content.create`` (403).
    """

    def __init__(self, cache):
        self._cache = cache

    @access("content.create")
    @describe("Duplicate an item as a new draft", status=201, response=One[ContentItem],
              headers={201: (LOCATION, WRITTEN_ETAG), 503: (SCHEMA_KEPT_CHANGING,)},
              description="The copy is created as `POST /api/content` creates (validation, hooks, webhooks, "
                          "history): title + ` (copy)`, slug `<slug>-copy` (then `-copy-2`, `-copy-3`... "
                          "until free in the collection), the same data, SEO fields and featured image, "
                          "status `draft`, no schedules. 404 for an item the caller cannot read or in the trash.")
    def on_post(self, req, resp, id):
        user = req.context.user
        content, item = copies.duplicate(user, id, creator_scope(user), req.context.request_id)
        invalidate(self._cache, Namespace.CONTENT)
        _answer(resp, item, falcon.HTTP_201)
        resp.location = f"/api/content/{content.id}"


def _collection_refs(body):
    """``(field, id or name)`` of each naming of the item's collection an update's body sends back."""
    refs = [("collectionId", body.collectionId)]
    if body.collection is not msgspec.UNSET:
        refs += [("collection.id", body.collection.id), ("collection.name", body.collection.name)]
    return tuple((field, ref) for field, ref in refs if ref is not msgspec.UNSET)


class ContentItemWriter:
    """``PUT`` and ``DELETE /api/content/{id}`` (mixed into the item resource)."""

    @access("content.update")
    @describe("Update a content item (If-Match or version_number guards)", body=UpdateBody, query=(IF_MATCH,),
              response=One[ContentItem], headers=ANSWERED_ITEM,
              description="The body may be the item as `GET /api/content/{id}` answers it in `data`, edited: "
                          "its read-only keys are ignored, but `id` must be the path's and `collectionId` and "
                          "`collection` must name the item's own collection (422 otherwise). A key that is "
                          "neither an editable field nor a key of the read is a 422 naming it.")
    def on_put(self, req, resp, id):
        body = edits_as_read(_body(req, UpdateBody))
        if body.id is not msgspec.UNSET and body.id != id:
            raise field_error("id", "is not the path's id: an item is changed at its own path")
        fields = _fields(body)
        writes.update_content(req.context.user, id, fields, expected_version(req, body.version_number),
                              request_id=req.context.request_id, collection_refs=_collection_refs(body))
        invalidate(self._cache, Namespace.CONTENT)
        respond_item(req, resp, id)

    @access("content.delete")
    @describe(
        "Soft-delete a content item (hard=true purges)",
        query=(Param("hard", bool, "delete for good (content.purge)"), IF_MATCH),
        response=SuccessOf[Removed],
    )
    def on_delete(self, req, resp, id):
        if req.get_param_as_bool("hard", default=False):
            _purge(req, resp, id, self._cache)
            return
        content = writes.soft_delete(req.context.user, id, expected_version(req))
        invalidate(self._cache, Namespace.CONTENT)
        resp.media = {"success": True, "data": {"id": content.id, "deleted_at": content.deleted_at}}


def _purge(req, resp, content_id, cache):
    if not req.context.user.can("content.purge"):
        raise forbidden("Deleting content permanently requires the content.purge permission")
    writes.purge(req.context.user, content_id, expected_version=expected_version(req))
    invalidate(cache, Namespace.CONTENT)
    resp.media = {"success": True, "data": {"id": content_id, "purged": True}}


class RestoreResource:
    """``POST /api/content/{id}/restore``: undo a soft delete."""

    def __init__(self, cache):
        self._cache = cache

    @access("content.delete")
    @describe("Restore a soft-deleted item", response=One[ContentItem], headers=ANSWERED_ITEM)
    def on_post(self, req, resp, id):
        writes.restore_deleted(req.context.user, id)
        invalidate(self._cache, Namespace.CONTENT)
        respond_item(req, resp, id)


class CheckSlugResource:
    """``GET /api/content/check-slug``: SonicJS's "is this slug free in that collection?".

    SonicJS answers anyone; here it takes ``content.create`` (its editors' forms ask it), as a
    slug held by a draft is no business of the public. The slug is read as a create would
    store it (``normalize_slug``).
    """

    @access("content.create")
    @describe(
        "Whether a slug is free in a collection",
        query=(Param("collectionId", str, "the collection's id or name"), Param("slug", str, "the slug to check"),
               Param("excludeId", str, "an item whose own slug does not count")),
        response=SlugAvailability,
    )
    def on_get(self, req, resp):
        collection_ref, slug = req.get_param("collectionId"), req.get_param("slug")
        for name, value in (("collectionId", collection_ref), ("slug", slug)):
            if not value:
                raise invalid_param(name, "is required")
        collection = writes.find_collection(collection_ref)
        if collection is None:
            raise not_found("Collection not found")
        if slug_taken(collection.id, normalize_slug(slug), req.get_param("excludeId")) is None:
            resp.media = {"available": True}
        else:
            resp.media = {"available": False, "message": "This URL slug is already in use in this collection"}


class PurgeResource:
    """``DELETE /api/content/{id}/purge``: delete for good (admins)."""

    def __init__(self, cache):
        self._cache = cache

    @access("content.purge")
    @describe("Delete an item for good", query=(IF_MATCH,), response=SuccessOf[Removed])
    def on_delete(self, req, resp, id):
        _purge(req, resp, id, self._cache)
