"""What a case page shows beyond the case row: the student, the lead, the latest notes."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from xinqiao.services.directory import unit_names
from xinqiao.storage.cases import Case, CaseNote
from xinqiao.storage.models import Person, Tier


@dataclass(frozen=True)
class CaseNoteLine:
    """One note as recorded (its text as stored: case_sources.readable_note words it)."""

    at: datetime
    text: str


@dataclass(frozen=True)
class CaseSummary:
    """The student a case is about, who leads it and its latest notes."""

    student_name: str
    tier: Tier
    college: str | None
    klass: str | None
    lead_name: str | None
    recent: tuple[CaseNoteLine, ...]


async def case_summary(s: AsyncSession, case: Case, notes: int = 3) -> CaseSummary:
    """The summary of a case already read (and audited) by the caller."""
    student = await s.get(Person, case.person_id)
    assert student is not None
    college, klass, _ = await unit_names(s, student)
    lead = await s.get(Person, case.lead_person_id) if case.lead_person_id else None
    recent = (await s.exec(select(CaseNote).where(CaseNote.case_id == case.id)
                           .order_by(col(CaseNote.id).desc()).limit(notes))).all()
    return CaseSummary(student.name, Tier(student.tier), college, klass,
                       lead.name if lead else None,
                       tuple(CaseNoteLine(n.at, n.text) for n in recent))


async def student_names(s: AsyncSession, cases: Iterable[Case]) -> dict[int, str]:
    """The names of the students these cases are about, by case id."""
    names: dict[int, str] = {}
    for case in cases:
        student = await s.get(Person, case.person_id)
        if student is not None and case.id is not None:
            names[case.id] = student.name
    return names
