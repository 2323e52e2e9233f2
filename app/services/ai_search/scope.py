"""Which collections the semantic index keeps vectors of, read from the ``ai-search`` plugin's row.

Every vector costs a call to the embeddings model (often a paid one), so the scheduled job
embeds only what searches can use: nothing while the plugin is inactive, its searches are
turned off (``enabled``) or ``mode: "ai"`` is (``ai_mode_enabled``); else the
``selected_collections``, or every collection when none is selected.
"""

from app.db.models import Plugin
from app.services.ai_search.settings import settings_from
from app.services.plugins.registry import ACTIVE

PLUGIN_NAME = "ai-search"


def indexed_collections():
    """``(wanted, collection_ids)``: whether vectors are wanted at all and, if so, the ids of
    the collections searched, or None for every collection.

    A database no app has started on has no plugin row yet: the plugin starts active with its
    default settings, so vectors are wanted for every collection.
    """
    row = Plugin.get_or_none(Plugin.name == PLUGIN_NAME)
    if row is None:
        return True, None
    settings = settings_from(row.settings)
    if row.status != ACTIVE or not (settings.enabled and settings.ai_mode_enabled):
        return False, None
    return True, list(settings.selected_collections) or None
