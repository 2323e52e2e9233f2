"""The ``ai-search`` core plugin: ``POST /api/search``, its suggestions and its analytics.

Searches read content exactly as ``/api/content`` does for the same caller (published items
only for the public), through the full-text index; ``mode: "ai"`` ranks by meaning when the
env has an ``AI`` binding (``app.services.ai_search``). Its settings are SonicJS's
(``app.services.ai_search.settings``), edited through the generic plugin settings API and
page. The routes answer 404 while the plugin is inactive.
"""

from app.services.ai_search.semantic import semantic_index_for
from app.services.ai_search.settings import DEFAULTS, SearchSettings, settings_from
from app.services.plugins import PluginInfo, ReadsOwnSettings, hookimpl

NAME = "ai-search"

INFO = PluginInfo(
    name=NAME, display_name="AI Search", version="1.0.0", author="SonicJS", category="content",
    description="Full-text and semantic search across content collections, with filters, suggestions and analytics",
    settings_schema=SearchSettings, default_settings=DEFAULTS, active_by_default=True, is_core=True,
)


class AISearch(ReadsOwnSettings):
    """The plugin object (one per app): it mounts the search routes and reads its settings."""

    plugin_info = INFO

    @hookimpl
    def startup(self, services):
        self.attach(services)

    @hookimpl
    def register_routes(self, env):
        from app.api.search import search_routes  # the resources live with the other API modules

        return search_routes(self.settings, lambda: semantic_index_for(env))

    def settings(self):
        """The SearchSettings now (the defaults before ``startup``)."""
        return settings_from(self.own_settings())
