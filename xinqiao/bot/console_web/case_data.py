"""个案 as data: the crisis cases in my scope, and one case with its team, plan, follow-ups,
notes, tier history and any request to close it.

Scope is the access matrix's ``case`` row (the centre: every case; a college: its students'
cases and those whose team it is on). Notes, the plan and the decision are encrypted columns:
they are decrypted by the ORM only here, after the caller's audited check let the reader in.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from xinqiao.clock import local
from xinqiao.services.access import Action, Actor, Kind, Target, may
from xinqiao.services.cases.signoff import TIER_LABELS, pending
from xinqiao.services.cases.sources import readable_note, source_label
from xinqiao.services.directory import unit_names
from xinqiao.services.refs import case_ref
from xinqiao.storage.cases import Case, CaseMember, CaseNote, CaseSignoff, CaseStatus
from xinqiao.storage.models import Klass, Person, Tier
from xinqiao.storage.screening import TierChange

CLOSED_WINDOW = timedelta(days=90)  # closed cases stay listed for a term
NOTE_KINDS = {"lead": "负责人", "plan": "计划",
              "followup": "随访", "cadence": "随访频率", "team": "团队", "note": "备注",
              "referral": "转介", "referral_outcome": "转介结果", "family": "家庭联系",
              "return": "复学评估", "contact": "约定联系", "closed": "结案",
              "close_requested": "申请结案", "close_declined": "未同意结案",
              "incident": "事件结局", "aftercare": "关怀回访"}
RESTART = frozenset({"followup", "cadence"})  # notes that restart the follow-up clock
# Notes the service writes as one sentence naming the event (自动建立个案…): shown as the
# event itself, not under a label that would say it twice.
SENTENCES = frozenset({"opened", "opened_from"})


@dataclass(frozen=True)
class CaseRow:
    """One case as the list shows it."""

    id: int
    ref: str
    student: str
    klass: str
    lead: str
    open: bool
    due: datetime | None
    overdue: bool
    awaiting_signoff: bool


@dataclass(frozen=True)
class NoteLine:
    """One entry of the case's timeline (decrypted)."""

    at: datetime
    kind: str
    label: str
    author: str
    text: str
    due: datetime | None = None  # for a follow-up: when it was due
    late: bool = False


@dataclass(frozen=True)
class CaseView:
    """Everything the case page shows."""

    case: Case
    ref: str
    student: Person
    units: str
    tier: str
    source: str
    lead: str
    team: list[str]
    due: datetime | None
    overdue: bool
    notes: list[NoteLine]
    tiers: list[str]
    signoff: CaseSignoff | None
    signoff_text: str


def followup_due(case: Case, notes: list[CaseNote]) -> datetime | None:
    """When the next follow-up is due: the cadence after the last one recorded (or opening).

    Not ``next_followup_at``: the reminder re-arms it, so it never looks late.
    """
    if case.status != CaseStatus.open:
        return None
    anchors = [n.at for n in notes if n.kind in RESTART]
    return max([case.opened_at, *anchors]) + timedelta(days=case.followup_days)


def tier_text(change: TierChange, names: dict[int, str]) -> str:
    """``危机关注 → 重点关注（中心孙老师）``: who decided, or the rule, and any pending review."""
    who = names.get(change.decided_by, "?") if change.decided_by else "规则自动"
    review = "，待复核" if change.pending_review else ""
    return (f"关注等级 {TIER_LABELS[Tier(change.old)]} → {TIER_LABELS[Tier(change.new)]}"
            f"（{who}{review}）")


async def _names(s: AsyncSession, ids: set[int]) -> dict[int, str]:
    if not ids:
        return {}
    rows = await s.exec(select(Person).where(col(Person.id).in_(ids)))
    return {p.id or 0: p.name for p in rows}


