"""The centre signs off on closing a crisis case (and the lower tier that comes with it).

A college may propose to close a case; until a centre member agrees in chat the case stays
open and is followed up as before. A centre member's own close is the centre's decision.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from xinqiao.services.cases.lifecycle import CENTRE, close
from xinqiao.services.cases.view import CaseLike
from xinqiao.services.cases.wording import words
from xinqiao.services.outbox import Priority
from xinqiao.services.recipients import level_recipients, push_to_people
from xinqiao.services.refs import case_ref
from xinqiao.storage.cases import Case, CaseNote, CaseSignoff, CaseStatus, SignoffStatus
from xinqiao.storage.models import Person, Role, Tier
from xinqiao.vocabulary import Member, Rostered

TIER_LABELS = {Tier.routine: "日常关注", Tier.key: "重点关注", Tier.crisis: "危机关注"}
FLOW = "case_signoff"


def needs_signoff(roles: frozenset[Role]) -> bool:
    """Anyone outside the centre needs the centre to agree to a close."""
    return not roles & CENTRE


async def pending(s: AsyncSession, case_id: int | None = None) -> list[CaseSignoff]:
    """Requests still waiting for the centre, oldest first."""
    query = select(CaseSignoff).where(CaseSignoff.status == SignoffStatus.pending)
    if case_id is not None:
        query = query.where(CaseSignoff.case_id == case_id)
    return list(await s.exec(query.order_by(col(CaseSignoff.id))))


@dataclass(frozen=True)
class Waiting:
    """A close request as the centre reads it: whose case, who asked, the decision, the tier."""

    case_id: int
    student: str
    asker: str
    decision: str
    tier: Tier


async def waiting(s: AsyncSession, limit: int = 5) -> list[Waiting]:
    """The oldest requests still waiting for the centre, described."""
    found: list[Waiting] = []
    for request in (await pending(s))[:limit]:
        case = await s.get(Case, request.case_id)
        student = await s.get(Person, case.person_id) if case else None
        asker = await s.get(Person, request.requested_by)
        found.append(Waiting(request.case_id, student.name if student else "?",
                             asker.name if asker else "?", request.decision, Tier(request.tier)))
    return found


async def request_close(s: AsyncSession, case: CaseLike, by: Rostered, decision: str, tier: Tier,
                        now: datetime) -> CaseSignoff:
    """Ask the centre (on duty, and its lead) to agree; one open request per case."""
    assert case.id is not None and by.id is not None
    waiting = await pending(s, case.id)
    if waiting:
        return waiting[0]
    request = CaseSignoff(case_id=case.id, requested_by=by.id, requested_at=now,
                          decision=decision[:4000], tier=tier.value)
    s.add(request)
    s.add(CaseNote(case_id=case.id, at=now, author_person_id=by.id, kind="close_requested",
                   text=f"申请结案，结案后关注等级：{TIER_LABELS[tier]}"))
    await s.flush()
    student = await s.get(Person, case.person_id)
    centre = await level_recipients(s, ["centre", "centre_lead"], None, None, at=now)
    await push_to_people(s, [p for p in centre if p != by.id], key=f"signoff:{request.id}",
                         reply=words().close_requested_push(
                             by.name, case_ref(case.id), student.name if student else "",
                             TIER_LABELS[tier]),
                         now=now, kind="alert", priority=Priority.alert)
    return request


async def decide(s: AsyncSession, case_id: int, by: Member, agree: bool,
                 now: datetime) -> str:
    """A centre member agrees (the case closes) or not (it stays open) to the case's oldest
    waiting request; the requester hears. Says ``approved``, ``declined`` or ``already``
    (nothing waited)."""
    waiting = await pending(s, case_id)
    request = waiting[0] if waiting else None
    case = await s.get(Case, case_id)
    requester = await s.get(Person, request.requested_by) if request is not None else None
    if case is None or requester is None or request is None:
        return "already"
    request.status = SignoffStatus.approved if agree else SignoffStatus.declined
    request.decided_by, request.decided_at = by.id, now
    s.add(request)
    if agree and case.status == CaseStatus.open:
        await close(s, case, requester, request.decision, Tier(request.tier), now, signed_by=by)
        answer = "approved"
    else:
        s.add(CaseNote(case_id=request.case_id, at=now, author_person_id=by.id,
                       kind="close_declined", text=f"心理中心 {by.name} 未同意结案，继续跟进"))
        answer = "declined"
    await push_to_people(s, [requester.id or 0], key=f"signoff:{request.id}:answer",
                         reply=words().close_answered_push(case_ref(case.id), by.name,
                                                           answer == "approved"),
                         now=now, kind="alert", priority=Priority.alert)
    return answer
