"""The media library's errors: ServiceErrors whose ``kind`` ``app.api.errors`` maps to a status.

They live in a module of their own so that every media module (storage, uploads, images,
the sweep) imports them without going through the package's ``__init__``.
"""

from app.services.errors import CONFLICT, INVALID, TOO_LARGE, UNSUPPORTED, ServiceError


class MediaError(ServiceError):
    """A media request that cannot be carried out; ``message`` and ``details`` are for the client."""

    kind = INVALID


class FileTooLarge(MediaError):
    """A file (or the request carrying it) is over the upload limit: 413."""

    kind = TOO_LARGE


class UnsupportedType(MediaError):
    """The content is not one of the allowed types: 415."""

    kind = UNSUPPORTED


class InvalidMedia(MediaError):
    """A well-formed request with invalid values (folder, tags, empty file, unreadable image): 422."""


class MediaInUse(MediaError):
    """The item is used by content (its featured image, or named in its data) and cannot be purged: 409."""

    kind = CONFLICT


class MediaConflict(MediaError):
    """The item changed under the request (moved or purged meanwhile): 409."""

    kind = CONFLICT


def changed_meanwhile():
    """The MediaConflict of a write whose row was moved or deleted since it was read."""
    return MediaConflict("the file was moved or deleted meanwhile")
