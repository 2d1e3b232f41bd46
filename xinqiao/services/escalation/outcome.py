"""What became of a staff member's 收到 or 已处理: done, or why not, as facts to be worded.

The engine decides; each channel says it in its own words (chat in
``handlers/escalation_texts.py``, the console on its item page), so a refusal's reason reaches
whoever acted wherever they acted.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class Handled(StrEnum):
    """The outcome of acknowledging or resolving an item."""

    acked = "acked"  # the climb stopped until ``due_at``
    resolved = "resolved"
    not_found = "not_found"  # no such item, or not one this person may handle
    already_acked = "already_acked"
    already_resolved = "already_resolved"
    checkin_closes_itself = "checkin_closes_itself"  # a missing check-in, to its committee member
    reason_required = "reason_required"  # a missing check-in closed by staff: say why


@dataclass(frozen=True)
class ItemOutcome:
    """One acknowledgement's or close's outcome: the item it was about and what is next."""

    kind: Handled
    ref: str  # the item as staff write it: D7
    due_at: datetime | None = None  # acked: the deadline to resolve it by

    @property
    def done(self) -> bool:
        """True when the item was acknowledged or resolved."""
        return self.kind in (Handled.acked, Handled.resolved)
