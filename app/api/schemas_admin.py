"""Response bodies of media, stats, plugins, webhooks, cache and logs (see ``app.api.schemas``)."""

from typing import Any, Generic, TypeVar

import msgspec

from app.api.schemas import Closed, Ms

Unset = msgspec.UnsetType
UNSET = msgspec.UNSET
T = TypeVar("T")

# ------------------------------------------------------------------ media


class MediaFile(Closed):
    """A media file: SonicJS's ``file`` object (``r2_key`` in snake case among camelCase ones) plus what it lacks."""

    id: str
    filename: str
    originalName: str
    mimeType: str
    size: int
    width: int | None
    height: int | None
    folder: str
    r2_key: str
    publicUrl: str
    thumbnailUrl: str | None
    alt: str | None
    caption: str | None
    tags: list[Any]
    uploadedBy: str
    uploadedAt: Ms
    updatedAt: Ms | None
    deletedAt: Ms | None


class FileBody(Closed):
    """``{success, file}`` and, after a change, a ``message``."""

    success: bool
    file: MediaFile
    message: str | Unset = UNSET


class FilePurged(Closed):
    """A file deleted for good."""

    success: bool
    message: str
    id: str


class FileRemoved(Closed):
    """A file deleted: the soft-deleted ``file``, or the ``id`` of one purged (``hard=true``)."""

    success: bool
    message: str
    file: MediaFile | Unset = UNSET
    id: str | Unset = UNSET


class Summary(Closed):
    """How many of a batch succeeded."""

    total: int
    successful: int
    failed: int


class FileError(Closed):
    """A file of a batch that failed, by id (bulk operations) or by name (uploads)."""

    error: str
    fileId: str | Unset = UNSET
    filename: str | Unset = UNSET
    details: Any | Unset = UNSET


class BulkDeleted(Closed):
    """A file of a bulk delete."""

    fileId: str
    filename: str
    success: bool
    alreadyDeleted: bool | Unset = UNSET


class BulkMoved(Closed):
    """A file of a bulk move, where it is now."""

    fileId: str
    filename: str
    success: bool
    folder: str
    r2_key: str
    publicUrl: str
    unchanged: bool | Unset = UNSET


class BulkDeleteResult(Closed):
    """What a bulk delete did, per file."""

    success: bool
    deleted: list[BulkDeleted]
    errors: list[FileError]
    summary: Summary


class BulkMoveResult(Closed):
    """What a bulk move did, per file."""

    success: bool
    moved: list[BulkMoved]
    errors: list[FileError]
    summary: Summary


class UploadResult(Closed):
    """What a multi-file upload stored, and what it refused."""

    success: bool
    uploaded: list[MediaFile]
    errors: list[FileError]
    summary: Summary


class FolderChecked(Closed):
    """A folder name accepted (folders are virtual)."""

    success: bool
    message: str
    folder: str
    note: str


# ------------------------------------------------------------------ stats


class CollectionCount(Closed):
    """Live items of one collection; ``is_active`` false for a deactivated one, whose items
    the content lists leave out."""

    id: str
    name: str
    display_name: str
    is_active: bool
    count: int


class ContentStats(Closed):
    """Live content by status and by collection; ``deleted`` counts soft-deleted items."""

    total: int
    byStatus: dict[str, int]
    deleted: int
    byCollection: list[CollectionCount]


class MediaStats(Closed):
    """Live media files and their sizes in bytes."""

    count: int
    totalSize: int
    avgSize: int


class Storage(Closed):
    """Bytes stored: the database's size, the live media files' and their sum."""

    databaseSize: int
    mediaSize: int
    totalSize: int
    timestamp: str


class Stats(Closed):
    """The dashboard numbers (SonicJS's flat keys, then the detail)."""

    collections: int
    contentItems: int
    mediaFiles: int
    mediaSize: int
    users: int
    timestamp: str
    content: ContentStats
    media: MediaStats


# ------------------------------------------------------------------ plugins


class PluginInfo(Closed):
    """A plugin row, with whether this app has its code loaded."""

    id: str
    name: str
    display_name: str
    description: str | None
    version: str | None
    author: str | None
    category: str | None
    icon: str | None
    status: str
    is_core: bool
    settings: dict[str, Any]
    loaded: bool
    has_settings_schema: bool
    can_deactivate: bool
    installed_at: Ms | None
    activated_at: Ms | None
    last_updated: Ms | None


class PluginHookInfo(Closed):
    """One hook implementation a plugin registered (a ``plugin_hooks`` row)."""

    hook_name: str
    handler_name: str
    priority: int
    is_active: bool


class PluginRouteInfo(Closed):
    """One method of a route a plugin mounts (a ``plugin_routes`` row), with its access rule."""

    path: str
    method: str
    handler_name: str
    access: str | None
    is_active: bool


