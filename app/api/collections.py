"""Collections: public ``GET /api/collections`` and the admin JSON API ``/admin/api/collections``.

Shapes follow SonicJS's collection routes. Choices where SonicJS leaves room:

* Names match ``^[a-z0-9_-]{1,64}$``: SonicJS's admin API allows ``[a-z0-9_]`` and its
  config files also ``-``; one rule for both keeps every file-defined collection creatable
  through the API and the other way round.
* The schema is SonicJS's ``{type: "object", properties: {...}, required: [...]}``,
  validated by ``app.services.collection_schema`` (the rules collection files obey too):
  unknown keys, unknown field types, a ``reference`` without ``collection``, a select
  without ``enum``, a ``required`` entry that is not a property, a bad regex ``pattern``,
  a ``default`` the field cannot take are all 422 with the path of each problem. It is
  stored in its canonical form. A ``reference`` naming a collection that does not exist
  (nor is the one saved) is a 422 naming the field too, from the collections service,
  which checks it against the stored collections in the write's transaction.
* ``GET /api/collections`` is served through the three-tier cache (namespace
  ``collections``, ``X-Cache-Status``/``X-Cache-Source``/``X-Cache-TTL`` as SonicJS sends them); every
  admin write invalidates it after its transaction commits.
* Managed collections (``managed = 1``, defined by a file and kept by ``collections
  sync``) are read-only here: writes answer 409 naming the reason, since the file would
  overwrite any change at the next sync. 409 rather than 403: no permission would help.
* Deleting a collection that still has content, or that a workflow points at, is 409.
  Soft-deleted items count too (they still reference the collection): the message says
  how many are in the trash and that they must be purged.
* A create's problems with its name, its display name and its schema are one 422, in that
  order: a bad name is never hidden behind a bad schema, nor the other way round.
* A field's regex ``pattern`` is at most 256 characters, and runs in RE2
  (``app.services.patterns``): in time linear in the value whatever the pattern (``(a+)+$``
  included), so no pattern can stall a write; a construct RE2 does not run
  (backreferences, lookaround) is refused when the collection is saved.
* ``listFields`` (the admin content list's columns, as in a collection file) is accepted by
  POST and PATCH and returned by GET, POST and PATCH: names of the schema's top-level fields
  or of the item's own columns (``title``, ``slug``, ``status``, ``author``, ``created_at``,
  ``updated_at``, ``published_at``), each once, else 422 naming ``listFields``; ``null`` or
  ``[]`` is the default columns (returned as ``null``). A PATCH with a ``schema`` but no
  ``listFields`` drops from the stored list the fields the schema no longer has; a name
  whose field went some other way (a row written by hand) is left out of what GET returns.
* A write that changes a schema (create, a ``schema`` in PATCH, delete) waits for any other
  schema change in progress (a save, ``collections sync``, a migration, an import, a
  restore) at most ``SCHEMA_TURN_WAIT_MS`` (default 5 s, PostgreSQL), then answers 503 with
  ``Retry-After`` and changes nothing; SQLite's busy timeout bounds the same wait.
"""

import math
from datetime import UTC, datetime
from typing import Annotated, Any

import falcon
import msgspec

from app.api.access import access
from app.api.describe import CACHE_SOURCE, CACHE_STATUS, CACHE_TTL, SCHEMA_TURN_WAITED, Param, describe
from app.api.errors import field_error, nothing_to_update, read_body, unprocessable
from app.api.schemas import Message
from app.api.schemas_content import (
    AdminCollections,
    CollectionCreated,
    CollectionDetail,
    CollectionUpdated,
    PublicCollection,
    ReadList,
)
from app.api.timing import timing_json
from app.services import collections
from app.services.cache import DATABASE, Namespace, invalidate
from app.services.collection_schema import (
    NAME_RULE,
    CollectionConfigError,
    parse_schema,
    schema_to_builtins,
)
from app.services.pagination import whole_list_meta

