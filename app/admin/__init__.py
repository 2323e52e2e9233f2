"""The admin web UI at ``/admin``: server-rendered pages over the same services and access rules as the API.

``register(routes)`` mounts every page with ``Routes.add_page`` (so ``check_routes`` sees
each responder's ``@access`` rule, and the OpenAPI document and the pages' middleware know
it for a page) and adds the middleware all admin pages share (security
headers, CSRF checks, HTML refusals: ``app.admin.pages``).
"""

from app.admin import activity as activity_pages
from app.admin import ai_search as ai_search_pages
from app.admin import cache as cache_pages
from app.admin.account import AccountPage
from app.admin.assets import StaticResource
from app.admin.assignments import AssignmentsPage, ContentAssignAction
from app.admin.collections import CollectionActiveAction, CollectionEditPage, CollectionNewPage, CollectionsPage
from app.admin.content import (
    ContentBulkAction,
    ContentDeleteAction,
    ContentDuplicateAction,
    ContentEditPage,
    ContentListPage,
    ContentNewPage,
    ContentPurgeAction,
    ContentRestoreAction,
    ContentScheduleAction,
    ContentScheduleCancelAction,
    ContentWorkflowAction,
)
from app.admin.content_index import ContentIndexPage
from app.admin.csrf import CsrfTokens
from app.admin.dashboard import DashboardPage, RootRedirect
from app.admin.log_config import LogConfigAction, LogConfigPage
from app.admin.log_search import LogSearchAction
from app.admin.logs import LogPage, LogsCleanupAction, LogsExport, LogsPage
from app.admin.media import (
    MediaBulkAction,
    MediaDeleteAction,
    MediaFilePage,
    MediaPage,
    MediaPurgeAction,
    MediaRestoreAction,
    MediaUploadAction,
)
from app.admin.pages import AdminPagesMiddleware, Renderer
from app.admin.permissions import PermissionsPage
from app.admin.pickers import MarkdownPreview, MediaPicker, ReferencePicker
from app.admin.plugin_pages import PluginAdminPage, PluginPages, collect
from app.admin.plugins import PluginPage, PluginsPage, PluginSwitchAction, PluginUninstallAction
from app.admin.session import (
    AcceptInvitationPage,
    ForgotPasswordPage,
    LoginPage,
    LogoutPage,
    PasswordPage,
    ResetPasswordPage,
    signed_in_name,
)
from app.admin.site_forms import register_forms
from app.admin.sonicjs_paths import register as register_sonicjs_paths
from app.admin.tokens import RevokeTokenAction, TokensPage
from app.admin.user_edit import CancelInvitationAction, NewUserPage, ResendInvitationAction, UserPage
from app.admin.users import DeactivateAction, InviteAction, ReactivateAction, RoleAction, UsersPage
from app.admin.users_export import UsersExport
from app.admin.versions import VersionPage, VersionsPage
from app.api.content_versions import MAX_VERSION
from app.api.rate_limits import Guard
from app.api.reauth import Reauthentication


def register(routes):
    """Mount the admin pages, its static files and its middleware on ``routes``."""
    services, settings = routes.services, routes.settings
    renderer = Renderer(services.pages, CsrfTokens(settings), settings)
    renderer.user_name = signed_in_name(services.cache)
    routes.app.add_middleware(AdminPagesMiddleware(renderer, routes.is_page, routes.identify))
    guard = Guard(services.rate_limiter, settings)
    cache = services.cache
    routes.add_page("/", RootRedirect())
    routes.add_page("/admin", DashboardPage(renderer))
    routes.add_page("/admin/static/{path:path}", StaticResource(services.pages.assets))
    routes.add_page("/admin/login", LoginPage(renderer, services.accounts, guard, settings))
    routes.add_page("/admin/logout", LogoutPage(renderer, services.accounts))
    routes.add_page("/admin/account", AccountPage(renderer, cache))
    routes.add_page("/admin/account/password", PasswordPage(renderer, services.accounts, guard, settings))
    reauth = Reauthentication(services.accounts, guard, settings)
    routes.add_page("/admin/account/tokens", TokensPage(renderer, services.api_tokens, reauth))
    routes.add_page("/admin/account/tokens/{token_id}/revoke", RevokeTokenAction(services.api_tokens))
    routes.add_page("/admin/forgot-password", ForgotPasswordPage(renderer, services.accounts, guard, services.mailer))
    routes.add_page("/admin/reset-password", ResetPasswordPage(renderer, services.accounts, guard))
    routes.add_page("/admin/accept-invitation", AcceptInvitationPage(renderer, services.accounts, guard, settings))
    routes.add_page("/admin/content", ContentIndexPage(renderer))
    content_list = ContentListPage(renderer)
    routes.add_page("/admin/content/{collection}", content_list)
    routes.add_page("/admin/content/{collection}/new", ContentNewPage(renderer, cache))
    routes.add_page("/admin/content/{collection}/bulk", ContentBulkAction(content_list, cache))
    _register_users(routes, renderer, reauth)
    edit = ContentEditPage(renderer, cache, services.roles)
    routes.add_page("/admin/content/{collection}/{id}", edit)
    db = routes.env.DB.db
    routes.add_page("/admin/content/{collection}/{id}/workflow", ContentWorkflowAction(edit, db, cache))
    routes.add_page("/admin/content/{collection}/{id}/schedule", ContentScheduleAction(edit, db, cache))
    routes.add_page("/admin/content/{collection}/{id}/schedules/{schedule_id}/cancel",
                    ContentScheduleCancelAction(edit, db, cache))
    routes.add_page("/admin/content/{collection}/{id}/assign", ContentAssignAction(edit, db, services.roles))
    routes.add_page("/admin/workflow/assignments", AssignmentsPage(renderer))
    routes.add_page("/admin/content/{collection}/{id}/delete", ContentDeleteAction(edit, cache))
    routes.add_page("/admin/content/{collection}/{id}/restore", ContentRestoreAction(edit, cache))
    routes.add_page("/admin/content/{collection}/{id}/duplicate", ContentDuplicateAction(edit, cache))
    routes.add_page("/admin/content/{collection}/{id}/purge", ContentPurgeAction(edit, cache))
    routes.add_page("/admin/content/{collection}/{id}/versions", VersionsPage(renderer))
    version = VersionPage(renderer, cache)
    # Bounded as the API's route is: past the column's range there is no such version (404).
    one = f"/admin/content/{{collection}}/{{id}}/versions/{{version:int(min=1, max={MAX_VERSION})}}"
    routes.add_page(one, version)
    routes.add_page(one + "/restore", version, suffix="restore")
    _register_media_and_system(routes, renderer)
    _register_collections(routes, renderer, cache)
    _register_pickers(routes, renderer)
    register_forms(routes, renderer)
    register_sonicjs_paths(routes)  # SonicJS's admin paths of pages that are elsewhere here


