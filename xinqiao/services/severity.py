"""How pressing an item's severity is: one ranking and one "urgent" rule for every place."""

from __future__ import annotations

from xinqiao.storage.reports import Severity

RANK = {Severity.routine: 0, Severity.soon: 1, Severity.urgent: 2, Severity.crisis: 3}


def is_urgent(severity: Severity | str) -> bool:
    """Urgent and crisis items: their pushes and deadlines go before everything else."""
    return RANK[Severity(severity)] >= RANK[Severity.urgent]
