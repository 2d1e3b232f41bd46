"""Booking statistics for the centre, per week: load, no-shows, waiting time, waitlist.

Definitions (one ISO week, Monday to Sunday, Asia/Shanghai):

- load: a counsellor's appointments starting that week that were not cancelled or moved
  (booked, started, attended, no-show), with attended / no-show / cancelled counts beside it;
- no-show rate: no-shows / (attended + no-shows) of that week's marked sessions;
- waiting time: for each student whose first attended session fell in that week, from when they
  first asked (booking, or joining the waitlist, kept across reschedules) to that session;
- flagged: students with ``noshow_threshold`` or more no-shows in the window ending that week.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from xinqiao.clock import SHANGHAI
from xinqiao.policy.policy import Policy
from xinqiao.storage.booking import Appointment, AppointmentStatus, WaitlistEntry
from xinqiao.storage.models import Person

S = AppointmentStatus
LOAD = (S.booked, S.started, S.attended, S.no_show)


@dataclass(frozen=True)
class CounsellorLoad:
    """One counsellor's week."""

    name: str
    load: int
    attended: int
    no_show: int
    cancelled: int
    centre_cancelled: int


@dataclass(frozen=True)
class WeekStats:
    """The centre's booking week."""

    monday: date
    counsellors: tuple[CounsellorLoad, ...]
    noshow_rate: float | None
    waits: tuple[timedelta, ...]
    waitlist_joined: int
    flagged_students: int

    @property
    def median_wait(self) -> timedelta | None:
        """Median waiting time to a first session, if anyone had one."""
        if not self.waits:
            return None
        return timedelta(seconds=statistics.median(w.total_seconds() for w in self.waits))

    @property
    def mean_wait(self) -> timedelta | None:
        """Mean waiting time to a first session."""
        return sum(self.waits, timedelta()) / len(self.waits) if self.waits else None


def week_of(day: date) -> date:
    """The Monday of ``day``'s ISO week."""
    return day - timedelta(days=day.isoweekday() - 1)


async def week_stats(s: AsyncSession, policy: Policy, day: date) -> WeekStats:
    """The statistics of the week containing ``day``."""
    monday = week_of(day)
    start = datetime.combine(monday, datetime.min.time(), SHANGHAI)
    end = start + timedelta(days=7)
    rows = list(await s.exec(select(Appointment).where(
        Appointment.start_at >= start, Appointment.start_at < end)))
    names = dict((await s.exec(select(Person.id, Person.name).where(
        col(Person.id).in_({a.counsellor_id for a in rows} or {0})))).all())
    loads = []
    for cid in sorted({a.counsellor_id for a in rows}, key=lambda c: names.get(c, "")):
        mine = [a for a in rows if a.counsellor_id == cid]
        loads.append(CounsellorLoad(
            name=str(names.get(cid, cid)),
            load=sum(a.status in LOAD for a in mine),
            attended=sum(a.status == S.attended for a in mine),
            no_show=sum(a.status == S.no_show for a in mine),
            cancelled=sum(a.status == S.cancelled for a in mine),
            centre_cancelled=sum(a.status == S.centre_cancelled for a in mine)))
    attended = sum(x.attended for x in loads)
    missed = sum(x.no_show for x in loads)
    rate = missed / (attended + missed) if attended + missed else None
    return WeekStats(monday=monday, counsellors=tuple(loads), noshow_rate=rate,
                     waits=tuple(await _first_session_waits(s, rows, start)),
                     waitlist_joined=int((await s.exec(
                         select(func.count()).select_from(WaitlistEntry).where(
                             WaitlistEntry.created_at >= start,
                             WaitlistEntry.created_at < end))).one()),
                     flagged_students=await _flagged(s, policy, end))


async def _first_session_waits(s: AsyncSession, rows: list[Appointment], start: datetime
                               ) -> list[timedelta]:
    waits = []
    for appt in sorted((a for a in rows if a.status == S.attended), key=lambda a: a.start_at):
        earlier = (await s.exec(select(Appointment.id).where(
            Appointment.student_id == appt.student_id, Appointment.status == S.attended,
            Appointment.start_at < appt.start_at))).first()
        if earlier is None:
            waits.append(appt.start_at - appt.requested_at)
    return waits


async def _flagged(s: AsyncSession, policy: Policy, end: datetime) -> int:
    since = end - timedelta(days=policy.booking.noshow_window_days)
    rows = await s.exec(select(Appointment.student_id, func.count()).where(
        Appointment.status == S.no_show, Appointment.start_at >= since,
        Appointment.start_at < end).group_by(col(Appointment.student_id)))
    return sum(1 for _, n in rows if n >= policy.booking.noshow_threshold)