def _register_users(routes, renderer, reauth):
    """The users list, its actions and its export, a user's page, and creating users."""
    services, cache = routes.services, routes.services.cache
    accounts, mailer = services.accounts, services.mailer
    users_page = UsersPage(renderer, reauth)
    routes.add_page("/admin/users", users_page)
    routes.add_page("/admin/users/invite", InviteAction(users_page, accounts, mailer, cache))
    routes.add_page("/admin/users/new", NewUserPage(renderer, accounts, cache, reauth))
    routes.add_page("/admin/users/export", UsersExport())
    routes.add_page("/admin/users/{user_id}", UserPage(renderer, accounts, cache, reauth))
    routes.add_page("/admin/users/{user_id}/role", RoleAction(users_page, cache))
    routes.add_page("/admin/users/{user_id}/deactivate", DeactivateAction(users_page, cache))
    routes.add_page("/admin/users/{user_id}/reactivate", ReactivateAction(users_page, cache))
    routes.add_page("/admin/users/{user_id}/resend", ResendInvitationAction(users_page, accounts, mailer))
    routes.add_page("/admin/users/{user_id}/cancel", CancelInvitationAction(users_page, cache))


def _register_media_and_system(routes, renderer):
    """The media library, the permission matrix, plugins, logs and activity."""
    services = routes.services
    library = services.media
    media = MediaPage(renderer, library)
    routes.add_page("/admin/media", media)
    routes.add_page("/admin/media/upload", MediaUploadAction(media, renderer.csrf))
    routes.add_page("/admin/media/bulk", MediaBulkAction(media))
    routes.add_page("/admin/media/{media_id}", MediaFilePage(renderer, library))
    routes.add_page("/admin/media/{media_id}/delete", MediaDeleteAction(library))
    routes.add_page("/admin/media/{media_id}/restore", MediaRestoreAction(library))
    routes.add_page("/admin/media/{media_id}/purge", MediaPurgeAction(library))
    routes.add_page("/admin/permissions", PermissionsPage(renderer, services.roles))
    routes.add_page("/admin/plugins", PluginsPage(renderer, services.plugins))
    ai_search_pages.register(routes, renderer)
    routes.add_page("/admin/plugins/{name}", PluginPage(renderer, services.plugins))
    routes.add_page("/admin/plugins/{name}/activate", PluginSwitchAction(services.plugins, active=True))
    routes.add_page("/admin/plugins/{name}/deactivate", PluginSwitchAction(services.plugins, active=False))
    routes.add_page("/admin/plugins/{name}/uninstall", PluginUninstallAction(services.plugins))
    plugin_pages = PluginPages(services.plugins, collect(services.plugins, routes.env, routes.settings, services))
    routes.add_page("/admin/plugins/{name}/pages/{slug}", PluginAdminPage(renderer, plugin_pages))
    cache = cache_pages.register(routes, renderer)

    def plugin_nav(user):
        # The Cache page belongs to the core-cache plugin: in the nav while it is served.
        return cache.nav(user) + plugin_pages.nav(user)

    renderer.plugin_nav = plugin_nav
    routes.add_page("/admin/logs", LogsPage(renderer))
    routes.add_page("/admin/logs/export", LogsExport())
    routes.add_page("/admin/logs/cleanup", LogsCleanupAction())
    routes.add_page("/admin/logs/search", LogSearchAction(renderer))
    log_config = LogConfigPage(renderer)
    routes.add_page("/admin/logs/config", log_config)
    routes.add_page("/admin/logs/config/{category}", LogConfigAction(log_config))
    routes.add_page("/admin/logs/{log_id}", LogPage(renderer))
    activity_pages.register(routes, renderer)


def _register_collections(routes, renderer, cache):
    """The collections editor (admins) and its field builder."""
    routes.add_page("/admin/collections", CollectionsPage(renderer))
    wait = routes.settings.schema_turn_wait_ms
    routes.add_page("/admin/collections/new", CollectionNewPage(renderer, cache, wait))
    editor = CollectionEditPage(renderer, cache, wait)
    routes.add_page("/admin/collections/{name}", editor)
    routes.add_page("/admin/collections/{name}/active", CollectionActiveAction(editor, cache))


def _register_pickers(routes, renderer):
    """The content form's media and reference pickers and its Markdown preview (htmx fragments)."""
    routes.add_page("/admin/pickers/media", MediaPicker(renderer))
    routes.add_page("/admin/pickers/reference/{collection}/{field}", ReferencePicker(renderer))
    routes.add_page("/admin/preview/markdown", MarkdownPreview(renderer))
