"""关怀回访: after an attempt or a death, a follow-up round for the student's dorm and class.

The centre starts it (the access matrix's ``aftercare`` change), having seen only how many
people it will reach. Each active student of the dorm or class — never the student themself,
never staff — gets an invitation through the outbox that names nobody; those with no chat
account are counted as unreachable. A durable timer reminds the silent after the policy's
``reminder_days`` and another closes the round after ``open_days``; every push lands in the
policy's daytime hours (a round confirmed at night invites the next morning). Completion is
counts only, per dorm and class, as a screening round's is; answers reach staff only as
concern items.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import astuple, dataclass
from datetime import datetime, timedelta

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from xinqiao.policy.aftercare import AftercarePolicy
from xinqiao.services.access import Target, student_target
from xinqiao.services.aftercare.wording import words
from xinqiao.services.directory import STAFF_ROLES, STUDENT_VALUES
from xinqiao.services.outbox import Priority
from xinqiao.services.recipients import push_to_people, unreachable
from xinqiao.services.refs import case_ref
from xinqiao.services.timers import TimerHandler, schedule
from xinqiao.storage.aftercare import (
    AftercareInvitation,
    AftercareRound,
    CaseIncident,
    InviteStatus,
    RoundStatus,
)
from xinqiao.storage.cases import Case as Case  # re-exported: the flow passes cases through
from xinqiao.storage.cases import CaseNote
from xinqiao.storage.models import Person, RoleAssignment
from xinqiao.storage.reports import Timer
from xinqiao.vocabulary import Rostered

INVITE, REMIND, CLOSE = "aftercare.invite", "aftercare.remind", "aftercare.close"
UNITS = ("dorm", "klass")


@dataclass(frozen=True)
class Reach:
    """Whom a round would invite, by unit: roommates first, then classmates outside the dorm."""

    dorm: tuple[int, ...]
    klass: tuple[int, ...]
    unbound: frozenset[int]

    @property
    def total(self) -> int:
        """Everyone invited, reachable or not."""
        return len(self.dorm) + len(self.klass)


@dataclass(frozen=True)
class Tally:
    """One unit's counts: invited, unreachable, answered, wanting to talk, items raised."""

    invited: int = 0
    unreachable: int = 0
    answered: int = 0
    wants_talk: int = 0
    concerns: int = 0


def summed(tallies: Iterable[Tally]) -> Tally:
    """The units' counts added up (合计)."""
    return Tally(*(sum(column) for column in zip(*map(astuple, tallies), strict=True)))


async def reach_of(s: AsyncSession, case: Case) -> Reach:
    """The students sharing the case student's dorm or class (not them, not staff)."""
    student = await s.get(Person, case.person_id)
    if student is None or (student.dorm_id is None and student.klass_id is None):
        return Reach((), (), frozenset())
    # A unit the student has none of matches nobody (-1 is no id).
    where = ((col(Person.dorm_id) == (student.dorm_id or -1))
             | (col(Person.klass_id) == (student.klass_id or -1)))
    staff = select(RoleAssignment.person_id).where(
        col(RoleAssignment.role).in_([r.value for r in STAFF_ROLES]))
    rows = (await s.exec(
        select(Person.id, Person.dorm_id).join(
            RoleAssignment, col(RoleAssignment.person_id) == Person.id)
        .where(where, col(Person.active).is_(True), col(Person.id) != student.id,
               col(RoleAssignment.role).in_(STUDENT_VALUES), col(Person.id).not_in(staff))
        .distinct().order_by(col(Person.id)))).all()
    dorm = tuple(p for p, d in rows if p is not None and student.dorm_id is not None
                 and d == student.dorm_id)
    klass = tuple(p for p, _ in rows if p is not None and p not in dorm)
    return Reach(dorm, klass, frozenset(await unreachable(s, [*dorm, *klass])))


async def round_of(s: AsyncSession, case_id: int | None) -> AftercareRound | None:
    """The case's latest round, if one was started."""
    return (await s.exec(select(AftercareRound).where(AftercareRound.case_id == case_id)
                         .order_by(col(AftercareRound.id).desc()))).first()


async def start_round(s: AsyncSession, policy: AftercarePolicy, case: Case, by: Rostered,
                      now: datetime) -> tuple[AftercareRound, Reach]:
    """Invite the dorm and class (the open round if there is one) and arm its two timers."""
    assert case.id is not None and by.id is not None
    existing = await round_of(s, case.id)
    reach = await reach_of(s, case)
    if existing is not None and existing.status == RoundStatus.open:
        return existing, reach
    student = await s.get(Person, case.person_id)
    # The students' clock starts when the invitations go out: at once in the daytime, else
    # the next morning (a round confirmed after a night call must not wake anyone).
    send_at, day = policy.daytime(now), timedelta(days=1)
    row = AftercareRound(case_id=case.id, dorm_id=student.dorm_id if student else None,
                         klass_id=student.klass_id if student else None, started_by=by.id,
                         started_at=now,
                         remind_at=policy.daytime(send_at + policy.reminder_days * day),
                         closes_at=policy.daytime(send_at + policy.open_days * day))
    s.add(row)
    await s.flush()
    assert row.id is not None
    for unit, people in (("dorm", reach.dorm), ("klass", reach.klass)):
        s.add_all(AftercareInvitation(round_id=row.id, person_id=p, unit=unit,
                                      reached=p not in reach.unbound) for p in people)
    await s.flush()
    if send_at > now:
        await schedule(s, kind=INVITE, ref=str(row.id), due_at=send_at, now=now)
    else:
        await _invite(s, row, now)
    # The timeline is read by the college too; the round's counts are the centre's alone.
    s.add(CaseNote(case_id=case.id, at=now, author_person_id=by.id, kind="aftercare",
                   text=f"{by.name} 发起关怀回访（同宿舍、同班同学）"))
    await schedule(s, kind=REMIND, ref=str(row.id), due_at=row.remind_at, now=now)
    await schedule(s, kind=CLOSE, ref=str(row.id), due_at=row.closes_at, now=now)
    return row, reach