# Containers (objects, arrays) a schema may nest: far beyond any real form, well short of
# the recursion limit of the parser.
MAX_SCHEMA_DEPTH = 40
SEARCHABLE_TYPES = (
    "string", "text", "textarea", "richtext", "markdown", "quill", "mdxeditor", "tinymce", "easymde", "email", "slug",
)
CACHE_NAMESPACE = Namespace.COLLECTIONS

# No pattern of its own: the collections service checks the name (its rule, then the names
# the admin's pages take), and its refusal says the rule in words.
Name = Annotated[str, msgspec.Meta(description=f"A collection name must {NAME_RULE}")]
ShortText = Annotated[str, msgspec.Meta(max_length=200)]
LongText = Annotated[str, msgspec.Meta(max_length=2000)]
# A schema's field names have no length limit of their own; a listed one longer than this is
# no field any real schema has.
ListedName = Annotated[str, msgspec.Meta(max_length=200)]
ListFields = Annotated[list[ListedName], msgspec.Meta(max_length=200)]


class CollectionCreate(msgspec.Struct, forbid_unknown_fields=True):
    name: Name
    displayName: ShortText | None = None
    display_name: ShortText | None = None
    description: LongText | None = None
    schema: dict[str, Any] | None = None
    is_active: bool = True
    listFields: ListFields | None = None


class CollectionPatch(msgspec.Struct, forbid_unknown_fields=True):
    displayName: ShortText | msgspec.UnsetType = msgspec.UNSET
    display_name: ShortText | msgspec.UnsetType = msgspec.UNSET
    description: LongText | None | msgspec.UnsetType = msgspec.UNSET
    schema: dict[str, Any] | msgspec.UnsetType = msgspec.UNSET
    is_active: bool | msgspec.UnsetType = msgspec.UNSET
    listFields: ListFields | None | msgspec.UnsetType = msgspec.UNSET


def default_schema():
    """The schema of a collection created without one: title and content.

    SonicJS adds a ``status`` select (draft, published, archived) too. It is left out here:
    every item already has its status and workflow state, which publishing changes, and a
    data field of the same name only contradicts them (an item "published" in its data while
    it is a draft). Collections created with it keep it.
    """
    return {
        "type": "object",
        "properties": {
            "title": {"type": "string", "title": "Title", "required": True},
            "content": {"type": "richtext", "title": "Content"},
        },
        "required": ["title"],
    }


DISPLAY_NAME_REQUIRED = {"field": "display_name", "message": "display_name (or displayName) is required"}


def validated_schema(raw, where="schema", found=()):
    """The canonical form of a valid schema; else a 422 listing every problem with its path.

    The rules are ``app.services.collection_schema``'s, shared with ``collections sync`` and
    content validation, so the API accepts exactly what files may say.

    Args:
        found: ``{field, message}`` problems the request has besides its schema (a create's
            name): listed first in the 422, and refused in one even when the schema is valid.
    """
    if _depth(raw) > MAX_SCHEMA_DEPTH:
        raise unprocessable("Validation failed", [
            *found, {"field": where, "message": f"the schema nests more than {MAX_SCHEMA_DEPTH} levels deep"}])
    try:
        schema = schema_to_builtins(parse_schema(raw, where))
    except CollectionConfigError as ex:
        details = list(found)
        for error in ex.errors:
            path, _, message = error.partition(": ")
            details.append({"field": path, "message": message or error})
        raise unprocessable("Validation failed", details) from None
    if found:
        raise unprocessable("Validation failed", list(found))
    return schema


def create_problems(name, display_name):
    """``{field, message}`` of what a create's name and display name break, the name's first:
    checked before the schema, so one 422 lists them with the schema's own problems. A
    display name of spaces only is none, as a PATCH reads it."""
    named = display_name is not None and display_name.strip()
    return [*collections.name_problems(name), *([] if named else [DISPLAY_NAME_REQUIRED])]


def _depth(value):
    """How many containers deep ``value`` goes (iterative, so any depth is safe to measure)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        deepest = max(deepest, depth)
        stack.extend((child, depth + 1) for child in children)
    return deepest


def _iso_now():
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _schema_of(row):
    return row.schema if isinstance(row.schema, dict) else {}


def public_json(row):
    """A collection as SonicJS's public API returns it: the row with ``schema`` parsed."""
    return {
        "id": row.id, "name": row.name, "display_name": row.display_name, "description": row.description,
        "schema": _schema_of(row), "is_active": int(bool(row.is_active)), "managed": int(bool(row.managed)),
        "created_at": row.created_at, "updated_at": row.updated_at,
    }


