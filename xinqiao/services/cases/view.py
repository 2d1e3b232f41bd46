"""A case as a flow holds it (a frozen view, never the row) and what its page shows beyond
it: the student, the lead, the plan and cadence as they stand, the latest notes."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from xinqiao.services.directory import unit_names
from xinqiao.storage.cases import Case, CaseNote
from xinqiao.storage.models import Person, Tier


class CaseLike(Protocol):
    """A case a service is handed: its row, or the view a flow holds after reading it."""

    @property
    def id(self) -> int | None:
        """The case number."""
        ...

    @property
    def person_id(self) -> int:
        """The student the case is about."""
        ...

    @property
    def lead_person_id(self) -> int | None:
        """Who leads it, if anyone yet."""
        ...


@dataclass(frozen=True)
class CaseView:
    """A case as read (and audited) for a flow: the flow shows it and hands it back."""

    id: int
    person_id: int
    lead_person_id: int | None
    next_followup_at: datetime | None


def view_of(case: Case) -> CaseView:
    """The view of a case row."""
    return CaseView(case.id or 0, case.person_id, case.lead_person_id, case.next_followup_at)


async def case_row(s: AsyncSession, case: CaseLike) -> Case:
    """The row behind a case already read (the same object when handed the row)."""
    row = await s.get(Case, case.id)
    assert row is not None
    return row


@dataclass(frozen=True)
class CaseNoteLine:
    """One note as recorded (its text as stored: cases/sources.readable_note words it)."""

    at: datetime
    text: str


@dataclass(frozen=True)
class CaseSummary:
    """The student a case is about, who leads it, its plan and cadence, its latest notes."""

    student_name: str
    tier: Tier
    college: str | None
    klass: str | None
    lead_name: str | None
    recent: tuple[CaseNoteLine, ...]
    lead_person_id: int | None
    plan: str | None
    followup_days: int


async def case_summary(s: AsyncSession, case: CaseLike, notes: int = 3) -> CaseSummary:
    """The summary of a case already read (and audited) by the caller, as it stands now."""
    row = await case_row(s, case)
    student = await s.get(Person, row.person_id)
    assert student is not None
    college, klass, _ = await unit_names(s, student)
    lead = await s.get(Person, row.lead_person_id) if row.lead_person_id else None
    recent = (await s.exec(select(CaseNote).where(CaseNote.case_id == row.id)
                           .order_by(col(CaseNote.id).desc()).limit(notes))).all()
    return CaseSummary(student.name, Tier(student.tier), college, klass,
                       lead.name if lead else None,
                       tuple(CaseNoteLine(n.at, n.text) for n in recent),
                       row.lead_person_id, row.plan, row.followup_days)


async def student_names(s: AsyncSession, cases: Iterable[CaseLike]) -> dict[int, str]:
    """The names of the students these cases are about, by case id."""
    names: dict[int, str] = {}
    for case in cases:
        student = await s.get(Person, case.person_id)
        if student is not None and case.id is not None:
            names[case.id] = student.name
    return names
