"""Lookups in the four-level network: who holds which role, who lives and studies with whom."""

from __future__ import annotations

from collections.abc import Sequence

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from xinqiao.storage.models import College, Dorm, Klass, Person, Role, RoleAssignment


async def roles_of(session: AsyncSession, person_id: int) -> list[RoleAssignment]:
    """Every role assignment of one person."""
    rows = await session.exec(select(RoleAssignment).where(RoleAssignment.person_id == person_id))
    return list(rows)


async def peers(session: AsyncSession, person: Person, scope: str) -> Sequence[Person]:
    """Active people in the same class (``scope='class'``) or dorm (``'dorm'``), self excluded."""
    column = Person.klass_id if scope == "class" else Person.dorm_id
    unit = person.klass_id if scope == "class" else person.dorm_id
    if unit is None:
        return []
    rows = await session.exec(
        select(Person)
        .where(column == unit, col(Person.active).is_(True), Person.id != person.id)
        .order_by(col(Person.external_id))
    )
    return list(rows)


async def unit_names(
    session: AsyncSession, person: Person
) -> tuple[str | None, str | None, str | None]:
    """Names of the person's college, class and dorm."""
    college = await session.get(College, person.college_id) if person.college_id else None
    klass = await session.get(Klass, person.klass_id) if person.klass_id else None
    dorm = await session.get(Dorm, person.dorm_id) if person.dorm_id else None
    return (
        college.name if college else None,
        klass.name if klass else None,
        dorm.name if dorm else None,
    )


STAFF_ROLES = frozenset(
    {
        Role.class_advisor,
        Role.college_lead,
        Role.college_counsellor,
        Role.centre_staff,
        Role.centre_lead,
    }
)
NETWORK_ROLES = STAFF_ROLES | {Role.committee, Role.informant}
