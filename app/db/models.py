"""Peewee models for every table of the migrations, bound to the env's DB at run time.

The schema itself is owned by ``migrations/*.sql`` (never ``create_tables``); these models
describe it for queries. Timestamps are epoch milliseconds; JSON columns are exposed as
Python values through ``JSONField``; booleans are stored as INTEGER 0/1 as in D1.
"""

import contextlib
import contextvars
import functools
import time
import uuid

import msgspec
import peewee


class ContextDatabaseProxy(peewee.DatabaseProxy):
    """A ``DatabaseProxy`` whose database is chosen per context, with a process-wide default.

    One process may serve the apps of several envs at once (``Worker.fetch(env=...)``), from
    several threads. A plain proxy is one global: re-pointing it for one request re-points
    every other request in flight, and they answer from the wrong database. Here each
    request binds its app's database in its own context (``bind_context``; a thread, or the
    context the Worker gives each request); code that binds nothing (the CLI, scheduled
    runs, tests) reads the default set by ``initialize``.

    Transaction and connection blocks (``atomic()``, ``transaction()``, ``savepoint()``,
    ``manual_commit()``, ``connection_context()``) take the database bound when they are
    entered and keep it until they exit, also when used as decorators.
    """

    __slots__ = ("_current", "_default")

    # peewee's Proxy refuses attributes outside the class's own ``__slots__`` (the parent's
    # are not in that tuple); with slots only, ``object.__setattr__`` still refuses any name
    # that no class declares, and ``obj`` (a property here) cannot be assigned at all.
    __setattr__ = object.__setattr__

    def __init__(self):
        self._current = contextvars.ContextVar("sonicpy.database", default=None)
        super().__init__()

    @property
    def obj(self):
        """The database of the current context, else the process-wide default (or None)."""
        current = self._current.get()
        return self._default if current is None else current

    def initialize(self, obj):
        """Make ``obj`` the process-wide default (peewee's Proxy API)."""
        self._default = obj
        for callback in self._callbacks:
            callback(obj)

    def bind_context(self, db):
        """Point the models at ``db`` in the current context only (``None``: follow the default).

        Returns:
            A token for ``reset_context``.
        """
        return self._current.set(db)

    def reset_context(self, token):
        """Undo the ``bind_context`` call that returned ``token``."""
        self._current.reset(token)

    @contextlib.contextmanager
    def bound(self, db):
        """``with database.bound(db):`` the models use ``db`` in this context for the block."""
        token = self.bind_context(db)
        try:
            yield db
        finally:
            self.reset_context(token)

    def atomic(self, *args, **kwargs):
        """``Database.atomic()`` of the database bound when the block is entered."""
        return _OnEntry(self, "atomic", args, kwargs)

    def transaction(self, *args, **kwargs):
        """``Database.transaction()`` of the database bound when the block is entered."""
        return _OnEntry(self, "transaction", args, kwargs)

    def savepoint(self, *args, **kwargs):
        """``Database.savepoint()`` of the database bound when the block is entered."""
        return _OnEntry(self, "savepoint", args, kwargs)

    def manual_commit(self):
        """``Database.manual_commit()`` of the database bound when the block is entered."""
        return _OnEntry(self, "manual_commit", (), {})

    def connection_context(self):
        """``Database.connection_context()`` of the database bound when the block is entered."""
        return _OnEntry(self, "connection_context", (), {})


