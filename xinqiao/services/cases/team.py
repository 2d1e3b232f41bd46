"""A crisis case's team (五个一: one team): who is on it, adding a colleague, removing one."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlmodel import col, delete, select
from sqlmodel.ext.asyncio.session import AsyncSession

from xinqiao.services.cases.lifecycle import add_member
from xinqiao.services.cases.view import CaseLike
from xinqiao.services.directory import STAFF_ROLES, role_set
from xinqiao.storage.cases import CaseMember, CaseNote
from xinqiao.storage.models import Person


@dataclass(frozen=True)
class TeamMember:
    """One person on a case's team."""

    person_id: int
    name: str
    lead: bool


async def team(s: AsyncSession, case: CaseLike) -> list[TeamMember]:
    """The team in the order people joined, the lead marked."""
    rows = await s.exec(select(Person).join(
        CaseMember, col(CaseMember.person_id) == col(Person.id)).where(
        CaseMember.case_id == case.id).order_by(col(CaseMember.id)))
    return [TeamMember(p.id or 0, p.name, p.id == case.lead_person_id) for p in rows]


async def add_staff(s: AsyncSession, case: CaseLike, number: str, by: int | None,
                    now: datetime) -> str | None:
    """Add the active staff member with this 工号 and note it; their name, or None if no such
    colleague (students and unknown numbers are refused)."""
    person = (await s.exec(select(Person).where(
        Person.external_id == number.strip(), col(Person.active).is_(True)))).first()
    if person is None or person.id is None or not (
            await role_set(s, person.id) & STAFF_ROLES):
        return None
    await add_member(s, case, person.id, now)
    s.add(CaseNote(case_id=case.id or 0, at=now, author_person_id=by, kind="team",
                   text=f"{person.name} 加入团队"))
    return person.name


async def remove(s: AsyncSession, case: CaseLike, person_id: int, by: int | None,
                 now: datetime) -> str | None:
    """Take a member off the team and note it; their name, or None for the lead (who stays
    until the lead is handed over) or an unknown person."""
    person = await s.get(Person, person_id)
    if person is None or person_id == case.lead_person_id:
        return None
    await s.exec(delete(CaseMember).where(
        col(CaseMember.case_id) == case.id, col(CaseMember.person_id) == person_id))
    s.add(CaseNote(case_id=case.id or 0, at=now, author_person_id=by, kind="team",
                   text=f"{person.name} 离开团队"))
    return person.name
