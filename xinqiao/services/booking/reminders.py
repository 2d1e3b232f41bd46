"""Booking's durable timers (reminders, lapsing offers and moves) and the counsellors' morning
list (a calendar job, ``scheduler.calendar_jobs``).

Every timer is a row (``services.timers``) fired once by the sweeper, so a restart neither
loses nor repeats it. A reminder carries the appointment's token: once the appointment is
cancelled, moved or marked, the token has changed and the old reminder does nothing.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable
from datetime import date, datetime, timedelta

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from xinqiao.clock import SHANGHAI, local, utc
from xinqiao.policy.policy import Policy
from xinqiao.services.booking.appointments import BOOKED, REMIND
from xinqiao.services.booking.counsellor_actions import MOVE, on_move_expired
from xinqiao.services.booking.waitlist import OFFER, on_offer_expired
from xinqiao.services.booking.wording import words
from xinqiao.services.recipients import push_to_people
from xinqiao.services.timers import TimerHandler
from xinqiao.storage.booking import Appointment
from xinqiao.storage.models import Person
from xinqiao.storage.reports import Timer

log = logging.getLogger(__name__)


def day_bounds(day: date) -> tuple[datetime, datetime]:
    """Local midnight to midnight of ``day``, as aware datetimes."""
    start = datetime.combine(day, datetime.min.time(), SHANGHAI)
    return start, start + timedelta(days=1)


class BookingTimers:
    """The sweeper's booking handlers, bound to a policy."""

    def __init__(self, policy: Policy,
                 on_dropped: Callable[[str], None] | None = None) -> None:
        self.policy = policy
        self.on_dropped = on_dropped or (lambda _kind: None)  # a metrics counter

    def timer_handlers(self) -> dict[str, TimerHandler]:
        """Handlers by timer kind, to merge with the network's for the sweeper."""
        return {REMIND: self._remind, MOVE: on_move_expired, OFFER: self._offer_expired}

    async def _remind(self, s: AsyncSession, timer: Timer) -> None:
        appt_id, _, which = timer.ref.partition(":")
        appt = await s.get(Appointment, int(appt_id))
        if appt is None or appt.status != BOOKED or appt.token != timer.token:
            return  # cancelled, moved or marked since: stay quiet
        now = utc(timer.fired_at or timer.due_at)
        start = utc(appt.start_at)
        # Fired late (the service was down)? A reminder must still be ahead of its event: the
        # evening one on the day before, the other before the start. Otherwise it is dropped.
        if now >= start or (which == "day" and local(now).date() >= local(start).date()):
            log.warning("booking reminder %s for appointment %s dropped: fired at %s, "
                        "too late for %s", which, appt.id, now.isoformat(), start.isoformat())
            self.on_dropped(f"booking.{which}")
            return
        counsellor = await s.get(Person, appt.counsellor_id)
        reply = words().reminder_push(which, start - now, appt.start_at,
                                      counsellor.name if counsellor else None, appt.mode,
                                      appt.place, self.policy.booking.cutoff)
        await push_to_people(s, [appt.student_id], now=now, reply=reply,
                             key=f"booking:remind:{appt.id}:{which}:{appt.token}")

    async def morning_list(self, s: AsyncSession, day: date, now: datetime) -> None:
        """Each counsellor's appointments of the day, pushed in the morning (the daily job)."""
        start, end = day_bounds(day)
        rows = await s.exec(select(Appointment).where(
            Appointment.start_at >= start, Appointment.start_at < end,
            Appointment.status == BOOKED).order_by(col(Appointment.start_at)))
        by_counsellor: dict[int, list[Appointment]] = defaultdict(list)
        for appt in rows:
            by_counsellor[appt.counsellor_id].append(appt)
        for counsellor_id, appts in by_counsellor.items():
            lines = []
            for appt in appts:
                student = await s.get(Person, appt.student_id)
                lines.append((appt.start_at, student.name if student else None, appt.reason,
                              appt.mode))
            await push_to_people(s, [counsellor_id], key=f"booking:morning:{day.isoformat()}",
                                 now=now, reply=words().morning_list_push(day, lines))

    async def _offer_expired(self, s: AsyncSession, timer: Timer) -> None:
        await on_offer_expired(s, self.policy, timer)

