"""Crisis cases: opened by the crisis path, followed up on a cadence until staff close them."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from xinqiao.services.access import Action, Actor, Kind, authorize, case_target, may
from xinqiao.services.cases.sources import source_label
from xinqiao.services.cases.view import CaseLike, CaseView, case_row, view_of
from xinqiao.services.cases.wording import words
from xinqiao.services.recipients import level_recipients, push_to_people
from xinqiao.services.refs import case_ref, item_ref
from xinqiao.services.tiers import change_tier
from xinqiao.services.timers import schedule
from xinqiao.storage.cases import Case, CaseMember, CaseNote, CaseStatus
from xinqiao.storage.models import Person, Role, Tier
from xinqiao.storage.reports import Escalation, Timer
from xinqiao.vocabulary import Member, Rostered

FOLLOWUP = "case.followup"
CENTRE = frozenset({Role.centre_staff, Role.centre_lead})
COLLEGE = frozenset({Role.college_lead, Role.college_counsellor})


async def open_case_of(s: AsyncSession, person_id: int | None) -> Case | None:
    """The student's open case, if any (one at a time)."""
    return (await s.exec(select(Case).where(
        Case.person_id == person_id, Case.status == CaseStatus.open))).first()


async def open_case(
    s: AsyncSession, person: Rostered, *, source: str, escalation_id: int | None, now: datetime
) -> Case:
    """The student's open case, or a new one with a daily follow-up until a lead is set."""
    existing = await open_case_of(s, person.id)
    if existing is not None:
        return existing
    assert person.id is not None
    first = now + timedelta(days=1)
    case = Case(person_id=person.id, opened_at=now, source=source, escalation_id=escalation_id,
                next_followup_at=first, token=1)
    s.add(case)
    await s.flush()
    s.add(CaseNote(case_id=case.id or 0, at=now, kind="opened",
                   text=f"自动建立个案（来源：{source_label(source)}）"))
    await schedule(s, kind=FOLLOWUP, ref=str(case.id), due_at=first, now=now, token=1)
    return case


async def open_from_item(s: AsyncSession, esc: Escalation, by: Rostered,
                         now: datetime) -> Case | None:
    """Staff put an item's student in the crisis pool: a case (or their open one), with the
    opener on its team and the tier raised to crisis as their recorded decision."""
    student = await s.get(Person, esc.subject_person_id) if esc.subject_person_id else None
    if student is None or by.id is None:
        return None
    case = await open_case(s, student, source="item", escalation_id=esc.id, now=now)
    assert case.id is not None
    await add_member(s, case, by.id, now)
    s.add(CaseNote(case_id=case.id, at=now, author_person_id=by.id, kind="opened_from",
                   text=f"{by.name} 由待办 {item_ref(esc.id)} 建立个案"))
    await change_tier(s, student, Tier.crisis, reason=f"case #{case.id} opened from item",
                      now=now, decided_by=by.id)
    return case


async def may_access(s: AsyncSession, actor: Actor, case: Case,
                     action: Action = Action.read) -> bool:
    """Centre roles reach every case; college roles their college's students; the team theirs."""
    return may(actor, Kind.case, action, await case_target(s, case))


async def visible_cases(s: AsyncSession, actor: Actor) -> list[CaseView]:
    """Open cases this person may see, oldest follow-up due first."""
    rows = await s.exec(select(Case).where(Case.status == CaseStatus.open)
                        .order_by(col(Case.next_followup_at), col(Case.id)))
    return [view_of(c) for c in rows if await may_access(s, actor, c)]


async def read_case(s: AsyncSession, actor: Actor, case_id: int, now: datetime,
                    action: Action = Action.read, *, audit_as: str | None = None,
                    audit_allowed: bool = True) -> CaseView | None:
    """The case if this person may read (or change) it; refusals are always audited.

    One audit line per action: a tap that only leads to a prompt passes ``audit_allowed``
    False, and the step that acts records it under its own name (``case.close`` ...).
    """
    case = await s.get(Case, case_id)
    target = await case_target(s, case) if case is not None else None
    allowed = await authorize(s, actor, Kind.case, action, target, now=now,
                              audit_as=audit_as or f"case.{action.value}",
                              audit_allowed=audit_allowed, case=case_id)
    return view_of(case) if allowed and case is not None else None


