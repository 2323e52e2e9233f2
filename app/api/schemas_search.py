"""Request and response bodies of the AI Search plugin's routes (``app.api.search``)."""

from typing import Annotated, Literal

import msgspec

from app.api.schemas import Closed, Ms
from app.services.ai_search.history import MAX_QUERY_LENGTH

Unset = msgspec.UnsetType
UNSET = msgspec.UNSET
MAX_OFFSET = 10_000  # deeper pages of a ranked search cost more than any reader pages through
MAX_FILTER_VALUES = 50
Text = Annotated[str, msgspec.Meta(min_length=1, max_length=100)]
Moment = str | int


class DateRange(msgspec.Struct, forbid_unknown_fields=True):
    """``filters.dateRange``: ``start`` and ``end`` are epoch ms or ISO dates (a bare ``end``
    date includes its day); either may be left out."""

    start: Moment | None = None
    end: Moment | None = None
    field: Literal["created_at", "updated_at"] = "created_at"


class SearchFilters(msgspec.Struct, forbid_unknown_fields=True):
    """``filters`` of a search; every one given narrows it. ``dateRange`` is SonicJS's name
    (``date_range`` is accepted too, as every field in either casing)."""

    collections: Annotated[list[Text], msgspec.Meta(max_length=MAX_FILTER_VALUES)] | None = None
    status: Annotated[list[Literal["draft", "published", "archived", "all"]],
                      msgspec.Meta(max_length=4)] | None = None
    date_range: DateRange | None = msgspec.field(default=None, name="dateRange")
    author: Text | None = None
    tags: Annotated[list[Text], msgspec.Meta(max_length=20)] | None = None


class SearchBody(msgspec.Struct, forbid_unknown_fields=True):
    """``POST /api/search``: ``query`` is 1 to 200 characters once trimmed (``search=``'s syntax:
    words AND-ed, ``"phrases"``, ``prefix*``); ``limit`` defaults to the settings' ``results_limit``."""

    # The bounds apply to the trimmed text (the route checks them: an error raised in
    # ``__post_init__`` would name no field); the schema states them.
    query: Annotated[str, msgspec.Meta(extra_json_schema={"minLength": 1, "maxLength": MAX_QUERY_LENGTH})]
    mode: Literal["keyword", "ai"] = "keyword"
    filters: SearchFilters | None = msgspec.field(default_factory=SearchFilters)
    limit: Annotated[int, msgspec.Meta(ge=1, le=100)] | None = None
    offset: Annotated[int, msgspec.Meta(ge=0, le=MAX_OFFSET)] = 0


class SearchResult(Closed):
    """One item found; ``url`` is its API URL; ``relevance_score`` is the semantic similarity
    (null for a keyword search, whose results are in the full-text index's rank order)."""

    id: str
    title: str
    slug: str
    collection_id: str
    collection_name: str
    snippet: str
    relevance_score: float | None
    status: str
    created_at: Ms
    updated_at: Ms
    author_name: str | None
    url: str


class MediaResult(Closed):
    """One media file found by its metadata (``index_media``); ``url`` is its ``/files`` URL."""

    id: str
    filename: str
    original_name: str
    mime_type: str
    alt: str | None
    caption: str | None
    tags: list[str]
    url: str
    thumbnail_url: str | None
    width: int | None
    height: int | None
    uploaded_at: Ms


class SearchAnswer(Closed):
    """One page of a search; ``fallback`` says why an ``ai`` search was answered by keywords.
    With ``index_media`` on, ``media`` holds the files found (at most ``limit``, the same on
    every page) and ``media_total`` how many of the newest 1,000 live files match."""

    results: list[SearchResult]
    total: int
    query_time_ms: int
    mode: Literal["keyword", "ai"]
    fallback: str | Unset = UNSET
    total_is_estimate: bool | Unset = UNSET
    media: list[MediaResult] | Unset = UNSET
    media_total: int | Unset = UNSET


class SearchResponse(Closed):
    """``{success: true, data: {...}}`` of a search."""

    success: bool
    data: SearchAnswer


class Suggestions(Closed):
    """``{success: true, data: [...]}``: at most 10 completions."""

    success: bool
    data: list[str]


class PopularQuery(Closed):
    """A query asked, case folded, with how many times."""

    query: str
    count: int


class SearchAnalytics(Closed):
    """The searches of the last 30 days."""

    total_queries: int
    ai_queries: int
    keyword_queries: int
    popular_queries: list[PopularQuery]
    average_query_time: float


class AnalyticsResponse(Closed):
    """``{success: true, data: {...}}`` of the analytics."""

    success: bool
    data: SearchAnalytics