def summary_json(row):
    """A collection in the admin list."""
    return {
        "id": row.id, "name": row.name, "display_name": row.display_name, "description": row.description,
        "created_at": row.created_at, "updated_at": row.updated_at, "is_active": bool(row.is_active),
        "managed": bool(row.managed), "field_count": len(_schema_of(row).get("properties") or {}),
    }


def fields_of(row):
    """SonicJS's ``fields`` list, derived from ``schema.properties`` (no content_fields table here)."""
    schema = _schema_of(row)
    required = set(schema.get("required") or [])
    fields = []
    for order, (name, config) in enumerate((schema.get("properties") or {}).items()):
        config = config if isinstance(config, dict) else {}
        options = {k: v for k, v in config.items() if k not in ("type", "title", "required")}
        fields.append({
            "id": f"{row.id}:{name}", "field_name": name, "field_type": config.get("type"),
            "field_label": config.get("title") or name, "field_options": options, "field_order": order,
            "is_required": bool(config.get("required")) or name in required,
            "is_searchable": config.get("type") in SEARCHABLE_TYPES,
        })
    return fields


def detail_json(row):
    """A collection as ``GET /admin/api/collections/{id}`` returns it."""
    return {
        "id": row.id, "name": row.name, "display_name": row.display_name, "description": row.description,
        "is_active": bool(row.is_active), "managed": bool(row.managed), "schema": _schema_of(row),
        "listFields": collections.shown_list_fields(row), "created_at": row.created_at,
        "updated_at": row.updated_at, "fields": fields_of(row),
    }


def _active_collections():
    return [public_json(r) for r in collections.active_collections()]


class PublicCollectionsResource:
    """``GET /api/collections``: active collections, ``{data, meta: {count, timestamp, cache, timing}}``."""

    def __init__(self, cache):
        self._cache = cache

    @access(public=True)
    @describe("Active collections with their schemas", response=ReadList[PublicCollection],
              headers={200: (CACHE_STATUS, CACHE_SOURCE, CACHE_TTL)})
    def on_get(self, req, resp):
        if self._cache is None:
            data, source, ttl = _active_collections(), DATABASE, None
        else:
            data, source, ttl = public_collections(self._cache, defer=req.context.ctx.wait_until)
        hit = source != DATABASE
        cache = {"hit": hit, "source": source}
        resp.set_header("X-Cache-Status", "HIT" if hit else "MISS")
        resp.set_header("X-Cache-Source", source)
        if ttl is not None:
            cache["ttl"] = math.ceil(ttl)
            resp.set_header("X-Cache-TTL", str(cache["ttl"]))
        resp.media = {
            "data": data,
            "meta": {**whole_list_meta(len(data)), "timestamp": _iso_now(), "cache": cache,
                     "timing": msgspec.Raw(timing_json(req.context))},
        }


def public_collections(cache, defer=None):
    """``(the active collections, source, ttl)`` of ``GET /api/collections`` through ``cache``:
    what the route looks up, and what warming the cache fills."""
    return cache.get_or_load_timed(CACHE_NAMESPACE, ("public-list",), _active_collections, defer=defer)


