"""What the 预约 page reads: a counsellor's week of slots, the centre's utilisation, the waitlist.

Slots come from the same generator students book from (duty patterns, leave, the official
calendar); a slot is booked when an appointment holds it, held while a freed slot is offered
to a waitlisted student, free otherwise. Who the student is shows only to a reader the access
matrix lets act on that counsellor's appointments (the counsellor, the centre lead).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from xinqiao.clock import SHANGHAI
from xinqiao.policy.policy import Policy
from xinqiao.services.access import Action, Actor, Kind, Target, may
from xinqiao.services.booking.slots import Slot, counsellor_names, generate
from xinqiao.services.booking.stats import LOAD
from xinqiao.services.booking.waitlist import LIVE
from xinqiao.storage.booking import (
    HOLDING,
    Appointment,
    CounsellorProfile,
    DutyException,
    DutyPattern,
    WaitlistEntry,
    WaitStatus,
)
from xinqiao.storage.models import Person

WEEKDAYS = "一二三四五六日"
STATES = {"free": "空闲", "booked": "已约", "held": "留给候补", "past": "已过"}
GENDERS = {"female": "女老师", "male": "男老师"}
MODES = {"offline": "线下", "online": "线上", "both": "线上线下均可"}


@dataclass(frozen=True)
class SlotCell:
    """One session of the week as shown: its time, state and (for who may act) the student."""

    start: datetime
    state: str
    student: str | None = None
    appt_id: int | None = None


@dataclass(frozen=True)
class Day:
    """One day of the calendar."""

    day: date
    label: str
    slots: tuple[SlotCell, ...]


@dataclass(frozen=True)
class Utilisation:
    """One counsellor's week: appointments taken of the sessions offered."""

    counsellor_id: int
    name: str
    booked: int
    offered: int

    @property
    def percent(self) -> int:
        """Booked / offered as a whole percentage (0 when nothing was offered)."""
        return round(100 * self.booked / self.offered) if self.offered else 0


@dataclass(frozen=True)
class WaitLine:
    """One live waitlist entry: no name, only what the centre plans with."""

    position: int
    since: datetime
    wants: str
    offered: str | None


def day_label(day: date) -> str:
    """``周一 9/7``."""
    return f"周{WEEKDAYS[day.isoweekday() - 1]} {day.month}/{day.day}"


def week_start(monday: date) -> datetime:
    """Monday 00:00 in Shanghai."""
    return datetime.combine(monday, datetime.min.time(), SHANGHAI)


async def counsellors(s: AsyncSession) -> list[tuple[int, str]]:
    """Active counsellors (person id, name), by name."""
    rows = await s.exec(select(Person.id, Person.name)
                        .join(CounsellorProfile, col(CounsellorProfile.person_id) == Person.id)
                        .where(col(CounsellorProfile.active).is_(True),
                               col(Person.active).is_(True)))
    return sorted(((pid or 0, name) for pid, name in rows), key=lambda r: (r[1], r[0]))


def acts_for(actor: Actor, counsellor_id: int) -> bool:
    """Whether the reader may act on this counsellor's appointments (and see who booked)."""
    return may(actor, Kind.appointment_note, Action.change, Target(counsellor_id=counsellor_id))


async def _slots(s: AsyncSession, policy: Policy, ids: list[int], monday: date) -> list[Slot]:
    last = monday + timedelta(days=6)
    patterns = list(await s.exec(select(DutyPattern).where(
        col(DutyPattern.counsellor_id).in_(ids), DutyPattern.valid_from <= last,
        (col(DutyPattern.valid_until).is_(None)) | (col(DutyPattern.valid_until) >= monday))))
    exceptions = list(await s.exec(select(DutyException).where(
        col(DutyException.counsellor_id).in_(ids), DutyException.day >= monday,
        DutyException.day <= last)))
    return generate(ids, patterns, exceptions, policy.calendar(), monday, last)


async def _week_appointments(s: AsyncSession, ids: list[int], monday: date) -> list[Appointment]:
    start = week_start(monday)
    return list(await s.exec(select(Appointment).where(
        col(Appointment.counsellor_id).in_(ids), Appointment.start_at >= start,
        Appointment.start_at < start + timedelta(days=7))))


async def week_calendar(s: AsyncSession, policy: Policy, actor: Actor, counsellor_id: int,
                        monday: date, now: datetime) -> list[Day]:
    """The counsellor's sessions of the week, day by day, each free / booked / held / past."""
    slots = await _slots(s, policy, [counsellor_id], monday)
    appts = await _week_appointments(s, [counsellor_id], monday)
    holding = {a.start_at: a for a in appts if a.status in HOLDING}
    held = set((await s.exec(select(WaitlistEntry.offered_start).where(
        WaitlistEntry.status == WaitStatus.offered,
        WaitlistEntry.offered_counsellor_id == counsellor_id,
        col(WaitlistEntry.offer_expires_at) > now))).all())
    show = acts_for(actor, counsellor_id)
    names = dict((await s.exec(select(Person.id, Person.name).where(
        col(Person.id).in_({a.student_id for a in holding.values()} or {0})))).all()) \
        if show else {}
    days = []
    for offset in range(7):
        day = monday + timedelta(days=offset)
        cells = []
        for slot in (x for x in slots if x.start.astimezone(SHANGHAI).date() == day):
            appt = holding.get(slot.start)
            if appt is not None:
                cells.append(SlotCell(slot.start, "booked", names.get(appt.student_id),
                                      appt.id if show else None))
            elif slot.start in held:
                cells.append(SlotCell(slot.start, "held"))
            else:
                cells.append(SlotCell(slot.start, "past" if slot.start < now else "free"))
        days.append(Day(day, day_label(day), tuple(cells)))
    return days


async def utilisation(s: AsyncSession, policy: Policy, monday: date) -> list[Utilisation]:
    """Every active counsellor's week: appointments (not cancelled or moved) / sessions."""
    people = await counsellors(s)
    ids = [pid for pid, _ in people]
    if not ids:
        return []
    offered: dict[int, int] = {}
    for slot in await _slots(s, policy, ids, monday):
        offered[slot.counsellor_id] = offered.get(slot.counsellor_id, 0) + 1
    booked: dict[int, int] = {}
    for appt in await _week_appointments(s, ids, monday):
        if appt.status in LOAD:
            booked[appt.counsellor_id] = booked.get(appt.counsellor_id, 0) + 1
    return [Utilisation(pid, name, booked.get(pid, 0), offered.get(pid, 0))
            for pid, name in people]


async def waitlist(s: AsyncSession, now: datetime) -> list[WaitLine]:
    """Live waitlist entries in the order offers go out (first come, first served)."""
    rows = list(await s.exec(select(WaitlistEntry).where(
        col(WaitlistEntry.status).in_([w.value for w in LIVE]), WaitlistEntry.expires_at > now)
        .order_by(col(WaitlistEntry.id))))
    names = await counsellor_names(s, [e.offered_counsellor_id for e in rows
                                       if e.offered_counsellor_id is not None])
    lines = []
    for n, entry in enumerate(rows, start=1):
        wants = "、".join(w for w in (GENDERS.get(entry.gender or ""),
                                      MODES.get(entry.mode or "")) if w) or "不限"
        offered = None
        if entry.status == WaitStatus.offered and entry.offered_start is not None:
            offered = (f"{names.get(entry.offered_counsellor_id or 0, '')} "
                       f"{entry.offered_start.astimezone(SHANGHAI):%m-%d %H:%M}")
        lines.append(WaitLine(n, entry.created_at, wants, offered))
    return lines
