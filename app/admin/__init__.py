"""The admin web UI at ``/admin``: server-rendered pages over the same services and access rules as the API.

``register(routes)`` mounts every page with ``Routes.add`` (so ``check_routes`` sees each
responder's ``@access`` rule) and adds the middleware all admin pages share (security
headers, CSRF checks, HTML refusals: ``app.admin.pages``).
"""

from app.admin.assets import Assets, StaticResource
from app.admin.collections import CollectionActiveAction, CollectionEditPage, CollectionNewPage, CollectionsPage
from app.admin.content import (
    ContentDeleteAction,
    ContentEditPage,
    ContentIndexPage,
    ContentListPage,
    ContentNewPage,
    ContentPurgeAction,
    ContentRestoreAction,
    ContentScheduleAction,
    ContentWorkflowAction,
)
from app.admin.csrf import CsrfTokens
from app.admin.dashboard import DashboardPage, RootRedirect
from app.admin.logs import LogsPage
from app.admin.media import (
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
from app.admin.plugins import PluginPage, PluginsPage, PluginSwitchAction
from app.admin.session import (
    AcceptInvitationPage,
    ForgotPasswordPage,
    LoginPage,
    LogoutPage,
    PasswordPage,
    ResetPasswordPage,
)
from app.admin.tokens import RevokeTokenAction, TokensPage
from app.admin.users import DeactivateAction, InviteAction, ReactivateAction, RoleAction, UsersPage
from app.admin.versions import VersionPage, VersionsPage
from app.api.auth import Guard


def register(routes):
    """Mount the admin pages, its static files and its middleware on ``routes``."""
    services, settings = routes.services, routes.settings
    assets = Assets()
    renderer = Renderer(assets, CsrfTokens(settings), settings)
    routes.app.add_middleware(AdminPagesMiddleware(renderer))
    guard = Guard(services.rate_limiter, settings)
    cache = services.cache
    routes.add("/", RootRedirect())
    routes.add("/admin", DashboardPage(renderer))
    routes.add("/admin/static/{path:path}", StaticResource(assets))
    routes.add("/admin/login", LoginPage(renderer, services.accounts, guard, settings))
    routes.add("/admin/logout", LogoutPage(services.accounts))
    routes.add("/admin/account/password", PasswordPage(renderer, services.accounts, guard, settings))
    routes.add("/admin/account/tokens", TokensPage(renderer, services.api_tokens))
    routes.add("/admin/account/tokens/{token_id}/revoke", RevokeTokenAction(services.api_tokens))
    routes.add("/admin/forgot-password", ForgotPasswordPage(renderer, services.accounts, guard, services.mailer))
    routes.add("/admin/reset-password", ResetPasswordPage(renderer, services.accounts, guard))
    routes.add("/admin/accept-invitation", AcceptInvitationPage(renderer, services.accounts, guard, settings))
    routes.add("/admin/content", ContentIndexPage(renderer))
    routes.add("/admin/content/{collection}", ContentListPage(renderer))
    routes.add("/admin/content/{collection}/new", ContentNewPage(renderer, cache))
    users_page = UsersPage(renderer)
    routes.add("/admin/users", users_page)
    routes.add("/admin/users/invite", InviteAction(users_page, services.accounts, services.mailer, cache))
    routes.add("/admin/users/{user_id}/role", RoleAction(users_page, cache))
    routes.add("/admin/users/{user_id}/deactivate", DeactivateAction(cache))
    routes.add("/admin/users/{user_id}/reactivate", ReactivateAction(cache))
    edit = ContentEditPage(renderer, cache)
    routes.add("/admin/content/{collection}/{id}", edit)
    db = routes.env.DB.db
    routes.add("/admin/content/{collection}/{id}/workflow", ContentWorkflowAction(edit, db, cache))
    routes.add("/admin/content/{collection}/{id}/schedule", ContentScheduleAction(edit, db, cache))
    routes.add("/admin/content/{collection}/{id}/delete", ContentDeleteAction(edit, cache))
    routes.add("/admin/content/{collection}/{id}/restore", ContentRestoreAction(edit, cache))
    routes.add("/admin/content/{collection}/{id}/purge", ContentPurgeAction(edit, cache))
    routes.add("/admin/content/{collection}/{id}/versions", VersionsPage(renderer))
    version = VersionPage(renderer, cache)
    routes.add("/admin/content/{collection}/{id}/versions/{version:int}", version)
    routes.add("/admin/content/{collection}/{id}/versions/{version:int}/restore", version, suffix="restore")
    _register_media_and_system(routes, renderer)
    _register_collections(routes, renderer, cache)
    _register_pickers(routes, renderer)


def _register_media_and_system(routes, renderer):
    """The media library, the permission matrix, plugins and logs."""
    services = routes.services
    library = services.media
    media = MediaPage(renderer, library)
    routes.add("/admin/media", media)
    routes.add("/admin/media/upload", MediaUploadAction(media, renderer.csrf))
    routes.add("/admin/media/{media_id}", MediaFilePage(renderer, library))
    routes.add("/admin/media/{media_id}/delete", MediaDeleteAction(library))
    routes.add("/admin/media/{media_id}/restore", MediaRestoreAction(library))
    routes.add("/admin/media/{media_id}/purge", MediaPurgeAction(library))
    routes.add("/admin/permissions", PermissionsPage(renderer, services.roles))
    routes.add("/admin/plugins", PluginsPage(renderer, services.plugins))
    routes.add("/admin/plugins/{name}", PluginPage(renderer, services.plugins))
    routes.add("/admin/plugins/{name}/activate", PluginSwitchAction(services.plugins, active=True))
    routes.add("/admin/plugins/{name}/deactivate", PluginSwitchAction(services.plugins, active=False))
    routes.add("/admin/logs", LogsPage(renderer))


def _register_collections(routes, renderer, cache):
    """The collections editor (admins) and its field builder."""
    routes.add("/admin/collections", CollectionsPage(renderer))
    routes.add("/admin/collections/new", CollectionNewPage(renderer, cache))
    editor = CollectionEditPage(renderer, cache)
    routes.add("/admin/collections/{name}", editor)
    routes.add("/admin/collections/{name}/active", CollectionActiveAction(editor, cache))


def _register_pickers(routes, renderer):
    """The content form's media and reference pickers and its Markdown preview (htmx fragments)."""
    routes.add("/admin/pickers/media", MediaPicker(renderer))
    routes.add("/admin/pickers/reference/{collection}/{field}", ReferencePicker(renderer))
    routes.add("/admin/preview/markdown", MarkdownPreview(renderer))
