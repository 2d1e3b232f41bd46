"""Lookups in the four-level network: who holds which role, who lives and studies with whom."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from xinqiao.storage.models import College, Dorm, Klass, Person, Role, RoleAssignment
from xinqiao.vocabulary import PersonView, Rostered, Tier


async def roles_of(session: AsyncSession, person_id: int) -> list[RoleAssignment]:
    """Every role assignment of one person."""
    rows = await session.exec(select(RoleAssignment).where(RoleAssignment.person_id == person_id))
    return list(rows)


# Committee members and dorm informants are students of a class with an extra network role.
STUDENT_ROLES = frozenset({Role.student, Role.committee, Role.informant})
STUDENT_VALUES = tuple(sorted(r.value for r in STUDENT_ROLES))  # for SQL ``IN`` filters


def person_view(person: Person) -> PersonView:
    """The frozen view of a roster row a flow is given (see vocabulary.PersonView)."""
    return PersonView(id=person.id, school_id=person.school_id, external_id=person.external_id,
                      name=person.name, college_id=person.college_id, klass_id=person.klass_id,
                      dorm_id=person.dorm_id, enrolment_year=person.enrolment_year,
                      tier=Tier(person.tier), active=person.active)


async def row_of(session: AsyncSession, who: Rostered) -> Person:
    """The stored row of a person a flow holds as a view (the row itself if given one)."""
    if isinstance(who, Person):
        return who
    row = await session.get(Person, who.id)
    assert row is not None, f"person {who.id} is not on the roster"
    return row


async def role_set(session: AsyncSession, person_id: int) -> frozenset[Role]:
    """The distinct roles a person holds (a plain student holds ``student``).

    A committee member or informant also holds ``student``, even when an older import stored
    only the network role: they book, take screenings and see their own results too.
    """
    return roles_in(await roles_of(session, person_id))


def roles_in(assignments: Sequence[RoleAssignment]) -> frozenset[Role]:
    """The distinct roles of one person's assignments (see :func:`role_set`)."""
    return held_roles(Role(r.role) for r in assignments)


def held_roles(roles: Iterable[Role]) -> frozenset[Role]:
    """The roles a person holds: a committee member or informant is a student too."""
    held = frozenset(roles)
    return held | {Role.student} if held & STUDENT_ROLES else held


async def peers(session: AsyncSession, person: Rostered, scope: str) -> Sequence[Person]:
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


_CENTRE = frozenset({Role.centre_staff, Role.centre_lead})
_COLLEGE = frozenset({Role.college_lead, Role.college_counsellor})


async def students_in_reach(session: AsyncSession, person: Rostered, text: str
                            ) -> Sequence[Person]:
    """Students named (or numbered) ``text`` whom this staff member serves: an advisor's
    classes, a college's students, the whole school for the centre; nobody for others."""
    assignments = await roles_of(session, person.id or 0)
    roles = {Role(a.role) for a in assignments}
    query = (select(Person).join(RoleAssignment, col(RoleAssignment.person_id) == Person.id)
             .where(col(RoleAssignment.role).in_(STUDENT_VALUES), col(Person.active).is_(True),
                    Person.school_id == person.school_id,
                    (Person.name == text) | (Person.external_id == text)))
    if not roles & _CENTRE:
        klasses = {a.klass_id for a in assignments
                   if a.role == Role.class_advisor and a.klass_id is not None}
        colleges = {a.college_id or person.college_id for a in assignments
                    if Role(a.role) in _COLLEGE} - {None}
        if not klasses and not colleges:
            return []
        query = query.where(col(Person.klass_id).in_(klasses)
                            | col(Person.college_id).in_(colleges))
    found = {p.id: p for p in await session.exec(query.order_by(col(Person.external_id)))}
    return list(found.values())


async def unit_names(
    session: AsyncSession, person: Rostered
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


async def college_name(session: AsyncSession, college_id: int) -> str | None:
    """A college's name, or None if it is gone."""
    college = await session.get(College, college_id)
    return college.name if college else None


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

ROLE_LABELS: dict[Role, str] = {
    Role.student: "学生",
    Role.committee: "班级心理委员",
    Role.informant: "宿舍心理信息员",
    Role.class_advisor: "辅导员/班主任",
    Role.college_lead: "学院心理工作负责人",
    Role.college_counsellor: "学院心理辅导员",
    Role.centre_staff: "心理中心老师",
    Role.centre_lead: "心理中心主任",
}


async def people_in_scope(session: AsyncSession, assignment: RoleAssignment) -> int:
    """How many active people the unit of one staff role assignment covers."""
    from sqlalchemy import func

    query = select(func.count()).select_from(Person).where(col(Person.active).is_(True))
    if assignment.klass_id is not None:
        query = query.where(Person.klass_id == assignment.klass_id)
    elif assignment.college_id is not None:
        query = query.where(Person.college_id == assignment.college_id)
    return int((await session.exec(query)).one())
