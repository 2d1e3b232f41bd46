"""The 月报 desk: the reads and writes behind a lead's confirming and the centre's reading.

Frozen views of ``MonthlyReport`` rows; the chat flow (handlers/monthly_view.py) words them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Literal

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from xinqiao.services import audit
from xinqiao.storage.db import dialect_name
from xinqiao.storage.models import College, Person
from xinqiao.storage.reports import MonthlyReport


@dataclass(frozen=True)
class MonthlyView:
    """One college's 月报: its counts, the lead's note and who confirmed it when."""

    id: int
    college_id: int
    month: date
    data: dict[str, Any]
    note: str | None
    confirmed_at: datetime | None
    confirmed_by: str | None  # the confirming lead's name


@dataclass(frozen=True)
class Confirmation:
    """What confirming a 月报 did: nothing (``missing``, ``already``) or ``confirmed``."""

    outcome: Literal["missing", "already", "confirmed"]
    report: MonthlyView | None = None
    college_name: str = ""
    school_id: int = 0


@dataclass(frozen=True)
class SchoolMonth:
    """The school's latest month: every college (id, name) and the 月报 each has for it."""

    month: date
    colleges: tuple[tuple[int, str], ...]
    reports: dict[int, MonthlyView]


async def _view(s: AsyncSession, row: MonthlyReport) -> MonthlyView:
    assert row.id is not None
    who = await s.get(Person, row.confirmed_by) if row.confirmed_at and row.confirmed_by \
        else None
    return MonthlyView(row.id, row.college_id, row.month, row.data, row.note, row.confirmed_at,
                       who.name if who else None)


async def pending(s: AsyncSession, college_ids: list[int]) -> MonthlyView | None:
    """The newest 月报 of these colleges still to confirm."""
    row = (await s.exec(
        select(MonthlyReport)
        .where(col(MonthlyReport.college_id).in_(college_ids),
               col(MonthlyReport.confirmed_at).is_(None))
        .order_by(col(MonthlyReport.month).desc(), col(MonthlyReport.id).desc()))).first()
    return await _view(s, row) if row is not None else None


async def read(s: AsyncSession, report_id: int) -> MonthlyView | None:
    """One 月报 by id."""
    row = await s.get(MonthlyReport, report_id)
    return await _view(s, row) if row is not None else None


async def save_note(
    s: AsyncSession, report_id: int, note: str, actor_id: int | None, now: datetime,
) -> MonthlyView | None:
    """Keep the lead's note on a 月报 not yet confirmed (audited); None if it is gone."""
    row = await s.get(MonthlyReport, report_id)
    if row is None:
        return None
    row.note = note
    s.add(row)
    await audit.record(s, at=now, action="report.monthly_note", actor_person_id=actor_id,
                       report_id=row.id, chars=len(note))
    return await _view(s, row)


async def confirm(
    s: AsyncSession, report_id: int, college_ids: list[int], actor_id: int, now: datetime,
) -> Confirmation:
    """Confirm a 月报 of one of these colleges once, under a row lock (audited)."""
    query = select(MonthlyReport).where(col(MonthlyReport.id) == report_id)
    if dialect_name(s) == "postgresql":
        query = query.with_for_update()
    row = (await s.exec(query.execution_options(populate_existing=True))).first()
    if row is None or row.college_id not in college_ids:
        return Confirmation("missing")
    if row.confirmed_at is not None:
        return Confirmation("already")
    college = await s.get(College, row.college_id)
    assert college is not None
    row.confirmed_by, row.confirmed_at = actor_id, now
    s.add(row)
    await audit.record(
        s, at=now, action="report.monthly_confirm", actor_person_id=actor_id,
        report_id=row.id, college_id=row.college_id, month=row.month.isoformat(),
    )
    return Confirmation("confirmed", await _view(s, row), college.name, college.school_id)


async def school_month(s: AsyncSession, school_id: int | None) -> SchoolMonth | None:
    """Every college's 月报 of the school's latest month, or None before the first."""
    colleges = [(c.id, c.name) for c in (await s.exec(
        select(College).where(College.school_id == school_id)
        .order_by(col(College.id)))).all() if c.id is not None]
    ids = [cid for cid, _ in colleges]
    newest = (await s.exec(
        select(MonthlyReport).where(col(MonthlyReport.college_id).in_(ids))
        .order_by(col(MonthlyReport.month).desc()))).first()
    if newest is None:
        return None
    rows = (await s.exec(
        select(MonthlyReport).where(col(MonthlyReport.month) == newest.month,
                                    col(MonthlyReport.college_id).in_(ids)))).all()
    return SchoolMonth(newest.month, tuple(colleges),
                       {r.college_id: await _view(s, r) for r in rows})
