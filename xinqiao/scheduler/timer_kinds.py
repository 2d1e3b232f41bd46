"""The registry of timer kinds: each durable timer's handler and the priority it fires at.

Timers (``services.timers``) are the source of truth for deadlines; this is the one list of
what each kind does and how urgent it is. The wiring builds a :class:`TimerKinds` from the
services' handler maps, and a kind without a declared priority, or a declared kind nobody
handles, stops start-up instead of being fired as "unknown" and dropped.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from enum import IntEnum

from sqlmodel.ext.asyncio.session import AsyncSession

from xinqiao.storage.reports import Timer

# A timer handler does its one step inside the transaction that marks the timer fired.
TimerHandler = Callable[[AsyncSession, Timer], Awaitable[None]]
# A batch handler fires many due timers of one kind in the transaction that marks them fired,
# with the effects its TimerHandler would have one by one; it returns the ids it fired, and
# the sweeper hands the others to the TimerHandler in the same transaction.
BatchHandler = Callable[[AsyncSession, list[Timer]], Awaitable[set[int]]]


class TimerPriority(IntEnum):
    """Lower fires first when many timers are due at once."""

    crisis = 0  # a crisis or urgent item's next step, a student's safety follow-up
    alert = 10  # other escalation steps, concerns, case follow-ups
    person = 20  # a person waiting: booking reminders, offers, moves
    ordinary = 50
    bulk = 90  # a campaign's or the weekly tips' next chunk of students


# Every kind the service schedules, with its default priority (escalation deadlines are
# scheduled with their severity's).
PRIORITIES: dict[str, TimerPriority] = {
    "escalation.deadline": TimerPriority.alert,
    "checkin.due": TimerPriority.ordinary,
    "retention.purge": TimerPriority.ordinary,  # the next batch of a big nightly purge
    "screening.asq_wait": TimerPriority.crisis,
    "screening.second_stage.remind": TimerPriority.ordinary,
    "screening.second_stage.expire": TimerPriority.ordinary,
    "concern.expire": TimerPriority.alert,
    "case.followup": TimerPriority.alert,
    "case.contact_due": TimerPriority.alert,  # a referral's next contact, a return follow-up
    "booking.remind": TimerPriority.person,
    "booking.offer": TimerPriority.person,
    "booking.move": TimerPriority.person,
    "campaign.open": TimerPriority.bulk,
    "campaign.remind": TimerPriority.bulk,
    "campaign.close": TimerPriority.ordinary,
    "aftercare.invite": TimerPriority.ordinary,  # a round confirmed at night, next morning
    "aftercare.remind": TimerPriority.ordinary,  # an aftercare round's one reminder
    "aftercare.close": TimerPriority.ordinary,
    "content.tip.chunk": TimerPriority.bulk,
    "content.campaign": TimerPriority.bulk,
}


def priority_for(kind: str) -> int:
    """A kind's default priority (ordinary for a kind not listed, e.g. in tests)."""
    return int(PRIORITIES.get(kind, TimerPriority.ordinary))


@dataclass(frozen=True)
class TimerKind:
    """One kind of timer: what fires it, and how urgent it is."""

    name: str
    priority: TimerPriority
    handler: TimerHandler
    batch: BatchHandler | None = None


class TimerKinds:
    """Every timer kind the sweeper fires, built once by the wiring."""

    def __init__(self, handlers: Mapping[str, TimerHandler],
                 batch: Mapping[str, BatchHandler] | None = None) -> None:
        batch = batch or {}
        unhandled = sorted(set(PRIORITIES) - set(handlers))
        undeclared = sorted((set(handlers) | set(batch)) - set(PRIORITIES))
        if unhandled or undeclared:
            raise ValueError(f"timer kinds without a handler: {unhandled}; "
                             f"without a priority: {undeclared}")
        self.kinds = {name: TimerKind(name, PRIORITIES[name], handler, batch.get(name))
                      for name, handler in handlers.items()}

    def handlers(self) -> dict[str, TimerHandler]:
        """The one-at-a-time handler of each kind, for the sweeper."""
        return {name: kind.handler for name, kind in self.kinds.items()}

    def batch_handlers(self) -> dict[str, BatchHandler]:
        """The kinds the sweeper may fire many at a time."""
        return {name: kind.batch for name, kind in self.kinds.items() if kind.batch is not None}
