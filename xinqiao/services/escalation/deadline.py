"""An escalation's deadline: what it does when it fires, and its timer row.

``Escalations.on_deadline`` (one item) and ``batch`` (many at once) both decide
with ``next_step`` and schedule with ``deadline_timer``, so the two can never drift apart.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from xinqiao.services.severity import is_urgent
from xinqiao.services.timers import TimerPriority
from xinqiao.storage.reports import Escalation, EscalationStatus, Timer

DEADLINE = "escalation.deadline"


class NextStep(StrEnum):
    """What a due deadline does to its item."""

    nothing = "nothing"  # resolved, or a stale timer (acknowledged or moved on since)
    lapse = "lapse"  # acknowledged but not resolved in time
    remind_exhausted = "remind_exhausted"  # nobody acknowledged: the centre is reminded again
    climb = "climb"  # the next level of the chain is told
    repeat = "repeat"  # the last level is reminded again (the policy's repeats)
    exhaust = "exhaust"  # the chain ran out: the centre lead and the staff on duty get it


def next_step(esc: Escalation | None, timer: Timer) -> NextStep:
    """The next step of an item whose deadline ``timer`` fired (it is locked by the caller)."""
    if esc is None or esc.status == EscalationStatus.resolved or esc.token != timer.token:
        return NextStep.nothing
    if esc.status == EscalationStatus.acked:
        return NextStep.lapse
    if esc.exhausted_at is not None:
        return NextStep.remind_exhausted
    if esc.level + 1 < len(esc.chain):
        return NextStep.climb
    if esc.repeats > 0:
        return NextStep.repeat
    return NextStep.exhaust


def deadline_priority(esc: Escalation) -> int:
    """A crisis or urgent item's next step fires before everything else that is due."""
    return int(TimerPriority.crisis if is_urgent(esc.severity) else TimerPriority.alert)


def deadline_timer(esc: Escalation, now: datetime) -> dict[str, Any]:
    """The timer row of the item's current deadline (for ``timers.schedule_many``)."""
    return {"kind": DEADLINE, "ref": str(esc.id), "token": esc.token, "due_at": esc.due_at,
            "created_at": now, "priority": deadline_priority(esc)}