class _OnEntry:
    """A block of the proxy's database as bound on entry (``with`` or decorator).

    peewee's proxy blocks keep the proxy and resolve it on every step (begin, commit,
    rollback); should the binding change inside the block, its end would reach another
    database than its start. This resolves once, on entry.
    """

    __slots__ = ("_args", "_block", "_kwargs", "_method", "_proxy")

    def __init__(self, proxy, method, args, kwargs):
        self._proxy = proxy
        self._method = method
        self._args = args
        self._kwargs = kwargs
        self._block = None

    def __enter__(self):
        db = self._proxy.obj
        if db is None:
            raise AttributeError("Cannot use uninitialized Proxy.")
        self._block = getattr(db, self._method)(*self._args, **self._kwargs)
        return self._block.__enter__()

    def __exit__(self, exc_type, exc_value, traceback):
        block, self._block = self._block, None
        return block.__exit__(exc_type, exc_value, traceback)

    def __call__(self, fn):
        @functools.wraps(fn)
        def inner(*args, **kwargs):
            # A fresh block per call: a decorated function may run in several threads at once.
            with _OnEntry(self._proxy, self._method, self._args, self._kwargs):
                return fn(*args, **kwargs)

        return inner


database = ContextDatabaseProxy()


HOUR_MS = 3600 * 1000
DAY_MS = 24 * HOUR_MS  # a UTC day: epoch milliseconds have no leap seconds


def now_ms():
    """The current time in epoch milliseconds, the unit of every timestamp column."""
    return int(time.time() * 1000)


def new_id():
    """A new random TEXT primary key."""
    return uuid.uuid4().hex


class JSONField(peewee.TextField):
    """A TEXT column holding JSON, read and written as Python values (msgspec does the work)."""

    def db_value(self, value):
        if value is None:
            return None
        return msgspec.json.encode(value).decode()

    def python_value(self, value):
        if value is None or not isinstance(value, (str, bytes)):
            return value
        try:
            return msgspec.json.decode(value)
        except msgspec.DecodeError:
            # Rows written by hand (d1 execute) may hold plain text; hand it back untouched.
            return value


class FlagField(peewee.IntegerField):
    """An INTEGER 0/1 column read as bool (SQLite and PostgreSQL store it alike)."""

    def db_value(self, value):
        return None if value is None else int(bool(value))

    def python_value(self, value):
        return None if value is None else bool(value)


class BaseModel(peewee.Model):
    """Base of all models: TEXT ids, no implicit auto-increment."""

    class Meta:
        database = database
        legacy_table_names = False


class User(BaseModel):
    id = peewee.TextField(primary_key=True, default=new_id)
    email = peewee.TextField(unique=True)
    username = peewee.TextField(unique=True)
    first_name = peewee.TextField()
    last_name = peewee.TextField()
    password_hash = peewee.TextField(null=True)
    role = peewee.TextField(default="viewer")
    avatar = peewee.TextField(null=True)
    is_active = FlagField(default=True)
    last_login_at = peewee.BigIntegerField(null=True)
    created_at = peewee.BigIntegerField(default=now_ms)
    updated_at = peewee.BigIntegerField(default=now_ms)
    phone = peewee.TextField(null=True)
    bio = peewee.TextField(null=True)
    avatar_url = peewee.TextField(null=True)
    timezone = peewee.TextField(null=True, default="UTC")
    language = peewee.TextField(null=True, default="en")
    email_notifications = FlagField(null=True, default=True)
    theme = peewee.TextField(null=True, default="dark")
    two_factor_enabled = FlagField(null=True, default=False)
    two_factor_secret = peewee.TextField(null=True)
    password_reset_token = peewee.TextField(null=True)
    password_reset_expires = peewee.BigIntegerField(null=True)
    email_verified = FlagField(null=True, default=False)
    email_verification_token = peewee.TextField(null=True)
    invitation_token = peewee.TextField(null=True)
    invited_by = peewee.ForeignKeyField("self", null=True, column_name="invited_by", field="id", backref="invitees")
    invited_at = peewee.BigIntegerField(null=True)
    accepted_invitation_at = peewee.BigIntegerField(null=True)
    token_version = peewee.IntegerField(default=0)

    class Meta:
        table_name = "users"

    @property
    def invitation_pending(self):
        """Whether the user has an invitation to accept: a token on an account not yet active.

        An active account's leftover token (``create-admin --update-existing`` before it
        withdrew invitations) is no open invitation: nothing may accept, resend or cancel it,
        and it holds back nothing an active account may change.
        """
        return self.invitation_token is not None and not self.is_active

    @classmethod
    def pending_invitation(cls):
        """``invitation_pending`` as a condition for queries."""
        return cls.invitation_token.is_null(False) & (cls.is_active == False)  # noqa: E712


