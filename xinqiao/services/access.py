"""Who may read and who may change each kind of record: the one check, against the one table.

design.md §4: each role sees only its own scope; informants and committees never see screening
results or case details; a college sees its own students only (their attention tier, never the
answers); centre staff see the detail, and every staff read is audited; only centre roles see
appointment notes; only the centre lead reads the audit log. Nobody changes the roster in chat
(``xinqiao roster ...`` on the server does), nobody edits a screening result (only the
student's own answers make one) and nobody edits the audit log.

The table is :mod:`xinqiao.services.access_matrix`. Flows ask :func:`authorize` (or :func:`may`
for list filters); a refusal is always audited, and so is every allowed read of someone else's
record.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from xinqiao.services import audit
from xinqiao.services.access_matrix import FLOW_KINDS, MATRIX, Grant, Scope

# Re-exported: some forty flows, services and pages name the kinds and actions through here.
from xinqiao.services.access_matrix import Action as Action
from xinqiao.services.access_matrix import Kind as Kind
from xinqiao.services.directory import roles_of
from xinqiao.storage.booking import Appointment
from xinqiao.storage.cases import Case, CaseMember
from xinqiao.storage.models import Person, Role, RoleAssignment
from xinqiao.storage.reports import Escalation, EscalationRecipient
from xinqiao.vocabulary import Rostered

# What a refused person is told: polite, and the same whether the record exists or not.
REFUSAL = "抱歉，这项内容不在你可以查看的范围内。如有需要，请联系心理中心。"


@dataclass(frozen=True)
class Units:
    """The units one role of a person serves."""

    colleges: frozenset[int] = frozenset()
    klasses: frozenset[int] = frozenset()
    dorms: frozenset[int] = frozenset()


@dataclass(frozen=True)
class Actor:
    """Who is asking: their roles and, per role, the units they serve."""

    person_id: int
    roles: frozenset[Role]
    units: dict[Role, Units] = field(default_factory=dict)


@dataclass(frozen=True)
class Target:
    """The record asked about: whose it is, and who it was sent to, counselled by or led by."""

    person_id: int | None = None
    college_id: int | None = None
    klass_id: int | None = None
    dorm_id: int | None = None
    recipients: frozenset[int] = frozenset()
    team: frozenset[int] = frozenset()
    counsellor_id: int | None = None
    counsellors: frozenset[int] = frozenset()  # everyone who has counselled the student

    @classmethod
    def about(cls, student: Rostered | None, **more: Any) -> Target:
        """A record about ``student`` (None: no particular student)."""
        if student is None:
            return cls(**more)
        return cls(person_id=student.id, college_id=student.college_id,
                   klass_id=student.klass_id, dorm_id=student.dorm_id, **more)


async def actor_for(s: AsyncSession, person: Rostered, roles: frozenset[Role]) -> Actor:
    """The person as an actor: per role, the units its assignments name; where they name none
    of a kind, the person's own unit of that kind (an informant's dorm is where they live)."""
    assert person.id is not None
    return actor_of(person, roles, await roles_of(s, person.id))


def actor_of(person: Rostered, roles: frozenset[Role],
             assignments: Sequence[RoleAssignment]) -> Actor:
    """:func:`actor_for` from assignments already loaded (the console's gate loads them once)."""
    assert person.id is not None
    found: dict[Role, list[set[int]]] = {}
    for a in assignments:
        buckets = found.setdefault(Role(a.role), [set(), set(), set()])
        for unit, bucket in zip((a.college_id, a.klass_id, a.dorm_id), buckets, strict=True):
            if unit is not None:
                bucket.add(unit)
    own = (person.college_id, person.klass_id, person.dorm_id)
    units: dict[Role, Units] = {}
    for role in roles:
        buckets = found.get(role, [set(), set(), set()])
        for unit, bucket in zip(own, buckets, strict=True):
            if not bucket and unit is not None:
                bucket.add(unit)
        units[role] = Units(*(frozenset(b) for b in buckets))
    return Actor(person.id, roles, units)


def _covers(actor: Actor, role: Role, scope: Scope, target: Target) -> bool:
    units = actor.units.get(role, Units())
    match scope:
        case Scope.own:
            return target.person_id == actor.person_id
        case Scope.recipient:
            return actor.person_id in target.recipients
        case Scope.counsellor:
            return target.counsellor_id == actor.person_id or actor.person_id in \
                target.counsellors
        case Scope.team:
            return actor.person_id in target.team
        case Scope.dorm:
            return target.dorm_id in units.dorms
        case Scope.klass:
            return target.klass_id in units.klasses
        case Scope.college:
            return target.college_id in units.colleges
        case Scope.school:
            return True


def may(actor: Actor, kind: Kind, action: Action, target: Target) -> bool:
    """Whether any of the actor's roles reaches this record for this action."""
    return any(
        _covers(actor, role, scope, target)
        for role in actor.roles
        for scope in MATRIX.get((role, kind, action), Grant(())).scopes
    )


def holders(kind: Kind, action: Action) -> frozenset[Role]:
    """Roles that may do ``action`` on someone else's record of ``kind`` (a flow's door)."""
    return frozenset(role for (role, k, a), grant in MATRIX.items()
                     if k is kind and a is action and set(grant.scopes) - {Scope.own})


def wide_holders(kind: Kind, action: Action) -> frozenset[Role]:
    """Roles whose grant reaches a whole college or the school (a page listing a unit's
    people, such as the console's 花名册)."""
    wide = {Scope.college, Scope.school}
    return frozenset(role for (role, k, a), grant in MATRIX.items()
                     if k is kind and a is action and wide & set(grant.scopes))


def colleges_in_reach(actor: Actor, kind: Kind, action: Action) -> frozenset[int] | None:
    """For list views: None when the actor reaches the whole school, else the colleges."""
    reach: set[int] = set()
    for role in actor.roles:
        scopes = MATRIX.get((role, kind, action), Grant(())).scopes
        if Scope.school in scopes:
            return None
        if Scope.college in scopes:
            reach |= actor.units.get(role, Units()).colleges
    return frozenset(reach)


def classes_in_reach(actor: Actor, kind: Kind, action: Action) -> frozenset[int]:
    """For list views: the classes the actor reaches through a class-scoped grant."""
    reach: set[int] = set()
    for role in actor.roles:
        if Scope.klass in MATRIX.get((role, kind, action), Grant(())).scopes:
            reach |= actor.units.get(role, Units()).klasses
    return frozenset(reach)


async def authorize(s: AsyncSession, /, actor: Actor, kind: Kind, action: Action,
                    target: Target | None, *, now: datetime, audit_as: str | None = None,
                    audit_allowed: bool = True, **detail: Any) -> bool:
    """:func:`may`, audited: every refusal, and every allowed look at someone else's record.

    ``target`` None means the record was not found: refused like any other, so the answer
    cannot tell a missing record from a forbidden one.
    """
    allowed = target is not None and may(actor, kind, action, target)
    subject = target.person_id if target is not None else None
    if not allowed or (audit_allowed and subject != actor.person_id):
        await audit.record(s, at=now, action=audit_as or f"{kind.value}.{action.value}",
                           actor_person_id=actor.person_id, subject_person_id=subject,
                           allowed=allowed, kind=kind.value, **detail)
    return allowed


# --- the targets of the stored records --------------------------------------------------


async def student_target(s: AsyncSession, person_id: int | None, **more: Any) -> Target:
    """A record about the student with this id (their units looked up)."""
    student = await s.get(Person, person_id) if person_id is not None else None
    return Target.about(student, **more) if student else Target(person_id=person_id, **more)


async def escalation_target(s: AsyncSession, esc: Escalation) -> Target:
    """A report's escalation: about its student, sent to its recipients at every level."""
    rows = await s.exec(select(EscalationRecipient.person_id).where(
        EscalationRecipient.escalation_id == esc.id))
    return await student_target(s, esc.subject_person_id, recipients=frozenset(rows.all()))


async def case_target(s: AsyncSession, case: Case) -> Target:
    """A crisis case: about its student, with its team."""
    rows = await s.exec(select(CaseMember.person_id).where(CaseMember.case_id == case.id))
    return await student_target(s, case.person_id, team=frozenset(rows.all()))


async def appointment_target(s: AsyncSession, appt: Appointment) -> Target:
    """An appointment (and its note): about its student, kept by its counsellor."""
    return await student_target(s, appt.student_id, counsellor_id=appt.counsellor_id)


async def refuse_flow(s: AsyncSession, *, now: datetime, actor_person_id: int | None,
                      flow: str, identity_id: int | None, asked: str = "") -> None:
    """Audit a flow refused at its door (not the person's role, or not bound at all).

    The door does not look the record up, so the entry keeps what was asked for (a 学号, a
    number; the detail is encrypted) instead of a subject.
    """
    kind = FLOW_KINDS.get(flow)
    await audit.record(s, at=now, action="flow.refused", actor_person_id=actor_person_id,
                       allowed=False, flow=flow, kind=kind.value if kind else None,
                       identity=identity_id, asked=asked.strip()[:64] or None)
