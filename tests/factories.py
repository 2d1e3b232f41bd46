"""Small builders for roster rows in tests (the roster importer has its own tests)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from xinqiao.services.code_hash import hash_code
from xinqiao.storage.db import Database
from xinqiao.storage.models import (
    ChannelIdentity,
    College,
    Dorm,
    Klass,
    Person,
    Role,
    RoleAssignment,
    School,
)


@dataclass
class Campus:
    """Ids of a tiny school: one college, two classes, two dorms."""

    school_id: int
    college_id: int
    other_college_id: int
    klass_id: int
    other_klass_id: int
    dorm_id: int
    people: dict[str, int] = field(default_factory=dict)


async def make_campus(db: Database, now: datetime) -> Campus:
    """A school with 信息工程学院 (软件2301, 软件2302) and 经济管理学院, dorms 东1-101/102."""
    async with db.session() as s:
        school = School(code="default", name="示例大学")
        s.add(school)
        await s.flush()
        assert school.id is not None
        info = College(school_id=school.id, name="信息工程学院")
        econ = College(school_id=school.id, name="经济管理学院")
        s.add_all([info, econ])
        await s.flush()
        assert info.id is not None and econ.id is not None
        k1 = Klass(college_id=info.id, name="软件2301")
        k2 = Klass(college_id=info.id, name="软件2302")
        d1 = Dorm(school_id=school.id, name="东1-101")
        d2 = Dorm(school_id=school.id, name="东1-102")
        s.add_all([k1, k2, d1, d2])
        await s.flush()
        assert k1.id and k2.id and d1.id and d2.id
        return Campus(school.id, info.id, econ.id, k1.id, k2.id, d1.id)


async def add_person(
    db: Database,
    campus: Campus,
    external_id: str,
    name: str,
    *roles: Role,
    code: str = "ABCD2345",
    now: datetime,
    klass_id: int | None = -1,
    dorm_id: int | None = -1,
    college_id: int | None = -1,
) -> int:
    """Add a person (a student of 软件2301 in 东1-101 unless told otherwise) with roles."""
    roles = roles or (Role.student,)
    async with db.session() as s:
        person = Person(
            school_id=campus.school_id,
            external_id=external_id,
            name=name,
            college_id=campus.college_id if college_id == -1 else college_id,
            klass_id=campus.klass_id if klass_id == -1 else klass_id,
            dorm_id=campus.dorm_id if dorm_id == -1 else dorm_id,
            activation_code=hash_code(db.keys, code),
            created_at=now,
            updated_at=now,
        )
        s.add(person)
        await s.flush()
        assert person.id is not None
        for role in roles:
            unit_class = person.klass_id if role in (Role.class_advisor, Role.committee) else None
            unit_college = person.college_id if role not in (
                Role.centre_staff, Role.centre_lead) else None
            s.add(RoleAssignment(person_id=person.id, role=role, klass_id=unit_class,
                                 college_id=unit_college))
        campus.people[external_id] = person.id
        return person.id


async def bind(db: Database, person_id: int, channel: str, address: str, now: datetime) -> None:
    """Bind a chat identity directly, as a finished binding flow would."""
    async with db.session() as s:
        s.add(ChannelIdentity(channel=channel, address=address, person_id=person_id,
                              bound_at=now, created_at=now))
