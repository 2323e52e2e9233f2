"""``ImportReport``: what one import inserted, skipped and why, and which references it cleared."""

from dataclasses import dataclass, field


@dataclass
class ImportReport:
    """What one import did.

    Attributes:
        inserted: rows inserted per table, in import order.
        skipped: rows skipped per table.
        reasons: why each skipped row was skipped (``users u-1: ...``), but for rows
            already there by id, which are only counted.
        cleared_counts: references to rows in neither the backup nor the database, imported
            as NULL, per ``table.column``.
        cleared: one line per such reference.
    """

    inserted: dict = field(default_factory=dict)
    skipped: dict = field(default_factory=dict)
    reasons: list = field(default_factory=list)
    cleared_counts: dict = field(default_factory=dict)
    cleared: list = field(default_factory=list)

    def summary(self):
        """``users: 2 inserted, 1 skipped; ...``, then the references cleared, if any."""
        counts = "; ".join(f"{t}: {self.inserted[t]} inserted, {self.skipped[t]} skipped" for t in self.inserted)
        if not self.cleared_counts:
            return counts
        cleared = ", ".join(f"{n} {kind}" for kind, n in self.cleared_counts.items())
        return f"{counts}; references to rows in neither the backup nor the database, imported as NULL: {cleared}"
