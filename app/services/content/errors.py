"""What content services raise (never HTTP errors); ``app.api.errors`` maps each kind to a status."""

from app.services.errors import CONFLICT, FORBIDDEN, INVALID, NOT_FOUND, UNAVAILABLE, ServiceError


class ContentError(ServiceError):
    """A content write that cannot be carried out; ``details`` goes to the envelope."""


class ContentNotFound(ContentError):
    """No such (live) content, version or collection."""

    kind = NOT_FOUND


class ContentForbidden(ContentError):
    """The caller may not make this write."""

    kind = FORBIDDEN


class ContentConflict(ContentError):
    """Duplicate slug, stale version, or a state that forbids the write."""

    kind = CONFLICT


class VersionConflict(ContentConflict):
    """The item changed since the caller read it (a stale version), as opposed to a slug
    or a state in the way: reading it again is what to do."""


class ContentInvalid(ContentError):
    """Invalid fields; ``details`` is ``[{"field", "message"}]``."""

    kind = INVALID


class SearchIndexMissing(ContentError):
    """A search on a database without its search index: one loaded from an SQL dump (which
    leaves the index out) that no ``d1 migrations apply`` followed. The operator's to fix,
    not the client's: 503, without ``Retry-After`` (nothing says when)."""

    kind = UNAVAILABLE

    def __init__(self):
        super().__init__("Search is unavailable: this database has no search index yet (its operator must run "
                         "`d1 migrations apply`)", {"reason": "search_index_missing"})
