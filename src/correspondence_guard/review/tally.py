"""What one review run did: messages read, checked, already seen, flagged, and the problems met.

Its own module: the run fills it in and the report data (``report.review_data``) reads it.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Tally:
    """What this run did."""

    read: int = 0  # messages dated in the period
    checked: int = 0  # checked now
    seen: int = 0  # already in the store, not checked again
    flagged: int = 0  # checked now, with findings
    scanned: int = 0  # messages read for the enquiry check (the period and the weeks before)
    problems: list[dict[str, str]] = field(default_factory=list)  # unreadable messages and sources

    @property
    def errors(self) -> int:
        return sum(1 for p in self.problems if p["kind"] == "message")
