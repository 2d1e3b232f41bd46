"""The daily coverage check: who in the network an alert could not reach today, and why.

Each college lead gets the gaps of their college, the centre lead the whole school's, so a
class advisor who never bound their account is found before a crisis needs them, not during.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from xinqiao.services.pushed import Pushed
from xinqiao.services.recipients import push_to_people, unreachable
from xinqiao.services.wording_port import WordingPort
from xinqiao.storage.models import College, Dorm, Klass, Person, Role, RoleAssignment

ROLE_LABELS = {Role.class_advisor: "班级辅导员", Role.committee: "心理委员",
               Role.informant: "信息员", Role.college_lead: "学院负责人",
               Role.college_counsellor: "学院心理辅导员", Role.centre_staff: "心理中心老师",
               Role.centre_lead: "心理中心负责人"}
WHY = {"unbound": "未绑定", "unreachable": "账号无法送达"}


@dataclass(frozen=True)
class Gap:
    """One role an alert cannot reach: in which unit, held by whom (None: nobody), why."""

    college_id: int | None
    unit: str
    role: str
    person: str | None
    why: str


class CoverageWording(Protocol):
    """The coverage check's pushes; ``handlers/coverage_texts`` is one."""

    def college_gaps(self, college: str | None, gaps: Sequence[Gap]) -> Pushed:
        """A college's gaps, to its leads (``college`` None: its name is unknown)."""
        ...

    def school_gaps(self, by_college: Sequence[tuple[str | None, Sequence[Gap]]]) -> Pushed:
        """The whole school's gaps by college (None: the centre), to the centre lead."""
        ...


words: WordingPort[CoverageWording] = WordingPort("coverage", "xinqiao.handlers.coverage_texts")


async def coverage_gaps(s: AsyncSession) -> list[Gap]:
    """Every network role held by someone no push reaches, and every class with no advisor."""
    rows = (await s.exec(
        select(RoleAssignment, Person).join(Person, col(Person.id) == RoleAssignment.person_id)
        .where(col(RoleAssignment.role).in_([r.value for r in ROLE_LABELS]),
               col(Person.active).is_(True))
        .order_by(col(RoleAssignment.id)))).all()
    gone = await unreachable(s, [p.id for _, p in rows if p.id is not None])
    klasses = {k.id: k for k in (await s.exec(select(Klass))).all()}
    dorms = {d.id: d.name for d in (await s.exec(select(Dorm))).all()}
    gaps: list[Gap] = []
    for ra, person in rows:
        if person.id not in gone:
            continue
        klass = klasses.get(ra.klass_id or person.klass_id)
        role = Role(ra.role)
        if role in (Role.centre_staff, Role.centre_lead):
            unit, college = "心理中心", None
        elif role is Role.informant and (ra.dorm_id or person.dorm_id):
            unit = dorms.get(ra.dorm_id or person.dorm_id, "宿舍")
            college = ra.college_id or person.college_id
        elif role in (Role.college_lead, Role.college_counsellor) or klass is None:
            unit, college = "学院", ra.college_id or person.college_id
        else:
            unit, college = klass.name, klass.college_id
        gaps.append(Gap(college, unit, ROLE_LABELS[role], person.name, WHY[gone[person.id]]))
    advised = {ra.klass_id for ra, _ in rows if ra.role == Role.class_advisor}
    gaps += [Gap(k.college_id, k.name, ROLE_LABELS[Role.class_advisor], None, "无人担任")
             for kid, k in sorted(klasses.items(), key=lambda kv: kv[0] or 0)
             if kid not in advised]
    # A college whose lead left (or never had one) has nobody to take its alerts and gaps.
    led = {ra.college_id for ra, _ in rows if ra.role == Role.college_lead}
    colleges = (await s.exec(select(College.id).order_by(col(College.id)))).all()
    return [Gap(c, "学院", ROLE_LABELS[Role.college_lead], None, "无人担任")
            for c in colleges if c not in led] + gaps


async def _active_holders(s: AsyncSession, role: Role) -> list[tuple[int, int | None]]:
    """(person, college) of everyone active holding ``role``: who left gets no report."""
    rows = await s.exec(
        select(RoleAssignment.person_id, RoleAssignment.college_id)
        .join(Person, col(Person.id) == RoleAssignment.person_id)
        .where(RoleAssignment.role == role.value, col(Person.active).is_(True))
        .order_by(col(RoleAssignment.id)))
    return list(rows.all())


async def push_coverage(s: AsyncSession, day: str, now: datetime) -> int:
    """Push each college lead their college's gaps and the centre lead all; return pushes."""
    gaps = await coverage_gaps(s)
    if not gaps:
        return 0
    by_college: dict[int | None, list[Gap]] = defaultdict(list)
    for gap in gaps:
        by_college[gap.college_id].append(gap)
    colleges = {c.id: c.name for c in (await s.exec(select(College))).all()}
    leads: dict[int | None, list[int]] = defaultdict(list)
    for lead, college_id in await _active_holders(s, Role.college_lead):
        leads[college_id].append(lead)
    pushed = 0
    for college_id, people in leads.items():  # one push per college, to all its leads
        mine = by_college.get(college_id, [])
        if mine:
            reply = words().college_gaps(colleges.get(college_id or 0), mine)
            pushed += len(await push_to_people(s, people, key=f"coverage:{day}:{college_id}",
                                               reply=reply, now=now))
    school = words().school_gaps([(colleges.get(college_id or 0), found) for college_id, found
                                  in sorted(by_college.items(), key=lambda kv: kv[0] or 0)])
    centre = [p for p, _ in await _active_holders(s, Role.centre_lead)]
    pushed += len(await push_to_people(s, centre, key=f"coverage:{day}", reply=school, now=now))
    return pushed