async def visible(s: AsyncSession, actor: Actor, now: datetime) -> list[CaseRow]:
    """Open cases (overdue first, then by due date) then those closed this term, in scope."""
    cases = list(await s.exec(select(Case).where(
        (col(Case.status) == CaseStatus.open) | (col(Case.closed_at) >= now - CLOSED_WINDOW))))
    if not cases:
        return []
    ids = [c.id for c in cases]
    team: dict[int, set[int]] = {}
    for case_id, pid in await s.exec(select(CaseMember.case_id, CaseMember.person_id)
                                     .where(col(CaseMember.case_id).in_(ids))):
        team.setdefault(case_id, set()).add(pid)
    students = {p.id: p for p in await s.exec(select(Person).where(
        col(Person.id).in_({c.person_id for c in cases})))}
    # The same question chat's 个案 asks of each case, answered from rows already loaded.
    mine = [c for c in cases if may(actor, Kind.case, Action.read, Target.about(
        students.get(c.person_id), team=frozenset(team.get(c.id or 0, ()))))]
    if not mine:
        return []
    notes: dict[int, list[CaseNote]] = {}
    for n in await s.exec(select(CaseNote).where(col(CaseNote.case_id).in_(
            [c.id for c in mine]), col(CaseNote.kind).in_(RESTART))):
        notes.setdefault(n.case_id, []).append(n)
    waiting = {r.case_id for r in await pending(s)}
    leads = await _names(s, {c.lead_person_id for c in mine if c.lead_person_id})
    klasses = {k.id: k.name for k in await s.exec(select(Klass).where(col(Klass.id).in_(
        {p.klass_id for p in students.values() if p.klass_id})))}
    rows = []
    for c in mine:
        assert c.id is not None
        student = students.get(c.person_id)
        due = followup_due(c, notes.get(c.id, []))
        rows.append(CaseRow(c.id, case_ref(c.id), student.name if student else "?",
                            klasses.get(student.klass_id or 0, "") if student else "",
                            leads.get(c.lead_person_id or 0, ""), c.status == CaseStatus.open,
                            due, due is not None and due < now, c.id in waiting))
    far = now + timedelta(days=3650)
    rows.sort(key=lambda r: (not r.open, not r.overdue, r.due or far, r.id))
    return rows


def _timeline(notes: list[CaseNote], case: Case, names: dict[int, str]) -> list[NoteLine]:
    lines, anchor = [], case.opened_at
    for n in notes:
        due = late = None
        if n.kind == "followup":
            due = anchor + timedelta(days=case.followup_days)
            late = n.at > due
        if n.kind in RESTART:
            anchor = n.at
        if n.kind in SENTENCES:
            lines.append(NoteLine(n.at, n.kind, readable_note(n.text), "", ""))
            continue
        lines.append(NoteLine(n.at, n.kind, NOTE_KINDS.get(n.kind, "记录"),
                              names.get(n.author_person_id or 0, ""), readable_note(n.text),
                              due, bool(late)))
    return lines


async def case_view(s: AsyncSession, case: Case, now: datetime) -> CaseView:
    """The page's content (the caller has already authorised and audited the read)."""
    assert case.id is not None
    student = await s.get(Person, case.person_id)
    assert student is not None
    college, klass, _ = await unit_names(s, student)
    notes = list(await s.exec(select(CaseNote).where(CaseNote.case_id == case.id)
                              .order_by(col(CaseNote.at), col(CaseNote.id))))
    members = list(await s.exec(select(CaseMember.person_id).where(
        CaseMember.case_id == case.id).order_by(col(CaseMember.id))))
    changes = list(await s.exec(select(TierChange).where(TierChange.person_id == student.id)
                                .order_by(col(TierChange.at), col(TierChange.id))))
    waiting = await pending(s, case.id)
    signoff = waiting[0] if waiting else None
    names = await _names(s, {n.author_person_id for n in notes if n.author_person_id}
                         | set(members) | {t.decided_by for t in changes if t.decided_by}
                         | ({signoff.requested_by} if signoff else set())
                         | ({case.lead_person_id} if case.lead_person_id else set()))
    tiers = [f"{local(t.at):%Y-%m-%d %H:%M} {tier_text(t, names)}" for t in changes]
    due = followup_due(case, notes)
    team = [names.get(p, "?") + ("（负责人）" if p == case.lead_person_id else "")
            for p in members]
    signoff_text = ""
    if signoff is not None:
        signoff_text = (f"{names.get(signoff.requested_by, '?')} 于 "
                        f"{local(signoff.requested_at):%m-%d %H:%M} 申请结案，"
                        f"结论：{signoff.decision}；"
                        f"结案后：{TIER_LABELS[Tier(signoff.tier)]}")
    return CaseView(case, case_ref(case.id), student, " ".join(u for u in (college, klass) if u),
                    TIER_LABELS[Tier(student.tier)], source_label(case.source),
                    names.get(case.lead_person_id or 0, ""), team, due,
                    due is not None and due < now, _timeline(notes, case, names), tiers,
                    signoff, signoff_text)