class Collection(BaseModel):
    id = peewee.TextField(primary_key=True, default=new_id)
    name = peewee.TextField(unique=True)
    display_name = peewee.TextField()
    description = peewee.TextField(null=True)
    schema = JSONField()
    is_active = FlagField(default=True)
    managed = FlagField(default=False)
    # The admin content list's columns (``listFields``); None: the default columns.
    list_fields = JSONField(null=True)
    created_at = peewee.BigIntegerField(default=now_ms)
    updated_at = peewee.BigIntegerField(default=now_ms)

    class Meta:
        table_name = "collections"


class Media(BaseModel):
    id = peewee.TextField(primary_key=True, default=new_id)
    filename = peewee.TextField()
    original_name = peewee.TextField()
    mime_type = peewee.TextField()
    size = peewee.BigIntegerField()
    width = peewee.IntegerField(null=True)
    height = peewee.IntegerField(null=True)
    folder = peewee.TextField(default="uploads")
    r2_key = peewee.TextField()
    public_url = peewee.TextField()
    thumbnail_url = peewee.TextField(null=True)
    alt = peewee.TextField(null=True)
    caption = peewee.TextField(null=True)
    tags = JSONField(null=True)
    uploaded_by = peewee.ForeignKeyField(User, column_name="uploaded_by", backref="media")
    uploaded_at = peewee.BigIntegerField(default=now_ms)
    updated_at = peewee.BigIntegerField(null=True)
    published_at = peewee.BigIntegerField(null=True)
    scheduled_at = peewee.BigIntegerField(null=True)
    archived_at = peewee.BigIntegerField(null=True)
    deleted_at = peewee.BigIntegerField(null=True)

    class Meta:
        table_name = "media"


class MediaPendingObject(BaseModel):
    """A media object being written or deleted whose outcome no media row records yet."""

    key = peewee.TextField(primary_key=True)
    media_id = peewee.TextField()
    reason = peewee.TextField()
    created_at = peewee.BigIntegerField(default=now_ms)

    class Meta:
        table_name = "media_pending_objects"


class WorkflowState(BaseModel):
    id = peewee.TextField(primary_key=True)
    name = peewee.TextField()
    description = peewee.TextField(null=True)
    color = peewee.TextField(null=True)
    is_initial = FlagField(default=False)
    is_final = FlagField(default=False)
    created_at = peewee.BigIntegerField(null=True, default=now_ms)

    class Meta:
        table_name = "workflow_states"


class Content(BaseModel):
    id = peewee.TextField(primary_key=True, default=new_id)
    collection = peewee.ForeignKeyField(Collection, column_name="collection_id", backref="items")
    slug = peewee.TextField()
    title = peewee.TextField()
    data = JSONField()
    status = peewee.TextField(default="draft")
    published_at = peewee.BigIntegerField(null=True)
    author = peewee.ForeignKeyField(User, column_name="author_id", backref="content")
    created_at = peewee.BigIntegerField(default=now_ms)
    updated_at = peewee.BigIntegerField(default=now_ms)
    scheduled_publish_at = peewee.BigIntegerField(null=True)
    scheduled_unpublish_at = peewee.BigIntegerField(null=True)
    review_status = peewee.TextField(null=True, default="none")
    reviewer = peewee.ForeignKeyField(User, column_name="reviewer_id", null=True, backref="reviews")
    reviewed_at = peewee.BigIntegerField(null=True)
    review_notes = peewee.TextField(null=True)
    meta_title = peewee.TextField(null=True)
    meta_description = peewee.TextField(null=True)
    featured_image = peewee.ForeignKeyField(Media, column_name="featured_image_id", null=True, backref="featured_in")
    content_type = peewee.TextField(null=True, default="standard")
    workflow_state = peewee.ForeignKeyField(
        WorkflowState, column_name="workflow_state_id", null=True, default="draft", backref="content"
    )
    embargo_until = peewee.BigIntegerField(null=True)
    expires_at = peewee.BigIntegerField(null=True)
    version_number = peewee.IntegerField(default=1)
    is_auto_saved = FlagField(default=False)
    deleted_at = peewee.BigIntegerField(null=True)

    class Meta:
        table_name = "content"