class AdminCollectionsResource:
    """``GET /admin/api/collections`` (``search``, ``includeInactive``) and ``POST``.

    Args:
        turn_wait_ms: how long a create waits for the schema turn (``SCHEMA_TURN_WAIT_MS``).
    """

    def __init__(self, cache, turn_wait_ms):
        self._cache = cache
        self._turn_wait_ms = turn_wait_ms

    @access("collections.read")
    @describe(
        "List collections",
        query=(
            Param("search", str, "in name and display name"),
            Param("includeInactive", bool, "include deactivated collections"),
        ),
        response=AdminCollections,
    )
    def on_get(self, req, resp):
        rows = collections.list_collections(
            include_inactive=req.get_param_as_bool("includeInactive", default=False),
            search=(req.get_param("search") or "").strip() or None,
        )
        timestamp = _iso_now()
        # count and timestamp also at the top, where SonicJS's admin API has them.
        resp.media = {
            "data": [summary_json(r) for r in rows], "meta": {**whole_list_meta(len(rows)), "timestamp": timestamp},
            "count": len(rows), "timestamp": timestamp,
        }

    @access("collections.create")
    @describe("Create a collection", body=CollectionCreate, status=201, response=CollectionCreated,
              headers=SCHEMA_TURN_WAITED)
    def on_post(self, req, resp):
        body = read_body(req, CollectionCreate)
        display_name = body.display_name or body.displayName
        schema = validated_schema(body.schema if body.schema is not None else default_schema(),
                                  found=create_problems(body.name, display_name))
        row = collections.create_collection(body.name, display_name, body.description, schema, body.is_active,
                                            turn_wait_ms=self._turn_wait_ms, list_fields=body.listFields)
        invalidate(self._cache, CACHE_NAMESPACE)
        resp.status = falcon.HTTP_201
        resp.media = {
            "id": row.id, "name": row.name, "displayName": row.display_name, "display_name": row.display_name,
            "description": row.description, "schema": schema, "is_active": bool(row.is_active),
            "listFields": row.list_fields, "created_at": row.created_at,
        }


class AdminCollectionResource:
    """``GET/PATCH/DELETE /admin/api/collections/{collection_id}``: the id or the name.

    Args:
        turn_wait_ms: how long a schema save or a delete waits for the schema turn.
    """

    def __init__(self, cache, turn_wait_ms):
        self._cache = cache
        self._turn_wait_ms = turn_wait_ms

    @access("collections.read")
    @describe("One collection with its fields", response=CollectionDetail)
    def on_get(self, req, resp, collection_id):
        resp.media = detail_json(collections.find_collection(collection_id))

    @access("collections.update")
    @describe("Update a collection", body=CollectionPatch, response=CollectionUpdated, headers=SCHEMA_TURN_WAITED)
    def on_patch(self, req, resp, collection_id):
        patch = read_body(req, CollectionPatch)
        changes = {}
        display_name = patch.display_name if patch.display_name is not msgspec.UNSET else patch.displayName
        if display_name is not msgspec.UNSET:
            if not display_name.strip():
                raise field_error("display_name", "display_name cannot be empty")
            changes["display_name"] = display_name
        if patch.description is not msgspec.UNSET:
            changes["description"] = patch.description
        if patch.is_active is not msgspec.UNSET:
            changes["is_active"] = patch.is_active
        if patch.schema is not msgspec.UNSET:
            changes["schema"] = validated_schema(patch.schema)
        if patch.listFields is not msgspec.UNSET:
            changes["list_fields"] = patch.listFields
        if not changes:
            raise nothing_to_update()
        row = collections.update_collection(collections.find_collection(collection_id).id, changes,
                                            turn_wait_ms=self._turn_wait_ms)
        invalidate(self._cache, CACHE_NAMESPACE)
        # Deactivating withdraws the collection's content from cached public reads too.
        invalidate(self._cache, Namespace.CONTENT)
        resp.media = {"message": "Collection updated successfully", "data": detail_json(row)}

    @access("collections.delete")
    @describe("Delete a collection without content", response=Message, headers=SCHEMA_TURN_WAITED)
    def on_delete(self, req, resp, collection_id):
        collections.delete_collection(collections.find_collection(collection_id).id, turn_wait_ms=self._turn_wait_ms)
        invalidate(self._cache, CACHE_NAMESPACE)
        resp.media = {"message": "Collection deleted successfully"}


def register(routes):
    """Mount the public and admin collection routes."""
    cache = routes.services.cache
    routes.add("/api/collections", PublicCollectionsResource(cache))
    wait = routes.settings.schema_turn_wait_ms
    routes.add("/admin/api/collections", AdminCollectionsResource(cache, wait))
    routes.add("/admin/api/collections/{collection_id}", AdminCollectionResource(cache, wait))
