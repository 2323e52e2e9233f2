"""The ``ai-search`` plugin's settings: SonicJS's keys and defaults, validated.

``enabled`` false makes every search answer no results (as SonicJS does); ``ai_mode_enabled``
false makes ``mode: "ai"`` a keyword search; ``selected_collections`` (collection ids)
narrows what is searched, every collection when empty; ``autocomplete_enabled`` false makes
the suggestions empty; ``results_limit`` is the page size when a search names none;
``index_media`` true makes a search find media files by their metadata too (``media.py``).
``dismissed_collections`` (ids) are the collections the admin page no longer offers for
search (``app.admin.ai_search``). ``cache_duration`` is how many hours the public's answers
are cached (0: never; ``cached.py``).
"""

import msgspec

from app.services.plugins import SettingError

MAX_COLLECTIONS = 200
MAX_CACHE_HOURS = 24
MIN_RESULTS_LIMIT, MAX_RESULTS_LIMIT = 10, 100


class SearchSettings(msgspec.Struct, forbid_unknown_fields=True):
    """Settings of ``ai-search``.

    Attributes:
        enabled: searches answer results (false: every search is empty).
        ai_mode_enabled: ``mode: "ai"`` ranks by meaning when an ``AI`` binding exists.
        selected_collections: ids of the collections searched; empty: every collection.
        dismissed_collections: ids of the collections the admin page no longer offers for search.
        autocomplete_enabled: ``/api/search/suggest`` answers suggestions.
        cache_duration: hours the public's answers are cached, 0 (never) to 24.
        results_limit: the page size when a search names none, 10 to 100.
        index_media: a search also answers the media files whose name, alt, caption or tags
            hold its words (``data.media``).
    """

    enabled: bool = True
    ai_mode_enabled: bool = True
    selected_collections: list[str] = msgspec.field(default_factory=list)
    dismissed_collections: list[str] = msgspec.field(default_factory=list)
    autocomplete_enabled: bool = True
    cache_duration: int = 1
    results_limit: int = 20
    index_media: bool = False

    def __post_init__(self):
        if not 0 <= self.cache_duration <= MAX_CACHE_HOURS:
            raise SettingError("cache_duration", f"cache_duration must be between 0 and {MAX_CACHE_HOURS} hours")
        if not MIN_RESULTS_LIMIT <= self.results_limit <= MAX_RESULTS_LIMIT:
            raise SettingError("results_limit",
                               f"results_limit must be between {MIN_RESULTS_LIMIT} and {MAX_RESULTS_LIMIT}")
        for name in ("selected_collections", "dismissed_collections"):
            ids = getattr(self, name)
            if len(ids) > MAX_COLLECTIONS:
                raise SettingError(name, f"{name} lists at most {MAX_COLLECTIONS} collections")
            if any(not isinstance(value, str) or not value or len(value) > 100 for value in ids):
                raise SettingError(name, f"{name} lists collection ids (1 to 100 characters each)")


DEFAULTS = msgspec.to_builtins(SearchSettings())


def settings_from(stored):
    """The SearchSettings of ``stored`` (the plugin's row); the defaults when they do not validate
    (a row written by hand), so a broken row never fails a search."""
    try:
        return msgspec.convert(stored or {}, SearchSettings)
    except (msgspec.ValidationError, TypeError):
        return SearchSettings()
