"""A counsellor's duty, edited in chat: weekly patterns, leave and extra duty, their profile."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from xinqiao.clock import SHANGHAI, local
from xinqiao.policy.policy import Policy
from xinqiao.services.booking.duty_import import ensure_profile
from xinqiao.storage.booking import (
    Appointment,
    AppointmentStatus,
    DutyException,
    DutyPattern,
    ExceptionKind,
    Mode,
)
from xinqiao.storage.models import Person, Role, RoleAssignment


@dataclass(frozen=True)
class PatternLine:
    """One weekly duty pattern."""

    id: int
    weekday: int
    start: time
    end: time
    minutes: int


@dataclass(frozen=True)
class ExceptionLine:
    """Leave or extra duty on one day (no times: the whole day)."""

    day: date
    kind: ExceptionKind
    start: time | None
    end: time | None


@dataclass(frozen=True)
class DutyOverview:
    """A counsellor's profile, current patterns and coming exceptions."""

    name: str
    gender: str | None
    place: str | None
    modes: Mode
    patterns: tuple[PatternLine, ...]
    exceptions: tuple[ExceptionLine, ...]


async def centre_counsellors(s: AsyncSession) -> list[tuple[int, str]]:
    """Active centre staff, by name: (person id, name)."""
    rows = await s.exec(
        select(Person).join(RoleAssignment, col(RoleAssignment.person_id) == Person.id)
        .where(RoleAssignment.role == Role.centre_staff.value,
               col(Person.active).is_(True)).order_by(col(Person.name)))
    return [(p.id or 0, p.name) for p in rows]


async def current_patterns(s: AsyncSession, cid: int, today: date) -> list[PatternLine]:
    """The counsellor's weekly patterns still in force from ``today``."""
    rows = await s.exec(select(DutyPattern).where(
        DutyPattern.counsellor_id == cid,
        col(DutyPattern.valid_until).is_(None) | (col(DutyPattern.valid_until) >= today))
        .order_by(col(DutyPattern.weekday), col(DutyPattern.start)))
    return [PatternLine(p.id or 0, p.weekday, p.start, p.end, p.session_minutes) for p in rows]


async def duty_overview(s: AsyncSession, cid: int, now: datetime) -> DutyOverview | None:
    """What the duty page shows; None for nobody (the profile is created on first view)."""
    person = await s.get(Person, cid)
    if person is None:
        return None
    today = local(now).date()
    profile = await ensure_profile(s, cid, now)
    patterns = await current_patterns(s, cid, today)
    excs = await s.exec(select(DutyException).where(
        DutyException.counsellor_id == cid, DutyException.day >= today)
        .order_by(col(DutyException.day)))
    return DutyOverview(person.name, profile.gender, profile.place, Mode(profile.modes),
                        tuple(patterns),
                        tuple(ExceptionLine(e.day, ExceptionKind(e.kind), e.start, e.end)
                              for e in excs))


async def add_pattern(s: AsyncSession, policy: Policy, cid: int, weekday: int, start: time,
                      end: time, minutes: int, now: datetime) -> None:
    """A new weekly pattern from today, at the counsellor's place and modes."""
    profile = await ensure_profile(s, cid, now)
    s.add(DutyPattern(
        counsellor_id=cid, weekday=weekday, start=start, end=end, session_minutes=minutes,
        break_minutes=policy.booking.break_minutes, place=profile.place,
        mode=profile.modes, valid_from=local(now).date(), created_at=now))
    await s.flush()


async def remove_pattern(s: AsyncSession, cid: int, pattern_id: int, today: date) -> bool:
    """End the counsellor's pattern (deleted if it has not started); False if not theirs."""
    pattern = await s.get(DutyPattern, pattern_id)
    if pattern is None or pattern.counsellor_id != cid:
        return False
    if pattern.valid_from >= today:
        await s.delete(pattern)
    else:  # keep the past: it explains past appointments
        pattern.valid_until = today - timedelta(days=1)
        s.add(pattern)
    await s.flush()
    return True


async def add_exception(s: AsyncSession, policy: Policy, cid: int, day: date,
                        kind: ExceptionKind, start: time | None, end: time | None, by: int | None,
                        now: datetime) -> int:
    """Record leave or extra duty; for leave, how many booked appointments it overlaps."""
    profile = await ensure_profile(s, cid, now)
    s.add(DutyException(
        counsellor_id=cid, day=day, kind=kind, start=start, end=end,
        session_minutes=policy.booking.session_minutes,
        break_minutes=policy.booking.break_minutes, place=profile.place,
        mode=profile.modes, created_by=by, created_at=now))
    await s.flush()
    if kind != ExceptionKind.leave:
        return 0
    a = datetime.combine(day, start or time(0, 0), SHANGHAI)
    b = datetime.combine(day, end, SHANGHAI) if end else a + timedelta(days=1)
    rows = await s.exec(select(Appointment.id).where(
        Appointment.counsellor_id == cid, Appointment.status == AppointmentStatus.booked,
        Appointment.start_at < b, Appointment.end_at > a))
    return len(rows.all())


async def set_gender(s: AsyncSession, cid: int, gender: str | None, now: datetime) -> None:
    """The gender students may filter on (None: not given)."""
    profile = await ensure_profile(s, cid, now)
    profile.gender = gender
    s.add(profile)


async def set_place(s: AsyncSession, cid: int, place: str, now: datetime) -> None:
    """Where the counsellor sees students offline."""
    profile = await ensure_profile(s, cid, now)
    profile.place = place[:100]
    s.add(profile)


async def set_modes(s: AsyncSession, cid: int, modes: Mode, now: datetime) -> None:
    """Offline, online or both: what new patterns offer."""
    profile = await ensure_profile(s, cid, now)
    profile.modes = modes
    s.add(profile)