class ContentCount(BaseModel):
    """How many content rows a collection has per status and deleted flag (kept by triggers)."""

    collection_id = peewee.TextField()
    status = peewee.TextField()
    deleted = peewee.IntegerField()
    n = peewee.BigIntegerField()

    class Meta:
        table_name = "content_counts"
        primary_key = peewee.CompositeKey("collection_id", "status", "deleted")


class ContentCountedField(BaseModel):
    """A collection's field whose string values are counted (``app.db.derived.track_declared``)."""

    collection_id = peewee.TextField()
    field = peewee.TextField()

    class Meta:
        table_name = "content_counts_fields"
        primary_key = peewee.CompositeKey("collection_id", "field")


class ContentValueCount(BaseModel):
    """How many content rows hold a string value in a counted field, per status and deleted flag
    (kept by triggers)."""

    collection_id = peewee.TextField()
    field = peewee.TextField()
    value = peewee.TextField()
    status = peewee.TextField()
    deleted = peewee.IntegerField()
    n = peewee.BigIntegerField()

    class Meta:
        table_name = "content_counts_values"
        primary_key = peewee.CompositeKey("collection_id", "field", "value", "status", "deleted")


class ContentMedia(BaseModel):
    """A media file a content row names in its data (kept by triggers: ``app.db.content_media``)."""

    content_id = peewee.TextField()
    media_id = peewee.TextField()

    class Meta:
        table_name = "content_media"
        primary_key = peewee.CompositeKey("content_id", "media_id")


class ContentVersion(BaseModel):
    id = peewee.TextField(primary_key=True, default=new_id)
    content = peewee.ForeignKeyField(Content, column_name="content_id", backref="versions")
    version = peewee.IntegerField()
    data = JSONField()
    author = peewee.ForeignKeyField(User, column_name="author_id", backref="content_versions")
    created_at = peewee.BigIntegerField(default=now_ms)

    class Meta:
        table_name = "content_versions"


class Workflow(BaseModel):
    id = peewee.TextField(primary_key=True, default=new_id)
    name = peewee.TextField()
    description = peewee.TextField(null=True)
    collection = peewee.ForeignKeyField(Collection, column_name="collection_id", null=True, backref="workflows")
    is_active = FlagField(default=True)
    auto_publish = FlagField(default=False)
    require_approval = FlagField(default=True)
    approval_levels = peewee.IntegerField(default=1)
    created_at = peewee.BigIntegerField(null=True, default=now_ms)
    updated_at = peewee.BigIntegerField(null=True, default=now_ms)

    class Meta:
        table_name = "workflows"


class WorkflowTransition(BaseModel):
    id = peewee.TextField(primary_key=True, default=new_id)
    workflow = peewee.ForeignKeyField(Workflow, column_name="workflow_id", backref="transitions")
    from_state = peewee.ForeignKeyField(WorkflowState, column_name="from_state_id", backref="transitions_out")
    to_state = peewee.ForeignKeyField(WorkflowState, column_name="to_state_id", backref="transitions_in")
    required_permission = peewee.TextField(null=True)
    auto_transition = FlagField(default=False)
    transition_conditions = JSONField(null=True)
    created_at = peewee.BigIntegerField(null=True, default=now_ms)

    class Meta:
        table_name = "workflow_transitions"