async def take_lead(s: AsyncSession, read: CaseLike, person: Member, now: datetime) -> None:
    """The person becomes the responsible lead (and a team member)."""
    case = await case_row(s, read)
    assert person.id is not None and case.id is not None
    case.lead_person_id = person.id
    await add_member(s, case, person.id, now)
    s.add(CaseNote(case_id=case.id, at=now, author_person_id=person.id, kind="lead",
                   text=f"{person.name} 负责此个案"))
    s.add(case)


async def add_member(s: AsyncSession, case: CaseLike, person_id: int, now: datetime) -> None:
    """Add someone to the team (idempotent)."""
    exists = (await s.exec(select(CaseMember.id).where(
        CaseMember.case_id == case.id, CaseMember.person_id == person_id))).first()
    if exists is None:
        s.add(CaseMember(case_id=case.id or 0, person_id=person_id, added_at=now))


async def note(s: AsyncSession, read: CaseLike, author: Member, kind: str, text: str,
               now: datetime) -> None:
    """Record a plan, a follow-up or a cadence change; a follow-up restarts the clock."""
    case = await case_row(s, read)
    assert case.id is not None
    s.add(CaseNote(case_id=case.id, at=now, author_person_id=author.id, kind=kind,
                   text=text[:2000]))
    if kind == "plan":
        case.plan = text[:4000]
    if kind in ("followup", "cadence"):
        await _reschedule(s, case, now)
    s.add(case)


async def set_cadence(s: AsyncSession, read: CaseLike, author: Member, days: int, text: str,
                      now: datetime) -> None:
    """Follow the case up every ``days`` days from now on, noted in the author's words."""
    case = await case_row(s, read)
    case.followup_days = days
    await note(s, case, author, "cadence", text, now)


async def _reschedule(s: AsyncSession, case: Case, now: datetime) -> None:
    case.token += 1
    due = now + timedelta(days=case.followup_days)
    case.next_followup_at = due
    await schedule(s, kind=FOLLOWUP, ref=str(case.id), due_at=due, now=now, token=case.token)


async def close(s: AsyncSession, read: CaseLike, by: Member, decision: str, tier: Tier,
                now: datetime, signed_by: Member | None = None) -> None:
    """Close with a decision and a reviewed tier (a recorded decision, not a rule)."""
    case = await case_row(s, read)
    assert case.id is not None
    case.status, case.closed_at, case.closed_by = CaseStatus.closed, now, by.id
    case.decision, case.token = decision[:4000], case.token + 1
    signed = f"（心理中心 {signed_by.name} 同意）" if signed_by is not None else ""
    s.add(CaseNote(case_id=case.id, at=now, author_person_id=by.id, kind="closed",
                   text=(decision + signed)[:2000]))
    student = await s.get(Person, case.person_id)
    if student is not None:
        await change_tier(s, student, tier, reason=f"case #{case.id} closed: {decision[:200]}",
                          now=now, decided_by=by.id, lower=True)
    s.add(case)


async def on_followup(s: AsyncSession, timer: Timer) -> None:
    """Timer handler: remind the lead (the centre while there is none), then re-arm."""
    case = await s.get(Case, int(timer.ref), with_for_update=True)
    if case is None or case.status != CaseStatus.open or case.token != timer.token:
        return
    if case.lead_person_id is not None:
        people = [case.lead_person_id]
    else:
        people = await level_recipients(s, ["centre_lead", "centre"], None, None)
    await push_to_people(s, people, key=f"case:{case.id}:{case.token}", now=timer.due_at,
                         reply=words().followup_push(case_ref(case.id),
                                                     case.lead_person_id is not None))
    await _reschedule(s, case, timer.due_at)
