"""The ``core-media`` core plugin: upload limits an admin may tighten at run time.

Its row is SonicJS's (migration 0006). Its settings narrow what the upload routes accept,
never widen it: ``max_upload_bytes`` lowers the largest file below ``MEDIA_MAX_UPLOAD_BYTES``
(the operator's cap, which also bounds request bodies; a larger value is capped), and
``allowed_types`` lists the MIME types (``image/png``) or families (``image/*``) kept from
the types the library can recognise; a file of another type is refused with 415. The
media library asks for them on each upload, through the cached plugin state, so every
worker follows a change on its next upload.

It cannot be deactivated (409): the media routes are the app's own, not the plugin's, and
an upload path without its limits would be the only thing deactivating could change.
"""

from dataclasses import dataclass

import msgspec

from app.services.media import sniff
from app.services.plugins import PluginInfo, ReadsOwnSettings, SettingError, hookimpl

NAME = "core-media"
KNOWN_TYPES = tuple(kind.mime for kind in sniff.ALLOWED_TYPES)
KNOWN_FAMILIES = tuple(sorted({mime.split("/", 1)[0] + "/*" for mime in KNOWN_TYPES}))


class MediaSettings(msgspec.Struct, forbid_unknown_fields=True):
    """Settings of ``core-media``.

    Attributes:
        max_upload_bytes: the largest file accepted (at most ``MEDIA_MAX_UPLOAD_BYTES``);
            None: that cap.
        allowed_types: MIME types or ``family/*`` accepted; None: every type recognised.
    """

    max_upload_bytes: int | None = None
    allowed_types: list[str] | None = None

    def __post_init__(self):
        if self.max_upload_bytes is not None and self.max_upload_bytes < 1:
            raise SettingError("max_upload_bytes", "max_upload_bytes must be at least 1")
        for name in self.allowed_types or ():
            if name not in KNOWN_TYPES and name not in KNOWN_FAMILIES:
                raise SettingError("allowed_types", f"allowed_types: {name!r} is not a type the library recognises "
                                                    f"(one of {', '.join(KNOWN_TYPES + KNOWN_FAMILIES)})")


INFO = PluginInfo(
    name=NAME, display_name="Media Manager", version="1.0.0", author="SonicJS Team", category="media",
    description="Core media upload and management system",
    settings_schema=MediaSettings, default_settings=msgspec.to_builtins(MediaSettings()),
    active_by_default=True, is_core=True, required=True,
)


@dataclass(frozen=True)
class UploadPolicy:
    """What the settings allow now (``MediaLibrary.policy_source`` returns one)."""

    max_upload_bytes: int | None = None
    allowed_types: tuple | None = None

    def allows(self, mime):
        """Whether a file of ``mime`` may be uploaded."""
        if self.allowed_types is None:
            return True
        return mime in self.allowed_types or f"{mime.split('/', 1)[0]}/*" in self.allowed_types


def policy_from_settings(settings):
    """The UploadPolicy of stored ``settings`` (values that fail the schema are ignored)."""
    limit = settings.get("max_upload_bytes")
    types = settings.get("allowed_types")
    return UploadPolicy(
        max_upload_bytes=limit if isinstance(limit, int) and not isinstance(limit, bool) and limit >= 1 else None,
        allowed_types=tuple(types) if isinstance(types, list) else None,
    )


class CoreMedia(ReadsOwnSettings):
    """The plugin object (one per app): it gives the media library its upload policy."""

    plugin_info = INFO

    @hookimpl
    def startup(self, services):
        self.attach(services)
        services.media.policy_source = self.policy

    def policy(self):
        """The upload policy the stored settings give now."""
        settings = self.own_settings()
        return policy_from_settings(settings) if settings is not None else None
