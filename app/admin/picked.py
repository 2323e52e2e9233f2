"""What a content form's media and reference values point at, shown beside their pickers."""

from app.admin.media import RASTER_TYPES
from app.services.content.query import Scope, get_item
from app.services.content.validation import schema_properties
from app.services.media import to_record
from app.services.media.library_queries import rows_by_id


def media_choice(row):
    """A media row as the picker and the form show it."""
    return {**to_record(row), "thumbnail": row.mime_type in RASTER_TYPES}


def picked_values(schema, data, user):
    """``{field: media record or content item}`` for the media and reference values in ``data``
    that exist and that ``user`` may see (what the pickers show beside their inputs)."""
    properties = schema_properties(schema) or {}
    media = {name: value for name, value in (data or {}).items()
             if isinstance(value, str) and (properties.get(name) or {}).get("type") in ("media", "file")}
    found = rows_by_id(list(media.values()), live_only=True) if media else {}
    picked = {name: media_choice(found[value]) for name, value in media.items() if value in found}
    scope = Scope.of(user)
    for name, value in (data or {}).items():
        if isinstance(value, str) and (properties.get(name) or {}).get("type") == "reference":
            item = get_item(scope, content_id=value)
            if item is not None:
                picked[name] = item
    return picked