async def _invite(s: AsyncSession, row: AftercareRound, now: datetime) -> None:
    """Push the invitations; who could be reached is settled now (one may have bound since)."""
    invites = list((await s.exec(select(AftercareInvitation).where(
        AftercareInvitation.round_id == row.id).order_by(col(AftercareInvitation.id)))).all())
    reached = set(await push_to_people(
        s, [i.person_id for i in invites], key=f"aftercare:{row.id}:invite",
        reply=words().invitation_push(), now=now, kind="notice", priority=Priority.reminder,
        alert=words().card("关怀问候")))
    for invite in invites:
        invite.reached = invite.person_id in reached
        s.add(invite)


async def on_invite(s: AsyncSession, timer: Timer) -> None:
    """Timer: the morning after a round confirmed at night, its invitations go out."""
    row = await s.get(AftercareRound, int(timer.ref))
    if row is not None and row.status == RoundStatus.open:
        await _invite(s, row, timer.due_at)


async def tally(s: AsyncSession, round_id: int | None) -> dict[str, Tally]:
    """Counts per unit (``dorm``, ``klass``): never who, never what they answered."""
    rows = (await s.exec(select(AftercareInvitation).where(
        AftercareInvitation.round_id == round_id))).all()
    found: dict[str, Tally] = {}
    for unit in UNITS:
        mine = [r for r in rows if r.unit == unit]
        found[unit] = Tally(
            invited=len(mine), unreachable=sum(not r.reached for r in mine),
            answered=sum(r.status == InviteStatus.answered for r in mine),
            wants_talk=sum(r.wants_talk for r in mine), concerns=sum(r.concern for r in mine))
    return found


async def open_invitation(s: AsyncSession, person_id: int) -> AftercareInvitation | None:
    """The person's invitation still waiting for an answer, if any (the newest)."""
    return (await s.exec(select(AftercareInvitation).where(
        AftercareInvitation.person_id == person_id,
        AftercareInvitation.status == InviteStatus.open)
        .order_by(col(AftercareInvitation.id).desc()))).first()


async def on_remind(s: AsyncSession, timer: Timer) -> None:
    """Timer: remind, once, everyone reached who has not answered yet."""
    row = await s.get(AftercareRound, int(timer.ref))
    if row is None or row.status != RoundStatus.open:
        return
    silent = list((await s.exec(select(AftercareInvitation).where(
        AftercareInvitation.round_id == row.id, AftercareInvitation.status == InviteStatus.open,
        col(AftercareInvitation.reached).is_(True)))).all())
    await push_to_people(s, [i.person_id for i in silent], key=f"aftercare:{row.id}:remind",
                         reply=words().reminder_push(), now=timer.due_at, kind="notice",
                         priority=Priority.reminder, alert=words().card("关怀问候提醒"))
    for invite in silent:
        invite.reminded += 1
        s.add(invite)


async def on_close(s: AsyncSession, timer: Timer) -> None:
    """Timer: the window ends; unanswered invitations expire and the starter gets the counts."""
    row = await s.get(AftercareRound, int(timer.ref), with_for_update=True)
    if row is None or row.status != RoundStatus.open:
        return
    row.status, row.closed_at = RoundStatus.closed, timer.due_at
    s.add(row)
    for invite in (await s.exec(select(AftercareInvitation).where(
            AftercareInvitation.round_id == row.id,
            AftercareInvitation.status == InviteStatus.open))).all():
        invite.status = InviteStatus.expired
        s.add(invite)
    total = summed((await tally(s, row.id)).values())
    await push_to_people(s, [row.started_by], key=f"aftercare:{row.id}:closed",
                         reply=words().closed_push(case_ref(row.case_id), total.invited,
                                                   total.answered, total.concerns),
                         now=timer.due_at)


@dataclass(frozen=True)
class RoundView:
    """A round as the centre follows it: its window and its counts per unit."""

    case_id: int
    open: bool
    started_at: datetime
    closes_at: datetime
    counts: dict[str, Tally]


async def round_view(s: AsyncSession, case_id: int | None) -> RoundView | None:
    """The case's latest round with its counts, if one was started."""
    row = await round_of(s, case_id)
    if row is None:
        return None
    return RoundView(row.case_id, row.status == RoundStatus.open, row.started_at,
                     row.closes_at, await tally(s, row.id))


async def incident_cases(s: AsyncSession, limit: int = 8) -> list[tuple[int, RoundView | None]]:
    """The newest cases with an attempt or a death on record, each with its round if any."""
    ids = (await s.exec(select(CaseIncident.case_id).distinct()
                        .order_by(col(CaseIncident.case_id).desc()).limit(limit))).all()
    return [(case_id, await round_view(s, case_id)) for case_id in ids]


async def case_and_target(s: AsyncSession, number: int) -> tuple[Case | None, Target | None]:
    """A case by number and the record the matrix checks (about its student), or Nones."""
    case = await s.get(Case, number)
    return case, (await student_target(s, case.person_id) if case is not None else None)


def timer_handlers() -> dict[str, TimerHandler]:
    """The round's timers by kind."""
    return {INVITE: on_invite, REMIND: on_remind, CLOSE: on_close}
