"""Bookable slots, generated from duty patterns and exceptions on the official calendar.

Rules (tested in tests/test_booking_slots.py):

- A weekly pattern applies on the days whose *duty weekday* is its weekday, within its dates.
- Public holidays (chinesecalendar) have no duty: their weekday patterns are skipped.
- A make-up workday (调休上班) on a weekend follows the pattern of the weekday off it pays back
  (2026-09-20, a Sunday, runs Tuesday's pattern because it pays back Tuesday 2026-10-06); if
  the calendar cannot pair it, it is treated as the weekend day it is.
- An ordinary weekend runs weekend patterns only (a centre that has Saturday duty says so).
- Leave without times cancels the day; leave with times removes the sessions it overlaps.
  Extra duty adds a window, even on a holiday, because someone asked for it explicitly.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Literal

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from xinqiao.clock import SHANGHAI, local
from xinqiao.policy.calendar import WorkingCalendar, makeup_replaces
from xinqiao.policy.policy import Policy
from xinqiao.storage.booking import (
    HOLDING,
    Appointment,
    CounsellorProfile,
    DutyException,
    DutyPattern,
    ExceptionKind,
    Mode,
    WaitlistEntry,
    WaitStatus,
)
from xinqiao.storage.models import Person


@dataclass(frozen=True)
class Slot:
    """A bookable session: who, when (UTC), where, how."""

    counsellor_id: int
    start: datetime
    end: datetime
    place: str | None
    mode: Mode

    @property
    def key(self) -> str:
        """A short stable id for a tappable choice: ``counsellor:epoch minutes``."""
        return f"{self.counsellor_id}:{int(self.start.timestamp()) // 60}"


def parse_key(key: str) -> tuple[int, datetime] | None:
    """Inverse of :attr:`Slot.key`; None for anything else."""
    who, _, minutes = key.partition(":")
    if not (who.isdecimal() and minutes.isdecimal()):
        return None
    return int(who), datetime.fromtimestamp(int(minutes) * 60, tz=SHANGHAI)


@dataclass(frozen=True)
class SlotFilter:
    """What a student narrowed the list to."""

    gender: str | None = None
    mode: str | None = None
    day: date | None = None
    counsellor_id: int | None = None


def duty_weekday(calendar: WorkingCalendar, day: date) -> int | None:
    """The ISO weekday whose patterns apply on ``day``; None on a public holiday."""
    if calendar.is_workday(day):
        if day.isoweekday() > 5:
            replaced = makeup_replaces(day)
            return replaced.isoweekday() if replaced else day.isoweekday()
        return day.isoweekday()
    if calendar.is_holiday(day):
        return None
    return day.isoweekday()


def _at(day: date, t: time) -> datetime:
    return datetime.combine(day, t, SHANGHAI)


def _window_slots(counsellor_id: int, day: date, start: time, end: time, session: int,
                  brk: int, place: str | None, mode: Mode,
                  leaves: Sequence[tuple[datetime, datetime]]) -> list[Slot]:
    out = []
    cursor, stop = _at(day, start), _at(day, end)
    length, gap = timedelta(minutes=session), timedelta(minutes=brk)
    while cursor + length <= stop:
        finish = cursor + length
        if not any(a < finish and cursor < b for a, b in leaves):
            out.append(Slot(counsellor_id, cursor, finish, place, mode))
        cursor = finish + gap
    return out


def day_slots(counsellor_id: int, day: date, patterns: Iterable[DutyPattern],
              exceptions: Iterable[DutyException], calendar: WorkingCalendar,
              weekday: int | Literal["?"] | None = "?") -> list[Slot]:
    """One counsellor's sessions on one day, in order, without repeats.

    ``weekday`` is the day's duty weekday when the caller has it already (calendar look-ups
    cost tens of microseconds each; a listing asks for every counsellor on every day).
    """
    todays = [e for e in exceptions if e.counsellor_id == counsellor_id and e.day == day]
    if any(e.kind == ExceptionKind.leave and e.start is None for e in todays):
        return []
    leaves = [(_at(day, e.start), _at(day, e.end)) for e in todays
              if e.kind == ExceptionKind.leave and e.start is not None and e.end is not None]
    if weekday == "?":
        weekday = duty_weekday(calendar, day)
    found: dict[datetime, Slot] = {}
    for p in patterns:
        if (p.counsellor_id == counsellor_id and p.weekday == weekday
                and p.valid_from <= day and (p.valid_until is None or day <= p.valid_until)):
            for slot in _window_slots(counsellor_id, day, p.start, p.end, p.session_minutes,
                                      p.break_minutes, p.place, Mode(p.mode), leaves):
                found.setdefault(slot.start, slot)
    for e in todays:
        if e.kind == ExceptionKind.extra and e.start is not None and e.end is not None:
            for slot in _window_slots(counsellor_id, day, e.start, e.end, e.session_minutes,
                                      e.break_minutes, e.place, Mode(e.mode), leaves):
                found.setdefault(slot.start, slot)
    return [found[k] for k in sorted(found)]


def generate(counsellors: Iterable[int], patterns: Sequence[DutyPattern],
             exceptions: Sequence[DutyException], calendar: WorkingCalendar, first: date,
             last: date) -> list[Slot]:
    """Every session of these counsellors from ``first`` to ``last``, ordered by start."""
    out: list[Slot] = []
    day = first
    while day <= last:
        weekday = duty_weekday(calendar, day)
        for cid in counsellors:
            out.extend(day_slots(cid, day, patterns, exceptions, calendar, weekday))
        day += timedelta(days=1)
    return sorted(out, key=lambda s: (s.start, s.counsellor_id))


def _mode_ok(slot: Slot, wanted: str | None) -> bool:
    return wanted is None or slot.mode in (Mode(wanted), Mode.both)


def crisis_held(slots: Sequence[Slot], policy: Policy, now: datetime) -> set[tuple[int, datetime]]:
    """(counsellor, start) of the sessions still kept for crisis at ``now``.

    The first ``crisis_slots_per_day`` sessions of each counsellor's day are kept, whether
    booked or not (so a booked one is not replaced by a later one), until the day before at
    ``crisis_release_day_before_at``; then they are everyone's.
    """
    rules = policy.booking
    if rules.crisis_slots_per_day == 0:
        return set()
    seen: dict[tuple[int, date], int] = {}
    held = set()
    for slot in sorted(slots, key=lambda x: x.start):
        day = local(slot.start).date()
        rank = seen.get((slot.counsellor_id, day), 0)
        seen[(slot.counsellor_id, day)] = rank + 1
        release = datetime.combine(day - timedelta(days=1), rules.crisis_release_day_before_at,
                                   SHANGHAI)
        if rank < rules.crisis_slots_per_day and now < release:
            held.add((slot.counsellor_id, slot.start))
    return held


async def free_slots(s: AsyncSession, policy: Policy, now: datetime,
                     flt: SlotFilter = SlotFilter(), *, for_student: int | None = None,
                     crisis: bool = False) -> list[Slot]:
    """Slots nobody holds, from ``min_notice`` after now to the horizon, filtered, in order.

    Crisis-kept sessions are left out unless ``crisis`` (a crisis referral, centre staff).
    """
    rules = policy.booking
    earliest = now + rules.min_notice
    first, last = local(earliest).date(), local(now).date() + timedelta(days=rules.horizon_days)
    if flt.day is not None:
        if not first <= flt.day <= last:
            return []
        first = last = flt.day
    query = (select(CounsellorProfile)
             .join(Person, col(Person.id) == CounsellorProfile.person_id)
             .where(col(CounsellorProfile.active).is_(True), col(Person.active).is_(True)))
    if flt.gender is not None:
        query = query.where(CounsellorProfile.gender == flt.gender)
    if flt.counsellor_id is not None:
        query = query.where(CounsellorProfile.person_id == flt.counsellor_id)
    profiles = {p.person_id: p for p in await s.exec(query)}
    if not profiles:
        return []
    ids = sorted(profiles)
    patterns = list(await s.exec(select(DutyPattern).where(
        col(DutyPattern.counsellor_id).in_(ids), DutyPattern.valid_from <= last,
        (col(DutyPattern.valid_until).is_(None)) | (col(DutyPattern.valid_until) >= first))))
    exceptions = list(await s.exec(select(DutyException).where(
        col(DutyException.counsellor_id).in_(ids), DutyException.day >= first,
        DutyException.day <= last)))
    slots = generate(ids, patterns, exceptions, policy.calendar(), first, last)
    kept = set() if crisis else crisis_held(slots, policy, now)
    taken = set((await s.exec(select(Appointment.counsellor_id, Appointment.start_at).where(
        col(Appointment.counsellor_id).in_(ids), Appointment.start_at >= earliest,
        col(Appointment.status).in_([h.value for h in HOLDING])))).all())
    # A freed slot offered to a waitlisted student is theirs until the offer lapses.
    held = await s.exec(select(WaitlistEntry).where(
        WaitlistEntry.status == WaitStatus.offered, col(WaitlistEntry.offer_expires_at) > now))
    for entry in held:
        if entry.student_id != for_student and entry.offered_start is not None:
            taken.add((entry.offered_counsellor_id or 0, entry.offered_start))
    taken |= kept
    out = []
    for slot in slots:
        if slot.start < earliest or (slot.counsellor_id, slot.start) in taken:
            continue
        if not _mode_ok(slot, flt.mode):
            continue
        place = slot.place or profiles[slot.counsellor_id].place
        out.append(Slot(slot.counsellor_id, slot.start, slot.end, place, slot.mode))
    return out


async def find_slot(s: AsyncSession, policy: Policy, now: datetime, counsellor_id: int,
                    start: datetime, *, for_student: int | None = None,
                    crisis: bool = False) -> Slot | None:
    """The free slot of this counsellor at ``start``, if it is still bookable now."""
    flt = SlotFilter(counsellor_id=counsellor_id, day=local(start).date())
    found = await free_slots(s, policy, now, flt, for_student=for_student, crisis=crisis)
    return next((x for x in found if x.start == start), None)


async def counsellor_names(s: AsyncSession, ids: Iterable[int]) -> dict[int, str]:
    """Names of counsellors by person id."""
    wanted = sorted(set(ids))
    if not wanted:
        return {}
    rows = await s.exec(select(Person.id, Person.name).where(col(Person.id).in_(wanted)))
    return {pid: name for pid, name in rows if pid is not None}