class WorkflowHistory(BaseModel):
    id = peewee.TextField(primary_key=True, default=new_id)
    content = peewee.ForeignKeyField(Content, column_name="content_id", backref="history")
    workflow = peewee.ForeignKeyField(Workflow, column_name="workflow_id", backref="history")
    from_state = peewee.ForeignKeyField(WorkflowState, column_name="from_state_id", null=True)
    to_state = peewee.ForeignKeyField(WorkflowState, column_name="to_state_id")
    user = peewee.ForeignKeyField(User, column_name="user_id", backref="workflow_actions")
    comment = peewee.TextField(null=True)
    metadata = JSONField(null=True)
    created_at = peewee.BigIntegerField(null=True, default=now_ms)

    class Meta:
        table_name = "workflow_history"


class ContentAssignment(BaseModel):
    """Who should act on an item next (review, publish), by when: one row per assigned item."""

    content = peewee.ForeignKeyField(Content, column_name="content_id", primary_key=True, backref="assignment",
                                     on_delete="CASCADE")
    assignee = peewee.ForeignKeyField(User, column_name="assignee_id", backref="assignments")
    assigned_by = peewee.ForeignKeyField(User, column_name="assigned_by", backref="assignments_made")
    due_at = peewee.BigIntegerField(null=True)
    note = peewee.TextField(null=True)
    assigned_at = peewee.BigIntegerField(default=now_ms)

    class Meta:
        table_name = "content_assignments"


class ScheduledContent(BaseModel):
    id = peewee.TextField(primary_key=True, default=new_id)
    content = peewee.ForeignKeyField(Content, column_name="content_id", backref="schedules")
    action = peewee.TextField()
    scheduled_at = peewee.BigIntegerField()
    timezone = peewee.TextField(null=True, default="UTC")
    user = peewee.ForeignKeyField(User, column_name="user_id", backref="schedules")
    # The API token the schedule was made with (None: a password session); no foreign key,
    # since revoking deletes the token and the schedule must still know it had one.
    api_token_id = peewee.TextField(null=True)
    status = peewee.TextField(null=True, default="pending")
    executed_at = peewee.BigIntegerField(null=True)
    error_message = peewee.TextField(null=True)
    created_at = peewee.BigIntegerField(null=True, default=now_ms)

    class Meta:
        table_name = "scheduled_content"


class Plugin(BaseModel):
    id = peewee.TextField(primary_key=True)
    name = peewee.TextField(unique=True)
    display_name = peewee.TextField()
    description = peewee.TextField(null=True)
    version = peewee.TextField()
    author = peewee.TextField()
    category = peewee.TextField()
    icon = peewee.TextField(null=True)
    status = peewee.TextField(null=True, default="inactive")
    is_core = FlagField(null=True, default=False)
    settings = JSONField(null=True)
    permissions = JSONField(null=True)
    dependencies = JSONField(null=True)
    download_count = peewee.IntegerField(null=True, default=0)
    rating = peewee.FloatField(null=True, default=0)
    installed_at = peewee.BigIntegerField(default=now_ms)
    activated_at = peewee.BigIntegerField(null=True)
    last_updated = peewee.BigIntegerField(default=now_ms)
    error_message = peewee.TextField(null=True)
    created_at = peewee.BigIntegerField(null=True, default=now_ms)
    updated_at = peewee.BigIntegerField(null=True, default=now_ms)

    class Meta:
        table_name = "plugins"


class PluginHook(BaseModel):
    id = peewee.TextField(primary_key=True, default=new_id)
    plugin = peewee.ForeignKeyField(Plugin, column_name="plugin_id", backref="hooks")
    hook_name = peewee.TextField()
    handler_name = peewee.TextField()
    priority = peewee.IntegerField(null=True, default=10)
    is_active = FlagField(null=True, default=True)
    created_at = peewee.BigIntegerField(null=True, default=now_ms)

    class Meta:
        table_name = "plugin_hooks"


