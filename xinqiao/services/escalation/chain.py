"""Walking an escalation's chain: notify a level, skip one nobody can be reached at, lapse an
acknowledged item not resolved in time, and hand an exhausted one to the centre (design.md §3.2).

``Escalations`` (engine.py) opens items and takes the staff's actions; this base
holds the climb itself and the deadline arithmetic, inside the caller's transaction.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlmodel.ext.asyncio.session import AsyncSession

from xinqiao.services.escalation import checkin_items
from xinqiao.services.escalation.deadline import deadline_timer
from xinqiao.services.escalation.record import add_recipients, step, tell
from xinqiao.services.escalation.text import (
    duration_words,
    exhausted_alert,
    exhausted_reminder,
    lapsed_reminder,
    level_alert,
    why_skipped,
)
from xinqiao.services.recipients import level_recipients, unreachable
from xinqiao.services.timers import schedule_many
from xinqiao.storage.reports import Escalation, EscalationStatus, Severity

# The escalation engine's log, whichever of its modules writes (operators grep for it).
log = logging.getLogger("xinqiao.services.escalation.engine")
EXHAUSTED_LEVELS = ("centre_lead", "centre")  # who gets an item nobody acknowledged
Window = tuple[timedelta, bool]  # a duration, and whether it counts working time only


class Calendar(Protocol):
    """Adds working time (the policy's working hours and the Chinese holiday calendar)."""

    def add_working(self, start: datetime, delta: timedelta) -> datetime:
        """The moment ``delta`` of working time after ``start``."""
        ...


class ChainWalker:
    """The policy's chain and calendar, and how an item moves along the chain."""

    def __init__(
        self, chain_for: Callable[[Severity], list[dict[str, Any]]], calendar: Calendar,
        repeat_last: Callable[[Severity], int],
        resolve_within: Callable[[Severity], Window] | None = None,
        remind_every: Callable[[Severity], Window] | None = None,
    ) -> None:
        self.chain_for = chain_for
        self.calendar = calendar
        self.repeat_last = repeat_last
        self.resolve_within = resolve_within or _default_resolve
        self.remind_every = remind_every or (lambda _: (timedelta(hours=1), False))

    async def _enter_level(
        self, s: AsyncSession, esc: Escalation, level: int, now: datetime, *, title: str,
        again: bool = False, why: str | None = None,
    ) -> None:
        """Notify a level; a level nobody can be reached at is skipped at once, and the next
        one is told why (the last one's turn goes to the centre lead and the staff on duty)."""
        assert esc.id is not None
        while True:
            esc.level, esc.token = level, esc.token + 1
            entry = esc.chain[level]
            people = await level_recipients(s, entry["notify"], esc.college_id, esc.klass_id,
                                            at=now)
            gone = await unreachable(s, people)
            if not again:
                await add_recipients(s, esc, people, level, now)
            if len(gone) < len(people):
                break
            skipped = why_skipped(entry, people, gone)
            await step(s, esc, "skipped", now, recipients=people, note=skipped)
            log.warning("escalation %s: nobody reachable at level %s (%s); moving on",
                        esc.id, level, skipped)
            if level + 1 >= len(esc.chain):
                await self._exhausted(s, esc, now, title, why=skipped)
                return
            level, again, why = level + 1, False, skipped
        esc.due_at = self._deadline(entry, now)
        s.add(esc)
        await step(s, esc, "reminded" if again else "notified", now, recipients=people)
        committee = esc.kind == checkin_items.MISSING and entry["notify"] == ["committee"]
        reply = (checkin_items.committee_reminder(esc, title, again) if committee
                 else level_alert(esc, title, again, why))
        # The committee's reminder is the form's door: tell (push_to_people) makes its numbers
        # open it on the account it reached.
        await tell(s, esc, people, now, f"level:{level}:{esc.token}", reply, alert=True)
        await schedule_many(s, [deadline_timer(esc, now)])

    async def _exhausted(
        self, s: AsyncSession, esc: Escalation, now: datetime, title: str, *,
        why: str | None = None, again: bool = False,
    ) -> None:
        """Nobody acknowledged at the last level: the centre lead and the staff on duty get it
        (marked 无人确认), and are reminded at the policy's cadence until someone does."""
        assert esc.id is not None
        if esc.exhausted_at is None:
            esc.exhausted_at = now
        esc.token += 1
        people = await level_recipients(s, EXHAUSTED_LEVELS, esc.college_id, esc.klass_id,
                                        at=now)
        await add_recipients(s, esc, people, len(esc.chain), now)
        every = self.remind_every(Severity(esc.severity))
        esc.due_at = self._add(now, every)
        s.add(esc)
        await step(s, esc, "reminded" if again else "exhausted", now, recipients=people,
                         note=why or ("still unacknowledged" if again else
                                      "no acknowledgement at the last level"))
        words = duration_words(every[0].total_seconds())
        reply = (exhausted_reminder(esc, title, now) if again else
                 exhausted_alert(esc, title, why, words + ("（工作时间）" if every[1] else "")))
        reached = await tell(s, esc, people, now, f"exhausted:{esc.token}", reply,
                                   alert=True)
        if not reached:
            log.error("escalation %s is unacknowledged and neither the centre lead nor any "
                      "centre staff can be reached", esc.id)
        await schedule_many(s, [deadline_timer(esc, now)])

    async def _lapse(self, s: AsyncSession, esc: Escalation, now: datetime, title: str) -> None:
        """Acknowledged but not resolved in time: remind the acknowledger, then climb again
        from this level at its acknowledgement deadline."""
        acker = esc.acked_by
        esc.status, esc.acked_at, esc.acked_by = EscalationStatus.open, None, None
        esc.token += 1
        esc.due_at = self._deadline(esc.chain[esc.level], now)
        s.add(esc)
        await step(s, esc, "lapsed", now, recipients=[acker] if acker else [],
                         note="acknowledged but not resolved in time")
        if acker is not None:
            await tell(s, esc, [acker], now, f"lapsed:{esc.token}",
                             lapsed_reminder(esc, title), alert=True)
        await schedule_many(s, [deadline_timer(esc, now)])

    def _resolve_window(self, esc: Escalation) -> Window:
        entry = esc.chain[esc.level]
        if "resolve_within_s" in entry:  # snapshotted with the chain
            return (timedelta(seconds=float(entry["resolve_within_s"])),
                    bool(entry.get("resolve_working_hours")))
        return self.resolve_within(Severity(esc.severity))

    def level_deadline(self, entry: dict[str, Any], start: datetime) -> datetime:
        """When a level must have acknowledged, entered at ``start``."""
        return self._deadline(entry, start)

    def _deadline(self, entry: dict[str, Any], start: datetime) -> datetime:
        return self._add(start, (timedelta(seconds=float(entry["ack_within_s"])),
                                 bool(entry.get("working_hours"))))

    def _add(self, start: datetime, window: Window) -> datetime:
        delta, working = window
        return self.calendar.add_working(start, delta) if working else start + delta


def _default_resolve(severity: Severity) -> Window:
    # The policy's defaults (crisis 24 h clock time, others 72 working hours).
    if severity == Severity.crisis:
        return timedelta(hours=24), False
    return timedelta(hours=72), True
