"""Counsellor profiles and ``xinqiao schedule import``: a semester's duty patterns at once.

Re-importing replaces a counsellor's patterns for the dates the file covers for them (from the
earliest 生效日期 to the latest 截止日期, open-ended when a row has none); patterns outside that
range are kept, and one that straddles its edge is cut at it. A counsellor with any bad row is
left untouched, so a half-read file never leaves someone with half a timetable.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from xinqiao.clock import local
from xinqiao.policy.policy import Policy
from xinqiao.services.schedule_file import ScheduleRow, read_schedule
from xinqiao.storage.booking import CounsellorProfile, DutyPattern, Mode
from xinqiao.storage.db import Database
from xinqiao.storage.models import Person, Role, RoleAssignment


async def ensure_profile(s: AsyncSession, person_id: int, now: datetime) -> CounsellorProfile:
    """The counsellor's profile, created (offline, active) on first use."""
    profile = await s.get(CounsellorProfile, person_id)
    if profile is None:
        profile = CounsellorProfile(person_id=person_id, updated_at=now)
        s.add(profile)
        await s.flush()
    return profile


@dataclass
class ScheduleImport:
    """What an import did."""

    counsellors: int = 0
    created: int = 0
    removed: int = 0
    errors: list[tuple[int, str]] = field(default_factory=list)


async def import_schedule(db: Database, path: Path, policy: Policy, now: datetime, *,
                          strict: bool = False) -> ScheduleImport:
    """Load a schedule file; bad rows are reported, their counsellor is left as it was."""
    parsed = read_schedule(path)
    report = ScheduleImport(errors=list(parsed.errors))
    by_id: dict[str, list[ScheduleRow]] = defaultdict(list)
    for row in parsed.rows:
        by_id[row.external_id].append(row)
    async with db.session() as s:
        people = await _counsellors(s, set(by_id))
        for external_id, rows in by_id.items():
            person = people.get(external_id)
            if person is None:
                report.errors += [(r.row, f"工号 {external_id} is not centre staff on the roster")
                                  for r in rows]
            else:
                report.errors += [(r.row, f"姓名 {r.name} does not match the roster "
                                          f"({person.name})") for r in rows
                                  if r.name and r.name != person.name]
        bad_rows = {n for n, _ in report.errors}
        bad_ids = {r.external_id for r in parsed.rows if r.row in bad_rows}
        bad_ids |= set(parsed.error_ids.values())
        for external_id in sorted(bad_ids & set(people)):
            first = min([r.row for r in by_id[external_id] if r.row in bad_rows]
                        + [n for n, i in parsed.error_ids.items() if i == external_id])
            report.errors += [(r.row, f"skipped: row {first} of the same counsellor is bad")
                              for r in by_id[external_id] if r.row not in bad_rows]
        if strict and report.errors:
            await s.rollback()
            return report
        for external_id, rows in by_id.items():
            if external_id in bad_ids or external_id not in people:
                continue
            person_id = people[external_id].id
            assert person_id is not None
            report.counsellors += 1
            created, removed = await _replace(s, person_id, rows, policy, now)
            report.created += created
            report.removed += removed
    report.errors.sort()
    return report


async def _counsellors(s: AsyncSession, external_ids: set[str]) -> dict[str, Person]:
    if not external_ids:
        return {}
    rows = await s.exec(select(Person).join(RoleAssignment,
                                            col(RoleAssignment.person_id) == Person.id)
                        .where(col(Person.external_id).in_(sorted(external_ids)),
                               RoleAssignment.role == Role.centre_staff.value))
    return {p.external_id: p for p in rows}


async def _replace(s: AsyncSession, person_id: int, rows: list[ScheduleRow], policy: Policy,
                   now: datetime) -> tuple[int, int]:
    today = local(now).date()
    lo = min(r.valid_from or today for r in rows)
    hi = None if any(r.valid_until is None for r in rows) else max(
        r.valid_until for r in rows if r.valid_until)
    removed = await _clear(s, person_id, lo, hi)
    profile = await ensure_profile(s, person_id, now)
    genders = {r.gender for r in rows if r.gender}
    if len(genders) == 1:
        profile.gender = genders.pop()
    places = [r.place for r in rows if r.place]
    profile.place = profile.place or (places[0] if places else None)
    modes = {r.mode for r in rows if r.mode}
    if modes:
        profile.modes = modes.pop() if len(modes) == 1 else Mode.both
    profile.updated_at = now
    s.add(profile)
    created = 0
    for r in rows:
        for weekday in r.weekdays:
            s.add(DutyPattern(
                counsellor_id=person_id, weekday=weekday, start=r.start, end=r.end,
                session_minutes=r.minutes or policy.booking.session_minutes,
                break_minutes=policy.booking.break_minutes if r.brk is None else r.brk,
                place=r.place or profile.place, mode=r.mode or profile.modes,
                valid_from=r.valid_from or today, valid_until=r.valid_until, created_at=now))
            created += 1
    await s.flush()
    return created, removed


async def _clear(s: AsyncSession, person_id: int, lo: date, hi: date | None) -> int:
    """Remove the counsellor's pattern days inside [lo, hi]; cut patterns at its edges."""
    removed = 0
    day = timedelta(days=1)
    for p in list(await s.exec(select(DutyPattern).where(DutyPattern.counsellor_id == person_id))):
        until = p.valid_until
        if (until is not None and until < lo) or (hi is not None and p.valid_from > hi):
            continue  # outside the range
        before = p.valid_from < lo
        after = hi is not None and (until is None or until > hi)
        if before and after:
            assert hi is not None
            s.add(DutyPattern(counsellor_id=p.counsellor_id, weekday=p.weekday, start=p.start,
                              end=p.end, session_minutes=p.session_minutes,
                              break_minutes=p.break_minutes, place=p.place, mode=p.mode,
                              valid_from=hi + day, valid_until=until, created_at=p.created_at))
        if before:
            p.valid_until = lo - day
            s.add(p)
        elif after:
            assert hi is not None
            p.valid_from = hi + day
            s.add(p)
        else:
            await s.delete(p)
            removed += 1
    await s.flush()
    return removed