class PluginRoute(BaseModel):
    id = peewee.TextField(primary_key=True, default=new_id)
    plugin = peewee.ForeignKeyField(Plugin, column_name="plugin_id", backref="routes")
    path = peewee.TextField()
    method = peewee.TextField()
    handler_name = peewee.TextField()
    middleware = JSONField(null=True)
    is_active = FlagField(null=True, default=True)
    created_at = peewee.BigIntegerField(null=True, default=now_ms)

    class Meta:
        table_name = "plugin_routes"


class Permission(BaseModel):
    id = peewee.TextField(primary_key=True)
    name = peewee.TextField(unique=True)
    description = peewee.TextField(null=True)
    category = peewee.TextField()
    created_at = peewee.BigIntegerField(default=now_ms)

    class Meta:
        table_name = "permissions"


class RolePermission(BaseModel):
    id = peewee.TextField(primary_key=True, default=new_id)
    role = peewee.TextField()
    permission = peewee.ForeignKeyField(Permission, column_name="permission_id", backref="roles")
    created_at = peewee.BigIntegerField(default=now_ms)

    class Meta:
        table_name = "role_permissions"


class ApiToken(BaseModel):
    id = peewee.TextField(primary_key=True, default=new_id)
    name = peewee.TextField()
    token = peewee.TextField(unique=True)
    user = peewee.ForeignKeyField(User, column_name="user_id", backref="api_tokens")
    permissions = JSONField()
    expires_at = peewee.BigIntegerField(null=True)
    last_used_at = peewee.BigIntegerField(null=True)
    created_at = peewee.BigIntegerField(default=now_ms)

    class Meta:
        table_name = "api_tokens"


class SystemLog(BaseModel):
    id = peewee.TextField(primary_key=True, default=new_id)
    level = peewee.TextField()
    category = peewee.TextField()
    message = peewee.TextField()
    data = JSONField(null=True)
    user = peewee.ForeignKeyField(User, column_name="user_id", null=True, backref="logs")
    session_id = peewee.TextField(null=True)
    request_id = peewee.TextField(null=True)
    ip_address = peewee.TextField(null=True)
    user_agent = peewee.TextField(null=True)
    method = peewee.TextField(null=True)
    url = peewee.TextField(null=True)
    status_code = peewee.IntegerField(null=True)
    duration = peewee.IntegerField(null=True)
    stack_trace = peewee.TextField(null=True)
    tags = JSONField(null=True)
    source = peewee.TextField(null=True)
    created_at = peewee.BigIntegerField(default=now_ms)

    class Meta:
        table_name = "system_logs"


class LogConfig(BaseModel):
    id = peewee.TextField(primary_key=True)
    category = peewee.TextField(unique=True)
    enabled = FlagField(default=True)
    level = peewee.TextField(default="info")
    retention_days = peewee.IntegerField(default=30)
    max_size_mb = peewee.IntegerField(default=100)
    created_at = peewee.BigIntegerField(default=now_ms)
    updated_at = peewee.BigIntegerField(default=now_ms)

    class Meta:
        table_name = "log_config"


class PluginAsset(BaseModel):
    id = peewee.TextField(primary_key=True, default=new_id)
    plugin = peewee.ForeignKeyField(Plugin, column_name="plugin_id", backref="assets")
    asset_type = peewee.TextField()
    asset_path = peewee.TextField()
    load_order = peewee.IntegerField(null=True, default=100)
    load_location = peewee.TextField(null=True, default="footer")
    is_active = FlagField(default=True)
    created_at = peewee.BigIntegerField(default=now_ms)

    class Meta:
        table_name = "plugin_assets"


class PluginActivity(BaseModel):
    id = peewee.TextField(primary_key=True, default=new_id)
    plugin = peewee.ForeignKeyField(Plugin, column_name="plugin_id", backref="activity")
    action = peewee.TextField()
    user_id = peewee.TextField(null=True)
    details = JSONField(null=True)
    created_at = peewee.BigIntegerField(default=now_ms)

    class Meta:
        table_name = "plugin_activity_log"