class PluginDetail(PluginInfo):
    """A plugin with its hooks, its routes and what its code reports about itself (``state``)."""

    hooks: list[PluginHookInfo]
    routes: list[PluginRouteInfo]
    state: Any | None


class PluginUninstalled(Closed):
    """An uninstalled plugin: its name, and its new row when its code is still loaded."""

    name: str
    reinstalled: PluginDetail | None


# ------------------------------------------------------------------ webhooks


class WebhookInfo(Closed):
    """A webhook endpoint; ``secret`` only when just created or replaced."""

    id: str
    url: str
    events: list[str]
    active: bool
    description: str | None
    created_at: Ms
    updated_at: Ms
    secret: str | Unset = UNSET


class Delivery(Closed):
    """One delivery of an event to an endpoint."""

    id: str
    webhook_id: str
    event: str
    status: str
    attempts: int
    response_status: int | None
    last_error: str | None
    next_attempt_at: Ms | None
    delivered_at: Ms | None
    created_at: Ms
    payload: Any


class IdOnly(Closed):
    """What was removed."""

    id: str


# ------------------------------------------------------------------ cache and logs


class NamespacePolicy(Closed):
    """How long a cache namespace lives (``ttl`` in force, ``default_ttl`` built in) and what it depends on."""

    ttl: int
    default_ttl: int
    depends_on: list[str]


class MemoryTier(Closed):
    """This worker's in-memory tier."""

    entries: int
    bytes: int


class CacheState(Closed):
    """The cache's namespaces, memory tier and invalidations not yet written to KV."""

    namespaces: dict[str, NamespacePolicy]
    memory: MemoryTier
    pending_invalidations: list[str]


class CacheReads(Closed):
    """Lookups of a namespace in this worker since it started, by the tier that answered."""

    memory: int
    kv: int
    database: int


class CacheNamespaceMemory(Closed):
    """What a namespace holds in this worker's memory tier."""

    entries: int
    bytes: int


class NamespaceStats(Closed):
    """A namespace's TTL and generation (shared), memory use and lookups (this worker's);
    ``generation`` is null while CACHE_KV is unavailable."""

    ttl: int
    default_ttl: int
    depends_on: list[str]
    generation: str | None
    memory: CacheNamespaceMemory
    reads: CacheReads
    hits: int
    misses: int


class CacheMemoryTotals(Closed):
    """This worker's memory tier: what it holds and may hold."""

    entries: int
    bytes: int
    max_bytes: int


class CacheStats(Closed):
    """Every namespace's stats; ``pid`` is the worker that counted them, ``scope`` says which numbers are its own."""

    pid: int
    scope: str
    namespaces: dict[str, NamespaceStats]
    memory: CacheMemoryTotals


class CacheNamespaceStats(NamespaceStats):
    """One namespace's stats, with its name and the worker that counted them."""

    namespace: str
    pid: int
    scope: str


class Stamped(Closed, Generic[T]):
    """``{success: true, data: {...}, timestamp}``, as SonicJS's cache routes answer."""

    success: bool
    data: T
    timestamp: str


class CacheCleared(Closed):
    """A namespace invalidated, with those depending on it (``cleared``); ``pending``: every
    namespace whose new generation CACHE_KV has not taken yet in this worker (retried)."""

    namespace: str
    cleared: list[str]
    pending: list[str]


class WarmedRead(Closed):
    """A public read looked up by a warm: its path and the tier that had it (``database``: loaded now)."""

    namespace: str
    path: str
    source: str


class CacheWarmed(Closed):
    """What a warm looked up, and how many of those it loaded."""

    warmed: list[WarmedRead]
    loaded: int


class CachePurged(Closed):
    """Namespaces purged; ``pending`` ones are retried when KV answers again."""

    purged: list[str]
    pending: list[str]


class LogEntry(Closed):
    """A system log row."""

    id: str
    level: str
    category: str
    message: str
    data: Any
    user_id: str | None
    request_id: str | None
    ip_address: str | None
    user_agent: str | None
    method: str | None
    url: str | None
    status_code: int | None
    duration: float | None
    source: str | None
    created_at: Ms


class LogExportMeta(Closed):
    """What a JSON log export holds: ``truncated`` when more rows matched than ``limit``."""

    count: int
    limit: int
    truncated: bool
    exported_at: Ms


class LogExport(Closed):
    """``GET /admin/api/logs/export?format=json``: the rows, newest first, and what they are."""

    data: list[LogEntry]
    meta: LogExportMeta


class LogCategoryConfig(Closed):
    """A log category's ``log_config`` row; a category without one shows what it behaves as
    (``configured`` false: everything logged, never purged, the limits null)."""

    category: str
    enabled: bool
    level: str
    retention_days: int | None
    max_size_mb: int | None
    configured: bool
    updated_at: Ms | None


class LogCleanup(Closed):
    """Rows deleted by applying each category's retention now."""

    deleted: dict[str, int]
    total: int
