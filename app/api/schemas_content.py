"""Response bodies of content, versions, workflow, schedules and collections (see ``app.api.schemas``)."""

from typing import Any, Generic, Literal, TypeVar

import msgspec

from app.api.schemas import Closed, Ms, PageMeta

Unset = msgspec.UnsetType
UNSET = msgspec.UNSET


class ContentAuthor(Closed):
    """An item's author; ``email`` only for callers who may read users."""

    id: str
    name: str
    email: str | Unset = UNSET


class CollectionRef(Closed):
    """The collection an item belongs to."""

    id: str
    name: str
    display_name: str


class FeaturedImage(Closed):
    """An item's featured image (null when it has none, or it was deleted)."""

    id: str
    url: str
    thumbnail_url: str | None
    alt: str | None
    width: int | None
    height: int | None
    mime_type: str


class ContentItem(Closed):
    """A content item: SonicJS's keys plus ours. ``data`` holds the user's fields as written.

    ``workflow_state_id`` and ``deleted_at`` only for callers who may read unpublished content.
    """

    id: str
    title: str
    slug: str
    status: str
    collectionId: str
    # The user's fields: an object, unless a row was stored as something else (answered as stored).
    data: Any
    created_at: Ms
    updated_at: Ms
    published_at: Ms | None
    # null for a row written by hand with SQL without one (its next edit numbers it 2).
    version_number: int | None
    meta_title: str | None
    meta_description: str | None
    author: ContentAuthor
    collection: CollectionRef
    featuredImage: FeaturedImage | None
    workflow_state_id: str | None | Unset = UNSET
    deleted_at: Ms | None | Unset = UNSET


class CacheInfo(Closed):
    """Whether a read came from the cache, from which tier (``memory``, ``kv``, ``database``),
    and on a hit how many whole seconds the answer stays cached in this worker (``ttl``)."""

    hit: bool
    source: str
    ttl: int | msgspec.UnsetType = msgspec.UNSET


class Timing(Closed):
    """How long the request took until its body was made, and the database's part of it."""

    total: float
    execution: float
    unit: Literal["ms"]


class ReadMeta(Closed):
    """When a read was answered (ISO 8601, as SonicJS sends it), from where, and how fast."""

    timestamp: str
    cache: CacheInfo
    timing: Timing


class ReadListMeta(PageMeta, kw_only=True):
    """A public list read's page block, with when, from where and how fast it was answered."""

    timestamp: str
    cache: CacheInfo
    timing: Timing


Item = TypeVar("Item")


class ReadList(msgspec.Struct, Generic[Item]):
    """One page of a list read through the cache: ``{data: [...], meta: ReadListMeta}``."""

    data: list[Item]
    meta: ReadListMeta


class ContentRead(Closed):
    """One item as the read routes answer it: ``{data, meta: {timestamp, cache}}``."""

    data: ContentItem
    meta: ReadMeta


class ContentListItem(Closed):
    """An item in a content list: every key of an item, but ``fields=`` may keep only some (``id`` always)."""

    id: str
    title: str | Unset = UNSET
    slug: str | Unset = UNSET
    status: str | Unset = UNSET
    collectionId: str | Unset = UNSET
    data: Any | Unset = UNSET
    created_at: Ms | Unset = UNSET
    updated_at: Ms | Unset = UNSET
    published_at: Ms | None | Unset = UNSET
    version_number: int | None | Unset = UNSET
    meta_title: str | None | Unset = UNSET
    meta_description: str | None | Unset = UNSET
    author: ContentAuthor | Unset = UNSET
    collection: CollectionRef | Unset = UNSET
    featuredImage: FeaturedImage | None | Unset = UNSET
    workflow_state_id: str | None | Unset = UNSET
    deleted_at: Ms | None | Unset = UNSET


class SlugAvailability(Closed):
    """SonicJS's check-slug answer: ``{available}``, with a ``message`` when it is taken."""

    available: bool
    message: str | Unset = UNSET


class Removed(Closed):
    """What a delete removed: ``deleted_at`` after a soft delete, ``purged`` after a hard one."""

    id: str
    deleted_at: Ms | Unset = UNSET
    purged: bool | Unset = UNSET


class BulkDone(Closed):
    """``POST /api/content/bulk-action``'s answer: ``ids`` the items changed (``count`` of them),
    ``unchanged`` those already in the state asked for."""

    success: bool
    action: str
    count: int
    ids: list[str]
    unchanged: list[str]


class VersionAuthor(Closed):
    """Who saved a version."""

    id: str
    name: str


class VersionSummary(Closed):
    """A version in the list (without its snapshot)."""

    version: int
    content_id: str
    created_at: Ms
    author: VersionAuthor
    is_current: bool
    title: str | None
    slug: str | None
    status: str | None