class Faq(BaseModel):
    id = peewee.TextField(primary_key=True, default=new_id)
    question = peewee.TextField()
    answer = peewee.TextField()
    category = peewee.TextField(null=True)
    tags = peewee.TextField(null=True)
    is_published = FlagField(default=True)
    sort_order = peewee.IntegerField(default=0)
    created_at = peewee.BigIntegerField(default=now_ms)
    updated_at = peewee.BigIntegerField(default=now_ms)

    class Meta:
        table_name = "faqs"


class Webhook(BaseModel):
    id = peewee.TextField(primary_key=True, default=new_id)
    url = peewee.TextField()
    events = JSONField(default=list)
    secret = peewee.TextField()
    is_active = FlagField(default=True)
    description = peewee.TextField(null=True)
    created_by = peewee.ForeignKeyField(User, column_name="created_by", null=True, on_delete="SET NULL")
    created_at = peewee.BigIntegerField(default=now_ms)
    updated_at = peewee.BigIntegerField(default=now_ms)

    class Meta:
        table_name = "webhooks"


class WebhookDelivery(BaseModel):
    id = peewee.TextField(primary_key=True, default=new_id)
    webhook = peewee.ForeignKeyField(Webhook, column_name="webhook_id", backref="deliveries", on_delete="CASCADE")
    event = peewee.TextField()
    payload = JSONField()
    status = peewee.TextField(default="pending")
    attempts = peewee.IntegerField(default=0)
    response_status = peewee.IntegerField(null=True)
    last_error = peewee.TextField(null=True)
    next_attempt_at = peewee.BigIntegerField(null=True)
    delivered_at = peewee.BigIntegerField(null=True)
    created_at = peewee.BigIntegerField(default=now_ms)
    updated_at = peewee.BigIntegerField(default=now_ms)

    class Meta:
        table_name = "webhook_deliveries"


class OtpCode(BaseModel):
    """A one-time sign-in code (``otp-login``): only its HMAC is stored."""

    id = peewee.TextField(primary_key=True, default=new_id)
    user = peewee.ForeignKeyField(User, column_name="user_id", backref="otp_codes", on_delete="CASCADE")
    code_hash = peewee.TextField()
    expires_at = peewee.BigIntegerField()
    attempts = peewee.IntegerField(default=0)
    token_version = peewee.IntegerField()  # the user's when issued: a bump since ends the code
    used_at = peewee.BigIntegerField(null=True)
    created_at = peewee.BigIntegerField(default=now_ms)

    class Meta:
        table_name = "otp_codes"


class MagicLink(BaseModel):
    """A one-time sign-in link (``magic-link-auth``): only its token's SHA-256 is stored."""

    id = peewee.TextField(primary_key=True, default=new_id)
    user = peewee.ForeignKeyField(User, column_name="user_id", backref="magic_links", on_delete="CASCADE")
    token_hash = peewee.TextField(unique=True)
    expires_at = peewee.BigIntegerField()
    token_version = peewee.IntegerField()  # the user's when issued: a bump since ends the link
    used_at = peewee.BigIntegerField(null=True)
    created_at = peewee.BigIntegerField(default=now_ms)

    class Meta:
        table_name = "magic_links"


class Form(BaseModel):
    """A form the public fills in (``app.services.forms``): its fields and settings as JSON."""

    id = peewee.TextField(primary_key=True, default=new_id)
    name = peewee.TextField(unique=True)
    display_name = peewee.TextField()
    description = peewee.TextField(null=True)
    fields = JSONField(default=dict)
    settings = JSONField(default=dict)
    is_active = FlagField(default=True)
    created_by = peewee.ForeignKeyField(User, column_name="created_by", null=True, on_delete="SET NULL")
    created_at = peewee.BigIntegerField(default=now_ms)
    updated_at = peewee.BigIntegerField(default=now_ms)

    class Meta:
        table_name = "forms"


