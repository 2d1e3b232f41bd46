"""The centre's crisis duty rota (值班表): who among the centre staff is on duty when.

With no rota at all, every active ``centre_staff`` member is on duty (issue rule). With a rota,
the staff whose shift covers the moment are; a gap in the rota falls back to everyone, loudly,
because an alert that reaches too many people is better than one that reaches nobody.
A rota file (.xlsx/.csv) has one shift per row: 工号, 开始, 结束 and an optional 备注; importing
replaces every shift that overlaps the file's span.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy import delete
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from xinqiao.clock import SHANGHAI
from xinqiao.services import audit
from xinqiao.services.spreadsheet import cell_text, table_rows
from xinqiao.storage.campaigns import DutyShift
from xinqiao.storage.models import Person, Role, RoleAssignment

log = logging.getLogger(__name__)
_HEADERS = {"id": ("工号", "学号/工号", "id"), "start": ("开始", "开始时间", "start"),
            "end": ("结束", "结束时间", "end"), "note": ("备注", "note")}
_WHEN = re.compile(
    r"(\d{4})[-/.年](\d{1,2})[-/.月](\d{1,2})日?[ T]+(\d{1,2})[:：](\d{2})(?::\d{2})?")


@dataclass(frozen=True)
class RotaImport:
    """What an import did: shifts written and replaced, and bad rows (row number, reason)."""

    written: int
    replaced: int
    errors: list[tuple[int, str]]


async def centre_staff(s: AsyncSession) -> list[int]:
    """Every active centre staff member."""
    rows = await s.exec(
        select(RoleAssignment.person_id)
        .join(Person, col(Person.id) == RoleAssignment.person_id)
        .where(RoleAssignment.role == Role.centre_staff.value, col(Person.active).is_(True))
        .distinct())
    return sorted(rows.all())


async def on_duty(s: AsyncSession, at: datetime) -> list[int]:
    """The centre staff on duty at ``at`` (everyone when there is no rota or a gap in it)."""
    staff = await centre_staff(s)
    if (await s.exec(select(DutyShift.id).limit(1))).first() is None:
        return staff
    covering = set((await s.exec(
        select(DutyShift.person_id)
        .where(col(DutyShift.starts_at) <= at, col(DutyShift.ends_at) > at))).all())
    duty = [p for p in staff if p in covering]
    if not duty:
        log.warning("no centre staff on the duty rota at %s: alerting every centre staff member",
                    at.isoformat())
        return staff
    return duty


async def names_on_duty(s: AsyncSession, at: datetime) -> list[str]:
    """The names of the centre staff on duty at ``at`` (as ``on_duty`` picks them)."""
    names = []
    for pid in await on_duty(s, at):
        person = await s.get(Person, pid)
        if person is not None:
            names.append(person.name)
    return names


async def shifts_between(
    s: AsyncSession, start: datetime, end: datetime
) -> list[tuple[DutyShift, Person]]:
    """Shifts overlapping ``start``..``end`` with their people, in time order."""
    rows = await s.exec(
        select(DutyShift, Person).join(Person, col(Person.id) == DutyShift.person_id)
        .where(col(DutyShift.starts_at) < end, col(DutyShift.ends_at) > start)
        .order_by(col(DutyShift.starts_at), col(Person.name)))
    return list(rows.all())


def _parse_when(text: str) -> datetime:
    match = _WHEN.fullmatch(text.strip())
    if match is None:
        raise ValueError(f"time {text!r} is not like 2026-09-07 08:00")
    y, mo, d, h, mi = (int(g) for g in match.groups())
    return datetime(y, mo, d, h, mi, tzinfo=SHANGHAI)


async def import_rota(
    s: AsyncSession, path: Path, *, now: datetime, actor_person_id: int | None = None
) -> RotaImport:
    """Load a rota file; nothing is written when any row is bad."""
    rows = list(table_rows(path))
    errors: list[tuple[int, str]] = []
    header: dict[str, int] = {}
    staff = {ext: pid for ext, pid in (await s.exec(
        select(Person.external_id, Person.id)
        .join(RoleAssignment, col(RoleAssignment.person_id) == Person.id)
        .where(RoleAssignment.role == Role.centre_staff.value))).all()}
    shifts: list[DutyShift] = []
    for number, raw in enumerate(rows, start=1):
        cells = [cell_text(c) for c in raw]
        if not any(cells):
            continue
        if not header:
            header = {key: cells.index(name) for key, names in _HEADERS.items()
                      for name in names if name in cells}
            missing = [k for k in ("id", "start", "end") if k not in header]
            if missing:
                names = ", ".join(_HEADERS[k][0] for k in missing)
                raise ValueError(f"row {number}: header lacks {names}")
            continue
        try:
            shifts.append(_shift(cells, header, staff, now))
        except ValueError as exc:
            errors.append((number, str(exc)))
    if errors or not shifts:
        return RotaImport(0, 0, errors or [(0, "the file has no shifts")])
    first, last = min(x.starts_at for x in shifts), max(x.ends_at for x in shifts)
    old = await s.exec(delete(DutyShift).where(
        col(DutyShift.starts_at) < last, col(DutyShift.ends_at) > first))
    s.add_all(shifts)
    await audit.record(s, at=now, action="rota.import", actor_person_id=actor_person_id,
                       file=path.name, shifts=len(shifts), replaced=old.rowcount)
    return RotaImport(len(shifts), int(old.rowcount or 0), [])


def _shift(cells: list[str], header: dict[str, int], staff: dict[str, int | None],
           now: datetime) -> DutyShift:
    def cell(key: str) -> str:
        i = header.get(key)
        return cells[i] if i is not None and i < len(cells) else ""

    person_id = staff.get(cell("id"))
    if person_id is None:
        raise ValueError(f"{cell('id') or '(blank)'} is not a centre staff member on the roster")
    start, end = _parse_when(cell("start")), _parse_when(cell("end"))
    if end <= start:
        raise ValueError("a shift must end after it starts")
    return DutyShift(person_id=person_id, starts_at=start, ends_at=end,
                     note=cell("note")[:200] or None, created_at=now)
