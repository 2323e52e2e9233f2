"""What content services raise (never HTTP errors); ``app.api.content`` maps each to a status."""


class ContentError(Exception):
    """A content write that cannot be carried out; ``details`` goes to the envelope."""

    def __init__(self, message, details=None):
        super().__init__(message)
        self.message = message
        self.details = details


class ContentNotFound(ContentError):
    """No such (live) content, version or collection."""


class ContentForbidden(ContentError):
    """The caller may not make this write."""


class ContentConflict(ContentError):
    """Duplicate slug, stale version, or a state that forbids the write."""


class ContentInvalid(ContentError):
    """Invalid fields; ``details`` is ``[{"field", "message"}]``."""