class FormSubmission(BaseModel):
    """What a visitor sent through a form; the address only as a keyed hash."""

    id = peewee.TextField(primary_key=True, default=new_id)
    form = peewee.ForeignKeyField(Form, column_name="form_id", backref="submissions", on_delete="CASCADE")
    data = JSONField(default=dict)
    user = peewee.ForeignKeyField(User, column_name="user_id", null=True, on_delete="SET NULL")
    ip_hash = peewee.TextField(null=True)
    user_agent = peewee.TextField(null=True)
    status = peewee.TextField(default="new")
    created_at = peewee.BigIntegerField(default=now_ms)

    class Meta:
        table_name = "form_submissions"


class SearchHistory(BaseModel):
    """One search asked of the AI Search plugin (``POST /api/search``)."""

    id = peewee.TextField(primary_key=True, default=new_id)
    query = peewee.TextField()
    query_folded = peewee.TextField(default="")
    mode = peewee.TextField(default="keyword")
    results_count = peewee.IntegerField(default=0)
    query_time_ms = peewee.IntegerField(default=0)
    user = peewee.ForeignKeyField(User, column_name="user_id", null=True, on_delete="SET NULL")
    public = peewee.BooleanField(default=False)
    client_key = peewee.TextField(null=True)
    created_at = peewee.BigIntegerField(default=now_ms)

    class Meta:
        table_name = "search_history"


MODELS = [
    User, Collection, Media, MediaPendingObject, WorkflowState, Content, ContentCount, ContentCountedField,
    ContentValueCount, ContentMedia, ContentVersion, Workflow, WorkflowTransition, WorkflowHistory, ScheduledContent,
    ContentAssignment,
    Plugin, PluginHook, PluginRoute, PluginAsset, PluginActivity, Permission, RolePermission, ApiToken, SystemLog,
    LogConfig, Faq, Webhook, WebhookDelivery, OtpCode, MagicLink, Form, FormSubmission, SearchHistory,
]


def bind_models(db):
    """Point every model at ``db`` (the DB binding's Peewee database) by default.

    For code outside requests (the CLI, scheduled runs, tests): ``db`` becomes the
    process-wide default, and the current context drops any binding a request left in it
    (an app called without the Worker), so it follows the default too. Requests bind
    their app's database themselves (``app.api.middleware.DatabaseMiddleware``), in their
    own context only.
    """
    database.initialize(db)
    database.bind_context(None)


class SearchEmbedding(BaseModel):
    """The embedding vector of one content item (semantic search), float32 little-endian, normalised."""

    content = peewee.ForeignKeyField(Content, column_name="content_id", primary_key=True, on_delete="CASCADE")
    collection_id = peewee.TextField()
    model = peewee.TextField()
    dimensions = peewee.IntegerField()
    vector = peewee.BlobField(null=True)  # None: the model refused this text (``error`` says why)
    source_hash = peewee.TextField()
    content_updated_at = peewee.BigIntegerField(null=True)
    content_version = peewee.IntegerField(null=True)
    error = peewee.TextField(null=True)
    indexed_at = peewee.BigIntegerField(default=now_ms)

    class Meta:
        table_name = "search_embeddings"


MODELS.append(SearchEmbedding)


class SearchIndexState(BaseModel):
    """A named number the semantic index keeps (the scheduled job's ``updated_at`` watermark)."""

    name = peewee.TextField(primary_key=True)
    value = peewee.BigIntegerField()

    class Meta:
        table_name = "search_embeddings_state"


MODELS.append(SearchIndexState)


class CacheInvalidation(BaseModel):
    """A cache namespace whose new generation CACHE_KV did not take (``app.services.cache_lost``)."""

    namespace = peewee.TextField(primary_key=True)
    # How many were ever recorded, and how many of those a writer wrote: pending while
    # bumps > written. Neither restarts, so a writer marks only what it read.
    bumps = peewee.BigIntegerField()
    written = peewee.BigIntegerField()
    recorded_at = peewee.BigIntegerField()

    class Meta:
        table_name = "cache_invalidations"


MODELS.append(CacheInvalidation)