class Version(VersionSummary):
    """One version with its snapshot."""

    data: Any
    workflow_state_id: str | None
    meta_title: str | None
    meta_description: str | None
    featured_image_id: str | None
    published_at: Ms | None


class StateRef(Closed):
    """A workflow state."""

    id: str | None
    name: str | None
    color: str | None
    is_final: bool


class WorkflowRef(Closed):
    """The workflow an item follows."""

    id: str
    name: str


class Review(Closed):
    """The review block: outcome, reviewer, time and notes."""

    status: str | None
    reviewer_id: str | None
    reviewed_at: Ms | None
    notes: str | None


class Move(Closed):
    """A move the caller may make now."""

    action: str | None
    to_state: str
    name: str
    required_permission: str | None


class AssignmentUser(Closed):
    """The assignee of an item, or who assigned it."""

    id: str
    username: str
    name: str


class Assignment(Closed):
    """Who should act on an item next, by when (``overdue`` once ``due_at`` has passed)."""

    content_id: str
    assignee: AssignmentUser
    assigned_by: AssignmentUser
    due_at: Ms | None
    overdue: bool
    note: str | None
    assigned_at: Ms


class WorkflowView(Closed):
    """An item's workflow state, review and assignment (for reviewers, its author and its
    assignee) and allowed moves."""

    content_id: str
    state: StateRef
    status: str
    version_number: int | None  # null: see ContentItem
    published_at: Ms | None
    workflow: WorkflowRef | None
    review: Review | None
    assignment: Assignment | None
    scheduled_publish_at: Ms | None
    scheduled_unpublish_at: Ms | None
    transitions: list[Move]


class MoveMeta(Closed):
    """What a workflow move did."""

    action: str | None
    from_state: str | None
    to_state: str | None
    history_id: str


class Moved(Closed):
    """``{data: the new workflow view, meta: the move}``."""

    data: WorkflowView
    meta: MoveMeta


class HistoryUser(Closed):
    """Who made a move; ``email`` only for callers who may read users."""

    id: str
    username: str
    name: str
    email: str | Unset = UNSET


class HistoryEntry(Closed):
    """One move in an item's workflow history."""

    id: str
    action: str | None
    from_state: str | None
    to_state: str | None
    comment: str | None
    metadata: Any
    created_at: Ms
    user: HistoryUser


class ScheduleUser(Closed):
    """Who scheduled."""

    id: str
    email: str
    username: str


class ScheduleContent(Closed):
    """The scheduled item."""

    id: str
    title: str
    slug: str
    status: str


class Schedule(Closed):
    """A scheduled publish, unpublish or archive; ``scheduled_at`` also as ISO 8601, UTC and local."""

    id: str
    content_id: str
    action: str
    scheduled_at: Ms
    scheduled_at_iso: str
    local_time: str
    timezone: str
    status: str
    executed_at: Ms | None
    error_message: str | None
    created_at: Ms
    user: ScheduleUser
    content: ScheduleContent


class PublicCollection(Closed):
    """A collection as SonicJS's public API returns it (flags as 0/1)."""

    id: str
    name: str
    display_name: str
    description: str | None
    schema: dict[str, Any]
    is_active: int
    managed: int
    created_at: Ms
    updated_at: Ms


class CollectionSummary(Closed):
    """A collection in the admin list."""

    id: str
    name: str
    display_name: str
    description: str | None
    created_at: Ms
    updated_at: Ms
    is_active: bool
    managed: bool
    field_count: int


class CollectionField(Closed):
    """A field of a collection, derived from ``schema.properties`` (SonicJS's ``fields``)."""

    id: str
    field_name: str
    field_type: str | None
    field_label: str
    field_options: dict[str, Any]
    field_order: int
    is_required: bool
    is_searchable: bool


class CollectionDetail(Closed):
    """A collection with its schema and fields."""

    id: str
    name: str
    display_name: str
    description: str | None
    is_active: bool
    managed: bool
    schema: dict[str, Any]
    listFields: list[str] | None
    created_at: Ms
    updated_at: Ms
    fields: list[CollectionField]


class CollectionCreated(Closed):
    """A new collection (``displayName`` and ``display_name`` both, as SonicJS's admin API)."""

    id: str
    name: str
    displayName: str
    display_name: str
    description: str | None
    schema: dict[str, Any]
    is_active: bool
    listFields: list[str] | None
    created_at: Ms


class CollectionUpdated(Closed):
    """``{message, data: the collection}``."""

    message: str
    data: CollectionDetail


class AdminCollections(msgspec.Struct):
    """The admin list of collections, with ``count`` and ``timestamp`` also at the top (SonicJS's admin API)."""

    data: list[CollectionSummary]
    meta: PageMeta
    count: int
    timestamp: str
